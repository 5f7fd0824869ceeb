/* cgroup.c - MPI_Comm_create_group across real checkpoints (known limit 1).
 *
 * Comm_create_group is collective over the group's members only. Every step: rank 0 calls
 * MPI_Comm_create_group(WORLD, {0, 1}) at once (and waits inside it), while rank 1 first
 * sleeps and does a barrier with rank 2 (communicator {1, 2}) and only then joins; rank 0
 * afterwards does a barrier with rank 3 ({0, 3}). A checkpoint therefore often finds rank 0
 * inside Comm_create_group while rank 1 has not reached it. Then an Allreduce on the new
 * communicator, folded into a hash; it is freed. rank 0 prints "ANSWER:" (equal to the native
 * run) and PASS/FAIL. Needs 4 ranks.   cgroup [steps] [ms per step]
 * The sleep of ranks 1 and 2 is paced by ../../progs/cr_go.h (CR_GO: none once the driver's
 * go file exists, a wait for it before the last quarter).
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../progs/cr_go.h"

int main(int argc, char **argv)
{
	int steps = argc > 1 ? atoi(argv[1]) : 200, ms = argc > 2 ? atoi(argv[2]) : 5;
	int rank, size, bad = 0, ok;
	uint64_t hash = 1469598103934665603ULL;
	MPI_Comm pair, c;
	MPI_Group wg, g01;
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	printf("PID %d %d\n", rank, (int)getpid());
	fflush(stdout);
	if (size != 4)
		MPI_Abort(MPI_COMM_WORLD, 2);
	/* pairs {1, 2} and {0, 3} */
	MPI_Comm_split(MPI_COMM_WORLD, rank == 1 || rank == 2, rank, &pair);
	int two[2] = {0, 1};
	MPI_Comm_group(MPI_COMM_WORLD, &wg);
	MPI_Group_incl(wg, 2, two, &g01);
	for (int s = 0; s < steps; s++) {
		if (rank == 1 || rank == 2) {
			cr_pace_us(s, steps, ms * 1000L);
			MPI_Barrier(pair);
		}
		if (rank <= 1) {
			long v = s * 10 + rank, w = 0;
			MPI_Comm_create_group(MPI_COMM_WORLD, g01, s % 5, &c);
			MPI_Allreduce(&v, &w, 1, MPI_LONG, MPI_SUM, c);
			if (w != s * 20 + 1 && bad++ < 5)
				fprintf(stderr, "FAIL rank %d step %d: %ld\n", rank, s, w);
			hash = (hash ^ (uint64_t)w) * 1099511628211ULL;
			MPI_Comm_free(&c);
		}
		if (rank == 0 || rank == 3)
			MPI_Barrier(pair);
		if (s == 10) {
			printf("READY\n");
			fflush(stdout);
		}
	}
	MPI_Group_free(&g01);
	MPI_Group_free(&wg);
	MPI_Comm_free(&pair);
	MPI_Allreduce(&bad, &ok, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
	if (rank == 0) {
		printf("ANSWER: %016llx\n", (unsigned long long)hash);
		printf("%s\n", ok ? "FAIL" : "PASS");
	}
	MPI_Finalize();
	return ok != 0;
}
