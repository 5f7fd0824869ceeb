/*
 * wrap_p2p_wait.c - completing requests under checkpointing: MPI_Wait, Waitall, Waitany,
 * Waitsome, Test, Testall, Testany, Testsome, Request_get_status, Request_free, Cancel.
 *
 * The blocking ones are loops of the lower Test* (wrap_p2p_loop with a poll of Test, Testany,
 * Testsome, and for Waitall Request_get_status ended by one Waitall once every request is
 * complete, or Testall):
 * the thread stays on the lower TLS while it spins and reads only the phase word; at DRAIN it
 * leaves the lower half (its requests stay pending), waits at the door and, when it may go on,
 * reads its virtual requests again: the drain may have completed some (DONE: the saved status
 * is returned, nothing is asked of the lower MPI), a restart may have posted them again (new
 * lower handles).
 *
 * Every completion of a receive request counts once (wrap_p2p_count_recvd): here when the
 * lower MPI completes it, in the drain when the drain does (then it is DONE and not counted
 * again). A persistent request counts only while active (started by our MPI_Start*).
 */
#include <stdlib.h>

#include "wrap_p2p.h"

static inline int is_persistent(const struct wrap_vh_obj *e)
{
	const struct wrap_vh_origin *o = e->desc;
	return o && o->persistent;
}

/* The lower MPI completed entry e (lower handle now l). */
static void completed(struct wrap_vh_obj *e, MPI_Request *req, MPI_Request l)
{
	if (e->flags & WRAP_P2P_F_RECV) {
		if (!is_persistent(e) || (e->flags & WRAP_P2P_F_ACTIVE))
			wrap_p2p_count_recvd(1);
	}
	if ((int64_t)l == e->real) { /* persistent: inactive again */
		e->flags &= (uint16_t)~WRAP_P2P_F_ACTIVE;
		return;
	}
	wrap_p2p_req_release(e);
	*req = l; /* MPI_REQUEST_NULL */
}

/* Entry e is DONE (completed by the drain, or delivered from the queue): return its status. */
static int finish_done(struct wrap_vh_obj *e, MPI_Request *req, MPI_Status *st)
{
	int err = wrap_vh_request_take_done(e, st);
	if (!is_persistent(e)) {
		wrap_p2p_req_release(e);
		*req = MPI_REQUEST_NULL;
	}
	return err;
}

/* ---- Wait: one request -------------------------------------------------------------------- */

struct one {
	MPI_Request *req; /* the application's */
	MPI_Status *st;
	struct wrap_vh_obj *e;
	MPI_Request l; /* its lower request */
};

static int one_prepare(void *c, int *r)
{
	struct one *w = c;
	w->e = wrap_p2p_req_entry(*w->req);
	if (!w->e) { /* null or predefined (a completed MPI_PROC_NULL request) */
		WRAP_DOWN(*r, MPI_Wait, w->req, w->st);
		return 1;
	}
	if (w->e->flags & WRAP_P2P_F_DONE) {
		*r = finish_done(w->e, w->req, w->st);
		w->e = NULL; /* answered here */
		return 1;
	}
	w->l = (MPI_Request)w->e->real;
	return 0;
}

static inline __attribute__((always_inline)) int one_poll(void *f, void *c, int *done)
{
	struct one *w = c;
	return ((__typeof__(&PMPI_Test))f)(&w->l, done, w->st);
}

int wrap_p2p_wait(MPI_Request *req, MPI_Status *st)
{
	struct one w = {req, st, NULL, MPI_REQUEST_NULL};
	int done, r = wrap_p2p_loop(WRAP_IDX_MPI_Test, 1, one_prepare, one_poll, &w, &done);
	if (w.e && (done || r != MPI_SUCCESS)) /* the lower MPI completed it */
		completed(w.e, req, w.l);
	return r;
}

