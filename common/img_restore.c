/*
 * img_restore.c - reading the data chunks of an opened image: img_restore_memory fills the
 * caller's mapped regions in place, img_verify checks everything without touching memory.
 *
 * Worker threads take chunks in file order from a shared counter (so the file is read almost
 * sequentially, in large reads), check each chunk header against the already validated index
 * entry, check the CRC of the stored bytes and inflate. A raw chunk being restored is read
 * straight into its destination (no copy); a compressed one is read into a per-thread buffer
 * and inflated into its destination; the destination pages are faulted in first, in one
 * madvise(MADV_POPULATE_WRITE). In an aligned image (IMG_F_ALIGNED) the bytes of a large raw
 * chunk start on a block boundary, so they are read with O_DIRECT: from the device into the
 * destination without passing through the page cache. Every destination lies inside a region (img_open checked
 * it), so a damaged file can make a restore fail but never write outside the regions.
 * The first error stops all workers; its message names the file, chunk, region and offset.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#define ZLIB_CONST
#include <zlib.h>
#ifdef SPLITCKPT_HAVE_ZSTD
#include <zstd.h>
#endif

#define LOG_PREFIX "img"
#include "img_internal.h"
#include "log.h"

int img_direct_reads = 1;

struct rctx {
	struct img_reader *r;
	int restore;   /* 1: write memory, 0: verify only */
	const struct img_piece *pieces; /* img_restore_pieces: only these, grouped by chunk */
	const uint64_t *groups;		/* first piece of each group, then npieces */
	uint64_t ngroups;
	uint64_t next; /* next chunk to take (atomic) */
	int stop;      /* atomic */
	int dfd;       /* aligned image being restored: opened with O_DIRECT, or -1 */
	pthread_mutex_t mu;
	int err;
	char msg[512];
};

struct rthread {
	struct rctx *x;
	pthread_t tid;
	int started;
	uint8_t *buf;	  /* chunk header + stored bytes */
	uint8_t *hblk;	  /* direct reads: the block that ends with a chunk header */
	uint8_t *scratch; /* inflate target when verifying */
	int to_scratch;	  /* restoring part of a chunk: decode into scratch first */
	z_stream z;
	int zinit;
#ifdef SPLITCKPT_HAVE_ZSTD
	ZSTD_DCtx *zd;
#endif
};

static int chunk_fail(struct rthread *t, uint64_t i, int e, const char *what)
{
	struct rctx *x = t->x;
	const struct img_disk_chunk *c = &x->r->index[i].c;
	pthread_mutex_lock(&x->mu);
	if (!x->err) {
		x->err = e;
		snprintf(x->msg, sizeof(x->msg), "%s: chunk %llu (region %u @ +0x%llx) %s",
			 x->r->path, (unsigned long long)i, c->region,
			 (unsigned long long)c->offset, what);
	}
	pthread_mutex_unlock(&x->mu);
	__atomic_store_n(&x->stop, 1, __ATOMIC_RELAXED);
	return -e;
}

