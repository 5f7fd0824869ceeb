/*
 * img_format.c - encoding and decoding of the image's small sections (INFO, REGIONS), the
 * bounded cursor/buffer helpers they use, CRC and I/O helpers shared by img_write.c,
 * img_read.c and img_restore.c.
 * Decoders treat their input as hostile: every length is checked against what is left before
 * use, every string against its field, every count against the bytes that could hold it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "img_internal.h"

/* Bytes of one v1 region entry before its path bytes: start, len, prot, flags, file_offset,
 * path length. */
#define REGION_ENTRY_MIN (8 + 8 + 4 + 4 + 8 + 4)

int img_fail(char *err, size_t errlen, int e, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -e;
}

void img_buf_put(struct img_buf *b, const void *p, size_t n)
{
	if (b->nomem)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *np = realloc(b->p, cap);
		if (!np) {
			b->nomem = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

void img_buf_u32(struct img_buf *b, uint32_t v) { img_buf_put(b, &v, sizeof(v)); }

void img_buf_u64(struct img_buf *b, uint64_t v) { img_buf_put(b, &v, sizeof(v)); }

void img_buf_str(struct img_buf *b, const char *s, size_t cap)
{
	size_t n = strnlen(s, cap - 1);
	img_buf_u32(b, (uint32_t)n);
	img_buf_put(b, s, n);
}

static const void *cur_take(struct img_cur *c, size_t n)
{
	if (c->bad || n > c->left) {
		c->bad = 1;
		return NULL;
	}
	const void *p = c->p;
	c->p += n;
	c->left -= n;
	return p;
}

uint32_t img_get_u32(struct img_cur *c)
{
	uint32_t v = 0;
	const void *p = cur_take(c, sizeof(v));
	if (p)
		memcpy(&v, p, sizeof(v));
	return v;
}

uint64_t img_get_u64(struct img_cur *c)
{
	uint64_t v = 0;
	const void *p = cur_take(c, sizeof(v));
	if (p)
		memcpy(&v, p, sizeof(v));
	return v;
}

void img_get_str(struct img_cur *c, char *dst, size_t cap)
{
	uint32_t n = img_get_u32(c);
	dst[0] = 0;
	if (c->bad)
		return;
	if (n >= cap) {
		c->bad = 1;
		return;
	}
	const void *p = cur_take(c, n);
	if (!p)
		return;
	memcpy(dst, p, n);
	dst[n] = 0;
}

void img_encode_info(struct img_buf *b, const struct img_header_info *h)
{
	img_buf_u32(b, h->generation);
	img_buf_u32(b, h->nprocs);
	img_buf_u64(b, h->job_id);
	img_buf_u32(b, h->uid);
	img_buf_u32(b, (uint32_t)h->vpid);
	img_buf_u32(b, (uint32_t)h->vppid);
	img_buf_u64(b, h->time_sec);
	img_buf_u64(b, h->arena_base);
	img_buf_u64(b, h->arena_size);
	img_buf_u32(b, h->flags);
	img_buf_str(b, h->uniquepid, sizeof(h->uniquepid));
	img_buf_str(b, h->progname, sizeof(h->progname));
	img_buf_str(b, h->hostname, sizeof(h->hostname));
	img_buf_str(b, h->cmdline, sizeof(h->cmdline));
	img_buf_str(b, h->cwd, sizeof(h->cwd));
	img_buf_str(b, h->hwloc_summary, sizeof(h->hwloc_summary));
	img_buf_u64(b, h->image_id); /* appended for incremental images */
	img_buf_u64(b, h->parent_id);
	img_buf_u32(b, h->parent_gen);
	img_buf_str(b, h->parent_name, sizeof(h->parent_name));
	img_buf_u32(b, h->full_every); /* appended: --full-every K */
}

int img_decode_info(const uint8_t *p, size_t n, struct img_header_info *h, char *err, size_t errlen)
{
	struct img_cur c = {p, n, 0};
	memset(h, 0, sizeof(*h));
	h->generation = img_get_u32(&c);
	h->nprocs = img_get_u32(&c);
	h->job_id = img_get_u64(&c);
	h->uid = img_get_u32(&c);
	h->vpid = (int32_t)img_get_u32(&c);
	h->vppid = (int32_t)img_get_u32(&c);
	h->time_sec = img_get_u64(&c);
	h->arena_base = img_get_u64(&c);
	h->arena_size = img_get_u64(&c);
	h->flags = img_get_u32(&c);
	img_get_str(&c, h->uniquepid, sizeof(h->uniquepid));
	img_get_str(&c, h->progname, sizeof(h->progname));
	img_get_str(&c, h->hostname, sizeof(h->hostname));
	img_get_str(&c, h->cmdline, sizeof(h->cmdline));
	img_get_str(&c, h->cwd, sizeof(h->cwd));
	img_get_str(&c, h->hwloc_summary, sizeof(h->hwloc_summary));
	if (!c.bad && c.left) { /* files written before incremental images end here */
		h->image_id = img_get_u64(&c);
		h->parent_id = img_get_u64(&c);
		h->parent_gen = img_get_u32(&c);
		img_get_str(&c, h->parent_name, sizeof(h->parent_name));
	}
	if (!c.bad && c.left) /* files written before --full-every was stored end here */
		h->full_every = img_get_u32(&c);
	/* Bytes left over are fields appended by a later writer of the same version. */
	if (c.bad)
		return img_fail(err, errlen, EBADMSG, "header info section is malformed");
	return 0;
}

void img_encode_regions(struct img_buf *b, const struct img_region *r, size_t n)
{
	img_buf_u32(b, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		size_t pl = strnlen(r[i].path, sizeof(r[i].path) - 1);
		img_buf_u32(b, (uint32_t)(REGION_ENTRY_MIN + pl));
		img_buf_u64(b, r[i].start);
		img_buf_u64(b, r[i].len);
		img_buf_u32(b, r[i].prot);
		img_buf_u32(b, r[i].flags);
		img_buf_u64(b, r[i].file_offset);
		img_buf_str(b, r[i].path, sizeof(r[i].path));
	}
}

int img_decode_regions(const uint8_t *p, size_t n, struct img_region **out, size_t *nout, char *err,
		       size_t errlen)
{
	struct img_cur c = {p, n, 0};
	uint32_t cnt = img_get_u32(&c);
	*out = NULL;
	*nout = 0;
	if (c.bad || cnt > IMG_REGIONS_MAX || cnt > c.left / (4 + REGION_ENTRY_MIN))
		return img_fail(err, errlen, EBADMSG, "region table: bad count %u", cnt);
	struct img_region *r = calloc(cnt ? cnt : 1, sizeof(*r));
	if (!r)
		return img_fail(err, errlen, ENOMEM, "region table: out of memory");
	for (uint32_t i = 0; i < cnt; i++) {
		uint32_t elen = img_get_u32(&c);
		if (c.bad || elen < REGION_ENTRY_MIN || elen > c.left) {
			free(r);
			return img_fail(err, errlen, EBADMSG, "region table: entry %u is malformed",
					i);
		}
		struct img_cur e = {c.p, elen, 0};
		c.p += elen;
		c.left -= elen;
		r[i].start = img_get_u64(&e);
		r[i].len = img_get_u64(&e);
		r[i].prot = img_get_u32(&e);
		r[i].flags = img_get_u32(&e);
		r[i].file_offset = img_get_u64(&e);
		img_get_str(&e, r[i].path, sizeof(r[i].path));
		if (e.bad) {
			free(r);
			return img_fail(err, errlen, EBADMSG, "region table: entry %u is malformed",
					i);
		}
	}
	if (c.left) {
		free(r);
		return img_fail(err, errlen, EBADMSG, "region table: %zu stray bytes", c.left);
	}
	*out = r;
	*nout = cnt;
	return 0;
}

static int cmp_start(const void *a, const void *b)
{
	const struct img_region *x = *(const struct img_region *const *)a;
	const struct img_region *y = *(const struct img_region *const *)b;
	return x->start < y->start ? -1 : x->start > y->start;
}

int img_check_regions(const struct img_region *r, size_t n, char *err, size_t errlen)
{
	if (n > IMG_REGIONS_MAX)
		return img_fail(err, errlen, EINVAL, "%zu regions (at most %u)", n,
				IMG_REGIONS_MAX);
	for (size_t i = 0; i < n; i++) {
		if (r[i].start % IMG_PAGE_SIZE || r[i].len % IMG_PAGE_SIZE || !r[i].len ||
		    r[i].start >= IMG_ADDR_LIMIT || r[i].len > IMG_ADDR_LIMIT - r[i].start)
			return img_fail(
			    err, errlen, EINVAL,
			    "region %zu (0x%llx +0x%llx) is not a page-aligned user range", i,
			    (unsigned long long)r[i].start, (unsigned long long)r[i].len);
	}
	if (n < 2)
		return 0;
	const struct img_region **s = malloc(n * sizeof(*s));
	if (!s)
		return img_fail(err, errlen, ENOMEM, "region table: out of memory");
	for (size_t i = 0; i < n; i++)
		s[i] = &r[i];
	qsort(s, n, sizeof(*s), cmp_start);
	int rc = 0;
	for (size_t i = 1; i < n && !rc; i++)
		if (s[i]->start < s[i - 1]->start + s[i - 1]->len)
			rc = img_fail(err, errlen, EINVAL, "regions 0x%llx and 0x%llx overlap",
				      (unsigned long long)s[i - 1]->start,
				      (unsigned long long)s[i]->start);
	free(s);
	return rc;
}

void img_make_section(struct img_disk_section *s, uint32_t type, uint32_t subtype, const void *p,
		      uint64_t len)
{
	memset(s, 0, sizeof(*s));
	s->magic = IMG_SECT_MAGIC;
	s->type = type;
	s->subtype = subtype;
	s->len = len;
	s->crc = img_crc(img_crc(0, s, sizeof(*s)), p, len);
}

uint32_t img_chunk_hcrc(const struct img_disk_chunk *c)
{
	struct img_disk_chunk t = *c;
	t.hcrc = 0;
	return img_crc(0, &t, sizeof(t));
}

int img_pread_full(int fd, void *p, size_t n, uint64_t off)
{
	uint8_t *q = p;
	while (n) {
		ssize_t k = pread(fd, q, n, (off_t)off);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			return -ENODATA;
		q += k;
		n -= (size_t)k;
		off += (uint64_t)k;
	}
	return 0;
}

int img_nthreads(int n)
{
	if (n <= 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		n = c > 0 ? (int)c : 1;
	}
	return n > 64 ? 64 : n;
}

const char *img_blob_name(uint32_t type)
{
	static const char *const names[] = {NULL,	"PROC",	 "THREADS", "FDS",
					    "FILEDATA", "PIPES", "ARENA",   "LAYOUT"};
	return type < sizeof(names) / sizeof(names[0]) ? names[type] : NULL;
}
