/*
 * wrap_wtime.c - MPI_Wtime and MPI_Wtick answered in the upper half, without the call gate.
 *
 * MPICH 4.0.2 (Debian; MPL timer kind clock_gettime) returns CLOCK_REALTIME minus an epoch:
 * the whole seconds of the time of MPI_Init, rounded down to the hour (so that a double keeps
 * nanoseconds), and MPI_Wtick = clock_getres(CLOCK_REALTIME). We do the same with our own
 * epoch, taken on the first call and kept in upper memory (it is saved in the image).
 *
 * The clock: the upper half has no vDSO (docs/decisions.md), so its libc's clock_gettime is a
 * system call. The lower half publishes its vDSO's clock_gettime in the contract
 * (vdso_clock_gettime, filled again after every restart); vDSO code touches no TLS, so we
 * call it directly on the upper TLS. That happens inside the door (a LOCAL call): a thread is
 * never parked inside the vDSO, whose address changes with the process (the checkpoint parks
 * threads only when none is inside MPI). Before MPI_Init and after MPI_Finalize the call goes
 * to the lower MPICH as before (MPICH 4.0.2 refuses it there: "Attempting to use an MPI
 * routine before initializing or after finalizing"). In a rank whose checkpoint service did
 * not start, the lower half may park a thread anywhere, so there the upper libc's
 * clock_gettime (a system call, about 0.2 us) is used instead. Without any lower half both
 * fail like every MPI call (one message, 0.0).
 *
 * Across a restart: a natively restarted MPICH would take a new epoch (the hour of the
 * restart) and MPI_Wtime could jump back by hours. Ours keeps the epoch of the first run,
 * so time measured across a checkpoint includes the time the job was down (wall-clock time,
 * as MPI_Wtime means). Another node's clock may be a little behind this one's: so that no
 * thread ever sees its MPI_Wtime go backwards, each thread remembers its last value and,
 * on its first call in a new lower half (contract epoch), raises a process-wide shift by what
 * the clock fell behind it. The shift only grows; it is 0 unless a clock was behind.
 */
#include <time.h>

#include "wrap.h"
#include "wrap_door.h"

typedef int (*clock_fn)(clockid_t, struct timespec *);

static int64_t wt_epoch_s;    /* CLOCK_REALTIME seconds at the first call, hour-aligned */
static int64_t wt_shift_ns;   /* added after a restart whose clock was behind (grows) */
static double wt_tick;	      /* clock_getres(CLOCK_REALTIME), asked once */
static __thread double wt_last __attribute__((tls_model("initial-exec")));
static __thread uint64_t wt_seen __attribute__((tls_model("initial-exec"))); /* contract epoch */

/* The vDSO clock_gettime, when calling it is safe (see above), else NULL. */
static inline clock_fn vdso_clock(const struct lh_contract *c)
{
	if (c->size < offsetof(struct lh_contract, vdso_clock_gettime) + sizeof(void *) ||
	    c->mpi_mailbox != &wrap_ckpt_mb ||
	    __atomic_load_n(&wrap_ckpt_mb.finalized, __ATOMIC_RELAXED))
		return NULL;
	return (clock_fn)c->vdso_clock_gettime;
}

static double seconds(const struct timespec *ts)
{
	return (double)(ts->tv_sec - wt_epoch_s) + 1.0e-9 * (double)(ts->tv_nsec + wt_shift_ns);
}

/* First call of this thread in this lower half (or ever): epoch, and the shift after a
 * restart. Returns the time to give. */
static __attribute__((noinline)) double wtime_slow(const struct timespec *ts, uint64_t epoch)
{
	int64_t e0 = 0, e = ts->tv_sec - ts->tv_sec % 3600;
	__atomic_compare_exchange_n(&wt_epoch_s, &e0, e, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	double v = seconds(ts);
	if (wt_seen != 0 && v < wt_last) { /* a restart on a node whose clock is behind */
		int64_t need = (int64_t)((wt_last - v) * 1e9) + 1, cur = wt_shift_ns;
		while (!__atomic_compare_exchange_n(&wt_shift_ns, &cur, cur + need, 0,
						    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			;
		v = seconds(ts);
		if (v < wt_last) /* (rounding) */
			v = wt_last;
	}
	wt_seen = epoch;
	return v;
}

WRAP_EXPORT double PMPI_Wtime(void)
{
	struct timespec ts;
	wrap_door_t d_ = wrap_door_enter(WRAP_DOOR_LOCAL, 0);
	const struct lh_contract *c = wrap_contract_ok ? wrap_contract_ok : wrap_contract_check();
	if (__builtin_expect(c == NULL, 0)) { /* no lower half: fails like every MPI call */
		wrap_door_leave(d_);
		return (wrap_unavailable(WRAP_IDX_MPI_Wtime), 0.0);
	}
	if (__builtin_expect(wrap_ckpt_mb.magic != LH_MPI_MAILBOX_MAGIC ||
				 __atomic_load_n(&wrap_ckpt_mb.finalized, __ATOMIC_RELAXED),
			     0)) { /* before MPI_Init, after MPI_Finalize: MPICH's answer */
		double r;
		WRAP_DOWN(r, MPI_Wtime);
		wrap_door_leave(d_);
		return r;
	}
	clock_fn f = vdso_clock(c);
	if (__builtin_expect(f == NULL || f(CLOCK_REALTIME, &ts) != 0, 0))
		clock_gettime(CLOCK_REALTIME, &ts); /* cannot fail for CLOCK_REALTIME */
	uint64_t epoch = c->epoch;
	double v = __builtin_expect(wt_seen == epoch && wt_epoch_s != 0, 1) ? seconds(&ts)
									    : wtime_slow(&ts, epoch);
	wt_last = v;
	wrap_door_leave(d_);
	return v;
}
WRAP_ALIAS(PMPI_Wtime, MPI_Wtime)

WRAP_EXPORT double PMPI_Wtick(void)
{
	double t = wt_tick;
	if (__builtin_expect(wrap_ckpt_mb.magic != LH_MPI_MAILBOX_MAGIC ||
				 __atomic_load_n(&wrap_ckpt_mb.finalized, __ATOMIC_RELAXED),
			     0)) { /* before MPI_Init, after MPI_Finalize: MPICH's answer */
		wrap_door_t d_ = wrap_door_enter(WRAP_DOOR_LOCAL, 0);
		WRAP_DOWN(t, MPI_Wtick);
		wrap_door_leave(d_);
		return t;
	}
	if (__builtin_expect(t == 0, 0)) {
		struct timespec res;
		/* MPL's rule: the clock's resolution, or 1 us when the clock cannot say */
		t = clock_getres(CLOCK_REALTIME, &res) == 0 && (res.tv_sec || res.tv_nsec)
			? (double)res.tv_sec + 1.0e-9 * (double)res.tv_nsec
			: 1.0e-6;
		wt_tick = t;
	}
	return t;
}
WRAP_ALIAS(PMPI_Wtick, MPI_Wtick)
