/*
 * wrap_vh.h - virtual MPI handles (DESIGN 2.5): the application holds only these; every one
 * it got from MPI for an object it created maps to the lower MPICH's handle through one table
 * per kind, and keeps a description from which the object can be made again in a fresh MPI
 * (wrap_vh_rebuild_all, after a restart).
 *
 * Encoding. A virtual handle is an int that is itself a well-formed MPICH handle, so that code
 * compiled into the application (mpi.h's MPI_Comm_c2f & co. are casts; Fortran passes the
 * int) and MPICH-aware code see the usual kind bits:
 *     bits 31..30  HANDLE_KIND_INDIRECT (3)
 *     bits 29..26  MPICH's object kind (comm 1, group 2, datatype 3, file 4, errhandler 5, op 6,
 *                  info 7, win 8, keyval 9, request 0xb)
 *     bit  25      1: a block number >= 8192, which MPICH never hands out (HANDLE_NUM_BLOCKS),
 *                  so a virtual handle that reached the lower MPICH untranslated is refused
 *                  as invalid instead of naming another object
 *     bit  24      requests 0, messages 1 (MPICH's messages are requests too)
 *     bits 23..0   the index in this kind's table
 * Predefined handles (MPI_COMM_WORLD, MPI_INT, MPI_SUM, MPI_GROUP_EMPTY, the null handles,
 * MPI_TAG_UB, ...: MPICH's BUILTIN and INVALID kinds, and its five DIRECT pair datatypes) are
 * the same numbers in every MPICH process and map to themselves. MPI_File is a pointer in
 * MPICH: a virtual file is the pointer (MPI_File)(uintptr_t)(0xD2000000 + index), and its
 * Fortran integer is that number.
 *
 * Tables. Per kind, an array of entries in chunks of 1024 (chunk pointers published before
 * `limit`, the number of entries backed by chunks; the first chunk static): application ->
 * lower is one subtraction and one compare with a constant (a predefined handle: no memory
 * read at all), then one load for the first 1024 handles of a kind, or a compare with
 * `limit` and two loads beyond, without a lock (wrap_K_to_lower). lower -> virtual
 * (outputs, callbacks) goes through a radix table indexed by MPICH's own handle bits (27 bits:
 * direct/indirect and index), also read without a lock. Creating, freeing and referencing
 * take one process-wide recursive lock (wrap_vh_lock), except requests and messages, which
 * are made and freed on the communication fast path from a per-thread cache of free entries.
 *
 * Lifetime mirrors MPICH's reference counts: an entry lives while the application holds it
 * (app_refs: every output of a handle it already holds - MPI_Comm_group returns the same
 * group again - adds one, every MPI_x_free drops one) or while another object's description
 * needs it (a derived datatype its old types, a communicator its error handler, an attribute
 * its keyval, a persistent request its datatype and communicator). `refs` counts both.
 * A freed virtual handle maps to the kind's null handle, so that using it again fails in
 * MPICH with an error, as a freed handle does natively.
 *
 * Concurrency (MPI_THREAD_MULTIPLE): lookups never lock; an entry's `real` is written before
 * its virtual handle is returned, `limit` after the chunk pointer (release/acquire). Rebinding
 * real handles (rebuild) happens only while no application thread is inside MPI.
 */
#ifndef SPLITCKPT_WRAP_VH_H
#define SPLITCKPT_WRAP_VH_H

#include <stddef.h>
#include <stdint.h>

#ifndef WRAP_HIDDEN
#define WRAP_HIDDEN __attribute__((visibility("hidden")))
#endif

enum wrap_vh_kind {
	WRAP_VH_NONE = 0,
	WRAP_VH_COMM,
	WRAP_VH_GROUP,
	WRAP_VH_DATATYPE,
	WRAP_VH_OP,
	WRAP_VH_ERRHANDLER,
	WRAP_VH_INFO,
	WRAP_VH_WIN,
	WRAP_VH_KEYVAL,
	WRAP_VH_FILE,
	WRAP_VH_REQUEST,
	WRAP_VH_MESSAGE,
	WRAP_VH_NKINDS
};

