/*
 * threads.c - MPI_THREAD_MULTIPLE through the split process: 4 threads per rank exchange
 * numbered messages with Isend/Irecv/Waitall at the same time, then run RMA (Accumulate +
 * Win_flush in one passive epoch) concurrently; every thread checks its own __thread marker
 * after each call (a wrong FS base would corrupt it). Prints "PASS threads" or FAIL lines.
 * Exits 2 (and prints why) when MULTIPLE is not provided.
 */
#include <mpi.h>
#include <pthread.h>
#include <stdio.h>

#define NT 4
#define N 1000

static int rank, size, fail;
static __thread int mytag = -1;
static MPI_Win win;

static void *work(void *a)
{
	int t = (int)(long)a;
	mytag = t;
	int peer = (rank + 1) % size, from = (rank + size - 1) % size;
	for (int i = 0; i < N; i++) {
		long s = rank * 1000000L + t * 10000 + i, r = -1;
		MPI_Request q[2];
		MPI_Status st[2];
		MPI_Irecv(&r, 1, MPI_LONG, from, t, MPI_COMM_WORLD, &q[0]);
		MPI_Isend(&s, 1, MPI_LONG, peer, t, MPI_COMM_WORLD, &q[1]);
		MPI_Waitall(2, q, st);
		if (r != from * 1000000L + t * 10000 + i || mytag != t)
			__atomic_add_fetch(&fail, 1, __ATOMIC_RELAXED);
	}
	long one = rank + 1;
	for (int i = 0; i < 50; i++) {
		MPI_Accumulate(&one, 1, MPI_LONG, peer, t, 1, MPI_LONG, MPI_SUM, win);
		MPI_Win_flush(peer, win);
	}
	if (mytag != t)
		__atomic_add_fetch(&fail, 1, __ATOMIC_RELAXED);
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
			printf("FAIL threads: provided %d, not MPI_THREAD_MULTIPLE\n", prov);
		MPI_Finalize();
		return 2;
	}
	long *buf;
	MPI_Win_allocate(NT * sizeof(long), sizeof(long), MPI_INFO_NULL, MPI_COMM_WORLD, &buf, &win);
	for (int t = 0; t < NT; t++)
		buf[t] = 0;
	MPI_Barrier(MPI_COMM_WORLD);
	MPI_Win_lock_all(0, win);
	pthread_t th[NT];
	for (long t = 0; t < NT; t++)
		pthread_create(&th[t], NULL, work, (void *)t);
	for (int t = 0; t < NT; t++)
		pthread_join(th[t], NULL);
	MPI_Win_unlock_all(win);
	MPI_Barrier(MPI_COMM_WORLD);
	for (int t = 0; t < NT; t++)
		if (buf[t] != 50L * (((rank + size - 1) % size) + 1))
			fail++;
	MPI_Win_free(&win);
	int tot = 0;
	MPI_Allreduce(&fail, &tot, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
	if (rank == 0 && tot)
		printf("FAIL threads: %d threads per rank, %d failures\n", NT, tot);
	else if (rank == 0)
		printf("PASS threads\n");
	MPI_Finalize();
	return tot != 0;
}
