/*
 * test_img_roundtrip.c - writes images of regions holding random, zero, text-like, mixed and
 * sparse data (plus a read-only region, a PROT_NONE region with data, a NODATA reservation, a
 * shared mapping and a private file mapping), raw and compressed, with several writer thread
 * counts; then maps fresh anonymous memory at every region, restores with several reader
 * thread counts, and compares memory, header fields, blobs and the region table.
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

#include "img_test.h"

#define MIB (1u << 20)
#define NREG 10

struct spec {
	size_t len;
	enum t_pattern pat;
	uint32_t prot, flags;
	const char *path;
};

static const struct spec specs[NREG] = {
    {8 * MIB + 12288, T_RANDOM, PROT_READ | PROT_WRITE, IMG_REG_ANON, "[heap]"},
    {6 * MIB, T_ZERO, PROT_READ | PROT_WRITE, IMG_REG_ANON, ""},
    {3 * MIB, T_TEXT, PROT_READ | PROT_WRITE, IMG_REG_ANON, ""},
    {5 * MIB, T_MIXED, PROT_READ | PROT_WRITE, IMG_REG_ANON | IMG_REG_STACK, "[stack:1]"},
    {64 << 10, T_NONE, PROT_NONE, IMG_REG_ANON | IMG_REG_NODATA, "[arena-reserve]"},
    {256 << 10, T_RANDOM, PROT_READ, IMG_REG_ANON, ""},
    {128 << 10, T_MIXED, PROT_NONE, IMG_REG_ANON, "[guarded]"},
    {1 * MIB, T_MIXED, PROT_READ | PROT_WRITE, IMG_REG_ANON | IMG_REG_SHARED, "/dev/zero"},
    {512 << 10, T_TEXT, PROT_READ | PROT_WRITE, IMG_REG_FILE, "data.bin"},
    {16 * MIB, T_NONE, PROT_READ | PROT_WRITE, IMG_REG_ANON, "[sparse]"},
};

static struct img_region regs[NREG];
static uint8_t *expect[NREG]; /* what each region must hold after restore */
static uint64_t expect_data;  /* non-zero bytes in regions with data */