#define WRAP_VH_BASE_OF(mpich_kind) (0xC2000000u | ((uint32_t)(mpich_kind) << 26))
#define WRAP_VH_BASE_COMM WRAP_VH_BASE_OF(0x1)
#define WRAP_VH_BASE_GROUP WRAP_VH_BASE_OF(0x2)
#define WRAP_VH_BASE_DATATYPE WRAP_VH_BASE_OF(0x3)
#define WRAP_VH_BASE_FILE WRAP_VH_BASE_OF(0x4)
#define WRAP_VH_BASE_ERRHANDLER WRAP_VH_BASE_OF(0x5)
#define WRAP_VH_BASE_OP WRAP_VH_BASE_OF(0x6)
#define WRAP_VH_BASE_INFO WRAP_VH_BASE_OF(0x7)
#define WRAP_VH_BASE_WIN WRAP_VH_BASE_OF(0x8)
#define WRAP_VH_BASE_KEYVAL WRAP_VH_BASE_OF(0x9)
#define WRAP_VH_BASE_REQUEST WRAP_VH_BASE_OF(0xb)
#define WRAP_VH_BASE_MESSAGE (WRAP_VH_BASE_OF(0xb) + (1u << 24))

#define WRAP_VH_SPAN (1u << 24) /* entries per kind */
#define WRAP_VH_CHUNK_SHIFT 10
#define WRAP_VH_CHUNK (1u << WRAP_VH_CHUNK_SHIFT)
#define WRAP_VH_MAXCHUNKS (WRAP_VH_SPAN >> WRAP_VH_CHUNK_SHIFT)
#define WRAP_VH_STACK 32 /* handle arrays up to this long are translated on the stack */

/* entry flags */
#define WRAP_VH_F_NOREBUILD 0x0001 /* no description: cannot be made again (message says why) */
#define WRAP_VH_F_COMMITTED 0x0002 /* datatype: MPI_Type_commit was called */
#define WRAP_VH_F_HEAPARGS 0x0004  /* request: argument copy is malloc'd (args[0]) */
#define WRAP_VH_F_REFS 0x0008	   /* request: holds references on its argument handles */
#define WRAP_VH_F_REBUILT 0x0010   /* set during wrap_vh_rebuild_all */
#define WRAP_VH_F_PREDEF 0x0020	   /* record of a predefined object (not in a table) */
#define WRAP_VH_F_LATER 0x0040	   /* not described yet (wrap_vh_from_lower_deferred) */
#define WRAP_VH_F_FENCED 0x0080	   /* window: a fence epoch is open (wrap_seq.c) */

struct wrap_vh_attr; /* wrap_vh_keyval.c */

/* Collective bookkeeping of a communicator (wrap_door.h, wrap_seq.c, docs/mpi-ckpt.md): seq =
 * collectives this process entered on it; gid = its name on every member (0: not tracked,
 * e.g. size 1). Only communicator entries use it; wrap_vh_new zeroes it. */
struct wrap_seq {
	uint64_t seq;
	uint64_t gid;
};

/* One virtual handle. */
struct wrap_vh_obj {
	int64_t real;		    /* the lower MPI's handle (MPI_File: the pointer) */
	uint32_t vidx;		    /* index in the kind's table */
	uint8_t kind;		    /* enum wrap_vh_kind */
	uint8_t live;		    /* 1 while the handle is valid */
	uint16_t flags;		    /* WRAP_VH_F_* */
	uint32_t refs;		    /* app_refs + references from descriptions */
	uint32_t app_refs;	    /* references the application holds */
	uint64_t serial;	    /* creation order, across kinds */
	void *desc;		    /* the kind's description (wrap_vh_<kind>.c) */
	struct wrap_vh_attr *attrs; /* comm, datatype, win: attributes set on it */
	uint64_t aux;		    /* kind's use (errhandler/op: pool slot; keyval: context) */
	struct wrap_seq cs;	    /* communicators: collective seq and gid */
};

/* A request also keeps where it came from and, when it can be made again, its arguments. */
struct wrap_vh_req {
	struct wrap_vh_obj o; /* o.desc: const struct wrap_vh_origin * */
	uint64_t args[8];     /* the argument copy when it fits, else args[0] points to it */
};

