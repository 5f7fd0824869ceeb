/*
 * coord_loop.c - the coordinator's event loop: listening socket, epoll, interval timerfd, a
 * 5-second housekeeping timerfd (drops connections that never say HELLO), signalfd
 * (SIGINT/SIGTERM/SIGHUP), and the keyboard on stdin.
 *
 * Invariants: every fd is non-blocking and close-on-exec; epoll is level-triggered, one read per
 * readiness per client so no peer can starve the others; dropped clients are reaped after each
 * epoll batch (coord.h). The loop never sleeps except in epoll_wait.
 */
#define _GNU_SOURCE
#define LOG_PREFIX "coord"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "coord.h"
#include "log.h"

static char stdin_line[1024];
static size_t stdin_len;
static int spare_fd = -1; /* given up when accept hits EMFILE */

int coord_listen(struct coord *co)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "dmtcp_coordinator: cannot create a socket: %s\n", strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(co->opt.port),
				 .sin_addr.s_addr = htonl(INADDR_ANY)};
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EADDRINUSE)
			fprintf(
			    stderr,
			    "dmtcp_coordinator: port %d is in use on %s (another coordinator?); "
			    "use -p 0 --port-file F or another port\n",
			    co->opt.port, co->hostname);
		else
			fprintf(stderr, "dmtcp_coordinator: cannot bind port %d: %s\n",
				co->opt.port, strerror(errno));
		close(fd);
		return -1;
	}
	if (listen(fd, SOMAXCONN) < 0) {
		fprintf(stderr, "dmtcp_coordinator: cannot listen on port %d: %s\n", co->opt.port,
			strerror(errno));
		close(fd);
		return -1;
	}
	socklen_t sl = sizeof(sa);
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	co->port = ntohs(sa.sin_port);
	co->listen_fd = fd;
	return 0;
}

static int watch(struct coord *co, int fd, struct coord_ev *ev, enum coord_ev_kind kind)
{
	ev->kind = kind;
	struct epoll_event e = {.events = EPOLLIN, .data.ptr = ev};
	if (epoll_ctl(co->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
		log_perror("cannot watch fd %d", fd);
		return -1;
	}
	return 0;
}

/* The keyboard is read only in the foreground and only from a terminal or a pipe. */
static int stdin_usable(const struct coord *co)
{
	struct stat st;
	if (co->opt.daemon || fstat(0, &st) < 0)
		return 0;
	if (isatty(0)) /* not when started in the background of a shell (SIGTTIN) */
		return tcgetpgrp(0) == getpgrp();
	return S_ISFIFO(st.st_mode);
}

int coord_loop_init(struct coord *co)
{
	co->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (co->epfd < 0) {
		log_perror("epoll_create1");
		return -1;
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTTIN, SIG_IGN); /* a read of the terminal from the background fails instead */
	co->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	co->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	co->sweep_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (co->signal_fd < 0 || co->timer_fd < 0 || co->sweep_fd < 0) {
		log_perror("cannot create the signal/timer fds");
		return -1;
	}
	if (watch(co, co->listen_fd, &co->ev_listen, EV_LISTEN) < 0 ||
	    watch(co, co->signal_fd, &co->ev_signal, EV_SIGNAL) < 0 ||
	    watch(co, co->timer_fd, &co->ev_timer, EV_TIMER) < 0 ||
	    watch(co, co->sweep_fd, &co->ev_sweep, EV_SWEEP) < 0)
		return -1;
	/* every 5 s; every second while an --exit-if-unused below that may still fire */
	time_t every = co->opt.exit_unused && co->opt.exit_unused < 5 ? 1 : 5;
	struct itimerspec sweep = {.it_value.tv_sec = every, .it_interval.tv_sec = every};
	timerfd_settime(co->sweep_fd, 0, &sweep, NULL);
	co->stdin_fd = -1;
	if (stdin_usable(co) && watch(co, 0, &co->ev_stdin, EV_STDIN) == 0)
		co->stdin_fd = 0;
	spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	coord_timer_rearm(co);
	return 0;
}

void coord_timer_rearm(struct coord *co)
{
	struct itimerspec its = {0};
	if (co->interval) {
		its.it_value.tv_sec = co->interval;
		its.it_interval.tv_sec = co->interval;
	}
	if (co->timer_fd >= 0)
		timerfd_settime(co->timer_fd, 0, &its, NULL);
}

void coord_begin_quit(struct coord *co)
{
	if (co->quitting)
		return;
	co->quitting = 1;
	co->quit_deadline_ms = coord_now_us() / 1000 + COORD_QUIT_GRACE_MS;
	if (co->listen_fd >= 0) {
		epoll_ctl(co->epfd, EPOLL_CTL_DEL, co->listen_fd, NULL);
		close(co->listen_fd);
		co->listen_fd = -1;
	}
	for (size_t i = 0; i < co->nclients; i++) {
		struct coord_client *c = co->clients[i];
		if (c->role == ROLE_CMD && c->waiting != WAIT_NONE) {
			c->waiting = WAIT_NONE;
			coord_reply(co, c, 1, "the coordinator is exiting\n", 0, 0, 0);
		}
	}
}

static void on_accept(struct coord *co)
{
	for (int i = 0; i < 64; i++) { /* then let the others run */
		struct sockaddr_in sa;
		socklen_t sl = sizeof(sa);
		int fd = accept4(co->listen_fd, (struct sockaddr *)&sa, &sl,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				log_err("out of file descriptors: refusing a connection");
				if (spare_fd >= 0) { /* accept and close it, or it stays pending */
					close(spare_fd);
					fd = accept(co->listen_fd, NULL, NULL);
					if (fd >= 0)
						close(fd);
					spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
				}
			} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
				   errno != ECONNABORTED) {
				log_perror("accept");
			}
			return;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
		char peer[64], ip[INET_ADDRSTRLEN] = "?";
		inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
		snprintf(peer, sizeof(peer), "%s:%d", ip, ntohs(sa.sin_port));
		if (!coord_client_new(co, fd, peer)) {
			log_err("cannot take the connection from %s", peer);
			close(fd);
		}
	}
}

