/*
 * lh_main.c - entry of the lower-half program `splitckpt-lh`.
 *
 *   splitckpt-lh --launch /abs/prog argv0 args...   start prog as the upper half
 *   splitckpt-lh --restore [--no-strict-checking] ckpt_*.dmtcp
 *
 * The arena is reserved by a constructor that runs before any other constructor of ours, and
 * before main; the libraries of the lower half itself are mapped by the kernel and ld.so far
 * above it. Configuration comes from the SPLITCKPT_* environment (docs/INTERFACES.md), which
 * is removed from what the application sees.
 */
#define LOG_PREFIX "lh"
#include "arena.h"
#include "ckpt.h"
#include "ckpt_signal.h"
#include "image.h"
#include "launch.h"
#include "lh.h"
#include "log.h"
#include "restore.h"
#ifdef LH_WITH_MPI
#include "mpi_ckpt.h"
#include "mpi_lower.h"
#endif
#include "secret.h"
#include "sys_nolibc.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef HWCAP2_FSGSBASE
#define HWCAP2_FSGSBASE (1 << 1)
#endif

struct lh_state lh;
struct lh_config lhc;
int lh_have_fsgsbase;
static char arena_error[256];

__attribute__((constructor(101))) static void lh_reserve_arena(void)
{
	long r = arena_reserve();
	if (r < 0)
		snprintf(arena_error, sizeof(arena_error), "%s", strerror((int)-r));
}

static const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);
	return v && *v ? v : def;
}

void lh_config_load(void)
{
	snprintf(lhc.host, sizeof(lhc.host), "%s", env_or("SPLITCKPT_COORD_HOST", "localhost"));
	lhc.port = atoi(env_or("SPLITCKPT_COORD_PORT", "0"));
	snprintf(lhc.secret, sizeof(lhc.secret), "%s", env_or("SPLITCKPT_SECRET", ""));
	snprintf(lhc.ckptdir, sizeof(lhc.ckptdir), "%s", env_or("SPLITCKPT_CKPTDIR", ""));
	lhc.gzip = atoi(env_or("SPLITCKPT_GZIP", "1"));
	lhc.codec = img_codec_parse(env_or("SPLITCKPT_COMPRESS", ""));
	if (lhc.codec == -1) {
		lhc.gzip = 0;
	} else if (lhc.codec < 0) {
		log_warn("SPLITCKPT_COMPRESS='%s' is %s; using %s", getenv("SPLITCKPT_COMPRESS"),
			 lhc.codec == -3 ? "not built into this splitckpt" : "not zstd, zlib or none",
			 img_codec_name(img_default_codec()));
		lhc.codec = img_default_codec();
	}
	lhc.open_files = atoi(env_or("SPLITCKPT_CKPT_OPEN_FILES", "0"));
	lhc.quiet = atoi(env_or("SPLITCKPT_QUIET", "0"));
	lhc.interval = atoi(env_or("SPLITCKPT_INTERVAL", "0"));
	lhc.no_coord = atoi(env_or("SPLITCKPT_NO_COORD", "0")) || lhc.port <= 0;
	lhc.keep = atoi(env_or("SPLITCKPT_KEEP", "2"));
	lhc.forked = atoi(env_or("SPLITCKPT_FORKED", "1"));
	lhc.ckpt_threads = atoi(env_or("SPLITCKPT_CKPT_THREADS", "0"));
	const char *dio = env_or("SPLITCKPT_DIRECT_IO", "auto");
	lhc.direct_io = !strcmp(dio, "on") || !strcmp(dio, "1")	   ? 1
			: !strcmp(dio, "off") || !strcmp(dio, "0") ? -1
								   : 0;
	img_direct_reads = lhc.direct_io >= 0;
#ifdef LH_WITH_MPI
	lhc.forked = 0; /* a copy of a rank must never touch the network state of MPICH */
#endif
	snprintf(lhc.tmpdir, sizeof(lhc.tmpdir), "%s", env_or("SPLITCKPT_TMPDIR", "/tmp"));
	lh.ckpt_sig = atoi(env_or("SPLITCKPT_CKPT_SIGNAL", "12"));
	if (!ckpt_signal_usable(lh.ckpt_sig)) {
		/* (dmtcp_launch refuses these; only a hand-set environment gets here) */
		log_warn("SPLITCKPT_CKPT_SIGNAL=%s cannot be the checkpoint signal; using %d "
			 "(SIGUSR2)",
			 env_or("SPLITCKPT_CKPT_SIGNAL", ""), SIGUSR2);
		lh.ckpt_sig = SIGUSR2;
	}
	if (!getcwd(lhc.launch_cwd, sizeof(lhc.launch_cwd)))
		snprintf(lhc.launch_cwd, sizeof(lhc.launch_cwd), "/tmp");
	log_set_quiet(lhc.quiet);
}

