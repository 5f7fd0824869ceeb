/* rmastuck.c - a checkpoint that comes while a thread waits inside an RMA call for another
 * rank (docs/mpi-ckpt.md section 5, the rows "thread inside ..."). 4 ranks (an even number),
 * one window of MPI_Win_create over heap memory on MPI_COMM_WORLD.
 *
 *   rmastuck MODE [steps] [ms per step]
 *
 *   start     pairs (even rank target, next rank origin), one post/start/complete/wait epoch
 *             per step, Put of s*100+origin into the target's P[s]; at the middle step the
 *             target holds (outside MPI) for the go file before MPI_Win_post while its origin
 *             waits in MPI_Win_start: the checkpoint must be taken (the origin steps out) and
 *             the job must give the native ANSWER after a kill and a restart.
 *   lockprog  rank 1 waits in MPI_Win_lock(SHARED, 2) + MPI_Win_flush while rank 2 holds for
 *             the go file outside MPI: MPICH needs rank 2's progress to grant the lock, which
 *             its service thread gives at a checkpoint: the checkpoint must be taken.
 *   complete  the origins wait in MPI_Win_complete while their targets hold outside MPI after
 *             MPI_Win_post (MPICH needs the target's progress): the checkpoint must end quickly,
 *             refused for the open exposure epoch, not hang.
 *   lock      rank 0 holds MPI_Win_lock(EXCLUSIVE, 2) until the go file; rank 1 waits in
 *             MPI_Win_lock(EXCLUSIVE, 2): the checkpoint must be abandoned (rank 1 and
 *             MPI_Win_lock named) and the job must go on; rank 1 reads rank 0's value.
 *   lockall   the same with rank 1 waiting in MPI_Win_lock_all.
 * With CR_PRE set (tests/mpi-wrap/refuse_cr.sh --first-ok) every rank first prints "PRE" and
 * waits, outside MPI, for that file (a checkpoint taken then must succeed).
 * A rank prints "READY" when it holds; a rank that waits inside an MPI call prints it from a
 * helper thread once its main thread is inside MPI (SPLITCKPT_test_door of the upper half; a
 * native run prints it at once), so a checkpoint always finds it there. Output: "PID <rank>
 * <pid>", READY, and on rank 0 "ANSWER: <hash>" and PASS/FAIL (tests/e2e-mpi/mpi_cr.sh).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <mpi.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../progs/cr_go.h"
#include "cr_answer.h"

#define NP 256

static int bad, rank;

static void expect(const char *what, int i, long got, long want)
{
	if (got != want && bad++ < 5)
		fprintf(stderr, "FAIL rank %d: %s[%d] = %ld, expected %ld\n", rank, what, i, got,
			want);
}

static void say(const char *s)
{
	printf("%s\n", s);
	fflush(stdout);
}

/* ---- READY once the main thread is inside MPI -------------------------------------------- */

typedef void (*door_fn)(unsigned out[5]);
static volatile int entering;

static void *ready_when_inside(void *arg)
{
	door_fn door = (door_fn)arg;
	unsigned d[5] = {0, 0, 0, 0, 0};
	while (!entering)
		cr_sleep_us(1000);
	for (;;) { /* d[1]: application threads inside MPI (this one never calls MPI) */
		door(d);
		if (d[1] >= 1)
			break;
		cr_sleep_us(1000);
	}
	say("READY");
	return NULL;
}

