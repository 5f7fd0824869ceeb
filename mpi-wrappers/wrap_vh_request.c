/*
 * wrap_vh_request.c - requests and messages as virtual handles, on the communication fast
 * path.
 *
 * Every request-making wrapper (generated) names its origin: a static struct wrap_vh_origin
 * (gen_wrappers.py) with the function's index and, for the requests that can be made again in
 * a fresh MPI - persistent ones (*_init) and receives (MPI_Irecv) - the size of a copy of the
 * arguments, where the handles are in it, and a replay function (the lower call again, with
 * the handles translated anew). The copy lives in the request's entry (64 bytes) or, larger,
 * in malloc'd memory. A receive's derived datatype is referenced (it must outlive a freed
 * handle); a persistent request references every handle among its arguments.
 *
 * Rebuild: a persistent request is made again (inactive: MPI_Start follows as before); a
 * pending MPI_Irecv is posted again, in the order the receives were posted (creation serial),
 * which keeps MPI's matching order. Any other pending request (sends, non-blocking
 * collectives, generalized requests, MPI_Comm_idup) cannot be made again: after a restart
 * they must have completed before the checkpoint (the drain of issue "MPI checkpoint/
 * restart" decides), else the rebuild reports them.
 *
 * Checkpoint states (wrap_p2p.h): a request the drain completed is DONE (its status saved in
 * e->aux, no lower request): the application's Wait/Test/Request_get_status return it later
 * and the rebuild does not post it again; an active persistent receive not completed is made
 * again and started; a message the drain received (DRAINED, e->aux = the message) is
 * delivered by the application's Mrecv/Imrecv. Receives are marked (F_RECV) when made, so
 * that their completion counts (wrap_p2p_count_recvd).
 *
 * Fast path: a new request takes an index from a per-thread cache of free indices (refilled
 * and spilled in batches under the lock), fills a few fields, and returns; completion
 * (MPI_Wait/Test*, MPI_Request_free) puts the index back in the cache. No lock, no atomic
 * read-modify-write, unless the request holds references. Messages (MPI_Mprobe/Improbe; MPICH
 * makes them requests) work the same way and cannot be made again (a matched message is the
 * drain's business).
 */
#include <stdlib.h>
#include <string.h>

#include "wrap.h"
#include "wrap_p2p.h"

#define TC_BATCH 8

/* [0] requests, [1] messages (struct wrap_vh_tcache: wrap_p2p.h, which releases inline) */
__thread struct wrap_vh_tcache wrap_vh_tcache[2] __attribute__((tls_model("initial-exec")));

/* Refill an empty cache with TC_BATCH indices under the lock; ~0u when out of indices. */
static __attribute__((noinline)) uint32_t take_slow(int kind)
{
	struct wrap_vh_tcache *t = &wrap_vh_tcache[kind == WRAP_VH_MESSAGE];
	wrap_vh_lock();
	while (t->n < TC_BATCH) {
		uint32_t u = wrap_vh_alloc_index(kind);
		if (u == ~0u)
			break;
		/* what never changes while the index serves this kind */
		struct wrap_vh_obj *e = wrap_vh_at(kind, u);
		e->vidx = u;
		e->kind = (uint8_t)kind;
		e->refs = 1;
		e->app_refs = 1;
		t->v[t->n++] = u;
	}
	wrap_vh_unlock();
	if (t->n == 0)
		return ~0u;
	return t->v[--t->n];
}

static inline __attribute__((always_inline)) uint32_t take(int kind)
{
	struct wrap_vh_tcache *t = &wrap_vh_tcache[kind == WRAP_VH_MESSAGE];
	if (__builtin_expect(t->n == 0, 0))
		return take_slow(kind);
	return t->v[--t->n];
}

void wrap_vh_tcache_spill(int kind)
{
	struct wrap_vh_tcache *t = &wrap_vh_tcache[kind == WRAP_VH_MESSAGE];
	wrap_vh_lock();
	while (t->n > WRAP_VH_TC_MAX - TC_BATCH)
		wrap_vh_free_index(kind, t->v[--t->n]);
	wrap_vh_unlock();
}

