/*
 * wrap_door.h - the door: what every MPI entry point of the upper half passes before it
 * translates handles and enters the call gate (docs/mpi-ckpt.md, section 1).
 *
 * Owns: the per-thread MPI state (an initial-exec __thread: how many calls of this thread are
 * inside MPI, split into collectives and the rest, and the thread's mode), and the inline fast
 * path. The slow path, the thread registry and the waiting live in wrap_door.c; the phase is
 * mailbox->phase (wrap_ckpt.c), which only the service thread writes (and the lower half,
 * once, RESTORED, before any restored thread runs).
 *
 * Fast path (phase RUN, thread registered): one non-atomic add on the thread's word, a compiler
 * barrier, one load of the phase; a collective adds one increment of its communicator's seq.
 * No atomic read-modify-write, no fence, no lock. The service thread makes the Dekker pair
 * (store w / load phase here, store phase / load every w there) sound with
 * membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) between its two steps (asymmetric Dekker).
 * Without membarrier (old kernels) a thread is registered in FENCE mode: its fast-path test
 * fails on the mode, and the slow path issues an mfence after the store before it reads the
 * phase (correct, a few ns slower per call).
 *
 * The per-thread word w:
 *   bits  0..15  calls of kind LOCAL or P2P in progress (+1 each, nested calls count too)
 *   bits 16..23  collective calls in progress (+1 << 16 each)
 *   bits 24..31  mode: 0 unregistered (first call: slow path registers it), FAST, FENCE,
 *                SERVICE (the service thread: never waits)
 * The service thread reads w & WRAP_DOOR_DEPTH of every registered thread ("in_mpi").
 *
 * Kinds: LOCAL and P2P pass in RUN and INTENT; COLL passes in INTENT iff seq < target of its
 * communicator (an untracked one - size 1, gid 0 - always passes); in DRAIN and RESTORED
 * every call waits. A nested call (a callback of the lower MPICH calling MPI: the thread is
 * already inside) and the service thread never wait. Waiting gives the count back (w -=
 * weight), sleeps on a futex word that changes with the phase and the targets, takes it
 * again and re-checks: EINTR-safe, and a thread parked (and restored) inside that wait just
 * checks again.
 *
 * Usage in an entry point (after the lower function is known to exist, before translating
 * handles; leave after the last lower call, output translation and hooks included):
 *     wrap_door_t d_ = wrap_door_enter(WRAP_DOOR_COLL, comm);
 *     ...
 *     wrap_door_leave(d_);
 */
#ifndef SPLITCKPT_WRAP_DOOR_H
#define SPLITCKPT_WRAP_DOOR_H

#include <stdint.h>

#include "mpi_ckpt.h"
#include "wrap_vh.h"

#ifndef MPI_COMM_WORLD
#error "include wrap.h (mpi.h) before wrap_door.h"
#endif

#ifndef WRAP_HIDDEN
#define WRAP_HIDDEN __attribute__((visibility("hidden")))
#endif

enum wrap_door_kind {
	WRAP_DOOR_NONE = 0,
	WRAP_DOOR_LOCAL = 1, /* no communication: waits only in DRAIN/RESTORED */
	WRAP_DOOR_P2P = 2,   /* point-to-point, RMA, I/O: passes in INTENT */
	WRAP_DOOR_COLL = 3,  /* collective on a communicator: seq, targets */
};

#define WRAP_DOOR_W_CALL 1u
#define WRAP_DOOR_W_COLL (1u << 16)
#define WRAP_DOOR_DEPTH 0x00ffffffu
#define WRAP_DOOR_COLLS 0x00ff0000u
#define WRAP_DOOR_MODE_SHIFT 24
enum wrap_door_mode {
	WRAP_DOOR_MODE_NONE = 0,    /* not registered yet */
	WRAP_DOOR_MODE_FAST = 1,    /* registered, membarrier available */
	WRAP_DOOR_MODE_FENCE = 2,   /* registered, no membarrier: fence in the slow path */
	WRAP_DOOR_MODE_SERVICE = 3, /* the service thread */
};

/* Per-thread state: in the thread's static TLS (initial-exec), registered in a list that the
 * service thread walks (wrap_door.c); the entry leaves the list when the thread exits. */
struct wrap_door_thread {
	uint32_t w;			/* see above; written by the owner only */
	uint32_t tid;			/* gettid() at registration (messages) */
	struct wrap_seq *volatile want; /* the collective this thread waits for at the door */
	struct wrap_door_thread *next, *prev;
};

typedef uint32_t wrap_door_t; /* the weight entered with, for wrap_door_leave */

extern __thread struct wrap_door_thread wrap_door_me WRAP_HIDDEN
    __attribute__((tls_model("initial-exec")));
