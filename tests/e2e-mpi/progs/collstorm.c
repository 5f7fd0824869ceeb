/*
 * collstorm.c - collective storm for MPI checkpoint/restart (issue 4, test 3).
 *
 *   collstorm OPS [SLEEP_MS]        (defaults 600, 5)
 *
 * OPS collectives in an order drawn from one generator that every rank seeds alike: each
 * one of Barrier, Bcast, Reduce, Allreduce, Gather(v), Scatter(v), Allgather(v),
 * Alltoall(v,w), Reduce_scatter(_block), Scan, Exscan, blocking or its I-form, on WORLD,
 * a dup of it, a split by rank parity or a split with the ranks reversed. Up to 6
 * non-blocking ones stay pending while later ones (on any communicator) run; the plan says
 * when the oldest is completed, so some stay pending across dozens of calls. Rank r's input
 * element i of collective k is val(k, r, i), so every result has a closed form that every
 * rank checks. Every 8 calls a rank sleeps SLEEP_MS (a checkpoint lands with collectives
 * pending). The answer folds every checked result.
 */
#include "ecr.h"

enum { NC = 4, NOPS = 17, MAXPEND = 6 };
enum { O_BARRIER, O_BCAST, O_REDUCE, O_ALLREDUCE, O_GATHER, O_GATHERV, O_SCATTER, O_SCATTERV,
       O_ALLGATHER, O_ALLGATHERV, O_ALLTOALL, O_ALLTOALLV, O_ALLTOALLW, O_RSCAT, O_RSCATB,
       O_SCAN, O_EXSCAN };
static const char *opname[NOPS] = {"Barrier",   "Bcast",     "Reduce",     "Allreduce",
				   "Gather",    "Gatherv",   "Scatter",    "Scatterv",
				   "Allgather", "Allgatherv", "Alltoall",  "Alltoallv",
				   "Alltoallw", "Reduce_scatter", "Reduce_scatter_block",
				   "Scan",      "Exscan"};

static MPI_Comm comms[NC];
static uint64_t answer = ECR_HASH0;

struct op {
	int k, op, c, nb, n, root, me, np;
	int *s, *r;                    /* send, receive buffers */
	int *sc, *sd, *rc, *rd;        /* counts and displacements (v and w forms) */
	MPI_Datatype *st, *rt;         /* alltoallw types */
	MPI_Op mop;
	MPI_Request req;
};

static int val(int k, int r, int i) { return (k * 131 + r * 17 + i * 3) % 1009 + 1; }
/* count of the v-forms: rank r sends/gets n + r (gather/scatter), s->d 1 + (s + 2d) % 3 */
static int vcnt(int n, int r) { return n + r; }
static int acnt(int s, int d) { return 1 + (s + 2 * d) % 3; }
static int *ialloc(size_t n)
{
	int *p = calloc(n ? n : 1, sizeof(int));
	if (!p)
		ecr_die("out of memory");
	return p;
}

