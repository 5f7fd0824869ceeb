/*
 * sys_nolibc.h - raw Linux x86-64 system calls for code that must not touch libc or TLS:
 * the SIGSYS and park signal handlers, the thread restorer, the arena bookkeeping.
 *
 * Every sys_* returns the kernel's result: >= 0 on success, -errno on failure. Nothing here
 * reads or writes errno, uses the stack protector or any thread-local variable, so these are
 * safe to call with the application's FS base loaded and inside signal handlers.
 */
#ifndef LH_SYS_NOLIBC_H
#define LH_SYS_NOLIBC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>

static inline long sys_call6(long n, long a, long b, long c, long d, long e, long f)
{
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

#define sys_call0(n) sys_call6((n), 0, 0, 0, 0, 0, 0)
#define sys_call1(n, a) sys_call6((n), (long)(a), 0, 0, 0, 0, 0)
#define sys_call2(n, a, b) sys_call6((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define sys_call3(n, a, b, c) sys_call6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define sys_call4(n, a, b, c, d) sys_call6((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define sys_call5(n, a, b, c, d, e)                                                                \
	sys_call6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

static inline long sys_mmap(void *addr, size_t len, int prot, int flags, int fd, long off)
{
	return sys_call6(SYS_mmap, (long)addr, (long)len, prot, flags, fd, off);
}
static inline long sys_munmap(void *addr, size_t len)
{
	return sys_call2(SYS_munmap, addr, len);
}
static inline long sys_mprotect(void *addr, size_t len, int prot)
{
	return sys_call3(SYS_mprotect, addr, len, prot);
}
static inline long sys_mremap(void *old, size_t olen, size_t nlen, int flags, void *naddr)
{
	return sys_call5(SYS_mremap, old, olen, nlen, flags, naddr);
}
static inline long sys_gettid(void)
{
	return sys_call0(SYS_gettid);
}
static inline long sys_getpid(void)
{
	return sys_call0(SYS_getpid);
}
static inline long sys_write(int fd, const void *b, size_t n)
{
	return sys_call3(SYS_write, fd, b, n);
}
static inline long sys_futex(int *uaddr, int op, int val, const void *ts)
{
	return sys_call6(SYS_futex, (long)uaddr, op, val, (long)ts, 0, 0);
}
static inline long sys_tgkill(int tgid, int tid, int sig)
{
	return sys_call3(SYS_tgkill, tgid, tid, sig);
}
static inline long sys_arch_prctl(int code, unsigned long addr)
{
	return sys_call2(SYS_arch_prctl, code, addr);
}
static inline long sys_prctl(int op, unsigned long a, unsigned long b, unsigned long c,
			     unsigned long d)
{
	return sys_call5(SYS_prctl, op, a, b, c, d);
}
static inline void __attribute__((noreturn)) sys_exit_group(int code)
{
	for (;;)
		sys_call1(SYS_exit_group, code);
}

/* Lengths of NUL-terminated strings and byte copies without libc. */
static inline size_t nl_strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}
static inline void nl_memcpy(void *d, const void *s, size_t n)
{
	char *dd = d;
	const char *ss = s;
	while (n--)
		*dd++ = *ss++;
}
static inline int nl_strncmp(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (a[i] != b[i])
			return (unsigned char)a[i] - (unsigned char)b[i];
		if (!a[i])
			return 0;
	}
	return 0;
}

/* FS base of the calling thread, read without a system call when the CPU allows it. */
extern int lh_have_fsgsbase;
static inline unsigned long lh_get_fs(void)
{
	unsigned long v = 0;
	if (lh_have_fsgsbase)
		__asm__ volatile("rdfsbase %0" : "=r"(v));
	else
		sys_arch_prctl(0x1003 /* ARCH_GET_FS */, (unsigned long)&v);
	return v;
}
static inline void lh_set_fs(unsigned long v)
{
	if (lh_have_fsgsbase)
		__asm__ volatile("wrfsbase %0" ::"r"(v) : "memory");
	else
		sys_arch_prctl(0x1002 /* ARCH_SET_FS */, v);
}

#endif
