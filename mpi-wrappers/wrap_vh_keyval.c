/*
 * wrap_vh_keyval.c - attribute keyvals as virtual handles, and the attributes set on
 * communicators, datatypes and windows (what a rebuild sets again).
 *
 * A keyval is made by wrap_keyval.c (our proxies in the lower keyval, our context as its extra
 * state); the context stays for the life of the process, so a rebuild makes the lower keyval
 * again from it (wrap_keyval_recreate) and binds it to the same virtual keyval.
 *
 * Attributes: the hooks after MPI_{Comm,Type,Win}_set_attr, MPI_Attr_put and MPII_*_set_attr
 * (Fortran, C++) record (keyval, value, type) on the object's entry; the *_delete_attr hooks
 * remove it; MPI's copy callbacks during MPI_Comm_dup/idup and MPI_Type_dup report the copies
 * they make (wrap_vh_attr_copied, on the calling thread), which the new object's description
 * takes over. Predefined objects (MPI_COMM_WORLD, ...) keep theirs in a pseudo entry. Each
 * attribute holds a reference on its keyval (MPI keeps a freed keyval alive the same way).
 * A rebuild sets every attribute again on the new lower object with MPII_*_set_attr, which
 * calls no callback (the new object has none yet), with the type it was set with.
 */
#include <stdlib.h>

#include "wrap.h"
#include "wrap_hooks.h"

#define ATTR_PTR 0 /* MPIR_ATTR_PTR: set from C */

static struct wrap_vh_obj *attr_obj(int kind, int64_t h)
{
	struct wrap_vh_obj *e = wrap_vh_obj_of(kind, h);
	if (!e && wrap_vh_is_predefined(kind, h))
		e = wrap_vh_predef(kind, h, 1);
	return e;
}

static void attr_set(int kind, int64_t h, int keyval, void *val, int type)
{
	wrap_vh_lock();
	struct wrap_vh_obj *e = attr_obj(kind, h);
	if (e) {
		struct wrap_vh_attr *a;
		for (a = e->attrs; a && a->keyval != keyval; a = a->next)
			;
		if (!a && (a = calloc(1, sizeof(*a))) != NULL) {
			a->keyval = keyval;
			wrap_vh_ref(WRAP_VH_KEYVAL, keyval);
			a->next = e->attrs;
			e->attrs = a;
		}
		if (a) {
			a->val = val;
			a->type = type;
		} else {
			wrap_vh_warn("out of memory: an attribute will not survive a restart");
		}
	}
	wrap_vh_unlock();
}

static void attr_delete(int kind, int64_t h, int keyval)
{
	wrap_vh_lock();
	struct wrap_vh_obj *e = attr_obj(kind, h);
	for (struct wrap_vh_attr **p = e ? &e->attrs : NULL; p && *p; p = &(*p)->next) {
		if ((*p)->keyval == keyval) {
			struct wrap_vh_attr *a = *p;
			*p = a->next;
			wrap_vh_unref(WRAP_VH_KEYVAL, a->keyval);
			free(a);
			break;
		}
	}
	wrap_vh_unlock();
}

void wrap_vh_attrs_clear(struct wrap_vh_obj *e)
{
	while (e->attrs) {
		struct wrap_vh_attr *a = e->attrs;
		e->attrs = a->next;
		wrap_vh_unref(WRAP_VH_KEYVAL, a->keyval);
		free(a);
	}
}

/* MPII_{Comm,Type,Win}_set_attr of the lower MPICH: set with an explicit attribute type */
static int lower_set_attr(unsigned idx, int h, int kv, void *val, int type)
{
	void *f = wrap_lower_fn(idx);
	if (!f)
		return wrap_unavailable(idx);
	uint64_t g = wrap_gate_enter();
	int r = ((int (*)(int, int, void *, int))f)(h, kv, val, type);
	wrap_gate_leave(g);
	return r;
}

int wrap_vh_attrs_apply(struct wrap_vh_obj *e)
{
	int fails = 0;
	for (struct wrap_vh_attr *a = e->attrs; a; a = a->next) {
		int r, kv = wrap_keyval_to_lower(a->keyval);
		unsigned idx = e->kind == WRAP_VH_COMM	     ? WRAP_IDX_MPII_Comm_set_attr
			       : e->kind == WRAP_VH_DATATYPE ? WRAP_IDX_MPII_Type_set_attr
							     : WRAP_IDX_MPII_Win_set_attr;
		r = lower_set_attr(idx, (int)e->real, kv, a->val, a->type);
		if (r != MPI_SUCCESS) {
			wrap_vh_warn("cannot set attribute of keyval %#x again (MPI error %d)",
				     (unsigned)a->keyval, r);
			fails++;
		}
	}
	return fails;
}

/* Copies made by copy callbacks on this thread, not yet claimed by the new object. */
static __thread struct wrap_vh_attr *pending[2] __attribute__((tls_model("initial-exec")));

