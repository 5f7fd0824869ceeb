/*
 * coord_ckpt.c - the checkpoint state machine (docs/INTERFACES.md):
 *
 *   IDLE --request--> SUSPENDING (SUSPEND to all) --all SUSPENDED--> WRITING (WRITE to all)
 *        --all WRITTEN--> restart script written --> RESUMING (RESUME committed=1)
 *        --all RESUMED--> IDLE
 *
 * A failure (a WRITTEN with an error, a participant that disconnects after it was suspended,
 * the restart script that cannot be written) marks the checkpoint failed; the phase still waits
 * for the replies of the remaining participants, then RESUME committed=0 goes to them instead
 * of the next step. So a worker only ever gets RESUME after it answered the last request it
 * got. A participant that disconnects before answering SUSPEND (a process that ended) is just
 * left out; WRITE carries the final count of suspended processes.
 *
 * Invariants: ck.nparts counts the workers with w.in_ckpt; nsusp/nwritten/nresumed count
 * those of them in SUSPENDED/WRITTEN/RUNNING(after RESUME); every arriving message costs O(1),
 * only a phase change walks the table. Workers that join meanwhile are HELD (not counted) and
 * become RUNNING when the checkpoint ends.
 */
#define _GNU_SOURCE
#define LOG_PREFIX "coord"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord.h"
#include "log.h"

static const char *const state_names[] = {
    [WS_NONE] = "NONE",		  [WS_HELD] = "JOINING",
    [WS_RUNNING] = "RUNNING",	  [WS_SUSPENDING] = "SUSPENDING",
    [WS_SUSPENDED] = "SUSPENDED", [WS_WRITING] = "WRITING",
    [WS_WRITTEN] = "WRITTEN",	  [WS_RESUMING] = "RESUMING",
};

const char *coord_worker_state_name(enum worker_state s)
{
	return s <= WS_RESUMING ? state_names[s] : "?";
}

static void check_phase(struct coord *co);

static int is_part(const struct coord_client *c)
{
	return c->role == ROLE_WORKER && c->w.in_ckpt && !c->dropped;
}

/* Send one message (encoded in b) to every participant and move them to state s. */
static void broadcast(struct coord *co, struct proto_buf *b, enum worker_state s)
{
	if (proto_buf_finish(b, 0) < 0) {
		log_err("cannot encode %s", proto_type_name(b->type));
		proto_buf_free(b);
		return;
	}
	for (size_t i = 0; i < co->nclients; i++) {
		struct coord_client *c = co->clients[i];
		if (!is_part(c))
			continue;
		c->w.state = s;
		coord_client_send_raw(co, c, b->data, b->len);
	}
	proto_buf_free(b);
}

/* Answer every command client waiting for the current checkpoint. */
static void reply_waiters(struct coord *co, uint32_t status, const char *text, uint64_t bytes,
			  uint64_t ms)
{
	for (size_t i = 0; i < co->nclients; i++) {
		struct coord_client *c = co->clients[i];
		if (c->role == ROLE_CMD && c->waiting == WAIT_CURRENT && !c->dropped) {
			c->waiting = WAIT_NONE;
			coord_reply(co, c, status, text, co->ck.gen, bytes, ms);
		}
	}
}

static void fail(struct coord *co, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct coord *co, const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	log_err("checkpoint generation %u: %s", co->ck.gen, msg ? msg : fmt);
	if (!co->ck.failed) {
		co->ck.failed = 1;
		co->ck.fail_msg = msg;
	} else {
		free(msg);
	}
	coord_mpi_kick(co); /* MPI ranks still in their rounds would never answer SUSPEND */
}

void coord_ckpt_fail_text(struct coord *co, const char *text)
{
	if (co->ck.phase == CK_IDLE)
		return;
	fail(co, "%s", text);
	check_phase(co);
}

void coord_ckpt_check(struct coord *co)
{
	check_phase(co);
}

