/*
 * tp.h - helpers shared by the C checkpoint test programs (header-only, static inline).
 *
 * The protocol every test program follows (CRIU zdtm style): set up state, print "READY",
 * keep working in fixed steps (work + a 100 ms sleep) so that a checkpoint, kill and restart
 * can happen in the middle, then check its own state and print "ANSWER: <value>" (which
 * depends only on the arguments, never on timing) and "PASS" or "FAIL: <reason>", and exit
 * 0 or 1. Sleeps are restarted after EINTR so a checkpoint signal does not shorten them.
 * The pause of a step is tp_pace(): see cr_go.h (CR_GO, set by the drivers that checkpoint a
 * program: no pause once the go file exists, a wait for it before the last quarter of the
 * steps).
 */
#ifndef SPLITCKPT_TP_H
#define SPLITCKPT_TP_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cr_go.h"

#define TP_STEP_MS 100

static inline void tp_init(void) { setvbuf(stdout, NULL, _IOLBF, 0); }

static inline void tp_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* The pause after step S (1-based) of STEPS: TP_STEP_MS, or none once the go file exists;
 * before the last quarter of the steps wait for it (cr_go.h). */
static inline void tp_pace(long s, long steps) { cr_pace_us(s - 1, steps, TP_STEP_MS * 1000L); }

/* argv[idx] as seconds (default dflt) -> number of 100 ms steps. Exits 2 on a bad argument. */
static inline long tp_steps(int argc, char **argv, int idx, long dflt)
{
	long s = dflt;
	if (argc > idx) {
		char *end;
		s = strtol(argv[idx], &end, 10);
		if (*end || s < 0 || s > 100000) {
			fprintf(stderr, "%s: bad duration '%s' (seconds)\n", argv[0], argv[idx]);
			exit(2);
		}
	}
	return s * (1000 / TP_STEP_MS);
}

static inline void tp_ready(void)
{
	printf("READY\n");
	fflush(stdout);
}

/* Print the verdict; returns the exit status to use. */
static inline int tp_verdict(const char *failure)
{
	if (failure) {
		printf("FAIL: %s\n", failure);
		fflush(stdout);
		return 1;
	}
	printf("PASS\n");
	fflush(stdout);
	return 0;
}

/* printf into a static buffer, for failure reasons. */
static inline const char *tp_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline const char *tp_fmt(const char *fmt, ...)
{
	static char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return buf;
}

/* splitmix64: a deterministic pseudo-random sequence. */
static inline unsigned long long tp_mix(unsigned long long x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

#endif
