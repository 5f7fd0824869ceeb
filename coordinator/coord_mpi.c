/*
 * coord_mpi.c - the coordinator's part of checkpointing MPI ranks (docs/mpi-ckpt.md section 3).
 *
 * A worker becomes an MPI rank with MPI_REGISTER (rank, size, thread level, launcher). During
 * the SUSPENDING phase of a checkpoint the MPI ranks run rounds before they answer SUSPEND:
 * each reports, per communicator (gid), how many collectives it entered (seq) and whether a
 * thread waits at its door for the next one (want). Round 0 (the answers to SUSPEND) gives
 * the first targets T[gid] = max seq. In later rounds a rank reports as soon as it is
 * settled (AT: at its targets and QUIET, or STALLED: it cannot go on by itself) and again
 * whenever that changes; the coordinator keeps each rank's latest report of the round and
 * decides as soon as they allow it: final when every rank is AT and every gid has one seq
 * on all members; else, when every rank is settled, the targets rise to the wants (the only
 * way forward then) and the next round starts; if there is nothing to raise it waits for
 * the next update (no new round, no message). Targets only grow. After the final targets
 * each rank reports OUT once no thread of it is inside MPI; when all have, they get the go
 * for the drain (final LH_MPI_FINAL_DRAIN), so that no rank enters the drain while another
 * still has a thread inside MPI (which then abandons the checkpoint with MPI_ERROR after
 * SPLITCKPT_MPI_STUCK_S). The ranks then drain, park and answer SUSPENDED, and the rest of
 * the checkpoint is the same as for any process.
 *
 * A failure during the rounds (MPI_ERROR, a rank that disconnected) cannot wait for SUSPENDED
 * answers that will never come: the ranks still in their rounds get RESUME committed=0 at
 * once (coord_mpi_kick) and count as answered; their RESUMED may arrive before the other
 * processes have answered SUSPEND (coord_mpi_early_resumed).
 *
 * A rank whose MPI_REGISTER arrives during SUSPENDING (its MPI_Init raced the checkpoint; the
 * lower half then registers before it reports round 0) joins the rounds. So that it is not
 * left out, round 0 is not completed while the job has fewer MPI ranks in the checkpoint than
 * its size and a participant that is not an MPI rank has not answered SUSPEND yet (a process
 * before MPI_Init answers SUSPENDED like any process; one that registers does so first).
 *
 * Cost: O(entries) per report; O(total entries) per decision, taken only once every rank
 * has a report of the round (with an open-addressing table of gids); no per-process waiting.
 * The phase times of an MPI checkpoint (rounds, drain + suspend, write, resume) are logged
 * (info) when its last rank has resumed.
 */
#define _GNU_SOURCE
#define LOG_PREFIX "coord"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord.h"
#include "log.h"

static int is_mpi_part(const struct coord_client *c)
{
	return c->role == ROLE_WORKER && !c->dropped && c->w.in_ckpt && c->w.mpi &&
	       !c->w.mpi_finalized && !c->w.mpi_early;
}

void coord_mpi_free_worker(struct coord_client *c)
{
	free(c->w.mpi_info);
	free(c->w.mpi_seqs);
	c->w.mpi_info = NULL;
	c->w.mpi_seqs = NULL;
}

size_t coord_mpi_ranks(const struct coord *co, const char **launcher)
{
	size_t n = 0;
	if (launcher)
		*launcher = "";
	for (size_t i = 0; i < co->nclients; i++) {
		const struct coord_client *c = co->clients[i];
		if (c->role != ROLE_WORKER || c->dropped || !c->w.mpi)
			continue;
		n++;
		if (launcher && c->w.mpi_launcher[0])
			*launcher = c->w.mpi_launcher;
	}
	return n;
}

static void send_msg(struct coord *co, struct coord_client *c, struct proto_buf *b)
{
	coord_client_send_raw(co, c, b->data, b->len);
}

