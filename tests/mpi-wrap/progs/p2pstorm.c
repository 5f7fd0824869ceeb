/* p2pstorm.c - point-to-point message storm for a real MPI checkpoint/restart (issue 4, tests
 * 1 and 2), driven by tests/mpi-ckpt/mpi_cr.sh.
 *
 * Every rank follows one plan (one seed for all). Each step every rank sends 1-4 messages of
 * random size (0 B .. 64 KiB, one in 40 of 4 MiB) to random peers on MPI_COMM_WORLD or one of
 * two dups, with tags 0-2; each carries (source, stream sequence number, step, length, tag) and
 * a pattern derived from them. Per stream (source, destination, comm, tag) it is fixed how its
 * messages are received and whether in their own step or one step later (so some are always
 * in flight between steps): an Irecv posted before the sends (then the sender may use a
 * blocking Send or Ssend), a blocking Recv of (source, tag), Probe + Recv, or (the second dup
 * only) an ANY_SOURCE/ANY_TAG Recv loop; the other messages are sent with Isend or Bsend. Every step one rank (rotating) sleeps before it sends, so that its peers
 * sit blocked in Recv/Wait for messages not yet sent when a checkpoint comes.
 * Checks: every message arrives exactly once, in order within its (source, tag, comm) stream,
 * with its payload; the number received equals the plan. ANSWER = order-independent sum of
 * the received messages' hashes (equal to the uninterrupted and the native run).
 * Output for mpi_cr.sh: "PID <rank> <pid>", "READY" after 10 steps, ANSWER and PASS/FAIL on
 * rank 0.   p2pstorm [steps] [ms per step]
 * Both sleeps are paced by ../../progs/cr_go.h (CR_GO: none once the driver's go file exists,
 * a wait for it before the last quarter).
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../progs/cr_go.h"

#define MAXR 16
#define TAGS 3
#define HDR 5
#define MAXN (1 << 20) /* ints: 4 MiB */

struct msg {
	int src, dst, comm, tag, n, seq, step, how, rstep;
};
enum { H_IRECV, H_RECV, H_PROBE, H_ANY };
#define NCOMM 3 /* WORLD, a dup, and a dup for the wildcard streams only */

static int rank, size, bad;
static uint64_t rng = 88172645463325252ULL, answer;
static MPI_Comm comms[NCOMM];
static int sseq[MAXR][MAXR][NCOMM][TAGS]; /* sender side: next seq per stream */
static int rseq[MAXR][NCOMM][TAGS];	  /* receiver side: next expected seq from src */

/* How a stream (src, dst, comm, tag) is received, and how many steps after it was sent: fixed
 * per stream, so that its messages are matched in the order they were sent. Wildcard
 * receives have a communicator of their own (they would take anything) and no lag. */
static void stream_props(const struct msg *m, int *how, int *lag)
{
	uint32_t h = (uint32_t)m->src * 73856093u ^ (uint32_t)m->dst * 19349663u ^
		     (uint32_t)m->comm * 83492791u ^ (uint32_t)m->tag * 2654435761u;
	h ^= h >> 13;
	h *= 0x5bd1e995u;
	h ^= h >> 15;
	if (m->comm == 2) {
		*how = H_ANY, *lag = 0;
		return;
	}
	*how = (int)(h % 3);
	*lag = (int)((h >> 8) & 1);
}

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int val(const struct msg *m, int i)
{
	return (int)((uint32_t)m->src * 2654435761u ^ (uint32_t)m->seq * 40503u ^
		     (uint32_t)m->tag * 97u ^ (uint32_t)m->comm * 13u ^ (uint32_t)i * 2246822519u);
}

static void fill(const struct msg *m, int *b)
{
	if (m->n >= HDR)
		b[0] = m->src, b[1] = m->seq, b[2] = m->step, b[3] = m->n, b[4] = m->tag;
	for (int i = HDR; i < m->n; i++)
		b[i] = val(m, i);
}

#define FAILF(...)                                                                                 \
	do {                                                                                       \
		fprintf(stderr, "FAIL rank %d: ", rank);                                           \
		fprintf(stderr, __VA_ARGS__);                                                      \
		fprintf(stderr, "\n");                                                             \
		bad = 1;                                                                           \
	} while (0)

