/*
 * wrap_vh_rebuild.c - making every object again in a fresh lower MPI (after a restart), and
 * completing the descriptions before a checkpoint.
 *
 * wrap_vh_rebuild_all(): with every application thread out of MPI (the restart code calls it
 * before the application runs again; the test entry point below calls it in a running job),
 *   1. forgets every lower -> virtual mapping (the old lower handles mean nothing now);
 *   2. makes the objects again kind by kind, so that what an object needs exists before it:
 *      info, error handlers, ops, keyvals, groups, datatypes (old types first), then the
 *      collective ones - communicators, windows, files - in the order every process agrees on
 *      (wrap_vh_comm.c), then requests (persistent ones made again, pending receives posted
 *      again, in posting order); each new lower handle is bound to the same virtual handle;
 *   3. gives each object what needs the others: error handler, name, attributes - also to the
 *      predefined communicators that had them (MPI_COMM_WORLD's error handler...);
 *   4. frees the lower handles of the objects only other objects needed (a datatype the
 *      application had freed under a derived one...), as MPI had them before.
 * An object that cannot be made again (no description, members outside MPI_COMM_WORLD, window
 * memory that MPI allocated, a pending send) is reported and maps to the kind's null handle.
 * A communicator, window or file only a description still holds (the application freed it) is
 * not made again: the other processes may not hold it any more.
 *
 * SPLITCKPT_test_rebuild_handles(): the test entry point (exported for tests only): snapshot
 * and rebuild inside the running MPI. The old lower objects are left as they are (leaked), as
 * a restart leaves them in the old process.
 */
#include <stdio.h>
#include <stdlib.h>

#include "wrap.h"

void wrap_vh_world_reset(void) WRAP_HIDDEN;

static const int kind_order[] = {
    WRAP_VH_INFO,  WRAP_VH_ERRHANDLER, WRAP_VH_OP,	WRAP_VH_KEYVAL,
    WRAP_VH_GROUP, WRAP_VH_DATATYPE,   WRAP_VH_COMM,	WRAP_VH_WIN,
    WRAP_VH_FILE,  WRAP_VH_REQUEST,    WRAP_VH_MESSAGE,
};
#define NORDER (sizeof(kind_order) / sizeof(kind_order[0]))

int wrap_vh_prepare_checkpoint(void)
{
	wrap_vh_lock();
	wrap_vh_describe_late();
	for (size_t k = 0; k < NORDER; k++) {
		const struct wrap_vh_ops *ops = wrap_vh_ops_of(kind_order[k]);
		size_t n = 0;
		struct wrap_vh_obj **v;
		if (!ops->snapshot || !(v = wrap_vh_list(kind_order[k], &n)))
			continue;
		for (size_t i = 0; i < n; i++)
			ops->snapshot(v[i]);
		free(v);
	}
	wrap_vh_unlock();
	return 0;
}

int wrap_vh_check_restartable(int rank, char *err, size_t len)
{
	static const int kinds[] = {WRAP_VH_COMM, WRAP_VH_GROUP};
	int bad = 0;
	wrap_vh_lock();
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]) && !bad; k++) {
		const struct wrap_vh_ops *ops = wrap_vh_ops_of(kinds[k]);
		size_t n = 0;
		struct wrap_vh_obj **v = wrap_vh_list(kinds[k], &n);
		for (size_t i = 0; v && i < n && !bad; i++) {
			struct wrap_vh_obj *e = v[i];
			if (e->app_refs <= 0 || !(e->flags & WRAP_VH_F_NOREBUILD) ||
			    (int64_t)e->real == ops->null_handle)
				continue;
			snprintf(err, len,
				 "rank %d: %s %#x has processes outside MPI_COMM_WORLD (from "
				 "MPI_Comm_spawn, MPI_Comm_connect/accept or MPI_Comm_join): a restart "
				 "cannot make it again, so this checkpoint is refused and the job goes on "
				 "(free it, and its groups, before checkpointing)",
				 rank, ops->name, (unsigned)wrap_vh_handle_of(e));
			bad = 1;
		}
		free(v);
	}
	wrap_vh_unlock();
	return bad ? -1 : 0;
}

