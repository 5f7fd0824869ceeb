/*
 * memhog.c - the process that bench/ckpt_size_time.sh checkpoints: N MiB of memory whose
 * checksum it keeps, and a way to tell the moment it runs again after a restart.
 *
 *   memhog MiB random|zeros|mixed [--flag FILE] [--poll-us N] [--once] [--timeout S]
 *   memhog MiB random|mixed --emit    (write the same memory to stdout and exit)
 *   memhog MiB random|zeros|mixed --stall FILE [--timeout S]
 *
 * random: every 8 bytes come from splitmix64 (incompressible: gzip cannot shrink it; the
 *         bench checks that with --emit).
 * zeros:  every page is touched by a write of zero, so it is resident but all zero.
 * mixed:  1 MiB blocks in the repeating pattern zeros, zeros, text, random: half touched
 *         zeros, a quarter text-like (words of a small vocabulary, as logs and input decks
 *         look), a quarter incompressible (issue 5's "mixed image").
 *
 * The program fills the buffer, computes its checksum and prints
 *   FILLED <seconds> <checksum>      then   READY
 * With --once it verifies the checksum at once and exits (the native reference run).
 * Otherwise it polls FILE every 2 ms (--poll-us N: every N microseconds; ckpt_fixed_cost.sh
 * uses 100, so its RESTORED stamp is late by at most 0.1 ms). The bench creates FILE only
 * after it killed the job and just before it starts dmtcp_restart, so the first poll that
 * finds FILE runs in the restored process: it prints "RESTORED <unix time with ns>" (taken
 * with CLOCK_REALTIME, so the bench can subtract its own start stamp), verifies the checksum
 * and prints "VERIFIED OK <checksum>" or "FAIL: ...", then exits 0 or 1. Without FILE
 * appearing it exits 3 after --timeout seconds (default 3600), so a stray memhog never runs
 * for ever.
 * With --stall FILE (bench/ckpt_stall.sh) it never sleeps after READY: it reads the clock in a
 * loop, reading one word of its memory each turn, and keeps the longest gap between two turns
 * (the time it was stopped: by a checkpoint, or by the scheduler). Once FILE exists it prints
 * "STALL <longest gap in ms> <turns>", verifies its checksum as above and exits.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define POLL_US 2000 /* default --poll-us */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t x = (*s += 0x9e3779b97f4a7c15ULL);
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static double now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void fill_random(uint64_t *w, size_t n)
{
	uint64_t s = 0x5eed5eed12345678ULL;
	for (size_t i = 0; i < n; i++)
		w[i] = splitmix(&s);
}

static void fill_zeros(uint64_t *w, size_t n)
{
	volatile uint64_t *v = w;
	for (size_t i = 0; i < n; i += 4096 / sizeof(*w))
		v[i] = 0;
}

/* Text-like bytes: words drawn from a small vocabulary, spaces and newlines. */
static void fill_text(char *p, size_t n, uint64_t *s)
{
	static const char *const words[] = {
		"the", "mesh", "solver", "step", "residual", "converged", "iteration", "pressure",
		"velocity", "boundary", "cell", "flux", "of", "and", "to", "in", "time", "rank",
		"energy", "density", "temperature", "0.000", "1.250e-03", "-4.5e+02", "=", "INFO",
		"WARN", "node", "grid", "level", "block", "face"};
	size_t i = 0, col = 0;
	while (i < n) {
		uint64_t r = splitmix(s);
		const char *w = words[r % (sizeof(words) / sizeof(words[0]))];
		for (; *w && i < n; w++, col++)
			p[i++] = *w;
		if (i < n)
			p[i++] = (col > 60 || (r >> 32) % 13 == 0) ? '\n' : ' ';
		if (p[i - 1] == '\n')
			col = 0;
	}
}

#define MIXED_BLOCK (1UL << 20)

static void fill_mixed(uint64_t *w, size_t n)
{
	uint64_t s = 0x5eed5eed12345678ULL;
	char *p = (char *)w;
	size_t bytes = n * sizeof(*w);
	for (size_t off = 0, b = 0; off < bytes; off += MIXED_BLOCK, b++) {
		size_t len = bytes - off < MIXED_BLOCK ? bytes - off : MIXED_BLOCK;
		switch (b % 4) {
		case 2:
			fill_text(p + off, len, &s);
			break;
		case 3:
			for (size_t i = 0; i < len / 8; i++)
				((uint64_t *)(p + off))[i] = splitmix(&s);
			break;
		default:
			fill_zeros((uint64_t *)(p + off), len / 8);
		}
	}
}

/* Position-weighted sum: catches lost, moved and swapped pages alike. */
static uint64_t checksum(const uint64_t *w, size_t n)
{
	uint64_t s = 0;
	for (size_t i = 0; i < n; i++)
		s += w[i] * (i | 1);
	return s;
}

