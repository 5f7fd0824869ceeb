/* rebuild.c - virtual handles and their rebuild (DESIGN 2.5, issue "MPI checkpoint/restart").
 *
 * Creates communicators (split, dup, create, create_group, Cartesian + cart_sub, graph,
 * dist-graph with weights, intercommunicator + merge, idup, split_type), groups, derived
 * datatypes of every constructor (also large-count ones, and one built on a freed type), user
 * ops (commutative on a derived type, non-commutative), keyvals with attributes (comm, type,
 * win, MPI_COMM_WORLD), a user error handler and MPI_ERRORS_RETURN on MPI_COMM_WORLD, an info
 * object, windows (created, dynamic), a file with a view and a moved file pointer, persistent
 * requests and names; checks that every handle
 * it got is MPICH-shaped (kind bits) and uses every object (verify: communication on each
 * communicator, pack/unpack and exchange with each datatype, reductions with each op,
 * attribute gets and copy/delete callbacks, the error handler, RMA, the persistent requests).
 *
 * Then, in a split process, it calls the test entry point SPLITCKPT_test_rebuild_handles()
 * of the upper half's libmpich.so.12: every object is made again in the running MPICH and
 * bound to the same virtual handle (the old lower objects are left behind, as a restart leaves
 * them in the old process). It checks that every lower handle changed, and verifies every
 * object again with the same results; a receive pending across the rebuild is posted again
 * and gets the message sent after it. Natively (no such entry point) it only verifies.
 *   rebuild          (4 ranks)
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mt.h"

#define N 8

struct objs {
	MPI_Comm split, dup, create, cgroup, cart, cartsub, graph, dgraph, inter, merged, idup,
	    shared;
	MPI_Group wgroup, sgroup, ugroup;
	MPI_Datatype contig, vec, idx, strct, sub, resized, hvec, iblock, hidx, darray, tdup, vec_c,
	    struct_c, onfreed, pair;
	MPI_Op cop, ncop;
	int kv_comm, kv_type, kv_win;
	MPI_Errhandler eh;
	MPI_Info info;
	MPI_Win win, dwin;
	MPI_File fh;
	char fname[64];
	MPI_Request preq[2];
	int *wbuf, *dbuf, pbuf[2]; /* window memory on the heap (see mpi-wrappers/README.md) */
};

static int rank, size;
static int copies, deletes, eh_calls, extra_token;
static MPI_Comm eh_comm;
static MPI_Datatype op_seen;
static struct objs O;

/* ---- callbacks ---- */

static int copy_fn(MPI_Comm c, int kv, void *extra, void *in, void *out, int *flag)
{
	CHECK(mt_tls_ok(), "copy callback TLS");
	CHECK(kv == O.kv_comm, "copy callback keyval %#x, expected %#x", kv, O.kv_comm);
	CHECK(extra == &extra_token, "copy extra");
	(void)c;
	copies++;
	*(void **)out = (char *)in + 1;
	*flag = 1;
	return MPI_SUCCESS;
}

static int delete_fn(MPI_Comm c, int kv, void *val, void *extra)
{
	(void)c, (void)val, (void)extra;
	CHECK(kv == O.kv_comm, "delete callback keyval");
	deletes++;
	return MPI_SUCCESS;
}

static void errh(MPI_Comm *c, int *code, ...)
{
	(void)code;
	CHECK(mt_tls_ok(), "error handler TLS");
	eh_comm = *c;
	eh_calls++;
}

/* commutative: elementwise sum of (int, int) pairs; checks the datatype it gets */
static void pair_sum(void *in, void *inout, int *len, MPI_Datatype *dt)
{
	op_seen = *dt;
	for (int i = 0; i < 2 * *len; i++)
		((int *)inout)[i] += ((int *)in)[i];
}

/* non-commutative, associative: the left operand wins (result: the lowest rank's value) */
static void first(void *in, void *inout, int *len, MPI_Datatype *dt)
{
	(void)dt;
	memcpy(inout, in, sizeof(int) * (size_t)*len);
}

/* ---- creation ---- */

static long long (*lower_of)(long long);

/* A created object's handle: MPICH's DIRECT or INDIRECT handle kind and the object kind bits;
 * in a split process our virtual range (INDIRECT, block >= 8192). */
static void kind_check(const char *what, int h, int kind)
{
	unsigned u = (unsigned)h;
	CHECK(u >> 31 == 1 && ((u >> 26) & 0xf) == (unsigned)kind,
	      "%s handle %#x: not an MPICH-shaped handle of kind %d", what, u, kind);
	if (lower_of)
		CHECK(u >> 30 == 3 && (u & 0x02000000u), "%s handle %#x: not a virtual one", what,
		      u);
}

