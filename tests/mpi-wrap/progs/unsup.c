/* unsup.c - functions the split process cannot serve fail cleanly, never crash.
 *   unsup blank       run under the harness with SPLITCKPT_TEST_BLANK=MPI_Barrier: the
 *                     lower half lacks MPI_Barrier; MPIX_Grequest_start is refused.
 *   unsup nocontract  run with no lower half at all (no contract): every call fails. */
#include <string.h>

#include "mt.h"

static int q(void *e, MPI_Status *s)
{
	(void)e;
	(void)s;
	return 0;
}
static int f(void *e)
{
	(void)e;
	return 0;
}
static int c(void *e, int x)
{
	(void)e;
	(void)x;
	return 0;
}
static int p(void *e, MPI_Status *s)
{
	(void)e;
	(void)s;
	return 0;
}
static int w(int n, void **e, double t, MPI_Status *s)
{
	(void)n;
	(void)e;
	(void)t;
	(void)s;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "nocontract") == 0) {
		int rc = MPI_Init(&argc, &argv), rank = -1;
		int rc2 = MPI_Comm_rank(MPI_COMM_WORLD, &rank);
		double t = MPI_Wtime();
		if (rc == MPI_ERR_UNSUPPORTED_OPERATION && rc2 == MPI_ERR_UNSUPPORTED_OPERATION &&
		    rank == -1 && t == 0.0)
			printf("PASS nocontract\n");
		else
			printf("FAIL nocontract: %d %d %d %g\n", rc, rc2, rank, t);
		return 0;
	}
	MPI_Init(&argc, &argv);
	int rc = MPI_Barrier(MPI_COMM_WORLD);
	CHECK(rc == MPI_ERR_UNSUPPORTED_OPERATION, "blanked MPI_Barrier returned %d", rc);
	rc = MPI_Barrier(MPI_COMM_WORLD); /* the message is printed once, the error every time */
	CHECK(rc == MPI_ERR_UNSUPPORTED_OPERATION, "second MPI_Barrier returned %d", rc);
	MPI_Request r = MPI_REQUEST_NULL;
	rc = MPIX_Grequest_start(q, f, c, p, w, NULL, &r);
	CHECK(rc == MPI_ERR_UNSUPPORTED_OPERATION && r == MPI_REQUEST_NULL,
	      "MPIX_Grequest_start returned %d", rc);
	/* the rest still works */
	int one = 1, sum = 0, size;
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	CHECK_MPI(MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
	CHECK(sum == size, "Allreduce after failures %d", sum);
	return mt_finish("unsup");
}
