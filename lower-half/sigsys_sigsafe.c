/*
 * sigsys_sigsafe.c - the SIGSYS handler that emulates the upper half's trapped system calls.
 *
 * The seccomp filter (seccomp.c) traps, for code running inside the arena only: the memory
 * calls (kept inside the arena), signal dispositions and masks (our two signals stay ours and
 * are never blocked), fork-like clone (so the child gets its own checkpoint thread), exec (so
 * the new program runs under a lower half again), closing or dup2-ing over the lower half's
 * descriptors, exit_group (held back while a forked checkpoint is still being reported), and,
 * in restarted processes, every call that takes or returns a pid or tid.
 *
 * Runs on the application's stack with the application's FS base: raw syscalls only, no libc,
 * no TLS, no stack protector. The checkpoint signal is blocked while it runs.
 */
#include "arena.h"
#include "lh.h"
#include "sys_nolibc.h"

#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>

#define SIGBIT(s) (1ULL << ((s) - 1))

static uint64_t our_sigs(void)
{
	return SIGBIT(SIGSYS) | SIGBIT(lh.ckpt_sig);
}

static void thr_lock(void)
{
	while (__atomic_exchange_n(&lh.thr_lock, 1, __ATOMIC_ACQUIRE))
		__builtin_ia32_pause();
}
static void thr_unlock(void)
{
	__atomic_store_n(&lh.thr_lock, 0, __ATOMIC_RELEASE);
}

int lh_v2r(int v)
{
	if (!lh.pidvirt || v <= 0)
		return v;
	if (v == lh.vpid)
		return (int)sys_getpid();
	int r = v;
	thr_lock();
	for (int i = 0; i < lh.nthr; i++)
		if (lh.thr[i].v == v) {
			r = lh.thr[i].r;
			goto out;
		}
	for (int i = 0; i < lh.nproc; i++)
		if (lh.proc[i].v == v) {
			r = lh.proc[i].r;
			break;
		}
out:
	thr_unlock();
	return r;
}

int lh_r2v(int r)
{
	if (!lh.pidvirt || r <= 0)
		return r;
	if (r == (int)sys_getpid())
		return lh.vpid;
	int v = r;
	thr_lock();
	for (int i = 0; i < lh.nthr; i++)
		if (lh.thr[i].r == r) {
			v = lh.thr[i].v;
			goto out;
		}
	for (int i = 0; i < lh.nproc; i++)
		if (lh.proc[i].r == r) {
			v = lh.proc[i].v;
			break;
		}
out:
	thr_unlock();
	return v;
}

static long do_sigaction(int sig, const struct lh_ksigaction *act, struct lh_ksigaction *oact,
			 long sz)
{
	if (sz != 8)
		return -EINVAL;
	if (sig == SIGSYS || sig == lh.ckpt_sig) {
		struct lh_ksigaction *v = &lh.virt_act[sig == SIGSYS ? 0 : 1];
		struct lh_ksigaction old = *v;
		if (act)
			*v = *act;
		if (oact)
			*oact = old;
		return 0;
	}
	if (!act)
		return sys_call4(SYS_rt_sigaction, sig, 0, oact, 8);
	struct lh_ksigaction k = *act;
	k.mask &= ~our_sigs();
	return sys_call4(SYS_rt_sigaction, sig, &k, oact, 8);
}

/* The mask the application will run with is the one in its signal frame: the kernel loads
 * uc_sigmask at our sigreturn. So the call is done on that saved mask, not on the mask this
 * handler runs under. */
static long do_sigprocmask(ucontext_t *uc, int how, const uint64_t *set, uint64_t *oset, long sz)
{
	if (sz != 8)
		return -EINVAL;
	uint64_t cur;
	nl_memcpy(&cur, &uc->uc_sigmask, 8);
	uint64_t next = cur;
	if (set) {
		uint64_t s = *set;
		if (how == SIG_BLOCK)
			next = cur | s;
		else if (how == SIG_UNBLOCK)
			next = cur & ~s;
		else if (how == SIG_SETMASK)
			next = s;
		else
			return -EINVAL;
		next &= ~(our_sigs() | SIGBIT(SIGKILL) | SIGBIT(SIGSTOP));
	}
	if (oset)
		*oset = cur;
	nl_memcpy(&uc->uc_sigmask, &next, 8);
	return 0;
}

static long do_close_range(unsigned first, unsigned last, unsigned flags)
{
	/* Never let the application close the lower half's descriptors. */
	if (first >= LH_FD_MIN)
		return 0;
	if (last >= LH_FD_MIN)
		last = LH_FD_MIN - 1;
	return sys_call3(SYS_close_range, first, last, flags);
}

