/*
 * img_chain.c - incremental images: opening a chain (an image, its parent, ... down to a full
 * image) and composing it into memory.
 *
 * An incremental image names its parent by a path relative to its own directory
 * (parent_name, e.g. "../gen-000004/ckpt_a_1.dmtcp"), by generation and by the parent's
 * random image_id. img_chain_open resolves and validates every link before anything is
 * restored, so a missing, damaged or foreign parent refuses the restart with a message that
 * names the child and the parent file, and memory is never half-composed.
 * Composition walks the chain from the newest image to the full one, keeping the set W of
 * addresses still undefined (at first: every data region of the newest image). Each image
 * restores the parts of its data chunks inside W; W then shrinks to the part of W its PARENT
 * chunks cover (everything else is zero or was just written). So each page is written once,
 * and only the chunks a page needs are read. All destinations lie in the newest image's
 * data regions, which the caller has mapped writable.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOG_PREFIX "img"
#include "img_internal.h"
#include "log.h"

#define CHAIN_MAX 4096 /* images in one chain, at most (a loop in the links stops here) */

struct img_chain {
	struct img_reader **r; /* r[0] newest, r[n - 1] the full image */
	size_t n;
};

struct ivl {
	uint64_t s, e;
};

struct ivec {
	struct ivl *v;
	size_t n, cap;
};

static int ivec_push(struct ivec *a, uint64_t s, uint64_t e)
{
	if (a->n && a->v[a->n - 1].e == s) { /* extend a touching interval */
		a->v[a->n - 1].e = e;
		return 0;
	}
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		struct ivl *nv = realloc(a->v, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		a->v = nv;
		a->cap = cap;
	}
	a->v[a->n++] = (struct ivl){s, e};
	return 0;
}

static int ivl_cmp(const void *x, const void *y)
{
	const struct ivl *a = x, *b = y;
	return a->s < b->s ? -1 : a->s > b->s;
}

/* Sorts and merges a's intervals in place. */
static void ivec_normalize(struct ivec *a)
{
	if (a->n < 2)
		return;
	qsort(a->v, a->n, sizeof(*a->v), ivl_cmp);
	size_t k = 0;
	for (size_t i = 1; i < a->n; i++) {
		if (a->v[i].s <= a->v[k].e) {
			if (a->v[i].e > a->v[k].e)
				a->v[k].e = a->v[i].e;
		} else {
			a->v[++k] = a->v[i];
		}
	}
	a->n = k + 1;
}

/* out = a ∩ b (both sorted and disjoint). */
static int ivec_intersect(const struct ivec *a, const struct ivec *b, struct ivec *out)
{
	size_t i = 0, j = 0;
	out->n = 0;
	while (i < a->n && j < b->n) {
		uint64_t s = a->v[i].s > b->v[j].s ? a->v[i].s : b->v[j].s;
		uint64_t e = a->v[i].e < b->v[j].e ? a->v[i].e : b->v[j].e;
		if (s < e && ivec_push(out, s, e))
			return -ENOMEM;
		if (a->v[i].e < b->v[j].e)
			i++;
		else
			j++;
	}
	return 0;
}

