/*
 * storm.c - point-to-point message storm for MPI checkpoint/restart (issue 4, test 1).
 *
 *   storm ROUNDS [SLEEP_MS] [MAXBYTES]      (defaults 200, 50, 4194304)
 *
 * Every round every rank computes the same plan (generator seeded by the round): each rank
 * sends 1-4 messages of 0..MAXBYTES bytes (mostly small, some large) to random peers. A
 * message belongs to a stream (comm, source, tag); its bytes are a function of (stream,
 * position in the stream), its first 8 bytes (if it has them) are that position, so the
 * receiver, which knows the plan, checks each message's size and every byte: a message lost,
 * duplicated or reordered within its stream, or damaged, is reported.
 *   kind A: the receiver pre-posts MPI_Irecv (specific source and tag on WORLD; ANY_SOURCE +
 *           ANY_TAG on "wild", a dup of WORLD); sent with Send, Ssend, Isend or Issend.
 *   kind B: the receiver takes it with a blocking MPI_Recv after its own sends (specific on
 *           WORLD, ANY_SOURCE + ANY_TAG on "half", a split of WORLD by rank parity); sent with
 *           Isend or Bsend (an attached buffer), so no blocking send waits for it.
 * In the middle of every round (sends issued, receives pending) one rank chosen by the plan
 * sleeps SLEEP_MS, so a checkpoint lands with traffic in flight and ranks blocked in
 * Recv/Wait. A barrier ends every round (else a wildcard receive could take a message of
 * the next round). The answer folds every received message's (stream, position, size, hash).
 */
#include "ecr.h"

enum { NCOMM = 3, C_WORLD = 0, C_WILD = 1, C_HALF = 2, NTAG = 8, TAG_B = 100, MAXMSG = 4 };
enum { M_SEND = 1, M_SSEND, M_ISEND, M_ISSEND, M_BSEND };

struct msg {
	int src, dst, comm, tag, mode, kind; /* kind 'A' or 'B' */
	size_t len;
	uint64_t pos;    /* position in its stream, filled in by plan() */
	uint64_t digest; /* of the received message, set by check() */
};

static MPI_Comm comms[NCOMM];
static size_t maxbytes = 4194304;
static uint64_t *streampos; /* [comm][src][dst][tag] next position (sender and receiver view) */
static uint64_t answer = ECR_HASH0;
static unsigned long long nrecv, nbytes;

static uint64_t *sp(int comm, int src, int dst, int tag)
{
	int t = tag >= TAG_B ? tag - TAG_B + NTAG : tag;
	return &streampos[(((size_t)comm * ecr_size + src) * ecr_size + dst) * 2 * NTAG + t];
}

static size_t pick_len(struct ecr_rng *g)
{
	uint64_t r = ecr_below(g, 100);
	size_t len;
	if (r < 8)
		len = 0;
	else if (r < 60)
		len = 1 + ecr_below(g, 256);
	else if (r < 88)
		len = 257 + ecr_below(g, 65536);
	else
		len = 65793 + ecr_below(g, 4194304);
	return len > maxbytes ? maxbytes : len;
}

static uint64_t seed_of(const struct msg *m)
{
	return ecr_mix(((uint64_t)m->comm << 56) ^ ((uint64_t)m->src << 40) ^
		       ((uint64_t)m->dst << 24) ^ ((uint64_t)m->tag << 16)) ^
	       ecr_mix(m->pos * 0x9e37ULL + 1);
}

