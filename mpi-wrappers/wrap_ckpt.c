/*
 * wrap_ckpt.c - the upper half's side of MPI checkpointing (docs/mpi-ckpt.md, sections 1-2):
 * the mailbox to the lower half, the private communicator, the service thread and the phases
 * and rounds it runs.
 *
 * Mailbox (common/mpi_ckpt.h): a static object of this library, i.e. upper memory inside the
 * arena, saved in the image and back at the same address after a restart; published in
 * contract.mpi_mailbox by MPI_Init*, with efd copied from contract.mpi_efd (after a restart
 * the lower half writes efd itself); -1: no eventfd, replies are only stored.
 *
 * Service thread: an upper pthread made at MPI_Init*. It waits with FUTEX_WAIT (shared op,
 * as the header says the lower half wakes it) on to_upper, with a timeout as a safety net,
 * and runs each command:
 *   SUSPEND   phase INTENT, targets none (every collective waits), REP_REPORT round 0;
 *   TARGETS   store the targets, wake the door, then watch the rank until the next command:
 *             REP_REPORT as soon as it is settled - AT (every seq >= target, no thread in a
 *             collective: nothing can change before new targets), BLOCKED (every thread is
 *             inside MPI or waits at a door that stays closed; two looks 0.2 ms apart), or
 *             STALLED (nothing changed for LH_MPI_STALL_MS while a thread is outside MPI) -
 *             and again only when what it says changes (also "moving again"), so nothing is
 *             repeated while nothing changes (docs/mpi-ckpt.md section 2);
 *   final     (LH_MPI_FINAL_OUT) phase DRAIN, wait until no thread is inside MPI, report OUT,
 *             then keep the lower MPI progressing (Iprobe) until the next command; a thread
 *             still inside after SPLITCKPT_MPI_STUCK_S seconds (default 10) waits in a call
 *             that cannot step out: REP_ERROR naming the call, and the coordinator abandons
 *             the checkpoint (every rank resumes) instead of hanging;
 *   drain     (LH_MPI_FINAL_DRAIN, every rank is out) wrap_drain_run (wrap_drain.c), RMA
 *             epochs (wrap_vh_win_checkpoint), wrap_vh_prepare_checkpoint, REP_QUIESCED;
 *   RESUME    phase RUN, wake, REP_RESUMED (drops a report it was preparing);
 *   RESTARTED membarrier again, private communicator again, wrap_vh_rebuild_all, open fence
 *             epochs again (wrap_seq.c), phase RUN, wake, REP_RESUMED with the rebuild's
 *             warnings in text.
 * Only this thread writes the phase (and the lower half writes RESTORED before a restored
 * thread runs). Its MPI calls never wait at the door.
 *
 * MPI_Finalize (wrap_ckpt_finalize_enter): waits at the door until RUN and takes the service
 * state IDLE -> FINALIZING (a checkpoint that starts later gets REP_ERROR), sets finalized,
 * REP_FINALIZED, stops the service thread and frees the private communicator, all before the
 * lower MPI_Finalize.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "wrap.h"
#include "wrap_door.h"

struct lh_mpi_mailbox wrap_ckpt_mb __attribute__((aligned(4096)));
#define MB wrap_ckpt_mb

static MPI_Comm private_comm = MPI_COMM_NULL; /* a LOWER handle */
static pthread_t service;
static int service_running, service_stop;

enum svc_state { SVC_IDLE = 0, SVC_ACTIVE = 1, SVC_FINALIZING = 2 };
static uint32_t svc_state;

static uint64_t t_suspend, t_final; /* ns, for quiesce_ns / drain_ns */
static int suspend_seen;	    /* a SUSPEND since the last RESUME */

uint32_t wrap_ckpt_inside[WRAP_NFUNCS]; /* wrap.h */

/* Tag of the service thread's progress probes on the private communicator (never sent). */
#define WRAP_CKPT_TAG_PROGRESS 7713
/* Seconds a thread may stay inside MPI after the final targets when the lower half does not
 * say (mailbox stuck_s, from SPLITCKPT_MPI_STUCK_S). */
#define WRAP_CKPT_STUCK_S 10

MPI_Comm wrap_ckpt_private_comm(void) { return private_comm; }

