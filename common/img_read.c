/*
 * img_read.c - opening an image: validation of the header, the trailer, every section and the
 * chunk index, and the accessors for what was parsed. The data chunks themselves are read by
 * img_restore.c.
 * The file is hostile: each field is checked before it is used (lengths against the bytes
 * that are really in the file and against fixed maxima, indexes against their tables), so
 * no allocation is larger than the file and no offset points outside it. When img_open
 * returns 0, every index entry names an existing region with data, lies inside it, and the
 * chunks tile the data area exactly in index order.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "img_internal.h"

#define BAD(...) img_fail(err, errlen, EBADMSG, __VA_ARGS__)

static int read_header(struct img_reader *r, char *err, size_t errlen)
{
	uint8_t buf[IMG_HEADER_MAX];
	struct img_disk_header *h = &r->hdr;
	size_t n = r->file_size < sizeof(*h) ? (size_t)r->file_size : sizeof(*h);
	int rc = img_pread_full(r->fd, buf, n, 0);
	if (rc)
		return img_fail(err, errlen, -rc, "%s: cannot read: %s", r->path, strerror(-rc));
	if (n < 8 || memcmp(buf, IMG_MAGIC, 8))
		return BAD("%s: not a splitckpt checkpoint image (bad magic)", r->path);
	if (n < sizeof(*h))
		return BAD("%s: truncated: %zu bytes is too short for the image header", r->path,
			   n);
	memcpy(h, buf, sizeof(*h));
	if (h->version > IMG_VERSION)
		return BAD("%s: made by a newer splitckpt (format %u, this one reads up to %u)",
			   r->path, h->version, IMG_VERSION);
	if (h->version == 0)
		return BAD("%s: bad format version 0", r->path);
	if (h->header_size < sizeof(*h) || h->header_size > IMG_HEADER_MAX ||
	    h->header_size > r->file_size)
		return BAD("%s: bad header size %u", r->path, h->header_size);
	rc = img_pread_full(r->fd, buf, h->header_size, 0);
	if (rc)
		return img_fail(err, errlen, -rc, "%s: cannot read: %s", r->path, strerror(-rc));
	uint32_t want = h->crc;
	memset(buf + offsetof(struct img_disk_header, crc), 0, sizeof(h->crc));
	if (img_crc(0, buf, h->header_size) != want)
		return BAD("%s: header checksum mismatch", r->path);
	if (h->sections_len > IMG_SECTIONS_MAX || h->data_off != h->header_size + h->sections_len ||
	    h->nsections > h->sections_len / sizeof(struct img_disk_section))
		return BAD("%s: header is inconsistent (sections %u, %llu bytes, data at %llu)",
			   r->path, h->nsections, (unsigned long long)h->sections_len,
			   (unsigned long long)h->data_off);
	return 0;
}

static int read_trailer(struct img_reader *r, char *err, size_t errlen)
{
	struct img_disk_trailer *t = &r->trl;
	uint64_t size = r->file_size;
	uint64_t min = r->hdr.data_off + sizeof(struct img_disk_section) + sizeof(*t);
	if (size < min)
		return BAD("%s: truncated: %llu bytes, but the data starts at %llu", r->path,
			   (unsigned long long)size, (unsigned long long)r->hdr.data_off);
	int rc = img_pread_full(r->fd, t, sizeof(*t), size - sizeof(*t));
	if (rc)
		return img_fail(err, errlen, -rc, "%s: cannot read: %s", r->path, strerror(-rc));
	if (memcmp(t->magic, IMG_TRAILER_MAGIC, 8))
		return BAD("%s: truncated or damaged: no trailer at the end (%llu bytes)", r->path,
			   (unsigned long long)size);
	uint32_t want = t->crc;
	t->crc = 0;
	if (img_crc(0, t, sizeof(*t)) != want)
		return BAD("%s: trailer checksum mismatch", r->path);
	t->crc = want;
	if (t->file_size != size)
		return BAD("%s: truncated or extended: trailer says %llu bytes, file has %llu",
			   r->path, (unsigned long long)t->file_size, (unsigned long long)size);
	uint64_t index_room = size - sizeof(*t) - sizeof(struct img_disk_section);
	if (t->data_off != r->hdr.data_off || t->index_off < t->data_off ||
	    t->index_off > index_room || t->nchunks > index_room / sizeof(struct img_disk_index) ||
	    t->nchunks * sizeof(struct img_disk_index) != index_room - t->index_off ||
	    t->nregions > IMG_REGIONS_MAX)
		return BAD("%s: trailer is inconsistent with the file", r->path);
	return 0;
}

static int add_section(struct img_reader *r, const struct img_disk_section *s, const uint8_t *p,
		       int *have_info, int *have_regs, char *err, size_t errlen)
{
	char m[200];
	int rc;
	switch (s->type) {
	case IMG_SEC_INFO:
		if ((*have_info)++)
			return BAD("%s: two header info sections", r->path);
		rc = img_decode_info(p, s->len, &r->info, m, sizeof(m));
		break;
	case IMG_SEC_REGIONS:
		if ((*have_regs)++)
			return BAD("%s: two region tables", r->path);
		rc = img_decode_regions(p, s->len, &r->regs, &r->nregs, m, sizeof(m));
		if (!rc)
			rc = img_check_regions(r->regs, r->nregs, m, sizeof(m));
		if (rc == -EINVAL)
			rc = -EBADMSG;
		break;
	case IMG_SEC_BLOB:
		if (!s->subtype)
			return BAD("%s: blob of type 0", r->path);
		for (size_t i = 0; i < r->nblobs; i++)
			if (r->blobs[i].type == s->subtype)
				return BAD("%s: two blobs of type %u", r->path, s->subtype);
		r->blobs[r->nblobs++] = (struct img_blob){s->subtype, p, s->len};
		return 0;
	default: /* a section type appended by a later writer: covered by its CRC, skipped */
		return 0;
	}
	if (rc)
		return img_fail(err, errlen, -rc, "%s: %s", r->path, m);
	return 0;
}

