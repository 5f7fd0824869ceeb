/*
 * restore.c - restart of one process from its image: map the upper half back into the arena,
 * fill it, put back descriptors and kernel state, rejoin the coordinator, then recreate every
 * thread from its saved context (restore_nolibc.c). The image is checked completely while the
 * memory is filled; any error stops the restart before a single application instruction runs.
 */
#define LOG_PREFIX "lh"
#include "restore.h"
#include "arena.h"
#include "ckpt.h"
#include "dirty.h"
#include "launch.h"
#include "lh.h"
#include "log.h"
#include "sys_nolibc.h"
#ifdef LH_WITH_MPI
#include "mpi_ckpt.h"
#endif

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

void __attribute__((noreturn)) lh_restore_thread(const struct lh_thread_ctx *c, int *tid_slot);
long lh_clone_thread(unsigned long flags, void *stack, void (*fn)(void *), void *arg);

__asm__(".text\n"
	".globl lh_clone_thread\n"
	".type lh_clone_thread,@function\n"
	"lh_clone_thread:\n"
	"	and $-16, %rsi\n"
	"	sub $16, %rsi\n"
	"	mov %rdx, 0(%rsi)\n"
	"	mov %rcx, 8(%rsi)\n"
	"	mov $56, %eax\n"
	"	xor %edx, %edx\n"
	"	xor %r10d, %r10d\n"
	"	xor %r8d, %r8d\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 1f\n"
	"	pop %rax\n"
	"	pop %rdi\n"
	"	xor %ebp, %ebp\n"
	"	call *%rax\n"
	"	mov $60, %eax\n"
	"	xor %edi, %edi\n"
	"	syscall\n"
	"	hlt\n"
	"1:	ret\n");

static const char *who_is_at(uint64_t a, char *buf, size_t n)
{
	FILE *f = fopen("/proc/self/maps", "re");
	snprintf(buf, n, "unknown");
	if (!f)
		return buf;
	char line[512];
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		if (sscanf(line, "%lx-%lx", &s, &e) == 2 && a >= s && a < e) {
			line[strcspn(line, "\n")] = 0;
			snprintf(buf, n, "%s", line);
			break;
		}
	}
	fclose(f);
	return buf;
}

static int map_regions(const char *path, const struct img_region *r, size_t n, const void *ids,
		       uint64_t idlen)
{
	for (size_t i = 0; i < n; i++) {
		if (r[i].flags & LH_REG_FROMFILE) {
			if (lh_map_from_file(path, &r[i], ids, idlen) < 0)
				return -1;
			continue;
		}
		int inside = arena_contains(r[i].start, r[i].len);
		int prot = (r[i].flags & IMG_REG_NODATA) ? PROT_NONE : PROT_READ | PROT_WRITE;
		int flags = MAP_PRIVATE | MAP_ANONYMOUS | (inside ? MAP_FIXED : MAP_FIXED_NOREPLACE);
		if (r[i].flags & IMG_REG_NODATA)
			flags |= MAP_NORESERVE;
		long m = sys_mmap((void *)r[i].start, r[i].len, prot, flags, -1, 0);
		if (m < 0 || (uint64_t)m != r[i].start) {
			char who[512];
			log_err("%s: cannot map region 0x%lx-0x%lx (%s) back: %s; in the way: %s", path,
				(unsigned long)r[i].start, (unsigned long)(r[i].start + r[i].len),
				r[i].path, strerror(m < 0 ? (int)-m : EEXIST),
				who_is_at(r[i].start, who, sizeof(who)));
			return -1;
		}
	}
	return 0;
}

static void set_prot(const struct img_region *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!(r[i].flags & (IMG_REG_NODATA | LH_REG_FROMFILE)) &&
		    r[i].prot != (PROT_READ | PROT_WRITE))
			sys_mprotect((void *)r[i].start, r[i].len, (int)r[i].prot);
}

struct thr_start {
	struct lh_thread_ctx ctx;
	int *tid_slot;
};

static void thread_entry(void *arg)
{
	struct thr_start *t = arg;
	lh_restore_thread(&t->ctx, t->tid_slot);
}

static void *dup_blob(const struct img_reader *rd, uint32_t type, uint64_t *len)
{
	const void *p;
	if (img_blob(rd, type, &p, len) < 0)
		return NULL;
	void *c = malloc(*len ? *len : 1);
	if (c)
		memcpy(c, p, *len);
	return c;
}