static void give(int kind, uint32_t u)
{
	struct wrap_vh_tcache *t = &wrap_vh_tcache[kind == WRAP_VH_MESSAGE];
	if (__builtin_expect(t->n == WRAP_VH_TC_MAX, 0))
		wrap_vh_tcache_spill(kind);
	t->v[t->n++] = u;
}

uint64_t wrap_vh_post_serial;

static void *args_of(struct wrap_vh_req *q)
{
	return (q->o.flags & WRAP_VH_F_HEAPARGS) ? (void *)(uintptr_t)q->args[0] : (void *)q->args;
}

/* references on the handles among the arguments (a receive: its derived datatype only) */
static void arg_refs(struct wrap_vh_req *q, const struct wrap_vh_origin *org, int take_ref)
{
	char *a = args_of(q);
	for (int k = 0; k < org->nrefs; k++) {
		int kind = org->refs[k].kind, h = *(int *)(a + org->refs[k].off);
		if (!org->persistent && kind != WRAP_VH_DATATYPE)
			continue;
		if ((uint32_t)h - wrap_vh_base(kind) >= wrap_vh_limit(kind))
			continue; /* predefined */
		if (take_ref)
			wrap_vh_ref(kind, h);
		else
			wrap_vh_unref(kind, h);
		q->o.flags |= WRAP_VH_F_REFS;
	}
}

/* 1 when arg_refs has something to reference: every handle of a persistent request, the
 * derived datatype of a receive (a predefined one is not in the table: no reference). */
static inline __attribute__((always_inline)) int any_ref(struct wrap_vh_req *q,
							 const struct wrap_vh_origin *org)
{
	if (org->persistent)
		return 1;
	const char *a = args_of(q);
	for (int k = 0; k < org->nrefs; k++) {
		uint32_t h = (uint32_t) * (const int *)(a + org->refs[k].off);
		if (org->refs[k].kind == WRAP_VH_DATATYPE &&
		    h - WRAP_VH_BASE_DATATYPE < WRAP_VH_SPAN)
			return 1;
	}
	return 0;
}

static int new_entry(int kind, int real, const struct wrap_vh_origin *org, const void *args)
{
	if (!((uint32_t)real & 0x80000000u))
		return real; /* null, or a builtin completed request (MPI_PROC_NULL) */
	uint32_t u = take(kind);
	if (__builtin_expect(u == ~0u, 0))
		return real;
	struct wrap_vh_req *q = (struct wrap_vh_req *)wrap_vh_at(kind, u);
	q->o.real = real;
	q->o.flags = 0;
	q->o.serial = 0;
	q->o.desc = (void *)org;
	q->o.aux = 0;
	if (org && wrap_p2p_is_p2p_idx(org->idx))
		q->o.flags = wrap_p2p_is_recv_idx(org->idx) ? WRAP_P2P_F_RECV | WRAP_P2P_F_P2P
							    : WRAP_P2P_F_P2P;
	if (org && org->size && args) {
		/* posting order; concurrent posts from two threads may tie (their order is not
		 * defined anyway), so no locked instruction here */
		q->o.serial = __atomic_load_n(&wrap_vh_post_serial, __ATOMIC_RELAXED) + 1;
		__atomic_store_n(&wrap_vh_post_serial, q->o.serial, __ATOMIC_RELAXED);
		if (org->size <= sizeof(q->args)) {
			/* argument structs are multiples of 8 bytes (they hold pointers) */
			const uint64_t *w = args;
			for (size_t k = 0; k < org->size / 8; k++)
				q->args[k] = w[k];
		} else {
			void *p = malloc(org->size);
			if (p) {
				memcpy(p, args, org->size);
				q->args[0] = (uint64_t)(uintptr_t)p;
				q->o.flags |= WRAP_VH_F_HEAPARGS;
			} else {
				q->o.desc = NULL; /* cannot be made again; works all the same */
				org = NULL;
			}
		}
		if (org && org->nrefs && any_ref(q, org))
			arg_refs(q, org, 1);
	}
	__atomic_store_n(&q->o.live, 1, __ATOMIC_RELEASE);
	return (int)(wrap_vh_base(kind) + u);
}

