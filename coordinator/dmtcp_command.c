/*
 * dmtcp_command.c - sends one command to a running coordinator and prints its answer
 * (DMTCP's dmtcp_command: -s, -l, -c, -bc, -i N, -k, -q).
 *
 * Exit status: 0 done; 1 usage error, no coordinator, no secret, or the coordinator refused us;
 * 2 the coordinator answered that the command failed (e.g. a checkpoint failed).
 * -bc waits without a time limit: it returns when every image of the generation is durable
 * (or the checkpoint failed). Other commands wait at most 30 s for their answer.
 *
 * Progress: when stdout is a terminal, -bc keeps one line up to date while it waits (spinner,
 * phase, bytes written so far, rate, ETA, elapsed time) and replaces it by the summary line at
 * the end. The coordinator reports bytes only at the end, so the phase comes from a status
 * query (-s) on a second connection every PROGRESS_STATUS_MS, and the bytes from the sizes of
 * the generation's image files (final and .tmp) in the coordinator's CKPTDIR, when it has one
 * and it is readable from here; the ETA assumes the previous generation's size. Not on a
 * terminal, only the summary line is printed.
 */
#define LOG_PREFIX "dmtcp_command"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "coord_client.h"
#include "log.h"
#include "secret.h"

#define CONNECT_TIMEOUT_MS 5000
#define REPLY_TIMEOUT_MS 30000
#define PROGRESS_TICK_MS 200	 /* redraw the progress line */
#define PROGRESS_STATUS_MS 500	 /* ask the coordinator for the phase */
#define PROGRESS_STATUS_TIMEOUT_MS 1000

struct cmd_opts {
	const char *host;
	int port;
	const char *port_file;
	uint32_t op, arg;
};

static const char usage_text[] =
    "Usage: dmtcp_command [OPTIONS] COMMAND\n"
    "Sends COMMAND to the coordinator of a checkpointed job.\n"
    "\n"
    "Options:\n"
    "  -h, --coord-host HOST   coordinator host (env DMTCP_COORD_HOST, default localhost)\n"
    "  -p, --coord-port PORT   coordinator port (env DMTCP_COORD_PORT, default 7779)\n"
    "  --port-file FILE        read the port from FILE (as written by the coordinator)\n"
    "  --help                  print this text\n"
    "  --version               print the version\n"
    "\n"
    "Commands:\n"
    "  -s, --status            coordinator status\n"
    "  -l, --list              list the processes of the job\n"
    "  -c, --checkpoint        start a checkpoint and return\n"
    "  -bc, --bcheckpoint      checkpoint and wait until every image is on disk\n"
    "  -i, --interval SECS     set the checkpoint interval (0 = only on request)\n"
    "  -k, --kill              kill all processes of the job\n"
    "  -q, --quit              kill all processes and stop the coordinator\n"
    "\n"
    "The job secret comes from $SPLITCKPT_SECRET or the coordinator's file in\n"
    "$SPLITCKPT_STATE_DIR (default ~/.splitckpt).\n";

static int usage_error(const char *fmt, const char *arg)
{
	fputs("dmtcp_command: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\n", stderr);
	fputs(usage_text, stderr);
	return -1;
}

static int parse_num(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	while (*end == '\n' || *end == ' ')
		end++;
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Value of an option: "--opt=value" or the next argument. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
	const char *eq = strchr(argv[*i], '=');
	if (argv[*i][1] == '-' && eq)
		return eq + 1;
	if (*i + 1 >= argc) {
		usage_error("option '%s' needs a value", name);
		return NULL;
	}
	return argv[++*i];
}

static int is_opt(const char *arg, const char *s, const char *l)
{
	size_t n = l ? strlen(l) : 0;
	return (s && strcmp(arg, s) == 0) ||
	       (l && strncmp(arg, l, n) == 0 && (arg[n] == '\0' || arg[n] == '='));
}

static int set_op(struct cmd_opts *o, uint32_t op, const char *arg)
{
	if (o->op != CMD_NONE)
		return usage_error("one command at a time ('%s' is a second one)", arg);
	o->op = op;
	return 0;
}