int lh_restore(const char *path, int strict)
{
	/* No signal may reach an application handler while this thread still runs the lower
	 * half: every thread gets its own mask back from its saved context. */
	sigset_t all;
	sigfillset(&all);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigprocmask(SIG_BLOCK, &all, NULL);
	char err[1024];
	struct img_reader *rd = NULL;
	struct img_chain *chain = NULL; /* the image and, if it is incremental, its parents */
	int rc = img_chain_open(path, &chain, err, sizeof(err));
	if (rc == 0)
		rd = img_chain_head(chain);
	if (rc < 0) {
		log_err("%s", err);
		return -1;
	}
	const struct img_header_info *h = img_header(rd);
	if (strict && h->uid != getuid()) {
		log_err("%s was made by uid %u, and you are uid %u; use --no-strict-checking to "
			"restart it anyway",
			path, h->uid, getuid());
		goto fail;
	}
	if (h->arena_base != ARENA_BASE || h->arena_size != ARENA_SIZE) {
		log_err("%s: made with another arena layout (0x%lx+0x%lx); this splitckpt uses "
			"0x%lx+0x%lx",
			path, (unsigned long)h->arena_base, (unsigned long)h->arena_size, ARENA_BASE,
			ARENA_SIZE);
		goto fail;
	}
#ifdef LH_WITH_MPI
	/* MPI_Init in this fresh lower half and the rank check, before anything is restored */
	if (lh_mpi_restart_begin(rd, path) < 0)
		goto fail;
#endif
	uint64_t tlen = 0, alen = 0, plen = 0, flen = 0, fdlen = 0;
	struct lh_thread_ctx *thr = dup_blob(rd, IMG_BLOB_THREADS, &tlen);
	void *ablob = dup_blob(rd, IMG_BLOB_ARENA, &alen);
	void *pblob = dup_blob(rd, IMG_BLOB_PROC, &plen);
	void *fblob = dup_blob(rd, IMG_BLOB_FDS, &flen);
	void *fdata = dup_blob(rd, IMG_BLOB_FILEDATA, &fdlen);
	uint64_t zlen = 0;
	void *zblob = dup_blob(rd, LH_BLOB_ZOMBIES, &zlen);
	size_t nthr = thr ? tlen / sizeof(*thr) : 0;
	const struct arena_saved *as = ablob;
	if (!thr || !nthr || tlen % sizeof(*thr) || !as || alen < sizeof(*as) ||
	    (alen - sizeof(*as)) / sizeof(struct arena_range) != as->nranges || !pblob || !fblob) {
		log_err("%s: the image lacks a valid thread, arena, process or descriptor section",
			path);
		goto fail;
	}
	size_t nreg;
	const struct img_region *reg = img_regions(rd, &nreg);
	const void *ids = NULL;
	uint64_t idlen = 0;
	img_blob(rd, LH_BLOB_FILEIDS, &ids, &idlen);
	if (map_regions(path, reg, nreg, ids, idlen) < 0)
		goto fail;
	struct img_write_stats st;
	memset(&st, 0, sizeof(st));
	struct stat img_st;
	void *progress = lh_restore_progress_start(
	    path, stat(path, &img_st) == 0 ? (uint64_t)img_st.st_size : 0);
	int rrc = img_chain_restore(chain, 0, &st, err, sizeof(err));
	lh_restore_progress_stop(progress);
	if (rrc < 0) {
		log_err("%s", err);
		goto fail;
	}
	set_prot(reg, nreg);
	/* incremental checkpoints: the next image may build on this one, with the job's K */
	lh_dirty_image_full_every(h->full_every);
	const void *sblob = NULL;
	uint64_t slen = 0;
	if (img_blob(rd, LH_BLOB_SETTINGS, &sblob, &slen) == 0)
		lh_restore_settings(sblob, slen); /* the launch's --keep, --compress, ... */
	lh_dirty_restored(h->generation, h->image_id, img_chain_length(chain), reg, nreg);
	if (arena_load(as, (const struct arena_range *)(as + 1), as->nranges) < 0) {
		log_err("%s: bad arena table", path);
		goto fail;
	}
#ifdef LH_WITH_MPI
	if (lh_mpi_restart_memory(path) < 0) /* phase RESTORED before any thread runs */
		goto fail;
#endif
	lhc.restarted_from = h->generation;
	lhc.job_id = h->job_id;
	snprintf(lhc.progname, sizeof(lhc.progname), "%s", h->progname);
	snprintf(lhc.cmdline, sizeof(lhc.cmdline), "%s", h->cmdline);
	img_chain_close(chain);
	chain = NULL;
	rd = NULL;

	int zrc = lh_zombies_recreate(zblob, zlen);
	if (zrc < 0) {
		log_err("%s: cannot recreate the ended children the process had not reaped: %s",
			path, zrc == -EBADMSG ? "bad zombie section" : strerror(-zrc));
		goto fail;
	}
	free(zblob);
	if (lh_restore_proc(pblob, plen) < 0) {
		log_err("%s: bad process section", path);
		goto fail;
	}
	lh_restore_fds(fblob, flen, fdata, fdlen);
	lh.pidvirt = 1;
	/* thread id table: every restored thread keeps its virtual tid */
	lh.nthr = 0;
	for (size_t i = 0; i < nthr; i++) {
		lh.thr[lh.nthr].v = thr[i].vtid;
		lh.thr[lh.nthr].r = 0;
		lh.nthr++;
	}
	lh_priv_env_build();
	if (lh_ckpt_start() < 0)
		goto fail;
	if (lh_enter_upper_prepare(1) < 0)
		goto fail;
	size_t main_i = nthr;
	for (size_t i = 0; i < nthr; i++) {
		if (thr[i].is_main && main_i == nthr) {
			main_i = i;
			continue;
		}
		struct thr_start *ts = malloc(sizeof(*ts));
		size_t ssz = 256 * 1024;
		char *stk = mmap(NULL, ssz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (!ts || stk == MAP_FAILED) {
			log_err("out of memory recreating threads");
			sys_exit_group(1);
		}
		ts->ctx = thr[i];
		ts->tid_slot = &lh.thr[i].r;
		long t = lh_clone_thread(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
						 CLONE_THREAD | CLONE_SYSVSEM,
					 stk + ssz, thread_entry, ts);
		if (t < 0) {
			log_err("cannot recreate thread %d: %s", thr[i].vtid, strerror((int)-t));
			sys_exit_group(1);
		}
		__atomic_store_n(&lh.thr[i].r, (int)t, __ATOMIC_RELEASE);
	}
	if (main_i == nthr) {
		/* The main thread had exited before the checkpoint: just end this one. */
		for (;;)
			sys_call1(SYS_exit, 0);
	}
	struct lh_thread_ctx mc = thr[main_i];
	lh_restore_thread(&mc, &lh.thr[main_i].r);
fail:
	if (rd)
		img_close(rd);
#ifdef LH_WITH_MPI
	if (lh_mpi_restart_inited())
		lh_mpi_restart_abort(); /* the other ranks must not wait for this one */
#endif
	return -1;
}
