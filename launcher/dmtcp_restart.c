/*
 * dmtcp_restart.c - `dmtcp_restart [opts] ckpt_*.dmtcp...`: restart a job from its images.
 * The images (given, or the newest complete generation of --restartdir / --ckptdir, or of a
 * directory given as the only argument) are opened and checked first: one job, one generation,
 * every process once, our uid (unless --no-strict-checking). Then a coordinator is joined or
 * started like dmtcp_launch does, the SPLITCKPT_* environment is set, and the lower half is
 * exec'd as
 *     splitckpt-lh --restore [--no-strict-checking] <abs image paths...>
 * New images go to --ckptdir, else to the checkpoint directory the images came from.
 * Inside an MPI launch (mpiexec, srun) with MPI images, every rank restores only the image of
 * its own rank (chosen by the generation's MANIFEST, lc_mpi.c) with splitckpt-lh-mpi.
 * Output: one summary line ("restarting N processes of generation G from DIR (SIZE); new
 * images go to D") before the exec, unless -q; what the lower half prints after that is its
 * own (nothing on a restart that works).
 */
#define LOG_PREFIX "restart"
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "launch_common.h"
#include "lc_images.h"
#include "lc_mpi.h"
#include "log.h"

enum { OPT_RESTARTDIR = LC_OPT_LAST, OPT_NO_STRICT, OPT_INSPECT };

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: dmtcp_restart [OPTIONS] <ckpt1.dmtcp> [ckpt2.dmtcp...]\n"
		"       dmtcp_restart [OPTIONS] --restartdir DIR\n"
		"       dmtcp_restart --inspect FILE\n"
		"Restart processes from checkpoint images (splitckpt " SPLITCKPT_VERSION ").\n\n"
		"Connecting to the coordinator:\n"
		"  -h, --coord-host HOST   coordinator host (env DMTCP_COORD_HOST; localhost)\n"
		"  -p, --coord-port PORT   coordinator port (env DMTCP_COORD_PORT; 7779);\n"
		"                          0 starts a new coordinator on a free port\n"
		"  --port-file FILE        write the coordinator's port to FILE\n"
		"  -j, --join-coordinator  join a running coordinator (error if none)\n"
		"  --new-coordinator       start a new coordinator (error if one runs there)\n"
		"  --any-coordinator       join one if it runs, else start one (default)\n"
		"  -i, --interval N        checkpoint every N seconds (0 = never)\n"
		"  --coord-logfile FILE    log file of a coordinator started by dmtcp_restart\n\n"
		"Images:\n"
		"  --ckptdir DIR           where new images go (default: where the old ones are);\n"
		"                          without image arguments, restart from DIR as below\n"
		"  --restartdir DIR        restart the newest complete generation in DIR\n"
		"                          (DIR/gen-NNNNNN/ckpt_*.dmtcp)\n"
		"  --no-strict-checking    restart images made by another user or an incomplete\n"
		"                          set of images\n"
		"  --inspect FILE          print what is inside an image and exit\n"
		"  --full-every K          new images incremental, a full one every K (env\n"
		"                          DMTCP_FULL_EVERY; default: the K stored in the\n"
		"                          image, 0 = always full); an\n"
		"                          incremental image restarts with all its parents\n\n"
		"Other:\n"
		"  --tmpdir DIR            scratch directory (env DMTCP_TMPDIR; /tmp)\n"
		"  -q, --quiet             fewer messages (repeat for fewer still)\n"
		"  --help                  print this help and exit\n"
		"  --version               print the version and exit\n");
}

static const struct option long_opts[] = {
    LC_LONG_OPTS_SHARED,
    {"restartdir", required_argument, NULL, OPT_RESTARTDIR},
    {"no-strict-checking", no_argument, NULL, OPT_NO_STRICT},
    {"inspect", required_argument, NULL, OPT_INSPECT},
    {NULL, 0, NULL, 0},
};