/* 0 ok, 1 printed help/version (exit 0), -1 usage error (printed). */
static int parse(int argc, char **argv, struct cmd_opts *o)
{
	unsigned long v;
	const char *e, *val;
	o->host = (e = getenv("DMTCP_COORD_HOST")) && *e ? e : "localhost";
	o->port = 7779;
	if ((e = getenv("DMTCP_COORD_PORT")) && *e) {
		if (parse_num(e, 65535, &v) < 0 || v == 0)
			return usage_error("bad DMTCP_COORD_PORT '%s'", e);
		o->port = (int)v;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int rc = 0;
		if (is_opt(a, "-h", "--coord-host")) {
			if (!(val = opt_value(argc, argv, &i, a)))
				return -1;
			if (!*val)
				return usage_error("empty host name%s", "");
			o->host = val;
		} else if (is_opt(a, "-p", "--coord-port") || is_opt(a, NULL, "--port")) {
			if (!(val = opt_value(argc, argv, &i, a)))
				return -1;
			if (parse_num(val, 65535, &v) < 0 || v == 0)
				return usage_error("bad port '%s' (expected 1-65535)", val);
			o->port = (int)v;
		} else if (is_opt(a, NULL, "--port-file")) {
			if (!(o->port_file = opt_value(argc, argv, &i, a)))
				return -1;
		} else if (is_opt(a, "-s", "--status")) {
			rc = set_op(o, CMD_STATUS, a);
		} else if (is_opt(a, "-l", "--list")) {
			rc = set_op(o, CMD_LIST, a);
		} else if (is_opt(a, "-c", "--checkpoint")) {
			rc = set_op(o, CMD_CKPT, a);
		} else if (is_opt(a, "-bc", "--bcheckpoint")) {
			rc = set_op(o, CMD_CKPT_BLOCKING, a);
		} else if (is_opt(a, "-i", "--interval")) {
			if ((rc = set_op(o, CMD_INTERVAL, a)) < 0)
				return -1;
			if (!(val = opt_value(argc, argv, &i, a)))
				return -1;
			if (parse_num(val, UINT32_MAX, &v) < 0)
				return usage_error("bad interval '%s' (expected seconds)", val);
			o->arg = (uint32_t)v;
		} else if (is_opt(a, "-k", "--kill")) {
			rc = set_op(o, CMD_KILL, a);
		} else if (is_opt(a, "-q", "--quit")) {
			rc = set_op(o, CMD_QUIT, a);
		} else if (strcmp(a, "--help") == 0) {
			fputs(usage_text, stdout);
			return 1;
		} else if (strcmp(a, "--version") == 0) {
			printf("dmtcp_command (splitckpt) %s\n", SPLITCKPT_VERSION);
			return 1;
		} else {
			return usage_error("unknown option '%s'", a);
		}
		if (rc < 0)
			return -1;
	}
	if (o->op == CMD_NONE)
		return usage_error("no command given%s", "");
	return 0;
}

static int read_port_file(struct cmd_opts *o)
{
	FILE *fp = fopen(o->port_file, "r");
	char buf[32] = "";
	unsigned long v;
	if (!fp) {
		fprintf(stderr, "dmtcp_command: cannot read port file '%s': %s\n", o->port_file,
			strerror(errno));
		return -1;
	}
	int ok = fgets(buf, sizeof(buf), fp) && parse_num(buf, 65535, &v) == 0 && v > 0;
	fclose(fp);
	if (!ok) {
		fprintf(stderr, "dmtcp_command: port file '%s' does not hold a port number\n",
			o->port_file);
		return -1;
	}
	o->port = (int)v;
	return 0;
}

