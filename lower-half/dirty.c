/*
 * dirty.c - incremental checkpoints: which pages of the upper half were written since the
 * previous checkpoint, and what a generation's image may leave to its parent.
 *
 * This kernel has no soft-dirty bits; it has userfaultfd write-protection in asynchronous
 * mode (UFFD_FEATURE_WP_ASYNC: a write to a protected page is not reported to anyone, the
 * kernel just drops the protection) and PAGEMAP_SCAN, which lists pages whose protection is
 * gone (PAGE_IS_WRITTEN) and, with PM_SCAN_WP_MATCHING, protects them again in the same walk.
 * At every capture (application parked) lh_dirty_capture registers each private anonymous
 * region of the upper half and scans it with WP_MATCHING: pages present (or swapped) in a
 * registered area and not written since the previous capture are "clean". The same walk
 * restarts tracking, before the application resumes and before a forked writer is cloned
 * (the clone has no userfaultfd; the parent keeps tracking).
 *
 * Why a clean page really equals the parent image's page (the invariants):
 * - the protection bit is set only by our scan, and any write (user, kernel copy_to_user,
 *   GUP, process_vm_writev) clears it, so "not written" means "not written since the last
 *   scan"; a page that is not present is zero and never clean, except a page that was absent
 *   at the last scan and still is (the scan left a WP_UNPOPULATED marker, reported as
 *   SWAPPED): zero then and now, so "as in the parent" is right for it too;
 * - memory mapped, moved (mremap without UFFD_FEATURE_EVENT_REMAP) or forked since then is
 *   not registered, so its pages are reported written (or absent);
 * - clean pages are further limited to the private anonymous data regions of the previous
 *   capture (a region that was PROT_NONE then has no data in the parent);
 * - the previous capture must be the parent, and it must have been committed
 *   (lh_dirty_committed) or be the image the process was restarted from (tracking starts
 *   before the restored threads run: lh_dirty_restored); otherwise (failed generation, first
 *   one after a launch, parent not where the new image names it,
 *   every K-th one, tracking unavailable) the image is full.
 * A full image is also taken when the chain's written bytes would exceed the memory of the
 * last full image, so a chain never costs more disk than two full images.
 * Regions that are shared or file-backed are always written in full. Writes by devices to
 * long-term pinned pages (RDMA) bypass the page tables and are not seen: no such device here.
 */
#define LOG_PREFIX "lh"
#include "dirty.h"
#include "ckpt.h"
#include "lh.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Debian 12's headers predate these (Linux 6.7 uapi). */
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1ULL << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1ULL << 15)
#endif
struct lh_pm_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
struct lh_page_region {
	uint64_t start, end, categories;
};
#define LH_PAGEMAP_SCAN _IOWR('f', 16, struct lh_pm_scan_arg)
#define PM_SCAN_WP_MATCHING (1ULL << 0)
#define PAGE_IS_WPALLOWED (1ULL << 0)
#define PAGE_IS_WRITTEN (1ULL << 1)
#define PAGE_IS_PRESENT (1ULL << 3)
#define PAGE_IS_SWAPPED (1ULL << 4)

#define VEC_LEN 4096

struct pairs {
	uint64_t *v; /* [start, end) pairs */
	size_t n, cap;
};

static struct {
	int tried, fd;
	pid_t pid;	    /* the process that opened fd (a forked child must not use it) */
	int full_every;	    /* K; < 2 = incremental checkpoints off */
	uint32_t last_gen;  /* last capture that restarted tracking (0: none usable) */
	uint64_t last_id;   /* its image id */
	uint32_t committed; /* last generation committed */
	int chain;	    /* incremental images since the last full one */
	uint64_t chain_bytes, full_bytes;
	struct pairs prev; /* private anonymous data regions of the last capture */
	/* the plan of the last capture */
	struct pairs clean;
	struct img_incr incr;
	int incremental;
	uint64_t image_id;
	char parent_name[512];
	struct lh_page_region vec[VEC_LEN];
} d = {.fd = -1, .full_every = -1};

