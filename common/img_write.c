/*
 * img_write.c - writes one checkpoint image (format in image.h) from the memory of the
 * calling process.
 *
 * Pipeline: regions are cut into segments of IMG_CHUNK_MAX bytes; worker threads claim
 * segments, skip all-zero pages (untouched private anonymous pages are found through
 * /proc/self/pagemap without reading them), cut the rest into chunks at every zero page, and
 * for each chunk compute the CRC and, when compressing, deflate it into a worker buffer - but
 * only if a 32 KiB sample shrank and the result is at most 90% of the input, otherwise the
 * chunk is stored raw straight from process memory. The calling thread is the only writer: it
 * takes finished chunks from a bounded queue in whatever order they finish and writes them with
 * large writev calls (raw chunks are never copied), then appends the chunk index and the
 * trailer, fsyncs, renames and fsyncs the directory.
 * Invariants: a worker buffer is reused only when no queued or unwritten chunk refers to it;
 * after any error every worker stops at its next queue operation, all are joined, and the
 * .tmp file is removed.
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
#define ZLIB_CONST
#include <zlib.h>

#define LOG_PREFIX "img"
#include "img_internal.h"
#include "log.h"

#define SEG_PAGES (IMG_CHUNK_MAX / IMG_PAGE_SIZE)
#define NBUF 3          /* buffers per worker */
#define QCAP 1024       /* finished chunks waiting for the writer */
#ifndef QBYTES
#define QBYTES (16u << 20) /* and at most this many stored bytes, so they are still cached */
#endif
#define BATCH 256       /* chunks per writev (2 iovecs each, under IOV_MAX) */
#define SAMPLE_PIECE (8u << 10)
#define SAMPLE_PIECES 4u
#ifndef KICK_BYTES
#define KICK_BYTES (32ull << 20) /* start writeback every this many bytes */
#endif

struct wbuf {
	uint8_t *mem;
	int refs; /* holders: the worker filling it and every chunk pointing into it */
};

struct wjob {
	struct img_disk_chunk c; /* all but seq and hcrc */
	const void *data;
	struct wbuf *buf; /* reference to drop once written, or NULL */
};

struct wctx;

struct worker {
	struct wctx *w;
	pthread_t tid;
	int started;
	struct wbuf bufs[NBUF];
	z_stream z;
	int zinit;
	uint8_t sample_out[SAMPLE_PIECE * SAMPLE_PIECES + 1024];
	uint64_t pm[SEG_PAGES];
	uint64_t zero_bytes;
};

struct wctx {
	const char *path;
	const struct img_region *regs;
	size_t nregs;
	int compress, level;
	int mem_fd, pm_fd;
	pthread_mutex_t mu;
	pthread_cond_t cv_writer, cv_worker;
	size_t cur_reg; /* next segment to hand out */
	uint64_t cur_off;
	struct wjob q[QCAP];
	size_t qhead, qlen;
	uint64_t qbytes; /* stored bytes of the queued chunks */
	int running; /* workers that have not finished */
	int abort;
	int err; /* first worker error (positive errno) */
	char msg[256];
};

