/*
 * restore.h - restarting a process from its image (restore.c).
 */
#ifndef LH_RESTORE_H
#define LH_RESTORE_H

/* Restores the process saved in path and resumes it; returns only on error (-1, logged),
 * before any application code has run. strict: refuse images of other users. */
int lh_restore(const char *path, int strict);

/* Restarts several processes of one checkpoint as one tree (this process becomes the root).
 * Returns only on error. */
int lh_restore_many(char **paths, int n, int strict);

/* restore_progress.c: a progress line on a terminal while an image is read (NULL = none). */
#include <stdint.h>
extern int lh_restore_progress_allowed;
void *lh_restore_progress_start(const char *path, uint64_t total);
void lh_restore_progress_stop(void *progress);

#endif
