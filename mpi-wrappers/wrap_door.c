/*
 * wrap_door.c - the door's slow path (wrap_door.h): registering threads, waiting at the door,
 * stepping out of blocking calls, and what the service thread needs to see the threads
 * (membarrier, census, wake-up, targets).
 *
 * Registry: every thread that enters MPI once is put on a list (its wrap_door_me, in its own
 * static TLS) under reg_lock; a pthread key destructor takes it off when the thread exits, so
 * the service thread never reads the TLS of a dead thread. Registration happens in the slow
 * path of the thread's first call, before it reads the phase: a thread the service thread
 * does not see has not yet read the phase (docs/mpi-ckpt.md, section 1).
 *
 * Waiting: on door_word (private futex), which the service thread bumps after every phase or
 * target change (wrap_door_wake). A waiter reads the word before it checks, so a change made
 * after its check makes FUTEX_WAIT return at once.
 *
 * Targets: an open-addressing table gid -> target (twice LH_MPI_MAX_COMMS slots), written only
 * by the service thread, read lock-free by the door. Within a checkpoint targets only grow; a
 * stale (lower) value only makes a thread wait for the next wake-up.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "wrap.h"
#include "wrap_door.h"

__thread struct wrap_door_thread wrap_door_me __attribute__((tls_model("initial-exec")));
struct wrap_seq wrap_seq_world = {0, 1};
struct wrap_seq wrap_seq_untracked = {0, 0};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct wrap_door_thread *reg_head;
static pthread_key_t reg_key;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;
static int reg_key_ok;
static int mb_state; /* 0 not tried, 1 membarrier usable, -1 not: fence mode */
static uint32_t door_word;

static long sys_futex(uint32_t *addr, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, addr, op, val, ts, NULL, 0);
}

static void reg_remove_locked(struct wrap_door_thread *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else if (reg_head == t)
		reg_head = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->next = t->prev = NULL;
}

/* The thread exits: leave the list (its TLS goes away with it). */
static void reg_destructor(void *p)
{
	struct wrap_door_thread *t = p;
	pthread_mutex_lock(&reg_lock);
	reg_remove_locked(t);
	t->w &= WRAP_DOOR_DEPTH; /* unregistered: a later call registers again */
	pthread_mutex_unlock(&reg_lock);
}

static void reg_key_init(void)
{
	reg_key_ok = pthread_key_create(&reg_key, reg_destructor) == 0;
	if (!reg_key_ok)
		fprintf(stderr, "splitckpt: MPI door: pthread_key_create failed: exited threads "
				"stay registered (harmless unless they exit while inside MPI)\n");
}

