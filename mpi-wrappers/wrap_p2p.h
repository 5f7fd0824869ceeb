/*
 * wrap_p2p.h - point-to-point under checkpointing (docs/mpi-ckpt.md section 1): what the
 * hand-written point-to-point entry points (wrap_p2p.c, wrap_p2p_wait.c), the request table
 * (wrap_vh_request.c) and the drain (wrap_drain.c) share.
 *
 * Owns:
 * - the message counters: sent (point-to-point messages initiated, not to MPI_PROC_NULL,
 *   Start of persistent sends included) and recvd (receive completions the application or the
 *   drain sees), per thread, summed by wrap_p2p_counts();
 * - the request/message states the drain adds to a virtual request entry (flags below, after
 *   those of wrap_vh.h): a request completed by the drain keeps its status (e->aux) until the
 *   application's Wait/Test/Request_get_status sees it, and a rebuild does not post it again;
 * - the spin of a blocking call: it stays on the lower TLS and reads the rank's phase word
 *   from memory (no TLS, no call) between two lower Test calls, and leaves the lower half as
 *   soon as the phase says DRAIN (wrap_p2p_spinning).
 * Invariants: no lower frame on an application thread's stack when it waits at the door
 * (wrap_door_step_out is called only after wrap_gate_leave); a virtual request is re-read
 * after every step out (the drain may have completed it, a restart re-posted it).
 */
#ifndef SPLITCKPT_WRAP_P2P_H
#define SPLITCKPT_WRAP_P2P_H

#include <stdint.h>

#include "mpi_ckpt.h"
#include "wrap.h"

/* The door (mpi-wrappers/wrap_door.h, by the engineer of wrap_ckpt.c). Without it (a tree
 * where it has not landed yet), a stand-in with the same API: no bookkeeping, the mailbox
 * found through the contract, and a step out that waits for the phase to leave DRAIN. */
#if __has_include("wrap_door.h")
#include "wrap_door.h"
#define WRAP_P2P_HAVE_DOOR 1
#define WRAP_P2P_DOOR WRAP_DOOR_P2P
#define WRAP_P2P_DOOR_LOCAL WRAP_DOOR_LOCAL
static inline const volatile uint32_t *wrap_p2p_phase_word(void) { return &wrap_ckpt_mb.phase; }
#else
#define WRAP_P2P_DOOR 2
#define WRAP_P2P_DOOR_LOCAL 1
typedef uint32_t wrap_door_t;
static inline const volatile uint32_t *wrap_p2p_phase_word(void)
{
	static const uint32_t run_word = LH_MPI_RUN;
	struct lh_mpi_mailbox *mb = wrap_contract_ok ? wrap_contract_ok->mpi_mailbox : NULL;
	return mb ? &mb->phase : &run_word;
}
static inline wrap_door_t wrap_door_enter(int kind, int vcomm)
{
	(void)kind;
	(void)vcomm;
	return 0;
}
static inline void wrap_door_leave(wrap_door_t d) { (void)d; }
static inline int wrap_door_must_step_out(void) { return *wrap_p2p_phase_word() >= LH_MPI_DRAIN; }
static inline void wrap_door_step_out(void)
{
	while (wrap_door_must_step_out())
		__builtin_ia32_pause();
}
#endif

/* Request-only entry flags (wrap_vh.h's struct wrap_vh_obj.flags; bits above its own). */
#define WRAP_P2P_F_RECV 0x0100	  /* a receive (Irecv, Recv_init, Imrecv): completion counts */
#define WRAP_P2P_F_DONE 0x0200	  /* completed by the drain; e->aux = malloc'd MPI_Status */
#define WRAP_P2P_F_ACTIVE 0x0400  /* persistent and started (the drain may test it) */
#define WRAP_P2P_F_DRAINED 0x0800 /* message: received by the drain; e->aux = the message */
#define WRAP_P2P_F_ORPHAN                                                                          \
	0x1000 /* a pending receive the application freed: the drain                               \
		  completes and counts it, then drops the entry */
/* made by a point-to-point call (wrap_p2p_is_p2p_idx), so that a wait need not read the origin */
#define WRAP_P2P_F_P2P 0x2000

