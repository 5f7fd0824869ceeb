/* rmacov.c - one-sided communication through the upper half, every window flavor and every
 * synchronisation mode, each result checked against what MPI defines (issue 6's RMA list).
 *
 *   1 Win_create + fence: Put, Get, Accumulate (SUM, REPLACE), Get_accumulate, Fetch_and_op,
 *     Compare_and_swap, with a derived datatype on the target side.
 *   2 Win_allocate: the attributes (MPI_WIN_CREATE_FLAVOR is ALLOCATE, MPI_WIN_BASE is the
 *     pointer we got, MPI_WIN_SIZE, MPI_WIN_DISP_UNIT), an exclusive-lock ticket counter on
 *     rank 0 (Fetch_and_op under Win_lock/unlock: every ticket handed out once).
 *   3 Win_create_dynamic + attach/detach: Put/Get at the target's absolute addresses.
 *   4 generalized active target: Win_post/start/complete/wait and Win_test, on neighbour groups.
 *   5 passive target lock_all: Rput, Rget, Raccumulate completed with Wait/Waitall, Win_flush,
 *     flush_all, flush_local, flush_local_all, Win_sync (which MPICH allows only in an epoch).
 *   6 Win_allocate_shared: Win_shared_query of every rank's segment, loads and stores through it.
 *   7 names and groups: Win_set_name/get_name, Win_get_group.
 *   rmacov            (any number of ranks >= 2; natively: the same checks)
 */
#include <stdint.h>
#include <string.h>

#include "mt.h"

static int rank, size;

