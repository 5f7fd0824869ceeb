/*
 * lc_mpi.c - choosing the image of this MPI rank for dmtcp_restart (see lc_mpi.h).
 *
 * MANIFEST format (docs/mpi-ckpt.md section 3), one item per line, unknown keys ignored:
 *   splitckpt-manifest 1 / generation G / processes P / mpi_size N / launcher L /
 *   rank R host H image FILE   (FILE relative to the MANIFEST's directory, or absolute) /
 *   proc host H image FILE     (a non-MPI process of the job)
 * The file is checked like any input: numbers in range, each rank once, names without '/'
 * unless absolute. Only headers of images are read here; the lower half checks the rest.
 */
#define LOG_PREFIX "restart"
#include "lc_mpi.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define MF_MAX_RANKS 65536

struct manifest {
	char path[LC_MAX_PATH]; /* the MANIFEST file */
	char dir[LC_MAX_PATH];	/* its directory */
	long gen, size;
	long nranks;
	long nprocs; /* "proc" lines: processes the coordinator did not know as MPI ranks */
	char **image; /* [size]: image path of each rank (absolute), NULL if not listed */
};

static void mf_free(struct manifest *m)
{
	for (long i = 0; m->image && i < m->size; i++)
		free(m->image[i]);
	free(m->image);
	m->image = NULL;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* Reads path into m. 0, or -1 with the reason in err. */
static int mf_read(const char *path, struct manifest *m, char *err, size_t errlen)
{
	memset(m, 0, sizeof(*m));
	m->gen = m->size = -1;
	snprintf(m->path, sizeof(m->path), "%s", path);
	snprintf(m->dir, sizeof(m->dir), "%s", path);
	char *sl = strrchr(m->dir, '/');
	if (sl)
		*sl = 0;
	else
		snprintf(m->dir, sizeof(m->dir), ".");
	FILE *f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	char line[LC_MAX_PATH + 512];
	int ln = 0, ok = 0;
	while (fgets(line, sizeof(line), f)) {
		ln++;
		line[strcspn(line, "\n")] = 0;
		char k[32] = "", a[32] = "", b[32] = "", c[256] = "", d[32] = "";
		char img[LC_MAX_PATH] = "";
		int n = sscanf(line, "%31s %31s %31s %255s %31s %4095s", k, a, b, c, d, img);
		long v;
		if (n <= 0)
			continue;
		if (!strcmp(k, "splitckpt-manifest")) {
			ok = n == 2 && !strcmp(a, "1");
		} else if (!strcmp(k, "generation") && n == 2) {
			if (parse_long(a, 1, 0x7fffffff, &m->gen))
				goto bad;
		} else if (!strcmp(k, "mpi_size") && n == 2) {
			if (m->image || parse_long(a, 1, MF_MAX_RANKS, &m->size))
				goto bad;
			m->image = calloc(m->size, sizeof(char *));
			if (!m->image)
				goto bad;
		} else if (!strcmp(k, "rank")) {
			if (n != 6 || strcmp(b, "host") || strcmp(d, "image") || !m->image ||
			    parse_long(a, 0, m->size - 1, &v) || m->image[v] ||
			    (img[0] != '/' && strchr(img, '/')))
				goto bad;
			char full[LC_MAX_PATH];
			if (img[0] == '/')
				snprintf(full, sizeof(full), "%s", img);
			else if (lc_path_join(full, sizeof(full), m->dir, img))
				goto bad;
			m->image[v] = strdup(full);
			if (!m->image[v])
				goto bad;
			m->nranks++;
		} else if (!strcmp(k, "proc")) {
			m->nprocs++;
		}
	}
	fclose(f);
	if (!ok || m->gen < 0) {
		snprintf(err, errlen,
			 "%s is not a complete splitckpt manifest (it needs the lines "
			 "'splitckpt-manifest 1' and 'generation G')",
			 path);
		mf_free(m);
		return -1;
	}
	return 0;
bad:
	snprintf(err, errlen, "%s: line %d is malformed: %s", path, ln, line);
	fclose(f);
	mf_free(m);
	return -1;
}

/* Every rank has an image file. 0, or -1 with the first missing one in err. */
static int mf_complete(const struct manifest *m, char *err, size_t errlen)
{
	if (m->size < 0 || (m->nranks < m->size && m->nprocs > 0))
		return 0; /* ranks as plain processes: the caller goes by the images */
	for (long r = 0; r < m->size; r++) {
		struct stat st;
		if (!m->image[r]) {
			snprintf(err, errlen, "%s lists no image for rank %ld (of %ld)", m->path, r,
				 m->size);
			return -1;
		}
		int bad = stat(m->image[r], &st);
		if (bad || !S_ISREG(st.st_mode)) {
			snprintf(err, errlen, "%s: the image of rank %ld, %s, is missing (%s)",
				 m->path, r, m->image[r], bad ? strerror(errno) : "not a file");
			return -1;
		}
	}
	return 0;
}

static int cmp_desc(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* Numbers of dir's gen-NNNNNN subdirectories, newest first (*out malloc'd). */
static long gen_list(const char *dir, long **out)
{
	DIR *d = opendir(dir);
	*out = NULL;
	if (!d)
		return -1;
	long n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		long g;
		if (strncmp(e->d_name, "gen-", 4) || parse_long(e->d_name + 4, 0, 0x7fffffff, &g))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			long *nv = realloc(*out, cap * sizeof(long));
			if (!nv)
				break;
			*out = nv;
		}
		(*out)[n++] = g;
	}
	closedir(d);
	if (n)
		qsort(*out, n, sizeof(long), cmp_desc);
	return n;
}

