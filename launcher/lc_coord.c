/*
 * lc_coord.c - finding or starting the job's coordinator for dmtcp_launch / dmtcp_restart.
 *
 * "A coordinator runs at host:port" means: something accepts a TCP connection there (the
 * probe connects and closes at once without a HELLO; the coordinator treats that as a
 * vanished client). A coordinator we start is `dmtcp_coordinator --daemon --exit-on-last -p P
 * --port-file F` from our own bin dir (or the build tree); we wait, bounded, until its port
 * file names a port that accepts connections, and fail with its exit status if it dies.
 * Only a coordinator on this host can be started.
 */
#define LOG_PREFIX lc_log_prefix /* "launch" or "restart": shared by both tools */
#include "launch_common.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define START_TIMEOUT_MS 15000
#define PROBE_TIMEOUT_MS 1000

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static struct addrinfo *resolve(const char *host, int port)
{
	char ps[16];
	snprintf(ps, sizeof(ps), "%d", port);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC};
	struct addrinfo *res = NULL;
	if (getaddrinfo(host, ps, &hints, &res))
		return NULL;
	return res;
}

/* Non-blocking connect with a timeout; 1 if it connected. */
static int try_connect(const struct addrinfo *ai)
{
	int fd =
	    socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return 0;
	int ok = 0;
	if (!connect(fd, ai->ai_addr, ai->ai_addrlen)) {
		ok = 1;
	} else if (errno == EINPROGRESS) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		if (poll(&p, 1, PROBE_TIMEOUT_MS) == 1) {
			int err = 0;
			socklen_t l = sizeof(err);
			ok = !getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) && err == 0;
		}
	}
	close(fd);
	return ok;
}

int lc_coord_reachable(const char *host, int port)
{
	if (port <= 0)
		return 0;
	struct addrinfo *res = resolve(host, port);
	int ok = 0;
	for (struct addrinfo *ai = res; ai && !ok; ai = ai->ai_next)
		ok = try_connect(ai);
	if (res)
		freeaddrinfo(res);
	return ok;
}

/* True if host names this machine: some address it resolves to can be bound here. */
static int host_is_local(const char *host)
{
	struct addrinfo *res = resolve(host, 0);
	int local = 0;
	for (struct addrinfo *ai = res; ai && !local; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		local = !bind(fd, ai->ai_addr, ai->ai_addrlen);
		close(fd);
	}
	if (res)
		freeaddrinfo(res);
	return local;
}

/* dmtcp_coordinator next to us, in the build tree, or on PATH. */
static int find_coordinator(const struct lc_opts *o, char *out, size_t n)
{
	char dir[LC_MAX_PATH];
	if (!lc_self_dir(dir, sizeof(dir))) {
		if (!lc_path_join(out, n, dir, "dmtcp_coordinator") && !access(out, X_OK))
			return 0;
		if (!lc_path_join(out, n, dir, "../coordinator/dmtcp_coordinator") &&
		    !access(out, X_OK))
			return 0;
	}
	const char *path = getenv("PATH");
	if (path && *path && !lc_resolve_program(NULL, "dmtcp_coordinator", out, n))
		return 0;
	lc_error(o,
		 "cannot find dmtcp_coordinator next to %s or on PATH; start one yourself "
		 "(dmtcp_coordinator --daemon) and use -j",
		 o->tool);
	return -1;
}

/* Read a port number from a port file; 0 if not (yet) there. */
static int read_port_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	char buf[32] = "";
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *nl = strchr(buf, '\n');
	if (!nl)
		return 0; /* not completely written yet */
	*nl = '\0';
	int port;
	if (lc_parse_int(buf, 1, 65535, &port))
		return 0;
	return port;
}

