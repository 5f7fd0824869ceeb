/*
 * wrap_vh_table.c - the tables of virtual handles (wrap_vh.h): entries in chunks, the
 * lower -> virtual radix tables, the lock, references and lifetime, handle arrays.
 *
 * Owns: wrap_vh_tab[] (what wrap_K_to_lower reads without a lock), the free index lists, the
 * radix tables, the creation serial, the predefined pseudo entries.
 * Invariants:
 * - Chunks are never freed or moved: an entry's address is stable for the process's life
 *   (and across a restart: everything here is upper-half memory, saved in the image).
 * - chunk[i] is stored before `limit` covers it, both with release order; readers load
 *   `limit` with acquire.
 * - Every change of refs that can reach zero, every new entry and every radix change happens
 *   under wrap_vh_lock; lock-free increments only on entries the caller holds a reference to.
 * - The radix table maps a lower handle to (index + 1) of the live entry bound to it, or 0.
 *   MPI_File handles are pointers: files are found by scanning (there are few).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wrap.h"

struct wrap_vh_table wrap_vh_tab[WRAP_VH_NKINDS];
struct wrap_vh_obj wrap_vh_first[WRAP_VH_NKINDS][WRAP_VH_CHUNK];
struct wrap_vh_req wrap_vh_first_req[2][WRAP_VH_CHUNK];

static pthread_mutex_t vh_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static uint64_t vh_serial;

static const uint32_t bases[WRAP_VH_NKINDS] = {
    [WRAP_VH_COMM] = WRAP_VH_BASE_COMM,
    [WRAP_VH_GROUP] = WRAP_VH_BASE_GROUP,
    [WRAP_VH_DATATYPE] = WRAP_VH_BASE_DATATYPE,
    [WRAP_VH_OP] = WRAP_VH_BASE_OP,
    [WRAP_VH_ERRHANDLER] = WRAP_VH_BASE_ERRHANDLER,
    [WRAP_VH_INFO] = WRAP_VH_BASE_INFO,
    [WRAP_VH_WIN] = WRAP_VH_BASE_WIN,
    [WRAP_VH_KEYVAL] = WRAP_VH_BASE_KEYVAL,
    [WRAP_VH_FILE] = WRAP_VH_BASE_FILE,
    [WRAP_VH_REQUEST] = WRAP_VH_BASE_REQUEST,
    [WRAP_VH_MESSAGE] = WRAP_VH_BASE_MESSAGE,
};

static const struct wrap_vh_ops *const ops_tab[WRAP_VH_NKINDS] = {
    [WRAP_VH_COMM] = &wrap_vh_comm_ops,
    [WRAP_VH_GROUP] = &wrap_vh_group_ops,
    [WRAP_VH_DATATYPE] = &wrap_vh_datatype_ops,
    [WRAP_VH_OP] = &wrap_vh_op_ops,
    [WRAP_VH_ERRHANDLER] = &wrap_vh_errhandler_ops,
    [WRAP_VH_INFO] = &wrap_vh_info_ops,
    [WRAP_VH_WIN] = &wrap_vh_win_ops,
    [WRAP_VH_KEYVAL] = &wrap_vh_keyval_ops,
    [WRAP_VH_FILE] = &wrap_vh_file_ops,
    [WRAP_VH_REQUEST] = &wrap_vh_request_ops,
    [WRAP_VH_MESSAGE] = &wrap_vh_message_ops,
};

uint64_t wrap_vh_next_serial(void) { return __atomic_add_fetch(&vh_serial, 1, __ATOMIC_RELAXED); }

const struct wrap_vh_ops *wrap_vh_ops_of(int kind) { return ops_tab[kind]; }

void wrap_vh_lock(void) { pthread_mutex_lock(&vh_lock); }

void wrap_vh_unlock(void) { pthread_mutex_unlock(&vh_lock); }

void wrap_vh_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("splitckpt: virtual handles: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* ---- indices ------------------------------------------------------------------------------ */

struct free_list {
	uint32_t *v;
	size_t n, cap;
};
static struct free_list freel[WRAP_VH_NKINDS];

