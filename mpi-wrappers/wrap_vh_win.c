/*
 * wrap_vh_win.c - RMA windows as virtual handles, their memory, and their epochs across a
 * checkpoint.
 *
 * Description (asked from MPI when the window comes out of the lower MPI): its flavor, base,
 * size and displacement unit (MPI_WIN_CREATE_FLAVOR, MPI_WIN_BASE, MPI_WIN_SIZE,
 * MPI_WIN_DISP_UNIT), the world ranks of its group, its error handler; the regions attached to
 * a dynamic window (hooks after MPI_Win_attach/detach); attributes; its name (snapshot).
 *
 * Rebuild, in an order all members agree on (membership key, as for communicators):
 * MPI_Win_create over the same memory (it is application memory, in the upper half, saved
 * in the image) on a communicator of the same world ranks, or MPI_Win_create_dynamic and the
 * same attachments.
 *
 * Memory MPI would allocate. MPI_Win_allocate(_c) and MPI_Alloc_mem are written here: the
 * memory is allocated in the upper half (saved in the image, at the same address after a
 * restart, so the base pointer the application holds stays valid) and the window is a lower
 * MPI_Win_create over it; MPI_Free_mem frees it, MPI_Win_free frees the window's. (MPICH's
 * own would be lower-half memory, which a restart replaces.) The lower window's flavor is
 * then MPI_WIN_FLAVOR_CREATE; MPI_Win_get_attr (and MPII_Win_get_attr, Fortran's) answer
 * MPI_WIN_FLAVOR_ALLOCATE for such a window. MPI_Win_allocate_shared needs MPI's shared segment,
 * mapped by the lower MPICH where it chooses: it cannot come back at the same address, so a
 * checkpoint is refused (wrap_vh_win_checkpoint) while such a window exists.
 *
 * Epochs (hooks after MPI_Win_lock/unlock/lock_all/unlock_all/complete/test, MPI_Win_post and
 * MPI_Win_start in wrap_win_pscw.c, and MPI_Win_wait written here as a Win_test loop that steps
 * out at a checkpoint;
 * fence epochs: wrap_seq.c). At a checkpoint (wrap_vh_win_checkpoint, service thread, every
 * rank, after the drain): one MPI_Win_fence on every window with an open fence epoch (all its
 * members have it open: the fences are collective) and MPI_Win_flush_all on every window
 * with an open passive-target epoch, so that no RMA operation is left inside the lower MPI;
 * then a barrier on the private communicator (targets make progress meanwhile). After a
 * restart (wrap_vh_win_relock, from wrap_seq_reopen_fences), the passive-target epochs are
 * opened again (MPI_Win_lock_all / MPI_Win_lock with the same lock type and assert: they were
 * granted before, so nobody holds a conflicting lock), then a barrier on the private
 * communicator, in which every target progresses until every lock is granted. Generalized active
 * target (an exposure epoch from MPI_Win_post not yet ended by Win_wait/Win_test, an access epoch
 * from MPI_Win_start not yet ended by Win_complete) is not made again: the checkpoint is refused,
 * naming the window and the call, and the application goes on.
 */
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wrap.h"
#include "wrap_door.h"
#include "wrap_hooks.h"

struct attach {
	void *base;
	MPI_Aint size;
};

struct lockrec {
	int rank, type, assert;
};

#define WIN_POST WRAP_VH_WIN_POST
#define WIN_START WRAP_VH_WIN_START

struct win_desc {
	int flavor, disp_unit, n, *ranks;
	void *base;
	MPI_Aint size;
	void *owned;		 /* memory we allocated for MPI_Win_allocate (freed with it) */
	int lcomm;		 /* lower communicator the rebuilt window was made on */
	int lock_all, lock_all_assert; /* MPI_Win_lock_all epoch open */
	struct lockrec *locks;	 /* MPI_Win_lock epochs open, one per target rank */
	int nlocks, pscw;	 /* WIN_POST | WIN_START */
	int *key, keylen;
	uint64_t seq;
	uint32_t hash;
	struct attach *att;
	int natt;
	char *name;
};

