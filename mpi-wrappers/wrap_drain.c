/*
 * wrap_drain.c - the drain of point-to-point messages at a checkpoint and the queue of what it
 * received (docs/mpi-ckpt.md section 1; wrap_drain.h says what each function promises).
 *
 * The queue: one FIFO per communicator (virtual handle), a list of those, one mutex; the
 * global count wrap_drain_queued is what the receive fast path reads (0: nothing to look at).
 * A message is queued by the drain only, taken by the receive entry points of wrap_p2p.c.
 *
 * The drain (service thread, phase DRAIN, every application thread out of MPI, all ranks):
 *   loop {
 *     Test every pending virtual request (a completion is saved in the entry: DONE);
 *     receive every matched-but-unreceived message (Mprobe'd by the application);
 *     on every live communicator (MPI_COMM_WORLD, MPI_COMM_SELF and every virtual one the
 *       application holds, intercommunicators too) Improbe(ANY_SOURCE, ANY_TAG) and Mrecv
 *       what is there as MPI_BYTE into the queue;
 *     Allreduce(sent - recvd, requests not complete) on the private communicator;
 *   } until both sums are 0 (a send completes only after its receiver drained it: a
 *     rendezvous or a synchronous send needs the receiver's answer, which takes rounds).
 * All ranks leave the loop after the same Allreduce. A drain that has not balanced after
 * WRAP_DRAIN_LIMIT_S seconds fails (the checkpoint is refused, the job goes on): a message sent
 * to a receive the application freed or cancelled is the usual cause.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wrap_drain.h"
#include "wrap_p2p.h"

#define WRAP_DRAIN_LIMIT_S 120

uint64_t wrap_drain_queued;

struct cq {
	MPI_Comm comm;
	struct wrap_drain_msg *head, *tail;
	struct cq *next;
};
static struct cq *queues;
static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;

static int matches(const struct wrap_drain_msg *m, int source, int tag)
{
	return (source == MPI_ANY_SOURCE || m->source == source) &&
	       (tag == MPI_ANY_TAG || m->tag == tag);
}

static struct cq *queue_of(MPI_Comm comm)
{
	for (struct cq *q = queues; q; q = q->next)
		if (q->comm == comm)
			return q;
	return NULL;
}

struct wrap_drain_msg *wrap_drain_take(MPI_Comm comm, int source, int tag)
{
	struct wrap_drain_msg *m = NULL, *prev = NULL;
	pthread_mutex_lock(&q_lock);
	struct cq *q = queue_of(comm);
	for (m = q ? q->head : NULL; m; prev = m, m = m->next)
		if (matches(m, source, tag))
			break;
	if (m) {
		if (prev)
			prev->next = m->next;
		else
			q->head = m->next;
		if (q->tail == m)
			q->tail = prev;
		m->next = NULL;
		__atomic_sub_fetch(&wrap_drain_queued, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&q_lock);
	return m;
}

void wrap_drain_status(const struct wrap_drain_msg *m, MPI_Status *st)
{
	st->MPI_SOURCE = m->source;
	st->MPI_TAG = m->tag;
	st->MPI_ERROR = MPI_SUCCESS;
	wrap_p2p_status_set_bytes(st, m->len);
}

int wrap_drain_peek(MPI_Comm comm, int source, int tag, MPI_Status *st)
{
	int found = 0;
	pthread_mutex_lock(&q_lock);
	struct cq *q = queue_of(comm);
	for (struct wrap_drain_msg *m = q ? q->head : NULL; m; m = m->next)
		if (matches(m, source, tag)) {
			if (st != MPI_STATUS_IGNORE)
				wrap_drain_status(m, st);
			found = 1;
			break;
		}
	pthread_mutex_unlock(&q_lock);
	return found;
}

static void enqueue(struct wrap_drain_msg *m)
{
	pthread_mutex_lock(&q_lock);
	struct cq *q = queue_of(m->comm);
	if (!q && (q = calloc(1, sizeof(*q)))) {
		q->comm = m->comm;
		q->next = queues;
		queues = q;
	}
	/* (out of memory for a 32-byte queue head: the message is lost; said on stderr) */
	if (!q) {
		pthread_mutex_unlock(&q_lock);
		fprintf(stderr,
			"splitckpt: drain: out of memory, a drained message from rank %d "
			"(tag %d) is lost\n",
			m->source, m->tag);
		free(m);
		return;
	}
	m->next = NULL;
	if (q->tail)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
	__atomic_add_fetch(&wrap_drain_queued, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&q_lock);
}

