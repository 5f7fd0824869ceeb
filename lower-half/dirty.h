/*
 * dirty.h - which pages of the upper half changed since the last checkpoint (incremental
 * checkpoints, --full-every K / SPLITCKPT_FULL_EVERY), and which generations a kept
 * incremental image still needs. See dirty.c. Checkpoint thread only; not async-signal-safe.
 */
#ifndef LH_DIRTY_H
#define LH_DIRTY_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"

/* At capture of generation gen, with the application parked: reads which pages of the
 * private anonymous regions were written since the previous capture and write-protects every
 * page again (so tracking restarts at this instant, also for the memory a forked writer will
 * copy). Decides whether this image is incremental (see dirty.c) and keeps that plan for
 * lh_dirty_incr; path is the image about to be written (the parent is named relative to its
 * directory and must exist there). Never fails the checkpoint: without tracking the image is
 * simply full. 0, or -ENOMEM. */
int lh_dirty_capture(uint32_t gen, const char *path, const struct img_region *regs, size_t n);

/* After a restart from generation gen (image image_id, a chain of chain_len images), once the
 * memory is filled and before any application thread runs: starts tracking, so that the next
 * checkpoint can build on that image if it lies where the next image will name it. */
void lh_dirty_restored(uint32_t gen, uint64_t image_id, size_t chain_len,
		       const struct img_region *regs, size_t n);

/* The K of --full-every in force (SPLITCKPT_FULL_EVERY; 0 or 1: every image full). It goes
 * into every image header, so that a restart keeps it. */
int lh_dirty_full_every(void);

/* At restart, before lh_dirty_restored: the K stored in the image (0 in images written before
 * it was stored). It applies unless the restart was given one (--full-every, DMTCP_FULL_EVERY),
 * which wins. */
void lh_dirty_image_full_every(uint32_t k);

/* The plan of the last capture: the parent and the unchanged pages, or NULL (full image). */
const struct img_incr *lh_dirty_incr(void);

/* The image_id the last capture's image must carry. */
uint64_t lh_dirty_image_id(void);

/* Generation gen (the last captured one) is committed: the next may build on it. */
void lh_dirty_committed(uint32_t gen);

/* Retention: the newest generation that may be deleted when gen (whose image of this process
 * is newest_path, ".../gen-NNNNNN/name") is committed and keep generations are kept: below
 * the oldest kept one and below the full image every kept incremental image builds on. 0 if
 * nothing may go (keep <= 0, or a kept image's chain cannot be read). */
uint32_t lh_dirty_prune_from(const char *newest_path, uint32_t gen, int keep);

/* Removes the directory of a pruned generation once no process has an image (or a .tmp) left
 * in it: the coordinator's MANIFEST of that generation goes with it. Quiet when images of
 * other processes are still there (each process prunes its own; the last one removes it). */
void lh_dirty_rmdir_gen(const char *dir);

#endif
