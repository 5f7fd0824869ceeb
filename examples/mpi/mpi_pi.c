/*
 * mpi_pi.c - a small MPI program to checkpoint, kill and restart (examples/mpi/README.md).
 *
 *   mpiexec -n 4 ./mpi_pi [ROUNDS]          (default 20 rounds of about 0.3 s)
 *
 * Every round each rank integrates its slice of 4/(1+x^2) over [0,1] with the midpoint
 * rule (a finer grid every round), the slices are summed with MPI_Allreduce and passed
 * around a ring of MPI_Sendrecv; rank 0 prints "round r/R: pi ~ ...". At the end rank 0
 * prints "pi = <value> checksum <hex>", which depends only on ROUNDS and the number of
 * ranks: a restarted run prints exactly what an uninterrupted one prints.
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
	int rank, size, rounds = argc > 1 ? atoi(argv[1]) : 20;
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (rounds < 1) {
		if (rank == 0)
			fprintf(stderr, "usage: mpi_pi [ROUNDS >= 1]\n");
		MPI_Finalize();
		return 2;
	}
	uint64_t check = 1469598103934665603ULL;
	double pi = 0;
	for (int r = 1; r <= rounds; r++) {
		long n = 2000000L * r; /* intervals this round */
		double h = 1.0 / (double)n, part = 0, ring = 0;
		for (long i = rank; i < n; i += size) {
			double x = h * ((double)i + 0.5);
			part += 4.0 / (1.0 + x * x);
		}
		part *= h;
		MPI_Allreduce(&part, &pi, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
		/* pass every rank's part once around the ring; the sum must be pi again */
		double carry = part;
		for (int k = 1; k < size; k++) {
			double in;
			MPI_Sendrecv(&carry, 1, MPI_DOUBLE, (rank + 1) % size, k, &in, 1, MPI_DOUBLE,
				     (rank + size - 1) % size, k, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
			ring += in;
			carry = in;
		}
		ring += part;
		uint64_t bits;
		memcpy(&bits, &pi, sizeof(bits));
		check = (check ^ bits) * 1099511628211ULL;
		if (rank == 0)
			printf("round %d/%d: pi ~ %.15f\n", r, rounds, pi);
		if (ring < pi - 1e-9 || ring > pi + 1e-9)
			printf("rank %d: ring sum %.15f differs from pi %.15f\n", rank, ring, pi);
		struct timespec ts = {0, 200000000L};
		nanosleep(&ts, NULL);
	}
	if (rank == 0)
		printf("pi = %.15f checksum %016llx\n", pi, (unsigned long long)check);
	MPI_Finalize();
	return 0;
}