static void fence_ops(void)
{
	int buf[16], right = (rank + 1) % size, left = (rank + size - 1) % size;
	MPI_Win win;
	for (int i = 0; i < 16; i++)
		buf[i] = 1000 * rank + i;
	CHECK_MPI(MPI_Win_create(buf, sizeof(buf), sizeof(int), MPI_INFO_NULL, MPI_COMM_WORLD, &win));
	int flavor = -1, *fp = NULL, flag = 0;
	CHECK_MPI(MPI_Win_get_attr(win, MPI_WIN_CREATE_FLAVOR, &fp, &flag));
	if (flag && fp)
		flavor = *fp;
	CHECK(flag && flavor == MPI_WIN_FLAVOR_CREATE, "Win_create: flavor %d, want CREATE", flavor);

	/* Put into right's [0], Get left's [1], Accumulate SUM into rank 0's [2] */
	int put = 7 + rank, got = -1, one = 1;
	CHECK_MPI(MPI_Win_fence(0, win));
	CHECK_MPI(MPI_Put(&put, 1, MPI_INT, right, 0, 1, MPI_INT, win));
	CHECK_MPI(MPI_Get(&got, 1, MPI_INT, left, 1, 1, MPI_INT, win));
	CHECK_MPI(MPI_Accumulate(&one, 1, MPI_INT, 0, 2, 1, MPI_INT, MPI_SUM, win));
	CHECK_MPI(MPI_Win_fence(0, win));
	CHECK(buf[0] == 7 + left, "Put: buf[0] %d, want %d", buf[0], 7 + left);
	CHECK(got == 1000 * left + 1, "Get: %d, want %d", got, 1000 * left + 1);
	if (rank == 0)
		CHECK(buf[2] == 2 + size, "Accumulate SUM: %d, want %d", buf[2], 2 + size);

	/* a strided target type: every other int of [4..11] on the right neighbour, REPLACE */
	MPI_Datatype every2;
	CHECK_MPI(MPI_Type_vector(4, 1, 2, MPI_INT, &every2));
	CHECK_MPI(MPI_Type_commit(&every2));
	int four[4] = {-1 - rank, -2 - rank, -3 - rank, -4 - rank};
	CHECK_MPI(MPI_Accumulate(four, 4, MPI_INT, right, 4, 1, every2, MPI_REPLACE, win));
	CHECK_MPI(MPI_Win_fence(0, win));
	for (int i = 0; i < 4; i++) {
		CHECK(buf[4 + 2 * i] == -1 - i - left, "vector REPLACE: [%d] %d", 4 + 2 * i,
		      buf[4 + 2 * i]);
		CHECK(buf[5 + 2 * i] == 1000 * rank + 5 + 2 * i, "vector REPLACE touched [%d]",
		      5 + 2 * i);
	}
	CHECK_MPI(MPI_Type_free(&every2));

	/* Get_accumulate, Fetch_and_op (SUM onto rank 0's [12]: old values are distinct and
	 * in range), Compare_and_swap (only the rank whose compare matches wins) */
	int add = 1, old = -1, ga_old = -1, cmp, mine = 100 + rank, cas_old = -1;
	CHECK_MPI(MPI_Fetch_and_op(&add, &old, MPI_INT, 0, 12, MPI_SUM, win));
	CHECK_MPI(MPI_Win_fence(0, win));
	CHECK(old >= 12 && old < 12 + size, "Fetch_and_op: old %d not in [12, %d)", old, 12 + size);
	int olds[64];
	CHECK_MPI(MPI_Allgather(&old, 1, MPI_INT, olds, 1, MPI_INT, MPI_COMM_WORLD));
	for (int i = 0; i < size && i < 64; i++)
		for (int j = 0; j < i; j++)
			CHECK(olds[i] != olds[j], "Fetch_and_op: ranks %d and %d both saw %d", i, j,
			      olds[i]);
	int ten = 10;
	CHECK_MPI(MPI_Get_accumulate(&ten, 1, MPI_INT, &ga_old, 1, MPI_INT, right, 14, 1, MPI_INT,
				     MPI_SUM, win));
	CHECK_MPI(MPI_Win_fence(0, win));
	CHECK(ga_old == 1000 * right + 14, "Get_accumulate: old %d, want %d", ga_old,
	      1000 * right + 14);
	CHECK(buf[14] == 1000 * rank + 24, "Get_accumulate: [14] %d, want %d", buf[14],
	      1000 * rank + 24);
	if (rank == size - 1)
		cmp = 13; /* rank 0's [13] holds 13: only this rank's swap happens */
	else
		cmp = -5;
	CHECK_MPI(MPI_Compare_and_swap(&mine, &cmp, &cas_old, MPI_INT, 0, 13, win));
	CHECK_MPI(MPI_Win_fence(0, win));
	CHECK(cas_old == 13 || cas_old == 100 + size - 1, "Compare_and_swap: old %d", cas_old);
	if (rank == 0)
		CHECK(buf[13] == 100 + size - 1, "Compare_and_swap: [13] %d, want %d", buf[13],
		      100 + size - 1);
	CHECK_MPI(MPI_Win_free(&win));
	CHECK(win == MPI_WIN_NULL, "Win_free left the handle");
}

