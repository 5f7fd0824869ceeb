/*
 * coord.h - shared state of dmtcp_coordinator (one process, one thread, one epoll loop).
 *
 * Ownership: struct coord owns every client (coord_clients.c), the checkpoint state machine
 * (coord_ckpt.c), the named barriers (coord_barrier.c) and the fds of the loop (coord_loop.c).
 *
 * Invariants kept by all files:
 * - A client is only ever freed by coord_reap() at the end of an epoll batch; code that finds
 *   a client broken calls coord_client_drop(), which only marks it and queues it, so loops over
 *   the client table never see it vanish under them. Departure effects (checkpoint counters,
 *   barriers) run in coord_reap(), outside every other handler.
 * - Every byte from a peer goes through proto.h's checks; a bad peer gets MSG_ERROR and is
 *   dropped, and nothing it sent can make the coordinator exit.
 * - Barrier and checkpoint progress is counted: each arriving message costs O(1); only a phase
 *   change walks the client table.
 */
#ifndef SPLITCKPT_COORD_H
#define SPLITCKPT_COORD_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mpi_ckpt.h"
#include "proto.h"
#include "secret.h"

#define COORD_DEFAULT_PORT 7779
#define COORD_QUIT_GRACE_MS 3000   /* how long quitting waits for workers to go away */
#define COORD_MAX_WBUF (64u << 20) /* a peer that does not read gets dropped past this */
#define COORD_HELLO_TIMEOUT_S 30   /* a connection that sends no HELLO in time is dropped */

struct coord_opts {
	int port; /* 0 = any free port */
	const char *port_file;
	int daemon;
	int exit_on_last;
	int exit_after_ckpt;
	uint32_t exit_unused; /* seconds; 0 = wait for the first process forever */
	uint32_t interval;   /* seconds, 0 = none */
	const char *ckptdir; /* as given; NULL = none */
	const char *tmpdir;
	const char *logfile;
	int quiet;
};

/* 0 on success; 1 when the process should exit(0) (--help, --version); -1 on error (message
 * and usage already printed: exit 1). */
int coord_parse_options(int argc, char **argv, struct coord_opts *o);

enum coord_ev_kind { EV_NONE = 0, EV_LISTEN, EV_CLIENT, EV_TIMER, EV_STDIN, EV_SIGNAL, EV_SWEEP };

/* First member of everything registered in epoll (epoll_event.data.ptr). */
struct coord_ev {
	enum coord_ev_kind kind;
};

enum client_role { ROLE_NONE = 0, ROLE_NEW, ROLE_WORKER, ROLE_CMD };

enum worker_state {
	WS_NONE = 0,
	WS_HELD, /* joined during a checkpoint: not part of it */
	WS_RUNNING,
	WS_SUSPENDING, /* SUSPEND sent */
	WS_SUSPENDED,
	WS_WRITING, /* WRITE sent */
	WS_WRITTEN,
	WS_RESUMING, /* RESUME sent */
};

enum cmd_wait { WAIT_NONE = 0, WAIT_CURRENT, WAIT_NEXT };

struct coord_barrier;

struct coord_worker {
	enum worker_state state;
	int in_ckpt;  /* counted in the current checkpoint */
	int captured; /* sent CAPTURED (or WRITTEN) in the current checkpoint */
	int forked;   /* sent CAPTURED: it waits for GO before it runs again */
	uint32_t vpid, pid, restarted_from;
	char *uniquepid, *progname, *hostname, *cmdline;
	/* from WRITTEN */
	uint32_t img_status;
	uint64_t img_bytes;
	char *img_path, *img_host;
	/* the barrier it waits in, and its slot there */
	struct coord_barrier *barrier;
	size_t barrier_idx;
	/* MPI rank (coord_mpi.c): set by MPI_REGISTER */
	int mpi, mpi_finalized;
	int mpi_early; /* got RESUME committed=0 during the MPI rounds of this checkpoint */
	uint32_t mpi_rank, mpi_size, mpi_level;
	char mpi_launcher[PROTO_MPI_LAUNCHER];
	char *mpi_info;
	/* its latest report of the current round (replaced by each update) */
	int mpi_reported;
	int mpi_out; /* after the final targets: reported that no thread is inside MPI */
	uint32_t mpi_flags, mpi_n;
	struct lh_mpi_comm_seq *mpi_seqs;
};

struct coord_client {
	struct coord_ev ev; /* EV_CLIENT */
	uint64_t id;
	size_t idx; /* slot in coord.clients */
	int fd;
	enum client_role role;
	char peer[64]; /* "ip:port" */
	int64_t t_accept_us;
	/* dropping: set by coord_client_drop, acted on by coord_reap */
	int dropped;
	char *drop_reason;
	struct coord_client *next_dropped;
	/* input: raw bytes not yet framed */
	uint8_t *rbuf;
	size_t rlen, rcap;
	/* output */
	uint8_t *wbuf;
	size_t wlen, woff, wcap;
	int want_out; /* EPOLLOUT registered */
	uint32_t seq;
	struct coord_worker w; /* role == ROLE_WORKER */
	enum cmd_wait waiting; /* role == ROLE_CMD: blocking checkpoint */
};

