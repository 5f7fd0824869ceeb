/*
 * mpi_ckpt.h - the mailbox between the lower half's checkpoint thread and the upper half's
 * MPI service thread (mpi-wrappers/), used to checkpoint and restart MPI ranks
 * (docs/mpi-ckpt.md is the full protocol; read it before changing anything here).
 *
 * The mailbox lives in UPPER memory (the wrapper library allocates it at MPI_Init, inside the
 * arena), so it is saved in the image and comes back at the same address after a restart.
 * The upper half publishes its address in contract.mpi_mailbox at MPI_Init; the lower half
 * keeps that address in its image (proc blob) so that a restarted lower half finds it again.
 *
 * Two one-slot channels (the lower half never writes a new command before it has read the
 * reply to the previous one, except LH_MPI_CMD_RESUME which may overtake an outstanding reply:
 * the upper half then drops that reply; within a round of targets the upper half may send
 * several REP_REPORTs, each when its state changed, but writes report[] again only once the
 * lower half has set `taken` to the to_lower of the previous one):
 *   lower -> upper: fill the command's fields, store cmd, then increment to_upper (release)
 *                   and FUTEX_WAKE it. The service thread waits with FUTEX_WAIT on to_upper.
 *   upper -> lower: fill the reply's fields, store reply, increment to_lower (release), then
 *                   write(efd, &(uint64_t){1}, 8) with a raw syscall. The lower checkpoint
 *                   thread polls efd together with its coordinator socket.
 * Fields are fixed-size little-endian C types: both halves are built from this header.
 */
#ifndef SPLITCKPT_MPI_CKPT_H
#define SPLITCKPT_MPI_CKPT_H

#include <stdint.h>

#define LH_MPI_MAILBOX_MAGIC 0x4d504358u /* "XCPM" */
#define LH_MPI_MAILBOX_VERSION 1u
#define LH_MPI_MAX_COMMS 8192 /* entries in report[] and targets[] */
#define LH_MPI_TEXT 1024

/* Phase of the rank, written only by the upper service thread, read by every upper thread at
 * the door (mpi-wrappers/wrap_door.h). */
enum lh_mpi_phase {
	LH_MPI_RUN = 0,	     /* no checkpoint */
	LH_MPI_INTENT = 1,   /* collectives run up to the targets; point-to-point still flows */
	LH_MPI_DRAIN = 2,    /* door closed for every call; the service thread drains */
	LH_MPI_RESTORED = 3, /* restarted image, lower MPI fresh: door closed until rebuilt */
};

/* lower -> upper */
enum lh_mpi_cmd {
	LH_MPI_CMD_NONE = 0,
	LH_MPI_CMD_SUSPEND = 1,	  /* a checkpoint starts (generation in gen): phase INTENT, report */
	LH_MPI_CMD_TARGETS = 2,	  /* new targets (round, final, n_targets, targets[]) */
	LH_MPI_CMD_RESUME = 3,	  /* the checkpoint ended (committed or not): phase RUN */
	LH_MPI_CMD_RESTARTED = 4, /* after a restart: MPI initialised again; rebuild, phase RUN */
};

/* upper -> lower */
enum lh_mpi_reply {
	LH_MPI_REP_NONE = 0,
	LH_MPI_REP_REGISTER = 1,  /* at MPI_Init*: world_rank, world_size, thread_level set */
	LH_MPI_REP_REPORT = 2,	  /* report_round, report_flags, n_report, report[] set */
	LH_MPI_REP_QUIESCED = 3,  /* drained, descriptions complete: park the threads now */
	LH_MPI_REP_RESUMED = 4,	  /* RESUME or RESTARTED done; text may hold rebuild warnings */
	LH_MPI_REP_ERROR = 5,	  /* this checkpoint cannot be taken; why in text */
	LH_MPI_REP_FINALIZED = 6, /* the application called MPI_Finalize */
};

/* report_flags (docs/mpi-ckpt.md section 2: when a rank reports). A report with AT or
 * STALLED is "settled"; one without both is an update saying the rank moves again. */
#define LH_MPI_REPORT_QUIET 1u	 /* no thread is inside a collective */
#define LH_MPI_REPORT_STALLED 2u /* cannot go on by itself: BLOCKED, or nothing changed for
				  * LH_MPI_STALL_MS while some thread is outside MPI */
