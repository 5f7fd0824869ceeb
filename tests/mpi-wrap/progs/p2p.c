/* p2p.c - point-to-point through the wrappers: blocking ring, Isend/Irecv/Waitall,
 * MPI_ANY_SOURCE with status, Sendrecv, Ssend, Bsend, Probe/Iprobe, Mprobe/Mrecv, persistent
 * requests, Testall, Request_free, a generalized request (query/free callbacks), and a small
 * RMA epoch (Win_create, fence, Put). */
#include <string.h>

#include "mt.h"

#define N 1000

static int greq_queried, greq_freed;

static int greq_query(void *extra, MPI_Status *st)
{
	CHECK(mt_tls_ok(), "grequest query callback runs on the lower half's TLS");
	CHECK(extra == (void *)&greq_queried, "grequest extra_state %p", extra);
	greq_queried++;
	MPI_Status_set_elements(st, MPI_BYTE, 42);
	MPI_Status_set_cancelled(st, 0);
	st->MPI_SOURCE = MPI_UNDEFINED;
	st->MPI_TAG = MPI_UNDEFINED;
	return MPI_SUCCESS;
}

static int greq_free(void *extra)
{
	CHECK(mt_tls_ok(), "grequest free callback runs on the lower half's TLS");
	(void)extra;
	greq_freed++;
	return MPI_SUCCESS;
}

static int greq_cancel(void *extra, int complete)
{
	(void)extra;
	(void)complete;
	return MPI_SUCCESS;
}