void lh_new_upid(void)
{
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	uint64_t hid = 1469598103934665603ULL; /* FNV-1a of the host name */
	for (const char *p = host; *p; p++)
		hid = (hid ^ (unsigned char)*p) * 1099511628211ULL;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(lhc.upid, sizeof(lhc.upid), "%016llx-%d-%llx", (unsigned long long)hid, lh.vpid,
		 (unsigned long long)(ts.tv_sec * 1000000ULL + ts.tv_nsec / 1000));
}

/* Strings handed to an exec'd program: our configuration plus who we are. */
void lh_priv_env_build(void)
{
	static char ids[3][64];
	static char *kept[LH_MAX_PRIV_ENV];
	int n = 0;
	for (int i = 0; i < lh.npriv; i++)
		if (lh.priv_env[i] && strncmp(lh.priv_env[i], "SPLITCKPT_V", 11) &&
		    strncmp(lh.priv_env[i], "SPLITCKPT_PIDVIRT", 17) &&
		    strncmp(lh.priv_env[i], "SPLITCKPT_CKPT_SIGNAL=", 22) && n < LH_MAX_PRIV_ENV - 5)
			kept[n++] = lh.priv_env[i];
	lh.real_pid = getpid();
	snprintf(ids[0], sizeof(ids[0]), "SPLITCKPT_PIDVIRT=%d", lh.pidvirt);
	kept[n++] = ids[0];
	snprintf(ids[1], sizeof(ids[1]), "SPLITCKPT_CKPT_SIGNAL=%d", lh.ckpt_sig);
	kept[n++] = ids[1];
	for (int i = 0; i < n; i++)
		lh.priv_env[i] = kept[i];
	lh.npriv = n;
}

/* Takes every SPLITCKPT_* out of environ into lh.priv_env (strings stay where they are). */
static char **split_env(char **env)
{
	int n = 0;
	while (env[n])
		n++;
	char **app = calloc(n + 1, sizeof(char *));
	int k = 0;
	lh.npriv = 0;
	for (int i = 0; i < n; i++) {
		if (strncmp(env[i], "SPLITCKPT_", 10) == 0) {
			if (lh.npriv < LH_MAX_PRIV_ENV - 5 && strncmp(env[i], "SPLITCKPT_V", 11) &&
			    strncmp(env[i], "SPLITCKPT_PIDVIRT", 17))
				lh.priv_env[lh.npriv++] = strdup(env[i]);
		} else {
			app[k++] = env[i];
		}
	}
	app[k] = NULL;
	return app;
}

