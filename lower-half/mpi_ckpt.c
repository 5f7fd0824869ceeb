/*
 * mpi_ckpt.c - the checkpoint thread's side of an MPI checkpoint (docs/mpi-ckpt.md, sections
 * 2 and 4): the MPI blob of the image, the mailbox channel to the upper half's service
 * thread, and the forwarding between it and the coordinator (MSG_MPI).
 *
 * Invariants:
 *  - Only the checkpoint thread calls these functions (one at a time; the lh.busy word is the
 *    caller's business). The mailbox lives in upper memory; the lower half writes only the
 *    lower->upper fields (cmd, gen, round, final, targets) and efd/epoch/phase at restart.
 *  - A reply is taken once: `seen` remembers the last to_lower counter read. A reply that
 *    arrives without a wake-up is still found at the next look (every SUSPEND looks).
 *  - The lower half never calls into MPI here: everything MPI happens on the upper service
 *    thread, through the gate, with its own lower TLS.
 */
#define LOG_PREFIX "lh"
#include "mpi_ckpt.h"
#include "arena.h"
#include "contract.h"
#include "coord_client.h"
#include "lh.h"
#include "log.h"
#include "mpi_lower.h"
#include "sys_nolibc.h"

#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mpi.h>

static struct {
	uint32_t seen;	  /* last to_lower counter taken */
	int registered;	  /* REP_REGISTER seen (or a restored mailbox) */
	int reg_sent;	  /* MPI_REGISTER sent on the current connection */
	int finalized;	  /* REP_FINALIZED seen */
	int active;	  /* an MPI checkpoint runs: CMD_RESUME owed at its end */
	int quiesced;	  /* the upper half answered QUIESCED for the running checkpoint */
	int bad_reported; /* a malformed mailbox was reported once */
} st;

/* ---- the mailbox ---- */

struct lh_mpi_mailbox *lh_mpi_mailbox(void)
{
	struct lh_contract *c = lh_mpi_contract();
	if (!c)
		return NULL;
	struct lh_mpi_mailbox *mb = c->mpi_mailbox;
	if (!mb)
		return NULL;
	if (!arena_contains((uint64_t)mb, sizeof(*mb)) || mb->magic != LH_MPI_MAILBOX_MAGIC ||
	    mb->version != LH_MPI_MAILBOX_VERSION || mb->size < sizeof(*mb)) {
		if (!st.bad_reported++)
			log_err("the MPI mailbox at %p is not valid (outside the application's "
				"memory, or magic/version/size %#x/%u/%u; this lower half wants "
				"%#x/%u/%zu): MPI checkpoints of this rank are refused",
				(void *)mb, arena_contains((uint64_t)mb, 16) ? mb->magic : 0,
				arena_contains((uint64_t)mb, 16) ? mb->version : 0,
				arena_contains((uint64_t)mb, 16) ? mb->size : 0,
				LH_MPI_MAILBOX_MAGIC, LH_MPI_MAILBOX_VERSION, sizeof(*mb));
		return NULL;
	}
	return mb;
}

void lh_mpi_post(struct lh_mpi_mailbox *mb, uint32_t cmd)
{
	__atomic_store_n(&mb->cmd, cmd, __ATOMIC_RELAXED);
	__atomic_add_fetch(&mb->to_upper, 1, __ATOMIC_RELEASE);
	/* the service thread may wait with a private or a shared futex: wake both kinds */
	sys_futex((int *)&mb->to_upper, FUTEX_WAKE_PRIVATE, 0x7fffffff, 0);
	sys_futex((int *)&mb->to_upper, FUTEX_WAKE, 0x7fffffff, 0);
}

/* The reply taken last is read completely: the upper half may write report[] again. */
static void done_reading(struct lh_mpi_mailbox *mb)
{
	__atomic_store_n(&mb->taken, st.seen, __ATOMIC_RELEASE);
}

uint32_t lh_mpi_take(struct lh_mpi_mailbox *mb)
{
	uint32_t n = __atomic_load_n(&mb->to_lower, __ATOMIC_ACQUIRE);
	if (n == st.seen)
		return LH_MPI_REP_NONE;
	if (n - st.seen > 1)
		log_debug("MPI mailbox: %u replies arrived at once; only the last is read",
			  n - st.seen);
	st.seen = n;
	uint32_t r = __atomic_load_n(&mb->reply, __ATOMIC_ACQUIRE);
	if (r != LH_MPI_REP_REPORT)
		done_reading(mb); /* a report: once it is sent (round_reply) or dropped */
	return r;
}