static void create_all(struct objs *o)
{
	int i, half = size / 2;

	/* communicators */
	CHECK_MPI(MPI_Comm_split(MPI_COMM_WORLD, rank % 2, -rank, &o->split));
	CHECK_MPI(MPI_Comm_create_keyval(copy_fn, delete_fn, &o->kv_comm, &extra_token));
	CHECK_MPI(MPI_Comm_set_attr(MPI_COMM_WORLD, o->kv_comm, (void *)0x1000));
	CHECK_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &o->dup)); /* copy callback: 0x1001 */
	CHECK_MPI(MPI_Comm_set_name(o->dup, "the dup"));
	CHECK_MPI(MPI_Comm_group(MPI_COMM_WORLD, &o->wgroup));
	int evens[N], nev = 0;
	for (i = 0; i < size; i += 2)
		evens[nev++] = i;
	MPI_Group eg;
	CHECK_MPI(MPI_Group_incl(o->wgroup, nev, evens, &eg));
	CHECK_MPI(MPI_Comm_create(MPI_COMM_WORLD, eg, &o->create));
	MPI_Group_free(&eg);
	int rev[N];
	for (i = 0; i < size; i++)
		rev[i] = size - 1 - i;
	CHECK_MPI(MPI_Group_incl(o->wgroup, size, rev, &o->sgroup));
	CHECK_MPI(MPI_Comm_create_group(MPI_COMM_WORLD, o->sgroup, 7, &o->cgroup));
	int dims[2] = {2, size / 2}, periods[2] = {1, 0}, remain[2] = {1, 0};
	CHECK_MPI(MPI_Cart_create(MPI_COMM_WORLD, 2, dims, periods, 0, &o->cart));
	CHECK_MPI(MPI_Cart_sub(o->cart, remain, &o->cartsub));
	int index[N], edges[2 * N];
	for (i = 0; i < size; i++) {
		index[i] = 2 * (i + 1);
		edges[2 * i] = (i + 1) % size;
		edges[2 * i + 1] = (i + size - 1) % size;
	}
	CHECK_MPI(MPI_Graph_create(MPI_COMM_WORLD, size, index, edges, 0, &o->graph));
	int src[1] = {(rank + size - 1) % size}, dst[1] = {(rank + 1) % size};
	int sw[1] = {10 + rank}, dw[1] = {20 + rank};
	CHECK_MPI(MPI_Dist_graph_create_adjacent(MPI_COMM_WORLD, 1, src, sw, 1, dst, dw,
						 MPI_INFO_NULL, 0, &o->dgraph));
	MPI_Comm local;
	CHECK_MPI(MPI_Comm_split(MPI_COMM_WORLD, rank < half, rank, &local));
	CHECK_MPI(
	    MPI_Intercomm_create(local, 0, MPI_COMM_WORLD, rank < half ? half : 0, 99, &o->inter));
	MPI_Comm_free(&local);
	CHECK_MPI(MPI_Intercomm_merge(o->inter, rank < half, &o->merged));
	MPI_Request r;
	CHECK_MPI(MPI_Comm_idup(o->dup, &o->idup, &r)); /* copy callback: 0x1002 */
	CHECK_MPI(MPI_Wait(&r, MPI_STATUS_IGNORE));
	CHECK_MPI(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL,
				      &o->shared));
	MPI_Comm gone; /* made and freed: not rebuilt */
	CHECK_MPI(MPI_Comm_dup(o->split, &gone));
	CHECK_MPI(MPI_Comm_free(&gone));
	CHECK_MPI(MPI_Group_union(o->wgroup, o->sgroup, &o->ugroup));

	/* datatypes */
	CHECK_MPI(MPI_Type_contiguous(2, MPI_INT, &o->contig));
	CHECK_MPI(MPI_Type_vector(3, 2, 4, MPI_INT, &o->vec));
	int bl[3] = {1, 2, 1}, dp[3] = {0, 3, 7};
	CHECK_MPI(MPI_Type_indexed(3, bl, dp, MPI_INT, &o->idx));
	struct {
		int a;
		double b;
		char c[3];
	} s;
	MPI_Aint sd[3] = {0, (char *)&s.b - (char *)&s, (char *)&s.c - (char *)&s};
	MPI_Datatype st[3] = {MPI_INT, MPI_DOUBLE, MPI_CHAR};
	int sb[3] = {1, 1, 3};
	CHECK_MPI(MPI_Type_create_struct(3, sb, sd, st, &o->strct));
	int sz[2] = {4, 5}, ssz[2] = {2, 3}, sst[2] = {1, 1};
	CHECK_MPI(MPI_Type_create_subarray(2, sz, ssz, sst, MPI_ORDER_C, MPI_INT, &o->sub));
	CHECK_MPI(MPI_Type_create_resized(o->contig, -4, 16, &o->resized));
	CHECK_MPI(MPI_Type_create_hvector(2, 1, 12, o->contig, &o->hvec));
	int ib[2] = {0, 5};
	CHECK_MPI(MPI_Type_create_indexed_block(2, 2, ib, MPI_INT, &o->iblock));
	int hb[2] = {1, 1};
	MPI_Aint hd[2] = {4, 20};
	CHECK_MPI(MPI_Type_create_hindexed(2, hb, hd, MPI_INT, &o->hidx));
	int gs[1] = {2 * size}, ds[1] = {MPI_DISTRIBUTE_CYCLIC}, da[1] = {2}, ps[1] = {size};
	CHECK_MPI(MPI_Type_create_darray(size, rank, 1, gs, ds, da, ps, MPI_ORDER_C, MPI_INT,
					 &o->darray));
	CHECK_MPI(MPI_Type_dup(o->vec, &o->tdup));
	CHECK_MPI(MPI_Type_vector_c(2, 1, 3, MPI_INT, &o->vec_c));
	MPI_Count cb[2] = {1, 2}, cd[2] = {0, 8};
	MPI_Datatype ct[2] = {MPI_INT, o->contig};
	CHECK_MPI(MPI_Type_create_struct_c(2, cb, cd, ct, &o->struct_c));
	MPI_Datatype base;
	CHECK_MPI(MPI_Type_contiguous(3, MPI_INT, &base));
	CHECK_MPI(MPI_Type_vector(2, 1, 2, base, &o->onfreed));
	CHECK_MPI(MPI_Type_free(&base)); /* still needed by onfreed */
	MPI_Datatype *all[] = {&o->contig,  &o->vec,   &o->idx,	     &o->strct,	 &o->sub,
			       &o->resized, &o->hvec,  &o->iblock,   &o->hidx,	 &o->darray,
			       &o->tdup,    &o->vec_c, &o->struct_c, &o->onfreed};
	for (i = 0; i < (int)(sizeof(all) / sizeof(all[0])); i++)
		CHECK_MPI(MPI_Type_commit(all[i]));
	CHECK_MPI(MPI_Type_set_name(o->vec, "the vector"));
	CHECK_MPI(MPI_Type_create_keyval(MPI_TYPE_NULL_COPY_FN, MPI_TYPE_NULL_DELETE_FN,
					 &o->kv_type, NULL));
	CHECK_MPI(MPI_Type_set_attr(o->vec, o->kv_type, (void *)0x2000));
	o->pair = o->contig;

	/* ops, error handler, info */
	CHECK_MPI(MPI_Op_create(pair_sum, 1, &o->cop));
	CHECK_MPI(MPI_Op_create(first, 0, &o->ncop));
	CHECK_MPI(MPI_Comm_create_errhandler(errh, &o->eh));
	CHECK_MPI(MPI_Comm_set_errhandler(o->dup, o->eh));
	CHECK_MPI(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
	CHECK_MPI(MPI_Info_create(&o->info));
	CHECK_MPI(MPI_Info_set(o->info, "splitckpt", "yes"));
	CHECK_MPI(MPI_Info_set(o->info, "answer", "42"));

	/* windows */
	o->wbuf = calloc(N, sizeof(int));
	o->dbuf = calloc(N, sizeof(int));
	CHECK_MPI(
	    MPI_Win_create(o->wbuf, N * sizeof(int), sizeof(int), MPI_INFO_NULL, o->dup, &o->win));
	CHECK_MPI(
	    MPI_Win_create_keyval(MPI_WIN_NULL_COPY_FN, MPI_WIN_NULL_DELETE_FN, &o->kv_win, NULL));
	CHECK_MPI(MPI_Win_set_attr(o->win, o->kv_win, (void *)0x3000));
	CHECK_MPI(MPI_Win_create_dynamic(MPI_INFO_NULL, MPI_COMM_WORLD, &o->dwin));
	CHECK_MPI(MPI_Win_attach(o->dwin, o->dbuf, N * sizeof(int)));

	/* a file: a view with a derived filetype, the individual file pointer moved */
	if (rank == 0)
		snprintf(o->fname, sizeof(o->fname), "/tmp/splitckpt-rebuild-%d.dat",
			 (int)getpid());
	CHECK_MPI(MPI_Bcast(o->fname, sizeof(o->fname), MPI_CHAR, 0, MPI_COMM_WORLD));
	CHECK_MPI(MPI_File_open(MPI_COMM_WORLD, o->fname, MPI_MODE_CREATE | MPI_MODE_RDWR, o->info,
				&o->fh));
	int fv[4];
	for (i = 0; i < 4; i++)
		fv[i] = 100 * rank + i;
	CHECK_MPI(MPI_File_write_at_all(o->fh, 4 * rank * (MPI_Offset)sizeof(int), fv, 4, MPI_INT,
					MPI_STATUS_IGNORE));
	CHECK_MPI(MPI_File_set_view(o->fh, 4 * rank * (MPI_Offset)sizeof(int), MPI_INT, o->contig,
				    "native", MPI_INFO_NULL));
	CHECK_MPI(MPI_File_seek(o->fh, 2, MPI_SEEK_SET));

	/* persistent requests: ring */
	CHECK_MPI(
	    MPI_Send_init(&o->pbuf[0], 1, MPI_INT, (rank + 1) % size, 5, o->dup, &o->preq[0]));
	CHECK_MPI(MPI_Recv_init(&o->pbuf[1], 1, MPI_INT, (rank + size - 1) % size, 5, o->dup,
				&o->preq[1]));

	/* every handle is MPICH-shaped */
	MPI_Comm comms[] = {o->split,  o->dup,	 o->cgroup, o->cart, o->cartsub, o->graph,
			    o->dgraph, o->inter, o->merged, o->idup, o->shared};
	for (i = 0; i < (int)(sizeof(comms) / sizeof(comms[0])); i++)
		kind_check("communicator", comms[i], 1);
	kind_check("group", o->wgroup, 2);
	for (i = 0; i < (int)(sizeof(all) / sizeof(all[0])); i++)
		kind_check("datatype", *all[i], 3);
	kind_check("errhandler", o->eh, 5);
	kind_check("op", o->cop, 6);
	kind_check("info", o->info, 7);
	kind_check("win", o->win, 8);
	kind_check("keyval", o->kv_comm, 9);
	kind_check("request", o->preq[0], 0xb);
	CHECK(MPI_Comm_c2f(o->dup) == (MPI_Fint)o->dup, "c2f");
}