/* Provided by wrap_drain.c (upper-p2p); this default drains nothing. */
__attribute__((weak)) int wrap_drain_run(char *err, size_t errlen) WRAP_HIDDEN;
__attribute__((weak)) int wrap_drain_run(char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(long ns)
{
	struct timespec ts = {0, ns};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void set_text(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void set_text(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(MB.text, sizeof(MB.text), fmt, ap);
	va_end(ap);
}

/* upper -> lower: fields are set; publish and wake the lower checkpoint thread. */
static void reply(uint32_t rep)
{
	static int efd_warned;
	MB.reply = rep;
	__atomic_fetch_add(&MB.to_lower, 1, __ATOMIC_RELEASE);
	int32_t efd = __atomic_load_n(&MB.efd, __ATOMIC_ACQUIRE);
	if (efd < 0)
		return; /* the lower half has not looked yet: it reads reply when it does */
	uint64_t one = 1;
	long r = syscall(SYS_write, efd, &one, sizeof(one));
	if (r != (long)sizeof(one) && !efd_warned) {
		efd_warned = 1;
		fprintf(stderr,
			"splitckpt: rank %d: MPI service thread cannot wake the lower half (write "
			"to its eventfd %d: %s); the checkpoint of this rank may hang\n",
			MB.world_rank, efd, r < 0 ? strerror(errno) : "short write");
	}
}

static void set_phase(uint32_t ph)
{
	__atomic_store_n(&MB.phase, ph, __ATOMIC_SEQ_CST);
	wrap_door_wake();
}

/* ---- the report ----------------------------------------------------------------------------- */

struct wanted {
	struct wrap_seq *s[256];
	unsigned n;
	unsigned blocked; /* waiters whose door stays closed (seq >= target): only a raise helps */
};

static void note_want(struct wrap_seq *s, void *arg)
{
	struct wanted *w = arg;
	if (w->n < 256)
		w->s[w->n++] = s;
	if (s->gid != 0 &&
	    __atomic_load_n(&s->seq, __ATOMIC_RELAXED) >= wrap_door_target(s->gid))
		w->blocked++;
}

/* Every tracked communicator (size > 1 and gid != 0), window and file (gid != 0): fn(s, arg)
 * on its bookkeeping; returns the count, or -1 when the list cannot be made. */
static int each_comm(void (*fn)(struct wrap_seq *s, void *arg), void *arg)
{
	size_t n = 0;
	int cnt = 0;
	if (MB.world_size > 1) {
		fn(&wrap_seq_world, arg);
		cnt++;
	}
	wrap_vh_lock();
	struct wrap_vh_obj **v = wrap_vh_list(WRAP_VH_COMM, &n);
	if (!v && n) {
		wrap_vh_unlock();
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (v[i]->cs.gid == 0 || wrap_vh_comm_size(v[i]) == 1)
			continue;
		fn(&v[i]->cs, arg);
		cnt++;
	}
	free(v);
	/* constructors collective over a group (MPI_Comm_create_group...): one seq per
	 * membership (wrap_seq.c) */
	cnt += wrap_seq_each_group(fn, arg);
	/* windows and files count their own collectives (gid 0: over a size-1 communicator) */
	static const int kinds[] = {WRAP_VH_WIN, WRAP_VH_FILE};
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		n = 0;
		v = wrap_vh_list(kinds[k], &n);
		if (!v && n) {
			wrap_vh_unlock();
			return -1;
		}
		for (size_t i = 0; i < n; i++)
			if (v[i]->cs.gid != 0) {
				fn(&v[i]->cs, arg);
				cnt++;
			}
		free(v);
	}
	wrap_vh_unlock();
	return cnt;
}

struct rep_ctx {
	struct wanted *w;
	uint32_t n;
	int overflow;
};

static void add_report(struct wrap_seq *s, void *arg)
{
	struct rep_ctx *r = arg;
	if (r->n >= LH_MPI_MAX_COMMS) {
		r->overflow = 1;
		return;
	}
	struct lh_mpi_comm_seq *e = &MB.report[r->n++];
	e->gid = s->gid;
	e->seq = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
	e->want = 0;
	for (unsigned i = 0; i < r->w->n; i++)
		if (r->w->s[i] == s)
			e->want = e->seq + 1;
}

/* State of the rank now: behind = a tracked seq below its target; sum/mix = sum and a hash of
 * the seqs (a report is sent again only when the signature of what it says changes). */
struct state {
	struct wrap_door_census c;
	struct wanted w;
	uint64_t sum, mix;
	int behind;
};

static void sum_seq(struct wrap_seq *s, void *arg)
{
	struct state *st = arg;
	uint64_t q = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
	st->sum += q;
	st->mix = (st->mix ^ (s->gid * 0x9e3779b97f4a7c15ull + q)) * 0x100000001b3ull;
	if (q < wrap_door_target(s->gid))
		st->behind = 1;
}

static void look(struct state *st)
{
	memset(st, 0, sizeof(*st));
	wrap_door_barrier();
	wrap_door_census(&st->c, note_want, &st->w);
	each_comm(sum_seq, st);
}

/* The flags a report of this state carries (docs/mpi-ckpt.md section 2), STALLED aside. */
static uint32_t flags_of(const struct state *st)
{
	uint32_t f = 0;
	if (st->c.in_coll == 0)
		f |= LH_MPI_REPORT_QUIET;
	if (f && !st->behind)
		f |= LH_MPI_REPORT_AT;
	/* every thread is inside MPI or waits at a door that stays closed, none at an open one */
	if (!(f & LH_MPI_REPORT_AT) && st->c.threads > 0 && st->c.waiting == st->w.blocked &&
	    st->c.inside + st->c.waiting >= st->c.threads)
		f |= LH_MPI_REPORT_BLOCKED | LH_MPI_REPORT_STALLED;
	return f;
}

static uint64_t signature(const struct state *st, uint32_t flags)
{
	return st->mix ^ ((uint64_t)flags << 56) ^ ((uint64_t)st->c.in_coll << 40) ^
	       ((uint64_t)st->c.waiting << 24) ^ ((uint64_t)st->c.inside << 8) ^ st->w.n;
}

/* The lower half has read the previous reply (report[] may be written again). */
static int lower_took(void)
{
	return __atomic_load_n(&MB.taken, __ATOMIC_ACQUIRE) ==
	       __atomic_load_n(&MB.to_lower, __ATOMIC_ACQUIRE);
}

static int send_report(uint32_t round, uint32_t flags, struct wanted *w)
{
	struct rep_ctx r = {w, 0, 0};
	if (each_comm(add_report, &r) < 0 || r.overflow) {
		set_text("rank %d: more than %d communicators (or out of memory): this "
			 "checkpoint cannot be taken",
			 MB.world_rank, LH_MPI_MAX_COMMS);
		reply(LH_MPI_REP_ERROR);
		return -1;
	}
	MB.report_round = round;
	MB.report_flags = flags;
	MB.n_report = r.n;
	reply(LH_MPI_REP_REPORT);
	return 0;
}

/* ---- commands ------------------------------------------------------------------------------- */

static uint32_t cmd_seen; /* to_upper value of the last command taken */

static int new_command(void) { return __atomic_load_n(&MB.to_upper, __ATOMIC_ACQUIRE) != cmd_seen; }

static void do_suspend(void)
{
	uint32_t idle = SVC_IDLE;
	if (!__atomic_compare_exchange_n(&svc_state, &idle, SVC_ACTIVE, 0, __ATOMIC_SEQ_CST,
					 __ATOMIC_SEQ_CST) &&
	    idle != SVC_ACTIVE) {
		set_text("rank %d is in MPI_Finalize: an MPI job cannot be checkpointed while "
			 "some ranks finalize; checkpoint earlier or after the job",
			 MB.world_rank);
		reply(LH_MPI_REP_ERROR);
		return;
	}
	suspend_seen = 1;
	t_suspend = now_ns();
	MB.drained_msgs = MB.drained_bytes = MB.quiesce_ns = MB.drain_ns = 0;
	wrap_door_targets_clear();
	set_phase(LH_MPI_INTENT);
	/* round 0: at once (no targets: no collective can start, so QUIET is AT) */
	struct state st;
	/* (only a report the lower half may still be reading matters: not REGISTER, which a
	 * lower half without an eventfd never takes) */
	for (long spins = 0; !lower_took() && MB.reply == LH_MPI_REP_REPORT && spins < 20000;
	     spins++) { /* 2 s at most */
		if (new_command())
			return;
		sleep_ns(100000);
	}
	look(&st);
	send_report(0, flags_of(&st), &st.w);
}

/* After TARGETS of a round, until the next command: report when the rank is settled (AT at
 * once; BLOCKED when two looks 0.2 ms apart agree; else STALLED after LH_MPI_STALL_MS without
 * a change), and again only when what it would say changes - also when a settled rank moves
 * again (an update without AT/STALLED), so the coordinator never acts on a stale settled
 * report for long. Polls every 0.2 ms (as the 20 ms timer did: on 2 cores shared by 4 ranks a
 * faster look takes CPU from the threads it waits for), backing off to 1 ms while nothing
 * changes. */
static void watch(uint32_t round)
{
	struct state st;
	uint64_t sent_sig = 0, last_sig = 0, since = now_ns();
	int sent = 0, sent_settled = 0, looks = 0;
	long nap = 200000;
	for (;;) {
		if (new_command())
			return; /* new targets, or RESUME overtook the report: drop it */
		look(&st);
		uint32_t f = flags_of(&st);
		uint64_t sig = signature(&st, f), t = now_ns();
		if (looks == 0 || sig != last_sig) {
			last_sig = sig;
			since = t;
			looks = 1;
			nap = 200000;
		} else {
			looks++;
		}
		int settled = (f & LH_MPI_REPORT_AT) || ((f & LH_MPI_REPORT_BLOCKED) && looks >= 2);
		if (!settled && t - since >= LH_MPI_STALL_MS * 1000000ull) {
			f |= LH_MPI_REPORT_STALLED;
			settled = 1;
		}
		if (!settled)
			f &= ~(uint32_t)(LH_MPI_REPORT_BLOCKED | LH_MPI_REPORT_STALLED);
		sig = signature(&st, f);
		/* the first report of a round is a settled one; later ones go out on a change */
		int want_send = settled ? !sent || sig != sent_sig : sent && sent_settled;
		if (want_send && lower_took()) {
			if (send_report(round, f, &st.w) < 0)
				return;
			sent = 1;
			sent_settled = settled;
			sent_sig = sig;
		}
		sleep_ns(nap);
		if (looks > 2 && nap < 1000000)
			nap = nap * 2 > 1000000 ? 1000000 : nap * 2;
	}
}

/* The lower call some thread of this rank is inside and cannot step out of (wrap.h), or
 * NULL when it is none of those counted. */
static const char *stepless_call(void)
{
	for (unsigned i = 0; i < WRAP_NFUNCS; i++)
		if (__atomic_load_n(&wrap_ckpt_inside[i], __ATOMIC_RELAXED))
			return wrap_fn_name(i);
	return NULL;
}

/* Final targets (LH_MPI_FINAL_OUT): close the door and wait until no thread is inside MPI
 * (blocking loops step out), then report OUT; the drain starts only when every rank is out
 * (LH_MPI_FINAL_DRAIN), so that no rank enters the drain's collectives while another may
 * never join them. A thread that stays inside for stuck_s seconds waits in a call that
 * cannot step out (an exclusive lock that a rank at the door holds...): the checkpoint is
 * abandoned (REP_ERROR naming rank and call; the coordinator resumes every rank), never
 * hung. While it waits for the others, the service thread keeps the lower MPI progressing
 * (its threads are all out, so it may call MPI at any thread level): a peer's Win_lock,
 * Win_flush or Win_complete may need this rank's progress to come out. */
static void do_out(uint32_t round)
{
	struct state st;
	unsigned stuck_s = MB.stuck_s ? MB.stuck_s : WRAP_CKPT_STUCK_S;
	t_final = now_ns();
	MB.quiesce_ns = t_final - t_suspend;
	set_phase(LH_MPI_DRAIN);
	for (;;) { /* threads in blocking calls step out through the door */
		look(&st);
		if (st.c.inside == 0)
			break;
		if (new_command())
			return;
		if (now_ns() - t_final >= stuck_s * 1000000000ull) {
			const char *call = stepless_call();
			set_text(
			    "rank %d: a thread (id %u) is inside %s, which cannot step out for "
			    "a checkpoint (it waits for another rank; %u s waited, "
			    "SPLITCKPT_MPI_STUCK_S); checkpoint abandoned, the job continues "
			    "(checkpoint again once it has come out)",
			    MB.world_rank, st.c.tid[0], call ? call : "an MPI call", stuck_s);
			fprintf(stderr, "splitckpt: %s\n", MB.text);
			reply(LH_MPI_REP_ERROR);
			return;
		}
		sleep_ns(200000);
	}
	for (long spins = 0; !lower_took() && spins < 20000; spins++) { /* 2 s at most */
		if (new_command())
			return;
		sleep_ns(100000);
	}
	MB.report_round = round;
	MB.report_flags = LH_MPI_REPORT_OUT;
	MB.n_report = 0;
	reply(LH_MPI_REP_REPORT);
	while (!new_command()) {
		int r, flag = 0;
		WRAP_DOWN(r, MPI_Iprobe, MPI_ANY_SOURCE, WRAP_CKPT_TAG_PROGRESS, private_comm,
			  &flag, MPI_STATUS_IGNORE);
		(void)r;
		sleep_ns(200000);
	}
}

/* Every rank is out of MPI (LH_MPI_FINAL_DRAIN): drain, complete the RMA epochs, QUIESCED. */
static void do_drain(void)
{
	char err[LH_MPI_TEXT] = "";
	if (wrap_drain_run(err, sizeof(err)) != 0) {
		set_text("rank %d: drain failed: %s", MB.world_rank, err[0] ? err : "(no reason)");
		reply(LH_MPI_REP_ERROR);
		return;
	}
	/* RMA: complete open fence and passive-target epochs; refuse what cannot come back */
	if (wrap_vh_win_checkpoint(MB.world_rank, err, sizeof(err)) != 0) {
		set_text("%s", err);
		reply(LH_MPI_REP_ERROR);
		return;
	}
	wrap_vh_prepare_checkpoint();
	if (wrap_vh_check_restartable(MB.world_rank, err, sizeof(err)) != 0) {
		fprintf(stderr, "splitckpt: %s\n", err);
		set_text("%s", err);
		reply(LH_MPI_REP_ERROR);
		return;
	}
	MB.drain_ns = now_ns() - t_final;
	MB.text[0] = 0;
	reply(LH_MPI_REP_QUIESCED);
}

static void do_targets(void)
{
	uint32_t n = MB.n_targets, round = MB.round;
	if (!suspend_seen) {
		set_text("rank %d: MPI targets without a checkpoint (round %u)", MB.world_rank,
			 round);
		reply(LH_MPI_REP_ERROR);
		return;
	}
	if (n > LH_MPI_MAX_COMMS)
		n = LH_MPI_MAX_COMMS;
	for (uint32_t i = 0; i < n; i++)
		if (wrap_door_target_set(MB.targets[i].gid, MB.targets[i].target) != 0) {
			set_text("rank %d: target table full", MB.world_rank);
			reply(LH_MPI_REP_ERROR);
			return;
		}
	wrap_door_wake();
	if (MB.final == LH_MPI_FINAL_DRAIN)
		do_drain();
	else if (MB.final)
		do_out(round);
	else
		watch(round);
}

static void to_run(void)
{
	set_phase(LH_MPI_RUN);
	wrap_door_targets_clear();
	suspend_seen = 0;
	uint32_t act = SVC_ACTIVE;
	__atomic_compare_exchange_n(&svc_state, &act, SVC_IDLE, 0, __ATOMIC_SEQ_CST,
				    __ATOMIC_SEQ_CST);
	wrap_door_wake();
}

static int make_private_comm(void)
{
	int r;
	private_comm = MPI_COMM_NULL;
	WRAP_DOWN(r, MPI_Comm_dup, MPI_COMM_WORLD, &private_comm);
	return r;
}

static void do_restarted(void)
{
	int r;
	wrap_door_membarrier_setup(); /* a fresh process: register again */
	MB.epoch = wrap_contract_ok ? wrap_contract_ok->epoch : MB.epoch;
	r = make_private_comm();
	int fails = wrap_vh_rebuild_all();
	fails += wrap_seq_reopen_fences();
	to_run();
	if (r != MPI_SUCCESS)
		set_text("rank %d: the private communicator could not be made again (MPI error "
			 "%d): the next checkpoint will fail",
			 MB.world_rank, r);
	else if (fails)
		set_text("rank %d: %d MPI objects could not be made again (see this rank's "
			 "stderr); their handles are now null handles",
			 MB.world_rank, fails);
	else
		MB.text[0] = 0;
	reply(LH_MPI_REP_RESUMED);
}

static void run_command(uint32_t cmd)
{
	switch (cmd) {
	case LH_MPI_CMD_SUSPEND:
		do_suspend();
		break;
	case LH_MPI_CMD_TARGETS:
		do_targets();
		break;
	case LH_MPI_CMD_RESUME:
		to_run();
		MB.text[0] = 0;
		reply(LH_MPI_REP_RESUMED);
		break;
	case LH_MPI_CMD_RESTARTED:
		do_restarted();
		break;
	default:
		set_text("rank %d: unknown MPI command %u from the lower half", MB.world_rank, cmd);
		reply(LH_MPI_REP_ERROR);
	}
}

static void *service_main(void *arg)
{
	(void)arg;
	wrap_door_set_service();
	for (;;) {
		uint32_t v = __atomic_load_n(&MB.to_upper, __ATOMIC_ACQUIRE);
		if (v != cmd_seen) {
			cmd_seen = v;
			run_command(__atomic_load_n(&MB.cmd, __ATOMIC_ACQUIRE));
			continue;
		}
		if (__atomic_load_n(&service_stop, __ATOMIC_ACQUIRE))
			break;
		/* the lower half wakes us with FUTEX_WAKE (not the private op); 1 s timeout only
		 * bounds how long MPI_Finalize may wait for this thread to notice service_stop */
		struct timespec ts = {1, 0};
		syscall(SYS_futex, &MB.to_upper, FUTEX_WAIT, v, &ts, NULL, 0);
	}
	return NULL;
}

/* ---- MPI_Init*, MPI_Finalize ------------------------------------------------------------------
 */

int wrap_ckpt_init(void)
{
	struct lh_contract *c = (struct lh_contract *)wrap_contract_ok;
	int r, lvl = MPI_THREAD_SINGLE;
	if (!c)
		return MPI_ERR_OTHER;
	if (service_running)
		return MPI_SUCCESS;
	MB.magic = LH_MPI_MAILBOX_MAGIC;
	MB.version = LH_MPI_MAILBOX_VERSION;
	MB.size = sizeof(MB);
	/* the lower half's eventfd: from the contract (it cannot know the mailbox earlier) */
	MB.efd =
	    c->size >= offsetof(struct lh_contract, mpi_efd) + sizeof(int32_t) ? c->mpi_efd : -1;
	if (MB.efd >= 0 && MB.efd <= 2) /* never stdio: a lower half without an eventfd left 0 */
		MB.efd = -1;
	MB.epoch = c->epoch;
	WRAP_DOWN(r, MPI_Comm_rank, MPI_COMM_WORLD, &MB.world_rank);
	if (r == MPI_SUCCESS)
		WRAP_DOWN(r, MPI_Comm_size, MPI_COMM_WORLD, &MB.world_size);
	if (r == MPI_SUCCESS)
		WRAP_DOWN(r, MPI_Query_thread, &lvl);
	if (r == MPI_SUCCESS)
		r = make_private_comm();
	if (r != MPI_SUCCESS)
		return wrap_fail(WRAP_IDX_MPI_Init, r,
				 "cannot set up MPI checkpointing (rank, size or the private "
				 "communicator failed in the lower MPI)");
	MB.thread_level = lvl;
	if (MB.world_size == 1) /* nothing to agree on: collectives on WORLD never wait */
		wrap_seq_world.gid = 0;
	cmd_seen = MB.to_upper;
	wrap_door_membarrier_setup();
	int e = pthread_create(&service, NULL, service_main, NULL);
	if (e != 0) {
		fprintf(stderr,
			"splitckpt: rank %d: cannot start the MPI service thread (%s): this job "
			"cannot be checkpointed\n",
			MB.world_rank, strerror(e));
		return MPI_SUCCESS; /* MPI works; the lower half sees no mailbox */
	}
	service_running = 1;
	if (c->size >= offsetof(struct lh_contract, mpi_mailbox) + sizeof(void *))
		c->mpi_mailbox = &MB;
	MB.text[0] = 0;
	reply(LH_MPI_REP_REGISTER);
	return MPI_SUCCESS;
}

wrap_door_t wrap_ckpt_finalize_enter(void)
{
	wrap_door_t d;
	for (;;) {
		d = wrap_door_enter(WRAP_DOOR_NONE, 0); /* waits until RUN */
		uint32_t idle = SVC_IDLE;
		if (__atomic_compare_exchange_n(&svc_state, &idle, SVC_FINALIZING, 0,
						__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST) ||
		    idle == SVC_FINALIZING)
			break;
		wrap_door_leave(d); /* a checkpoint started after we passed: let it run */
		sched_yield();
	}
	if (!service_running)
		return d;
	__atomic_store_n(&MB.finalized, 1, __ATOMIC_SEQ_CST);
	MB.text[0] = 0;
	reply(LH_MPI_REP_FINALIZED);
	__atomic_store_n(&service_stop, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, &MB.to_upper, FUTEX_WAKE, 1, NULL, NULL, 0);
	int e = pthread_join(service, NULL);
	if (e != 0)
		fprintf(stderr, "splitckpt: rank %d: cannot join the MPI service thread: %s\n",
			MB.world_rank, strerror(e));
	service_running = 0;
	if (private_comm != MPI_COMM_NULL) {
		int r;
		WRAP_DOWN(r, MPI_Comm_free, &private_comm);
		(void)r;
	}
	return d;
}