int wrap_vh_rebuild_one(struct wrap_vh_obj *e)
{
	const struct wrap_vh_ops *ops = wrap_vh_ops_of(e->kind);
	int64_t real = ops->null_handle;
	int r;
	if (e->flags & WRAP_VH_F_REBUILT)
		return (int64_t)e->real == ops->null_handle;
	e->flags |= WRAP_VH_F_REBUILT;
	if ((e->flags & WRAP_VH_F_NOREBUILD) || !ops->rebuild) {
		wrap_vh_warn("%s %#x cannot be made again (%s)", ops->name,
			     (unsigned)wrap_vh_handle_of(e),
			     ops->rebuild ? "MPI could not describe it: not all its processes are "
					    "in MPI_COMM_WORLD, or its memory belongs to MPI"
					  : "nothing to make it from");
		wrap_vh_bind(e, ops->null_handle);
		return 1;
	}
	r = ops->rebuild(e, &real);
	if (r != MPI_SUCCESS) {
		char msg[MPI_MAX_ERROR_STRING + 1] = "";
		int len = 0, r2;
		WRAP_DOWN(r2, MPI_Error_string, r, msg, &len);
		(void)r2;
		wrap_vh_warn("%s %#x: making it again failed: %s", ops->name,
			     (unsigned)wrap_vh_handle_of(e), msg);
		wrap_vh_bind(e, ops->null_handle);
		return 1;
	}
	wrap_vh_bind(e, real);
	return 0;
}

static const struct wrap_vh_ops *sort_ops;

static int by_order(const void *a, const void *b)
{
	const struct wrap_vh_obj *x = *(struct wrap_vh_obj *const *)a;
	const struct wrap_vh_obj *y = *(struct wrap_vh_obj *const *)b;
	int c = sort_ops->order(x, y);
	return c ? c : (x->serial < y->serial ? -1 : x->serial > y->serial);
}

int wrap_vh_rebuild_all(void)
{
	struct wrap_vh_obj **lists[NORDER] = {0};
	size_t counts[NORDER] = {0};
	int fails = 0;

	wrap_vh_lock();
	wrap_vh_world_reset();
	wrap_vh_rmap_clear_all();
	for (size_t k = 0; k < NORDER; k++) {
		lists[k] = wrap_vh_list(kind_order[k], &counts[k]);
		for (size_t i = 0; i < counts[k]; i++)
			lists[k][i]->flags &= (uint16_t)~WRAP_VH_F_REBUILT;
	}
	/* 2. make them again */
	for (size_t k = 0; k < NORDER; k++) {
		const struct wrap_vh_ops *ops = wrap_vh_ops_of(kind_order[k]);
		if (ops->order && counts[k] > 1) {
			sort_ops = ops;
			qsort(lists[k], counts[k], sizeof(*lists[k]), by_order);
		}
		for (size_t i = 0; i < counts[k]; i++) {
			struct wrap_vh_obj *e = lists[k][i];
			if (e->app_refs == 0 && !ops->rebuild_unheld) {
				e->flags |= WRAP_VH_F_REBUILT;
				wrap_vh_bind(e, ops->null_handle);
				continue;
			}
			fails += wrap_vh_rebuild_one(e);
		}
	}
	/* 3. what needs the others */
	for (size_t k = 0; k < NORDER; k++) {
		const struct wrap_vh_ops *ops = wrap_vh_ops_of(kind_order[k]);
		for (size_t i = 0; i < counts[k]; i++) {
			struct wrap_vh_obj *e = lists[k][i];
			if ((int64_t)e->real == ops->null_handle)
				continue;
			if (ops->finish)
				ops->finish(e);
			if (e->attrs)
				fails += wrap_vh_attrs_apply(e);
		}
	}
	for (size_t i = 0; wrap_vh_predef_at(i); i++) {
		struct wrap_vh_obj *e = wrap_vh_predef_at(i);
		const struct wrap_vh_ops *ops = wrap_vh_ops_of(e->kind);
		if (ops->finish)
			ops->finish(e);
		if (e->attrs)
			fails += wrap_vh_attrs_apply(e);
	}
	/* 4. lower handles only descriptions need */
	for (size_t k = 0; k < NORDER; k++) {
		const struct wrap_vh_ops *ops = wrap_vh_ops_of(kind_order[k]);
		for (size_t i = 0; i < counts[k]; i++) {
			struct wrap_vh_obj *e = lists[k][i];
			if (e->app_refs == 0 && ops->rebuild_unheld && ops->free_lower &&
			    (int64_t)e->real != ops->null_handle)
				ops->free_lower(e);
		}
		free(lists[k]);
	}
	wrap_vh_unlock();
	return fails;
}

extern int wrap_keyval_mute WRAP_HIDDEN;

/* Tests only: complete the descriptions and rebuild everything in the running MPI. Returns
 * the number of objects that could not be made again. Unlike a restart, the old lower objects
 * are still there afterwards; so that MPI_Finalize stays quiet, the old windows are freed
 * (collectively, in the rebuild order: UCX asserts at MPI_Finalize on the registrations of
 * windows never freed), the old files closed, and so are the old datatypes the application held,
 * and the attributes of the predefined objects that used the old keyvals (without callbacks); the
 * old pending receives are cancelled before they are posted again. Other old objects are left
 * behind. */
