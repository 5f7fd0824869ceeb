/*
 * lh.h - state of the lower half shared between its libc side (loader, checkpoint thread,
 * restorer) and its signal-safe side (SIGSYS emulation, park handler, thread restorer).
 *
 * There is one instance, `lh`, in the lower half's data. Fields read by signal handlers are
 * written only before the upper half starts, or with atomics. Virtual ids: a process keeps the
 * pid and tids it had at launch; after a restart the kernel gives new ones and the tables
 * below translate (pid virtualisation is switched on only in restarted processes).
 */
#ifndef LH_LH_H
#define LH_LH_H

#include <signal.h>
#include <stdint.h>

#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif

#define LH_MAX_THREADS 1024
#define LH_MAX_PROCS 256
#define LH_FD_MIN 990 /* the lower half's own descriptors live at or above this */
#define LH_MAX_PRIV_ENV 24

/* Kernel's struct sigaction layout (rt_sigaction with sigsetsize 8). */
struct lh_ksigaction {
	uint64_t handler;
	uint64_t flags;
	uint64_t restorer;
	uint64_t mask;
};

/* One application thread as saved at checkpoint (IMG_BLOB_THREADS is an array of these). */
struct lh_thread_ctx {
	int32_t vtid;
	int32_t is_main;
	uint64_t uc_addr; /* the ucontext the park handler got, on the thread's own stack */
	uint64_t fs_base, gs_base;
	uint64_t clear_tid; /* set_tid_address pointer */
	uint64_t robust_head, robust_len;
	uint64_t ss_sp, ss_size; /* sigaltstack */
	int32_t ss_flags;
	int32_t pad;
};

struct lh_park_slot {
	int rtid;
	int state; /* 0 unused, 1 signalled, 2 parked, 3 gone */
	struct lh_thread_ctx ctx;
};

struct lh_idmap {
	int v, r;
};

struct lh_state {
	int ckpt_sig;
	int vpid, vppid;
	int real_pid; /* the kernel's pid of this process now */
	int pidvirt;             /* 1 in restarted processes (and their children) */
	int parent_in_tree;      /* vppid names a process restored with us */
	int have_rseq;
	unsigned long main_lower_fs; /* lower-half TLS of the original main thread */
	int lower_tid_off;           /* offset of tid in the lower libc's struct pthread */
	char lh_path[4096];
	char app_exe[4096]; /* what /proc/self/exe shows the application */

	/* thread ids: virtual <-> real (only entries that differ) */
	volatile int thr_lock;
	int nthr;
	struct lh_idmap thr[LH_MAX_THREADS];
	/* other processes restored together with this one */
	int nproc;
	struct lh_idmap proc[LH_MAX_PROCS];

	/* virtual dispositions of the signals we keep for ourselves: [0] SIGSYS, [1] ckpt */
	struct lh_ksigaction virt_act[2];

	/* parking */
	volatile int ckpt_active;
	volatile int parked;
	volatile int resume_seq;
	/* 1 from GO (the application runs again while its forked writer finishes the image) to
	 * the end of that generation (RESUME, or the coordinator lost): an exit or exec of the
	 * application waits for 0 (sigsys_sigsafe.c), so that a process that merely ends does not
	 * take its half-reported image and the whole generation with it */
	volatile int gen_open;
	volatile int nslots;
	struct lh_park_slot slots[LH_MAX_THREADS];

	/* 0 idle, 1 checkpoint thread inside lower libc, 2 a fork in progress */
	volatile int busy;

	/* environment added back when the application execs: "SPLITCKPT_...=..." */
	int npriv;
	char *priv_env[LH_MAX_PRIV_ENV];
	int coord_fd;
};

extern struct lh_state lh;

/* sigsys_sigsafe.c */
void lh_sigsys_handler(int sig, siginfo_t *si, void *uc);
int lh_v2r(int v);
int lh_r2v(int r);
/* park_sigsafe.c */
void lh_park_handler(int sig, siginfo_t *si, void *uc);
/* restorer used as sa_restorer for our own handlers */
void lh_sigreturn_tramp(void);
/* Installs our SIGSYS and park handlers (raw rt_sigaction). 0 or -errno. */
long lh_install_handlers(void);

/* seccomp.c: installs the filter; pidvirt adds the pid-related traps. 0 or -1 (logged). */
int lh_seccomp_install(int pidvirt);

/* fork.c (libc side, runs in the child with borrowed lower TLS) */
void lh_after_fork_child(int parent_vpid);
/* busy word helpers for the checkpoint thread */
void lh_busy_enter(void);
void lh_busy_leave(void);

#endif
