/*
 * ft_mem.c - the program behind the fault-injection tests (tests/e2e-faults/faults.sh).
 *
 * Usage: ft_mem <MiB> <seconds> [grow MiB]
 *
 * State: an mmap'ed buffer of MiB (zero, compressible and random pages in a fixed mix, like
 * tests/progs/tp_memory), a static array, a stack array and a malloc'ed list. Every 100 ms step
 * rewrites some words at pseudo-random places and keeps the expected sums up to date. It follows
 * the protocol of tests/progs/tp.h (READY, ANSWER, PASS/FAIL) and adds, for the fault tests:
 *
 *   CHECK <step> <sums>  every 5 steps: the expected sums at that step. They depend only on
 *                        the step, so every CHECK line of a restarted run must also be in an
 *                        uninterrupted run's output. Without ft_hurry, a CHECK line is printed
 *                        only after the whole memory was summed again and matched; so a CHECK
 *                        line that appears after a restart proves the restored state.
 *   ft_hurry (a file in the cwd)  no more sleeping, and memory is summed only every 100 steps
 *                        (and at the end): lets a test finish a long run quickly. The ANSWER
 *                        does not depend on timing.
 *   ft_grow (a file in the cwd)   allocate [grow MiB] more of incompressible data once
 *                        (prints "GREW <MiB>"); it is verified with the rest but is not part
 *                        of ANSWER, so a run that grew and one that did not agree.
 * A mismatch ends the run with FAIL at once. Exit 0 PASS, 1 FAIL, 2 usage.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tp_mem.h"

#define CHECK_EVERY 5
#define HURRY_VERIFY_EVERY 100

static uint64_t static_data[TP_MEM_STATIC_WORDS];

struct grow {
	uint64_t *buf;
	size_t nwords;
	uint64_t sum;
};

static void *map_words(size_t nwords)
{
	void *p = mmap(NULL, nwords * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* Allocate and fill the incompressible extra memory. 0 or -1. */
static int grow_now(struct grow *g, long mib)
{
	g->nwords = (size_t)mib << 17;
	g->buf = map_words(g->nwords);
	if (!g->buf)
		return -1;
	for (size_t i = 0; i < g->nwords; i++)
		g->buf[i] = tp_mix(i ^ 0x5eedULL);
	g->sum = tp_sum_words(g->buf, g->nwords);
	printf("GREW %ld\n", mib);
	return 0;
}

int main(int argc, char **argv)
{
	tp_init();
	if (argc < 3) {
		fprintf(stderr, "usage: ft_mem <MiB> <seconds> [grow MiB]\n");
		return 2;
	}
	long mib = atol(argv[1]), grow_mib = argc > 3 ? atol(argv[3]) : 0;
	if (mib < 1 || mib > 65536 || grow_mib < 0 || grow_mib > 65536) {
		fprintf(stderr, "ft_mem: bad size (MiB)\n");
		return 2;
	}
	long steps = tp_steps(argc, argv, 2, 10);
	size_t nwords = (size_t)mib << 17;
	uint64_t *buf = map_words(nwords);
	if (!buf) {
		perror("ft_mem: mmap");
		return 2;
	}
	uint64_t stack_data[TP_MEM_STACK_WORDS];
	struct tp_mem m;
	if (tp_mem_setup(&m, buf, nwords, static_data, stack_data))
		return 2;
	struct grow g = {0};
	printf("ft_mem: %ld MiB, %ld steps, grow %ld MiB on ft_grow\n", mib, steps, grow_mib);
	tp_ready();

	const char *fail = NULL;
	for (long s = 1; s <= steps && !fail; s++) {
		int hurry = access("ft_hurry", F_OK) == 0;
		if (grow_mib && !g.buf && access("ft_grow", F_OK) == 0 && grow_now(&g, grow_mib)) {
			fail = "cannot allocate the memory to grow";
			break;
		}
		tp_mem_step(&m, s);
		int verify = s == steps || (hurry ? s % HURRY_VERIFY_EVERY == 0 : s % CHECK_EVERY == 0);
		if (verify) {
			fail = tp_mem_verify(&m, s);
			if (!fail && g.buf && tp_sum_words(g.buf, g.nwords) != g.sum)
				fail = tp_fmt("grown memory checksum differs at step %ld", s);
		}
		if (!fail && s % CHECK_EVERY == 0)
			tp_mem_print(&m, tp_fmt("CHECK %ld", s));
		if (!hurry)
			tp_sleep_ms(TP_STEP_MS);
	}
	tp_mem_print(&m, "ANSWER:");
	return tp_verdict(fail);
}
