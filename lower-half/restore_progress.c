/*
 * restore_progress.c - the progress line of a restart on a terminal (issue 5): while the
 * image is read, "[splitckpt restart] 1.2 GB of 4.0 GB, 1.9 GB/s, ETA 2 s" is redrawn on
 * stderr every 0.2 s and erased at the end. Only when stderr is a terminal, -q is not given,
 * and this process is the one that speaks for the restart (the root of a process tree, MPI
 * rank 0): in scripts a restart prints only dmtcp_restart's one summary line.
 *
 * Runs in a thread of its own for the duration of img_chain_restore; reads the byte counter
 * of common/img_restore.c (img_restore_progress). Not signal-safe; no state after stop.
 */
#define LOG_PREFIX "lh"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ckpt.h"
#include "image.h"
#include "restore.h"

int lh_restore_progress_allowed = 1; /* 0 in the non-root processes of a tree restart */

struct progress {
	pthread_t tid;
	int stop; /* atomic */
	uint64_t total, base;
	struct timespec t0;
	char name[64];
};

static double since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) * 1e-9;
}

static void fmt_bytes(double b, char *out, size_t n)
{
	const char *u[] = {"B", "kB", "MB", "GB", "TB"};
	int i = 0;
	while (b >= 1000 && i < 4) {
		b /= 1000;
		i++;
	}
	snprintf(out, n, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

static void *run(void *arg)
{
	struct progress *p = arg;
	int shown = 0;
	while (!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
		struct timespec ts = {0, 200 * 1000 * 1000};
		nanosleep(&ts, NULL);
		if (__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE))
			break;
		double s = since(&p->t0), done = (double)(img_restore_progress() - p->base);
		char a[32], b[32], r[32], eta[48] = "";
		fmt_bytes(done, a, sizeof(a));
		fmt_bytes((double)p->total, b, sizeof(b));
		fmt_bytes(s > 0 ? done / s : 0, r, sizeof(r));
		if (done > 0 && done < (double)p->total)
			snprintf(eta, sizeof(eta), ", ETA %.0f s", ((double)p->total - done) * s / done);
		fprintf(stderr, "\r\033[K[splitckpt restart] %s: %s of %s, %s/s%s", p->name, a, b, r,
			eta);
		shown = 1;
	}
	if (shown)
		fprintf(stderr, "\r\033[K");
	return NULL;
}

void *lh_restore_progress_start(const char *path, uint64_t total)
{
	if (!lh_restore_progress_allowed || lhc.quiet > 0 || !isatty(STDERR_FILENO))
		return NULL;
	const char *rank = getenv("PMI_RANK");
	if (!rank)
		rank = getenv("SLURM_PROCID");
	if (rank && strcmp(rank, "0") != 0)
		return NULL; /* MPI: rank 0 speaks for the job */
	struct progress *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	const char *base = strrchr(path, '/');
	snprintf(p->name, sizeof(p->name), "%s", base ? base + 1 : path);
	p->total = total;
	p->base = img_restore_progress();
	clock_gettime(CLOCK_MONOTONIC, &p->t0);
	if (pthread_create(&p->tid, NULL, run, p) != 0) {
		free(p);
		return NULL;
	}
	return p;
}

void lh_restore_progress_stop(void *h)
{
	struct progress *p = h;
	if (!p)
		return;
	__atomic_store_n(&p->stop, 1, __ATOMIC_RELEASE);
	pthread_join(p->tid, NULL);
	free(p);
}
