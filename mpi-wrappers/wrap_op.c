/*
 * wrap_op.c - user-defined reduction operations (MPI_Op_create, MPI_Op_create_c,
 * MPII_Op_set_cxx).
 *
 * The lower MPICH calls a user op as fn(in, inout, &len, &datatype) on its own TLS, with no
 * context argument. We register one trampoline of a static pool per distinct user function
 * (same function registered again = same slot); the trampoline switches to the TLS of the
 * upper thread inside MPI (wrap_cb_enter), translates the datatype, calls the application's
 * function, and switches back. Slots are never freed: MPICH may still hold a freed op for a
 * pending non-blocking collective, and 100 distinct reduction functions are plenty.
 *
 * C++ (libmpichcxx): MPI::Op::Init creates the op with the C++ function and then calls
 * MPII_Op_set_cxx(op, MPIR_Call_op_fn) so that MPICH calls MPIR_Call_op_fn(in, inout, len,
 * datatype, user_fn) instead. We keep that in the upper half: the slot is marked C++ and its
 * trampoline calls the application's MPIR_Call_op_fn; the lower op stays a plain C op.
 *
 * The slot of an op is also what a rebuild after a restart gives the fresh MPICH again
 * (wrap_vh_op.c: the op's virtual handle records slot, commute flag and kind of function).
 * Slots are taken under the virtual-handle lock (MPI_THREAD_MULTIPLE).
 */
#include "wrap.h"
#include "wrap_door.h"
#include "wrap_pool.h"

struct op_slot {
	void (*fn)(void); /* the application's function */
	int large;	  /* MPI_User_function_c (MPI_Count length) */
	int cxx;	  /* call through cxx_call_op */
	MPI_Op last_op;	  /* the op most recently created on this slot */
};

static struct op_slot slots[WRAP_POOL_SIZE];
static int nslots;
static wrap_cxx_call_op_fn *cxx_call_op;

static void op_call(int i, void *in, void *inout, void *len, MPI_Datatype *dt)
{
	uint64_t low = wrap_cb_enter();
	struct op_slot *s = &slots[i];
	MPI_Datatype d = wrap_datatype_lookup_lower(*dt);
	if (s->large)
		((MPI_User_function_c *)(void *)s->fn)(in, inout, (MPI_Count *)len, &d);
	else if (s->cxx && cxx_call_op)
		cxx_call_op(in, inout, *(int *)len, d, (MPI_User_function *)(void *)s->fn);
	else
		((MPI_User_function *)(void *)s->fn)(in, inout, (int *)len, &d);
	wrap_cb_leave(low);
}

#define OP_TRAMP(i)                                                                                \
	static void op_tramp_##i(void *in, void *inout, int *len, MPI_Datatype *dt)                \
	{                                                                                          \
		op_call(i, in, inout, len, dt);                                                    \
	}                                                                                          \
	static void op_tramp_c_##i(void *in, void *inout, MPI_Count *len, MPI_Datatype *dt)        \
	{                                                                                          \
		op_call(i, in, inout, len, dt);                                                    \
	}
WRAP_POOL(OP_TRAMP)
#define OP_TABLE(i) op_tramp_##i,
#define OP_TABLE_C(i) op_tramp_c_##i,
static MPI_User_function *const tramps[WRAP_POOL_SIZE] = {WRAP_POOL(OP_TABLE)};
static MPI_User_function_c *const tramps_c[WRAP_POOL_SIZE] = {WRAP_POOL(OP_TABLE_C)};

/* Slot for fn (existing or new), or -1 when the pool is full. */
static int slot_for(void (*fn)(void), int large)
{
	for (int i = 0; i < nslots; i++)
		if (slots[i].fn == fn && slots[i].large == large)
			return i;
	if (nslots == WRAP_POOL_SIZE)
		return -1;
	slots[nslots].fn = fn;
	slots[nslots].large = large;
	return nslots++;
}

static int create(unsigned idx, void (*fn)(void), int large, int commute, MPI_Op *op)
{
	int r, s = -1;
	if (fn) {
		wrap_vh_lock();
		s = slot_for(fn, large);
		wrap_vh_unlock();
		if (s < 0)
			return wrap_fail(idx, MPI_ERR_OTHER,
					 "more than 100 distinct user-defined reduction functions");
	}
	if (large) {
		MPI_User_function_c *t = s < 0 ? NULL : tramps_c[s];
		WRAP_DOWN(r, MPI_Op_create_c, t, commute, op);
	} else {
		MPI_User_function *t = s < 0 ? NULL : tramps[s];
		WRAP_DOWN(r, MPI_Op_create, t, commute, op);
	}
	if (r == MPI_SUCCESS && op) {
		*op = wrap_op_from_lower(*op);
		wrap_vh_op_created(*op, s, large, commute);
		if (s >= 0)
			slots[s].last_op = *op;
	}
	return r;
}

void *wrap_op_tramp(int slot, int large)
{
	if (slot < 0 || slot >= WRAP_POOL_SIZE)
		return NULL;
	return large ? (void *)tramps_c[slot] : (void *)tramps[slot];
}

WRAP_EXPORT int PMPI_Op_create(MPI_User_function *user_fn, int commute, MPI_Op *op)
{
	wrap_door_t d_ = wrap_door_enter(WRAP_DOOR_LOCAL, 0);
	int r = create(WRAP_IDX_MPI_Op_create, (void (*)(void))user_fn, 0, commute, op);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Op_create, MPI_Op_create)

WRAP_EXPORT int PMPI_Op_create_c(MPI_User_function_c *user_fn, int commute, MPI_Op *op)
{
	wrap_door_t d_ = wrap_door_enter(WRAP_DOOR_LOCAL, 0);
	int r = create(WRAP_IDX_MPI_Op_create_c, (void (*)(void))user_fn, 1, commute, op);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Op_create_c, MPI_Op_create_c)

WRAP_EXPORT void MPII_Op_set_cxx(MPI_Op op, void (*opcall)(void))
{
	cxx_call_op = (wrap_cxx_call_op_fn *)(void *)opcall;
	for (int i = 0; i < nslots; i++) {
		if (slots[i].last_op == op && !slots[i].large) {
			slots[i].cxx = 1;
			return;
		}
	}
	wrap_fail(WRAP_IDX_MPII_Op_set_cxx, 0, "the op was not created by MPI_Op_create");
}
