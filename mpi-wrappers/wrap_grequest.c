/*
 * wrap_grequest.c - generalized requests (MPI_Grequest_start, MPII_Grequest_set_lang_f77).
 *
 * The lower MPICH calls query(extra, status), free(extra) and cancel(extra, complete) on its
 * TLS. We give it our trampolines and, as extra state, a context holding the application's
 * three functions and extra state; the trampolines switch to the upper thread's TLS and call
 * the application. The context is freed after the free callback, which MPICH calls last.
 *
 * Fortran (libmpichfort) starts the request through MPI_Grequest_start and then calls
 * MPII_Grequest_set_lang_f77(request): we do not pass that down (MPICH would then call our C
 * trampolines the Fortran way); the context is marked Fortran and the trampolines use MPICH's
 * Fortran convention (status as MPI_Fint array, error code as last argument).
 *
 * Started with at most one thread inside MPI (SERIALIZED): no lock on the live list.
 */
#include <stdlib.h>
#include <string.h>

#include "wrap.h"
#include "wrap_door.h"

struct greq_ctx {
	MPI_Grequest_query_function *query;
	MPI_Grequest_free_function *free_fn;
	MPI_Grequest_cancel_function *cancel;
	void *extra;
	int f77;
	MPI_Request req;
	struct greq_ctx *next; /* live list, for MPII_Grequest_set_lang_f77 */
};

static struct greq_ctx *live;

static void unlink_ctx(struct greq_ctx *c)
{
	for (struct greq_ctx **p = &live; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			return;
		}
	}
}

static int query_tramp(void *extra_state, MPI_Status *status)
{
	uint64_t low = wrap_cb_enter();
	struct greq_ctx *c = extra_state;
	int r;
	if (c->f77) {
		MPI_Fint fs[sizeof(MPI_Status) / sizeof(MPI_Fint)], ierr = 0;
		((wrap_f77_greq_query *)(void *)c->query)(c->extra, fs, &ierr);
		r = (int)ierr;
		if (r == MPI_SUCCESS)
			memcpy(status, fs, sizeof(*status)); /* MPI_Status_f2c, Fint == int */
	} else {
		r = c->query(c->extra, status);
	}
	wrap_cb_leave(low);
	return r;
}

static int free_tramp(void *extra_state)
{
	uint64_t low = wrap_cb_enter();
	struct greq_ctx *c = extra_state;
	int r;
	if (c->f77) {
		MPI_Fint ierr = 0;
		((wrap_f77_greq_free *)(void *)c->free_fn)(c->extra, &ierr);
		r = (int)ierr;
	} else {
		r = c->free_fn(c->extra);
	}
	unlink_ctx(c);
	free(c);
	wrap_cb_leave(low);
	return r;
}

static int cancel_tramp(void *extra_state, int complete)
{
	uint64_t low = wrap_cb_enter();
	struct greq_ctx *c = extra_state;
	int r;
	if (c->f77) {
		MPI_Fint ierr = 0, fcomplete = complete;
		((wrap_f77_greq_cancel *)(void *)c->cancel)(c->extra, &fcomplete, &ierr);
		r = (int)ierr;
	} else {
		r = c->cancel(c->extra, complete);
	}
	wrap_cb_leave(low);
	return r;
}

WRAP_EXPORT int PMPI_Grequest_start(MPI_Grequest_query_function *query_fn,
				    MPI_Grequest_free_function *free_fn,
				    MPI_Grequest_cancel_function *cancel_fn, void *extra_state,
				    MPI_Request *request)
{
	struct greq_ctx *c = calloc(1, sizeof(*c));
	int r;
	if (!c)
		return wrap_fail(WRAP_IDX_MPI_Grequest_start, MPI_ERR_NO_MEM, "out of memory");
	c->query = query_fn;
	c->free_fn = free_fn;
	c->cancel = cancel_fn;
	c->extra = extra_state;
	wrap_door_t d_ = wrap_door_enter(WRAP_DOOR_LOCAL, 0);
	WRAP_DOWN(r, MPI_Grequest_start, query_tramp, free_tramp, cancel_tramp, c, request);
	if (r != MPI_SUCCESS) {
		wrap_door_leave(d_);
		free(c);
		return r;
	}
	*request = wrap_request_from_lower(*request);
	c->req = *request;
	c->next = live;
	live = c;
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Grequest_start, MPI_Grequest_start)

WRAP_EXPORT void MPII_Grequest_set_lang_f77(MPI_Request greq)
{
	for (struct greq_ctx *c = live; c; c = c->next) {
		if (c->req == greq) {
			c->f77 = 1;
			return;
		}
	}
	wrap_fail(WRAP_IDX_MPII_Grequest_set_lang_f77, 0, "unknown generalized request");
}