int wrap_drain_unpack(const struct wrap_drain_msg *m, void *buf, MPI_Count count,
		      MPI_Datatype datatype, MPI_Status *st)
{
	MPI_Datatype ld = wrap_datatype_to_lower(datatype);
	MPI_Comm lc = wrap_comm_to_lower(m->comm);
	MPI_Count sz = 0, n = m->len, pos = 0;
	int r, err = MPI_SUCCESS;
	WRAP_DOWN(r, MPI_Type_size_c, ld, &sz);
	if (r != MPI_SUCCESS)
		return r;
	if (n > sz * count) {
		n = sz * count;
		err = MPI_ERR_TRUNCATE;
	}
	if (n > 0) {
		MPI_Count outcount = err ? count : (n + sz - 1) / sz;
		WRAP_DOWN(r, MPI_Unpack_c, m->data, n, &pos, buf, outcount, ld, lc);
		if (r != MPI_SUCCESS && err == MPI_SUCCESS)
			err = r;
	}
	if (st != MPI_STATUS_IGNORE) {
		wrap_drain_status(m, st);
		wrap_p2p_status_set_bytes(st, n);
		st->MPI_ERROR = err;
	}
	if (err == MPI_ERR_TRUNCATE) { /* as MPICH: the communicator's error handler decides */
		WRAP_DOWN(r, MPI_Comm_call_errhandler, lc, MPI_ERR_TRUNCATE);
		(void)r;
	}
	return err;
}

/* ---- the drain ------------------------------------------------------------------------------ */

/* The private communicator (lower handle) of wrap_ckpt.c; tests without it dup their own. */
extern MPI_Comm wrap_ckpt_private_comm(void) __attribute__((weak));
static MPI_Comm own_private = MPI_COMM_NULL;
static uint64_t last_msgs; /* messages the last drain received */

static MPI_Comm private_comm(void)
{
	if (wrap_ckpt_private_comm)
		return wrap_ckpt_private_comm();
	if (own_private == MPI_COMM_NULL) {
		int r;
		WRAP_DOWN(r, MPI_Comm_dup, MPI_COMM_WORLD, &own_private);
		if (r != MPI_SUCCESS)
			own_private = MPI_COMM_NULL;
	}
	return own_private;
}

struct drain_stats {
	uint64_t msgs, bytes, completed;
	uint64_t pending; /* requests of this round that must still complete */
};

/* Test every pending request once; completions become DONE. */
static int test_requests(struct drain_stats *ds)
{
	size_t n = 0;
	int r = MPI_SUCCESS;
	wrap_vh_lock();
	struct wrap_vh_obj **v = wrap_vh_list(WRAP_VH_REQUEST, &n);
	wrap_vh_unlock();
	if (!v)
		return MPI_ERR_NO_MEM;
	for (size_t i = 0; i < n; i++) {
		struct wrap_vh_obj *e = v[i];
		const struct wrap_vh_origin *o = e->desc;
		int persistent = o && o->persistent, flag = 0;
		if ((e->flags & WRAP_P2P_F_DONE) || e->real == MPI_REQUEST_NULL)
			continue;
		if (persistent && !(e->flags & WRAP_P2P_F_ACTIVE))
			continue;
		MPI_Request l = (MPI_Request)e->real;
		MPI_Status st;
		memset(&st, 0, sizeof(st));
		WRAP_DOWN(r, MPI_Test, &l, &flag, &st);
		if (!flag && r == MPI_SUCCESS) {
			/* a send, a non-blocking collective...: its peers drain too, it completes;
			 * receives may stay pending, generalized requests (no origin) are the
			 * application's */
			if (o && !(e->flags & WRAP_P2P_F_RECV))
				ds->pending++;
			continue;
		}
		if (e->flags & WRAP_P2P_F_RECV)
			wrap_p2p_count_recvd(1);
		if (e->flags & WRAP_P2P_F_ORPHAN) { /* freed by the application: gone now */
			if (persistent)
				WRAP_DOWN(r, MPI_Request_free, &l);
			wrap_vh_request_release(e->vidx);
			ds->completed++;
			r = MPI_SUCCESS;
			continue;
		}
		st.MPI_ERROR = r;
		if (wrap_vh_request_set_done(e, &st, persistent) != 0) {
			r = MPI_ERR_NO_MEM;
			break;
		}
		ds->completed++;
		r = MPI_SUCCESS;
	}
	free(v);
	return r;
}

