/* handles.c - virtual handles beyond the first table chunk, keyval callbacks and user ops
 * across a real checkpoint/restart (known limit 5, issue 6 coverage).
 *
 * Before READY every rank makes NT (3000) datatypes and frees all but every third one (live
 * ones in every chunk of the datatype table: WRAP_VH_CHUNK is 1024), makes NC (1100)
 * communicators (MPI_Comm_dup of MPI_COMM_SELF: local) and 4 dups of MPI_COMM_WORLD after
 * them, and frees all but the last 40 of the first (live handles above 1024), and posts
 * NR (1500) MPI_Irecv from its left neighbour, which sends them only after the loop (pending
 * across every checkpoint: posted again after a restart). A communicator carries an attribute
 * of a keyval with copy and delete callbacks (copy: value + 1; delete: counted), and an op
 * made by MPI_Op_create (a non-commutative combine).
 * Every step: MPI_Allreduce with the user op on one of the WORLD dups and on a SELF dup;
 * MPI_Comm_dup of the attributed communicator (the copy callback must give value + 1),
 * MPI_Comm_free of the dup (the delete callback must run); a surviving datatype of every
 * chunk used in a Sendrecv to self. After the loop: the NR messages, MPI_Waitall, contents
 * checked; the rest freed (every datatype, communicator, keyval, op). rank 0 prints "ANSWER:"
 * (a hash of all results, equal to the native run) and PASS/FAIL.
 *   handles [steps] [ms per step]
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

#define NT 3000
#define NC 1100
#define KEEPC 40
#define NW 4
#define NR 1500

static uint64_t hash = 1469598103934665603ULL;
static int bad, copies, deletes;

static void fold(long v) { hash = (hash ^ (uint64_t)v) * 1099511628211ULL; }

static void fail(const char *what, long got, long want)
{
	if (bad++ < 5)
		fprintf(stderr, "FAIL %s: %ld, expected %ld\n", what, got, want);
}

static int copy_fn(MPI_Comm c, int kv, void *extra, void *in, void *out, int *flag)
{
	(void)c, (void)kv, (void)extra;
	*(void **)out = (void *)((intptr_t)in + 1);
	*flag = 1;
	copies++;
	return MPI_SUCCESS;
}

static int delete_fn(MPI_Comm c, int kv, void *val, void *extra)
{
	(void)c, (void)kv, (void)val, (void)extra;
	deletes++;
	return MPI_SUCCESS;
}

/* non-commutative: a o b = a * 3 + b (in rank order) */
static void combine(void *in, void *inout, int *len, MPI_Datatype *t)
{
	(void)t;
	long *a = in, *b = inout;
	for (int i = 0; i < *len; i++)
		b[i] = (a[i] * 3 + b[i]) % 1000000007L;
}

int main(int argc, char **argv)
{
	int steps = argc > 1 ? atoi(argv[1]) : 200, ms = argc > 2 ? atoi(argv[2]) : 5;
	int rank, size, ok, kv;
	static MPI_Datatype ty[NT];
	static MPI_Comm cm[NC], wc[NW];
	static MPI_Status st[NR];
	static MPI_Request rq[NR];
	static long rb[NR];
	MPI_Op op;
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	printf("PID %d %d\n", rank, (int)getpid());
	fflush(stdout);
	int left = (rank + size - 1) % size, right = (rank + 1) % size;

	for (int i = 0; i < NT; i++) {
		MPI_Type_contiguous(1 + i % 7, MPI_LONG, &ty[i]);
		MPI_Type_commit(&ty[i]);
	}
	for (int i = 0; i < NT; i++)
		if (i % 3)
			MPI_Type_free(&ty[i]);
	for (int i = 0; i < NC; i++) /* local: MPI_COMM_SELF */
		MPI_Comm_dup(MPI_COMM_SELF, &cm[i]);
	for (int i = 0; i < NW; i++) /* their handles come after the first 1024 */
		MPI_Comm_dup(MPI_COMM_WORLD, &wc[i]);
	for (int i = 0; i < NC - KEEPC; i++)
		MPI_Comm_free(&cm[i]);
	for (int i = 0; i < NR; i++)
		MPI_Irecv(&rb[i], 1, MPI_LONG, left, i, MPI_COMM_WORLD, &rq[i]);
	MPI_Comm_create_keyval(copy_fn, delete_fn, &kv, NULL);
	MPI_Comm attr = wc[NW - 1];
	MPI_Comm_set_attr(attr, kv, (void *)(intptr_t)1000);
	MPI_Op_create(combine, 0, &op);

	for (int s = 0; s < steps; s++) {
		MPI_Comm c = wc[s % NW], cs = cm[NC - KEEPC + s % KEEPC];
		long v[2] = {s + rank, s * 7 + rank}, w[2], one;
		MPI_Allreduce(v, w, 2, MPI_LONG, op, c);
		MPI_Allreduce(&v[0], &one, 1, MPI_LONG, op, cs); /* size 1: itself */
		if (one != v[0])
			fail("Allreduce on a dup of MPI_COMM_SELF", one, v[0]);
		fold(w[0]);
		fold(w[1]);
		MPI_Comm d;
		int c0 = copies, d0 = deletes, flag = 0;
		void *val;
		MPI_Comm_dup(attr, &d);
		MPI_Comm_get_attr(d, kv, &val, &flag);
		if (!flag || (intptr_t)val != 1001 || copies != c0 + 1)
			fail("attribute copied by Comm_dup", flag ? (long)(intptr_t)val : -1, 1001);
		MPI_Comm_free(&d);
		if (deletes != d0 + 1)
			fail("delete callbacks at Comm_free", deletes - d0, 1);
		for (int k = 0; k < 3; k++) { /* a live datatype of each chunk */
			int i = (k * 1024 + 3 + 3 * (s % 300)) / 3 * 3;
			long sb[7], rbf[7] = {0};
			int n = 1 + i % 7;
			for (int j = 0; j < n; j++)
				sb[j] = (long)s * 100 + i + j;
			MPI_Sendrecv(sb, 1, ty[i], rank, 7, rbf, 1, ty[i], rank, 7, MPI_COMM_WORLD,
				     MPI_STATUS_IGNORE);
			for (int j = 0; j < n; j++)
				if (rbf[j] != sb[j])
					fail("datatype round trip", rbf[j], sb[j]);
		}
		if (s == 10) {
			printf("READY\n");
			fflush(stdout);
		}
		cr_pace_us(s, steps, ms * 1000L);
	}
	for (int i = 0; i < NR; i++) {
		long x = (long)rank * 100000 + i;
		MPI_Send(&x, 1, MPI_LONG, right, i, MPI_COMM_WORLD);
	}
	MPI_Waitall(NR, rq, st);
	for (int i = 0; i < NR; i++) {
		if (rb[i] != (long)left * 100000 + i)
			fail("pending receive", rb[i], (long)left * 100000 + i);
		fold(rb[i]);
	}
	int d0 = deletes;
	MPI_Comm_free(&attr); /* wc[NW - 1]: its attribute's delete callback */
	if (deletes != d0 + 1)
		fail("delete callback when the attributed communicator is freed", deletes - d0, 1);
	for (int i = NC - KEEPC; i < NC; i++)
		MPI_Comm_free(&cm[i]);
	for (int i = 0; i < NW - 1; i++)
		MPI_Comm_free(&wc[i]);
	for (int i = 0; i < NT; i += 3)
		MPI_Type_free(&ty[i]);
	MPI_Comm_free_keyval(&kv);
	MPI_Op_free(&op);

	ok = cr_answer(hash, bad);
	MPI_Finalize();
	return ok != 0;
}