struct wrap_vh_table {
	uint32_t limit; /* indices below it are backed by a chunk (read with acquire) */
	uint32_t fresh; /* next never-used index */
	char *chunk[WRAP_VH_MAXCHUNKS];
};

extern struct wrap_vh_table wrap_vh_tab[WRAP_VH_NKINDS] WRAP_HIDDEN;

/* The first chunk of every kind is static (chunk[0] points to it): the first 1024 live
 * handles of a kind are found without reading the table (one load at a constant address). */
extern struct wrap_vh_obj wrap_vh_first[WRAP_VH_NKINDS][WRAP_VH_CHUNK] WRAP_HIDDEN;
extern struct wrap_vh_req wrap_vh_first_req[2][WRAP_VH_CHUNK] WRAP_HIDDEN;

#define WRAP_VH_ESZ(kind)                                                                          \
	((kind) == WRAP_VH_REQUEST || (kind) == WRAP_VH_MESSAGE ? sizeof(struct wrap_vh_req)       \
								: sizeof(struct wrap_vh_obj))

/* Entry of index u (u < limit, or u < WRAP_VH_CHUNK). */
static inline __attribute__((always_inline)) struct wrap_vh_obj *wrap_vh_at(int kind, uint32_t u)
{
	if (u < WRAP_VH_CHUNK)
		return kind == WRAP_VH_REQUEST || kind == WRAP_VH_MESSAGE
			   ? &wrap_vh_first_req[kind == WRAP_VH_MESSAGE][u].o
			   : &wrap_vh_first[kind][u];
	return (struct wrap_vh_obj *)(wrap_vh_tab[kind].chunk[u >> WRAP_VH_CHUNK_SHIFT] +
				      (size_t)(u & (WRAP_VH_CHUNK - 1)) * WRAP_VH_ESZ(kind));
}

static inline __attribute__((always_inline)) uint32_t wrap_vh_limit(int kind)
{
	return __atomic_load_n(&wrap_vh_tab[kind].limit, __ATOMIC_ACQUIRE);
}

/* Base of each kind's virtual range (the handle of index 0). */
static inline __attribute__((always_inline)) uint32_t wrap_vh_base(int kind)
{
	static const uint8_t mpich_kind[WRAP_VH_NKINDS] = {
	    [WRAP_VH_COMM] = 0x1,    [WRAP_VH_GROUP] = 0x2,	 [WRAP_VH_DATATYPE] = 0x3,
	    [WRAP_VH_FILE] = 0x4,    [WRAP_VH_ERRHANDLER] = 0x5, [WRAP_VH_OP] = 0x6,
	    [WRAP_VH_INFO] = 0x7,    [WRAP_VH_WIN] = 0x8,	 [WRAP_VH_KEYVAL] = 0x9,
	    [WRAP_VH_REQUEST] = 0xb, [WRAP_VH_MESSAGE] = 0xb,
	};
	return WRAP_VH_BASE_OF(mpich_kind[kind]) + (kind == WRAP_VH_MESSAGE ? (1u << 24) : 0);
}
/* The virtual handle of an entry (as int64: files convert it to a pointer). */
static inline int64_t wrap_vh_handle_of(const struct wrap_vh_obj *e)
{
	return (int64_t)(int32_t)(wrap_vh_base(e->kind) + e->vidx);
}
/* The live entry a virtual handle names, or NULL (predefined, null, freed, not ours). */
struct wrap_vh_obj *wrap_vh_obj_of(int kind, int64_t vh) WRAP_HIDDEN;

/* A request's origin: the function that made it and, for those that can be made again, the
 * size of the argument copy, its handles, and the replay (the lower call again, with the
 * handles translated anew; *real = the new lower request). Written by gen_wrappers.py. */
struct wrap_vh_argref {
	size_t off; /* offset of an int handle in the argument copy */
	int kind;
};
struct wrap_vh_origin {
	unsigned idx; /* enum wrap_fn_index */
	int persistent;
	size_t size;
	int (*replay)(const void *args, int *real);
	const struct wrap_vh_argref *refs;
	int nrefs;
};

/*
 * The per-kind operations (one const table in each wrap_vh_<kind>.c, like CRIU's
 * per-resource dump ops). All run with wrap_vh_lock held, on an application thread, and may
 * call the lower MPI (WRAP_DOWN), never our own wrappers.
 */
