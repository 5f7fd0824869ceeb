/*
 * coord_clients.c - the client table and per-connection I/O of the coordinator.
 *
 * Owns: struct coord_client allocation, its input buffer (raw bytes until a whole message is
 * there), its output buffer (bytes the socket did not take yet), and closing.
 * Invariants: a header is checked (magic, len <= PROTO_MAX_PAYLOAD, known type) before the
 * input buffer is grown for its payload, so a peer can make us hold at most one maximal
 * message; the output buffer of one peer never exceeds COORD_MAX_WBUF (the peer is dropped).
 * A client leaves the table only in coord_reap (see coord.h).
 */
#define _GNU_SOURCE
#define LOG_PREFIX "coord"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coord.h"
#include "log.h"

#define RBUF_MIN 4096

struct coord_client *coord_client_new(struct coord *co, int fd, const char *peer)
{
	if (co->nclients == co->cap) {
		size_t cap = co->cap ? co->cap * 2 : 64;
		struct coord_client **p = realloc(co->clients, cap * sizeof(*p));
		if (!p)
			return NULL;
		co->clients = p;
		co->cap = cap;
	}
	struct coord_client *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->ev.kind = EV_CLIENT;
	c->id = ++co->next_client_id;
	c->fd = fd;
	c->role = ROLE_NEW;
	c->t_accept_us = coord_now_us();
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
	if (epoll_ctl(co->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		log_perror("cannot watch the connection from %s", peer);
		free(c);
		return NULL;
	}
	c->idx = co->nclients;
	co->clients[co->nclients++] = c;
	return c;
}

const char *coord_worker_name(const struct coord_client *c, char *buf, size_t n)
{
	if (c->role == ROLE_WORKER)
		snprintf(buf, n, "worker %u (%s on %s)", c->w.vpid, c->w.progname, c->w.hostname);
	else
		snprintf(buf, n, "%s %s", c->role == ROLE_CMD ? "command client" : "peer", c->peer);
	return buf;
}

void coord_client_drop(struct coord *co, struct coord_client *c, const char *fmt, ...)
{
	if (c->dropped)
		return;
	c->dropped = 1;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&c->drop_reason, fmt, ap) < 0)
		c->drop_reason = NULL;
	va_end(ap);
	c->next_dropped = co->dropped;
	co->dropped = c;
}

void coord_client_reject(struct coord *co, struct coord_client *c, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (c->dropped)
		return;
	struct proto_buf b;
	proto_enc_error(&b, text);
	coord_client_send(co, c, &b);
	char name[400];
	log_warn("closing connection of %s: %s", coord_worker_name(c, name, sizeof(name)), text);
	coord_client_drop(co, c, "%s", text);
}

static void set_want_out(struct coord *co, struct coord_client *c, int on)
{
	if (c->want_out == on)
		return;
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
	if (epoll_ctl(co->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->want_out = on;
}

void coord_client_flush(struct coord *co, struct coord_client *c)
{
	while (c->woff < c->wlen) {
		ssize_t w =
		    send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			c->woff += w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!c->dropped)
				set_want_out(co, c, 1);
			return;
		}
		c->woff = c->wlen; /* give up on the rest */
		coord_client_drop(co, c, "write failed: %s", w < 0 ? strerror(errno) : "EOF");
		break;
	}
	c->woff = c->wlen = 0;
	if (!c->dropped)
		set_want_out(co, c, 0);
}