/* Receive the messages the application matched (Mprobe) but did not receive yet. */
static int drain_matched(struct drain_stats *ds)
{
	size_t n = 0;
	int r = MPI_SUCCESS;
	wrap_vh_lock();
	struct wrap_vh_obj **v = wrap_vh_list(WRAP_VH_MESSAGE, &n);
	wrap_vh_unlock();
	if (!v)
		return MPI_ERR_NO_MEM;
	for (size_t i = 0; i < n && r == MPI_SUCCESS; i++) {
		struct wrap_vh_obj *e = v[i];
		struct wrap_vh_req *q = (struct wrap_vh_req *)e;
		if ((e->flags & WRAP_P2P_F_DRAINED) || e->real == MPI_MESSAGE_NULL ||
		    e->real == MPI_MESSAGE_NO_PROC)
			continue;
		MPI_Count len = (MPI_Count)q->args[0];
		struct wrap_drain_msg *m = malloc(sizeof(*m) + (size_t)len);
		if (!m) {
			r = MPI_ERR_NO_MEM;
			break;
		}
		MPI_Message lm = (MPI_Message)e->real;
		MPI_Status st;
		WRAP_DOWN(r, MPI_Mrecv_c, m->data, len, MPI_BYTE, &lm, &st);
		if (r != MPI_SUCCESS) {
			free(m);
			break;
		}
		m->next = NULL;
		m->comm = (MPI_Comm)(uint32_t)q->args[2];
		m->source = (int)(uint32_t)q->args[1];
		m->tag = (int)(uint32_t)(q->args[1] >> 32);
		m->len = len;
		e->real = MPI_MESSAGE_NULL;
		e->aux = (uint64_t)(uintptr_t)m;
		e->flags |= WRAP_P2P_F_DRAINED;
		wrap_p2p_count_recvd(1);
		ds->msgs++;
		ds->bytes += (uint64_t)len;
	}
	free(v);
	return r;
}

/* Receive everything that waits unmatched on communicator vcomm (lower lc). */
static int drain_comm(MPI_Comm vcomm, MPI_Comm lc, struct drain_stats *ds)
{
	for (;;) {
		int r, flag = 0;
		MPI_Message lm = MPI_MESSAGE_NULL;
		MPI_Status st;
		MPI_Count n = 0;
		WRAP_DOWN(r, MPI_Improbe, MPI_ANY_SOURCE, MPI_ANY_TAG, lc, &flag, &lm, &st);
		if (r != MPI_SUCCESS || !flag)
			return r;
		WRAP_DOWN(r, MPI_Get_count_c, &st, MPI_BYTE, &n);
		if (r != MPI_SUCCESS)
			return r;
		struct wrap_drain_msg *m = malloc(sizeof(*m) + (size_t)n);
		if (!m)
			return MPI_ERR_NO_MEM;
		WRAP_DOWN(r, MPI_Mrecv_c, m->data, n, MPI_BYTE, &lm, &st);
		if (r != MPI_SUCCESS) {
			free(m);
			return r;
		}
		m->comm = vcomm;
		m->source = st.MPI_SOURCE;
		m->tag = st.MPI_TAG;
		m->len = n;
		wrap_p2p_count_recvd(1);
		ds->msgs++;
		ds->bytes += (uint64_t)n;
		enqueue(m);
	}
}