static int read_sections(struct img_reader *r, char *err, size_t errlen)
{
	const struct img_disk_header *h = &r->hdr;
	uint64_t len = h->sections_len, pos = 0;
	int have_info = 0, have_regs = 0;
	r->sections = malloc(len ? len : 1);
	r->blobs = calloc(h->nsections ? h->nsections : 1, sizeof(*r->blobs));
	if (!r->sections || !r->blobs)
		return img_fail(err, errlen, ENOMEM, "%s: out of memory for %llu bytes of sections",
				r->path, (unsigned long long)len);
	int rc = img_pread_full(r->fd, r->sections, len, h->header_size);
	if (rc)
		return img_fail(err, errlen, -rc, "%s: cannot read sections: %s", r->path,
				strerror(-rc));
	for (uint32_t i = 0; i < h->nsections; i++) {
		struct img_disk_section s;
		uint64_t at = h->header_size + pos;
		if (len - pos < sizeof(s))
			return BAD("%s: section %u at %llu: runs past the sections", r->path, i,
				   (unsigned long long)at);
		memcpy(&s, r->sections + pos, sizeof(s));
		if (s.magic != IMG_SECT_MAGIC)
			return BAD("%s: section %u at %llu: bad magic", r->path, i,
				   (unsigned long long)at);
		if (s.len > len - pos - sizeof(s))
			return BAD("%s: section %u at %llu: length %llu runs past the sections",
				   r->path, i, (unsigned long long)at, (unsigned long long)s.len);
		const uint8_t *payload = r->sections + pos + sizeof(s);
		struct img_disk_section z = s;
		z.crc = 0;
		if (img_crc(img_crc(0, &z, sizeof(z)), payload, s.len) != s.crc)
			return BAD("%s: section %u at %llu: checksum mismatch", r->path, i,
				   (unsigned long long)at);
		rc = add_section(r, &s, payload, &have_info, &have_regs, err, errlen);
		if (rc)
			return rc;
		pos += sizeof(s) + s.len;
	}
	if (pos != len)
		return BAD("%s: %llu stray bytes after the sections", r->path,
			   (unsigned long long)(len - pos));
	if (!have_info || !have_regs)
		return BAD("%s: no %s section", r->path,
			   have_info ? "region table" : "header info");
	if (r->nregs != r->trl.nregions)
		return BAD("%s: region table has %zu regions, trailer says %u", r->path, r->nregs,
			   r->trl.nregions);
	return 0;
}

/* Checks one index entry against the regions and the position where it must start. */
static const char *check_entry(const struct img_reader *r, const struct img_disk_index *e,
			       uint64_t i, uint64_t expect_off)
{
	const struct img_disk_chunk *c = &e->c;
	if (c->magic != IMG_CHUNK_MAGIC || c->seq != i || img_chunk_hcrc(c) != c->hcrc)
		return "bad chunk header";
	if (e->file_off != expect_off)
		return "not where the previous chunk ends";
	if (c->region >= r->nregs || (r->regs[c->region].flags & IMG_REG_NODATA))
		return "bad region number";
	const struct img_region *g = &r->regs[c->region];
	if (!c->raw_len || c->raw_len > IMG_CHUNK_MAX || c->raw_len % IMG_PAGE_SIZE ||
	    c->offset % IMG_PAGE_SIZE || c->offset > g->len || c->raw_len > g->len - c->offset)
		return "memory range outside its region";
	if (c->flags == IMG_CHUNK_PARENT) /* incremental: no bytes, the parent has them */
		return c->stored_len || c->crc ? "bad parent chunk" : NULL;
	if (c->flags == IMG_CHUNK_RAW	 ? c->stored_len != c->raw_len
	    : c->flags == IMG_CHUNK_ZLIB || c->flags == IMG_CHUNK_ZSTD
		? !c->stored_len || c->stored_len >= c->raw_len
					 : 1)
		return "bad stored length or flags";
	if (c->stored_len + sizeof(*c) > r->trl.index_off - e->file_off)
		return "runs past the data";
	return NULL;
}

