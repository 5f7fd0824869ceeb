/*
 * zombies.c - children that ended but were not reaped yet when the process was captured.
 *
 * A parent parked in waitpid (or one that reaps later) holds a zombie for every child that
 * exited just before the checkpoint: the child is in no image (it ended), but the parent's
 * next wait must still return its pid and status. At capture (lh_collect_zombies) each zombie
 * child of any thread of the process is listed with its virtual pid and how it ended, read
 * with waitid(WNOWAIT) so that the application can still reap it. At restart
 * (lh_zombies_recreate, before the application runs) a child is forked for each one that ends
 * the same way at once; the virtual pid maps to it (lh.proc), so waitpid, wait and waitid of
 * the application find a real zombie with the saved pid and status, and SIGCHLD comes too.
 * Blob LH_BLOB_ZOMBIES; an image without it has no zombies (older images).
 */
#define LOG_PREFIX "lh"
#include "ckpt.h"
#include "lh.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define ZOMBIE_MAGIC 0x5a4f4d42u /* "ZOMB" */

struct zombie {
	int32_t vpid;
	int32_t code;	/* si_code: CLD_EXITED, CLD_KILLED or CLD_DUMPED */
	int32_t status; /* exit status or signal number */
	int32_t pad;
};

struct zombie_blob {
	uint32_t magic, n;
	struct zombie z[];
};

/* 1 when /proc/PID/stat says the process is a zombie. */
static int is_zombie(int pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	const char *p = strrchr(buf, ')'); /* the command name may hold anything */
	return p && p[1] == ' ' && p[2] == 'Z';
}

static int add_children_of(const char *task, struct zombie_blob **b, uint32_t *cap)
{
	char path[300];
	snprintf(path, sizeof(path), "/proc/self/task/%s/children", task);
	FILE *f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno; /* the thread ended meanwhile */
	int pid, rc = 0;
	while (rc == 0 && fscanf(f, "%d", &pid) == 1) {
		if (!is_zombie(pid))
			continue;
		siginfo_t si;
		memset(&si, 0, sizeof(si));
		/* no __WALL: our own image writer (a clone child with no exit signal) is not one */
		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT | WNOHANG) < 0 ||
		    si.si_pid != pid)
			continue; /* not one the application can wait for, or reaped meanwhile */
		if ((*b)->n == *cap) {
			uint32_t nc = *cap ? *cap * 2 : 8;
			struct zombie_blob *nb = realloc(*b, sizeof(**b) + nc * sizeof(struct zombie));
			if (!nb) {
				rc = -ENOMEM;
				break;
			}
			*b = nb;
			*cap = nc;
		}
		(*b)->z[(*b)->n++] =
		    (struct zombie){lh_r2v(pid), si.si_code, si.si_status, 0};
	}
	fclose(f);
	return rc;
}

int lh_collect_zombies(void **blob, size_t *len)
{
	*blob = NULL;
	*len = 0;
	uint32_t cap = 0;
	struct zombie_blob *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->magic = ZOMBIE_MAGIC;
	DIR *d = opendir("/proc/self/task");
	if (!d) {
		int e = errno;
		free(b);
		return -e;
	}
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (de = readdir(d)))
		if (de->d_name[0] != '.')
			rc = add_children_of(de->d_name, &b, &cap);
	closedir(d);
	if (rc < 0 || b->n == 0) {
		free(b);
		return rc;
	}
	*blob = b;
	*len = sizeof(*b) + b->n * sizeof(struct zombie);
	return 0;
}

int lh_zombies_recreate(const void *blob, uint64_t len)
{
	const struct zombie_blob *b = blob;
	if (!blob)
		return 0;
	if (len < sizeof(*b) || b->magic != ZOMBIE_MAGIC ||
	    (len - sizeof(*b)) / sizeof(struct zombie) != b->n ||
	    (len - sizeof(*b)) % sizeof(struct zombie))
		return -EBADMSG;
	for (uint32_t i = 0; i < b->n; i++) {
		const struct zombie *z = &b->z[i];
		if (lh.nproc >= LH_MAX_PROCS) {
			log_warn("too many processes to restore: the ended child %d will not be "
				 "found by wait",
				 z->vpid);
			return 0;
		}
		pid_t p = fork();
		if (p < 0)
			return -errno;
		if (p == 0) {
			if (z->code == CLD_KILLED || z->code == CLD_DUMPED) {
				struct sigaction sa;
				memset(&sa, 0, sizeof(sa));
				sa.sa_handler = SIG_DFL;
				sigaction(z->status, &sa, NULL);
				sigset_t s;
				sigemptyset(&s);
				sigaddset(&s, z->status);
				sigprocmask(SIG_UNBLOCK, &s, NULL);
				if (z->code == CLD_DUMPED) { /* no core file of ours */
					struct rlimit rl = {0, 0};
					setrlimit(RLIMIT_CORE, &rl);
				}
				kill(getpid(), z->status);
			}
			_exit(z->status & 0xff);
		}
		/* a zombie by the time the application can wait for it */
		siginfo_t si;
		while (waitid(P_PID, (id_t)p, &si, WEXITED | WNOWAIT) < 0 && errno == EINTR)
			;
		lh.proc[lh.nproc++] = (struct lh_idmap){.v = z->vpid, .r = p};
	}
	return 0;
}
