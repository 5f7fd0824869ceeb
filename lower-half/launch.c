/*
 * launch.c - start an application as the upper half: map its program and ld.so into the
 * arena, build a fresh initial stack (argv, envp, auxv) there, and jump to ld.so.
 *
 * The auxiliary vector is the kernel's, with the program's values for AT_PHDR/AT_PHNUM/
 * AT_ENTRY/AT_BASE/AT_EXECFN, and without AT_SYSINFO_EHDR: the upper half runs without a
 * vDSO, so nothing in it points at a kernel page that moves on restart (docs/decisions.md).
 */
#define LOG_PREFIX "lh"
#include "launch.h"
#include "arena.h"
#include "elf_load.h"
#include "lh.h"
#include "log.h"
#include "sys_nolibc.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

/* Reads a "#!interp [arg]" line. Returns 1 for a script, 0 for not, -errno. */
static int read_shebang(const char *path, char *interp, size_t ilen, char *arg, size_t alen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char buf[256];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 2 || buf[0] != '#' || buf[1] != '!')
		return 0;
	buf[n] = 0;
	char *nl = strchr(buf, '\n');
	if (nl)
		*nl = 0;
	char *p = buf + 2;
	while (*p == ' ' || *p == '\t')
		p++;
	char *e = p;
	while (*e && *e != ' ' && *e != '\t')
		e++;
	if (e == p || (size_t)(e - p) >= ilen)
		return -ENOEXEC;
	memcpy(interp, p, e - p);
	interp[e - p] = 0;
	while (*e == ' ' || *e == '\t')
		e++;
	size_t al = strlen(e);
	while (al && (e[al - 1] == ' ' || e[al - 1] == '\t' || e[al - 1] == '\r'))
		al--;
	if (al >= alen)
		return -ENOEXEC;
	memcpy(arg, e, al);
	arg[al] = 0;
	return 1;
}

static size_t stack_size(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_STACK, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > (1UL << 30))
		return 64UL << 20;
	return rl.rlim_cur < (1UL << 20) ? (1UL << 20) : (rl.rlim_cur + 4095) & ~4095UL;
}

/* Builds the initial stack in the arena. Returns the stack pointer for the entry point. */
static uint64_t build_stack(int argc, char **argv, char **envp, const struct elf_info *prog,
			    const struct elf_info *interp, const char *execfn)
{
	size_t sz = stack_size();
	long base = arena_take(sz + 4096);
	if (base < 0)
		return 0;
	if (sys_mmap((void *)(base + 4096), sz, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) < 0)
		return 0;
	char *top = (char *)(base + 4096 + sz);
	char *sp = top;
	int envc = 0;
	while (envp[envc])
		envc++;
#define PUSH_STR(s)                                                                                \
	({                                                                                         \
		size_t l_ = strlen(s) + 1;                                                         \
		sp -= l_;                                                                          \
		memcpy(sp, (s), l_);                                                               \
		sp;                                                                                \
	})
	char *s_execfn = PUSH_STR(execfn);
	char *s_platform = PUSH_STR("x86_64");
	char **uargv = calloc(argc + 1, sizeof(char *));
	char **uenvp = calloc(envc + 1, sizeof(char *));
	if (!uargv || !uenvp)
		return 0;
	for (int i = argc; i-- > 0;)
		uargv[i] = PUSH_STR(argv[i]);
	for (int i = envc; i-- > 0;)
		uenvp[i] = PUSH_STR(envp[i]);
	sp -= 16;
	char *s_random = sp;
	if (getentropy(s_random, 16) < 0)
		memcpy(s_random, (void *)getauxval(AT_RANDOM), 16);

	uint64_t aux[64];
	int na = 0;
#define AUX(t, v)                                                                                  \
	do {                                                                                       \
		aux[na++] = (t);                                                                   \
		aux[na++] = (uint64_t)(v);                                                         \
	} while (0)
	AUX(AT_PHDR, prog->phdr);
	AUX(AT_PHENT, sizeof(Elf64_Phdr));
	AUX(AT_PHNUM, prog->phnum);
	AUX(AT_PAGESZ, getauxval(AT_PAGESZ));
	AUX(AT_BASE, interp ? interp->base : 0);
	AUX(AT_FLAGS, 0);
	AUX(AT_ENTRY, prog->entry);
	AUX(AT_UID, getauxval(AT_UID));
	AUX(AT_EUID, getauxval(AT_EUID));
	AUX(AT_GID, getauxval(AT_GID));
	AUX(AT_EGID, getauxval(AT_EGID));
	AUX(AT_SECURE, 0);
	AUX(AT_RANDOM, s_random);
	AUX(AT_HWCAP, getauxval(AT_HWCAP));
	AUX(AT_HWCAP2, getauxval(AT_HWCAP2));
	AUX(AT_CLKTCK, getauxval(AT_CLKTCK));
	AUX(AT_PLATFORM, s_platform);
	AUX(AT_EXECFN, s_execfn);
#ifdef AT_MINSIGSTKSZ
	if (getauxval(AT_MINSIGSTKSZ))
		AUX(AT_MINSIGSTKSZ, getauxval(AT_MINSIGSTKSZ));
#endif
	AUX(AT_NULL, 0);

	size_t words = 1 + (argc + 1) + (envc + 1) + na;
	uint64_t *w = (uint64_t *)(((uintptr_t)sp - words * 8) & ~15UL);
	uint64_t *q = w;
	*q++ = argc;
	for (int i = 0; i < argc; i++)
		*q++ = (uint64_t)uargv[i];
	*q++ = 0;
	for (int i = 0; i < envc; i++)
		*q++ = (uint64_t)uenvp[i];
	*q++ = 0;
	memcpy(q, aux, na * 8);
	free(uargv);
	free(uenvp);
	return (uint64_t)w;
}

