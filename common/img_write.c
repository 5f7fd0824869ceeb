/*
 * img_write.c - writes one checkpoint image (format in image.h) from the memory of the
 * calling process: the consumer half of the pipeline whose producers are in img_scan.c.
 *
 * The calling thread is the only writer. It writes the header and the small sections, starts
 * the workers, then takes finished chunks off the bounded queue in whatever order they finish
 * and writes them with large pwritev calls through img_out.c (raw chunks straight from process
 * memory, never copied; a large image with direct I/O, so not even into the page cache), then
 * appends the chunk index and the trailer, fsyncs, renames the .tmp file to its final name and
 * fsyncs the directory (a coordinated checkpoint leaves that to the coordinator, whose fsync
 * of the same directory after the MANIFEST covers the image's name too). Without direct I/O, a
 * flusher thread starts writeback of what is already written, so the disk works while the
 * writer copies and the final fsync has little left.
 * Invariants: the index entry of a chunk records exactly the header written for it; after any
 * error all threads are joined and the .tmp file is removed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "img"
#include "img_internal.h"
#include "log.h"

#define BATCH 256 /* chunks per writev (2 iovecs each, under IOV_MAX) */
#ifndef KICK_BYTES
#define KICK_BYTES (32ull << 20) /* start writeback every this many bytes */
#endif