/* Pid-taking calls, with pid arguments and results translated. */
static long do_wait4(int pid, int *status, int opts, void *ru)
{
	if (pid > 0)
		pid = lh_v2r(pid);
	else if (pid < -1)
		pid = -lh_v2r(-pid);
	long r = sys_call4(SYS_wait4, pid, status, opts, ru);
	return r > 0 ? lh_r2v((int)r) : r;
}

static long do_waitid(int type, int id, siginfo_t *si, int opts, void *ru)
{
	if (type == P_PID || type == P_PGID)
		id = lh_v2r(id);
	long r = sys_call5(SYS_waitid, type, id, si, opts, ru);
	if (r == 0 && si && si->si_pid)
		si->si_pid = lh_r2v(si->si_pid);
	return r;
}

static long do_kill(int pid, int sig)
{
	if (pid > 0)
		pid = lh_v2r(pid);
	else if (pid < -1)
		pid = -lh_v2r(-pid);
	return sys_call2(SYS_kill, pid, sig);
}

long lh_fork(long flags, long sp, long ptid, long ctid, long tls); /* fork_sigsafe.c */
long lh_exec(const char *path, char *const argv[], char *const envp[]); /* exec_sigsafe.c */

/* readlink of /proc/self/exe names the application, not the lower half (ld.so's $ORIGIN). */
static int is_self_exe(const char *p)
{
	return p && (nl_strncmp(p, "/proc/self/exe", 15) == 0 ||
		     nl_strncmp(p, "/proc/thread-self/exe", 22) == 0);
}

static long do_readlink(int dirfd, const char *p, char *buf, long sz)
{
	if (!is_self_exe(p) || !lh.app_exe[0])
		return sys_call4(SYS_readlinkat, dirfd, p, buf, sz);
	long n = (long)nl_strlen(lh.app_exe);
	if (n > sz)
		n = sz;
	nl_memcpy(buf, lh.app_exe, n);
	return n;
}

static long emulate(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
	switch (nr) {
	case SYS_mmap:
		return arena_mmap(a0, a1, (int)a2, (int)a3, (int)a4, a5);
	case SYS_munmap:
		return arena_munmap(a0, a1);
	case SYS_mremap:
		return arena_mremap(a0, a1, a2, (int)a3, a4);
	case SYS_brk:
		return arena_brk(a0);
	case SYS_rt_sigaction:
		return do_sigaction((int)a0, (void *)a1, (void *)a2, a3);
	case SYS_close:
		if ((int)a0 >= LH_FD_MIN)
			return -EBADF;
		return sys_call1(SYS_close, a0);
	case SYS_close_range:
		return do_close_range((unsigned)a0, (unsigned)a1, (unsigned)a2);
	case SYS_dup2:
		if ((int)a1 >= LH_FD_MIN)
			return -EBADF;
		return sys_call2(SYS_dup2, a0, a1);
	case SYS_dup3:
		if ((int)a1 >= LH_FD_MIN)
			return -EBADF;
		return sys_call3(SYS_dup3, a0, a1, a2);
	case SYS_fork:
		return lh_fork(SIGCHLD, 0, 0, 0, 0);
	case SYS_clone:
		return lh_fork(a0, a1, a2, a3, a4);
	case SYS_execve:
		return lh_exec((const char *)a0, (char *const *)a1, (char *const *)a2);
	case SYS_execveat: {
		const char *p = (const char *)a1;
		if ((int)a0 == -100 /* AT_FDCWD */ || (p && p[0] == '/'))
			return lh_exec(p, (char *const *)a2, (char *const *)a3);
		return sys_call5(SYS_execveat, a0, a1, a2, a3, a4);
	}
	case SYS_readlink:
		return do_readlink(-100, (const char *)a0, (char *)a1, a2);
	case SYS_readlinkat:
		return do_readlink((int)a0, (const char *)a1, (char *)a2, a3);
	case SYS_getpid:
		return lh.vpid;
	case SYS_gettid:
		return lh_r2v((int)sys_gettid());
	case SYS_getppid:
		return lh.parent_in_tree ? lh.vppid : sys_call0(SYS_getppid);
	case SYS_kill:
		return do_kill((int)a0, (int)a1);
	case SYS_tgkill:
		return sys_tgkill(lh_v2r((int)a0), lh_v2r((int)a1), (int)a2);
	case SYS_tkill:
		return sys_call2(SYS_tkill, lh_v2r((int)a0), a1);
	case SYS_wait4:
		return do_wait4((int)a0, (int *)a1, (int)a2, (void *)a3);
	case SYS_waitid:
		return do_waitid((int)a0, (int)a1, (siginfo_t *)a2, (int)a3, (void *)a4);
	case SYS_getpgid:
		return lh_r2v((int)sys_call1(SYS_getpgid, lh_v2r((int)a0)));
	case SYS_getpgrp:
		return lh_r2v((int)sys_call0(SYS_getpgrp));
	case SYS_getsid:
		return lh_r2v((int)sys_call1(SYS_getsid, lh_v2r((int)a0)));
	case SYS_setpgid:
		return sys_call2(SYS_setpgid, lh_v2r((int)a0), lh_v2r((int)a1));
	case SYS_sched_setaffinity:
	case SYS_sched_getaffinity:
	case SYS_sched_setscheduler:
	case SYS_sched_getscheduler:
	case SYS_sched_setparam:
	case SYS_sched_getparam:
	case SYS_prlimit64:
	case SYS_rt_sigqueueinfo:
		return sys_call6(nr, lh_v2r((int)a0), a1, a2, a3, a4, a5);
	case SYS_rt_tgsigqueueinfo:
		return sys_call4(nr, lh_v2r((int)a0), lh_v2r((int)a1), a2, a3);
	default:
		return sys_call6(nr, a0, a1, a2, a3, a4, a5);
	}
}

