/*
 * wrap_vh_comm.c - communicators as virtual handles: their description and how a rebuild
 * makes them again; also the helpers the other collective kinds share (world ranks,
 * membership keys, a communicator over a list of world ranks).
 *
 * Description (asked from MPI when the communicator comes out of the lower MPI, whatever
 * function made it): the world ranks of its group in rank order and, for an
 * intercommunicator, of its remote group; its topology (Cartesian dims and periods, graph
 * index and edges, or this process's dist-graph in/out edges and weights); its error handler;
 * the attributes its copy callbacks gave it; its name (snapshot before a checkpoint).
 *
 * Rebuild, whatever the original constructor (split, dup, create, create_group, cart_sub,
 * intercomm_merge...): MPI_Comm_create_group on MPI_COMM_WORLD with the group of those world
 * ranks (collective over the members only), then MPI_Cart_create / MPI_Graph_create /
 * MPI_Dist_graph_create_adjacent with reorder = 0 on it for a topology, or
 * MPI_Intercomm_create between the two groups (leaders: the first member of each, peer
 * MPI_COMM_WORLD) for an intercommunicator. Rank order is the recorded one, so ranks in
 * statuses and compare results stay the same.
 *
 * Order: every process rebuilds its communicators in one order that all processes agree on,
 * so no two blocking constructors can wait on each other: by membership key (the member
 * list; the two lists in a canonical order for an intercommunicator), then by `seq`, how many
 * communicators of that exact membership this process had made before - the same count at
 * every member, since each such communicator was made by a call all of them made, in the same
 * order (MPI's rule for collectives). The tag of MPI_Comm_create_group / Intercomm_create is
 * derived from the key and seq, so every member passes the same one.
 * Communicators whose members are not all in MPI_COMM_WORLD (spawn, connect/accept, join)
 * cannot be rebuilt (reported).
 *
 * Answered here, without entering the gate: MPI_Comm_rank, MPI_Comm_size,
 * MPI_Comm_remote_size (intercommunicators) and MPI_Comm_test_inter, from the answers the
 * lower MPI gave once when the communicator was described (MPI_COMM_WORLD, MPI_COMM_SELF:
 * on the first call). They are fixed for the communicator's life, and a restart keeps them
 * true: it checks the world rank and size of every rank and rebuilds every communicator with
 * the recorded rank order. A handle that is null, freed, not ours, or not rebuilt after a
 * restart (it maps to MPI_COMM_NULL), a NULL output pointer, MPI_Comm_remote_size of an
 * intracommunicator, and any call before MPI_Init or after MPI_Finalize go to the lower MPI
 * as before, so every error stays MPICH's own.
 */
#include <stdlib.h>
#include <string.h>

#include "wrap.h"
#include "wrap_door.h"

/* What MPI_Comm_rank/size/remote_size/test_inter answer; ok is set last (release). */
struct comm_answers {
	int rank, size, rsize, inter;
	int ok;
};

struct comm_desc {
	struct comm_answers ans; /* first: the fast path reads only this */
	int inter, topo;
	int n, rn;	     /* local, remote group sizes */
	int *ranks, *rranks; /* world ranks */
	int *key, keylen;
	uint64_t seq;
	uint32_t hash;
	char *name;
	/* topology */
	int ndims, *dims, *periods;				 /* MPI_CART */
	int nnodes, nedges, *index, *edges;			 /* MPI_GRAPH */
	int indeg, outdeg, weighted, *srcs, *srcw, *dsts, *dstw; /* MPI_DIST_GRAPH */
};

/* ---- world ranks ------------------------------------------------------------------------- */

static int world_group = MPI_GROUP_NULL;
static uint64_t world_group_epoch;