/* Connect and say hello. 0 or -1 (message printed unless quiet). */
static int open_session(const struct cmd_opts *o, struct coord_conn *c, int quiet)
{
	int rc = coord_connect(c, o->host, o->port, quiet ? PROGRESS_STATUS_TIMEOUT_MS
							: CONNECT_TIMEOUT_MS);
	if (rc < 0 && quiet)
		return -1;
	if (rc < 0) {
		const char *why = rc == -ECONNREFUSED ? "connection refused"
				  : rc == -ENXIO      ? "unknown host"
						      : strerror(-rc);
		fprintf(stderr, "dmtcp_command: no coordinator at %s:%d (%s)\n", o->host, o->port,
			why);
		return -1;
	}
	char secret[SECRET_HEX_LEN + 1], err[PROTO_MAX_TEXT];
	rc = secret_load(o->port, secret);
	if (rc < 0 && quiet)
		return -1;
	if (rc < 0) {
		char path[4200];
		if (secret_path(o->port, path, sizeof(path)) < 0)
			snprintf(path, sizeof(path), "~/.splitckpt/coord-%d.secret", o->port);
		const char *env = getenv("SPLITCKPT_SECRET");
		if (env && *env)
			fprintf(stderr,
				"dmtcp_command: SPLITCKPT_SECRET is set but is not a job secret (%d "
				"hex digits, as in the coordinator's file %s); unset it to use that "
				"file\n",
				SECRET_HEX_LEN, path);
		else
			fprintf(stderr,
				"dmtcp_command: cannot get the job secret of the coordinator at "
				"%s:%d: %s: %s (set SPLITCKPT_SECRET, or run where that file is)\n",
				o->host, o->port, path, strerror(-rc));
		return -1;
	}
	rc = coord_hello_cmd(c, secret, NULL, err, sizeof(err),
			     quiet ? PROGRESS_STATUS_TIMEOUT_MS : REPLY_TIMEOUT_MS);
	if (rc < 0 && quiet)
		return -1;
	if (rc == -EACCES) {
		fprintf(stderr, "dmtcp_command: the coordinator at %s:%d refused us: %s\n", o->host,
			o->port, err);
		return -1;
	}
	if (rc < 0) {
		fprintf(stderr, "dmtcp_command: no answer from the coordinator at %s:%d: %s\n",
			o->host, o->port, err[0] ? err : strerror(-rc));
		return -1;
	}
	return 0;
}

/* ---- progress of a blocking checkpoint on a terminal ---------------------------------------- */

