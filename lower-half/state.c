/*
 * state.c - everything a checkpoint saves besides the threads: the memory map of the upper
 * half (from the arena table, detailed by /proc/self/maps), the process's kernel state
 * (signal dispositions, umask, rlimits, itimers, cwd) and its open descriptors; and the
 * restart side of the last two.
 *
 * Runs on the checkpoint thread while the application is parked, or on the restarting main
 * thread before the application runs. Blob layouts are versioned by a magic per blob.
 */
#define LOG_PREFIX "lh"
#include "arena.h"
#include "ckpt.h"
#include "ckpt_signal.h"
#include "lh.h"
#include "log.h"
#include "sys_nolibc.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define PROC_MAGIC 0x434f5250u /* "PROC" */
#define FDS_MAGIC 0x53534446u  /* "FDSS" */
#define NSIG_K 64

struct lh_proc_blob {
	uint32_t magic, size;
	int32_t vpid, vppid;
	uint32_t umask;
	int32_t ckpt_sig;
	struct lh_ksigaction act[NSIG_K + 1];
	struct rlimit rlim[RLIM_NLIMITS];
	struct itimerval itv[3];
	char cwd[4096];
	char upid[64];
	char app_exe[4096];
	uint32_t nproc;
	struct lh_idmap proc[LH_MAX_PROCS];
};

/* ---------- memory map ---------- */

struct maps_ent {
	uint64_t s, e, off;
	int prot, shared;
	char path[256];
};

static int parse_maps(struct maps_ent **out, size_t *n)
{
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return -errno;
	size_t cap = 256, k = 0;
	struct maps_ent *v = malloc(cap * sizeof(*v));
	char line[4096 + 256];
	while (v && fgets(line, sizeof(line), f)) {
		unsigned long s, e, off;
		char perm[8], path[4096] = "";
		int pos = 0;
		if (sscanf(line, "%lx-%lx %7s %lx %*s %*s%n", &s, &e, perm, &off, &pos) < 4)
			continue;
		char *p = line + pos;
		while (*p == ' ')
			p++;
		snprintf(path, sizeof(path), "%s", p);
		path[strcspn(path, "\n")] = 0;
		if (k == cap) {
			cap *= 2;
			struct maps_ent *nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				v = NULL;
				break;
			}
			v = nv;
		}
		struct maps_ent *m = &v[k++];
		m->s = s;
		m->e = e;
		m->off = off;
		m->prot = (perm[0] == 'r' ? PROT_READ : 0) | (perm[1] == 'w' ? PROT_WRITE : 0) |
			  (perm[2] == 'x' ? PROT_EXEC : 0);
		m->shared = perm[3] == 's';
		snprintf(m->path, sizeof(m->path), "%s", path);
	}
	fclose(f);
	if (!v)
		return -ENOMEM;
	*out = v;
	*n = k;
	return 0;
}

/* True when no page of [s, e) of a private file mapping differs from the file: every page is
 * either not present (it would be read from the file) or still the file's page cache page. */
static int file_pages_clean(int pm, uint64_t s, uint64_t e)
{
	uint64_t buf[512];
	for (uint64_t a = s; a < e;) {
		size_t np = (e - a) / 4096;
		if (np > 512)
			np = 512;
		ssize_t got = pread(pm, buf, np * 8, (a / 4096) * 8);
		if (got != (ssize_t)(np * 8))
			return 0;
		for (size_t i = 0; i < np; i++) {
			uint64_t v = buf[i];
			int present = (v >> 63) & 1, swapped = (v >> 62) & 1, filepg = (v >> 61) & 1;
			if (swapped || (present && !filepg))
				return 0;
		}
		a += np * 4096;
	}
	return 1;
}