static int win_attr(MPI_Win w, int kv, void *out)
{
	int r, flag = 0;
	WRAP_DOWN(r, MPI_Win_get_attr, w, kv, out, &flag);
	return r == MPI_SUCCESS && flag ? 0 : -1;
}

static int win_describe(struct wrap_vh_obj *e)
{
	MPI_Win w = (MPI_Win)e->real;
	struct win_desc *d = calloc(1, sizeof(*d));
	int *flavor, *unit, r, g = MPI_GROUP_NULL;
	MPI_Aint *size;
	if (!d)
		return -1;
	d->lcomm = MPI_COMM_NULL;
	e->desc = d;
	e->aux = (uint64_t)wrap_vh_errhandler_of(WRAP_VH_WIN, e->real);
	if (win_attr(w, MPI_WIN_CREATE_FLAVOR, &flavor) || win_attr(w, MPI_WIN_BASE, &d->base) ||
	    win_attr(w, MPI_WIN_SIZE, &size) || win_attr(w, MPI_WIN_DISP_UNIT, &unit))
		return -1;
	d->flavor = *flavor;
	d->size = *size;
	d->disp_unit = *unit;
	WRAP_DOWN(r, MPI_Win_get_group, w, &g);
	if (r != MPI_SUCCESS)
		return -1;
	d->ranks = wrap_vh_world_ranks(g, &d->n);
	WRAP_DOWN(r, MPI_Group_free, &g);
	if (!d->ranks)
		return -1;
	if (wrap_vh_member_key(1, d->ranks, d->n, NULL, 0, &d->key, &d->keylen, &d->seq, &d->hash))
		return -1;
	return d->flavor == MPI_WIN_FLAVOR_CREATE || d->flavor == MPI_WIN_FLAVOR_DYNAMIC ? 0 : -1;
}

static void win_snapshot(struct wrap_vh_obj *e)
{
	struct win_desc *d = e->desc;
	char name[MPI_MAX_OBJECT_NAME + 1];
	int r, len = 0;
	if (!d)
		return;
	WRAP_DOWN(r, MPI_Win_get_name, (MPI_Win)e->real, name, &len);
	free(d->name);
	d->name = r == MPI_SUCCESS && len > 0 ? strndup(name, (size_t)len) : NULL;
}

static int win_rebuild(struct wrap_vh_obj *e, int64_t *real)
{
	struct win_desc *d = e->desc;
	MPI_Win w = MPI_WIN_NULL;
	int r, c = MPI_COMM_NULL, r2;
	*real = MPI_WIN_NULL;
	if (!d || !d->key)
		return MPI_ERR_WIN;
	d->lcomm = MPI_COMM_NULL;
	r = wrap_vh_comm_of_ranks(d->ranks, d->n, (int)(d->hash & 0x7fff), &c);
	if (r != MPI_SUCCESS)
		return r;
	if (d->flavor == MPI_WIN_FLAVOR_CREATE)
		WRAP_DOWN(r, MPI_Win_create, d->base, d->size, d->disp_unit, MPI_INFO_NULL, c, &w);
	else
		WRAP_DOWN(r, MPI_Win_create_dynamic, MPI_INFO_NULL, c, &w);
	for (int k = 0; r == MPI_SUCCESS && k < d->natt; k++)
		WRAP_DOWN(r, MPI_Win_attach, w, d->att[k].base, d->att[k].size);
	/* c lives as long as the window: MPICH 4.0.2 (ch4) names a window by the context id of
	 * the communicator it was made on and a count kept in that communicator; freeing c would
	 * let the next rebuilt window's communicator take the same context id and count, and
	 * the two windows the same id, so that lock requests and accumulates went to the wrong
	 * window (a restart hung in MPI_Win_lock_all) */
	if (r == MPI_SUCCESS)
		d->lcomm = c;
	else
		WRAP_DOWN(r2, MPI_Comm_free, &c);
	(void)r2;
	*real = w;
	return r;
}

static void win_finish(struct wrap_vh_obj *e)
{
	struct win_desc *d = e->desc;
	int r;
	if (e->aux && wrap_vh_errhandler_apply(WRAP_VH_WIN, e->real, (int64_t)e->aux))
		wrap_vh_warn("cannot set the error handler of a window again");
	if (d && d->name)
		WRAP_DOWN(r, MPI_Win_set_name, (MPI_Win)e->real, d->name);
	(void)r;
}