int wrap_vh_world_group(void)
{
	const struct lh_contract *c = wrap_contract_ok;
	if (world_group == MPI_GROUP_NULL || !c || world_group_epoch != c->epoch) {
		int r, g = MPI_GROUP_NULL, init = 0, fin = 1;
		/* a sessions-only program has no MPI_COMM_WORLD to ask */
		WRAP_DOWN(r, MPI_Initialized, &init);
		if (r == MPI_SUCCESS && init)
			WRAP_DOWN(r, MPI_Finalized, &fin);
		if (r != MPI_SUCCESS || !init || fin)
			return MPI_GROUP_NULL;
		WRAP_DOWN(r, MPI_Comm_group, MPI_COMM_WORLD, &g);
		world_group = r == MPI_SUCCESS ? g : MPI_GROUP_NULL;
		world_group_epoch = c ? c->epoch : 0;
	}
	return world_group;
}

/* Forget the cached world group (wrap_vh_rebuild_all: maybe a fresh MPI). */
void wrap_vh_world_reset(void) WRAP_HIDDEN;
void wrap_vh_world_reset(void) { world_group = MPI_GROUP_NULL; }

int *wrap_vh_world_ranks(int g, int *n)
{
	int r, wg = wrap_vh_world_group();
	*n = 0;
	WRAP_DOWN(r, MPI_Group_size, g, n);
	if (r != MPI_SUCCESS || wg == MPI_GROUP_NULL)
		return NULL;
	int *in = malloc(sizeof(int) * (size_t)(*n + 1)),
	    *out = malloc(sizeof(int) * (size_t)(*n + 1));
	if (!in || !out)
		goto fail;
	for (int i = 0; i < *n; i++)
		in[i] = i;
	WRAP_DOWN(r, MPI_Group_translate_ranks, g, *n, in, wg, out);
	if (r != MPI_SUCCESS)
		goto fail;
	for (int i = 0; i < *n; i++)
		if (out[i] == MPI_UNDEFINED)
			goto fail;
	free(in);
	return out;
fail:
	free(in);
	free(out);
	return NULL;
}

/* ---- membership keys and their counts ---------------------------------------------------- */

struct seqnode {
	struct seqnode *next;
	uint32_t hash;
	int len;
	uint64_t count;
	int key[];
};
static struct seqnode *seqtab[256];

static uint32_t fnv(const int *k, int len)
{
	uint32_t h = 2166136261u;
	for (int i = 0; i < len; i++) {
		uint32_t v = (uint32_t)k[i];
		for (int b = 0; b < 4; b++, v >>= 8)
			h = (h ^ (v & 0xff)) * 16777619u;
	}
	return h;
}

static int lex(const int *a, int na, const int *b, int nb)
{
	for (int i = 0; i < na && i < nb; i++)
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	return na < nb ? -1 : na > nb;
}

int wrap_vh_member_key(int cls, const int *a, int na, const int *b, int nb, int **key, int *len,
		       uint64_t *seq, uint32_t *hash)
{
	int l = 1 + na + (b ? 1 + nb : 0);
	int *k = malloc(sizeof(int) * (size_t)l);
	if (!k)
		return -1;
	k[0] = -100 - cls; /* class marker: communicators, windows and files count apart */
	if (b && lex(b, nb, a, na) < 0) { /* intercommunicator: the same key on both sides */
		const int *t = a;
		int tn = na;
		a = b, na = nb, b = t, nb = tn;
	}
	memcpy(k + 1, a, sizeof(int) * (size_t)na);
	if (b) {
		k[1 + na] = -1;
		memcpy(k + 2 + na, b, sizeof(int) * (size_t)nb);
	}
	uint32_t h = fnv(k, l);
	struct seqnode *s;
	for (s = seqtab[h & 255]; s; s = s->next)
		if (s->hash == h && s->len == l && !memcmp(s->key, k, sizeof(int) * (size_t)l))
			break;
	if (!s) {
		s = calloc(1, sizeof(*s) + sizeof(int) * (size_t)l);
		if (!s) {
			free(k);
			return -1;
		}
		s->hash = h;
		s->len = l;
		memcpy(s->key, k, sizeof(int) * (size_t)l);
		s->next = seqtab[h & 255];
		seqtab[h & 255] = s;
	}
	*seq = s->count++;
	*key = k;
	*len = l;
	*hash = h;
	return 0;
}