void coord_client_send_raw(struct coord *co, struct coord_client *c, const uint8_t *msg, size_t len)
{
	if (c->dropped)
		return; /* nothing more is going to reach it */
	size_t pending = c->wlen - c->woff;
	if (pending + len > COORD_MAX_WBUF) {
		coord_client_drop(co, c, "it does not read its messages (%zu bytes queued)",
				  pending);
		return;
	}
	if (c->woff && c->wlen + len > c->wcap) { /* compact first */
		memmove(c->wbuf, c->wbuf + c->woff, pending);
		c->wlen = pending;
		c->woff = 0;
	}
	if (c->wlen + len > c->wcap) {
		size_t cap = c->wcap ? c->wcap : 1024;
		while (cap < c->wlen + len)
			cap *= 2;
		uint8_t *p = realloc(c->wbuf, cap);
		if (!p) {
			coord_client_drop(co, c, "out of memory for its output");
			return;
		}
		c->wbuf = p;
		c->wcap = cap;
	}
	uint8_t *dst = c->wbuf + c->wlen;
	memcpy(dst, msg, len);
	c->seq++;
	dst[12] = c->seq; /* header seq, little endian */
	dst[13] = c->seq >> 8;
	dst[14] = c->seq >> 16;
	dst[15] = c->seq >> 24;
	c->wlen += len;
	coord_client_flush(co, c);
}

void coord_client_send(struct coord *co, struct coord_client *c, struct proto_buf *b)
{
	if (proto_buf_finish(b, 0) < 0)
		log_err("cannot encode a %s message: %s", proto_type_name(b->type),
			strerror(-b->err));
	else
		coord_client_send_raw(co, c, b->data, b->len);
	proto_buf_free(b);
}

void coord_client_send_empty(struct coord *co, struct coord_client *c, uint32_t type)
{
	struct proto_buf b;
	proto_buf_init(&b, type);
	coord_client_send(co, c, &b);
}

int coord_clients_flushed(const struct coord *co)
{
	for (size_t i = 0; i < co->nclients; i++)
		if (co->clients[i]->wlen > co->clients[i]->woff)
			return 0;
	return 1;
}

/* Frame and dispatch whole messages in c->rbuf. Returns the bytes consumed. */
static size_t parse_input(struct coord *co, struct coord_client *c)
{
	size_t off = 0;
	while (!c->dropped && c->rlen - off >= PROTO_HDR_SIZE) {
		struct proto_hdr h;
		proto_hdr_decode(c->rbuf + off, &h);
		int rc = proto_hdr_check(&h);
		if (rc == -EPROTO) {
			coord_client_reject(co, c,
					    "bad magic 0x%08x (not a splitckpt peer, or "
					    "another protocol version)",
					    h.magic_ver);
		} else if (rc == -EMSGSIZE) {
			coord_client_reject(co, c, "message length %u above the limit %u", h.len,
					    PROTO_MAX_PAYLOAD);
		} else if (rc < 0) {
			coord_client_reject(co, c, "unknown message type %u", h.type);
		}
		if (rc < 0)
			break;
		size_t need = PROTO_HDR_SIZE + (size_t)h.len;
		if (c->rlen - off < need) {
			if (need > c->rcap) { /* checked above: need <= HDR + MAX_PAYLOAD */
				memmove(c->rbuf, c->rbuf + off, c->rlen - off);
				c->rlen -= off;
				off = 0;
				uint8_t *p = realloc(c->rbuf, need);
				if (!p) {
					coord_client_drop(co, c, "out of memory for its input");
					break;
				}
				c->rbuf = p;
				c->rcap = need;
			}
			break;
		}
		struct proto_msg msg = {.hdr = h, .payload = c->rbuf + off + PROTO_HDR_SIZE};
		coord_dispatch(co, c, &msg);
		off += need;
	}
	return off;
}