static int win_order(const struct wrap_vh_obj *a, const struct wrap_vh_obj *b)
{
	const struct win_desc *x = a->desc, *y = b->desc;
	if (!x || !x->key || !y || !y->key)
		return (x && x->key) - (y && y->key);
	return wrap_vh_key_cmp(x->key, x->keylen, x->seq, y->key, y->keylen, y->seq);
}

static void win_destroy(struct wrap_vh_obj *e)
{
	struct win_desc *d = e->desc;
	wrap_vh_unref(WRAP_VH_ERRHANDLER, (int64_t)e->aux);
	if (!d)
		return;
	/* its communicator, when the window was made again in this lower MPI (else lcomm is a
	 * handle of a lower MPI that is gone) */
	if ((e->flags & WRAP_VH_F_REBUILT) && d->lcomm != MPI_COMM_NULL) {
		int r;
		WRAP_DOWN(r, MPI_Comm_free, &d->lcomm);
		(void)r;
	}
	free(d->ranks);
	free(d->key);
	free(d->att);
	free(d->name);
	free(d->locks);
	free(d->owned);
	free(d);
}

const struct wrap_vh_ops wrap_vh_win_ops = {
    .name = "window",
    .kind = WRAP_VH_WIN,
    .null_handle = MPI_WIN_NULL,
    .describe = win_describe,
    .snapshot = win_snapshot,
    .rebuild = win_rebuild,
    .finish = win_finish,
    .destroy = win_destroy,
    .order = win_order,
};

void wrap_hook_MPI_Win_attach(int r_, MPI_Win win, void *base, MPI_Aint size)
{
	if (r_ != MPI_SUCCESS)
		return;
	wrap_vh_lock();
	struct wrap_vh_obj *e = wrap_vh_obj_of(WRAP_VH_WIN, win);
	struct win_desc *d = e ? e->desc : NULL;
	struct attach *a = d ? realloc(d->att, sizeof(*a) * (size_t)(d->natt + 1)) : NULL;
	if (a) {
		d->att = a;
		a[d->natt].base = base;
		a[d->natt++].size = size;
	}
	wrap_vh_unlock();
}

void wrap_hook_MPI_Win_detach(int r_, MPI_Win win, const void *base)
{
	if (r_ != MPI_SUCCESS)
		return;
	wrap_vh_lock();
	struct wrap_vh_obj *e = wrap_vh_obj_of(WRAP_VH_WIN, win);
	struct win_desc *d = e ? e->desc : NULL;
	for (int k = 0; d && k < d->natt; k++) {
		if (d->att[k].base == base) {
			d->att[k] = d->att[--d->natt];
			break;
		}
	}
	wrap_vh_unlock();
}

/* ---- memory MPI would allocate: in the upper half ------------------------------------------ */

/* An error of a hand-written allocation, through comm's error handler (lower handle) as
 * MPICH would report it. */
static int alloc_error(unsigned idx, MPI_Comm lcomm, int err, const char *why)
{
	int r;
	wrap_fail(idx, err, why);
	WRAP_DOWN(r, MPI_Comm_call_errhandler, lcomm, err);
	(void)r;
	return err;
}

static void *upper_alloc(MPI_Aint size)
{
	void *p = NULL;
	if (posix_memalign(&p, 64, size > 0 ? (size_t)size : 1) != 0)
		return NULL;
	return p;
}

