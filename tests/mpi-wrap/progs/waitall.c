/* waitall.c - MPI_Waitall's answers when its requests complete while it waits (the wrapper
 * polls the first incomplete point-to-point request with the lower MPI_Request_get_status and
 * completes them all with one lower Testall at the end; other kinds of request are left to
 * that Testall): rendezvous messages that arrive late, mixed with MPI_PROC_NULL requests, an
 * inactive and an active persistent request, a generalized request (its query callback runs
 * once or twice, not at every poll), and a truncated receive under MPI_ERRORS_RETURN
 * (MPI_ERR_IN_STATUS, per-request errors). Statuses and request handles are checked against
 * what MPICH itself answers (the program passes natively too). Ring of any size >= 2. */
#include <string.h>
#include <unistd.h>

#include "mt.h"

#define BIG (4 << 20) /* bytes: rendezvous, never complete at the first poll */

static int greq_queried;

static int greq_query(void *extra, MPI_Status *st)
{
	(void)extra;
	greq_queried++;
	MPI_Status_set_elements(st, MPI_BYTE, 7);
	MPI_Status_set_cancelled(st, 0);
	st->MPI_SOURCE = 3;
	st->MPI_TAG = 4;
	return MPI_SUCCESS;
}

static int greq_free(void *extra)
{
	(void)extra;
	return MPI_SUCCESS;
}

static int greq_cancel(void *extra, int complete)
{
	(void)extra;
	(void)complete;
	return MPI_SUCCESS;
}

static void expect_recv(const MPI_Status *s, int src, int tag, int bytes, const char *what)
{
	int n = -1;
	MPI_Get_count(s, MPI_BYTE, &n);
	CHECK(s->MPI_SOURCE == src && s->MPI_TAG == tag && n == bytes,
	      "%s: status source %d tag %d count %d, want %d %d %d", what, s->MPI_SOURCE,
	      s->MPI_TAG, n, src, tag, bytes);
}

static void expect_null(const MPI_Request *q, int n, const char *what)
{
	for (int i = 0; i < n; i++)
		CHECK(q[i] == MPI_REQUEST_NULL, "%s: request %d not freed", what, i);
}