/* preadv of the whole iovec, across partial reads. */
static int preadv_full(int fd, struct iovec *iov, int cnt, uint64_t off)
{
	while (cnt > 0) {
		ssize_t k = preadv(fd, iov, cnt, (off_t)off);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			return -ENODATA;
		off += (uint64_t)k;
		img_iov_advance(&iov, &cnt, (size_t)k);
	}
	return 0;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14; Debian 12's headers have it, older ones not */
#endif

/* Faults in the destination pages of a chunk in one call before the read or decode fills
 * them: the kernel maps them in a loop instead of taking a fault per 4 KiB page inside the
 * copy (measured: 10% less CPU for a 1 GiB raw restore). Only advice: an error (EINVAL on a
 * kernel before 5.14, ENOMEM, EFAULT) leaves the faults to the copy, which reports any real
 * problem itself. */
static void populate(void *dst, size_t len)
{
	if (madvise(dst, len, MADV_POPULATE_WRITE) < 0)
		return; /* see above: nothing to do */
}

/* A raw chunk of an aligned image read with O_DIRECT: the block that ends with its header,
 * then its bytes straight from the device into dst (no page cache, no copy). Returns 0 or
 * -errno with *h filled, or 1 when this chunk or this file cannot be read that way (the
 * device refused the alignment: direct reads are given up for the whole restore). */
static int read_raw_direct(struct rthread *t, const struct img_disk_index *e, uint8_t *dst,
			   struct img_disk_chunk *h)
{
	int dfd = __atomic_load_n(&t->x->dfd, __ATOMIC_RELAXED);
	uint64_t data = e->file_off + sizeof(*h);
	if (dfd < 0 || !t->hblk || t->to_scratch || data % IMG_ALIGN || data < IMG_ALIGN)
		return 1;
	struct iovec iov[2] = {{t->hblk, IMG_ALIGN}, {dst, e->c.raw_len}};
	int rc = preadv_full(dfd, iov, 2, data - IMG_ALIGN);
	if (rc == -EINVAL) {
		__atomic_store_n(&t->x->dfd, -1, __ATOMIC_RELAXED);
		return 1;
	}
	memcpy(h, t->hblk + IMG_ALIGN - sizeof(*h), sizeof(*h));
	return rc;
}

static int do_chunk(struct rthread *t, uint64_t i)
{
	struct img_reader *r = t->x->r;
	const struct img_disk_index *e = &r->index[i];
	const struct img_disk_chunk *c = &e->c;
	uint8_t *dst = t->x->restore && !t->to_scratch
			   ? (uint8_t *)(uintptr_t)(r->regs[c->region].start + c->offset)
			   : t->scratch;
	struct img_disk_chunk h;
	const uint8_t *payload;
	char m[128];
	int rc;

	if (c->flags == IMG_CHUNK_PARENT) /* the parent image has these pages */
		return 0;
	if (t->x->restore && c->flags == IMG_CHUNK_RAW) {
		populate(dst, c->raw_len);
		rc = read_raw_direct(t, e, dst, &h);
		if (rc == 1) { /* through the page cache */
			struct iovec iov[2] = {{&h, sizeof(h)}, {dst, c->raw_len}};
			rc = preadv_full(r->fd, iov, 2, e->file_off);
		}
		payload = dst;
	} else {
		rc = img_pread_full(r->fd, t->buf, sizeof(h) + c->stored_len, e->file_off);
		memcpy(&h, t->buf, sizeof(h));
		payload = t->buf + sizeof(h);
	}
	if (rc == -ENODATA)
		return chunk_fail(t, i, EBADMSG, "is cut short: file truncated");
	if (rc) {
		snprintf(m, sizeof(m), "cannot be read: %s", strerror(-rc));
		return chunk_fail(t, i, -rc, m);
	}
	if (memcmp(&h, c, sizeof(h)))
		return chunk_fail(t, i, EBADMSG, "header does not match the index");
	if (img_crc(0, payload, c->stored_len) != c->crc)
		return chunk_fail(t, i, EBADMSG, "checksum mismatch");
	if (c->flags == IMG_CHUNK_RAW)
		return 0;
	if (t->x->restore && !t->to_scratch)
		populate(dst, c->raw_len);
	if (c->flags == IMG_CHUNK_ZSTD) {
#ifdef SPLITCKPT_HAVE_ZSTD
		size_t n = ZSTD_decompressDCtx(t->zd, dst, c->raw_len, payload, c->stored_len);
		if (ZSTD_isError(n) || n != c->raw_len)
			return chunk_fail(t, i, EBADMSG, "does not decompress to its size");
		return 0;
#else
		return chunk_fail(t, i, ENOTSUP,
				  "is zstd-compressed and this splitckpt was built without libzstd "
				  "(rebuild with libzstd-dev installed)");
#endif
	}
	inflateReset(&t->z);
	t->z.next_in = payload;
	t->z.avail_in = c->stored_len;
	t->z.next_out = dst;
	t->z.avail_out = c->raw_len;
	rc = inflate(&t->z, Z_FINISH);
	if (rc != Z_STREAM_END || t->z.total_out != c->raw_len || t->z.avail_in)
		return chunk_fail(t, i, EBADMSG, "does not decompress to its size");
	return 0;
}

#ifndef IMG_DIRECT_READERS
#define IMG_DIRECT_READERS 8 /* reader threads of an aligned image, at least */
#endif
#define RAW_PIECES_MAX 500 /* pieces of a raw chunk read in one preadv (2 iovecs each) */

/* Part of a raw chunk: one preadv puts the needed pieces straight into memory and the gaps
 * into the scratch buffer, then the CRC runs over both in file order (no copy). */
static int do_group_raw(struct rthread *t, const struct img_piece *p, uint64_t np)
{
	struct img_reader *r = t->x->r;
	const struct img_disk_index *e = &r->index[p->chunk];
	const struct img_disk_chunk *c = &e->c;
	uint8_t *base = (uint8_t *)(uintptr_t)(r->regs[c->region].start + c->offset);
	struct img_disk_chunk h;
	struct iovec iov[2 * RAW_PIECES_MAX + 2];
	int k = 0;
	uint64_t at = 0;
	iov[k++] = (struct iovec){&h, sizeof(h)};
	for (uint64_t i = 0; i < np; i++) {
		if (p[i].off > at)
			iov[k++] = (struct iovec){t->scratch + at, p[i].off - at};
		iov[k++] = (struct iovec){base + p[i].off, p[i].len};
		at = p[i].off + p[i].len;
	}
	if (at < c->raw_len)
		iov[k++] = (struct iovec){t->scratch + at, c->raw_len - at};
	int rc = preadv_full(r->fd, iov, k, e->file_off);
	if (rc == -ENODATA)
		return chunk_fail(t, p->chunk, EBADMSG, "is cut short: file truncated");
	if (rc) {
		char m[128];
		snprintf(m, sizeof(m), "cannot be read: %s", strerror(-rc));
		return chunk_fail(t, p->chunk, -rc, m);
	}
	if (memcmp(&h, c, sizeof(h)))
		return chunk_fail(t, p->chunk, EBADMSG, "header does not match the index");
	uint32_t crc = 0;
	at = 0;
	for (uint64_t i = 0; i < np; i++) {
		if (p[i].off > at)
			crc = img_crc(crc, t->scratch + at, p[i].off - at);
		crc = img_crc(crc, base + p[i].off, p[i].len);
		at = p[i].off + p[i].len;
	}
	if (at < c->raw_len)
		crc = img_crc(crc, t->scratch + at, c->raw_len - at);
	if (crc != c->crc)
		return chunk_fail(t, p->chunk, EBADMSG, "checksum mismatch");
	return 0;
}

/* One group of pieces of one chunk: the whole chunk in place, or decoded then copied. */
static int do_group(struct rthread *t, uint64_t g)
{
	struct rctx *x = t->x;
	const struct img_piece *p = &x->pieces[x->groups[g]];
	uint64_t np = x->groups[g + 1] - x->groups[g];
	const struct img_disk_chunk *c = &x->r->index[p->chunk].c;
	if (np == 1 && p->off == 0 && p->len == c->raw_len)
		return do_chunk(t, p->chunk);
	if (c->flags == IMG_CHUNK_RAW && np <= RAW_PIECES_MAX)
		return do_group_raw(t, p, np);
	t->to_scratch = 1;
	int rc = do_chunk(t, p->chunk);
	t->to_scratch = 0;
	if (rc || c->flags == IMG_CHUNK_PARENT)
		return rc;
	uint64_t base = x->r->regs[c->region].start + c->offset;
	for (uint64_t k = 0; k < np; k++)
		memcpy((void *)(uintptr_t)(base + p[k].off), t->scratch + p[k].off, p[k].len);
	return 0;
}

/* Bytes of chunk data read by the restores of this process (img_restore_progress). */
static uint64_t restore_bytes;

uint64_t img_restore_progress(void)
{
	return __atomic_load_n(&restore_bytes, __ATOMIC_RELAXED);
}

static void *rthread_main(void *arg)
{
	struct rthread *t = arg;
	struct rctx *x = t->x;
	for (;;) {
		if (__atomic_load_n(&x->stop, __ATOMIC_RELAXED))
			break;
		uint64_t i = __atomic_fetch_add(&x->next, 1, __ATOMIC_RELAXED);
		if (x->groups ? i >= x->ngroups || do_group(t, i)
			      : i >= x->r->nchunks || do_chunk(t, i))
			break;
		if (x->restore && !x->groups)
			__atomic_add_fetch(&restore_bytes,
					   x->r->index[i].c.stored_len + sizeof(struct img_disk_chunk),
					   __ATOMIC_RELAXED);
	}
	return NULL;
}

static int rthread_init(struct rthread *t, struct rctx *x)
{
	t->x = x;
	t->buf = malloc(sizeof(struct img_disk_chunk) + IMG_CHUNK_MAX);
	if (!x->restore || x->groups)
		t->scratch = malloc(IMG_CHUNK_MAX);
	if (x->dfd >= 0)
		t->hblk = aligned_alloc(IMG_ALIGN, IMG_ALIGN);
	if (!t->buf || ((!x->restore || x->groups) && !t->scratch) || (x->dfd >= 0 && !t->hblk))
		return -ENOMEM;
	if (inflateInit2(&t->z, -15) != Z_OK)
		return -ENOMEM;
	t->zinit = 1;
#ifdef SPLITCKPT_HAVE_ZSTD
	t->zd = ZSTD_createDCtx();
	if (!t->zd)
		return -ENOMEM;
#endif
	return 0;
}

/* Runs nthreads workers over all chunks, or over the groups of pieces in px (NULL: all);
 * 0 or -errno with the message in err. */
static int run_chunks_x(struct img_reader *r, int restore, const struct rctx *px, int nthreads,
			char *err, size_t errlen)
{
	struct rctx x = {.r = r, .restore = restore, .dfd = -1};
	struct rthread *ts;
	int n = img_nthreads(nthreads), rc = 0, i;
	uint64_t jobs = px ? px->ngroups : r->nchunks;
	if (px) {
		x.pieces = px->pieces;
		x.groups = px->groups;
		x.ngroups = px->ngroups;
	}
	if ((uint64_t)n > jobs)
		n = jobs ? (int)jobs : 1;
	/* an aligned image: raw chunks are read with O_DIRECT (a filesystem without it: not) */
	if (restore && img_direct_reads && r->hdr.version >= 2 && (r->hdr.flags & IMG_F_ALIGNED))
		x.dfd = open(r->path, O_RDONLY | O_CLOEXEC | O_DIRECT);
	int dfd = x.dfd; /* (a worker may give it up: x.dfd = -1) */
	/* direct reads are synchronous: more of them in flight keep the device busy while one
	 * thread checks a CRC (the threads mostly wait for the device) */
	if (dfd >= 0 && nthreads <= 0 && n < IMG_DIRECT_READERS && IMG_DIRECT_READERS <= jobs)
		n = IMG_DIRECT_READERS;
	ts = calloc((size_t)n, sizeof(*ts));
	if (!ts) {
		if (dfd >= 0)
			close(dfd);
		return img_fail(err, errlen, ENOMEM, "%s: out of memory", r->path);
	}
	pthread_mutex_init(&x.mu, NULL);
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < n && !rc; i++) {
		rc = rthread_init(&ts[i], &x);
		if (rc) {
			rc = img_fail(err, errlen, -rc, "%s: out of memory for read buffers",
				      r->path);
			break;
		}
		int e = pthread_create(&ts[i].tid, NULL, rthread_main, &ts[i]);
		if (e)
			rc = img_fail(err, errlen, e, "%s: cannot start a reader thread: %s",
				      r->path, strerror(e));
		ts[i].started = !e;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		__atomic_store_n(&x.stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < n; i++) {
		if (ts[i].started)
			pthread_join(ts[i].tid, NULL);
		if (ts[i].zinit)
			inflateEnd(&ts[i].z);
#ifdef SPLITCKPT_HAVE_ZSTD
		ZSTD_freeDCtx(ts[i].zd);
#endif
		free(ts[i].buf);
		free(ts[i].scratch);
		free(ts[i].hblk);
	}
	free(ts);
	if (dfd >= 0)
		close(dfd);
	if (!rc && x.err)
		rc = img_fail(err, errlen, x.err, "%s", x.msg);
	pthread_mutex_destroy(&x.mu);
	return rc;
}

static int run_chunks(struct img_reader *r, int restore, int nthreads, char *err, size_t errlen)
{
	return run_chunks_x(r, restore, NULL, nthreads, err, errlen);
}

int img_restore_pieces(struct img_reader *r, const struct img_piece *p, uint64_t n, int nthreads,
		       char *err, size_t errlen)
{
	struct rctx x = {.pieces = p};
	uint64_t *g = malloc((n + 1) * sizeof(*g));
	if (!g)
		return img_fail(err, errlen, ENOMEM, "%s: out of memory", r->path);
	for (uint64_t k = 0; k < n; k++)
		if (!k || p[k].chunk != p[k - 1].chunk)
			g[x.ngroups++] = k;
	g[x.ngroups] = n;
	x.groups = g;
	int rc = n ? run_chunks_x(r, 1, &x, nthreads, err, errlen) : 0;
	free(g);
	return rc;
}

int img_restore_memory(struct img_reader *r, int nthreads, struct img_write_stats *st, char *err,
		       size_t errlen)
{
	struct timespec t0, t1;
	struct img_write_stats s;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = run_chunks(r, 1, nthreads, err, errlen);
	if (rc)
		return rc;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	memset(&s, 0, sizeof(s));
	s.file_bytes = r->file_size;
	s.data_bytes = r->trl.data_bytes;
	s.chunks = r->nchunks;
	for (size_t i = 0; i < r->nregs; i++) {
		s.raw_chunks += r->usage[i].raw_chunks;
		s.parent_bytes += r->usage[i].parent_bytes;
		if (!(r->regs[i].flags & IMG_REG_NODATA) &&
		    r->usage[i].data_bytes + r->usage[i].parent_bytes < r->regs[i].len)
			s.zero_bytes += r->regs[i].len - r->usage[i].data_bytes -
					r->usage[i].parent_bytes;
	}
	s.data_bytes -= s.parent_bytes;
	s.seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
	log_debug("%s: restored %llu bytes of memory from %llu chunks in %.3f s", r->path,
		  (unsigned long long)s.data_bytes, (unsigned long long)s.chunks, s.seconds);
	if (st)
		*st = s;
	return 0;
}

int img_verify(struct img_reader *r, char *err, size_t errlen)
{
	return run_chunks(r, 0, 0, err, errlen);
}
