/*
 * fork_sigsafe.c - a fork of the application (clone without CLONE_VM), done for it.
 *
 * The child must become a process of the job in its own right: its own checkpoint thread and
 * coordinator connection. That needs the lower half's libc, so the child borrows the lower-half
 * TLS of the original main thread (unused by anyone in the child) for the call to
 * lh_after_fork_child(), then goes back to the application's TLS. The busy word keeps the fork
 * from happening while the checkpoint thread is inside the lower half's libc (holding its
 * locks), so the child never inherits a held lower-half lock.
 *
 * vfork-like clones (CLONE_VM) are not trapped: such a child shares our memory and execs.
 * Runs inside the SIGSYS handler: raw syscalls only.
 */
#include "lh.h"
#include "sys_nolibc.h"

#include <errno.h>

long lh_fork(long flags, long sp, long ptid, long ctid, long tls)
{
	if (sp)
		return -EINVAL; /* a fork onto another stack would lose this frame */
	int zero = 0;
	while (!__atomic_compare_exchange_n(&lh.busy, &zero, 2, 0, __ATOMIC_ACQUIRE,
					    __ATOMIC_RELAXED)) {
		zero = 0;
		sys_call0(SYS_sched_yield);
	}
	int parent_vpid = lh.vpid;
	long r = sys_call5(SYS_clone, flags, 0, ptid, ctid, tls);
	if (r == 0) {
		unsigned long ufs = lh_get_fs();
		lh_set_fs(lh.main_lower_fs);
		lh_after_fork_child(parent_vpid);
		lh_set_fs(ufs);
		return 0;
	}
	__atomic_store_n(&lh.busy, 0, __ATOMIC_RELEASE);
	return r > 0 ? lh_r2v((int)r) : r;
}
