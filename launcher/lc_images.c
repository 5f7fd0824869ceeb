/*
 * lc_images.c - opening, checking and choosing checkpoint images for dmtcp_restart.
 *
 * A generation directory is gen-NNNNNN (decimal). A generation of a job is complete when it
 * holds as many valid images of that job (distinct uniquepids, same generation number) as
 * their header's nprocs says. Picking walks gen-* from the highest number down and takes the
 * first complete set; two complete jobs in one generation: the newest (time_sec) wins, with a
 * warning. Headers are copied out, so no image file stays open after these functions return.
 */
#define LOG_PREFIX "restart"
#include "lc_images.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "../lower-half/mpi_ckpt.h" /* struct lh_mpi_blob */

void lc_images_free(struct lc_image_set *set)
{
	free(set->v);
	set->v = NULL;
	set->n = set->cap = 0;
}

static struct lc_image *push(struct lc_image_set *set)
{
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 8;
		struct lc_image *v = realloc(set->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		set->v = v;
		set->cap = cap;
	}
	return &set->v[set->n++];
}

/* Open one image and copy its header; quiet=1 returns the error text in err instead. */
static int load_one(const struct lc_opts *o, const char *path, struct lc_image *img, char *err,
		    size_t errlen)
{
	char real[LC_MAX_PATH];
	if (!realpath(path, real)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (stat(real, &st) || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	struct img_reader *r = NULL;
	char why[1024] = "";
	int rc = img_open(real, &r, why, sizeof(why));
	if (rc < 0) {
		if (!why[0])
			snprintf(why, sizeof(why), "%s", strerror(-rc));
		if (strstr(why, path) || strstr(why, real))
			snprintf(err, errlen, "%s", why);
		else
			snprintf(err, errlen, "%s: %s", path, why);
		return -1;
	}
	(void)o;
	snprintf(img->path, sizeof(img->path), "%s", real);
	img->h = *img_header(r);
	if (img->h.parent_id) {
		/* an incremental image: its parents must be there and be the right ones, checked
		 * here before a coordinator is started or a lower half runs (headers only) */
		struct img_chain *c = NULL;
		why[0] = '\0';
		rc = img_chain_open(real, &c, why, sizeof(why));
		if (rc < 0) {
			img_close(r);
			snprintf(err, errlen, "%s", why[0] ? why : strerror(-rc));
			return -1;
		}
		img_chain_close(c);
	}
	const void *mb;
	uint64_t mblen;
	img->mpi = img_blob(r, LH_BLOB_MPI, &mb, &mblen) == 0;
	img->mpi_rank = img->mpi_size = -1;
	if (img->mpi && mblen >= sizeof(struct lh_mpi_blob)) {
		struct lh_mpi_blob b;
		memcpy(&b, mb, sizeof(b));
		if (b.magic == LH_MPI_BLOB_MAGIC) {
			img->mpi_rank = b.world_rank;
			img->mpi_size = b.world_size;
		}
	}
	img->h.progname[sizeof(img->h.progname) - 1] = '\0';
	img->h.uniquepid[sizeof(img->h.uniquepid) - 1] = '\0';
	img->h.hostname[sizeof(img->h.hostname) - 1] = '\0';
	img_close(r);
	return 0;
}

int lc_images_load(const struct lc_opts *o, char *const *paths, size_t n, struct lc_image_set *set)
{
	int bad = 0;
	for (size_t i = 0; i < n; i++) {
		struct lc_image *img = push(set);
		if (!img) {
			lc_error(o, "out of memory");
			return -1;
		}
		char err[1200];
		if (load_one(o, paths[i], img, err, sizeof(err))) {
			lc_error(o, "cannot restart from %s", err);
			set->n--;
			bad++;
		}
	}
	if (bad)
		lc_error(o, "%d of %zu image file(s) are unusable; nothing was restarted", bad, n);
	return bad ? -1 : 0;
}

int lc_images_check(const struct lc_opts *o, const struct lc_image_set *set, int strict)
{
	if (set->n == 0) {
		lc_error(o, "no checkpoint images to restart");
		return -1;
	}
	const struct lc_image *a = &set->v[0];
	for (size_t i = 1; i < set->n; i++) {
		const struct lc_image *b = &set->v[i];
		if (b->h.job_id != a->h.job_id) {
			lc_error(o,
				 "%s and %s belong to different jobs (job %016llx vs %016llx); "
				 "restart the images of one job together",
				 a->path, b->path, (unsigned long long)a->h.job_id,
				 (unsigned long long)b->h.job_id);
			return -1;
		}
		if (b->h.generation != a->h.generation) {
			lc_error(o,
				 "%s is from checkpoint generation %u but %s is from generation "
				 "%u; restart images of one generation together",
				 a->path, a->h.generation, b->path, b->h.generation);
			return -1;
		}
		for (size_t j = 0; j < i; j++) {
			if (!strcmp(set->v[j].h.uniquepid, b->h.uniquepid)) {
				lc_error(o,
					 "%s and %s are images of the same process (%s); give each "
					 "process once",
					 set->v[j].path, b->path, b->h.uniquepid);
				return -1;
			}
		}
	}
	if (set->n != a->h.nprocs) {
		if (strict) {
			lc_error(o,
				 "generation %u of job %016llx had %u process(es) but %zu image(s) "
				 "were given (first: %s); give all of them, or use "
				 "--no-strict-checking",
				 a->h.generation, (unsigned long long)a->h.job_id, a->h.nprocs,
				 set->n, a->path);
			return -1;
		}
		lc_error(o, "warning: generation %u had %u process(es); restarting %zu",
			 a->h.generation, a->h.nprocs, set->n);
	}
	if (strict) {
		uid_t me = getuid();
		for (size_t i = 0; i < set->n; i++) {
			if (set->v[i].h.uid != (uint32_t)me) {
				lc_error(o,
					 "%s was made by uid %u; use --no-strict-checking to "
					 "restart it anyway",
					 set->v[i].path, set->v[i].h.uid);
				return -1;
			}
		}
	}
	return 0;
}

static int is_image_name(const char *name)
{
	size_t l = strlen(name);
	return !strncmp(name, "ckpt_", 5) && l > 11 && !strcmp(name + l - 6, ".dmtcp");
}

/* gen-NNNNNN -> number, or -1. */
static long gen_number(const char *name)
{
	if (strncmp(name, "gen-", 4) || !name[4])
		return -1;
	char *end;
	errno = 0;
	long v = strtol(name + 4, &end, 10);
	return errno || *end || v < 0 ? -1 : v;
}

struct gen_dir {
	long num;
	char name[256];
};

static int cmp_gen_desc(const void *a, const void *b)
{
	long x = ((const struct gen_dir *)a)->num, y = ((const struct gen_dir *)b)->num;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* Load every valid image in dir into all (damaged ones are reported and skipped). */
static int load_dir(const struct lc_opts *o, const char *dir, struct lc_image_set *all)
{
	DIR *d = opendir(dir);
	if (!d) {
		lc_error(o, "cannot open checkpoint directory %s: %s", dir, strerror(errno));
		return -1;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!is_image_name(e->d_name))
			continue;
		char path[LC_MAX_PATH];
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
			continue;
		struct lc_image *img = push(all);
		if (!img) {
			closedir(d);
			lc_error(o, "out of memory");
			return -1;
		}
		char err[1200];
		if (load_one(o, path, img, err, sizeof(err))) {
			lc_error(o, "warning: skipping %s", err);
			all->n--;
		}
	}
	closedir(d);
	return 0;
}

/* From the images of one directory, move the newest complete job set into out. 1 if found. */
static int complete_set(const struct lc_opts *o, struct lc_image_set *all, struct lc_image_set *out)
{
	size_t best = (size_t)-1, nbest = 0;
	for (size_t i = 0; i < all->n; i++) {
		const struct lc_image *a = &all->v[i];
		size_t count = 0;
		int dup = 0, first = 1;
		for (size_t j = 0; j < all->n; j++) {
			const struct lc_image *b = &all->v[j];
			if (b->h.job_id != a->h.job_id || b->h.generation != a->h.generation)
				continue;
			if (j < i)
				first = 0;
			for (size_t k = 0; k < j; k++)
				if (all->v[k].h.job_id == b->h.job_id &&
				    all->v[k].h.generation == b->h.generation &&
				    !strcmp(all->v[k].h.uniquepid, b->h.uniquepid))
					dup = 1;
			count++;
		}
		if (!first || dup || count != a->h.nprocs)
			continue;
		nbest++;
		if (best == (size_t)-1 || a->h.time_sec > all->v[best].h.time_sec)
			best = i;
	}
	if (best == (size_t)-1)
		return 0;
	if (nbest > 1)
		lc_error(o, "warning: %zu complete jobs in one directory; taking the newest (%s)",
			 nbest, all->v[best].h.progname);
	uint64_t job = all->v[best].h.job_id;
	uint32_t gen = all->v[best].h.generation;
	for (size_t i = 0; i < all->n; i++) {
		if (all->v[i].h.job_id != job || all->v[i].h.generation != gen)
			continue;
		struct lc_image *img = push(out);
		if (!img)
			return -1;
		*img = all->v[i];
	}
	return 1;
}

int lc_images_pick(const struct lc_opts *o, const char *dir, struct lc_image_set *set)
{
	DIR *d = opendir(dir);
	if (!d) {
		lc_error(o, "cannot open checkpoint directory %s: %s", dir, strerror(errno));
		return -1;
	}
	struct gen_dir *gens = NULL;
	size_t ngen = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		long g = gen_number(e->d_name);
		if (g < 0 || strlen(e->d_name) >= sizeof(gens->name))
			continue;
		if (ngen == cap) {
			cap = cap ? cap * 2 : 16;
			struct gen_dir *ng = realloc(gens, cap * sizeof(*ng));
			if (!ng) {
				free(gens);
				closedir(d);
				lc_error(o, "out of memory");
				return -1;
			}
			gens = ng;
		}
		gens[ngen].num = g;
		snprintf(gens[ngen].name, sizeof(gens->name), "%s", e->d_name);
		ngen++;
	}
	closedir(d);
	if (ngen)
		qsort(gens, ngen, sizeof(*gens), cmp_gen_desc);
	int found = 0;
	/* i == ngen: dir itself (a gen directory given directly, or a flat layout). */
	for (size_t i = 0; i <= ngen && !found; i++) {
		char sub[LC_MAX_PATH];
		if (i < ngen)
			snprintf(sub, sizeof(sub), "%s/%s", dir, gens[i].name);
		else
			snprintf(sub, sizeof(sub), "%s", dir);
		struct stat st;
		if (stat(sub, &st) || !S_ISDIR(st.st_mode))
			continue;
		struct lc_image_set all = {0};
		if (load_dir(o, sub, &all)) {
			lc_images_free(&all);
			continue;
		}
		found = complete_set(o, &all, set);
		if (!found && all.n)
			lc_error(o, "warning: %s holds no complete generation; trying older ones",
				 sub);
		lc_images_free(&all);
		if (found < 0) {
			free(gens);
			lc_error(o, "out of memory");
			return -1;
		}
	}
	free(gens);
	if (!found) {
		lc_error(o,
			 "no complete checkpoint generation in %s (looked for "
			 "gen-NNNNNN/ckpt_*.dmtcp and ckpt_*.dmtcp)",
			 dir);
		return -1;
	}
	return 0;
}

void lc_images_base_dir(const struct lc_image_set *set, char *out, size_t n)
{
	snprintf(out, n, "%s", set->n ? set->v[0].path : ".");
	char *slash = strrchr(out, '/');
	if (!slash)
		return;
	*(slash == out ? slash + 1 : slash) = '\0';
	slash = strrchr(out, '/');
	if (slash && gen_number(slash + 1) >= 0)
		*(slash == out ? slash + 1 : slash) = '\0';
}
