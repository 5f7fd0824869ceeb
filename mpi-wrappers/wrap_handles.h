/*
 * wrap_handles.h - translation of MPI handles between the application and the lower MPICH.
 *
 * Every handle that crosses the gate goes through one of these functions, one set per kind
 * (comm, group, datatype, op, request, errhandler, info, win, file, message, session); the
 * generated wrappers call them according to the handle notes of mpi_functions.def, and the
 * hand-written wrappers and callback trampolines call them too.
 *
 * This version passes MPICH's handles through unchanged: they are ints (MPI_File a pointer)
 * and the predefined ones are the same numbers in every MPICH process. Virtual handles
 * (DESIGN 2.5: O(1) table per kind, description kept to rebuild the object after restart)
 * replace the bodies of one kind at a time; the call sites do not change:
 *   wrap_K_to_lower(h)                  application handle -> lower handle (an input)
 *   wrap_K_from_lower(h)                lower handle -> application handle (an output)
 *   wrap_K_array_to_lower(a, n)         input array; returns the array to pass down
 *   wrap_K_array_from_lower(a, n)       output array, converted in place after the call
 *   wrap_K_array_inout_to_lower(a, n)   in/out array (Waitall...): array to pass down ...
 *   wrap_K_array_inout_from_lower(a, l, n)   ... and its results copied back into a
 * n is the element count, or -1 when only the lower MPI knows it (Alltoallw: the size of the
 * communicator); virtual handles will have to compute it there.
 * Not translated: keyvals (ints owned by MPICH), MPI_T_* handles (pointers, per process) and
 * MPIX_Grequest_class (unsupported).
 */
#ifndef SPLITCKPT_WRAP_HANDLES_H
#define SPLITCKPT_WRAP_HANDLES_H

#define WRAP_IDENTITY_HANDLES(K, T)                                                                \
	static inline T wrap_##K##_to_lower(T h) { return h; }                                     \
	static inline T wrap_##K##_from_lower(T h) { return h; }                                   \
	static inline T *wrap_##K##_array_to_lower(const T *a, long n)                             \
	{                                                                                          \
		(void)n;                                                                           \
		return (T *)a;                                                                     \
	}                                                                                          \
	static inline void wrap_##K##_array_from_lower(T *a, long n)                               \
	{                                                                                          \
		(void)a;                                                                           \
		(void)n;                                                                           \
	}                                                                                          \
	static inline T *wrap_##K##_array_inout_to_lower(T *a, long n)                             \
	{                                                                                          \
		(void)n;                                                                           \
		return a;                                                                          \
	}                                                                                          \
	static inline void wrap_##K##_array_inout_from_lower(T *a, T *l, long n)                   \
	{                                                                                          \
		(void)a;                                                                           \
		(void)l;                                                                           \
		(void)n;                                                                           \
	}

WRAP_IDENTITY_HANDLES(comm, MPI_Comm)
WRAP_IDENTITY_HANDLES(group, MPI_Group)
WRAP_IDENTITY_HANDLES(datatype, MPI_Datatype)
WRAP_IDENTITY_HANDLES(op, MPI_Op)
WRAP_IDENTITY_HANDLES(request, MPI_Request)
WRAP_IDENTITY_HANDLES(errhandler, MPI_Errhandler)
WRAP_IDENTITY_HANDLES(info, MPI_Info)
WRAP_IDENTITY_HANDLES(win, MPI_Win)
WRAP_IDENTITY_HANDLES(file, MPI_File)
WRAP_IDENTITY_HANDLES(message, MPI_Message)
WRAP_IDENTITY_HANDLES(session, MPI_Session)

#endif
