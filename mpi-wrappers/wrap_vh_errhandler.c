/*
 * wrap_vh_errhandler.c - user error handlers as virtual handles, and which error handler each
 * communicator, window and file has (the hooks after MPI_*_set_errhandler).
 *
 * Description of an error handler: the trampoline slot of wrap_errhandler.c (the application's
 * function and object kind) and the function that created it (aux: slot + 1, index << 16). A
 * rebuild creates the lower error handler again with the same trampoline.
 *
 * Objects: a communicator's, window's or file's error handler is asked from MPI when the
 * object is described (inherited from its parent) and kept up to date by the set hooks; it is
 * held as a description reference (MPI keeps an error handler that is in use alive after
 * MPI_Errhandler_free the same way). Predefined communicators (MPI_COMM_WORLD, MPI_COMM_SELF)
 * keep theirs in a pseudo entry. After a rebuild, each object gets its error handler again.
 */
#include "wrap.h"
#include "wrap_hooks.h"

void wrap_vh_errhandler_created(int eh, int slot, unsigned create_idx)
{
	wrap_vh_lock();
	struct wrap_vh_obj *e = wrap_vh_obj_of(WRAP_VH_ERRHANDLER, eh);
	if (e)
		e->aux = (uint64_t)(slot + 1) | ((uint64_t)create_idx << 16);
	wrap_vh_unlock();
}

static int eh_rebuild(struct wrap_vh_obj *e, int64_t *real)
{
	int slot = (int)(e->aux & 0xffff) - 1, r;
	unsigned idx = (unsigned)(e->aux >> 16);
	void *t = wrap_errhandler_tramp(slot);
	MPI_Errhandler eh = MPI_ERRHANDLER_NULL;
	if (!e->aux)
		return MPI_ERR_OTHER;
	switch (idx) {
	case WRAP_IDX_MPI_Win_create_errhandler:
		WRAP_DOWN(r, MPI_Win_create_errhandler, (MPI_Win_errhandler_function *)t, &eh);
		break;
	case WRAP_IDX_MPI_File_create_errhandler:
		WRAP_DOWN(r, MPI_File_create_errhandler, (MPI_File_errhandler_function *)t, &eh);
		break;
	case WRAP_IDX_MPI_Session_create_errhandler:
		WRAP_DOWN(r, MPI_Session_create_errhandler, (MPI_Session_errhandler_function *)t,
			  &eh);
		break;
	default:
		WRAP_DOWN(r, MPI_Comm_create_errhandler, (MPI_Comm_errhandler_function *)t, &eh);
		break;
	}
	*real = eh;
	return r;
}

static void eh_free_lower(struct wrap_vh_obj *e)
{
	MPI_Errhandler eh = (MPI_Errhandler)e->real;
	int r;
	WRAP_DOWN(r, MPI_Errhandler_free, &eh);
	(void)r;
}

const struct wrap_vh_ops wrap_vh_errhandler_ops = {
    .name = "error handler",
    .kind = WRAP_VH_ERRHANDLER,
    .null_handle = MPI_ERRHANDLER_NULL,
    .rebuild = eh_rebuild,
    .rebuild_unheld = 1,
    .free_lower = eh_free_lower,
};

/* ---- which error handler an object has ----------------------------------------------------- */

int64_t wrap_vh_errhandler_of(int kind, int64_t real)
{
	MPI_Errhandler eh = MPI_ERRHANDLER_NULL;
	int r;
	if (kind == WRAP_VH_COMM)
		WRAP_DOWN(r, MPI_Comm_get_errhandler, (MPI_Comm)real, &eh);
	else if (kind == WRAP_VH_WIN)
		WRAP_DOWN(r, MPI_Win_get_errhandler, (MPI_Win)real, &eh);
	else
		WRAP_DOWN(r, MPI_File_get_errhandler, (MPI_File)(uintptr_t)real, &eh);
	if (r != MPI_SUCCESS || wrap_vh_is_predefined(WRAP_VH_ERRHANDLER, eh))
		return r == MPI_SUCCESS ? eh : MPI_ERRHANDLER_NULL;
	int64_t v = wrap_vh_intern(WRAP_VH_ERRHANDLER, eh);
	WRAP_DOWN(r, MPI_Errhandler_free, &eh); /* the reference MPI_x_get_errhandler gave */
	return v;
}

int wrap_vh_errhandler_apply(int kind, int64_t real, int64_t eh)
{
	MPI_Errhandler l = wrap_errhandler_to_lower((MPI_Errhandler)eh);
	int r = MPI_SUCCESS;
	if (eh == MPI_ERRHANDLER_NULL || eh == 0)
		return MPI_SUCCESS;
	if (kind == WRAP_VH_COMM)
		WRAP_DOWN(r, MPI_Comm_set_errhandler, (MPI_Comm)real, l);
	else if (kind == WRAP_VH_WIN)
		WRAP_DOWN(r, MPI_Win_set_errhandler, (MPI_Win)real, l);
	else if (kind == WRAP_VH_FILE)
		WRAP_DOWN(r, MPI_File_set_errhandler, (MPI_File)(uintptr_t)real, l);
	return r;
}

/* The object's entry (or pseudo entry for a predefined communicator) now has error handler eh. */
static void set_eh(int kind, int64_t h, int64_t eh)
{
	wrap_vh_lock();
	struct wrap_vh_obj *e = wrap_vh_obj_of(kind, h);
	if (!e && kind == WRAP_VH_COMM && wrap_vh_is_predefined(kind, h))
		e = wrap_vh_predef(kind, h, 1);
	if (e) {
		int64_t old = (int64_t)e->aux;
		wrap_vh_ref(WRAP_VH_ERRHANDLER, eh);
		e->aux = (uint64_t)eh;
		wrap_vh_unref(WRAP_VH_ERRHANDLER, old);
	}
	wrap_vh_unlock();
}

void wrap_hook_MPI_Comm_set_errhandler(int r_, MPI_Comm comm, MPI_Errhandler errhandler)
{
	if (r_ == MPI_SUCCESS)
		set_eh(WRAP_VH_COMM, comm, errhandler);
}

void wrap_hook_MPI_Errhandler_set(int r_, MPI_Comm comm, MPI_Errhandler errhandler)
{
	if (r_ == MPI_SUCCESS)
		set_eh(WRAP_VH_COMM, comm, errhandler);
}

void wrap_hook_MPI_Win_set_errhandler(int r_, MPI_Win win, MPI_Errhandler errhandler)
{
	if (r_ == MPI_SUCCESS)
		set_eh(WRAP_VH_WIN, win, errhandler);
}

void wrap_hook_MPI_File_set_errhandler(int r_, MPI_File file, MPI_Errhandler errhandler)
{
	if (r_ == MPI_SUCCESS)
		set_eh(WRAP_VH_FILE, (int64_t)(uint32_t)(uintptr_t)file, errhandler);
}
