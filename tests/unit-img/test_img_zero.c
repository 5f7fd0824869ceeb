/*
 * test_img_zero.c - all-zero memory is never stored: a 64 MiB zero region (half written with
 * zeros, half never touched) gives an image < 64 KiB, raw and compressed; a 2 GiB untouched
 * region gives an image < 1 MiB; one non-zero byte gives exactly one 4 KiB chunk; and an
 * image without chunks restores (leaving the fresh memory zero).
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "img_test.h"

#define MIB (1ull << 20)

static int write_one(const char *name, struct img_region *reg, size_t n, int compress,
		     struct img_write_stats *st, char *path, size_t plen)
{
	struct img_header_info h;
	struct img_write_opts o = {.compress = compress, .level = 1};
	char err[512];
	t_info(&h, "zero");
	t_path(path, plen, name);
	int rc = img_write(path, &h, NULL, 0, reg, n, &o, st, err, sizeof(err));
	CHECK(rc == 0, "img_write %s: %s", name, err);
	return rc;
}

static void restore_check(const char *path, struct img_region *reg, uint64_t nchunks)
{
	struct img_reader *r;
	char err[512];
	int rc = img_open(path, &r, err, sizeof(err));
	CHECK(rc == 0, "img_open: %s", err);
	if (rc)
		return;
	CHECK(img_chunk_count(r) == nchunks, "%llu chunks", (unsigned long long)img_chunk_count(r));
	rc = img_restore_memory(r, 2, NULL, err, sizeof(err));
	CHECK(rc == 0, "img_restore_memory: %s", err);
	img_close(r);
	(void)reg;
}

static void test_64m(int compress)
{
	struct img_write_stats st;
	char path[512];
	uint8_t *p = t_map(64 * MIB);
	t_fill(p, 32 * MIB, T_RANDOM, 5); /* make the pages present, then zero them */
	memset(p, 0, 32 * MIB);
	struct img_region reg = {(uintptr_t)p, 64 * MIB, PROT_READ | PROT_WRITE,
				 IMG_REG_ANON, 0,	 "[heap]"};
	if (write_one(compress ? "z64c.dmtcp" : "z64r.dmtcp", &reg, 1, compress, &st, path,
		      sizeof(path)))
		return;
	CHECK(st.file_bytes < 64 * 1024, "64 MiB of zeros gave %llu bytes",
	      (unsigned long long)st.file_bytes);
	CHECK(st.data_bytes == 0 && st.chunks == 0 && st.zero_bytes == 64 * MIB,
	      "stats data %llu chunks %llu zero %llu", (unsigned long long)st.data_bytes,
	      (unsigned long long)st.chunks, (unsigned long long)st.zero_bytes);
	printf("  64 MiB zero (compress=%d): %llu bytes in %.3f s\n", compress,
	       (unsigned long long)st.file_bytes, st.seconds);
	restore_check(path, &reg, 0);
	munmap(p, 64 * MIB);
}

static void test_one_byte(void)
{
	struct img_write_stats st;
	char path[512];
	uint8_t *p = t_map(64 * MIB);
	memset(p, 0, 8 * MIB);
	p[37 * MIB + 123] = 1;
	struct img_region reg = {(uintptr_t)p, 64 * MIB, PROT_READ | PROT_WRITE,
				 IMG_REG_ANON, 0,	 ""};
	if (write_one("onebyte.dmtcp", &reg, 1, 1, &st, path, sizeof(path)))
		return;
	CHECK(st.chunks == 1 && st.data_bytes == 4096, "chunks %llu data %llu",
	      (unsigned long long)st.chunks, (unsigned long long)st.data_bytes);
	p[37 * MIB + 123] = 0;
	restore_check(path, &reg, 1);
	CHECK(p[37 * MIB + 123] == 1, "byte not restored");
	munmap(p, 64 * MIB);
}

static void test_2g(void)
{
	struct img_write_stats st;
	char path[512];
	size_t len = 2048 * MIB;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		printf("  2 GiB mapping refused: skipped\n");
		return;
	}
	struct img_region reg = {(uintptr_t)p, len, PROT_READ | PROT_WRITE,
				 IMG_REG_ANON, 0,   "[big]"};
	if (write_one("z2g.dmtcp", &reg, 1, 1, &st, path, sizeof(path)) == 0) {
		CHECK(st.file_bytes < MIB, "2 GiB of zeros gave %llu bytes",
		      (unsigned long long)st.file_bytes);
		printf("  2 GiB untouched: %llu bytes in %.3f s\n",
		       (unsigned long long)st.file_bytes, st.seconds);
	}
	munmap(p, len);
}

int main(void)
{
	test_64m(0);
	test_64m(1);
	test_one_byte();
	if (!getenv("IMG_TEST_SMALL"))
		test_2g();
	return t_finish("test_img_zero");
}
