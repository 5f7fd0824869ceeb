/*
 * ft_img.c - where things are inside a checkpoint image, for the damaged-image tests
 * (tests/e2e-faults/faults.sh), and a version patcher. Reads the on-disk structures of
 * common/image.h directly; it trusts the file (it is only run on images that restart fine).
 *
 *   ft_img layout FILE
 *       one "NAME OFFSET LENGTH" line per part of the file, offsets in bytes:
 *       header, section.<type>[.<subtype>] (its 24-byte header and payload), payload.<type>,
 *       chunk.raw / chunk.zlib (first chunk of each kind: header + stored bytes),
 *       chunkdata.raw / chunkdata.zlib (its stored bytes), index, trailer
 *   ft_img set-version FILE N
 *       write N into the header's version field and recompute the header CRC, so that only
 *       the version is wrong (a file "from a newer splitckpt")
 *   ft_img set-region-start FILE I ADDR
 *       write ADDR (0x... or "copy:J" = the start of region J) into the start of region I of
 *       the region table and recompute the section's CRC: a table that is wrong but not
 *       damaged, which only the reader's consistency checks can refuse
 * Exit 0, or 1 with a message.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "image.h"

static int pread_all(int fd, void *buf, size_t n, off_t off)
{
	return pread(fd, buf, n, off) == (ssize_t)n ? 0 : -1;
}

static const char *sect_name(uint32_t type)
{
	switch (type) {
	case IMG_SEC_INFO:
		return "info";
	case IMG_SEC_BLOB:
		return "blob";
	case IMG_SEC_REGIONS:
		return "regions";
	case IMG_SEC_INDEX:
		return "index";
	default:
		return "unknown";
	}
}

static int layout(int fd, off_t size)
{
	struct img_disk_header h;
	struct img_disk_trailer t;
	if (pread_all(fd, &h, sizeof(h), 0) || pread_all(fd, &t, sizeof(t), size - sizeof(t)))
		return -1;
	printf("header 0 %u\n", h.header_size);
	uint64_t at = h.header_size;
	for (uint32_t i = 0; i < h.nsections; i++) {
		struct img_disk_section s;
		if (pread_all(fd, &s, sizeof(s), at))
			return -1;
		if (s.type == IMG_SEC_BLOB)
			printf("section.blob.%u %llu %llu\n", s.subtype, (unsigned long long)at,
			       (unsigned long long)(sizeof(s) + s.len));
		else
			printf("section.%s %llu %llu\n", sect_name(s.type), (unsigned long long)at,
			       (unsigned long long)(sizeof(s) + s.len));
		if (s.type != IMG_SEC_BLOB)
			printf("payload.%s %llu %llu\n", sect_name(s.type),
			       (unsigned long long)(at + sizeof(s)), (unsigned long long)s.len);
		at += sizeof(s) + s.len;
	}
	int seen_raw = 0, seen_zlib = 0;
	for (uint64_t i = 0; i < t.nchunks && !(seen_raw && seen_zlib); i++) {
		struct img_disk_index e;
		if (pread_all(fd, &e, sizeof(e), t.index_off + sizeof(struct img_disk_section) +
							  i * sizeof(e)))
			return -1;
		int raw = e.c.flags == IMG_CHUNK_RAW;
		if (raw ? seen_raw++ : seen_zlib++)
			continue;
		const char *k = raw ? "raw" : "zlib";
		printf("chunk.%s %llu %llu\n", k, (unsigned long long)e.file_off,
		       (unsigned long long)(sizeof(e.c) + e.c.stored_len));
		printf("chunkdata.%s %llu %u\n", k, (unsigned long long)(e.file_off + sizeof(e.c)),
		       e.c.stored_len);
	}
	printf("index %llu %llu\n", (unsigned long long)t.index_off,
	       (unsigned long long)(size - sizeof(t) - t.index_off));
	printf("trailer %llu %zu\n", (unsigned long long)(size - sizeof(t)), sizeof(t));
	return 0;
}

static int set_version(int fd, uint32_t v)
{
	struct img_disk_header h;
	unsigned char buf[IMG_HEADER_MAX];
	if (pread_all(fd, &h, sizeof(h), 0) || h.header_size > sizeof(buf) ||
	    pread_all(fd, buf, h.header_size, 0))
		return -1;
	memcpy(buf + offsetof(struct img_disk_header, version), &v, sizeof(v));
	memset(buf + offsetof(struct img_disk_header, crc), 0, sizeof(uint32_t));
	uint32_t crc = (uint32_t)crc32(0, buf, h.header_size);
	memcpy(buf + offsetof(struct img_disk_header, crc), &crc, sizeof(crc));
	return pwrite(fd, buf, h.header_size, 0) == (ssize_t)h.header_size ? 0 : -1;
}

/* Offset of the region table section (its 24-byte header) or 0. */
static uint64_t find_regions(int fd, struct img_disk_section *out)
{
	struct img_disk_header h;
	if (pread_all(fd, &h, sizeof(h), 0))
		return 0;
	uint64_t at = h.header_size;
	for (uint32_t i = 0; i < h.nsections; i++) {
		if (pread_all(fd, out, sizeof(*out), at))
			return 0;
		if (out->type == IMG_SEC_REGIONS)
			return at;
		at += sizeof(*out) + out->len;
	}
	return 0;
}