int wrap_door_membarrier_setup(void)
{
	long q = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
	if (q >= 0 && (q & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
	    syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
		return 1;
	return 0;
}

static unsigned door_register(struct wrap_door_thread *me)
{
	unsigned mode;
	pthread_once(&reg_once, reg_key_init);
	pthread_mutex_lock(&reg_lock);
	if (mb_state == 0) {
		mb_state = wrap_door_membarrier_setup() ? 1 : -1;
		if (mb_state < 0)
			fprintf(stderr, "splitckpt: membarrier(PRIVATE_EXPEDITED) is not available "
					"on this kernel: every MPI call takes the door's slow path "
					"(a fence, a few ns)\n");
	}
	mode = mb_state > 0 ? WRAP_DOOR_MODE_FAST : WRAP_DOOR_MODE_FENCE;
	me->tid = (uint32_t)syscall(SYS_gettid);
	me->want = NULL;
	me->prev = NULL;
	me->next = reg_head;
	if (reg_head)
		reg_head->prev = me;
	reg_head = me;
	__atomic_store_n(&me->w, (me->w & WRAP_DOOR_DEPTH) | (mode << WRAP_DOOR_MODE_SHIFT),
			 __ATOMIC_RELAXED);
	pthread_mutex_unlock(&reg_lock);
	if (reg_key_ok)
		pthread_setspecific(reg_key, me);
	return mode;
}

void wrap_door_set_service(void)
{
	struct wrap_door_thread *me = &wrap_door_me;
	if ((me->w >> WRAP_DOOR_MODE_SHIFT) == WRAP_DOOR_MODE_NONE)
		door_register(me);
	pthread_mutex_lock(&reg_lock);
	me->w = (me->w & WRAP_DOOR_DEPTH) | (WRAP_DOOR_MODE_SERVICE << WRAP_DOOR_MODE_SHIFT);
	pthread_mutex_unlock(&reg_lock);
}

static inline uint32_t phase_now(void)
{
	return __atomic_load_n(&wrap_ckpt_mb.phase, __ATOMIC_ACQUIRE);
}

/* After taking the count again: order that store before the next phase load. */
static inline void after_store(struct wrap_door_thread *me)
{
	__asm__ volatile("" ::: "memory");
	if ((me->w >> WRAP_DOOR_MODE_SHIFT) == WRAP_DOOR_MODE_FENCE)
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static int may_pass(int kind, const struct wrap_seq *s, uint32_t ph)
{
	if (ph == LH_MPI_RUN)
		return 1;
	if (ph != LH_MPI_INTENT)
		return 0; /* DRAIN, RESTORED */
	if (kind != WRAP_DOOR_COLL)
		return kind != WRAP_DOOR_NONE;
	return s->gid == 0 || __atomic_load_n(&s->seq, __ATOMIC_RELAXED) < wrap_door_target(s->gid);
}

/* Wait (count given back) until may_pass. kind NONE: until RUN. */
static void door_wait(struct wrap_door_thread *me, int kind, struct wrap_seq *s, uint32_t wt)
{
	for (;;) {
		uint32_t word = __atomic_load_n(&door_word, __ATOMIC_ACQUIRE);
		if (may_pass(kind, s, phase_now()))
			break;
		if (kind == WRAP_DOOR_COLL)
			me->want = s;
		__asm__ volatile("" ::: "memory");
		me->w -= wt;
		long r = sys_futex(&door_word, FUTEX_WAIT_PRIVATE, word, NULL);
		if (r != 0 && errno != EAGAIN && errno != EINTR && errno != ETIMEDOUT)
			sched_yield(); /* cannot sleep (ENOSYS?): poll */
		me->w += wt;
		after_store(me);
	}
	me->want = NULL;
}

void wrap_door_slow(int kind, struct wrap_seq *s)
{
	struct wrap_door_thread *me = &wrap_door_me;
	uint32_t wt = kind == WRAP_DOOR_COLL ? WRAP_DOOR_W_COLL : WRAP_DOOR_W_CALL;
	unsigned mode = me->w >> WRAP_DOOR_MODE_SHIFT;
	if (mode == WRAP_DOOR_MODE_NONE)
		mode = door_register(me);
	if (mode == WRAP_DOOR_MODE_SERVICE)
		return;
	if (mode == WRAP_DOOR_MODE_FENCE)
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if ((me->w & WRAP_DOOR_DEPTH) != wt)
		return; /* nested: the outer call is inside already */
	if (may_pass(kind, s, phase_now()))
		return;
	door_wait(me, kind, s, wt);
}

int wrap_door_must_step_out(void)
{
	uint32_t ph = phase_now();
	if (ph != LH_MPI_DRAIN && ph != LH_MPI_RESTORED)
		return 0;
	uint32_t w = wrap_door_me.w;
	if ((w >> WRAP_DOOR_MODE_SHIFT) == WRAP_DOOR_MODE_SERVICE)
		return 0;
	return (w & WRAP_DOOR_DEPTH) == WRAP_DOOR_W_CALL;
}

void wrap_door_step_out(void)
{
	struct wrap_door_thread *me = &wrap_door_me;
	if ((me->w >> WRAP_DOOR_MODE_SHIFT) == WRAP_DOOR_MODE_SERVICE)
		return;
	/* as a P2P call: back to the loop in RUN, and also in INTENT (a next checkpoint that
	 * started before this thread woke up: point-to-point progress helps it settle) */
	door_wait(me, WRAP_DOOR_P2P, NULL, WRAP_DOOR_W_CALL);
}

/* Only the service thread: make the Dekker pair sound (see wrap_door.h). */
void wrap_door_barrier(void)
{
	if (mb_state > 0 && syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0)
		return;
	if (mb_state > 0) { /* e.g. a restarted process not registered yet */
		if (!wrap_door_membarrier_setup() ||
		    syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0)
			fprintf(stderr,
				"splitckpt: membarrier failed (%s): the MPI checkpoint "
				"cannot be sure no thread is inside MPI\n",
				strerror(errno));
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

void wrap_door_wake(void)
{
	__atomic_fetch_add(&door_word, 1, __ATOMIC_RELEASE);
	sys_futex(&door_word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
}

void wrap_door_census(struct wrap_door_census *c, void (*want)(struct wrap_seq *s, void *arg),
		      void *arg)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_lock(&reg_lock);
	for (struct wrap_door_thread *t = reg_head; t; t = t->next) {
		uint32_t w = __atomic_load_n(&t->w, __ATOMIC_RELAXED);
		if ((w >> WRAP_DOOR_MODE_SHIFT) == WRAP_DOOR_MODE_SERVICE)
			continue;
		c->threads++;
		uint32_t d = w & WRAP_DOOR_DEPTH;
		if (d) {
			if (c->inside < 8)
				c->tid[c->inside] = t->tid;
			c->inside++;
			if (d > c->max_depth)
				c->max_depth = d;
		}
		if (w & WRAP_DOOR_COLLS)
			c->in_coll++;
		struct wrap_seq *s = t->want;
		if (s && !d) {
			c->waiting++;
			if (want)
				want(s, arg);
		}
	}
	pthread_mutex_unlock(&reg_lock);
}

/* ---- targets ------------------------------------------------------------------------------ */

#define TSLOTS (2 * LH_MPI_MAX_COMMS) /* power of two */
static struct {
	uint64_t gid, target;
} ttab[TSLOTS];

static uint32_t tslot(uint64_t gid) { return (uint32_t)(gid ^ (gid >> 29)) & (TSLOTS - 1); }

void wrap_door_targets_clear(void)
{
	for (uint32_t i = 0; i < TSLOTS; i++) {
		__atomic_store_n(&ttab[i].gid, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&ttab[i].target, 0, __ATOMIC_RELAXED);
	}
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

int wrap_door_target_set(uint64_t gid, uint64_t target)
{
	if (gid == 0)
		return 0;
	for (uint32_t i = tslot(gid), n = 0; n < TSLOTS; i = (i + 1) & (TSLOTS - 1), n++) {
		uint64_t g = __atomic_load_n(&ttab[i].gid, __ATOMIC_RELAXED);
		if (g != 0 && g != gid)
			continue;
		__atomic_store_n(&ttab[i].target, target, __ATOMIC_RELAXED);
		if (g == 0)
			__atomic_store_n(&ttab[i].gid, gid, __ATOMIC_RELEASE);
		return 0;
	}
	return -1;
}

uint64_t wrap_door_target(uint64_t gid)
{
	for (uint32_t i = tslot(gid), n = 0; n < TSLOTS; i = (i + 1) & (TSLOTS - 1), n++) {
		uint64_t g = __atomic_load_n(&ttab[i].gid, __ATOMIC_ACQUIRE);
		if (g == gid)
			return __atomic_load_n(&ttab[i].target, __ATOMIC_RELAXED);
		if (g == 0)
			return 0;
	}
	return 0;
}
