/*
 * cr_go.h - the pace of a checkpoint test program's steps (header-only, static inline; plain
 * C, no MPI, nothing of splitckpt). Used by tests/progs/tp.h and the MPI test programs.
 *
 * A test driver that checkpoints a program, kills it and restarts it sets CR_GO (environment)
 * to the name of a file it creates only when the run may end: at once for the uninterrupted
 * reference run, when a restart starts for the restarted run, never for the run it kills.
 *   - Until the file exists a step pauses as the program asks (cr_pause_us), and the program
 *     waits before the last quarter of its steps (cr_pace_us): a checkpointed run outlasts
 *     its checkpoints however slow they are on a loaded machine, never ends before the kill,
 *     and a restart always has that quarter of the work left to do.
 *   - Once the file exists there is no pause: the rest of the steps run at full speed.
 * The steps, hence every checked value and the ANSWER, are the same either way; only the
 * time between them changes. The environment is in the image, so a restarted process looks
 * at the file the launched one was given. Without CR_GO: every pause, no wait.
 */
#ifndef CR_GO_H
#define CR_GO_H

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* nonzero iff CR_GO names a file and it exists */
static inline int cr_go(void)
{
	const char *p = getenv("CR_GO");
	return p && *p && access(p, F_OK) == 0;
}

/* sleep US microseconds (restarted after a signal, e.g. the checkpoint signal) */
static inline void cr_sleep_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
	while (us > 0 && nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* sleep US microseconds unless the go file exists */
static inline void cr_pause_us(long us)
{
	if (us > 0 && !cr_go())
		cr_sleep_us(us);
}

/* wait (outside any library call, polling every 20 ms) until the go file exists; returns
 * at once without CR_GO */
static inline void cr_wait_go(void)
{
	const char *p = getenv("CR_GO");
	if (!p || !*p)
		return;
	while (!cr_go())
		cr_sleep_us(20000);
}

/* the 0-based step after which cr_pace_us waits for the go file: STEPS / 4 steps remain */
static inline long cr_hold_step(long steps) { return steps - 1 - steps / 4; }

/* The pause after step STEP (0-based) of STEPS: US microseconds unless the go file exists;
 * from step cr_hold_step(STEPS) on (the last quarter of the steps is left), first wait for
 * the go file. */
static inline void cr_pace_us(long step, long steps, long us)
{
	if (step >= cr_hold_step(steps))
		cr_wait_go();
	cr_pause_us(us);
}

#endif