static int is_settled(uint32_t flags)
{
	return (flags & (LH_MPI_REPORT_AT | LH_MPI_REPORT_STALLED)) != 0;
}

/* Take worker c's report out of the counts of the round. */
static void unreport(struct coord_ckpt *ck, struct coord_client *c)
{
	if (!c->w.mpi_reported)
		return;
	c->w.mpi_reported = 0;
	ck->mpi_nreported--;
	if (is_settled(c->w.mpi_flags))
		ck->mpi_nsettled--;
}

static void drop_targets(struct coord_ckpt *ck)
{
	free(ck->mpi_tgt);
	ck->mpi_tgt = NULL;
	ck->mpi_ntgt = 0;
}

void coord_mpi_ckpt_start(struct coord *co)
{
	struct coord_ckpt *ck = &co->ck;
	ck->mpi_round = 0;
	ck->mpi_final = ck->mpi_go = 0;
	ck->mpi_nout = 0;
	ck->mpi_nparts = ck->mpi_nreported = ck->mpi_nearly = ck->mpi_nearly_resumed = 0;
	ck->mpi_nsettled = 0;
	ck->mpi_nreports = 0;
	ck->mpi_stuck_logged = 0;
	drop_targets(ck);
	ck->mpi_t0_us = coord_now_us();
	ck->mpi_tfinal_us = ck->mpi_tsusp_us = 0;
	for (size_t i = 0; i < co->nclients; i++) {
		struct coord_client *c = co->clients[i];
		if (c->role != ROLE_WORKER)
			continue;
		c->w.mpi_early = 0;
		c->w.mpi_reported = 0;
		c->w.mpi_out = 0;
		c->w.mpi_n = 0;
		c->w.mpi_flags = 0;
		if (is_mpi_part(c))
			ck->mpi_nparts++;
	}
	ck->mpi_active = ck->mpi_nparts > 0;
	if (ck->mpi_active)
		log_debug("checkpoint generation %u: %zu MPI ranks take part", ck->gen,
			  ck->mpi_nparts);
}

/* ---- the round computation ---- */

struct gid_slot {
	uint64_t gid;
	uint64_t max, min, want, t; /* t: the target sent last (0: none) */
	int used, seen;
};

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	return x ^ (x >> 33);
}

static struct gid_slot *slot_of(struct gid_slot *t, size_t mask, uint64_t gid)
{
	for (size_t h = mix64(gid) & mask;; h = (h + 1) & mask)
		if (!t[h].used || t[h].gid == gid)
			return &t[h];
}

/* Every MPI rank has a report of the round (round 0: any; later: a settled one). Final, or
 * raise the targets and start the next round, or (nothing to raise) wait for an update. */
