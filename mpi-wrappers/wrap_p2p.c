/*
 * wrap_p2p.c - point-to-point entry points under checkpointing (docs/mpi-ckpt.md section 1):
 * the blocking calls as a lower non-blocking call plus a wait loop, the message counters, and
 * the delivery of drained messages first in every receive entry point.
 *
 * Blocking calls (Send, Ssend, Rsend, Recv, Sendrecv, Sendrecv_replace, Probe, Mprobe, Mrecv,
 * and their _c forms) enter the gate once, post the lower non-blocking call and spin on the
 * lower Test/Iprobe there, reading only the phase word between two calls. Most calls end in
 * that spin. When the phase says DRAIN, the thread leaves the lower half; a pending request
 * becomes a virtual request (a receive with its arguments, so that a restart posts it again),
 * the thread waits at the door (wrap_door_step_out) and then waits on the virtual request
 * (wrap_p2p_wait), which the drain may have completed meanwhile. MPI_Bsend completes locally
 * in MPICH (it copies into the attached buffer or fails), so it stays one lower call; the
 * attached buffer is attached again in a restarted lower MPI before the next buffered send.
 *
 * Counters (wrap_p2p.h): sent += 1 per message initiated to a rank other than MPI_PROC_NULL
 * (Send*, Isend*, Sendrecv*, Start/Startall of persistent sends); recvd += 1 per receive
 * completion (here for blocking receives, in wrap_p2p_wait.c for requests, in the drain for
 * what it receives: a drained message delivered later does not count again).
 *
 * Drained messages (wrap_drain.h): every receive entry point first asks the queue of its
 * communicator when wrap_drain_pending() (one load). Irecv/Imrecv and a persistent receive
 * Start that match get a request that is already complete.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "wrap_drain.h"
#include "wrap_p2p.h"

/* ---- counters ------------------------------------------------------------------------------ */

__thread struct wrap_p2p_cnt wrap_p2p_my __attribute__((tls_model("initial-exec")));
static pthread_mutex_t cnt_lock = PTHREAD_MUTEX_INITIALIZER;
static struct wrap_p2p_cnt *cnt_list;
static uint64_t cnt_gone_sent, cnt_gone_recvd; /* of threads that exited */
static pthread_key_t cnt_key;
static pthread_once_t cnt_once = PTHREAD_ONCE_INIT;

