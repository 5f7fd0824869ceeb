/*
 * test_img_chain.c - incremental images: a full image and two incremental ones (pages left to
 * the parent through img_write_ex's clean set), composed back into fresh memory by
 * img_chain_open/img_chain_restore and compared byte for byte with the memory at the last
 * write; compressed and raw chunks, pages needed only partly from a compressed chunk, a page
 * zeroed since the parent. Then the chain's faults: parent missing, truncated, replaced by
 * another image (all refused naming the parent), img_chain_base.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "img_internal.h" /* the chunk index, to damage one chunk on purpose */
#include "img_test.h"

#define PG 4096u
#define NPAGES 2048u /* 8 MiB: two segments of 4 MiB */

static uint8_t *mem;

/* clean = every page but the listed ones, as sorted [start, end) pairs. */
static size_t make_clean(uint64_t *pairs, const unsigned *dirty, size_t nd)
{
	size_t n = 0;
	uint64_t base = (uint64_t)(uintptr_t)mem, at = 0;
	for (size_t i = 0; i <= nd; i++) {
		uint64_t upto = i < nd ? dirty[i] : NPAGES;
		if (upto > at) {
			pairs[2 * n] = base + at * PG;
			pairs[2 * n + 1] = base + upto * PG;
			n++;
		}
		at = upto + 1;
	}
	return n;
}

static int write_gen(uint32_t gen, uint64_t id, uint64_t parent, const unsigned *dirty, size_t nd,
		     int compress)
{
	char dir[512], path[600], err[512] = "";
	struct img_header_info h;
	struct img_region r = {(uint64_t)(uintptr_t)mem,
			       NPAGES * PG,
			       PROT_READ | PROT_WRITE,
			       IMG_REG_ANON,
			       0,
			       "[anon]"};
	struct img_write_opts o = {.compress = compress};
	struct img_write_stats st;
	static uint64_t pairs[2 * (NPAGES + 2)];
	t_path(dir, sizeof(dir), "");
	snprintf(path, sizeof(path), "%s/gen-%06u", dir, gen);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/gen-%06u/p.dmtcp", dir, gen);
	t_info(&h, "chain");
	h.generation = gen;
	h.image_id = id;
	char pname[64];
	snprintf(pname, sizeof(pname), "../gen-%06u/p.dmtcp", gen - 1);
	struct img_incr incr = {parent, gen - 1, pname, pairs, 0};
	if (parent)
		incr.nclean = make_clean(pairs, dirty, nd);
	int rc = img_write_ex(path, &h, NULL, 0, &r, 1, &o, parent ? &incr : NULL, &st, err,
			      sizeof(err));
	CHECK(rc == 0, "write generation %u: %s", gen, err);
	if (parent)
		CHECK(st.parent_bytes == (uint64_t)(NPAGES - nd) * PG,
		      "generation %u: %llu bytes left to the parent, expected %llu", gen,
		      (unsigned long long)st.parent_bytes, (unsigned long long)(NPAGES - nd) * PG);
	return rc;
}

static void rewrite(const unsigned *pages, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++)
		t_fill(mem + (uint64_t)pages[i] * PG, PG, T_RANDOM, seed + i);
}