static double now_sec(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void set_abort(struct wctx *w, int e, const char *msg)
{
	pthread_mutex_lock(&w->mu);
	if (!w->err && e) {
		w->err = e;
		snprintf(w->msg, sizeof(w->msg), "%s", msg);
	}
	w->abort = 1;
	pthread_cond_broadcast(&w->cv_writer);
	pthread_cond_broadcast(&w->cv_worker);
	pthread_mutex_unlock(&w->mu);
}

/* Hands out the next segment of a region that has data; 0 when none is left. */
static int claim_segment(struct wctx *w, size_t *ri, uint64_t *off, uint64_t *len)
{
	int got = 0;
	pthread_mutex_lock(&w->mu);
	while (!w->abort && w->cur_reg < w->nregs) {
		const struct img_region *r = &w->regs[w->cur_reg];
		if ((r->flags & IMG_REG_NODATA) || w->cur_off >= r->len) {
			w->cur_reg++;
			w->cur_off = 0;
			continue;
		}
		*ri = w->cur_reg;
		*off = w->cur_off;
		*len = r->len - w->cur_off < IMG_CHUNK_MAX ? r->len - w->cur_off : IMG_CHUNK_MAX;
		w->cur_off += *len;
		got = 1;
		break;
	}
	pthread_mutex_unlock(&w->mu);
	return got;
}

static struct wbuf *get_buf(struct worker *k)
{
	struct wctx *w = k->w;
	struct wbuf *b = NULL;
	pthread_mutex_lock(&w->mu);
	while (!b && !w->abort) {
		for (int i = 0; i < NBUF && !b; i++)
			if (!k->bufs[i].refs)
				b = &k->bufs[i];
		if (!b)
			pthread_cond_wait(&w->cv_worker, &w->mu);
	}
	if (b)
		b->refs = 1;
	pthread_mutex_unlock(&w->mu);
	if (b && !b->mem) {
		b->mem = malloc(IMG_CHUNK_MAX);
		if (!b->mem) {
			pthread_mutex_lock(&w->mu);
			b->refs = 0;
			pthread_mutex_unlock(&w->mu);
			set_abort(w, ENOMEM, "out of memory for a compression buffer");
			b = NULL;
		}
	}
	return b;
}

static void put_buf(struct wctx *w, struct wbuf *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&w->mu);
	if (--b->refs == 0)
		pthread_cond_broadcast(&w->cv_worker);
	pthread_mutex_unlock(&w->mu);
}

