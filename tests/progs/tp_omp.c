/*
 * tp_omp.c - OpenMP checkpoint test: a parallel integer reduction per step.
 *
 * Usage: OMP_NUM_THREADS=N tp_omp [seconds (10)]
 * Every step runs `parallel for reduction(+)` over a fixed range of integer hashes (integer
 * sums do not depend on the order, so the result is the same for any thread count) and
 * records how many threads the team had. At the end the sums are recomputed serially and the
 * team size must have stayed the same in every step. ANSWER depends only on the arguments.
 */
#include <omp.h>
#include <stdint.h>

#include "tp.h"

#define RANGE 200000

static uint64_t step_sum_parallel(long s, int *team)
{
	uint64_t sum = 0;
	int nt = 0;
#pragma omp parallel reduction(+ : sum)
	{
#pragma omp single
		nt = omp_get_num_threads();
#pragma omp for schedule(static)
		for (long i = 0; i < RANGE; i++)
			sum += tp_mix((uint64_t)(s * RANGE + i)) >> 8;
	}
	*team = nt;
	return sum;
}

int main(int argc, char **argv)
{
	tp_init();
	long steps = tp_steps(argc, argv, 1, 10);
	int want = omp_get_max_threads();
	uint64_t *sums = calloc((size_t)steps + 1, sizeof(*sums));
	if (!sums)
		return 2;
	int team0 = 0;
	step_sum_parallel(0, &team0); /* start the thread pool before READY */
	printf("tp_omp: %d threads, %ld steps\n", team0, steps);
	tp_ready();
	const char *fail = NULL;
	uint64_t total = 0;
	for (long s = 1; s <= steps; s++) {
		int team;
		sums[s] = step_sum_parallel(s, &team);
		total += sums[s];
		if (team != want && !fail)
			fail = tp_fmt("step %ld ran with %d threads, not %d", s, team, want);
		tp_pace(s, steps);
	}
	for (long s = 1; s <= steps && !fail; s++) {
		uint64_t ref = 0;
		for (long i = 0; i < RANGE; i++)
			ref += tp_mix((uint64_t)(s * RANGE + i)) >> 8;
		if (ref != sums[s])
			fail = tp_fmt("reduction of step %ld is wrong", s);
	}
	printf("ANSWER: %ld %016llx\n", steps, (unsigned long long)total);
	free(sums);
	return tp_verdict(fail);
}