static int pairs_push(struct pairs *p, uint64_t s, uint64_t e)
{
	if (p->n && p->v[2 * p->n - 1] == s) {
		p->v[2 * p->n - 1] = e;
		return 0;
	}
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 256;
		uint64_t *nv = realloc(p->v, cap * 2 * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		p->v = nv;
		p->cap = cap;
	}
	p->v[2 * p->n] = s;
	p->v[2 * p->n + 1] = e;
	p->n++;
	return 0;
}

static int pair_cmp(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;
	return x[0] < y[0] ? -1 : x[0] > y[0];
}

static void pairs_sort(struct pairs *p) { qsort(p->v, p->n, 2 * sizeof(*p->v), pair_cmp); }

/* Adds [s, e) ∩ prev (sorted) to out. */
static int push_within(struct pairs *out, const struct pairs *prev, uint64_t s, uint64_t e)
{
	size_t lo = 0, hi = prev->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (prev->v[2 * mid + 1] <= s)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < prev->n && prev->v[2 * i] < e; i++) {
		uint64_t a = prev->v[2 * i] > s ? prev->v[2 * i] : s;
		uint64_t b = prev->v[2 * i + 1] < e ? prev->v[2 * i + 1] : e;
		if (a < b && pairs_push(out, a, b))
			return -ENOMEM;
	}
	return 0;
}

static int full_every(void)
{
	if (d.full_every < 0) {
		const char *v = getenv("SPLITCKPT_FULL_EVERY");
		d.full_every = v && *v ? atoi(v) : 0;
		if (d.full_every < 0)
			d.full_every = 0;
	}
	return d.full_every;
}

int lh_dirty_full_every(void) { return full_every(); }

void lh_dirty_image_full_every(uint32_t k)
{
	const char *v = getenv("SPLITCKPT_FULL_EVERY");
	if (v && *v) /* the restart's own --full-every / DMTCP_FULL_EVERY */
		return;
	d.full_every = k > 1000000 ? 1000000 : (int)k; /* the launcher's own bound */
	if (k > 1)
		log_debug("incremental checkpoints: a full image every %u (from the image)", k);
}

/* Opens the userfaultfd of this process once; -1 (logged once) if the kernel refuses. */
static int uffd_open(void)
{
	if (d.pid != getpid()) { /* a fork of the application: the inherited fd is the parent's */
		if (d.fd >= 0)
			close(d.fd);
		d.fd = -1;
		d.tried = 0;
		d.last_gen = d.committed = 0;
		d.prev.n = 0;
		d.pid = getpid();
	}
	if (d.tried)
		return d.fd;
	d.tried = 1;
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0 && errno == EINVAL)
		fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	const char *why = NULL;
	if (fd < 0) {
		why = strerror(errno);
	} else {
		struct uffdio_api api = {.api = UFFD_API,
					 .features =
					     UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED};
		if (ioctl(fd, UFFDIO_API, &api) < 0)
			why = "the kernel lacks asynchronous write-protection "
			      "(UFFD_FEATURE_WP_ASYNC)";
	}
	if (why) {
		log_warn("incremental checkpoints are off: userfaultfd: %s (every image is full)",
			 why);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	int hi = fcntl(fd, F_DUPFD_CLOEXEC, LH_FD_MIN);
	if (hi >= 0) {
		close(fd);
		fd = hi;
	}
	d.fd = fd;
	return fd;
}

/* Registers [s, e) for write-protection, scans it and protects it again. Adds the clean
 * pages inside the previous capture's regions to d.clean. 0, or -errno (tracking broken). */