static void cnt_exit(void *p)
{
	struct wrap_p2p_cnt *c = p, **pp;
	pthread_mutex_lock(&cnt_lock);
	for (pp = &cnt_list; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	cnt_gone_sent += c->sent;
	cnt_gone_recvd += c->recvd;
	pthread_mutex_unlock(&cnt_lock);
}

static void cnt_key_make(void)
{
	if (pthread_key_create(&cnt_key, cnt_exit) != 0)
		fputs("splitckpt: MPI message counters: pthread_key_create failed; the counts of "
		      "threads that exit are lost (a checkpoint may then not finish its drain)\n",
		      stderr);
}

void wrap_p2p_cnt_register(void)
{
	pthread_once(&cnt_once, cnt_key_make);
	pthread_mutex_lock(&cnt_lock);
	if (!wrap_p2p_my.reg) {
		wrap_p2p_my.reg = 1;
		wrap_p2p_my.next = cnt_list;
		cnt_list = &wrap_p2p_my;
	}
	pthread_mutex_unlock(&cnt_lock);
	pthread_setspecific(cnt_key, &wrap_p2p_my);
}

void wrap_p2p_counts(uint64_t *sent, uint64_t *recvd)
{
	pthread_mutex_lock(&cnt_lock);
	uint64_t s = cnt_gone_sent, r = cnt_gone_recvd;
	for (struct wrap_p2p_cnt *c = cnt_list; c; c = c->next) {
		s += __atomic_load_n(&c->sent, __ATOMIC_RELAXED);
		r += __atomic_load_n(&c->recvd, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&cnt_lock);
	*sent = s;
	*recvd = r;
}

/* ---- origins -------------------------------------------------------------------------------- */

static int replay_irecv(const void *blob, MPI_Request *real)
{
	const struct wrap_p2p_args *a = blob;
	MPI_Datatype ld = wrap_datatype_to_lower(a->datatype);
	MPI_Comm lc = wrap_comm_to_lower(a->comm);
	int r;
	WRAP_DOWN(r, MPI_Irecv, a->buf, a->count, ld, a->peer, a->tag, lc, real);
	return r;
}

static int replay_irecv_c(const void *blob, MPI_Request *real)
{
	const struct wrap_p2p_args_c *a = blob;
	MPI_Datatype ld = wrap_datatype_to_lower(a->datatype);
	MPI_Comm lc = wrap_comm_to_lower(a->comm);
	int r;
	WRAP_DOWN(r, MPI_Irecv_c, a->buf, a->count, ld, a->peer, a->tag, lc, real);
	return r;
}

static const struct wrap_vh_argref refs_irecv[] = {
    {offsetof(struct wrap_p2p_args, datatype), WRAP_VH_DATATYPE},
    {offsetof(struct wrap_p2p_args, comm), WRAP_VH_COMM}};
static const struct wrap_vh_argref refs_irecv_c[] = {
    {offsetof(struct wrap_p2p_args_c, datatype), WRAP_VH_DATATYPE},
    {offsetof(struct wrap_p2p_args_c, comm), WRAP_VH_COMM}};
const struct wrap_vh_origin wrap_p2p_org_irecv = {
    WRAP_IDX_MPI_Irecv, 0, sizeof(struct wrap_p2p_args), replay_irecv, refs_irecv, 2};
const struct wrap_vh_origin wrap_p2p_org_irecv_c = {
    WRAP_IDX_MPI_Irecv_c, 0, sizeof(struct wrap_p2p_args_c), replay_irecv_c, refs_irecv_c, 2};
const struct wrap_vh_origin wrap_p2p_org_isend = {WRAP_IDX_MPI_Isend, 0, 0, NULL, NULL, 0};
const struct wrap_vh_origin wrap_p2p_org_imrecv = {WRAP_IDX_MPI_Imrecv, 0, 0, NULL, NULL, 0};

_Static_assert(sizeof(struct wrap_p2p_args) % 8 == 0 && sizeof(struct wrap_p2p_args_c) % 8 == 0,
	       "argument copies are copied in 8-byte words");

typedef int (*isend_fn)(const void *, int, MPI_Datatype, int, int, MPI_Comm, MPI_Request *);
typedef int (*isend_c_fn)(const void *, MPI_Count, MPI_Datatype, int, int, MPI_Comm, MPI_Request *);
typedef int (*irecv_fn)(void *, int, MPI_Datatype, int, int, MPI_Comm, MPI_Request *);
typedef int (*irecv_c_fn)(void *, MPI_Count, MPI_Datatype, int, int, MPI_Comm, MPI_Request *);

/* ---- non-blocking sends: counted ---------------------------------------------------------- */

static inline void bsend_again(void);

#define WRAP_ISEND(NAME, CT)                                                                       \
	static const struct wrap_vh_origin org_##NAME = {WRAP_IDX_##NAME, 0, 0, NULL, NULL, 0};    \
	WRAP_EXPORT int P##NAME(const void *buf, CT count, MPI_Datatype datatype, int dest,        \
				int tag, MPI_Comm comm, MPI_Request *request)                      \
	{                                                                                          \
		int r;                                                                             \
		wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, comm);                             \
		MPI_Datatype ld = wrap_datatype_to_lower(datatype);                                \
		MPI_Comm lc = wrap_comm_to_lower(comm);                                            \
		MPI_Request lr = MPI_REQUEST_NULL;                                                 \
		if (WRAP_IDX_##NAME == WRAP_IDX_MPI_Ibsend ||                                      \
		    WRAP_IDX_##NAME == WRAP_IDX_MPI_Ibsend_c)                                      \
			bsend_again();                                                             \
		WRAP_DOWN(r, NAME, buf, count, ld, dest, tag, lc, &lr);                            \
		if (r == MPI_SUCCESS) {                                                            \
			*request = wrap_p2p_req_new(lr, &org_##NAME, NULL, datatype);              \
			if (dest != MPI_PROC_NULL)                                                 \
				wrap_p2p_count_sent(1);                                            \
		}                                                                                  \
		wrap_door_leave(d_);                                                               \
		return r;                                                                          \
	}                                                                                          \
	WRAP_ALIAS(P##NAME, NAME)

WRAP_ISEND(MPI_Isend, int)
WRAP_ISEND(MPI_Isend_c, MPI_Count)
WRAP_ISEND(MPI_Issend, int)
WRAP_ISEND(MPI_Issend_c, MPI_Count)
WRAP_ISEND(MPI_Irsend, int)
WRAP_ISEND(MPI_Irsend_c, MPI_Count)
WRAP_ISEND(MPI_Ibsend, int)
WRAP_ISEND(MPI_Ibsend_c, MPI_Count)

/* ---- blocking calls: post + spin in one crossing ---------------------------------------------- */

/* What a blocking call posts: the lower non-blocking call idx (Isend, Issend, Irsend, Irecv,
 * Imrecv or their _c form) with these arguments (handles already lower ones). */
struct post {
	unsigned idx;
	int large;
	void *buf;
	MPI_Count count;
	MPI_Datatype ld;
	int peer, tag;
	MPI_Comm lc;
	MPI_Message lm; /* Imrecv */
};

static inline __attribute__((always_inline)) int post_lower(void *f, struct post *p,
							    MPI_Request *lr)
{
	switch (p->idx) {
	case WRAP_IDX_MPI_Irecv:
		return ((irecv_fn)f)(p->buf, (int)p->count, p->ld, p->peer, p->tag, p->lc, lr);
	case WRAP_IDX_MPI_Irecv_c:
		return ((irecv_c_fn)f)(p->buf, p->count, p->ld, p->peer, p->tag, p->lc, lr);
	case WRAP_IDX_MPI_Imrecv:
		return ((__typeof__(&PMPI_Imrecv))f)(p->buf, (int)p->count, p->ld, &p->lm, lr);
	case WRAP_IDX_MPI_Imrecv_c:
		return ((__typeof__(&PMPI_Imrecv_c))f)(p->buf, p->count, p->ld, &p->lm, lr);
	default:
		if (p->large)
			return ((isend_c_fn)f)(p->buf, p->count, p->ld, p->peer, p->tag, p->lc, lr);
		return ((isend_fn)f)(p->buf, (int)p->count, p->ld, p->peer, p->tag, p->lc, lr);
	}
}

/* The crossing of every blocking call: enter the gate once, post p, and (when it worked and
 * wait) spin on the lower MPI_Test until it completes or the phase says DRAIN. Returns the
 * post's error (then *posted = 0) or the Test loop's result; *done = 1 when the request
 * completed (st filled), else *lr is the pending lower request. */
static int post_and_spin(struct post *p, int wait, MPI_Request *lr, int *posted, int *done,
			 MPI_Status *st)
{
	void *fi = wrap_lower_fn(p->idx), *ft = wrap_lower_fn(WRAP_IDX_MPI_Test);
	*posted = *done = 0;
	*lr = MPI_REQUEST_NULL;
	if (!fi || !ft)
		return wrap_unavailable(fi ? WRAP_IDX_MPI_Test : p->idx);
	struct wrap_p2p_test t = {lr, st};
	const volatile uint32_t *ph = wrap_p2p_phase_word();
	int r;
	uint64_t g = wrap_gate_enter();
	r = post_lower(fi, p, lr);
	if (r == MPI_SUCCESS) {
		*posted = 1;
		if (wait)
			r = wrap_p2p_spin(wrap_p2p_poll_test, ft, &t, done, ph);
	}
	wrap_gate_leave(g);
	return r;
}

/* Blocking send: post the lower non-blocking send idx and spin on it; at DRAIN step out and
 * wait on it as a virtual request of origin org. */
static int send_block(unsigned idx, const struct wrap_vh_origin *org, int large, const void *buf,
		      MPI_Count count, MPI_Datatype dt, int dest, int tag, MPI_Comm comm)
{
	struct post p = {idx,	   large, (void *)buf, count, wrap_datatype_to_lower(dt),
			 dest,	   tag,	  wrap_comm_to_lower(comm), MPI_MESSAGE_NULL};
	MPI_Request lr;
	int posted, done;
	int r = post_and_spin(&p, 1, &lr, &posted, &done, MPI_STATUS_IGNORE);
	if (!posted)
		return r;
	if (dest != MPI_PROC_NULL)
		wrap_p2p_count_sent(1);
	if (done || r != MPI_SUCCESS)
		return r;
	MPI_Request v = wrap_vh_request_new(lr, org, NULL);
	return wrap_p2p_wait(&v, MPI_STATUS_IGNORE);
}

#define WRAP_SEND(NAME, CT, LARGE, INAME)                                                          \
	WRAP_EXPORT int P##NAME(const void *buf, CT count, MPI_Datatype datatype, int dest,        \
				int tag, MPI_Comm comm)                                            \
	{                                                                                          \
		wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, comm);                             \
		int r = send_block(WRAP_IDX_##INAME, &org_##INAME, LARGE, buf, count, datatype,    \
				   dest, tag, comm);                                               \
		wrap_door_leave(d_);                                                               \
		return r;                                                                          \
	}                                                                                          \
	WRAP_ALIAS(P##NAME, NAME)

WRAP_SEND(MPI_Send, int, 0, MPI_Isend)
WRAP_SEND(MPI_Send_c, MPI_Count, 1, MPI_Isend_c)
WRAP_SEND(MPI_Ssend, int, 0, MPI_Issend)
WRAP_SEND(MPI_Ssend_c, MPI_Count, 1, MPI_Issend_c)
WRAP_SEND(MPI_Rsend, int, 0, MPI_Irsend)
WRAP_SEND(MPI_Rsend_c, MPI_Count, 1, MPI_Irsend_c)

/* ---- the Bsend buffer: attached again in a restarted lower MPI ------------------------------- */

static void *bsend_buf;
static MPI_Count bsend_size;
static int bsend_large;
static uint64_t bsend_epoch; /* contract epoch the lower MPI has it attached in */
static pthread_mutex_t bsend_lock = PTHREAD_MUTEX_INITIALIZER;

/* Before a buffered send: after a restart (new contract epoch) the fresh lower MPI has no
 * buffer; attach the application's again. One load and a compare while none is attached. */
static inline void bsend_again(void)
{
	if (__builtin_expect(bsend_buf == NULL, 1) ||
	    __builtin_expect(bsend_epoch == wrap_contract_ok->epoch, 1))
		return;
	pthread_mutex_lock(&bsend_lock);
	if (bsend_buf && bsend_epoch != wrap_contract_ok->epoch) {
		int r;
		if (bsend_large)
			WRAP_DOWN(r, MPI_Buffer_attach_c, bsend_buf, bsend_size);
		else
			WRAP_DOWN(r, MPI_Buffer_attach, bsend_buf, (int)bsend_size);
		if (r != MPI_SUCCESS)
			fprintf(stderr,
				"splitckpt: MPI_Bsend: attaching the buffer (%lld bytes at %p) "
				"again after the restart failed (MPI error %d)\n",
				(long long)bsend_size, bsend_buf, r);
		bsend_epoch = wrap_contract_ok->epoch;
	}
	pthread_mutex_unlock(&bsend_lock);
}

static int buffer_attach(int large, void *buf, MPI_Count size)
{
	int r;
	if (large)
		WRAP_DOWN(r, MPI_Buffer_attach_c, buf, size);
	else
		WRAP_DOWN(r, MPI_Buffer_attach, buf, (int)size);
	if (r == MPI_SUCCESS) {
		pthread_mutex_lock(&bsend_lock);
		bsend_buf = buf, bsend_size = size, bsend_large = large;
		bsend_epoch = wrap_contract_ok->epoch;
		pthread_mutex_unlock(&bsend_lock);
	}
	return r;
}

/* Detach: MPICH waits there until the buffered messages are out. After a restart that did not
 * attach the buffer again (no buffered send since), only our record is given back. */
static int buffer_detach(int large, void *addr, MPI_Count *size)
{
	int r = MPI_SUCCESS, isz = 0;
	if (bsend_buf && bsend_epoch != wrap_contract_ok->epoch) {
		*(void **)addr = bsend_buf;
		*size = bsend_size;
	} else if (large) {
		WRAP_DOWN(r, MPI_Buffer_detach_c, addr, size);
	} else {
		WRAP_DOWN(r, MPI_Buffer_detach, addr, &isz);
		*size = isz;
	}
	if (r == MPI_SUCCESS) {
		pthread_mutex_lock(&bsend_lock);
		bsend_buf = NULL;
		pthread_mutex_unlock(&bsend_lock);
	}
	return r;
}

WRAP_EXPORT int PMPI_Buffer_attach(void *buffer, int size)
{
	wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR_LOCAL, MPI_COMM_NULL);
	int r = wrap_lower_fn(WRAP_IDX_MPI_Buffer_attach)
		    ? buffer_attach(0, buffer, size)
		    : wrap_unavailable(WRAP_IDX_MPI_Buffer_attach);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Buffer_attach, MPI_Buffer_attach)

WRAP_EXPORT int PMPI_Buffer_attach_c(void *buffer, MPI_Count size)
{
	wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR_LOCAL, MPI_COMM_NULL);
	int r = wrap_lower_fn(WRAP_IDX_MPI_Buffer_attach_c)
		    ? buffer_attach(1, buffer, size)
		    : wrap_unavailable(WRAP_IDX_MPI_Buffer_attach_c);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Buffer_attach_c, MPI_Buffer_attach_c)

