/*
 * launch_common.h - what dmtcp_launch and dmtcp_restart share: the options both accept, the
 * coordinator handling (join / start / refuse), the SPLITCKPT_* environment they hand to the
 * lower half, and finding and exec'ing the lower half (docs/INTERFACES.md is the contract).
 *
 * Everything here runs in a short-lived front-end process before execve; errors are printed
 * once, DMTCP style ("dmtcp_launch: what went wrong; what to do"), and the caller exits 1.
 * Functions return 0 on success and -1 after printing the error, unless said otherwise.
 */
#ifndef SPLITCKPT_LAUNCH_COMMON_H
#define SPLITCKPT_LAUNCH_COMMON_H

#include <stddef.h>
#include <stdio.h>

#define LC_DEFAULT_PORT 7779
#define LC_MAX_PATH 4096

enum lc_coord_mode {
	LC_COORD_NONE_SET = 0, /* not chosen: --any-coordinator behaviour */
	LC_COORD_ANY,	       /* join if one runs, else start one */
	LC_COORD_JOIN,	       /* one must already run */
	LC_COORD_NEW,	       /* start one; error if one already runs there */
	LC_COORD_NO,	       /* run without a coordinator */
};

/* Options common to both programs. An `*_set` flag says the user gave it (option or DMTCP_*
 * environment variable); on restart only what was given is passed on, the rest comes from
 * the image or the lower half's defaults. Strings point into argv/environ or static storage. */
struct lc_opts {
	const char *tool; /* "dmtcp_launch" or "dmtcp_restart", used in messages */
	char host[256];
	int port; /* 0: pick a free one (always starts a new coordinator) */
	const char *port_file;
	enum lc_coord_mode mode;
	int interval, interval_set;
	int gzip, gzip_set;
	char compress[16]; /* --compress=CODEC (zstd, zlib, none), or "" */
	char ckptdir[LC_MAX_PATH]; /* absolute, or "" */
	int open_files, open_files_set;
	int ckpt_signal, ckpt_signal_set;
	char tmpdir[LC_MAX_PATH]; /* absolute */
	int quiet;
	const char *coord_logfile;
	int keep, keep_set;
	int ckpt_threads, ckpt_threads_set; /* compression threads, 0 = one per CPU */
	int full_every, full_every_set;	    /* incremental images, a full one every K; < 2 off */
	int no_forked;			    /* write images in place (no copy-on-write child) */
	int started_coord; /* set by lc_coord_ensure when it started the coordinator */
	int mpi;	   /* -1 detect from the program, 0 --no-mpi, 1 --mpi */
};

/* Ids of the long options both programs share; each program adds its own above LC_OPT_LAST. */
enum lc_opt_id {
	LC_OPT_PORT_FILE = 0x100,
	LC_OPT_NEW_COORD,
	LC_OPT_ANY_COORD,
	LC_OPT_NO_COORD,
	LC_OPT_GZIP,
	LC_OPT_NO_GZIP,
	LC_OPT_CKPTDIR,
	LC_OPT_OPEN_FILES,
	LC_OPT_CKPT_SIGNAL,
	LC_OPT_TMPDIR,
	LC_OPT_COORD_LOGFILE,
	LC_OPT_KEEP,
	LC_OPT_CKPT_THREADS,
	LC_OPT_NO_FORKED,
	LC_OPT_COMPRESS,
	LC_OPT_FULL_EVERY,
	LC_OPT_HELP,
	LC_OPT_VERSION,
	LC_OPT_LAST,
};

/* The long options both programs take (struct option initialisers); each program lists its
 * own after them and ends with {NULL, 0, NULL, 0}. */
#define LC_LONG_OPTS_SHARED                                                                     \
	{"coord-host", required_argument, NULL, 'h'},                                            \
	    {"coord-port", required_argument, NULL, 'p'},                                        \
	    {"port-file", required_argument, NULL, LC_OPT_PORT_FILE},                            \
	    {"join-coordinator", no_argument, NULL, 'j'}, {"join", no_argument, NULL, 'j'},      \
	    {"new-coordinator", no_argument, NULL, LC_OPT_NEW_COORD},                            \
	    {"any-coordinator", no_argument, NULL, LC_OPT_ANY_COORD},                            \
	    {"interval", required_argument, NULL, 'i'},                                          \
	    {"gzip", no_argument, NULL, LC_OPT_GZIP},                                            \
	    {"no-gzip", no_argument, NULL, LC_OPT_NO_GZIP},                                      \
	    {"compress", required_argument, NULL, LC_OPT_COMPRESS},                              \
	    {"ckptdir", required_argument, NULL, LC_OPT_CKPTDIR},                                \
	    {"ckpt-signal", required_argument, NULL, LC_OPT_CKPT_SIGNAL},                        \
	    {"tmpdir", required_argument, NULL, LC_OPT_TMPDIR},                                  \
	    {"quiet", no_argument, NULL, 'q'},                                                   \
	    {"coord-logfile", required_argument, NULL, LC_OPT_COORD_LOGFILE},                    \
	    {"keep", required_argument, NULL, LC_OPT_KEEP},                                      \
	    {"full-every", required_argument, NULL, LC_OPT_FULL_EVERY},                          \
	    {"help", no_argument, NULL, LC_OPT_HELP}, {"version", no_argument, NULL, LC_OPT_VERSION}