int wrap_vh_key_cmp(const int *ka, int la, uint64_t sa, const int *kb, int lb, uint64_t sb)
{
	int c = lex(ka, la, kb, lb);
	if (c)
		return c;
	return sa < sb ? -1 : sa > sb;
}

/* A tag every member computes alike (MPICH's MPI_TAG_UB is far above 32767). */
static int key_tag(uint32_t hash, uint64_t seq)
{
	return (int)((hash ^ (uint32_t)(seq * 2654435761u)) & 0x7fff);
}

int wrap_vh_comm_of_ranks(const int *ranks, int n, int tag, int *comm)
{
	int r, g = MPI_GROUP_NULL, wg = wrap_vh_world_group();
	*comm = MPI_COMM_NULL;
	if (wg == MPI_GROUP_NULL)
		return MPI_ERR_GROUP;
	WRAP_DOWN(r, MPI_Group_incl, wg, n, ranks, &g);
	if (r != MPI_SUCCESS)
		return r;
	WRAP_DOWN(r, MPI_Comm_create_group, MPI_COMM_WORLD, g, tag, comm);
	int r2;
	WRAP_DOWN(r2, MPI_Group_free, &g);
	(void)r2;
	return r;
}

/* ---- rank and size, answered in the upper half ------------------------------------------- */

/* Ask the lower MPI once (lower communicator c) and publish the answers. */
static void answers_ask(struct comm_answers *a, MPI_Comm c, int inter)
{
	int r, r2, rank = -1, size = 0, rsize = 0;
	WRAP_DOWN(r, MPI_Comm_rank, c, &rank);
	WRAP_DOWN(r2, MPI_Comm_size, c, &size);
	if (r != MPI_SUCCESS || r2 != MPI_SUCCESS)
		return;
	if (inter) {
		WRAP_DOWN(r, MPI_Comm_remote_size, c, &rsize);
		if (r != MPI_SUCCESS)
			return;
	}
	a->rank = rank, a->size = size, a->rsize = rsize, a->inter = inter;
	__atomic_store_n(&a->ok, 1, __ATOMIC_RELEASE);
}

static struct comm_answers world_ans, self_ans; /* asked on the first call */

/* The answers for virtual communicator comm, or NULL (ask the lower MPI). O(1), no lock. */
static inline __attribute__((always_inline)) const struct comm_answers *answers_of(MPI_Comm comm)
{
	const struct comm_answers *a;
	uint32_t u = (uint32_t)comm - WRAP_VH_BASE_COMM;
	if (__builtin_expect(u < WRAP_VH_SPAN, 1)) {
		if (u >= WRAP_VH_CHUNK && u >= wrap_vh_limit(WRAP_VH_COMM))
			return NULL;
		const struct wrap_vh_obj *e = wrap_vh_at(WRAP_VH_COMM, u);
		const struct comm_desc *d = e->desc;
		/* not live (freed), not rebuilt after a restart, not described yet: ask MPI */
		if (!e->live || e->real == (int64_t)MPI_COMM_NULL || !d)
			return NULL;
		a = &d->ans;
	} else if (comm == MPI_COMM_WORLD || comm == MPI_COMM_SELF) {
		/* (after MPI_Finalize MPICH refuses the call: so do we, through it) */
		if (__atomic_load_n(&wrap_ckpt_mb.finalized, __ATOMIC_RELAXED))
			return NULL;
		a = comm == MPI_COMM_WORLD ? &world_ans : &self_ans;
	} else {
		return NULL;
	}
	return __atomic_load_n(&a->ok, __ATOMIC_ACQUIRE) ? a : NULL;
}

/* The generated wrapper's way (door, translation, gate) for a function (MPI_Comm, int *);
 * MPI_COMM_WORLD/SELF: on success, remember their answers. */
