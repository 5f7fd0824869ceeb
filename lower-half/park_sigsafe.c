/*
 * park_sigsafe.c - parking application threads for a checkpoint, and our signal plumbing.
 *
 * The checkpoint thread sends the checkpoint signal (SIGUSR2 by default) to every application
 * thread. The handler saves what only the thread itself can read (its ucontext on its own
 * stack, FS/GS base, set_tid_address pointer, robust list, sigaltstack), says "parked" and
 * waits on a futex until the checkpoint thread bumps resume_seq. At restart the thread is
 * recreated straight from the saved ucontext (restore_nolibc.c): no lower-half frame below the
 * signal frame is ever returned through.
 *
 * Runs with the application's FS base: raw syscalls only, no libc, no TLS.
 */
#include "lh.h"
#include "sys_nolibc.h"

#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/prctl.h>
#include <ucontext.h>

#ifndef PR_GET_TID_ADDRESS
#define PR_GET_TID_ADDRESS 40
#endif

__asm__(".text\n"
	".globl lh_sigreturn_tramp\n"
	".type lh_sigreturn_tramp,@function\n"
	"lh_sigreturn_tramp:\n"
	"	mov $15, %eax\n"
	"	syscall\n"
	"	hlt\n");

static struct lh_park_slot *my_slot(int tid)
{
	int n = __atomic_load_n(&lh.nslots, __ATOMIC_ACQUIRE);
	for (int i = 0; i < n; i++)
		if (lh.slots[i].rtid == tid)
			return &lh.slots[i];
	return 0;
}

/* The application's own handler for the checkpoint signal, if it set one. */
static void forward_to_app(int sig, siginfo_t *si, void *uc)
{
	struct lh_ksigaction *a = &lh.virt_act[1];
	if (a->handler <= 1 /* SIG_DFL, SIG_IGN */)
		return;
	if (a->flags & SA_SIGINFO)
		((void (*)(int, siginfo_t *, void *))a->handler)(sig, si, uc);
	else
		((void (*)(int))a->handler)(sig);
}

void lh_park_handler(int sig, siginfo_t *si, void *uc)
{
	/* Interrupted inside the lower half (a blocking call of the SIGSYS handler): do not park
	 * here; that handler raises the signal again once it is back at the application. */
	extern char __executable_start[], etext[];
	uint64_t ip = ((ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP];
	if (ip >= (uint64_t)__executable_start && ip < (uint64_t)etext)
		return;
	int me = (int)sys_gettid();
	struct lh_park_slot *s = __atomic_load_n(&lh.ckpt_active, __ATOMIC_ACQUIRE) ? my_slot(me) : 0;
	if (!s || si->si_code != SI_TKILL || si->si_pid != (int)sys_getpid()) {
		forward_to_app(sig, si, uc);
		return;
	}
	struct lh_thread_ctx *c = &s->ctx;
	c->uc_addr = (uint64_t)uc;
	c->fs_base = lh_get_fs();
	c->gs_base = 0;
	sys_arch_prctl(0x1004 /* ARCH_GET_GS */, (unsigned long)&c->gs_base);
	c->clear_tid = 0;
	sys_prctl(PR_GET_TID_ADDRESS, (unsigned long)&c->clear_tid, 0, 0, 0);
	size_t rlen = 0;
	c->robust_head = 0;
	sys_call3(SYS_get_robust_list, 0, &c->robust_head, &rlen);
	c->robust_len = rlen;
	stack_t ss = {0};
	sys_call2(SYS_sigaltstack, 0, &ss);
	c->ss_sp = (uint64_t)ss.ss_sp;
	c->ss_size = ss.ss_size;
	c->ss_flags = ss.ss_flags;
	c->vtid = lh_r2v(me);
	c->is_main = me == (int)sys_getpid();

	int seq = __atomic_load_n(&lh.resume_seq, __ATOMIC_ACQUIRE);
	__atomic_store_n(&s->state, 2, __ATOMIC_RELEASE);
	__atomic_add_fetch(&lh.parked, 1, __ATOMIC_ACQ_REL);
	sys_futex((int *)&lh.parked, FUTEX_WAKE, 1, 0);
	while (__atomic_load_n(&lh.resume_seq, __ATOMIC_ACQUIRE) == seq)
		sys_futex((int *)&lh.resume_seq, FUTEX_WAIT, seq, 0);
}

long lh_install_handlers(void)
{
	struct lh_ksigaction sa = {0};
	sa.handler = (uint64_t)lh_sigsys_handler;
	sa.flags = SA_SIGINFO | SA_RESTORER | SA_NODEFER;
	sa.restorer = (uint64_t)lh_sigreturn_tramp;
	sa.mask = ~(1ULL << (SIGSYS - 1));
	long r = sys_call4(SYS_rt_sigaction, SIGSYS, &sa, 0, 8);
	if (r < 0)
		return r;
	sa.handler = (uint64_t)lh_park_handler;
	sa.flags = SA_SIGINFO | SA_RESTORER | SA_RESTART;
	sa.mask = ~(1ULL << (SIGSYS - 1));
	return sys_call4(SYS_rt_sigaction, lh.ckpt_sig, &sa, 0, 8);
}