static void start(struct coord *co)
{
	struct coord_ckpt *ck = &co->ck;
	ck->gen = ck->next_gen++;
	ck->phase = CK_SUSPENDING;
	ck->nparts = ck->nsusp = ck->nwritten = ck->nresumed = ck->ncaptured = 0;
	ck->go_sent = 0;
	ck->failed = ck->committed = 0;
	free(ck->fail_msg);
	ck->fail_msg = NULL;
	ck->bytes = 0;
	ck->t_start_us = coord_now_us();
	for (size_t i = 0; i < co->nclients; i++) {
		struct coord_client *c = co->clients[i];
		if (c->role != ROLE_WORKER || c->dropped || c->w.state != WS_RUNNING)
			continue;
		c->w.in_ckpt = 1;
		c->w.captured = c->w.forked = 0;
		c->w.img_status = 0;
		c->w.img_bytes = 0;
		free(c->w.img_path);
		free(c->w.img_host);
		c->w.img_path = c->w.img_host = NULL;
		ck->nparts++;
	}
	coord_mpi_ckpt_start(co);
	log_info("checkpoint generation %u: suspending %zu processes", ck->gen, ck->nparts);
	if (ck->nparts == 0)
		fail(co, "no process could take part");
	struct proto_suspend s = {.generation = ck->gen, .nprocs = (uint32_t)ck->nparts};
	struct proto_buf b;
	proto_enc_suspend(&b, &s);
	broadcast(co, &b, WS_SUSPENDING);
	check_phase(co);
}

int coord_ckpt_request(struct coord *co, struct coord_client *waiter, char *msg, size_t n)
{
	struct coord_ckpt *ck = &co->ck;
	if (co->quitting) {
		snprintf(msg, n, "the coordinator is exiting: no checkpoint\n");
		return -1;
	}
	if (ck->phase != CK_IDLE) {
		ck->pending = 1;
		if (waiter)
			waiter->waiting = WAIT_NEXT;
		snprintf(msg, n,
			 "checkpoint generation %u is in progress; generation %u will "
			 "follow it\n",
			 ck->gen, ck->next_gen);
		return 0;
	}
	if (co->nworkers == 0) {
		snprintf(msg, n, "no processes are connected: nothing to checkpoint\n");
		return -1;
	}
	if (waiter)
		waiter->waiting = WAIT_CURRENT;
	snprintf(msg, n, "checkpoint generation %u started (%zu process%s)\n", ck->next_gen,
		 co->nworkers, co->nworkers == 1 ? "" : "es");
	start(co);
	return 0;
}

/* Failed: tell the waiters, RESUME committed=0 to the participants. */
static void abort_ckpt(struct coord *co)
{
	struct coord_ckpt *ck = &co->ck;
	char *text = NULL;
	if (asprintf(&text, "checkpoint generation %u failed: %s\n", ck->gen,
		     ck->fail_msg ? ck->fail_msg : "unknown error") < 0)
		text = NULL;
	reply_waiters(co, 1, text ? text : "checkpoint failed\n", 0, 0);
	free(text);
	log_warn("checkpoint generation %u abandoned; resuming %zu processes", ck->gen, ck->nparts);
	ck->committed = 0;
	ck->phase = CK_RESUMING;
	/* MPI ranks let go during their rounds got their RESUME already (coord_mpi_kick). */
	ck->nresumed = ck->mpi_nearly_resumed;
	struct proto_resume r = {.committed = 0};
	struct proto_buf b;
	proto_enc_resume(&b, &r);
	if (proto_buf_finish(&b, 0) < 0) {
		proto_buf_free(&b);
		return;
	}
	for (size_t i = 0; i < co->nclients; i++) {
		struct coord_client *c = co->clients[i];
		if (!is_part(c) || c->w.mpi_early)
			continue;
		c->w.state = WS_RESUMING;
		coord_client_send_raw(co, c, b.data, b.len);
	}
	proto_buf_free(&b);
}

/* Every image is durable: write the script, then RESUME committed=1. */
static void commit(struct coord *co)
{
	struct coord_ckpt *ck = &co->ck;
	char err[512];
	if (coord_write_restart_script(co, err, sizeof(err)) < 0) {
		fail(co, "%s", err);
		abort_ckpt(co);
		return;
	}
	ck->t_durable_us = coord_now_us();
	uint64_t ms = (uint64_t)(ck->t_durable_us - ck->t_start_us + 500) / 1000;
	ck->committed = 1;
	ck->last_gen = ck->gen;
	ck->last_bytes = ck->bytes;
	ck->last_ms = ms;
	ck->last_nprocs = ck->nparts;
	char size[32], text[256];
	coord_fmt_bytes(ck->bytes, size, sizeof(size));
	snprintf(text, sizeof(text),
		 "checkpoint generation %u complete: %zu process%s, %s written in %.3f s\n",
		 ck->gen, ck->nparts, ck->nparts == 1 ? "" : "es", size, ms / 1000.0);
	log_info("%.*s", (int)strlen(text) - 1, text);
	/* -bc is answered in finish(): then every process has also pointed its
	 * ckpt_<prog>_<upid>.dmtcp at this generation and pruned the old ones. */
	snprintf(ck->done_text, sizeof(ck->done_text), "%s", text);
	ck->phase = CK_RESUMING;
	ck->nresumed = 0;
	struct proto_resume r = {.committed = 1};
	struct proto_buf b;
	proto_enc_resume(&b, &r);
	broadcast(co, &b, WS_RESUMING);
}