struct restart_args {
	const char *restartdir;
	const char *inspect;
	int strict;
	int ckptdir_given;
};

/* Returns -1 to continue, else the exit status. */
static int parse(struct lc_opts *o, struct restart_args *ra, int argc, char **argv)
{
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "h:p:ji:q", long_opts, NULL)) != -1) {
		switch (c) {
		case LC_OPT_HELP:
			usage(stdout);
			return 0;
		case LC_OPT_VERSION:
			printf("dmtcp_restart (splitckpt) %s\n", SPLITCKPT_VERSION);
			return 0;
		case OPT_RESTARTDIR:
			ra->restartdir = optarg;
			continue;
		case OPT_NO_STRICT:
			ra->strict = 0;
			continue;
		case OPT_INSPECT:
			ra->inspect = optarg;
			continue;
		case LC_OPT_CKPTDIR:
			ra->ckptdir_given = 1;
			break;
		}
		int r = c == '?' || c == ':' ? 1 : lc_opts_apply(o, c, optarg);
		if (r < 0)
			return 1;
		if (r > 0)
			return lc_bad_option(o, argv, usage);
	}
	return -1;
}

/* Fill set from the arguments or the directories; returns 0 or -1 (printed). */
static int collect(struct lc_opts *o, const struct restart_args *ra, int nimg, char **imgs,
		   struct lc_image_set *set)
{
	struct stat st;
	if (nimg == 1 && !stat(imgs[0], &st) && S_ISDIR(st.st_mode))
		return lc_images_pick(o, imgs[0], set);
	if (nimg > 0) {
		if (ra->restartdir) {
			lc_error(o, "give either image files or --restartdir, not both");
			return -1;
		}
		return lc_images_load(o, imgs, (size_t)nimg, set);
	}
	if (ra->restartdir)
		return lc_images_pick(o, ra->restartdir, set);
	if (ra->ckptdir_given)
		return lc_images_pick(o, o->ckptdir, set);
	lc_error(o, "no checkpoint images given (ckpt_*.dmtcp files, --restartdir DIR or "
		    "--ckptdir DIR)");
	usage(stderr);
	return -1;
}

/* MPI images: keep the one of this rank (set must hold images of one generation). 0 or -1. */
static int mpi_select(struct lc_opts *o, const struct restart_args *ra, int nimg, char **imgs,
		      struct lc_image_set *set)
{
	int rank = 0, size = 0;
	const char *how;
	int in_mpi = lc_mpi_env(&rank, &size, &how);
	if (in_mpi && nimg == 0 && (ra->restartdir || ra->ckptdir_given)) {
		int rc = lc_mpi_pick_dir(o, ra->restartdir ? ra->restartdir : o->ckptdir, rank,
					 size, set);
		if (rc <= 0) {
			o->mpi = rc == 0;
			return rc;
		}
	}
	if (collect(o, ra, nimg, imgs, set))
		return -1;
	int nmpi = 0;
	for (size_t i = 0; i < set->n; i++)
		nmpi += set->v[i].mpi;
	o->mpi = nmpi > 0;
	if (!nmpi)
		return lc_images_check(o, set, ra->strict);
	if ((size_t)nmpi != set->n) {
		lc_error(o, "cannot restart MPI ranks and other processes with one dmtcp_restart "
			    "(first: %s)", set->v[0].path);
		return -1;
	}
	if (!in_mpi) {
		lc_error(o,
			 "%s is the image of an MPI rank: restart the job under mpiexec or srun, "
			 "e.g. mpiexec -n %d dmtcp_restart --restartdir DIR",
			 set->v[0].path, set->v[0].mpi_size > 0 ? set->v[0].mpi_size : (int)set->n);
		return -1;
	}
	if (lc_images_check(o, set, ra->strict))
		return -1;
	return lc_mpi_pick_images(o, set, rank, size);
}

