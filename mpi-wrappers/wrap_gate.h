/*
 * wrap_gate.h - the call gate between the application (upper half) and the lower MPICH.
 *
 * Owns: reading the contract at LH_CONTRACT_ADDR, switching the FS base (TLS) on the way down
 * and back, and on the way *up* when the lower MPICH calls one of our callback trampolines.
 *
 * Invariants (DESIGN decision 3):
 * - No locks, no allocation, no libc call, no TLS access on the gate. The only system call is
 *   arch_prctl, and only on machines without FSGSBASE (contract->fsgsbase == 0).
 * - Handles are translated before wrap_gate_enter() and after wrap_gate_leave(), never
 *   between: between the two the thread runs on the lower half's TLS.
 * - Every upper thread uses a lower TLS of its own (the first one main_lower_fs, the others
 *   one each from contract.thread_lower_fs, cached in wrap_my_lower_fs for the epoch), so
 *   several threads can be inside MPICH at once (MPI_THREAD_MULTIPLE).
 * - wrap_gate_enter() stores the caller's upper FS base in its lower TLS (at
 *   contract.upper_fs_off), so that a callback the lower MPICH makes during the call (user op,
 *   error handler, attribute copy/delete, generalized request, datarep) switches back to the
 *   right thread's TLS (wrap_cb_enter). A lower half without that slot gets the old single
 *   process-wide slot, and with it at most MPI_THREAD_SERIALIZED.
 *   A callback made on a thread that never entered the gate (an MPICH progress thread) would
 *   run on another thread's TLS: MPICH's async progress thread must stay off.
 * - The contract is re-read on every call: after a restart the lower half fills it again.
 */
#ifndef SPLITCKPT_WRAP_GATE_H
#define SPLITCKPT_WRAP_GATE_H

#include <stdint.h>

#include "contract.h"
#include "wrap_index.h"

#define WRAP_HIDDEN __attribute__((visibility("hidden")))

/* Highest MPI_THREAD_* level this gate can honour (3 = MPI_THREAD_MULTIPLE, when the lower
 * half gives every thread its own lower TLS; contract.max_thread_level bounds it further). */
#define WRAP_GATE_MAX_THREAD_LEVEL 3

/* Non-NULL once the contract has been checked (magic, version, size, mapping). */
extern const struct lh_contract *wrap_contract_ok WRAP_HIDDEN;
/* FS base of the upper thread that last entered the gate, for lower halves that give no
 * per-TLS slot (contract.upper_fs_off == 0). */
extern uint64_t wrap_upper_fs WRAP_HIDDEN;
/* This thread's lower TLS and the contract epoch it was obtained in (0: none yet). Read with
 * the upper FS loaded, before the switch. */
extern __thread uint64_t wrap_my_lower_fs WRAP_HIDDEN __attribute__((tls_model("initial-exec")));
extern __thread uint64_t wrap_my_epoch WRAP_HIDDEN __attribute__((tls_model("initial-exec")));
/* Slow path of the gate: pick this thread's lower TLS (first caller of an epoch takes
 * main_lower_fs, the others ask contract.thread_lower_fs). */
uint64_t wrap_lower_fs_slow(const struct lh_contract *c) WRAP_HIDDEN;

/* Check the contract once; NULL (and one message on stderr) if there is no usable one. */
const struct lh_contract *wrap_contract_check(void) WRAP_HIDDEN;

static inline long wrap_sys_arch_prctl(long code, uint64_t addr)
{
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"(158L /* __NR_arch_prctl */), "D"(code), "S"(addr)
			 : "rcx", "r11", "memory");
	return ret;
}

static inline __attribute__((always_inline)) uint64_t wrap_rdfs(uint32_t fsgsbase)
{
	uint64_t v;
	if (__builtin_expect(fsgsbase != 0, 1)) {
		__asm__ volatile("rdfsbase %0" : "=r"(v));
	} else {
		/* ARCH_GET_FS writes the base to *addr */
		wrap_sys_arch_prctl(0x1003, (uint64_t)(uintptr_t)&v);
	}
	return v;
}

static inline __attribute__((always_inline)) void wrap_wrfs(uint32_t fsgsbase, uint64_t v)
{
	if (__builtin_expect(fsgsbase != 0, 1))
		__asm__ volatile("wrfsbase %0" : : "r"(v) : "memory");
	else
		wrap_sys_arch_prctl(0x1002 /* ARCH_SET_FS */, v);
}

/* The lower MPICH function of entry idx, or NULL (no contract, or the lower half lacks it). */
static inline __attribute__((always_inline)) void *wrap_lower_fn(unsigned idx)
{
	const struct lh_contract *c = wrap_contract_ok;
	if (__builtin_expect(c == NULL, 0)) {
		c = wrap_contract_check();
		if (c == NULL)
			return NULL;
	}
	if (__builtin_expect(idx >= c->nfuncs, 0))
		return NULL;
	return c->fn[idx];
}

/* Switch to the lower half's TLS; returns the caller's FS base for wrap_gate_leave. Only
 * after wrap_lower_fn returned non-NULL (the contract is then known good). */
static inline __attribute__((always_inline)) uint64_t wrap_gate_enter(void)
{
	const struct lh_contract *c = wrap_contract_ok;
	uint64_t up = wrap_rdfs(c->fsgsbase);
	uint64_t low = wrap_my_lower_fs;
	if (__builtin_expect(low == 0 || wrap_my_epoch != c->epoch, 0))
		low = wrap_lower_fs_slow(c);
	if (__builtin_expect(c->upper_fs_off != 0, 1))
		*(uint64_t *)(uintptr_t)(low + (uint64_t)c->upper_fs_off) = up;
	else
		wrap_upper_fs = up;
	wrap_wrfs(c->fsgsbase, low);
	return up;
}

static inline __attribute__((always_inline)) void wrap_gate_leave(uint64_t up)
{
	wrap_wrfs(wrap_contract_ok->fsgsbase, up);
}

/* In a callback trampoline, called by the lower MPICH on its TLS: switch to the TLS of the
 * upper thread that is inside MPI; returns the lower FS base for wrap_cb_leave. */
static inline __attribute__((always_inline)) uint64_t wrap_cb_enter(void)
{
	const struct lh_contract *c = wrap_contract_ok;
	uint64_t low = wrap_rdfs(c->fsgsbase);
	uint64_t up = c->upper_fs_off ? *(uint64_t *)(uintptr_t)(low + (uint64_t)c->upper_fs_off)
				      : wrap_upper_fs;
	wrap_wrfs(c->fsgsbase, up);
	return low;
}

static inline __attribute__((always_inline)) void wrap_cb_leave(uint64_t low)
{
	wrap_wrfs(wrap_contract_ok->fsgsbase, low);
}

#endif