int lh_collect_regions(struct img_region **out, size_t *n, void **arena_blob, size_t *arena_len)
{
	uint32_t cap = arena_count() + 16;
	struct arena_saved *as = malloc(sizeof(*as) + cap * sizeof(struct arena_range));
	if (!as)
		return -ENOMEM;
	struct arena_range *rg = (struct arena_range *)(as + 1);
	long nr = arena_snapshot(as, rg, cap);
	if (nr < 0) {
		free(as);
		return (int)nr;
	}
	struct maps_ent *m = NULL;
	size_t nm = 0;
	int rc = parse_maps(&m, &nm);
	if (rc < 0) {
		free(as);
		return rc;
	}
	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	size_t rcap = nm + nr + 16, k = 0;
	struct img_region *r = calloc(rcap, sizeof(*r));
	if (!r) {
		free(as);
		free(m);
		return -ENOMEM;
	}
	/* Every piece of a recorded range, with the protection and backing maps shows. */
	for (long i = 0; i < nr; i++) {
		for (size_t j = 0; j < nm && k < rcap; j++) {
			uint64_t s = m[j].s > rg[i].start ? m[j].s : rg[i].start;
			uint64_t e = m[j].e < rg[i].end ? m[j].e : rg[i].end;
			if (s >= e)
				continue;
			struct img_region *x = &r[k++];
			x->start = s;
			x->len = e - s;
			x->prot = m[j].prot;
			x->flags = 0;
			if (m[j].shared)
				x->flags |= IMG_REG_SHARED;
			if (m[j].path[0] == '/') {
				x->flags |= IMG_REG_FILE;
				x->file_offset = m[j].off + (s - m[j].s);
			} else {
				x->flags |= IMG_REG_ANON;
			}
			if (m[j].prot == PROT_NONE)
				x->flags |= IMG_REG_NODATA;
			else if ((x->flags & IMG_REG_FILE) && !m[j].shared && pm >= 0 &&
				 strlen(m[j].path) < sizeof(x->path) && file_pages_clean(pm, s, e))
				x->flags |= IMG_REG_NODATA | LH_REG_FROMFILE;
			snprintf(x->path, sizeof(x->path), "%s", m[j].path);
		}
	}
	if (pm >= 0)
		close(pm);
	free(m);
	*out = r;
	*n = k;
	*arena_blob = as;
	*arena_len = sizeof(*as) + nr * sizeof(struct arena_range);
	return 0;
}

/* ---------- process state ---------- */

int lh_collect_proc(void **blob, size_t *len)
{
	struct lh_proc_blob *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->magic = PROC_MAGIC;
	b->size = sizeof(*b);
	b->vpid = lh.vpid;
	b->vppid = lh.vppid;
	mode_t um = umask(022);
	umask(um);
	b->umask = um;
	b->ckpt_sig = lh.ckpt_sig;
	for (int s = 1; s <= NSIG_K; s++) {
		if (s == SIGSYS)
			b->act[s] = lh.virt_act[0];
		else if (s == lh.ckpt_sig)
			b->act[s] = lh.virt_act[1];
		else
			sys_call4(SYS_rt_sigaction, s, 0, &b->act[s], 8);
	}
	for (int i = 0; i < RLIM_NLIMITS; i++)
		getrlimit(i, &b->rlim[i]);
	for (int i = 0; i < 3; i++)
		getitimer(i, &b->itv[i]);
	if (!getcwd(b->cwd, sizeof(b->cwd)))
		b->cwd[0] = 0;
	snprintf(b->upid, sizeof(b->upid), "%s", lhc.upid);
	snprintf(b->app_exe, sizeof(b->app_exe), "%s", lh.app_exe);
	*blob = b;
	*len = sizeof(*b);
	return 0;
}