static int track_region(int pm, uint64_t s, uint64_t e, uint64_t *present, uint64_t *written)
{
	struct uffdio_register reg = {.range = {s, e - s}, .mode = UFFDIO_REGISTER_MODE_WP};
	if (ioctl(d.fd, UFFDIO_REGISTER, &reg) < 0)
		return -errno;
	for (uint64_t at = s; at < e;) {
		struct lh_pm_scan_arg a = {
		    .size = sizeof(a),
		    .flags = PM_SCAN_WP_MATCHING,
		    .start = at,
		    .end = e,
		    .vec = (uint64_t)(uintptr_t)d.vec,
		    .vec_len = VEC_LEN,
		    .return_mask =
			PAGE_IS_WPALLOWED | PAGE_IS_WRITTEN | PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
		};
		long n = ioctl(pm, LH_PAGEMAP_SCAN, &a);
		if (n < 0)
			return -errno;
		uint64_t done = at; /* the walk may stop (walk_end) inside what it reported */
		for (long i = 0; i < n; i++) {
			uint64_t rs = d.vec[i].start > done ? d.vec[i].start : done;
			if (d.vec[i].end <= rs)
				continue;
			d.vec[i].start = rs;
			done = d.vec[i].end;
			uint64_t c = d.vec[i].categories, len = d.vec[i].end - d.vec[i].start;
			if (!(c & (PAGE_IS_PRESENT | PAGE_IS_SWAPPED)))
				continue; /* not there: zero */
			/* SWAPPED also marks an untouched page protected at the last capture (a
			 * WP_UNPOPULATED marker, zero in the parent too): clean, but not memory */
			if (c & PAGE_IS_PRESENT)
				*present += len;
			if ((c & PAGE_IS_WRITTEN) || !(c & PAGE_IS_WPALLOWED))
				*written += len;
			else if (push_within(&d.clean, &d.prev, d.vec[i].start, d.vec[i].end))
				return -ENOMEM;
		}
		if (a.walk_end > done)
			done = a.walk_end;
		if (done <= at)
			return -EIO;
		at = done;
	}
	return 0;
}

static uint64_t new_id(void)
{
	uint64_t id = 0;
	if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != sizeof(id) || !id) {
		struct timespec t;
		clock_gettime(CLOCK_REALTIME, &t);
		id = ((uint64_t)t.tv_sec << 32) ^ (uint64_t)t.tv_nsec ^ ((uint64_t)getpid() << 20);
	}
	return id ? id : 1;
}

/* Registers and protects every private anonymous data region; the tracked ones become
 * d.prev. 0 or -errno (tracking broken). */
static int track_all(int pm, const struct img_region *regs, size_t n, uint64_t *present,
		     uint64_t *written)
{
	struct pairs now = {0};
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		const struct img_region *r = &regs[i];
		if (!(r->flags & IMG_REG_ANON) ||
		    (r->flags & (IMG_REG_SHARED | IMG_REG_FILE | IMG_REG_NODATA | LH_REG_FROMFILE)))
			continue;
		rc = track_region(pm, r->start, r->start + r->len, present, written);
		if (rc == -EINVAL || rc == -EBUSY || rc == -EPERM) {
			/* this kind of mapping cannot be tracked: always saved in full */
			log_debug("region 0x%llx+0x%llx not tracked: %s",
				  (unsigned long long)r->start, (unsigned long long)r->len,
				  strerror(-rc));
			rc = 0;
			continue;
		}
		if (!rc)
			rc = pairs_push(&now, r->start, r->start + r->len);
	}
	pairs_sort(&now);
	free(d.prev.v);
	d.prev = now;
	return rc;
}

void lh_dirty_restored(uint32_t gen, uint64_t image_id, size_t chain_len,
		       const struct img_region *regs, size_t n)
{
	if (full_every() < 2 || uffd_open() < 0)
		return;
	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	uint64_t present = 0, written = 0;
	d.prev.n = 0; /* nothing is clean in this first scan */
	d.clean.n = 0;
	d.last_gen = 0;
	if (pm < 0 || track_all(pm, regs, n, &present, &written) < 0) {
		log_warn("incremental checkpoints: cannot track the restored memory; the next "
			 "image is full");
		d.prev.n = 0;
	} else {
		d.last_gen = d.committed = gen;
		d.last_id = image_id;
		d.chain = chain_len ? (int)chain_len - 1 : 0;
		d.chain_bytes = 0;
		d.full_bytes = present;
	}
	d.clean.n = 0;
	if (pm >= 0)
		close(pm);
}