/* the same plan on every rank; streampos advanced for every message */
static int plan(int round, struct msg *ms, int *sleeper)
{
	struct ecr_rng g = {ecr_mix(0x5707 + (uint64_t)round)};
	int n = 0;
	for (int s = 0; s < ecr_size; s++) {
		int k = 1 + (int)ecr_below(&g, MAXMSG);
		for (int i = 0; i < k; i++) {
			struct msg *m = &ms[n++];
			m->src = s;
			m->dst = (s + 1 + (int)ecr_below(&g, (uint64_t)ecr_size - 1)) % ecr_size;
			m->len = pick_len(&g);
			uint64_t r = ecr_below(&g, 100);
			if (r < 55) {
				m->kind = 'A';
				m->comm = r < 35 ? C_WORLD : C_WILD;
				m->tag = (int)ecr_below(&g, NTAG);
				m->mode = M_SEND + (int)ecr_below(&g, 4);
			} else {
				m->kind = 'B';
				m->comm = (r < 80 || (m->dst % 2) != (s % 2)) ? C_WORLD : C_HALF;
				m->tag = TAG_B + (int)ecr_below(&g, NTAG);
				/* at most one Bsend per sender and round: the buffer holds two */
				m->mode = (i == 0 && ecr_below(&g, 2)) ? M_BSEND : M_ISEND;
			}
			uint64_t *p = sp(m->comm, m->src, m->dst, m->tag);
			m->pos = (*p)++;
		}
	}
	*sleeper = (int)ecr_below(&g, (uint64_t)ecr_size);
	return n;
}

/* rank of world rank w in "half" (split by parity, key = world rank) */
static int half_rank(int w) { return w / 2; }
static int peer(int comm, int w) { return comm == C_HALF ? half_rank(w) : w; }
static int world_of(int comm, int r) { return comm == C_HALF ? 2 * r + (ecr_rank % 2) : r; }

/* check one received message against the plan entry m */
static void check(struct msg *m, const void *buf, int count, int round)
{
	if ((size_t)count != m->len) {
		ecr_fail("round %d: comm %d src %d tag %d pos %llu: %d bytes, expected %zu "
			 "(lost, duplicated or reordered message)",
			 round, m->comm, m->src, m->tag, (unsigned long long)m->pos, count, m->len);
		return;
	}
	uint64_t seed = seed_of(m);
	if (m->len >= 8) {
		uint64_t pos;
		memcpy(&pos, buf, 8);
		if (pos != m->pos) {
			ecr_fail("round %d: comm %d src %d tag %d: position %llu, expected %llu", round,
				 m->comm, m->src, m->tag, (unsigned long long)pos,
				 (unsigned long long)m->pos);
			return;
		}
		long bad = ecr_check_fill((const char *)buf + 8, m->len - 8, seed);
		if (bad >= 0)
			ecr_fail("round %d: comm %d src %d tag %d pos %llu: byte %ld of %zu damaged",
				 round, m->comm, m->src, m->tag, (unsigned long long)m->pos, bad + 8,
				 m->len);
	} else {
		long bad = ecr_check_fill(buf, m->len, seed);
		if (bad >= 0)
			ecr_fail("round %d: short message pos %llu damaged", round,
				 (unsigned long long)m->pos);
	}
	/* folded into the answer in plan order at the end of the round (wildcard receives
	 * complete in arrival order) */
	uint64_t d = ecr_hash_u64(ECR_HASH0, ((uint64_t)m->comm << 48) ^ ((uint64_t)m->src << 32) ^
						     ((uint64_t)m->tag << 16));
	d = ecr_hash_u64(d, m->pos ^ (m->len << 24));
	m->digest = ecr_hash(d, buf, m->len < 64 ? m->len : 64);
	nrecv++;
	nbytes += m->len;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		ecr_die("cannot allocate %zu bytes", n);
	return p;
}

static void fill_msg(const struct msg *m, char *buf)
{
	if (m->len >= 8) {
		memcpy(buf, &m->pos, 8);
		ecr_fill(buf + 8, m->len - 8, seed_of(m));
	} else {
		ecr_fill(buf, m->len, seed_of(m));
	}
}

/* the receiver's match for a wildcard message from (src, tag) on comm: the first unmatched
 * plan entry of that stream, in plan (= sending) order */