static void finish(struct coord *co)
{
	struct coord_ckpt *ck = &co->ck;
	ck->phase = CK_IDLE;
	for (size_t i = 0; i < co->nclients; i++) {
		struct coord_client *c = co->clients[i];
		if (c->role != ROLE_WORKER)
			continue;
		c->w.in_ckpt = 0;
		if (c->w.state == WS_HELD || c->w.state == WS_RESUMING)
			c->w.state = WS_RUNNING;
	}
	log_debug("checkpoint generation %u over (%s)", ck->gen,
		  ck->committed ? "committed" : "abandoned");
	if (ck->committed)
		reply_waiters(co, 0, ck->done_text, ck->last_bytes, ck->last_ms);
	if (ck->committed && co->opt.exit_after_ckpt && !ck->exited_after) {
		ck->exited_after = 1;
		log_info("--exit-after-ckpt: killing the job and exiting");
		coord_do_quit(co);
		return;
	}
	coord_timer_rearm(co);
	if (!ck->pending)
		return;
	ck->pending = 0;
	for (size_t i = 0; i < co->nclients; i++)
		if (co->clients[i]->waiting == WAIT_NEXT)
			co->clients[i]->waiting = WAIT_CURRENT;
	if (co->nworkers == 0 || co->quitting) {
		reply_waiters(co, 1, "no processes are connected: nothing to checkpoint\n", 0, 0);
		return;
	}
	start(co);
}

static void check_phase(struct coord *co)
{
	struct coord_ckpt *ck = &co->ck;
	switch (ck->phase) {
	case CK_SUSPENDING:
		coord_mpi_maybe_round(co); /* a rank that may still register has answered */
		if (ck->nsusp < ck->nparts)
			return;
		/* Every participant ended before it could be suspended: nothing to save, and an
		 * empty generation must not replace the restart script of the last good one. */
		if (ck->nparts == 0 && !ck->failed)
			fail(co, "every process ended before it could be suspended");
		if (ck->failed) {
			abort_ckpt(co);
		} else {
			log_info("checkpoint generation %u: all %zu processes suspended, writing",
				 ck->gen, ck->nparts);
			ck->phase = CK_WRITING;
			struct proto_buf b;
			struct proto_suspend w = {ck->gen, (uint32_t)ck->nparts};
			proto_enc_write(&b, &w);
			broadcast(co, &b, WS_WRITING);
		}
		check_phase(co); /* nparts may be 0 */
		break;
	case CK_WRITING:
		if (ck->nwritten < ck->nparts)
			return;
		if (ck->failed)
			abort_ckpt(co);
		else
			commit(co);
		check_phase(co);
		break;
	case CK_RESUMING:
		if (ck->nresumed >= ck->nparts)
			finish(co);
		break;
	default:
		break;
	}
}

void coord_ckpt_worker_joined(struct coord *co, struct coord_client *c)
{
	c->w.in_ckpt = 0;
	c->w.state = co->ck.phase == CK_IDLE ? WS_RUNNING : WS_HELD;
	if (co->nworkers == 1)
		coord_timer_rearm(co); /* the interval counts from the first process */
}

void coord_ckpt_worker_gone(struct coord *co, struct coord_client *c)
{
	struct coord_ckpt *ck = &co->ck;
	if (!c->w.in_ckpt || ck->phase == CK_IDLE)
		return;
	char name[400];
	coord_worker_name(c, name, sizeof(name));
	coord_mpi_worker_gone(co, c);
	c->w.in_ckpt = 0;
	ck->nparts--;
	switch (ck->phase) {
	case CK_SUSPENDING:
		if (c->w.state == WS_SUSPENDED) {
			ck->nsusp--;
			fail(co, "%s disconnected after it was suspended (%s)", name,
			     c->drop_reason ? c->drop_reason : "connection closed");
		} else {
			/* It exited before it could be stopped (a short-lived child, say): there
			 * is nothing of it to save, and the generation goes on without it. */
			log_info("checkpoint generation %u: %s ended before it was suspended; "
				 "the generation goes on without it",
				 ck->gen, name);
		}
		break;
	case CK_WRITING:
		if (c->w.state == WS_WRITTEN)
			ck->nwritten--;
		if (c->w.captured)
			ck->ncaptured--;
		fail(co, "%s disconnected while writing its image (%s)", name,
		     c->drop_reason ? c->drop_reason : "connection closed");
		break;
	case CK_RESUMING:
		if (c->w.state == WS_RUNNING)
			ck->nresumed--;
		log_warn("%s disconnected while resuming", name);
		break;
	default:
		break;
	}
	check_phase(co);
}