static void start(struct op *o)
{
	MPI_Comm c = comms[o->c];
	int n = o->n, me = o->me, np = o->np, k = o->k, t = 0;
	MPI_Request *rq = o->nb ? &o->req : NULL;
#define GO(blk, nbk) ECR_MPI(o->nb ? (nbk) : (blk))
	switch (o->op) {
	case O_BARRIER: GO(MPI_Barrier(c), MPI_Ibarrier(c, rq)); break;
	case O_BCAST:
		o->r = ialloc(n);
		if (me == o->root)
			for (int i = 0; i < n; i++)
				o->r[i] = val(k, me, i);
		GO(MPI_Bcast(o->r, n, MPI_INT, o->root, c), MPI_Ibcast(o->r, n, MPI_INT, o->root, c, rq));
		break;
	case O_REDUCE:
	case O_ALLREDUCE:
	case O_SCAN:
	case O_EXSCAN:
		o->s = ialloc(n), o->r = ialloc(n);
		for (int i = 0; i < n; i++)
			o->s[i] = val(k, me, i);
		o->mop = (k % 3 == 0) ? MPI_MAX : MPI_SUM;
		if (o->op == O_REDUCE)
			GO(MPI_Reduce(o->s, o->r, n, MPI_INT, o->mop, o->root, c),
			   MPI_Ireduce(o->s, o->r, n, MPI_INT, o->mop, o->root, c, rq));
		else if (o->op == O_ALLREDUCE)
			GO(MPI_Allreduce(o->s, o->r, n, MPI_INT, o->mop, c),
			   MPI_Iallreduce(o->s, o->r, n, MPI_INT, o->mop, c, rq));
		else if (o->op == O_SCAN)
			GO(MPI_Scan(o->s, o->r, n, MPI_INT, o->mop, c),
			   MPI_Iscan(o->s, o->r, n, MPI_INT, o->mop, c, rq));
		else
			GO(MPI_Exscan(o->s, o->r, n, MPI_INT, o->mop, c),
			   MPI_Iexscan(o->s, o->r, n, MPI_INT, o->mop, c, rq));
		break;
	case O_GATHER:
	case O_ALLGATHER:
		o->s = ialloc(n), o->r = ialloc((size_t)n * np);
		for (int i = 0; i < n; i++)
			o->s[i] = val(k, me, i);
		if (o->op == O_GATHER)
			GO(MPI_Gather(o->s, n, MPI_INT, o->r, n, MPI_INT, o->root, c),
			   MPI_Igather(o->s, n, MPI_INT, o->r, n, MPI_INT, o->root, c, rq));
		else
			GO(MPI_Allgather(o->s, n, MPI_INT, o->r, n, MPI_INT, c),
			   MPI_Iallgather(o->s, n, MPI_INT, o->r, n, MPI_INT, c, rq));
		break;
	case O_GATHERV:
	case O_ALLGATHERV:
		o->s = ialloc(vcnt(n, me)), o->rc = ialloc(np), o->rd = ialloc(np);
		for (int r = 0; r < np; r++)
			o->rc[r] = vcnt(n, r), o->rd[r] = t, t += vcnt(n, r) + 1;
		o->r = ialloc(t);
		for (int i = 0; i < vcnt(n, me); i++)
			o->s[i] = val(k, me, i);
		if (o->op == O_GATHERV)
			GO(MPI_Gatherv(o->s, vcnt(n, me), MPI_INT, o->r, o->rc, o->rd, MPI_INT, o->root, c),
			   MPI_Igatherv(o->s, vcnt(n, me), MPI_INT, o->r, o->rc, o->rd, MPI_INT, o->root,
					c, rq));
		else
			GO(MPI_Allgatherv(o->s, vcnt(n, me), MPI_INT, o->r, o->rc, o->rd, MPI_INT, c),
			   MPI_Iallgatherv(o->s, vcnt(n, me), MPI_INT, o->r, o->rc, o->rd, MPI_INT, c,
					   rq));
		break;
	case O_SCATTER:
		o->s = ialloc((size_t)n * np), o->r = ialloc(n);
		for (int r = 0; r < np; r++)
			for (int i = 0; i < n; i++)
				o->s[r * n + i] = val(k, r, i);
		GO(MPI_Scatter(o->s, n, MPI_INT, o->r, n, MPI_INT, o->root, c),
		   MPI_Iscatter(o->s, n, MPI_INT, o->r, n, MPI_INT, o->root, c, rq));
		break;
	case O_SCATTERV:
		o->sc = ialloc(np), o->sd = ialloc(np);
		for (int r = 0; r < np; r++)
			o->sc[r] = vcnt(n, r), o->sd[r] = t, t += vcnt(n, r) + 2;
		o->s = ialloc(t), o->r = ialloc(vcnt(n, me));
		for (int r = 0; r < np; r++)
			for (int i = 0; i < vcnt(n, r); i++)
				o->s[o->sd[r] + i] = val(k, r, i);
		GO(MPI_Scatterv(o->s, o->sc, o->sd, MPI_INT, o->r, vcnt(n, me), MPI_INT, o->root, c),
		   MPI_Iscatterv(o->s, o->sc, o->sd, MPI_INT, o->r, vcnt(n, me), MPI_INT, o->root, c,
				 rq));
		break;
	case O_ALLTOALL:
		o->s = ialloc((size_t)n * np), o->r = ialloc((size_t)n * np);
		for (int i = 0; i < n * np; i++)
			o->s[i] = val(k, me, i);
		GO(MPI_Alltoall(o->s, n, MPI_INT, o->r, n, MPI_INT, c),
		   MPI_Ialltoall(o->s, n, MPI_INT, o->r, n, MPI_INT, c, rq));
		break;
	case O_ALLTOALLV:
	case O_ALLTOALLW: {
		int ts = 0, tr = 0, w = o->op == O_ALLTOALLW ? (int)sizeof(int) : 1;
		o->sc = ialloc(np), o->sd = ialloc(np), o->rc = ialloc(np), o->rd = ialloc(np);
		for (int d = 0; d < np; d++) {
			o->sc[d] = acnt(me, d), o->sd[d] = ts * w, ts += acnt(me, d);
			o->rc[d] = acnt(d, me), o->rd[d] = tr * w, tr += acnt(d, me);
		}
		o->s = ialloc(ts), o->r = ialloc(tr);
		for (int d = 0, x = 0; d < np; d++)
			for (int i = 0; i < acnt(me, d); i++)
				o->s[x++] = val(k, me, d * 10 + i);
		if (o->op == O_ALLTOALLV) {
			GO(MPI_Alltoallv(o->s, o->sc, o->sd, MPI_INT, o->r, o->rc, o->rd, MPI_INT, c),
			   MPI_Ialltoallv(o->s, o->sc, o->sd, MPI_INT, o->r, o->rc, o->rd, MPI_INT, c,
					  rq));
		} else {
			o->st = malloc(sizeof(MPI_Datatype) * np), o->rt = malloc(sizeof(MPI_Datatype) * np);
			if (!o->st || !o->rt)
				ecr_die("out of memory");
			for (int d = 0; d < np; d++)
				o->st[d] = o->rt[d] = MPI_INT;
			GO(MPI_Alltoallw(o->s, o->sc, o->sd, o->st, o->r, o->rc, o->rd, o->rt, c),
			   MPI_Ialltoallw(o->s, o->sc, o->sd, o->st, o->r, o->rc, o->rd, o->rt, c, rq));
		}
		break;
	}
	case O_RSCAT:
		o->rc = ialloc(np);
		for (int r = 0; r < np; r++)
			o->rc[r] = 1 + r % 2, t += o->rc[r];
		o->s = ialloc(t), o->r = ialloc(o->rc[me]);
		for (int i = 0; i < t; i++)
			o->s[i] = val(k, me, i);
		GO(MPI_Reduce_scatter(o->s, o->r, o->rc, MPI_INT, MPI_SUM, c),
		   MPI_Ireduce_scatter(o->s, o->r, o->rc, MPI_INT, MPI_SUM, c, rq));
		break;
	case O_RSCATB:
		o->s = ialloc((size_t)n * np), o->r = ialloc(n);
		for (int i = 0; i < n * np; i++)
			o->s[i] = val(k, me, i);
		GO(MPI_Reduce_scatter_block(o->s, o->r, n, MPI_INT, MPI_SUM, c),
		   MPI_Ireduce_scatter_block(o->s, o->r, n, MPI_INT, MPI_SUM, c, rq));
		break;
	}
#undef GO
}

