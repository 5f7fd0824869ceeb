/* comm.c - communicators and groups: split, dup (with attribute copy/delete callbacks), idup,
 * compare, group algebra, intercommunicator create/merge, Cartesian and dist-graph topologies
 * (MPI_UNWEIGHTED), and a user error handler called by MPI. */
#include <string.h>

#include "mt.h"

static int copies, deletes, errh_calls, errh_code;
static int extra_token, half_rank;

static int copy_fn(MPI_Comm c, int kv, void *extra, void *in, void *out, int *flag)
{
	(void)c;
	(void)kv;
	CHECK(mt_tls_ok(), "attribute copy callback runs on the lower half's TLS");
	CHECK(extra == &extra_token, "copy extra_state %p", extra);
	copies++;
	*(void **)out = (char *)in + 1;
	*flag = 1;
	return MPI_SUCCESS;
}

static int delete_fn(MPI_Comm c, int kv, void *val, void *extra)
{
	(void)c;
	(void)kv;
	(void)val;
	CHECK(mt_tls_ok(), "attribute delete callback runs on the lower half's TLS");
	CHECK(extra == &extra_token, "delete extra_state %p", extra);
	deletes++;
	return MPI_SUCCESS;
}

static void errh(MPI_Comm *c, int *code, ...)
{
	CHECK(mt_tls_ok(), "error handler runs on the lower half's TLS");
	int r = -1;
	MPI_Comm_rank(*c, &r); /* MPI from inside a callback */
	CHECK(r == half_rank, "rank inside the error handler %d, expected %d", r, half_rank);
	errh_calls++;
	errh_code = *code;
}

