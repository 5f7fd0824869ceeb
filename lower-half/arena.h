/*
 * arena.h - the reserved address range that holds the whole upper half, and the table of
 * what the upper half has mapped in it.
 *
 * The arena is reserved PROT_NONE/MAP_NORESERVE before anything else of the lower half can map
 * there. Every mapping the application makes is placed inside it by the SIGSYS emulation
 * (sigsys_sigsafe.c) and recorded here; mappings the application insists on placing elsewhere
 * with MAP_FIXED (non-PIE executables, MAP_32BIT) are recorded as "outside" ranges and must be
 * free again at restart. A checkpoint saves exactly the recorded ranges. Unmapped parts of the
 * arena are always reserved again, so nothing of the lower half can ever land inside it.
 *
 * All functions are async-signal-safe (raw syscalls, one spinlock, no TLS) and return -errno.
 */
#ifndef LH_ARENA_H
#define LH_ARENA_H

#include <stdint.h>

#define ARENA_BASE 0x100000000000UL /* 16 TiB */
#define ARENA_SIZE 0x400000000000UL /* 64 TiB */
#define ARENA_END (ARENA_BASE + ARENA_SIZE)
#define ARENA_BRK_BASE ARENA_BASE /* emulated program break of the upper half */
#define ARENA_BRK_MAX (1UL << 40)
#define ARENA_ALLOC_LOW (ARENA_BASE + ARENA_BRK_MAX)
#define ARENA_PAGE 4096UL

enum arena_kind { ARENA_K_NONE = 0, ARENA_K_MAP = 1, ARENA_K_OUTSIDE = 2 };

struct arena_range {
	uint64_t start, end;
	uint32_t kind;
	uint32_t pad;
};

/* What a checkpoint saves besides the ranges (IMG_BLOB_ARENA = this, then the ranges). */
struct arena_saved {
	uint32_t magic; /* ARENA_SAVED_MAGIC */
	uint32_t nranges;
	uint64_t base, size;
	uint64_t brk_cur, brk_mapped;
};
#define ARENA_SAVED_MAGIC 0x414e5241u /* "ARNA" */

/* Reserves the arena at its fixed address. Returns 0 or -errno (-EEXIST: something is there). */
long arena_reserve(void);
/* Emulations of the upper half's memory system calls, same arguments and results. */
long arena_mmap(uint64_t addr, uint64_t len, int prot, int flags, int fd, long off);
long arena_munmap(uint64_t addr, uint64_t len);
long arena_mremap(uint64_t old, uint64_t olen, uint64_t nlen, int flags, uint64_t naddr);
long arena_brk(uint64_t addr);
/* Copies the table into out (at most max entries) and fills *s. Returns the number of ranges
 * or -ENOSPC. Call only while the upper half is parked. */
long arena_snapshot(struct arena_saved *s, struct arena_range *out, uint32_t max);
/* Number of ranges in the table now. */
uint32_t arena_count(void);
/* Replaces the table with a saved one (restart; single-threaded). Does not map anything. */
long arena_load(const struct arena_saved *s, const struct arena_range *r, uint32_t n);
/* Records [start, end) as a mapping the lower half made for the upper half (loader, stack). */
long arena_note(uint64_t start, uint64_t end, uint32_t kind);
/* Finds and records a free range of len bytes; returns its address or -ENOMEM. The caller
 * maps it with MAP_FIXED. */
long arena_take(uint64_t len);
/* True when [a, a+len) lies in the arena. */
static inline int arena_contains(uint64_t a, uint64_t len)
{
	return a >= ARENA_BASE && len <= ARENA_SIZE && a + len <= ARENA_END && a + len >= a;
}

#endif
