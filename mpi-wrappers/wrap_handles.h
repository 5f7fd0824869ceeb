/*
 * wrap_handles.h - translation of MPI handles between the application and the lower MPICH.
 *
 * Every handle that crosses the gate goes through one of these functions, one set per kind
 * (comm, group, datatype, op, request, errhandler, info, win, keyval, file, message, session);
 * the generated wrappers call them according to the handle notes of mpi_functions.def, and the
 * hand-written wrappers and callback trampolines call them too:
 *   wrap_K_to_lower(h)                    application handle -> lower handle (an input)
 *   wrap_K_from_lower(h)                  lower handle -> application handle (an output: one
 *                                         more reference the application holds)
 *   wrap_K_lookup_lower(h)                the same inside a callback (no new reference)
 *   wrap_K_inout_from_lower(old, h)       an in/out handle after the call (MPI_x_free, Wait,
 *                                         Type_commit): unchanged -> old; else old released
 *   wrap_K_array_to_lower(a, n, buf)      input array; returns the array to pass down
 *   wrap_K_array_from_lower(a, n)         output array, converted in place after the call
 *   wrap_K_array_inout_to_lower(a, n, buf)      in/out array (Waitall...): array to pass ...
 *   wrap_K_array_inout_from_lower(a, l, n, buf) ... and its results copied back into a
 * n is the element count (-1: unknown, nothing is translated); buf holds WRAP_VH_STACK
 * elements in the caller's frame, longer arrays are allocated (wrap_vh_array_done frees).
 *
 * Virtual handles (wrap_vh.h) for every kind except MPI_Session, which passes through (a
 * session cannot be made again in a fresh MPI by this version); MPI_T_* handles (pointers,
 * per process) and MPIX_Grequest_class (unsupported) are not translated either.
 */
#ifndef SPLITCKPT_WRAP_HANDLES_H
#define SPLITCKPT_WRAP_HANDLES_H

#include "wrap_vh.h"

#define WRAP_IDENTITY_HANDLES(K, T)                                                                \
	static inline T wrap_##K##_to_lower(T h) { return h; }                                     \
	static inline T wrap_##K##_from_lower(T h) { return h; }                                   \
	static inline T wrap_##K##_lookup_lower(T h) { return h; }                                 \
	static inline T wrap_##K##_inout_from_lower(T old, T h)                                    \
	{                                                                                          \
		(void)old;                                                                         \
		return h;                                                                          \
	}

/* lower -> virtual and release for an int kind (KIND is a constant: folds to one call). */
static inline int wrap_vh_from_int(int kind, int h)
{
	if (kind == WRAP_VH_REQUEST)
		return wrap_vh_request_new(h, NULL, NULL);
	if (kind == WRAP_VH_MESSAGE)
		return wrap_vh_message_new(h);
	return (int)wrap_vh_from_lower_slow(kind, (int64_t)h);
}

static inline void wrap_vh_release_int(int kind, uint32_t u)
{
	if (kind == WRAP_VH_REQUEST)
		wrap_vh_request_release(u);
	else if (kind == WRAP_VH_MESSAGE)
		wrap_vh_message_release(u);
	else
		wrap_vh_release(kind, u);
}

/* Int handles with a table (every kind but file and session). */
#define WRAP_VH_INT_HANDLES(K, T, KIND, BASE)                                                      \
	static inline __attribute__((always_inline)) T wrap_##K##_to_lower(T h)                    \
	{                                                                                          \
		uint32_t u = (uint32_t)h - (BASE);                                                 \
		if (__builtin_expect(u >= WRAP_VH_SPAN, 1))                                        \
			return h; /* predefined (or not a handle at all) */                        \
		if (__builtin_expect(u >= WRAP_VH_CHUNK, 0) && u >= wrap_vh_limit(KIND))           \
			return h; /* never handed out: MPICH refuses it */                         \
		return (T)wrap_vh_at(KIND, u)->real;                                               \
	}                                                                                          \
	static inline T wrap_##K##_from_lower(T h)                                                 \
	{                                                                                          \
		if (__builtin_expect(((uint32_t)h & 0x80000000u) == 0, 1))                         \
			return h; /* builtin, null, invalid */                                     \
		return (T)wrap_vh_from_int(KIND, (int)h);                                          \
	}                                                                                          \
	static inline T wrap_##K##_lookup_lower(T h)                                               \
	{                                                                                          \
		if (((uint32_t)h & 0x80000000u) == 0)                                              \
			return h;                                                                  \
		return (T)wrap_vh_lookup_slow(KIND, (int64_t)h);                                   \
	}                                                                                          \
	static inline T wrap_##K##_inout_from_lower(T old, T h)                                    \
	{                                                                                          \
		uint32_t u = (uint32_t)old - (BASE);                                               \
		if (u < WRAP_VH_SPAN && u < wrap_vh_limit(KIND)) {                                 \
			struct wrap_vh_obj *e = wrap_vh_at(KIND, u);                               \
			if (e->live && e->real == (int64_t)h)                                      \
				return old;                                                        \
			if (e->live)                                                               \
				wrap_vh_release_int(KIND, u);                                      \
		}                                                                                  \
		return wrap_##K##_from_lower(h);                                                   \
	}                                                                                          \
	static inline T *wrap_##K##_array_to_lower(const T *a, long n, T *buf)                     \
	{                                                                                          \
		return (T *)wrap_vh_iarray_to_lower(KIND, (const int *)a, n, (int *)buf);          \
	}                                                                                          \
	static inline void wrap_##K##_array_from_lower(T *a, long n)                               \
	{                                                                                          \
		wrap_vh_iarray_from_lower(KIND, (int *)a, n);                                      \
	}                                                                                          \
	static inline T *wrap_##K##_array_inout_to_lower(T *a, long n, T *buf)                     \
	{                                                                                          \
		if (KIND == WRAP_VH_REQUEST || KIND == WRAP_VH_MESSAGE)                            \
			return (T *)wrap_vh_req_inout_to_lower(KIND, (int *)a, n, (int *)buf);     \
		return (T *)wrap_vh_iarray_inout_to_lower(KIND, (int *)a, n, (int *)buf);          \
	}                                                                                          \
	static inline void wrap_##K##_array_inout_from_lower(T *a, T *l, long n, T *buf)           \
	{                                                                                          \
		if (KIND == WRAP_VH_REQUEST || KIND == WRAP_VH_MESSAGE)                            \
			wrap_vh_req_inout_from_lower(KIND, (int *)a, (int *)l, n, (int *)buf);     \
		else                                                                               \
			wrap_vh_iarray_inout_from_lower(KIND, (int *)a, (int *)l, n, (int *)buf);  \
	}

