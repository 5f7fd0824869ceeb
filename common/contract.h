/*
 * contract.h - the one struct through which the upper half reaches the lower half (MPI mode).
 *
 * The lower half maps it at a fixed address just below the arena (so it is never saved) and
 * fills it before the application starts, and again after every restart with the addresses of
 * the fresh lower half: the upper half keeps no other pointer into the lower half. Fields are
 * only ever appended; `size` tells how much of it this lower half filled.
 *
 * fn[] holds the lower half's MPICH entry points, indexed by the position of each function in
 * mpi-wrappers/mpi_functions.def (the generated enum wrap_fn_index); NULL where the lower MPI
 * lacks the function.
 *
 * The call gate: an upper thread loads the lower-half TLS (FS base) of its own before calling
 * fn[i] and its own FS base again after (wrfsbase when fsgsbase != 0, else arch_prctl).
 * The first upper thread to enter uses main_lower_fs (the TLS of the process's first thread);
 * every other thread asks thread_lower_fs() once (called WITHOUT switching FS: it is
 * signal-safe lower-half code that only hands out a pre-made lower TLS) and keeps its answer
 * until the epoch changes. thread_lower_fs returns 0 when its pool is exhausted; the gate
 * then falls back to main_lower_fs (correct only for FUNNELED/SERIALIZED use), which is why
 * max_thread_level says what the lower half can honour.
 */
#ifndef SPLITCKPT_CONTRACT_H
#define SPLITCKPT_CONTRACT_H

#include <stdint.h>

#define LH_CONTRACT_ADDR 0x0ffffff00000UL /* 1 MiB slot right below the arena */
#define LH_CONTRACT_SLOT (1UL << 20)
#define LH_CONTRACT_MAGIC 0x54435053u /* "SPCT" */
#define LH_CONTRACT_VERSION 3u /* 3: vdso_clock_gettime */

struct lh_contract {
	uint32_t magic;
	uint32_t version;
	uint32_t size;	 /* sizeof(struct lh_contract) of the lower half that filled it */
	uint32_t nfuncs; /* entries in fn[] */
	uint64_t epoch;	 /* 1 at launch, +1 after every restart: re-resolve cached handles */
	uint64_t main_lower_fs;
	uint32_t fsgsbase; /* 1: wrfsbase/rdfsbase are usable */
	uint32_t max_thread_level; /* highest MPI_THREAD_* the gate supports */
	uint64_t (*thread_lower_fs)(void); /* may be 0 */
	/* Offset from a lower-half TLS base of a u64 where the gate stores the FS base of the
	 * upper thread that uses that lower TLS; a callback from the lower MPICH reads it to
	 * switch back. 0 = not provided (use one process-wide slot). */
	int64_t upper_fs_off;
	/* MPI checkpoint (docs/mpi-ckpt.md): the upper half stores its mailbox here at MPI_Init
	 * (upper memory, saved in the image); the lower half keeps the address in its image and
	 * stores it here again after a restart. NULL before MPI_Init. */
	struct lh_mpi_mailbox *volatile mpi_mailbox;
	/* MPI checkpoint: the lower half's eventfd (an fd >= 990, close-on-exec) through which
	 * the upper service thread wakes the checkpoint thread (docs/mpi-ckpt.md); -1 if none.
	 * The upper copies it into mailbox->efd at MPI_Init (the lower half cannot know the
	 * mailbox before); after a restart the lower half writes mailbox->efd itself. */
	int32_t mpi_efd;
	uint32_t pad_efd;
	/* The lower half's vDSO clock_gettime (int (*)(clockid_t, struct timespec *)), or NULL.
	 * vDSO code touches no TLS, so the upper half calls it directly, without the gate
	 * (MPI_Wtime: mpi-wrappers/wrap_wtime.c); the upper half itself has no vDSO
	 * (docs/decisions.md). Filled again after every restart (the vDSO moves). */
	void *vdso_clock_gettime;
	void *fn[];
};

#endif
