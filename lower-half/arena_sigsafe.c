/*
 * arena_sigsafe.c - the arena's mapping table and the emulated mmap/munmap/mremap/brk of the
 * upper half. Runs inside the SIGSYS handler on application threads (application FS base), so:
 * raw syscalls only, no libc, no TLS, no stack protector. One spinlock guards the table; the
 * checkpoint signal is blocked while the SIGSYS handler runs, so no thread is ever parked
 * while holding it.
 *
 * Invariant: every byte of [ARENA_BASE, ARENA_END) is either a recorded range (ARENA_K_MAP) or
 * our PROT_NONE reservation. The table is sorted by address and holds no overlapping ranges.
 */
#include "arena.h"
#include "sys_nolibc.h"

#include <errno.h>
#include <linux/mman.h>
#include <sys/mman.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

static struct {
	volatile int lock;
	uint32_t n, cap;
	struct arena_range *r;
	uint64_t brk_cur, brk_mapped;
} A;

static void lock(void)
{
	while (__atomic_exchange_n(&A.lock, 1, __ATOMIC_ACQUIRE)) {
		for (int i = 0; i < 64 && A.lock; i++)
			__builtin_ia32_pause();
		if (A.lock)
			sys_call0(SYS_sched_yield);
	}
}

static void unlock(void)
{
	__atomic_store_n(&A.lock, 0, __ATOMIC_RELEASE);
}

static uint64_t page_up(uint64_t x)
{
	return (x + ARENA_PAGE - 1) & ~(ARENA_PAGE - 1);
}