static int win_allocate(unsigned idx, MPI_Aint size, MPI_Aint disp_unit, int large,
			MPI_Info info, MPI_Comm comm, void *baseptr, MPI_Win *win)
{
	wrap_door_t d_ = wrap_door_enter(WRAP_DOOR_COLL, comm);
	struct wrap_seq *ps = wrap_seq_of(comm);
	uint64_t pq = ps->seq;
	MPI_Info linfo = wrap_info_to_lower(info);
	MPI_Comm lcomm = wrap_comm_to_lower(comm);
	MPI_Win lw = MPI_WIN_NULL;
	void *mem = NULL;
	int r;
	if (size > 0 && !(mem = upper_alloc(size))) {
		r = alloc_error(idx, lcomm, MPI_ERR_NO_MEM,
				"cannot allocate the window's memory in the upper half");
		wrap_door_leave(d_);
		return r;
	}
	if (large)
		WRAP_DOWN(r, MPI_Win_create_c, mem, size, disp_unit, linfo, lcomm, &lw);
	else
		WRAP_DOWN(r, MPI_Win_create, mem, size, (int)disp_unit, linfo, lcomm, &lw);
	if (r != MPI_SUCCESS) {
		free(mem);
		wrap_door_leave(d_);
		return r;
	}
	*win = wrap_win_from_lower(lw);
	wrap_seq_child_obj(ps, pq, WRAP_VH_WIN, *win);
	wrap_vh_lock();
	struct wrap_vh_obj *e = wrap_vh_obj_of(WRAP_VH_WIN, *win);
	if (e && e->desc)
		((struct win_desc *)e->desc)->owned = mem;
	wrap_vh_unlock();
	*(void **)baseptr = mem;
	wrap_door_leave(d_);
	return MPI_SUCCESS;
}

WRAP_EXPORT int PMPI_Win_allocate(MPI_Aint size, int disp_unit, MPI_Info info, MPI_Comm comm,
				  void *baseptr, MPI_Win *win)
{
	return win_allocate(WRAP_IDX_MPI_Win_allocate, size, disp_unit, 0, info, comm, baseptr,
			    win);
}
WRAP_ALIAS(PMPI_Win_allocate, MPI_Win_allocate)

WRAP_EXPORT int PMPI_Win_allocate_c(MPI_Aint size, MPI_Aint disp_unit, MPI_Info info,
				    MPI_Comm comm, void *baseptr, MPI_Win *win)
{
	return win_allocate(WRAP_IDX_MPI_Win_allocate_c, size, disp_unit, 1, info, comm, baseptr,
			    win);
}
WRAP_ALIAS(PMPI_Win_allocate_c, MPI_Win_allocate_c)

/* MPI_WIN_CREATE_FLAVOR of a window of MPI_Win_allocate(_c): the lower window is an
 * MPI_Win_create over memory we allocated, so MPICH says CREATE; the application asked for
 * ALLOCATE and sees that. C gets a pointer to the value (as MPICH gives: a copy the caller
 * must not change), Fortran's keyval (the C one + 1, through MPII_Win_get_attr) the value. */
static int allocate_flavor = MPI_WIN_FLAVOR_ALLOCATE;

static int win_allocated(MPI_Win win)
{
	wrap_vh_lock();
	struct wrap_vh_obj *e = wrap_vh_obj_of(WRAP_VH_WIN, win);
	int yes = e && e->desc && ((struct win_desc *)e->desc)->owned;
	wrap_vh_unlock();
	return yes;
}

static void fix_flavor(MPI_Win win, int keyval, void *attribute_val, const int *flag)
{
	if (!*flag || !win_allocated(win))
		return;
	allocate_flavor = MPI_WIN_FLAVOR_ALLOCATE; /* (the application may have written it) */
	if (keyval == MPI_WIN_CREATE_FLAVOR)
		*(int **)attribute_val = &allocate_flavor;
	else if (keyval == MPI_WIN_CREATE_FLAVOR + 1)
		*(MPI_Aint *)attribute_val = MPI_WIN_FLAVOR_ALLOCATE;
}

WRAP_EXPORT int PMPI_Win_get_attr(MPI_Win win, int win_keyval, void *attribute_val, int *flag)
{
	wrap_door_t d_ = wrap_door_enter(WRAP_DOOR_LOCAL, 0);
	int r;
	WRAP_DOWN(r, MPI_Win_get_attr, wrap_win_to_lower(win), wrap_keyval_to_lower(win_keyval),
		  attribute_val, flag);
	if (r == MPI_SUCCESS && win_keyval == MPI_WIN_CREATE_FLAVOR)
		fix_flavor(win, win_keyval, attribute_val, flag);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Win_get_attr, MPI_Win_get_attr)