void coord_client_on_readable(struct coord *co, struct coord_client *c)
{
	if (c->dropped)
		return;
	if (c->rcap < RBUF_MIN) {
		uint8_t *p = realloc(c->rbuf, RBUF_MIN);
		if (!p) {
			coord_client_drop(co, c, "out of memory for its input");
			return;
		}
		c->rbuf = p;
		c->rcap = RBUF_MIN;
	}
	if (c->rlen == c->rcap) { /* cannot happen: parse_input consumes or grows */
		coord_client_drop(co, c, "input buffer full");
		return;
	}
	ssize_t n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, MSG_DONTWAIT);
	if (n == 0) {
		coord_client_drop(co, c, "%s",
				  c->rlen ? "closed in the middle of a message" : "disconnected");
		return;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			coord_client_drop(co, c, "read failed: %s", strerror(errno));
		return;
	}
	c->rlen += n;
	size_t used = parse_input(co, c);
	if (used) {
		memmove(c->rbuf, c->rbuf + used, c->rlen - used);
		c->rlen -= used;
	}
	if (c->rlen == 0 && c->rcap > 16 * RBUF_MIN) { /* give back a big message's room */
		free(c->rbuf);
		c->rbuf = NULL;
		c->rcap = 0;
	}
}

static void client_free(struct coord_client *c)
{
	free(c->rbuf);
	free(c->wbuf);
	free(c->drop_reason);
	free(c->w.uniquepid);
	free(c->w.progname);
	free(c->w.hostname);
	free(c->w.cmdline);
	free(c->w.img_path);
	free(c->w.img_host);
	coord_mpi_free_worker(c);
	free(c);
}

/* Remove c from the table and the kernel; its departure effects are already done. */
static void client_close(struct coord *co, struct coord_client *c)
{
	if (c->wlen > c->woff)
		coord_client_flush(co, c); /* one last try, e.g. for an ERROR */
	epoll_ctl(co->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	shutdown(c->fd, SHUT_WR);
	close(c->fd);
	struct coord_client *last = co->clients[--co->nclients];
	co->clients[c->idx] = last;
	last->idx = c->idx;
	client_free(c);
}

/* Departure effects of a worker: counters, barriers, exit-on-last. */
static void worker_left(struct coord *co, struct coord_client *c)
{
	char name[400];
	coord_worker_name(c, name, sizeof(name));
	coord_barrier_leave(co, c);
	coord_ckpt_worker_gone(co, c);
	co->nworkers--;
	log_info("%s left: %s (%zu process%s remain%s)", name,
		 c->drop_reason ? c->drop_reason : "disconnected", co->nworkers,
		 co->nworkers == 1 ? "" : "es", co->nworkers == 1 ? "s" : "");
	if (co->nworkers == 0 && co->ever_joined && co->opt.exit_on_last && !co->quitting) {
		log_info("last process gone and --exit-on-last given: exiting");
		coord_begin_quit(co);
	}
}

void coord_reap(struct coord *co)
{
	while (co->dropped) {
		struct coord_client *c = co->dropped;
		co->dropped = c->next_dropped;
		if (c->role == ROLE_WORKER)
			worker_left(co, c); /* may drop more clients: the loop takes them too */
		else
			log_debug("connection %s closed: %s", c->peer,
				  c->drop_reason ? c->drop_reason : "");
		client_close(co, c);
	}
}

void coord_clients_sweep(struct coord *co)
{
	int64_t limit = coord_now_us() - (int64_t)COORD_HELLO_TIMEOUT_S * 1000000;
	if (co->opt.exit_unused && !co->ever_joined && !co->quitting &&
	    coord_now_us() - co->t_start_us > (int64_t)co->opt.exit_unused * 1000000) {
		log_info("no process joined within %u s; exiting (--exit-if-unused)",
			 co->opt.exit_unused);
		coord_begin_quit(co);
	}
	for (size_t i = 0; i < co->nclients; i++) {
		struct coord_client *c = co->clients[i];
		if (c->role == ROLE_NEW && !c->dropped && c->t_accept_us < limit)
			coord_client_reject(co, c, "no HELLO within %d s", COORD_HELLO_TIMEOUT_S);
	}
}

void coord_client_free_all(struct coord *co)
{
	for (size_t i = 0; i < co->nclients; i++) {
		struct coord_client *c = co->clients[i];
		close(c->fd);
		client_free(c);
	}
	free(co->clients);
	co->clients = NULL;
	co->nclients = co->cap = 0;
	co->dropped = NULL;
}