WRAP_EXPORT int PMPI_Buffer_detach(void *buffer_addr, int *size)
{
	MPI_Count n = 0;
	wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, MPI_COMM_NULL);
	int r = buffer_detach(0, buffer_addr, &n);
	if (r == MPI_SUCCESS)
		*size = (int)n;
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Buffer_detach, MPI_Buffer_detach)

WRAP_EXPORT int PMPI_Buffer_detach_c(void *buffer_addr, MPI_Count *size)
{
	wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, MPI_COMM_NULL);
	int r = buffer_detach(1, buffer_addr, size);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Buffer_detach_c, MPI_Buffer_detach_c)

/* MPICH's MPI_Bsend never waits for the receiver: it copies into the attached buffer (or
 * fails with MPI_ERR_BUFFER); the copy is sent by MPICH's progress, which the drain drives. */
#define WRAP_BSEND(NAME, CT)                                                                       \
	WRAP_EXPORT int P##NAME(const void *buf, CT count, MPI_Datatype datatype, int dest,        \
				int tag, MPI_Comm comm)                                            \
	{                                                                                          \
		int r;                                                                             \
		wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, comm);                             \
		MPI_Datatype ld = wrap_datatype_to_lower(datatype);                                \
		MPI_Comm lc = wrap_comm_to_lower(comm);                                            \
		bsend_again();                                                                     \
		WRAP_DOWN(r, NAME, buf, count, ld, dest, tag, lc);                                 \
		if (r == MPI_SUCCESS && dest != MPI_PROC_NULL)                                     \
			wrap_p2p_count_sent(1);                                                    \
		wrap_door_leave(d_);                                                               \
		return r;                                                                          \
	}                                                                                          \
	WRAP_ALIAS(P##NAME, NAME)

WRAP_BSEND(MPI_Bsend, int)
WRAP_BSEND(MPI_Bsend_c, MPI_Count)

/* ---- receives ----------------------------------------------------------------------------- */

/* A queued drained message for (comm, source, tag) unpacked into the buffer: 1 and *r set. */
static int from_queue(void *buf, MPI_Count count, MPI_Datatype dt, int source, int tag,
		      MPI_Comm comm, MPI_Status *st, int *r)
{
	if (!wrap_drain_pending() || source == MPI_PROC_NULL)
		return 0;
	struct wrap_drain_msg *m = wrap_drain_take(comm, source, tag);
	if (!m)
		return 0;
	*r = wrap_drain_unpack(m, buf, count, dt, st);
	free(m);
	return 1;
}

/* A pending lower receive as a virtual request that a restart can post again. */
static MPI_Request recv_virtual(MPI_Request lr, int large, void *buf, MPI_Count count,
				MPI_Datatype dt, int source, int tag, MPI_Comm comm)
{
	if (large) {
		struct wrap_p2p_args_c a = {buf, count, dt, source, tag, comm};
		return wrap_p2p_req_new(lr, &wrap_p2p_org_irecv_c, &a, dt);
	}
	struct wrap_p2p_args a = {buf, (int)count, dt, source, tag, comm};
	return wrap_p2p_req_new(lr, &wrap_p2p_org_irecv, &a, dt);
}

static int recv_block(int large, void *buf, MPI_Count count, MPI_Datatype dt, int source, int tag,
		      MPI_Comm comm, MPI_Status *st)
{
	int r, posted, done;
	if (from_queue(buf, count, dt, source, tag, comm, st, &r))
		return r;
	struct post p = {large ? WRAP_IDX_MPI_Irecv_c : WRAP_IDX_MPI_Irecv,
			 large,
			 buf,
			 count,
			 wrap_datatype_to_lower(dt),
			 source,
			 tag,
			 wrap_comm_to_lower(comm),
			 MPI_MESSAGE_NULL};
	MPI_Request lr;
	r = post_and_spin(&p, 1, &lr, &posted, &done, st);
	if (!posted)
		return r;
	if (done || r != MPI_SUCCESS) {
		if (source != MPI_PROC_NULL)
			wrap_p2p_count_recvd(1);
		return r;
	}
	MPI_Request v = recv_virtual(lr, large, buf, count, dt, source, tag, comm);
	return wrap_p2p_wait(&v, st);
}

WRAP_EXPORT int PMPI_Recv(void *buf, int count, MPI_Datatype datatype, int source, int tag,
			  MPI_Comm comm, MPI_Status *status)
{
	wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, comm);
	int r = recv_block(0, buf, count, datatype, source, tag, comm, status);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Recv, MPI_Recv)