/* Check a received message against the plan entry it must be (in-order per stream). */
static void got(const struct msg *m, const int *b, const MPI_Status *st)
{
	int n = -1;
	MPI_Get_count(st, MPI_INT, &n);
	if (st->MPI_TAG != m->tag || n != m->n) {
		FAILF("step %d: from %d tag %d: status tag %d count %d, want %d", m->step, m->src,
		      m->tag, st->MPI_TAG, n, m->n);
		return;
	}
	int *exp = &rseq[m->src][m->comm][m->tag];
	if (m->seq != *exp)
		FAILF("stream %d/%d/%d: message %d where %d was due", m->src, m->comm, m->tag, m->seq,
		      *exp);
	*exp = m->seq + 1;
	uint64_t h = 1469598103934665603ULL;
	for (int i = 0; i < m->n; i++) {
		int want = i < HDR ? (i == 0 ? m->src : i == 1 ? m->seq : i == 2 ? m->step
								: i == 3 ? m->n : m->tag)
				   : val(m, i);
		if (b[i] != want) {
			FAILF("stream %d/%d/%d message %d: int %d is %d, want %d", m->src, m->comm,
			      m->tag, m->seq, i, b[i], want);
			return;
		}
		h = (h ^ (uint32_t)b[i]) * 1099511628211ULL;
	}
	answer += h ^ (uint64_t)m->n;
}

/* The plan of one step: every rank draws the same messages. */
static int plan_step(int s, struct msg *ms)
{
	int k = 0;
	for (int src = 0; src < size; src++) {
		int cnt = 1 + (int)(next() % 4);
		for (int j = 0; j < cnt; j++) {
			struct msg *m = &ms[k++];
			uint64_t x = next();
			m->src = src;
			m->dst = (int)(x % (uint64_t)size);
			m->comm = (int)((x >> 8) % NCOMM);
			m->tag = (int)((x >> 12) % TAGS);
			m->n = (x >> 20) % 40 == 0 ? MAXN : (int)((x >> 28) % 16384);
			if ((x >> 44) % 7 == 0)
				m->n = 0;
			int lag;
			stream_props(m, &m->how, &lag);
			m->rstep = s + lag; /* received now or one step later */
			m->step = s;
			m->seq = sseq[src][m->dst][m->comm][m->tag]++;
		}
	}
	return k;
}

