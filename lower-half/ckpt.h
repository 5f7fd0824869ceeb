/*
 * ckpt.h - the checkpoint thread of the lower half and its configuration (ckpt.c, state.c).
 */
#ifndef LH_CKPT_H
#define LH_CKPT_H

#include <stdint.h>

#include "image.h"

/* Region flag of ours: an unmodified private file mapping; not stored, mapped again from the
 * file at restart (its identity is checked through IMG_BLOB_FILEIDS). */
#define LH_REG_FROMFILE 0x100u
#define LH_BLOB_FILEIDS 8
/* zombies.c: children that ended but were not reaped at capture */
#define LH_BLOB_ZOMBIES 9
/* settings.c: the launch settings a restart keeps */
#define LH_BLOB_SETTINGS 10

struct lh_fileid {
	uint64_t start;
	uint64_t dev, ino, size;
	int64_t mtime_sec, mtime_nsec;
};

struct lh_config {
	char host[256];
	int port;
	char secret[80];
	char ckptdir[4096]; /* "" = coordinator's, else cwd at launch */
	int gzip;
	int codec; /* IMG_CODEC_* when gzip (= compress) is on; SPLITCKPT_COMPRESS */
	int open_files;
	int quiet;
	int interval;
	int no_coord;
	int keep;
	int forked; /* write images from a copy-on-write child (SPLITCKPT_FORKED) */
	int ckpt_threads; /* compression threads, 0 = one per CPU (SPLITCKPT_CKPT_THREADS) */
	int direct_io; /* img_write_opts.direct: 0 auto, 1 on, -1 off (SPLITCKPT_DIRECT_IO) */
	char tmpdir[4096];
	/* identity of this process */
	char upid[64];
	char progname[256];
	char cmdline[4096];
	uint32_t restarted_from; /* generation, 0 for a fresh launch */
	uint64_t job_id;
	char coord_ckptdir[4096];
	char launch_cwd[4096];
};

extern struct lh_config lhc;

/* Reads SPLITCKPT_* from the environment into lhc. */
void lh_config_load(void);
/* (Re)computes lh.priv_env: every SPLITCKPT_* variable of ours plus our ids. */
void lh_priv_env_build(void);
/* Makes a fresh uniquepid for this process (launch, or a forked child). */
void lh_new_upid(void);

/* Connects to the coordinator (HELLO/WELCOME) unless there is none; returns 0 or -1 with the
 * error printed. Then starts the checkpoint thread. */
int lh_ckpt_start(void);

/* state.c: what a checkpoint saves besides memory, and putting it back. */
struct lh_saved;
int lh_collect_regions(struct img_region **out, size_t *n, void **arena_blob, size_t *arena_len);
int lh_collect_proc(void **blob, size_t *len);
int lh_collect_fds(void **blob, size_t *len, void **filedata, size_t *fdlen);
int lh_collect_pipes(void **blob, size_t *len);
/* Restart of several processes: pipes are created once, before the processes are forked, and
 * refilled with what was in them; each process then takes its ends by inode. */
int lh_pipes_precreate(uint64_t ino, const void *data, uint64_t len);
/* Pipe descriptors of an FDS blob: (inode << 1) | 1 for a write end, 0 for a read end. */
int lh_fds_pipe_inodes(const void *blob, uint64_t len, uint64_t *ino, int max);
/* The descriptor numbers in an FDS blob (at most max). Count, or -EBADMSG. */
int lh_fds_numbers(const void *blob, uint64_t len, int *fds, int max);
/* If set, lh_restore_fds leaves every fd for which it returns 1 as it is (an MPI restart:
 * descriptors of the fresh MPI and of its launcher, and the old MPI's; path as saved). */
extern int (*lh_restore_fd_skip)(int fd, const char *path);
/* The descriptor numbers in an FDS blob (at most max). Count, or -EBADMSG. */
int lh_fds_numbers(const void *blob, uint64_t len, int *fds, int max);
int lh_pipes_blob_apply(const void *blob, uint64_t len);
/* Identity of the files behind LH_REG_FROMFILE regions, and mapping them back (checked). */
int lh_fileids_build(const struct img_region *r, size_t n, void **blob, size_t *len);
int lh_map_from_file(const char *img, const struct img_region *r, const void *ids, uint64_t idlen);
int lh_restore_proc(const void *blob, uint64_t len);
/* zombies.c: the unreaped ended children of the process (no blob when there are none), and
 * at restart a real zombie with the same virtual pid and status for each. 0 or -errno. */
int lh_collect_zombies(void **blob, size_t *len);
int lh_zombies_recreate(const void *blob, uint64_t len);
int lh_restore_fds(const void *blob, uint64_t len, const void *filedata, uint64_t fdlen);
/* settings.c: --keep, compression, --ckpt-open-files, --ckpt-threads, --no-forked-ckpt as
 * text (0 or -ENOMEM), and at restart each one the restart's environment does not set. */
int lh_collect_settings(void **blob, size_t *len);
void lh_restore_settings(const void *blob, uint64_t len);

#endif