struct wrap_vh_ops {
	const char *name; /* "communicator", for messages */
	int kind;
	int64_t null_handle; /* what a dead virtual handle maps to */
	/* A new object came out of the lower MPI (e->real): build e->desc by asking MPI. Returns
	 * 0, or -1 with WRAP_VH_F_NOREBUILD set (the handle works, a rebuild will refuse it). */
	int (*describe)(struct wrap_vh_obj *e);
	/* Before a checkpoint: note what MPI cannot tell after the fact (names, info contents). */
	void (*snapshot)(struct wrap_vh_obj *e);
	/* Make the object again in the current lower MPI: *real = its new handle. Returns
	 * MPI_SUCCESS or an MPI error (the driver reports it). NULL: not rebuilt. */
	int (*rebuild)(struct wrap_vh_obj *e, int64_t *real);
	/* After every kind is rebuilt: what needs other objects (error handler, name). */
	void (*finish)(struct wrap_vh_obj *e);
	/* The entry dies: free e->desc, drop the references it holds. */
	void (*destroy)(struct wrap_vh_obj *e);
	/* Rebuild order across processes (collective constructors): <0, 0, >0; NULL: creation
	 * order. */
	int (*order)(const struct wrap_vh_obj *a, const struct wrap_vh_obj *b);
	/* 1: an object only descriptions still need (the application freed it) is made again
	 * (local objects: its dependents need it) and its lower handle freed once they exist;
	 * 0: it is not made again (collective objects: the other processes may not have it). */
	int rebuild_unheld;
	/* Free e's lower object (the unheld objects above, once their dependents exist). */
	void (*free_lower)(struct wrap_vh_obj *e);
};

extern const struct wrap_vh_ops wrap_vh_comm_ops, wrap_vh_group_ops, wrap_vh_datatype_ops,
    wrap_vh_op_ops, wrap_vh_errhandler_ops, wrap_vh_info_ops, wrap_vh_win_ops, wrap_vh_keyval_ops,
    wrap_vh_file_ops, wrap_vh_request_ops, wrap_vh_message_ops WRAP_HIDDEN;
const struct wrap_vh_ops *wrap_vh_ops_of(int kind) WRAP_HIDDEN;

/* --- wrap_vh_table.c --------------------------------------------------------------------- */

/* The one lock for creating, freeing and referencing entries (recursive). */
void wrap_vh_lock(void) WRAP_HIDDEN;
void wrap_vh_unlock(void) WRAP_HIDDEN;

/* New entry for lower handle `real` with one application reference, mapped in the radix
 * table; no description yet. NULL when out of memory or virtual indices (message printed).
 * Caller holds the lock. */
struct wrap_vh_obj *wrap_vh_new(int kind, int64_t real) WRAP_HIDDEN;
/* lower -> virtual for an output: the handle the application already has for `real` (one
 * more application reference), else a new entry, described. Takes the lock. */
int64_t wrap_vh_from_lower_slow(int kind, int64_t real) WRAP_HIDDEN;
/* The same for an object MPI cannot describe yet (the communicator of a pending
 * MPI_Comm_idup): a new entry, described by wrap_vh_describe_late. */
int64_t wrap_vh_from_lower_deferred(int kind, int64_t real) WRAP_HIDDEN;
/* Describe the entries whose description was put off (lock held). */
void wrap_vh_describe_late(void) WRAP_HIDDEN;
/* lower -> virtual inside a callback (no new reference): lock-free radix lookup; an unknown
 * object gets an entry as with wrap_vh_from_lower_slow. */