static void __attribute__((noreturn)) jump_to(uint64_t entry, uint64_t sp)
{
	__asm__ volatile("mov %0, %%rsp\n"
			 "xor %%edx, %%edx\n"
			 "xor %%ebp, %%ebp\n"
			 "jmp *%1\n"
			 :
			 : "r"(sp), "r"(entry)
			 : "memory");
	__builtin_unreachable();
}

int lh_launch(const char *path, int argc, char **argv, char **app_envp)
{
	char err[512];
	char interp_s[4096], arg_s[256];
	char **nargv = argv;
	int nargc = argc;
	const char *prog_path = path;
	int sb = read_shebang(path, interp_s, sizeof(interp_s), arg_s, sizeof(arg_s));
	if (sb < 0) {
		log_err("cannot start %s: %s", path, strerror(-sb));
		return -1;
	}
	if (sb == 1) { /* like the kernel: interp [arg] script args[1..] */
		nargv = calloc(argc + 3, sizeof(char *));
		nargc = 0;
		nargv[nargc++] = interp_s;
		if (arg_s[0])
			nargv[nargc++] = arg_s;
		nargv[nargc++] = (char *)path;
		for (int i = 1; i < argc; i++)
			nargv[nargc++] = argv[i];
		prog_path = interp_s;
	}
	struct elf_info prog, interp;
	if (elf_probe(prog_path, &prog, err, sizeof(err)) < 0) {
		log_err("%s", err);
		return -1;
	}
	if (!prog.has_interp) {
		log_err("%s is statically linked; splitckpt needs a dynamically linked program "
			"(relink without -static)",
			prog_path);
		return -2;
	}
	if (elf_map(prog_path, &prog, err, sizeof(err)) < 0 ||
	    elf_map(prog.interp, &interp, err, sizeof(err)) < 0) {
		log_err("%s", err);
		return -1;
	}
	uint64_t sp = build_stack(nargc, nargv, app_envp, &prog, &interp, prog_path);
	if (!sp) {
		log_err("cannot build the initial stack of %s in the arena", prog_path);
		return -1;
	}
	snprintf(lh.app_exe, sizeof(lh.app_exe), "%s", prog_path);
	if (prog_path[0] != '/') {
		char *rp = realpath(prog_path, NULL);
		if (rp) {
			snprintf(lh.app_exe, sizeof(lh.app_exe), "%s", rp);
			free(rp);
		}
	}
	if (lh_enter_upper_prepare(lh.pidvirt) < 0)
		return -1;
	jump_to(interp.entry, sp);
}
