/*
 * wrap_errhandler.c - user error handlers (MPI_{Comm,Win,File,Session}_create_errhandler,
 * MPI_Errhandler_create, MPII_Errhandler_set_cxx).
 *
 * The lower MPICH calls an error handler as fn(&handle, &errcode) on its own TLS with no
 * context, so, as for ops (wrap_op.c), each distinct (function, object kind) gets a trampoline
 * of a static pool. The trampoline switches to the upper thread's TLS, gives the application
 * its own view of the handle (wrap_K_from_lower) and the error code, and hands back the error
 * code the handler may have changed (MPICH returns it).
 *
 * C++ (libmpichcxx): MPI::Comm::Create_errhandler & co. register the C++ function and then
 * call MPII_Errhandler_set_cxx(errhandler, MPIR_Call_errhandler_function). We do not pass that
 * down (MPICH would then replace the error code by MPI_SUCCESS for *our* C trampoline); the
 * slot is marked C++ and its trampoline calls the application's MPIR_Call_errhandler_function
 * with MPICH's kind numbers (0 comm, 1 file, 2 win). The lower errhandler stays a C one, so a
 * C++ handler's error code is returned like a C handler's (MPICH's C++ glue throws anyway).
 *
 * The slot and the creating function are what a rebuild after a restart gives the fresh MPICH
 * again (wrap_vh_errhandler.c). Slots are taken under the virtual-handle lock.
 */
#include "wrap.h"
#include "wrap_door.h"
#include "wrap_pool.h"

enum eh_kind { EH_NONE, EH_COMM, EH_FILE, EH_WIN, EH_SESSION };

struct eh_slot {
	void (*fn)(void);
	enum eh_kind kind;
	int cxx;
	MPI_Errhandler last_eh;
};

static struct eh_slot slots[WRAP_POOL_SIZE];
static int nslots;
static wrap_cxx_call_errfn *cxx_call_errfn;

typedef void eh_fn(void *handle, int *errcode, ...);

static void eh_call(int i, void *handle, int *errcode)
{
	uint64_t low = wrap_cb_enter();
	struct eh_slot *s = &slots[i];
	int e = *errcode;
	union {
		MPI_Comm comm;
		MPI_File file;
		MPI_Win win;
		MPI_Session session;
	} h;
	int cxx_kind = 0;

	switch (s->kind) {
	case EH_COMM:
		h.comm = wrap_comm_lookup_lower(*(MPI_Comm *)handle);
		cxx_kind = 0;
		break;
	case EH_FILE:
		h.file = wrap_file_lookup_lower(*(MPI_File *)handle);
		cxx_kind = 1;
		break;
	case EH_WIN:
		h.win = wrap_win_lookup_lower(*(MPI_Win *)handle);
		cxx_kind = 2;
		break;
	case EH_SESSION:
	case EH_NONE:
		h.session = wrap_session_lookup_lower(*(MPI_Session *)handle);
		cxx_kind = 3;
		break;
	}
	if (s->cxx && cxx_call_errfn)
		cxx_call_errfn(cxx_kind, (int *)&h, &e, s->fn);
	else
		((eh_fn *)(void *)s->fn)(&h, &e);
	*errcode = e;
	wrap_cb_leave(low);
}

#define EH_TRAMP(i)                                                                                \
	static void eh_tramp_##i(void *handle, int *errcode, ...) { eh_call(i, handle, errcode); }
WRAP_POOL(EH_TRAMP)
#define EH_TABLE(i) eh_tramp_##i,
static eh_fn *const tramps[WRAP_POOL_SIZE] = {WRAP_POOL(EH_TABLE)};

static int slot_for(void (*fn)(void), enum eh_kind kind)
{
	for (int i = 0; i < nslots; i++)
		if (slots[i].fn == fn && slots[i].kind == kind)
			return i;
	if (nslots == WRAP_POOL_SIZE)
		return -1;
	slots[nslots].fn = fn;
	slots[nslots].kind = kind;
	return nslots++;
}

/* Register a trampoline for fn; *t is what to give the lower MPICH. */
static int tramp_for(unsigned idx, void (*fn)(void), enum eh_kind kind, eh_fn **t, int *slot)
{
	*slot = -1;
	*t = NULL;
	if (!fn)
		return MPI_SUCCESS;
	wrap_vh_lock();
	*slot = slot_for(fn, kind);
	wrap_vh_unlock();
	if (*slot < 0)
		return wrap_fail(idx, MPI_ERR_OTHER,
				 "more than 100 distinct error handler functions");
	*t = tramps[*slot];
	return MPI_SUCCESS;
}

static void created(int r, int slot, unsigned idx, MPI_Errhandler *errhandler)
{
	if (r != MPI_SUCCESS || !errhandler)
		return;
	*errhandler = wrap_errhandler_from_lower(*errhandler);
	wrap_vh_errhandler_created(*errhandler, slot, idx);
	if (slot >= 0)
		slots[slot].last_eh = *errhandler;
}

void *wrap_errhandler_tramp(int slot)
{
	return slot >= 0 && slot < WRAP_POOL_SIZE ? (void *)tramps[slot] : NULL;
}

#define CREATE_ERRHANDLER(NAME, FNTYPE, KIND)                                                      \
	WRAP_EXPORT int P##NAME(FNTYPE *fn, MPI_Errhandler *errhandler)                            \
	{                                                                                          \
		eh_fn *t;                                                                          \
		wrap_door_t d_ = wrap_door_enter(WRAP_DOOR_LOCAL, 0);                              \
		int s, r = tramp_for(WRAP_IDX_##NAME, (void (*)(void))fn, KIND, &t, &s);           \
		if (r == MPI_SUCCESS) {                                                            \
			WRAP_DOWN(r, NAME, (FNTYPE *)t, errhandler);                               \
			created(r, s, WRAP_IDX_##NAME, errhandler);                                \
		}                                                                                  \
		wrap_door_leave(d_);                                                               \
		return r;                                                                          \
	}                                                                                          \
	WRAP_ALIAS(P##NAME, NAME)

CREATE_ERRHANDLER(MPI_Comm_create_errhandler, MPI_Comm_errhandler_function, EH_COMM)
CREATE_ERRHANDLER(MPI_Errhandler_create, MPI_Comm_errhandler_function, EH_COMM)
CREATE_ERRHANDLER(MPI_Win_create_errhandler, MPI_Win_errhandler_function, EH_WIN)
CREATE_ERRHANDLER(MPI_File_create_errhandler, MPI_File_errhandler_function, EH_FILE)
CREATE_ERRHANDLER(MPI_Session_create_errhandler, MPI_Session_errhandler_function, EH_SESSION)

WRAP_EXPORT void MPII_Errhandler_set_cxx(MPI_Errhandler errhand, void (*errcall)(void))
{
	cxx_call_errfn = (wrap_cxx_call_errfn *)(void *)errcall;
	for (int i = 0; i < nslots; i++) {
		if (slots[i].last_eh == errhand) {
			slots[i].cxx = 1;
			return;
		}
	}
	wrap_fail(WRAP_IDX_MPII_Errhandler_set_cxx, 0,
		  "the error handler was not created by MPI_*_create_errhandler");
}
