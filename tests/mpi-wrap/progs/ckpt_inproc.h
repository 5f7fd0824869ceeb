/*
 * ckpt_inproc.h - one in-process MPI checkpoint for the wrapper tests that play the lower half
 * themselves (ckpt_p2p.c, ckpt_waitall.c): through the test entry points of the upper half
 * (SPLITCKPT_test_ckpt_command, SPLITCKPT_test_door) the main thread sends SUSPEND, the final
 * TARGETS (no collective runs meanwhile, so every rank's report is the same) and, after the
 * checks at QUIESCED, RESUME.
 *
 * ckpt_inproc(ck, door, done, nt, may_finish, settle_us): waits until the nt worker threads
 * are inside MPI (a thread may_finish, >= 0, may have finished instead), lets them settle,
 * and checks that at QUIESCED no thread is inside MPI and none but may_finish has finished.
 * Failures are reported with CHECK_CLOSED: CHECK would call MPI_Comm_rank, which waits at the
 * closed door. The including file sets ck_rank.
 */
#ifndef CKPT_INPROC_H
#define CKPT_INPROC_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "mt.h"

typedef int (*ckpt_cmd_fn)(int, unsigned, int, int, const unsigned long long *, int, unsigned *,
			   int *, unsigned long long *, int, char *, int);
typedef void (*ckpt_door_fn)(unsigned[5]);

static int ck_rank;

#define CHECK_CLOSED(cond, ...)                                                                    \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FAIL rank %d %s:%d: ", ck_rank, __FILE__, __LINE__);      \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, "\n");                                                     \
			mt_ok = 0;                                                                 \
		}                                                                                  \
	} while (0)

/* polls for up to limit_ms until the nt workers are inside MPI or (may_finish) done. Polled
 * also after the settle: the thread that may finish leaves the MPI call a moment before it
 * sets done[], and on 2 loaded cores that moment is long enough to be seen (CI of d072d2a) */
static unsigned ckpt_inside(ckpt_door_fn door, const volatile int *done, int nt, int may_finish,
			    int limit_ms)
{
	unsigned out[5];
	for (int ms = 0;; ms += 10) {
		door(out);
		unsigned extra = may_finish >= 0 ? (unsigned)done[may_finish] : 0;
		if (out[1] + extra >= (unsigned)nt || ms >= limit_ms)
			return out[1] + extra;
		usleep(10000);
	}
}

static void ckpt_inproc(ckpt_cmd_fn ck, ckpt_door_fn door, const volatile int *done, int nt,
			int may_finish, useconds_t settle_us)
{
	unsigned flags = 0, out[5];
	int n = 0, rc;
	unsigned long long rep[3 * 16], gt[2 * 16];
	char text[256] = "";
	unsigned in;
	(void)ckpt_inside(door, done, nt, may_finish, 60000); /* a fixed sleep was too short */
	usleep(settle_us); /* and let them reach their waits */
	in = ckpt_inside(door, done, nt, may_finish, 10000);
	CHECK_CLOSED(in >= (unsigned)nt, "before the checkpoint %u threads inside MPI or done, want %d",
		     in, nt);
	door(out);
	if (getenv("CKP2P_DEBUG"))
		fprintf(stderr, "rank %d pid %d: inside %u\n", ck_rank, getpid(), out[1]);
	rc = ck(1 /* SUSPEND */, 0, 0, 0, NULL, 30000, &flags, &n, rep, 16, text, sizeof(text));
	CHECK_CLOSED(rc == 2 && (flags & 1), "SUSPEND: reply %d flags %u (%s)", rc, flags, text);
	/* no collective runs now: every rank reports the same seqs, which are the targets */
	for (int i = 0; i < n && i < 16; i++)
		gt[2 * i] = rep[3 * i], gt[2 * i + 1] = rep[3 * i + 1];
	rc = ck(2 /* TARGETS */, 1, 1, n, gt, 60000, NULL, NULL, NULL, 0, text, sizeof(text));
	CHECK_CLOSED(rc == 3, "final TARGETS: reply %d, want REP_QUIESCED (%s)", rc, text);
	door(out);
	CHECK_CLOSED(out[4] == 2 && out[1] == 0, "at QUIESCED: phase %u, %u thread(s) inside MPI",
		     out[4], out[1]);
	usleep(20000);
	for (int w = 0; w < nt; w++)
		CHECK_CLOSED(!done[w] || w == may_finish,
			     "thread %d finished while the door was closed", w);
	rc = ck(3 /* RESUME */, 0, 0, 0, NULL, 30000, NULL, NULL, NULL, 0, text, sizeof(text));
	CHECK_CLOSED(rc == 4, "RESUME: reply %d, want REP_RESUMED (%s)", rc, text);
	door(out);
	CHECK_CLOSED(out[4] == 0, "phase %u after RESUME", out[4]);
}

#endif