WRAP_EXPORT int MPII_Win_get_attr(MPI_Win win, int keyval, void *attribute_val, int *flag,
				  int attrib_type)
{
	wrap_door_t d_ = wrap_door_enter(WRAP_DOOR_LOCAL, 0);
	void *f = wrap_lower_fn(WRAP_IDX_MPII_Win_get_attr);
	if (!f) {
		wrap_door_leave(d_);
		return wrap_unavailable(WRAP_IDX_MPII_Win_get_attr);
	}
	MPI_Win lw = wrap_win_to_lower(win);
	int lk = wrap_keyval_to_lower(keyval);
	uint64_t g = wrap_gate_enter();
	int r = ((__typeof__(&MPII_Win_get_attr))f)(lw, lk, attribute_val, flag, attrib_type);
	wrap_gate_leave(g);
	if (r == MPI_SUCCESS && (keyval == MPI_WIN_CREATE_FLAVOR || keyval == MPI_WIN_CREATE_FLAVOR + 1))
		fix_flavor(win, keyval, attribute_val, flag);
	wrap_door_leave(d_);
	return r;
}

WRAP_EXPORT int PMPI_Alloc_mem(MPI_Aint size, MPI_Info info, void *baseptr)
{
	wrap_door_t d_ = wrap_door_enter(WRAP_DOOR_LOCAL, 0);
	void *p;
	int r = MPI_SUCCESS;
	(void)info; /* MPICH's hints (none for ch4:ucx here) do not apply to upper memory */
	if (size < 0)
		r = alloc_error(WRAP_IDX_MPI_Alloc_mem, MPI_COMM_WORLD, MPI_ERR_SIZE,
				"negative size");
	else if (!(p = upper_alloc(size)))
		r = alloc_error(WRAP_IDX_MPI_Alloc_mem, MPI_COMM_WORLD, MPI_ERR_NO_MEM,
				"out of memory in the upper half");
	else
		*(void **)baseptr = p;
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Alloc_mem, MPI_Alloc_mem)

WRAP_EXPORT int PMPI_Free_mem(void *base)
{
	free(base);
	return MPI_SUCCESS;
}
WRAP_ALIAS(PMPI_Free_mem, MPI_Free_mem)

/* ---- epochs -------------------------------------------------------------------------------- */

static struct win_desc *desc_of(MPI_Win win)
{
	struct wrap_vh_obj *e = wrap_vh_obj_of(WRAP_VH_WIN, win);
	return e ? e->desc : NULL;
}

void wrap_hook_MPI_Win_lock(int r_, int lock_type, int rank, int assert, MPI_Win win)
{
	if (r_ != MPI_SUCCESS)
		return;
	wrap_vh_lock();
	struct win_desc *d = desc_of(win);
	struct lockrec *l = d ? realloc(d->locks, sizeof(*l) * (size_t)(d->nlocks + 1)) : NULL;
	if (l) {
		d->locks = l;
		l[d->nlocks++] = (struct lockrec){rank, lock_type, assert};
	} else if (d) {
		wrap_vh_warn("out of memory noting an MPI_Win_lock epoch: a checkpoint will not "
			     "open it again");
	}
	wrap_vh_unlock();
}

void wrap_hook_MPI_Win_unlock(int r_, int rank, MPI_Win win)
{
	if (r_ != MPI_SUCCESS)
		return;
	wrap_vh_lock();
	struct win_desc *d = desc_of(win);
	for (int k = 0; d && k < d->nlocks; k++) {
		if (d->locks[k].rank == rank) {
			d->locks[k] = d->locks[--d->nlocks];
			break;
		}
	}
	wrap_vh_unlock();
}

void wrap_hook_MPI_Win_lock_all(int r_, int assert, MPI_Win win)
{
	if (r_ != MPI_SUCCESS)
		return;
	wrap_vh_lock();
	struct win_desc *d = desc_of(win);
	if (d) {
		d->lock_all = 1;
		d->lock_all_assert = assert;
	}
	wrap_vh_unlock();
}