/* Arm READY for the next MPI call of this thread (the caller makes it right after). */
static void ready_inside(void)
{
	door_fn door = (door_fn)dlsym(RTLD_DEFAULT, "SPLITCKPT_test_door");
	pthread_t t;
	if (!door) { /* native: no upper half */
		say("READY");
		return;
	}
	if (pthread_create(&t, NULL, ready_when_inside, (void *)door) != 0 ||
	    pthread_detach(t) != 0) {
		fprintf(stderr, "FAIL rank %d: pthread_create\n", rank);
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	entering = 1;
}

static void wait_pre(void)
{
	const char *p = getenv("CR_PRE");
	if (!p || !*p)
		return;
	say("PRE");
	while (access(p, F_OK) != 0)
		cr_sleep_us(20000);
}

/* ---- modes ---------------------------------------------------------------------------------- */

static void mode_start(MPI_Win w, long *p, MPI_Group gw, int steps, int ms)
{
	int target = rank & ~1, origin = target + 1, peer = rank == target ? origin : target;
	MPI_Group g;
	MPI_Group_incl(gw, 1, &peer, &g);
	for (int s = 0; s < steps; s++) {
		if (rank == target) {
			if (s == steps / 2) {
				say("READY");
				cr_wait_go();
			}
			MPI_Win_post(g, 0, w);
			MPI_Win_wait(w);
			expect("P", s, p[s], (long)s * 100 + origin);
		} else {
			long v = (long)s * 100 + rank;
			if (s == steps / 2)
				ready_inside();
			MPI_Win_start(g, 0, w);
			MPI_Put(&v, 1, MPI_LONG, target, s, 1, MPI_LONG, w);
			MPI_Win_complete(w);
		}
		cr_pause_us(ms * 1000L);
	}
	MPI_Group_free(&g);
}

static void mode_lockprog(MPI_Win w, long *p)
{
	long v = 42;
	if (rank == 1) {
		ready_inside();
		MPI_Win_lock(MPI_LOCK_SHARED, 2, 0, w);
		MPI_Put(&v, 1, MPI_LONG, 2, 1, 1, MPI_LONG, w);
		MPI_Win_flush(2, w);
		MPI_Win_unlock(2, w);
	} else { /* rank 2's progress is what rank 1 waits for */
		say("READY");
		cr_wait_go();
	}
	MPI_Barrier(MPI_COMM_WORLD);
	if (rank == 2)
		expect("P", 1, p[1], 42);
}

static void mode_complete(MPI_Win w, long *p, MPI_Group gw)
{
	int target = rank & ~1, origin = target + 1, peer = rank == target ? origin : target;
	long v = 7000 + rank;
	MPI_Group g;
	MPI_Group_incl(gw, 1, &peer, &g);
	if (rank == target) {
		MPI_Win_post(g, 0, w);
		say("READY");
		cr_wait_go();
		MPI_Win_wait(w);
		expect("P", 0, p[0], 7000 + origin);
	} else {
		MPI_Win_start(g, 0, w);
		MPI_Put(&v, 1, MPI_LONG, target, 0, 1, MPI_LONG, w);
		ready_inside();
		MPI_Win_complete(w);
	}
	MPI_Group_free(&g);
}

static void mode_lock(MPI_Win w, long *p, int all)
{
	long v = 100, got = -1;
	if (rank == 0) { /* rank 2 grants the lock from inside the barrier */
		MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 2, 0, w);
		MPI_Put(&v, 1, MPI_LONG, 2, 0, 1, MPI_LONG, w);
		MPI_Win_flush(2, w);
	}
	MPI_Barrier(MPI_COMM_WORLD); /* rank 0 holds the exclusive lock on rank 2 */
	if (rank == 1) {
		ready_inside();
		if (all)
			MPI_Win_lock_all(0, w);
		else
			MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 2, 0, w);
		MPI_Get(&got, 1, MPI_LONG, 2, 0, 1, MPI_LONG, w);
		MPI_Win_flush(2, w);
		expect("read under the lock", 0, got, 100);
		got++;
		MPI_Put(&got, 1, MPI_LONG, 2, 1, 1, MPI_LONG, w);
		if (all)
			MPI_Win_unlock_all(w);
		else
			MPI_Win_unlock(2, w);
	} else {
		say("READY");
		cr_wait_go();
		if (rank == 0)
			MPI_Win_unlock(2, w);
	}
	MPI_Barrier(MPI_COMM_WORLD);
	if (rank == 2) {
		expect("P", 0, p[0], 100);
		expect("P", 1, p[1], 101);
	}
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "start";
	int steps = argc > 2 ? atoi(argv[2]) : 40, ms = argc > 3 ? atoi(argv[3]) : 5, size;
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	printf("PID %d %d\n", rank, (int)getpid());
	fflush(stdout);
	if (size < 4 || size % 2 || size > 64 || steps < 2 || steps > NP) {
		fprintf(stderr, "rmastuck: an even number of ranks >= 4, 2..%d steps\n", NP);
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	long *p = calloc(NP, sizeof(long));
	MPI_Win w;
	MPI_Group gw;
	if (!p) {
		fprintf(stderr, "FAIL rank %d: out of memory\n", rank);
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	MPI_Win_create(p, NP * sizeof(long), sizeof(long), MPI_INFO_NULL, MPI_COMM_WORLD, &w);
	MPI_Comm_group(MPI_COMM_WORLD, &gw);
	MPI_Barrier(MPI_COMM_WORLD);
	wait_pre();
	if (!strcmp(mode, "start"))
		mode_start(w, p, gw, steps, ms);
	else if (!strcmp(mode, "lockprog"))
		mode_lockprog(w, p);
	else if (!strcmp(mode, "complete"))
		mode_complete(w, p, gw);
	else if (!strcmp(mode, "lock") || !strcmp(mode, "lockall"))
		mode_lock(w, p, !strcmp(mode, "lockall"));
	else {
		fprintf(stderr, "rmastuck: unknown mode %s\n", mode);
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	MPI_Barrier(MPI_COMM_WORLD);
	uint64_t hash = 1469598103934665603ULL;
	for (int i = 0; i < NP; i++)
		hash = (hash ^ (uint64_t)p[i]) * 1099511628211ULL;
	MPI_Group_free(&gw);
	MPI_Win_free(&w);
	free(p);
	int fail = cr_answer(hash, bad);
	MPI_Finalize();
	return fail != 0;
}