int lh_dirty_capture(uint32_t gen, const char *path, const struct img_region *regs, size_t n)
{
	d.incremental = 0;
	d.clean.n = 0;
	d.image_id = new_id();
	if (full_every() < 2 || uffd_open() < 0)
		return 0;
	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm < 0) {
		log_warn("incremental checkpoints: cannot open /proc/self/pagemap: %s; generation "
			 "%u is a full image",
			 strerror(errno), gen);
		d.last_gen = 0;
		return 0;
	}
	int usable = d.last_gen && d.committed == d.last_gen && d.chain + 1 < d.full_every;
	uint64_t present = 0, written = 0;
	int rc = track_all(pm, regs, n, &present, &written); /* d.prev: now this capture's */
	close(pm);
	if (rc) {
		log_warn("incremental checkpoints: tracking failed: %s; generation %u and the next "
			 "are full images",
			 strerror(-rc), gen);
		d.clean.n = 0;
		d.prev.n = 0;
		d.last_gen = 0;
		return rc == -ENOMEM ? rc : 0;
	}
	pairs_sort(&d.clean);
	if (usable) { /* the parent must be where this image will name it */
		char pp[4200];
		const char *slash = strrchr(path, '/');
		snprintf(d.parent_name, sizeof(d.parent_name), "../gen-%06u/ckpt_%s_%s.dmtcp",
			 d.last_gen, lhc.progname, lhc.upid);
		snprintf(pp, sizeof(pp), "%.*s/%s", slash ? (int)(slash - path) : 1,
			 slash ? path : ".", d.parent_name);
		if (access(pp, F_OK) < 0) {
			log_info("generation %u is a full image: its parent %s is not there (%s)",
				 gen, pp, strerror(errno));
			usable = 0;
		}
	}
	if (usable && d.chain_bytes + written <= d.full_bytes) {
		d.incremental = 1;
		d.incr =
		    (struct img_incr){d.last_id, d.last_gen, d.parent_name, d.clean.v, d.clean.n};
		d.chain++;
		d.chain_bytes += written;
	} else {
		d.clean.n = 0;
		d.chain = 0;
		d.chain_bytes = 0;
		d.full_bytes = present;
	}
	log_debug("generation %u: %s image, %llu of %llu bytes written since generation %u", gen,
		  d.incremental ? "incremental" : "full", (unsigned long long)written,
		  (unsigned long long)present, d.last_gen);
	d.last_gen = gen;
	d.last_id = d.image_id;
	return 0;
}

const struct img_incr *lh_dirty_incr(void) { return d.incremental ? &d.incr : NULL; }

uint64_t lh_dirty_image_id(void) { return d.image_id; }

void lh_dirty_committed(uint32_t gen) { d.committed = gen; }

uint32_t lh_dirty_prune_from(const char *newest_path, uint32_t gen, int keep)
{
	if (keep <= 0)
		return 0;
	uint32_t from = gen > (uint32_t)keep ? gen - (uint32_t)keep : 0;
	if (full_every() < 2)
		return from;
	const char *name = strrchr(newest_path, '/');
	if (!name || name == newest_path)
		return from;
	const char *dirend = name;
	while (dirend > newest_path && dirend[-1] != '/')
		dirend--;		       /* start of "gen-NNNNNN" */
	int top = (int)(dirend - newest_path); /* ".../" */
	for (uint32_t g = from + 1; g <= gen; g++) {
		char p[4200], err[1024];
		uint32_t base;
		snprintf(p, sizeof(p), "%.*sgen-%06u%s", top, newest_path, g, name);
		if (access(p, F_OK) < 0)
			continue; /* this process has no image of g */
		if (img_chain_base(p, &base, err, sizeof(err)) < 0) {
			log_warn("keeping every older generation: %s", err);
			return 0;
		}
		if (base && base - 1 < from)
			from = base - 1;
	}
	return from;
}

void lh_dirty_rmdir_gen(const char *dir)
{
	if (rmdir(dir) == 0 || errno != ENOTEMPTY)
		return;
	DIR *d = opendir(dir);
	if (!d)
		return;
	int others = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    strcmp(e->d_name, "MANIFEST"))
			others = 1;
	closedir(d);
	if (others)
		return; /* images of other processes: the last of them removes the directory */
	char m[4200];
	snprintf(m, sizeof(m), "%s/MANIFEST", dir);
	unlink(m);
	rmdir(dir);
}
