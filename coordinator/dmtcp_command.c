/*
 * dmtcp_command.c - sends one command to a running coordinator and prints its answer
 * (DMTCP's dmtcp_command: -s, -l, -c, -bc, -i N, -k, -q).
 *
 * Exit status: 0 done; 1 usage error, no coordinator, no secret, or the coordinator refused us;
 * 2 the coordinator answered that the command failed (e.g. a checkpoint failed).
 * -bc waits without a time limit: it returns when every image of the generation is durable
 * (or the checkpoint failed). Other commands wait at most 30 s for their answer.
 */
#define LOG_PREFIX "dmtcp_command"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_client.h"
#include "log.h"
#include "secret.h"

#define CONNECT_TIMEOUT_MS 5000
#define REPLY_TIMEOUT_MS 30000

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

/* Connect and say hello. 0 or -1 (message printed). */
static int open_session(const struct cmd_opts *o, struct coord_conn *c)
{
	int rc = coord_connect(c, o->host, o->port, CONNECT_TIMEOUT_MS);
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
	if (rc < 0) {
		char path[4200];
		if (secret_path(o->port, path, sizeof(path)) < 0)
			snprintf(path, sizeof(path), "~/.splitckpt/coord-%d.secret", o->port);
		fprintf(stderr,
			"dmtcp_command: cannot get the job secret of the coordinator at %s:%d: %s: "
			"%s (set SPLITCKPT_SECRET, or run where that file is)\n",
			o->host, o->port, getenv("SPLITCKPT_SECRET") ? "SPLITCKPT_SECRET" : path,
			strerror(-rc));
		return -1;
	}
	rc = coord_hello_cmd(c, secret, NULL, err, sizeof(err), REPLY_TIMEOUT_MS);
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

/* Read CMD_REPLY messages until the last one; print them. Returns the exit status. */
static int read_replies(const struct cmd_opts *o, struct coord_conn *c)
{
	int timeout = o->op == CMD_CKPT_BLOCKING ? -1 : REPLY_TIMEOUT_MS;
	for (;;) {
		struct proto_msg msg;
		struct proto_cmd_reply r;
		int rc = coord_recv(c, &msg, timeout);
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
	coord_conn_init(&c);
	int status = 1;
	if (open_session(&o, &c) == 0) {
		if (coord_send_cmd(&c, o.op, o.arg, REPLY_TIMEOUT_MS) < 0)
			fprintf(stderr, "dmtcp_command: cannot send the command: %s\n",
				strerror(errno));
		else
			status = read_replies(&o, &c);
	}
	fflush(stdout);
	coord_close(&c);
	return status;
}