WRAP_EXPORT int PMPI_Recv_c(void *buf, MPI_Count count, MPI_Datatype datatype, int source, int tag,
			    MPI_Comm comm, MPI_Status *status)
{
	wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, comm);
	int r = recv_block(1, buf, count, datatype, source, tag, comm, status);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Recv_c, MPI_Recv_c)

static int irecv(int large, void *buf, MPI_Count count, MPI_Datatype dt, int source, int tag,
		 MPI_Comm comm, MPI_Request *request)
{
	int r;
	MPI_Status st;
	if (from_queue(buf, count, dt, source, tag, comm, &st, &r)) {
		st.MPI_ERROR = r;
		*request = wrap_vh_request_new_done(
		    large ? &wrap_p2p_org_irecv_c : &wrap_p2p_org_irecv, &st);
		return *request == MPI_REQUEST_NULL
			   ? wrap_fail(WRAP_IDX_MPI_Irecv, MPI_ERR_NO_MEM, "out of memory")
			   : MPI_SUCCESS;
	}
	MPI_Datatype ld = wrap_datatype_to_lower(dt);
	MPI_Comm lc = wrap_comm_to_lower(comm);
	MPI_Request lr = MPI_REQUEST_NULL;
	if (large)
		WRAP_DOWN(r, MPI_Irecv_c, buf, count, ld, source, tag, lc, &lr);
	else
		WRAP_DOWN(r, MPI_Irecv, buf, (int)count, ld, source, tag, lc, &lr);
	if (r == MPI_SUCCESS)
		*request = recv_virtual(lr, large, buf, count, dt, source, tag, comm);
	return r;
}