static int comm_ask(unsigned idx, MPI_Comm comm, int *out)
{
	int r;
	wrap_door_t d_ = wrap_door_enter(WRAP_DOOR_LOCAL, 0);
	void *f = wrap_lower_fn(idx);
	if (__builtin_expect(f == NULL, 0)) {
		r = wrap_unavailable(idx);
	} else {
		MPI_Comm lc = wrap_comm_to_lower(comm);
		uint64_t g = wrap_gate_enter();
		r = ((int (*)(MPI_Comm, int *))f)(lc, out);
		wrap_gate_leave(g);
		if (r == MPI_SUCCESS && (comm == MPI_COMM_WORLD || comm == MPI_COMM_SELF) &&
		    !__atomic_load_n(&wrap_ckpt_mb.finalized, __ATOMIC_RELAXED))
			answers_ask(comm == MPI_COMM_WORLD ? &world_ans : &self_ans, comm, 0);
	}
	wrap_door_leave(d_);
	return r;
}

WRAP_EXPORT int PMPI_Comm_rank(MPI_Comm comm, int *rank)
{
	const struct comm_answers *a = answers_of(comm);
	if (__builtin_expect(a != NULL && rank != NULL, 1)) {
		*rank = a->rank;
		return MPI_SUCCESS;
	}
	return comm_ask(WRAP_IDX_MPI_Comm_rank, comm, rank);
}
WRAP_ALIAS(PMPI_Comm_rank, MPI_Comm_rank)

WRAP_EXPORT int PMPI_Comm_size(MPI_Comm comm, int *size)
{
	const struct comm_answers *a = answers_of(comm);
	if (__builtin_expect(a != NULL && size != NULL, 1)) {
		*size = a->size;
		return MPI_SUCCESS;
	}
	return comm_ask(WRAP_IDX_MPI_Comm_size, comm, size);
}
WRAP_ALIAS(PMPI_Comm_size, MPI_Comm_size)

WRAP_EXPORT int PMPI_Comm_remote_size(MPI_Comm comm, int *size)
{
	const struct comm_answers *a = answers_of(comm);
	if (a != NULL && a->inter && size != NULL) {
		*size = a->rsize;
		return MPI_SUCCESS;
	}
	return comm_ask(WRAP_IDX_MPI_Comm_remote_size, comm, size);
}
WRAP_ALIAS(PMPI_Comm_remote_size, MPI_Comm_remote_size)

WRAP_EXPORT int PMPI_Comm_test_inter(MPI_Comm comm, int *flag)
{
	const struct comm_answers *a = answers_of(comm);
	if (a != NULL && flag != NULL) {
		*flag = a->inter;
		return MPI_SUCCESS;
	}
	return comm_ask(WRAP_IDX_MPI_Comm_test_inter, comm, flag);
}
WRAP_ALIAS(PMPI_Comm_test_inter, MPI_Comm_test_inter)

/* ---- describe ----------------------------------------------------------------------------- */

static int *ints(int n) { return malloc(sizeof(int) * (size_t)(n > 0 ? n : 1)); }

static int describe_topo(struct comm_desc *d, MPI_Comm c)
{
	int r;
	WRAP_DOWN(r, MPI_Topo_test, c, &d->topo);
	if (r != MPI_SUCCESS)
		return -1;
	if (d->topo == MPI_CART) {
		WRAP_DOWN(r, MPI_Cartdim_get, c, &d->ndims);
		int *coords = ints(d->ndims);
		d->dims = ints(d->ndims);
		d->periods = ints(d->ndims);
		if (r != MPI_SUCCESS || !coords || !d->dims || !d->periods) {
			free(coords);
			return -1;
		}
		WRAP_DOWN(r, MPI_Cart_get, c, d->ndims, d->dims, d->periods, coords);
		free(coords);
	} else if (d->topo == MPI_GRAPH) {
		WRAP_DOWN(r, MPI_Graphdims_get, c, &d->nnodes, &d->nedges);
		d->index = ints(d->nnodes);
		d->edges = ints(d->nedges);
		if (r != MPI_SUCCESS || !d->index || !d->edges)
			return -1;
		WRAP_DOWN(r, MPI_Graph_get, c, d->nnodes, d->nedges, d->index, d->edges);
	} else if (d->topo == MPI_DIST_GRAPH) {
		WRAP_DOWN(r, MPI_Dist_graph_neighbors_count, c, &d->indeg, &d->outdeg,
			  &d->weighted);
		d->srcs = ints(d->indeg);
		d->srcw = ints(d->indeg);
		d->dsts = ints(d->outdeg);
		d->dstw = ints(d->outdeg);
		if (r != MPI_SUCCESS || !d->srcs || !d->srcw || !d->dsts || !d->dstw)
			return -1;
		void *unw = wrap_lower_data(WRAP_IDX_MPI_UNWEIGHTED);
		WRAP_DOWN(r, MPI_Dist_graph_neighbors, c, d->indeg, d->srcs,
			  d->weighted ? d->srcw : (int *)unw, d->outdeg, d->dsts,
			  d->weighted ? d->dstw : (int *)unw);
	}
	return r == MPI_SUCCESS ? 0 : -1;
}