/* A reply that does not fit the worker's state: late answers after an abandoned phase. */
static int unexpected(const struct coord_client *c, const char *what, enum worker_state want)
{
	if (c->w.in_ckpt && c->w.state == want)
		return 0;
	log_debug("ignoring %s from worker %u in state %s", what, c->w.vpid,
		  coord_worker_state_name(c->w.state));
	return 1;
}

void coord_ckpt_on_suspended(struct coord *co, struct coord_client *c)
{
	if (co->ck.phase != CK_SUSPENDING || unexpected(c, "SUSPENDED", WS_SUSPENDING))
		return;
	c->w.state = WS_SUSPENDED;
	co->ck.nsusp++;
	check_phase(co);
}

/* Forked checkpoints: once every process has its state captured (a copy-on-write child
 * writes the image), all may run again; -bc still waits for every WRITTEN. Sent once. */
static void maybe_go(struct coord *co)
{
	struct coord_ckpt *ck = &co->ck;
	if (ck->go_sent || ck->failed || ck->phase != CK_WRITING || ck->ncaptured < ck->nparts)
		return;
	ck->go_sent = 1;
	struct proto_buf b;
	proto_buf_init(&b, MSG_GO);
	if (proto_buf_finish(&b, 0) < 0) {
		proto_buf_free(&b);
		return;
	}
	for (size_t i = 0; i < co->nclients; i++) {
		struct coord_client *c = co->clients[i];
		if (is_part(c) && c->w.forked)
			coord_client_send_raw(co, c, b.data, b.len);
	}
	proto_buf_free(&b);
	log_debug("checkpoint generation %u: every process captured, letting them run",
		  ck->gen);
}

void coord_ckpt_on_captured(struct coord *co, struct coord_client *c)
{
	if (co->ck.phase != CK_WRITING || unexpected(c, "CAPTURED", WS_WRITING) || c->w.captured)
		return;
	c->w.captured = 1;
	c->w.forked = 1;
	co->ck.ncaptured++;
	maybe_go(co);
}

void coord_ckpt_on_written(struct coord *co, struct coord_client *c, const struct proto_written *m)
{
	struct coord_ckpt *ck = &co->ck;
	if (ck->phase != CK_WRITING || unexpected(c, "WRITTEN", WS_WRITING))
		return;
	c->w.state = WS_WRITTEN;
	ck->nwritten++;
	if (!c->w.captured) {
		c->w.captured = 1;
		ck->ncaptured++;
	}
	c->w.img_status = m->status;
	c->w.img_bytes = m->bytes;
	free(c->w.img_path);
	free(c->w.img_host);
	c->w.img_path = strdup(m->path);
	c->w.img_host = strdup(m->hostname[0] ? m->hostname : c->w.hostname);
	char name[400];
	const char *es = m->status ? strerror((int)m->status) : "";
	int said = m->text[0] && strstr(m->text, es); /* the text names the error already */
	if (m->status != 0)
		fail(co, "%s could not write its image: %s%s%s",
		     coord_worker_name(c, name, sizeof(name)), m->text, m->text[0] && !said ? ": " : "",
		     said ? "" : es);
	else if (m->path[0] != '/')
		fail(co, "%s reported a relative image path '%s'",
		     coord_worker_name(c, name, sizeof(name)), m->path);
	else if (!c->w.img_path || !c->w.img_host)
		fail(co, "out of memory");
	else
		ck->bytes += m->bytes;
	maybe_go(co);
	check_phase(co);
}

void coord_ckpt_on_resumed(struct coord *co, struct coord_client *c)
{
	if (coord_mpi_early_resumed(co, c))
		return;
	if (co->ck.phase != CK_RESUMING || unexpected(c, "RESUMED", WS_RESUMING))
		return;
	c->w.state = WS_RUNNING;
	co->ck.nresumed++;
	check_phase(co);
}

void coord_ckpt_on_timer(struct coord *co)
{
	if (co->ck.phase != CK_IDLE || co->nworkers == 0 || co->quitting)
		return;
	log_info("interval checkpoint (every %u s)", co->interval);
	start(co);
}

void coord_ckpt_fini(struct coord *co)
{
	free(co->ck.fail_msg);
	co->ck.fail_msg = NULL;
}
