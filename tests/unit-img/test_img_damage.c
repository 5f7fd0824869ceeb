/*
 * test_img_damage.c - damaged images are refused, never restored and never crash the reader:
 * truncation at many offsets, extension, a bit flip at every metadata byte and many data bytes,
 * a newer format version, and crafted files whose CRCs are all correct but whose fields lie
 * (region numbers, offsets, lengths, counts, string lengths, undecodable zlib data).
 * Every refusal must come with a message naming the file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <zlib.h>

#include "img_test.h"

static struct img_region regs[3];
static uint8_t *orig;
static long orig_len;
static char work[512];

/* 1 if the image at work is refused by img_open, or by both img_verify and a restore. */
static int refused(const char *what, const char *must_say)
{
	struct img_reader *r;
	char err[512] = "";
	int rc = img_open(work, &r, err, sizeof(err));
	if (rc == 0) {
		int v = img_verify(r, err, sizeof(err));
		char err2[512] = "";
		int w = img_restore_memory(r, 2, NULL, err2, sizeof(err2));
		img_close(r);
		CHECK(v != 0 && w != 0, "%s: accepted (verify %d, restore %d)", what, v, w);
		if (v == 0 || w == 0)
			return 0;
		CHECK(strstr(err2, work), "%s: restore message lacks the file: %s", what, err2);
	}
	CHECK(strstr(err, work), "%s: message lacks the file name: %s", what, err);
	CHECK(!must_say || strstr(err, must_say), "%s: message \"%s\" lacks \"%s\"", what, err,
	      must_say);
	return 1;
}

static void test_truncation(void)
{
	int bad = 0;
	for (long off = 0; off < orig_len; off += off < 700 || off > orig_len - 300 ? 1 : 97) {
		t_spit(work, orig, (size_t)off);
		char what[64];
		snprintf(what, sizeof(what), "truncated at %ld", off);
		bad += !refused(what, NULL);
	}
	uint8_t *ext = malloc((size_t)orig_len + 64);
	memcpy(ext, orig, (size_t)orig_len);
	memset(ext + orig_len, 0, 64);
	t_spit(work, ext, (size_t)orig_len + 1);
	bad += !refused("extended by 1 byte", NULL);
	memcpy(ext + orig_len, orig + orig_len - 64, 64); /* a second copy of the trailer */
	t_spit(work, ext, (size_t)orig_len + 64);
	bad += !refused("extended by a trailer", "trailer says");
	free(ext);
	printf("  truncation/extension: %d accepted\n", bad);
}

/* Alignment gap of an IMG_F_ALIGNED image (zeros before a chunk header): never read, so
 * damage there is harmless and not detected. */
static int in_gap(long pos)
{
	const struct img_disk_header *h = (const void *)orig;
	const struct img_disk_trailer *t = (const void *)(orig + orig_len - 64);
	const struct img_disk_index *e = (const void *)(orig + t->index_off + 24);
	uint64_t end = h->data_off;
	for (uint64_t i = 0; i < t->nchunks; i++) {
		if ((uint64_t)pos >= end && (uint64_t)pos < e[i].file_off)
			return 1;
		end = e[i].file_off + 40 + e[i].c.stored_len;
	}
	return 0;
}

static void test_bitflips(void)
{
	const struct img_disk_header *h = (const void *)orig;
	const struct img_disk_trailer *t = (const void *)(orig + orig_len - 64);
	long n = 0, bad = 0, gaps = 0;
	t_spit(work, orig, (size_t)orig_len);
	int fd = open(work, O_RDWR);
	for (long pos = 0; pos < orig_len; pos++) {
		int meta = pos < (long)h->data_off + 200 || pos >= (long)t->index_off - 40;
		if (!meta && pos % 89)
			continue;
		if ((h->flags & IMG_F_ALIGNED) && in_gap(pos)) {
			gaps++;
			continue;
		}
		uint8_t b = orig[pos] ^ (uint8_t)(1u << (pos * 5 % 8));
		if (pwrite(fd, &b, 1, pos) != 1)
			break;
		char what[64];
		snprintf(what, sizeof(what), "bit flip at %ld", pos);
		bad += !refused(what, NULL);
		n++;
		if (pwrite(fd, orig + pos, 1, pos) != 1)
			break;
	}
	close(fd);
	printf("  bit flips: %ld positions, %ld accepted (%ld in alignment gaps skipped)\n", n, bad,
	       gaps);
}