/* Lower handles of n virtual requests (DONE ones: MPI_REQUEST_NULL); e[i] their entries. */
static void to_lower(int n, const MPI_Request *reqs, MPI_Request *l, struct wrap_vh_obj **e,
		     int *ndone)
{
	*ndone = 0;
	for (int i = 0; i < n; i++) {
		e[i] = wrap_p2p_req_entry(reqs[i]);
		if (!e[i])
			l[i] = reqs[i];
		else if (e[i]->flags & WRAP_P2P_F_DONE) {
			l[i] = MPI_REQUEST_NULL;
			(*ndone)++;
		} else
			l[i] = (MPI_Request)e[i]->real;
	}
}

/* After the lower call completed index i (lower handle l[i]). */
static int after_one(struct wrap_vh_obj *e, MPI_Request *req, MPI_Request l, MPI_Status *st)
{
	if (!e) {
		*req = l;
		return MPI_SUCCESS;
	}
	if (e->flags & WRAP_P2P_F_DONE)
		return finish_done(e, req, st);
	completed(e, req, l);
	return MPI_SUCCESS;
}

struct arrays {
	MPI_Request lb[WRAP_VH_STACK];
	struct wrap_vh_obj *eb[WRAP_VH_STACK];
	MPI_Request *l;
	struct wrap_vh_obj **e;
};

static int arrays_get(struct arrays *a, int n)
{
	a->l = a->lb;
	a->e = a->eb;
	if (n <= WRAP_VH_STACK)
		return 0;
	a->l = malloc(sizeof(*a->l) * (size_t)n);
	a->e = malloc(sizeof(*a->e) * (size_t)n);
	if (!a->l || !a->e) {
		free(a->l);
		free(a->e);
		return -1;
	}
	return 0;
}

static void arrays_put(struct arrays *a)
{
	if (a->l != a->lb) {
		free(a->l);
		free(a->e);
	}
}

static MPI_Status *st_at(MPI_Status *sts, int i)
{
	return sts == MPI_STATUSES_IGNORE ? MPI_STATUS_IGNORE : &sts[i];
}

/* The state of Waitall/any/some and Testall/any/some around wrap_p2p_loop. Set field by
 * field (many_init): a designated initializer would clear the two arrays of WRAP_VH_STACK
 * handles on every call. */
struct many {
	int n;
	MPI_Request *reqs; /* the application's */
	struct arrays a;   /* their lower handles and entries */
	int ndone;	   /* how many the drain completed (DONE) */
	int blocking;
	int answered; /* prepare answered (a DONE request) */
	MPI_Status *sts;
	MPI_Status *st; /* any */
	int i;		/* any: the index completed */
	int o2;		/* some: how many the lower MPI completed */
	int *idx;	/* some */
	void *gs;	/* all: the lower MPI_Request_get_status, or NULL */
	void *wa;	/* all, allp2p: the lower MPI_Waitall */
	int k;		/* all: the requests before k are complete; -1: first poll */
	int allp2p;	/* all: every request point-to-point (ends with the lower Waitall) */
};

static inline __attribute__((always_inline)) void many_init(struct many *m, int n,
							    MPI_Request *reqs, int blocking)
{
	m->n = n;
	m->reqs = reqs;
	m->ndone = 0;
	m->blocking = blocking;
	m->answered = 0;
	m->sts = MPI_STATUSES_IGNORE;
	m->st = MPI_STATUS_IGNORE;
	m->i = MPI_UNDEFINED;
	m->o2 = 0;
	m->idx = NULL;
	m->gs = NULL;
	m->wa = NULL;
	m->k = -1;
	m->allp2p = 0;
}

/* A lower handle that is complete for good: MPICH's null request and its builtin requests
 * (kind BUILTIN, object REQUEST: a completed MPI_PROC_NULL operation). */
static inline int lower_done_for_good(MPI_Request l)
{
	return l == MPI_REQUEST_NULL || ((uint32_t)l & 0xfc000000u) == 0x6c000000u;
}

/* 1 when e is a point-to-point request (wrap_p2p_is_p2p_idx of its origin: WRAP_P2P_F_P2P). */
static inline int p2p_request(const struct wrap_vh_obj *e)
{
	return e && (e->flags & WRAP_P2P_F_P2P);
}

