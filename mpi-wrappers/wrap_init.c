/*
 * wrap_init.c - MPI_Init*, the thread level, and MPI_Pcontrol.
 *
 * Thread level: every upper thread gets a lower TLS of its own when the lower half offers them
 * (wrap_gate.h); MPI_Init_thread asks the lower MPICH for at most
 * min(required, contract.max_thread_level, WRAP_GATE_MAX_THREAD_LEVEL) and reports the same
 * bound in `provided` and MPI_Query_thread: with a lower half that cannot give per-thread
 * TLS, a program asking for MPI_THREAD_MULTIPLE is told honestly that it got SERIALIZED.
 * Below SERIALIZED (MPI_Init, SINGLE, FUNNELED) the lower MPICH is asked for SERIALIZED all
 * the same, for the checkpoint's service thread, and the application told its own level.
 *
 * MPI_Is_thread_main: MPICH would compare its own thread identity, which is the borrowed lower
 * TLS for every upper thread; we compare the upper FS base of the caller with that of the
 * thread that called MPI_Init*.
 *
 * If the lower half already initialised MPI itself (it may, to own the network across
 * restarts), the application's MPI_Init* does not initialise it again: it succeeds, and
 * MPI_Init_thread reports the level the lower MPI runs at (bounded as above).
 *
 * Checkpointing: once the lower MPI is initialised, MPI_Init* sets up the mailbox, the private
 * communicator and the service thread (wrap_ckpt_init, wrap_ckpt.c). Every entry point here
 * passes the door (wrap_door.h) like the generated ones.
 */
#include <stdarg.h>

#include "wrap.h"
#include "wrap_door.h"

static uint64_t init_thread_fs; /* upper FS base of the thread that called MPI_Init* */
/* The level the application was told (-1: the lower half initialised MPI itself). The MPI
 * service thread (wrap_ckpt.c) calls the lower MPI from a thread of its own, so the lower
 * MPI runs at SERIALIZED at least (the application's threads are held at the door while it
 * does); the application is told what it asked for, as MPICH would, never more than the
 * lower MPI gives. */
static int app_level = -1;

static int lower_level(int ask, int bound)
{
	return ask < MPI_THREAD_SERIALIZED && bound >= MPI_THREAD_SERIALIZED ? MPI_THREAD_SERIALIZED
									      : ask;
}

static int thread_level_bound(void)
{
	const struct lh_contract *c = wrap_contract_ok;
	int lvl = WRAP_GATE_MAX_THREAD_LEVEL;
	if (c && (int)c->max_thread_level < lvl)
		lvl = (int)c->max_thread_level;
	return lvl;
}

static uint64_t self_fs(void)
{
	return wrap_rdfs(wrap_contract_ok ? wrap_contract_ok->fsgsbase : 0);
}

/* 1 if the lower MPI is initialised already, 0 if not, or an MPI error code (negated). */
static int lower_initialized(void)
{
	int flag = 0, r;
	WRAP_DOWN(r, MPI_Initialized, &flag);
	return r == MPI_SUCCESS ? flag != 0 : -r;
}

WRAP_EXPORT int PMPI_Init(int *argc, char ***argv)
{
	wrap_door_t d = wrap_door_enter(WRAP_DOOR_LOCAL, 0);
	int r = lower_initialized();
	if (r < 0) {
		wrap_door_leave(d);
		return -r;
	}
	if (r == 0) {
		int got = MPI_THREAD_SINGLE; /* MPI_Init is MPI_Init_thread(SINGLE) */
		WRAP_DOWN(r, MPI_Init_thread, argc, argv,
			  lower_level(MPI_THREAD_SINGLE, thread_level_bound()), &got);
		app_level = MPI_THREAD_SINGLE;
	} else {
		r = MPI_SUCCESS;
	}
	if (r == MPI_SUCCESS) {
		init_thread_fs = self_fs();
		r = wrap_ckpt_init();
	}
	wrap_door_leave(d);
	return r;
}
WRAP_ALIAS(PMPI_Init, MPI_Init)

WRAP_EXPORT int PMPI_Init_thread(int *argc, char ***argv, int required, int *provided)
{
	wrap_door_t d = wrap_door_enter(WRAP_DOOR_LOCAL, 0);
	int r = lower_initialized(), got = MPI_THREAD_SINGLE;
	if (r < 0) {
		wrap_door_leave(d);
		return -r;
	}
	int bound = thread_level_bound();
	int ask = required < bound ? required : bound;
	if (r == 0) {
		WRAP_DOWN(r, MPI_Init_thread, argc, argv, lower_level(ask, bound), &got);
		if (got > ask)
			got = ask;
		app_level = got;
	} else {
		WRAP_DOWN(r, MPI_Query_thread, &got);
	}
	if (r == MPI_SUCCESS) {
		init_thread_fs = self_fs();
		if (provided)
			*provided = got < bound ? got : bound;
		r = wrap_ckpt_init();
	}
	wrap_door_leave(d);
	return r;
}
WRAP_ALIAS(PMPI_Init_thread, MPI_Init_thread)

WRAP_EXPORT int PMPI_Query_thread(int *provided)
{
	int r, got = MPI_THREAD_SINGLE;
	wrap_door_t d = wrap_door_enter(WRAP_DOOR_LOCAL, 0);
	WRAP_DOWN(r, MPI_Query_thread, &got);
	wrap_door_leave(d);
	if (r == MPI_SUCCESS && provided) {
		int bound = thread_level_bound();
		if (app_level >= 0 && got > app_level)
			got = app_level;
		*provided = got < bound ? got : bound;
	}
	return r;
}
WRAP_ALIAS(PMPI_Query_thread, MPI_Query_thread)

WRAP_EXPORT int PMPI_Is_thread_main(int *flag)
{
	int r, lower_flag = 0;
	wrap_door_t d = wrap_door_enter(WRAP_DOOR_LOCAL, 0);
	WRAP_DOWN(r, MPI_Is_thread_main, &lower_flag);
	wrap_door_leave(d);
	if (r == MPI_SUCCESS && flag)
		*flag = init_thread_fs != 0 && self_fs() == init_thread_fs;
	return r;
}
WRAP_ALIAS(PMPI_Is_thread_main, MPI_Is_thread_main)

/* MPICH's MPI_Pcontrol ignores everything after `level`; so do we. */
WRAP_EXPORT int PMPI_Pcontrol(const int level, ...)
{
	int r;
	wrap_door_t d = wrap_door_enter(WRAP_DOOR_LOCAL, 0);
	WRAP_DOWN(r, MPI_Pcontrol, level);
	wrap_door_leave(d);
	return r;
}
WRAP_ALIAS(PMPI_Pcontrol, MPI_Pcontrol)