WRAP_EXPORT int PMPI_Irecv(void *buf, int count, MPI_Datatype datatype, int source, int tag,
			   MPI_Comm comm, MPI_Request *request)
{
	wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, comm);
	int r = irecv(0, buf, count, datatype, source, tag, comm, request);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Irecv, MPI_Irecv)

WRAP_EXPORT int PMPI_Irecv_c(void *buf, MPI_Count count, MPI_Datatype datatype, int source, int tag,
			     MPI_Comm comm, MPI_Request *request)
{
	wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, comm);
	int r = irecv(1, buf, count, datatype, source, tag, comm, request);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Irecv_c, MPI_Irecv_c)

/* ---- send + receive ------------------------------------------------------------------------ */

/* Poll of Sendrecv: the lower Testall of its receive and its send. */
struct testall2 {
	MPI_Request *lr;
	MPI_Status *sts;
};
static inline __attribute__((always_inline)) int poll_testall2(void *f, void *c, int *done)
{
	struct testall2 *t = c;
	return ((__typeof__(&PMPI_Testall))f)(2, t->lr, done, t->sts);
}

static int sendrecv(int large, const void *sbuf, MPI_Count scount, MPI_Datatype stype, int dest,
		    int stag, void *rbuf, MPI_Count rcount, MPI_Datatype rtype, int source,
		    int rtag, MPI_Comm comm, MPI_Status *st)
{
	int r, r2, flag = 0;
	MPI_Status sts[2];
	if (from_queue(rbuf, rcount, rtype, source, rtag, comm, st, &r)) {
		r2 = send_block(large ? WRAP_IDX_MPI_Isend_c : WRAP_IDX_MPI_Isend,
				large ? &org_MPI_Isend_c : &org_MPI_Isend, large, sbuf, scount,
				stype, dest, stag, comm);
		return r != MPI_SUCCESS ? r : r2;
	}
	unsigned iidx = large ? WRAP_IDX_MPI_Irecv_c : WRAP_IDX_MPI_Irecv;
	unsigned sidx = large ? WRAP_IDX_MPI_Isend_c : WRAP_IDX_MPI_Isend;
	void *fi = wrap_lower_fn(iidx), *fs = wrap_lower_fn(sidx),
	     *ft = wrap_lower_fn(WRAP_IDX_MPI_Testall);
	if (!fi || !fs || !ft)
		return wrap_unavailable(!fi ? iidx : !fs ? sidx : WRAP_IDX_MPI_Testall);
	MPI_Datatype lst = wrap_datatype_to_lower(stype), lrt = wrap_datatype_to_lower(rtype);
	MPI_Comm lc = wrap_comm_to_lower(comm);
	const volatile uint32_t *ph = wrap_p2p_phase_word();
	MPI_Request lr[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
	int posted = 0;
	uint64_t g = wrap_gate_enter();
	if (large)
		r = ((irecv_c_fn)fi)(rbuf, rcount, lrt, source, rtag, lc, &lr[0]);
	else
		r = ((irecv_fn)fi)(rbuf, (int)rcount, lrt, source, rtag, lc, &lr[0]);
	if (r == MPI_SUCCESS) {
		if (large)
			r = ((isend_c_fn)fs)(sbuf, scount, lst, dest, stag, lc, &lr[1]);
		else
			r = ((isend_fn)fs)(sbuf, (int)scount, lst, dest, stag, lc, &lr[1]);
		posted = r == MPI_SUCCESS;
	}
	if (posted) {
		struct testall2 t = {lr, sts};
		r = wrap_p2p_spin(poll_testall2, ft, &t, &flag, ph);
	}
	wrap_gate_leave(g);
	if (!posted)
		return r; /* (a failed send leaves the receive posted, as MPICH's own would) */
	if (dest != MPI_PROC_NULL)
		wrap_p2p_count_sent(1);
	if (!flag && r == MPI_SUCCESS) {
		MPI_Request v[2];
		v[0] = recv_virtual(lr[0], large, rbuf, rcount, rtype, source, rtag, comm);
		v[1] = wrap_vh_request_new(lr[1], large ? &org_MPI_Isend_c : &org_MPI_Isend, NULL);
		r = wrap_p2p_waitall(2, v, sts); /* counts the receive */
	} else if (source != MPI_PROC_NULL) {
		wrap_p2p_count_recvd(1);
	}
	if (st != MPI_STATUS_IGNORE)
		*st = sts[0];
	if (r == MPI_ERR_IN_STATUS)
		r = sts[0].MPI_ERROR != MPI_SUCCESS ? sts[0].MPI_ERROR : sts[1].MPI_ERROR;
	return r;
}

WRAP_EXPORT int PMPI_Sendrecv(const void *sendbuf, int sendcount, MPI_Datatype sendtype, int dest,
			      int sendtag, void *recvbuf, int recvcount, MPI_Datatype recvtype,
			      int source, int recvtag, MPI_Comm comm, MPI_Status *status)
{
	wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, comm);
	int r = sendrecv(0, sendbuf, sendcount, sendtype, dest, sendtag, recvbuf, recvcount,
			 recvtype, source, recvtag, comm, status);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Sendrecv, MPI_Sendrecv)