/* ---- counters ---------------------------------------------------------------------------- */

struct wrap_p2p_cnt {
	uint64_t sent, recvd;
	int reg; /* 1 once on the list of wrap_p2p.c */
	struct wrap_p2p_cnt *next;
};
extern __thread struct wrap_p2p_cnt wrap_p2p_my WRAP_HIDDEN
    __attribute__((tls_model("initial-exec")));
void wrap_p2p_cnt_register(void) WRAP_HIDDEN;

static inline __attribute__((always_inline)) void wrap_p2p_count_sent(uint64_t n)
{
	if (__builtin_expect(!wrap_p2p_my.reg, 0))
		wrap_p2p_cnt_register();
	wrap_p2p_my.sent += n;
}
static inline __attribute__((always_inline)) void wrap_p2p_count_recvd(uint64_t n)
{
	if (__builtin_expect(!wrap_p2p_my.reg, 0))
		wrap_p2p_cnt_register();
	wrap_p2p_my.recvd += n;
}
/* Sum of every thread's counters (threads that exited included). Exact only while no
 * application thread is inside MPI (the drain); not async-signal-safe (takes a mutex). */
void wrap_p2p_counts(uint64_t *sent, uint64_t *recvd) WRAP_HIDDEN;

/* 1 for the functions whose requests are receives (Irecv, Recv_init, Imrecv and _c). */
static inline int wrap_p2p_is_recv_idx(unsigned idx)
{
	return idx == WRAP_IDX_MPI_Irecv || idx == WRAP_IDX_MPI_Irecv_c ||
	       idx == WRAP_IDX_MPI_Recv_init || idx == WRAP_IDX_MPI_Recv_init_c ||
	       idx == WRAP_IDX_MPI_Imrecv || idx == WRAP_IDX_MPI_Imrecv_c;
}

/* 1 for the functions whose requests are point-to-point ones (non-blocking sends and receives,
 * Imrecv, the persistent point-to-point *_init, and their _c forms): requests whose lower
 * MPI_Request_get_status has no side effect and calls nothing of the application (no
 * generalized request, no collective), so a wait may poll them one at a time. */
static inline int wrap_p2p_is_p2p_idx(unsigned idx)
{
	switch (idx) {
	case WRAP_IDX_MPI_Isend:
	case WRAP_IDX_MPI_Isend_c:
	case WRAP_IDX_MPI_Issend:
	case WRAP_IDX_MPI_Issend_c:
	case WRAP_IDX_MPI_Irsend:
	case WRAP_IDX_MPI_Irsend_c:
	case WRAP_IDX_MPI_Ibsend:
	case WRAP_IDX_MPI_Ibsend_c:
	case WRAP_IDX_MPI_Send_init:
	case WRAP_IDX_MPI_Send_init_c:
	case WRAP_IDX_MPI_Ssend_init:
	case WRAP_IDX_MPI_Ssend_init_c:
	case WRAP_IDX_MPI_Rsend_init:
	case WRAP_IDX_MPI_Rsend_init_c:
	case WRAP_IDX_MPI_Bsend_init:
	case WRAP_IDX_MPI_Bsend_init_c:
		return 1;
	default:
		return wrap_p2p_is_recv_idx(idx);
	}
}

/* ---- the phase word (wrap_p2p_phase_word: the mailbox's, or a constant RUN word) -------- */

/* 1 while a blocking call may go on spinning in the lower half (RUN or INTENT). */
static inline __attribute__((always_inline)) int wrap_p2p_spinning(const volatile uint32_t *ph)
{
	return *ph < LH_MPI_DRAIN;
}

/* ---- request states (wrap_vh_request.c) ------------------------------------------------------ */

/* A virtual request that is already complete (no lower request): a drained message delivered
 * to an Irecv/Imrecv or a started persistent receive. st is copied. */
int wrap_vh_request_new_done(const struct wrap_vh_origin *org, const MPI_Status *st) WRAP_HIDDEN;
/* A virtual message holding a message the drain received (msg: struct wrap_drain_msg, owned
 * by the entry from now on); MPI_MESSAGE_NULL when out of entries. */
