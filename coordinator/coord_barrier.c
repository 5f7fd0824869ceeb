/*
 * coord_barrier.c - named barriers (MSG_BARRIER / MSG_BARRIER_DONE) for restart and MPI.
 *
 * A barrier is created by the first worker that enters a name and records the count that
 * worker gave; when that many workers are inside, BARRIER_DONE(name) goes to all of them and
 * the barrier is forgotten (the same name can be used again afterwards).
 *
 * Invariants: each entering message costs O(1) (hash lookup + append); completion walks only
 * the members. A worker waits in at most one barrier; w.barrier/w.barrier_idx locate its slot,
 * so a worker that leaves is removed in O(1) and the barrier then waits for a replacement.
 */
#define LOG_PREFIX "coord"
#include <stdlib.h>
#include <string.h>

#include "coord.h"
#include "log.h"

struct coord_barrier {
	struct coord_barrier *next; /* hash chain */
	uint64_t hash;
	char *name;
	uint32_t count;
	struct coord_client **members;
	size_t n, cap;
};

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static struct coord_barrier **slot_of(struct coord_barriers *t, const char *name, uint64_t h)
{
	struct coord_barrier **pp = &t->buckets[h % t->nbuckets];
	while (*pp && ((*pp)->hash != h || strcmp((*pp)->name, name) != 0))
		pp = &(*pp)->next;
	return pp;
}

static int grow_table(struct coord_barriers *t)
{
	size_t nb = t->nbuckets ? t->nbuckets * 2 : 64;
	struct coord_barrier **nbk = calloc(nb, sizeof(*nbk));
	if (!nbk)
		return -1;
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct coord_barrier *b = t->buckets[i], *next;
		for (; b; b = next) {
			next = b->next;
			b->next = nbk[b->hash % nb];
			nbk[b->hash % nb] = b;
		}
	}
	free(t->buckets);
	t->buckets = nbk;
	t->nbuckets = nb;
	return 0;
}

static void barrier_free(struct coord_barrier *b)
{
	free(b->name);
	free(b->members);
	free(b);
}

/* Unlink b from the table and free it. */
static void barrier_remove(struct coord_barriers *t, struct coord_barrier *b)
{
	struct coord_barrier **pp = slot_of(t, b->name, b->hash);
	if (*pp == b)
		*pp = b->next;
	t->count--;
	barrier_free(b);
}

static struct coord_barrier *barrier_get(struct coord_barriers *t, const struct proto_barrier *m)
{
	if ((!t->nbuckets || t->count >= t->nbuckets) && grow_table(t) < 0 && !t->nbuckets)
		return NULL;
	uint64_t h = fnv1a(m->name);
	struct coord_barrier **pp = slot_of(t, m->name, h);
	if (*pp)
		return *pp;
	struct coord_barrier *b = calloc(1, sizeof(*b));
	if (!b || !(b->name = strdup(m->name))) {
		free(b);
		return NULL;
	}
	b->hash = h;
	b->count = m->count;
	*pp = b;
	t->count++;
	return b;
}

static void complete(struct coord *co, struct coord_barrier *b)
{
	struct proto_buf buf;
	proto_enc_barrier_done(&buf, b->name);
	if (proto_buf_finish(&buf, 0) == 0) {
		for (size_t i = 0; i < b->n; i++) {
			struct coord_client *c = b->members[i];
			c->w.barrier = NULL;
			coord_client_send_raw(co, c, buf.data, buf.len);
		}
	}
	proto_buf_free(&buf);
	log_debug("barrier '%s' passed by %zu processes", b->name, b->n);
	barrier_remove(&co->barriers, b);
}

void coord_barrier_enter(struct coord *co, struct coord_client *c, const struct proto_barrier *m)
{
	if (m->count == 0) {
		coord_client_reject(co, c, "barrier '%s' with count 0", m->name);
		return;
	}
	if (c->w.barrier) {
		coord_client_reject(co, c, "entered barrier '%s' while waiting in '%s'", m->name,
				    c->w.barrier->name);
		return;
	}
	struct coord_barrier *b = barrier_get(&co->barriers, m);
	if (!b) {
		coord_client_drop(co, c, "out of memory for barrier '%s'", m->name);
		return;
	}
	if (b->count != m->count)
		log_warn(
		    "barrier '%s': worker %u says %u processes, the first one said %u; using %u",
		    m->name, c->w.vpid, m->count, b->count, b->count);
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 8;
		struct coord_client **p = realloc(b->members, cap * sizeof(*p));
		if (!p) {
			coord_client_drop(co, c, "out of memory for barrier '%s'", m->name);
			return;
		}
		b->members = p;
		b->cap = cap;
	}
	c->w.barrier = b;
	c->w.barrier_idx = b->n;
	b->members[b->n++] = c;
	if (b->n >= b->count)
		complete(co, b);
}

void coord_barrier_leave(struct coord *co, struct coord_client *c)
{
	struct coord_barrier *b = c->w.barrier;
	if (!b)
		return;
	c->w.barrier = NULL;
	struct coord_client *last = b->members[--b->n];
	b->members[c->w.barrier_idx] = last;
	last->w.barrier_idx = c->w.barrier_idx;
	if (b->n == 0)
		barrier_remove(&co->barriers, b);
}

void coord_barrier_fini(struct coord *co)
{
	struct coord_barriers *t = &co->barriers;
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct coord_barrier *b = t->buckets[i], *next;
		for (; b; b = next) {
			next = b->next;
			barrier_free(b);
		}
	}
	free(t->buckets);
	t->buckets = NULL;
	t->nbuckets = t->count = 0;
}
