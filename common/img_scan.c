/*
 * img_scan.c - the producer half of img_write: worker threads that turn memory into chunks.
 *
 * Regions are cut into segments of IMG_CHUNK_MAX bytes. A worker claims a segment, skips its
 * all-zero pages (untouched private anonymous pages are found through /proc/self/pagemap
 * without reading them; other pages are checked word by word), cuts the rest into chunks at
 * every zero page, and for each chunk computes the CRC and, when compressing, deflates it into
 * one of its buffers - but only if 4 KiB of probes do not look random, a 32 KiB sample
 * spread over the chunk shrank to <= 90%, and the whole chunk does too; otherwise the chunk
 * stays raw and points straight into process memory (or, for a region without PROT_READ,
 * into a copy read through /proc/self/mem).
 * Finished chunks go to the writer's bounded queue (img_write.c), in whatever order they finish.
 * Invariants: a buffer is reused only when neither its worker nor any queued or unwritten chunk
 * refers to it; after img_wctx_abort every worker stops at its next queue or buffer wait.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#define ZLIB_CONST
#include <zlib.h>
#ifdef SPLITCKPT_HAVE_ZSTD
#include <zstd.h>
#endif

#include "img_internal.h"

#define SEG_PAGES (IMG_CHUNK_MAX / IMG_PAGE_SIZE)
#define NBUF 3 /* buffers per worker */
#define SAMPLE_PIECE (8u << 10)
#define SAMPLE_PIECES 4u

struct img_worker {
	struct img_wctx *w;
	pthread_t tid;
	int started;
	struct img_wbuf bufs[NBUF];
	z_stream z;
	int zinit;
#ifdef SPLITCKPT_HAVE_ZSTD
	ZSTD_CCtx *zc; /* codec zstd */
#endif
	uint8_t sample_out[SAMPLE_PIECE * SAMPLE_PIECES + 1024];
	uint64_t pm[SEG_PAGES];
	uint64_t zero_bytes;
	uint8_t cl[SEG_PAGES]; /* 1: page unchanged since the parent image (incremental) */
	uint64_t parent_bytes;
};

void img_wctx_abort(struct img_wctx *w, int e, const char *msg)
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
static int claim_segment(struct img_wctx *w, size_t *ri, uint64_t *off, uint64_t *len)
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

static struct img_wbuf *get_buf(struct img_worker *k)
{
	struct img_wctx *w = k->w;
	struct img_wbuf *b = NULL;
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
		b->mem = aligned_alloc(IMG_ALIGN, IMG_CHUNK_MAX); /* direct I/O writes from it */
		if (!b->mem) {
			pthread_mutex_lock(&w->mu);
			b->refs = 0;
			pthread_mutex_unlock(&w->mu);
			img_wctx_abort(w, ENOMEM, "out of memory for a compression buffer");
			b = NULL;
		}
	}
	return b;
}

static void put_buf(struct img_wctx *w, struct img_wbuf *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&w->mu);
	if (--b->refs == 0)
		pthread_cond_broadcast(&w->cv_worker);
	pthread_mutex_unlock(&w->mu);
}