static int red(const struct op *o, int upto, int i) /* reduce val over ranks < upto */
{
	int v = 0; /* every val is >= 1 */
	for (int r = 0; r < upto; r++)
		v = o->mop == MPI_MAX ? (val(o->k, r, i) > v ? val(o->k, r, i) : v) : v + val(o->k, r, i);
	return v;
}

static void expect(const struct op *o, const char *what, int i, int got, int want)
{
	if (got != want)
		ecr_fail("collective %d (%s%s on comm %d, n %d): %s[%d] = %d, expected %d", o->k,
			 o->nb ? "I" : "", opname[o->op], o->c, o->n, what, i, got, want);
}

/* check the result of a completed collective, fold it into the answer, free it */
static void finish(struct op *o)
{
	int n = o->n, me = o->me, np = o->np, k = o->k, len = 0;
	switch (o->op) {
	case O_BARRIER: break;
	case O_BCAST:
		for (int i = 0; i < n; i++)
			expect(o, "bcast", i, o->r[i], val(k, o->root, i));
		len = n;
		break;
	case O_REDUCE:
	case O_ALLREDUCE:
		if (o->op == O_ALLREDUCE || me == o->root) {
			for (int i = 0; i < n; i++)
				expect(o, "reduce", i, o->r[i], red(o, np, i));
			len = n;
		}
		break;
	case O_SCAN:
		for (int i = 0; i < n; i++)
			expect(o, "scan", i, o->r[i], red(o, me + 1, i));
		len = n;
		break;
	case O_EXSCAN:
		if (me > 0) {
			for (int i = 0; i < n; i++)
				expect(o, "exscan", i, o->r[i], red(o, me, i));
			len = n;
		}
		break;
	case O_GATHER:
	case O_ALLGATHER:
		if (o->op == O_ALLGATHER || me == o->root) {
			for (int r = 0; r < np; r++)
				for (int i = 0; i < n; i++)
					expect(o, "gather", r * n + i, o->r[r * n + i], val(k, r, i));
			len = n * np;
		}
		break;
	case O_GATHERV:
	case O_ALLGATHERV:
		if (o->op == O_ALLGATHERV || me == o->root) {
			for (int r = 0; r < np; r++)
				for (int i = 0; i < vcnt(n, r); i++)
					expect(o, "gatherv", o->rd[r] + i, o->r[o->rd[r] + i], val(k, r, i));
			len = o->rd[np - 1] + vcnt(n, np - 1);
		}
		break;
	case O_SCATTER:
		for (int i = 0; i < n; i++)
			expect(o, "scatter", i, o->r[i], val(k, me, i));
		len = n;
		break;
	case O_SCATTERV:
		for (int i = 0; i < vcnt(n, me); i++)
			expect(o, "scatterv", i, o->r[i], val(k, me, i));
		len = vcnt(n, me);
		break;
	case O_ALLTOALL:
		for (int s = 0; s < np; s++)
			for (int i = 0; i < n; i++)
				expect(o, "alltoall", s * n + i, o->r[s * n + i], val(k, s, me * n + i));
		len = n * np;
		break;
	case O_ALLTOALLV:
	case O_ALLTOALLW: {
		int x = 0;
		for (int s = 0; s < np; s++)
			for (int i = 0; i < acnt(s, me); i++, x++)
				expect(o, "alltoallv", x, o->r[x], val(k, s, me * 10 + i));
		len = x;
		break;
	}
	case O_RSCAT: {
		int off = 0;
		for (int r = 0; r < me; r++)
			off += o->rc[r];
		for (int i = 0; i < o->rc[me]; i++) {
			int want = 0;
			for (int r = 0; r < np; r++)
				want += val(k, r, off + i);
			expect(o, "reduce_scatter", i, o->r[i], want);
		}
		len = o->rc[me];
		break;
	}
	case O_RSCATB:
		for (int i = 0; i < n; i++) {
			int want = 0;
			for (int r = 0; r < np; r++)
				want += val(k, r, me * n + i);
			expect(o, "reduce_scatter_block", i, o->r[i], want);
		}
		len = n;
		break;
	}
	answer = ecr_hash_u64(answer, ((uint64_t)k << 32) ^ ((uint64_t)o->op << 8) ^ (uint64_t)o->c);
	if (len && o->r)
		answer = ecr_hash(answer, o->r, sizeof(int) * (size_t)len);
	free(o->s), free(o->r), free(o->sc), free(o->sd), free(o->rc), free(o->rd);
	free(o->st), free(o->rt);
	memset(o, 0, sizeof(*o));
}

