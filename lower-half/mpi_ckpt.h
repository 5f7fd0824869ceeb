/*
 * mpi_ckpt.h - the lower half's side of MPI checkpoint/restart (docs/mpi-ckpt.md, sections 2
 * and 4): the image blob of an MPI rank, the checkpoint thread's forwarding between the
 * coordinator (MSG_MPI) and the upper half's service thread (the mailbox, common/mpi_ckpt.h),
 * and the restart of a rank (MPI_Init in the fresh lower half before the upper half returns).
 *
 * Only splitckpt-lh-mpi has these functions (LH_WITH_MPI); the blob layout below is also read
 * by dmtcp_restart (launcher/) to tell an MPI image from another and to find its rank.
 * Nothing here is async-signal-safe. All functions run on the checkpoint thread, except the
 * lh_mpi_restart_* ones, which run on the restarting main thread before any upper thread.
 */
#ifndef LH_MPI_CKPT_H
#define LH_MPI_CKPT_H

#include <stddef.h>
#include <stdint.h>

/* the mailbox (this header's name hides common/mpi_ckpt.h inside lower-half/) */
#include "../common/mpi_ckpt.h"

/* Blob type in the image (our own number, far from the IMG_BLOB_* of common/image.h). */
#define LH_BLOB_MPI 0x4d50u
#define LH_MPI_BLOB_MAGIC 0x424d504du /* "MPMB" */

/* Written by every checkpoint of splitckpt-lh-mpi, MPI_Init called or not. Fields are only
 * ever appended; readers check magic and that size covers what they read. */
struct lh_mpi_blob {
	uint32_t magic;	     /* LH_MPI_BLOB_MAGIC */
	uint32_t size;	     /* sizeof(struct lh_mpi_blob) of the writer */
	uint64_t mailbox;    /* upper address of the mailbox; 0 = the rank had not called MPI_Init */
	int32_t thread_level; /* level the lower MPI runs at; -1 = not initialised */
	int32_t world_rank;   /* MPI_COMM_WORLD rank (from the launcher's env before MPI_Init) */
	int32_t world_size;   /* -1 when unknown */
	uint32_t finalized;   /* 1: the application had called MPI_Finalize */
	uint64_t epoch;	      /* contract epoch when the image was taken */
	char launcher[16];    /* "mpiexec", "srun" or "" */
};

#ifdef LH_WITH_MPI
struct coord_conn;

/* ---- checkpoint (mpi_ckpt.c) ---- */

/* The blob of this rank (malloc'd, *len bytes). 0 or -errno. */
int lh_mpi_collect(void **blob, size_t *len);
/* 0 if an image of this process can be restarted; else -ENOTSUP with the reason in err (an
 * MPI rank initialised without a mailbox: its MPI state cannot be drained and rebuilt). */
int lh_mpi_image_ok(char *err, size_t errlen);
/* True when the checkpoint starting now must run the MPI rounds (a live mailbox). */
int lh_mpi_active(void);
/* Steps 1-4 of docs/mpi-ckpt.md section 2 for generation gen: CMD_SUSPEND, then forward
 * reports and targets until QUIESCED. Returns 0 (quiesced: park now), 1 (the coordinator
 * ended the checkpoint with RESUME; the upper half was resumed and RESUMED sent), or -1 (the
 * coordinator went away; the upper half was resumed; the caller closes the connection). */
int lh_mpi_suspend(struct coord_conn *c, uint32_t gen);
/* After unpark at RESUME (committed or not): CMD_RESUME, wait for REP_RESUMED. No-op if no
 * MPI checkpoint is in progress. */
void lh_mpi_resume(void);
/* The eventfd is readable outside a checkpoint: forward REGISTER / FINALIZED. c may be
 * unconnected (then they are sent at the next lh_mpi_joined). */
void lh_mpi_event(struct coord_conn *c);
/* Just connected (or reconnected) to a coordinator: send MPI_REGISTER if registered. */
void lh_mpi_joined(struct coord_conn *c);

/* ---- restart (mpi_restart.c) ---- */

struct img_reader;
/* Before any memory is restored: read the blob of path, MPI_Init_thread(saved level) on this
 * (the lower main) thread, check rank and size against the image (MPI_Abort with a message
 * on a mismatch), fill the contract again. 0, or -1 (printed) for a non-MPI image error. */
int lh_mpi_restart_begin(const struct img_reader *rd, const char *path);
/* After the memory is back, before any upper thread runs: mailbox phase RESTORED, new efd
 * and epoch in it, contract->mpi_mailbox. 0 or -1 (printed). */
int lh_mpi_restart_memory(const char *path);
/* True when the checkpoint thread must run the restart handshake before joining. */
int lh_mpi_restart_pending(void);
/* On the checkpoint thread: CMD_RESTARTED, wait REP_RESUMED, print its warnings. 0 or -1. */
int lh_mpi_restart_handshake(void);
/* A restart failed after MPI_Init: bring the whole job down (MPI_Abort); no return. */
void lh_mpi_restart_abort(void) __attribute__((noreturn));
/* dmtcp_restart refused this rank: MPI_Init, then MPI_Abort of the whole launch. */
void lh_mpi_abort_job(void) __attribute__((noreturn));
/* Whether MPI_Init ran in this lower half for the restart (so failures must abort). */
int lh_mpi_restart_inited(void);

/* ---- between the files of this module (mpi_ckpt.c, mpi_restart.c, mpi_wire.c) ---- */

struct lh_mpi_mailbox;
struct proto_msg;
/* The upper half's mailbox if registered and well-formed (checked every time), else NULL. */
struct lh_mpi_mailbox *lh_mpi_mailbox(void);
/* Publish command cmd (its fields are filled) and wake the service thread. */
void lh_mpi_post(struct lh_mpi_mailbox *mb, uint32_t cmd);
/* The reply posted since the last take, or LH_MPI_REP_NONE. */
uint32_t lh_mpi_take(struct lh_mpi_mailbox *mb);
/* A restored mailbox: what is in it now counts as read; the rank is registered. */
void lh_mpi_seen_now(struct lh_mpi_mailbox *mb);
/* Wait (polling the eventfd) until reply `want` arrives; other replies are dropped. Warns
 * every warn_s seconds naming `what`. Returns 0. */
int lh_mpi_wait_reply(struct lh_mpi_mailbox *mb, uint32_t want, int warn_s, const char *what);
/* MSG_MPI through common/proto.h's encoders (mpi_wire.c). 0 or -errno. */
int lh_mpi_send_register(struct coord_conn *c, int rank, int size, int level,
			 const char *launcher, const char *info);
int lh_mpi_send_report(struct coord_conn *c, const struct lh_mpi_mailbox *mb);
int lh_mpi_send_finalized(struct coord_conn *c);
int lh_mpi_send_error(struct coord_conn *c, const char *text);
/* An MSG_MPI from the coordinator: 0 = MPI_TARGETS copied into mb (round, final, n_targets,
 * targets[]), 1 = another kind (ignored), -1 = malformed. */
int lh_mpi_recv_targets(const struct proto_msg *m, struct lh_mpi_mailbox *mb);
#endif

#endif
