/*
 * test_img_inspect.c - img_inspect prints the header fields, blobs, region table, totals and
 * a checksum verdict, and fails on a damaged or missing file; img_write refuses bad
 * arguments and removes its .tmp file when writing fails (file size limit reached).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "img_test.h"

static struct img_region reg[2];
static uint8_t *mem;

static int write_img(const char *path, const struct img_region *r, size_t n,
		     const struct img_blob *b, size_t nb, char *err, size_t errlen)
{
	struct img_header_info h;
	struct img_write_opts o = {.compress = 1, .nthreads = 2, .level = 1};
	t_info(&h, "inspected-prog");
	return img_write(path, &h, b, nb, r, n, &o, NULL, err, errlen);
}

static char *inspect(const char *path, int *rc)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	*rc = img_inspect(path, f);
	fclose(f);
	return text;
}

static void test_inspect(void)
{
	static const char *const want[] = {
	    "inspected-prog",
	    "node-test-07",
	    "00112233aabbccdd-4242-65a1b2c3",
	    "--size 100 --tabs\\x09here",
	    "/home/user/run dir",
	    "generation",
	    "4242",
	    "0x1234abcd5678ef90",
	    "PROC",
	    "LAYOUT",
	    "[heap]",
	    "[stack:1]",
	    "rw-",
	    "anon,stack",
	    "compression",
	    "overall ratio",
	    "checksums: OK",
	    "hwloc",
	    "2023-11-14",
	};
	char path[512], err[512];
	struct img_blob b[] = {{IMG_BLOB_PROC, "proc-data", 9}, {IMG_BLOB_LAYOUT, "l", 1}};
	t_path(path, sizeof(path), "insp.dmtcp");
	int rc = write_img(path, reg, 2, b, 2, err, sizeof(err));
	CHECK(rc == 0, "img_write: %s", err);
	char *text = inspect(path, &rc);
	CHECK(rc == 0, "img_inspect returned %d", rc);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		CHECK(strstr(text, want[i]), "inspect output lacks \"%s\"", want[i]);
	if (getenv("IMG_TEST_VERBOSE"))
		fputs(text, stdout);
	free(text);

	/* Damage one byte in the middle of the data: inspect must report it and fail. */
	uint8_t *buf;
	long n = t_slurp(path, &buf);
	CHECK(n > 0, "cannot read back");
	if (n <= 0)
		return;
	buf[n / 2] ^= 0x10;
	t_spit(path, buf, (size_t)n);
	free(buf);
	text = inspect(path, &rc);
	CHECK(rc != 0 && strstr(text, "FAILED"), "damaged image inspected as fine");
	free(text);

	t_path(path, sizeof(path), "does-not-exist.dmtcp");
	text = inspect(path, &rc);
	CHECK(rc == -ENOENT, "missing file gave %d", rc);
	free(text);
}

static void test_bad_args(void)
{
	char path[512], tmp[600], err[512];
	t_path(path, sizeof(path), "bad.dmtcp");
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	struct img_region r = reg[0];
	r.start += 100;
	int rc = write_img(path, &r, 1, NULL, 0, err, sizeof(err));
	CHECK(rc == -EINVAL && strstr(err, path), "misaligned region: %d %s", rc, err);
	struct img_region two[2] = {reg[0], reg[0]};
	two[1].start += 4096;
	rc = write_img(path, two, 2, NULL, 0, err, sizeof(err));
	CHECK(rc == -EINVAL && strstr(err, "overlap"), "overlapping regions: %d %s", rc, err);
	struct img_blob b[] = {{IMG_BLOB_PROC, "a", 1}, {IMG_BLOB_PROC, "b", 1}};
	rc = write_img(path, reg, 1, b, 2, err, sizeof(err));
	CHECK(rc == -EINVAL, "duplicate blob: %d", rc);
	CHECK(!t_exists(path) && !t_exists(tmp), "file left after refused arguments");
	char nodir[600];
	snprintf(nodir, sizeof(nodir), "%s/no/such/dir/x.dmtcp", t_dir());
	rc = write_img(nodir, reg, 1, NULL, 0, err, sizeof(err));
	CHECK(rc == -ENOENT && strstr(err, nodir), "missing directory: %d %s", rc, err);
}

static void test_write_error(void)
{
	char path[512], tmp[600], err[512];
	struct rlimit old, lim;
	t_path(path, sizeof(path), "efbig.dmtcp");
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 256 << 10;
	setrlimit(RLIMIT_FSIZE, &lim);
	int rc = write_img(path, reg, 2, NULL, 0, err, sizeof(err));
	setrlimit(RLIMIT_FSIZE, &old);
	CHECK(rc == -EFBIG && strstr(err, path), "write past the size limit: %d %s", rc, err);
	CHECK(!t_exists(tmp) && !t_exists(path), "file left after a failed write");
}

int main(void)
{
	size_t len = 4u << 20;
	mem = t_map(2 * len);
	t_fill(mem, len, T_RANDOM, 1);
	t_fill(mem + len, len, T_MIXED, 2);
	reg[0] = (struct img_region){(uintptr_t)mem, len, PROT_READ | PROT_WRITE,
				     IMG_REG_ANON,   0,	  "[heap]"};
	reg[1] = (struct img_region){(uintptr_t)mem + len,	   len, PROT_READ | PROT_WRITE,
				     IMG_REG_ANON | IMG_REG_STACK, 0,	"[stack:1]"};
	test_inspect();
	test_bad_args();
	test_write_error();
	return t_finish("test_img_inspect");
}