static void on_timer(struct coord *co)
{
	uint64_t n;
	if (read(co->timer_fd, &n, sizeof(n)) == (ssize_t)sizeof(n))
		coord_ckpt_on_timer(co);
}

static void on_signal(struct coord *co)
{
	struct signalfd_siginfo si;
	if (read(co->signal_fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;
	log_info("%s received: exiting (the processes of the job keep running)",
		 strsignal(si.ssi_signo));
	co->stop = 1;
}

static void on_stdin(struct coord *co)
{
	char buf[512];
	ssize_t n = read(0, buf, sizeof(buf));
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0)
			log_warn("stopped reading keys: %s", strerror(errno));
		epoll_ctl(co->epfd, EPOLL_CTL_DEL, 0, NULL); /* EOF: keep running without keys */
		co->stdin_fd = -1;
		if (stdin_len) {
			stdin_line[stdin_len] = '\0';
			stdin_len = 0;
			coord_keys_line(co, stdin_line);
		}
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\n' || stdin_len == sizeof(stdin_line) - 1) {
			stdin_line[stdin_len] = '\0';
			stdin_len = 0;
			coord_keys_line(co, stdin_line);
		}
		if (buf[i] != '\n')
			stdin_line[stdin_len++] = buf[i];
	}
}

static void on_event(struct coord *co, const struct epoll_event *e)
{
	struct coord_ev *ev = e->data.ptr;
	switch (ev->kind) {
	case EV_LISTEN:
		if (co->listen_fd >= 0)
			on_accept(co);
		break;
	case EV_TIMER:
		on_timer(co);
		break;
	case EV_SIGNAL:
		on_signal(co);
		break;
	case EV_SWEEP: {
		uint64_t n;
		if (read(co->sweep_fd, &n, sizeof(n)) == (ssize_t)sizeof(n))
			coord_clients_sweep(co);
		break;
	}
	case EV_STDIN:
		on_stdin(co);
		break;
	case EV_CLIENT: {
		struct coord_client *c = (struct coord_client *)ev;
		if (e->events & EPOLLOUT)
			coord_client_flush(co, c);
		if (e->events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			coord_client_on_readable(co, c);
		break;
	}
	default:
		break;
	}
}

int coord_loop_run(struct coord *co)
{
	struct epoll_event evs[64];
	while (!co->stop) {
		int timeout = -1;
		if (co->quitting) {
			int64_t left = co->quit_deadline_ms - coord_now_us() / 1000;
			if (co->nworkers == 0 && coord_clients_flushed(co))
				break;
			if (left <= 0) {
				log_warn("%zu processes did not go away; exiting anyway",
					 co->nworkers);
				break;
			}
			timeout = (int)left;
		}
		int n = epoll_wait(co->epfd, evs, 64, timeout);
		if (n < 0 && errno != EINTR) {
			log_perror("epoll_wait");
			return -1;
		}
		for (int i = 0; i < n; i++)
			on_event(co, &evs[i]);
		coord_reap(co);
	}
	return 0;
}

void coord_loop_fini(struct coord *co)
{
	int *fds[] = {&co->listen_fd, &co->timer_fd, &co->sweep_fd,
		      &co->signal_fd, &co->epfd,     &spare_fd};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}
