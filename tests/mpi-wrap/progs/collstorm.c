/* collstorm.c - collective storm for a real MPI checkpoint/restart (issue 4, test 3).
 *
 * Every rank runs the same pseudo-random sequence (one seed for all) of collectives, blocking
 * and non-blocking, over MPI_COMM_WORLD, a dup, a split (even/odd ranks) and a periodic 1-D
 * Cartesian communicator (neighbour collectives), plus a persistent MPI_Allreduce_init
 * request started again and again, and fence epochs with MPI_Put on a window over the dup
 * (collectives on the window). Up to 4 non-blocking collectives stay pending across steps
 * (completed later, oldest first), so some are pending whenever a checkpoint comes. Every
 * result is folded into a hash in a fixed order; rank 0 prints "ANSWER: <hex>" (equal to the
 * uninterrupted and the native run) and checks the results it can predict (sums) as it goes.
 * Output for tests/mpi-ckpt/mpi_cr.sh: "PID <rank> <pid>", "READY" after some steps, then
 * ANSWER and PASS/FAIL on rank 0.   collstorm [steps] [ms per step]
 * The pause per step is paced by ../../progs/cr_go.h (CR_GO: none once the driver's go file
 * exists, a wait for it before the last quarter).
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cr_answer.h"
#include "../../progs/cr_go.h"

#define L 8  /* elements per rank */
#define NP 4 /* non-blocking collectives pending at most */

static uint64_t hash = 1469598103934665603ULL, rng = 88172645463325252ULL;
static int bad;

static void fold(const long *v, int n)
{
	for (int i = 0; i < n; i++)
		hash = (hash ^ (uint64_t)v[i]) * 1099511628211ULL;
}

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

struct pend {
	MPI_Request q;
	long sb[64 * L], rb[64 * L];
	int n;
};

static struct pend pend[NP];
static int npend, head;

static void finish_oldest(void)
{
	struct pend *p = &pend[head];
	MPI_Wait(&p->q, MPI_STATUS_IGNORE);
	fold(p->rb, p->n);
	head = (head + 1) % NP;
	npend--;
}