static int read_index(struct img_reader *r, char *err, size_t errlen)
{
	struct img_disk_section s;
	const struct img_disk_trailer *t = &r->trl;
	uint64_t ilen = t->nchunks * sizeof(struct img_disk_index);
	int rc = img_pread_full(r->fd, &s, sizeof(s), t->index_off);
	if (rc)
		return img_fail(err, errlen, -rc, "%s: cannot read the chunk index: %s", r->path,
				strerror(-rc));
	if (s.magic != IMG_SECT_MAGIC || s.type != IMG_SEC_INDEX || s.len != ilen)
		return BAD("%s: chunk index at %llu: bad section header", r->path,
			   (unsigned long long)t->index_off);
	r->index = malloc(ilen ? ilen : 1);
	r->usage = calloc(r->nregs ? r->nregs : 1, sizeof(*r->usage));
	if (!r->index || !r->usage)
		return img_fail(err, errlen, ENOMEM, "%s: out of memory for the chunk index",
				r->path);
	rc = img_pread_full(r->fd, r->index, ilen, t->index_off + sizeof(s));
	if (rc)
		return img_fail(err, errlen, -rc, "%s: cannot read the chunk index: %s", r->path,
				strerror(-rc));
	struct img_disk_section z = s;
	z.crc = 0;
	if (img_crc(img_crc(0, &z, sizeof(z)), r->index, ilen) != s.crc)
		return BAD("%s: chunk index checksum mismatch", r->path);
	r->nchunks = t->nchunks;
	uint64_t off = t->data_off, data = 0, stored = 0;
	int aligned = r->hdr.version >= 2 && (r->hdr.flags & IMG_F_ALIGNED);
	for (uint64_t i = 0; i < r->nchunks; i++) {
		const struct img_disk_index *e = &r->index[i];
		const char *why =
		    check_entry(r, e, i, img_chunk_pos(off, e->c.stored_len, aligned));
		if (why)
			return BAD("%s: chunk %llu in the index: %s", r->path,
				   (unsigned long long)i, why);
		if (e->c.flags == IMG_CHUNK_PARENT && !r->info.parent_id)
			return BAD("%s: chunk %llu refers to a parent image, but the header names none",
				   r->path, (unsigned long long)i);
		off = e->file_off + sizeof(e->c) + e->c.stored_len;
		data += e->c.raw_len;
		stored += e->c.stored_len;
		struct img_usage *u = &r->usage[e->c.region];
		if (e->c.flags == IMG_CHUNK_PARENT) {
			u->parent_bytes += e->c.raw_len;
			continue;
		}
		u->data_bytes += e->c.raw_len;
		u->stored_bytes += e->c.stored_len;
		u->chunks++;
		u->raw_chunks += e->c.flags == IMG_CHUNK_RAW;
	}
	if (off != t->index_off || data != t->data_bytes || stored != t->stored_bytes)
		return BAD("%s: chunk index does not add up to the trailer's totals", r->path);
	return 0;
}

int img_open(const char *path, struct img_reader **out, char *err, size_t errlen)
{
	struct img_reader *r = calloc(1, sizeof(*r));
	struct stat sb;
	int rc;
	*out = NULL;
	if (!r)
		return img_fail(err, errlen, ENOMEM, "%s: out of memory", path);
	r->fd = -1;
	if (!(r->path = strdup(path))) {
		rc = img_fail(err, errlen, ENOMEM, "%s: out of memory", path);
		goto fail;
	}
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		rc = img_fail(err, errlen, errno, "cannot open %s: %s", path, strerror(errno));
		goto fail;
	}
	if (fstat(r->fd, &sb)) {
		rc = img_fail(err, errlen, errno, "cannot stat %s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		rc = img_fail(err, errlen, EINVAL, "%s: not a regular file", path);
		goto fail;
	}
	r->file_size = (uint64_t)sb.st_size;
	if ((rc = read_header(r, err, errlen)) || (rc = read_trailer(r, err, errlen)) ||
	    (rc = read_sections(r, err, errlen)) || (rc = read_index(r, err, errlen)))
		goto fail;
	posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	*out = r;
	return 0;
fail:
	img_close(r);
	return rc;
}

const struct img_header_info *img_header(const struct img_reader *r) { return &r->info; }

int img_blob(const struct img_reader *r, uint32_t type, const void **data, uint64_t *len)
{
	for (size_t i = 0; i < r->nblobs; i++) {
		if (r->blobs[i].type == type) {
			*data = r->blobs[i].data;
			*len = r->blobs[i].len;
			return 0;
		}
	}
	*data = NULL;
	*len = 0;
	return -ENOENT;
}

const struct img_region *img_regions(const struct img_reader *r, size_t *n)
{
	*n = r->nregs;
	return r->regs;
}

const struct img_usage *img_region_usage(const struct img_reader *r, size_t *n)
{
	*n = r->nregs;
	return r->usage;
}

uint64_t img_file_size(const struct img_reader *r) { return r->file_size; }

uint64_t img_chunk_count(const struct img_reader *r) { return r->nchunks; }

void img_close(struct img_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	free(r->path);
	free(r->sections);
	free(r->blobs);
	free(r->regs);
	free(r->usage);
	free(r->index);
	free(r);
}
