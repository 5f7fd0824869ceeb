/*
 * cr_answer.h - the end of the checkpoint test programs run by tests/e2e-mpi/mpi_cr.sh
 * (collstorm.c, rma.c, handles.c): every rank's running hash is gathered on rank 0, which
 * prints "ANSWER: <combined hash>" (equal for a native and a restarted run) and PASS or FAIL
 * (FAIL when any rank saw a wrong value). Returns nonzero on every rank when any failed.
 */
#ifndef CR_ANSWER_H
#define CR_ANSWER_H

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

static inline int cr_answer(uint64_t hash, int bad)
{
	int rank, size, any = 0;
	uint64_t all[64];
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (size > 64)
		MPI_Abort(MPI_COMM_WORLD, 2);
	MPI_Gather(&hash, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
	MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
	if (rank == 0) {
		uint64_t h = 0;
		for (int i = 0; i < size; i++)
			h = (h ^ all[i]) * 1099511628211ULL;
		printf("ANSWER: %016llx\n", (unsigned long long)h);
		printf("%s\n", any ? "FAIL" : "PASS");
	}
	return any;
}

#endif
