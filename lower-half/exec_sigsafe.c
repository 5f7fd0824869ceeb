/*
 * exec_sigsafe.c - an exec by the application, redirected through a fresh lower half.
 *
 * execve(path, argv, envp) becomes execve(<lower half>, ["splitckpt-lh", "--launch", path,
 * argv...], envp + our SPLITCKPT_* variables). Errors the application expects from execve
 * (no such file, not executable, not a program) are found first, so that execvp's PATH search
 * and shells keep working: once the lower half is exec'd there is no way back.
 * Runs inside the SIGSYS handler (possibly in a vfork child): raw syscalls only, and the only
 * memory it writes is a private buffer it maps and unmaps itself.
 */
#include "lh.h"
#include "sys_nolibc.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>

static long precheck(const char *path)
{
	long r = sys_call4(SYS_faccessat, -100 /* AT_FDCWD */, path, 1 /* X_OK */, 0);
	if (r < 0)
		return r;
	long fd = sys_call4(SYS_openat, -100, path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return fd == -EACCES ? 1 /* unreadable: let the kernel decide */ : fd;
	unsigned char hdr[4] = {0};
	long n = sys_call3(SYS_read, fd, hdr, 4);
	sys_call1(SYS_close, fd);
	if (n == -EISDIR)
		return -EACCES;
	if (n >= 2 && hdr[0] == '#' && hdr[1] == '!')
		return 0;
	if (n == 4 && hdr[0] == 0x7f && hdr[1] == 'E' && hdr[2] == 'L' && hdr[3] == 'F')
		return 0;
	return -ENOEXEC;
}

/* Writes "NAME=<n>" into buf (at least 48 bytes); returns buf. */
static char *fmt_id(char *buf, const char *name, long n)
{
	size_t k = nl_strlen(name);
	nl_memcpy(buf, name, k);
	char tmp[24];
	int t = 0;
	if (n < 0) {
		buf[k++] = '-';
		n = -n;
	}
	do {
		tmp[t++] = (char)('0' + n % 10);
		n /= 10;
	} while (n);
	while (t)
		buf[k++] = tmp[--t];
	buf[k] = 0;
	return buf;
}

long lh_exec(const char *path, char *const argv[], char *const envp[])
{
	if (!path)
		return -EFAULT;
	long pc = precheck(path);
	if (pc < 0)
		return pc;
	if (pc == 1)
		return sys_call3(SYS_execve, path, argv, envp);
	size_t argc = 0, envc = 0;
	while (argv && argv[argc])
		argc++;
	while (envp && envp[envc])
		envc++;
	size_t nptr = (3 + (argc ? argc : 1) + 1) + (envc + lh.npriv + 3);
	size_t ptrbytes = nptr * sizeof(char *);
	size_t bytes = (ptrbytes + 2 * 64 + 4095) & ~4095UL;
	long m = sys_mmap(0, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m < 0)
		return m;
	char **nargv = (char **)m;
	size_t k = 0;
	nargv[k++] = (char *)"splitckpt-lh";
	nargv[k++] = (char *)"--launch";
	nargv[k++] = (char *)path;
	if (argc == 0)
		nargv[k++] = (char *)path;
	for (size_t i = 0; i < argc; i++)
		nargv[k++] = argv[i];
	nargv[k++] = 0;
	char **nenv = nargv + k;
	k = 0;
	for (size_t i = 0; i < envc; i++)
		if (nl_strncmp(envp[i], "SPLITCKPT_", 10) != 0)
			nenv[k++] = envp[i];
	for (int i = 0; i < lh.npriv; i++)
		nenv[k++] = lh.priv_env[i];
	/* Who the new program is. In a vfork child (a process of its own that shares our
	 * memory) that is the child, whose real pid is its virtual pid, and we are its parent. */
	char *ids = (char *)m + ptrbytes;
	long real = sys_getpid();
	int vforked = real != lh.real_pid;
	nenv[k++] = fmt_id(ids, "SPLITCKPT_VPID=", vforked ? real : lh.vpid);
	nenv[k++] = fmt_id(ids + 64, "SPLITCKPT_VPPID=", vforked ? lh.vpid : lh.vppid);
	nenv[k] = 0;
	long r = sys_call3(SYS_execve, lh.lh_path, nargv, nenv);
	sys_munmap((void *)m, bytes);
	return r;
}