void lh_mpi_seen_now(struct lh_mpi_mailbox *mb)
{
	st.seen = __atomic_load_n(&mb->to_lower, __ATOMIC_ACQUIRE);
	done_reading(mb);
	st.registered = 1;
	st.finalized = mb->finalized != 0;
}

static void efd_drain(void)
{
	uint64_t v;
	int fd = lh_mpi_efd();
	if (fd >= 0)
		while (read(fd, &v, sizeof(v)) == sizeof(v))
			;
}

/* NUL-terminated copy of the mailbox text (the upper half's bytes are not trusted). */
static void mb_text(const struct lh_mpi_mailbox *mb, char *out, size_t n)
{
	size_t k = 0;
	while (k + 1 < n && k < LH_MPI_TEXT && mb->text[k])
		out[k] = mb->text[k], k++;
	out[k] = 0;
}

int lh_mpi_wait_reply(struct lh_mpi_mailbox *mb, uint32_t want, int warn_s, const char *what)
{
	int fd = lh_mpi_efd();
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int warned = 0;
	for (;;) {
		uint32_t r = lh_mpi_take(mb);
		if (r == want)
			return 0;
		if (r == LH_MPI_REP_REGISTER)
			st.registered = 1;
		else if (r == LH_MPI_REP_FINALIZED)
			st.finalized = 1;
		else if (r != LH_MPI_REP_NONE)
			log_debug("MPI mailbox: reply %u dropped while waiting for %s", r, what);
		if (r == LH_MPI_REP_REPORT)
			done_reading(mb);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int k = poll(&p, 1, 1000);
		if (k > 0)
			efd_drain();
		clock_gettime(CLOCK_MONOTONIC, &t1);
		long s = (long)(t1.tv_sec - t0.tv_sec);
		if (s >= warn_s * (warned + 1)) {
			warned++;
			log_warn("MPI rank %d: the upper half has not answered %s after %ld s "
				 "(its MPI service thread is stuck or gone); still waiting",
				 mb->world_rank, what, s);
		}
	}
}

/* ---- what the image keeps ---- */

static const char *launcher_kind(void)
{
	if (getenv("SLURM_STEP_ID") && getenv("SLURM_PROCID"))
		return "srun";
	if (getenv("PMI_RANK") || getenv("PMI_FD"))
		return "mpiexec";
	return "";
}

static int env_int(const char *a, const char *b)
{
	const char *v = getenv(a);
	if (!v && b)
		v = getenv(b);
	return v && *v ? atoi(v) : -1;
}

int lh_mpi_collect(void **blob, size_t *len)
{
	*blob = NULL;
	*len = 0;
	if (lh_mpi_is_fork_child())
		return 0; /* a plain process: no MPI section */
	struct lh_mpi_blob *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->magic = LH_MPI_BLOB_MAGIC;
	b->size = sizeof(*b);
	b->thread_level = -1;
	b->world_rank = env_int("PMI_RANK", "SLURM_PROCID");
	b->world_size = env_int("PMI_SIZE", "SLURM_NTASKS");
	struct lh_contract *c = lh_mpi_contract();
	b->epoch = c ? c->epoch : 1;
	struct lh_mpi_mailbox *mb = lh_mpi_mailbox();
	if (mb) {
		b->mailbox = (uint64_t)mb;
		b->thread_level = mb->thread_level;
		b->world_rank = mb->world_rank;
		b->world_size = mb->world_size;
		b->finalized = mb->finalized != 0;
	} else {
		int flag = 0;
		if (MPI_Initialized(&flag) == MPI_SUCCESS && flag)
			MPI_Query_thread(&b->thread_level);
	}
	snprintf(b->launcher, sizeof(b->launcher), "%s", launcher_kind());
	*blob = b;
	*len = sizeof(*b);
	return 0;
}