/* ---- use everything ---- */

struct results {
	unsigned char packed[16][256];
	int psize[16];
	MPI_Aint extent[16];
};

static int ring_sendrecv(MPI_Comm c, int val, int *got)
{
	int n, me;
	MPI_Comm_size(c, &n);
	MPI_Comm_rank(c, &me);
	return MPI_Sendrecv(&val, 1, MPI_INT, (me + 1) % n, 3, got, 1, MPI_INT, (me + n - 1) % n, 3,
			    c, MPI_STATUS_IGNORE);
}

static void verify_comms(struct objs *o)
{
	int v, got = -1, res, n, half = size / 2, i;

	CHECK_MPI(MPI_Allreduce(&rank, &v, 1, MPI_INT, MPI_SUM, o->split));
	int expect = 0;
	for (i = rank % 2; i < size; i += 2)
		expect += i;
	CHECK(v == expect, "split allreduce %d", v);
	CHECK_MPI(ring_sendrecv(o->dup, rank, &got));
	CHECK(got == (rank + size - 1) % size, "dup ring got %d", got);
	MPI_Comm_compare(MPI_COMM_WORLD, o->dup, &res);
	CHECK(res == MPI_CONGRUENT, "compare world/dup %d", res);
	MPI_Comm_compare(o->dup, o->dup, &res);
	CHECK(res == MPI_IDENT, "compare dup/dup %d", res);
	MPI_Comm_compare(o->dup, o->idup, &res);
	CHECK(res == MPI_CONGRUENT, "compare dup/idup %d", res);
	char name[MPI_MAX_OBJECT_NAME];
	MPI_Comm_get_name(o->dup, name, &n);
	CHECK(!strcmp(name, "the dup"), "dup name '%s'", name);
	if (rank % 2 == 0) {
		CHECK(o->create != MPI_COMM_NULL, "create: null on an even rank");
		MPI_Comm_size(o->create, &n);
		CHECK(n == (size + 1) / 2, "create size %d", n);
		CHECK_MPI(MPI_Allreduce(&rank, &v, 1, MPI_INT, MPI_MAX, o->create));
	} else {
		CHECK(o->create == MPI_COMM_NULL, "create: not null on an odd rank");
	}
	MPI_Comm_rank(o->cgroup, &n);
	CHECK(n == size - 1 - rank, "create_group rank %d", n);
	v = rank;
	CHECK_MPI(MPI_Bcast(&v, 1, MPI_INT, 0, o->cgroup));
	CHECK(v == size - 1, "create_group bcast %d", v);
	int coords[2], src, dst;
	MPI_Cart_coords(o->cart, rank, 2, coords);
	CHECK(coords[0] == rank / (size / 2) && coords[1] == rank % (size / 2), "cart coords");
	MPI_Cart_shift(o->cart, 0, 1, &src, &dst);
	CHECK_MPI(MPI_Sendrecv(&rank, 1, MPI_INT, dst, 4, &got, 1, MPI_INT, src, 4, o->cart,
			       MPI_STATUS_IGNORE));
	CHECK(got == src, "cart shift got %d from %d", got, src);
	MPI_Comm_size(o->cartsub, &n);
	CHECK(n == 2, "cart_sub size %d", n);
	int topo;
	MPI_Topo_test(o->cartsub, &topo);
	CHECK(topo == MPI_CART, "cart_sub topology %d", topo);
	MPI_Graph_neighbors_count(o->graph, rank, &n);
	CHECK(n == 2, "graph neighbours %d", n);
	int nb[2] = {-1, -1};
	CHECK_MPI(MPI_Neighbor_allgather(&rank, 1, MPI_INT, nb, 1, MPI_INT, o->graph));
	CHECK(nb[0] == (rank + 1) % size && nb[1] == (rank + size - 1) % size, "graph allgather");
	int in, out, w, s1, sw1, d1, dw1;
	MPI_Dist_graph_neighbors_count(o->dgraph, &in, &out, &w);
	CHECK(in == 1 && out == 1 && w, "dist graph counts %d %d %d", in, out, w);
	MPI_Dist_graph_neighbors(o->dgraph, 1, &s1, &sw1, 1, &d1, &dw1);
	CHECK(s1 == (rank + size - 1) % size && sw1 == 10 + rank && d1 == (rank + 1) % size &&
		  dw1 == 20 + rank,
	      "dist graph neighbours %d/%d %d/%d", s1, sw1, d1, dw1);
	CHECK_MPI(MPI_Neighbor_allgather(&rank, 1, MPI_INT, &got, 1, MPI_INT, o->dgraph));
	CHECK(got == s1, "dist graph allgather %d", got);
	MPI_Comm_test_inter(o->inter, &v);
	MPI_Comm_remote_size(o->inter, &n);
	CHECK(v && n == size - half, "intercomm %d remote size %d", v, n);
	int lr;
	MPI_Comm_rank(o->inter, &lr);
	CHECK_MPI(MPI_Sendrecv(&rank, 1, MPI_INT, lr, 6, &got, 1, MPI_INT, lr, 6, o->inter,
			       MPI_STATUS_IGNORE));
	CHECK(got == (rank < half ? rank + half : rank - half), "intercomm got %d", got);
	MPI_Comm_rank(o->merged, &n);
	CHECK(n == (rank < half ? rank + (size - half) : rank - half), "merged rank %d", n);
	CHECK_MPI(MPI_Allreduce(&rank, &v, 1, MPI_INT, MPI_SUM, o->merged));
	CHECK(v == size * (size - 1) / 2, "merged allreduce %d", v);
	CHECK_MPI(MPI_Allreduce(&rank, &v, 1, MPI_INT, MPI_SUM, o->shared));
	CHECK_MPI(ring_sendrecv(o->idup, rank, &got));
	CHECK(got == (rank + size - 1) % size, "idup ring got %d", got);

	/* groups */
	MPI_Group g;
	MPI_Comm_group(MPI_COMM_WORLD, &g);
	MPI_Group_compare(g, o->wgroup, &res);
	CHECK(res == MPI_IDENT, "group compare %d", res);
	MPI_Group_free(&g);
	int zero = 0, t;
	MPI_Group_translate_ranks(o->sgroup, 1, &zero, o->wgroup, &t);
	CHECK(t == size - 1, "translate %d", t);
	MPI_Group_size(o->ugroup, &n);
	CHECK(n == size, "union size %d", n);
}