static inline __attribute__((always_inline)) void release(int kind, uint32_t u)
{
	struct wrap_vh_req *q = (struct wrap_vh_req *)wrap_vh_at(kind, u);
	if (!q->o.live)
		return;
	q->o.live = 0;
	q->o.real = kind == WRAP_VH_MESSAGE ? MPI_MESSAGE_NULL : MPI_REQUEST_NULL;
	if (q->o.flags & WRAP_VH_F_REFS)
		arg_refs(q, q->o.desc, 0);
	if (q->o.flags & WRAP_VH_F_HEAPARGS)
		free((void *)(uintptr_t)q->args[0]);
	if (q->o.flags & (WRAP_P2P_F_DONE | WRAP_P2P_F_DRAINED))
		free((void *)(uintptr_t)q->o.aux);
	q->o.aux = 0;
	give(kind, u);
}

/* Request arrays (MPI_Waitall & co.): as wrap_vh_iarray_inout_* with the release inline. */
int *wrap_vh_req_inout_to_lower(int kind, int *a, long n, int *buf)
{
	uint32_t base = wrap_vh_base(kind), lim = wrap_vh_limit(kind);
	int *l = buf;
	long i;
	if (!a || n <= 0)
		return a;
	if (n > WRAP_VH_STACK && !(l = malloc(sizeof(int) * (size_t)n))) {
		wrap_vh_warn("out of memory for an array of %ld handles", n);
		return a;
	}
	for (i = 0; i < n; i++) {
		uint32_t u = (uint32_t)a[i] - base;
		l[i] = u < lim ? (int)wrap_vh_at(kind, u)->real : a[i];
	}
	return l;
}

void wrap_vh_req_inout_from_lower(int kind, int *a, int *l, long n, int *buf)
{
	uint32_t base = wrap_vh_base(kind), lim = wrap_vh_limit(kind);
	if (l == a || !a)
		return;
	for (long i = 0; i < n; i++) {
		uint32_t u = (uint32_t)a[i] - base;
		if (u < lim) {
			struct wrap_vh_obj *e = wrap_vh_at(kind, u);
			if (e->live && e->real == (int64_t)l[i])
				continue; /* not completed, or persistent */
			if (e->live)
				release(kind, u);
		}
		a[i] = ((uint32_t)l[i] & 0x80000000u) ? new_entry(kind, l[i], NULL, NULL) : l[i];
	}
	if (l != buf)
		free(l);
}

int wrap_vh_request_new(int real, const struct wrap_vh_origin *org, const void *args)
{
	return new_entry(WRAP_VH_REQUEST, real, org, args);
}

void wrap_vh_request_release(uint32_t u) { release(WRAP_VH_REQUEST, u); }

int wrap_vh_message_new(int real) { return new_entry(WRAP_VH_MESSAGE, real, NULL, NULL); }

void wrap_vh_message_release(uint32_t u) { release(WRAP_VH_MESSAGE, u); }

int wrap_vh_request_new_done(const struct wrap_vh_origin *org, const MPI_Status *st)
{
	MPI_Status *s = malloc(sizeof(*s));
	if (!s)
		return MPI_REQUEST_NULL;
	*s = *st;
	uint32_t u = take(WRAP_VH_REQUEST);
	if (__builtin_expect(u == ~0u, 0)) {
		free(s);
		return MPI_REQUEST_NULL;
	}
	struct wrap_vh_req *q = (struct wrap_vh_req *)wrap_vh_at(WRAP_VH_REQUEST, u);
	q->o.real = MPI_REQUEST_NULL;
	q->o.flags = WRAP_P2P_F_DONE;
	q->o.serial = 0;
	q->o.desc = (void *)org;
	q->o.aux = (uint64_t)(uintptr_t)s;
	__atomic_store_n(&q->o.live, 1, __ATOMIC_RELEASE);
	return (int)(WRAP_VH_BASE_REQUEST + u);
}