/* Restores gen's image into fresh memory; returns 0 and compares with want, or the error. */
static int compose(uint32_t gen, const uint8_t *want, char *err, size_t errlen)
{
	char path[600], dir[512];
	struct img_chain *c;
	t_path(dir, sizeof(dir), "");
	snprintf(path, sizeof(path), "%s/gen-%06u/p.dmtcp", dir, gen);
	int rc = img_chain_open(path, &c, err, errlen);
	if (rc)
		return rc;
	void *m = mmap(mem, NPAGES * PG, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	CHECK(m == mem, "remap");
	rc = img_chain_restore(c, 2, NULL, err, errlen);
	CHECK(img_chain_length(c) == gen, "chain of generation %u has %zu images", gen,
	      img_chain_length(c));
	img_chain_close(c);
	if (!rc) {
		size_t bad = 0, first = 0;
		for (size_t p = 0; p < NPAGES; p++)
			if (memcmp(mem + p * PG, want + p * PG, PG) && !bad++)
				first = p;
		CHECK(!bad, "generation %u: %zu pages differ (first %zu)", gen, bad, first);
	}
	return rc;
}

int main(void)
{
	char err[1024], p1[600], p2[600], dir[512];
	mem = t_map(NPAGES * PG);
	uint8_t *g2 = malloc(NPAGES * PG), *g3 = malloc(NPAGES * PG);
	if (!g2 || !g3)
		return 2;
	t_fill(mem, NPAGES * PG / 2, T_TEXT, 1); /* compressible: partial pieces via scratch */
	t_fill(mem + NPAGES * PG / 2, NPAGES * PG / 2, T_RANDOM, 2);
	write_gen(1, 101, 0, NULL, 0, 1);

	static const unsigned d2[] = {3, 50, 100, 101, 102, 103, 1500, 2047};
	rewrite(d2, 8, 10);
	memset(mem + 50 * PG, 0, PG); /* zeroed since the parent: must come back zero */
	write_gen(2, 102, 101, d2, 8, 0);
	memcpy(g2, mem, NPAGES * PG);

	static const unsigned d3[] = {3, 200, 1024};
	rewrite(d3, 3, 20);
	write_gen(3, 103, 102, d3, 3, 1);
	memcpy(g3, mem, NPAGES * PG);

	CHECK(compose(3, g3, err, sizeof(err)) == 0, "%s", err);
	CHECK(compose(2, g2, err, sizeof(err)) == 0, "%s", err);
	uint32_t base = 0;
	t_path(dir, sizeof(dir), "");
	snprintf(p1, sizeof(p1), "%s/gen-000001/p.dmtcp", dir);
	snprintf(p2, sizeof(p2), "%s/gen-000003/p.dmtcp", dir);
	CHECK(img_chain_base(p2, &base, err, sizeof(err)) == 0 && base == 1, "base %u: %s", base,
	      err);

	/* the parent's parent missing, truncated, replaced */
	char saved[600];
	snprintf(saved, sizeof(saved), "%s/saved", dir);
	CHECK(rename(p1, saved) == 0, "rename");
	int rc = compose(3, g3, err, sizeof(err));
	CHECK(rc == -ENOENT && strstr(err, "gen-000001/p.dmtcp") && strstr(err, "needs its parent"),
	      "missing parent: rc %d, %s", rc, err);
	uint8_t *buf;
	long n = t_slurp(saved, &buf);
	CHECK(n > 0 && t_spit(p1, buf, (size_t)n / 2) == 0, "truncate");
	rc = compose(3, g3, err, sizeof(err));
	CHECK(rc == -EBADMSG && strstr(err, "gen-000001/p.dmtcp") && strstr(err, "truncated"),
	      "truncated parent: rc %d, %s", rc, err);
	snprintf(p2, sizeof(p2), "%s/gen-000002/p.dmtcp", dir);
	long n2 = t_slurp(p2, &buf);
	CHECK(n2 > 0 && t_spit(p1, buf, (size_t)n2) == 0, "replace");
	rc = compose(3, g3, err, sizeof(err));
	CHECK(rc == -EBADMSG && strstr(err, "not the image this one was made against"),
	      "wrong parent: rc %d, %s", rc, err);
	CHECK(rename(saved, p1) == 0, "rename back");
	CHECK(compose(3, g3, err, sizeof(err)) == 0, "after repair: %s", err);

	/* a flipped byte in a raw chunk of the full image that the chain needs only in part
	 * (pages 1024..2047 minus 1024, 1500, 2047): the piecewise read must still check it */
	struct img_reader *r;
	CHECK(img_open(p1, &r, err, sizeof(err)) == 0, "open: %s", err);
	uint64_t at = 0;
	for (uint64_t i = 0; r && i < r->nchunks; i++)
		if (r->index[i].c.flags == IMG_CHUNK_RAW && r->index[i].c.offset == 1024ull * PG)
			at = r->index[i].file_off + sizeof(struct img_disk_chunk) + 176ull * PG + 7;
	img_close(r);
	CHECK(at, "no raw chunk at page 1024 in %s", p1);
	long n1 = t_slurp(p1, &buf);
	if (at && n1 > (long)at) {
		buf[at] ^= 0x40;
		CHECK(t_spit(p1, buf, (size_t)n1) == 0, "write");
		rc = compose(3, g3, err, sizeof(err));
		CHECK(rc == -EBADMSG && strstr(err, "checksum mismatch") &&
			  strstr(err, "gen-000001"),
		      "damaged partial raw chunk: rc %d, %s", rc, err);
		buf[at] ^= 0x40;
		CHECK(t_spit(p1, buf, (size_t)n1) == 0, "write back");
		CHECK(compose(3, g3, err, sizeof(err)) == 0, "after repair: %s", err);
	}
	return t_finish("test_img_chain");
}