static void verify_types(struct objs *o, struct results *res, int phase)
{
	MPI_Datatype ts[] = {o->contig,	 o->vec,   o->idx,	o->strct,  o->sub,
			     o->resized, o->hvec,  o->iblock,	o->hidx,   o->darray,
			     o->tdup,	 o->vec_c, o->struct_c, o->onfreed};
	int src[64];
	for (int i = 0; i < 64; i++)
		src[i] = 1000 * rank + i;
	for (int k = 0; k < (int)(sizeof(ts) / sizeof(ts[0])); k++) {
		unsigned char buf[256];
		int pos = 0, psz = 0;
		MPI_Aint lb, ext;
		CHECK_MPI(MPI_Pack_size(1, ts[k], MPI_COMM_WORLD, &psz));
		CHECK(psz <= (int)sizeof(buf), "pack size %d", psz);
		memset(buf, 0, sizeof(buf));
		CHECK_MPI(MPI_Pack(src + 8, 1, ts[k], buf, sizeof(buf), &pos, MPI_COMM_WORLD));
		MPI_Type_get_extent(ts[k], &lb, &ext);
		if (phase == 0) {
			memcpy(res->packed[k], buf, sizeof(buf));
			res->psize[k] = pos;
			res->extent[k] = ext;
		} else {
			CHECK(pos == res->psize[k] && !memcmp(buf, res->packed[k], (size_t)pos) &&
				  ext == res->extent[k],
			      "datatype %d packs differently after the rebuild", k);
		}
		int back[64] = {0};
		pos = 0;
		CHECK_MPI(MPI_Unpack(buf, sizeof(buf), &pos, back + 8, 1, ts[k], MPI_COMM_WORLD));
		unsigned char again[256] = {0};
		int pos2 = 0;
		CHECK_MPI(
		    MPI_Pack(back + 8, 1, ts[k], again, sizeof(again), &pos2, MPI_COMM_WORLD));
		CHECK(pos2 == pos && !memcmp(again, buf, (size_t)pos), "unpack/pack %d", k);
	}
	/* a vector sent and received as contiguous ints */
	int sendv[12], recvc[6];
	for (int i = 0; i < 12; i++)
		sendv[i] = 100 * rank + i;
	CHECK_MPI(MPI_Sendrecv(sendv, 1, o->vec, (rank + 1) % size, 8, recvc, 6, MPI_INT,
			       (rank + size - 1) % size, 8, o->dup, MPI_STATUS_IGNORE));
	int from = (rank + size - 1) % size, exp[6] = {0, 1, 4, 5, 8, 9};
	for (int i = 0; i < 6; i++)
		CHECK(recvc[i] == 100 * from + exp[i], "vector exchange [%d] = %d", i, recvc[i]);
	/* contents name virtual handles */
	int ni, na, nd, comb;
	MPI_Type_get_envelope(o->onfreed, &ni, &na, &nd, &comb);
	CHECK(comb == MPI_COMBINER_VECTOR && nd == 1, "envelope %d %d", comb, nd);
	int ints[3];
	MPI_Aint adds[1];
	MPI_Datatype old;
	CHECK_MPI(MPI_Type_get_contents(o->onfreed, 3, 0, 1, ints, adds, &old));
	kind_check("contents old type", old, 3);
	int osz;
	MPI_Type_size(old, &osz);
	CHECK(osz == 12, "old type size %d", osz);
	MPI_Type_free(&old);
	char name[MPI_MAX_OBJECT_NAME];
	int n;
	MPI_Type_get_name(o->vec, name, &n);
	CHECK(!strcmp(name, "the vector"), "type name '%s'", name);
}