WRAP_EXPORT int SPLITCKPT_test_rebuild_handles(void);
WRAP_EXPORT int SPLITCKPT_test_rebuild_handles(void)
{
	size_t nw = 0, nt = 0, na = 0, nr = 0, nrecv = 0, nf = 0;
	int fails, r;
	wrap_vh_prepare_checkpoint();
	wrap_vh_lock();
	struct wrap_vh_obj **w = wrap_vh_list(WRAP_VH_WIN, &nw);
	struct wrap_vh_obj **t = wrap_vh_list(WRAP_VH_DATATYPE, &nt);
	struct wrap_vh_obj **f = wrap_vh_list(WRAP_VH_FILE, &nf);
	MPI_File *oldf = calloc(nf + 1, sizeof(MPI_File));
	int64_t *oldw = calloc(nw + 1, sizeof(int64_t)), *oldt = calloc(nt + 1, sizeof(int64_t));
	struct {
		struct wrap_vh_obj *e;
		int kv;
	} olda[64];
	if (!w || !t || !oldw || !oldt || !f || !oldf) {
		wrap_vh_unlock();
		return 1;
	}
	if (nw > 1) {
		sort_ops = wrap_vh_ops_of(WRAP_VH_WIN);
		qsort(w, nw, sizeof(*w), by_order);
	}
	for (size_t i = 0; i < nw; i++)
		oldw[i] = w[i]->real;
	if (nf > 1) {
		sort_ops = wrap_vh_ops_of(WRAP_VH_FILE);
		qsort(f, nf, sizeof(*f), by_order);
	}
	for (size_t i = 0; i < nf; i++)
		oldf[i] = (MPI_File)(uintptr_t)f[i]->real;
	for (size_t i = 0; i < nt; i++)
		oldt[i] = t[i]->app_refs ? t[i]->real : MPI_DATATYPE_NULL;
	/* pending receives are posted again: the old ones must not take their messages */
	struct wrap_vh_obj **rq = wrap_vh_list(WRAP_VH_REQUEST, &nr);
	int *oldr = calloc(nr + 1, sizeof(int));
	for (size_t i = 0; rq && oldr && i < nr; i++) {
		const struct wrap_vh_origin *org = rq[i]->desc;
		/* (a receive the drain completed has no lower request left) */
		if (org && org->replay && !org->persistent && rq[i]->real != MPI_REQUEST_NULL)
			oldr[nrecv++] = (int)rq[i]->real;
	}
	for (size_t i = 0; wrap_vh_predef_at(i); i++)
		for (struct wrap_vh_attr *a = wrap_vh_predef_at(i)->attrs; a && na < 64;
		     a = a->next) {
			olda[na].e = wrap_vh_predef_at(i);
			olda[na++].kv = wrap_keyval_to_lower(a->keyval);
		}

	for (size_t i = 0; i < nrecv; i++) {
		WRAP_DOWN(r, MPI_Cancel, &oldr[i]);
		WRAP_DOWN(r, MPI_Wait, &oldr[i], MPI_STATUS_IGNORE);
	}
	fails = wrap_vh_rebuild_all();

	for (size_t i = 0; i < nw; i++)
		WRAP_DOWN(r, MPI_Win_free, (MPI_Win *)&oldw[i]);
	for (size_t i = 0; i < nf; i++)
		WRAP_DOWN(r, MPI_File_close, &oldf[i]);
	for (size_t i = 0; i < nt; i++)
		if (oldt[i] != MPI_DATATYPE_NULL)
			WRAP_DOWN(r, MPI_Type_free, (MPI_Datatype *)&oldt[i]);
	wrap_keyval_mute = 1;
	for (size_t i = 0; i < na; i++) {
		if (olda[i].e->kind == WRAP_VH_COMM)
			WRAP_DOWN(r, MPI_Comm_delete_attr, (MPI_Comm)olda[i].e->real, olda[i].kv);
		else if (olda[i].e->kind == WRAP_VH_DATATYPE)
			WRAP_DOWN(r, MPI_Type_delete_attr, (MPI_Datatype)olda[i].e->real,
				  olda[i].kv);
	}
	wrap_keyval_mute = 0;
	(void)r;
	wrap_vh_unlock();
	free(w);
	free(t);
	free(oldw);
	free(oldt);
	free(rq);
	free(oldr);
	free(f);
	free(oldf);
	return fails;
}

/* Tests only: the lower handle a virtual int handle maps to now (the handle itself when it is
 * not a live virtual one). */
WRAP_EXPORT long long SPLITCKPT_test_lower_handle(long long vh);
WRAP_EXPORT long long SPLITCKPT_test_lower_handle(long long vh)
{
	for (int kind = 1; kind < WRAP_VH_NKINDS; kind++) {
		struct wrap_vh_obj *e = kind == WRAP_VH_FILE ? NULL : wrap_vh_obj_of(kind, vh);
		if (e)
			return e->real;
	}
	return vh;
}