int wrap_vh_message_new_drained(void *msg) WRAP_HIDDEN;
/* Mark live entry e complete with status st (the drain, or a queue delivery at Start); a
 * non-persistent entry's lower request is gone (MPI_REQUEST_NULL). Returns 0, -1 when out of
 * memory (e unchanged). */
int wrap_vh_request_set_done(struct wrap_vh_obj *e, const MPI_Status *st,
			     int persistent) WRAP_HIDDEN;
/* The saved status of a DONE entry (copied to st unless MPI_STATUS_IGNORE) and its error
 * field; clears DONE (persistent: the entry stays, inactive). */
int wrap_vh_request_take_done(struct wrap_vh_obj *e, MPI_Status *st) WRAP_HIDDEN;

/* The entry of a virtual request, or NULL (predefined, null, not live). */
static inline __attribute__((always_inline)) struct wrap_vh_obj *wrap_p2p_req_entry(MPI_Request r)
{
	uint32_t u = (uint32_t)r - WRAP_VH_BASE_REQUEST;
	if (u >= WRAP_VH_SPAN || (u >= WRAP_VH_CHUNK && u >= wrap_vh_limit(WRAP_VH_REQUEST)))
		return NULL;
	struct wrap_vh_obj *e = wrap_vh_at(WRAP_VH_REQUEST, u);
	return e->live ? e : NULL;
}

/* The per-thread cache of free request (and message) indices of wrap_vh_request.c: entries
 * are taken and given back without the lock; a full cache spills half of it under the lock. */
#define WRAP_VH_TC_MAX 16
struct wrap_vh_tcache {
	uint32_t v[WRAP_VH_TC_MAX];
	int n;
};
extern __thread struct wrap_vh_tcache wrap_vh_tcache[2] WRAP_HIDDEN
    __attribute__((tls_model("initial-exec")));
/* Give a full cache's older half back to the table (takes the lock). */
void wrap_vh_tcache_spill(int kind) WRAP_HIDDEN;

/* wrap_vh_request_release(e->vidx), inline for a plain request (no references, no copy on the
 * heap, no saved status or message): the virtual handle dies (maps to MPI_REQUEST_NULL) and
 * its index goes back to this thread's cache. Not on the lower TLS (touches TLS). */
static inline __attribute__((always_inline)) void wrap_p2p_req_release(struct wrap_vh_obj *e)
{
	if (__builtin_expect(e->flags & (WRAP_VH_F_REFS | WRAP_VH_F_HEAPARGS | WRAP_P2P_F_DONE |
					 WRAP_P2P_F_DRAINED),
			     0) ||
	    __builtin_expect(!e->live, 0)) {
		wrap_vh_request_release(e->vidx);
		return;
	}
	e->live = 0;
	e->real = MPI_REQUEST_NULL;
	e->aux = 0;
	struct wrap_vh_tcache *t = &wrap_vh_tcache[0];
	if (__builtin_expect(t->n == WRAP_VH_TC_MAX, 0))
		wrap_vh_tcache_spill(WRAP_VH_REQUEST);
	t->v[t->n++] = e->vidx;
}

/* Creation order of the argument copies (wrap_vh_request.c; a restart posts pending receives
 * again in that order). */
extern uint64_t wrap_vh_post_serial WRAP_HIDDEN;

/* wrap_vh_request_new(real, org, args) inline for the requests wrap_p2p.c makes: a send (args
 * NULL: nothing to make again) or a receive (args: its struct wrap_p2p_args or _c, 32 bytes,
 * datatype dt). The common case takes an index from this thread's cache and fills the entry;
 * an empty cache, or a derived datatype (the entry must reference it), goes to
 * wrap_vh_request_new. Not on the lower TLS (touches TLS). */