struct progress {
	int on;			/* stdout is a terminal and the command is -bc */
	int shown;		/* a progress line is on the screen */
	unsigned spin;
	long long t0, next_status; /* ms, monotonic */
	uint32_t gen;		/* generation being taken (0 = not known yet) */
	char phase[128];	/* "writing 0/2" (processes done) */
	char ckptdir[4096];	/* the coordinator's --ckptdir, or "" */
	uint64_t prev_bytes;	/* size of the previous generation (for the ETA), 0 = unknown */
	uint64_t bytes;		/* of this generation's images so far */
	double rate;		/* bytes/s since the writing started */
	long long write_t0;	/* when the first bytes were seen */
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "140.8 MB" -> bytes; 0 if it does not parse. */
static uint64_t parse_size(const char *s)
{
	double v;
	char unit[8] = "";
	if (sscanf(s, "%lf %7s", &v, unit) != 2 || v < 0)
		return 0;
	double m = !strncmp(unit, "GB", 2) ? 1e9 : !strncmp(unit, "MB", 2) ? 1e6
		 : !strncmp(unit, "kB", 2) ? 1e3 : 1;
	return (uint64_t)(v * m);
}

/* The value of "KEY=" in a status text, up to the end of its line, into out. 0 or -1. */
static int status_value(const char *text, const char *key, char *out, size_t n)
{
	const char *p = strstr(text, key);
	if (!p)
		return -1;
	p += strlen(key);
	size_t l = strcspn(p, "\n");
	snprintf(out, n, "%.*s", (int)(l < n ? l : n - 1), p);
	return 0;
}

/* One status query on a connection of its own; the whole text into buf. 0 or -1. Quiet. */
static int query_status(const struct cmd_opts *o, char *buf, size_t n)
{
	struct coord_conn c;
	coord_conn_init(&c);
	size_t len = 0;
	int rc = -1;
	buf[0] = '\0';
	if (open_session(o, &c, 1) < 0 ||
	    coord_send_cmd(&c, CMD_STATUS, 0, PROGRESS_STATUS_TIMEOUT_MS) < 0)
		goto out;
	for (;;) {
		struct proto_msg msg;
		struct proto_cmd_reply r;
		if (coord_recv(&c, &msg, PROGRESS_STATUS_TIMEOUT_MS) < 0)
			goto out;
		if (proto_dec_cmd_reply(&msg, &r) < 0) {
			proto_msg_free(&msg);
			goto out;
		}
		size_t k = r.text_len < n - 1 - len ? r.text_len : n - 1 - len;
		memcpy(buf + len, r.text, k);
		len += k;
		buf[len] = '\0';
		int more = r.more;
		proto_msg_free(&msg);
		if (!more)
			break;
	}
	rc = 0;
out:
	coord_close(&c);
	return rc;
}

/* Before the checkpoint: where images go and how large the last generation was. */
static void progress_start(struct progress *p, const struct cmd_opts *o)
{
	memset(p, 0, sizeof(*p));
	p->on = o->op == CMD_CKPT_BLOCKING && isatty(STDOUT_FILENO);
	if (!p->on)
		return;
	p->t0 = now_ms();
	char text[8192], v[4096];
	if (query_status(o, text, sizeof(text)) < 0)
		return;
	if (status_value(text, "CKPTDIR=", v, sizeof(v)) == 0 && v[0] == '/')
		snprintf(p->ckptdir, sizeof(p->ckptdir), "%s", v);
	const char *comma;
	if (status_value(text, "LAST_CKPT=", v, sizeof(v)) == 0 && (comma = strstr(v, ", ")))
		p->prev_bytes = parse_size(comma + 2);
}

/* Bytes of the generation's image files (final and .tmp) in the coordinator's CKPTDIR. */
static uint64_t gen_bytes(const struct progress *p)
{
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/gen-%06u", p->ckptdir, p->gen);
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	uint64_t sum = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		struct stat st;
		if (strncmp(e->d_name, "ckpt_", 5) || !strstr(e->d_name, ".dmtcp") ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode))
			continue;
		sum += (uint64_t)st.st_size;
	}
	closedir(d);
	return sum;
}

static void fmt_bytes(uint64_t b, char *buf, size_t n)
{
	if (b >= 1000000000ull)
		snprintf(buf, n, "%.2f GB", b / 1e9);
	else if (b >= 1000000ull)
		snprintf(buf, n, "%.1f MB", b / 1e6);
	else
		snprintf(buf, n, "%.1f kB", b / 1e3);
}

/* Ask for the phase (every PROGRESS_STATUS_MS), look at the files, redraw the line. */
static void progress_tick(struct progress *p, const struct cmd_opts *o)
{
	long long now = now_ms();
	if (now >= p->next_status) {
		char text[8192], v[256];
		unsigned gen;
		p->next_status = now + PROGRESS_STATUS_MS;
		if (query_status(o, text, sizeof(text)) == 0 &&
		    status_value(text, "STATE=", v, sizeof(v)) == 0) {
			char ph[32];
			unsigned done, all;
			if (sscanf(v, "checkpointing generation %u (%31[a-z]: %u of %u", &gen, ph,
				   &done, &all) == 4) {
				p->gen = gen;
				snprintf(p->phase, sizeof(p->phase), "%s %u/%u", ph, done, all);
			} else {
				snprintf(p->phase, sizeof(p->phase), "%s", v);
			}
		}
		now = now_ms();
	}
	if (p->gen && p->ckptdir[0]) {
		uint64_t b = gen_bytes(p);
		if (b && !p->write_t0)
			p->write_t0 = now;
		if (b > p->bytes) {
			p->bytes = b;
			if (now > p->write_t0)
				p->rate = b * 1000.0 / (double)(now - p->write_t0);
		}
	}
	static const char spinner[] = "|/-\\";
	char line[512], size[32];
	int l = snprintf(line, sizeof(line), "%c checkpoint", spinner[p->spin++ % 4]);
	if (p->gen)
		l += snprintf(line + l, sizeof(line) - l, " %u", p->gen);
	l += snprintf(line + l, sizeof(line) - l, ": %.1f s", (now - p->t0) / 1000.0);
	if (p->phase[0])
		l += snprintf(line + l, sizeof(line) - l, ", %s", p->phase);
	if (p->bytes) {
		fmt_bytes(p->bytes, size, sizeof(size));
		l += snprintf(line + l, sizeof(line) - l, "; %s", size);
		if (p->rate > 0)
			l += snprintf(line + l, sizeof(line) - l, ", %.0f MB/s", p->rate / 1e6);
		if (p->rate > 0 && p->prev_bytes > p->bytes)
			snprintf(line + l, sizeof(line) - l, ", ETA %.0f s",
				 (p->prev_bytes - p->bytes) / p->rate + 0.5);
	}
	struct winsize ws;
	size_t width = ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 ? ws.ws_col - 1
										    : 79;
	if (width < sizeof(line))
		line[width] = '\0';
	printf("\r%s\033[K", line);
	fflush(stdout);
	p->shown = 1;
}