static void verify_rest(struct objs *o)
{
	int v[2] = {rank, 2 * rank}, r[2], flag, i;
	void *val;

	/* user ops: on a derived type (the op sees its virtual handle), non-commutative */
	op_seen = MPI_DATATYPE_NULL;
	CHECK_MPI(MPI_Allreduce(v, r, 1, o->pair, o->cop, o->dup));
	CHECK(r[0] == size * (size - 1) / 2 && r[1] == size * (size - 1), "user op %d %d", r[0],
	      r[1]);
	CHECK(size == 1 || op_seen == o->pair, "op saw datatype %#x, expected %#x",
	      (unsigned)op_seen, (unsigned)o->pair);
	int x = 10 + rank, y = -1;
	CHECK_MPI(MPI_Reduce(&x, &y, 1, MPI_INT, o->ncop, 0, o->dup));
	if (rank == 0)
		CHECK(y == 10, "non-commutative op %d", y);

	/* attributes */
	CHECK_MPI(MPI_Comm_get_attr(MPI_COMM_WORLD, o->kv_comm, &val, &flag));
	CHECK(flag && val == (void *)0x1000, "world attribute %p", val);
	CHECK_MPI(MPI_Comm_get_attr(o->dup, o->kv_comm, &val, &flag));
	CHECK(flag && val == (void *)0x1001, "dup attribute %p", val);
	CHECK_MPI(MPI_Comm_get_attr(o->idup, o->kv_comm, &val, &flag));
	CHECK(flag && val == (void *)0x1002, "idup attribute %p", val);
	CHECK_MPI(MPI_Type_get_attr(o->vec, o->kv_type, &val, &flag));
	CHECK(flag && val == (void *)0x2000, "type attribute %p", val);
	CHECK_MPI(MPI_Win_get_attr(o->win, o->kv_win, &val, &flag));
	CHECK(flag && val == (void *)0x3000, "win attribute %p", val);
	int c0 = copies, d0 = deletes;
	MPI_Comm d2;
	CHECK_MPI(MPI_Comm_dup(o->dup, &d2));
	CHECK_MPI(MPI_Comm_get_attr(d2, o->kv_comm, &val, &flag));
	CHECK(flag && val == (void *)0x1002 && copies == c0 + 1, "copy of the dup %p", val);
	CHECK_MPI(MPI_Comm_free(&d2));
	CHECK(deletes == d0 + 1, "delete callback on free (%d)", deletes - d0);

	/* error handlers: the user one gets the virtual communicator; world returns errors */
	eh_calls = 0;
	eh_comm = MPI_COMM_NULL;
	MPI_Send(&x, 1, MPI_INT, size + 5, 0, o->dup);
	CHECK(eh_calls == 1 && eh_comm == o->dup, "error handler calls %d comm %#x", eh_calls,
	      (unsigned)eh_comm);
	MPI_Errhandler e;
	CHECK_MPI(MPI_Comm_get_errhandler(MPI_COMM_WORLD, &e));
	CHECK(e == MPI_ERRORS_RETURN, "world error handler %#x", (unsigned)e);
	CHECK_MPI(MPI_Comm_get_errhandler(o->dup, &e));
	CHECK(e == o->eh, "dup error handler %#x, expected %#x", (unsigned)e, (unsigned)o->eh);
	MPI_Errhandler_free(&e);
	CHECK(MPI_Send(&x, 1, MPI_INT, size + 5, 0, MPI_COMM_WORLD) != MPI_SUCCESS,
	      "error on world not returned");

	/* info */
	char value[16];
	int nkeys;
	MPI_Info_get_nkeys(o->info, &nkeys);
	MPI_Info_get(o->info, "answer", sizeof(value) - 1, value, &flag);
	CHECK(nkeys == 2 && flag && !strcmp(value, "42"), "info %d '%s'", nkeys, value);

	/* windows */
	for (i = 0; i < N; i++)
		o->wbuf[i] = o->dbuf[i] = -1;
	CHECK_MPI(MPI_Win_fence(0, o->win));
	CHECK_MPI(MPI_Put(&rank, 1, MPI_INT, (rank + 1) % size, 2, 1, MPI_INT, o->win));
	CHECK_MPI(MPI_Win_fence(0, o->win));
	CHECK(o->wbuf[2] == (rank + size - 1) % size, "window put %d", o->wbuf[2]);
	MPI_Aint mine, addrs[N];
	MPI_Get_address(&o->dbuf[3], &mine);
	CHECK_MPI(MPI_Allgather(&mine, 1, MPI_AINT, addrs, 1, MPI_AINT, MPI_COMM_WORLD));
	int to = (rank + 1) % size;
	CHECK_MPI(MPI_Win_lock(MPI_LOCK_SHARED, to, 0, o->dwin));
	CHECK_MPI(MPI_Put(&rank, 1, MPI_INT, to, addrs[to], 1, MPI_INT, o->dwin));
	CHECK_MPI(MPI_Win_unlock(to, o->dwin));
	MPI_Barrier(MPI_COMM_WORLD);
	CHECK(o->dbuf[3] == (rank + size - 1) % size, "dynamic window put %d", o->dbuf[3]);

	/* alltoallw with derived (virtual) types: the length of the type arrays is the lower
	 * communicator's size */
	int sendw[2 * N], recvw[2 * N], cnt[N], disp[N];
	MPI_Datatype wt[N];
	for (i = 0; i < size; i++) {
		sendw[2 * i] = 100 * rank + i;
		sendw[2 * i + 1] = -rank;
		cnt[i] = 1;
		disp[i] = 2 * i * (int)sizeof(int);
		wt[i] = o->contig;
	}
	CHECK_MPI(MPI_Alltoallw(sendw, cnt, disp, wt, recvw, cnt, disp, wt, o->dup));
	for (i = 0; i < size; i++)
		CHECK(recvw[2 * i] == 100 * i + rank && recvw[2 * i + 1] == -i, "alltoallw from %d",
		      i);

	/* the file: its view and position survive; c2f/f2c give the same handle back */
	MPI_Offset pos = -1;
	int fr[2] = {-1, -1};
	CHECK_MPI(MPI_File_get_position(o->fh, &pos));
	CHECK(pos == 2, "file position %lld", (long long)pos);
	CHECK_MPI(MPI_File_read(o->fh, fr, 2, MPI_INT, MPI_STATUS_IGNORE));
	CHECK(fr[0] == 100 * rank + 2 && fr[1] == 100 * rank + 3, "file read %d %d", fr[0], fr[1]);
	CHECK_MPI(MPI_File_seek(o->fh, 2, MPI_SEEK_SET));
	CHECK(MPI_File_f2c(MPI_File_c2f(o->fh)) == o->fh, "file c2f/f2c");

	/* persistent requests, twice */
	for (int round = 0; round < 2; round++) {
		o->pbuf[0] = 50 * round + rank;
		o->pbuf[1] = -1;
		CHECK_MPI(MPI_Startall(2, o->preq));
		MPI_Status st[2];
		CHECK_MPI(MPI_Waitall(2, o->preq, st));
		CHECK(o->pbuf[1] == 50 * round + (rank + size - 1) % size, "persistent got %d",
		      o->pbuf[1]);
		CHECK(o->preq[0] != MPI_REQUEST_NULL, "persistent request freed by Waitall");
	}
}