/* Waitall polls like MPICH's own Waitall (one request at a time, in order) instead of a lower
 * Testall per poll (which converts and checks every handle and drives MPICH's progress each
 * time: 1.7-1.9 % of the bandwidth at 64 KiB, measured natively). The poll is the lower
 * MPI_Request_get_status of the first point-to-point request not known complete: it drives
 * MPICH's progress only while that request is incomplete, completes nothing (no status
 * written, no handle freed) and, once the request is complete, costs a handle lookup. When
 * every request is (allp2p: all of them point-to-point ones, or complete for good), the same
 * poll ends with one lower MPI_Waitall, which cannot block any more (a point-to-point request
 * that is complete stays so) and completes them all as MPICH's Waitall does, statuses and
 * errors included, without a further progress call. Polling with the lower MPI_Test instead
 * (which completes the request) drives the progress engine once more per request even when
 * it is complete already: 4 Isend/Irecv to self + Waitall cost 255 ns that way against 220 ns
 * (MPICH's own Waitall: 195 ns; natively, in-process). While the loop polls, the lower
 * requests stay pending, so a step out at DRAIN leaves the drain nothing to reconcile.
 * Other requests (generalized, collective) never see that Waitall: MPICH calls a generalized
 * request's query function in every get_status and in every Testall once it is complete
 * (natively Waitall calls it once), so such requests are skipped by the get_status loop and
 * the poll ends with a lower Testall, which completes them all or none; with one among them
 * there is no first Testall either. A handle that is not a virtual request of ours: Testall
 * at every poll. A get_status error ends the poll with that Testall too (it reports it as
 * MPICH's Waitall would). */

static int all_prepare(void *c, int *r)
{
	struct many *m = c;
	(void)r;
	to_lower(m->n, m->reqs, m->a.l, m->a.e, &m->ndone);
	m->k = -1;
	m->allp2p = m->blocking;
	m->gs = m->blocking ? wrap_lower_fn(WRAP_IDX_MPI_Request_get_status) : NULL;
	for (int i = 0; m->gs && i < m->n; i++) {
		const struct wrap_vh_obj *e = m->a.e[i];
		if (lower_done_for_good(m->a.l[i]))
			continue;
		if (!e) {
			m->gs = NULL;
		} else if (!p2p_request(e)) {
			m->k = 0;
			m->allp2p = 0;
		}
	}
	if (m->gs && m->allp2p) {
		m->wa = wrap_lower_fn(WRAP_IDX_MPI_Waitall);
		m->k = 0;
		if (!m->wa)
			m->allp2p = 0;
	} else {
		m->allp2p = 0;
	}
	return 0;
}

static inline __attribute__((always_inline)) int all_poll(void *f, void *c, int *done)
{
	struct many *m = c;
	if (m->gs && m->k >= 0) {
		for (; m->k < m->n; m->k++) {
			MPI_Request l = m->a.l[m->k];
			int fl = 0;
			if (lower_done_for_good(l) || !p2p_request(m->a.e[m->k]))
				continue;
			int r = ((__typeof__(&PMPI_Request_get_status))m->gs)(l, &fl,
									      MPI_STATUS_IGNORE);
			if (r != MPI_SUCCESS)
				goto testall; /* the Testall reports it as MPICH's Waitall would */
			if (!fl) {
				*done = 0;
				return MPI_SUCCESS;
			}
		}
		if (m->allp2p) { /* every one is complete: this Waitall does not block */
			*done = 1;
			return ((__typeof__(&PMPI_Waitall))m->wa)(m->n, m->a.l, m->sts);
		}
	} else if (m->k < 0) {
		m->k = 0;
	}
testall:
	return ((__typeof__(&PMPI_Testall))f)(m->n, m->a.l, done, m->sts);
}