/* Remove the progress line before the final text. */
static void progress_end(struct progress *p)
{
	if (p->shown) {
		fputs("\r\033[K", stdout);
		fflush(stdout);
	}
	p->shown = 0;
}

/* Read CMD_REPLY messages until the last one; print them. Returns the exit status. */
static int read_replies(const struct cmd_opts *o, struct coord_conn *c, struct progress *p)
{
	int timeout = o->op == CMD_CKPT_BLOCKING ? -1 : REPLY_TIMEOUT_MS;
	if (p->on)
		timeout = PROGRESS_TICK_MS;
	for (;;) {
		struct proto_msg msg;
		struct proto_cmd_reply r;
		int rc = coord_recv(c, &msg, timeout);
		if (rc == -ETIMEDOUT && p->on) {
			progress_tick(p, o);
			continue;
		}
		progress_end(p);
		if (rc < 0) {
			fprintf(stderr,
				"dmtcp_command: lost the coordinator at %s:%d before its "
				"answer: %s\n",
				o->host, o->port,
				rc == -ECONNRESET ? "connection closed" : strerror(-rc));
			return 1;
		}
		if (msg.hdr.type == MSG_ERROR) {
			char text[PROTO_MAX_TEXT];
			if (proto_dec_error(&msg, text, sizeof(text)) < 0)
				snprintf(text, sizeof(text), "(malformed error)");
			fprintf(stderr, "dmtcp_command: coordinator error: %s\n", text);
			proto_msg_free(&msg);
			return 1;
		}
		if (proto_dec_cmd_reply(&msg, &r) < 0) {
			fprintf(stderr,
				"dmtcp_command: unexpected %s message from the coordinator\n",
				proto_type_name(msg.hdr.type));
			proto_msg_free(&msg);
			return 1;
		}
		fwrite(r.text, 1, r.text_len, r.status ? stderr : stdout);
		int more = r.more, status = r.status;
		proto_msg_free(&msg);
		if (!more)
			return status ? 2 : 0;
	}
}

int main(int argc, char **argv)
{
	struct cmd_opts o = {0};
	int rc = parse(argc, argv, &o);
	if (rc != 0)
		return rc > 0 ? 0 : 1;
	if (o.port_file && read_port_file(&o) < 0)
		return 1;
	struct coord_conn c;
	struct progress p;
	coord_conn_init(&c);
	int status = 1;
	if (open_session(&o, &c, 0) == 0) {
		progress_start(&p, &o);
		if (coord_send_cmd(&c, o.op, o.arg, REPLY_TIMEOUT_MS) < 0)
			fprintf(stderr, "dmtcp_command: cannot send the command: %s\n",
				strerror(errno));
		else
			status = read_replies(&o, &c, &p);
	}
	fflush(stdout);
	coord_close(&c);
	return status;
}