void wrap_hook_MPI_Win_unlock_all(int r_, MPI_Win win)
{
	if (r_ != MPI_SUCCESS)
		return;
	wrap_vh_lock();
	struct win_desc *d = desc_of(win);
	if (d)
		d->lock_all = 0;
	wrap_vh_unlock();
}

void wrap_vh_win_pscw(int r_, MPI_Win win, int set, int clear)
{
	if (r_ != MPI_SUCCESS)
		return;
	wrap_vh_lock();
	struct win_desc *d = desc_of(win);
	if (d)
		d->pscw = (d->pscw | set) & ~clear;
	wrap_vh_unlock();
}

/* (MPI_Win_post and MPI_Win_start: wrap_win_pscw.c) */
void wrap_hook_MPI_Win_complete(int r_, MPI_Win win) { wrap_vh_win_pscw(r_, win, 0, WIN_START); }
void wrap_hook_MPI_Win_test(int r_, MPI_Win win, int *flag)
{
	wrap_vh_win_pscw(r_, win, 0, flag && *flag ? WIN_POST : 0);
}

/* MPI_Win_wait as a loop on the lower MPI_Win_test that steps out of the lower half when a
 * checkpoint drains (wrap_door_must_step_out): a rank waiting for the end of its exposure
 * epoch while the origin waits at the door would otherwise keep the checkpoint from ever
 * draining; stepped out, the checkpoint is refused (the epoch is open: see
 * wrap_vh_win_checkpoint) and the loop goes on after it. */
WRAP_EXPORT int PMPI_Win_wait(MPI_Win win)
{
	wrap_door_t d_ = wrap_door_enter(WRAP_DOOR_P2P, 0);
	int r, flag = 0;
	for (unsigned spin = 1;; spin++) {
		MPI_Win lw = wrap_win_to_lower(win); /* again after stepping out */
		WRAP_DOWN(r, MPI_Win_test, lw, &flag);
		if (r != MPI_SUCCESS || flag)
			break;
		if (wrap_door_must_step_out())
			wrap_door_step_out();
		else if ((spin & 1023) == 0)
			sched_yield();
	}
	wrap_vh_win_pscw(r, win, 0, flag ? WIN_POST : 0);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Win_wait, MPI_Win_wait)

static int by_rebuild_order(const void *a, const void *b)
{
	const struct wrap_vh_obj *x = *(struct wrap_vh_obj *const *)a;
	const struct wrap_vh_obj *y = *(struct wrap_vh_obj *const *)b;
	int c = win_order(x, y);
	return c ? c : (x->serial < y->serial ? -1 : x->serial > y->serial);
}

/* Live windows the application holds, in the order every member rebuilds them (lock held;
 * malloc'd, caller frees). */
static struct wrap_vh_obj **held_windows(size_t *n)
{
	struct wrap_vh_obj **v = wrap_vh_list(WRAP_VH_WIN, n);
	size_t k = 0;
	for (size_t i = 0; v && i < *n; i++)
		if (v[i]->app_refs > 0 && (MPI_Win)v[i]->real != MPI_WIN_NULL)
			v[k++] = v[i];
	*n = k;
	if (v && k > 1)
		qsort(v, k, sizeof(*v), by_rebuild_order);
	return v;
}