int main(int argc, char **argv)
{
	int rank, size, i, res;
	mt_tls_set();
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);

	/* split into even/odd, ordered by descending rank */
	MPI_Comm half;
	CHECK_MPI(MPI_Comm_split(MPI_COMM_WORLD, rank % 2, -rank, &half));
	int hr, hs;
	MPI_Comm_rank(half, &hr);
	MPI_Comm_size(half, &hs);
	CHECK(hs == (size + 1 - rank % 2) / 2, "split size %d", hs);
	CHECK(hr == (hs - 1) - rank / 2, "split rank %d", hr);
	half_rank = hr;
	int sum = 0;
	CHECK_MPI(MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, half));
	int expect = 0;
	for (i = rank % 2; i < size; i += 2)
		expect += i;
	CHECK(sum == expect, "Allreduce on split comm %d", sum);

	/* dup carries the attribute through our copy callback; free runs delete */
	int kv;
	CHECK_MPI(MPI_Comm_create_keyval(copy_fn, delete_fn, &kv, &extra_token));
	CHECK_MPI(MPI_Comm_set_attr(MPI_COMM_WORLD, kv, (void *)0x1000));
	MPI_Comm dup;
	CHECK_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &dup));
	void *val = NULL;
	int flag = 0;
	CHECK_MPI(MPI_Comm_get_attr(dup, kv, &val, &flag));
	CHECK(flag && val == (void *)0x1001 && copies == 1, "attribute copied: %p copies %d", val,
	      copies);
	CHECK_MPI(MPI_Comm_compare(MPI_COMM_WORLD, dup, &res));
	CHECK(res == MPI_CONGRUENT, "compare world/dup %d", res);
	CHECK_MPI(MPI_Comm_free(&dup));
	CHECK(dup == MPI_COMM_NULL && deletes == 1, "delete callback on free: %d", deletes);
	CHECK_MPI(MPI_Comm_delete_attr(MPI_COMM_WORLD, kv));
	CHECK(deletes == 2, "delete callback on delete_attr: %d", deletes);
	CHECK_MPI(MPI_Comm_free_keyval(&kv));

	/* MPI_COMM_DUP_FN (MPIR_Dup_fn of the upper half) */
	CHECK_MPI(MPI_Comm_create_keyval(MPI_COMM_DUP_FN, MPI_COMM_NULL_DELETE_FN, &kv, NULL));
	CHECK_MPI(MPI_Comm_set_attr(MPI_COMM_WORLD, kv, (void *)0x2000));
	CHECK_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &dup));
	CHECK_MPI(MPI_Comm_get_attr(dup, kv, &val, &flag));
	CHECK(flag && val == (void *)0x2000, "MPI_COMM_DUP_FN copy %p", val);
	CHECK_MPI(MPI_Comm_free(&dup));
	CHECK_MPI(MPI_Comm_delete_attr(MPI_COMM_WORLD, kv));
	CHECK_MPI(MPI_Comm_free_keyval(&kv));

	/* non-blocking dup */
	MPI_Request req;
	MPI_Comm idup;
	CHECK_MPI(MPI_Comm_idup(half, &idup, &req));
	CHECK_MPI(MPI_Wait(&req, MPI_STATUS_IGNORE));
	CHECK_MPI(MPI_Comm_compare(half, idup, &res));
	CHECK(res == MPI_CONGRUENT, "compare half/idup %d", res);

	/* groups */
	MPI_Group wg, hg, ug, ig, eg;
	CHECK_MPI(MPI_Comm_group(MPI_COMM_WORLD, &wg));
	CHECK_MPI(MPI_Comm_group(half, &hg));
	CHECK_MPI(MPI_Group_union(hg, wg, &ug));
	CHECK_MPI(MPI_Group_intersection(hg, wg, &ig));
	int gs;
	MPI_Group_size(ug, &gs);
	CHECK(gs == size, "union size %d", gs);
	MPI_Group_compare(ig, hg, &res);
	CHECK(res == MPI_IDENT, "intersection ident %d", res);
	int zero = 0, tr = -1;
	CHECK_MPI(MPI_Group_translate_ranks(hg, 1, &zero, wg, &tr));
	CHECK(tr == size - 1 - (size - 1 - rank % 2) % 2, "translate_ranks %d", tr);
	int ex[1] = {0};
	CHECK_MPI(MPI_Group_excl(wg, 1, ex, &eg));
	MPI_Group_size(eg, &gs);
	CHECK(gs == size - 1, "excl size %d", gs);
	MPI_Comm ec;
	CHECK_MPI(MPI_Comm_create(MPI_COMM_WORLD, eg, &ec));
	CHECK((rank == 0) == (ec == MPI_COMM_NULL), "Comm_create membership");
	if (ec != MPI_COMM_NULL)
		MPI_Comm_free(&ec);
	MPI_Group_free(&wg);
	MPI_Group_free(&hg);
	MPI_Group_free(&ug);
	MPI_Group_free(&ig);
	MPI_Group_free(&eg);
	CHECK(wg == MPI_GROUP_NULL, "Group_free");

	/* intercommunicator between the halves, merged back */
	if (size >= 2) {
		MPI_Comm inter, merged;
		/* each half's leader (half rank 0) is its highest world rank */
		int top_even = (size - 1) % 2 == 0 ? size - 1 : size - 2;
		int top_odd = (size - 1) % 2 == 1 ? size - 1 : size - 2;
		CHECK_MPI(MPI_Intercomm_create(half, 0, MPI_COMM_WORLD,
					       rank % 2 == 0 ? top_odd : top_even, 9, &inter));
		int rs;
		MPI_Comm_remote_size(inter, &rs);
		CHECK(rs == size - hs, "remote size %d", rs);
		CHECK_MPI(MPI_Intercomm_merge(inter, rank % 2, &merged));
		int ms;
		MPI_Comm_size(merged, &ms);
		CHECK(ms == size, "merged size %d", ms);
		MPI_Comm_free(&merged);
		MPI_Comm_free(&inter);
	}

	/* Cartesian ring */
	MPI_Comm cart;
	int dims[1] = {size}, periods[1] = {1}, src, dst;
	CHECK_MPI(MPI_Cart_create(MPI_COMM_WORLD, 1, dims, periods, 0, &cart));
	CHECK_MPI(MPI_Cart_shift(cart, 0, 1, &src, &dst));
	CHECK(src == (rank + size - 1) % size && dst == (rank + 1) % size, "Cart_shift");
	MPI_Comm_free(&cart);

	/* dist graph with MPI_UNWEIGHTED (a special pointer translated for the lower half) */
	MPI_Comm dg;
	int from = (rank + size - 1) % size, to = (rank + 1) % size;
	CHECK_MPI(MPI_Dist_graph_create_adjacent(MPI_COMM_WORLD, 1, &from, MPI_UNWEIGHTED, 1, &to,
						 MPI_UNWEIGHTED, MPI_INFO_NULL, 0, &dg));
	int indeg, outdeg, weighted = -1;
	CHECK_MPI(MPI_Dist_graph_neighbors_count(dg, &indeg, &outdeg, &weighted));
	CHECK(indeg == 1 && outdeg == 1 && weighted == 0, "dist graph counts %d %d weighted %d",
	      indeg, outdeg, weighted);
	int nin = -1, nout = -1;
	CHECK_MPI(MPI_Dist_graph_neighbors(dg, 1, &nin, MPI_UNWEIGHTED, 1, &nout, MPI_UNWEIGHTED));
	CHECK(nin == from && nout == to, "dist graph neighbours %d %d", nin, nout);
	int got = -1;
	CHECK_MPI(MPI_Neighbor_allgather(&rank, 1, MPI_INT, &got, 1, MPI_INT, dg));
	CHECK(got == from, "Neighbor_allgather %d", got);
	MPI_Comm_free(&dg);

	/* a user error handler, called by MPI */
	MPI_Errhandler eh;
	CHECK_MPI(MPI_Comm_create_errhandler(errh, &eh));
	CHECK_MPI(MPI_Comm_set_errhandler(half, eh));
	CHECK_MPI(MPI_Comm_call_errhandler(half, MPI_ERR_OTHER));
	CHECK(errh_calls == 1 && errh_code == MPI_ERR_OTHER, "error handler calls %d code %d",
	      errh_calls, errh_code);
	int bad = MPI_Send(&rank, 1, MPI_INT, size + 5, 0, half); /* invalid rank */
	CHECK(bad != MPI_SUCCESS && errh_calls == 2,
	      "error handler on a failing call: rc %d calls %d", bad, errh_calls);
	MPI_Errhandler_free(&eh);

	char name[MPI_MAX_OBJECT_NAME];
	int nlen;
	CHECK_MPI(MPI_Comm_set_name(half, "half"));
	CHECK_MPI(MPI_Comm_get_name(half, name, &nlen));
	CHECK(strcmp(name, "half") == 0 && nlen == 4, "comm name '%s'", name);

	MPI_Comm_free(&idup);
	MPI_Comm_free(&half);
	return mt_finish("comm");
}