static void allocate_lock(void)
{
	long *base = NULL;
	MPI_Win win;
	CHECK_MPI(MPI_Win_allocate(8 * sizeof(long), sizeof(long), MPI_INFO_NULL, MPI_COMM_WORLD,
				   &base, &win));
	int *fp = NULL, flag = 0, *up = NULL;
	void *bp = NULL;
	MPI_Aint *sp = NULL;
	CHECK_MPI(MPI_Win_get_attr(win, MPI_WIN_CREATE_FLAVOR, &fp, &flag));
	CHECK(flag && fp && *fp == MPI_WIN_FLAVOR_ALLOCATE, "Win_allocate: flavor %d, want %d",
	      flag && fp ? *fp : -1, MPI_WIN_FLAVOR_ALLOCATE);
	CHECK_MPI(MPI_Win_get_attr(win, MPI_WIN_BASE, &bp, &flag));
	CHECK(flag && bp == base, "Win_allocate: MPI_WIN_BASE %p, the pointer we got %p", bp,
	      (void *)base);
	CHECK_MPI(MPI_Win_get_attr(win, MPI_WIN_SIZE, &sp, &flag));
	CHECK(flag && sp && *sp == 8 * (MPI_Aint)sizeof(long), "Win_allocate: MPI_WIN_SIZE %ld",
	      flag && sp ? (long)*sp : -1L);
	CHECK_MPI(MPI_Win_get_attr(win, MPI_WIN_DISP_UNIT, &up, &flag));
	CHECK(flag && up && *up == (int)sizeof(long), "Win_allocate: MPI_WIN_DISP_UNIT %d",
	      flag && up ? *up : -1);
	for (int i = 0; i < 8; i++)
		base[i] = 0;
	CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD));
	/* tickets: 5 Fetch_and_op per rank under an exclusive lock of rank 0 */
	long one = 1, t[5];
	for (int k = 0; k < 5; k++) {
		CHECK_MPI(MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, win));
		CHECK_MPI(MPI_Fetch_and_op(&one, &t[k], MPI_LONG, 0, 0, MPI_SUM, win));
		CHECK_MPI(MPI_Win_unlock(0, win));
	}
	long all[64 * 5];
	int n = size <= 64 ? size : 64;
	CHECK_MPI(MPI_Gather(t, 5, MPI_LONG, all, 5, MPI_LONG, 0, MPI_COMM_WORLD));
	CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD));
	if (rank == 0) {
		char seen[64 * 5] = {0};
		for (int i = 0; i < 5 * n; i++) {
			CHECK(all[i] >= 0 && all[i] < 5 * n && !seen[all[i]], "ticket %ld twice or out of range",
			      all[i]);
			if (all[i] >= 0 && all[i] < 5 * n)
				seen[all[i]] = 1;
		}
		CHECK_MPI(MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, win));
		CHECK(base[0] == 5 * size, "ticket counter %ld, want %d", base[0], 5 * size);
		CHECK_MPI(MPI_Win_unlock(0, win));
	}
	CHECK_MPI(MPI_Win_free(&win));
}

static void dynamic(void)
{
	MPI_Win win;
	int *mem = malloc(32 * sizeof(int)), right = (rank + 1) % size, left = (rank + size - 1) % size;
	CHECK_MPI(MPI_Win_create_dynamic(MPI_INFO_NULL, MPI_COMM_WORLD, &win));
	int *fp = NULL, flag = 0;
	CHECK_MPI(MPI_Win_get_attr(win, MPI_WIN_CREATE_FLAVOR, &fp, &flag));
	CHECK(flag && fp && *fp == MPI_WIN_FLAVOR_DYNAMIC, "dynamic: flavor %d",
	      flag && fp ? *fp : -1);
	for (int i = 0; i < 32; i++)
		mem[i] = rank * 100 + i;
	CHECK_MPI(MPI_Win_attach(win, mem, 32 * sizeof(int)));
	MPI_Aint mine, addr[64];
	CHECK_MPI(MPI_Get_address(mem, &mine));
	CHECK_MPI(MPI_Allgather(&mine, 1, MPI_AINT, addr, 1, MPI_AINT, MPI_COMM_WORLD));
	int v = 5000 + rank, g = -1;
	CHECK_MPI(MPI_Win_lock_all(0, win));
	CHECK_MPI(MPI_Put(&v, 1, MPI_INT, right, MPI_Aint_add(addr[right], 3 * sizeof(int)), 1,
			  MPI_INT, win));
	CHECK_MPI(MPI_Get(&g, 1, MPI_INT, left, MPI_Aint_add(addr[left], 7 * sizeof(int)), 1,
			  MPI_INT, win));
	CHECK_MPI(MPI_Win_unlock_all(win));
	CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD));
	CHECK(g == left * 100 + 7, "dynamic Get: %d, want %d", g, left * 100 + 7);
	CHECK(mem[3] == 5000 + left, "dynamic Put: %d, want %d", mem[3], 5000 + left);
	CHECK_MPI(MPI_Win_detach(win, mem));
	CHECK_MPI(MPI_Win_free(&win));
	free(mem);
}

