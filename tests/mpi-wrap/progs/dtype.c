/* dtype.c - derived datatypes: vector, indexed, struct, subarray, resized, envelope/contents,
 * Pack/Unpack, and sending with derived types on both sides. */
#include <stddef.h>
#include <string.h>

#include "mt.h"

struct particle {
	int id;
	double pos[3];
	char tag;
};

int main(int argc, char **argv)
{
	int rank, size, i, j;
	mt_tls_set();
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	int right = (rank + 1) % size, left = (rank + size - 1) % size;

	/* a column of a 6x6 matrix, sent as a vector and received contiguous */
	double m[6][6], col[6];
	for (i = 0; i < 6; i++)
		for (j = 0; j < 6; j++)
			m[i][j] = rank * 100 + i * 6 + j;
	MPI_Datatype column;
	CHECK_MPI(MPI_Type_vector(6, 1, 6, MPI_DOUBLE, &column));
	CHECK_MPI(MPI_Type_commit(&column));
	int tsize;
	MPI_Type_size(column, &tsize);
	CHECK(tsize == 6 * (int)sizeof(double), "vector size %d", tsize);
	CHECK_MPI(MPI_Sendrecv(&m[0][2], 1, column, right, 1, col, 6, MPI_DOUBLE, left, 1,
			       MPI_COMM_WORLD, MPI_STATUS_IGNORE));
	for (i = 0; i < 6; i++)
		CHECK(col[i] == left * 100 + i * 6 + 2, "vector column [%d] = %g", i, col[i]);

	/* indexed: lower triangle */
	int bl[6], dp[6];
	for (i = 0; i < 6; i++) {
		bl[i] = i + 1;
		dp[i] = i * 6;
	}
	MPI_Datatype tri;
	CHECK_MPI(MPI_Type_indexed(6, bl, dp, MPI_DOUBLE, &tri));
	CHECK_MPI(MPI_Type_commit(&tri));
	double t2[6][6];
	memset(t2, 0, sizeof(t2));
	CHECK_MPI(MPI_Sendrecv(m, 1, tri, right, 2, t2, 1, tri, left, 2, MPI_COMM_WORLD,
			       MPI_STATUS_IGNORE));
	for (i = 0; i < 6; i++)
		for (j = 0; j < 6; j++)
			CHECK(t2[i][j] == (j <= i ? left * 100 + i * 6 + j : 0),
			      "triangle [%d][%d]", i, j);

	/* struct with resized extent, array of 4 */
	struct particle p[4], q[4];
	int blens[3] = {1, 3, 1};
	MPI_Aint disps[3] = {offsetof(struct particle, id), offsetof(struct particle, pos),
			     offsetof(struct particle, tag)};
	MPI_Datatype types[3] = {MPI_INT, MPI_DOUBLE, MPI_CHAR}, ps0, ps;
	CHECK_MPI(MPI_Type_create_struct(3, blens, disps, types, &ps0));
	CHECK_MPI(MPI_Type_create_resized(ps0, 0, sizeof(struct particle), &ps));
	CHECK_MPI(MPI_Type_commit(&ps));
	MPI_Aint lb, extent;
	MPI_Type_get_extent(ps, &lb, &extent);
	CHECK(lb == 0 && extent == sizeof(struct particle), "resized extent %ld", (long)extent);
	for (i = 0; i < 4; i++) {
		p[i].id = rank * 10 + i;
		p[i].pos[0] = i;
		p[i].pos[1] = rank;
		p[i].pos[2] = -i;
		p[i].tag = 'a' + i;
	}
	memset(q, 0, sizeof(q));
	CHECK_MPI(
	    MPI_Sendrecv(p, 4, ps, right, 3, q, 4, ps, left, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
	for (i = 0; i < 4; i++)
		CHECK(q[i].id == left * 10 + i && q[i].pos[1] == left && q[i].pos[2] == -i &&
			  q[i].tag == 'a' + i,
		      "struct element %d", i);

	/* envelope / contents of the struct */
	int ni, na, nd, comb;
	CHECK_MPI(MPI_Type_get_envelope(ps0, &ni, &na, &nd, &comb));
	CHECK(comb == MPI_COMBINER_STRUCT && ni == 4 && na == 3 && nd == 3, "envelope %d %d %d %d",
	      ni, na, nd, comb);
	int ints[4];
	MPI_Aint addrs[3];
	MPI_Datatype dts[3];
	CHECK_MPI(MPI_Type_get_contents(ps0, 4, 3, 3, ints, addrs, dts));
	CHECK(ints[0] == 3 && ints[2] == 3 && addrs[1] == disps[1] && dts[1] == MPI_DOUBLE,
	      "contents");

	/* subarray: the 2x3 block at (1,2) of the 6x6 matrix */
	int sizes[2] = {6, 6}, subs[2] = {2, 3}, starts[2] = {1, 2};
	MPI_Datatype sub;
	CHECK_MPI(MPI_Type_create_subarray(2, sizes, subs, starts, MPI_ORDER_C, MPI_DOUBLE, &sub));
	CHECK_MPI(MPI_Type_commit(&sub));
	double blk[6];
	CHECK_MPI(MPI_Sendrecv(m, 1, sub, right, 4, blk, 6, MPI_DOUBLE, left, 4, MPI_COMM_WORLD,
			       MPI_STATUS_IGNORE));
	for (i = 0; i < 2; i++)
		for (j = 0; j < 3; j++)
			CHECK(blk[i * 3 + j] == left * 100 + (1 + i) * 6 + 2 + j,
			      "subarray (%d,%d)", i, j);

	/* Pack / Unpack */
	char pbuf[512];
	int pos = 0, psize;
	CHECK_MPI(MPI_Pack_size(1, column, MPI_COMM_WORLD, &psize));
	CHECK(psize >= 6 * (int)sizeof(double) && psize <= (int)sizeof(pbuf), "Pack_size %d",
	      psize);
	CHECK_MPI(MPI_Pack(&m[0][4], 1, column, pbuf, sizeof(pbuf), &pos, MPI_COMM_WORLD));
	double un[6];
	int upos = 0;
	CHECK_MPI(MPI_Unpack(pbuf, sizeof(pbuf), &upos, un, 6, MPI_DOUBLE, MPI_COMM_WORLD));
	CHECK(upos == pos && un[5] == rank * 100 + 5 * 6 + 4, "Pack/Unpack");

	MPI_Type_free(&column);
	MPI_Type_free(&tri);
	MPI_Type_free(&ps0);
	MPI_Type_free(&ps);
	MPI_Type_free(&sub);
	CHECK(sub == MPI_DATATYPE_NULL, "Type_free");
	return mt_finish("dtype");
}
