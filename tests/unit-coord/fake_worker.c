/*
 * fake_worker.c - TEST PEER ONLY, not a product component. It speaks the worker side of the
 * coordinator protocol through common/coord_client.h the way the lower half's checkpoint
 * thread will, but has no application: on WRITE it writes a small dummy "image" file (temp
 * name, fsync, rename) and reports it. Its --mode makes it misbehave on purpose so the tests
 * can check the coordinator's failure handling.
 *
 * Prints one line per event on stdout ("welcome", "suspend", "written", "resume", "barrier",
 * "killed") for the test driver to grep. Exit: 0 after KILL, 3 when the coordinator goes away,
 * 1 on errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "coord_client.h"
#include "secret.h"

enum mode { MODE_NORMAL = 0, MODE_DIE_ON_SUSPEND, MODE_DIE_ON_WRITE, MODE_FAIL_WRITE };

struct fw {
	const char *host;
	int port;
	uint32_t vpid, restarted_from, interval;
	const char *prog, *dir, *ready_file, *barrier;
	char hostname[PROTO_MAX_HOST];
	char uniquepid[PROTO_MAX_NAME];
	enum mode mode;
	int slow_ms;
	uint32_t gen;
};

static void out(const struct fw *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(const struct fw *f, const char *fmt, ...)
{
	va_list ap;
	printf("fake_worker %u: ", f->vpid);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void nap(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int read_port(const char *file)
{
	FILE *fp = fopen(file, "r");
	int p = 0;
	if (!fp || fscanf(fp, "%d", &p) != 1)
		p = 0;
	if (fp)
		fclose(fp);
	return p;
}

static int mkdirs(const char *d)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s", d);
	for (char *p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(tmp, 0755);
			*p = '/';
		}
	return mkdir(tmp, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

/* Write a dummy image of gen into f->dir; fill w. */
static void write_image(struct fw *f, struct proto_written *w)
{
	char dir[PATH_MAX], path[PATH_MAX + 600], tmp[PATH_MAX + 640];
	memset(w, 0, sizeof(*w));
	snprintf(w->hostname, sizeof(w->hostname), "%s", f->hostname);
	if (mkdirs(f->dir) < 0 || !realpath(f->dir, dir)) {
		w->status = errno;
		snprintf(w->text, sizeof(w->text), "cannot use %s", f->dir);
		return;
	}
	snprintf(path, sizeof(path), "%s/gen-%06u", dir, f->gen);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/gen-%06u/ckpt_%s_%s.dmtcp", dir, f->gen, f->prog,
		 f->uniquepid);
	if (strlen(path) >= sizeof(w->path)) {
		w->status = ENAMETOOLONG;
		return;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	size_t size = 1000 * (f->vpid % 100 + 1);
	char *buf = calloc(1, size);
	if (fd < 0 || !buf || write(fd, buf, size) != (ssize_t)size || fsync(fd) < 0 ||
	    rename(tmp, path) < 0) {
		w->status = errno ? errno : EIO;
		snprintf(w->text, sizeof(w->text), "cannot write %.3000s", path);
	} else {
		w->bytes = size;
		memcpy(w->path, path, strlen(path) + 1);
	}
	free(buf);
	if (fd >= 0)
		close(fd);
}

static int on_message(struct fw *f, struct coord_conn *c, struct proto_msg *m)
{
	switch (m->hdr.type) {
	case MSG_SUSPEND: {
		struct proto_suspend s;
		if (proto_dec_suspend(m, &s) < 0)
			return -1;
		f->gen = s.generation;
		out(f, "suspend generation %u nprocs %u", s.generation, s.nprocs);
		if (f->mode == MODE_DIE_ON_SUSPEND) {
			out(f, "dying on purpose while suspending");
			exit(4);
		}
		nap(f->slow_ms);
		return coord_send_empty(c, MSG_SUSPENDED, 5000);
	}
	case MSG_WRITE: {
		struct proto_suspend ws;
		if (proto_dec_write(m, &ws) < 0)
			return -1;
		if (f->mode == MODE_DIE_ON_WRITE) {
			out(f, "dying on purpose while writing");
			exit(4);
		}
		nap(f->slow_ms);
		struct proto_written w;
		write_image(f, &w);
		if (f->mode == MODE_FAIL_WRITE) {
			w.status = ENOSPC;
			snprintf(w.text, sizeof(w.text), "simulated failure of worker %u", f->vpid);
		}
		out(f, "written %s status %u", w.path, w.status);
		return coord_send_written(c, &w, 5000);
	}
	case MSG_RESUME: {
		struct proto_resume r;
		if (proto_dec_resume(m, &r) < 0)
			return -1;
		out(f, "resume generation %u committed=%u", f->gen, r.committed);
		return coord_send_empty(c, MSG_RESUMED, 5000);
	}
	case MSG_KILL:
		out(f, "killed");
		exit(0);
	case MSG_BARRIER_DONE: {
		char name[PROTO_MAX_NAME];
		if (proto_dec_barrier_done(m, name, sizeof(name)) < 0)
			return -1;
		out(f, "barrier %s done", name);
		return 0;
	}
	case MSG_ERROR: {
		char text[PROTO_MAX_TEXT];
		proto_dec_error(m, text, sizeof(text));
		out(f, "error from coordinator: %s", text);
		return -1;
	}
	default:
		out(f, "unexpected %s", proto_type_name(m->hdr.type));
		return -1;
	}
}