static void free_all(struct objs *o)
{
	MPI_Comm *cs[] = {&o->split,  &o->dup,	 &o->cgroup, &o->cart, &o->cartsub, &o->graph,
			  &o->dgraph, &o->inter, &o->merged, &o->idup, &o->shared};
	MPI_Datatype *ts[] = {&o->contig,  &o->vec,   &o->idx,	    &o->strct,	&o->sub,
			      &o->resized, &o->hvec,  &o->iblock,   &o->hidx,	&o->darray,
			      &o->tdup,	   &o->vec_c, &o->struct_c, &o->onfreed};
	CHECK_MPI(MPI_File_close(&o->fh));
	CHECK(o->fh == MPI_FILE_NULL, "closed file handle");
	MPI_Barrier(MPI_COMM_WORLD);
	if (rank == 0)
		CHECK_MPI(MPI_File_delete(o->fname, MPI_INFO_NULL));
	CHECK_MPI(MPI_Win_detach(o->dwin, o->dbuf));
	CHECK_MPI(MPI_Win_free(&o->dwin));
	CHECK_MPI(MPI_Win_free(&o->win));
	CHECK(o->win == MPI_WIN_NULL, "freed window handle %#x", (unsigned)o->win);
	CHECK_MPI(MPI_Request_free(&o->preq[0]));
	CHECK_MPI(MPI_Request_free(&o->preq[1]));
	for (int i = 0; i < (int)(sizeof(cs) / sizeof(cs[0])); i++)
		CHECK_MPI(MPI_Comm_free(cs[i]));
	if (o->create != MPI_COMM_NULL)
		CHECK_MPI(MPI_Comm_free(&o->create));
	for (int i = 0; i < (int)(sizeof(ts) / sizeof(ts[0])); i++)
		CHECK_MPI(MPI_Type_free(ts[i]));
	CHECK(o->vec == MPI_DATATYPE_NULL, "freed datatype handle %#x", (unsigned)o->vec);
	CHECK_MPI(MPI_Group_free(&o->wgroup));
	CHECK_MPI(MPI_Group_free(&o->sgroup));
	CHECK_MPI(MPI_Group_free(&o->ugroup));
	CHECK_MPI(MPI_Op_free(&o->cop));
	CHECK_MPI(MPI_Op_free(&o->ncop));
	CHECK_MPI(MPI_Errhandler_free(&o->eh));
	CHECK_MPI(MPI_Info_free(&o->info));
	CHECK_MPI(MPI_Comm_delete_attr(MPI_COMM_WORLD, o->kv_comm));
	CHECK_MPI(MPI_Comm_free_keyval(&o->kv_comm));
	CHECK_MPI(MPI_Type_free_keyval(&o->kv_type));
	CHECK_MPI(MPI_Win_free_keyval(&o->kv_win));
	free(o->wbuf);
	free(o->dbuf);
}

