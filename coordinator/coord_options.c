/*
 * coord_options.c - command line and environment of dmtcp_coordinator (DMTCP's option set,
 * described in our own words). Environment first, options override it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord.h"

static const char usage_text[] =
    "Usage: dmtcp_coordinator [OPTIONS]\n"
    "Runs the coordinator of one checkpointed job: it tells every process of the job when\n"
    "to checkpoint, waits until all images are on disk and writes dmtcp_restart_script.sh.\n"
    "\n"
    "Options:\n"
    "  -p, --coord-port PORT   TCP port to listen on (env DMTCP_COORD_PORT, default 7779);\n"
    "                          0 picks any free port (use it with --port-file)\n"
    "  --port-file FILE        write the port number to FILE once listening\n"
    "  --ckptdir DIR           where the restart script goes and the default image\n"
    "                          directory for the processes (env DMTCP_CHECKPOINT_DIR);\n"
    "                          created if missing\n"
    "  --tmpdir DIR            accepted for DMTCP compatibility; unused (env DMTCP_TMPDIR)\n"
    "  -i, --interval SECS     checkpoint every SECS seconds (env\n"
    "                          DMTCP_CHECKPOINT_INTERVAL); 0 = only on request\n"
    "  --exit-on-last          exit when the last process of the job disconnects\n"
    "  --exit-after-ckpt       after the first complete checkpoint, kill the job and exit\n"
    "  --exit-if-unused SECS   exit if no process has joined SECS seconds after the start\n"
    "                          (dmtcp_launch/dmtcp_restart use it for coordinators they start)\n"
    "  --daemon                run in the background (no keyboard commands); messages go\n"
    "                          to --coord-logfile\n"
    "  --coord-logfile FILE    also write messages to FILE\n"
    "  -q, --quiet             fewer messages (twice: errors only)\n"
    "  -h, --help              print this text and exit\n"
    "  --version               print the version and exit\n"
    "\n"
    "Keys (foreground, one per line on stdin):\n"
    "  c checkpoint   s status   l list processes   i [SECS] show/set interval\n"
    "  k kill the job   q kill the job and quit   ? help\n";

static void usage(FILE *fp) { fputs(usage_text, fp); }

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v > max || s[0] == '-' || s[0] == '+')
		return -1;
	*out = v;
	return 0;
}

static int bad_value(const char *opt, const char *val, const char *what)
{
	fprintf(stderr, "dmtcp_coordinator: bad value '%s' for %s (expected %s)\n", val, opt, what);
	fprintf(stderr, "Try 'dmtcp_coordinator --help' for the list of options.\n");
	return -1;
}

/* Defaults and environment. */
static int from_env(struct coord_opts *o)
{
	unsigned long v;
	const char *e;
	memset(o, 0, sizeof(*o));
	o->port = COORD_DEFAULT_PORT;
	if ((e = getenv("DMTCP_COORD_PORT")) && *e) {
		if (parse_uint(e, 65535, &v) < 0)
			return bad_value("DMTCP_COORD_PORT", e, "a port number 0-65535");
		o->port = (int)v;
	}
	if ((e = getenv("DMTCP_CHECKPOINT_INTERVAL")) && *e) {
		if (parse_uint(e, UINT32_MAX, &v) < 0)
			return bad_value("DMTCP_CHECKPOINT_INTERVAL", e, "seconds");
		o->interval = (uint32_t)v;
	}
	if ((e = getenv("DMTCP_CHECKPOINT_DIR")) && *e)
		o->ckptdir = e;
	if ((e = getenv("DMTCP_TMPDIR")) && *e)
		o->tmpdir = e;
	return 0;
}

enum {
	OPT_PORT_FILE = 256,
	OPT_CKPTDIR,
	OPT_TMPDIR,
	OPT_EXIT_ON_LAST,
	OPT_EXIT_AFTER_CKPT,
	OPT_EXIT_UNUSED,
	OPT_DAEMON,
	OPT_LOGFILE,
	OPT_VERSION,
};

static const struct option long_opts[] = {
    {"coord-port", required_argument, NULL, 'p'},
    {"port", required_argument, NULL, 'p'},
    {"port-file", required_argument, NULL, OPT_PORT_FILE},
    {"ckptdir", required_argument, NULL, OPT_CKPTDIR},
    {"tmpdir", required_argument, NULL, OPT_TMPDIR},
    {"interval", required_argument, NULL, 'i'},
    {"exit-on-last", no_argument, NULL, OPT_EXIT_ON_LAST},
    {"exit-after-ckpt", no_argument, NULL, OPT_EXIT_AFTER_CKPT},
    {"exit-if-unused", required_argument, NULL, OPT_EXIT_UNUSED},
    {"daemon", no_argument, NULL, OPT_DAEMON},
    {"coord-logfile", required_argument, NULL, OPT_LOGFILE},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static int unknown(int argc, char **argv)
{
	const char *what = optind - 1 < argc ? argv[optind - 1] : "?";
	if (optopt && optopt < 256)
		fprintf(stderr, "dmtcp_coordinator: unknown option or missing value: '-%c'\n",
			optopt);
	else
		fprintf(stderr, "dmtcp_coordinator: unknown option or missing value: '%s'\n", what);
	usage(stderr);
	return -1;
}

int coord_parse_options(int argc, char **argv, struct coord_opts *o)
{
	unsigned long v;
	int c;
	if (from_env(o) < 0)
		return -1;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":p:i:qh", long_opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_uint(optarg, 65535, &v) < 0)
				return bad_value("--coord-port", optarg, "a port number 0-65535");
			o->port = (int)v;
			break;
		case 'i':
			if (parse_uint(optarg, UINT32_MAX, &v) < 0)
				return bad_value("--interval", optarg, "seconds");
			o->interval = (uint32_t)v;
			break;
		case OPT_PORT_FILE:
			o->port_file = optarg;
			break;
		case OPT_CKPTDIR:
			o->ckptdir = optarg;
			break;
		case OPT_TMPDIR:
			o->tmpdir = optarg;
			break;
		case OPT_EXIT_ON_LAST:
			o->exit_on_last = 1;
			break;
		case OPT_EXIT_AFTER_CKPT:
			o->exit_after_ckpt = 1;
			break;
		case OPT_EXIT_UNUSED:
			if (parse_uint(optarg, UINT32_MAX, &v) < 0)
				return bad_value("--exit-if-unused", optarg, "seconds");
			o->exit_unused = (uint32_t)v;
			break;
		case OPT_DAEMON:
			o->daemon = 1;
			break;
		case OPT_LOGFILE:
			o->logfile = optarg;
			break;
		case 'q':
			o->quiet++;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case OPT_VERSION:
			printf("dmtcp_coordinator (splitckpt) %s\n", SPLITCKPT_VERSION);
			return 1;
		default: /* '?' unknown, ':' missing value */
			return unknown(argc, argv);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "dmtcp_coordinator: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return -1;
	}
	if (o->ckptdir && !*o->ckptdir)
		o->ckptdir = NULL;
	return 0;
}
