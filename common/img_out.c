/*
 * img_out.c - the image writer's output file: what is put goes to the file at increasing
 * positions, in one of two layouts (image.h, IMG_F_ALIGNED):
 *
 *  - compact (small images, or a filesystem without O_DIRECT): every byte put is referenced
 *    by an iovec until the next flush, which pwritev's them through the page cache;
 *  - aligned (large images): the file is opened with O_DIRECT and every write covers whole
 *    IMG_ALIGN blocks. Small pieces (headers, sections, padding, small chunks) are copied into
 *    an aligned staging arena; the block-aligned bulk of a chunk's data, which starts on a block
 *    boundary by the layout rule img_chunk_pos, is handed to the kernel straight from process
 *    memory (no copy into the page cache: the device reads the pages; vmsplice + splice, so
 *    that a forked writer's copy-on-write pages are not copied either). What does not fill the
 *    last block waits in the arena for the next flush; the final flush writes it without
 *    O_DIRECT. If the kernel refuses direct I/O on the way (EINVAL: alignment the device does
 *    not accept; EFAULT: memory the kernel cannot pin), O_DIRECT is dropped and the same bytes
 *    are written through the page cache: the layout stays the same.
 * Invariants: in aligned mode the pending iovecs start at iov_off, a multiple of IMG_ALIGN, and
 * every pending iovec but the arena's open segment covers whole blocks; the arena is never
 * reallocated while an iovec points into it (img_out_reserve runs right after a flush).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_PREFIX "img"
#include "img_internal.h"
#include "log.h"

static const uint8_t zeros[IMG_ALIGN];

/* Direct I/O through a pipe: vmsplice gives the pipe references to the pages and splice moves
 * them to the O_DIRECT file. pwritev would pin the pages instead, and pinning a page a forked
 * writer shares copy-on-write with the application makes the kernel copy it first (measured
 * here, 1 GiB from a forked child: pwritev 1.0-1.7 s, vmsplice+splice 0.61-0.71 s, pwritev
 * without a fork 0.55-0.74 s). Returns 0, -errno, or 1: splice cannot write this file (the
 * pipe is given up; the caller writes the same bytes with pwritev). */
static int splice_full(struct img_out *o, const struct iovec *iov, int cnt, uint64_t off)
{
	loff_t pos = (loff_t)off;
	for (int i = 0; i < cnt; i++) {
		const char *p = iov[i].iov_base;
		size_t left = iov[i].iov_len;
		while (left) {
			struct iovec v = {(void *)p, left < o->psz ? left : o->psz};
			ssize_t k = vmsplice(o->pipe_w, &v, 1, 0);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				goto give_up;
			p += k;
			left -= (size_t)k;
			while (k > 0) {
				ssize_t w = splice(o->pipe_r, NULL, o->fd, &pos, (size_t)k, 0);
				if (w < 0 && errno == EINTR)
					continue;
				if (w < 0 && (errno == ENOSPC || errno == EDQUOT || errno == EIO ||
					      errno == EFBIG))
					return -errno; /* the file's own error, as pwritev gives it
							*/
				if (w <= 0)
					goto give_up;
				k -= w;
			}
		}
	}
	return 0;
give_up:
	log_debug("splice into the image refused (%s): writing with pwritev", strerror(errno));
	close(o->pipe_r);
	close(o->pipe_w);
	o->pipe_r = o->pipe_w = -1;
	return 1;
}

/* pwritev all of iov[0..cnt) at off, in IOV_MAX pieces, across partial writes. With O_DIRECT,
 * EINVAL or EFAULT turns it off and the rest goes through the page cache. */
static int pwritev_full(struct img_out *o, struct iovec *iov, int cnt, uint64_t off)
{
	if (o->direct && o->pipe_r >= 0) {
		int rc = splice_full(o, iov, cnt, off);
		if (rc <= 0)
			return rc;
	}
	while (cnt > 0) {
		ssize_t k = pwritev(o->fd, iov, cnt > IOV_MAX ? IOV_MAX : cnt, (off_t)off);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (o->direct && (errno == EINVAL || errno == EFAULT)) {
				int e = errno, fl = fcntl(o->fd, F_GETFL);
				if (fl < 0 || fcntl(o->fd, F_SETFL, fl & ~O_DIRECT) < 0)
					return -e;
				o->direct = 0;
				log_debug("direct I/O refused (%s): writing through the page cache",
					  strerror(e));
				continue;
			}
			return -errno;
		}
		off += (uint64_t)k;
		img_iov_advance(&iov, &cnt, (size_t)k);
	}
	return 0;
}

