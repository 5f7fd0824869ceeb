/*
 * mpi_app.c - the MPI application of the Slurm examples (srun ... dmtcp_launch ./mpi_app).
 *
 * STEPS steps; in each, a token goes around the ring of ranks (point-to-point), every rank
 * adds its share of a series and MPI_Allreduce sums the shares. All sums are integers below
 * 2^53, exact in double precision, so the answer is the same for any number of ranks and
 * any checkpoint/restart: compare it with an uninterrupted run.
 *
 * Usage: mpi_app [steps (20)] [pause ms after each step (0)]
 * Rank 0 prints "mpi_app: N ranks", "step K/N sum S" and "result = S"; every rank prints
 * "rank R of N on NODE" once (NODE: $SLURMD_NODENAME, else the host name).
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define PER_STEP 400000L

int main(int argc, char **argv)
{
	int rank, size;
	long steps = argc > 1 ? atol(argv[1]) : 20;
	long pause_ms = argc > 2 ? atol(argv[2]) : 0;
	char host[256] = "?";

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *node = getenv("SLURMD_NODENAME");
	if (!node) {
		gethostname(host, sizeof(host) - 1);
		node = host;
	}
	printf("rank %d of %d on %s\n", rank, size, node);
	if (rank == 0)
		printf("mpi_app: %d ranks, %ld steps\n", size, steps);

	double total = 0.0;
	for (long k = 1; k <= steps; k++) {
		long token = k, got = -1;
		int next = (rank + 1) % size, prev = (rank + size - 1) % size;
		if (rank == 0) {
			MPI_Sendrecv(&token, 1, MPI_LONG, next, 0, &got, 1, MPI_LONG, prev, 0,
				     MPI_COMM_WORLD, MPI_STATUS_IGNORE);
		} else {
			MPI_Recv(&got, 1, MPI_LONG, prev, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
			MPI_Send(&got, 1, MPI_LONG, next, 0, MPI_COMM_WORLD);
		}
		if (got != k) {
			fprintf(stderr, "FAIL rank %d: token %ld in step %ld\n", rank, got, k);
			MPI_Abort(MPI_COMM_WORLD, 1);
		}
		/* step k's series: i % 1000 for i = (k-1)*PER_STEP + 1 ... k*PER_STEP, split
		 * round-robin over the ranks; every partial sum is an exact integer */
		double part = 0.0, sum = 0.0;
		for (long i = (k - 1) * PER_STEP + 1 + rank; i <= k * PER_STEP; i += size)
			part += (double)(i % 1000);
		MPI_Allreduce(&part, &sum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
		total += sum;
		if (rank == 0)
			printf("step %ld/%ld sum %.17g\n", k, steps, total);
		if (pause_ms) {
			struct timespec ts = {pause_ms / 1000, (pause_ms % 1000) * 1000000L};
			nanosleep(&ts, NULL);
		}
	}
	if (rank == 0)
		printf("result = %.17g\n", total);
	MPI_Finalize();
	return 0;
}