static int emit(size_t nwords)
{
	uint64_t s = 0x5eed5eed12345678ULL, blk[8192];
	while (nwords) {
		size_t k = nwords < 8192 ? nwords : 8192;
		for (size_t i = 0; i < k; i++)
			blk[i] = splitmix(&s);
		if (fwrite(blk, sizeof(*blk), k, stdout) != k)
			return 1;
		nwords -= k;
	}
	return fflush(stdout) ? 1 : 0;
}

static void sleep_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int usage(void)
{
	fprintf(stderr, "usage: memhog MiB random|zeros|mixed [--flag FILE] [--poll-us N] [--once] "
			"[--timeout S]\n"
			"       memhog MiB random|mixed --emit\n"
			"       memhog MiB random|zeros|mixed --stall FILE [--timeout S]\n");
	return 2;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3)
		return usage();
	char *end;
	long mib = strtol(argv[1], &end, 10);
	if (*end || mib < 1 || mib > (1L << 20)) {
		fprintf(stderr, "memhog: bad size '%s' (MiB)\n", argv[1]);
		return 2;
	}
	int random = strcmp(argv[2], "random") == 0, mixed = strcmp(argv[2], "mixed") == 0;
	if (!random && !mixed && strcmp(argv[2], "zeros") != 0)
		return usage();
	const char *flag = NULL, *stall = NULL;
	int once = 0, do_emit = 0;
	long timeout = 3600, poll_us = POLL_US;
	for (int i = 3; i < argc; i++) {
		if (strcmp(argv[i], "--flag") == 0 && i + 1 < argc)
			flag = argv[++i];
		else if (strcmp(argv[i], "--once") == 0)
			once = 1;
		else if (strcmp(argv[i], "--stall") == 0 && i + 1 < argc)
			stall = argv[++i];
		else if (strcmp(argv[i], "--emit") == 0)
			do_emit = 1;
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
			timeout = atol(argv[++i]);
		else if (strcmp(argv[i], "--poll-us") == 0 && i + 1 < argc) {
			poll_us = strtol(argv[++i], &end, 10);
			if (*end || poll_us < 1 || poll_us > 1000000) {
				fprintf(stderr, "memhog: bad --poll-us '%s' (1..1000000)\n", argv[i]);
				return 2;
			}
		}
		else
			return usage();
	}
	size_t nwords = (size_t)mib << 17;
	if (do_emit && random)
		return emit(nwords);
	if (do_emit && !mixed)
		return usage();
	if (!once && !flag && !do_emit && !stall)
		return usage();

	double t0 = now_mono();
	uint64_t *buf = mmap(NULL, nwords * 8, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		perror("memhog: mmap");
		return 2;
	}
	if (random)
		fill_random(buf, nwords);
	else if (mixed)
		fill_mixed(buf, nwords);
	else
		fill_zeros(buf, nwords);
	if (do_emit) {
		size_t left = nwords * 8;
		for (char *p = (char *)buf; left;) {
			size_t k = fwrite(p, 1, left, stdout);
			if (k == 0)
				return 1;
			p += k;
			left -= k;
		}
		return fflush(stdout) ? 1 : 0;
	}
	uint64_t sum = checksum(buf, nwords);
	printf("FILLED %.3f %016llx\n", now_mono() - t0, (unsigned long long)sum);
	printf("READY\n");

	if (stall) { /* spin: the longest gap between two turns is the longest stop */
		double last = now_mono(), worst = 0, end = last + (double)timeout, next_look = last;
		uint64_t turns = 0, seen = 0;
		for (;;) {
			double t = now_mono();
			if (t - last > worst)
				worst = t - last;
			last = t;
			seen += buf[(turns * 4099) % nwords];
			turns++;
			if (t >= next_look) { /* the file, every millisecond */
				if (access(stall, F_OK) == 0)
					break;
				if (t > end) {
					printf("TIMEOUT: %s never appeared\n", stall);
					return 3;
				}
				next_look = t + 0.001; /* (a stop inside access() counts too) */
			}
		}
		printf("STALL %.3f %llu %llu\n", worst * 1000, (unsigned long long)turns,
		       (unsigned long long)(seen & 1));
	} else if (!once) {
		long long polls = (long long)timeout * 1000000 / poll_us;
		while (access(flag, F_OK) != 0) {
			if (polls-- <= 0) {
				printf("TIMEOUT: %s never appeared\n", flag);
				return 3;
			}
			sleep_us(poll_us);
		}
		struct timespec rt;
		clock_gettime(CLOCK_REALTIME, &rt);
		printf("RESTORED %lld.%09ld\n", (long long)rt.tv_sec, rt.tv_nsec);
	}
	double t1 = now_mono();
	uint64_t again = checksum(buf, nwords);
	if (again != sum) {
		printf("FAIL: checksum %016llx, expected %016llx\n", (unsigned long long)again,
		       (unsigned long long)sum);
		return 1;
	}
	printf("VERIFIED OK %016llx in %.3f s\n", (unsigned long long)sum, now_mono() - t1);
	return 0;
}