#define LH_MPI_REPORT_BLOCKED 4u /* (with STALLED) every thread waits at a closed door or is
				  * inside MPI: seen at once, no timer */
#define LH_MPI_REPORT_AT 8u	 /* (with QUIET) every seq >= its target: nothing can change
				  * before new targets */
/* after the final targets: no thread is inside MPI (report[] empty); the drain starts when
 * every rank is OUT */
#define LH_MPI_REPORT_OUT 16u
#define LH_MPI_STALL_MS 20 /* fallback when a thread outside MPI may still come back */

/* `final` of CMD_TARGETS / MPI_TARGETS (0: a round of targets) */
#define LH_MPI_FINAL_OUT 1u   /* balanced: phase DRAIN, get every thread out, report OUT */
#define LH_MPI_FINAL_DRAIN 2u /* every rank reported OUT: drain, then QUIESCED */

/* One communicator of a report: gid names it identically on every member (docs/mpi-ckpt.md);
 * seq = collectives this rank entered on it; want = seq + 1 if a thread of this rank waits
 * at the door to enter the next collective on it, else 0. */
struct lh_mpi_comm_seq {
	uint64_t gid;
	uint64_t seq;
	uint64_t want;
};

struct lh_mpi_comm_target {
	uint64_t gid;
	uint64_t target;
};

struct lh_mpi_mailbox {
	uint32_t magic;	  /* LH_MPI_MAILBOX_MAGIC */
	uint32_t version; /* LH_MPI_MAILBOX_VERSION */
	uint32_t size;	  /* sizeof(struct lh_mpi_mailbox) of the upper half */
	uint32_t phase;	  /* enum lh_mpi_phase */

	/* Upper, at MPI_Init*: what the rank is. thread_level = the level the LOWER MPI was
	 * initialised with (the restarted lower half asks for the same). */
	int32_t world_rank;
	int32_t world_size;
	int32_t thread_level;
	uint32_t finalized; /* 1 after MPI_Finalize */
	uint64_t epoch;	    /* contract epoch at the last (re)start; restart uses epoch + 1 */

	/* Lower: its eventfd (an fd >= LH_FD_MIN), written again after every restart. */
	int32_t efd;
	uint32_t gen; /* generation of the running checkpoint (CMD_SUSPEND) */

	/* lower -> upper channel */
	uint32_t to_upper; /* futex word */
	uint32_t cmd;	   /* enum lh_mpi_cmd */
	uint32_t round;	   /* CMD_TARGETS: round number (1, 2, ...) */
	uint32_t final;	   /* CMD_TARGETS: 0, LH_MPI_FINAL_OUT or LH_MPI_FINAL_DRAIN */
	uint32_t n_targets;
	uint32_t stuck_s; /* CMD_SUSPEND: seconds a thread may stay inside MPI after the final
			   * targets before the checkpoint is abandoned (SPLITCKPT_MPI_STUCK_S;
			   * 0: the upper half's default, 10; was pad0) */

	/* upper -> lower channel */
	uint32_t to_lower; /* counter; the lower half is woken through efd */
	uint32_t reply;	   /* enum lh_mpi_reply */
	uint32_t report_round; /* the round this report answers (0 = answer to CMD_SUSPEND) */
	uint32_t report_flags;
	uint32_t n_report;
	uint32_t taken; /* lower: to_lower of the last reply it has finished reading; the upper
			 * writes report[] again only when taken == to_lower (was pad1: 0) */

	/* Drain figures of the last checkpoint (for logs and benchmarks). */
	uint64_t drained_msgs;
	uint64_t drained_bytes;
	uint64_t quiesce_ns; /* CMD_SUSPEND to final targets */
	uint64_t drain_ns;   /* final targets to QUIESCED */

	char text[LH_MPI_TEXT]; /* NUL-terminated; REP_ERROR reason, REP_RESUMED warnings */

	struct lh_mpi_comm_seq report[LH_MPI_MAX_COMMS];
	struct lh_mpi_comm_target targets[LH_MPI_MAX_COMMS];
};

#endif