static struct msg *match(struct msg *ms, int n, char *taken, int comm, int src, int tag)
{
	for (int i = 0; i < n; i++)
		if (!taken[i] && ms[i].dst == ecr_rank && ms[i].comm == comm && ms[i].src == src &&
		    ms[i].tag == tag) {
			taken[i] = 1;
			return &ms[i];
		}
	return NULL;
}

static void one_round(int round, long sleep_ms)
{
	struct msg ms[64] = {0};
	char taken[64] = {0};
	int sleeper, n = plan(round, ms, &sleeper);
	MPI_Request rq[64], sq[64];
	void *rbuf[64] = {0}, *sbuf[64] = {0};
	int nr = 0, ns = 0, ridx[64];

	/* 1. pre-post kind A receives */
	for (int i = 0; i < n; i++) {
		struct msg *m = &ms[i];
		if (m->dst != ecr_rank || m->kind != 'A')
			continue;
		rbuf[nr] = xmalloc(m->comm == C_WILD ? maxbytes : m->len);
		if (m->comm == C_WILD) {
			ECR_MPI(MPI_Irecv(rbuf[nr], (int)maxbytes, MPI_BYTE, MPI_ANY_SOURCE,
					  MPI_ANY_TAG, comms[C_WILD], &rq[nr]));
			ridx[nr] = -1;
		} else {
			ECR_MPI(MPI_Irecv(rbuf[nr], (int)m->len, MPI_BYTE, m->src, m->tag,
					  comms[m->comm], &rq[nr]));
			ridx[nr] = i;
		}
		nr++;
	}
	/* 2. my sends, in plan order */
	for (int i = 0; i < n; i++) {
		struct msg *m = &ms[i];
		if (m->src != ecr_rank)
			continue;
		char *b = xmalloc(m->len);
		fill_msg(m, b);
		int to = peer(m->comm, m->dst), len = (int)m->len;
		MPI_Comm c = comms[m->comm];
		switch (m->mode) {
		case M_SEND: ECR_MPI(MPI_Send(b, len, MPI_BYTE, to, m->tag, c)); break;
		case M_SSEND: ECR_MPI(MPI_Ssend(b, len, MPI_BYTE, to, m->tag, c)); break;
		case M_BSEND: ECR_MPI(MPI_Bsend(b, len, MPI_BYTE, to, m->tag, c)); break;
		case M_ISEND: ECR_MPI(MPI_Isend(b, len, MPI_BYTE, to, m->tag, c, &sq[ns])); break;
		case M_ISSEND: ECR_MPI(MPI_Issend(b, len, MPI_BYTE, to, m->tag, c, &sq[ns])); break;
		}
		if (m->mode == M_ISEND || m->mode == M_ISSEND)
			sbuf[ns++] = b;
		else
			free(b);
	}
	/* 3. traffic in flight: one rank naps */
	if (sleeper == ecr_rank && sleep_ms > 0)
		cr_pause_us(sleep_ms * 1000L);
	/* 4. kind B: blocking receives in plan order */
	for (int i = 0; i < n; i++) {
		struct msg *m = &ms[i];
		if (m->dst != ecr_rank || m->kind != 'B' || taken[i])
			continue;
		MPI_Status st;
		int count = -1;
		if (m->comm == C_HALF) {
			char *b = xmalloc(maxbytes);
			ECR_MPI(MPI_Recv(b, (int)maxbytes, MPI_BYTE, MPI_ANY_SOURCE, MPI_ANY_TAG,
					 comms[C_HALF], &st));
			MPI_Get_count(&st, MPI_BYTE, &count);
			struct msg *w = match(ms, n, taken, C_HALF, world_of(C_HALF, st.MPI_SOURCE),
					      st.MPI_TAG);
			if (!w)
				ecr_fail("round %d: unexpected message from half rank %d tag %d",
					 round, st.MPI_SOURCE, st.MPI_TAG);
			else
				check(w, b, count, round);
			free(b);
		} else {
			char *b = xmalloc(m->len);
			taken[i] = 1;
			ECR_MPI(MPI_Recv(b, (int)m->len, MPI_BYTE, m->src, m->tag, comms[m->comm],
					 &st));
			MPI_Get_count(&st, MPI_BYTE, &count);
			check(m, b, count, round);
			free(b);
		}
	}
	/* 5. complete the rest, check kind A in posting order */
	MPI_Status rst[64], sst[64];
	ECR_MPI(MPI_Waitall(nr, rq, rst));
	ECR_MPI(MPI_Waitall(ns, sq, sst));
	for (int k = 0; k < nr; k++) {
		int count = -1;
		MPI_Get_count(&rst[k], MPI_BYTE, &count);
		struct msg *m;
		if (ridx[k] >= 0) {
			m = &ms[ridx[k]];
			taken[ridx[k]] = 1;
		} else {
			m = match(ms, n, taken, C_WILD, rst[k].MPI_SOURCE, rst[k].MPI_TAG);
		}
		if (!m)
			ecr_fail("round %d: unexpected wildcard message from %d tag %d", round,
				 rst[k].MPI_SOURCE, rst[k].MPI_TAG);
		else
			check(m, rbuf[k], count, round);
		free(rbuf[k]);
	}
	for (int k = 0; k < ns; k++)
		free(sbuf[k]);
	for (int i = 0; i < n; i++)
		if (ms[i].dst == ecr_rank && !taken[i])
			ecr_fail("round %d: message %d from %d never received", round, i, ms[i].src);
	for (int i = 0; i < n; i++)
		if (ms[i].dst == ecr_rank)
			answer = ecr_hash_u64(answer, ms[i].digest);
	/* a wildcard receive must not take a message of the next round */
	ECR_MPI(MPI_Barrier(MPI_COMM_WORLD));
}