static void decide(struct coord *co)
{
	struct coord_ckpt *ck = &co->ck;
	size_t total = ck->mpi_ntgt, cap = 16;
	int all_at = 1;
	for (size_t i = 0; i < co->nclients; i++) {
		struct coord_client *c = co->clients[i];
		if (!is_mpi_part(c) || !c->w.mpi_reported)
			continue;
		total += c->w.mpi_n;
		all_at &= !!(c->w.mpi_flags & LH_MPI_REPORT_AT);
	}
	while (cap < 2 * total)
		cap <<= 1;
	struct gid_slot *t = calloc(cap, sizeof(*t));
	struct lh_mpi_comm_target *out = calloc(total ? total : 1, sizeof(*out));
	if (!t || !out) {
		free(t);
		free(out);
		log_err("checkpoint generation %u: out of memory for the MPI rounds", ck->gen);
		coord_mpi_kick(co);
		return;
	}
	size_t mask = cap - 1, ngid = 0;
	for (size_t k = 0; k < ck->mpi_ntgt; k++) { /* targets only grow */
		struct gid_slot *s = slot_of(t, mask, ck->mpi_tgt[k].gid);
		if (!s->used) {
			s->used = 1;
			s->gid = ck->mpi_tgt[k].gid;
			out[ngid++].gid = s->gid;
		}
		s->t = ck->mpi_tgt[k].target;
	}
	for (size_t i = 0; i < co->nclients; i++) {
		struct coord_client *c = co->clients[i];
		if (!is_mpi_part(c) || !c->w.mpi_reported)
			continue;
		for (uint32_t k = 0; k < c->w.mpi_n; k++) {
			const struct lh_mpi_comm_seq *e = &c->w.mpi_seqs[k];
			struct gid_slot *s = slot_of(t, mask, e->gid);
			if (!s->used) {
				s->used = 1;
				s->gid = e->gid;
				out[ngid++].gid = e->gid;
			}
			if (!s->seen) {
				s->seen = 1;
				s->min = s->max = e->seq;
			}
			if (e->seq > s->max)
				s->max = e->seq;
			if (e->seq < s->min)
				s->min = e->seq;
			if (e->want > s->want)
				s->want = e->want;
		}
	}
	/* final: every rank at its targets and quiet, one seq per communicator on all members */
	int balanced = all_at, raised = 0, grew = 0;
	for (size_t g = 0; g < ngid; g++) {
		struct gid_slot *s = slot_of(t, mask, out[g].gid);
		balanced &= !s->seen || s->min == s->max;
	}
	for (size_t g = 0; g < ngid; g++) {
		struct gid_slot *s = slot_of(t, mask, out[g].gid);
		uint64_t v = s->t > s->max ? s->t : s->max;
		if (!balanced && ck->mpi_round > 0 && s->want > v) {
			v = s->want; /* every rank is settled: only the doors can make progress */
			raised++;
		}
		grew |= v != s->t;
		out[g].target = v;
	}
	free(t);
	if (!balanced && !grew && ck->mpi_round > 0) {
		/* settled, nothing anyone waits for lies beyond the targets: a rank must move
		 * first (its update comes by itself) */
		if (!ck->mpi_stuck_logged++)
			log_debug("checkpoint generation %u: MPI round %u: every rank settled, no "
				  "target to raise; waiting for a rank to move",
				  ck->gen, ck->mpi_round);
		free(out);
		return;
	}
	if (raised)
		log_debug("checkpoint generation %u: MPI round %u: raised %d targets to what ranks "
			  "wait for",
			  ck->gen, ck->mpi_round, raised);
	/* Only gids with a target above 0 go out (a communicator nobody used needs none). */
	size_t nout = 0;
	for (size_t g = 0; g < ngid; g++)
		if (out[g].target)
			out[nout++] = out[g];
	free(ck->mpi_tgt);
	ck->mpi_tgt = out;
	ck->mpi_ntgt = nout;
	ck->mpi_round++;
	ck->mpi_nreported = ck->mpi_nsettled = 0;
	ck->mpi_stuck_logged = 0;
	ck->mpi_final = balanced;
	struct proto_buf b;
	proto_enc_mpi_targets(&b, ck->mpi_round, (uint32_t)balanced, (uint32_t)nout, out);
	if (proto_buf_finish(&b, 0) < 0) {
		log_err("checkpoint generation %u: cannot encode %zu MPI targets", ck->gen, nout);
		proto_buf_free(&b);
		coord_mpi_kick(co);
		return;
	}
	for (size_t i = 0; i < co->nclients; i++) {
		struct coord_client *c = co->clients[i];
		if (!is_mpi_part(c))
			continue;
		c->w.mpi_reported = 0;
		send_msg(co, c, &b);
	}
	proto_buf_free(&b);
	if (balanced) {
		ck->mpi_tfinal_us = coord_now_us();
		log_info("checkpoint generation %u: %zu MPI ranks balanced on %zu communicators "
			 "after %u round%s (%.1f ms, %llu reports); every thread out of MPI, then "
			 "drain",
			 ck->gen, ck->mpi_nparts, nout, ck->mpi_round,
			 ck->mpi_round == 1 ? "" : "s",
			 (ck->mpi_tfinal_us - ck->mpi_t0_us) / 1000.0,
			 (unsigned long long)ck->mpi_nreports);
		drop_targets(ck);
	} else {
		log_debug("checkpoint generation %u: MPI round %u: %zu targets", ck->gen,
			  ck->mpi_round, nout);
	}
}

