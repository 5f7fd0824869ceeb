/*
 * lc_mpi.h - dmtcp_restart inside an MPI launch (docs/mpi-ckpt.md section 4): which rank this
 * process is, and which image it restores, from the MANIFEST the coordinator writes into every
 * generation directory (docs/mpi-ckpt.md section 3).
 */
#ifndef SPLITCKPT_LC_MPI_H
#define SPLITCKPT_LC_MPI_H

#include "lc_images.h"

/* Rank and size of this process from the launcher's environment: Hydra (PMI_RANK, PMI_SIZE)
 * or srun (SLURM_PROCID, SLURM_NTASKS). 1 inside an MPI launch (with *how = "mpiexec" or
 * "srun"), 0 if not. */
int lc_mpi_env(int *rank, int *size, const char **how);

/* Restart from a directory inside an MPI launch: dir/MANIFEST, else the newest gen-NNNNNN/
 * whose MANIFEST lists images that all exist. Refuses (message naming the file and the rank)
 * a job size other than `size`, no image for `rank`, an image of another generation or rank.
 * On success set holds the one image of this rank. Returns 0, 1 when dir has no MANIFEST at
 * all (the caller falls back to lc_mpi_pick_images), or -1 (printed). */
int lc_mpi_pick_dir(const struct lc_opts *o, const char *dir, int rank, int size,
		    struct lc_image_set *set);

/* From a complete set of images of MPI ranks (given, or picked without a MANIFEST), keep the
 * one of `rank`; refuses a set of another size. 0 or -1 (printed). */
int lc_mpi_pick_images(const struct lc_opts *o, struct lc_image_set *set, int rank, int size);

#endif
