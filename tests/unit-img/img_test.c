/*
 * img_test.c - helpers shared by the image unit tests (see img_test.h).
 * The temporary directory is removed by an atexit handler and by a handler for fatal
 * signals, so a crashing test does not leave images behind.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "img_test.h"

int t_failures;
static char dir[256];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void cleanup(void)
{
	if (dir[0])
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	dir[0] = 0;
}

static void on_fatal(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

const char *t_dir(void)
{
	if (dir[0])
		return dir;
	const char *base = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/unit-img.XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(2);
	}
	atexit(cleanup);
	static const int sigs[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGTERM, SIGINT};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], on_fatal);
	return dir;
}

void t_path(char *buf, size_t len, const char *name) { snprintf(buf, len, "%s/%s", t_dir(), name); }

static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void fill_text(uint8_t *p, size_t len, uint64_t *s)
{
	static const char *const words[] = {
	    "checkpoint", "restart", "the",   "of", "memory", "region", "MPI_Send", "rank",
	    "0x7f3a",	  "=",	     "value", "\n", "int",    "double", "{",	    "}"};
	size_t at = 0;
	while (at < len) {
		const char *w = words[next(s) % 16];
		for (; *w && at < len; w++)
			p[at++] = (uint8_t)*w;
		if (at < len)
			p[at++] = ' ';
	}
}

void t_fill(void *p, size_t len, enum t_pattern pat, uint64_t seed)
{
	uint8_t *b = p;
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
	switch (pat) {
	case T_ZERO:
		memset(b, 0, len);
		break;
	case T_RANDOM:
		for (size_t i = 0; i < len; i += 8) {
			uint64_t v = next(&s);
			memcpy(b + i, &v, len - i < 8 ? len - i : 8);
		}
		break;
	case T_TEXT:
		fill_text(b, len, &s);
		break;
	case T_MIXED:
		for (size_t at = 0; at < len; at += 4096) {
			size_t n = len - at < 4096 ? len - at : 4096;
			switch (next(&s) % 5) {
			case 0:
				memset(b + at, 0, n);
				break;
			case 1:
				t_fill(b + at, n, T_RANDOM, next(&s));
				break;
			case 2:
				fill_text(b + at, n, &s);
				break;
			case 3: /* almost zero: one byte set */
				memset(b + at, 0, n);
				b[at + next(&s) % n] = 0x5a;
				break;
			default: /* pointer-like words */
				for (size_t i = 0; i + 8 <= n; i += 8) {
					uint64_t v = 0x7f0000000000ull + (next(&s) & 0xfff0);
					memcpy(b + at + i, &v, 8);
				}
			}
		}
		break;
	default:
		break;
	}
}

void *t_map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	return p;
}

void t_info(struct img_header_info *h, const char *prog)
{
	memset(h, 0, sizeof(*h));
	h->generation = 7;
	h->nprocs = 3;
	h->job_id = 0x1234abcd5678ef90ull;
	h->uid = (uint32_t)getuid();
	h->vpid = 4242;
	h->vppid = 17;
	h->time_sec = 1700000000;
	h->arena_base = 0x200000000000ull;
	h->arena_size = 1ull << 36;
	snprintf(h->uniquepid, sizeof(h->uniquepid), "00112233aabbccdd-4242-65a1b2c3");
	snprintf(h->progname, sizeof(h->progname), "%s", prog);
	snprintf(h->hostname, sizeof(h->hostname), "node-test-07");
	snprintf(h->cmdline, sizeof(h->cmdline), "%s --size 100 --tabs\there", prog);
	snprintf(h->cwd, sizeof(h->cwd), "/home/user/run dir");
}

int t_exists(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0;
}

long t_slurp(const char *path, uint8_t **buf)
{
	int fd = open(path, O_RDONLY);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*buf = malloc((size_t)sb.st_size + 1);
	long n = read(fd, *buf, (size_t)sb.st_size);
	close(fd);
	return n == sb.st_size ? n : -1;
}

int t_spit(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, buf, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

int t_finish(const char *name)
{
	if (t_failures)
		printf("FAIL %s: %d check(s) failed\n", name, t_failures);
	else
		printf("PASS %s\n", name);
	return t_failures ? 1 : 0;
}