/* The one line printed before the lower half takes over. */
static void summary(const struct lc_image_set *set, const char *ckptdir, int ranks)
{
	char dir[LC_MAX_PATH], size[32];
	uint64_t bytes = 0;
	struct stat st;
	for (size_t i = 0; i < set->n; i++)
		if (stat(set->v[i].path, &st) == 0)
			bytes += (uint64_t)st.st_size;
	if (bytes >= 1000000000ull)
		snprintf(size, sizeof(size), "%.2f GB", bytes / 1e9);
	else if (bytes >= 1000000ull)
		snprintf(size, sizeof(size), "%.1f MB", bytes / 1e6);
	else
		snprintf(size, sizeof(size), "%.1f kB", bytes / 1e3);
	snprintf(dir, sizeof(dir), "%s", set->v[0].path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	int same = 1;
	for (size_t i = 1; i < set->n; i++)
		same &= !strncmp(set->v[i].path, dir, strlen(dir)) &&
			!strchr(set->v[i].path + strlen(dir) + 1, '/');
	if (ranks > 0) {
		log_info("restarting %d MPI ranks of generation %u from %s (rank 0: %s of image); "
			 "new images go to %s",
			 ranks, set->v[0].h.generation, dir, size, ckptdir);
		return;
	}
	log_info("restarting %zu process%s of generation %u from %s%s (%s of images); new images "
		 "go to %s",
		 set->n, set->n == 1 ? "" : "es", set->v[0].h.generation, dir,
		 same ? "" : " and other directories", size, ckptdir);
}

int main(int argc, char **argv)
{
	struct lc_opts o;
	struct restart_args ra = {.strict = 1};
	if (lc_opts_init(&o, "dmtcp_restart"))
		return 1;
	int rc = parse(&o, &ra, argc, argv);
	if (rc >= 0)
		return rc;
	log_set_quiet(o.quiet);
	if (ra.inspect)
		return img_inspect(ra.inspect, stdout) == 0 ? 0 : 1;

	struct lc_image_set set = {0};
	if (mpi_select(&o, &ra, argc - optind, argv + optind, &set)) {
		/* Under mpiexec/srun the other ranks may not see what this one saw (their own
		 * images are fine) and would wait in MPI_Init for ever: end the whole job the MPI
		 * way, from the MPI lower half (MPI_Init, then MPI_Abort). */
		int rank = 0, size = 0;
		const char *how;
		if (lc_mpi_env(&rank, &size, &how)) {
			char *abort_argv[] = {"splitckpt-lh", "--mpi-abort", "refused", NULL};
			o.mpi = 1;
			lc_exec_lower_half(&o, abort_argv);
		}
		return 1;
	}
	if (o.mpi && ra.strict && set.v[0].h.uid != (uint32_t)getuid()) {
		lc_error(&o, "%s was made by uid %u; use --no-strict-checking to restart it anyway",
			 set.v[0].path, set.v[0].h.uid);
		return 1;
	}
	if (!o.ckptdir[0])
		lc_images_base_dir(&set, o.ckptdir, sizeof(o.ckptdir));
	if (lc_opts_prepare_dirs(&o) || lc_coord_ensure(&o) || lc_export_env(&o, 0))
		return 1;

	char **lh_argv = calloc(set.n + 4, sizeof(char *));
	if (!lh_argv) {
		lc_error(&o, "out of memory");
		return 1;
	}
	size_t a = 0;
	lh_argv[a++] = "splitckpt-lh";
	lh_argv[a++] = "--restore";
	if (!ra.strict)
		lh_argv[a++] = "--no-strict-checking";
	for (size_t i = 0; i < set.n; i++)
		lh_argv[a++] = set.v[i].path;
	lh_argv[a] = NULL;
	int rank = 0, size = 0;
	const char *how;
	if (o.quiet == 0 && (!o.mpi || !lc_mpi_env(&rank, &size, &how) || rank == 0))
		summary(&set, o.ckptdir, o.mpi ? size : 0);
	lc_exec_lower_half(&o, lh_argv);
	return 1;
}
