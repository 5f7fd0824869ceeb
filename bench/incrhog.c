/*
 * incrhog.c - the process that bench/ckpt_incremental.sh checkpoints: N MiB of incompressible
 * memory of which it rewrites PERCENT % of the pages (random pages, new random content) each
 * time the bench asks, keeping a checksum of the whole buffer up to date.
 *
 *   incrhog MiB PERCENT FLAGDIR [--once]
 *
 * Prints "FILLED <seconds> <checksum>" and "READY", then polls FLAGDIR every 2 ms:
 *   FLAGDIR/go         (checked first) print "RESTORED <unix time, ns>" (CLOCK_REALTIME, so
 *                      the bench can subtract its own start stamp), recompute the checksum
 *                      of the whole buffer, print "VERIFIED OK <sum>" or "FAIL: ..." and exit;
 *   FLAGDIR/rewrite-N  (N = 0, 1, ... in turn) rewrite the pages, print "REWROTE N <pages>
 *                      <seconds>".
 * With --once: fill, rewrite once, verify, exit (the native reference run). Exits 3 after an
 * hour without "go", so a stray process never runs for ever.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u

static uint64_t splitmix(uint64_t *s)
{
	uint64_t x = (*s += 0x9e3779b97f4a7c15ULL);
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t page_sum(const uint64_t *p)
{
	uint64_t s = 0;
	for (unsigned i = 0; i < PAGE / 8; i++)
		s += p[i] * (2 * i + 1);
	return s;
}

static uint64_t total_sum(const uint8_t *m, uint64_t npages)
{
	uint64_t s = 0;
	for (uint64_t p = 0; p < npages; p++)
		s += page_sum((const uint64_t *)(m + p * PAGE)) * (p + 1);
	return s;
}

/* Rewrites nw random pages; keeps *sum current. */
static void rewrite(uint8_t *m, uint64_t npages, uint64_t nw, uint64_t *rng, uint64_t *sum)
{
	for (uint64_t k = 0; k < nw; k++) {
		uint64_t p = splitmix(rng) % npages;
		uint64_t *q = (uint64_t *)(m + p * PAGE);
		*sum -= page_sum(q) * (p + 1);
		for (unsigned i = 0; i < PAGE / 8; i++)
			q[i] = splitmix(rng);
		*sum += page_sum(q) * (p + 1);
	}
}

static int exists(const char *dir, const char *name)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s MiB PERCENT FLAGDIR [--once]\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	uint64_t npages = strtoull(argv[1], NULL, 10) * 1048576 / PAGE;
	double pct = atof(argv[2]);
	const char *dir = argv[3];
	int once = argc > 4 && !strcmp(argv[4], "--once");
	uint64_t nw = (uint64_t)((double)npages * pct / 100.0);
	uint8_t *m =
	    mmap(NULL, npages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!npages || m == MAP_FAILED) {
		perror("incrhog: mmap");
		return 2;
	}
	uint64_t rng = 42, sum;
	double t0 = now();
	for (uint64_t i = 0; i < npages * PAGE / 8; i++)
		((uint64_t *)m)[i] = splitmix(&rng);
	sum = total_sum(m, npages);
	printf("FILLED %.3f %016llx\n", now() - t0, (unsigned long long)sum);
	printf("READY\n");
	for (unsigned n = 0, ticks = 0; ticks < 1800000; ticks++) {
		char name[64];
		snprintf(name, sizeof(name), "rewrite-%u", n);
		if (once)
			rewrite(m, npages, nw, &rng, &sum);
		if (once || exists(dir, "go")) {
			struct timespec rt;
			clock_gettime(CLOCK_REALTIME, &rt);
			printf("RESTORED %lld.%09ld\n", (long long)rt.tv_sec, rt.tv_nsec);
			uint64_t s = total_sum(m, npages);
			if (s != sum) {
				printf("FAIL: checksum %016llx, expected %016llx\n",
				       (unsigned long long)s, (unsigned long long)sum);
				return 1;
			}
			printf("VERIFIED OK %016llx\n", (unsigned long long)s);
			return 0;
		}
		if (exists(dir, name)) {
			double t1 = now();
			rewrite(m, npages, nw, &rng, &sum);
			printf("REWROTE %u %llu %.3f\n", n, (unsigned long long)nw, now() - t1);
			n++;
		}
		usleep(2000);
	}
	return 3;
}