/* ---- main ---- */

static void lower_handles(struct objs *o, long long *out)
{
	int hs[] = {o->split,	o->dup,	    o->cgroup,	 o->cart,    o->cartsub, o->graph,
		    o->dgraph,	o->inter,   o->merged,	 o->idup,    o->shared,	 o->wgroup,
		    o->sgroup,	o->ugroup,  o->contig,	 o->vec,     o->idx,	 o->strct,
		    o->sub,	o->resized, o->hvec,	 o->iblock,  o->hidx,	 o->darray,
		    o->tdup,	o->vec_c,   o->struct_c, o->onfreed, o->cop,	 o->ncop,
		    o->kv_comm, o->kv_type, o->kv_win,	 o->eh,	     o->info,	 o->win,
		    o->dwin,	o->preq[0], o->preq[1]};
	for (int i = 0; i < (int)(sizeof(hs) / sizeof(hs[0])); i++)
		out[i] = lower_of ? lower_of(hs[i]) : hs[i];
	out[sizeof(hs) / sizeof(hs[0])] = 0;
}

int main(int argc, char **argv)
{
	static struct results res;
	long long before[64], after[64];
	mt_tls_set();
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	CHECK(size == 4, "run with 4 processes");

	lower_of = (long long (*)(long long))dlsym(RTLD_DEFAULT, "SPLITCKPT_test_lower_handle");
	create_all(&O);
	verify_comms(&O);
	verify_types(&O, &res, 0);
	verify_rest(&O);

	int (*rebuild)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "SPLITCKPT_test_rebuild_handles");
	if (rebuild && lower_of) {
		/* a receive pending across the rebuild: posted again, gets the message sent after
		 */
		int late = -1;
		MPI_Request lr;
		CHECK_MPI(MPI_Irecv(&late, 1, MPI_INT, (rank + size - 1) % size, 77, O.dup, &lr));
		lower_handles(&O, before);
		MPI_Barrier(MPI_COMM_WORLD);
		int fails = rebuild();
		int msg = 7000 + rank;
		CHECK_MPI(MPI_Send(&msg, 1, MPI_INT, (rank + 1) % size, 77, O.dup));
		CHECK_MPI(MPI_Wait(&lr, MPI_STATUS_IGNORE));
		CHECK(late == 7000 + (rank + size - 1) % size && lr == MPI_REQUEST_NULL,
		      "receive posted again got %d", late);
		CHECK(fails == 0, "%d objects could not be rebuilt", fails);
		lower_handles(&O, after);
		for (int i = 0; before[i]; i++)
			CHECK(after[i] != before[i] && after[i] != 0,
			      "object %d: lower handle %#llx not replaced (%#llx)", i, before[i],
			      after[i]);
		verify_comms(&O);
		verify_types(&O, &res, 1);
		verify_rest(&O);
		if (rank == 0)
			printf("rebuilt every object, verified again\n");
	} else if (rank == 0) {
		printf("no SPLITCKPT_test_rebuild_handles (native run): verified once\n");
	}
	free_all(&O);
	return mt_finish("rebuild");
}
