/* rankloop.c - cost of an MPI call through the gate: a tight MPI_Comm_rank loop on
 * MPI_COMM_WORLD (a predefined handle) and on a duplicated communicator (a created, i.e.
 * virtual, handle), in ns per call: the best of 400 rounds of ITERATIONS/400 calls, so that a
 * loaded machine (preemption) disturbs the figure little. Run natively and as a split process
 * to see what the gate and the handle lookup add.
 *   rankloop [ITERATIONS]   (default 4000000); prints the two figures on rank 0 and
 *   "PASS rankloop". */
#include <stdlib.h>

#include "mt.h"

static double loop(MPI_Comm c, long n)
{
	double best = 1e30;
	for (int round = 0; round < 400; round++) {
		int r = -1;
		double t = MPI_Wtime();
		for (long i = 0; i < n / 400; i++)
			MPI_Comm_rank(c, &r);
		t = MPI_Wtime() - t;
		if (t < best)
			best = t;
		CHECK(r >= 0, "rank %d", r);
	}
	return best * 1e9 / (double)(n / 400);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 4000000;
	int rank;
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm dup;
	CHECK_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &dup));
	double w = loop(MPI_COMM_WORLD, n), d = loop(dup, n);
	if (rank == 0)
		printf("MPI_Comm_rank ns/call: world %.2f dup %.2f\n", w, d);
	MPI_Comm_free(&dup);
	return mt_finish("rankloop");
}