/* One collective of kind k on c at step s. */
static void one(MPI_Comm c, int cart, int k, int s)
{
	int n, r, cnt[64], dsp[64], bd[64];
	MPI_Datatype ty[64];
	MPI_Comm_size(c, &n);
	MPI_Comm_rank(c, &r);
	int nb = k >= 100;
	struct pend *p = NULL, local;
	if (nb) {
		if (npend == NP)
			finish_oldest();
		p = &pend[(head + npend) % NP];
		npend++;
		k -= 100;
	} else {
		p = &local;
	}
	for (int i = 0; i < 64 * L; i++)
		p->sb[i] = (long)s * 131 + r * 17 + i;
	memset(p->rb, 0, sizeof(p->rb));
	for (int i = 0; i < n; i++) {
		cnt[i] = L;
		dsp[i] = i * L;
		bd[i] = i * L * (int)sizeof(long);
		ty[i] = MPI_LONG;
	}
	MPI_Request *q = nb ? &p->q : NULL;
	int root = s % n;
	p->n = n * L;
#define GO(BLOCK, NONBLOCK) (nb ? (NONBLOCK) : (BLOCK))
	switch (cart ? 17 + k % 3 : k % 17) {
	case 0:
		p->n = 0;
		GO(MPI_Barrier(c), MPI_Ibarrier(c, q));
		break;
	case 1:
		memcpy(p->rb, p->sb, sizeof(long) * L);
		p->n = L;
		GO(MPI_Bcast(p->rb, L, MPI_LONG, root, c),
		   MPI_Ibcast(p->rb, L, MPI_LONG, root, c, q));
		break;
	case 2:
		p->n = L;
		GO(MPI_Reduce(p->sb, p->rb, L, MPI_LONG, MPI_SUM, root, c),
		   MPI_Ireduce(p->sb, p->rb, L, MPI_LONG, MPI_SUM, root, c, q));
		break;
	case 3:
		p->n = L;
		GO(MPI_Allreduce(p->sb, p->rb, L, MPI_LONG, MPI_SUM, c),
		   MPI_Iallreduce(p->sb, p->rb, L, MPI_LONG, MPI_SUM, c, q));
		break;
	case 4:
		GO(MPI_Gather(p->sb, L, MPI_LONG, p->rb, L, MPI_LONG, root, c),
		   MPI_Igather(p->sb, L, MPI_LONG, p->rb, L, MPI_LONG, root, c, q));
		break;
	case 5:
		GO(MPI_Gatherv(p->sb, L, MPI_LONG, p->rb, cnt, dsp, MPI_LONG, root, c),
		   MPI_Igatherv(p->sb, L, MPI_LONG, p->rb, cnt, dsp, MPI_LONG, root, c, q));
		break;
	case 6:
		p->n = L;
		GO(MPI_Scatter(p->sb, L, MPI_LONG, p->rb, L, MPI_LONG, root, c),
		   MPI_Iscatter(p->sb, L, MPI_LONG, p->rb, L, MPI_LONG, root, c, q));
		break;
	case 7:
		p->n = L;
		GO(MPI_Scatterv(p->sb, cnt, dsp, MPI_LONG, p->rb, L, MPI_LONG, root, c),
		   MPI_Iscatterv(p->sb, cnt, dsp, MPI_LONG, p->rb, L, MPI_LONG, root, c, q));
		break;
	case 8:
		GO(MPI_Allgather(p->sb, L, MPI_LONG, p->rb, L, MPI_LONG, c),
		   MPI_Iallgather(p->sb, L, MPI_LONG, p->rb, L, MPI_LONG, c, q));
		break;
	case 9:
		GO(MPI_Allgatherv(p->sb, L, MPI_LONG, p->rb, cnt, dsp, MPI_LONG, c),
		   MPI_Iallgatherv(p->sb, L, MPI_LONG, p->rb, cnt, dsp, MPI_LONG, c, q));
		break;
	case 10:
		GO(MPI_Alltoall(p->sb, L, MPI_LONG, p->rb, L, MPI_LONG, c),
		   MPI_Ialltoall(p->sb, L, MPI_LONG, p->rb, L, MPI_LONG, c, q));
		break;
	case 11:
		GO(MPI_Alltoallv(p->sb, cnt, dsp, MPI_LONG, p->rb, cnt, dsp, MPI_LONG, c),
		   MPI_Ialltoallv(p->sb, cnt, dsp, MPI_LONG, p->rb, cnt, dsp, MPI_LONG, c, q));
		break;
	case 12:
		GO(MPI_Alltoallw(p->sb, cnt, bd, ty, p->rb, cnt, bd, ty, c),
		   MPI_Ialltoallw(p->sb, cnt, bd, ty, p->rb, cnt, bd, ty, c, q));
		break;
	case 13:
		p->n = L;
		GO(MPI_Reduce_scatter(p->sb, p->rb, cnt, MPI_LONG, MPI_SUM, c),
		   MPI_Ireduce_scatter(p->sb, p->rb, cnt, MPI_LONG, MPI_SUM, c, q));
		break;
	case 14:
		p->n = L;
		GO(MPI_Reduce_scatter_block(p->sb, p->rb, L, MPI_LONG, MPI_SUM, c),
		   MPI_Ireduce_scatter_block(p->sb, p->rb, L, MPI_LONG, MPI_SUM, c, q));
		break;
	case 15:
		p->n = L;
		GO(MPI_Scan(p->sb, p->rb, L, MPI_LONG, MPI_SUM, c),
		   MPI_Iscan(p->sb, p->rb, L, MPI_LONG, MPI_SUM, c, q));
		break;
	case 16:
		p->n = r ? L : 0; /* rank 0's Exscan result is undefined */
		GO(MPI_Exscan(p->sb, p->rb, L, MPI_LONG, MPI_SUM, c),
		   MPI_Iexscan(p->sb, p->rb, L, MPI_LONG, MPI_SUM, c, q));
		break;
	case 17:
		p->n = 2 * L;
		GO(MPI_Neighbor_allgather(p->sb, L, MPI_LONG, p->rb, L, MPI_LONG, c),
		   MPI_Ineighbor_allgather(p->sb, L, MPI_LONG, p->rb, L, MPI_LONG, c, q));
		break;
	case 18:
		p->n = 2 * L;
		GO(MPI_Neighbor_alltoall(p->sb, L, MPI_LONG, p->rb, L, MPI_LONG, c),
		   MPI_Ineighbor_alltoall(p->sb, L, MPI_LONG, p->rb, L, MPI_LONG, c, q));
		break;
	default:
		p->n = 2 * L;
		GO(MPI_Neighbor_alltoallv(p->sb, cnt, dsp, MPI_LONG, p->rb, cnt, dsp, MPI_LONG, c),
		   MPI_Ineighbor_alltoallv(p->sb, cnt, dsp, MPI_LONG, p->rb, cnt, dsp, MPI_LONG, c,
					   q));
		break;
	}
	if (!nb) {
		if (k % 17 == 3 && !cart) { /* Allreduce: check it here */
			for (int i = 0; i < L; i++) {
				long want = (long)n * (s * 131 + i) + 17L * n * (n - 1) / 2;
				if (p->rb[i] != want) {
					fprintf(stderr, "FAIL step %d: Allreduce %ld, want %ld\n",
						s, p->rb[i], want);
					bad = 1;
				}
			}
		}
		fold(p->rb, p->n);
	}
}