enum ckpt_phase { CK_IDLE = 0, CK_SUSPENDING, CK_WRITING, CK_RESUMING };

struct coord_ckpt {
	enum ckpt_phase phase;
	uint32_t gen;	   /* of the checkpoint in progress */
	uint32_t next_gen; /* the next one to start */
	size_t nparts, nsusp, nwritten, nresumed;
	size_t ncaptured; /* workers whose state is captured (CAPTURED, or WRITTEN) */
	int go_sent;
	char done_text[256]; /* the -bc answer, sent once every process has resumed */
	int failed;
	char *fail_msg;
	int committed;
	int pending; /* another checkpoint asked for while this one runs */
	int64_t t_start_us;
	int64_t t_durable_us;
	uint64_t bytes;
	/* the last committed checkpoint */
	uint32_t last_gen;
	uint64_t last_bytes, last_ms;
	size_t last_nprocs;
	int exited_after; /* --exit-after-ckpt already triggered */
	/* MPI rounds of this checkpoint (coord_mpi.c; docs/mpi-ckpt.md section 3) */
	int mpi_active;	 /* some participant is a registered MPI rank */
	int mpi_final;	 /* final targets sent */
	int mpi_go;	 /* every rank was out of MPI: the go for the drain sent */
	size_t mpi_nout; /* ranks out of MPI after the final targets */
	uint32_t mpi_round;
	size_t mpi_nparts, mpi_nreported, mpi_nearly, mpi_nearly_resumed;
	size_t mpi_nsettled; /* ranks whose latest report of the round is settled (AT/STALLED) */
	struct lh_mpi_comm_target *mpi_tgt; /* targets sent last (only grow), mpi_ntgt of them */
	size_t mpi_ntgt;
	uint64_t mpi_nreports; /* reports taken in this checkpoint (updates included) */
	int mpi_stuck_logged;  /* "settled, nothing to raise" logged for this round */
	/* phase times (coord_now_us): SUSPEND sent, final targets, all suspended */
	int64_t mpi_t0_us, mpi_tfinal_us, mpi_tsusp_us;
};

struct coord_barriers {
	struct coord_barrier **buckets;
	size_t nbuckets, count;
};

struct coord {
	struct coord_opts opt;
	int epfd, listen_fd, timer_fd, stdin_fd, signal_fd, sweep_fd;
	struct coord_ev ev_listen, ev_timer, ev_stdin, ev_signal, ev_sweep;
	int port;
	char hostname[PROTO_MAX_HOST];
	char ckptdir[PATH_MAX];	  /* absolute --ckptdir, "" if none */
	char scriptdir[PATH_MAX]; /* where restart scripts go: ckptdir or cwd */
	char tmpdir[PATH_MAX];
	char self_dir[PATH_MAX]; /* dir of /proc/self/exe */
	uint64_t job_id;
	char secret[SECRET_HEX_LEN + 1];
	int secret_written;
	FILE *logfp;

	struct coord_client **clients;
	size_t nclients, cap;
	uint64_t next_client_id;
	struct coord_client *dropped; /* queue for coord_reap */
	size_t nworkers;
	int ever_joined;
	int64_t t_start_us;

	uint32_t interval;
	struct coord_ckpt ck;
	struct coord_barriers barriers;

	int quitting;
	int64_t quit_deadline_ms;
	int stop; /* leave the loop now */
};

/* coord_main.c */
int64_t coord_now_us(void);

/* coord_loop.c: open the listening socket (exits with the "port in use" message itself). */
int coord_listen(struct coord *co);
int coord_loop_init(struct coord *co);
int coord_loop_run(struct coord *co);
void coord_loop_fini(struct coord *co);
/* Re-arm the interval timer from now (interval 0 disarms it). */
void coord_timer_rearm(struct coord *co);
/* Stop accepting, kill nothing; exit once every worker is gone and every reply is flushed. */
void coord_begin_quit(struct coord *co);