static int comm_describe(struct wrap_vh_obj *e)
{
	MPI_Comm c = (MPI_Comm)e->real;
	struct comm_desc *d = calloc(1, sizeof(*d));
	int r, g = MPI_GROUP_NULL;
	if (!d)
		return -1;
	e->desc = d;
	d->topo = MPI_UNDEFINED;
	e->aux = (uint64_t)wrap_vh_errhandler_of(WRAP_VH_COMM, e->real);
	wrap_vh_attrs_take_pending(e);
	WRAP_DOWN(r, MPI_Comm_test_inter, c, &d->inter);
	if (r != MPI_SUCCESS)
		return -1;
	answers_ask(&d->ans, c, d->inter);
	WRAP_DOWN(r, MPI_Comm_group, c, &g);
	if (r != MPI_SUCCESS)
		return -1;
	d->ranks = wrap_vh_world_ranks(g, &d->n);
	WRAP_DOWN(r, MPI_Group_free, &g);
	if (d->inter) {
		WRAP_DOWN(r, MPI_Comm_remote_group, c, &g);
		if (r != MPI_SUCCESS)
			return -1;
		d->rranks = wrap_vh_world_ranks(g, &d->rn);
		WRAP_DOWN(r, MPI_Group_free, &g);
		if (!d->rranks)
			return -1;
	} else if (describe_topo(d, c) != 0) {
		return -1;
	}
	if (!d->ranks)
		return -1; /* a member outside MPI_COMM_WORLD */
	if (wrap_vh_member_key(0, d->ranks, d->n, d->inter ? d->rranks : NULL, d->rn, &d->key,
			       &d->keylen, &d->seq, &d->hash) != 0)
		return -1;
	if (e->cs.gid == 0) /* a constructor with a parent sets it again right after */
		wrap_vh_comm_set_gid(e, 0, 0, 1);
	return 0;
}

/* ---- gid (docs/mpi-ckpt.md: the same on every member) ------------------------------------ */