/* Waitall (blocking) / Testall (once). */
static int all(int n, MPI_Request reqs[], int *flag, MPI_Status sts[], int blocking)
{
	struct many m;
	int r = MPI_SUCCESS, f = 0, errs = 0;
	if (n <= 0 || !reqs) { /* (Waitall passes no flag) */
		WRAP_DOWN(r, MPI_Testall, n, reqs, flag ? flag : &f, sts);
		return r;
	}
	many_init(&m, n, reqs, blocking);
	m.sts = sts;
	if (arrays_get(&m.a, n) != 0)
		return wrap_fail(WRAP_IDX_MPI_Waitall, MPI_ERR_NO_MEM, "out of memory");
	r = wrap_p2p_loop(WRAP_IDX_MPI_Testall, blocking, all_prepare, all_poll, &m, &f);
	if (flag)
		*flag = f;
	if (f || r != MPI_SUCCESS) {
		for (int i = 0; i < n; i++) {
			MPI_Status *s = st_at(sts, i);
			int e = after_one(m.a.e[i], &reqs[i], m.a.l[i], s);
			if (e != MPI_SUCCESS)
				errs++;
		}
		if (errs && r == MPI_SUCCESS)
			r = MPI_ERR_IN_STATUS;
	}
	arrays_put(&m.a);
	return r;
}

int wrap_p2p_waitall(int n, MPI_Request reqs[], MPI_Status sts[])
{
	return all(n, reqs, NULL, sts, 1);
}

/* Any: a request the drain completed is the answer (the first one). */
static int any_prepare(void *c, int *r)
{
	struct many *m = c;
	to_lower(m->n, m->reqs, m->a.l, m->a.e, &m->ndone);
	if (!m->ndone)
		return 0;
	int i;
	for (i = 0; i < m->n; i++)
		if (m->a.e[i] && (m->a.e[i]->flags & WRAP_P2P_F_DONE))
			break;
	m->i = i;
	m->answered = 1;
	*r = after_one(m->a.e[i], &m->reqs[i], m->a.l[i], m->st);
	return 1;
}

static inline __attribute__((always_inline)) int any_poll(void *f, void *c, int *done)
{
	struct many *m = c;
	return ((__typeof__(&PMPI_Testany))f)(m->n, m->a.l, &m->i, done, m->st);
}

/* Waitany (blocking) / Testany (once). */
static int any(int n, MPI_Request reqs[], int *indx, int *flag, MPI_Status *st, int blocking)
{
	struct many m;
	int r = MPI_SUCCESS, f = 0;
	if (n <= 0 || !reqs) {
		WRAP_DOWN(r, MPI_Testany, n, reqs, indx, &f, st);
		if (flag)
			*flag = f;
		return r;
	}
	many_init(&m, n, reqs, blocking);
	m.st = st;
	if (arrays_get(&m.a, n) != 0)
		return wrap_fail(WRAP_IDX_MPI_Waitany, MPI_ERR_NO_MEM, "out of memory");
	r = wrap_p2p_loop(WRAP_IDX_MPI_Testany, blocking, any_prepare, any_poll, &m, &f);
	int i = m.i;
	if (!m.answered && (f || r != MPI_SUCCESS) && i != MPI_UNDEFINED && i >= 0 && i < n)
		after_one(m.a.e[i], &reqs[i], m.a.l[i], st);
	*indx = i;
	if (flag)
		*flag = f;
	arrays_put(&m.a);
	return r;
}

/* Some: the requests the drain completed first (answered after the loop); Testsome never
 * polls in the loop (one lower Testsome after those). */
static int some_prepare(void *c, int *r)
{
	struct many *m = c;
	to_lower(m->n, m->reqs, m->a.l, m->a.e, &m->ndone);
	*r = MPI_SUCCESS;
	m->answered = m->ndone || !m->blocking;
	return m->answered;
}

static inline __attribute__((always_inline)) int some_poll(void *f, void *c, int *done)
{
	struct many *m = c;
	int r = ((__typeof__(&PMPI_Testsome))f)(m->n, m->a.l, &m->o2, m->idx, m->sts);
	*done = m->o2 != 0; /* (MPI_UNDEFINED: no active request) */
	return r;
}

