/*
 * restore_tree.c - restart of a process tree from several images at once (one dmtcp_restart
 * per host): the processes are forked so that every parent is again the real parent of its
 * children (waitpid keeps working), pipes between them are created once before forking and
 * refilled with what was in flight, and every process learns the new real pid of every
 * virtual pid in the tree before any of them resumes.
 */
#define LOG_PREFIX "lh"
#include "ckpt.h"
#include "lh.h"
#include "log.h"
#include "restore.h"
#include "sys_nolibc.h"

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct node {
	const char *path;
	int vpid, vppid;
	uint64_t job_id;
	uint32_t gen;
};

struct shared_map {
	int count;
	struct lh_idmap e[LH_MAX_PROCS];
};

static struct shared_map *shm;
static struct node *nodes;
static int nnodes;

static int in_tree(int vpid)
{
	for (int i = 0; i < nnodes; i++)
		if (nodes[i].vpid == vpid)
			return 1;
	return 0;
}

static void __attribute__((noreturn)) run_node(int i, int strict, int top)
{
	lh_restore_progress_allowed = top; /* one progress line: the root's */
	/* children first, so that they are ours */
	for (int j = 0; j < nnodes; j++) {
		int child = nodes[j].vppid == nodes[i].vpid ||
			    (top && j != i && !in_tree(nodes[j].vppid));
		if (!child || j == i)
			continue;
		pid_t p = fork();
		if (p < 0) {
			log_perror("cannot fork to restart %s", nodes[j].path);
			exit(1);
		}
		if (p == 0)
			run_node(j, strict, 0);
	}
	int k = __atomic_fetch_add(&shm->count, 1, __ATOMIC_ACQ_REL);
	shm->e[k].v = nodes[i].vpid;
	__atomic_store_n(&shm->e[k].r, (int)getpid(), __ATOMIC_RELEASE);
	sys_futex(&shm->count, FUTEX_WAKE, 0x7fffffff, 0);
	for (;;) {
		int c = __atomic_load_n(&shm->count, __ATOMIC_ACQUIRE);
		if (c >= nnodes)
			break;
		struct timespec ts = {0, 50 * 1000 * 1000};
		sys_futex(&shm->count, FUTEX_WAIT, c, &ts);
	}
	lh.nproc = 0;
	for (int j = 0; j < nnodes; j++) {
		while (!__atomic_load_n(&shm->e[j].r, __ATOMIC_ACQUIRE))
			sched_yield();
		lh.proc[lh.nproc++] = shm->e[j];
	}
	lh.parent_in_tree = in_tree(nodes[i].vppid);
	lh_restore(nodes[i].path, strict);
	exit(1);
}

int lh_restore_many(char **paths, int n, int strict)
{
	if (n > LH_MAX_PROCS) {
		log_err("at most %d images can be restarted by one dmtcp_restart", LH_MAX_PROCS);
		return -1;
	}
	nodes = calloc(n, sizeof(*nodes));
	nnodes = n;
	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (!nodes || shm == MAP_FAILED)
		return -1;
	/* A pipe with a read end AND a write end among the restored descriptors (in one
	 * process or across the tree) is recreated once; a pipe to the outside (also one that
	 * several processes write to, as in `job 2>&1 | tee log`) keeps being the
	 * restarter's. seen[]: inode << 1; ends[]: bit 0 read end seen, bit 1 write end. */
	uint64_t *seen = calloc(64 * n + 1, sizeof(uint64_t));
	unsigned char *ends = calloc(64 * n + 1, 1);
	int nseen = 0;
	for (int i = 0; i < n; i++) {
		char err[1024];
		struct img_reader *rd;
		if (img_open(paths[i], &rd, err, sizeof(err)) < 0) {
			log_err("%s", err);
			return -1;
		}
		const struct img_header_info *h = img_header(rd);
		nodes[i] = (struct node){paths[i], h->vpid, h->vppid, h->job_id, h->generation};
		if (i && (h->job_id != nodes[0].job_id || h->generation != nodes[0].gen)) {
			log_err("%s is from job %llx generation %u, but %s is from job %llx generation "
				"%u: restart images of one checkpoint together",
				paths[i], (unsigned long long)h->job_id, h->generation, paths[0],
				(unsigned long long)nodes[0].job_id, nodes[0].gen);
			img_close(rd);
			return -1;
		}
		const void *b;
		uint64_t bl;
		uint64_t ino[64];
		if (img_blob(rd, IMG_BLOB_FDS, &b, &bl) == 0) {
			int k = lh_fds_pipe_inodes(b, bl, ino, 64);
			for (int j = 0; j < k && seen && ends; j++) {
				uint64_t pino = ino[j] >> 1;
				int q = 0;
				while (q < nseen && seen[q] != pino)
					q++;
				if (q == nseen)
					seen[nseen++] = pino;
				ends[q] |= (ino[j] & 1) ? 2 : 1;
			}
		}
		img_close(rd);
	}
	for (int q = 0; q < nseen; q++)
		if (ends[q] == 3)
			lh_pipes_precreate(seen[q], NULL, 0);
	free(seen);
	free(ends);
	for (int i = 0; i < n; i++) { /* bytes that were in flight in those pipes */
		char err[1024];
		struct img_reader *rd;
		const void *b;
		uint64_t bl;
		if (img_open(paths[i], &rd, err, sizeof(err)) < 0)
			continue;
		if (img_blob(rd, IMG_BLOB_PIPES, &b, &bl) == 0)
			lh_pipes_blob_apply(b, bl);
		img_close(rd);
	}
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (nodes[i].vpid == nodes[j].vpid) {
				log_err("%s and %s are images of the same process", nodes[i].path,
					nodes[j].path);
				return -1;
			}
	int root = -1;
	for (int i = 0; i < n && root < 0; i++)
		if (!in_tree(nodes[i].vppid))
			root = i;
	if (root < 0)
		root = 0;
	run_node(root, strict, 1);
}