int lh_enter_upper_prepare(int pidvirt)
{
	lh.main_lower_fs = lh_get_fs();
	lh.pidvirt = pidvirt;
	lh_priv_env_build();
	/* Whoever exec'd us may have left our signals blocked; they must never be. */
	sigset_t ours;
	sigemptyset(&ours);
	sigaddset(&ours, SIGSYS);
	sigaddset(&ours, lh.ckpt_sig);
	sigprocmask(SIG_UNBLOCK, &ours, NULL);
	long r = lh_install_handlers();
	if (r < 0) {
		log_err("cannot install the signal handlers: %s", strerror((int)-r));
		return -1;
	}
	/* The application's libc registers its own rseq area on this thread. */
	extern const ptrdiff_t __rseq_offset __attribute__((weak));
	extern const unsigned int __rseq_size __attribute__((weak));
	extern long lh_rseq_off;
	extern unsigned lh_rseq_len;
	if (&__rseq_size && __rseq_size) {
		lh_rseq_off = __rseq_offset;
		lh_rseq_len = __rseq_size < 32 ? 32 : __rseq_size;
		long u = syscall(SYS_rseq, (void *)(lh.main_lower_fs + __rseq_offset), lh_rseq_len,
				 1 /* RSEQ_FLAG_UNREGISTER */, 0x53053053);
		lh.have_rseq = u == 0;
	}
#ifdef LH_WITH_MPI
	if (lh_mpi_setup() < 0)
		return -1;
#endif
	if (lh_seccomp_install(pidvirt) < 0)
		return -1;
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: splitckpt-lh --launch PROGRAM ARGV0 [ARGS...]\n"
			"       splitckpt-lh --restore [--no-strict-checking] IMAGE\n"
			"This is the lower half of splitckpt; run it through dmtcp_launch or "
			"dmtcp_restart.\n");
}

int main(int argc, char **argv, char **envp)
{
	lh_have_fsgsbase = (getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE) != 0;
	if (argc < 3) {
		usage();
		return 2;
	}
	lh_config_load();
	if (arena_error[0]) {
		log_err("cannot reserve the address range 0x%lx-0x%lx for the application: %s "
			"(something is mapped there already)",
			ARENA_BASE, ARENA_END, arena_error);
		return 1;
	}
	ssize_t n = readlink("/proc/self/exe", lh.lh_path, sizeof(lh.lh_path) - 1);
	if (n <= 0) {
		log_perror("cannot find the lower-half program itself");
		return 1;
	}
	lh.lh_path[n] = 0;
	char **app_env = split_env(envp);
	const char *v = getenv("SPLITCKPT_VPID");
	lh.vpid = v ? atoi(v) : getpid();
	v = getenv("SPLITCKPT_VPPID");
	lh.vppid = v ? atoi(v) : getppid();
	lh.parent_in_tree = getenv("SPLITCKPT_VPPID") != NULL;
	v = getenv("SPLITCKPT_PIDVIRT");
	int pidvirt = v ? atoi(v) : 0;

	if (strcmp(argv[1], "--launch") == 0 && argc >= 4) {
		const char *prog = argv[2];
		const char *base = strrchr(prog, '/');
		snprintf(lhc.progname, sizeof(lhc.progname), "%s", base ? base + 1 : prog);
		size_t off = 0;
		for (int i = 3; i < argc && off < sizeof(lhc.cmdline) - 2; i++)
			off += snprintf(lhc.cmdline + off, sizeof(lhc.cmdline) - off, "%s%s",
					i > 3 ? " " : "", argv[i]);
		lh_new_upid();
#ifdef LH_WITH_MPI
		app_env = lh_mpi_upper_env(app_env);
		if (!app_env)
			return 1;
#endif
		if (lh_ckpt_start() < 0)
			return 1;
		lh.pidvirt = pidvirt;
		int rc = lh_launch(prog, argc - 3, argv + 3, app_env);
		return rc == -2 ? 1 : 1;
	}
#ifdef LH_WITH_MPI
	if (strcmp(argv[1], "--mpi-abort") == 0) { /* dmtcp_restart refused this rank */
		environ = envp;
		lh_mpi_abort_job();
		return 1;
	}
#endif
	if (strcmp(argv[1], "--restore") == 0) {
		int strict = 1, i = 2;
		if (i < argc && strcmp(argv[i], "--no-strict-checking") == 0) {
			strict = 0;
			i++;
		}
		if (i >= argc) {
			usage();
			return 2;
		}
		environ = envp;
		lh_restore_many(argv + i, argc - i, strict);
		return 1;
	}
	usage();
	return 2;
}
