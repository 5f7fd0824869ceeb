/* ckpt_p2p.c - threads blocked inside point-to-point calls while a checkpoint drains
 * (docs/mpi-ckpt.md section 1: "a rank is never left inside the lower half in a blocking
 * point-to-point call").
 *
 * Six threads per rank (MPI_THREAD_MULTIPLE) block in MPI: Recv, Ssend (1 MiB), Waitall (an
 * Irecv + a 4 MiB Isend), Probe, Sendrecv, Waitany + Mprobe/Mrecv. Most of them
 * wait for a message that is sent only after the checkpoint; the Ssend, the 4 MiB Isend and
 * the send half of the Sendrecv are in flight when it starts. The main thread plays the lower
 * half (SPLITCKPT_test_ckpt_command, as ckpt_quiesce.c): SUSPEND, final TARGETS (no
 * collective runs meanwhile, so every rank's report is the same), and at QUIESCED checks that
 * no thread is inside MPI any more (they stepped out of their wait loops; the drain took the
 * messages in flight, which completed the Ssend and the Isend), that none of them finished,
 * then RESUME. After that it sends the late messages and receives the ones that were in
 * flight (from the queue); every thread must finish, every payload is checksummed.
 *   ckpt_p2p          (4 ranks; natively: no checkpoint, same checks)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "ckpt_inproc.h"
#include "mt.h"

#define NT 6
#define MID (1 << 18) /* ints: 1 MiB */
#define BIG (1 << 20) /* ints: 4 MiB */


static int rank, size, left, right;
static MPI_Comm wdup;
static volatile int done[NT];

static void fill(int *b, int n, int src, int tag)
{
	for (int i = 0; i < n; i++)
		b[i] = src * 1000003 + tag * 7919 + i;
}

static void expect(const int *b, int n, int src, int tag, const MPI_Status *st, const char *how)
{
	int ok = 1, cnt = -1;
	for (int i = 0; ok && i < n; i++)
		ok = b[i] == src * 1000003 + tag * 7919 + i;
	CHECK(ok, "%s: tag %d from %d: wrong payload", how, tag, src);
	if (st) {
		MPI_Get_count(st, MPI_INT, &cnt);
		CHECK(cnt == n && st->MPI_TAG == tag, "%s: count %d tag %d, want %d %d", how, cnt,
		      st->MPI_TAG, n, tag);
	}
}

static void *worker(void *arg)
{
	int w = (int)(intptr_t)arg, *b = malloc(sizeof(int) * BIG), *s = malloc(sizeof(int) * BIG);
	MPI_Status st, sts[2];
	MPI_Request q[2];
	MPI_Message m;
	int idx = -1;
	switch (w) {
	case 0: /* Recv of a message sent after the checkpoint */
		CHECK_MPI(MPI_Recv(b, 8, MPI_INT, left, 1, MPI_COMM_WORLD, &st));
		expect(b, 8, left, 1, &st, "Recv");
		break;
	case 1: /* Ssend in flight: the receiver drains it (its main thread receives it after) */
		fill(s, MID, rank, 2);
		CHECK_MPI(MPI_Ssend(s, MID, MPI_INT, right, 2, MPI_COMM_WORLD));
		break;
	case 2: /* Waitall: an Irecv sent after, a 4 MiB Isend in flight */
		fill(s, BIG, rank, 5);
		CHECK_MPI(MPI_Irecv(b, 8, MPI_INT, left, 3, wdup, &q[0]));
		CHECK_MPI(MPI_Isend(s, BIG, MPI_INT, right, 5, wdup, &q[1]));
		CHECK_MPI(MPI_Waitall(2, q, sts));
		expect(b, 8, left, 3, &sts[0], "Waitall");
		CHECK(q[0] == MPI_REQUEST_NULL && q[1] == MPI_REQUEST_NULL, "Waitall: requests");
		break;
	case 3: /* Probe, then Recv */
		CHECK_MPI(MPI_Probe(left, 4, MPI_COMM_WORLD, &st));
		CHECK_MPI(MPI_Recv(b, 8, MPI_INT, left, 4, MPI_COMM_WORLD, &st));
		expect(b, 8, left, 4, &st, "Probe+Recv");
		break;
	case 4: /* Sendrecv: the send in flight, the receive after */
		fill(s, 16, rank, 6);
		CHECK_MPI(MPI_Sendrecv(s, 16, MPI_INT, right, 6, b, 8, MPI_INT, left, 7,
				       MPI_COMM_WORLD, &st));
		expect(b, 8, left, 7, &st, "Sendrecv");
		break;
	default: /* Waitany, then Mprobe + Mrecv */
		CHECK_MPI(MPI_Irecv(b, 8, MPI_INT, left, 8, MPI_COMM_WORLD, &q[0]));
		CHECK_MPI(MPI_Waitany(1, q, &idx, &st));
		CHECK(idx == 0, "Waitany index %d", idx);
		expect(b, 8, left, 8, &st, "Waitany");
		CHECK_MPI(MPI_Mprobe(left, 9, MPI_COMM_WORLD, &m, &st));
		CHECK_MPI(MPI_Mrecv(b, 8, MPI_INT, &m, &st));
		expect(b, 8, left, 9, &st, "Mprobe+Mrecv");
	}
	free(b);
	free(s);
	done[w] = 1;
	return NULL;
}

