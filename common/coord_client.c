/*
 * coord_client.c - implementation of coord_client.h: connect with timeout, framed send and
 * resumable framed receive over a blocking TCP socket, waits done with poll().
 *
 * Invariants: c->rhdr_got < PROTO_HDR_SIZE means we are still reading a header; once the
 * header is complete and checked, c->rpayload holds exactly rh.len bytes (never more than
 * PROTO_MAX_PAYLOAD). A conn marked broken is never framed again.
 */
#include "coord_client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int fail(int e)
{
	errno = e;
	return -e;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left until deadline (-1 = forever) as a poll timeout. */
static int left_ms(int64_t deadline)
{
	if (deadline < 0)
		return -1;
	int64_t d = deadline - now_ms();
	return d <= 0 ? 0 : d > 1000000000 ? 1000000000 : (int)d;
}

static int64_t deadline_of(int timeout_ms) { return timeout_ms < 0 ? -1 : now_ms() + timeout_ms; }

/* Wait for events on fd until deadline: 0 ready, -ETIMEDOUT, or -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		int n = poll(&p, 1, left_ms(deadline));
		if (n > 0)
			return 0;
		if (n == 0)
			return fail(ETIMEDOUT);
		if (errno != EINTR)
			return fail(errno);
	}
}

void coord_conn_init(struct coord_conn *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	pthread_mutex_init(&c->send_lock, NULL);
	pthread_mutex_init(&c->recv_lock, NULL);
}

int coord_conn_fd(const struct coord_conn *c) { return c->fd; }

static void reset_recv(struct coord_conn *c)
{
	free(c->rpayload);
	c->rpayload = NULL;
	c->rpayload_got = 0;
	c->rhdr_got = 0;
}

void coord_close(struct coord_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->broken = 0;
	c->send_seq = 0;
	reset_recv(c);
}

/* One non-blocking connect attempt to ai, finished within deadline. Returns fd or -errno. */
static int try_connect(const struct addrinfo *ai, int64_t deadline)
{
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return fail(errno);
	int rc = 0;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			rc = -errno;
		} else if ((rc = wait_fd(fd, POLLOUT, deadline)) == 0) {
			int soerr = 0;
			socklen_t sl = sizeof(soerr);
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
				rc = -errno;
			else if (soerr)
				rc = -soerr;
		}
	}
	if (rc < 0) {
		close(fd);
		return fail(-rc);
	}
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	return fd;
}

int coord_connect(struct coord_conn *c, const char *host, int port, int timeout_ms)
{
	if (port <= 0 || port > 65535 || !host || !*host)
		return fail(EINVAL);
	coord_close(c);
	int64_t deadline = deadline_of(timeout_ms);
	char service[16];
	snprintf(service, sizeof(service), "%d", port);
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	int g = getaddrinfo(host, service, &hints, &res);
	if (g != 0)
		return fail(g == EAI_SYSTEM ? errno : ENXIO);
	int rc = -ENXIO;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		rc = try_connect(ai, deadline);
		if (rc >= 0)
			break;
	}
	freeaddrinfo(res);
	if (rc < 0)
		return fail(-rc);
	c->fd = rc;
	return 0;
}