/* The manifest to restart from. 0 found, 1 none anywhere, -1 none complete (printed). */
static int mf_find_any(const struct lc_opts *o, const char *dir, struct manifest *m)
{
	char path[LC_MAX_PATH], err[LC_MAX_PATH + 512];
	struct stat st;
	if (!lc_path_join(path, sizeof(path), dir, "MANIFEST") && stat(path, &st) == 0) {
		/* a generation directory given directly: this manifest or nothing */
		if (mf_read(path, m, err, sizeof(err)) || mf_complete(m, err, sizeof(err))) {
			mf_free(m);
			lc_error(o, "cannot restart: %s", err);
			return -1;
		}
		return 0;
	}
	long *gens;
	long n = gen_list(dir, &gens);
	int seen = 0;
	char first_err[sizeof(err)] = "";
	for (long i = 0; i < n; i++) {
		char sub[64];
		snprintf(sub, sizeof(sub), "gen-%06ld/MANIFEST", gens[i]);
		if (lc_path_join(path, sizeof(path), dir, sub) || stat(path, &st))
			continue;
		seen++;
		if (mf_read(path, m, err, sizeof(err)) == 0 && mf_complete(m, err, sizeof(err)) == 0) {
			free(gens);
			return 0;
		}
		mf_free(m);
		lc_error(o, "warning: skipping an incomplete generation: %s", err);
		if (!first_err[0])
			snprintf(first_err, sizeof(first_err), "%s", err);
	}
	free(gens);
	if (!seen)
		return 1;
	lc_error(o, "cannot restart: no complete generation in %s (newest: %s)", dir, first_err);
	return -1;
}

/* mf_find_any, but a manifest without MPI ranks (a job checkpointed before its ranks called
 * MPI_Init), or with ranks listed as plain processes (finalized before the coordinator knew
 * them), counts as none: the images say which rank they are. */
static int mf_find(const struct lc_opts *o, const char *dir, struct manifest *m)
{
	int rc = mf_find_any(o, dir, m);
	if (rc == 0 && (m->size < 0 || (m->nranks < m->size && m->nprocs > 0))) {
		mf_free(m);
		return 1;
	}
	return rc;
}

