/*
 * incr_prog.c - test program for incremental checkpoints (tests/e2e-incr/incr.sh).
 *
 *   incr_prog MIB STEPS [PERCENT]
 *
 * Holds MIB MiB of pages; every page holds a pattern derived from (page number, version).
 * Each step (100 ms apart, tests/progs/tp.h) picks PERCENT % of the pages (default 1) with a
 * seeded generator, bumps their versions and rewrites them; it also maps, fills and unmaps a
 * scratch buffer, and every 5th step moves (mremap) a side buffer, so that memory mapped,
 * unmapped and moved between checkpoints is covered. After STEPS steps it checks its own state
 * from scratch: it replays the generator from the seed to recompute every page's version and
 * compares every page, the version table and the side buffer. A page restored from the wrong
 * generation of a chain shows up as a page with an old version. Prints "ANSWER: <hash>" (a
 * function of the arguments only) and PASS or FAIL.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tp.h"

#define PAGE 4096u

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void fill(uint64_t *p, uint64_t page, uint32_t ver)
{
	uint64_t x = page * 0x9e3779b97f4a7c15ull + ver * 0xbf58476d1ce4e5b9ull + 1;
	for (unsigned i = 0; i < PAGE / 8; i++)
		p[i] = x = x * 6364136223846793005ull + 1442695040888963407ull;
}

static int page_ok(const uint64_t *p, uint64_t page, uint32_t ver)
{
	uint64_t buf[PAGE / 8];
	fill(buf, page, ver);
	return !memcmp(buf, p, PAGE);
}

/* Pages chosen by one step. */
static void step_pick(uint64_t *rng, uint64_t npages, uint64_t nwrite, uint32_t *ver)
{
	for (uint64_t k = 0; k < nwrite; k++)
		ver[rng_next(rng) % npages]++;
}

int main(int argc, char **argv)
{
	tp_init();
	if (argc < 3) {
		fprintf(stderr, "usage: %s MIB STEPS [PERCENT]\n", argv[0]);
		return 2;
	}
	uint64_t mib = strtoull(argv[1], NULL, 10), steps = strtoull(argv[2], NULL, 10);
	double pct = argc > 3 ? atof(argv[3]) : 1.0;
	uint64_t npages = mib * (1u << 20) / PAGE;
	uint64_t nwrite = (uint64_t)(npages * pct / 100.0);
	if (!npages || !steps || nwrite < 1)
		nwrite = 1;
	uint8_t *mem =
	    mmap(NULL, npages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint32_t *ver = calloc(npages, sizeof(*ver));
	uint32_t *want = calloc(npages, sizeof(*want));
	size_t side_len = 64 * PAGE;
	uint8_t *side =
	    mmap(NULL, side_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED || side == MAP_FAILED || !ver || !want) {
		perror("incr_prog: out of memory");
		return 2;
	}
	for (uint64_t p = 0; p < npages; p++)
		fill((uint64_t *)(mem + p * PAGE), p, 0);
	memset(side, 0x5a, side_len);
	const uint64_t seed = 0x1234567887654321ull;
	uint64_t rng = seed;
	volatile uint64_t step = 0; /* state: survives a restart in memory */
	tp_ready();
	for (; step < steps; step++) {
		uint64_t before = rng;
		for (uint64_t k = 0; k < nwrite; k++) {
			uint64_t p = rng_next(&rng) % npages;
			ver[p]++;
			fill((uint64_t *)(mem + p * PAGE), p, ver[p]);
		}
		(void)before;
		/* memory that comes and goes between checkpoints */
		uint8_t *tmp = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (tmp != MAP_FAILED) {
			memset(tmp, (int)step, 16 * PAGE);
			munmap(tmp, 16 * PAGE);
		}
		if (step % 5 == 4) { /* move the side buffer: same content, new address */
			uint8_t *n = mremap(side, side_len, side_len * 2, MREMAP_MAYMOVE);
			if (n != MAP_FAILED) {
				side = n;
				memset(side + side_len, 0x5a, side_len);
				side = mremap(side, side_len * 2, side_len, 0);
			}
		}
		tp_pace((long)step + 1, (long)steps);
	}
	/* Check: replay the generator from the seed. */
	const char *failure = NULL;
	uint64_t r2 = seed;
	for (uint64_t s = 0; s < steps; s++)
		step_pick(&r2, npages, nwrite, want);
	uint64_t bad = 0, badver = 0, first = UINT64_MAX;
	for (uint64_t p = 0; p < npages; p++) {
		badver += ver[p] != want[p];
		if (!page_ok((const uint64_t *)(mem + p * PAGE), p, want[p])) {
			if (!bad)
				first = p;
			bad++;
		}
	}
	for (size_t i = 0; i < side_len; i++)
		if (side[i] != 0x5a) {
			failure = "side buffer changed";
			break;
		}
	static char msg[256];
	if (bad || badver || r2 != rng) {
		snprintf(msg, sizeof(msg),
			 "%llu pages with wrong content (first: page %llu), %llu wrong versions, "
			 "generator %s",
			 (unsigned long long)bad, (unsigned long long)first,
			 (unsigned long long)badver, r2 == rng ? "ok" : "differs");
		failure = msg;
	}
	uint64_t h = 1469598103934665603ull;
	for (uint64_t p = 0; p < npages; p++)
		h = (h ^ want[p]) * 1099511628211ull;
	printf("ANSWER: %016llx\n", (unsigned long long)h);
	return tp_verdict(failure);
}
