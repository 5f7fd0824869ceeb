/*
 * wrap_vh_op.c - user-defined reduction operations as virtual handles.
 *
 * Description: the trampoline slot of wrap_op.c that the op was created with (which stands
 * for the application's function, C or C++), the kind of function (MPI_User_function or the
 * large-count MPI_User_function_c) and the commute flag, kept in the entry (aux: slot + 1,
 * flags). A rebuild creates the lower op again with the same trampoline; the trampolines are
 * in this library, i.e. in the upper half, so they are valid after a restart.
 */
#include "wrap.h"

#define OP_LARGE 0x100
#define OP_COMMUTE 0x200

void wrap_vh_op_created(int op, int slot, int large, int commute)
{
	wrap_vh_lock();
	struct wrap_vh_obj *e = wrap_vh_obj_of(WRAP_VH_OP, op);
	if (e)
		e->aux = (uint64_t)(slot + 1) | (large ? OP_LARGE : 0) | (commute ? OP_COMMUTE : 0);
	wrap_vh_unlock();
}

static int op_rebuild(struct wrap_vh_obj *e, int64_t *real)
{
	int slot = (int)(e->aux & 0xff) - 1, commute = (e->aux & OP_COMMUTE) != 0, r;
	MPI_Op op = MPI_OP_NULL;
	if (!e->aux)
		return MPI_ERR_OP; /* not made by MPI_Op_create: unknown function */
	if (e->aux & OP_LARGE)
		WRAP_DOWN(r, MPI_Op_create_c, (MPI_User_function_c *)wrap_op_tramp(slot, 1),
			  commute, &op);
	else
		WRAP_DOWN(r, MPI_Op_create, (MPI_User_function *)wrap_op_tramp(slot, 0), commute,
			  &op);
	*real = op;
	return r;
}

static void op_free_lower(struct wrap_vh_obj *e)
{
	MPI_Op op = (MPI_Op)e->real;
	int r;
	WRAP_DOWN(r, MPI_Op_free, &op);
	(void)r;
}

const struct wrap_vh_ops wrap_vh_op_ops = {
    .name = "op",
    .kind = WRAP_VH_OP,
    .null_handle = MPI_OP_NULL,
    .rebuild = op_rebuild,
    .rebuild_unheld = 1,
    .free_lower = op_free_lower,
};