static inline __attribute__((always_inline)) int
wrap_p2p_req_new(int real, const struct wrap_vh_origin *org, const void *args, MPI_Datatype dt)
{
	struct wrap_vh_tcache *t = &wrap_vh_tcache[0];
	if (!((uint32_t)real & 0x80000000u))
		return real; /* null, or a builtin completed request (MPI_PROC_NULL) */
	if (__builtin_expect(t->n == 0, 0) ||
	    (args && (uint32_t)dt - WRAP_VH_BASE_DATATYPE < WRAP_VH_SPAN))
		return wrap_vh_request_new(real, org, args);
	uint32_t u = t->v[--t->n];
	struct wrap_vh_req *q = (struct wrap_vh_req *)wrap_vh_at(WRAP_VH_REQUEST, u);
	q->o.real = real;
	q->o.desc = (void *)org;
	q->o.aux = 0;
	if (args) {
		q->o.flags = WRAP_P2P_F_RECV | WRAP_P2P_F_P2P;
		q->o.serial = __atomic_load_n(&wrap_vh_post_serial, __ATOMIC_RELAXED) + 1;
		__atomic_store_n(&wrap_vh_post_serial, q->o.serial, __ATOMIC_RELAXED);
		__builtin_memcpy(q->args, args, 32);
	} else {
		q->o.flags = WRAP_P2P_F_P2P;
		q->o.serial = 0;
	}
	__atomic_store_n(&q->o.live, 1, __ATOMIC_RELEASE);
	return (int)(WRAP_VH_BASE_REQUEST + u);
}

/* The entry of a virtual message, or NULL. A matched message records in args[] what the drain
 * needs to receive it: args[0] its length in bytes, args[1] source | tag << 32, args[2] its
 * virtual communicator (wrap_p2p.c, at MPI_Mprobe/Improbe). */
static inline struct wrap_vh_obj *wrap_p2p_msg_entry(MPI_Message m)
{
	uint32_t u = (uint32_t)m - WRAP_VH_BASE_MESSAGE;
	if (u >= WRAP_VH_SPAN || (u >= WRAP_VH_CHUNK && u >= wrap_vh_limit(WRAP_VH_MESSAGE)))
		return NULL;
	struct wrap_vh_obj *e = wrap_vh_at(WRAP_VH_MESSAGE, u);
	return e->live ? e : NULL;
}
/* Bytes counted in an MPICH status (count_lo, count_hi_and_cancelled: bit 0 is cancelled). */
static inline MPI_Count wrap_p2p_status_bytes(const MPI_Status *s)
{
	return (MPI_Count)((uint64_t)(uint32_t)s->count_lo |
			   ((uint64_t)((uint32_t)s->count_hi_and_cancelled >> 1) << 32));
}
static inline void wrap_p2p_status_set_bytes(MPI_Status *s, MPI_Count n)
{
	s->count_lo = (int)(uint32_t)((uint64_t)n & 0xffffffffu);
	s->count_hi_and_cancelled = (int)(uint32_t)(((uint64_t)n >> 32) << 1);
}

/* The argument copy of a replayable request (Irecv, *_init): layout of gen_wrappers.py (the
 * parameters in order, the request left out). Point-to-point ones share these two shapes. */
struct wrap_p2p_args {
	void *buf;
	int count;
	MPI_Datatype datatype;
	int peer; /* source or dest */
	int tag;
	MPI_Comm comm;
};
struct wrap_p2p_args_c {
	void *buf;
	MPI_Count count;
	MPI_Datatype datatype;
	int peer;
	int tag;
	MPI_Comm comm;
};
_Static_assert(sizeof(struct wrap_p2p_args) == 32 && sizeof(struct wrap_p2p_args_c) == 32,
	       "wrap_p2p_req_new copies 32 bytes");
static inline void *wrap_p2p_args_of(struct wrap_vh_obj *e)
{
	struct wrap_vh_req *q = (struct wrap_vh_req *)e;
	return (e->flags & WRAP_VH_F_HEAPARGS) ? (void *)(uintptr_t)q->args[0] : (void *)q->args;
}

/* ---- waiting (wrap_p2p_wait.c) ----------------------------------------------------------------
 */

/* MPI_Wait on a virtual (or predefined) request, as a loop of lower MPI_Test that steps out
 * of the lower half at DRAIN and re-reads the entry after. Counts a receive completion. */
int wrap_p2p_wait(MPI_Request *req, MPI_Status *st) WRAP_HIDDEN;
/* MPI_Waitall the same way. */
int wrap_p2p_waitall(int n, MPI_Request reqs[], MPI_Status sts[]) WRAP_HIDDEN;