static int parse(int argc, char **argv, struct fw *f)
{
	static const struct option lo[] = {{"host", 1, 0, 'H'},	     {"port", 1, 0, 'p'},
					   {"port-file", 1, 0, 'P'}, {"vpid", 1, 0, 'v'},
					   {"prog", 1, 0, 'n'},	     {"hostname", 1, 0, 'N'},
					   {"dir", 1, 0, 'd'},	     {"mode", 1, 0, 'm'},
					   {"slow-ms", 1, 0, 's'},   {"restarted-from", 1, 0, 'r'},
					   {"interval", 1, 0, 'i'},  {"ready-file", 1, 0, 'R'},
					   {"barrier", 1, 0, 'b'},   {0, 0, 0, 0}};
	int c;
	f->host = "localhost";
	f->prog = "fake_worker";
	f->dir = "images";
	f->vpid = (uint32_t)getpid();
	gethostname(f->hostname, sizeof(f->hostname) - 1);
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'H':
			f->host = optarg;
			break;
		case 'p':
			f->port = atoi(optarg);
			break;
		case 'P':
			f->port = read_port(optarg);
			break;
		case 'v':
			f->vpid = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'n':
			f->prog = optarg;
			break;
		case 'N':
			snprintf(f->hostname, sizeof(f->hostname), "%s", optarg);
			break;
		case 'd':
			f->dir = optarg;
			break;
		case 's':
			f->slow_ms = atoi(optarg);
			break;
		case 'r':
			f->restarted_from = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'i':
			f->interval = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'R':
			f->ready_file = optarg;
			break;
		case 'b':
			f->barrier = optarg;
			break;
		case 'm':
			if (!strcmp(optarg, "normal"))
				f->mode = MODE_NORMAL;
			else if (!strcmp(optarg, "die-on-suspend"))
				f->mode = MODE_DIE_ON_SUSPEND;
			else if (!strcmp(optarg, "die-on-write"))
				f->mode = MODE_DIE_ON_WRITE;
			else if (!strcmp(optarg, "fail-write"))
				f->mode = MODE_FAIL_WRITE;
			else
				return -1;
			break;
		default:
			return -1;
		}
	}
	snprintf(f->uniquepid, sizeof(f->uniquepid), "%016lx-%u-%lx", (long)gethostid(), f->vpid,
		 (long)time(NULL));
	return f->port > 0 ? 0 : -1;
}

/* Enter the --barrier NAME:COUNT. */
static int enter_barrier(struct fw *f, struct coord_conn *c)
{
	char name[PROTO_MAX_NAME];
	snprintf(name, sizeof(name), "%s", f->barrier);
	char *colon = strrchr(name, ':');
	if (!colon)
		return -1;
	*colon = '\0';
	return coord_send_barrier(c, name, (uint32_t)atoi(colon + 1), 5000);
}

int main(int argc, char **argv)
{
	struct fw f = {0};
	if (parse(argc, argv, &f) < 0) {
		fprintf(stderr,
			"usage: fake_worker --port P|--port-file F [--vpid N] [--prog NAME] "
			"[--hostname H] [--dir D] [--mode normal|die-on-suspend|die-on-write|"
			"fail-write] [--slow-ms MS] [--restarted-from G] [--interval S] "
			"[--ready-file F] [--barrier NAME:COUNT]\n");
		return 1;
	}
	static struct proto_hello_worker h;
	if (secret_load(f.port, h.secret) < 0) {
		perror("fake_worker: secret");
		return 1;
	}
	h.vpid = f.vpid;
	h.real_pid = (uint32_t)getpid();
	h.restarted_from = f.restarted_from;
	h.interval = f.interval;
	snprintf(h.uniquepid, sizeof(h.uniquepid), "%s", f.uniquepid);
	snprintf(h.progname, sizeof(h.progname), "%s", f.prog);
	snprintf(h.hostname, sizeof(h.hostname), "%s", f.hostname);
	snprintf(h.cmdline, sizeof(h.cmdline), "%s --vpid %u", argv[0], f.vpid);

	struct coord_conn c;
	coord_conn_init(&c);
	struct proto_welcome w;
	char err[PROTO_MAX_TEXT];
	int rc = coord_connect(&c, f.host, f.port, 5000);
	if (rc == 0)
		rc = coord_hello_worker(&c, &h, &w, err, sizeof(err), 5000);
	if (rc < 0) {
		fprintf(stderr, "fake_worker %u: cannot join %s:%d: %s %s\n", f.vpid, f.host,
			f.port, strerror(-rc), rc == -EACCES ? err : "");
		return 1;
	}
	out(&f, "welcome job %016llx next_gen %u interval %u ckptdir '%s'",
	    (unsigned long long)w.coord_id, w.next_gen, w.interval, w.ckptdir);
	if (f.ready_file) {
		int fd = open(f.ready_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0)
			close(fd);
	}
	if (f.barrier && enter_barrier(&f, &c) < 0) {
		fprintf(stderr, "fake_worker %u: bad --barrier\n", f.vpid);
		return 1;
	}
	for (;;) {
		struct proto_msg m;
		rc = coord_recv(&c, &m, -1);
		if (rc < 0) {
			out(&f, "coordinator gone: %s", strerror(-rc));
			coord_close(&c);
			return 3;
		}
		rc = on_message(&f, &c, &m);
		proto_msg_free(&m);
		if (rc < 0) {
			out(&f, "protocol failure");
			coord_close(&c);
			return 1;
		}
	}
}