WRAP_EXPORT int PMPI_Sendrecv_c(const void *sendbuf, MPI_Count sendcount, MPI_Datatype sendtype,
				int dest, int sendtag, void *recvbuf, MPI_Count recvcount,
				MPI_Datatype recvtype, int source, int recvtag, MPI_Comm comm,
				MPI_Status *status)
{
	wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, comm);
	int r = sendrecv(1, sendbuf, sendcount, sendtype, dest, sendtag, recvbuf, recvcount,
			 recvtype, source, recvtag, comm, status);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Sendrecv_c, MPI_Sendrecv_c)

/* Sendrecv_replace: the outgoing data packed first (as MPICH does), sent as MPI_PACKED. */
static int sendrecv_replace(unsigned idx, void *buf, MPI_Count count, MPI_Datatype dt, int dest,
			    int stag, int source, int rtag, MPI_Comm comm, MPI_Status *st)
{
	MPI_Datatype ld = wrap_datatype_to_lower(dt);
	MPI_Comm lc = wrap_comm_to_lower(comm);
	MPI_Count sz = 0, pos = 0;
	int r;
	WRAP_DOWN(r, MPI_Pack_size_c, count, ld, lc, &sz);
	if (r != MPI_SUCCESS)
		return r;
	void *tmp = malloc(sz > 0 ? (size_t)sz : 1);
	if (!tmp)
		return wrap_fail(idx, MPI_ERR_NO_MEM, "out of memory for the packed message");
	if (dest != MPI_PROC_NULL)
		WRAP_DOWN(r, MPI_Pack_c, buf, count, ld, tmp, sz, &pos, lc);
	if (r == MPI_SUCCESS)
		r = sendrecv(1, tmp, pos, MPI_PACKED, dest, stag, buf, count, dt, source, rtag,
			     comm, st);
	free(tmp);
	return r;
}

WRAP_EXPORT int PMPI_Sendrecv_replace(void *buf, int count, MPI_Datatype datatype, int dest,
				      int sendtag, int source, int recvtag, MPI_Comm comm,
				      MPI_Status *status)
{
	wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, comm);
	int r = sendrecv_replace(WRAP_IDX_MPI_Sendrecv_replace, buf, count, datatype, dest, sendtag,
				 source, recvtag, comm, status);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Sendrecv_replace, MPI_Sendrecv_replace)

WRAP_EXPORT int PMPI_Sendrecv_replace_c(void *buf, MPI_Count count, MPI_Datatype datatype, int dest,
					int sendtag, int source, int recvtag, MPI_Comm comm,
					MPI_Status *status)
{
	wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, comm);
	int r = sendrecv_replace(WRAP_IDX_MPI_Sendrecv_replace_c, buf, count, datatype, dest,
				 sendtag, source, recvtag, comm, status);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Sendrecv_replace_c, MPI_Sendrecv_replace_c)

/* ---- probes and matched messages ---------------------------------------------------------- */

/* Record in new virtual message v what the drain needs to receive it (wrap_p2p.h). */
static void msg_record(MPI_Message v, const MPI_Status *s, MPI_Comm comm)
{
	struct wrap_vh_obj *e = wrap_p2p_msg_entry(v);
	if (!e)
		return;
	struct wrap_vh_req *q = (struct wrap_vh_req *)e;
	q->args[0] = (uint64_t)wrap_p2p_status_bytes(s);
	q->args[1] = (uint64_t)(uint32_t)s->MPI_SOURCE | ((uint64_t)(uint32_t)s->MPI_TAG << 32);
	q->args[2] = (uint64_t)(uint32_t)comm;
}

/* The state of a probe around wrap_p2p_loop. */
struct probe {
	int mprobe, source, tag;
	MPI_Comm comm; /* virtual */
	MPI_Comm lc;
	MPI_Message lm;
	MPI_Status *ls; /* the lower call's status: own (Improbe) or the caller's */
	MPI_Status own;
	int *flag;
	MPI_Message *message;
	MPI_Status *st;
	int answered; /* by probe_prepare */
};

/* A drained message that matches is the answer (a probe finds it first). */
static int probe_prepare(void *c, int *r)
{
	struct probe *p = c;
	p->answered = 1;
	if (wrap_drain_pending() && p->source != MPI_PROC_NULL) {
		if (!p->mprobe && wrap_drain_peek(p->comm, p->source, p->tag, p->st)) {
			*p->flag = 1;
			*r = MPI_SUCCESS;
			return 1;
		}
		struct wrap_drain_msg *m =
		    p->mprobe ? wrap_drain_take(p->comm, p->source, p->tag) : NULL;
		if (m) {
			if (p->st != MPI_STATUS_IGNORE)
				wrap_drain_status(m, p->st);
			*p->message = wrap_vh_message_new_drained(m);
			if (*p->message == MPI_MESSAGE_NULL) {
				free(m);
				*r = wrap_fail(p->mprobe ? WRAP_IDX_MPI_Improbe : WRAP_IDX_MPI_Iprobe,
					       MPI_ERR_NO_MEM, "out of memory");
				return 1;
			}
			*p->flag = 1;
			*r = MPI_SUCCESS;
			return 1;
		}
	}
	p->lc = wrap_comm_to_lower(p->comm); /* (again after a step out: maybe a new lower MPI) */
	p->answered = 0;
	return 0;
}

static inline __attribute__((always_inline)) int probe_poll(void *f, void *c, int *done)
{
	struct probe *p = c;
	if (p->mprobe)
		return ((__typeof__(&PMPI_Improbe))f)(p->source, p->tag, p->lc, done, &p->lm, p->ls);
	return ((__typeof__(&PMPI_Iprobe))f)(p->source, p->tag, p->lc, done, p->ls);
}

