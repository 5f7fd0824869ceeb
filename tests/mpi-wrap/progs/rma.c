/* rma.c - RMA windows and their epochs through a real MPI checkpoint/restart (known limits 2, 3).
 *
 * Three windows per rank, over MPI_COMM_WORLD:
 *   A  MPI_Win_allocate (memory MPI hands out), fence epochs: every step each rank puts
 *      s*10+rank into its right neighbour's A[s], accumulates s+1 into rank 0's A[NW-1] and
 *      gets its left neighbour's A[s-1] into M[s], M being memory of MPI_Alloc_mem;
 *   B  MPI_Win_create over heap memory, one MPI_Win_lock_all epoch for the whole run: every
 *      step each rank accumulates s+1 into B[rank] of rank s % size, then MPI_Win_flush;
 *   C  MPI_Win_create over heap memory, one MPI_Win_lock(SHARED, right neighbour) epoch for
 *      the whole run: every step each rank puts s into the right neighbour's C[s] (flush).
 * A checkpoint therefore always finds a fence epoch (RMA calls possibly pending in it), a
 * lock_all and a lock epoch open, and the content written before it must still be there
 * after a restart, in memory that MPI allocated. At the end every rank checks what it can
 * predict (every element of A, B, C, M), rank 0 prints "ANSWER: <hash of all of it>" (equal
 * to the native run) and PASS/FAIL (reduced over the ranks).
 * Output for tests/mpi-ckpt/mpi_cr.sh: "PID <rank> <pid>", "READY" after some steps.
 *   rma [steps <= 1000] [ms per step] [shared | big | pscw | pscwwait]
 * "shared": also a window of MPI_Win_allocate_shared, so a checkpoint must be refused;
 * "pscw": also a window with an exposure and an access epoch (MPI_Win_post/start to/from the
 * neighbours) open for the whole run, Put in it every step: a checkpoint must be refused;
 * "pscwwait": after READY, even ranks post an exposure epoch to the next rank and wait in
 * MPI_Win_wait while it sleeps 5 s before its access epoch (Win_start, Put, Win_complete): a
 * checkpoint then must not hang on the rank inside Win_wait but be refused.
 * "big": also 16 MiB per rank written once at the start and checked at the end (memory that
 * incremental images leave to their parents: tests of --full-every).
 * Steps are paced by ../../progs/cr_go.h (CR_GO: no pause once the driver's go file exists,
 * a wait for it before the last quarter); in "pscwwait" the odd ranks wait for the go file
 * instead of 5 s when CR_GO is set (refuse_cr.sh makes it after the refused checkpoint).
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cr_answer.h"
#include "../../progs/cr_go.h"

#define NW 1024

static uint64_t hash = 1469598103934665603ULL;
static int bad;

static void fold(const long *v, int n)
{
	for (int i = 0; i < n; i++)
		hash = (hash ^ (uint64_t)v[i]) * 1099511628211ULL;
}

static void expect(const char *what, int i, long got, long want)
{
	if (got != want && bad++ < 5)
		fprintf(stderr, "FAIL %s[%d] = %ld, expected %ld\n", what, i, got, want);
}

int main(int argc, char **argv)
{
	int steps = argc > 1 ? atoi(argv[1]) : 300, ms = argc > 2 ? atoi(argv[2]) : 5;
	int shared = argc > 3 && strcmp(argv[3], "shared") == 0;
	int big = argc > 3 && strcmp(argv[3], "big") == 0;
	int pscw = argc > 3 && strcmp(argv[3], "pscw") == 0;
	int pwait = argc > 3 && strcmp(argv[3], "pscwwait") == 0;
	int rank, size, ok;
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	printf("PID %d %d\n", rank, (int)getpid());
	fflush(stdout);
	if (steps > NW - 2 || size > 64)
		MPI_Abort(MPI_COMM_WORLD, 2);
	int right = (rank + 1) % size, left = (rank + size - 1) % size;

	long *a, *m, *b = calloc(NW, sizeof(long)), *c = calloc(NW, sizeof(long));
	MPI_Win wa, wb, wc, ws = MPI_WIN_NULL, wp = MPI_WIN_NULL;
	long *p = calloc(NW, sizeof(long));
	MPI_Group gl, gr, gw;
	if (!b || !c || MPI_Win_allocate(NW * sizeof(long), sizeof(long), MPI_INFO_NULL,
					 MPI_COMM_WORLD, &a, &wa) != MPI_SUCCESS ||
	    MPI_Alloc_mem(NW * sizeof(long), MPI_INFO_NULL, &m) != MPI_SUCCESS) {
		fprintf(stderr, "FAIL rank %d: cannot make window A or M\n", rank);
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	memset(a, 0, NW * sizeof(long));
	memset(m, 0, NW * sizeof(long));
	MPI_Win_create(b, NW * sizeof(long), sizeof(long), MPI_INFO_NULL, MPI_COMM_WORLD, &wb);
	MPI_Win_create(c, NW * sizeof(long), sizeof(long), MPI_INFO_NULL, MPI_COMM_WORLD, &wc);
	if (shared) {
		long *sp;
		MPI_Win_allocate_shared(64, sizeof(long), MPI_INFO_NULL, MPI_COMM_WORLD, &sp, &ws);
	}
	size_t nbig = big ? (16u << 20) / sizeof(long) : 0;
	long *cold = nbig ? malloc(nbig * sizeof(long)) : NULL;
	for (size_t i = 0; i < nbig; i++)
		cold[i] = (long)(i * 2654435761u) ^ rank;
	MPI_Barrier(MPI_COMM_WORLD); /* the local stores above before anybody's RMA */
	if (pscw || pwait) {
		MPI_Comm_group(MPI_COMM_WORLD, &gw);
		MPI_Win_create(p, NW * sizeof(long), sizeof(long), MPI_INFO_NULL, MPI_COMM_WORLD,
			       &wp);
	}
	if (pscw) { /* expose to the left neighbour, access the right one */
		MPI_Group_incl(gw, 1, &left, &gl);
		MPI_Group_incl(gw, 1, &right, &gr);
		MPI_Win_post(gl, 0, wp);
		MPI_Win_start(gr, 0, wp);
	}
	MPI_Win_fence(0, wa);
	MPI_Win_lock_all(0, wb);
	MPI_Win_lock(MPI_LOCK_SHARED, right, 0, wc);

	for (int s = 0; s < steps; s++) {
		long v = (long)s * 10 + rank, one = s + 1, cv = s;
		/* A: fence epoch */
		MPI_Put(&v, 1, MPI_LONG, right, s, 1, MPI_LONG, wa);
		MPI_Accumulate(&one, 1, MPI_LONG, 0, NW - 1, 1, MPI_LONG, MPI_SUM, wa);
		if (s > 0)
			MPI_Get(&m[s], 1, MPI_LONG, left, s - 1, 1, MPI_LONG, wa);
		MPI_Win_fence(0, wa);
		if (a[s] != (long)s * 10 + left) /* written by the left neighbour this step */
			expect("A (this step)", s, a[s], (long)s * 10 + left);
		/* B: passive target, lock_all epoch */
		MPI_Accumulate(&one, 1, MPI_LONG, s % size, rank, 1, MPI_LONG, MPI_SUM, wb);
		MPI_Win_flush(s % size, wb);
		/* C: passive target, lock epoch on the right neighbour */
		MPI_Put(&cv, 1, MPI_LONG, right, s, 1, MPI_LONG, wc);
		MPI_Win_flush(right, wc);
		if (pscw)
			MPI_Put(&cv, 1, MPI_LONG, right, s, 1, MPI_LONG, wp);
		if (s == 20) {
			printf("READY\n");
			fflush(stdout);
		}
		if (pwait && s == 21 && size % 2 == 0) {
			int peer = rank ^ 1;
			long x = 4242 + rank;
			MPI_Group gp;
			MPI_Group_incl(gw, 1, &peer, &gp);
			if (rank % 2 == 0) {
				MPI_Win_post(gp, 0, wp);
				MPI_Win_wait(wp);
				if (p[0] != 4242 + peer)
					expect("P (post/wait)", 0, p[0], 4242 + peer);
			} else {
				if (getenv("CR_GO"))
					cr_wait_go();
				else
					sleep(5);
				MPI_Win_start(gp, 0, wp);
				MPI_Put(&x, 1, MPI_LONG, peer, 0, 1, MPI_LONG, wp);
				MPI_Win_complete(wp);
			}
			MPI_Group_free(&gp);
		}
		cr_pace_us(s, steps, ms * 1000L);
	}
	if (pscw) {
		MPI_Win_complete(wp);
		MPI_Win_wait(wp);
		for (int i = 0; i < steps; i++)
			expect("P", i, p[i], i);
		MPI_Win_free(&wp);
		MPI_Group_free(&gl);
		MPI_Group_free(&gr);
		MPI_Group_free(&gw);
	}
	if (pwait) {
		MPI_Win_free(&wp);
		MPI_Group_free(&gw);
	}
	free(p);
	MPI_Win_unlock(right, wc);
	MPI_Win_unlock_all(wb);
	MPI_Win_fence(0, wa);
	MPI_Barrier(MPI_COMM_WORLD); /* every epoch closed everywhere: local reads */

	long total = 0;
	for (int s = 0; s < steps; s++)
		total += s + 1;
	for (int i = 0; i < NW; i++) {
		long want = i < steps ? (long)i * 10 + left : 0;
		if (i == NW - 1)
			want = rank == 0 ? (long)size * total : 0;
		expect("A", i, a[i], want);
		long mw = i >= 1 && i < steps ? (long)(i - 1) * 10 + (left + size - 1) % size : 0;
		expect("M", i, m[i], mw);
		long bw = 0;
		for (int s = 0; i < size && s < steps; s++)
			if (s % size == rank)
				bw += s + 1;
		expect("B", i, b[i], bw);
		expect("C", i, c[i], i < steps ? i : 0);
	}
	for (size_t i = 0; i < nbig; i++)
		if (cold[i] != ((long)(i * 2654435761u) ^ rank) && bad++ < 5)
			fprintf(stderr, "FAIL rank %d: big[%zu] changed\n", rank, i);
	free(cold);
	fold(a, NW);
	fold(m, NW);
	fold(b, NW);
	fold(c, NW);
	if (ws != MPI_WIN_NULL)
		MPI_Win_free(&ws);
	MPI_Win_free(&wc);
	MPI_Win_free(&wb);
	MPI_Win_free(&wa);
	MPI_Free_mem(m);
	free(b);
	free(c);

	ok = cr_answer(hash, bad);
	MPI_Finalize();
	return ok != 0;
}