int wrap_vh_message_new_drained(void *msg)
{
	uint32_t u = take(WRAP_VH_MESSAGE);
	if (__builtin_expect(u == ~0u, 0))
		return MPI_MESSAGE_NULL;
	struct wrap_vh_req *q = (struct wrap_vh_req *)wrap_vh_at(WRAP_VH_MESSAGE, u);
	q->o.real = MPI_MESSAGE_NULL;
	q->o.flags = WRAP_P2P_F_DRAINED;
	q->o.serial = 0;
	q->o.desc = NULL;
	q->o.aux = (uint64_t)(uintptr_t)msg;
	__atomic_store_n(&q->o.live, 1, __ATOMIC_RELEASE);
	return (int)(WRAP_VH_BASE_MESSAGE + u);
}

int wrap_vh_request_set_done(struct wrap_vh_obj *e, const MPI_Status *st, int persistent)
{
	MPI_Status *s = (e->flags & WRAP_P2P_F_DONE) ? (MPI_Status *)(uintptr_t)e->aux
						      : malloc(sizeof(*s));
	if (!s)
		return -1;
	*s = *st;
	e->aux = (uint64_t)(uintptr_t)s;
	if (!persistent)
		e->real = MPI_REQUEST_NULL;
	e->flags = (uint16_t)((e->flags & ~WRAP_P2P_F_ACTIVE) | WRAP_P2P_F_DONE);
	return 0;
}

int wrap_vh_request_take_done(struct wrap_vh_obj *e, MPI_Status *st)
{
	MPI_Status *s = (MPI_Status *)(uintptr_t)e->aux;
	int err = s->MPI_ERROR;
	if (st != MPI_STATUS_IGNORE)
		*st = *s;
	free(s);
	e->aux = 0;
	e->flags &= (uint16_t)~WRAP_P2P_F_DONE;
	return err;
}

static int req_rebuild(struct wrap_vh_obj *e, int64_t *real)
{
	const struct wrap_vh_origin *org = e->desc;
	struct wrap_vh_req *q = (struct wrap_vh_req *)e;
	int r, rq = MPI_REQUEST_NULL;
	*real = MPI_REQUEST_NULL;
	if ((e->flags & WRAP_P2P_F_DONE) && !(org && org->persistent))
		return MPI_SUCCESS; /* completed by the drain: its status waits for the app */
	if (!org || !org->replay) {
		wrap_vh_warn("a pending request made by %s cannot be made again",
			     org ? wrap_fn_name(org->idx) : "an unknown function");
		return MPI_ERR_REQUEST;
	}
	r = org->replay(args_of(q), &rq);
	*real = rq;
	/* an active persistent receive the drain did not complete: started again (an active
	 * persistent send was completed by the drain: its receiver drained it) */
	if (r == MPI_SUCCESS && org->persistent && (e->flags & WRAP_P2P_F_ACTIVE) &&
	    !(e->flags & WRAP_P2P_F_DONE))
		WRAP_DOWN(r, MPI_Start, &rq);
	return r;
}

static int msg_rebuild(struct wrap_vh_obj *e, int64_t *real)
{
	*real = MPI_MESSAGE_NULL;
	if (e->flags & WRAP_P2P_F_DRAINED)
		return MPI_SUCCESS; /* its payload is in upper memory: Mrecv delivers it */
	wrap_vh_warn("a matched message (MPI_Mprobe) was not received by the drain");
	return MPI_ERR_REQUEST;
}

const struct wrap_vh_ops wrap_vh_request_ops = {
    .name = "request",
    .kind = WRAP_VH_REQUEST,
    .null_handle = MPI_REQUEST_NULL,
    .rebuild = req_rebuild,
};

const struct wrap_vh_ops wrap_vh_message_ops = {
    .name = "message",
    .kind = WRAP_VH_MESSAGE,
    .null_handle = MPI_MESSAGE_NULL,
    .rebuild = msg_rebuild,
};