int64_t wrap_vh_lookup_slow(int kind, int64_t real) WRAP_HIDDEN;
/* The application gave up one reference (MPI_x_free and friends). Takes the lock. */
void wrap_vh_release(int kind, uint32_t vidx) WRAP_HIDDEN;
/* References held by descriptions: by virtual handle (predefined/null: nothing). */
void wrap_vh_ref(int kind, int64_t vh) WRAP_HIDDEN;
void wrap_vh_unref(int kind, int64_t vh) WRAP_HIDDEN;
/* Drop one reference of e (lock held); destroys it at zero. */
void wrap_vh_put(struct wrap_vh_obj *e) WRAP_HIDDEN;
/* Point entry e at a new lower handle (rebuild), and the radix table at e. */
void wrap_vh_bind(struct wrap_vh_obj *e, int64_t real) WRAP_HIDDEN;
/* Forget every lower -> virtual mapping (the lower handles are gone or being replaced). */
void wrap_vh_rmap_clear_all(void) WRAP_HIDDEN;
/* Live entries of a kind, in creation order: array (malloc'd, caller frees) and count. */
struct wrap_vh_obj **wrap_vh_list(int kind, size_t *n) WRAP_HIDDEN;
/* The predefined object `h` of a kind, as a pseudo entry that can carry attributes and an
 * error handler (MPI_COMM_WORLD, MPI_COMM_SELF, predefined datatypes); created on first use
 * when `create`. Lock held. */
struct wrap_vh_obj *wrap_vh_predef(int kind, int64_t h, int create) WRAP_HIDDEN;
/* Every predefined pseudo entry of a kind (for wrap_vh_rebuild_all). */
struct wrap_vh_obj *wrap_vh_predef_at(size_t i) WRAP_HIDDEN;
/* 1 if the lower handle is a predefined one of this kind (maps to itself). */
int wrap_vh_is_predefined(int kind, int64_t real) WRAP_HIDDEN;

/* A reference for a description: the handle of `real` (existing entry, or a new one that the
 * application does not hold, described). Takes the lock. */
int64_t wrap_vh_intern(int kind, int64_t real) WRAP_HIDDEN;
/* Index allocation (lock held): a free index with its chunk, or ~0u; give one back. */
uint32_t wrap_vh_alloc_index(int kind) WRAP_HIDDEN;
void wrap_vh_free_index(int kind, uint32_t u) WRAP_HIDDEN;
/* The next creation serial (atomic). */
uint64_t wrap_vh_next_serial(void) WRAP_HIDDEN;

/* Arrays of int handles (every kind but file). Return the array to pass down (a itself when
 * nothing in it is virtual, else buf or, above WRAP_VH_STACK elements, malloc'd memory). */
int *wrap_vh_iarray_to_lower(int kind, const int *a, long n, int *buf) WRAP_HIDDEN;
void wrap_vh_iarray_from_lower(int kind, int *a, long n) WRAP_HIDDEN;
int *wrap_vh_iarray_inout_to_lower(int kind, int *a, long n, int *buf) WRAP_HIDDEN;
void wrap_vh_iarray_inout_from_lower(int kind, int *a, int *l, long n, int *buf) WRAP_HIDDEN;
void wrap_vh_array_free(const void *l) WRAP_HIDDEN;
static inline void wrap_vh_array_done(const void *l, const void *buf, const void *a)
{
	if (l != buf && l != a)
		wrap_vh_array_free(l);
}
/* Length of the datatype array `recv` (0: sendtypes) of an alltoallw-family call on the lower
 * communicator lcomm: its size, its remote size, or its neighbour count; 0 for sendtypes
 * with MPI_IN_PLACE. */
long wrap_vh_w_count(unsigned idx, int recv, int lcomm, const void *sendbuf) WRAP_HIDDEN;

/* Report a problem of the handle layer ("splitckpt: virtual handles: ..."). */
void wrap_vh_warn(const char *fmt, ...) WRAP_HIDDEN __attribute__((format(printf, 1, 2)));

/* --- wrap_vh_request.c ------------------------------------------------------------------- */

/* A request came out of the lower MPI (builtin and null ones map to themselves). org says
 * which function made it; args is a copy of its arguments for the replayable ones. */
int wrap_vh_request_new(int real, const struct wrap_vh_origin *org, const void *args) WRAP_HIDDEN;
void wrap_vh_request_release(uint32_t vidx) WRAP_HIDDEN;
int wrap_vh_message_new(int real) WRAP_HIDDEN;
/* Arrays of requests or messages (kind), see wrap_vh_iarray_inout_*. */
int *wrap_vh_req_inout_to_lower(int kind, int *a, long n, int *buf) WRAP_HIDDEN;
void wrap_vh_req_inout_from_lower(int kind, int *a, int *l, long n, int *buf) WRAP_HIDDEN;
void wrap_vh_message_release(uint32_t vidx) WRAP_HIDDEN;

