/*
 * wrap_keyval.c - attribute keyvals and their copy/delete callbacks
 * (MPI_{Comm,Type,Win}_create_keyval, MPI_Keyval_create, MPII_Keyval_set_proxy).
 *
 * MPICH never calls an attribute copy/delete function directly: it calls the keyval's "proxy"
 * (the language glue: C by default, Fortran and C++ set their own with MPII_Keyval_set_proxy)
 * with the user function, the object handle, the keyval, the extra state and the attribute.
 * So each keyval we create gets our proxy trampolines in the lower MPICH and, as extra state,
 * a context of ours holding the application's extra state and the upper-half proxies (C by
 * default, replaced when libmpichfort/libmpichcxx call MPII_Keyval_set_proxy). The trampoline
 * switches to the upper thread's TLS, translates the object handle, and calls the upper proxy,
 * which calls the application's function. The user functions themselves are passed down
 * unchanged, so MPICH's "no copy/delete function" checks (NULL) behave as natively.
 *
 * Contexts are kept for the life of the process (MPICH may call the delete callback after the
 * keyval is freed, when the last attribute goes); a context also says how to make its lower
 * keyval again after a restart (wrap_keyval_recreate, for wrap_vh_keyval.c). The application
 * sees virtual keyvals (ctx->keyval; the trampolines translate the lower one). A copy made
 * by a copy callback is reported to wrap_vh_keyval.c, which gives it to the new object.
 * The list of contexts is only read by MPII_Keyval_set_proxy, right after the keyval's
 * creation on the same thread; creation takes the virtual-handle lock.
 */
#include <stdlib.h>

#include "wrap.h"
#include "wrap_door.h"

enum kv_kind { KV_NONE, KV_COMM, KV_TYPE, KV_WIN };

struct kv_ctx {
	int keyval; /* virtual */
	enum kv_kind kind;
	unsigned create_idx;	  /* the MPI_x_create_keyval that made it */
	void (*copy)(void);	  /* the application's copy and delete functions */
	void (*del)(void);
	void *extra; /* the application's extra_state */
	wrap_attr_copy_proxy *copy_proxy;
	wrap_attr_delete_proxy *delete_proxy;
	struct kv_ctx *next;
};

static struct kv_ctx *ctxs; /* newest first */

/* Tests only (SPLITCKPT_test_rebuild_handles): while set, the trampolines do not call the
 * application (removing attributes of the pre-rebuild lower objects). */
int wrap_keyval_mute;

/* MPICH's C proxies (MPII_Attr_copy_c_proxy / MPII_Attr_delete_c_proxy): an integer-kind
 * attribute (set from Fortran) is delivered by address. */
static int c_copy_proxy(MPI_Comm_copy_attr_function *user_function, int handle, int keyval,
			void *extra_state, int attrib_type, void *attrib, void **attrib_copy,
			int *flag)
{
	void *val = (attrib_type & WRAP_ATTR_KIND_INT) ? (void *)&attrib : attrib;
	return user_function(handle, keyval, extra_state, val, attrib_copy, flag);
}

static int c_delete_proxy(MPI_Comm_delete_attr_function *user_function, int handle, int keyval,
			  int attrib_type, void *attrib, void *extra_state)
{
	void *val = (attrib_type & WRAP_ATTR_KIND_INT) ? (void *)&attrib : attrib;
	return user_function(handle, keyval, val, extra_state);
}

static int handle_from_lower(enum kv_kind kind, int h)
{
	switch (kind) {
	case KV_COMM:
		return (int)wrap_comm_lookup_lower((MPI_Comm)h);
	case KV_TYPE:
		return (int)wrap_datatype_lookup_lower((MPI_Datatype)h);
	case KV_WIN:
		return (int)wrap_win_lookup_lower((MPI_Win)h);
	case KV_NONE:
		break;
	}
	return h;
}

static int copy_tramp(MPI_Comm_copy_attr_function *user_function, int handle, int keyval,
		      void *extra_state, int attrib_type, void *attrib, void **attrib_copy,
		      int *flag)
{
	uint64_t low = wrap_cb_enter();
	struct kv_ctx *c = extra_state;
	if (wrap_keyval_mute) {
		*flag = 0;
		wrap_cb_leave(low);
		return MPI_SUCCESS;
	}
	int r = c->copy_proxy(user_function, handle_from_lower(c->kind, handle), c->keyval,
			      c->extra, attrib_type, attrib, attrib_copy, flag);
	if (r == MPI_SUCCESS && flag && *flag && attrib_copy)
		wrap_vh_attr_copied(c->kind == KV_TYPE ? WRAP_VH_DATATYPE : WRAP_VH_COMM,
				    c->keyval, attrib_type, *attrib_copy);
	wrap_cb_leave(low);
	(void)keyval;
	return r;
}

static int delete_tramp(MPI_Comm_delete_attr_function *user_function, int handle, int keyval,
			int attrib_type, void *attrib, void *extra_state)
{
	uint64_t low = wrap_cb_enter();
	struct kv_ctx *c = extra_state;
	if (wrap_keyval_mute) {
		wrap_cb_leave(low);
		return MPI_SUCCESS;
	}
	int r = c->delete_proxy(user_function, handle_from_lower(c->kind, handle), c->keyval,
				attrib_type, attrib, c->extra);
	wrap_cb_leave(low);
	(void)keyval;
	return r;
}