/* Iprobe (mprobe 0) or Improbe (mprobe 1), once or (blocking) until found. */
static int probe(int mprobe, int blocking, int source, int tag, MPI_Comm comm, int *flag,
		 MPI_Message *message, MPI_Status *st)
{
	struct probe p = {.mprobe = mprobe, .source = source, .tag = tag, .comm = comm,
			  .lm = MPI_MESSAGE_NULL, .flag = flag, .message = message, .st = st};
	int f = 0;
	p.ls = mprobe ? &p.own : st;
	int r = wrap_p2p_loop(mprobe ? WRAP_IDX_MPI_Improbe : WRAP_IDX_MPI_Iprobe, blocking,
			      probe_prepare, probe_poll, &p, &f);
	if (p.answered) /* from the drained messages */
		return r;
	*flag = f;
	if (mprobe && r == MPI_SUCCESS && f) {
		*message = wrap_message_from_lower(p.lm);
		msg_record(*message, &p.own, comm);
		if (st != MPI_STATUS_IGNORE)
			*st = p.own;
	}
	return r;
}

WRAP_EXPORT int PMPI_Probe(int source, int tag, MPI_Comm comm, MPI_Status *status)
{
	int flag;
	wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, comm);
	int r = probe(0, 1, source, tag, comm, &flag, NULL, status);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Probe, MPI_Probe)

WRAP_EXPORT int PMPI_Iprobe(int source, int tag, MPI_Comm comm, int *flag, MPI_Status *status)
{
	wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, comm);
	int r = probe(0, 0, source, tag, comm, flag, NULL, status);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Iprobe, MPI_Iprobe)

WRAP_EXPORT int PMPI_Mprobe(int source, int tag, MPI_Comm comm, MPI_Message *message,
			    MPI_Status *status)
{
	int flag;
	wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, comm);
	int r = probe(1, 1, source, tag, comm, &flag, message, status);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Mprobe, MPI_Mprobe)

WRAP_EXPORT int PMPI_Improbe(int source, int tag, MPI_Comm comm, int *flag, MPI_Message *message,
			     MPI_Status *status)
{
	wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, comm);
	int r = probe(1, 0, source, tag, comm, flag, message, status);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Improbe, MPI_Improbe)

/* Mrecv (req == NULL) or Imrecv of virtual message *message. */
static int mrecv(int large, void *buf, MPI_Count count, MPI_Datatype dt, MPI_Message *message,
		 MPI_Status *st, MPI_Request *req)
{
	unsigned idx = large ? WRAP_IDX_MPI_Imrecv_c : WRAP_IDX_MPI_Imrecv;
	struct wrap_vh_obj *e = wrap_p2p_msg_entry(*message);
	MPI_Status own;
	int r, flag = 0;
	if (e && (e->flags & WRAP_P2P_F_DRAINED)) { /* received by the drain (counted there) */
		const struct wrap_drain_msg *m = (const void *)(uintptr_t)e->aux;
		MPI_Status *s = req ? &own : st;
		r = wrap_drain_unpack(m, buf, count, dt, s);
		wrap_vh_message_release(e->vidx);
		*message = MPI_MESSAGE_NULL;
		if (req) {
			own.MPI_ERROR = r;
			*req = wrap_vh_request_new_done(&wrap_p2p_org_imrecv, &own);
			return MPI_SUCCESS;
		}
		return r;
	}
	struct post p = {idx,
			 large,
			 buf,
			 count,
			 wrap_datatype_to_lower(dt),
			 0,
			 0,
			 MPI_COMM_NULL,
			 e ? (MPI_Message)e->real : *message};
	MPI_Request lr;
	int posted;
	r = post_and_spin(&p, req == NULL, &lr, &posted, &flag, st);
	if (!posted)
		return r;
	int counts = e != NULL; /* MPI_MESSAGE_NO_PROC: nothing was sent */
	if (e)
		wrap_vh_message_release(e->vidx);
	*message = MPI_MESSAGE_NULL;
	if (req) {
		*req = wrap_vh_request_new(lr, &wrap_p2p_org_imrecv, NULL); /* F_RECV: counted */
		return MPI_SUCCESS;
	}
	if (flag || r != MPI_SUCCESS) {
		if (counts)
			wrap_p2p_count_recvd(1);
		return r;
	}
	MPI_Request v = wrap_vh_request_new(lr, &wrap_p2p_org_imrecv, NULL);
	return wrap_p2p_wait(&v, st);
}

WRAP_EXPORT int PMPI_Mrecv(void *buf, int count, MPI_Datatype datatype, MPI_Message *message,
			   MPI_Status *status)
{
	wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, MPI_COMM_NULL);
	int r = mrecv(0, buf, count, datatype, message, status, NULL);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Mrecv, MPI_Mrecv)

WRAP_EXPORT int PMPI_Mrecv_c(void *buf, MPI_Count count, MPI_Datatype datatype,
			     MPI_Message *message, MPI_Status *status)
{
	wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, MPI_COMM_NULL);
	int r = mrecv(1, buf, count, datatype, message, status, NULL);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Mrecv_c, MPI_Mrecv_c)

WRAP_EXPORT int PMPI_Imrecv(void *buf, int count, MPI_Datatype datatype, MPI_Message *message,
			    MPI_Request *request)
{
	wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, MPI_COMM_NULL);
	int r = mrecv(0, buf, count, datatype, message, MPI_STATUS_IGNORE, request);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Imrecv, MPI_Imrecv)

WRAP_EXPORT int PMPI_Imrecv_c(void *buf, MPI_Count count, MPI_Datatype datatype,
			      MPI_Message *message, MPI_Request *request)
{
	wrap_door_t d_ = wrap_door_enter(WRAP_P2P_DOOR, MPI_COMM_NULL);
	int r = mrecv(1, buf, count, datatype, message, MPI_STATUS_IGNORE, request);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Imrecv_c, MPI_Imrecv_c)

