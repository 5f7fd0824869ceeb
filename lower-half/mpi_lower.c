/*
 * mpi_lower.c - the MPI side of the lower half (built only into splitckpt-lh-mpi, which links
 * Debian's MPICH). Maps the contract (common/contract.h) at its fixed address below the arena
 * and fills it with MPICH's entry points, in the order of mpi-wrappers/mpi_functions.def; the
 * upper half's libmpich.so.12 look-alike (mpi-wrappers/) calls through it. MPI_Init itself is
 * called by the application, through the gate, on its main thread with the lower-half TLS of
 * that thread: MPICH initialises with the environment Hydra or Slurm gave the rank.
 */
#define LOG_PREFIX "lh"
#include "contract.h"
#include "lh.h"
#include "log.h"
#include "mpi_lower.h"
#include "sys_nolibc.h"

#include <dlfcn.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

/* The lower-half symbol of every entry of the list, in its order (contract fn[] index). */
static const char *const fn_names[] = {
#define WRAP_FN(kind, ret, name, sym, params, args, notes) sym,
#define WRAP_DATA(name, sym) sym,
#include "mpi_functions.def"
#undef WRAP_FN
#undef WRAP_DATA
};
#define NFUNCS (sizeof(fn_names) / sizeof(fn_names[0]))

/* Where the gate leaves the upper FS base of the thread using a lower TLS (contract). */
static __thread uint64_t upper_fs_slot;

extern uint64_t lh_mpi_tls_pool[];
extern int lh_mpi_tls_n;
uint64_t lh_mpi_thread_lower_fs(void);

static int shadow_word;

/* A shadow thread lends its TLS to one application thread and never runs again. */
static void *shadow(void *arg)
{
	uint64_t *out = arg;
	__atomic_store_n(out, (uint64_t)pthread_self(), __ATOMIC_RELEASE);
	for (;;)
		syscall(SYS_futex, &shadow_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	return NULL;
}

/* Makes SPLITCKPT_MPI_THREADS (default 8) lower TLS blocks for application threads. */
static int make_tls_pool(void)
{
	const char *e = getenv("SPLITCKPT_MPI_THREADS");
	int n = e ? atoi(e) : 8;
	if (n < 0)
		n = 0;
	if (n > 256)
		n = 256;
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, 64 * 1024);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	int made = 0;
	for (int i = 0; i < n; i++) {
		pthread_t t;
		lh_mpi_tls_pool[i] = 0;
		if (pthread_create(&t, &a, shadow, &lh_mpi_tls_pool[i]) != 0)
			break;
		while (!__atomic_load_n(&lh_mpi_tls_pool[i], __ATOMIC_ACQUIRE))
			sched_yield();
		made++;
	}
	pthread_attr_destroy(&a);
	__atomic_store_n(&lh_mpi_tls_n, made, __ATOMIC_RELEASE);
	return made;
}

static int efd = -1;
static pthread_once_t efd_once = PTHREAD_ONCE_INIT;
static struct lh_contract *contract;
static int forked_child; /* a fork of an MPI rank: MPI must not be used here */

/* The eventfd of the checkpoint thread (docs/mpi-ckpt.md), at LH_FD_MIN or above. */
static void make_efd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0) {
		log_perror("cannot make the eventfd of the MPI checkpoint");
		return;
	}
	int hi = fcntl(fd, F_DUPFD_CLOEXEC, LH_FD_MIN);
	close(fd);
	if (hi < 0)
		log_perror("cannot move the eventfd of the MPI checkpoint to fd %d or above",
			   LH_FD_MIN);
	efd = hi;
}

int lh_mpi_efd(void)
{
	pthread_once(&efd_once, make_efd);
	return efd;
}

struct lh_contract *lh_mpi_contract(void)
{
	return forked_child ? NULL : __atomic_load_n(&contract, __ATOMIC_ACQUIRE);
}

int lh_mpi_is_fork_child(void)
{
	return forked_child;
}

void lh_mpi_fork_child(void)
{
	forked_child = 1;
	pthread_once(&efd_once, make_efd); /* so that a later call makes none */
	if (efd >= 0)
		close(efd); /* the parent's: its service thread writes there */
	efd = -1;
}

