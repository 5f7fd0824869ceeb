/* ckpt_waitall.c - threads inside MPI_Waitall with MPI_STATUSES_IGNORE while a checkpoint
 * drains. Such a Waitall completes its requests one at a time with the lower MPI_Test
 * (wrap_p2p_wait.c, tmode): a request it completed before the checkpoint must be complete in
 * the virtual state too (counted, released) before the drain looks at the requests, the others
 * stay pending and are drained or received after.
 *
 * Two threads per rank (MPI_THREAD_MULTIPLE):
 *   0: Waitall(STATUSES_IGNORE) on an Irecv whose message the main thread sends before the
 *      checkpoint (complete at the first polls), an Irecv sent after it, a 4 MiB Isend in
 *      flight (its receiver's drain takes it) and an Isend to MPI_PROC_NULL;
 *   1: Waitall(STATUSES_IGNORE) on two Irecvs sent after the checkpoint.
 * The main thread plays the lower half as ckpt_p2p.c does (SUSPEND, final TARGETS, checks at
 * QUIESCED: nobody inside MPI, nobody finished; RESUME), then sends the late messages and
 * receives the drained one. Every payload is checked; a completion the drain did not see
 * would leave the counts unbalanced (the drain would not end).
 *   ckpt_waitall          (2 or 4 ranks; natively: no checkpoint, same checks)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "ckpt_inproc.h"
#include "mt.h"

/* GCC warns that MPI_Waitall(n, req, MPI_STATUSES_IGNORE) writes into a 0-byte array: a false
 * positive with MPICH's (MPI_Status *)1 */
#pragma GCC diagnostic ignored "-Wstringop-overflow"

#define NT 2
#define BIG (1 << 20) /* ints: 4 MiB */


static int rank, size, left, right;
static volatile int done[NT];

static void fill(int *b, int n, int src, int tag)
{
	for (int i = 0; i < n; i++)
		b[i] = src * 1000003 + tag * 7919 + i;
}

static void expect(const int *b, int n, int src, int tag, const char *how)
{
	int ok = 1;
	for (int i = 0; ok && i < n; i++)
		ok = b[i] == src * 1000003 + tag * 7919 + i;
	CHECK(ok, "%s: tag %d from %d: wrong payload", how, tag, src);
}

static void *worker(void *arg)
{
	int w = (int)(intptr_t)arg;
	int *b = calloc(BIG, sizeof(int)), *s = malloc(sizeof(int) * BIG), z = 0;
	MPI_Request q[4];
	if (w == 0) {
		fill(s, BIG, rank, 13);
		CHECK_MPI(MPI_Irecv(b, 8, MPI_INT, left, 11, MPI_COMM_WORLD, &q[0]));
		CHECK_MPI(MPI_Irecv(b + 8, 8, MPI_INT, left, 12, MPI_COMM_WORLD, &q[1]));
		CHECK_MPI(MPI_Isend(s, BIG, MPI_INT, right, 13, MPI_COMM_WORLD, &q[2]));
		CHECK_MPI(MPI_Isend(&z, 1, MPI_INT, MPI_PROC_NULL, 14, MPI_COMM_WORLD, &q[3]));
		CHECK_MPI(MPI_Waitall(4, q, MPI_STATUSES_IGNORE));
		expect(b, 8, left, 11, "Irecv complete before the checkpoint");
		expect(b + 8, 8, left, 12, "Irecv sent after the checkpoint");
	} else {
		CHECK_MPI(MPI_Irecv(b, 8, MPI_INT, left, 15, MPI_COMM_WORLD, &q[0]));
		CHECK_MPI(MPI_Irecv(b + 8, 8, MPI_INT, left, 16, MPI_COMM_WORLD, &q[1]));
		CHECK_MPI(MPI_Waitall(2, q, MPI_STATUSES_IGNORE));
		expect(b, 8, left, 15, "late Irecv 1");
		expect(b + 8, 8, left, 16, "late Irecv 2");
	}
	for (int i = 0; i < (w == 0 ? 4 : 2); i++)
		CHECK(q[i] == MPI_REQUEST_NULL, "thread %d: request %d not freed by Waitall", w, i);
	free(b);
	free(s);
	done[w] = 1;
	return NULL;
}

int main(int argc, char **argv)
{
	int provided, early[8], late[3][8];
	pthread_t th[NT];
	MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	ck_rank = rank;
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	CHECK(provided == MPI_THREAD_MULTIPLE, "thread level %d", provided);
	left = (rank + size - 1) % size, right = (rank + 1) % size;
	ckpt_cmd_fn ck = (ckpt_cmd_fn)dlsym(RTLD_DEFAULT, "SPLITCKPT_test_ckpt_command");
	ckpt_door_fn door = (ckpt_door_fn)dlsym(RTLD_DEFAULT, "SPLITCKPT_test_door");

	for (int w = 0; w < NT; w++)
		pthread_create(&th[w], NULL, worker, (void *)(intptr_t)w);
	usleep(100000); /* let them post their receives and wait */
	fill(early, 8, rank, 11);
	CHECK_MPI(MPI_Send(early, 8, MPI_INT, right, 11, MPI_COMM_WORLD));
	if (ck && door)
		ckpt_inproc(ck, door, done, NT, -1, 100000);
	else if (rank == 0)
		printf("no SPLITCKPT_test_ckpt_command (native run): no checkpoint\n");

	int tags[] = {12, 15, 16};
	for (int i = 0; i < 3; i++) {
		fill(late[i], 8, rank, tags[i]);
		CHECK_MPI(MPI_Send(late[i], 8, MPI_INT, right, tags[i], MPI_COMM_WORLD));
	}
	int *b = malloc(sizeof(int) * BIG);
	CHECK_MPI(MPI_Recv(b, BIG, MPI_INT, left, 13, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
	expect(b, BIG, left, 13, "Recv of the 4 MiB message");
	free(b);
	for (int w = 0; w < NT; w++)
		pthread_join(th[w], NULL);
	if (rank == 0)
		printf("%d waiting threads per rank finished%s\n", NT,
		       ck ? " after a checkpoint drained their messages" : "");
	return mt_finish("ckpt_waitall");
}