/* Round 0 only: can a participant still become an MPI rank of this checkpoint? Yes while
 * fewer MPI ranks take part than the job's size and a participant that is not one has not
 * answered SUSPEND. O(N), only when every MPI rank has reported. */
static int rank_may_join(const struct coord *co)
{
	uint32_t size = 0;
	size_t waiting = 0;
	for (size_t i = 0; i < co->nclients; i++) {
		const struct coord_client *c = co->clients[i];
		if (c->role != ROLE_WORKER || c->dropped || !c->w.in_ckpt)
			continue;
		if (c->w.mpi && c->w.mpi_size > size)
			size = c->w.mpi_size;
		else if (!c->w.mpi && c->w.state == WS_SUSPENDING)
			waiting++;
	}
	return waiting > 0 && co->ck.mpi_nparts < size;
}

/* Some MPI ranks of the checkpoint had finalized MPI and others had not (written_only: look
 * only at the workers whose image is written)? Then the generation cannot be restarted: the
 * restarted ranks still in MPI call MPI_Init, which waits (PMI) for every rank of the launch,
 * and a finalized rank restarts without MPI_Init. -1 with the ranks named in err, else 0. */
static int finalize_mix(const struct coord *co, int written_only, char *err, size_t errsz)
{
	char lists[2][160] = {"", ""};
	size_t cnt[2] = {0, 0}, len[2] = {0, 0};
	for (size_t i = 0; i < co->nclients; i++) {
		const struct coord_client *c = co->clients[i];
		if (c->role != ROLE_WORKER || c->dropped || !c->w.in_ckpt || !c->w.mpi ||
		    (written_only && c->w.state != WS_WRITTEN))
			continue;
		int f = !!c->w.mpi_finalized;
		if (cnt[f] < 8) {
			int k = snprintf(lists[f] + len[f], sizeof(lists[f]) - len[f], "%s%u",
					 cnt[f] ? ", " : "", c->w.mpi_rank);
			if (k > 0 && (size_t)k < sizeof(lists[f]) - len[f])
				len[f] += (size_t)k;
		}
		cnt[f]++;
	}
	if (!cnt[0] || !cnt[1])
		return 0;
	snprintf(err, errsz,
		 "MPI rank%s %s%s had called MPI_Finalize and rank%s %s%s had not when generation %u "
		 "was taken: such a job cannot be restarted (the restarted ranks still in MPI "
		 "would wait in MPI_Init for the finalized ones); checkpoint before any rank "
		 "calls MPI_Finalize or after all of them have",
		 cnt[1] > 1 ? "s" : "", lists[1], cnt[1] > 8 ? ", ..." : "", cnt[0] > 1 ? "s" : "",
		 lists[0], cnt[0] > 8 ? ", ..." : "", co->ck.gen);
	return -1;
}

static void maybe_round(struct coord *co)
{
	struct coord_ckpt *ck = &co->ck;
	if (ck->phase == CK_SUSPENDING && ck->mpi_active && !ck->mpi_final && !ck->failed &&
	    ck->mpi_nparts > 0 && ck->mpi_nreported >= ck->mpi_nparts &&
	    (ck->mpi_round > 0 ? ck->mpi_nsettled >= ck->mpi_nparts : !rank_may_join(co))) {
		char err[600];
		if (ck->mpi_round == 0 && finalize_mix(co, 0, err, sizeof(err)) < 0) {
			coord_ckpt_fail_text(co, err); /* before any image is written */
			return;
		}
		decide(co);
	}
}

