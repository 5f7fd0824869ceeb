/*
 * pi_omp.c - example: pi by the midpoint rule on 4/(1+x^2) over [0,1], with OpenMP.
 *
 * The interval is cut into ROUNDS rounds and each round into BLOCKS blocks of equal size. A
 * block is always summed by one thread in one order, and the block sums are added serially in
 * block order, so the answer is bit-for-bit the same for any OMP_NUM_THREADS and any
 * interruption (checkpoint, kill, restart): compare it with an uninterrupted run.
 *
 * Usage: pi_omp [rounds (20)] [million steps per round (1400)]
 * Prints one progress line per round and "pi = <17 digits>" at the end.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#define BLOCKS 64

static double block_sum(long first, long n, double h)
{
	double s = 0.0;
	for (long i = first; i < first + n; i++) {
		double x = (i + 0.5) * h;
		s += 4.0 / (1.0 + x * x);
	}
	return s;
}

int main(int argc, char **argv)
{
	long rounds = argc > 1 ? atol(argv[1]) : 20;
	long mega = argc > 2 ? atol(argv[2]) : 1400;
	if (rounds < 1 || mega < 1) {
		fprintf(stderr, "usage: pi_omp [rounds] [million steps per round]\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	long per_block = mega * 1000000L / BLOCKS;
	long steps = per_block * BLOCKS * rounds;
	double h = 1.0 / (double)steps;
	double total = 0.0;
	printf("pi_omp: %ld rounds x %ld steps, %d threads\n", rounds, per_block * BLOCKS,
	       omp_get_max_threads());
	for (long r = 0; r < rounds; r++) {
		double part[BLOCKS];
		long base = r * per_block * BLOCKS;
#pragma omp parallel for schedule(static)
		for (int b = 0; b < BLOCKS; b++)
			part[b] = block_sum(base + (long)b * per_block, per_block, h);
		for (int b = 0; b < BLOCKS; b++)
			total += part[b];
		printf("round %ld/%ld: partial pi = %.15f\n", r + 1, rounds, total * h);
	}
	double pi = total * h;
	printf("pi = %.17g (error %.3g)\n", pi, fabs(pi - M_PI));
	return 0;
}