/* --- wrap_vh_keyval.c: attributes ------------------------------------------------------- */

/* An attribute set on a communicator, datatype or window (e->attrs). */
struct wrap_vh_attr {
	int keyval; /* virtual (holds a reference) or predefined */
	int type;   /* MPICH's attribute type: 0 pointer, else Fortran integer kinds */
	void *val;
	struct wrap_vh_attr *next;
};
void wrap_vh_attrs_clear(struct wrap_vh_obj *e) WRAP_HIDDEN;
/* Attributes the copy callbacks of a dup just made on this thread: attach to new object e. */
void wrap_vh_attrs_take_pending(struct wrap_vh_obj *e) WRAP_HIDDEN;
/* Set e's attributes on its (new) lower object. Returns the number that failed. */
int wrap_vh_attrs_apply(struct wrap_vh_obj *e) WRAP_HIDDEN;
/* Note, in a copy callback, the attribute copy MPI is making (kind: WRAP_VH_COMM/DATATYPE). */
void wrap_vh_attr_copied(int kind, int keyval, int type, void *val) WRAP_HIDDEN;

/* --- wrap_vh_comm.c ---------------------------------------------------------------------- */

/* The lower MPI_COMM_WORLD's group (cached until the lower half changes or a rebuild). */
int wrap_vh_world_group(void) WRAP_HIDDEN;
/* World ranks of the members of lower group g (malloc'd, *n of them); NULL on failure or
 * when a member is not in MPI_COMM_WORLD (dynamic processes). */
int *wrap_vh_world_ranks(int g, int *n) WRAP_HIDDEN;
/* Membership order key for collective rebuilds: `cls` separates object classes (comm, win,
 * file), `a`/`b` the member lists (b: remote group of an intercommunicator, or NULL).
 * Fills *key (malloc'd), *len, *seq (how many objects of that class and membership this
 * process made before: every member counts the same) and *hash. */
int wrap_vh_member_key(int cls, const int *a, int na, const int *b, int nb, int **key, int *len,
		       uint64_t *seq, uint32_t *hash) WRAP_HIDDEN;
int wrap_vh_key_cmp(const int *ka, int la, uint64_t sa, const int *kb, int lb,
		    uint64_t sb) WRAP_HIDDEN;
/* A lower intracommunicator over the given world ranks (this process among them), made with
 * MPI_Comm_create_group on MPI_COMM_WORLD (tag: any value all members pass). */
int wrap_vh_comm_of_ranks(const int *ranks, int n, int tag, int *comm) WRAP_HIDDEN;
/* gid of communicator entry e (wrap_seq.c calls it after a constructor): parent-based
 * (pgid != 0: hash of the parent's gid, the parent's seq at the creating call and, when
 * members != 0, the membership) or, pgid == 0, membership-based (the rebuild's key and count).
 * Size-1 communicators get gid 0 (never reported). */
void wrap_vh_comm_set_gid(struct wrap_vh_obj *e, uint64_t pgid, uint64_t pseq,
			  int members) WRAP_HIDDEN;
/* Members of communicator entry e (local + remote group), 0 when not described yet. */
int wrap_vh_comm_size(const struct wrap_vh_obj *e) WRAP_HIDDEN;
/* The virtual error handler an object's lower handle has now (a description reference), or
 * the predefined one. kind: WRAP_VH_COMM, WRAP_VH_WIN, WRAP_VH_FILE. */
int64_t wrap_vh_errhandler_of(int kind, int64_t real) WRAP_HIDDEN;
/* Set virtual error handler eh on lower object real of a kind (rebuild). */
int wrap_vh_errhandler_apply(int kind, int64_t real, int64_t eh) WRAP_HIDDEN;

/* --- wrap_op.c, wrap_errhandler.c, wrap_keyval.c: what a rebuild needs from them ---------- */