/* Index of the first interval of w that ends after addr. */
static size_t ivec_find(const struct ivec *w, uint64_t addr)
{
	size_t lo = 0, hi = w->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (w->v[mid].e <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Resolves name relative to the directory of child (a real path); a leading "../" is
 * resolved by hand, so that messages name ".../gen-000004/x", not ".../gen-000005/../". */
static int parent_path(const char *child, const char *name, char *out, size_t len)
{
	const char *slash = strrchr(child, '/');
	int dl = slash ? (int)(slash - child) : 0;
	if (name[0] == '/')
		return snprintf(out, len, "%s", name) >= (int)len ? -ENAMETOOLONG : 0;
	while (!strncmp(name, "../", 3) && dl > 0) {
		int up = dl - 1;
		while (up > 0 && child[up] != '/')
			up--;
		if (child[up] != '/' || !strncmp(child + up, "/..", 3))
			break;
		dl = up;
		name += 3;
	}
	return snprintf(out, len, "%.*s/%s", dl, child, name) >= (int)len ? -ENAMETOOLONG : 0;
}

int img_chain_open(const char *path, struct img_chain **out, char *err, size_t errlen)
{
	struct img_chain *c = calloc(1, sizeof(*c));
	char cur[PATH_MAX], next[PATH_MAX], m[1024];
	int rc;
	*out = NULL;
	if (!c || !(c->r = calloc(CHAIN_MAX, sizeof(*c->r)))) {
		free(c);
		return img_fail(err, errlen, ENOMEM, "%s: out of memory", path);
	}
	rc = img_open(path, &c->r[0], err, errlen);
	if (rc)
		goto fail;
	c->n = 1;
	if (!realpath(path, cur))
		snprintf(cur, sizeof(cur), "%s", path);
	for (;;) {
		const struct img_header_info *h = img_header(c->r[c->n - 1]);
		if (!h->parent_id)
			break;
		if (c->n == CHAIN_MAX) {
			rc =
			    img_fail(err, errlen, EBADMSG,
				     "%s: chain of more than %d images (a loop?)", path, CHAIN_MAX);
			goto fail;
		}
		if (parent_path(cur, h->parent_name, next, sizeof(next))) {
			rc = img_fail(err, errlen, ENAMETOOLONG, "%s: parent path too long", cur);
			goto fail;
		}
		struct img_reader *p = NULL;
		rc = img_open(next, &p, m, sizeof(m));
		const struct img_header_info *ph = p ? img_header(p) : NULL;
		if (!rc && (ph->image_id != h->parent_id || ph->generation != h->parent_gen ||
			    strcmp(ph->uniquepid, h->uniquepid))) {
			snprintf(m, sizeof(m),
				 "%s is generation %u of %s, image id %016llx, not the "
				 "image this one was made against (generation %u, "
				 "id %016llx)",
				 next, ph->generation, ph->uniquepid,
				 (unsigned long long)ph->image_id, h->parent_gen,
				 (unsigned long long)h->parent_id);
			rc = -EBADMSG;
		}
		if (rc) {
			img_close(p);
			rc = img_fail(err, errlen, -rc,
				      "%s: this incremental image (generation %u) needs its parent "
				      "image %s (generation %u), which cannot be used: %s; restart "
				      "from an older generation whose chain is complete",
				      cur, h->generation, next, h->parent_gen, m);
			goto fail;
		}
		c->r[c->n++] = p;
		if (!realpath(next, cur))
			snprintf(cur, sizeof(cur), "%s", next);
	}
	*out = c;
	return 0;
fail:
	img_chain_close(c);
	return rc;
}

struct img_reader *img_chain_head(struct img_chain *c) { return c->r[0]; }

size_t img_chain_length(const struct img_chain *c) { return c->n; }

void img_chain_close(struct img_chain *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		img_close(c->r[i]);
	free(c->r);
	free(c);
}

/* Pieces of r's data chunks inside w, and the address ranges of its PARENT chunks. */
static int collect(const struct img_reader *r, const struct ivec *w, struct img_piece **pieces,
		   uint64_t *np, struct ivec *par)
{
	uint64_t cap = 0;
	*np = 0;
	par->n = 0;
	for (uint64_t i = 0; i < r->nchunks; i++) {
		const struct img_disk_chunk *c = &r->index[i].c;
		uint64_t s = r->regs[c->region].start + c->offset, e = s + c->raw_len;
		if (c->flags == IMG_CHUNK_PARENT) {
			if (ivec_push(par, s, e))
				return -ENOMEM;
			continue;
		}
		for (size_t k = ivec_find(w, s); k < w->n && w->v[k].s < e; k++) {
			uint64_t ps = w->v[k].s > s ? w->v[k].s : s;
			uint64_t pe = w->v[k].e < e ? w->v[k].e : e;
			if (*np == cap) {
				cap = cap ? cap * 2 : 1024;
				struct img_piece *nv = realloc(*pieces, cap * sizeof(*nv));
				if (!nv)
					return -ENOMEM;
				*pieces = nv;
			}
			(*pieces)[(*np)++] = (struct img_piece){i, ps - s, pe - ps};
		}
	}
	ivec_normalize(par);
	return 0;
}

int img_chain_restore(struct img_chain *c, int nthreads, struct img_write_stats *st, char *err,
		      size_t errlen)
{
	struct img_reader *head = c->r[0];
	struct ivec w = {0}, par = {0}, nw = {0};
	struct img_piece *pieces = NULL;
	struct timespec t0, t1;
	uint64_t np = 0, data = 0, files = 0;
	int rc = 0;
	if (c->n == 1)
		return img_restore_memory(head, nthreads, st, err, errlen);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < head->nregs; i++)
		if (!(head->regs[i].flags & IMG_REG_NODATA) &&
		    ivec_push(&w, head->regs[i].start, head->regs[i].start + head->regs[i].len))
			goto nomem;
	ivec_normalize(&w);
	for (size_t i = 0; i < c->n && w.n; i++) {
		if (collect(c->r[i], &w, &pieces, &np, &par))
			goto nomem;
		for (uint64_t k = 0; k < np; k++)
			data += pieces[k].len;
		files += c->r[i]->file_size;
		rc = img_restore_pieces(c->r[i], pieces, np, nthreads, err, errlen);
		if (rc)
			goto out;
		if (ivec_intersect(&w, &par, &nw))
			goto nomem;
		struct ivec t = w;
		w = nw;
		nw = t;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (st) {
		memset(st, 0, sizeof(*st));
		st->file_bytes = files;
		st->data_bytes = data;
		st->chunks = c->n; /* images read */
		st->seconds =
		    (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
	}
	log_debug("%s: composed %llu bytes of memory from a chain of %zu images", head->path,
		  (unsigned long long)data, c->n);
	goto out;
nomem:
	rc = img_fail(err, errlen, ENOMEM, "%s: out of memory composing its chain", head->path);
out:
	free(w.v);
	free(nw.v);
	free(par.v);
	free(pieces);
	return rc;
}

int img_chain_base(const char *path, uint32_t *base_gen, char *err, size_t errlen)
{
	struct img_chain *c;
	int rc = img_chain_open(path, &c, err, errlen);
	if (rc)
		return rc;
	*base_gen = img_header(c->r[c->n - 1])->generation;
	img_chain_close(c);
	return 0;
}