/* ---- persistent requests ------------------------------------------------------------------ */

static int is_send_init(unsigned idx)
{
	return idx == WRAP_IDX_MPI_Send_init || idx == WRAP_IDX_MPI_Send_init_c ||
	       idx == WRAP_IDX_MPI_Ssend_init || idx == WRAP_IDX_MPI_Ssend_init_c ||
	       idx == WRAP_IDX_MPI_Rsend_init || idx == WRAP_IDX_MPI_Rsend_init_c ||
	       idx == WRAP_IDX_MPI_Bsend_init || idx == WRAP_IDX_MPI_Bsend_init_c;
}

static int large_init(unsigned idx)
{
	return idx == WRAP_IDX_MPI_Send_init_c || idx == WRAP_IDX_MPI_Ssend_init_c ||
	       idx == WRAP_IDX_MPI_Rsend_init_c || idx == WRAP_IDX_MPI_Bsend_init_c ||
	       idx == WRAP_IDX_MPI_Recv_init_c;
}

/* Peer (dest or source) of a persistent point-to-point request, from its argument copy. */
static int peer_of(struct wrap_vh_obj *e, const struct wrap_vh_origin *o)
{
	void *a = wrap_p2p_args_of(e);
	return large_init(o->idx) ? ((struct wrap_p2p_args_c *)a)->peer
				  : ((struct wrap_p2p_args *)a)->peer;
}

/* A started persistent receive that a queued message matches: delivered now (1). */
static int start_from_queue(struct wrap_vh_obj *e, const struct wrap_vh_origin *o)
{
	void *a = wrap_p2p_args_of(e);
	MPI_Status st;
	int r, got;
	if (large_init(o->idx)) {
		struct wrap_p2p_args_c *c = a;
		got = from_queue(c->buf, c->count, c->datatype, c->peer, c->tag, c->comm, &st, &r);
	} else {
		struct wrap_p2p_args *c = a;
		got = from_queue(c->buf, c->count, c->datatype, c->peer, c->tag, c->comm, &st, &r);
	}
	if (!got)
		return 0;
	st.MPI_ERROR = r;
	wrap_vh_request_set_done(e, &st, 1);
	return 1;
}

/* After the lower start of e: active; a send counts. */
static void started(struct wrap_vh_obj *e)
{
	const struct wrap_vh_origin *o = e->desc;
	e->flags |= WRAP_P2P_F_ACTIVE;
	if (o && o->size && is_send_init(o->idx) && peer_of(e, o) != MPI_PROC_NULL)
		wrap_p2p_count_sent(1);
}

static int pending_recv_init(struct wrap_vh_obj *e, const struct wrap_vh_origin **o)
{
	*o = e->desc;
	return wrap_drain_pending() && (e->flags & WRAP_P2P_F_RECV) && *o && (*o)->size;
}

/* The door of Start/Startall: a persistent collective among the requests counts as a
 * collective on its communicator (wrap_seq.c). */
static wrap_door_t start_door(const MPI_Request *reqs, int n)
{
#ifdef WRAP_P2P_HAVE_DOOR
	int vcomm = MPI_COMM_NULL;
	int kind = wrap_seq_start_kind(reqs, n, &vcomm);
	wrap_door_t d = wrap_door_enter(kind, vcomm);
	if (kind == WRAP_DOOR_COLL)
		wrap_seq_start_more(reqs, n);
	return d;
#else
	(void)reqs;
	(void)n;
	return wrap_door_enter(WRAP_P2P_DOOR, MPI_COMM_NULL);
#endif
}

WRAP_EXPORT int PMPI_Start(MPI_Request *request)
{
	int r = MPI_SUCCESS;
	const struct wrap_vh_origin *o;
	wrap_door_t d_ = start_door(request, 1);
	bsend_again(); /* (a persistent buffered send among them) */
	struct wrap_vh_obj *e = wrap_p2p_req_entry(*request);
	if (!e) {
		WRAP_DOWN(r, MPI_Start, request);
	} else if (!(pending_recv_init(e, &o) && start_from_queue(e, o))) {
		MPI_Request l = (MPI_Request)e->real;
		WRAP_DOWN(r, MPI_Start, &l);
		if (r == MPI_SUCCESS)
			started(e);
	}
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Start, MPI_Start)

WRAP_EXPORT int PMPI_Startall(int count, MPI_Request array_of_requests[])
{
	MPI_Request lb[WRAP_VH_STACK], *l = lb;
	int r = MPI_SUCCESS, n = 0;
	const struct wrap_vh_origin *o;
	wrap_door_t d_ = start_door(array_of_requests, count);
	bsend_again();
	if (count > WRAP_VH_STACK && !(l = malloc(sizeof(*l) * (size_t)count))) {
		r = wrap_fail(WRAP_IDX_MPI_Startall, MPI_ERR_NO_MEM, "out of memory");
		goto out;
	}
	/* queue deliveries first, then one lower Startall for the others, in order */
	for (int i = 0; i < count; i++) {
		struct wrap_vh_obj *e = wrap_p2p_req_entry(array_of_requests[i]);
		if (e && pending_recv_init(e, &o) && start_from_queue(e, o))
			continue;
		l[n++] = e ? (MPI_Request)e->real : array_of_requests[i];
	}
	if (n > 0)
		WRAP_DOWN(r, MPI_Startall, n, l);
	if (r == MPI_SUCCESS)
		for (int i = 0; i < count; i++) {
			struct wrap_vh_obj *e = wrap_p2p_req_entry(array_of_requests[i]);
			if (e && !(e->flags & WRAP_P2P_F_DONE))
				started(e);
		}
	if (l != lb)
		free(l);
out:
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Startall, MPI_Startall)