void wrap_vh_op_created(int op, int slot, int large, int commute) WRAP_HIDDEN;
void *wrap_op_tramp(int slot, int large) WRAP_HIDDEN;
void wrap_vh_errhandler_created(int eh, int slot, unsigned create_idx) WRAP_HIDDEN;
void *wrap_errhandler_tramp(int slot) WRAP_HIDDEN;
void wrap_vh_keyval_created(int keyval, void *ctx) WRAP_HIDDEN;
/* Create the lower keyval of context ctx again (its callbacks, proxies): *keyval. */
int wrap_keyval_recreate(void *ctx, int *keyval) WRAP_HIDDEN;
/* Free lower keyval `keyval` of context ctx (with the free function of its kind). */
void wrap_keyval_free_lower(void *ctx, int keyval) WRAP_HIDDEN;

/* World ranks of the members of virtual group vgroup, in group order (its description; lock
 * held), or NULL (predefined, freed, not described). */
const int *wrap_vh_group_ranks(int vgroup, int *n) WRAP_HIDDEN;

/* --- wrap_seq.c: constructors collective over a group ---------------------------------- */

/* The collective bookkeeping MPI_Comm_create_group (parent vcomm, tag), MPI_Comm_create_from_
 * group and MPI_Intercomm_create_from_groups (stringtag; g2: the remote group) count on: one
 * per (parent gid, tag, stringtag, members), gid derived from them, so every member counts
 * the same and non-members nothing. Size 1 or not described: the untracked one. Takes the
 * lock; called before the door. */
struct wrap_seq *wrap_seq_of_group(int vcomm, int tag, const char *stringtag, int g1,
				   int g2) WRAP_HIDDEN;
/* fn(s, arg) for each of them that is tracked; returns how many. */
int wrap_seq_each_group(void (*fn)(struct wrap_seq *s, void *arg), void *arg) WRAP_HIDDEN;

/* --- wrap_vh_win.c: RMA epochs across a checkpoint --------------------------------------- */

/* At a checkpoint (service thread, every rank, after the drain, no application thread in
 * MPI): complete every window's open fence epoch (MPI_Win_fence, in the rebuild order) and
 * passive-target epoch (MPI_Win_flush_all), then a barrier on the private communicator.
 * Returns 0, or -1 with err filled (rank, window, why) when this checkpoint must be refused
 * (a window of MPI_Win_allocate_shared, an open post/start epoch, an MPI error). */
int wrap_vh_win_checkpoint(int rank, char *err, size_t len) WRAP_HIDDEN;
/* Note the post/start epochs of a window after a call that returned r_: bits set, then
 * cleared (WRAP_VH_WIN_POST: exposure epoch open, WRAP_VH_WIN_START: access epoch open). */
#define WRAP_VH_WIN_POST 1
#define WRAP_VH_WIN_START 2
void wrap_vh_win_pscw(int r_, MPI_Win win, int set, int clear) WRAP_HIDDEN;
/* After a restart's rebuild and fences: open the passive-target epochs again. Returns the
 * number that failed (reported). */
int wrap_vh_win_relock(void) WRAP_HIDDEN;

/* --- wrap_vh_rebuild.c ------------------------------------------------------------------- */

/* Before a checkpoint (every application thread out of MPI): complete the descriptions. */
int wrap_vh_prepare_checkpoint(void) WRAP_HIDDEN;
/* After it: 0, or -1 with err filled (rank, object, why) when the application holds a
 * communicator or group a restart could not make again (processes outside MPI_COMM_WORLD). */
int wrap_vh_check_restartable(int rank, char *err, size_t len) WRAP_HIDDEN;
/* Make every live object again in the current lower MPI, in dependency and creation order
 * (collective constructors in an order every process agrees on), and bind the new lower
 * handles to the same virtual handles. Returns the number of objects that could not be
 * rebuilt (each reported), 0 when all were. Called after a restart, with no application
 * thread inside MPI; collective over MPI_COMM_WORLD's processes that hold common objects. */
int wrap_vh_rebuild_all(void) WRAP_HIDDEN;
/* Make entry e (and, first, what it needs) again, once per wrap_vh_rebuild_all; 0 or 1
 * (failed, reported). Lock held. */
int wrap_vh_rebuild_one(struct wrap_vh_obj *e) WRAP_HIDDEN;

#endif