/* Waitsome (blocking) / Testsome (once): the DONE ones first, then what the lower MPI has. */
static int some(int n, MPI_Request reqs[], int *outcount, int idx[], MPI_Status sts[], int blocking)
{
	struct many m;
	int r = MPI_SUCCESS, out = 0, errs = 0, done;
	if (n <= 0 || !reqs) {
		WRAP_DOWN(r, MPI_Testsome, n, reqs, outcount, idx, sts);
		return r;
	}
	many_init(&m, n, reqs, blocking);
	m.sts = sts;
	m.idx = idx;
	if (arrays_get(&m.a, n) != 0)
		return wrap_fail(WRAP_IDX_MPI_Waitsome, MPI_ERR_NO_MEM, "out of memory");
	r = wrap_p2p_loop(WRAP_IDX_MPI_Testsome, blocking, some_prepare, some_poll, &m, &done);
	if (!m.answered)
		goto lower_done; /* the loop's lower Testsome completed some (or failed) */
	/* DONE entries (completed by the drain) first */
	for (int i = 0; i < n && m.ndone; i++) {
		if (!m.a.e[i] || !(m.a.e[i]->flags & WRAP_P2P_F_DONE))
			continue;
		idx[out] = i;
		if (after_one(m.a.e[i], &reqs[i], m.a.l[i], st_at(sts, out)) != MPI_SUCCESS)
			errs++;
		m.a.e[i] = NULL;
		m.a.l[i] = reqs[i];
		out++;
	}
	/* then one lower Testsome on the others */
	WRAP_DOWN(r, MPI_Testsome, n, m.a.l, &m.o2, idx + out,
		  sts == MPI_STATUSES_IGNORE ? sts : sts + out);
lower_done:
	if (m.o2 == MPI_UNDEFINED) {
		m.o2 = 0;
		if (out == 0) {
			*outcount = MPI_UNDEFINED;
			arrays_put(&m.a);
			return r;
		}
	}
	for (int k = out; k < out + m.o2; k++) {
		int i = idx[k];
		after_one(m.a.e[i], &reqs[i], m.a.l[i], st_at(sts, k));
	}
	*outcount = out + m.o2;
	if (errs && r == MPI_SUCCESS)
		r = MPI_ERR_IN_STATUS;
	arrays_put(&m.a);
	return r;
}

/* ---- entry points ------------------------------------------------------------------------- */

WRAP_EXPORT int PMPI_Wait(MPI_Request *request, MPI_Status *status)
{
	wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, MPI_COMM_NULL);
	int r = wrap_p2p_wait(request, status);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Wait, MPI_Wait)

WRAP_EXPORT int PMPI_Test(MPI_Request *request, int *flag, MPI_Status *status)
{
	int r;
	wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, MPI_COMM_NULL);
	struct wrap_vh_obj *e = wrap_p2p_req_entry(*request);
	if (!e) {
		WRAP_DOWN(r, MPI_Test, request, flag, status);
	} else if (e->flags & WRAP_P2P_F_DONE) {
		*flag = 1;
		r = finish_done(e, request, status);
	} else {
		MPI_Request l = (MPI_Request)e->real;
		WRAP_DOWN(r, MPI_Test, &l, flag, status);
		if (*flag || r != MPI_SUCCESS)
			completed(e, request, l);
	}
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Test, MPI_Test)

WRAP_EXPORT int PMPI_Waitall(int count, MPI_Request array_of_requests[],
			     MPI_Status array_of_statuses[])
{
	wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, MPI_COMM_NULL);
	int r = all(count, array_of_requests, NULL, array_of_statuses, 1);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Waitall, MPI_Waitall)

WRAP_EXPORT int PMPI_Testall(int count, MPI_Request array_of_requests[], int *flag,
			     MPI_Status array_of_statuses[])
{
	wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, MPI_COMM_NULL);
	int r = all(count, array_of_requests, flag, array_of_statuses, 0);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Testall, MPI_Testall)

WRAP_EXPORT int PMPI_Waitany(int count, MPI_Request array_of_requests[], int *indx,
			     MPI_Status *status)
{
	wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, MPI_COMM_NULL);
	int r = any(count, array_of_requests, indx, NULL, status, 1);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Waitany, MPI_Waitany)

WRAP_EXPORT int PMPI_Testany(int count, MPI_Request array_of_requests[], int *indx, int *flag,
			     MPI_Status *status)
{
	wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, MPI_COMM_NULL);
	int r = any(count, array_of_requests, indx, flag, status, 0);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Testany, MPI_Testany)