/* The mailbox (common/mpi_ckpt.h): a static object of this library, so in upper memory, saved
 * in the image, and its phase is one load at a fixed address. Published to the lower half
 * (contract.mpi_mailbox) at MPI_Init*. */
extern struct lh_mpi_mailbox wrap_ckpt_mb WRAP_HIDDEN;

/* Bookkeeping of MPI_COMM_WORLD (gid 1) and of every communicator not in a table
 * (MPI_COMM_SELF, null, invalid: gid 0, never reported). */
extern struct wrap_seq wrap_seq_world WRAP_HIDDEN, wrap_seq_untracked WRAP_HIDDEN;

/* The collective bookkeeping of virtual communicator vcomm: O(1), no lock. */
static inline __attribute__((always_inline)) struct wrap_seq *wrap_seq_of(int vcomm)
{
	if (vcomm == (int)MPI_COMM_WORLD)
		return &wrap_seq_world;
	uint32_t u = (uint32_t)vcomm - WRAP_VH_BASE_COMM;
	if (__builtin_expect(u < WRAP_VH_CHUNK, 1))
		return &wrap_vh_first[WRAP_VH_COMM][u].cs;
	if (u < WRAP_VH_SPAN && u < wrap_vh_limit(WRAP_VH_COMM))
		return &wrap_vh_at(WRAP_VH_COMM, u)->cs;
	return &wrap_seq_untracked;
}

/* The same for a window and a file (their collectives - Win_fence, Win_free, File_*_all,
 * File_close... - count on the object's own seq; gid derived from the creating call). */
static inline __attribute__((always_inline)) struct wrap_seq *wrap_seq_of_win(int vwin)
{
	uint32_t u = (uint32_t)vwin - WRAP_VH_BASE_WIN;
	if (__builtin_expect(u < WRAP_VH_CHUNK, 1))
		return &wrap_vh_first[WRAP_VH_WIN][u].cs;
	if (u < WRAP_VH_SPAN && u < wrap_vh_limit(WRAP_VH_WIN))
		return &wrap_vh_at(WRAP_VH_WIN, u)->cs;
	return &wrap_seq_untracked;
}
static inline __attribute__((always_inline)) struct wrap_seq *wrap_seq_of_file(const void *f)
{
	uint64_t u = (uint64_t)(uintptr_t)f - WRAP_VH_BASE_FILE;
	if (u < wrap_vh_limit(WRAP_VH_FILE))
		return &wrap_vh_at(WRAP_VH_FILE, (uint32_t)u)->cs;
	return &wrap_seq_untracked;
}

/* Slow path: registration, fence mode, nested calls, waiting (wrap_door.c). */
void wrap_door_slow(int kind, struct wrap_seq *s) WRAP_HIDDEN;

/* Enter MPI with a call of `kind`; s: the bookkeeping a collective counts on (else NULL).
 * Returns the token for wrap_door_leave. Not async-signal-safe. */
static inline __attribute__((always_inline)) wrap_door_t wrap_door_enter_seq(int kind,
									     struct wrap_seq *s)
{
	struct wrap_door_thread *me = &wrap_door_me;
	const wrap_door_t wt = kind == WRAP_DOOR_COLL ? WRAP_DOOR_W_COLL : WRAP_DOOR_W_CALL;
	uint32_t v = me->w;
	me->w = v + wt;
	__asm__ volatile("" ::: "memory");
	/* one branch: mode FAST and phase RUN (0) */
	if (__builtin_expect(((v >> WRAP_DOOR_MODE_SHIFT) ^ WRAP_DOOR_MODE_FAST) |
				 *(volatile uint32_t *)&wrap_ckpt_mb.phase,
			     0))
		wrap_door_slow(kind, s);
	if (kind == WRAP_DOOR_COLL)
		s->seq++;
	return wt;
}

/* Enter MPI with a call of `kind`; vcomm: the virtual communicator of a collective (else
 * ignored). */
static inline __attribute__((always_inline)) wrap_door_t wrap_door_enter(int kind, int vcomm)
{
	return wrap_door_enter_seq(kind, kind == WRAP_DOOR_COLL ? wrap_seq_of(vcomm)
								: (struct wrap_seq *)0);
}

static inline __attribute__((always_inline)) void wrap_door_leave(wrap_door_t wt)
{
	__asm__ volatile("" ::: "memory");
	wrap_door_me.w -= wt;
}

/* For blocking wait loops (upper-p2p): 1 when the calling thread must leave the lower half
 * now (phase DRAIN or RESTORED), it is not the service thread, and this is its outermost MPI
 * call (a nested call cannot step out: its outer call is inside the lower MPICH). */