static int drain_comms(struct drain_stats *ds, MPI_Comm *bad)
{
	size_t n = 0;
	int r;
	*bad = MPI_COMM_WORLD;
	if ((r = drain_comm(MPI_COMM_WORLD, MPI_COMM_WORLD, ds)) != MPI_SUCCESS)
		return r;
	*bad = MPI_COMM_SELF;
	if ((r = drain_comm(MPI_COMM_SELF, MPI_COMM_SELF, ds)) != MPI_SUCCESS)
		return r;
	wrap_vh_lock();
	struct wrap_vh_obj **v = wrap_vh_list(WRAP_VH_COMM, &n);
	wrap_vh_unlock();
	if (!v)
		return MPI_ERR_NO_MEM;
	for (size_t i = 0; i < n && r == MPI_SUCCESS; i++) {
		struct wrap_vh_obj *e = v[i];
		/* freed by the application (only a description holds it), or the result of an
		 * MPI_Comm_idup not described yet (MPICH 4.0.2 must not be asked about it) */
		if (e->app_refs == 0 || (e->flags & WRAP_VH_F_LATER) || e->real == MPI_COMM_NULL)
			continue;
		*bad = (MPI_Comm)wrap_vh_handle_of(e);
		r = drain_comm(*bad, (MPI_Comm)e->real, ds);
	}
	free(v);
	return r;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void mpi_err_text(int r, char *buf, size_t len)
{
	char msg[MPI_MAX_ERROR_STRING + 1] = "";
	int n = 0, r2;
	WRAP_DOWN(r2, MPI_Error_string, r, msg, &n);
	if (r2 != MPI_SUCCESS)
		snprintf(msg, sizeof(msg), "MPI error %d", r);
	snprintf(buf, len, "%s", msg);
}

int wrap_drain_run(char *err, size_t errlen)
{
	struct drain_stats ds = {0, 0, 0, 0};
	struct lh_mpi_mailbox *mb = wrap_contract_ok ? wrap_contract_ok->mpi_mailbox : NULL;
	int rank = mb ? mb->world_rank : -1, r;
	MPI_Comm priv = private_comm();
	double t0 = now_s();
	uint64_t sent, recvd;
	char why[MPI_MAX_ERROR_STRING + 64];
	if (rank < 0)
		WRAP_DOWN(r, MPI_Comm_rank, MPI_COMM_WORLD, &rank);
	if (priv == MPI_COMM_NULL) {
		snprintf(err, errlen, "rank %d: drain: no private communicator", rank);
		return -1;
	}
	for (unsigned round = 0;; round++) {
		MPI_Comm bad = MPI_COMM_NULL;
		ds.pending = 0;
		int lr = test_requests(&ds);
		const char *what = "testing the pending requests";
		if (lr == MPI_SUCCESS) {
			what = "receiving a matched message (MPI_Mprobe)";
			lr = drain_matched(&ds);
		}
		if (lr == MPI_SUCCESS) {
			what = "receiving the messages in flight";
			lr = drain_comms(&ds, &bad);
		}
		/* every rank takes part in every reduction, failed or not */
		wrap_p2p_counts(&sent, &recvd);
		int64_t d[4] = {(int64_t)(sent - recvd), lr != MPI_SUCCESS,
				now_s() - t0 > WRAP_DRAIN_LIMIT_S, (int64_t)ds.pending};
		WRAP_DOWN(r, MPI_Allreduce, MPI_IN_PLACE, d, 4, MPI_INT64_T, MPI_SUM, priv);
		if (r != MPI_SUCCESS) {
			mpi_err_text(r, why, sizeof(why));
			snprintf(err, errlen,
				 "rank %d: drain: Allreduce on the private "
				 "communicator failed: %s",
				 rank, why);
			return -1;
		}
		if (lr != MPI_SUCCESS) {
			mpi_err_text(lr, why, sizeof(why));
			snprintf(err, errlen, "rank %d: drain: %s failed (communicator %#x): %s",
				 rank, what, (unsigned)bad, why);
			return -1;
		}
		if (d[1] != 0) {
			snprintf(err, errlen,
				 "rank %d: drain: another rank failed to drain "
				 "(its message says why)",
				 rank);
			return -1;
		}
		if (d[0] == 0 && d[3] == 0)
			break;
		if (d[2] != 0) {
			snprintf(
			    err, errlen,
			    "rank %d: drain: %lld message(s) still unaccounted for and %lld "
			    "request(s) not complete after %d s and %u rounds (this rank: %llu "
			    "sent, %llu received, %llu pending); a receive the application "
			    "freed or cancelled while pending, or a send it cancelled, cannot be "
			    "drained",
			    rank, (long long)d[0], (long long)d[3], WRAP_DRAIN_LIMIT_S, round + 1,
			    (unsigned long long)sent, (unsigned long long)recvd,
			    (unsigned long long)ds.pending);
			return -1;
		}
	}
	if (mb) {
		mb->drained_msgs = ds.msgs;
		mb->drained_bytes = ds.bytes;
	}
	last_msgs = ds.msgs;
	return 0;
}

/* Tests only: the drain inside a running job, called by one thread of every rank at the same
 * point with no other thread inside MPI. Returns the number of messages this rank drained
 * (queued or received for a matched message), or -1 (reason on stderr). */
WRAP_EXPORT long long SPLITCKPT_test_drain(void);
WRAP_EXPORT long long SPLITCKPT_test_drain(void)
{
	char err[512];
	if (wrap_drain_run(err, sizeof(err)) != 0) {
		fprintf(stderr, "splitckpt: %s\n", err);
		return -1;
	}
	return (long long)last_msgs;
}