static long reserve(uint64_t a, uint64_t len)
{
	long r = sys_mmap((void *)a, len, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
	return r < 0 ? r : 0;
}

long arena_reserve(void)
{
	long r = sys_mmap((void *)ARENA_BASE, ARENA_SIZE, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	if (r >= 0 && (uint64_t)r != ARENA_BASE) {
		/* A kernel without MAP_FIXED_NOREPLACE treats it as a hint. */
		sys_munmap((void *)r, ARENA_SIZE);
		return -EEXIST;
	}
	return r < 0 ? r : 0;
}

static int grow(void)
{
	uint32_t ncap = A.cap ? A.cap * 2 : 4096;
	long m = sys_mmap(0, ncap * sizeof(struct arena_range), PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m < 0)
		return (int)m;
	if (A.r) {
		nl_memcpy((void *)m, A.r, A.n * sizeof(struct arena_range));
		sys_munmap(A.r, A.cap * sizeof(struct arena_range));
	}
	A.r = (struct arena_range *)m;
	A.cap = ncap;
	return 0;
}

/* Index of the first range whose end is above a. */
static uint32_t first_after(uint64_t a)
{
	uint32_t lo = 0, hi = A.n;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (A.r[mid].end <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int overlaps(uint64_t s, uint64_t e)
{
	uint32_t i = first_after(s);
	return i < A.n && A.r[i].start < e;
}

/* True when [s, e) is wholly covered by ranges of the given kind. */
static int covered(uint64_t s, uint64_t e, uint32_t kind)
{
	uint32_t i = first_after(s);
	uint64_t at = s;
	for (; i < A.n && at < e; i++) {
		if (A.r[i].start > at || A.r[i].kind != kind)
			return 0;
		at = A.r[i].end;
	}
	return at >= e;
}

static void del_at(uint32_t i)
{
	for (uint32_t j = i; j + 1 < A.n; j++)
		A.r[j] = A.r[j + 1];
	A.n--;
}

static int ins_at(uint32_t i, uint64_t s, uint64_t e, uint32_t kind)
{
	if (A.n == A.cap) {
		int rc = grow();
		if (rc < 0)
			return rc;
	}
	for (uint32_t j = A.n; j > i; j--)
		A.r[j] = A.r[j - 1];
	A.r[i].start = s;
	A.r[i].end = e;
	A.r[i].kind = kind;
	A.r[i].pad = 0;
	A.n++;
	return 0;
}

/* Removes [s, e) from the table, splitting ranges as needed. */
static int tab_remove(uint64_t s, uint64_t e)
{
	uint32_t i = first_after(s);
	while (i < A.n && A.r[i].start < e) {
		struct arena_range *r = &A.r[i];
		if (r->start < s && r->end > e) { /* split in two */
			int rc = ins_at(i + 1, e, r->end, r->kind);
			if (rc < 0)
				return rc;
			A.r[i].end = s;
			return 0;
		}
		if (r->start < s) {
			r->end = s;
			i++;
		} else if (r->end > e) {
			r->start = e;
			i++;
		} else {
			del_at(i);
		}
	}
	return 0;
}

/* Adds [s, e), merging with neighbours of the same kind. */
static int tab_add(uint64_t s, uint64_t e, uint32_t kind)
{
	int rc = tab_remove(s, e);
	if (rc < 0)
		return rc;
	uint32_t i = first_after(s);
	if (i > 0 && A.r[i - 1].end == s && A.r[i - 1].kind == kind) {
		A.r[i - 1].end = e;
		if (i < A.n && A.r[i].start == e && A.r[i].kind == kind) {
			A.r[i - 1].end = A.r[i].end;
			del_at(i);
		}
		return 0;
	}
	if (i < A.n && A.r[i].start == e && A.r[i].kind == kind) {
		A.r[i].start = s;
		return 0;
	}
	return ins_at(i, s, e, kind);
}

/* Highest free range of len bytes in the allocation part of the arena, or 0. */
static uint64_t find_gap(uint64_t len)
{
	uint64_t align = len >= (2UL << 20) ? (2UL << 20) : ARENA_PAGE;
	uint64_t top = ARENA_END;
	for (uint32_t i = A.n; i-- > 0;) {
		struct arena_range *r = &A.r[i];
		if (r->start >= ARENA_END)
			continue;
		if (r->end <= ARENA_ALLOC_LOW)
			break;
		if (top >= r->end + len) {
			uint64_t a = (top - len) & ~(align - 1);
			if (a >= r->end)
				return a;
		}
		top = r->start;
	}
	if (top >= ARENA_ALLOC_LOW + len)
		return (top - len) & ~(align - 1);
	return 0;
}

long arena_note(uint64_t start, uint64_t end, uint32_t kind)
{
	lock();
	long rc = tab_add(start, end, kind);
	unlock();
	return rc;
}

long arena_take(uint64_t len)
{
	len = page_up(len);
	lock();
	uint64_t a = find_gap(len);
	long rc = a ? tab_add(a, a + len, ARENA_K_MAP) : -ENOMEM;
	unlock();
	return rc < 0 ? rc : (long)a;
}

static long mmap_fixed(uint64_t addr, uint64_t len, int prot, int flags, int fd, long off)
{
	if (addr & (ARENA_PAGE - 1))
		return -EINVAL;
	int noreplace = (flags & MAP_FIXED_NOREPLACE) && !(flags & MAP_FIXED);
	flags &= ~(MAP_FIXED_NOREPLACE | MAP_GROWSDOWN);
	if (arena_contains(addr, len)) {
		lock();
		long r = -EEXIST;
		if (!noreplace || !overlaps(addr, addr + len)) {
			r = sys_mmap((void *)addr, len, prot, flags | MAP_FIXED, fd, off);
			if (r >= 0)
				tab_add(addr, addr + len, ARENA_K_MAP);
		}
		unlock();
		return r;
	}
	if (addr + len > ARENA_BASE && addr < ARENA_END)
		return -ENOMEM; /* straddles the arena edge */
	/* Outside the arena: never let it replace lower-half memory. */
	lock();
	long r;
	if (!noreplace && covered(addr, addr + len, ARENA_K_OUTSIDE))
		r = sys_mmap((void *)addr, len, prot, flags | MAP_FIXED, fd, off);
	else
		r = sys_mmap((void *)addr, len, prot, flags | MAP_FIXED_NOREPLACE, fd, off);
	if (r >= 0)
		tab_add(addr, addr + len, ARENA_K_OUTSIDE);
	else if (r == -EEXIST && !noreplace)
		r = -ENOMEM;
	unlock();
	return r;
}

long arena_mmap(uint64_t addr, uint64_t len, int prot, int flags, int fd, long off)
{
	if (len == 0)
		return -EINVAL;
	len = page_up(len);
	if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE))
		return mmap_fixed(addr, len, prot, flags, fd, off);
	flags &= ~MAP_GROWSDOWN;
	if (flags & MAP_32BIT) {
		long r = sys_mmap(0, len, prot, flags, fd, off);
		if (r >= 0) {
			lock();
			tab_add((uint64_t)r, (uint64_t)r + len, ARENA_K_OUTSIDE);
			unlock();
		}
		return r;
	}
	lock();
	uint64_t a = 0;
	if (addr && !(addr & (ARENA_PAGE - 1)) && arena_contains(addr, len) &&
	    addr >= ARENA_ALLOC_LOW && !overlaps(addr, addr + len))
		a = addr;
	else
		a = find_gap(len);
	long r = -ENOMEM;
	if (a) {
		r = sys_mmap((void *)a, len, prot, flags | MAP_FIXED, fd, off);
		if (r >= 0)
			tab_add(a, a + len, ARENA_K_MAP);
	}
	unlock();
	return r;
}

long arena_munmap(uint64_t addr, uint64_t len)
{
	if ((addr & (ARENA_PAGE - 1)) || len == 0)
		return -EINVAL;
	len = page_up(len);
	uint64_t e = addr + len;
	long r = 0;
	lock();
	/* The arena part goes back to the reservation. */
	uint64_t as = addr > ARENA_BASE ? addr : ARENA_BASE;
	uint64_t ae = e < ARENA_END ? e : ARENA_END;
	if (as < ae) {
		r = reserve(as, ae - as);
		if (r == 0)
			tab_remove(as, ae);
	}
	/* Outside parts: only what the application itself mapped there. */
	uint32_t i = first_after(addr);
	while (r == 0 && i < A.n && A.r[i].start < e) {
		struct arena_range *x = &A.r[i];
		if (x->kind != ARENA_K_OUTSIDE) {
			i++;
			continue;
		}
		uint64_t s2 = x->start > addr ? x->start : addr;
		uint64_t e2 = x->end < e ? x->end : e;
		r = sys_munmap((void *)s2, e2 - s2);
		if (r == 0)
			tab_remove(s2, e2);
		i = first_after(e2 - 1);
	}
	unlock();
	return r;
}

static long mremap_locked(uint64_t old, uint64_t olen, uint64_t nlen, int flags, uint64_t naddr)
{
	int dontunmap = flags & MREMAP_DONTUNMAP;
	long r;
	if (flags & MREMAP_FIXED) {
		if (!arena_contains(naddr, nlen))
			return -EINVAL;
		r = sys_mremap((void *)old, olen, nlen, flags, (void *)naddr);
		if (r < 0)
			return r;
		if (!dontunmap && olen) {
			reserve(old, olen);
			tab_remove(old, old + olen);
		}
		tab_add(naddr, naddr + nlen, ARENA_K_MAP);
		return r;
	}
	if (olen && nlen <= olen) {
		r = sys_mremap((void *)old, olen, nlen, 0, 0);
		if (r >= 0 && nlen < olen) {
			reserve(old + nlen, olen - nlen);
			tab_remove(old + nlen, old + olen);
		}
		return r;
	}
	if (olen && !dontunmap && arena_contains(old + olen, nlen - olen) &&
	    !overlaps(old + olen, old + nlen)) {
		/* Grow in place: give the reservation's pages back first. */
		sys_munmap((void *)(old + olen), nlen - olen);
		r = sys_mremap((void *)old, olen, nlen, 0, 0);
		if (r >= 0) {
			tab_add(old + olen, old + nlen, ARENA_K_MAP);
			return r;
		}
		reserve(old + olen, nlen - olen);
	}
	if (!(flags & MREMAP_MAYMOVE))
		return -ENOMEM;
	uint64_t a = find_gap(nlen);
	if (!a)
		return -ENOMEM;
	r = sys_mremap((void *)old, olen, nlen, MREMAP_MAYMOVE | MREMAP_FIXED | dontunmap, (void *)a);
	if (r < 0)
		return r;
	if (!dontunmap && olen) {
		reserve(old, olen);
		tab_remove(old, old + olen);
	}
	tab_add(a, a + nlen, ARENA_K_MAP);
	return r;
}

long arena_mremap(uint64_t old, uint64_t olen, uint64_t nlen, int flags, uint64_t naddr)
{
	if ((old & (ARENA_PAGE - 1)) || nlen == 0)
		return -EINVAL;
	olen = page_up(olen);
	nlen = page_up(nlen);
	if (!arena_contains(old, olen ? olen : 1)) {
		/* Only the application's own outside mappings may be resized, in place. */
		lock();
		long r = -EFAULT;
		if (olen && covered(old, old + olen, ARENA_K_OUTSIDE) && !(flags & MREMAP_FIXED)) {
			r = sys_mremap((void *)old, olen, nlen, 0, 0);
			if (r >= 0) {
				tab_remove(old, old + olen);
				tab_add(old, old + nlen, ARENA_K_OUTSIDE);
			}
		}
		unlock();
		return r;
	}
	lock();
	long r = mremap_locked(old, olen, nlen, flags, naddr);
	unlock();
	return r;
}

long arena_brk(uint64_t addr)
{
	lock();
	if (A.brk_cur == 0)
		A.brk_cur = A.brk_mapped = ARENA_BRK_BASE;
	long ret = (long)A.brk_cur;
	if (addr < ARENA_BRK_BASE || addr > ARENA_BRK_BASE + ARENA_BRK_MAX)
		goto out;
	uint64_t want = page_up(addr);
	if (want > A.brk_mapped) {
		long r = sys_mmap((void *)A.brk_mapped, want - A.brk_mapped, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (r < 0)
			goto out;
		tab_add(A.brk_mapped, want, ARENA_K_MAP);
	} else if (want < A.brk_mapped) {
		reserve(want, A.brk_mapped - want);
		tab_remove(want, A.brk_mapped);
	}
	A.brk_mapped = want;
	A.brk_cur = addr;
	ret = (long)addr;
out:
	unlock();
	return ret;
}

long arena_snapshot(struct arena_saved *s, struct arena_range *out, uint32_t max)
{
	lock();
	long n = A.n;
	if (A.n > max) {
		unlock();
		return -ENOSPC;
	}
	nl_memcpy(out, A.r, A.n * sizeof(*out));
	s->magic = ARENA_SAVED_MAGIC;
	s->nranges = A.n;
	s->base = ARENA_BASE;
	s->size = ARENA_SIZE;
	s->brk_cur = A.brk_cur;
	s->brk_mapped = A.brk_mapped;
	unlock();
	return n;
}

uint32_t arena_count(void)
{
	return __atomic_load_n(&A.n, __ATOMIC_RELAXED);
}

long arena_load(const struct arena_saved *s, const struct arena_range *r, uint32_t n)
{
	if (s->magic != ARENA_SAVED_MAGIC || s->base != ARENA_BASE || s->size != ARENA_SIZE)
		return -EINVAL;
	lock();
	A.n = 0;
	long rc = 0;
	for (uint32_t i = 0; i < n && rc == 0; i++) {
		if (r[i].end <= r[i].start || (r[i].kind != ARENA_K_MAP && r[i].kind != ARENA_K_OUTSIDE))
			rc = -EINVAL;
		else
			rc = tab_add(r[i].start, r[i].end, r[i].kind);
	}
	A.brk_cur = s->brk_cur;
	A.brk_mapped = s->brk_mapped;
	unlock();
	return rc;
}