int lh_mpi_image_ok(char *err, size_t errlen)
{
	struct lh_mpi_mailbox *mb = lh_mpi_mailbox();
	if (mb && (mb->finalized || st.finalized || st.quiesced))
		return 0;
	if (lh_mpi_is_fork_child())
		return 0;
	if (mb) {
		snprintf(err, errlen,
			 "MPI rank %d was not quiesced for this checkpoint (its MPI state may be in "
			 "flight), so no image was written",
			 mb->world_rank);
		return -ENOTSUP;
	}
	int init = 0, fin = 0;
	MPI_Initialized(&init);
	MPI_Finalized(&fin);
	if (!init || fin)
		return 0; /* no MPI state to lose: like any process */
	snprintf(err, errlen,
		 "this MPI rank called MPI_Init but its upper half registered no MPI checkpoint "
		 "mailbox (an old splitckpt libmpich.so.12 in LD_LIBRARY_PATH?); its MPI state "
		 "could not be restarted, so no image was written");
	return -ENOTSUP;
}

int lh_mpi_active(void)
{
	struct lh_mpi_mailbox *mb = lh_mpi_mailbox();
	return mb && !mb->finalized && !st.finalized;
}

/* ---- forwarding ---- */

static void send_register(struct coord_conn *c, struct lh_mpi_mailbox *mb)
{
	if (!c || c->fd < 0 || st.reg_sent)
		return;
	char info[512], host[256] = "";
	gethostname(host, sizeof(host) - 1);
	const char *kind = launcher_kind();
	if (!strcmp(kind, "srun"))
		snprintf(info, sizeof(info), "SLURM_JOB_ID=%s SLURM_STEP_ID=%s host=%s",
			 getenv("SLURM_JOB_ID") ? getenv("SLURM_JOB_ID") : "",
			 getenv("SLURM_STEP_ID"), host);
	else
		snprintf(info, sizeof(info), "host=%s", host);
	if (lh_mpi_send_register(c, mb->world_rank, mb->world_size, mb->thread_level, kind,
				 info) == 0)
		st.reg_sent = 1;
}

/* One reply outside the rounds (REGISTER, FINALIZED). */
static void idle_reply(struct coord_conn *c, struct lh_mpi_mailbox *mb, uint32_t r)
{
	if (r == LH_MPI_REP_REGISTER) {
		st.registered = 1;
		st.finalized = 0;
		st.reg_sent = 0;
		send_register(c, mb);
	} else if (r == LH_MPI_REP_FINALIZED) {
		/* The one-slot mailbox may have lost a REGISTER that FINALIZED overtook (a rank
		 * that finalizes right after MPI_Init): the coordinator must know the rank. */
		st.registered = 1;
		send_register(c, mb);
		st.finalized = 1;
		if (c && c->fd >= 0)
			lh_mpi_send_finalized(c);
	} else if (r != LH_MPI_REP_NONE) {
		log_debug("MPI mailbox: reply %u outside a checkpoint ignored", r);
		if (r == LH_MPI_REP_REPORT)
			done_reading(mb);
	}
}

void lh_mpi_event(struct coord_conn *c)
{
	efd_drain();
	struct lh_mpi_mailbox *mb = lh_mpi_mailbox();
	if (mb)
		idle_reply(c, mb, lh_mpi_take(mb));
}

void lh_mpi_joined(struct coord_conn *c)
{
	st.reg_sent = 0;
	if (lh_mpi_is_fork_child())
		st.registered = st.active = st.quiesced = 0; /* the parent's, not ours */
	struct lh_mpi_mailbox *mb = lh_mpi_mailbox();
	if (!mb)
		return;
	idle_reply(c, mb, lh_mpi_take(mb));
	if (st.registered && !st.reg_sent && !st.finalized && !mb->finalized)
		send_register(c, mb);
}

static void resume_upper(struct lh_mpi_mailbox *mb)
{
	st.quiesced = 0;
	if (!st.active)
		return;
	st.active = 0;
	lh_mpi_post(mb, LH_MPI_CMD_RESUME);
	lh_mpi_wait_reply(mb, LH_MPI_REP_RESUMED, 10, "RESUME");
}

void lh_mpi_resume(void)
{
	struct lh_mpi_mailbox *mb = lh_mpi_mailbox();
	if (mb)
		resume_upper(mb);
	else
		st.active = 0;
	st.quiesced = 0;
}