static double now_sec(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The writer's state: the output file and the chunk index it builds, and the flusher thread
 * that starts writeback of what was written (so that disk I/O overlaps the copying into the
 * page cache and the final fsync has little left to wait for, without blocking the writer). */
struct wout {
	struct img_out out;
	struct img_disk_index *idx;
	uint64_t n, cap, data_bytes, stored_bytes, raw_chunks;
	pthread_t ftid;
	int fstarted, fdone;
	pthread_mutex_t fmu;
	pthread_cond_t fcv;
	uint64_t written, kicked; /* under fmu */
};

static void *flusher_main(void *arg)
{
	struct wout *o = arg;
	pthread_mutex_lock(&o->fmu);
	for (;;) {
		while (!o->fdone && o->written - o->kicked < KICK_BYTES)
			pthread_cond_wait(&o->fcv, &o->fmu);
		if (o->fdone)
			break;
		uint64_t from = o->kicked, to = o->written;
		o->kicked = to;
		pthread_mutex_unlock(&o->fmu);
		sync_file_range(o->out.fd, (off_t)from, (off_t)(to - from), SYNC_FILE_RANGE_WRITE);
		pthread_mutex_lock(&o->fmu);
	}
	pthread_mutex_unlock(&o->fmu);
	return NULL;
}

/* Starts the flusher; without it (thread creation failed) the final fsync does all. */
static void flusher_start(struct wout *o)
{
	pthread_mutex_init(&o->fmu, NULL);
	pthread_cond_init(&o->fcv, NULL);
	o->written = o->kicked = o->out.pos;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	o->fstarted = pthread_create(&o->ftid, NULL, flusher_main, o) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void flusher_stop(struct wout *o)
{
	pthread_mutex_lock(&o->fmu);
	o->fdone = 1;
	pthread_cond_signal(&o->fcv);
	pthread_mutex_unlock(&o->fmu);
	if (o->fstarted)
		pthread_join(o->ftid, NULL);
	pthread_cond_destroy(&o->fcv);
	pthread_mutex_destroy(&o->fmu);
}

static int write_batch(struct wout *o, const struct img_wjob *jobs, size_t n)
{
	struct img_disk_chunk hdr[BATCH];
	struct img_out *out = &o->out;
	if (o->n + n > UINT32_MAX)
		return -EFBIG; /* chunk numbers are 32-bit */
	if (o->n + n > o->cap) {
		uint64_t cap = o->cap ? o->cap * 2 : 1024;
		while (cap < o->n + n)
			cap *= 2;
		void *p = realloc(o->idx, cap * sizeof(*o->idx));
		if (!p)
			return -ENOMEM;
		o->idx = p;
		o->cap = cap;
	}
	size_t staged = 0; /* aligned layout: gap + header + what of the data is copied */
	for (size_t i = 0; i < n; i++)
		staged += IMG_ALIGN + sizeof(hdr[i]) +
			  (jobs[i].c.stored_len < IMG_ALIGN_MIN ? jobs[i].c.stored_len : IMG_ALIGN);
	int rc = img_out_reserve(out, staged, (int)(3 * n));
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		hdr[i] = jobs[i].c;
		hdr[i].seq = (uint32_t)o->n;
		hdr[i].hcrc = img_chunk_hcrc(&hdr[i]);
		img_out_pad(out, img_chunk_pos(out->pos, hdr[i].stored_len, out->aligned));
		o->idx[o->n].file_off = out->pos;
		o->idx[o->n].c = hdr[i];
		o->n++;
		o->data_bytes += hdr[i].raw_len;
		o->stored_bytes += hdr[i].stored_len;
		o->raw_chunks += hdr[i].flags == IMG_CHUNK_RAW;
		img_out_put(out, &hdr[i], sizeof(hdr[i]));
		img_out_put_data(out, jobs[i].data, hdr[i].stored_len);
	}
	rc = img_out_flush(out, 0);
	if (!rc && o->fstarted) {
		pthread_mutex_lock(&o->fmu);
		o->written = out->iov_off;
		if (o->written - o->kicked >= KICK_BYTES)
			pthread_cond_signal(&o->fcv);
		pthread_mutex_unlock(&o->fmu);
	}
	return rc;
}

/* Takes finished chunks off the queue and writes them until the workers are done. */
static int writer_loop(struct img_wctx *w, struct wout *o)
{
	struct img_wjob jobs[BATCH];
	for (;;) {
		pthread_mutex_lock(&w->mu);
		while (!w->qlen && w->running && !w->abort)
			pthread_cond_wait(&w->cv_writer, &w->mu);
		if (w->abort || (!w->qlen && !w->running)) {
			pthread_mutex_unlock(&w->mu);
			return 0;
		}
		size_t n = w->qlen < BATCH ? w->qlen : BATCH;
		for (size_t i = 0; i < n; i++) {
			jobs[i] = w->q[(w->qhead + i) % IMG_QCAP];
			w->qbytes -= jobs[i].c.stored_len;
		}
		w->qhead = (w->qhead + n) % IMG_QCAP;
		w->qlen -= n;
		pthread_cond_broadcast(&w->cv_worker);
		pthread_mutex_unlock(&w->mu);

		int rc = write_batch(o, jobs, n);
		pthread_mutex_lock(&w->mu);
		for (size_t i = 0; i < n; i++)
			if (jobs[i].buf)
				jobs[i].buf->refs--;
		pthread_cond_broadcast(&w->cv_worker);
		pthread_mutex_unlock(&w->mu);
		if (rc)
			return rc;
	}
}

/* Runs the workers and the writer; returns 0 or -errno with the message in err. */
static int write_chunks(struct img_wctx *w, struct wout *o, int nthreads, char *err, size_t errlen)
{
	int rc = img_scan_start(w, nthreads, err, errlen);
	int wrc = writer_loop(w, o);
	if (wrc && !rc) {
		rc = img_fail(err, errlen, -wrc, "%s.tmp: write failed: %s", w->path,
			      strerror(-wrc));
		img_wctx_abort(w, 0, "");
	}
	img_scan_join(w);
	if (!rc && w->err)
		rc = img_fail(err, errlen, w->err, "%s: %s", w->path, w->msg);
	return rc;
}

static int check_blobs(const char *path, const struct img_blob *b, size_t n, char *err,
		       size_t errlen)
{
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++) {
		total += b[i].len <= IMG_SECTIONS_MAX ? b[i].len : IMG_SECTIONS_MAX;
		if (total > IMG_SECTIONS_MAX / 2)
			return img_fail(err, errlen, EFBIG, "%s: blobs too large (over %llu bytes)",
					path, (unsigned long long)(IMG_SECTIONS_MAX / 2));
		if (!b[i].type || (!b[i].data && b[i].len) || b[i].len > IMG_SECTIONS_MAX)
			return img_fail(err, errlen, EINVAL, "%s: blob %zu (type %u) is invalid",
					path, i, b[i].type);
		for (size_t j = 0; j < i; j++)
			if (b[j].type == b[i].type)
				return img_fail(err, errlen, EINVAL, "%s: blob type %u given twice",
						path, b[i].type);
	}
	return 0;
}

