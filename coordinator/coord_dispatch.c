/*
 * coord_dispatch.c - what the coordinator does with each checked message: the HELLOs (secret,
 * role), the worker messages (handed to coord_ckpt.c / coord_barrier.c) and dmtcp_command's
 * commands, plus the actions commands and keys share (kill, quit, interval).
 *
 * Invariants: a connection has exactly one role, fixed by its first message; a message that
 * is malformed or not allowed for the sender's role gets MSG_ERROR and a closed connection.
 */
#define _GNU_SOURCE
#define LOG_PREFIX "coord"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord.h"
#include "log.h"

#define REPLY_CHUNK (256u << 10) /* CMD_REPLY text per message, well below PROTO_MAX_PAYLOAD */

void coord_reply(struct coord *co, struct coord_client *c, uint32_t status, const char *text,
		 uint32_t gen, uint64_t bytes, uint64_t ms)
{
	size_t len = strlen(text), off = 0;
	do {
		size_t n = len - off;
		if (n > REPLY_CHUNK) { /* cut after a newline when there is one */
			n = REPLY_CHUNK;
			const char *nl = memrchr(text + off, '\n', n);
			if (nl)
				n = nl - (text + off) + 1;
		}
		int last = off + n == len;
		struct proto_cmd_reply r = {.status = status,
					    .more = !last,
					    .text = text + off,
					    .text_len = (uint32_t)n,
					    .generation = last ? gen : 0,
					    .bytes = last ? bytes : 0,
					    .ms = last ? ms : 0};
		struct proto_buf b;
		proto_enc_cmd_reply(&b, &r);
		coord_client_send(co, c, &b);
		off += n;
	} while (off < len);
}

static void send_welcome(struct coord *co, struct coord_client *c)
{
	struct proto_welcome w = {
	    .coord_id = co->job_id, .next_gen = co->ck.next_gen, .interval = co->interval};
	snprintf(w.ckptdir, sizeof(w.ckptdir), "%s", co->ckptdir);
	struct proto_buf b;
	proto_enc_welcome(&b, &w);
	coord_client_send(co, c, &b);
}

static char *dup_or_empty(const char *s)
{
	char *d = strdup(s ? s : "");
	if (!d)
		log_err("out of memory");
	return d;
}

static void on_hello_worker(struct coord *co, struct coord_client *c, const struct proto_msg *msg)
{
	struct proto_hello_worker *h = malloc(sizeof(*h)); /* ~13 KiB: not on the stack */
	if (!h) {
		coord_client_drop(co, c, "out of memory");
		return;
	}
	if (proto_dec_hello_worker(msg, h) < 0) {
		coord_client_reject(co, c, "malformed HELLO_WORKER");
		goto out;
	}
	if (!secret_equal(h->secret, co->secret)) {
		coord_client_reject(co, c,
				    "wrong job secret (this coordinator belongs to another "
				    "job or user)");
		goto out;
	}
	if (co->quitting) {
		coord_client_reject(co, c, "the coordinator is exiting");
		goto out;
	}
	c->role = ROLE_WORKER;
	c->w.vpid = h->vpid;
	c->w.pid = h->real_pid;
	c->w.restarted_from = h->restarted_from;
	c->w.uniquepid = dup_or_empty(h->uniquepid);
	c->w.progname = dup_or_empty(h->progname);
	c->w.hostname = dup_or_empty(h->hostname);
	c->w.cmdline = dup_or_empty(h->cmdline);
	co->nworkers++;
	co->ever_joined = 1;
	if (h->restarted_from && h->restarted_from + 1 > co->ck.next_gen)
		co->ck.next_gen = h->restarted_from + 1;
	if (h->restarted_from > co->ck.last_gen)
		co->ck.last_gen = h->restarted_from;
	if (h->interval && h->interval != co->interval) {
		log_info("checkpoint interval set to %u s by %s", h->interval, c->w.progname);
		co->interval = h->interval;
		coord_timer_rearm(co);
	}
	coord_ckpt_worker_joined(co, c);
	send_welcome(co, c);
	char name[400];
	coord_worker_name(c, name, sizeof(name));
	if (h->restarted_from)
		log_info("%s joined, restarted from generation %u (%zu process%s)", name,
			 h->restarted_from, co->nworkers, co->nworkers == 1 ? "" : "es");
	else
		log_info("%s joined (%zu process%s)", name, co->nworkers,
			 co->nworkers == 1 ? "" : "es");
out:
	free(h);
}

static void on_hello_cmd(struct coord *co, struct coord_client *c, const struct proto_msg *msg)
{
	struct proto_hello_cmd h;
	if (proto_dec_hello_cmd(msg, &h) < 0) {
		coord_client_reject(co, c, "malformed HELLO_CMD");
		return;
	}
	if (!secret_equal(h.secret, co->secret)) {
		coord_client_reject(co, c,
				    "wrong job secret (this coordinator belongs to another "
				    "job or user)");
		return;
	}
	c->role = ROLE_CMD;
	send_welcome(co, c);
}

void coord_do_kill(struct coord *co)
{
	size_t n = 0;
	for (size_t i = 0; i < co->nclients; i++) {
		struct coord_client *c = co->clients[i];
		if (c->role == ROLE_WORKER && !c->dropped) {
			coord_client_send_empty(co, c, MSG_KILL);
			n++;
		}
	}
	log_info("kill sent to %zu processes", n);
}