int lh_restore_proc(const void *blob, uint64_t len)
{
	const struct lh_proc_blob *b = blob;
	if (len != sizeof(*b) || b->magic != PROC_MAGIC || b->size != sizeof(*b))
		return -EBADMSG;
	lh.vpid = b->vpid;
	lh.vppid = b->vppid;
	/* The checkpoint signal stays the one the process was launched with, unless the restart
	 * names another. */
	if (!getenv("SPLITCKPT_CKPT_SIGNAL") && ckpt_signal_usable(b->ckpt_sig))
		lh.ckpt_sig = b->ckpt_sig;
	umask(b->umask);
	if (b->cwd[0] && chdir(b->cwd) < 0)
		log_warn("cannot go back to the working directory %s: %s (staying in the current "
			 "one)",
			 b->cwd, strerror(errno));
	for (int s = 1; s <= NSIG_K; s++) {
		if (s == SIGKILL || s == SIGSTOP)
			continue;
		if (s == SIGSYS) {
			lh.virt_act[0] = b->act[s];
			continue;
		}
		if (s == lh.ckpt_sig) {
			lh.virt_act[1] = b->act[s];
			continue;
		}
		struct lh_ksigaction a = b->act[s];
		a.mask &= ~((1ULL << (SIGSYS - 1)) | (1ULL << (lh.ckpt_sig - 1)));
		sys_call4(SYS_rt_sigaction, s, &a, 0, 8);
	}
	for (int i = 0; i < RLIM_NLIMITS; i++) {
		struct rlimit cur;
		if (getrlimit(i, &cur) == 0 && b->rlim[i].rlim_cur <= cur.rlim_max) {
			struct rlimit want = {b->rlim[i].rlim_cur, cur.rlim_max};
			setrlimit(i, &want);
		}
	}
	for (int i = 0; i < 3; i++)
		if (b->itv[i].it_value.tv_sec || b->itv[i].it_value.tv_usec)
			setitimer(i, &b->itv[i], NULL);
	snprintf(lhc.upid, sizeof(lhc.upid), "%s", b->upid);
	snprintf(lh.app_exe, sizeof(lh.app_exe), "%s", b->app_exe);
	return 0;
}

/* ---------- descriptors ---------- */

enum { FDT_NONE = 0, FDT_FILE, FDT_DIR, FDT_CHR, FDT_PIPE, FDT_SOCK, FDT_OTHER };

struct lh_fd_rec {
	int32_t fd, type, flags, fdflags;
	int64_t pos;
	uint64_t ino, size;
	uint64_t data_off, data_len; /* in the FILEDATA blob (--ckpt-open-files) */
	char path[4096];
};

struct lh_fds_blob {
	uint32_t magic, n;
	struct lh_fd_rec rec[];
};

static long fdinfo_flags(int fd)
{
	char p[64], line[256];
	snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", fd);
	FILE *f = fopen(p, "re");
	if (!f)
		return -1;
	long flags = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "flags: %lo", &flags) == 1)
			break;
	fclose(f);
	return flags;
}

/* Bytes waiting in a pipe, copied without consuming them (tee into a scratch pipe). */
static ssize_t pipe_peek(int fd, char **out)
{
	int n = 0;
	*out = NULL;
	if (ioctl(fd, FIONREAD, &n) < 0 || n <= 0)
		return 0;
	int p[2];
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	fcntl(p[1], F_SETPIPE_SZ, n);
	char *buf = malloc(n);
	ssize_t got = 0;
	ssize_t t = buf ? tee(fd, p[1], n, SPLICE_F_NONBLOCK) : -1;
	while (t > 0 && got < t) {
		ssize_t r = read(p[0], buf + got, t - got);
		if (r <= 0)
			break;
		got += r;
	}
	close(p[0]);
	close(p[1]);
	if (got <= 0) {
		free(buf);
		return 0;
	}
	*out = buf;
	return got;
}

struct lh_pipe_rec {
	uint64_t ino;
	uint64_t len;
};

int lh_collect_pipes(void **blob, size_t *len)
{
	char *b = NULL;
	size_t sz = 0;
	uint64_t seen[64];
	int nseen = 0;
	for (int fd = 0; fd < LH_FD_MIN; fd++) {
		struct stat st;
		if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode) || nseen == 64)
			continue;
		int dup = 0;
		for (int i = 0; i < nseen; i++)
			dup |= seen[i] == st.st_ino;
		if (dup || (fcntl(fd, F_GETFL) & O_ACCMODE) == O_WRONLY)
			continue;
		seen[nseen++] = st.st_ino;
		char *data;
		ssize_t n = pipe_peek(fd, &data);
		if (n <= 0)
			continue;
		char *nb = realloc(b, sz + sizeof(struct lh_pipe_rec) + n);
		if (!nb) {
			free(data);
			continue;
		}
		b = nb;
		struct lh_pipe_rec r = {st.st_ino, (uint64_t)n};
		memcpy(b + sz, &r, sizeof(r));
		memcpy(b + sz + sizeof(r), data, n);
		sz += sizeof(r) + n;
		free(data);
	}
	*blob = b;
	*len = sz;
	return 0;
}

