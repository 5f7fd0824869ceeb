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

#include "mt.h"

/* GCC warns that MPI_Waitall(n, req, MPI_STATUSES_IGNORE) writes into a 0-byte array: a false
 * positive with MPICH's (MPI_Status *)1 */
#pragma GCC diagnostic ignored "-Wstringop-overflow"

#define NT 2
#define BIG (1 << 20) /* ints: 4 MiB */

typedef int (*cmd_fn)(int, unsigned, int, int, const unsigned long long *, int, unsigned *, int *,
		      unsigned long long *, int, char *, int);
typedef void (*door_fn)(unsigned[5]);

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

/* CHECK calls MPI_Comm_rank, which waits at a closed door: while the test holds the door
 * closed, failures are reported without MPI. */
#define CHECK_CLOSED(cond, ...)                                                                    \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FAIL rank %d %s:%d: ", rank, __FILE__, __LINE__);         \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, "\n");                                                     \
			mt_ok = 0;                                                                 \
		}                                                                                  \
	} while (0)

/* The lower half's part: SUSPEND, final TARGETS, checks at QUIESCED, RESUME. */
static void checkpoint(cmd_fn ck, door_fn door)
{
	unsigned flags = 0, out[5];
	int n = 0, rc;
	unsigned long long rep[3 * 16], gt[2 * 16];
	char text[256] = "";
	for (int ms = 0; ms < 60000; ms += 10) { /* every thread inside MPI */
		door(out);
		if (out[1] >= NT)
			break;
		usleep(10000);
	}
	usleep(100000); /* and the first Irecv of thread 0 complete in its wait */
	door(out);
	CHECK_CLOSED(out[1] >= NT, "before the checkpoint %u threads inside MPI, want %d", out[1],
		     NT);
	rc = ck(1 /* SUSPEND */, 0, 0, 0, NULL, 30000, &flags, &n, rep, 16, text, sizeof(text));
	CHECK_CLOSED(rc == 2 && (flags & 1), "SUSPEND: reply %d flags %u (%s)", rc, flags, text);
	for (int i = 0; i < n && i < 16; i++)
		gt[2 * i] = rep[3 * i], gt[2 * i + 1] = rep[3 * i + 1];
	rc = ck(2 /* TARGETS */, 1, 1, n, gt, 60000, NULL, NULL, NULL, 0, text, sizeof(text));
	CHECK_CLOSED(rc == 3, "final TARGETS: reply %d, want REP_QUIESCED (%s)", rc, text);
	door(out);
	CHECK_CLOSED(out[4] == 2 && out[1] == 0, "at QUIESCED: phase %u, %u thread(s) inside MPI",
		     out[4], out[1]);
	usleep(20000);
	for (int w = 0; w < NT; w++)
		CHECK_CLOSED(!done[w], "thread %d finished while the door was closed", w);
	rc = ck(3 /* RESUME */, 0, 0, 0, NULL, 30000, NULL, NULL, NULL, 0, text, sizeof(text));
	CHECK_CLOSED(rc == 4, "RESUME: reply %d, want REP_RESUMED (%s)", rc, text);
	door(out);
	CHECK_CLOSED(out[4] == 0, "phase %u after RESUME", out[4]);
}

int main(int argc, char **argv)
{
	int provided, early[8], late[3][8];
	pthread_t th[NT];
	MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	CHECK(provided == MPI_THREAD_MULTIPLE, "thread level %d", provided);
	left = (rank + size - 1) % size, right = (rank + 1) % size;
	cmd_fn ck = (cmd_fn)dlsym(RTLD_DEFAULT, "SPLITCKPT_test_ckpt_command");
	door_fn door = (door_fn)dlsym(RTLD_DEFAULT, "SPLITCKPT_test_door");

	for (int w = 0; w < NT; w++)
		pthread_create(&th[w], NULL, worker, (void *)(intptr_t)w);
	usleep(100000); /* let them post their receives and wait */
	fill(early, 8, rank, 11);
	CHECK_MPI(MPI_Send(early, 8, MPI_INT, right, 11, MPI_COMM_WORLD));
	if (ck && door)
		checkpoint(ck, door);
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