WRAP_VH_INT_HANDLES(comm, MPI_Comm, WRAP_VH_COMM, WRAP_VH_BASE_COMM)
WRAP_VH_INT_HANDLES(group, MPI_Group, WRAP_VH_GROUP, WRAP_VH_BASE_GROUP)
WRAP_VH_INT_HANDLES(datatype, MPI_Datatype, WRAP_VH_DATATYPE, WRAP_VH_BASE_DATATYPE)
WRAP_VH_INT_HANDLES(op, MPI_Op, WRAP_VH_OP, WRAP_VH_BASE_OP)
WRAP_VH_INT_HANDLES(errhandler, MPI_Errhandler, WRAP_VH_ERRHANDLER, WRAP_VH_BASE_ERRHANDLER)
WRAP_VH_INT_HANDLES(info, MPI_Info, WRAP_VH_INFO, WRAP_VH_BASE_INFO)
WRAP_VH_INT_HANDLES(win, MPI_Win, WRAP_VH_WIN, WRAP_VH_BASE_WIN)
WRAP_VH_INT_HANDLES(keyval, int, WRAP_VH_KEYVAL, WRAP_VH_BASE_KEYVAL)
WRAP_VH_INT_HANDLES(request, MPI_Request, WRAP_VH_REQUEST, WRAP_VH_BASE_REQUEST)
WRAP_VH_INT_HANDLES(message, MPI_Message, WRAP_VH_MESSAGE, WRAP_VH_BASE_MESSAGE)
WRAP_IDENTITY_HANDLES(session, MPI_Session)

/* The communicator of a pending MPI_Comm_idup: described later (wrap_vh_from_lower_deferred). */
static inline MPI_Comm wrap_comm_from_lower_deferred(MPI_Comm h)
{
	if (((uint32_t)h & 0x80000000u) == 0)
		return h;
	return (MPI_Comm)wrap_vh_from_lower_deferred(WRAP_VH_COMM, (int64_t)h);
}

/* MPI_File is a pointer: the virtual one is (MPI_File)(uintptr_t)(WRAP_VH_BASE_FILE + index). */
static inline MPI_File wrap_vh_file_ptr(int64_t v) { return (MPI_File)(uintptr_t)(uint32_t)v; }

static inline MPI_File wrap_file_to_lower(MPI_File h)
{
	uint64_t u = (uint64_t)(uintptr_t)h - WRAP_VH_BASE_FILE;
	if (__builtin_expect(u >= wrap_vh_limit(WRAP_VH_FILE), 1))
		return h;
	return (MPI_File)(uintptr_t)wrap_vh_at(WRAP_VH_FILE, (uint32_t)u)->real;
}

static inline MPI_File wrap_file_from_lower(MPI_File h)
{
	if (h == MPI_FILE_NULL)
		return h;
	return wrap_vh_file_ptr(wrap_vh_from_lower_slow(WRAP_VH_FILE, (int64_t)(uintptr_t)h));
}

static inline MPI_File wrap_file_lookup_lower(MPI_File h)
{
	if (h == MPI_FILE_NULL)
		return h;
	return wrap_vh_file_ptr(wrap_vh_lookup_slow(WRAP_VH_FILE, (int64_t)(uintptr_t)h));
}

static inline MPI_File wrap_file_inout_from_lower(MPI_File old, MPI_File h)
{
	uint64_t u = (uint64_t)(uintptr_t)old - WRAP_VH_BASE_FILE;
	if (u < wrap_vh_limit(WRAP_VH_FILE)) {
		struct wrap_vh_obj *e = wrap_vh_at(WRAP_VH_FILE, (uint32_t)u);
		if (e->live && e->real == (int64_t)(uintptr_t)h)
			return old;
		if (e->live)
			wrap_vh_release(WRAP_VH_FILE, (uint32_t)u);
	}
	return wrap_file_from_lower(h);
}

#endif
