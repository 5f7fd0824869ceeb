/*
 * park.c - the checkpoint thread's side of parking: find every application thread, signal it,
 * wait until each has parked (or gone), and let them all go again.
 *
 * Uses raw system calls only (getdents64 on /proc/self/task, tgkill, futex), so it holds no
 * lower-half libc lock while it waits for a thread that may itself be waiting for the busy word
 * in the fork path. Threads created while parking are found by scanning again until a scan
 * finds nothing new.
 */
#define LOG_PREFIX "lh"
#include "park.h"
#include "lh.h"
#include "log.h"
#include "sys_nolibc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <string.h>
#include <time.h>

/* tids of lower-half threads; 0 = free slot. Lock-free: slots are claimed with a CAS. */
#define MAX_LOWER 256
static int lower_tids[MAX_LOWER];

void park_add_lower_tid(int tid)
{
	for (int i = 0; i < MAX_LOWER; i++) {
		int zero = 0;
		if (__atomic_compare_exchange_n(&lower_tids[i], &zero, tid, 0, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED))
			return;
	}
	log_warn("more than %d lower-half threads; thread %d may be parked by mistake", MAX_LOWER,
		 tid);
}

void park_remove_lower_tid(int tid)
{
	for (int i = 0; i < MAX_LOWER; i++) {
		int t = tid;
		if (__atomic_compare_exchange_n(&lower_tids[i], &t, 0, 0, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED))
			return;
	}
}

void park_reset_lower_tids(void)
{
	for (int i = 0; i < MAX_LOWER; i++)
		__atomic_store_n(&lower_tids[i], 0, __ATOMIC_RELEASE);
}

static int is_lower(int tid)
{
	for (int i = 0; i < MAX_LOWER; i++)
		if (__atomic_load_n(&lower_tids[i], __ATOMIC_ACQUIRE) == tid)
			return 1;
	return 0;
}

static int slot_of(int tid)
{
	for (int i = 0; i < lh.nslots; i++)
		if (lh.slots[i].rtid == tid)
			return i;
	return -1;
}

/* One pass over /proc/self/task: signal threads not seen yet; mark vanished ones gone.
 * Returns how many new threads were signalled, or -errno. */
static int scan(int *seen_alive)
{
	long fd = sys_call3(SYS_open, "/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0)
		return (int)fd;
	char buf[4096];
	int fresh = 0, pid = (int)sys_getpid();
	int alive[LH_MAX_THREADS];
	int nalive = 0;
	for (;;) {
		long n = sys_call3(SYS_getdents64, fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			off += d->d_reclen;
			int tid = 0;
			for (const char *p = d->d_name; *p >= '0' && *p <= '9'; p++)
				tid = tid * 10 + (*p - '0');
			if (tid <= 0 || is_lower(tid))
				continue;
			if (nalive < LH_MAX_THREADS)
				alive[nalive++] = tid;
			if (slot_of(tid) >= 0)
				continue;
			if (lh.nslots >= LH_MAX_THREADS)
				continue;
			struct lh_park_slot *s = &lh.slots[lh.nslots];
			memset(s, 0, sizeof(*s));
			s->rtid = tid;
			s->state = 1;
			__atomic_store_n(&lh.nslots, lh.nslots + 1, __ATOMIC_RELEASE);
			if (sys_tgkill(pid, tid, lh.ckpt_sig) < 0)
				s->state = 3;
			else
				fresh++;
		}
	}
	sys_call1(SYS_close, fd);
	for (int i = 0; i < lh.nslots; i++) {
		int found = 0;
		for (int j = 0; j < nalive && !found; j++)
			found = alive[j] == lh.slots[i].rtid;
		if (!found && lh.slots[i].state == 1)
			lh.slots[i].state = 3;
	}
	*seen_alive = nalive;
	return fresh;
}

static int count_waiting(void)
{
	int w = 0;
	for (int i = 0; i < lh.nslots; i++)
		if (__atomic_load_n(&lh.slots[i].state, __ATOMIC_ACQUIRE) == 1)
			w++;
	return w;
}

int park_all(void)
{
	lh.nslots = 0;
	lh.parked = 0;
	__atomic_store_n(&lh.ckpt_active, 1, __ATOMIC_RELEASE);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int warned = 0;
	for (;;) {
		int alive = 0;
		int fresh = scan(&alive);
		if (fresh < 0)
			return fresh;
		if (fresh == 0 && count_waiting() == 0) {
			/* every thread seen is parked or gone: one more scan to catch late births */
			int again = scan(&alive);
			if (again == 0 && count_waiting() == 0)
				break;
			continue;
		}
		int p = __atomic_load_n(&lh.parked, __ATOMIC_ACQUIRE);
		struct timespec ts = {0, 10 * 1000 * 1000};
		sys_futex((int *)&lh.parked, FUTEX_WAIT, p, &ts);
		struct timespec t1;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (t1.tv_sec - t0.tv_sec >= 5 + 5 * warned) {
			warned++;
			for (int i = 0; i < lh.nslots; i++)
				if (lh.slots[i].state == 1) {
					log_warn("thread %d has not stopped for the checkpoint after %ld s "
						 "(blocked in the kernel?); still waiting",
						 lh.slots[i].rtid, (long)(t1.tv_sec - t0.tv_sec));
					/* resend in case it was masked at the time */
					sys_tgkill((int)sys_getpid(), lh.slots[i].rtid, lh.ckpt_sig);
				}
		}
	}
	return 0;
}

int park_count(void)
{
	int n = 0;
	for (int i = 0; i < lh.nslots; i++)
		if (lh.slots[i].state == 2)
			n++;
	return n;
}

void unpark_all(void)
{
	__atomic_store_n(&lh.ckpt_active, 0, __ATOMIC_RELEASE);
	__atomic_add_fetch(&lh.resume_seq, 1, __ATOMIC_ACQ_REL);
	sys_futex((int *)&lh.resume_seq, FUTEX_WAKE, 0x7fffffff, 0);
}