int main(int argc, char **argv)
{
	int steps = argc > 1 ? atoi(argv[1]) : 300, ms = argc > 2 ? atoi(argv[2]) : 5;
	int off = argc > 3 ? atoi(argv[3]) : 0; /* bits: 1 no non-blocking, 2 no persistent, 4 no
						   Cartesian, 8 no RMA (to narrow a failure) */
	int provided, rank, size, ok;
	MPI_Comm dup, split, cart;
	MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	printf("PID %d %d\n", rank, (int)getpid());
	fflush(stdout);
	if (size > 64)
		MPI_Abort(MPI_COMM_WORLD, 2);
	MPI_Comm_dup(MPI_COMM_WORLD, &dup);
	MPI_Comm_split(MPI_COMM_WORLD, rank % 2, rank, &split);
	int dims[1] = {size}, periods[1] = {1};
	MPI_Cart_create(MPI_COMM_WORLD, 1, dims, periods, 0, &cart);
	long psb[L], prb[L];
	MPI_Request pq;
	MPI_Allreduce_init(psb, prb, L, MPI_LONG, MPI_SUM, dup, MPI_INFO_NULL, &pq);
	/* a window over the dup, fence epochs (collectives on the window) */
	long *wbuf = calloc(L, sizeof(long));
	MPI_Win win;
	MPI_Win_create(wbuf, L * sizeof(long), sizeof(long), MPI_INFO_NULL, dup, &win);
	MPI_Win_fence(0, win);

	for (int s = 0; s < steps; s++) {
		uint64_t x = next();
		int which = (int)(x % 6), k = (int)((x >> 8) % 17), nb = (x >> 16) % 3 == 0;
		if (((off & 2) && which == 4) || ((off & 4) && which == 3) ||
		    ((off & 8) && which == 5))
			which = 0;
		if (off & 1)
			nb = 0;
		MPI_Comm cs[4] = {MPI_COMM_WORLD, dup, split, cart};
		if (which == 4) { /* the persistent one */
			for (int i = 0; i < L; i++)
				psb[i] = (long)s + rank;
			MPI_Start(&pq);
			MPI_Wait(&pq, MPI_STATUS_IGNORE);
			fold(prb, L);
		} else if (which == 5) { /* RMA: put to the right neighbour, fence, read */
			long v[L];
			for (int i = 0; i < L; i++)
				v[i] = (long)s * 1000 + rank * 10 + i;
			MPI_Put(v, L, MPI_LONG, (rank + 1) % size, 0, L, MPI_LONG, win);
			MPI_Win_fence(0, win);
			fold(wbuf, L);
			if (wbuf[0] != (long)s * 1000 + ((rank + size - 1) % size) * 10) {
				fprintf(stderr, "FAIL step %d: window holds %ld\n", s, wbuf[0]);
				bad = 1;
			}
			MPI_Win_fence(0, win);
		} else {
			one(cs[which], which == 3, k + (nb ? 100 : 0), s);
		}
		if (s == 10) {
			printf("READY\n");
			fflush(stdout);
		}
		cr_pace_us(s, steps, ms * 1000L);
	}
	while (npend)
		finish_oldest();
	MPI_Request_free(&pq);
	MPI_Win_fence(0, win);
	MPI_Win_free(&win);
	free(wbuf);

	ok = cr_answer(hash, bad);
	MPI_Comm_free(&cart);
	MPI_Comm_free(&split);
	MPI_Comm_free(&dup);
	MPI_Finalize();
	return ok;
}