int main(int argc, char **argv)
{
	int rank, size, i;
	mt_tls_set();
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	int right = (rank + 1) % size, left = (rank + size - 1) % size;

	/* blocking ring: even ranks send first */
	int sbuf[N], rbuf[N];
	for (i = 0; i < N; i++)
		sbuf[i] = rank * N + i;
	MPI_Status st;
	if (rank % 2 == 0) {
		CHECK_MPI(MPI_Send(sbuf, N, MPI_INT, right, 7, MPI_COMM_WORLD));
		CHECK_MPI(MPI_Recv(rbuf, N, MPI_INT, left, 7, MPI_COMM_WORLD, &st));
	} else {
		CHECK_MPI(MPI_Recv(rbuf, N, MPI_INT, left, 7, MPI_COMM_WORLD, &st));
		CHECK_MPI(MPI_Send(sbuf, N, MPI_INT, right, 7, MPI_COMM_WORLD));
	}
	int cnt = -1;
	MPI_Get_count(&st, MPI_INT, &cnt);
	CHECK(cnt == N && st.MPI_SOURCE == left && st.MPI_TAG == 7, "ring status");
	for (i = 0; i < N; i++)
		CHECK(rbuf[i] == left * N + i, "ring data [%d] = %d", i, rbuf[i]);

	/* non-blocking exchange with both neighbours */
	int a[2][N], b[2][N];
	MPI_Request req[4];
	MPI_Status sts[4];
	for (i = 0; i < N; i++)
		a[0][i] = a[1][i] = rank + 10 * i;
	CHECK_MPI(MPI_Irecv(b[0], N, MPI_INT, left, 1, MPI_COMM_WORLD, &req[0]));
	CHECK_MPI(MPI_Irecv(b[1], N, MPI_INT, right, 2, MPI_COMM_WORLD, &req[1]));
	CHECK_MPI(MPI_Isend(a[0], N, MPI_INT, right, 1, MPI_COMM_WORLD, &req[2]));
	CHECK_MPI(MPI_Isend(a[1], N, MPI_INT, left, 2, MPI_COMM_WORLD, &req[3]));
	CHECK_MPI(MPI_Waitall(4, req, sts));
	for (i = 0; i < 4; i++)
		CHECK(req[i] == MPI_REQUEST_NULL, "request %d not freed by Waitall", i);
	for (i = 0; i < N; i++)
		CHECK(b[0][i] == left + 10 * i && b[1][i] == right + 10 * i, "Irecv data [%d]", i);

	/* ANY_SOURCE / ANY_TAG: everyone sends its rank to 0, on a communicator of its own so
	 * that no later message can match */
	MPI_Comm anyc;
	CHECK_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &anyc));
	if (rank == 0) {
		int seen = 0;
		for (i = 1; i < size; i++) {
			int v = -1;
			CHECK_MPI(MPI_Recv(&v, 1, MPI_INT, MPI_ANY_SOURCE, MPI_ANY_TAG, anyc, &st));
			CHECK(v == st.MPI_SOURCE && st.MPI_TAG == 100 + v,
			      "ANY_SOURCE got %d from %d tag %d", v, st.MPI_SOURCE, st.MPI_TAG);
			seen |= 1 << v;
		}
		CHECK(seen == ((1 << size) - 2), "ANY_SOURCE senders %#x", seen);
	} else {
		CHECK_MPI(MPI_Ssend(&rank, 1, MPI_INT, 0, 100 + rank, anyc));
	}
	CHECK_MPI(MPI_Comm_free(&anyc));

	/* Sendrecv and Sendrecv_replace */
	int x = rank, y = -1;
	CHECK_MPI(MPI_Sendrecv(&x, 1, MPI_INT, right, 3, &y, 1, MPI_INT, left, 3, MPI_COMM_WORLD,
			       MPI_STATUS_IGNORE));
	CHECK(y == left, "Sendrecv got %d", y);
	x = rank;
	CHECK_MPI(MPI_Sendrecv_replace(&x, 1, MPI_INT, right, 4, left, 4, MPI_COMM_WORLD, &st));
	CHECK(x == left, "Sendrecv_replace got %d", x);

	/* Bsend with an attached buffer */
	int bsize = 4 * (N * (int)sizeof(int) + MPI_BSEND_OVERHEAD);
	void *bbuf = malloc(bsize);
	CHECK_MPI(MPI_Buffer_attach(bbuf, bsize));
	CHECK_MPI(MPI_Bsend(sbuf, N, MPI_INT, right, 5, MPI_COMM_WORLD));
	CHECK_MPI(MPI_Recv(rbuf, N, MPI_INT, left, 5, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
	CHECK(rbuf[N - 1] == left * N + N - 1, "Bsend data");
	void *dbuf;
	int dsize;
	CHECK_MPI(MPI_Buffer_detach(&dbuf, &dsize));
	CHECK(dbuf == bbuf && dsize == bsize, "Buffer_detach");
	free(bbuf);

	/* Probe / Iprobe / Mprobe */
	CHECK_MPI(MPI_Send(sbuf, 17, MPI_INT, right, 6, MPI_COMM_WORLD));
	int flag = 0;
	while (!flag)
		CHECK_MPI(MPI_Iprobe(left, 6, MPI_COMM_WORLD, &flag, &st));
	CHECK_MPI(MPI_Get_count(&st, MPI_INT, &cnt));
	CHECK(cnt == 17 && st.MPI_SOURCE == left, "Iprobe count %d", cnt);
	MPI_Message msg;
	CHECK_MPI(MPI_Mprobe(left, 6, MPI_COMM_WORLD, &msg, &st));
	CHECK_MPI(MPI_Mrecv(rbuf, 17, MPI_INT, &msg, &st));
	CHECK(msg == MPI_MESSAGE_NULL && rbuf[16] == left * N + 16, "Mrecv");

	/* persistent requests */
	MPI_Request p[2];
	CHECK_MPI(MPI_Send_init(&x, 1, MPI_INT, right, 8, MPI_COMM_WORLD, &p[0]));
	CHECK_MPI(MPI_Recv_init(&y, 1, MPI_INT, left, 8, MPI_COMM_WORLD, &p[1]));
	for (i = 0; i < 3; i++) {
		x = rank * 100 + i;
		CHECK_MPI(MPI_Startall(2, p));
		flag = 0;
		while (!flag)
			CHECK_MPI(MPI_Testall(2, p, &flag, sts));
		CHECK(y == left * 100 + i, "persistent round %d got %d", i, y);
	}
	CHECK_MPI(MPI_Request_free(&p[0]));
	CHECK_MPI(MPI_Request_free(&p[1]));
	CHECK(p[0] == MPI_REQUEST_NULL, "Request_free");

	/* generalized request: callbacks run in the application */
	MPI_Request g;
	CHECK_MPI(MPI_Grequest_start(greq_query, greq_free, greq_cancel, &greq_queried, &g));
	CHECK_MPI(MPI_Grequest_complete(g));
	CHECK_MPI(MPI_Wait(&g, &st));
	MPI_Get_count(&st, MPI_BYTE, &cnt);
	CHECK(greq_queried == 1 && greq_freed == 1 && cnt == 42, "grequest q=%d f=%d count=%d",
	      greq_queried, greq_freed, cnt);

	/* one-sided: everyone puts its rank into the right neighbour's window. The window is on
	 * the heap: Debian's MPICH 4.0.2 + UCX 1.13 (UCX_TLS=self,sm) misplaces puts into a
	 * window on the stack after stack buffers were used for point-to-point, natively too. */
	int *winbuf = malloc(2 * sizeof(int));
	winbuf[0] = winbuf[1] = -1;
	MPI_Win win;
	CHECK_MPI(MPI_Win_create(winbuf, 2 * sizeof(int), sizeof(int), MPI_INFO_NULL,
				 MPI_COMM_WORLD, &win));
	CHECK_MPI(MPI_Win_fence(0, win));
	CHECK_MPI(MPI_Put(&rank, 1, MPI_INT, right, 1, 1, MPI_INT, win));
	CHECK_MPI(MPI_Win_fence(0, win));
	CHECK(winbuf[1] == left && winbuf[0] == -1, "RMA Put got %d", winbuf[1]);
	CHECK_MPI(MPI_Win_free(&win));
	free(winbuf);

	return mt_finish("p2p");
}
