/*
 * coord_main.c - dmtcp_coordinator: start-up (options, directories, listening socket, job
 * secret, port file, daemon mode), the loop, and a clean shutdown.
 *
 * Start-up order matters: the socket is bound and the secret and port file are written before
 * --daemon detaches, so that "port in use" and every other start-up error reach the user and
 * the exit status, and a script that waits for the port file can connect at once.
 */
#define LOG_PREFIX "coord"
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "coord.h"
#include "log.h"

int64_t coord_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* mkdir -p dir (mode 0755 for what we create). */
static int mkdir_p(const char *dir)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s", dir) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
		return -1;
	struct stat st;
	if (stat(tmp, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return access(tmp, W_OK | X_OK);
}

/* Resolve the directories: ckptdir (created), where scripts go, tmpdir, our own dir. */
static int setup_dirs(struct coord *co)
{
	if (co->opt.ckptdir) {
		if (mkdir_p(co->opt.ckptdir) < 0 || !realpath(co->opt.ckptdir, co->ckptdir)) {
			fprintf(stderr,
				"dmtcp_coordinator: cannot use checkpoint directory '%s': %s\n",
				co->opt.ckptdir, strerror(errno));
			return -1;
		}
		snprintf(co->scriptdir, sizeof(co->scriptdir), "%s", co->ckptdir);
	} else if (!getcwd(co->scriptdir, sizeof(co->scriptdir))) {
		fprintf(stderr, "dmtcp_coordinator: cannot get the current directory: %s\n",
			strerror(errno));
		return -1;
	}
	const char *t = co->opt.tmpdir ? co->opt.tmpdir : getenv("TMPDIR");
	if (!t || !*t)
		t = "/tmp";
	if (mkdir_p(t) < 0 || !realpath(t, co->tmpdir)) {
		fprintf(stderr, "dmtcp_coordinator: cannot use temporary directory '%s': %s\n", t,
			strerror(errno));
		return -1;
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		snprintf(co->self_dir, sizeof(co->self_dir), "%s", dirname(exe));
	} else {
		snprintf(co->self_dir, sizeof(co->self_dir), "/usr/bin");
	}
	return 0;
}

/* Write the port number to path: temp file + rename, so a reader sees all or nothing. */
static int write_port_file(const char *path, int port)
{
	char tmp[PATH_MAX + 32];
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	FILE *fp = fopen(tmp, "w");
	int ok = fp && fprintf(fp, "%d\n", port) > 0;
	if (fp && fclose(fp) != 0)
		ok = 0;
	if (!ok || rename(tmp, path) < 0) {
		fprintf(stderr, "dmtcp_coordinator: cannot write port file '%s': %s\n", path,
			strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Detach: the parent exits 0, the child runs in its own session with stdio on /dev/null. */
static int daemonize(void)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "dmtcp_coordinator: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid > 0)
		_exit(0);
	setsid();
	int fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	return 0;
}

static void banner(const struct coord *co)
{
	log_info("dmtcp_coordinator (splitckpt %s) listening on %s:%d, job id %016llx",
		 SPLITCKPT_VERSION, co->hostname, co->port, (unsigned long long)co->job_id);
	if (co->interval)
		log_info("checkpoint interval: %u s", co->interval);
	else
		log_info("checkpoint interval: none (checkpoint on request)");
	log_info("restart scripts go to %s%s%s", co->scriptdir,
		 co->opt.exit_on_last ? "; exit on last process" : "",
		 co->opt.exit_after_ckpt ? "; exit after the first checkpoint" : "");
	if (co->stdin_fd >= 0)
		log_info("type '?' and Enter for the keyboard commands");
}

/* One fd per process of the job: take all the descriptors we are allowed. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int start(struct coord *co)
{
	raise_fd_limit();
	if (setup_dirs(co) < 0)
		return -1;
	if (co->opt.logfile) {
		co->logfp = fopen(co->opt.logfile, "a");
		if (!co->logfp) {
			fprintf(stderr, "dmtcp_coordinator: cannot open log file '%s': %s\n",
				co->opt.logfile, strerror(errno));
			return -1;
		}
		setvbuf(co->logfp, NULL, _IOLBF, 0);
		fcntl(fileno(co->logfp), F_SETFD, FD_CLOEXEC);
		log_set_file(co->logfp);
	}
	if (secret_random_u64(&co->job_id) < 0 || secret_generate(co->secret) < 0) {
		fprintf(stderr, "dmtcp_coordinator: no random numbers: %s\n", strerror(errno));
		return -1;
	}
	if (coord_listen(co) < 0)
		return -1;
	int rc = secret_write(co->port, co->secret);
	if (rc < 0) {
		char path[PATH_MAX];
		if (secret_path(co->port, path, sizeof(path)) < 0)
			snprintf(path, sizeof(path), "$SPLITCKPT_STATE_DIR or $HOME/.splitckpt");
		fprintf(stderr, "dmtcp_coordinator: cannot write the job secret to %s: %s\n", path,
			strerror(-rc));
		return -1;
	}
	co->secret_written = 1;
	if (co->opt.port_file && write_port_file(co->opt.port_file, co->port) < 0)
		return -1;
	if (co->opt.daemon && daemonize() < 0)
		return -1;
	if (coord_loop_init(co) < 0)
		return -1;
	banner(co);
	return 0;
}

int main(int argc, char **argv)
{
	static struct coord co; /* large: keep it off the stack */
	int rc = coord_parse_options(argc, argv, &co.opt);
	if (rc != 0)
		return rc > 0 ? 0 : 1;
	log_set_quiet(co.opt.quiet);
	co.listen_fd = co.timer_fd = co.sweep_fd = co.signal_fd = co.epfd = co.stdin_fd = -1;
	co.interval = co.opt.interval;
	co.ck.next_gen = 1;
	if (gethostname(co.hostname, sizeof(co.hostname) - 1) < 0)
		snprintf(co.hostname, sizeof(co.hostname), "localhost");
	int status = 1;
	co.t_start_us = coord_now_us();
	if (start(&co) == 0 && coord_loop_run(&co) == 0)
		status = 0;
	if (co.secret_written)
		secret_remove(co.port, co.secret);
	coord_ckpt_fini(&co);
	coord_barrier_fini(&co);
	coord_client_free_all(&co);
	coord_loop_fini(&co);
	if (status == 0)
		log_info("coordinator exiting");
	log_set_file(NULL);
	if (co.logfp)
		fclose(co.logfp);
	return status;
}
