/*
 * restore_nolibc.c - the last step of a restart for one thread: load the kernel state of the
 * thread (FS/GS base, set_tid_address, robust list, rseq, sigaltstack) and jump into the saved
 * signal frame with rt_sigreturn, which restores every register and the signal mask.
 *
 * Called on a lower-half stack (a fresh clone, or the restarting main thread) after the arena
 * has been refilled; it never returns. The saved ucontext lies on the thread's own restored
 * stack, so rsp is simply pointed at it. Raw syscalls only: once FS is switched no lower-half
 * TLS may be touched.
 */
#include "lh.h"
#include "sys_nolibc.h"

#include <signal.h>

#define RSEQ_SIG 0x53053053
#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31)
#endif

/* Values the restarting lower half computes before calling; read only. */
long lh_rseq_off;
unsigned lh_rseq_len;

void __attribute__((noreturn)) lh_restore_thread(const struct lh_thread_ctx *c, int *tid_slot)
{
	uint64_t uc = c->uc_addr, fs = c->fs_base, gs = c->gs_base;
	uint64_t ctid = c->clear_tid, rh = c->robust_head, rl = c->robust_len;
	uint64_t ss_sp = c->ss_sp, ss_size = c->ss_size;
	int ss_flags = c->ss_flags;

	if (tid_slot)
		__atomic_store_n(tid_slot, (int)sys_gettid(), __ATOMIC_RELEASE);
	sys_call1(SYS_set_tid_address, ctid);
	if (rh)
		sys_call2(SYS_set_robust_list, rh, rl);
	if (gs)
		sys_arch_prctl(0x1001 /* ARCH_SET_GS */, gs);
	if (ss_sp && !(ss_flags & SS_DISABLE)) {
		stack_t ss = {.ss_sp = (void *)ss_sp, .ss_size = ss_size,
			      .ss_flags = ss_flags & SS_AUTODISARM};
		sys_call2(SYS_sigaltstack, &ss, 0);
	}
	if (lh.have_rseq && lh_rseq_len)
		sys_call4(SYS_rseq, fs + lh_rseq_off, lh_rseq_len, 0, RSEQ_SIG);
	lh_set_fs(fs);
	__asm__ volatile("mov %0, %%rsp\n"
			 "mov $15, %%eax\n"
			 "syscall\n"
			 "hlt\n"
			 :
			 : "r"(uc)
			 : "memory");
	__builtin_unreachable();
}