void coord_mpi_maybe_round(struct coord *co)
{
	struct coord_ckpt *ck = &co->ck;
	maybe_round(co);
	/* check_phase calls this in SUSPENDING before it moves on: the end of drain + suspend */
	if (ck->phase == CK_SUSPENDING && ck->mpi_active && ck->mpi_final &&
	    ck->nsusp >= ck->nparts && !ck->mpi_tsusp_us)
		ck->mpi_tsusp_us = coord_now_us();
}

/* After the final targets: rank c says none of its threads is inside MPI. When every rank
 * has, all of them get the go for the drain (MPI_TARGETS final LH_MPI_FINAL_DRAIN), so that
 * no rank enters the drain's collectives while another still has a thread inside MPI that
 * may never come out (it then abandons the checkpoint with MPI_ERROR instead). */
static void on_out(struct coord *co, struct coord_client *c)
{
	struct coord_ckpt *ck = &co->ck;
	if (c->w.mpi_out || ck->mpi_go)
		return;
	c->w.mpi_out = 1;
	if (++ck->mpi_nout < ck->mpi_nparts)
		return;
	struct proto_buf b;
	proto_enc_mpi_targets(&b, ck->mpi_round + 1, LH_MPI_FINAL_DRAIN, 0, NULL);
	if (proto_buf_finish(&b, 0) < 0) {
		log_err("checkpoint generation %u: cannot encode the go for the MPI drain",
			ck->gen);
		proto_buf_free(&b);
		coord_mpi_kick(co);
		return;
	}
	ck->mpi_go = 1;
	for (size_t i = 0; i < co->nclients; i++)
		if (is_mpi_part(co->clients[i]))
			send_msg(co, co->clients[i], &b);
	proto_buf_free(&b);
	log_debug("checkpoint generation %u: %zu MPI ranks out of MPI after %.1f ms; draining",
		  ck->gen, ck->mpi_nparts, (coord_now_us() - ck->mpi_tfinal_us) / 1000.0);
}

static void on_report(struct coord *co, struct coord_client *c, struct proto_mpi *m)
{
	struct coord_ckpt *ck = &co->ck;
	char name[400];
	if ((m->flags & LH_MPI_REPORT_OUT) && ck->phase == CK_SUSPENDING && is_mpi_part(c) &&
	    ck->mpi_final && !ck->failed && c->w.state == WS_SUSPENDING) {
		on_out(co, c);
		return;
	}
	if (ck->phase != CK_SUSPENDING || !is_mpi_part(c) || ck->mpi_final || ck->failed ||
	    c->w.state != WS_SUSPENDING) {
		log_debug("ignoring an MPI report (round %u) from %s: not in the MPI rounds", m->round,
			  coord_worker_name(c, name, sizeof(name)));
		return;
	}
	if (m->round < ck->mpi_round) { /* an update that crossed the next targets */
		log_debug("ignoring an MPI report of round %u from %s (round %u)", m->round,
			  coord_worker_name(c, name, sizeof(name)), ck->mpi_round);
		return;
	}
	if (m->round > ck->mpi_round) {
		log_warn("ignoring an MPI report of round %u from %s (round %u is running)",
			 m->round, coord_worker_name(c, name, sizeof(name)), ck->mpi_round);
		return;
	}
	unreport(ck, c); /* an update replaces the rank's earlier report of the round */
	free(c->w.mpi_seqs);
	c->w.mpi_seqs = m->seqs; /* taken over */
	m->seqs = NULL;
	c->w.mpi_n = m->n;
	c->w.mpi_flags = m->flags;
	c->w.mpi_reported = 1;
	ck->mpi_nreported++;
	ck->mpi_nsettled += is_settled(m->flags);
	ck->mpi_nreports++;
	maybe_round(co);
}