void wrap_vh_attr_copied(int kind, int keyval, int type, void *val)
{
	struct wrap_vh_attr *a = calloc(1, sizeof(*a));
	if (!a)
		return;
	a->keyval = keyval;
	a->type = type;
	a->val = val;
	a->next = pending[kind == WRAP_VH_DATATYPE];
	pending[kind == WRAP_VH_DATATYPE] = a;
}

void wrap_vh_attrs_take_pending(struct wrap_vh_obj *e)
{
	int i = e->kind == WRAP_VH_DATATYPE;
	while (pending[i]) {
		struct wrap_vh_attr *a = pending[i];
		pending[i] = a->next;
		wrap_vh_ref(WRAP_VH_KEYVAL, a->keyval);
		a->next = e->attrs;
		e->attrs = a;
	}
}

/* ---- hooks ------------------------------------------------------------------------------- */

void wrap_hook_MPI_Comm_set_attr(int r_, MPI_Comm comm, int comm_keyval, void *attribute_val)
{
	if (r_ == MPI_SUCCESS)
		attr_set(WRAP_VH_COMM, comm, comm_keyval, attribute_val, ATTR_PTR);
}

void wrap_hook_MPI_Attr_put(int r_, MPI_Comm comm, int keyval, void *attribute_val)
{
	if (r_ == MPI_SUCCESS)
		attr_set(WRAP_VH_COMM, comm, keyval, attribute_val, ATTR_PTR);
}

void wrap_hook_MPII_Comm_set_attr(int r_, MPI_Comm comm, int keyval, void *attribute_val,
				  int attrib_type)
{
	if (r_ == MPI_SUCCESS)
		attr_set(WRAP_VH_COMM, comm, keyval, attribute_val, attrib_type);
}

void wrap_hook_MPI_Type_set_attr(int r_, MPI_Datatype datatype, int type_keyval,
				 void *attribute_val)
{
	if (r_ == MPI_SUCCESS)
		attr_set(WRAP_VH_DATATYPE, datatype, type_keyval, attribute_val, ATTR_PTR);
}

void wrap_hook_MPII_Type_set_attr(int r_, MPI_Datatype datatype, int keyval, void *attribute_val,
				  int attrib_type)
{
	if (r_ == MPI_SUCCESS)
		attr_set(WRAP_VH_DATATYPE, datatype, keyval, attribute_val, attrib_type);
}

void wrap_hook_MPI_Win_set_attr(int r_, MPI_Win win, int win_keyval, void *attribute_val)
{
	if (r_ == MPI_SUCCESS)
		attr_set(WRAP_VH_WIN, win, win_keyval, attribute_val, ATTR_PTR);
}

void wrap_hook_MPII_Win_set_attr(int r_, MPI_Win win, int keyval, void *attribute_val,
				 int attrib_type)
{
	if (r_ == MPI_SUCCESS)
		attr_set(WRAP_VH_WIN, win, keyval, attribute_val, attrib_type);
}

void wrap_hook_MPI_Comm_delete_attr(int r_, MPI_Comm comm, int comm_keyval)
{
	if (r_ == MPI_SUCCESS)
		attr_delete(WRAP_VH_COMM, comm, comm_keyval);
}

void wrap_hook_MPI_Attr_delete(int r_, MPI_Comm comm, int keyval)
{
	if (r_ == MPI_SUCCESS)
		attr_delete(WRAP_VH_COMM, comm, keyval);
}

void wrap_hook_MPI_Type_delete_attr(int r_, MPI_Datatype datatype, int type_keyval)
{
	if (r_ == MPI_SUCCESS)
		attr_delete(WRAP_VH_DATATYPE, datatype, type_keyval);
}

void wrap_hook_MPI_Win_delete_attr(int r_, MPI_Win win, int win_keyval)
{
	if (r_ == MPI_SUCCESS)
		attr_delete(WRAP_VH_WIN, win, win_keyval);
}

/* ---- keyvals ------------------------------------------------------------------------------ */

void wrap_vh_keyval_created(int keyval, void *ctx)
{
	wrap_vh_lock();
	struct wrap_vh_obj *e = wrap_vh_obj_of(WRAP_VH_KEYVAL, keyval);
	if (e)
		e->aux = (uint64_t)(uintptr_t)ctx;
	wrap_vh_unlock();
}

static int keyval_rebuild(struct wrap_vh_obj *e, int64_t *real)
{
	int kv = 0, r;
	if (!e->aux)
		return MPI_ERR_KEYVAL;
	r = wrap_keyval_recreate((void *)(uintptr_t)e->aux, &kv);
	*real = kv;
	return r;
}

static void keyval_free_lower(struct wrap_vh_obj *e)
{
	if (e->aux)
		wrap_keyval_free_lower((void *)(uintptr_t)e->aux, (int)e->real);
}

const struct wrap_vh_ops wrap_vh_keyval_ops = {
    .name = "keyval",
    .kind = WRAP_VH_KEYVAL,
    .null_handle = MPI_KEYVAL_INVALID,
    .rebuild = keyval_rebuild,
    .rebuild_unheld = 1,
    .free_lower = keyval_free_lower,
};
