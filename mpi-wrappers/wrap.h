/*
 * wrap.h - what every file of the upper half's libmpich.so.12 includes.
 *
 * The library is compiled against MPICH's mpi.h (types, constants, prototypes) but never links
 * or loads MPICH: every call reaches the lower half's MPICH through the contract (wrap_gate.h).
 * Exported symbols are exactly the MPI_x / PMPI_x entry points (MPI_x a weak alias, so that
 * profiling libraries can interpose), the MPII_x ones Debian's libmpichfort/libmpichcxx need,
 * and the data symbols of wrap_data.c; everything else is hidden.
 */
#ifndef SPLITCKPT_WRAP_H
#define SPLITCKPT_WRAP_H

#include <stddef.h>
#include <stdint.h>

#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include "wrap_gate.h"
#include "wrap_handles.h"
#include "wrap_mpii.h"

#define WRAP_EXPORT __attribute__((visibility("default")))
#define WRAP_ALIAS(STRONG, WEAK)                                                                   \
	extern __typeof__(STRONG) WEAK __attribute__((weak, alias(#STRONG), visibility("default")));

/* Report once per function that the lower half lacks it (or that there is no lower half);
 * returns MPI_ERR_UNSUPPORTED_OPERATION. Not async-signal-safe (stdio). */
int wrap_unavailable(unsigned idx) WRAP_HIDDEN;
/* Report once that we refuse this function in a split process (see UNSUP in gen_list.py);
 * returns MPI_ERR_UNSUPPORTED_OPERATION. */
int wrap_unsupported(unsigned idx) WRAP_HIDDEN;
/* Report a failure of a hand-written wrapper ("splitckpt: MPI_x: why"); returns err. */
int wrap_fail(unsigned idx, int err, const char *why) WRAP_HIDDEN;

/* The lower half's value for the special pointer p (MPI_UNWEIGHTED, ...) when p is ours, else
 * p; on a lower half that does not publish it: NULL and *err = MPI_ERR_UNSUPPORTED_OPERATION. */
void *wrap_sentinel_to_lower(const void *p, int *err) WRAP_HIDDEN;

/* The lower half's value of the pointer-valued data symbol of WRAP_DATA entry idx (e.g. its
 * MPI_UNWEIGHTED), or NULL when the lower half did not provide it. */
static inline void *wrap_lower_data(unsigned idx)
{
	void **p = (void **)wrap_lower_fn(idx);
	return p ? *p : NULL;
}

/* Call the lower half's entry NAME (an MPI_x name; the prototype is PMPI_x's) with the gate:
 * r = result, or the "not available" error when the lower half lacks it. The arguments are
 * evaluated on the lower half's TLS: pass plain values only (translate handles before). */
#define WRAP_DOWN(r, NAME, ...)                                                                    \
	do {                                                                                       \
		void *f_ = wrap_lower_fn(WRAP_IDX_##NAME);                                         \
		if (__builtin_expect(f_ == NULL, 0)) {                                             \
			(r) = wrap_unavailable(WRAP_IDX_##NAME);                                   \
			break;                                                                     \
		}                                                                                  \
		uint64_t g_ = wrap_gate_enter();                                                   \
		(r) = ((__typeof__(&P##NAME))f_)(__VA_ARGS__);                                     \
		wrap_gate_leave(g_);                                                               \
	} while (0)

/* Threads inside a lower call that cannot step out for a checkpoint (it waits for another
 * rank: MPI_Win_lock, Win_complete, Win_flush...), per function index; the generated
 * wrappers of gen_wrappers.py's STEPLESS list and hand-written ones add 1 around the gate
 * (relaxed atomics, on calls that cost microseconds). The service thread names the call when
 * a checkpoint gives up waiting for such a thread (wrap_ckpt.c). */
extern uint32_t wrap_ckpt_inside[] WRAP_HIDDEN;
static inline void wrap_ckpt_inside_add(unsigned idx, int d)
{
	__atomic_fetch_add(&wrap_ckpt_inside[idx], (uint32_t)d, __ATOMIC_RELAXED);
}

#endif
