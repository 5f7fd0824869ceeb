/*
 * launch_common.c - option defaults, the options both front ends share, directory checks and
 * the SPLITCKPT_* environment handed to the lower half (docs/INTERFACES.md, "Launch → lower
 * half"). Front-end code: it may allocate, print and exit paths are the caller's.
 */
#define LOG_PREFIX lc_log_prefix /* "launch" or "restart": shared by both tools */
#include "launch_common.h"
#include "ckpt_signal.h"
#include "image.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "secret.h"

void lc_error(const struct lc_opts *o, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", o && o->tool ? o->tool : "splitckpt", msg);
}

int lc_bad_option(const struct lc_opts *o, char **argv, void (*usage)(FILE *))
{
	const char *what = argv[optind - 1];
	if (optopt && optopt < 0x100 && what[0] == '-' && what[1] != '-')
		lc_error(o, "unknown option or missing argument: -%c", optopt);
	else
		lc_error(o, "unknown option or missing argument: %s", what);
	usage(stderr);
	return 1;
}

int lc_parse_int(const char *s, long lo, long hi, int *out)
{
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

int lc_path_join(char *out, size_t n, const char *dir, const char *name)
{
	int l = snprintf(out, n, "%s/%s", dir, name);
	if (l < 0 || (size_t)l >= n) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static int copy_str(char *dst, size_t n, const char *src)
{
	size_t l = strlen(src);
	if (l >= n)
		return -1;
	memcpy(dst, src, l + 1);
	return 0;
}

/* Parse a 0/1 style boolean env value; returns -1 if malformed. */
static int parse_bool(const char *s)
{
	if (!strcmp(s, "1") || !strcasecmp(s, "yes") || !strcasecmp(s, "true"))
		return 1;
	if (!strcmp(s, "0") || !strcasecmp(s, "no") || !strcasecmp(s, "false"))
		return 0;
	return -1;
}

const char *lc_log_prefix = "launch";

int lc_opts_init(struct lc_opts *o, const char *tool)
{
	lc_log_prefix = tool && strstr(tool, "restart") ? "restart" : "launch";
	memset(o, 0, sizeof(*o));
	o->tool = tool;
	o->mpi = -1;
	o->port = LC_DEFAULT_PORT;
	o->gzip = 1;
	o->ckpt_signal = SIGUSR2;
	o->keep = 2;
	o->mode = LC_COORD_NONE_SET;
	const char *v;
	if (copy_str(o->host, sizeof(o->host),
		     (v = getenv("DMTCP_COORD_HOST")) && *v ? v : "localhost")) {
		lc_error(o, "DMTCP_COORD_HOST is too long");
		return -1;
	}
	if ((v = getenv("DMTCP_COORD_PORT")) && *v && lc_parse_int(v, 0, 65535, &o->port)) {
		lc_error(o, "DMTCP_COORD_PORT='%s' is not a port number (0-65535)", v);
		return -1;
	}
	if ((v = getenv("DMTCP_CHECKPOINT_DIR")) && *v && lc_opts_apply(o, LC_OPT_CKPTDIR, v))
		return -1;
	v = getenv("DMTCP_TMPDIR");
	if (!v || !*v)
		v = getenv("TMPDIR");
	if (copy_str(o->tmpdir, sizeof(o->tmpdir), v && *v ? v : "/tmp")) {
		lc_error(o, "the temporary directory name is too long");
		return -1;
	}
	if ((v = getenv("DMTCP_GZIP")) && *v) {
		int b = parse_bool(v);
		if (b < 0) {
			lc_error(o, "DMTCP_GZIP='%s' must be 0 or 1 (or no/yes, false/true)", v);
			return -1;
		}
		o->gzip = b;
		o->gzip_set = 1;
	}
	if ((v = getenv("DMTCP_CHECKPOINT_INTERVAL")) && *v) {
		if (lc_parse_int(v, 0, INT_MAX, &o->interval)) {
			lc_error(o, "DMTCP_CHECKPOINT_INTERVAL='%s' is not a number of seconds", v);
			return -1;
		}
		o->interval_set = 1;
	}
	if ((v = getenv("DMTCP_QUIET")) && *v && lc_parse_int(v, 0, 2, &o->quiet)) {
		lc_error(o, "DMTCP_QUIET='%s' must be 0, 1 or 2", v);
		return -1;
	}
	if ((v = getenv("DMTCP_SIGCKPT")) && *v && lc_opts_apply(o, LC_OPT_CKPT_SIGNAL, v))
		return -1;
	if ((v = getenv("DMTCP_FULL_EVERY")) && *v && lc_opts_apply(o, LC_OPT_FULL_EVERY, v))
		return -1;
	return 0;
}

int lc_opts_apply(struct lc_opts *o, int id, const char *arg)
{
	switch (id) {
	case 'h':
		if (!*arg || copy_str(o->host, sizeof(o->host), arg)) {
			lc_error(o, "bad coordinator host '%s'", arg);
			return -1;
		}
		return 0;
	case 'p':
		if (lc_parse_int(arg, 0, 65535, &o->port)) {
			lc_error(o, "bad coordinator port '%s' (expected 0-65535)", arg);
			return -1;
		}
		return 0;
	case LC_OPT_PORT_FILE:
		o->port_file = arg;
		return 0;
	case 'j':
		o->mode = LC_COORD_JOIN;
		return 0;
	case LC_OPT_NEW_COORD:
		o->mode = LC_COORD_NEW;
		return 0;
	case LC_OPT_ANY_COORD:
		o->mode = LC_COORD_ANY;
		return 0;
	case LC_OPT_NO_COORD:
		o->mode = LC_COORD_NO;
		return 0;
	case 'i':
		if (lc_parse_int(arg, 0, INT_MAX, &o->interval)) {
			lc_error(o, "bad checkpoint interval '%s' (seconds, 0 = none)", arg);
			return -1;
		}
		o->interval_set = 1;
		return 0;
	case LC_OPT_GZIP:
	case LC_OPT_NO_GZIP:
		o->gzip = id == LC_OPT_GZIP;
		o->gzip_set = 1;
		return 0;
	case LC_OPT_COMPRESS: {
		int c = img_codec_parse(arg);
		if (c == -2 || c == -3 || copy_str(o->compress, sizeof(o->compress), arg)) {
			lc_error(o, "--compress=%s: %s", arg,
				 c == -3 ? "this splitckpt was built without libzstd"
					 : "use zstd, zlib or none");
			return -1;
		}
		o->gzip = c != -1;
		o->gzip_set = 1;
		return 0;
	}
	case LC_OPT_CKPTDIR:
		if (!*arg || copy_str(o->ckptdir, sizeof(o->ckptdir), arg)) {
			lc_error(o, "bad checkpoint directory '%s'", arg);
			return -1;
		}
		return 0;
	case LC_OPT_OPEN_FILES:
		o->open_files = 1;
		o->open_files_set = 1;
		return 0;
	case LC_OPT_CKPT_SIGNAL:
		if (lc_parse_int(arg, 1, 64, &o->ckpt_signal) ||
		    !ckpt_signal_usable(o->ckpt_signal)) {
			lc_error(
			    o,
			    "bad checkpoint signal '%s' (a signal number 1-64, not 9, 19, 31, "
			    "32 or 33: those cannot be caught or are taken by splitckpt and glibc)",
			    arg);
			return -1;
		}
		o->ckpt_signal_set = 1;
		return 0;
	case LC_OPT_TMPDIR:
		if (!*arg || copy_str(o->tmpdir, sizeof(o->tmpdir), arg)) {
			lc_error(o, "bad temporary directory '%s'", arg);
			return -1;
		}
		return 0;
	case 'q':
		if (o->quiet < 2)
			o->quiet++;
		return 0;
	case LC_OPT_COORD_LOGFILE:
		o->coord_logfile = arg;
		return 0;
	case LC_OPT_KEEP:
		if (lc_parse_int(arg, 0, 1000000, &o->keep)) {
			lc_error(o, "bad --keep '%s' (generations to keep, 0 = all)", arg);
			return -1;
		}
		o->keep_set = 1;
		return 0;
	case LC_OPT_FULL_EVERY:
		if (lc_parse_int(arg, 0, 1000000, &o->full_every)) {
			lc_error(o,
				 "bad --full-every '%s' (a full image every K generations, the "
				 "others incremental; 0 or 1 = every image full)",
				 arg);
			return -1;
		}
		o->full_every_set = 1;
		return 0;
	case LC_OPT_CKPT_THREADS:
		if (lc_parse_int(arg, 0, 1024, &o->ckpt_threads)) {
			lc_error(o, "bad --ckpt-threads '%s' (threads, 0 = one per CPU)", arg);
			return -1;
		}
		o->ckpt_threads_set = 1;
		return 0;
	case LC_OPT_NO_FORKED:
		o->no_forked = 1;
		return 0;
	}
	return 1;
}

/* Turn a relative path into an absolute one (lexically, relative to the cwd). */
static int make_absolute(char *path, size_t n)
{
	if (path[0] == '/')
		return 0;
	char cwd[LC_MAX_PATH];
	if (!getcwd(cwd, sizeof(cwd)))
		return -1;
	char tmp[LC_MAX_PATH];
	int l = snprintf(tmp, sizeof(tmp), "%s/%s", cwd, path);
	if (l < 0 || (size_t)l >= n || (size_t)l >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(path, tmp, l + 1);
	return 0;
}

/* mkdir -p; returns 0 or -1 with errno set. */
static int mkdir_parents(const char *path)
{
	char buf[LC_MAX_PATH];
	if (copy_str(buf, sizeof(buf), path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(buf, 0755) && errno != EEXIST)
				return -1;
			*p = c;
			if (!c)
				break;
		}
	}
	struct stat st;
	if (stat(path, &st))
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

int lc_opts_prepare_dirs(struct lc_opts *o)
{
	if (o->ckptdir[0]) {
		if (make_absolute(o->ckptdir, sizeof(o->ckptdir)) || mkdir_parents(o->ckptdir)) {
			lc_error(o,
				 "cannot use checkpoint directory '%s': %s (create it or choose "
				 "another with --ckptdir)",
				 o->ckptdir, strerror(errno));
			return -1;
		}
		if (access(o->ckptdir, W_OK | X_OK)) {
			lc_error(o, "checkpoint directory '%s' is not writable: %s", o->ckptdir,
				 strerror(errno));
			return -1;
		}
	}
	struct stat st;
	if (make_absolute(o->tmpdir, sizeof(o->tmpdir)) || stat(o->tmpdir, &st) ||
	    (!S_ISDIR(st.st_mode) && (errno = ENOTDIR))) {
		lc_error(o,
			 "cannot use temporary directory '%s': %s (choose another with --tmpdir)",
			 o->tmpdir, strerror(errno));
		return -1;
	}
	return 0;
}

static int set_int(const struct lc_opts *o, const char *name, long v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%ld", v);
	if (setenv(name, buf, 1)) {
		lc_error(o, "cannot set %s: %s", name, strerror(errno));
		return -1;
	}
	return 0;
}

static int set_str(const struct lc_opts *o, const char *name, const char *v)
{
	if (setenv(name, v, 1)) {
		lc_error(o, "cannot set %s: %s", name, strerror(errno));
		return -1;
	}
	return 0;
}

/* Put the job secret into SPLITCKPT_SECRET: the user's (or the calling job's) value when we
 * joined a coordinator, else the file of the coordinator we started (which may take a moment
 * to appear after the coordinator accepts connections). */
static int export_secret(const struct lc_opts *o)
{
	if (o->started_coord)
		unsetenv("SPLITCKPT_SECRET");
	char hex[SECRET_HEX_LEN + 1];
	int rc;
	for (int tries = 0;; tries++) {
		rc = secret_load(o->port, hex);
		if (rc != -ENOENT || !o->started_coord || tries >= 250)
			break;
		usleep(20000);
	}
	if (rc < 0) {
		const char *env = getenv("SPLITCKPT_SECRET");
		if (env && *env)
			lc_error(o, "SPLITCKPT_SECRET is set but is not 64 hex characters");
		else
			lc_error(o,
				 "cannot read the secret of the coordinator at %s:%d: %s (the "
				 "coordinator keeps it in $SPLITCKPT_STATE_DIR or ~/.splitckpt on "
				 "its host; for a coordinator on another host set "
				 "SPLITCKPT_SECRET)",
				 o->host, o->port, strerror(-rc));
		return -1;
	}
	hex[SECRET_HEX_LEN] = '\0';
	return set_str(o, "SPLITCKPT_SECRET", hex);
}

int lc_export_env(const struct lc_opts *o, int is_launch)
{
	if (o->mode == LC_COORD_NO) {
		if (set_str(o, "SPLITCKPT_NO_COORD", "1") ||
		    set_str(o, "SPLITCKPT_COORD_PORT", "0"))
			return -1;
		unsetenv("SPLITCKPT_COORD_HOST");
	} else {
		unsetenv("SPLITCKPT_NO_COORD");
		if (set_str(o, "SPLITCKPT_COORD_HOST", o->host) ||
		    set_int(o, "SPLITCKPT_COORD_PORT", o->port) || export_secret(o))
			return -1;
	}
	if (set_str(o, "SPLITCKPT_CKPTDIR", o->ckptdir) ||
	    set_str(o, "SPLITCKPT_TMPDIR", o->tmpdir) || set_int(o, "SPLITCKPT_QUIET", o->quiet))
		return -1;
	if ((is_launch || o->interval_set) && set_int(o, "SPLITCKPT_INTERVAL", o->interval))
		return -1;
	if ((is_launch || o->gzip_set) && set_int(o, "SPLITCKPT_GZIP", o->gzip))
		return -1;
	if (o->compress[0] && set_str(o, "SPLITCKPT_COMPRESS", o->compress))
		return -1;
	if ((is_launch || o->ckpt_signal_set) &&
	    set_int(o, "SPLITCKPT_CKPT_SIGNAL", o->ckpt_signal))
		return -1;
	if ((is_launch || o->open_files_set) &&
	    set_int(o, "SPLITCKPT_CKPT_OPEN_FILES", o->open_files))
		return -1;
	if ((is_launch || o->keep_set) && set_int(o, "SPLITCKPT_KEEP", o->keep))
		return -1;
	if (o->ckpt_threads_set && set_int(o, "SPLITCKPT_CKPT_THREADS", o->ckpt_threads))
		return -1;
	if (o->full_every_set && set_int(o, "SPLITCKPT_FULL_EVERY", o->full_every))
		return -1;
	if (o->no_forked && set_int(o, "SPLITCKPT_FORKED", 0))
		return -1;
	return 0;
}

int lc_self_dir(char *out, size_t n)
{
	ssize_t l = readlink("/proc/self/exe", out, n - 1);
	if (l <= 0 || (size_t)l >= n - 1)
		return -1;
	out[l] = '\0';
	char *slash = strrchr(out, '/');
	if (!slash)
		return -1;
	if (slash == out)
		slash[1] = '\0';
	else
		*slash = '\0';
	return 0;
}

int lc_find_lower_half(const struct lc_opts *o, char *out, size_t n)
{
	const char *env = getenv(o->mpi > 0 ? "SPLITCKPT_LH_MPI" : "SPLITCKPT_LH");
	if (env && *env) {
		if (access(env, X_OK)) {
			lc_error(o, "SPLITCKPT_LH=%s: %s", env, strerror(errno));
			return -1;
		}
		return copy_str(out, n, env) ? -1 : 0;
	}
	char dir[LC_MAX_PATH];
	if (lc_self_dir(dir, sizeof(dir))) {
		lc_error(o, "cannot read /proc/self/exe: %s (is /proc mounted?)", strerror(errno));
		return -1;
	}
	const char *rel[] = {o->mpi > 0 ? "../" SPLITCKPT_LIBEXEC_REL "/splitckpt-lh-mpi"
					: "../" SPLITCKPT_LIBEXEC_REL "/splitckpt-lh",
			     o->mpi > 0 ? "../lower-half/splitckpt-lh-mpi"
					: "../lower-half/splitckpt-lh"};
	char tried[2][LC_MAX_PATH] = {"", ""};
	for (size_t i = 0; i < 2; i++) {
		if (lc_path_join(tried[i], sizeof(tried[i]), dir, rel[i]))
			continue;
		if (!access(tried[i], X_OK))
			return copy_str(out, n, tried[i]) ? -1 : 0;
	}
	lc_error(o, "cannot find the lower half %s (tried %s and %s); set %s to its path",
		 o->mpi > 0 ? "splitckpt-lh-mpi" : "splitckpt-lh", tried[0], tried[1],
		 o->mpi > 0 ? "SPLITCKPT_LH_MPI" : "SPLITCKPT_LH");
	return -1;
}

int lc_exec_lower_half(const struct lc_opts *o, char **argv)
{
	static char lh[LC_MAX_PATH];
	if (lc_find_lower_half(o, lh, sizeof(lh)))
		return -1;
	argv[0] = lh;
	log_debug("exec %s %s", lh, argv[1] ? argv[1] : "");
	fflush(NULL);
	execv(lh, argv);
	lc_error(o, "cannot execute the lower half %s: %s", lh, strerror(errno));
	return -1;
}