/* Puts the header and the sections (INFO, blobs, REGIONS) at offset 0 and writes them. */
static int write_head(struct wout *o, const struct img_header_info *h, const struct img_blob *blobs,
		      size_t nblobs, const struct img_region *regs, size_t nregs)
{
	struct img_buf info = {0}, rt = {0};
	struct img_disk_section *sh = calloc(2 + nblobs, sizeof(*sh));
	struct img_disk_header hd;
	int rc = -ENOMEM;
	img_encode_info(&info, h);
	img_encode_regions(&rt, regs, nregs);
	if (!sh || info.nomem || rt.nomem)
		goto out;
	memset(&hd, 0, sizeof(hd));
	memcpy(hd.magic, IMG_MAGIC, 8);
	hd.version = h->flags & IMG_F_ALIGNED ? 2 : 1; /* format 1 readers can read the rest */
	hd.header_size = sizeof(hd);
	hd.flags = h->flags;
	hd.nsections = (uint32_t)(2 + nblobs);
	hd.sections_len = 2 * sizeof(*sh) + info.len + rt.len;
	for (size_t i = 0; i < nblobs; i++)
		hd.sections_len += sizeof(*sh) + blobs[i].len;
	hd.data_off = hd.header_size + hd.sections_len;
	hd.crc = img_crc(0, &hd, sizeof(hd));

	rc = img_out_reserve(&o->out, hd.data_off, (int)(5 + 2 * nblobs));
	if (rc)
		goto out;
	img_out_put(&o->out, &hd, sizeof(hd));
	img_make_section(&sh[0], IMG_SEC_INFO, 0, info.p, info.len);
	img_out_put(&o->out, &sh[0], sizeof(*sh));
	img_out_put(&o->out, info.p, info.len);
	for (size_t i = 0; i < nblobs; i++) {
		img_make_section(&sh[1 + i], IMG_SEC_BLOB, blobs[i].type, blobs[i].data,
				 blobs[i].len);
		img_out_put(&o->out, &sh[1 + i], sizeof(*sh));
		img_out_put(&o->out, blobs[i].data, blobs[i].len);
	}
	img_make_section(&sh[1 + nblobs], IMG_SEC_REGIONS, 0, rt.p, rt.len);
	img_out_put(&o->out, &sh[1 + nblobs], sizeof(*sh));
	img_out_put(&o->out, rt.p, rt.len);
	rc = img_out_flush(&o->out, 0); /* before the buffers go */
out:
	free(info.p);
	free(rt.p);
	free(sh);
	return rc;
}

/* Writes what is left of the chunks, then the chunk index section and the trailer. */
static int write_tail(struct wout *o, size_t nregs, uint64_t data_off)
{
	struct img_disk_section s;
	struct img_disk_trailer t;
	uint64_t ilen = o->n * sizeof(*o->idx);
	int rc = img_out_flush(&o->out, 1);
	if (rc)
		return rc;
	img_make_section(&s, IMG_SEC_INDEX, 0, o->idx, ilen);
	memset(&t, 0, sizeof(t));
	memcpy(t.magic, IMG_TRAILER_MAGIC, 8);
	t.nchunks = o->n;
	t.data_bytes = o->data_bytes;
	t.stored_bytes = o->stored_bytes;
	t.data_off = data_off;
	t.index_off = o->out.pos;
	t.file_size = o->out.pos + sizeof(s) + ilen + sizeof(t);
	t.nregions = (uint32_t)nregs;
	t.crc = img_crc(0, &t, sizeof(t));
	rc = img_out_reserve(&o->out, 0, 3);
	if (rc)
		return rc;
	img_out_put(&o->out, &s, sizeof(s));
	img_out_put(&o->out, o->idx, ilen);
	img_out_put(&o->out, &t, sizeof(t));
	return img_out_flush(&o->out, 1);
}