uint32_t wrap_vh_alloc_index(int kind)
{
	struct wrap_vh_table *t = &wrap_vh_tab[kind];
	if (freel[kind].n)
		return freel[kind].v[--freel[kind].n];
	if (t->fresh == WRAP_VH_SPAN) {
		wrap_vh_warn("more than %u live handles of one kind", WRAP_VH_SPAN);
		return ~0u;
	}
	if (t->fresh == t->limit) {
		char *c = t->fresh ? calloc(WRAP_VH_CHUNK, WRAP_VH_ESZ(kind))
				   : (char *)wrap_vh_at(kind, 0); /* the static first chunk */
		if (!c) {
			wrap_vh_warn("out of memory");
			return ~0u;
		}
		__atomic_store_n(&t->chunk[t->fresh >> WRAP_VH_CHUNK_SHIFT], c, __ATOMIC_RELEASE);
		__atomic_store_n(&t->limit, t->limit + WRAP_VH_CHUNK, __ATOMIC_RELEASE);
	}
	return t->fresh++;
}

void wrap_vh_free_index(int kind, uint32_t u)
{
	struct free_list *f = &freel[kind];
	if (f->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 256;
		uint32_t *v = realloc(f->v, cap * sizeof(*v));
		if (!v)
			return; /* the index is lost, nothing else */
		f->v = v;
		f->cap = cap;
	}
	f->v[f->n++] = u;
}

/* ---- radix table: lower handle -> index + 1 ----------------------------------------------- */

#define RM_L2_BITS 12
#define RM_L1 (1u << (27 - RM_L2_BITS))
#define RM_L2 (1u << RM_L2_BITS)
static uint32_t **rmap[WRAP_VH_NKINDS];

static inline uint32_t rm_key(int64_t real)
{
	uint32_t h = (uint32_t)real;
	return (((h >> 30) & 1u) << 26) | (h & 0x03FFFFFFu);
}

static uint32_t rmap_get(int kind, int64_t real)
{
	uint32_t **l1 = __atomic_load_n(&rmap[kind], __ATOMIC_ACQUIRE);
	if (!l1)
		return 0;
	uint32_t k = rm_key(real);
	uint32_t *l2 = __atomic_load_n(&l1[k >> RM_L2_BITS], __ATOMIC_ACQUIRE);
	return l2 ? __atomic_load_n(&l2[k & (RM_L2 - 1)], __ATOMIC_ACQUIRE) : 0;
}