int main(int argc, char **argv)
{
	ecr_init(&argc, &argv, MPI_THREAD_SINGLE);
	int rounds = argc > 1 ? atoi(argv[1]) : 200;
	long sleep_ms = argc > 2 ? atol(argv[2]) : 50;
	if (argc > 3)
		maxbytes = (size_t)atol(argv[3]);
	if (rounds < 1 || sleep_ms < 0 || maxbytes < 1 || maxbytes > (1u << 30))
		ecr_die("usage: storm ROUNDS [SLEEP_MS] [MAXBYTES]");
	if (ecr_size < 2)
		ecr_die("needs at least 2 ranks");
	streampos = calloc((size_t)NCOMM * ecr_size * ecr_size * 2 * NTAG, sizeof(uint64_t));
	if (!streampos)
		ecr_die("out of memory");
	comms[C_WORLD] = MPI_COMM_WORLD;
	ECR_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &comms[C_WILD]));
	ECR_MPI(MPI_Comm_split(MPI_COMM_WORLD, ecr_rank % 2, ecr_rank, &comms[C_HALF]));
	int bsize = 2 * ((int)maxbytes + MPI_BSEND_OVERHEAD) + 1024;
	void *bbuf = xmalloc((size_t)bsize);
	ECR_MPI(MPI_Buffer_attach(bbuf, bsize));
	ecr_ready();
	for (int r = 0; r < rounds; r++) {
		one_round(r, sleep_ms);
		cr_pace_us(r, rounds, 0); /* the last quarter only once the go file exists */
		if (ecr_rank == 0 && (r + 1) % 20 == 0)
			printf("round %d\n", r + 1);
	}
	ECR_MPI(MPI_Buffer_detach(&bbuf, &bsize));
	free(bbuf);
	MPI_Comm_free(&comms[C_WILD]);
	MPI_Comm_free(&comms[C_HALF]);
	uint64_t a = ecr_hash_u64(answer, nrecv);
	a = ecr_hash_u64(a, nbytes);
	printf("rank %d received %llu messages, %llu bytes\n", ecr_rank, nrecv, nbytes);
	return ecr_finish(a, "storm");
}