int lh_collect_fds(void **blob, size_t *len, void **filedata, size_t *fdlen)
{
	size_t cap = 64;
	struct lh_fds_blob *b = calloc(1, sizeof(*b) + cap * sizeof(struct lh_fd_rec));
	char *fdata = NULL;
	size_t fdsz = 0;
	if (!b)
		return -ENOMEM;
	b->magic = FDS_MAGIC;
	for (int fd = 0; fd < LH_FD_MIN; fd++) {
		struct stat st;
		if (fstat(fd, &st) < 0)
			continue;
		if (b->n == cap) {
			cap *= 2;
			struct lh_fds_blob *nb = realloc(b, sizeof(*b) + cap * sizeof(struct lh_fd_rec));
			if (!nb) {
				free(b);
				free(fdata);
				return -ENOMEM;
			}
			b = nb;
		}
		struct lh_fd_rec *r = &b->rec[b->n++];
		memset(r, 0, sizeof(*r));
		r->fd = fd;
		char lp[64];
		snprintf(lp, sizeof(lp), "/proc/self/fd/%d", fd);
		ssize_t n = readlink(lp, r->path, sizeof(r->path) - 1);
		r->path[n > 0 ? n : 0] = 0;
		r->type = S_ISREG(st.st_mode)	? FDT_FILE
			  : S_ISDIR(st.st_mode) ? FDT_DIR
			  : S_ISCHR(st.st_mode) ? FDT_CHR
			  : S_ISFIFO(st.st_mode) ? FDT_PIPE
			  : S_ISSOCK(st.st_mode) ? FDT_SOCK
						 : FDT_OTHER;
		r->flags = (int32_t)fdinfo_flags(fd);
		r->fdflags = fcntl(fd, F_GETFD);
		r->pos = (r->type == FDT_FILE || r->type == FDT_DIR) ? lseek(fd, 0, SEEK_CUR) : 0;
		r->ino = st.st_ino;
		r->size = st.st_size;
		if (lhc.open_files && r->type == FDT_FILE && st.st_size > 0 &&
		    st.st_size < (1L << 30)) {
			char *nd = realloc(fdata, fdsz + st.st_size);
			if (!nd)
				continue;
			fdata = nd;
			ssize_t got = pread(fd, fdata + fdsz, st.st_size, 0);
			if (got < 0 && (r->flags & O_ACCMODE) == O_WRONLY) {
				/* write-only descriptor: read the file by name */
				int rfd = open(r->path, O_RDONLY | O_CLOEXEC);
				got = rfd >= 0 ? pread(rfd, fdata + fdsz, st.st_size, 0) : -1;
				if (rfd >= 0)
					close(rfd);
			}
			if (got == st.st_size) {
				r->data_off = fdsz;
				r->data_len = got;
				fdsz += got;
			} else {
				log_warn("cannot save the content of %s (fd %d)", r->path, fd);
			}
		}
	}
	*blob = b;
	*len = sizeof(*b) + b->n * sizeof(struct lh_fd_rec);
	*filedata = fdata;
	*fdlen = fdsz;
	return 0;
}

static int put_fd(int want, int have)
{
	if (have == want)
		return 0;
	if (dup2(have, want) < 0)
		return -errno;
	close(have);
	return 0;
}

/* Pipes: both ends held by this process are joined again (matched by inode); an end whose
 * partner lived in another process gets a fresh pipe of its own. */
static struct {
	uint64_t ino;
	int rd, wr;
} pipes[64];
static int npipes;

static int pipe_known(uint64_t ino)
{
	for (int i = 0; i < npipes; i++)
		if (pipes[i].ino == ino)
			return 1;
	return 0;
}