static int set_region_start(int fd, uint32_t idx, const char *value)
{
	struct img_disk_section s;
	uint64_t at = find_regions(fd, &s);
	unsigned char *p = at && s.len < (64u << 20) ? malloc(s.len) : NULL;
	if (!p || pread_all(fd, p, s.len, at + sizeof(s)))
		return -1;
	uint32_t cnt, elen;
	uint64_t pos = 4, starts[2] = {0, 0}, want_at = 0;
	memcpy(&cnt, p, 4);
	uint32_t copy_from = !strncmp(value, "copy:", 5) ? (uint32_t)atoi(value + 5) : UINT32_MAX;
	for (uint32_t i = 0; i < cnt && pos + 12 <= s.len; i++) {
		memcpy(&elen, p + pos, 4);
		if (i == idx)
			want_at = pos + 4;
		if (i == copy_from)
			memcpy(&starts[1], p + pos + 4, 8);
		pos += 4 + elen;
	}
	starts[0] = copy_from != UINT32_MAX ? starts[1] : strtoull(value, NULL, 0);
	if (!want_at || (copy_from != UINT32_MAX && copy_from >= cnt)) {
		free(p);
		return -1;
	}
	memcpy(p + want_at, &starts[0], 8);
	s.crc = 0;
	s.crc = (uint32_t)crc32(crc32(0, (const unsigned char *)&s, sizeof(s)), p, s.len);
	int rc = pwrite(fd, &s, sizeof(s), at) == (ssize_t)sizeof(s) &&
			 pwrite(fd, p, s.len, at + sizeof(s)) == (ssize_t)s.len
		     ? 0
		     : -1;
	free(p);
	return rc;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	int need = !strcmp(cmd, "layout")		? 3
		   : !strcmp(cmd, "set-version")	? 4
		   : !strcmp(cmd, "set-region-start") ? 5
							: 0;
	if (!need || argc < need) {
		fprintf(stderr, "usage: ft_img layout FILE | ft_img set-version FILE N | "
				"ft_img set-region-start FILE I ADDR|copy:J\n");
		return 1;
	}
	int fd = open(argv[2], need > 3 ? O_RDWR : O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) || st.st_size < 128) {
		perror(argv[2]);
		return 1;
	}
	int rc = need == 3   ? layout(fd, st.st_size)
		 : need == 4 ? set_version(fd, (uint32_t)strtoul(argv[3], NULL, 0))
			     : set_region_start(fd, (uint32_t)atoi(argv[3]), argv[4]);
	close(fd);
	if (rc)
		fprintf(stderr, "ft_img: %s: cannot read or write it\n", argv[2]);
	return rc ? 1 : 0;
}