static int fsync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) ? -errno : 0;
	close(fd);
	return rc;
}

int img_write_ex(const char *final_path, const struct img_header_info *h,
		 const struct img_blob *blobs, size_t nblobs, const struct img_region *regs,
		 size_t nregs, const struct img_write_opts *opts, const struct img_incr *incr,
		 struct img_write_stats *st, char *err, size_t errlen)
{
	static const struct img_write_opts defaults = {.compress = 1, .level = 1};
	const struct img_write_opts *op = opts ? opts : &defaults;
	double t0 = now_sec();
	char tmp[PATH_MAX];
	struct img_header_info info;
	struct img_wctx *w = NULL;
	struct wout o = {.out = {.fd = -1, .pipe_r = -1, .pipe_w = -1}};
	int rc;

	if (!final_path || !h || (nregs && !regs) || (nblobs && !blobs))
		return img_fail(err, errlen, EINVAL, "img_write: missing argument");
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", final_path) >= (int)sizeof(tmp))
		return img_fail(err, errlen, ENAMETOOLONG, "%s: path too long", final_path);
	rc = check_blobs(final_path, blobs, nblobs, err, errlen);
	if (rc)
		return rc;
	rc = img_check_regions(regs, nregs, err, errlen);
	if (rc) {
		char m[256];
		snprintf(m, sizeof(m), "%s", err ? err : "");
		return img_fail(err, errlen, -rc, "%s: %s", final_path, m);
	}
	info = *h;
	info.flags = op->compress ? info.flags | IMG_F_COMPRESSED : info.flags & ~IMG_F_COMPRESSED;
	info.flags &= ~IMG_F_INCREMENTAL;
	info.parent_id = 0;
	info.parent_gen = 0;
	info.parent_name[0] = 0;
	if (incr) {
		if (!incr->parent_id || !incr->parent_name || !incr->parent_name[0] ||
		    strlen(incr->parent_name) >= sizeof(info.parent_name) ||
		    (incr->nclean && !incr->clean))
			return img_fail(err, errlen, EINVAL, "%s: bad parent description",
					final_path);
		for (size_t i = 0; i < incr->nclean; i++)
			if (incr->clean[2 * i] >= incr->clean[2 * i + 1] ||
			    (incr->clean[2 * i] | incr->clean[2 * i + 1]) % IMG_PAGE_SIZE ||
			    (i && incr->clean[2 * i] < incr->clean[2 * i - 1]))
				return img_fail(err, errlen, EINVAL,
						"%s: unchanged-page ranges not sorted", final_path);
		info.flags |= IMG_F_INCREMENTAL;
		info.parent_id = incr->parent_id;
		info.parent_gen = incr->parent_gen;
		snprintf(info.parent_name, sizeof(info.parent_name), "%s", incr->parent_name);
	}
	if (!info.hwloc_summary[0])
		img_hwloc_summary(info.hwloc_summary, sizeof(info.hwloc_summary));