/* Recomputes every CRC of the image in b (after a deliberate lie), so only the semantic
 * checks can catch it. */
static void fix_crcs(uint8_t *b, size_t n)
{
	struct img_disk_header *h = (void *)b;
	struct img_disk_trailer *t = (void *)(b + n - 64);
	uint64_t pos = h->header_size;
	for (uint32_t i = 0; i < h->nsections && pos + 24 <= n; i++) {
		struct img_disk_section *s = (void *)(b + pos);
		if (s->len > n - pos - 24)
			break;
		s->crc = 0;
		s->crc = (uint32_t)crc32(crc32(0, (void *)s, 24), b + pos + 24, (uInt)s->len);
		pos += 24 + s->len;
	}
	if (t->index_off + 24 <= n) {
		struct img_disk_section *s = (void *)(b + t->index_off);
		struct img_disk_index *e = (void *)(s + 1);
		for (uint64_t i = 0; i < t->nchunks && (uint8_t *)(e + i + 1) <= b + n - 64; i++) {
			struct img_disk_chunk *c = &e[i].c;
			if (e[i].file_off + 40 + c->stored_len <= n)
				c->crc = (uint32_t)crc32(0, b + e[i].file_off + 40, c->stored_len);
			c->hcrc = 0;
			c->hcrc = (uint32_t)crc32(0, (void *)c, 40);
			if (e[i].file_off + 40 <= n)
				memcpy(b + e[i].file_off, c, 40);
		}
		uint64_t ilen = (uint64_t)(b + n - 64 - (uint8_t *)(s + 1));
		s->crc = 0;
		s->crc = (uint32_t)crc32(crc32(0, (void *)s, 24), (void *)(s + 1), (uInt)ilen);
	}
	t->crc = 0;
	t->crc = (uint32_t)crc32(0, (void *)t, 64);
	h->crc = 0;
	h->crc = (uint32_t)crc32(0, (void *)h, h->header_size);
}

enum lie {
	L_REGION,
	L_OFFSET,
	L_RAWLEN,
	L_SEQ,
	L_NCHUNKS,
	L_SECTLEN,
	L_REGCOUNT,
	L_STRLEN,
	L_ZLIB,
	L_VERSION,
	L_NLIES
};

static void test_lies(void)
{
	static const char *const names[] = {"chunk region 99",	    "chunk offset past region",
					    "chunk raw_len 8 MiB",  "chunk seq",
					    "trailer nchunks 2^40", "header sections_len",
					    "region count 2^30",    "uniquepid length 5000",
					    "garbage zlib data",    "version 2"};
	for (int lie = 0; lie < L_NLIES; lie++) {
		uint8_t *b = malloc((size_t)orig_len);
		memcpy(b, orig, (size_t)orig_len);
		struct img_disk_header *h = (void *)b;
		struct img_disk_trailer *t = (void *)(b + orig_len - 64);
		struct img_disk_index *e = (void *)(b + t->index_off + 24);
		struct img_disk_section *info = (void *)(b + h->header_size);
		const char *say = NULL;
		size_t z = 0;
		while (z < t->nchunks && e[z].c.flags != IMG_CHUNK_ZLIB && e[z].c.flags != IMG_CHUNK_ZSTD)
			z++;
		switch (lie) {
		case L_REGION:
			e[0].c.region = 99;
			say = "bad region number";
			break;
		case L_OFFSET:
			e[1].c.offset = regs[e[1].c.region].len;
			say = "outside";
			break;
		case L_RAWLEN:
			e[0].c.raw_len = 8u << 20;
			say = "outside";
			break;
		case L_SEQ:
			e[2].c.seq = 7;
			say = "bad chunk header";
			break;
		case L_NCHUNKS:
			t->nchunks = 1ull << 40;
			say = "trailer";
			break;
		case L_SECTLEN:
			h->sections_len = 1ull << 40;
			h->data_off = h->header_size + h->sections_len;
			say = "inconsistent";
			break;
		case L_REGCOUNT: {
			/* the REGIONS section is the last one before the data */
			uint64_t pos = h->header_size;
			for (uint32_t i = 0; i + 1 < h->nsections; i++)
				pos += 24 + ((struct img_disk_section *)(b + pos))->len;
			uint32_t big = 1u << 30;
			memcpy(b + pos + 24, &big, 4);
			say = "region table";
			break;
		}
		case L_STRLEN: {
			uint32_t big = 5000;
			memcpy((uint8_t *)(info + 1) + 56, &big, 4);
			say = "malformed";
			break;
		}
		case L_ZLIB:
			CHECK(z < t->nchunks, "no compressed chunk in the test image");
			if (z < t->nchunks)
				memset(b + e[z].file_off + 40, 0xA5, e[z].c.stored_len);
			say = "decompress";
			break;
		case L_VERSION:
			h->version = IMG_VERSION + 1;
			say = "made by a newer splitckpt";
			break;
		}
		fix_crcs(b, (size_t)orig_len);
		t_spit(work, b, (size_t)orig_len);
		refused(names[lie], say);
		free(b);
	}
	/* A newer version is refused even when the rest of its header is not understood. */
	uint8_t *b = malloc((size_t)orig_len);
	memcpy(b, orig, (size_t)orig_len);
	((struct img_disk_header *)b)->version = 9;
	t_spit(work, b, (size_t)orig_len);
	refused("version 9, stale CRC", "format 9, this one reads up to");
	memcpy(b, "SPLTCKPX", 8);
	t_spit(work, b, (size_t)orig_len);
	refused("bad magic", "not a splitckpt");
	free(b);
}