/* Queues a finished chunk (taking over its buffer reference); -ECANCELED after an abort. */
static int push_job(struct img_wctx *w, const struct img_wjob *j)
{
	pthread_mutex_lock(&w->mu);
	while ((w->qlen == IMG_QCAP || (w->qlen && w->qbytes + j->c.stored_len > IMG_QBYTES)) &&
	       !w->abort)
		pthread_cond_wait(&w->cv_worker, &w->mu);
	if (w->abort) {
		pthread_mutex_unlock(&w->mu);
		put_buf(w, j->buf);
		return -ECANCELED;
	}
	w->q[(w->qhead + w->qlen) % IMG_QCAP] = *j;
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

/* 1 if 4 probes of 1 KiB spread over the chunk look like random bytes: their collision
 * entropy -log2(sum p_i^2) is above 7.5 bits per byte (random data gives ~7.9; text, code,
 * pointers and mostly-zero pages are far below). Costs a few microseconds and lets the
 * compressed path skip deflate, which would run at ~50 MB/s on such data, at once. */
static int looks_random(const uint8_t *data, uint32_t len)
{
	uint32_t cnt[256] = {0};
	uint64_t n = 0, sumsq = 0;
	unsigned piece = len < 4096 ? len / 4 : 1024;
	for (unsigned i = 0; i < 4; i++) {
		const uint8_t *p = data + (uint64_t)len / 4 * i;
		for (unsigned b = 0; b < piece; b++)
			cnt[p[b]]++;
		n += piece;
	}
	for (unsigned b = 0; b < 256; b++)
		sumsq += (uint64_t)cnt[b] * cnt[b];
	/* -log2(sumsq / n^2) > 7.5  <=>  n^2 > sumsq * 2^7.5 (2^7.5 ~ 181) */
	return n * n > sumsq * 181;
}

/* 1 if a sample of SAMPLE_PIECES pieces spread over the chunk deflates to <= 90%. */
static int sample_shrinks(struct img_worker *k, const uint8_t *data, uint64_t len)
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
static int try_compress(struct img_worker *k, const uint8_t *data, uint32_t len, struct img_wjob *j)
{
	if (looks_random(data, len))
		return 0;
#ifdef SPLITCKPT_HAVE_ZSTD
	if (k->zc) {
		/* No sample first: zstd gives up on incompressible blocks at memcpy-like speed. */
		struct img_wbuf *out = get_buf(k);
		if (!out)
			return -1;
		size_t n = ZSTD_compressCCtx(k->zc, out->mem, len - len / 10, data, len, 1);
		if (ZSTD_isError(n) || n == 0) {
			put_buf(k->w, out);
			return 0;
		}
		j->c.flags = IMG_CHUNK_ZSTD;
		j->c.stored_len = (uint32_t)n;
		j->c.crc = img_crc(0, out->mem, n);
		j->data = out->mem;
		j->buf = out;
		return 1;
	}
#endif
	if (len >= 2 * SAMPLE_PIECE * SAMPLE_PIECES && !sample_shrinks(k, data, len))
		return 0;
	struct img_wbuf *out = get_buf(k);
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

static int emit_chunk(struct img_worker *k, size_t ri, uint64_t off, uint32_t len,
		      const uint8_t *data, struct img_wbuf *src)
{
	struct img_wctx *w = k->w;
	struct img_wjob j;
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
static void load_pagemap(struct img_worker *k, const struct img_region *r, uint64_t addr,
			 size_t npages)
{
	struct img_wctx *w = k->w;
	int ok = 0;
	if (w->pm_fd >= 0 && (r->flags & IMG_REG_ANON) && !(r->flags & IMG_REG_SHARED))
		ok = img_pread_full(w->pm_fd, k->pm, npages * 8, addr / IMG_PAGE_SIZE * 8) == 0;
	for (size_t i = 0; i < npages; i++)
		k->pm[i] = ok ? (k->pm[i] >> 62) & 3 : 1; /* present or swapped */
}

/* Marks in k->cl the pages of [addr, addr + npages pages) inside the clean set; returns how
 * many there are. Clean pages are never read: the parent image has them. */
static size_t load_clean(struct img_worker *k, uint64_t addr, size_t npages)
{
	const struct img_clean *c = &k->w->clean;
	uint64_t end = addr + npages * IMG_PAGE_SIZE;
	size_t lo = 0, hi = c->n, n = 0;
	memset(k->cl, 0, npages);
	while (lo < hi) { /* first pair that ends after addr */
		size_t mid = lo + (hi - lo) / 2;
		if (c->pairs[2 * mid + 1] <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < c->n && c->pairs[2 * i] < end; i++) {
		uint64_t s = c->pairs[2 * i] > addr ? c->pairs[2 * i] : addr;
		uint64_t e = c->pairs[2 * i + 1] < end ? c->pairs[2 * i + 1] : end;
		memset(k->cl + (s - addr) / IMG_PAGE_SIZE, 1, (e - s) / IMG_PAGE_SIZE);
		n += (e - s) / IMG_PAGE_SIZE;
	}
	return n;
}

/* Queues an IMG_CHUNK_PARENT chunk: [off, off + len) of region ri is as in the parent. */
static int emit_parent(struct img_worker *k, size_t ri, uint64_t off, uint32_t len)
{
	struct img_wjob j;
	memset(&j, 0, sizeof(j));
	j.c.magic = IMG_CHUNK_MAGIC;
	j.c.region = (uint32_t)ri;
	j.c.offset = off;
	j.c.raw_len = len;
	j.c.flags = IMG_CHUNK_PARENT;
	k->parent_bytes += len;
	return push_job(k->w, &j);
}

static int do_segment(struct img_worker *k, size_t ri, uint64_t off, uint64_t len)
{
	struct img_wctx *w = k->w;
	const struct img_region *r = &w->regs[ri];
	uint64_t addr = r->start + off;
	const uint8_t *src = (const uint8_t *)(uintptr_t)addr;
	size_t npages = len / IMG_PAGE_SIZE;
	struct img_wbuf *sb = NULL;
	int rc = 0;

	load_pagemap(k, r, addr, npages);
	load_clean(k, addr, npages);
	if (!(r->prot & PROT_READ)) { /* e.g. mprotect'ed by the application: copy it */
		sb = get_buf(k);
		if (!sb)
			return -ECANCELED;
		rc = w->mem_fd < 0 ? -EACCES : img_pread_full(w->mem_fd, sb->mem, len, addr);
		if (rc) {
			char m[200];
			snprintf(m, sizeof(m), "cannot read unreadable region 0x%llx: %s",
				 (unsigned long long)addr, strerror(-rc));
			img_wctx_abort(w, -rc, m);
			goto out;
		}
		src = sb->mem;
	}
	for (size_t p = 0; p < npages && !rc;) {
		if (k->cl[p]) {
			size_t a = p;
			while (p < npages && k->cl[p])
				p++;
			rc = emit_parent(k, ri, off + a * IMG_PAGE_SIZE,
					 (uint32_t)((p - a) * IMG_PAGE_SIZE));
			continue;
		}
		while (p < npages && !k->cl[p] &&
		       (!k->pm[p] || page_is_zero(src + p * IMG_PAGE_SIZE))) {
			k->zero_bytes += IMG_PAGE_SIZE;
			p++;
		}
		size_t a = p;
		while (p < npages && !k->cl[p] && k->pm[p] && !page_is_zero(src + p * IMG_PAGE_SIZE))
			p++;
		if (p > a)
			rc = emit_chunk(k, ri, off + a * IMG_PAGE_SIZE,
					(uint32_t)((p - a) * IMG_PAGE_SIZE),
					src + a * IMG_PAGE_SIZE, sb);
	}
out:
	put_buf(w, sb);
	return rc;
}

static void *worker_main(void *arg)
{
	struct img_worker *k = arg;
	struct img_wctx *w = k->w;
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

int img_scan_start(struct img_wctx *w, int nthreads, char *err, size_t errlen)
{
	int rc = 0;
	w->workers = calloc((size_t)nthreads, sizeof(*w->workers));
	if (!w->workers) {
		img_wctx_abort(w, 0, "");
		return img_fail(err, errlen, ENOMEM, "%s: out of memory", w->path);
	}
	w->nworkers = nthreads;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (int i = 0; i < nthreads; i++) {
		struct img_worker *k = &w->workers[i];
		k->w = w;
#ifdef SPLITCKPT_HAVE_ZSTD
		if (w->compress && w->codec == IMG_CODEC_ZSTD) {
			k->zc = ZSTD_createCCtx();
			if (!k->zc) {
				rc = img_fail(err, errlen, ENOMEM, "%s: zstd init failed", w->path);
				break;
			}
		} else
#endif
		if (w->compress) {
			if (deflateInit2(&k->z, w->level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) !=
			    Z_OK) {
				rc = img_fail(err, errlen, ENOMEM, "%s: zlib init failed", w->path);
				break;
			}
			k->zinit = 1;
		}
		pthread_mutex_lock(&w->mu);
		w->running++;
		pthread_mutex_unlock(&w->mu);
		int e = pthread_create(&k->tid, NULL, worker_main, k);
		if (e) {
			pthread_mutex_lock(&w->mu);
			w->running--;
			pthread_mutex_unlock(&w->mu);
			rc = img_fail(err, errlen, e, "%s: cannot start a writer thread: %s",
				      w->path, strerror(e));
			break;
		}
		k->started = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		img_wctx_abort(w, 0, "");
	return rc;
}

void img_scan_join(struct img_wctx *w)
{
	for (int i = 0; i < w->nworkers; i++) {
		struct img_worker *k = &w->workers[i];
		if (k->started)
			pthread_join(k->tid, NULL);
		if (k->zinit)
			deflateEnd(&k->z);
#ifdef SPLITCKPT_HAVE_ZSTD
		ZSTD_freeCCtx(k->zc);
#endif
		for (int b = 0; b < NBUF; b++)
			free(k->bufs[b].mem);
		w->zero_bytes += k->zero_bytes;
		w->parent_bytes += k->parent_bytes;
	}
	free(w->workers);
	w->workers = NULL;
	w->nworkers = 0;
}