/* coord_clients.c */
struct coord_client *coord_client_new(struct coord *co, int fd, const char *peer);
/* Queue c for closing (reason is logged); safe anywhere, idempotent. */
void coord_client_drop(struct coord *co, struct coord_client *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Send MSG_ERROR(text) to c, then drop it: the answer to a bad peer. */
void coord_client_reject(struct coord *co, struct coord_client *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Close and free every dropped client, running departure effects. */
void coord_reap(struct coord *co);
void coord_client_free_all(struct coord *co);
/* Drop the connections that did not say HELLO within COORD_HELLO_TIMEOUT_S. */
void coord_clients_sweep(struct coord *co);
/* Queue a finished message (proto_buf_finish done) for c, patching in c's next seq. */
void coord_client_send_raw(struct coord *co, struct coord_client *c, const uint8_t *msg,
			   size_t len);
/* Finish b, send it to c, free b. */
void coord_client_send(struct coord *co, struct coord_client *c, struct proto_buf *b);
void coord_client_send_empty(struct coord *co, struct coord_client *c, uint32_t type);
/* Write what is buffered; on EAGAIN ask for EPOLLOUT. */
void coord_client_flush(struct coord *co, struct coord_client *c);
/* Read what the socket has and dispatch every whole message. */
void coord_client_on_readable(struct coord *co, struct coord_client *c);
int coord_clients_flushed(const struct coord *co);
/* "worker 40000 (a.out on vm)" */
const char *coord_worker_name(const struct coord_client *c, char *buf, size_t n);

/* coord_dispatch.c: one checked message from c. */
void coord_dispatch(struct coord *co, struct coord_client *c, const struct proto_msg *msg);
/* Send the CMD_REPLY text to c, split into chunks if long. */
void coord_reply(struct coord *co, struct coord_client *c, uint32_t status, const char *text,
		 uint32_t gen, uint64_t bytes, uint64_t ms);
/* The actions shared by commands and keys. */
void coord_do_kill(struct coord *co);
void coord_do_quit(struct coord *co);
void coord_set_interval(struct coord *co, uint32_t secs);

/* coord_ckpt.c */
/* Ask for a checkpoint. waiter (may be NULL) gets a CMD_REPLY when it is durable or failed.
 * Writes a one-line answer for the requester into msg; returns 0 if started or queued, -1 if
 * it cannot be done (no workers, quitting). */
int coord_ckpt_request(struct coord *co, struct coord_client *waiter, char *msg, size_t n);
void coord_ckpt_worker_joined(struct coord *co, struct coord_client *c);
void coord_ckpt_worker_gone(struct coord *co, struct coord_client *c);
void coord_ckpt_on_suspended(struct coord *co, struct coord_client *c);
void coord_ckpt_on_written(struct coord *co, struct coord_client *c, const struct proto_written *m);
void coord_ckpt_on_captured(struct coord *co, struct coord_client *c);
void coord_ckpt_on_resumed(struct coord *co, struct coord_client *c);
void coord_ckpt_on_timer(struct coord *co);
void coord_ckpt_fini(struct coord *co);
/* Let the failed checkpoint's RESUME through; the MPI rounds' early RESUMEs (coord_mpi.c). */
void coord_ckpt_check(struct coord *co);
/* Mark the running checkpoint failed with text (-bc gets it); MPI ranks in rounds are let go. */
void coord_ckpt_fail_text(struct coord *co, const char *text);

/* coord_mpi.c: the MPI rounds of a checkpoint and what the coordinator knows of MPI ranks */
void coord_mpi_on_msg(struct coord *co, struct coord_client *c, const struct proto_msg *msg);
void coord_mpi_ckpt_start(struct coord *co);
/* The checkpoint failed while MPI ranks are in their rounds: RESUME committed=0 to them now
 * (they cannot answer SUSPEND until the rounds end); counted as answered. */
void coord_mpi_kick(struct coord *co);
void coord_mpi_worker_gone(struct coord *co, struct coord_client *c);
/* A RESUMED from a rank kicked early; 1 if it was one (then counted). */
int coord_mpi_early_resumed(struct coord *co, struct coord_client *c);
void coord_mpi_free_worker(struct coord_client *c);
/* Complete the MPI round if every MPI rank reported and no rank can still join it (from
 * check_phase: a participant answered or left). */
void coord_mpi_maybe_round(struct coord *co);
size_t coord_mpi_ranks(const struct coord *co, const char **launcher);
/* 0 if the written MPI images are ranks 0..size-1 once each (or there are none), else -1
 * with the reason in err: such a generation is not committed. */
int coord_mpi_check_generation(const struct coord *co, char *err, size_t errsz);
const char *coord_worker_state_name(enum worker_state s);

/* coord_barrier.c */
void coord_barrier_enter(struct coord *co, struct coord_client *c, const struct proto_barrier *m);
void coord_barrier_leave(struct coord *co, struct coord_client *c);
void coord_barrier_fini(struct coord *co);

/* coord_script.c: write dmtcp_restart_script*.sh for the workers with in_ckpt set. On failure
 * writes the reason into err and returns -1. */
int coord_write_restart_script(struct coord *co, char *err, size_t errsz);

/* coord_status.c: texts for -s and -l (malloc'd, caller frees; NULL on ENOMEM). */
char *coord_status_text(const struct coord *co);
char *coord_list_text(const struct coord *co);
/* "41.2 MB" */
void coord_fmt_bytes(uint64_t bytes, char *buf, size_t n);

/* coord_keys.c: one line typed on stdin. */
void coord_keys_line(struct coord *co, const char *line);
void coord_keys_help(void);

#endif