/* One poll of a blocking loop: one lower call (f: the lower function; c: the loop's own
 * state) made on the lower TLS, so it touches no TLS; returns the MPI result and sets *done
 * when the wait is over. */
typedef int (*wrap_p2p_poll)(void *f, void *c, int *done);

#ifndef WRAP_P2P_YIELD_EVERY
#define WRAP_P2P_YIELD_EVERY 1024 /* polls between two sched_yield in a spin (a power of 2) */
#endif

/* Spin on poll with the gate entered until it is done, fails, or the phase word says DRAIN
 * (the caller then leaves the lower half and steps out). Polls back to back, as MPICH's own
 * blocking calls drive its progress engine: no `pause` (it costs 120 ns in this VM, a pause
 * loop exit, and delayed every completion and every step of a pipelined transfer by up to
 * that much); every 1024 polls a raw sched_yield (an oversubscribed rank lets its peer run).
 * No TLS access in here. With a constant poll function this inlines into one loop. */
static inline __attribute__((always_inline)) int wrap_p2p_spin(wrap_p2p_poll poll, void *f, void *c,
							       int *done,
							       const volatile uint32_t *ph)
{
	unsigned n = 0;
	for (;;) {
		int r = poll(f, c, done);
		if (r != MPI_SUCCESS || *done || !wrap_p2p_spinning(ph))
			return r;
		if ((++n & (WRAP_P2P_YIELD_EVERY - 1)) == 0) {
			long ret; /* sched_yield */
			__asm__ volatile("syscall" : "=a"(ret) : "0"(24L) : "rcx", "r11", "memory");
		}
	}
}

/* The loop of every blocking call that waits on something the lower MPI may complete
 * (wrap_p2p_wait.c): until done or failed { prepare(c) reads the virtual state again and
 * returns 1 when the answer is known without the lower MPI (the drain completed a request,
 * a drained message matched: *r set); at DRAIN step out through the door (and fetch the lower
 * function idx again: a restart brings a new lower half); spin on poll in one crossing }.
 * blocking == 0: prepare, then one poll. Returns the MPI result; *done as poll set it (1 when
 * prepare answered). */
static inline __attribute__((always_inline)) int wrap_p2p_loop(unsigned idx, int blocking,
							       int (*prepare)(void *c, int *r),
							       wrap_p2p_poll poll, void *c,
							       int *done)
{
	void *f = wrap_lower_fn(idx);
	int r = MPI_SUCCESS;
	if (!f)
		return wrap_unavailable(idx);
	for (;;) {
		*done = 0;
		if (prepare(c, &r)) {
			*done = 1;
			return r;
		}
		if (blocking && !wrap_p2p_spinning(wrap_p2p_phase_word()) &&
		    wrap_door_must_step_out()) {
			wrap_door_step_out();
			f = wrap_lower_fn(idx); /* a new lower half after a restart */
			if (!f)
				return wrap_unavailable(idx);
			continue;
		}
		const volatile uint32_t *ph = wrap_p2p_phase_word();
		uint64_t g = wrap_gate_enter();
		r = blocking ? wrap_p2p_spin(poll, f, c, done, ph) : poll(f, c, done);
		wrap_gate_leave(g);
		if (*done || r != MPI_SUCCESS || !blocking)
			return r;
	}
}

/* Poll of a lower MPI_Test (c: struct wrap_p2p_test). */
struct wrap_p2p_test {
	MPI_Request *lreq;
	MPI_Status *st;
};
static inline __attribute__((always_inline)) int wrap_p2p_poll_test(void *f, void *c, int *done)
{
	struct wrap_p2p_test *t = c;
	return ((__typeof__(&PMPI_Test))f)(t->lreq, done, t->st);
}

/* Origins of the requests wrap_p2p.c makes (Irecv and Imrecv: hand-written). */
extern const struct wrap_vh_origin wrap_p2p_org_irecv, wrap_p2p_org_irecv_c, wrap_p2p_org_isend,
    wrap_p2p_org_imrecv WRAP_HIDDEN;

#endif