int img_out_open(struct img_out *o, const char *path, int aligned)
{
	memset(o, 0, sizeof(*o));
	o->fd = o->pipe_r = o->pipe_w = -1;
	if (aligned) {
		o->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0600);
		if (o->fd >= 0) {
			o->aligned = o->direct = 1;
			int pp[2];
			if (pipe2(pp, O_CLOEXEC) == 0) { /* without it: pwritev */
				o->pipe_r = pp[0];
				o->pipe_w = pp[1];
				fcntl(pp[1], F_SETPIPE_SZ,
				      1 << 20); /* may be refused: then smaller */
				int sz = fcntl(pp[1], F_GETPIPE_SZ);
				o->psz = sz >= 4096 ? (size_t)sz : 4096;
			}
			return 0;
		}
		if (errno != EINVAL) /* EINVAL: this filesystem has no O_DIRECT (tmpfs) */
			return -errno;
	}
	o->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	return o->fd < 0 ? -errno : 0;
}

void img_out_free(struct img_out *o)
{
	if (o->fd >= 0)
		close(o->fd);
	if (o->pipe_r >= 0) {
		close(o->pipe_r);
		close(o->pipe_w);
	}
	o->fd = o->pipe_r = o->pipe_w = -1;
	free(o->arena);
	free(o->iov);
	o->arena = NULL;
	o->iov = NULL;
}

static void push_iov(struct img_out *o, const void *p, size_t n)
{
	if (n)
		o->iov[o->niov++] = (struct iovec){(void *)p, n};
}

int img_out_reserve(struct img_out *o, size_t copy_bytes, int pieces)
{
	if (o->niov)
		return -EINVAL; /* only right after a flush */
	if (o->iovcap < pieces + 2) {
		void *p = realloc(o->iov, (size_t)(pieces + 2) * sizeof(*o->iov));
		if (!p)
			return -ENOMEM;
		o->iov = p;
		o->iovcap = pieces + 2;
	}
	if (!o->aligned || o->alen + copy_bytes <= o->acap)
		return 0;
	size_t cap = (o->alen + copy_bytes + (1u << 20) + IMG_ALIGN - 1) & ~(size_t)(IMG_ALIGN - 1);
	uint8_t *a = aligned_alloc(IMG_ALIGN, cap);
	if (!a)
		return -ENOMEM;
	if (o->alen)
		memcpy(a, o->arena, o->alen);
	free(o->arena);
	o->arena = a;
	o->acap = cap;
	return 0;
}

void img_out_put(struct img_out *o, const void *p, size_t n)
{
	if (!o->aligned) {
		push_iov(o, p, n);
	} else {
		memcpy(o->arena + o->alen, p, n);
		o->alen += n;
	}
	o->pos += n;
}

void img_out_put_data(struct img_out *o, const void *p, size_t n)
{
	size_t full = n & ~(size_t)(IMG_ALIGN - 1);
	if (!o->aligned || o->pos % IMG_ALIGN || (uintptr_t)p % IMG_ALIGN || !full) {
		img_out_put(o, p, n);
		return;
	}
	push_iov(o, o->arena + o->aseg, o->alen - o->aseg); /* whole blocks: pos is aligned */
	o->aseg = o->alen;
	push_iov(o, p, full);
	o->pos += full;
	img_out_put(o, (const uint8_t *)p + full, n - full);
}

void img_out_pad(struct img_out *o, uint64_t to)
{
	while (o->pos < to) {
		size_t n = to - o->pos < IMG_ALIGN ? (size_t)(to - o->pos) : IMG_ALIGN;
		img_out_put(o, zeros, n);
	}
}

int img_out_flush(struct img_out *o, int final)
{
	size_t carry = 0;
	if (o->aligned) { /* the open segment's whole blocks; the rest waits */
		size_t seg = o->alen - o->aseg;
		carry = seg % IMG_ALIGN;
		push_iov(o, o->arena + o->aseg, seg - carry);
	}
	uint64_t bytes = 0;
	for (int i = 0; i < o->niov; i++)
		bytes += o->iov[i].iov_len;
	int rc = pwritev_full(o, o->iov, o->niov, o->iov_off);
	o->niov = 0;
	if (rc)
		return rc;
	o->iov_off += bytes;
	if (!o->aligned)
		return 0;
	memmove(o->arena, o->arena + o->alen - carry, carry);
	o->alen = carry;
	o->aseg = 0;
	if (!final)
		return 0;
	/* The last partial block, and what follows (index, trailer: small, referenced rather
	 * than staged), go through the page cache. */
	o->aligned = 0;
	if (o->direct) {
		int fl = fcntl(o->fd, F_GETFL);
		if (fl < 0 || fcntl(o->fd, F_SETFL, fl & ~O_DIRECT) < 0)
			return -errno;
		o->direct = 0;
	}
	if (carry) {
		struct iovec v = {o->arena, carry};
		rc = pwritev_full(o, &v, 1, o->iov_off);
		if (rc)
			return rc;
		o->iov_off += carry;
		o->alen = 0;
	}
	return 0;
}
