/*
 * vh_threads.c - virtual handles under MPI_THREAD_MULTIPLE: 4 threads per rank create and free
 * communicators (MPI_Comm_dup on a communicator of their own) and derived datatypes while the
 * other threads look handles up and exchange messages with them. Each thread keeps 300
 * datatypes alive, so the datatype table grows (new chunks published) while other threads
 * read it; every message is checked. Then MPI_COMM_WORLD is checked unaffected.
 * Prints "PASS vh_threads" or FAIL lines; exits 2 when MULTIPLE is not provided.
 */
#include <mpi.h>
#include <pthread.h>
#include <stdio.h>

#define NT 4
#define ROUNDS 300

static int rank, size, fail;
static MPI_Comm tcomm[NT];

static void bad(const char *what, int t, int i, long v)
{
	fprintf(stderr, "FAIL rank %d thread %d round %d: %s (%ld)\n", rank, t, i, what, v);
	__atomic_add_fetch(&fail, 1, __ATOMIC_RELAXED);
}

static void *work(void *a)
{
	int t = (int)(long)a;
	int peer = (rank + 1) % size, from = (rank + size - 1) % size;
	static __thread MPI_Datatype keep[ROUNDS];
	for (int i = 0; i < ROUNDS; i++) {
		MPI_Comm c;
		MPI_Datatype v;
		if (MPI_Comm_dup(tcomm[t], &c) != MPI_SUCCESS)
			bad("Comm_dup", t, i, 0);
		MPI_Type_vector(2, 1, 2, MPI_LONG, &v);
		MPI_Type_commit(&v);
		keep[i] = v;
		long s[3] = {rank * 1000000L + t * 10000 + i, -7,
			     rank * 1000000L + t * 10000 + i + 1};
		long r[2] = {-1, -1};
		MPI_Request q[2];
		MPI_Status st[2];
		MPI_Irecv(r, 2, MPI_LONG, from, i, c, &q[0]);
		MPI_Isend(s, 1, v, peer, i, c, &q[1]);
		MPI_Waitall(2, q, st);
		long e = from * 1000000L + t * 10000 + i;
		if (r[0] != e || r[1] != e + 1)
			bad("message", t, i, r[0]);
		if (q[0] != MPI_REQUEST_NULL || q[1] != MPI_REQUEST_NULL)
			bad("requests not null after Waitall", t, i, 0);
		int n = -1;
		MPI_Comm_size(c, &n);
		if (n != size)
			bad("Comm_size", t, i, n);
		MPI_Comm_free(&c);
		if (c != MPI_COMM_NULL)
			bad("freed communicator not null", t, i, 0);
	}
	for (int i = 0; i < ROUNDS; i++) {
		int sz = 0;
		MPI_Type_size(keep[i], &sz);
		if (sz != 2 * (int)sizeof(long))
			bad("kept datatype", t, i, sz);
		MPI_Type_free(&keep[i]);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int prov;
	MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &prov);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (prov != MPI_THREAD_MULTIPLE) {
		if (rank == 0)
			printf("FAIL vh_threads: provided %d, not MPI_THREAD_MULTIPLE\n", prov);
		MPI_Finalize();
		return 2;
	}
	for (int t = 0; t < NT; t++)
		MPI_Comm_dup(MPI_COMM_WORLD, &tcomm[t]);
	pthread_t th[NT];
	for (long t = 0; t < NT; t++)
		pthread_create(&th[t], NULL, work, (void *)t);
	for (int t = 0; t < NT; t++)
		pthread_join(th[t], NULL);
	for (int t = 0; t < NT; t++)
		MPI_Comm_free(&tcomm[t]);
	int sum = 0;
	MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
	if (sum != size * (size - 1) / 2)
		fail++;
	int tot = 0;
	MPI_Allreduce(&fail, &tot, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
	if (rank == 0)
		printf("%s vh_threads\n", tot ? "FAIL" : "PASS");
	MPI_Finalize();
	return tot != 0;
}