/* The whole damage suite on an image whose chunks the given codec compressed. */
static void run(int codec, int direct)
{
	char path[512], err[512];
	struct img_header_info h;
	struct img_write_opts o = {
	    .compress = 1, .nthreads = 2, .level = 1, .codec = codec, .direct = direct};
	printf("codec %s%s\n", img_codec_name(codec ? codec : img_default_codec()),
	       direct > 0 ? ", direct I/O (aligned layout)" : "");
	/* direct I/O: a random region large enough for an aligned chunk */
	const size_t len[3] = {direct > 0 ? 256 << 10 : 64 << 10, 64 << 10, 32 << 10};
	static const enum t_pattern pat[3] = {T_RANDOM, T_TEXT, T_MIXED};
	for (int i = 0; i < 3; i++) {
		uint8_t *p = t_map(len[i]);
		t_fill(p, len[i], pat[i], (uint64_t)i + 10);
		regs[i] = (struct img_region){(uintptr_t)p, len[i], PROT_READ | PROT_WRITE,
					      IMG_REG_ANON, 0,	    "[r]"};
	}
	struct img_blob b = {IMG_BLOB_PROC, "some process state", 18};
	t_info(&h, "damage");
	t_path(path, sizeof(path), "good.dmtcp");
	t_path(work, sizeof(work), "ckpt_damaged.dmtcp");
	int rc = img_write(path, &h, &b, 1, regs, 3, &o, NULL, err, sizeof(err));
	CHECK(rc == 0, "img_write: %s", err);
	orig_len = t_slurp(path, &orig);
	CHECK(orig_len > 0, "cannot read the image back");
	if (rc || orig_len <= 0)
		return;
	t_spit(work, orig, (size_t)orig_len);
	struct img_reader *r;
	rc = img_open(work, &r, err, sizeof(err));
	CHECK(rc == 0, "undamaged copy refused: %s", err);
	if (!rc) {
		CHECK(img_verify(r, err, sizeof(err)) == 0, "undamaged copy: %s", err);
		img_close(r);
	}
	printf("  image: %ld bytes\n", orig_len);
	struct statfs sf; /* (tmpfs has no O_DIRECT: the compact layout is right there) */
	CHECK(direct <= 0 || (((const struct img_disk_header *)orig)->flags & IMG_F_ALIGNED) ||
		  (statfs(path, &sf) == 0 && sf.f_type == TMPFS_MAGIC),
	      "direct I/O asked for, but the image is not aligned");
	test_truncation();
	test_bitflips();
	test_lies();
	free(orig);
	orig = NULL;
}

int main(void)
{
	run(0, 0);
	if (img_default_codec() != IMG_CODEC_ZLIB)
		run(IMG_CODEC_ZLIB, 0);
	run(0, 1);
	return t_finish("test_img_damage");
}
