/*
 * dmtcp_launch.c - `dmtcp_launch [opts] prog args...`: start a program under checkpoint
 * control. It checks the program (found through PATH, dynamically linked or a #! script),
 * makes sure a coordinator runs (join / start one / none), puts the settings into the
 * SPLITCKPT_* environment and execs the lower half as
 *     splitckpt-lh --launch <abs prog> <argv0 as typed> <args...>
 * (docs/INTERFACES.md). Every error exits 1 before anything is started, except that a
 * coordinator started by us is left to exit on its own (--exit-on-last).
 */
#define LOG_PREFIX "launch"
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "launch_common.h"
#include "log.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: dmtcp_launch [OPTIONS] <command> [args...]\n"
		   "Start a process under checkpoint control (splitckpt " SPLITCKPT_VERSION ").\n\n"
		   "Connecting to the coordinator:\n"
		   "  -h, --coord-host HOST   coordinator host (env DMTCP_COORD_HOST; localhost)\n"
		   "  -p, --coord-port PORT   coordinator port (env DMTCP_COORD_PORT; 7779);\n"
		   "                          0 starts a new coordinator on a free port\n"
		   "  --port-file FILE        write the coordinator's port to FILE\n"
		   "  -j, --join-coordinator  join a running coordinator (error if none)\n"
		   "  --new-coordinator       start a new coordinator (error if one runs there)\n"
		   "  --any-coordinator       join one if it runs, else start one (default)\n"
		   "  --no-coordinator        run without a coordinator (only -i checkpoints)\n"
		   "  -i, --interval N        checkpoint every N seconds (0 = never; env\n"
		   "                          DMTCP_CHECKPOINT_INTERVAL)\n"
		   "  --coord-logfile FILE    log file of a coordinator started by dmtcp_launch\n\n"
		   "Checkpoint images:\n"
		   "  --ckptdir DIR           where images go (env DMTCP_CHECKPOINT_DIR; created)\n"
		   "  --gzip, --no-gzip       compress images or not (env DMTCP_GZIP; default on)\n"
		   "  --compress=CODEC        zstd (default when built in), zlib or none\n"
		   "  --ckpt-open-files       save the content of open regular files too\n"
		   "  --keep N                generations to keep (default 2; 0 = all)\n"
		   "  --ckpt-threads N        compression threads (default: one per CPU)\n"
		   "  --full-every K          incremental images: only pages written since the\n"
		   "                          previous generation, a full image every K\n"
		   "                          (env DMTCP_FULL_EVERY; default 0 = always full)\n"
		   "  --no-forked-ckpt        write images with the job stopped, not from a\n"
		   "                          copy-on-write child while it runs on\n\n"
		   "Other:\n"
		   "  --ckpt-signal N         signal used to park threads (default 12, SIGUSR2)\n"
		   "  --mpi, --no-mpi         run as an MPI rank (MPICH in the lower half) or not;\n"
		   "                          default: detected from the program's libraries\n"
		   "  --tmpdir DIR            scratch directory (env DMTCP_TMPDIR; /tmp)\n"
		   "  -q, --quiet             fewer messages (repeat for fewer still)\n"
		   "  --help                  print this help and exit\n"
		   "  --version               print the version and exit\n");
}

static const struct option long_opts[] = {
    LC_LONG_OPTS_SHARED,
    {"no-coordinator", no_argument, NULL, LC_OPT_NO_COORD},
    {"ckpt-open-files", no_argument, NULL, LC_OPT_OPEN_FILES},
    {"ckpt-threads", required_argument, NULL, LC_OPT_CKPT_THREADS},
    {"no-forked-ckpt", no_argument, NULL, LC_OPT_NO_FORKED},
    {"mpi", no_argument, NULL, LC_OPT_LAST + 1},
    {"no-mpi", no_argument, NULL, LC_OPT_LAST + 2},
    {NULL, 0, NULL, 0},
};

int main(int argc, char **argv)
{
	struct lc_opts o;
	if (lc_opts_init(&o, "dmtcp_launch"))
		return 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "+h:p:ji:q", long_opts, NULL)) != -1) {
		if (c == LC_OPT_HELP) {
			usage(stdout);
			return 0;
		}
		if (c == LC_OPT_VERSION) {
			printf("dmtcp_launch (splitckpt) %s\n", SPLITCKPT_VERSION);
			return 0;
		}
		if (c == LC_OPT_LAST + 1 || c == LC_OPT_LAST + 2) {
			o.mpi = c == LC_OPT_LAST + 1;
			continue;
		}
		int r = c == '?' || c == ':' ? 1 : lc_opts_apply(&o, c, optarg);
		if (r < 0)
			return 1;
		if (r > 0)
			return lc_bad_option(&o, argv, usage);
	}
	if (optind >= argc) {
		lc_error(&o, "no program to launch given");
		usage(stderr);
		return 1;
	}
	log_set_quiet(o.quiet);
	const char *typed = argv[optind];
	char prog[LC_MAX_PATH];
	if (lc_resolve_program(&o, typed, prog, sizeof(prog)) || lc_check_program(&o, prog, typed))
		return 1;
	if (o.mpi < 0) {
		int k = lc_program_mpi(&o, prog, typed);
		if (k < 0)
			return 1;
		o.mpi = k == LC_MPI_MPICH;
	}
	if (lc_opts_prepare_dirs(&o) || lc_coord_ensure(&o) || lc_export_env(&o, 1))
		return 1;

	int nargs = argc - optind; /* argv0 as typed + its arguments */
	char **lh_argv = calloc((size_t)nargs + 4, sizeof(char *));
	if (!lh_argv) {
		lc_error(&o, "out of memory");
		return 1;
	}
	lh_argv[0] = "splitckpt-lh";
	lh_argv[1] = "--launch";
	lh_argv[2] = prog;
	for (int i = 0; i < nargs; i++)
		lh_argv[3 + i] = argv[optind + i];
	lh_argv[3 + nargs] = NULL;
	lc_exec_lower_half(&o, lh_argv);
	return 1;
}