/* Another live worker registered as MPI rank `rank` (not finalized), or NULL. O(N): once
 * per registration. */
static const struct coord_client *rank_holder(const struct coord *co,
					      const struct coord_client *self, uint32_t rank)
{
	for (size_t i = 0; i < co->nclients; i++) {
		const struct coord_client *o = co->clients[i];
		if (o != self && o->role == ROLE_WORKER && !o->dropped && o->w.mpi &&
		    !o->w.mpi_finalized && o->w.mpi_rank == rank)
			return o;
	}
	return NULL;
}

void coord_mpi_on_msg(struct coord *co, struct coord_client *c, const struct proto_msg *msg)
{
	struct proto_mpi *m = malloc(sizeof(*m));
	char name[400];
	if (!m) {
		coord_client_drop(co, c, "out of memory");
		return;
	}
	if (proto_dec_mpi(msg, m) < 0) {
		free(m);
		coord_client_reject(co, c, "malformed MPI message");
		return;
	}
	coord_worker_name(c, name, sizeof(name));
	switch (m->kind) {
	case MPI_MSG_REGISTER:
		if (m->size == 0 || m->rank >= m->size) {
			coord_client_reject(co, c, "MPI rank %u of %u is not a rank", m->rank, m->size);
			break;
		}
		const struct coord_client *holder = rank_holder(co, c, m->rank);
		if (holder) {
			/* e.g. a child the rank forked, which inherited its registration */
			char hn[400];
			log_warn("%s says it is MPI rank %u, which %s already is (a forked child of "
				 "that rank?); it takes part in checkpoints as a plain process",
				 name, m->rank, coord_worker_name(holder, hn, sizeof(hn)));
			break;
		}
		if (c->w.mpi && !c->w.mpi_finalized) {
			log_debug("%s registered again as MPI rank %u", name, m->rank);
		} else if (c->w.in_ckpt && co->ck.phase == CK_SUSPENDING && !c->dropped) {
			/* MPI_Init raced this checkpoint: the rank reports in this one's rounds
			 * (its lower half sends REGISTER first), if they have not gone on yet. */
			if (co->ck.mpi_round == 0 && !co->ck.failed) {
				co->ck.mpi_active = 1;
				co->ck.mpi_nparts++;
				c->w.mpi_reported = 0;
				c->w.mpi_n = 0;
			} else {
				char text[600];
				snprintf(text, sizeof(text),
					 "%s became MPI rank %u during the MPI rounds; checkpoint "
					 "again",
					 name, m->rank);
				c->w.mpi = 1; /* in the kick below */
				coord_ckpt_fail_text(co, text);
			}
		}
		c->w.mpi = 1;
		c->w.mpi_finalized = 0;
		c->w.mpi_rank = m->rank;
		c->w.mpi_size = m->size;
		c->w.mpi_level = m->level;
		/* The launcher goes into the restart script and MANIFEST: a plain word only. */
		size_t li = 0;
		for (const char *p = m->launcher; *p && li + 1 < sizeof(c->w.mpi_launcher); p++)
			c->w.mpi_launcher[li++] =
			    (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
				    (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'
				? *p
				: '_';
		c->w.mpi_launcher[li] = 0;
		free(c->w.mpi_info);
		c->w.mpi_info = strdup(m->text);
		log_info("%s is MPI rank %u of %u (thread level %u, launched by %s)", name, m->rank,
			 m->size, m->level, c->w.mpi_launcher[0] ? c->w.mpi_launcher : "?");
		break;
	case MPI_MSG_REPORT:
		on_report(co, c, m);
		break;
	case MPI_MSG_FINALIZED: {
		int was_part = is_mpi_part(c) && co->ck.phase == CK_SUSPENDING && co->ck.mpi_active;
		c->w.mpi_finalized = 1;
		log_info("%s (MPI rank %u) finalized MPI", name, c->w.mpi_rank);
		if (was_part) {
			unreport(&co->ck, c);
			co->ck.mpi_nparts--;
			maybe_round(co);
		}
		break;
	}
	case MPI_MSG_ERROR: {
		char text[PROTO_MAX_TEXT + 128];
		snprintf(text, sizeof(text), "MPI rank %u on %s cannot be checkpointed: %s",
			 c->w.mpi_rank, c->w.hostname, m->text);
		coord_ckpt_fail_text(co, text);
		break;
	}
	default:
		coord_client_reject(co, c, "unknown MPI message kind %u", m->kind);
		break;
	}
	proto_mpi_free(m);
	free(m);
}

void coord_mpi_kick(struct coord *co)
{
	struct coord_ckpt *ck = &co->ck;
	if (ck->phase != CK_SUSPENDING || !ck->mpi_active)
		return;
	struct proto_resume r = {.committed = 0};
	struct proto_buf b;
	proto_enc_resume(&b, &r);
	if (proto_buf_finish(&b, 0) < 0) {
		proto_buf_free(&b);
		return;
	}
	size_t n = 0;
	for (size_t i = 0; i < co->nclients; i++) {
		struct coord_client *c = co->clients[i];
		if (!is_mpi_part(c) || c->w.state != WS_SUSPENDING)
			continue;
		c->w.mpi_early = 1;
		c->w.state = WS_RESUMING;
		ck->nsusp++; /* its answer: the checkpoint can end */
		ck->mpi_nearly++;
		send_msg(co, c, &b);
		n++;
	}
	proto_buf_free(&b);
	ck->mpi_nparts = ck->mpi_nreported = ck->mpi_nsettled = 0;
	drop_targets(ck);
	if (n)
		log_warn("checkpoint generation %u: %zu MPI ranks leave their rounds", ck->gen, n);
}

/* The last RESUMED of a committed MPI checkpoint: log how long each phase took. */
static void log_phases(struct coord *co)
{
	struct coord_ckpt *ck = &co->ck;
	int64_t now = coord_now_us(), t0 = ck->mpi_t0_us, tf = ck->mpi_tfinal_us;
	int64_t ts = ck->mpi_tsusp_us, tw = ck->t_durable_us;
	if (!tf || !ts || !tw)
		return;
	log_info("checkpoint generation %u: MPI phases: rounds %.1f ms (%u round%s, %llu "
		 "reports), drain+suspend %.1f ms, write %.1f ms, resume %.1f ms, total %.1f ms",
		 ck->gen, (tf - t0) / 1000.0, ck->mpi_round, ck->mpi_round == 1 ? "" : "s",
		 (unsigned long long)ck->mpi_nreports, (ts - tf) / 1000.0, (tw - ts) / 1000.0,
		 (now - tw) / 1000.0, (now - t0) / 1000.0);
}

int coord_mpi_early_resumed(struct coord *co, struct coord_client *c)
{
	if (co->ck.phase == CK_RESUMING && co->ck.committed && co->ck.mpi_active &&
	    c->w.in_ckpt && c->w.state == WS_RESUMING && co->ck.nresumed + 1 >= co->ck.nparts)
		log_phases(co);
	if (!c->w.mpi_early || c->w.state != WS_RESUMING || co->ck.phase != CK_SUSPENDING)
		return 0;
	c->w.state = WS_RUNNING;
	co->ck.mpi_nearly_resumed++;
	return 1;
}

void coord_mpi_worker_gone(struct coord *co, struct coord_client *c)
{
	struct coord_ckpt *ck = &co->ck;
	if (!c->w.in_ckpt || ck->phase == CK_IDLE || !ck->mpi_active || !c->w.mpi)
		return;
	char name[400];
	coord_worker_name(c, name, sizeof(name));
	if (c->w.mpi_early) {
		/* counted as answered by coord_mpi_kick */
		if (ck->phase == CK_SUSPENDING) {
			ck->nsusp--;
			if (c->w.state == WS_RUNNING)
				ck->mpi_nearly_resumed--;
		}
		ck->mpi_nearly--;
		return;
	}
	if (ck->phase != CK_SUSPENDING || c->w.mpi_finalized || ck->mpi_final)
		return;
	unreport(ck, c);
	ck->mpi_nparts--;
	char text[600];
	snprintf(text, sizeof(text), "MPI rank %u (%s) disconnected during the MPI rounds (%s)",
		 c->w.mpi_rank, name, c->drop_reason ? c->drop_reason : "connection closed");
	coord_ckpt_fail_text(co, text);
}

/* An MPI generation can only be restarted with one image per rank 0..size-1 (launcher/lc_mpi.c
 * refuses anything else), so the coordinator does not commit one that lacks a rank, holds a
 * rank twice or mixes job sizes. Looks at the workers whose image is written (WS_WRITTEN), as
 * coord_write_restart_script does. */
int coord_mpi_check_generation(const struct coord *co, char *err, size_t errsz)
{
	const struct coord_client *first = NULL;
	size_t nmpi = 0;
	for (size_t i = 0; i < co->nclients; i++) {
		const struct coord_client *c = co->clients[i];
		if (c->role != ROLE_WORKER || !c->w.in_ckpt || c->w.state != WS_WRITTEN || !c->w.mpi)
			continue;
		if (!first)
			first = c;
		if (c->w.mpi_size != first->w.mpi_size) {
			snprintf(err, errsz,
				 "MPI ranks of two job sizes in generation %u (%u and %u): not restartable",
				 co->ck.gen, first->w.mpi_size, c->w.mpi_size);
			return -1;
		}
		nmpi++;
	}
	if (!first)
		return 0;
	if (finalize_mix(co, 1, err, errsz) < 0)
		return -1;
	uint32_t size = first->w.mpi_size;
	/* Ranks below nmpi + 1 suffice to name a missing or doubled one (bounded by the workers,
	 * not by the size a peer declared). */
	size_t nbits = size < nmpi + 1 ? size : nmpi + 1;
	const struct coord_client **seen = calloc(nbits, sizeof(*seen));
	if (!seen) {
		snprintf(err, errsz, "out of memory checking the MPI ranks of generation %u",
			 co->ck.gen);
		return -1;
	}
	int rc = 0;
	for (size_t i = 0; i < co->nclients && rc == 0; i++) {
		const struct coord_client *c = co->clients[i];
		if (c->role != ROLE_WORKER || !c->w.in_ckpt || c->w.state != WS_WRITTEN || !c->w.mpi ||
		    c->w.mpi_rank >= nbits)
			continue;
		if (seen[c->w.mpi_rank]) {
			char a[400], b[400];
			snprintf(err, errsz, "MPI rank %u has two images in generation %u (%s and %s)",
				 c->w.mpi_rank, co->ck.gen,
				 coord_worker_name(seen[c->w.mpi_rank], a, sizeof(a)),
				 coord_worker_name(c, b, sizeof(b)));
			rc = -1;
		}
		seen[c->w.mpi_rank] = c;
	}
	if (rc == 0 && nmpi != size) {
		char list[160] = "";
		size_t len = 0, shown = 0;
		for (size_t r = 0; r < nbits && shown < 8; r++)
			if (!seen[r]) {
				int k = snprintf(list + len, sizeof(list) - len, "%s%zu",
						 shown ? ", " : "", r);
				if (k > 0 && (size_t)k < sizeof(list) - len)
					len += (size_t)k;
				shown++;
			}
		snprintf(err, errsz,
			 "generation %u holds the images of %zu of the %u MPI ranks (missing: rank %s%s); "
			 "a restart needs every rank: not committed",
			 co->ck.gen, nmpi, size, list, nmpi + shown < size ? ", ..." : "");
		rc = -1;
	}
	free(seen);
	return rc;
}