/* A message from the coordinator during the rounds. 0 go on, 1 checkpoint ended, -1 lost. */
static int round_msg(struct coord_conn *c, struct lh_mpi_mailbox *mb)
{
	struct proto_msg m;
	memset(&m, 0, sizeof(m));
	int rc = coord_recv(c, &m, 0);
	if (rc == -ETIMEDOUT)
		return 0;
	if (rc < 0) {
		log_warn("the coordinator went away during the MPI part of checkpoint generation "
			 "%u; resuming the application without it",
			 mb->gen);
		resume_upper(mb);
		return -1;
	}
	int ret = 0;
	switch (m.hdr.type) {
	case MSG_RESUME:
		/* a failed generation (committed=0): the upper half drops what it was doing */
		resume_upper(mb);
		coord_send_empty(c, MSG_RESUMED, 30000);
		ret = 1;
		break;
	case MSG_KILL:
		kill(getpid(), SIGKILL);
		break;
	case MSG_ERROR: {
		char text[512];
		if (proto_dec_error(&m, text, sizeof(text)) == 0)
			log_err("coordinator: %s", text);
		break;
	}
	default: {
		int k = lh_mpi_recv_targets(&m, mb); /* MSG_MPI / MPI_TARGETS */
		if (k == 0)
			lh_mpi_post(mb, LH_MPI_CMD_TARGETS);
		else if (k < 0)
			log_warn("checkpoint generation %u: malformed MPI targets from the "
				 "coordinator ignored",
				 mb->gen);
		else
			log_debug("message %s ignored during the MPI rounds",
				  proto_type_name(m.hdr.type));
		break;
	}
	}
	proto_msg_free(&m);
	return ret;
}

/* A reply of the upper half during the rounds. 0 go on, 2 quiesced. */
static int round_reply(struct coord_conn *c, struct lh_mpi_mailbox *mb, uint32_t r)
{
	char text[LH_MPI_TEXT];
	switch (r) {
	case LH_MPI_REP_REPORT:
		lh_mpi_send_report(c, mb);
		done_reading(mb); /* copied into the message: the next report may come */
		return 0;
	case LH_MPI_REP_QUIESCED:
		log_debug("generation %u: MPI rank %d quiesced in %.1f ms, drained %llu messages "
			  "(%llu bytes) in %.1f ms",
			  mb->gen, mb->world_rank, mb->quiesce_ns / 1e6,
			  (unsigned long long)mb->drained_msgs,
			  (unsigned long long)mb->drained_bytes, mb->drain_ns / 1e6);
		return 2;
	case LH_MPI_REP_ERROR:
		mb_text(mb, text, sizeof(text));
		log_err("checkpoint generation %u: MPI rank %d cannot be checkpointed: %s", mb->gen,
			mb->world_rank, text);
		lh_mpi_send_error(c, text);
		return 0;
	default:
		idle_reply(c, mb, r);
		return 0;
	}
}

/* SPLITCKPT_MPI_STUCK_S (1..86400 s; 0 = the upper half's default) for the mailbox. */
static uint32_t stuck_seconds(void)
{
	static int warned;
	const char *e = getenv("SPLITCKPT_MPI_STUCK_S");
	char *end;
	if (!e || !*e)
		return 0;
	unsigned long v = strtoul(e, &end, 10);
	if (*end || v < 1 || v > 86400) {
		if (!warned++)
			log_warn("SPLITCKPT_MPI_STUCK_S=%s is not a number of seconds from 1 to "
				 "86400; the default (10) is used",
				 e);
		return 0;
	}
	return (uint32_t)v;
}

int lh_mpi_suspend(struct coord_conn *c, uint32_t gen)
{
	struct lh_mpi_mailbox *mb = lh_mpi_mailbox();
	if (!mb)
		return 0;
	/* a REGISTER/FINALIZED that came without a wake-up goes first */
	idle_reply(c, mb, lh_mpi_take(mb));
	if (!st.reg_sent)
		send_register(c, mb);
	efd_drain();
	mb->gen = gen;
	mb->stuck_s = stuck_seconds();
	st.active = 1;
	st.quiesced = 0;
	lh_mpi_post(mb, LH_MPI_CMD_SUSPEND);
	int efd = lh_mpi_efd();
	for (;;) {
		uint32_t r = lh_mpi_take(mb);
		if (r != LH_MPI_REP_NONE) {
			if (round_reply(c, mb, r) == 2) {
				st.quiesced = 1;
				return 0;
			}
			continue;
		}
		struct pollfd p[2] = {{.fd = c->fd, .events = POLLIN}, {.fd = efd, .events = POLLIN}};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_perror("poll in the MPI checkpoint rounds");
			resume_upper(mb);
			return -1;
		}
		if (p[1].revents)
			efd_drain();
		if (p[0].revents) {
			int k = round_msg(c, mb);
			if (k != 0)
				return k;
		}
	}
}
