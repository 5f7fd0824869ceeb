/*
 * lower_threads.c - every thread the lower half creates (our checkpoint thread, and in MPI
 * mode the progress threads of MPICH and UCX) is registered so that a checkpoint never tries
 * to park it: only application threads are parked and saved.
 *
 * The lower-half program defines pthread_create itself (exported dynamically), so calls from
 * its own libraries reach this wrapper first; the tid is registered by the new thread before
 * it runs its function, and removed by a thread-specific-data destructor when it ends, so a
 * recycled tid is never mistaken for a lower-half thread.
 */
#define LOG_PREFIX "lh"
#include "log.h"
#include "park.h"
#include "sys_nolibc.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

struct start {
	void *(*fn)(void *);
	void *arg;
};

static pthread_key_t key;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void forget(void *p)
{
	park_remove_lower_tid((int)(intptr_t)p);
}

static void make_key(void)
{
	pthread_key_create(&key, forget);
}

static void *start(void *p)
{
	struct start s = *(struct start *)p;
	free(p);
	int tid = (int)sys_gettid();
	park_add_lower_tid(tid);
	pthread_setspecific(key, (void *)(intptr_t)tid);
	return s.fn(s.arg);
}

int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
	static create_fn real;
	if (!real) {
		real = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
		if (!real)
			return EAGAIN;
	}
	pthread_once(&once, make_key);
	struct start *s = malloc(sizeof(*s));
	if (!s)
		return EAGAIN;
	s->fn = fn;
	s->arg = arg;
	int rc = real(t, a, start, s);
	if (rc != 0)
		free(s);
	return rc;
}