int main(int argc, char **argv)
{
	int provided, late[8][8];
	pthread_t th[NT];
	MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	ck_rank = rank;
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	CHECK(provided == MPI_THREAD_MULTIPLE, "thread level %d", provided);
	left = (rank + size - 1) % size, right = (rank + 1) % size;
	CHECK_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &wdup));
	ckpt_cmd_fn ck = (ckpt_cmd_fn)dlsym(RTLD_DEFAULT, "SPLITCKPT_test_ckpt_command");
	ckpt_door_fn door = (ckpt_door_fn)dlsym(RTLD_DEFAULT, "SPLITCKPT_test_door");

	for (int w = 0; w < NT; w++)
		pthread_create(&th[w], NULL, worker, (void *)(intptr_t)w);
	if (!(ck && door))
		usleep(300000); /* native run: let them block */
	if (ck && door)
		/* (MPICH 4.0.2 over UCX, natively too, sometimes ends an MPI_Ssend of a
		 * rendezvous-size message before its receiver posted a receive: thread 1 may be
		 * done) */
		ckpt_inproc(ck, door, done, NT, 1, 50000);
	else if (rank == 0)
		printf("no SPLITCKPT_test_ckpt_command (native run): no checkpoint\n");

	/* the late messages */
	int tags[] = {1, 3, 4, 7, 8, 9};
	for (int i = 0; i < 6; i++) {
		fill(late[i], 8, rank, tags[i]);
		CHECK_MPI(MPI_Send(late[i], 8, MPI_INT, right, tags[i],
				   tags[i] == 3 ? wdup : MPI_COMM_WORLD));
	}
	/* the messages that were in flight (drained: from the queue) */
	int *b = malloc(sizeof(int) * BIG);
	MPI_Status st;
	CHECK_MPI(MPI_Recv(b, MID, MPI_INT, left, 2, MPI_COMM_WORLD, &st));
	expect(b, MID, left, 2, &st, "Recv of the Ssend's message");
	CHECK_MPI(MPI_Recv(b, BIG, MPI_INT, left, 5, wdup, &st));
	expect(b, BIG, left, 5, &st, "Recv of the 4 MiB message");
	CHECK_MPI(MPI_Recv(b, 16, MPI_INT, left, 6, MPI_COMM_WORLD, &st));
	expect(b, 16, left, 6, &st, "Recv of the Sendrecv's message");
	free(b);
	for (int w = 0; w < NT; w++)
		pthread_join(th[w], NULL);
	if (rank == 0)
		printf("%d blocked threads per rank finished%s\n", NT,
		       ck ? " after a checkpoint drained their messages" : "");
	MPI_Comm_free(&wdup);
	return mt_finish("ckpt_p2p");
}