int main(int argc, char **argv)
{
	int rank, size;
	MPI_Init(&argc, &argv);
	mt_tls_set();
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	int right = (rank + 1) % size, left = (rank + size - 1) % size;
	char *sb = malloc(BIG), *rb = malloc(BIG);
	CHECK(sb && rb, "malloc");
	memset(sb, 'a' + rank, BIG);

	/* 1. late rendezvous messages among PROC_NULL requests: the receiver waits first, the
	 *    sender sends 0.2 s later (odd ranks receive first, even ranks send first) */
	for (int round = 0; round < 2; round++) {
		MPI_Request q[5];
		MPI_Status st[5];
		memset(st, 0x55, sizeof st);
		memset(rb, 0, BIG);
		int late = (rank & 1) == round;
		CHECK_MPI(MPI_Isend(sb, 1, MPI_CHAR, MPI_PROC_NULL, 1, MPI_COMM_WORLD, &q[0]));
		CHECK_MPI(MPI_Irecv(rb, BIG, MPI_CHAR, left, 2, MPI_COMM_WORLD, &q[1]));
		CHECK_MPI(MPI_Irecv(rb, 1, MPI_CHAR, MPI_PROC_NULL, 3, MPI_COMM_WORLD, &q[2]));
		CHECK_MPI(MPI_Irecv(rb + BIG - 8, 8, MPI_CHAR, left, 4, MPI_COMM_WORLD, &q[3]));
		if (late)
			usleep(200000);
		CHECK_MPI(MPI_Isend(sb, BIG - 8, MPI_CHAR, right, 2, MPI_COMM_WORLD, &q[4]));
		MPI_Send(sb, 8, MPI_CHAR, right, 4, MPI_COMM_WORLD);
		CHECK_MPI(MPI_Waitall(5, q, st));
		expect_null(q, 5, "late");
		expect_recv(&st[1], left, 2, BIG - 8, "late rendezvous Irecv");
		expect_recv(&st[3], left, 4, 8, "late eager Irecv");
		int n = -1; /* (MPICH's own Waitall leaves source and tag 0 there: not checked) */
		MPI_Get_count(&st[2], MPI_BYTE, &n);
		CHECK(n == 0, "Irecv from MPI_PROC_NULL: count %d", n);
		CHECK(rb[0] == 'a' + left && rb[BIG - 9] == 'a' + left && rb[BIG - 1] == 'a' + left,
		      "late: data");
	}

	/* 2. statuses ignored, persistent requests: one inactive, one started */
	{
		MPI_Request q[4];
		CHECK_MPI(MPI_Recv_init(rb, BIG, MPI_CHAR, left, 5, MPI_COMM_WORLD, &q[0]));
		CHECK_MPI(MPI_Send_init(sb, BIG, MPI_CHAR, right, 5, MPI_COMM_WORLD, &q[1]));
		CHECK_MPI(MPI_Recv_init(rb, 1, MPI_CHAR, left, 6, MPI_COMM_WORLD, &q[2]));
		CHECK_MPI(MPI_Isend(sb, 0, MPI_CHAR, right, 7, MPI_COMM_WORLD, &q[3]));
		MPI_Status st[4];
		for (int i = 0; i < 3; i++) {
			memset(rb, 0, 16);
			CHECK_MPI(MPI_Startall(2, q));
			if (i == 1)
				usleep(100000);
			CHECK_MPI(
			    MPI_Waitall(i == 0 ? 4 : 3, q, i == 2 ? MPI_STATUSES_IGNORE : st));
			CHECK(rb[0] == 'a' + left, "persistent round %d: data", i);
			CHECK(q[0] != MPI_REQUEST_NULL && q[1] != MPI_REQUEST_NULL &&
				  q[2] != MPI_REQUEST_NULL,
			      "persistent round %d: a persistent request was freed", i);
			if (i < 2) {
				expect_recv(&st[0], left, 5, BIG, "persistent receive");
				/* inactive: the empty status */
				expect_recv(&st[2], MPI_ANY_SOURCE, MPI_ANY_TAG, 0, "inactive");
			}
		}
		CHECK(q[3] == MPI_REQUEST_NULL, "Isend among persistent requests not freed");
		int z;
		CHECK_MPI(MPI_Recv(&z, 0, MPI_CHAR, left, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
		for (int i = 0; i < 3; i++)
			CHECK_MPI(MPI_Request_free(&q[i]));
	}

	/* 3. a generalized request among late point-to-point ones: query called once */
	{
		MPI_Request q[3];
		MPI_Status st[3];
		CHECK_MPI(MPI_Irecv(rb, BIG, MPI_CHAR, left, 8, MPI_COMM_WORLD, &q[0]));
		CHECK_MPI(MPI_Grequest_start(greq_query, greq_free, greq_cancel, NULL, &q[1]));
		CHECK_MPI(MPI_Grequest_complete(q[1]));
		usleep(50000 * (rank & 1));
		CHECK_MPI(MPI_Isend(sb, BIG, MPI_CHAR, right, 8, MPI_COMM_WORLD, &q[2]));
		CHECK_MPI(MPI_Waitall(3, q, st));
		expect_null(q, 3, "grequest");
		expect_recv(&st[0], left, 8, BIG, "Irecv beside a grequest");
		expect_recv(&st[1], 3, 4, 7, "grequest");
		/* MPICH's Waitall calls it once, its Testall twice (for the error, then for the
		 * status): the split process completes with one Testall at the end */
		CHECK(greq_queried == 1 || greq_queried == 2, "grequest query called %d times",
		      greq_queried);
	}

	/* 4. a truncated receive under MPI_ERRORS_RETURN: MPI_ERR_IN_STATUS, its own error in its
	 *    status, MPI_SUCCESS in the other's */
	{
		MPI_Comm c;
		CHECK_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &c));
		CHECK_MPI(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
		CHECK_MPI(MPI_Comm_set_errhandler(c, MPI_ERRORS_RETURN));
		MPI_Request q[2];
		MPI_Status st[2];
		CHECK_MPI(MPI_Irecv(rb, 16, MPI_CHAR, left, 9, c, &q[0]));
		CHECK_MPI(MPI_Irecv(rb + 16, 16, MPI_CHAR, left, 10, c, &q[1]));
		if (rank & 1) { /* odd ranks send first, late; even ones once their wait is over */
			usleep(100000);
			CHECK_MPI(MPI_Send(sb, 16, MPI_CHAR, right, 9, c));
			CHECK_MPI(MPI_Send(sb, 64, MPI_CHAR, right, 10, c));
		}
		int r = MPI_Waitall(2, q, st);
		if (!(rank & 1)) {
			CHECK_MPI(MPI_Send(sb, 16, MPI_CHAR, right, 9, c));
			CHECK_MPI(MPI_Send(sb, 64, MPI_CHAR, right, 10, c));
		}
		int cls = -1;
		MPI_Error_class(st[1].MPI_ERROR, &cls);
		CHECK(r == MPI_ERR_IN_STATUS, "truncated: Waitall returned %d", r);
		CHECK(st[0].MPI_ERROR == MPI_SUCCESS, "truncated: other status error %d",
		      st[0].MPI_ERROR);
		CHECK(cls == MPI_ERR_TRUNCATE, "truncated: status error class %d", cls);
		expect_null(q, 2, "truncated");
		CHECK_MPI(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL));
		CHECK_MPI(MPI_Comm_free(&c));
	}

	free(sb);
	free(rb);
	return mt_finish("waitall");
}