int wrap_door_must_step_out(void) WRAP_HIDDEN;
/* Step out: give the count back (in_mpi--), wait until the phase is RUN (or INTENT) again,
 * take it again. Call it with no lower-half state of this thread in use (between two Test
 * calls); afterwards look up the lower function and lower handles again (a restart may have
 * happened meanwhile). */
void wrap_door_step_out(void) WRAP_HIDDEN;

/* --- collective sequence numbers (wrap_seq.c) ---------------------------------------------- */

/* 1 for every collective entry point (index in mpi_functions.def), generated. */
extern const unsigned char wrap_seq_coll_fn[WRAP_NFUNCS] WRAP_HIDDEN;
/* After a constructor collective over a parent (whose bookkeeping is parent and whose seq was
 * pseq right after its door) made newvcomm: give it its parent-based gid (members: include
 * the membership, 0 for communicators not described yet, i.e. MPI_Comm_idup). */
void wrap_seq_child(struct wrap_seq *parent, uint64_t pseq, int newvcomm, int members) WRAP_HIDDEN;
/* The same for a new window (kind WRAP_VH_WIN) or file (WRAP_VH_FILE, vh = the pointer's
 * number): gid = hash(parent gid, pseq, kind); 0 (untracked) over an untracked parent. */
void wrap_seq_child_obj(struct wrap_seq *parent, uint64_t pseq, int kind, int64_t vh) WRAP_HIDDEN;
/* MPI_Start/Startall: WRAP_DOOR_COLL (and *vcomm) when one of the n virtual requests is a
 * persistent collective, else WRAP_DOOR_P2P; after the door, wrap_seq_start_more counts the
 * other persistent collectives among them. */
int wrap_seq_start_kind(const int *vreqs, int n, int *vcomm) WRAP_HIDDEN;
/* After a restart's rebuild (all ranks, same order): one MPI_Win_fence on every window whose
 * fence epoch was open. Returns the number that failed (reported). */
int wrap_seq_reopen_fences(void) WRAP_HIDDEN;
void wrap_seq_start_more(const int *vreqs, int n) WRAP_HIDDEN;

/* --- MPI_Finalize, MPI_Init* (wrap_ckpt.c) ------------------------------------------------------
 */

/* The door of MPI_Finalize: waits until no checkpoint runs (and none can start), marks the
 * rank finalized, tells the lower half (REP_FINALIZED), stops the service thread and frees
 * the private communicator. Returns the token for wrap_door_leave. */
wrap_door_t wrap_ckpt_finalize_enter(void) WRAP_HIDDEN;
/* After the lower MPI_Init* succeeded (on the initialising thread, inside its door): mailbox,
 * private communicator, service thread, REP_REGISTER. Returns MPI_SUCCESS or an MPI error. */
int wrap_ckpt_init(void) WRAP_HIDDEN;
/* The private communicator: a LOWER handle (MPI_COMM_NULL before MPI_Init*). */
MPI_Comm wrap_ckpt_private_comm(void) WRAP_HIDDEN;

/* --- for the service thread (wrap_ckpt.c) --------------------------------------------------- */

/* Register the calling thread as the service thread (never waits, never counted). */
void wrap_door_set_service(void) WRAP_HIDDEN;
/* Register with membarrier (again after a restart: a fresh process is not registered).
 * Returns 1 when MEMBARRIER_CMD_PRIVATE_EXPEDITED can be used. */
int wrap_door_membarrier_setup(void) WRAP_HIDDEN;
/* Make every thread's earlier stores visible and its later loads see ours (membarrier, or
 * nothing to do in fence mode). */
void wrap_door_barrier(void) WRAP_HIDDEN;
/* Wake every thread waiting at the door (after a phase or target change). */
void wrap_door_wake(void) WRAP_HIDDEN;
/* Targets: forget all; set one (only grows within a checkpoint); the target of a gid (0:
 * none yet). Only the service thread sets; any thread reads (lock-free). */
void wrap_door_targets_clear(void) WRAP_HIDDEN;
int wrap_door_target_set(uint64_t gid, uint64_t target) WRAP_HIDDEN;
uint64_t wrap_door_target(uint64_t gid) WRAP_HIDDEN;

/* A snapshot of the registered threads (service thread, after wrap_door_barrier). */
struct wrap_door_census {
	unsigned threads;   /* registered application threads */
	unsigned inside;    /* with in_mpi > 0 */
	unsigned in_coll;   /* inside a collective (outermost or not) */
	unsigned waiting;   /* waiting at the door for a collective */
	uint32_t max_depth; /* largest in_mpi seen */
	uint32_t tid[8];    /* thread ids of the first threads found inside MPI */
};
/* Walk the registry: counts; for each thread waiting for a collective, want(s, arg). */
void wrap_door_census(struct wrap_door_census *c, void (*want)(struct wrap_seq *s, void *arg),
		      void *arg) WRAP_HIDDEN;

#endif
