/*
 * mc_preinit.c - MPI checkpoint test program: a rank that is checkpointed BEFORE it calls
 * MPI_Init. Each rank folds ITERS numbers into a hash (one every 0.1 s), then initialises MPI
 * (after a restart: in the fresh lower half that already ran MPI_Init) and XOR-reduces the
 * hashes. Every rank can compute every rank's hash, so rank 0 checks the reduced value.
 * Output: "PID <rank> <pid>" and "READY" per rank, then on rank 0 "ANSWER: <hex>" and
 * PASS or FAIL. Usage: mc_preinit [ITERS]
 * The 0.1 s pause follows ../../progs/cr_go.h (CR_GO: none once the driver's go file exists,
 * a wait for it before the last quarter, so a checkpoint however late still finds the rank
 * before MPI_Init).
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../progs/cr_go.h"

static uint64_t fold(int rank, int iters, int upto)
{
	uint64_t acc = 1469598103934665603ULL ^ (uint64_t)rank;
	for (int i = 0; i < upto && i < iters; i++)
		acc = (acc ^ (uint64_t)i) * 1099511628211ULL;
	return acc;
}

int main(int argc, char **argv)
{
	int iters = argc > 1 ? atoi(argv[1]) : 100;
	const char *r = getenv("PMI_RANK");
	if (!r)
		r = getenv("SLURM_PROCID");
	int rank = r ? atoi(r) : 0;
	printf("PID %d %d\nREADY\n", rank, (int)getpid());
	fflush(stdout);
	uint64_t acc = 1469598103934665603ULL ^ (uint64_t)rank;
	for (int i = 0; i < iters; i++) {
		acc = (acc ^ (uint64_t)i) * 1099511628211ULL;
		cr_pace_us(i, iters, 100000);
	}
	MPI_Init(&argc, &argv);
	int mrank, size;
	MPI_Comm_rank(MPI_COMM_WORLD, &mrank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (mrank != rank) {
		printf("FAIL rank %d from the environment, %d from MPI\n", rank, mrank);
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	uint64_t x = 0;
	MPI_Allreduce(&acc, &x, 1, MPI_UINT64_T, MPI_BXOR, MPI_COMM_WORLD);
	uint64_t want = 0;
	for (int k = 0; k < size; k++)
		want ^= fold(k, iters, iters);
	if (mrank == 0) {
		printf("ANSWER: %016llx\n", (unsigned long long)x);
		printf(x == want ? "PASS\n" : "FAIL reduced %016llx, expected %016llx\n",
		       (unsigned long long)x, (unsigned long long)want);
	}
	MPI_Finalize();
	return x == want ? 0 : 1;
}