int lc_mpi_env(int *rank, int *size, const char **how)
{
	const char *r = getenv("PMI_RANK"), *s = getenv("PMI_SIZE");
	*how = "mpiexec";
	if (!r || !s) {
		r = getenv("SLURM_PROCID");
		s = getenv("SLURM_NTASKS");
		*how = "srun";
	}
	long rv, sv;
	if (!r || !s || parse_long(r, 0, MF_MAX_RANKS - 1, &rv) ||
	    parse_long(s, 1, MF_MAX_RANKS, &sv) || rv >= sv)
		return 0;
	*rank = (int)rv;
	*size = (int)sv;
	return 1;
}

/* Loads the image of rank r of m into set and checks it against m. 0 or -1 (printed). */
static int load_rank(const struct lc_opts *o, const struct manifest *m, long r,
		     struct lc_image_set *set)
{
	char *p = m->image[r];
	if (lc_images_load(o, &p, 1, set))
		return -1;
	const struct lc_image *img = &set->v[set->n - 1];
	if ((long)img->h.generation != m->gen) {
		lc_error(o,
			 "cannot restart: the image of rank %ld, %s, is from checkpoint generation "
			 "%u, but %s is of generation %ld; images of two generations cannot be "
			 "restarted together",
			 r, img->path, img->h.generation, m->path, m->gen);
		return -1;
	}
	if (!img->mpi || (img->mpi_rank >= 0 && img->mpi_rank != r)) {
		lc_error(o, "cannot restart: %s lists %s for rank %ld, but that is %s", m->path,
			 img->path, r, img->mpi ? "the image of another rank" : "no MPI image");
		return -1;
	}
	return 0;
}

int lc_mpi_pick_dir(const struct lc_opts *o, const char *dir, int rank, int size,
		    struct lc_image_set *set)
{
	struct manifest m;
	int rc = mf_find(o, dir, &m);
	if (rc)
		return rc;
	if (m.size != size) {
		lc_error(o,
			 "cannot restart: %s: generation %ld was checkpointed with %ld MPI ranks, "
			 "but this restart has %d (this is rank %d); start it with as many ranks "
			 "(e.g. mpiexec -n %ld dmtcp_restart --restartdir %s)",
			 m.path, m.gen, m.size, size, rank, m.size, dir);
		mf_free(&m);
		return -1;
	}
	if (m.nprocs > 0 && rank == 0)
		lc_error(o, "warning: %s lists %ld process(es) that are not MPI ranks (children a rank "
			    "forked?); only the %ld ranks are restarted",
			 m.path, m.nprocs, m.size);
	/* rank 0 checks every image header, so that one clear message names a mixed set */
	for (long r = 0; r < m.size && rank == 0; r++) {
		struct lc_image_set one = {0};
		int bad = load_rank(o, &m, r, &one);
		lc_images_free(&one);
		if (bad) {
			mf_free(&m);
			return -1;
		}
	}
	rc = load_rank(o, &m, rank, set);
	mf_free(&m);
	return rc;
}

int lc_mpi_pick_images(const struct lc_opts *o, struct lc_image_set *set, int rank, int size)
{
	size_t k = set->n;
	for (size_t i = 0; i < set->n; i++) {
		const struct lc_image *img = &set->v[i];
		if (!img->mpi)
			continue;
		if (img->mpi_size != size) {
			lc_error(o,
				 "cannot restart: %s is an image of a job of %d MPI ranks, but this "
				 "restart has %d (this is rank %d); start it with as many ranks",
				 img->path, img->mpi_size, size, rank);
			return -1;
		}
		if (img->mpi_rank == rank)
			k = i;
	}
	if (k == set->n) {
		lc_error(o, "cannot restart: rank %d of %d has no image among the %zu given (first: %s)",
			 rank, size, set->n, set->n ? set->v[0].path : "none");
		return -1;
	}
	set->v[0] = set->v[k];
	set->n = 1;
	return 0;
}