/* After getopt_long returned '?' or ':' (opterr = 0) or an option the program does not take:
 * print which one (short or long, as typed) and the usage on stderr; returns 1 (the exit
 * status). */
int lc_bad_option(const struct lc_opts *o, char **argv, void (*usage)(FILE *));

/* Fill o with defaults and the DMTCP_* environment (DMTCP_COORD_HOST, DMTCP_COORD_PORT,
 * DMTCP_CHECKPOINT_DIR, DMTCP_TMPDIR, DMTCP_GZIP, DMTCP_CHECKPOINT_INTERVAL, DMTCP_QUIET,
 * DMTCP_SIGCKPT). Returns -1 (error printed) on a malformed variable. */
int lc_opts_init(struct lc_opts *o, const char *tool);
/* The log prefix of the code both tools share: set by lc_opts_init from tool. */
extern const char *lc_log_prefix;

/* Apply one parsed option shared by both programs (getopt_long code `id`, argument `arg`).
 * Returns 0 if applied, 1 if `id` is not a shared option, -1 on a bad argument (printed). */
int lc_opts_apply(struct lc_opts *o, int id, const char *arg);

/* Make ckptdir absolute and create it (with parents) if missing; same for tmpdir (which must
 * exist). Returns -1 with a message naming the directory if either cannot be used. */
int lc_opts_prepare_dirs(struct lc_opts *o);

/* Print "<tool>: <message>" to stderr. */
void lc_error(const struct lc_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parse a decimal integer in [lo, hi]; returns 0 or -1 (nothing printed). */
int lc_parse_int(const char *s, long lo, long hi, int *out);

/* Make sure a coordinator is there as o->mode asks (lc_coord.c). On return o->port holds the
 * real port (when a coordinator was started on port 0) and, if o->port_file is set, the port
 * is written there. Does nothing for LC_COORD_NO. */
int lc_coord_ensure(struct lc_opts *o);

/* True if something accepts TCP connections at host:port (lc_coord.c). */
int lc_coord_reachable(const char *host, int port);

/* Set every SPLITCKPT_* variable of docs/INTERFACES.md from o (for the variables with a `_set`
 * flag: always on launch, only if given on restart). Reads the job secret with secret_load()
 * unless SPLITCKPT_SECRET is already set. */
int lc_export_env(const struct lc_opts *o, int is_launch);

/* out = dir + "/" + name; -1 (errno ENAMETOOLONG) if it does not fit in n bytes. */
int lc_path_join(char *out, size_t n, const char *dir, const char *name);

/* Directory holding /proc/self/exe, without a trailing slash. */
int lc_self_dir(char *out, size_t n);

/* Find splitckpt-lh: $SPLITCKPT_LH, else <selfdir>/../<libexec>/splitckpt-lh, else
 * <selfdir>/../lower-half/splitckpt-lh. Prints what it tried when none is executable. */
int lc_find_lower_half(const struct lc_opts *o, char *out, size_t n);

enum { LC_MPI_NONE = 0, LC_MPI_MPICH = 1, LC_MPI_OTHER = 2 };
/* LC_MPI_MPICH when path needs libmpich*, LC_MPI_NONE when no MPI; another MPI (Open MPI's
 * libmpi.so) or a malformed file: -1 with the error printed. */
int lc_program_mpi(const struct lc_opts *o, const char *path, const char *shown);

/* execv the lower half with argv (argv[0] is replaced by its path). Returns only on error. */
int lc_exec_lower_half(const struct lc_opts *o, char **argv);

/* Resolve a program name the way execvp would (PATH search unless it contains '/'); the
 * result is absolute (symlinks are not resolved). Prints "not found" / "permission denied". */
int lc_resolve_program(const struct lc_opts *o, const char *prog, char *out, size_t n);

/* Check that path is something the lower half can start: a `#!` script, or a 64-bit ELF for
 * this machine with a PT_INTERP (dynamically linked). `shown` is the name used in messages. */
int lc_check_program(const struct lc_opts *o, const char *path, const char *shown);

#endif
