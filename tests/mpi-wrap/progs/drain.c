/* drain.c - the point-to-point drain of a checkpoint (docs/mpi-ckpt.md section 1), inside a
 * running job, through the test entry point SPLITCKPT_test_drain() of the upper half.
 *
 * Every rank follows one plan (same seed everywhere): ~50 messages per rank, 8 B .. 64 KiB
 * plus one of 4 MiB, to random peers, on MPI_COMM_WORLD, a dup (received with a derived pair
 * type), a split and an intercommunicator, sent with Isend, Issend, Bsend and (small ones)
 * Send; each carries its stream (source, tag, comm) sequence number and a checksummed
 * pattern. Before anything is received, every rank also has two wildcard Irecvs pending (one
 * gets its message before the drain, one only after it), a message matched with Mprobe and
 * not received, a zero-byte message, one that will be received truncated, one for a
 * persistent receive that is started only after the drain, a cancelled receive (no count) and
 * a receive freed while pending whose message comes before the drain (counted by the drain).
 *
 * Then all ranks call SPLITCKPT_test_drain(): every message must now sit in the upper half's
 * queue (this rank's count is checked exactly), every send request must be complete
 * (MPI_Request_get_status). With the argument "rebuild", SPLITCKPT_test_rebuild_handles()
 * follows (the queue is keyed by virtual communicators; the still pending Irecv is posted
 * again; the drained Mprobe'd message survives).
 * Afterwards every message is received - Recv, Irecv+Wait (complete at once when queued),
 * Probe+Recv, Mprobe+Mrecv, Improbe+Imrecv, persistent Start, and ANY_SOURCE/ANY_TAG loops
 * that check the per-stream order - exactly once, in order per (source, tag, comm), with the
 * right payload; then nothing is left (Iprobe). Natively (no entry points) the same program
 * runs without the drain: the checks hold there too.
 *   drain           (4 ranks)
 *   drain rebuild   (4 ranks)
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mt.h"

#define NCOMM 4 /* 0 world, 1 dup, 2 split, 3 inter */
#define PER_RANK 48
#define TAGS 3
#define TAG_W 50 /* wildcard Irecvs */
#define TAG_M 51 /* Mprobe'd */
#define TAG_Z 52 /* zero bytes */
#define TAG_T 53 /* truncated */
#define TAG_P 54 /* persistent receive */
#define TAG_C 55 /* a receive cancelled (no message) */
#define TAG_F 56 /* a receive freed while pending (its message comes before the drain) */
#define HDR 6
#define MAGIC 0x5ca1ab1e
#define BIG (1 << 20) /* ints: 4 MiB */

struct msg {
	int src, dst, comm, tag, n, seq, mode; /* n ints, dst as world rank */
};

static int rank, size;
static MPI_Comm comms[NCOMM];
static struct msg *plan;
static int nplan;

static uint32_t pat(const struct msg *m, int i)
{
	return (uint32_t)m->src * 2654435761u ^ (uint32_t)m->seq * 40503u ^ (uint32_t)m->tag * 97u ^
	       (uint32_t)m->comm * 13u ^ (uint32_t)i * 2246822519u;
}

static void fill(const struct msg *m, int *b)
{
	b[0] = MAGIC, b[1] = m->src, b[2] = m->seq, b[3] = m->tag, b[4] = m->comm, b[5] = m->n;
	for (int i = HDR; i < m->n; i++)
		b[i] = (int)pat(m, i);
}

static int check(const struct msg *m, const int *b, int n, const char *how)
{
	int ok = n == m->n && b[0] == MAGIC && b[1] == m->src && b[2] == m->seq &&
		 b[3] == m->tag && b[4] == m->comm && b[5] == m->n;
	for (int i = HDR; ok && i < m->n; i++)
		ok = b[i] == (int)pat(m, i);
	CHECK(ok, "%s: message %d -> %d comm %d tag %d seq %d (%d ints): got %d ints, header "
		  "%#x src %d seq %d",
	      how, m->src, m->dst, m->comm, m->tag, m->seq, m->n, n, b[0], b[1], b[2]);
	return ok;
}

/* Rank of world rank w in comms[c] (inter: in the remote group), or -1 if not a member. */
static int rank_in(int c, int w, int me)
{
	switch (c) {
	case 2:
		return w / 2 == me / 2 ? w % 2 : -1;
	case 3:
		return w % 2 != me % 2 ? w / 2 : -1;
	default:
		return w;
	}
}