/*
 * A call that can block for long (waiting for a child) runs with the application's own signal
 * mask, so its handlers and our checkpoint signal get through. If the checkpoint signal
 * interrupts it, the application is put back just before its syscall instruction and the
 * signal raised again: it parks with a context that holds no lower-half frame, and after the
 * checkpoint (or a restart) simply makes the call again.
 */
static int blocking_call(ucontext_t *uc, long nr, greg_t *g)
{
	uint64_t app_mask, old;
	nl_memcpy(&app_mask, &uc->uc_sigmask, 8);
	app_mask &= ~our_sigs();
	sys_call4(SYS_rt_sigprocmask, SIG_SETMASK, &app_mask, &old, 8);
	long r = emulate(nr, g[REG_RDI], g[REG_RSI], g[REG_RDX], g[REG_R10], g[REG_R8], g[REG_R9]);
	sys_call4(SYS_rt_sigprocmask, SIG_SETMASK, &old, 0, 8);
	if (r == -EINTR && __atomic_load_n(&lh.ckpt_active, __ATOMIC_ACQUIRE)) {
		g[REG_RIP] -= 2; /* "syscall" is two bytes */
		g[REG_RAX] = nr;
		sys_tgkill((int)sys_getpid(), (int)sys_gettid(), lh.ckpt_sig);
		return 0;
	}
	g[REG_RAX] = r;
	return 0;
}

/*
 * exit_group and exec between GO and the end of a forked checkpoint: the application already
 * runs again while the writer child finishes its image, and the checkpoint thread still has
 * to report it. Ending the process now would close its connection to the coordinator and fail
 * the whole generation (a bash loop's short-lived `sleep` did). Wait until the generation is
 * over (a few ms to seconds: the image is being written), then go on. Nothing waits before GO:
 * a thread that is still to be parked must not block here with the checkpoint signal masked.
 */
static void wait_generation_closed(void)
{
	for (;;) {
		int open = __atomic_load_n(&lh.gen_open, __ATOMIC_ACQUIRE);
		if (!open)
			return;
		struct timespec ts = {0, 100 * 1000 * 1000};
		sys_futex((int *)&lh.gen_open, FUTEX_WAIT, open, &ts);
	}
}

void lh_sigsys_handler(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	ucontext_t *uc = ucv;
	greg_t *g = uc->uc_mcontext.gregs;
	long nr = si->si_syscall;
	if (nr == SYS_exit_group || nr == SYS_execve || nr == SYS_execveat)
		wait_generation_closed();
	if (nr == SYS_exit_group)
		sys_call1(SYS_exit_group, g[REG_RDI]); /* does not return */
	if (nr == SYS_wait4 || nr == SYS_waitid) {
		blocking_call(uc, nr, g);
		return;
	}
	if (nr == SYS_rt_sigprocmask) {
		g[REG_RAX] = do_sigprocmask(uc, (int)g[REG_RDI], (const uint64_t *)g[REG_RSI],
					    (uint64_t *)g[REG_RDX], g[REG_R10]);
		return;
	}
	if (nr == SYS_execve || nr == SYS_execveat) {
		/* The new program must start with the application's signal mask, not with the
		 * all-blocked mask this handler runs under. */
		uint64_t app_mask, old;
		nl_memcpy(&app_mask, &uc->uc_sigmask, 8);
		app_mask &= ~our_sigs();
		sys_call4(SYS_rt_sigprocmask, SIG_SETMASK, &app_mask, &old, 8);
		long r = emulate(nr, g[REG_RDI], g[REG_RSI], g[REG_RDX], g[REG_R10], g[REG_R8],
				 g[REG_R9]);
		sys_call4(SYS_rt_sigprocmask, SIG_SETMASK, &old, 0, 8);
		g[REG_RAX] = r;
		return;
	}
	g[REG_RAX] = emulate(nr, g[REG_RDI], g[REG_RSI], g[REG_RDX], g[REG_R10], g[REG_R8],
			     g[REG_R9]);
}