static void *map_region(size_t i)
{
	const struct spec *s = &specs[i];
	void *p;
	if (s->flags & IMG_REG_SHARED) {
		p = mmap(NULL, s->len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	} else if (s->flags & IMG_REG_FILE) {
		char f[512];
		t_path(f, sizeof(f), "data.bin");
		uint8_t *b = malloc(s->len);
		t_fill(b, s->len, T_RANDOM, 99);
		if (t_spit(f, b, s->len))
			exit(2);
		free(b);
		int fd = open(f, O_RDONLY);
		p = mmap(NULL, s->len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
		close(fd);
	} else {
		p = mmap(NULL, s->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	}
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	return p;
}

static void setup(void)
{
	for (size_t i = 0; i < NREG; i++) {
		const struct spec *s = &specs[i];
		uint8_t *p = map_region(i);
		if (s->flags & IMG_REG_FILE) /* change half the pages of the file mapping */
			t_fill(p, s->len / 2, s->pat, i);
		else
			t_fill(p, s->len, s->pat, i);
		expect[i] = calloc(1, s->len);
		if (i == 9) { /* sparse: a few pages touched, the rest never (pagemap skips it) */
			for (size_t at = 0; at < s->len; at += 1536 * 1024 + 8192) {
				t_fill(p + at, 4096, T_RANDOM, at);
				memcpy(expect[i] + at, p + at, 4096);
			}
		} else {
			memcpy(expect[i], p, s->len);
		}
		mprotect(p, s->len, s->prot);
		regs[i] = (struct img_region){(uintptr_t)p, s->len, s->prot, s->flags, 0, ""};
		snprintf(regs[i].path, sizeof(regs[i].path), "%s", s->path);
		if (s->flags & IMG_REG_NODATA)
			continue;
		for (size_t at = 0; at < s->len; at += 4096) {
			static const uint8_t zero[4096];
			expect_data += memcmp(expect[i] + at, zero, 4096) ? 4096 : 0;
		}
	}
}

/* Replaces every region by fresh anonymous RW memory at the same address. */
static void remap_fresh(void)
{
	for (size_t i = 0; i < NREG; i++) {
		void *p =
		    mmap((void *)(uintptr_t)regs[i].start, regs[i].len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (p == MAP_FAILED) {
			perror("mmap fixed");
			exit(2);
		}
	}
}

static void check_reader(struct img_reader *r, const struct img_header_info *h,
			 const struct img_blob *blobs, size_t nblobs, int compress)
{
	const struct img_header_info *g = img_header(r);
	CHECK(g->generation == h->generation && g->nprocs == h->nprocs && g->job_id == h->job_id &&
		  g->uid == h->uid && g->vpid == h->vpid && g->vppid == h->vppid &&
		  g->time_sec == h->time_sec && g->arena_base == h->arena_base &&
		  g->arena_size == h->arena_size,
	      "numeric header fields differ");
	CHECK(!strcmp(g->uniquepid, h->uniquepid) && !strcmp(g->progname, h->progname) &&
		  !strcmp(g->hostname, h->hostname) && !strcmp(g->cmdline, h->cmdline) &&
		  !strcmp(g->cwd, h->cwd),
	      "string header fields differ");
	CHECK(g->hwloc_summary[0] != 0, "hwloc summary not filled");
	CHECK(!!(g->flags & IMG_F_COMPRESSED) == !!compress, "flags 0x%x", g->flags);
	for (size_t i = 0; i < nblobs; i++) {
		const void *d;
		uint64_t len;
		int rc = img_blob(r, blobs[i].type, &d, &len);
		CHECK(rc == 0 && len == blobs[i].len && (!len || !memcmp(d, blobs[i].data, len)),
		      "blob %u differs (rc %d)", blobs[i].type, rc);
	}
	const void *d;
	uint64_t len;
	CHECK(img_blob(r, IMG_BLOB_PIPES, &d, &len) == -ENOENT, "absent blob found");
	size_t n;
	const struct img_region *rr = img_regions(r, &n);
	CHECK(n == NREG, "%zu regions", n);
	for (size_t i = 0; i < n && i < NREG; i++)
		CHECK(!memcmp(&rr[i], &regs[i], sizeof(regs[i])), "region %zu differs", i);
}

static void one_round(int compress, int wthreads, int rthreads, int direct,
		      const struct img_blob *blobs, size_t nblobs)
{
	char path[512], tmp[600], err[512];
	struct img_header_info h;
	struct img_write_stats st, rs;
	/* compress: 0 raw, 1 the default codec (zstd when built in), 2 zlib */
	struct img_write_opts o = {.compress = compress != 0,
				   .nthreads = wthreads,
				   .level = 1,
				   .codec = compress == 2 ? IMG_CODEC_ZLIB : 0,
				   .direct = direct};
	struct img_reader *r = NULL;

	snprintf(tmp, sizeof(tmp), "ckpt_rt_%d_%d_%d.dmtcp", compress, wthreads, direct);
	t_path(path, sizeof(path), tmp);
	t_info(&h, "roundtrip");
	memset(&st, 0, sizeof(st));
	int rc = img_write(path, &h, blobs, nblobs, regs, NREG, &o, &st, err, sizeof(err));
	CHECK(rc == 0, "img_write compress=%d threads=%d: %s", compress, wthreads, err);
	if (rc)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	CHECK(!t_exists(tmp), ".tmp left behind");
	CHECK(st.data_bytes == expect_data, "data_bytes %llu, expected %llu",
	      (unsigned long long)st.data_bytes, (unsigned long long)expect_data);
	CHECK(st.chunks > 0 && st.file_bytes > 0, "empty stats");
	CHECK(compress || st.raw_chunks == st.chunks, "raw write stored %llu zlib chunks",
	      (unsigned long long)(st.chunks - st.raw_chunks));
	CHECK(!compress || st.raw_chunks < st.chunks, "compressed write stored no zlib chunk");
	CHECK(!compress || st.file_bytes < st.data_bytes * 3 / 4, "poor compression: %llu of %llu",
	      (unsigned long long)st.file_bytes, (unsigned long long)st.data_bytes);
	printf("  write compress=%d threads=%d direct=%d: %llu bytes, %llu chunks (%llu raw), "
	       "%.3f s\n",
	       compress, wthreads, direct, (unsigned long long)st.file_bytes,
	       (unsigned long long)st.chunks, (unsigned long long)st.raw_chunks, st.seconds);

	remap_fresh();
	rc = img_open(path, &r, err, sizeof(err));
	CHECK(rc == 0, "img_open: %s", err);
	if (rc)
		return;
	check_reader(r, &h, blobs, nblobs, compress);
	/* direct I/O asked for: the aligned layout, unless the filesystem has no O_DIRECT (tmpfs
	 * before Linux 6.6); not asked for: this image is too small for it */
	struct statfs sf;
	int aligned = !!(img_header(r)->flags & IMG_F_ALIGNED);
	CHECK(direct > 0 ? aligned || (statfs(path, &sf) == 0 && sf.f_type == TMPFS_MAGIC)
			 : !aligned,
	      "direct=%d: aligned layout %s", direct, aligned ? "used" : "not used");
	CHECK(img_verify(r, err, sizeof(err)) == 0, "img_verify: %s", err);
	img_direct_reads = direct > 0; /* direct=-1: the page cache path on an aligned image */
	rc = img_restore_memory(r, rthreads, &rs, err, sizeof(err));
	img_direct_reads = 1;
	CHECK(rc == 0, "img_restore_memory threads=%d: %s", rthreads, err);
	CHECK(rc || (rs.chunks == st.chunks && rs.data_bytes == st.data_bytes),
	      "restore stats differ");
	img_close(r);
	for (size_t i = 0; i < NREG; i++) {
		if (specs[i].flags & IMG_REG_NODATA)
			continue;
		CHECK(!memcmp((void *)(uintptr_t)regs[i].start, expect[i], regs[i].len),
		      "region %zu differs after restore (compress=%d wthreads=%d rthreads=%d)", i,
		      compress, wthreads, rthreads);
	}
	for (size_t i = 0; i < NREG; i++) /* back to the protections the writer must cope with */
		mprotect((void *)(uintptr_t)regs[i].start, regs[i].len, regs[i].prot);
}

int main(void)
{
	/* compress, writer threads, reader threads, direct I/O */
	static const int rounds[][4] = {{0, 1, 1, 0},  {0, 2, 3, 0},  {1, 1, 2, 0}, {1, 2, 1, 0},
					{1, 5, 4, 0},  {1, 0, 0, 0},  {2, 2, 2, 0}, {2, 1, 3, 0},
					{0, 2, 2, 1},  {1, 2, 3, 1},  {2, 1, 1, 1}, {1, 1, 1, -1}};
	uint8_t proc[300], *filedata = malloc(MIB + 5);
	t_fill(proc, sizeof(proc), T_TEXT, 1);
	t_fill(filedata, MIB + 5, T_RANDOM, 2);
	struct img_blob blobs[] = {
	    {IMG_BLOB_PROC, proc, sizeof(proc)}, {IMG_BLOB_THREADS, "t", 1},
	    {IMG_BLOB_LAYOUT, NULL, 0},		 {IMG_BLOB_FILEDATA, filedata, MIB + 5},
	    {1000, "future blob type", 16},
	};
	setup();
	for (size_t i = 0; i < sizeof(rounds) / sizeof(rounds[0]); i++)
		one_round(rounds[i][0], rounds[i][1], rounds[i][2], rounds[i][3], blobs,
			  sizeof(blobs) / sizeof(blobs[0]));
	free(filedata);
	for (size_t i = 0; i < NREG; i++)
		free(expect[i]);
	return t_finish("test_img_roundtrip");
}