static void rmap_set(int kind, int64_t real, uint32_t v)
{
	if (kind == WRAP_VH_FILE || kind == WRAP_VH_REQUEST || kind == WRAP_VH_MESSAGE ||
	    !((uint32_t)real & 0x80000000u))
		return;
	uint32_t **l1 = rmap[kind];
	if (!l1) {
		if (!v || !(l1 = calloc(RM_L1, sizeof(*l1))))
			return;
		__atomic_store_n(&rmap[kind], l1, __ATOMIC_RELEASE);
	}
	uint32_t k = rm_key(real);
	uint32_t *l2 = l1[k >> RM_L2_BITS];
	if (!l2) {
		if (!v || !(l2 = calloc(RM_L2, sizeof(*l2))))
			return;
		__atomic_store_n(&l1[k >> RM_L2_BITS], l2, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&l2[k & (RM_L2 - 1)], v, __ATOMIC_RELEASE);
}

void wrap_vh_rmap_clear_all(void)
{
	for (int k = 0; k < WRAP_VH_NKINDS; k++) {
		if (!rmap[k])
			continue;
		for (uint32_t i = 0; i < RM_L1; i++)
			if (rmap[k][i])
				memset(rmap[k][i], 0, RM_L2 * sizeof(uint32_t));
	}
}

/* ---- entries ------------------------------------------------------------------------------ */

struct wrap_vh_obj *wrap_vh_obj_of(int kind, int64_t vh)
{
	uint32_t u = (uint32_t)vh - bases[kind];
	if (u >= wrap_vh_limit(kind))
		return NULL;
	struct wrap_vh_obj *e = wrap_vh_at(kind, u);
	return e->live ? e : NULL;
}

int wrap_vh_is_predefined(int kind, int64_t real)
{
	uint32_t h = (uint32_t)real;
	if (kind == WRAP_VH_FILE)
		return real == 0;
	if (!(h & 0x80000000u))
		return 1; /* builtin, null, invalid */
	/* MPI_FLOAT_INT .. MPI_LONG_DOUBLE_INT: MPICH's first five DIRECT datatypes */
	return kind == WRAP_VH_DATATYPE && (h & 0xFC000000u) == 0x8C000000u &&
	       (h & 0x03FFFFFFu) < 5;
}

struct wrap_vh_obj *wrap_vh_new(int kind, int64_t real)
{
	uint32_t u = wrap_vh_alloc_index(kind);
	if (u == ~0u)
		return NULL;
	struct wrap_vh_obj *e = wrap_vh_at(kind, u);
	memset(e, 0, WRAP_VH_ESZ(kind));
	e->real = real;
	e->vidx = u;
	e->kind = (uint8_t)kind;
	e->refs = 1;
	e->app_refs = 1;
	e->serial = wrap_vh_next_serial();
	__atomic_store_n(&e->live, 1, __ATOMIC_RELEASE);
	rmap_set(kind, real, u + 1);
	return e;
}

/* The live entry bound to lower handle `real`, or NULL. */
static struct wrap_vh_obj *find_real(int kind, int64_t real)
{
	if (kind == WRAP_VH_FILE) {
		uint32_t lim = wrap_vh_limit(kind);
		for (uint32_t u = 0; u < lim; u++) {
			struct wrap_vh_obj *e = wrap_vh_at(kind, u);
			if (e->live && e->real == real)
				return e;
		}
		return NULL;
	}
	uint32_t v = rmap_get(kind, real);
	if (!v)
		return NULL;
	struct wrap_vh_obj *e = wrap_vh_at(kind, v - 1);
	return e->live && e->real == real ? e : NULL;
}

/* found: one more reference (app: of the application); else a new entry, described */
static int64_t get(int kind, int64_t real, int app)
{
	if (wrap_vh_is_predefined(kind, real))
		return real;
	wrap_vh_lock();
	struct wrap_vh_obj *e = find_real(kind, real);
	if (e) {
		e->refs++;
		e->app_refs += app;
	} else if ((e = wrap_vh_new(kind, real)) != NULL) {
		e->app_refs = app;
		const struct wrap_vh_ops *ops = ops_tab[kind];
		if (ops->describe && ops->describe(e) != 0)
			e->flags |= WRAP_VH_F_NOREBUILD;
	}
	wrap_vh_unlock();
	return e ? wrap_vh_handle_of(e) : real;
}

int64_t wrap_vh_from_lower_slow(int kind, int64_t real) { return get(kind, real, 1); }

int64_t wrap_vh_from_lower_deferred(int kind, int64_t real)
{
	if (wrap_vh_is_predefined(kind, real))
		return real;
	wrap_vh_lock();
	struct wrap_vh_obj *e = find_real(kind, real);
	if (e) {
		e->refs++;
		e->app_refs++;
	} else if ((e = wrap_vh_new(kind, real)) != NULL) {
		e->flags |= WRAP_VH_F_LATER;
		wrap_vh_attrs_take_pending(e); /* what its copy callbacks made, now */
	}
	wrap_vh_unlock();
	return e ? wrap_vh_handle_of(e) : real;
}

void wrap_vh_describe_late(void)
{
	for (int kind = 1; kind < WRAP_VH_NKINDS; kind++) {
		const struct wrap_vh_ops *ops = ops_tab[kind];
		size_t n = 0;
		struct wrap_vh_obj **v = wrap_vh_list(kind, &n);
		for (size_t i = 0; v && i < n; i++) {
			if (!(v[i]->flags & WRAP_VH_F_LATER))
				continue;
			v[i]->flags &= (uint16_t)~WRAP_VH_F_LATER;
			if (ops->describe && ops->describe(v[i]) != 0)
				v[i]->flags |= WRAP_VH_F_NOREBUILD;
		}
		free(v);
	}
}

int64_t wrap_vh_intern(int kind, int64_t real) { return get(kind, real, 0); }

int64_t wrap_vh_lookup_slow(int kind, int64_t real)
{
	if (wrap_vh_is_predefined(kind, real))
		return real;
	struct wrap_vh_obj *e = find_real(kind, real);
	if (e)
		return wrap_vh_handle_of(e);
	/* Not one of ours (an object MPI made itself): give it a handle all the same - unless
	 * another thread holds the lock, maybe waiting for the MPI lock this callback runs
	 * under: then the application sees the lower handle rather than a deadlock. */
	if (pthread_mutex_trylock(&vh_lock) != 0)
		return real;
	int64_t v = get(kind, real, 1);
	wrap_vh_unlock();
	return v;
}

static void destroy(struct wrap_vh_obj *e)
{
	const struct wrap_vh_ops *ops = ops_tab[e->kind];
	if (ops->destroy)
		ops->destroy(e);
	if (e->attrs)
		wrap_vh_attrs_clear(e);
	if (find_real(e->kind, e->real) == e)
		rmap_set(e->kind, e->real, 0);
	e->desc = NULL;
	__atomic_store_n(&e->real, ops->null_handle, __ATOMIC_RELAXED);
	__atomic_store_n(&e->live, 0, __ATOMIC_RELEASE);
	wrap_vh_free_index(e->kind, e->vidx);
}

void wrap_vh_put(struct wrap_vh_obj *e)
{
	if (__atomic_sub_fetch(&e->refs, 1, __ATOMIC_ACQ_REL) == 0)
		destroy(e);
}

void wrap_vh_release(int kind, uint32_t u)
{
	wrap_vh_lock();
	if (u < wrap_vh_limit(kind)) {
		struct wrap_vh_obj *e = wrap_vh_at(kind, u);
		if (e->live) {
			if (e->app_refs)
				e->app_refs--;
			wrap_vh_put(e);
		}
	}
	wrap_vh_unlock();
}

void wrap_vh_ref(int kind, int64_t vh)
{
	struct wrap_vh_obj *e = wrap_vh_obj_of(kind, vh);
	if (e)
		__atomic_add_fetch(&e->refs, 1, __ATOMIC_RELAXED);
}

void wrap_vh_unref(int kind, int64_t vh)
{
	if ((uint32_t)vh - bases[kind] >= wrap_vh_limit(kind))
		return;
	wrap_vh_lock();
	struct wrap_vh_obj *e = wrap_vh_obj_of(kind, vh);
	if (e)
		wrap_vh_put(e);
	wrap_vh_unlock();
}

void wrap_vh_bind(struct wrap_vh_obj *e, int64_t real)
{
	if (!(e->flags & WRAP_VH_F_PREDEF) && find_real(e->kind, e->real) == e)
		rmap_set(e->kind, e->real, 0);
	__atomic_store_n(&e->real, real, __ATOMIC_RELEASE);
	if (!(e->flags & WRAP_VH_F_PREDEF))
		rmap_set(e->kind, real, e->vidx + 1);
}

static int by_serial(const void *a, const void *b)
{
	const struct wrap_vh_obj *x = *(struct wrap_vh_obj *const *)a;
	const struct wrap_vh_obj *y = *(struct wrap_vh_obj *const *)b;
	return x->serial < y->serial ? -1 : x->serial > y->serial;
}

struct wrap_vh_obj **wrap_vh_list(int kind, size_t *n)
{
	uint32_t lim = wrap_vh_limit(kind);
	struct wrap_vh_obj **v = malloc((lim + 1) * sizeof(*v));
	*n = 0;
	if (!v)
		return NULL;
	for (uint32_t u = 0; u < lim; u++) {
		struct wrap_vh_obj *e = wrap_vh_at(kind, u);
		if (e->live)
			v[(*n)++] = e;
	}
	qsort(v, *n, sizeof(*v), by_serial);
	return v;
}

/* ---- predefined objects that carry state (attributes, error handler) ---------------------- */

static struct wrap_vh_obj **predef;
static size_t npredef, cappredef;

struct wrap_vh_obj *wrap_vh_predef(int kind, int64_t h, int create)
{
	for (size_t i = 0; i < npredef; i++)
		if (predef[i]->kind == kind && predef[i]->real == h)
			return predef[i];
	if (!create)
		return NULL;
	if (npredef == cappredef) {
		size_t cap = cappredef ? 2 * cappredef : 8;
		struct wrap_vh_obj **v = realloc(predef, cap * sizeof(*v));
		if (!v)
			return NULL;
		predef = v;
		cappredef = cap;
	}
	struct wrap_vh_obj *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->real = h;
	e->kind = (uint8_t)kind;
	e->live = 1;
	e->flags = WRAP_VH_F_PREDEF;
	e->refs = 1;
	predef[npredef++] = e;
	return e;
}

struct wrap_vh_obj *wrap_vh_predef_at(size_t i) { return i < npredef ? predef[i] : NULL; }

/* ---- arrays of int handles ---------------------------------------------------------------- */

static int *array_buf(long n, int *buf)
{
	if (n <= WRAP_VH_STACK)
		return buf;
	int *l = malloc((size_t)n * sizeof(int));
	if (!l)
		wrap_vh_warn("out of memory for an array of %ld handles", n);
	return l;
}

void wrap_vh_array_free(const void *l) { free((void *)l); }

int *wrap_vh_iarray_to_lower(int kind, const int *a, long n, int *buf)
{
	uint32_t base = bases[kind], lim = wrap_vh_limit(kind);
	long i;
	if (!a || n <= 0)
		return (int *)a;
	for (i = 0; i < n; i++)
		if ((uint32_t)a[i] - base < lim)
			break;
	if (i == n)
		return (int *)a; /* nothing virtual: pass it down as it is */
	int *l = array_buf(n, buf);
	if (!l)
		return (int *)a;
	for (i = 0; i < n; i++) {
		uint32_t u = (uint32_t)a[i] - base;
		l[i] = u < lim ? (int)wrap_vh_at(kind, u)->real : a[i];
	}
	return l;
}

void wrap_vh_iarray_from_lower(int kind, int *a, long n)
{
	if (!a)
		return;
	for (long i = 0; i < n; i++)
		if ((uint32_t)a[i] & 0x80000000u)
			a[i] = wrap_vh_from_int(kind, a[i]);
}

int *wrap_vh_iarray_inout_to_lower(int kind, int *a, long n, int *buf)
{
	return wrap_vh_iarray_to_lower(kind, a, n, buf);
}

void wrap_vh_iarray_inout_from_lower(int kind, int *a, int *l, long n, int *buf)
{
	uint32_t base = bases[kind], lim = wrap_vh_limit(kind);
	if (l == a || !a)
		return; /* nothing was virtual: the lower results are already in a */
	for (long i = 0; i < n; i++) {
		uint32_t u = (uint32_t)a[i] - base;
		if (u < lim) {
			struct wrap_vh_obj *e = wrap_vh_at(kind, u);
			if (e->live && e->real == (int64_t)l[i])
				continue; /* still the same object (persistent, not completed) */
			if (e->live)
				wrap_vh_release_int(kind, u);
		}
		a[i] = ((uint32_t)l[i] & 0x80000000u) ? wrap_vh_from_int(kind, l[i]) : l[i];
	}
	if (l != buf)
		free(l);
}

/* ---- lengths only the lower MPI knows ----------------------------------------------------- */

long wrap_vh_w_count(unsigned idx, int recv, int lcomm, const void *sendbuf)
{
	int r, n = 0, inter = 0, topo = MPI_UNDEFINED;
	if (!recv && sendbuf == MPI_IN_PLACE)
		return 0;
	if (strstr(wrap_fn_name(idx), "eighbor")) {
		WRAP_DOWN(r, MPI_Topo_test, lcomm, &topo);
		if (r != MPI_SUCCESS)
			return -1;
		if (topo == MPI_DIST_GRAPH) {
			int in = 0, out = 0, w = 0;
			WRAP_DOWN(r, MPI_Dist_graph_neighbors_count, lcomm, &in, &out, &w);
			n = recv ? in : out;
		} else if (topo == MPI_CART) {
			WRAP_DOWN(r, MPI_Cartdim_get, lcomm, &n);
			n *= 2;
		} else if (topo == MPI_GRAPH) {
			int me = 0;
			WRAP_DOWN(r, MPI_Comm_rank, lcomm, &me);
			WRAP_DOWN(r, MPI_Graph_neighbors_count, lcomm, me, &n);
		}
		return r == MPI_SUCCESS ? n : -1;
	}
	WRAP_DOWN(r, MPI_Comm_test_inter, lcomm, &inter);
	if (r == MPI_SUCCESS) {
		if (inter)
			WRAP_DOWN(r, MPI_Comm_remote_size, lcomm, &n);
		else
			WRAP_DOWN(r, MPI_Comm_size, lcomm, &n);
	}
	return r == MPI_SUCCESS ? n : -1;
}