static void make_plan(void)
{
	static int seqs[4][4][NCOMM][TAGS]; /* next sequence number per (src, dst, comm, tag) */
	srand(12345);
	plan = calloc((size_t)size * (PER_RANK + 1), sizeof(*plan));
	for (int s = 0; s < size; s++) {
		for (int k = 0; k <= PER_RANK; k++) {
			struct msg *m = &plan[nplan++];
			m->src = s;
			m->comm = rand() % NCOMM;
			do
				m->dst = rand() % size;
			while (rank_in(m->comm, m->dst, s) < 0);
			m->tag = rand() % TAGS;
			m->n = HDR + rand() % (16384 - HDR);
			if (m->comm == 1)
				m->n &= ~1; /* received as pairs of ints */
			m->mode = rand() % 4;
			if (k == PER_RANK) { /* one big one per rank */
				m->comm = 0, m->n = BIG, m->mode = 0;
				m->dst = (s + 1 + rand() % (size - 1)) % size;
			}
			if (m->mode >= 2 && m->n > 64)
				m->n = 64; /* Bsend and Send stay small (eager) */
			m->seq = seqs[s][m->dst][m->comm][m->tag]++;
		}
	}
}

int main(int argc, char **argv)
{
	int left, right, r;
	mt_tls_set();
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	CHECK(size == 4, "run with 4 processes");
	if (size != 4)
		return mt_finish("drain");
	int do_rebuild = argc > 1 && strcmp(argv[1], "rebuild") == 0;
	long long (*drain)(void) = (long long (*)(void))dlsym(RTLD_DEFAULT, "SPLITCKPT_test_drain");
	int (*rebuild)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "SPLITCKPT_test_rebuild_handles");
	left = (rank + size - 1) % size, right = (rank + 1) % size;

	MPI_Comm tcomm, split;
	comms[0] = MPI_COMM_WORLD;
	CHECK_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &comms[1]));
	CHECK_MPI(MPI_Comm_split(MPI_COMM_WORLD, rank / 2, rank, &comms[2]));
	CHECK_MPI(MPI_Comm_split(MPI_COMM_WORLD, rank % 2, rank, &split));
	CHECK_MPI(MPI_Intercomm_create(split, 0, MPI_COMM_WORLD, rank % 2 ? 0 : 1, 99, &comms[3]));
	CHECK_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &tcomm));
	CHECK_MPI(MPI_Comm_set_errhandler(tcomm, MPI_ERRORS_RETURN));
	MPI_Datatype pair;
	CHECK_MPI(MPI_Type_contiguous(2, MPI_INT, &pair));
	CHECK_MPI(MPI_Type_commit(&pair));
	int bsz = 64 * (int)sizeof(int) * PER_RANK + 64 * MPI_BSEND_OVERHEAD * PER_RANK;
	void *bbuf = malloc((size_t)bsz);
	CHECK_MPI(MPI_Buffer_attach(bbuf, bsz));
	make_plan();

	/* pending before any send: two wildcard Irecvs, a persistent receive (inactive) */
	int wbuf[2][HDR] = {{0}}, pbuf[HDR] = {0};
	MPI_Request wreq[2], preq;
	for (int i = 0; i < 2; i++)
		CHECK_MPI(MPI_Irecv(wbuf[i], HDR, MPI_INT, MPI_ANY_SOURCE, TAG_W, MPI_COMM_WORLD,
				    &wreq[i]));
	CHECK_MPI(MPI_Recv_init(pbuf, HDR, MPI_INT, left, TAG_P, MPI_COMM_WORLD, &preq));
	/* a cancelled receive, and a receive freed while pending (it still takes its message) */
	int cbuf = 0, fbuf[HDR] = {0}, cancelled = 0;
	MPI_Request creq, freq;
	MPI_Status cst;
	CHECK_MPI(MPI_Irecv(&cbuf, 1, MPI_INT, left, TAG_C, MPI_COMM_WORLD, &creq));
	CHECK_MPI(MPI_Cancel(&creq));
	CHECK_MPI(MPI_Wait(&creq, &cst));
	MPI_Test_cancelled(&cst, &cancelled);
	CHECK(cancelled, "the receive was not cancelled");
	CHECK_MPI(MPI_Irecv(fbuf, HDR, MPI_INT, left, TAG_F, MPI_COMM_WORLD, &freq));
	CHECK_MPI(MPI_Request_free(&freq));
	CHECK(freq == MPI_REQUEST_NULL, "freed request not null");

	/* the plan's messages from this rank, and the extra ones */
	MPI_Request *sreq = calloc((size_t)nplan + 8, sizeof(*sreq));
	int **sbuf = calloc((size_t)nplan, sizeof(*sbuf)), ns = 0, expect = 0;
	for (int i = 0; i < nplan; i++) {
		struct msg *m = &plan[i];
		if (m->dst == rank)
			expect++;
		if (m->src != rank)
			continue;
		sbuf[i] = malloc(sizeof(int) * (size_t)m->n);
		fill(m, sbuf[i]);
		int d = rank_in(m->comm, m->dst, rank);
		switch (m->mode) {
		case 0:
			CHECK_MPI(MPI_Isend(sbuf[i], m->n, MPI_INT, d, m->tag, comms[m->comm],
					    &sreq[ns++]));
			break;
		case 1:
			CHECK_MPI(MPI_Issend(sbuf[i], m->n, MPI_INT, d, m->tag, comms[m->comm],
					     &sreq[ns++]));
			break;
		case 2:
			CHECK_MPI(MPI_Bsend(sbuf[i], m->n, MPI_INT, d, m->tag, comms[m->comm]));
			break;
		default:
			CHECK_MPI(MPI_Send(sbuf[i], m->n, MPI_INT, d, m->tag, comms[m->comm]));
		}
	}
	struct msg wm = {rank, right, 0, TAG_W, HDR, 0, 0}, mm = {rank, right, 0, TAG_M, HDR, 0, 0},
		   pm = {rank, right, 0, TAG_P, HDR, 0, 0};
	int wb[HDR], mb[HDR], pb[HDR], tb[100], zb = 0;
	fill(&wm, wb), fill(&mm, mb), fill(&pm, pb);
	for (int i = 0; i < 100; i++)
		tb[i] = rank * 1000 + i;
	CHECK_MPI(MPI_Isend(wb, HDR, MPI_INT, right, TAG_W, MPI_COMM_WORLD, &sreq[ns++]));
	CHECK_MPI(MPI_Isend(mb, HDR, MPI_INT, right, TAG_M, MPI_COMM_WORLD, &sreq[ns++]));
	CHECK_MPI(MPI_Isend(pb, HDR, MPI_INT, right, TAG_P, MPI_COMM_WORLD, &sreq[ns++]));
	CHECK_MPI(MPI_Isend(tb, 100, MPI_INT, right, TAG_T, tcomm, &sreq[ns++]));
	CHECK_MPI(MPI_Isend(&zb, 0, MPI_INT, right, TAG_Z, MPI_COMM_WORLD, &sreq[ns++]));
	struct msg fm = {rank, right, 0, TAG_F, HDR, 0, 0};
	int fb[HDR];
	fill(&fm, fb);
	CHECK_MPI(MPI_Isend(fb, HDR, MPI_INT, right, TAG_F, MPI_COMM_WORLD, &sreq[ns++]));

	/* a matched message left unreceived */
	MPI_Message msg;
	MPI_Status st;
	CHECK_MPI(MPI_Mprobe(left, TAG_M, MPI_COMM_WORLD, &msg, &st));

	if (drain) {
		long long got = drain();
		/* queued: the plan's messages to me, the persistent one, the truncated one, the
		 * zero-byte one, the Mprobe'd one; the first TAG_W went to a wildcard Irecv */
		CHECK(got == expect + 4, "drained %lld messages, expected %d", got, expect + 4);
		for (int i = 0; i < ns; i++) {
			int flag = 0;
			CHECK_MPI(MPI_Request_get_status(sreq[i], &flag, MPI_STATUS_IGNORE));
			CHECK(flag, "send request %d not complete after the drain", i);
		}
		int flag = 0;
		CHECK_MPI(MPI_Request_get_status(wreq[0], &flag, &st));
		CHECK(flag && st.MPI_SOURCE == left && st.MPI_TAG == TAG_W,
		      "first wildcard Irecv: flag %d source %d tag %d", flag, st.MPI_SOURCE,
		      st.MPI_TAG);
		struct msg fe = {left, rank, 0, TAG_F, HDR, 0, 0};
		check(&fe, fbuf, HDR, "receive freed while pending, after the drain");
		CHECK_MPI(MPI_Test(&wreq[1], &flag, MPI_STATUS_IGNORE));
		CHECK(!flag, "second wildcard Irecv completed before its message was sent");
		if (do_rebuild && rebuild) {
			r = rebuild();
			CHECK(r == 0, "%d objects could not be rebuilt after the drain", r);
		}
		long long again = drain(); /* nothing left in flight: a no-op */
		CHECK(again == 0, "second drain found %lld messages", again);
	} else if (rank == 0) {
		printf("no SPLITCKPT_test_drain (native run): checks without a drain\n");
	}

	/* after: the second wildcard message, then everything is received */
	struct msg wm2 = {rank, right, 0, TAG_W, HDR, 1, 0};
	int wb2[HDR];
	fill(&wm2, wb2);
	CHECK_MPI(MPI_Send(wb2, HDR, MPI_INT, right, TAG_W, MPI_COMM_WORLD));
	MPI_Status wst[2];
	CHECK_MPI(MPI_Waitall(2, wreq, wst));
	for (int i = 0; i < 2; i++) {
		struct msg e = {left, rank, 0, TAG_W, HDR, i, 0};
		check(&e, wbuf[i], HDR, "wildcard Irecv");
		CHECK(wst[i].MPI_SOURCE == left, "wildcard Irecv %d: source %d", i,
		      wst[i].MPI_SOURCE);
	}
	int mgot[HDR], cnt = -1;
	CHECK_MPI(MPI_Mrecv(mgot, HDR, MPI_INT, &msg, &st));
	MPI_Get_count(&st, MPI_INT, &cnt);
	struct msg me = {left, rank, 0, TAG_M, HDR, 0, 0};
	check(&me, mgot, cnt, "Mprobe'd, Mrecv after the drain");
	CHECK(msg == MPI_MESSAGE_NULL, "message handle not null after Mrecv");
	CHECK_MPI(MPI_Start(&preq));
	CHECK_MPI(MPI_Wait(&preq, &st));
	struct msg pe = {left, rank, 0, TAG_P, HDR, 0, 0};
	check(&pe, pbuf, HDR, "persistent receive");
	CHECK(st.MPI_SOURCE == left && st.MPI_TAG == TAG_P, "persistent status");
	CHECK_MPI(MPI_Request_free(&preq));
	int tr[50];
	r = MPI_Recv(tr, 50, MPI_INT, left, TAG_T, tcomm, &st);
	int cls = -1;
	MPI_Error_class(r, &cls);
	CHECK(cls == MPI_ERR_TRUNCATE, "truncated receive: error class %d", cls);
	/* (what a truncated receive leaves in the buffer is not defined: MPICH over UCX writes
	 * nothing) */
	CHECK_MPI(MPI_Recv(&zb, 0, MPI_INT, left, TAG_Z, MPI_COMM_WORLD, &st));
	MPI_Get_count(&st, MPI_INT, &cnt);
	CHECK(cnt == 0 && st.MPI_SOURCE == left, "zero-byte message: count %d source %d", cnt,
	      st.MPI_SOURCE);

	/* the plan: streams from even-numbered sources received one by one with varied calls;
	 * the rest by ANY_SOURCE/ANY_TAG loops that check each stream's order */
	int *rb = malloc(sizeof(int) * BIG), k = 0, left_any[NCOMM] = {0};
	int next[4][NCOMM][TAGS] = {{{0}}};
	for (int i = 0; i < nplan; i++) {
		struct msg *m = &plan[i];
		if (m->dst != rank)
			continue;
		if (m->src % 2) {
			left_any[m->comm]++;
			continue;
		}
		MPI_Comm c = comms[m->comm];
		int s = rank_in(m->comm, m->src, rank), n = -1, flag = 0;
		MPI_Request q;
		MPI_Message mg;
		memset(rb, 0, sizeof(int) * (size_t)m->n);
		switch (k++ % 5) {
		case 0:
			CHECK_MPI(MPI_Recv(rb, BIG, MPI_INT, s, m->tag, c, &st));
			break;
		case 1:
			CHECK_MPI(MPI_Irecv(rb, BIG, MPI_INT, s, m->tag, c, &q));
			if (drain) { /* queued: complete at once */
				CHECK_MPI(MPI_Test(&q, &flag, &st));
				CHECK(flag, "Irecv of a queued message not complete at once");
			}
			if (!flag)
				CHECK_MPI(MPI_Wait(&q, &st));
			break;
		case 2:
			CHECK_MPI(MPI_Probe(s, m->tag, c, &st));
			MPI_Get_count(&st, MPI_INT, &n);
			CHECK(n == m->n, "Probe: count %d, expected %d", n, m->n);
			CHECK_MPI(MPI_Recv(rb, n, MPI_INT, s, m->tag, c, &st));
			break;
		case 3:
			CHECK_MPI(MPI_Mprobe(s, m->tag, c, &mg, &st));
			CHECK_MPI(MPI_Mrecv(rb, BIG, MPI_INT, &mg, &st));
			break;
		default:
			do
				CHECK_MPI(MPI_Improbe(s, m->tag, c, &flag, &mg, &st));
			while (!flag);
			CHECK_MPI(MPI_Imrecv(rb, BIG, MPI_INT, &mg, &q));
			CHECK_MPI(MPI_Wait(&q, &st));
		}
		MPI_Get_count(&st, MPI_INT, &n);
		CHECK(st.MPI_SOURCE == s && st.MPI_TAG == m->tag, "status source %d tag %d",
		      st.MPI_SOURCE, st.MPI_TAG);
		check(m, rb, n, "specific receive");
	}
	for (int c = 0; c < NCOMM; c++) {
		for (int j = 0; j < left_any[c]; j++) {
			int n = -1;
			if (c == 1) { /* as pairs */
				CHECK_MPI(MPI_Recv(rb, BIG / 2, pair, MPI_ANY_SOURCE, MPI_ANY_TAG,
						   comms[c], &st));
				MPI_Get_count(&st, pair, &n);
				n *= 2;
			} else {
				CHECK_MPI(MPI_Recv(rb, BIG, MPI_INT, MPI_ANY_SOURCE, MPI_ANY_TAG,
						   comms[c], &st));
				MPI_Get_count(&st, MPI_INT, &n);
			}
			int src = rb[1], tag = st.MPI_TAG;
			CHECK(src >= 0 && src < size && src % 2 && tag >= 0 && tag < TAGS,
			      "wildcard receive on comm %d: source %d tag %d", c, src, tag);
			if (!(src >= 0 && src < size && tag >= 0 && tag < TAGS))
				continue;
			struct msg e = {src, rank, c, tag, n, next[src][c][tag]++, 0};
			for (int i = 0; i < nplan; i++) /* the stream's message of that number */
				if (plan[i].src == src && plan[i].dst == rank &&
				    plan[i].comm == c && plan[i].tag == tag && plan[i].seq == e.seq)
					e.n = plan[i].n;
			check(&e, rb, n, "ANY_SOURCE/ANY_TAG receive (order per stream)");
		}
	}
	MPI_Status *sst = calloc((size_t)ns + 1, sizeof(*sst));
	CHECK_MPI(MPI_Waitall(ns, sreq, sst));
	free(sst);
	MPI_Barrier(MPI_COMM_WORLD);
	for (int c = 0; c < NCOMM; c++) { /* exactly once: nothing left */
		int flag = 1;
		CHECK_MPI(MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, comms[c], &flag, &st));
		CHECK(!flag, "comm %d: a message left over (source %d tag %d)", c, st.MPI_SOURCE,
		      st.MPI_TAG);
	}
	if (rank == 0)
		printf("%d messages per rank checked%s\n", PER_RANK + 1,
		       drain ? (do_rebuild ? " after a drain and a rebuild" : " after a drain")
			     : "");
	int bs;
	MPI_Buffer_detach(&bbuf, &bs);
	free(bbuf);
	for (int i = 0; i < nplan; i++)
		free(sbuf[i]);
	free(sbuf), free(sreq), free(rb), free(plan);
	MPI_Type_free(&pair);
	MPI_Comm_free(&tcomm), MPI_Comm_free(&split);
	for (int c = 1; c < NCOMM; c++)
		MPI_Comm_free(&comms[c]);
	return mt_finish(do_rebuild ? "drain_rebuild" : "drain");
}