int main(int argc, char **argv)
{
	ecr_init(&argc, &argv, MPI_THREAD_SINGLE);
	int ops = argc > 1 ? atoi(argv[1]) : 600;
	long sleep_ms = argc > 2 ? atol(argv[2]) : 5;
	if (ops < 1 || sleep_ms < 0)
		ecr_die("usage: collstorm OPS [SLEEP_MS]");
	comms[0] = MPI_COMM_WORLD;
	ECR_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &comms[1]));
	ECR_MPI(MPI_Comm_split(MPI_COMM_WORLD, ecr_rank % 2, ecr_rank, &comms[2]));
	ECR_MPI(MPI_Comm_split(MPI_COMM_WORLD, 0, ecr_size - ecr_rank, &comms[3]));
	struct op pend[MAXPEND];
	int npend = 0, counts[2][NOPS] = {{0}};
	memset(pend, 0, sizeof(pend));
	struct ecr_rng g = {0xc011};
	ecr_ready();
	for (int k = 0; k < ops; k++) {
		struct op o = {0};
		o.k = k;
		o.op = (int)ecr_below(&g, NOPS);
		o.c = (int)ecr_below(&g, NC);
		o.nb = ecr_below(&g, 100) < 45;
		o.n = ecr_below(&g, 10) == 0 ? 1000 + (int)ecr_below(&g, 4000) : 1 + (int)ecr_below(&g, 37);
		MPI_Comm_rank(comms[o.c], &o.me);
		MPI_Comm_size(comms[o.c], &o.np);
		o.root = (int)ecr_below(&g, (uint64_t)o.np);
		if (o.nb && npend == MAXPEND) { /* complete the oldest first */
			ECR_MPI(MPI_Wait(&pend[0].req, MPI_STATUS_IGNORE));
			finish(&pend[0]);
			memmove(pend, pend + 1, sizeof(struct op) * (MAXPEND - 1));
			npend--;
		}
		start(&o);
		counts[o.nb][o.op]++;
		if (o.nb)
			pend[npend++] = o;
		else
			finish(&o);
		/* the plan completes pending ones now and then: oldest, all, or a Test loop */
		uint64_t r = ecr_below(&g, 100);
		if (npend && r < 12) {
			ECR_MPI(MPI_Wait(&pend[0].req, MPI_STATUS_IGNORE));
			finish(&pend[0]);
			memmove(pend, pend + 1, sizeof(struct op) * (size_t)(npend - 1));
			npend--;
		} else if (npend && r < 15) {
			MPI_Request rq[MAXPEND];
			MPI_Status st[MAXPEND];
			int done = 0;
			for (int i = 0; i < npend; i++)
				rq[i] = pend[i].req;
			while (!done)
				ECR_MPI(MPI_Testall(npend, rq, &done, st));
			for (int i = 0; i < npend; i++)
				finish(&pend[i]);
			npend = 0;
		}
		if (k % 8 == 7 && sleep_ms)
			cr_pause_us(sleep_ms * 1000L);
		cr_pace_us(k, ops, 0); /* the last quarter only once the go file exists */
		if (ecr_rank == 0 && (k + 1) % 100 == 0)
			printf("collective %d\n", k + 1);
	}
	for (int i = 0; i < npend; i++) {
		ECR_MPI(MPI_Wait(&pend[i].req, MPI_STATUS_IGNORE));
		finish(&pend[i]);
	}
	if (ecr_rank == 0) {
		printf("calls:");
		for (int i = 0; i < NOPS; i++)
			printf(" %s %d/%d", opname[i], counts[0][i], counts[1][i]);
		printf("\n");
	}
	for (int c = 1; c < NC; c++)
		MPI_Comm_free(&comms[c]);
	return ecr_finish(answer, "collstorm");
}