int main(int argc, char **argv)
{
	int steps = argc > 1 ? atoi(argv[1]) : 200, ms = argc > 2 ? atoi(argv[2]) : 5, provided;
	MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	printf("PID %d %d\n", rank, (int)getpid());
	fflush(stdout);
	if (size > MAXR)
		MPI_Abort(MPI_COMM_WORLD, 2);
	comms[0] = MPI_COMM_WORLD;
	MPI_Comm_dup(MPI_COMM_WORLD, &comms[1]);
	MPI_Comm_dup(MPI_COMM_WORLD, &comms[2]);
	int bsz = 8 * (16384 * 4 + MPI_BSEND_OVERHEAD) * MAXR;
	void *bbuf = malloc((size_t)bsz);
	MPI_Buffer_attach(bbuf, bsz);

	/* two steps of plan: this one and the previous one (late receives) */
	struct msg *pl[2];
	int np[2] = {0, 0};
	pl[0] = calloc(4 * MAXR, sizeof(struct msg));
	pl[1] = calloc(4 * MAXR, sizeof(struct msg));
	int *rb = malloc(sizeof(int) * MAXN);
	int **ib = calloc(8 * MAXR, sizeof(int *));
	MPI_Request *iq = calloc(8 * MAXR, sizeof(MPI_Request));
	/* sends of this step and of the previous one (a late receiver takes it one step later) */
	int **sbs[2] = {calloc(8 * MAXR, sizeof(int *)), calloc(8 * MAXR, sizeof(int *))};
	MPI_Request *sqs[2] = {calloc(8 * MAXR, sizeof(MPI_Request)),
			       calloc(8 * MAXR, sizeof(MPI_Request))};
	int nss[2] = {0, 0};
	struct msg **im = calloc(8 * MAXR, sizeof(struct msg *));
	long planned = 0, received = 0;

	for (int s = 0; s <= steps; s++) {
		struct msg *cur = pl[s & 1], *prev = pl[(s + 1) & 1];
		np[s & 1] = s < steps ? plan_step(s, cur) : 0;
		int ncur = np[s & 1], nprev = np[(s + 1) & 1], ni = 0, ns = 0;
		int **sbufs = sbs[s & 1];
		MPI_Request *sq = sqs[s & 1];
		/* receives due now: pre-posted Irecvs first (their senders may block) */
		for (int pass = 0; pass < 2; pass++) {
			struct msg *v = pass ? cur : prev;
			int n = pass ? ncur : nprev;
			for (int i = 0; i < n; i++) {
				struct msg *m = &v[i];
				if (m->dst != rank || m->rstep != s || m->how != H_IRECV)
					continue;
				ib[ni] = malloc(sizeof(int) * (size_t)(m->n + 1));
				im[ni] = m;
				MPI_Irecv(ib[ni], m->n, MPI_INT, m->src, m->tag, comms[m->comm],
					  &iq[ni]);
				ni++;
			}
		}
		MPI_Barrier(MPI_COMM_WORLD); /* every pre-posted receive is posted */
		if (s % size == rank && ms > 0)
			cr_pause_us(ms * 3000L); /* the others wait for us in Recv/Wait */
		for (int i = 0; i < ncur; i++) {
			struct msg *m = &cur[i];
			if (m->src != rank)
				continue;
			planned++;
			int *b = sbufs[ns] = malloc(sizeof(int) * (size_t)(m->n + 1));
			fill(m, b);
			MPI_Comm c = comms[m->comm];
			if (m->how == H_IRECV && m->rstep == s) { /* receiver has posted */
				if (m->seq % 2)
					MPI_Ssend(b, m->n, MPI_INT, m->dst, m->tag, c);
				else
					MPI_Send(b, m->n, MPI_INT, m->dst, m->tag, c);
				sq[ns++] = MPI_REQUEST_NULL;
			} else if (m->n <= 16384 && m->seq % 3 == 0) {
				MPI_Bsend(b, m->n, MPI_INT, m->dst, m->tag, c);
				sq[ns++] = MPI_REQUEST_NULL;
			} else {
				MPI_Isend(b, m->n, MPI_INT, m->dst, m->tag, c, &sq[ns++]);
			}
		}
		/* the other receives due now, in plan order (streams stay in order) */
		int nany = 0;
		for (int pass = 0; pass < 2; pass++) {
			struct msg *v = pass ? cur : prev;
			int n = pass ? ncur : nprev;
			for (int i = 0; i < n; i++) {
				struct msg *m = &v[i];
				MPI_Status st;
				if (m->dst != rank || m->rstep != s || m->how == H_IRECV)
					continue;
				MPI_Comm c = comms[m->comm];
				if (m->how == H_ANY) {
					nany++;
					continue;
				}
				if (m->how == H_PROBE)
					MPI_Probe(m->src, m->tag, c, &st);
				MPI_Recv(rb, MAXN, MPI_INT, m->src, m->tag, c, &st);
				got(m, rb, &st);
				received++;
			}
		}
		/* wildcard receives: the status names the stream; its next message is due */
		for (int j = 0; j < nany; j++) {
			MPI_Status st;
			int n = -1, c = 2;
			MPI_Recv(rb, MAXN, MPI_INT, MPI_ANY_SOURCE, MPI_ANY_TAG, comms[c], &st);
			MPI_Get_count(&st, MPI_INT, &n);
			struct msg *m = NULL;
			for (int i = 0; i < ncur && !m; i++)
				if (cur[i].dst == rank && cur[i].comm == c &&
				    cur[i].src == st.MPI_SOURCE && cur[i].tag == st.MPI_TAG &&
				    cur[i].seq == rseq[cur[i].src][c][cur[i].tag])
					m = &cur[i];
			if (!m) {
				FAILF("step %d: unexpected message from %d tag %d (%d ints)", s,
				      st.MPI_SOURCE, st.MPI_TAG, n);
				continue;
			}
			got(m, rb, &st);
			received++;
		}
		MPI_Status *ists = calloc((size_t)ni + 1, sizeof(MPI_Status));
		MPI_Waitall(ni, iq, ists);
		for (int i = 0; i < ni; i++) {
			got(im[i], ib[i], &ists[i]);
			received++;
			free(ib[i]);
		}
		free(ists);
		/* the previous step's sends have all been received by now */
		nss[s & 1] = ns;
		int po = (s + 1) & 1;
		MPI_Status *ssts = calloc((size_t)nss[po] + 1, sizeof(MPI_Status));
		MPI_Waitall(nss[po], sqs[po], ssts);
		free(ssts);
		for (int i = 0; i < nss[po]; i++)
			free(sbs[po][i]);
		nss[po] = 0;
		if (s == 10) {
			printf("READY\n");
			fflush(stdout);
		}
		cr_pace_us(s, steps, ms * 1000L);
	}
	long tot[2] = {planned, received}, all[2];
	MPI_Allreduce(tot, all, 2, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
	if (all[0] != all[1])
		FAILF("%ld messages sent, %ld received", all[0], all[1]);
	uint64_t sum = 0;
	int anybad = 0;
	MPI_Reduce(&answer, &sum, 1, MPI_UINT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
	MPI_Allreduce(&bad, &anybad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
	if (rank == 0) {
		printf("messages %ld\n", all[0]);
		printf("ANSWER: %016llx\n", (unsigned long long)sum);
		printf("%s\n", anybad ? "FAIL" : "PASS");
	}
	int bs;
	MPI_Buffer_detach(&bbuf, &bs);
	free(bbuf);
	MPI_Comm_free(&comms[2]);
	MPI_Comm_free(&comms[1]);
	MPI_Finalize();
	return anybad;
}
