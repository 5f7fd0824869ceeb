/* coll.c - collectives: Bcast, Allreduce (predefined op and user-defined ops, commutative and
 * not), Reduce, Scan/Exscan, Allgatherv, Alltoall, non-blocking Iallreduce with a user op,
 * Reduce_local. The user ops check that they run on the application's TLS (the callback
 * trampoline switched back) and that errno is the application's. */
#include <errno.h>

#include "mt.h"

static int op_calls;

/* element-wise sum of doubles, and a check of the thread's TLS */
static void dsum(void *in, void *inout, int *len, MPI_Datatype *dt)
{
	CHECK(mt_tls_ok(), "user op runs on the lower half's TLS");
	CHECK(*dt == MPI_DOUBLE, "user op datatype %#x", (unsigned)*dt);
	errno = 0; /* must hit the application's errno */
	op_calls++;
	for (int i = 0; i < *len; i++)
		((double *)inout)[i] += ((double *)in)[i];
}

/* non-commutative: 2x2 integer matrix product, inout = in * inout */
static void matmul(void *in, void *inout, int *len, MPI_Datatype *dt)
{
	(void)dt;
	CHECK(mt_tls_ok(), "non-commutative op runs on the lower half's TLS");
	int *a = in, *b = inout;
	for (int k = 0; k < *len; k++, a += 4, b += 4) {
		int c[4] = {a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3],
			    a[2] * b[0] + a[3] * b[2], a[2] * b[1] + a[3] * b[3]};
		for (int i = 0; i < 4; i++)
			b[i] = c[i];
	}
}

int main(int argc, char **argv)
{
	int rank, size, i;
	mt_tls_set();
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);

	int v = rank == 0 ? 4242 : -1;
	CHECK_MPI(MPI_Bcast(&v, 1, MPI_INT, 0, MPI_COMM_WORLD));
	CHECK(v == 4242, "Bcast got %d", v);

	int s = 0;
	CHECK_MPI(MPI_Allreduce(&rank, &s, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
	CHECK(s == size * (size - 1) / 2, "Allreduce SUM %d", s);

	/* user-defined commutative op */
	MPI_Op op;
	CHECK_MPI(MPI_Op_create(dsum, 1, &op));
	double d[3] = {rank, 1.0, 0.5 * rank}, r[3] = {0};
	errno = 1234;
	CHECK_MPI(MPI_Allreduce(d, r, 3, MPI_DOUBLE, op, MPI_COMM_WORLD));
	CHECK(r[0] == size * (size - 1) / 2.0 && r[1] == size && r[2] == size * (size - 1) / 4.0,
	      "user Allreduce %g %g %g", r[0], r[1], r[2]);
	CHECK(size == 1 || op_calls > 0, "user op never called");
	int commute = -1;
	CHECK_MPI(MPI_Op_commutative(op, &commute));
	CHECK(commute == 1, "Op_commutative %d", commute);

	/* non-commutative: product of per-rank matrices in rank order */
	MPI_Op mop;
	MPI_Datatype mat;
	CHECK_MPI(MPI_Op_create(matmul, 0, &mop));
	CHECK_MPI(MPI_Type_contiguous(4, MPI_INT, &mat));
	CHECK_MPI(MPI_Type_commit(&mat));
	int m[4] = {1, rank + 1, 0, 1}, prod[4] = {0};
	CHECK_MPI(MPI_Reduce(m, prod, 1, mat, mop, 0, MPI_COMM_WORLD));
	if (rank == 0) /* [[1,a],[0,1]] * [[1,b],[0,1]] = [[1,a+b],[0,1]] */
		CHECK(prod[0] == 1 && prod[1] == size * (size + 1) / 2 && prod[2] == 0 &&
			  prod[3] == 1,
		      "non-commutative Reduce %d %d %d %d", prod[0], prod[1], prod[2], prod[3]);

	/* Scan / Exscan */
	int sc = -1, ex = -1;
	CHECK_MPI(MPI_Scan(&rank, &sc, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
	CHECK_MPI(MPI_Exscan(&rank, &ex, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
	CHECK(sc == rank * (rank + 1) / 2, "Scan %d", sc);
	if (rank > 0)
		CHECK(ex == rank * (rank - 1) / 2, "Exscan %d", ex);

	/* Allgatherv: rank i contributes i+1 copies of i */
	int mine[8], all[64], counts[8], displs[8], tot = 0;
	for (i = 0; i <= rank; i++)
		mine[i] = rank;
	for (i = 0; i < size; i++) {
		counts[i] = i + 1;
		displs[i] = tot;
		tot += i + 1;
	}
	CHECK_MPI(
	    MPI_Allgatherv(mine, rank + 1, MPI_INT, all, counts, displs, MPI_INT, MPI_COMM_WORLD));
	for (i = 0; i < size; i++)
		CHECK(all[displs[i]] == i && all[displs[i] + i] == i, "Allgatherv block %d", i);

	/* Alltoall */
	int out[8], in[8];
	for (i = 0; i < size; i++)
		out[i] = rank * 100 + i;
	CHECK_MPI(MPI_Alltoall(out, 1, MPI_INT, in, 1, MPI_INT, MPI_COMM_WORLD));
	for (i = 0; i < size; i++)
		CHECK(in[i] == i * 100 + rank, "Alltoall [%d] = %d", i, in[i]);

	/* non-blocking collective with the user op */
	MPI_Request req;
	double nd = 1.5, nr = 0;
	CHECK_MPI(MPI_Iallreduce(&nd, &nr, 1, MPI_DOUBLE, op, MPI_COMM_WORLD, &req));
	CHECK_MPI(MPI_Wait(&req, MPI_STATUS_IGNORE));
	CHECK(nr == 1.5 * size, "Iallreduce user op %g", nr);
	CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD));

	/* Reduce_local calls the user op right here */
	double li[2] = {1, 2}, lo[2] = {10, 20};
	op_calls = 0;
	CHECK_MPI(MPI_Reduce_local(li, lo, 2, MPI_DOUBLE, op));
	CHECK(lo[0] == 11 && lo[1] == 22 && op_calls == 1, "Reduce_local");

	CHECK_MPI(MPI_Op_free(&op));
	CHECK_MPI(MPI_Op_free(&mop));
	CHECK(op == MPI_OP_NULL, "Op_free");
	CHECK_MPI(MPI_Type_free(&mat));
	return mt_finish("coll");
}