int lh_mpi_setup(void)
{
	static int done;
	if (done)
		return 0; /* a restart sets up the contract before MPI_Init, long before this */
	size_t need = sizeof(struct lh_contract) + NFUNCS * sizeof(void *);
	if (need > LH_CONTRACT_SLOT) {
		log_err("the MPI function table does not fit the contract slot");
		return -1;
	}
	void *m = mmap((void *)LH_CONTRACT_ADDR, LH_CONTRACT_SLOT, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (m == MAP_FAILED || m != (void *)LH_CONTRACT_ADDR) {
		log_perror("cannot map the MPI contract at 0x%lx", LH_CONTRACT_ADDR);
		return -1;
	}
	struct lh_contract *c = m;
	c->magic = LH_CONTRACT_MAGIC;
	c->version = LH_CONTRACT_VERSION;
	c->size = sizeof(*c);
	c->nfuncs = NFUNCS;
	c->epoch = 1;
	c->main_lower_fs = lh.main_lower_fs;
	c->fsgsbase = lh_have_fsgsbase;
	int made = make_tls_pool();
	/* MPI_THREAD_MULTIPLE needs a lower TLS per thread; without a pool, SERIALIZED. */
	c->max_thread_level = made > 0 ? 3 : 2;
	c->thread_lower_fs = made > 0 ? lh_mpi_thread_lower_fs : 0;
	c->upper_fs_off = (int64_t)((char *)&upper_fs_slot - (char *)pthread_self());
	c->mpi_mailbox = NULL;
	c->mpi_efd = lh_mpi_efd();
	if (c->mpi_efd < 0)
		return -1;
	/* the vDSO is in glibc's link map as linux-vdso.so.1 (no file is opened) */
	void *vdso = dlopen("linux-vdso.so.1", RTLD_NOW | RTLD_NOLOAD);
	c->vdso_clock_gettime = vdso ? dlvsym(vdso, "__vdso_clock_gettime", "LINUX_2.6") : NULL;
	if (!c->vdso_clock_gettime)
		log_debug("no vDSO clock_gettime: MPI_Wtime makes a system call");
	size_t missing = 0;
	for (size_t i = 0; i < NFUNCS; i++) {
		c->fn[i] = dlsym(RTLD_DEFAULT, fn_names[i]);
		missing += !c->fn[i];
	}
	log_debug("MPI contract at 0x%lx: %zu functions, %zu missing in this MPICH",
		  LH_CONTRACT_ADDR, NFUNCS, missing);
	done = 1;
	__atomic_store_n(&contract, c, __ATOMIC_RELEASE);
	return 0;
}

/* Directory of the upper half's libmpich.so.12 look-alike: $SPLITCKPT_MPI_WRAPDIR, else next to
 * the installed lower half (../../lib/splitckpt/mpi), else in the build tree. */
static int wrapdir(char *out, size_t n)
{
	const char *e = getenv("SPLITCKPT_MPI_WRAPDIR");
	if (e && *e) {
		snprintf(out, n, "%s", e);
		return 0;
	}
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", lh.lh_path);
	char *s = strrchr(dir, '/');
	if (s)
		*s = 0;
	const char *cand[] = {"/../../lib/splitckpt/mpi", "/../../lib/x86_64-linux-gnu/splitckpt/mpi",
			      "/../mpi-wrappers/lib"};
	for (size_t i = 0; i < sizeof(cand) / sizeof(cand[0]); i++) {
		char p[PATH_MAX + 64], rp[PATH_MAX];
		snprintf(p, sizeof(p), "%s%s/libmpich.so.12", dir, cand[i]);
		if (realpath(p, rp)) {
			char *t = strrchr(rp, '/');
			*t = 0;
			snprintf(out, n, "%s", rp);
			return 0;
		}
	}
	return -1;
}

char **lh_mpi_upper_env(char **env)
{
	char dir[PATH_MAX];
	if (wrapdir(dir, sizeof(dir)) < 0) {
		log_err("cannot find splitckpt's libmpich.so.12 for the application (set "
			"SPLITCKPT_MPI_WRAPDIR or reinstall splitckpt)");
		return NULL;
	}
	int n = 0, have = -1;
	while (env[n]) {
		if (strncmp(env[n], "LD_LIBRARY_PATH=", 16) == 0)
			have = n;
		n++;
	}
	char **out = calloc(n + 2, sizeof(char *));
	if (!out)
		return NULL;
	for (int i = 0; i < n; i++)
		out[i] = env[i];
	size_t len = strlen(dir) + 32 + (have >= 0 ? strlen(env[have]) : 0);
	char *v = malloc(len);
	if (!v)
		return NULL;
	if (have >= 0 && env[have][16]) {
		snprintf(v, len, "LD_LIBRARY_PATH=%s:%s", dir, env[have] + 16);
		out[have] = v;
	} else if (have >= 0) {
		snprintf(v, len, "LD_LIBRARY_PATH=%s", dir);
		out[have] = v;
	} else {
		snprintf(v, len, "LD_LIBRARY_PATH=%s", dir);
		out[n++] = v;
	}
	out[n] = NULL;
	return out;
}