/* After the lower keyval exists: install our proxies in it. On failure the keyval is freed. */
static int set_lower_proxies(unsigned idx, enum kv_kind kind, int *keyval)
{
	void *f = wrap_lower_fn(WRAP_IDX_MPII_Keyval_set_proxy);
	if (f) {
		uint64_t g = wrap_gate_enter();
		((__typeof__(&MPII_Keyval_set_proxy))f)(*keyval, copy_tramp, delete_tramp);
		wrap_gate_leave(g);
		return MPI_SUCCESS;
	}
	int r;
	switch (kind) {
	case KV_TYPE:
		WRAP_DOWN(r, MPI_Type_free_keyval, keyval);
		break;
	case KV_WIN:
		WRAP_DOWN(r, MPI_Win_free_keyval, keyval);
		break;
	default:
		WRAP_DOWN(r, MPI_Comm_free_keyval, keyval);
		break;
	}
	(void)r;
	return wrap_fail(idx, MPI_ERR_UNSUPPORTED_OPERATION,
			 "the lower half has no MPII_Keyval_set_proxy, so attribute callbacks "
			 "cannot reach the application");
}

/* The lower keyval of context c (new, or again after a restart), with our proxies. */
static int lower_create(struct kv_ctx *c, int *keyval)
{
	int r;
	void (*copy)(void) = c->copy, (*del)(void) = c->del;
	switch (c->create_idx) {
	case WRAP_IDX_MPI_Comm_create_keyval:
		WRAP_DOWN(r, MPI_Comm_create_keyval, (MPI_Comm_copy_attr_function *)copy,
			  (MPI_Comm_delete_attr_function *)del, keyval, c);
		break;
	case WRAP_IDX_MPI_Keyval_create:
		WRAP_DOWN(r, MPI_Keyval_create, (MPI_Copy_function *)copy,
			  (MPI_Delete_function *)del, keyval, c);
		break;
	case WRAP_IDX_MPI_Type_create_keyval:
		WRAP_DOWN(r, MPI_Type_create_keyval, (MPI_Type_copy_attr_function *)copy,
			  (MPI_Type_delete_attr_function *)del, keyval, c);
		break;
	default:
		WRAP_DOWN(r, MPI_Win_create_keyval, (MPI_Win_copy_attr_function *)copy,
			  (MPI_Win_delete_attr_function *)del, keyval, c);
		break;
	}
	if (r == MPI_SUCCESS && (copy || del))
		r = set_lower_proxies(c->create_idx, c->kind, keyval);
	return r;
}

int wrap_keyval_recreate(void *ctx, int *keyval) { return lower_create(ctx, keyval); }

void wrap_keyval_free_lower(void *ctx, int keyval)
{
	struct kv_ctx *c = ctx;
	int r;
	switch (c->kind) {
	case KV_TYPE:
		WRAP_DOWN(r, MPI_Type_free_keyval, &keyval);
		break;
	case KV_WIN:
		WRAP_DOWN(r, MPI_Win_free_keyval, &keyval);
		break;
	default:
		WRAP_DOWN(r, MPI_Comm_free_keyval, &keyval);
		break;
	}
	(void)r;
}

static int create(unsigned idx, enum kv_kind kind, void (*copy)(void), void (*del)(void),
		  int *keyval, void *extra_state)
{
	struct kv_ctx *c = calloc(1, sizeof(*c));
	int r;
	if (!c)
		return wrap_fail(idx, MPI_ERR_NO_MEM, "out of memory");
	c->kind = kind;
	c->create_idx = idx;
	c->copy = copy;
	c->del = del;
	c->extra = extra_state;
	c->copy_proxy = c_copy_proxy;
	c->delete_proxy = c_delete_proxy;
	r = lower_create(c, keyval);
	if (r != MPI_SUCCESS) {
		free(c);
		return r;
	}
	*keyval = wrap_keyval_from_lower(*keyval);
	wrap_vh_keyval_created(*keyval, c);
	c->keyval = *keyval;
	wrap_vh_lock();
	c->next = ctxs;
	ctxs = c;
	wrap_vh_unlock();
	return MPI_SUCCESS;
}

#define CREATE_KEYVAL(NAME, COPYT, DELT, KIND)                                                     \
	WRAP_EXPORT int P##NAME(COPYT *copy_fn, DELT *delete_fn, int *keyval, void *extra_state)   \
	{                                                                                          \
		wrap_door_t d_ = wrap_door_enter(WRAP_DOOR_LOCAL, 0);                              \
		int r_ = create(WRAP_IDX_##NAME, KIND, (void (*)(void))copy_fn,                    \
				(void (*)(void))delete_fn, keyval, extra_state);                   \
		wrap_door_leave(d_);                                                               \
		return r_;                                                                         \
	}                                                                                          \
	WRAP_ALIAS(P##NAME, NAME)

CREATE_KEYVAL(MPI_Comm_create_keyval, MPI_Comm_copy_attr_function, MPI_Comm_delete_attr_function,
	      KV_COMM)
CREATE_KEYVAL(MPI_Keyval_create, MPI_Copy_function, MPI_Delete_function, KV_COMM)
CREATE_KEYVAL(MPI_Type_create_keyval, MPI_Type_copy_attr_function, MPI_Type_delete_attr_function,
	      KV_TYPE)
CREATE_KEYVAL(MPI_Win_create_keyval, MPI_Win_copy_attr_function, MPI_Win_delete_attr_function,
	      KV_WIN)

/* libmpichfort / libmpichcxx: use their glue for this keyval's callbacks. */
WRAP_EXPORT void MPII_Keyval_set_proxy(int keyval, wrap_attr_copy_proxy *copy_proxy,
				       wrap_attr_delete_proxy *delete_proxy)
{
	for (struct kv_ctx *c = ctxs; c; c = c->next) {
		if (c->keyval == keyval) {
			c->copy_proxy = copy_proxy ? copy_proxy : c_copy_proxy;
			c->delete_proxy = delete_proxy ? delete_proxy : c_delete_proxy;
			return;
		}
	}
	wrap_fail(WRAP_IDX_MPII_Keyval_set_proxy, 0, "unknown keyval");
}
