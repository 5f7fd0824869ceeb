/*
 * wrap_vh_win.c - RMA windows as virtual handles.
 *
 * Description (asked from MPI when the window comes out of the lower MPI): its flavor, base,
 * size and displacement unit (MPI_WIN_CREATE_FLAVOR, MPI_WIN_BASE, MPI_WIN_SIZE,
 * MPI_WIN_DISP_UNIT), the world ranks of its group, its error handler; the regions attached to
 * a dynamic window (hooks after MPI_Win_attach/detach); attributes; its name (snapshot).
 *
 * Rebuild, in an order all members agree on (membership key, as for communicators):
 * MPI_Win_create over the same memory (it is application memory, in the upper half, saved
 * in the image) on a communicator of the same world ranks, or MPI_Win_create_dynamic and the
 * same attachments. Windows whose memory MPI allocated (MPI_Win_allocate, _shared) live in
 * the lower half, which a restart replaces: they cannot be rebuilt (reported). The epoch
 * state (fence, lock, post/start) is not part of the description: the checkpoint must find
 * no access epoch open (issue "MPI checkpoint/restart").
 */
#include <stdlib.h>
#include <string.h>

#include "wrap.h"
#include "wrap_hooks.h"

struct attach {
	void *base;
	MPI_Aint size;
};

struct win_desc {
	int flavor, disp_unit, n, *ranks;
	void *base;
	MPI_Aint size;
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
	r = wrap_vh_comm_of_ranks(d->ranks, d->n, (int)(d->hash & 0x7fff), &c);
	if (r != MPI_SUCCESS)
		return r;
	if (d->flavor == MPI_WIN_FLAVOR_CREATE)
		WRAP_DOWN(r, MPI_Win_create, d->base, d->size, d->disp_unit, MPI_INFO_NULL, c, &w);
	else
		WRAP_DOWN(r, MPI_Win_create_dynamic, MPI_INFO_NULL, c, &w);
	for (int k = 0; r == MPI_SUCCESS && k < d->natt; k++)
		WRAP_DOWN(r, MPI_Win_attach, w, d->att[k].base, d->att[k].size);
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
	free(d->ranks);
	free(d->key);
	free(d->att);
	free(d->name);
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
