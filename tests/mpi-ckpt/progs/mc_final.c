/*
 * mc_final.c - MPI checkpoint test program: ranks checkpointed AFTER MPI_Finalize. Each rank
 * reduces its rank number with MPI_Allreduce, finalizes MPI, prints "PID <rank> <pid>" and
 * "READY", then folds ITERS numbers into a hash (one every 0.1 s) and prints, on every rank,
 * "ANSWER: <sum> <hash>" (rank 0) and PASS or FAIL. A restarted finalized rank must not touch
 * MPI again except MPI_Finalized, which must still answer 1. Usage: mc_final [ITERS]
 * The 0.1 s pause follows ../../progs/cr_go.h (CR_GO: none once the driver's go file exists,
 * a wait for it before the last quarter).
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../progs/cr_go.h"

int main(int argc, char **argv)
{
	int iters = argc > 1 ? atoi(argv[1]) : 100;
	int rank, size, sum = 0;
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
	MPI_Finalize();
	printf("PID %d %d\nREADY\n", rank, (int)getpid());
	fflush(stdout);
	uint64_t acc = 1469598103934665603ULL;
	for (int i = 0; i < iters; i++) {
		acc = (acc ^ (uint64_t)i) * 1099511628211ULL;
		cr_pace_us(i, iters, 100000);
	}
	uint64_t want = 1469598103934665603ULL;
	for (int i = 0; i < iters; i++)
		want = (want ^ (uint64_t)i) * 1099511628211ULL;
	int fin = 0; /* MPI_Finalized is allowed after MPI_Finalize: 1, also after a restart */
	MPI_Finalized(&fin);
	if (!fin)
		printf("FAIL rank %d: MPI_Finalized answers 0 after MPI_Finalize\n", rank);
	int ok = acc == want && sum == size * (size - 1) / 2 && fin;
	if (rank == 0) {
		printf("ANSWER: %d %016llx\n", sum, (unsigned long long)acc);
		printf(ok ? "PASS\n" : "FAIL hash or sum wrong\n");
	}
	return ok ? 0 : 1;
}