/* Queues a finished chunk (taking over its buffer reference); -ECANCELED after an abort. */
static int push_job(struct wctx *w, const struct wjob *j)
{
	pthread_mutex_lock(&w->mu);
	while ((w->qlen == QCAP || (w->qlen && w->qbytes + j->c.stored_len > QBYTES)) &&
	       !w->abort)
		pthread_cond_wait(&w->cv_worker, &w->mu);
	if (w->abort) {
		pthread_mutex_unlock(&w->mu);
		put_buf(w, j->buf);
		return -ECANCELED;
	}
	w->q[(w->qhead + w->qlen) % QCAP] = *j;
	w->qlen++;
	w->qbytes += j->c.stored_len;
	pthread_cond_signal(&w->cv_writer);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

static int page_is_zero(const uint8_t *p)
{
	const uint64_t *q = (const uint64_t *)p;
	if (q[0] | q[IMG_PAGE_SIZE / 8 - 1])
		return 0;
	for (unsigned blk = 0; blk < IMG_PAGE_SIZE / 8; blk += 64) {
		uint64_t acc = 0;
		for (unsigned i = 0; i < 64; i++)
			acc |= q[blk + i];
		if (acc)
			return 0;
	}
	return 1;
}

/* 1 if a sample of SAMPLE_PIECES pieces spread over the chunk deflates to <= 90%. */
static int sample_shrinks(struct worker *k, const uint8_t *data, uint64_t len)
{
	z_stream *z = &k->z;
	deflateReset(z);
	z->next_out = k->sample_out;
	z->avail_out = sizeof(k->sample_out);
	for (unsigned i = 0; i < SAMPLE_PIECES; i++) {
		uint64_t at = (len / SAMPLE_PIECES * i) & ~(uint64_t)(IMG_PAGE_SIZE - 1);
		z->next_in = data + at;
		z->avail_in = SAMPLE_PIECE;
		if (deflate(z, i + 1 == SAMPLE_PIECES ? Z_FINISH : Z_NO_FLUSH) == Z_STREAM_ERROR)
			return 0;
	}
	return z->total_out <= (uint64_t)SAMPLE_PIECE * SAMPLE_PIECES * 9 / 10;
}

/* Deflates data into a new buffer if that pays; fills j and returns 1, or 0 for raw, or -1. */
static int try_compress(struct worker *k, const uint8_t *data, uint32_t len, struct wjob *j)
{
	if (len >= 2 * SAMPLE_PIECE * SAMPLE_PIECES && !sample_shrinks(k, data, len))
		return 0;
	struct wbuf *out = get_buf(k);
	if (!out)
		return -1;
	z_stream *z = &k->z;
	deflateReset(z);
	z->next_in = data;
	z->avail_in = len;
	z->next_out = out->mem;
	z->avail_out = len - len / 10;
	if (deflate(z, Z_FINISH) != Z_STREAM_END) {
		put_buf(k->w, out);
		return 0;
	}
	j->c.flags = IMG_CHUNK_ZLIB;
	j->c.stored_len = (uint32_t)z->total_out;
	j->c.crc = img_crc(0, out->mem, z->total_out);
	j->data = out->mem;
	j->buf = out;
	return 1;
}

static int emit_chunk(struct worker *k, size_t ri, uint64_t off, uint32_t len,
		      const uint8_t *data, struct wbuf *src)
{
	struct wctx *w = k->w;
	struct wjob j;
	memset(&j, 0, sizeof(j));
	j.c.magic = IMG_CHUNK_MAGIC;
	j.c.region = (uint32_t)ri;
	j.c.offset = off;
	j.c.raw_len = len;
	int z = w->compress ? try_compress(k, data, len, &j) : 0;
	if (z < 0)
		return -ECANCELED;
	if (z == 0) {
		j.c.flags = IMG_CHUNK_RAW;
		j.c.stored_len = len;
		j.c.crc = img_crc(0, data, len);
		j.data = data;
		j.buf = src;
		if (src) {
			pthread_mutex_lock(&w->mu);
			src->refs++;
			pthread_mutex_unlock(&w->mu);
		}
	}
	return push_job(w, &j);
}

/* Fills k->pm with "may hold data" flags; all 1 when pagemap cannot tell. */
static void load_pagemap(struct worker *k, const struct img_region *r, uint64_t addr,
			 size_t npages)
{
	struct wctx *w = k->w;
	int ok = 0;
	if (w->pm_fd >= 0 && (r->flags & IMG_REG_ANON) && !(r->flags & IMG_REG_SHARED))
		ok = img_pread_full(w->pm_fd, k->pm, npages * 8, addr / IMG_PAGE_SIZE * 8) == 0;
	for (size_t i = 0; i < npages; i++)
		k->pm[i] = ok ? (k->pm[i] >> 62) & 3 : 1; /* present or swapped */
}

static int do_segment(struct worker *k, size_t ri, uint64_t off, uint64_t len)
{
	struct wctx *w = k->w;
	const struct img_region *r = &w->regs[ri];
	uint64_t addr = r->start + off;
	const uint8_t *src = (const uint8_t *)(uintptr_t)addr;
	size_t npages = len / IMG_PAGE_SIZE;
	struct wbuf *sb = NULL;
	int rc = 0;

	load_pagemap(k, r, addr, npages);
	if (!(r->prot & PROT_READ)) { /* e.g. mprotect'ed by the application: copy it */
		sb = get_buf(k);
		if (!sb)
			return -ECANCELED;
		rc = w->mem_fd < 0 ? -EACCES : img_pread_full(w->mem_fd, sb->mem, len, addr);
		if (rc) {
			char m[200];
			snprintf(m, sizeof(m), "cannot read unreadable region 0x%llx: %s",
				 (unsigned long long)addr, strerror(-rc));
			set_abort(w, -rc, m);
			goto out;
		}
		src = sb->mem;
	}
	for (size_t p = 0; p < npages && !rc;) {
		while (p < npages && (!k->pm[p] || page_is_zero(src + p * IMG_PAGE_SIZE))) {
			k->zero_bytes += IMG_PAGE_SIZE;
			p++;
		}
		size_t a = p;
		while (p < npages && k->pm[p] && !page_is_zero(src + p * IMG_PAGE_SIZE))
			p++;
		if (p > a)
			rc = emit_chunk(k, ri, off + a * IMG_PAGE_SIZE,
					(uint32_t)((p - a) * IMG_PAGE_SIZE), src + a * IMG_PAGE_SIZE,
					sb);
	}
out:
	put_buf(w, sb);
	return rc;
}

static void *worker_main(void *arg)
{
	struct worker *k = arg;
	struct wctx *w = k->w;
	size_t ri;
	uint64_t off, len;
	while (claim_segment(w, &ri, &off, &len))
		if (do_segment(k, ri, off, len))
			break;
	pthread_mutex_lock(&w->mu);
	w->running--;
	pthread_cond_signal(&w->cv_writer);
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* writev all of iov[0..cnt), in IOV_MAX pieces, across partial writes. */
static int writev_full(int fd, struct iovec *iov, int cnt)
{
	while (cnt > 0) {
		ssize_t k = writev(fd, iov, cnt > IOV_MAX ? IOV_MAX : cnt);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (cnt > 0 && (size_t)k >= iov->iov_len) {
			k -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (char *)iov->iov_base + k;
			iov->iov_len -= (size_t)k;
		}
	}
	return 0;
}

/* The writer's state: the output file and the chunk index it builds, and the flusher thread
 * that starts writeback of what was written (so that disk I/O overlaps the copying into the
 * page cache and the final fsync has little left to wait for, without blocking the writer). */
struct wout {
	int fd;
	uint64_t pos;
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
		sync_file_range(o->fd, (off_t)from, (off_t)(to - from), SYNC_FILE_RANGE_WRITE);
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
	o->written = o->kicked = o->pos;
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

static int write_batch(struct wout *o, const struct wjob *jobs, size_t n)
{
	struct img_disk_chunk hdr[BATCH];
	struct iovec iov[2 * BATCH];
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
	for (size_t i = 0; i < n; i++) {
		hdr[i] = jobs[i].c;
		hdr[i].seq = (uint32_t)o->n;
		hdr[i].hcrc = img_chunk_hcrc(&hdr[i]);
		o->idx[o->n].file_off = o->pos;
		o->idx[o->n].c = hdr[i];
		o->n++;
		o->pos += sizeof(hdr[i]) + hdr[i].stored_len;
		o->data_bytes += hdr[i].raw_len;
		o->stored_bytes += hdr[i].stored_len;
		o->raw_chunks += hdr[i].flags == IMG_CHUNK_RAW;
		iov[2 * i] = (struct iovec){ &hdr[i], sizeof(hdr[i]) };
		iov[2 * i + 1] = (struct iovec){ (void *)jobs[i].data, hdr[i].stored_len };
	}
	int rc = writev_full(o->fd, iov, (int)(2 * n));
	if (!rc && o->fstarted) {
		pthread_mutex_lock(&o->fmu);
		o->written = o->pos;
		if (o->written - o->kicked >= KICK_BYTES)
			pthread_cond_signal(&o->fcv);
		pthread_mutex_unlock(&o->fmu);
	}
	return rc;
}

/* Takes finished chunks off the queue and writes them until the workers are done. */
static int writer_loop(struct wctx *w, struct wout *o)
{
	struct wjob jobs[BATCH];
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
			jobs[i] = w->q[(w->qhead + i) % QCAP];
			w->qbytes -= jobs[i].c.stored_len;
		}
		w->qhead = (w->qhead + n) % QCAP;
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
static int write_chunks(struct wctx *w, struct wout *o, int nthreads, uint64_t *zero,
			char *err, size_t errlen)
{
	struct worker *ks = calloc((size_t)nthreads, sizeof(*ks));
	int rc = 0, i;
	if (!ks)
		return img_fail(err, errlen, ENOMEM, "%s: out of memory", w->path);
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < nthreads; i++) {
		ks[i].w = w;
		if (w->compress) {
			if (deflateInit2(&ks[i].z, w->level, Z_DEFLATED, -15, 8,
					 Z_DEFAULT_STRATEGY) != Z_OK) {
				rc = img_fail(err, errlen, ENOMEM, "%s: zlib init failed", w->path);
				break;
			}
			ks[i].zinit = 1;
		}
		pthread_mutex_lock(&w->mu);
		w->running++;
		pthread_mutex_unlock(&w->mu);
		int e = pthread_create(&ks[i].tid, NULL, worker_main, &ks[i]);
		if (e) {
			pthread_mutex_lock(&w->mu);
			w->running--;
			pthread_mutex_unlock(&w->mu);
			rc = img_fail(err, errlen, e, "%s: cannot start a writer thread: %s",
				      w->path, strerror(e));
			break;
		}
		ks[i].started = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		set_abort(w, 0, "");
	int wrc = writer_loop(w, o);
	if (wrc) {
		rc = img_fail(err, errlen, -wrc, "%s.tmp: write failed: %s", w->path,
			      strerror(-wrc));
		set_abort(w, 0, "");
	}
	for (i = 0; i < nthreads; i++) {
		if (ks[i].started)
			pthread_join(ks[i].tid, NULL);
		if (ks[i].zinit)
			deflateEnd(&ks[i].z);
		for (int b = 0; b < NBUF; b++)
			free(ks[i].bufs[b].mem);
		*zero += ks[i].zero_bytes;
	}
	free(ks);
	if (!rc && w->err)
		rc = img_fail(err, errlen, w->err, "%s: %s", w->path, w->msg);
	return rc;
}

static int check_blobs(const char *path, const struct img_blob *b, size_t n, char *err,
		       size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
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

/* Writes the header and the sections (INFO, blobs, REGIONS) at offset 0. */
static int write_head(struct wout *o, const struct img_header_info *h,
		      const struct img_blob *blobs, size_t nblobs,
		      const struct img_region *regs, size_t nregs)
{
	struct img_buf info = { 0 }, rt = { 0 };
	size_t niov = 5 + 2 * nblobs;
	struct iovec *iov = calloc(niov, sizeof(*iov));
	struct img_disk_section *sh = calloc(2 + nblobs, sizeof(*sh));
	struct img_disk_header hd;
	int rc = -ENOMEM;
	img_encode_info(&info, h);
	img_encode_regions(&rt, regs, nregs);
	if (!iov || !sh || info.nomem || rt.nomem)
		goto out;
	memset(&hd, 0, sizeof(hd));
	memcpy(hd.magic, IMG_MAGIC, 8);
	hd.version = IMG_VERSION;
	hd.header_size = sizeof(hd);
	hd.flags = h->flags;
	hd.nsections = (uint32_t)(2 + nblobs);
	hd.sections_len = 2 * sizeof(*sh) + info.len + rt.len;
	for (size_t i = 0; i < nblobs; i++)
		hd.sections_len += sizeof(*sh) + blobs[i].len;
	hd.data_off = hd.header_size + hd.sections_len;
	hd.crc = img_crc(0, &hd, sizeof(hd));

	size_t k = 0;
	iov[k++] = (struct iovec){ &hd, sizeof(hd) };
	img_make_section(&sh[0], IMG_SEC_INFO, 0, info.p, info.len);
	iov[k++] = (struct iovec){ &sh[0], sizeof(*sh) };
	iov[k++] = (struct iovec){ info.p, info.len };
	for (size_t i = 0; i < nblobs; i++) {
		img_make_section(&sh[1 + i], IMG_SEC_BLOB, blobs[i].type, blobs[i].data,
				 blobs[i].len);
		iov[k++] = (struct iovec){ &sh[1 + i], sizeof(*sh) };
		iov[k++] = (struct iovec){ (void *)blobs[i].data, blobs[i].len };
	}
	img_make_section(&sh[1 + nblobs], IMG_SEC_REGIONS, 0, rt.p, rt.len);
	iov[k++] = (struct iovec){ &sh[1 + nblobs], sizeof(*sh) };
	iov[k++] = (struct iovec){ rt.p, rt.len };
	rc = writev_full(o->fd, iov, (int)k);
	o->pos = hd.data_off;
out:
	free(info.p);
	free(rt.p);
	free(iov);
	free(sh);
	return rc;
}

/* Appends the chunk index section and the trailer. */
static int write_tail(struct wout *o, size_t nregs, uint64_t data_off)
{
	struct img_disk_section s;
	struct img_disk_trailer t;
	uint64_t ilen = o->n * sizeof(*o->idx);
	img_make_section(&s, IMG_SEC_INDEX, 0, o->idx, ilen);
	memset(&t, 0, sizeof(t));
	memcpy(t.magic, IMG_TRAILER_MAGIC, 8);
	t.nchunks = o->n;
	t.data_bytes = o->data_bytes;
	t.stored_bytes = o->stored_bytes;
	t.data_off = data_off;
	t.index_off = o->pos;
	t.file_size = o->pos + sizeof(s) + ilen + sizeof(t);
	t.nregions = (uint32_t)nregs;
	t.crc = img_crc(0, &t, sizeof(t));
	struct iovec iov[3] = { { &s, sizeof(s) }, { o->idx, ilen }, { &t, sizeof(t) } };
	o->pos = t.file_size;
	return writev_full(o->fd, iov, 3);
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

int img_write(const char *final_path, const struct img_header_info *h,
	      const struct img_blob *blobs, size_t nblobs, const struct img_region *regs,
	      size_t nregs, const struct img_write_opts *opts, struct img_write_stats *st,
	      char *err, size_t errlen)
{
	static const struct img_write_opts defaults = { 1, 0, 1 };
	const struct img_write_opts *op = opts ? opts : &defaults;
	double t0 = now_sec();
	char tmp[PATH_MAX];
	struct img_header_info info;
	struct wctx *w = NULL;
	struct wout o = { .fd = -1 };
	uint64_t zero = 0;
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
	w->compress = op->compress;
	w->level = op->level > 0 && op->level <= 9 ? op->level : 1;
	w->pm_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	w->mem_fd = -1;
	for (size_t i = 0; i < nregs; i++)
		if (!(regs[i].prot & PROT_READ) && !(regs[i].flags & IMG_REG_NODATA) &&
		    w->mem_fd < 0)
			w->mem_fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);

	o.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (o.fd < 0) {
		rc = img_fail(err, errlen, errno, "cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	rc = write_head(&o, &info, blobs, nblobs, regs, nregs);
	if (rc) {
		rc = img_fail(err, errlen, -rc, "%s: write failed: %s", tmp, strerror(-rc));
		goto out_unlink;
	}
	uint64_t data_off = o.pos;
	flusher_start(&o);
	rc = write_chunks(w, &o, img_nthreads(op->nthreads), &zero, err, errlen);
	flusher_stop(&o);
	if (rc)
		goto out_unlink;
	rc = write_tail(&o, nregs, data_off);
	if (!rc && fsync(o.fd))
		rc = -errno;
	if (rc) {
		rc = img_fail(err, errlen, -rc, "%s: write failed: %s", tmp, strerror(-rc));
		goto out_unlink;
	}
	rc = close(o.fd) ? -errno : 0;
	o.fd = -1;
	if (!rc && rename(tmp, final_path))
		rc = -errno;
	if (rc) {
		rc = img_fail(err, errlen, -rc, "cannot complete %s: %s", final_path,
			      strerror(-rc));
		goto out_unlink;
	}
	rc = fsync_dir_of(final_path);
	if (rc) {
		rc = img_fail(err, errlen, -rc, "%s: cannot fsync its directory: %s", final_path,
			      strerror(-rc));
		goto out;
	}
	if (st) {
		st->file_bytes = o.pos;
		st->data_bytes = o.data_bytes;
		st->zero_bytes = zero;
		st->chunks = o.n;
		st->raw_chunks = o.raw_chunks;
		st->seconds = now_sec() - t0;
	}
	goto out;
out_unlink:
	unlink(tmp);
out:
	if (o.fd >= 0)
		close(o.fd);
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