WRAP_EXPORT int PMPI_Waitsome(int incount, MPI_Request array_of_requests[], int *outcount,
			      int array_of_indices[], MPI_Status array_of_statuses[])
{
	wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, MPI_COMM_NULL);
	int r = some(incount, array_of_requests, outcount, array_of_indices, array_of_statuses, 1);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Waitsome, MPI_Waitsome)

WRAP_EXPORT int PMPI_Testsome(int incount, MPI_Request array_of_requests[], int *outcount,
			      int array_of_indices[], MPI_Status array_of_statuses[])
{
	wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, MPI_COMM_NULL);
	int r = some(incount, array_of_requests, outcount, array_of_indices, array_of_statuses, 0);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Testsome, MPI_Testsome)

WRAP_EXPORT int PMPI_Request_get_status(MPI_Request request, int *flag, MPI_Status *status)
{
	int r;
	wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, MPI_COMM_NULL);
	struct wrap_vh_obj *e = wrap_p2p_req_entry(request);
	if (e && (e->flags & WRAP_P2P_F_DONE)) {
		*flag = 1;
		if (status != MPI_STATUS_IGNORE)
			*status = *(MPI_Status *)(uintptr_t)e->aux;
		r = MPI_SUCCESS;
	} else {
		MPI_Request l = e ? (MPI_Request)e->real : request;
		WRAP_DOWN(r, MPI_Request_get_status, l, flag, status);
	}
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Request_get_status, MPI_Request_get_status)

/* A pending receive the application frees still takes its message (MPI says so), and the
 * drain must count it: the entry stays (ORPHAN, no application handle) until the drain sees it
 * complete; a restart posts it again like any pending Irecv. */
WRAP_EXPORT int PMPI_Request_free(MPI_Request *request)
{
	int r = MPI_SUCCESS;
	wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, MPI_COMM_NULL);
	struct wrap_vh_obj *e = request ? wrap_p2p_req_entry(*request) : NULL;
	if (!e) {
		WRAP_DOWN(r, MPI_Request_free, request);
	} else if ((e->flags & (WRAP_P2P_F_RECV | WRAP_P2P_F_DONE)) == WRAP_P2P_F_RECV &&
		   e->real != MPI_REQUEST_NULL &&
		   (!is_persistent(e) || (e->flags & WRAP_P2P_F_ACTIVE))) {
		e->flags |= WRAP_P2P_F_ORPHAN;
		*request = MPI_REQUEST_NULL;
	} else {
		MPI_Request l = (MPI_Request)e->real;
		if (l != MPI_REQUEST_NULL)
			WRAP_DOWN(r, MPI_Request_free, &l);
		if (r == MPI_SUCCESS) {
			wrap_vh_request_release(e->vidx);
			*request = MPI_REQUEST_NULL;
		}
	}
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Request_free, MPI_Request_free)

/* MPICH decides a receive's cancellation in MPI_Cancel (not matched yet: removed and complete,
 * else it completes normally): a cancelled receive is no receive for the counters. A request
 * already complete (DONE) has nothing to cancel. */
WRAP_EXPORT int PMPI_Cancel(MPI_Request *request)
{
	int r = MPI_SUCCESS, flag = 0, cancelled = 0;
	wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, MPI_COMM_NULL);
	struct wrap_vh_obj *e = request ? wrap_p2p_req_entry(*request) : NULL;
	if (!e) {
		WRAP_DOWN(r, MPI_Cancel, request);
	} else if (!(e->flags & WRAP_P2P_F_DONE) && e->real != MPI_REQUEST_NULL) {
		MPI_Request l = (MPI_Request)e->real;
		MPI_Status st;
		WRAP_DOWN(r, MPI_Cancel, &l);
		if (r == MPI_SUCCESS && (e->flags & WRAP_P2P_F_RECV)) {
			int r2;
			WRAP_DOWN(r2, MPI_Request_get_status, l, &flag, &st);
			if (r2 == MPI_SUCCESS && flag)
				WRAP_DOWN(r2, MPI_Test_cancelled, &st, &cancelled);
			if (r2 == MPI_SUCCESS && flag && cancelled)
				e->flags &= (uint16_t)~WRAP_P2P_F_RECV;
		}
	}
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Cancel, MPI_Cancel)