static uint64_t mix64(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

int wrap_vh_comm_size(const struct wrap_vh_obj *e)
{
	const struct comm_desc *d = e->desc;
	return d ? d->n + (d->inter ? d->rn : 0) : 0;
}

void wrap_vh_comm_set_gid(struct wrap_vh_obj *e, uint64_t pgid, uint64_t pseq, int members)
{
	const struct comm_desc *d = e->desc;
	uint64_t h = 0x73706c6974636b70ull, mh = 0;
	if (d && d->key)
		for (int i = 0; i < d->keylen; i++)
			mh = mix64(mh, (uint64_t)(uint32_t)d->key[i]);
	if (d && wrap_vh_comm_size(e) == 1) {
		e->cs.gid = 0;
		return;
	}
	if (pgid) {
		h = mix64(mix64(mix64(h, pgid), pseq), members ? mh : 0);
	} else {
		if (!d || !d->key) { /* not described: cannot be named alike everywhere */
			e->cs.gid = 0;
			return;
		}
		h = mix64(mix64(mix64(h, 0x6d656d62ull), mh), d->seq);
	}
	e->cs.gid = h < 2 ? h + 2 : h; /* 0 = untracked, 1 = MPI_COMM_WORLD */
}

static void comm_snapshot(struct wrap_vh_obj *e)
{
	struct comm_desc *d = e->desc;
	char name[MPI_MAX_OBJECT_NAME + 1];
	int r, len = 0;
	if (!d)
		return;
	WRAP_DOWN(r, MPI_Comm_get_name, (MPI_Comm)e->real, name, &len);
	free(d->name);
	d->name = r == MPI_SUCCESS && len > 0 ? strndup(name, (size_t)len) : NULL;
}

/* ---- rebuild ------------------------------------------------------------------------------ */

static int comm_rebuild(struct wrap_vh_obj *e, int64_t *real)
{
	struct comm_desc *d = e->desc;
	int r, c = MPI_COMM_NULL, t = MPI_COMM_NULL, tag;
	*real = MPI_COMM_NULL;
	if (!d || !d->key)
		return MPI_ERR_COMM;
	tag = key_tag(d->hash, d->seq);
	r = wrap_vh_comm_of_ranks(d->ranks, d->n, tag, &c);
	if (r != MPI_SUCCESS)
		return r;
	if (d->inter) {
		WRAP_DOWN(r, MPI_Intercomm_create, c, 0, MPI_COMM_WORLD, d->rranks[0], tag, &t);
	} else if (d->topo == MPI_CART) {
		WRAP_DOWN(r, MPI_Cart_create, c, d->ndims, d->dims, d->periods, 0, &t);
	} else if (d->topo == MPI_GRAPH) {
		WRAP_DOWN(r, MPI_Graph_create, c, d->nnodes, d->index, d->edges, 0, &t);
	} else if (d->topo == MPI_DIST_GRAPH) {
		void *unw = wrap_lower_data(WRAP_IDX_MPI_UNWEIGHTED);
		WRAP_DOWN(r, MPI_Dist_graph_create_adjacent, c, d->indeg, d->srcs,
			  d->weighted ? d->srcw : (int *)unw, d->outdeg, d->dsts,
			  d->weighted ? d->dstw : (int *)unw, MPI_INFO_NULL, 0, &t);
	} else {
		*real = c;
		return MPI_SUCCESS;
	}
	int r2;
	WRAP_DOWN(r2, MPI_Comm_free, &c);
	(void)r2;
	*real = t;
	return r;
}

static void comm_finish(struct wrap_vh_obj *e)
{
	struct comm_desc *d = e->desc;
	int r;
	if (e->aux && wrap_vh_errhandler_apply(WRAP_VH_COMM, e->real, (int64_t)e->aux))
		wrap_vh_warn("cannot set the error handler of a communicator again");
	if (d && d->name)
		WRAP_DOWN(r, MPI_Comm_set_name, (MPI_Comm)e->real, d->name);
	(void)r;
}

static int comm_order(const struct wrap_vh_obj *a, const struct wrap_vh_obj *b)
{
	const struct comm_desc *x = a->desc, *y = b->desc;
	if (!x || !x->key || !y || !y->key)
		return (x && x->key) - (y && y->key);
	return wrap_vh_key_cmp(x->key, x->keylen, x->seq, y->key, y->keylen, y->seq);
}

static void comm_destroy(struct wrap_vh_obj *e)
{
	struct comm_desc *d = e->desc;
	wrap_vh_unref(WRAP_VH_ERRHANDLER, (int64_t)e->aux);
	if (!d)
		return;
	free(d->ranks);
	free(d->rranks);
	free(d->key);
	free(d->name);
	free(d->dims);
	free(d->periods);
	free(d->index);
	free(d->edges);
	free(d->srcs);
	free(d->srcw);
	free(d->dsts);
	free(d->dstw);
	free(d);
}

const struct wrap_vh_ops wrap_vh_comm_ops = {
    .name = "communicator",
    .kind = WRAP_VH_COMM,
    .null_handle = MPI_COMM_NULL,
    .describe = comm_describe,
    .snapshot = comm_snapshot,
    .rebuild = comm_rebuild,
    .finish = comm_finish,
    .destroy = comm_destroy,
    .order = comm_order,
};