	w = calloc(1, sizeof(*w));
	if (!w)
		return img_fail(err, errlen, ENOMEM, "%s: out of memory", final_path);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv_writer, NULL);
	pthread_cond_init(&w->cv_worker, NULL);
	w->path = final_path;
	w->regs = regs;
	w->nregs = nregs;
	if (incr)
		w->clean = (struct img_clean){incr->clean, incr->nclean};
	w->compress = op->compress;
	w->level = op->level > 0 && op->level <= 9 ? op->level : 1;
	w->codec = op->codec > 0 ? op->codec : img_default_codec();
	w->pm_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	w->mem_fd = -1;
	for (size_t i = 0; i < nregs; i++)
		if (!(regs[i].prot & PROT_READ) && !(regs[i].flags & IMG_REG_NODATA) &&
		    w->mem_fd < 0)
			w->mem_fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);

	uint64_t bound = 0; /* bytes the chunks could hold */
	for (size_t i = 0; i < nregs; i++)
		bound += regs[i].flags & IMG_REG_NODATA ? 0 : regs[i].len;
	rc = img_out_open(&o.out, tmp, op->direct > 0 || (!op->direct && bound >= IMG_DIRECT_MIN));
	if (rc) {
		rc = img_fail(err, errlen, -rc, "cannot create %s: %s", tmp, strerror(-rc));
		goto out;
	}
	info.flags = o.out.aligned ? info.flags | IMG_F_ALIGNED : info.flags & ~IMG_F_ALIGNED;
	rc = write_head(&o, &info, blobs, nblobs, regs, nregs);
	if (rc) {
		rc = img_fail(err, errlen, -rc, "%s: write failed: %s", tmp, strerror(-rc));
		goto out_unlink;
	}
	uint64_t data_off = o.out.pos;
	int flusher = !o.out.direct; /* direct I/O leaves nothing in the page cache to write back */
	if (flusher)
		flusher_start(&o);
	rc = write_chunks(w, &o, img_nthreads(op->nthreads), err, errlen);
	if (flusher)
		flusher_stop(&o);
	if (rc)
		goto out_unlink;
	rc = write_tail(&o, nregs, data_off);
	double t_written = now_sec();
	if (!rc && fsync(o.out.fd))
		rc = -errno;
	double t_synced = now_sec();
	if (rc) {
		rc = img_fail(err, errlen, -rc, "%s: write failed: %s", tmp, strerror(-rc));
		goto out_unlink;
	}
	rc = close(o.out.fd) ? -errno : 0;
	o.out.fd = -1;
	if (!rc && rename(tmp, final_path))
		rc = -errno;
	if (rc) {
		rc =
		    img_fail(err, errlen, -rc, "cannot complete %s: %s", final_path, strerror(-rc));
		goto out_unlink;
	}
	rc = op->no_dir_sync ? 0 : fsync_dir_of(final_path);
	if (rc) {
		rc = img_fail(err, errlen, -rc, "%s: cannot fsync its directory: %s", final_path,
			      strerror(-rc));
		goto out;
	}
	log_debug("%s: %llu bytes (%llu of memory in %llu chunks, %llu raw) in %.3f s (written "
		  "%.3f, file fsync %.3f, rename and directory fsync %.3f)",
		  final_path, (unsigned long long)o.out.pos, (unsigned long long)o.data_bytes,
		  (unsigned long long)o.n, (unsigned long long)o.raw_chunks, now_sec() - t0,
		  t_written - t0, t_synced - t_written, now_sec() - t_synced);
	if (st) {
		st->file_bytes = o.out.pos;
		st->data_bytes = o.data_bytes;
		st->zero_bytes = w->zero_bytes;
		st->chunks = o.n;
		st->raw_chunks = o.raw_chunks;
		st->parent_bytes = w->parent_bytes;
		st->data_bytes = o.data_bytes - w->parent_bytes;
		st->seconds = now_sec() - t0;
	}
	goto out;
out_unlink:
	unlink(tmp);
out:
	img_out_free(&o.out);
	free(o.idx);
	if (w->pm_fd >= 0)
		close(w->pm_fd);
	if (w->mem_fd >= 0)
		close(w->mem_fd);
	pthread_cond_destroy(&w->cv_worker);
	pthread_cond_destroy(&w->cv_writer);
	pthread_mutex_destroy(&w->mu);
	free(w);
	return rc;
}

int img_write(const char *final_path, const struct img_header_info *h, const struct img_blob *blobs,
	      size_t nblobs, const struct img_region *regs, size_t nregs,
	      const struct img_write_opts *opts, struct img_write_stats *st, char *err,
	      size_t errlen)
{
	return img_write_ex(final_path, h, blobs, nblobs, regs, nregs, opts, NULL, st, err,
			    errlen);
}