static void pscw(void)
{
	int buf[4] = {0, 0, 0, 0}, right = (rank + 1) % size, left = (rank + size - 1) % size;
	MPI_Win win;
	MPI_Group world, from, to;
	CHECK_MPI(MPI_Win_create(buf, sizeof(buf), sizeof(int), MPI_INFO_NULL, MPI_COMM_WORLD, &win));
	CHECK_MPI(MPI_Comm_group(MPI_COMM_WORLD, &world));
	CHECK_MPI(MPI_Group_incl(world, 1, &left, &from)); /* who accesses me */
	CHECK_MPI(MPI_Group_incl(world, 1, &right, &to));  /* whom I access */
	for (int round = 0; round < 2; round++) {
		int v = 10 * round + rank;
		CHECK_MPI(MPI_Win_post(from, 0, win));
		CHECK_MPI(MPI_Win_start(to, 0, win));
		CHECK_MPI(MPI_Put(&v, 1, MPI_INT, right, round, 1, MPI_INT, win));
		CHECK_MPI(MPI_Win_complete(win));
		if (round == 0) {
			CHECK_MPI(MPI_Win_wait(win));
		} else {
			int done = 0;
			while (!done)
				CHECK_MPI(MPI_Win_test(win, &done));
		}
		CHECK(buf[round] == 10 * round + left, "PSCW round %d: %d, want %d", round,
		      buf[round], 10 * round + left);
	}
	MPI_Group g;
	int cmp = -1;
	CHECK_MPI(MPI_Win_get_group(win, &g));
	CHECK_MPI(MPI_Group_compare(g, world, &cmp));
	CHECK(cmp == MPI_IDENT, "Win_get_group: compare %d", cmp);
	CHECK_MPI(MPI_Win_set_name(win, "pscw window"));
	char name[MPI_MAX_OBJECT_NAME];
	int len = 0;
	CHECK_MPI(MPI_Win_get_name(win, name, &len));
	CHECK(len == 11 && !strcmp(name, "pscw window"), "Win_get_name: '%s'", name);
	MPI_Group_free(&g);
	MPI_Group_free(&from);
	MPI_Group_free(&to);
	MPI_Group_free(&world);
	CHECK_MPI(MPI_Win_free(&win));
}

