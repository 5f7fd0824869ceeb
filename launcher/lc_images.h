/*
 * lc_images.h - the checkpoint images dmtcp_restart is asked to restart: opening and checking
 * a set of images given on the command line, and picking the newest complete generation in a
 * checkpoint directory (docs/INTERFACES.md, "Images"). Only headers are read here (img_open
 * validates header, sections, index and trailer); memory chunks are checked by the lower half
 * while it restores them.
 */
#ifndef SPLITCKPT_LC_IMAGES_H
#define SPLITCKPT_LC_IMAGES_H

#include <stddef.h>

#include "image.h"
#include "launch_common.h"

struct lc_image {
	char path[LC_MAX_PATH]; /* absolute, symlinks resolved */
	struct img_header_info h;
	int mpi;		/* 1: the image of an MPI rank (it has an MPI section) */
	int mpi_rank, mpi_size; /* from that section; -1 when unknown */
};

struct lc_image_set {
	struct lc_image *v;
	size_t n, cap;
};

/* Open every file in paths (n of them) and append it to set. A file that cannot be opened is
 * an error naming it. Returns 0 or -1 (printed). */
int lc_images_load(const struct lc_opts *o, char *const *paths, size_t n, struct lc_image_set *set);

/* Check that the set is one job and one generation, has no process twice and, under strict
 * checking, that it is complete and was made by our uid. Returns 0 or -1 (printed). */
int lc_images_check(const struct lc_opts *o, const struct lc_image_set *set, int strict);

/* Fill set with the images of the newest complete generation under dir: dir/gen-NNNNNN/ (newest
 * number first), else dir itself. Damaged files are reported and skipped. Returns 0 or -1. */
int lc_images_pick(const struct lc_opts *o, const char *dir, struct lc_image_set *set);

/* The checkpoint directory the images came from: the image's directory, or its parent when
 * that directory is a gen-NNNNNN one. */
void lc_images_base_dir(const struct lc_image_set *set, char *out, size_t n);

void lc_images_free(struct lc_image_set *set);

#endif
