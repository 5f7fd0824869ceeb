/*
 * tp_memory.c - serial checkpoint test: N MiB of data whose checksum is tracked.
 *
 * Usage: tp_memory <MiB> [seconds (10)]
 * State: an mmap'ed buffer of N MiB (pages that are zero, compressible or random, in a fixed
 * pseudo-random mix), a static array, a stack array and a malloc'ed linked list. Every step
 * rewrites some words at pseudo-random places and updates an expected sum incrementally, and
 * frees and reallocates some list nodes; every second and at the end the sums are recomputed
 * from memory and compared. ANSWER is the expected sum, which depends only on the arguments.
 */
#include <stdint.h>
#include <sys/mman.h>

#include "tp_mem.h"

static uint64_t static_data[TP_MEM_STATIC_WORDS];

int main(int argc, char **argv)
{
	tp_init();
	if (argc < 2) {
		fprintf(stderr, "usage: tp_memory <MiB> [seconds]\n");
		return 2;
	}
	long mib = atol(argv[1]);
	if (mib < 1 || mib > 65536) {
		fprintf(stderr, "tp_memory: bad size '%s' (MiB)\n", argv[1]);
		return 2;
	}
	long steps = tp_steps(argc, argv, 2, 10);
	size_t nwords = (size_t)mib << 17;
	uint64_t *buf =
	    mmap(NULL, nwords * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		perror("tp_memory: mmap");
		return 2;
	}
	uint64_t stack_data[TP_MEM_STACK_WORDS];
	struct tp_mem m;
	if (tp_mem_setup(&m, buf, nwords, static_data, stack_data))
		return 2;
	printf("tp_memory: %ld MiB, %ld steps\n", mib, steps);
	tp_ready();

	const char *fail = NULL;
	for (long s = 1; s <= steps && !fail; s++) {
		tp_mem_step(&m, s);
		if (s % 10 == 0 || s == steps)
			fail = tp_mem_verify(&m, s);
		tp_pace(s, steps);
	}
	tp_mem_print(&m, "ANSWER:");
	return tp_verdict(fail);
}