static void request_based(void)
{
	int buf[8], right = (rank + 1) % size, left = (rank + size - 1) % size;
	MPI_Win win;
	for (int i = 0; i < 8; i++)
		buf[i] = rank * 10 + i;
	CHECK_MPI(MPI_Win_create(buf, sizeof(buf), sizeof(int), MPI_INFO_NULL, MPI_COMM_WORLD, &win));
	CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD));
	CHECK_MPI(MPI_Win_lock_all(MPI_MODE_NOCHECK, win));
	int v = 700 + rank, g[2] = {-1, -1}, a = 3;
	MPI_Request q[3];
	MPI_Status st[3];
	CHECK_MPI(MPI_Rput(&v, 1, MPI_INT, right, 0, 1, MPI_INT, win, &q[0]));
	CHECK_MPI(MPI_Rget(g, 2, MPI_INT, left, 1, 2, MPI_INT, win, &q[1]));
	CHECK_MPI(MPI_Raccumulate(&a, 1, MPI_INT, 0, 5, 1, MPI_INT, MPI_SUM, win, &q[2]));
	CHECK_MPI(MPI_Wait(&q[0], &st[0]));
	CHECK_MPI(MPI_Waitall(2, q + 1, st + 1));
	CHECK(q[0] == MPI_REQUEST_NULL && q[1] == MPI_REQUEST_NULL && q[2] == MPI_REQUEST_NULL,
	      "RMA requests not freed");
	CHECK(g[0] == left * 10 + 1 && g[1] == left * 10 + 2, "Rget: %d %d", g[0], g[1]);
	CHECK_MPI(MPI_Win_flush(right, win));
	CHECK_MPI(MPI_Win_flush_all(win));
	int w = 800 + rank;
	CHECK_MPI(MPI_Put(&w, 1, MPI_INT, right, 6, 1, MPI_INT, win));
	CHECK_MPI(MPI_Win_flush_local(right, win));
	w = -1; /* the origin buffer is ours again after flush_local */
	CHECK_MPI(MPI_Put(&v, 1, MPI_INT, right, 7, 1, MPI_INT, win));
	CHECK_MPI(MPI_Win_flush_local_all(win));
	CHECK_MPI(MPI_Win_flush_all(win));
	CHECK_MPI(MPI_Win_sync(win)); /* (inside the epoch: MPICH refuses it outside) */
	CHECK_MPI(MPI_Win_unlock_all(win));
	CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD));
	CHECK(buf[0] == 700 + left, "Rput: %d, want %d", buf[0], 700 + left);
	CHECK(buf[6] == 800 + left && buf[7] == 700 + left, "Put + flush_local: %d %d", buf[6],
	      buf[7]);
	if (rank == 0)
		CHECK(buf[5] == 5 + 3 * size, "Raccumulate: %d, want %d", buf[5], 5 + 3 * size);
	CHECK_MPI(MPI_Win_free(&win));
}

static void shared(void)
{
	MPI_Comm node;
	MPI_Win win;
	long *mine = NULL;
	int nr, nsize;
	CHECK_MPI(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
	CHECK_MPI(MPI_Comm_rank(node, &nr));
	CHECK_MPI(MPI_Comm_size(node, &nsize));
	CHECK_MPI(MPI_Win_allocate_shared(4 * sizeof(long), sizeof(long), MPI_INFO_NULL, node, &mine,
					  &win));
	int *fp = NULL, flag = 0;
	CHECK_MPI(MPI_Win_get_attr(win, MPI_WIN_CREATE_FLAVOR, &fp, &flag));
	CHECK(flag && fp && *fp == MPI_WIN_FLAVOR_SHARED, "shared: flavor %d", flag && fp ? *fp : -1);
	CHECK_MPI(MPI_Win_lock_all(MPI_MODE_NOCHECK, win));
	for (int i = 0; i < 4; i++)
		mine[i] = 1000L * nr + i;
	CHECK_MPI(MPI_Win_sync(win));
	CHECK_MPI(MPI_Barrier(node));
	CHECK_MPI(MPI_Win_sync(win));
	for (int r = 0; r < nsize; r++) {
		MPI_Aint sz = -1;
		int du = -1;
		long *p = NULL;
		CHECK_MPI(MPI_Win_shared_query(win, r, &sz, &du, &p));
		CHECK(sz == 4 * (MPI_Aint)sizeof(long) && du == (int)sizeof(long) && p,
		      "Win_shared_query(%d): size %ld unit %d", r, (long)sz, du);
		for (int i = 0; p && i < 4; i++)
			CHECK(p[i] == 1000L * r + i, "shared segment of node rank %d [%d]: %ld", r, i,
			      p[i]);
	}
	CHECK_MPI(MPI_Win_unlock_all(win));
	CHECK_MPI(MPI_Win_free(&win));
	CHECK_MPI(MPI_Comm_free(&node));
}

int main(int argc, char **argv)
{
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	CHECK(size >= 2 && size <= 64, "run with 2..64 ranks, not %d", size);
	fence_ops();
	allocate_lock();
	dynamic();
	pscw();
	request_based();
	shared();
	if (rank == 0)
		printf("RMA: fence, lock, lock_all, PSCW; create, allocate, dynamic, shared: checked\n");
	return mt_finish("rmacov");
}