static int write_port_file(const struct lc_opts *o, const char *path, int port)
{
	char tmp[LC_MAX_PATH + 16];
	snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid());
	FILE *f = fopen(tmp, "w");
	if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f) || rename(tmp, path)) {
		lc_error(o, "cannot write port file %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static void spawn_child(const char *coord, char **argv)
{
	int fd = open("/dev/null", O_RDONLY);
	if (fd >= 0 && fd != 0) {
		dup2(fd, 0);
		close(fd);
	}
	setsid();
	execv(coord, argv);
	fprintf(stderr, "cannot execute %s: %s\n", coord, strerror(errno));
	_exit(127);
}

/* Wait until the started coordinator accepts on its port; fills o->port. */
static int wait_for_coordinator(struct lc_opts *o, pid_t pid, const char *pfile)
{
	long deadline = now_ms() + START_TIMEOUT_MS;
	int reaped = 0;
	while (now_ms() < deadline) {
		int st;
		if (!reaped && waitpid(pid, &st, WNOHANG) == pid) {
			reaped = 1;
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
				lc_error(
				    o,
				    "dmtcp_coordinator failed to start on port %d (%s %d); see "
				    "its messages above%s%s",
				    o->port, WIFEXITED(st) ? "exit status" : "signal",
				    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
				    o->coord_logfile ? " or in " : "",
				    o->coord_logfile ? o->coord_logfile : "");
				return -1;
			}
		}
		int port = read_port_file(pfile);
		if (port > 0 && lc_coord_reachable(o->host, port)) {
			o->port = port;
			return 0;
		}
		usleep(20000);
	}
	if (!reaped) { /* still in the foreground part: it will not come up, stop it */
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
	lc_error(o,
		 "the dmtcp_coordinator we started did not accept connections on %s within %d "
		 "s (port file %s)",
		 o->host, START_TIMEOUT_MS / 1000, pfile);
	return -1;
}

static int start_coordinator(struct lc_opts *o)
{
	if (!host_is_local(o->host)) {
		lc_error(o,
			 "no coordinator at %s:%d, and one can only be started on this host; "
			 "start dmtcp_coordinator on %s or use -h/-p",
			 o->host, o->port, o->host);
		return -1;
	}
	char coord[LC_MAX_PATH];
	if (find_coordinator(o, coord, sizeof(coord)))
		return -1;
	char pfile[LC_MAX_PATH];
	int tmp_pfile = !o->port_file;
	if (tmp_pfile) {
		int fd = -1;
		if (!lc_path_join(pfile, sizeof(pfile), o->tmpdir, "splitckpt-port-XXXXXX"))
			fd = mkstemp(pfile);
		if (fd < 0) {
			lc_error(o, "cannot create a port file in %s: %s (use --tmpdir)", o->tmpdir,
				 strerror(errno));
			return -1;
		}
		close(fd);
	} else {
		snprintf(pfile, sizeof(pfile), "%s", o->port_file);
		unlink(pfile); /* a stale port from an earlier run must not be read */
	}
	char port_s[16];
	snprintf(port_s, sizeof(port_s), "%d", o->port);
	char *argv[16];
	int a = 0;
	argv[a++] = coord;
	argv[a++] = "--daemon";
	argv[a++] = "--exit-on-last";
	argv[a++] = "--exit-if-unused"; /* the lower half failed before it joined */
	argv[a++] = "120";
	argv[a++] = "-p";
	argv[a++] = port_s;
	argv[a++] = "--port-file";
	argv[a++] = pfile;
	if (o->coord_logfile) {
		argv[a++] = "--coord-logfile";
		argv[a++] = (char *)o->coord_logfile;
	}
	if (o->ckptdir[0]) {
		argv[a++] = "--ckptdir";
		argv[a++] = (char *)o->ckptdir;
	}
	for (int q = 0; q < o->quiet && q < 2; q++)
		argv[a++] = "-q";
	argv[a] = NULL;
	log_debug("starting %s on port %d", coord, o->port);
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		lc_error(o, "cannot start dmtcp_coordinator: fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0)
		spawn_child(coord, argv);
	int rc = wait_for_coordinator(o, pid, pfile);
	if (tmp_pfile)
		unlink(pfile);
	if (!rc)
		o->started_coord = 1;
	if (!rc && o->quiet == 0)
		log_info("started a coordinator at %s:%d", o->host, o->port);
	return rc;
}

int lc_coord_ensure(struct lc_opts *o)
{
	switch (o->mode) {
	case LC_COORD_NO:
		return 0;
	case LC_COORD_JOIN:
		if (o->port == 0) {
			lc_error(o, "-j needs the port of a running coordinator (-p PORT), not 0");
			return -1;
		}
		if (!lc_coord_reachable(o->host, o->port)) {
			lc_error(o,
				 "no coordinator at %s:%d; start one (dmtcp_coordinator --daemon "
				 "-p %d) or drop -j",
				 o->host, o->port, o->port);
			return -1;
		}
		break;
	case LC_COORD_NEW:
		if (o->port && lc_coord_reachable(o->host, o->port)) {
			lc_error(o,
				 "a coordinator already runs at %s:%d; join it with -j or pick "
				 "another port (-p 0 chooses a free one)",
				 o->host, o->port);
			return -1;
		}
		return start_coordinator(o);
	case LC_COORD_ANY:
	case LC_COORD_NONE_SET:
		if (o->port == 0 || !lc_coord_reachable(o->host, o->port))
			return start_coordinator(o);
		break;
	}
	if (o->port_file && write_port_file(o, o->port_file, o->port))
		return -1;
	return 0;
}