static int pipe_end(const struct lh_fd_rec *r)
{
	int wr = (r->flags & O_ACCMODE) == O_WRONLY;
	for (int i = 0; i < npipes; i++)
		if (pipes[i].ino == r->ino) {
			int *e = wr ? &pipes[i].wr : &pipes[i].rd;
			int fd = *e >= 0 ? fcntl(*e, F_DUPFD_CLOEXEC, LH_FD_MIN - 64) : -1;
			return fd;
		}
	int p[2];
	if (npipes == 64 || pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pipes[npipes].ino = r->ino;
	pipes[npipes].rd = fcntl(p[0], F_DUPFD_CLOEXEC, LH_FD_MIN - 64);
	pipes[npipes].wr = fcntl(p[1], F_DUPFD_CLOEXEC, LH_FD_MIN - 64);
	close(p[0]);
	close(p[1]);
	npipes++;
	return fcntl(wr ? pipes[npipes - 1].wr : pipes[npipes - 1].rd, F_DUPFD_CLOEXEC,
		     LH_FD_MIN - 64);
}

int lh_pipes_precreate(uint64_t ino, const void *data, uint64_t len)
{
	int i;
	for (i = 0; i < npipes; i++)
		if (pipes[i].ino == ino)
			goto fill;
	if (npipes == 64)
		return -ENOSPC;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pipes[npipes].ino = ino;
	pipes[npipes].rd = fcntl(p[0], F_DUPFD_CLOEXEC, LH_FD_MIN - 64);
	pipes[npipes].wr = fcntl(p[1], F_DUPFD_CLOEXEC, LH_FD_MIN - 64);
	close(p[0]);
	close(p[1]);
	i = npipes++;
fill:
	if (len) {
		fcntl(pipes[i].wr, F_SETPIPE_SZ, (int)len);
		if (write(pipes[i].wr, data, len) != (ssize_t)len)
			log_warn("cannot put back %llu bytes that were in a pipe",
				 (unsigned long long)len);
	}
	return 0;
}

int lh_fds_pipe_inodes(const void *blob, uint64_t len, uint64_t *ino, int max)
{
	const struct lh_fds_blob *b = blob;
	if (len < sizeof(*b) || b->magic != FDS_MAGIC ||
	    (len - sizeof(*b)) / sizeof(struct lh_fd_rec) < b->n)
		return -EBADMSG;
	int k = 0;
	for (uint32_t i = 0; i < b->n && k < max; i++)
		if (b->rec[i].type == FDT_PIPE)
			ino[k++] = b->rec[i].ino << 1 | ((b->rec[i].flags & O_ACCMODE) == O_WRONLY);
	return k;
}

/* Descriptor numbers the blob holds (an MPI restart keeps them free for the application). */
int lh_fds_numbers(const void *blob, uint64_t len, int *fds, int max)
{
	const struct lh_fds_blob *b = blob;
	if (len < sizeof(*b) || b->magic != FDS_MAGIC ||
	    (len - sizeof(*b)) / sizeof(struct lh_fd_rec) < b->n)
		return -EBADMSG;
	int k = 0;
	for (uint32_t i = 0; i < b->n && k < max; i++)
		fds[k++] = b->rec[i].fd;
	return k;
}

int (*lh_restore_fd_skip)(int fd, const char *path);

int lh_pipes_blob_apply(const void *blob, uint64_t len)
{
	const char *p = blob;
	uint64_t off = 0;
	while (off + sizeof(struct lh_pipe_rec) <= len) {
		struct lh_pipe_rec r;
		memcpy(&r, p + off, sizeof(r));
		off += sizeof(r);
		if (r.len > len - off)
			return -EBADMSG;
		if (pipe_known(r.ino))
			lh_pipes_precreate(r.ino, p + off, r.len);
		off += r.len;
	}
	return 0;
}

int lh_restore_fds(const void *blob, uint64_t len, const void *filedata, uint64_t fdlen)
{
	const struct lh_fds_blob *b = blob;
	if (len < sizeof(*b) || b->magic != FDS_MAGIC ||
	    (len - sizeof(*b)) / sizeof(struct lh_fd_rec) < b->n)
		return -EBADMSG;
	/* First write back saved contents, so that reopening sees them. */
	for (uint32_t i = 0; i < b->n; i++) {
		const struct lh_fd_rec *r = &b->rec[i];
		if (!r->data_len || r->data_off + r->data_len > fdlen || r->data_off > fdlen)
			continue;
		int wfd = open(r->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (wfd < 0 || pwrite(wfd, (const char *)filedata + r->data_off, r->data_len, 0) !=
				       (ssize_t)r->data_len)
			log_warn("cannot restore the content of %s: %s", r->path, strerror(errno));
		if (wfd >= 0)
			close(wfd);
	}
	for (uint32_t i = 0; i < b->n; i++) {
		const struct lh_fd_rec *r = &b->rec[i];
		if (r->fd >= LH_FD_MIN || (lh_restore_fd_skip && lh_restore_fd_skip(r->fd, r->path)))
			continue;
		/* stdio stays the restarting terminal's or redirects, unless it is a pipe to
		 * another process restarted with us */
		if (r->fd <= 2 && !(r->type == FDT_PIPE && pipe_known(r->ino)))
			continue;
		int fd = -1;
		int fl = r->flags >= 0 ? (r->flags & ~(O_CREAT | O_TRUNC | O_EXCL | O_NOCTTY)) : O_RDONLY;
		switch (r->type) {
		case FDT_FILE:
		case FDT_DIR:
		case FDT_CHR:
			fd = open(r->path, fl);
			if (fd < 0 && r->type == FDT_FILE && (fl & O_ACCMODE) != O_RDONLY) {
				fd = open(r->path, fl | O_CREAT, 0644);
				if (fd >= 0)
					log_warn("%s (fd %d) was missing; created it empty", r->path,
						 r->fd);
			}
			if (fd >= 0 && r->type == FDT_FILE && !(fl & O_APPEND) &&
			    lseek(fd, r->pos, SEEK_SET) < 0)
				log_warn("cannot seek %s to %lld", r->path, (long long)r->pos);
			break;
		case FDT_PIPE:
			fd = pipe_end(r);
			break;
		default:
			break;
		}
		if (fd < 0) {
			log_warn("cannot reopen fd %d (%s); it is /dev/null after restart", r->fd,
				 r->path);
			fd = open("/dev/null", O_RDWR);
		}
		if (fd >= 0 && put_fd(r->fd, fd) < 0)
			log_warn("cannot place fd %d: %s", r->fd, strerror(errno));
		if (r->fdflags >= 0)
			fcntl(r->fd, F_SETFD, r->fdflags);
	}
	for (int i = 0; i < npipes; i++) {
		close(pipes[i].rd);
		close(pipes[i].wr);
	}
	npipes = 0;
	return 0;
}

/* ---------- unmodified file mappings ---------- */

int lh_fileids_build(const struct img_region *r, size_t n, void **blob, size_t *len)
{
	struct lh_fileid *v = calloc(n + 1, sizeof(*v));
	size_t k = 0;
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!(r[i].flags & LH_REG_FROMFILE))
			continue;
		struct stat st;
		if (stat(r[i].path, &st) < 0)
			return -errno;
		v[k++] = (struct lh_fileid){r[i].start, st.st_dev, st.st_ino, st.st_size,
					    st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
	}
	*blob = v;
	*len = k * sizeof(*v);
	return 0;
}

int lh_map_from_file(const char *img, const struct img_region *r, const void *ids, uint64_t idlen)
{
	const struct lh_fileid *v = ids;
	const struct lh_fileid *id = NULL;
	for (uint64_t i = 0; ids && i < idlen / sizeof(*v); i++)
		if (v[i].start == r->start)
			id = &v[i];
	struct stat st;
	int fd = open(r->path, O_RDONLY | O_CLOEXEC);
	if (!id || fd < 0 || fstat(fd, &st) < 0 || (uint64_t)st.st_size != id->size ||
	    st.st_mtim.tv_sec != id->mtime_sec || st.st_mtim.tv_nsec != id->mtime_nsec) {
		log_err("%s: %s is %s since the checkpoint; its pages were not saved, so this image "
			"cannot be restarted here",
			img, r->path, fd < 0 ? "missing" : "changed");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	long m = sys_mmap((void *)r->start, r->len, (int)r->prot, MAP_PRIVATE | MAP_FIXED, fd,
			  (long)r->file_offset);
	close(fd);
	if (m < 0) {
		log_err("%s: cannot map %s back at 0x%lx: %s", img, r->path, (unsigned long)r->start,
			strerror((int)-m));
		return -1;
	}
	return 0;
}