void coord_do_quit(struct coord *co)
{
	coord_do_kill(co);
	coord_begin_quit(co);
}

void coord_set_interval(struct coord *co, uint32_t secs)
{
	co->interval = secs;
	coord_timer_rearm(co);
	if (secs)
		log_info("checkpoint interval set to %u s", secs);
	else
		log_info("interval checkpoints turned off");
}

static void reply_text(struct coord *co, struct coord_client *c, char *text)
{
	if (!text)
		coord_reply(co, c, 1, "coordinator out of memory\n", 0, 0, 0);
	else
		coord_reply(co, c, 0, text, 0, 0, 0);
	free(text);
}

static void on_cmd(struct coord *co, struct coord_client *c, const struct proto_msg *msg)
{
	struct proto_cmd m;
	char line[512];
	if (proto_dec_cmd(msg, &m) < 0) {
		coord_client_reject(co, c, "malformed CMD");
		return;
	}
	log_debug("command %s(%u) from %s", proto_cmd_name(m.op), m.arg, c->peer);
	switch (m.op) {
	case CMD_STATUS:
		reply_text(co, c, coord_status_text(co));
		break;
	case CMD_LIST:
		reply_text(co, c, coord_list_text(co));
		break;
	case CMD_CKPT:
	case CMD_CKPT_BLOCKING: {
		int blocking = m.op == CMD_CKPT_BLOCKING;
		if (blocking && c->waiting != WAIT_NONE) {
			coord_reply(co, c, 1, "this connection already waits for a checkpoint\n", 0,
				    0, 0);
			break;
		}
		int rc = coord_ckpt_request(co, blocking ? c : NULL, line, sizeof(line));
		if (rc < 0 || !blocking)
			coord_reply(co, c, rc < 0, line, 0, 0, 0);
		break;
	}
	case CMD_INTERVAL:
		coord_set_interval(co, m.arg);
		if (m.arg)
			snprintf(line, sizeof(line), "checkpoint interval set to %u s\n", m.arg);
		else
			snprintf(line, sizeof(line), "interval checkpoints turned off\n");
		coord_reply(co, c, 0, line, 0, 0, 0);
		break;
	case CMD_KILL:
		snprintf(line, sizeof(line), "killing the %zu process%s of the job\n",
			 co->nworkers, co->nworkers == 1 ? "" : "es");
		coord_do_kill(co);
		coord_reply(co, c, 0, line, 0, 0, 0);
		break;
	case CMD_QUIT:
		snprintf(line, sizeof(line),
			 "killing the %zu process%s of the job; the coordinator exits\n",
			 co->nworkers, co->nworkers == 1 ? "" : "es");
		coord_reply(co, c, 0, line, 0, 0, 0);
		log_info("quit requested by %s", c->peer);
		coord_do_quit(co);
		break;
	default:
		coord_client_reject(co, c, "unknown command %u", m.op);
		break;
	}
}

static void on_worker_msg(struct coord *co, struct coord_client *c, const struct proto_msg *msg)
{
	switch (msg->hdr.type) {
	case MSG_SUSPENDED:
		if (proto_dec_empty(msg, MSG_SUSPENDED) < 0)
			break;
		coord_ckpt_on_suspended(co, c);
		return;
	case MSG_RESUMED:
		if (proto_dec_empty(msg, MSG_RESUMED) < 0)
			break;
		coord_ckpt_on_resumed(co, c);
		return;
	case MSG_CAPTURED:
		if (proto_dec_empty(msg, MSG_CAPTURED) < 0)
			break;
		coord_ckpt_on_captured(co, c);
		return;
	case MSG_WRITTEN: {
		struct proto_written *m = malloc(sizeof(*m));
		if (!m) {
			coord_client_drop(co, c, "out of memory");
			return;
		}
		int rc = proto_dec_written(msg, m);
		if (rc == 0)
			coord_ckpt_on_written(co, c, m);
		free(m);
		if (rc == 0)
			return;
		break;
	}
	case MSG_MPI:
		coord_mpi_on_msg(co, c, msg);
		return;
	case MSG_BARRIER: {
		struct proto_barrier m;
		if (proto_dec_barrier(msg, &m) < 0)
			break;
		coord_barrier_enter(co, c, &m);
		return;
	}
	default:
		coord_client_reject(co, c, "a worker may not send %s",
				    proto_type_name(msg->hdr.type));
		return;
	}
	coord_client_reject(co, c, "malformed %s", proto_type_name(msg->hdr.type));
}

void coord_dispatch(struct coord *co, struct coord_client *c, const struct proto_msg *msg)
{
	switch (c->role) {
	case ROLE_NEW:
		if (msg->hdr.type == MSG_HELLO_WORKER)
			on_hello_worker(co, c, msg);
		else if (msg->hdr.type == MSG_HELLO_CMD)
			on_hello_cmd(co, c, msg);
		else
			coord_client_reject(co, c, "expected HELLO_WORKER or HELLO_CMD, got %s",
					    proto_type_name(msg->hdr.type));
		break;
	case ROLE_WORKER:
		on_worker_msg(co, c, msg);
		break;
	case ROLE_CMD:
		if (msg->hdr.type == MSG_CMD)
			on_cmd(co, c, msg);
		else
			coord_client_reject(co, c, "a command client may not send %s",
					    proto_type_name(msg->hdr.type));
		break;
	default:
		break;
	}
}