/* Write all of p[0..n) within deadline; a partial write then timeout breaks the conn. */
static int send_all(struct coord_conn *c, const uint8_t *p, size_t n, int64_t deadline)
{
	size_t done = 0;
	while (done < n) {
		ssize_t w = send(c->fd, p + done, n - done, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			done += w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		int rc = w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
			     ? wait_fd(c->fd, POLLOUT, deadline)
			     : -(w < 0 ? errno : EPIPE);
		if (rc < 0) {
			if (done > 0 || rc != -ETIMEDOUT)
				c->broken = 1;
			return fail(-rc);
		}
	}
	return 0;
}

int coord_send(struct coord_conn *c, struct proto_buf *b, int timeout_ms)
{
	int rc;
	pthread_mutex_lock(&c->send_lock);
	if (c->fd < 0 || c->broken)
		rc = fail(c->fd < 0 ? ENOTCONN : EPIPE);
	else if ((rc = proto_buf_finish(b, c->send_seq + 1)) == 0) {
		rc = send_all(c, b->data, b->len, deadline_of(timeout_ms));
		if (rc == 0)
			c->send_seq++;
	}
	pthread_mutex_unlock(&c->send_lock);
	proto_buf_free(b);
	return rc < 0 ? fail(-rc) : 0;
}

int coord_send_empty(struct coord_conn *c, uint32_t type, int timeout_ms)
{
	struct proto_buf b;
	proto_buf_init(&b, type);
	return coord_send(c, &b, timeout_ms);
}

/* Read into p[*got..want) what is available, waiting until deadline for the first byte.
 * 0 when complete, -ETIMEDOUT (progress kept), -ECONNRESET on EOF, -errno. */
static int recv_some(struct coord_conn *c, uint8_t *p, size_t want, size_t *got, int64_t deadline)
{
	while (*got < want) {
		ssize_t r = recv(c->fd, p + *got, want - *got, MSG_DONTWAIT);
		if (r > 0) {
			*got += r;
			continue;
		}
		if (r == 0)
			return fail(ECONNRESET);
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return fail(errno);
		int rc = wait_fd(c->fd, POLLIN, deadline);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int recv_locked(struct coord_conn *c, struct proto_msg *msg, int64_t deadline)
{
	int rc;
	if (c->fd < 0 || c->broken)
		return fail(c->fd < 0 ? ENOTCONN : EPIPE);
	if (c->rhdr_got < PROTO_HDR_SIZE) {
		rc = recv_some(c, c->rhdr, PROTO_HDR_SIZE, &c->rhdr_got, deadline);
		if (rc < 0)
			goto out;
		proto_hdr_decode(c->rhdr, &c->rh);
		if ((rc = proto_hdr_check(&c->rh)) < 0)
			goto out;
		if (c->rh.len) {
			c->rpayload = malloc(c->rh.len);
			if (!c->rpayload) {
				rc = -ENOMEM;
				goto out;
			}
		}
		c->rpayload_got = 0;
	}
	rc = recv_some(c, c->rpayload, c->rh.len, &c->rpayload_got, deadline);
	if (rc < 0)
		goto out;
	msg->hdr = c->rh;
	msg->payload = msg->owned = c->rpayload;
	c->rpayload = NULL;
	c->rpayload_got = 0;
	c->rhdr_got = 0;
	return 0;
out:
	if (rc != -ETIMEDOUT)
		c->broken = 1;
	return fail(-rc);
}

int coord_recv(struct coord_conn *c, struct proto_msg *msg, int timeout_ms)
{
	msg->payload = msg->owned = NULL;
	memset(&msg->hdr, 0, sizeof(msg->hdr));
	pthread_mutex_lock(&c->recv_lock);
	int rc = recv_locked(c, msg, deadline_of(timeout_ms));
	pthread_mutex_unlock(&c->recv_lock);
	return rc < 0 ? fail(-rc) : 0;
}

int coord_send_written(struct coord_conn *c, const struct proto_written *w, int timeout_ms)
{
	struct proto_buf b;
	proto_enc_written(&b, w);
	return coord_send(c, &b, timeout_ms);
}

int coord_send_barrier(struct coord_conn *c, const char *name, uint32_t count, int timeout_ms)
{
	struct proto_barrier m = {.count = count};
	if (snprintf(m.name, sizeof(m.name), "%s", name) >= (int)sizeof(m.name))
		return fail(ENAMETOOLONG);
	struct proto_buf b;
	proto_enc_barrier(&b, &m);
	return coord_send(c, &b, timeout_ms);
}

int coord_send_cmd(struct coord_conn *c, uint32_t op, uint32_t arg, int timeout_ms)
{
	struct proto_cmd m = {.op = op, .arg = arg};
	struct proto_buf b;
	proto_enc_cmd(&b, &m);
	return coord_send(c, &b, timeout_ms);
}

/* Send the encoded hello b, then wait for WELCOME or ERROR. */
static int hello(struct coord_conn *c, struct proto_buf *b, struct proto_welcome *welcome,
		 char *errbuf, size_t errsz, int timeout_ms)
{
	int64_t deadline = deadline_of(timeout_ms);
	if (errbuf && errsz)
		errbuf[0] = '\0';
	int rc = coord_send(c, b, timeout_ms);
	if (rc < 0)
		return rc;
	struct proto_msg msg;
	rc = coord_recv(c, &msg, left_ms(deadline));
	if (rc < 0)
		return rc;
	if (msg.hdr.type == MSG_ERROR) {
		char text[PROTO_MAX_TEXT];
		if (proto_dec_error(&msg, text, sizeof(text)) < 0)
			snprintf(text, sizeof(text), "malformed error message");
		if (errbuf && errsz)
			snprintf(errbuf, errsz, "%s", text);
		rc = -EACCES;
	} else {
		struct proto_welcome tmp;
		rc = proto_dec_welcome(&msg, welcome ? welcome : &tmp);
		if (rc < 0 && errbuf && errsz)
			snprintf(errbuf, errsz, "unexpected %s message instead of WELCOME",
				 proto_type_name(msg.hdr.type));
	}
	proto_msg_free(&msg);
	if (rc < 0)
		c->broken = 1;
	return rc < 0 ? fail(-rc) : 0;
}

int coord_hello_worker(struct coord_conn *c, const struct proto_hello_worker *h,
		       struct proto_welcome *welcome, char *errbuf, size_t errsz, int timeout_ms)
{
	struct proto_buf b;
	proto_enc_hello_worker(&b, h);
	return hello(c, &b, welcome, errbuf, errsz, timeout_ms);
}

int coord_hello_cmd(struct coord_conn *c, const char *secret, struct proto_welcome *welcome,
		    char *errbuf, size_t errsz, int timeout_ms)
{
	struct proto_hello_cmd m;
	snprintf(m.secret, sizeof(m.secret), "%s", secret ? secret : "");
	struct proto_buf b;
	proto_enc_hello_cmd(&b, &m);
	return hello(c, &b, welcome, errbuf, errsz, timeout_ms);
}