static void refuse(char *err, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void refuse(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	if (err[0])
		return; /* the first reason is the one reported */
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	fprintf(stderr, "splitckpt: %s\n", err);
}

int wrap_vh_win_checkpoint(int rank, char *err, size_t len)
{
	size_t n = 0;
	int r;
	err[0] = 0;
	wrap_vh_lock();
	struct wrap_vh_obj **v = held_windows(&n);
	if (!v && n) {
		wrap_vh_unlock();
		refuse(err, len, "rank %d: out of memory listing the MPI windows", rank);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct win_desc *d = v[i]->desc;
		MPI_Win w = (MPI_Win)v[i]->real;
		unsigned vh = (unsigned)wrap_vh_handle_of(v[i]);
		if (v[i]->flags & WRAP_VH_F_FENCED) {
			WRAP_DOWN(r, MPI_Win_fence, 0, w);
			if (r != MPI_SUCCESS)
				refuse(err, len,
				       "rank %d: window %#x: MPI_Win_fence to complete its RMA "
				       "operations before the checkpoint failed (MPI error %d)",
				       rank, vh, r);
		}
		if (d && (d->lock_all || d->nlocks)) {
			WRAP_DOWN(r, MPI_Win_flush_all, w);
			if (r != MPI_SUCCESS)
				refuse(err, len,
				       "rank %d: window %#x: MPI_Win_flush_all of its passive-target "
				       "epoch before the checkpoint failed (MPI error %d)",
				       rank, vh, r);
		}
		if (d && d->flavor == MPI_WIN_FLAVOR_SHARED)
			refuse(err, len,
			       "rank %d: window %#x was made by MPI_Win_allocate_shared: its memory "
			       "is MPI's shared segment, which a restart cannot map again at the "
			       "same address; this checkpoint is refused (free the window before "
			       "checkpointing, or use MPI_Win_allocate / MPI_Win_create)",
			       rank, vh);
		else if (d && (d->pscw & WIN_POST))
			refuse(err, len,
			       "rank %d: window %#x has an exposure epoch open (MPI_Win_post not yet "
			       "ended by MPI_Win_wait/MPI_Win_test): post/start/complete/wait "
			       "epochs cannot be checkpointed; this checkpoint is refused, the job "
			       "goes on (checkpoint between epochs)",
			       rank, vh);
		else if (d && (d->pscw & WIN_START))
			refuse(err, len,
			       "rank %d: window %#x has an access epoch open (MPI_Win_start not yet "
			       "ended by MPI_Win_complete): post/start/complete/wait epochs cannot "
			       "be checkpointed; this checkpoint is refused, the job goes on "
			       "(checkpoint between epochs)",
			       rank, vh);
	}
	wrap_vh_unlock();
	free(v);
	/* every rank, windows or not: the targets of the flushes make progress meanwhile */
	WRAP_DOWN(r, MPI_Barrier, wrap_ckpt_private_comm());
	if (r != MPI_SUCCESS)
		refuse(err, len, "rank %d: barrier after completing the RMA epochs failed (MPI "
				 "error %d)", rank, r);
	return err[0] ? -1 : 0;
}

int wrap_vh_win_relock(void)
{
	size_t n = 0;
	int fails = 0, r;
	wrap_vh_lock();
	struct wrap_vh_obj **v = held_windows(&n);
	for (size_t i = 0; v && i < n; i++) {
		struct win_desc *d = v[i]->desc;
		MPI_Win w = (MPI_Win)v[i]->real;
		if (d && d->lock_all) {
			WRAP_DOWN(r, MPI_Win_lock_all, d->lock_all_assert, w);
			if (r != MPI_SUCCESS) {
				wrap_vh_warn("window %#x: cannot open its MPI_Win_lock_all epoch "
					     "again (MPI error %d)",
					     (unsigned)wrap_vh_handle_of(v[i]), r);
				fails++;
			}
		}
		for (int k = 0; d && k < d->nlocks; k++) {
			WRAP_DOWN(r, MPI_Win_lock, d->locks[k].type, d->locks[k].rank,
				  d->locks[k].assert, w);
			if (r != MPI_SUCCESS) {
				wrap_vh_warn("window %#x: cannot open its MPI_Win_lock epoch on rank "
					     "%d again (MPI error %d)",
					     (unsigned)wrap_vh_handle_of(v[i]), d->locks[k].rank, r);
				fails++;
			}
		}
	}
	wrap_vh_unlock();
	free(v);
	/* every rank, windows or not: MPICH grants a lock in the target's progress, and a target
	 * whose application computes outside MPI after the restart would keep this rank's
	 * restart waiting until its next MPI call (seen: 60 s, test
	 * mpiwrap_ckpt_winlock_progress_4); in the barrier every rank progresses until every lock
	 * is granted */
	WRAP_DOWN(r, MPI_Barrier, wrap_ckpt_private_comm());
	if (r != MPI_SUCCESS) {
		wrap_vh_warn("barrier after opening the passive-target epochs again failed (MPI "
			     "error %d)",
			     r);
		fails++;
	}
	return fails;
}
