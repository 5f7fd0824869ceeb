/*
 * ckpt.c - the checkpoint thread: talks to the coordinator and runs this process's part of
 * each checkpoint (park, write the image, commit, resume).
 *
 * It is an ordinary lower-half pthread with its own TLS. While it uses the lower half's libc
 * it holds the busy word (lh.busy = 1), so that a fork of the application never copies a held
 * libc lock into the child; it lets go while it waits for threads to park. If the coordinator
 * goes away the application keeps running and the thread reconnects every 2 seconds.
 */
#define LOG_PREFIX "lh"
#include "ckpt.h"
#include "dirty.h"
#include "arena.h"
#include "coord_client.h"
#include "lh.h"
#include "log.h"
#include "park.h"
#include "secret.h"
#include "sys_nolibc.h"
#ifdef LH_WITH_MPI
#include "mpi_ckpt.h"
#include "mpi_lower.h"
#endif

#include <dirent.h>
#include <errno.h>
#include <linux/futex.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct coord_conn conn;
static sem_t ready;

void lh_busy_enter(void)
{
	int zero = 0;
	while (!__atomic_compare_exchange_n(&lh.busy, &zero, 1, 0, __ATOMIC_ACQUIRE,
					    __ATOMIC_RELAXED)) {
		zero = 0;
		sched_yield();
	}
}

void lh_busy_leave(void)
{
	__atomic_store_n(&lh.busy, 0, __ATOMIC_RELEASE);
}

/* Moves fd to LH_FD_MIN or above, close-on-exec, out of the application's way. */
static int move_fd_high(int fd)
{
	if (fd < 0 || fd >= LH_FD_MIN)
		return fd;
	int nfd = fcntl(fd, F_DUPFD_CLOEXEC, LH_FD_MIN);
	if (nfd < 0)
		return fd;
	close(fd);
	return nfd;
}

struct cur_ckpt {
	uint32_t gen, nprocs;
	char path[4096];
	int written;
};
static struct cur_ckpt cur;

static void fill_hello(struct proto_hello_worker *h)
{
	memset(h, 0, sizeof(*h));
	snprintf(h->secret, sizeof(h->secret), "%s", lhc.secret);
	h->vpid = lh.vpid;
	h->real_pid = getpid();
	snprintf(h->uniquepid, sizeof(h->uniquepid), "%s", lhc.upid);
	snprintf(h->progname, sizeof(h->progname), "%s", lhc.progname);
	gethostname(h->hostname, sizeof(h->hostname) - 1);
	snprintf(h->cmdline, sizeof(h->cmdline), "%s", lhc.cmdline);
	/* A process that joins a new coordinator says which generation it reached, so that
	 * the new coordinator numbers on from there and never reuses a gen-NNNNNN directory. */
	h->restarted_from = lhc.restarted_from > cur.gen ? lhc.restarted_from : cur.gen;
	h->interval = lhc.interval;
}

/* Connects and says hello. 0, or -errno (message logged when loud). */
static int coord_join(int loud)
{
	/* A reconnect may find a new coordinator on the same port, with a new secret: the
	 * secret file of the port is the current one; the launch-time value is the fallback. */
	char s[SECRET_HEX_LEN + 1];
	if (!loud && secret_load_file(lhc.port, s) == 0)
		snprintf(lhc.secret, sizeof(lhc.secret), "%s", s);
	else if ((!lhc.secret[0] || !secret_is_valid(lhc.secret)) && secret_load(lhc.port, s) == 0)
		snprintf(lhc.secret, sizeof(lhc.secret), "%s", s);
	int rc = coord_connect(&conn, lhc.host, lhc.port, 5000);
	if (rc < 0) {
		if (loud)
			log_err("cannot reach the coordinator at %s:%d: %s", lhc.host, lhc.port,
				strerror(-rc));
		return rc;
	}
	conn.fd = move_fd_high(conn.fd);
	lh.coord_fd = conn.fd;
	struct proto_hello_worker h;
	struct proto_welcome w;
	char errbuf[512] = "";
	fill_hello(&h);
	rc = coord_hello_worker(&conn, &h, &w, errbuf, sizeof(errbuf), 10000);
	if (rc < 0) {
		if (loud)
			log_err("the coordinator at %s:%d refused this process: %s", lhc.host,
				lhc.port, errbuf[0] ? errbuf : strerror(-rc));
		coord_close(&conn);
		lh.coord_fd = -1;
		return rc;
	}
	lhc.job_id = w.coord_id;
	snprintf(lhc.coord_ckptdir, sizeof(lhc.coord_ckptdir), "%s", w.ckptdir);
#ifdef LH_WITH_MPI
	lh_mpi_joined(&conn); /* MPI_REGISTER again on every (new) coordinator */
#endif
	return 0;
}

static const char *image_dir(void)
{
	if (lhc.ckptdir[0])
		return lhc.ckptdir;
	if (lhc.coord_ckptdir[0])
		return lhc.coord_ckptdir;
	return lhc.launch_cwd;
}

static int mkdir_p(const char *path)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static void image_names(uint32_t gen, char *dir, size_t dl, char *file, size_t fl)
{
	snprintf(dir, dl, "%s/gen-%06u", image_dir(), gen);
	snprintf(file, fl, "%s/ckpt_%s_%s.dmtcp", dir, lhc.progname, lhc.upid);
}


static void cmdline_read(void)
{
	/* set by lh_main from argv; nothing to do here */
}

static void send_written(int status, uint64_t bytes, const char *text);

/* Everything an image holds, gathered while the application is parked. */
struct capture {
	struct img_header_info h;
	struct img_region *regs;
	size_t nregs;
	struct img_blob blobs[12];
	size_t nb;
	void *owned[12]; /* buffers to free */
	size_t nowned;
};

static void capture_free(struct capture *c)
{
	free(c->regs);
	for (size_t i = 0; i < c->nowned; i++)
		free(c->owned[i]);
	memset(c, 0, sizeof(*c));
}

static void add_blob(struct capture *c, uint32_t type, void *data, size_t len)
{
	c->owned[c->nowned++] = data;
	c->blobs[c->nb++] = (struct img_blob){type, data, len};
}

static int capture(uint32_t gen, uint32_t nprocs, struct capture *c, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	char dir[4096];
	image_names(gen, dir, sizeof(dir), cur.path, sizeof(cur.path));
	int rc = mkdir_p(dir);
	if (rc < 0) {
		snprintf(err, errlen, "cannot create checkpoint directory %s: %s", dir, strerror(-rc));
		return rc;
	}
	void *arena_blob = NULL, *proc = NULL, *fds = NULL, *fdata = NULL, *pipes = NULL;
	void *fids = NULL;
	size_t arena_len = 0, proc_len = 0, fds_len = 0, fdata_len = 0, pipes_len = 0, fids_len = 0;
	rc = lh_collect_regions(&c->regs, &c->nregs, &arena_blob, &arena_len);
	if (rc == 0) /* which pages changed since the last capture (incremental images) */
		rc = lh_dirty_capture(gen, cur.path, c->regs, c->nregs);
	if (rc == 0)
		rc = lh_collect_proc(&proc, &proc_len);
	if (rc == 0)
		rc = lh_collect_fds(&fds, &fds_len, &fdata, &fdata_len);
	if (rc == 0)
		rc = lh_collect_pipes(&pipes, &pipes_len);
	if (rc == 0)
		rc = lh_fileids_build(c->regs, c->nregs, &fids, &fids_len);
	struct lh_thread_ctx *threads = calloc(lh.nslots + 1, sizeof(*threads));
	if (rc == 0 && !threads)
		rc = -ENOMEM;
	int nthr = 0;
	for (int i = 0; threads && i < lh.nslots; i++)
		if (lh.slots[i].state == 2)
			threads[nthr++] = lh.slots[i].ctx;
	add_blob(c, IMG_BLOB_PROC, proc, proc_len);
	add_blob(c, IMG_BLOB_THREADS, threads, nthr * sizeof(*threads));
	add_blob(c, IMG_BLOB_ARENA, arena_blob, arena_len);
	add_blob(c, IMG_BLOB_FDS, fds, fds_len);
	if (fdata_len)
		add_blob(c, IMG_BLOB_FILEDATA, fdata, fdata_len);
	else
		free(fdata);
	if (pipes_len)
		add_blob(c, IMG_BLOB_PIPES, pipes, pipes_len);
	else
		free(pipes);
	add_blob(c, LH_BLOB_FILEIDS, fids, fids_len);
	void *zombies = NULL;
	size_t zombies_len = 0;
	if (rc == 0)
		rc = lh_collect_zombies(&zombies, &zombies_len);
	if (zombies)
		add_blob(c, LH_BLOB_ZOMBIES, zombies, zombies_len);
	void *settings = NULL;
	size_t settings_len = 0;
	if (rc == 0)
		rc = lh_collect_settings(&settings, &settings_len);
	if (settings)
		add_blob(c, LH_BLOB_SETTINGS, settings, settings_len);
#ifdef LH_WITH_MPI
	void *mpib = NULL;
	size_t mpib_len = 0;
	if (rc == 0)
		rc = lh_mpi_collect(&mpib, &mpib_len);
	if (mpib)
		add_blob(c, LH_BLOB_MPI, mpib, mpib_len);
#endif
	if (rc < 0) {
		snprintf(err, errlen, "cannot collect the process state: %s", strerror(-rc));
		capture_free(c);
		return rc;
	}
	struct img_header_info *h = &c->h;
	h->generation = gen;
	h->nprocs = nprocs;
	h->job_id = lhc.job_id;
	h->uid = getuid();
	h->vpid = lh.vpid;
	h->vppid = lh.vppid;
	h->time_sec = time(NULL);
	h->arena_base = ARENA_BASE;
	h->arena_size = ARENA_SIZE;
	h->full_every = (uint32_t)lh_dirty_full_every(); /* a restart keeps --full-every */
	snprintf(h->uniquepid, sizeof(h->uniquepid), "%s", lhc.upid);
	snprintf(h->progname, sizeof(h->progname), "%s", lhc.progname);
	gethostname(h->hostname, sizeof(h->hostname) - 1);
	snprintf(h->cmdline, sizeof(h->cmdline), "%s", lhc.cmdline);
	if (!getcwd(h->cwd, sizeof(h->cwd)))
		h->cwd[0] = 0;
	return 0;
}

static int write_capture(struct capture *c, uint64_t *bytes, char *err, size_t errlen)
{
	/* With a coordinator, the image's directory entry becomes durable with the coordinator's
	 * fsync of this directory after it wrote the generation's MANIFEST here (coord_script.c,
	 * round 2), before anything names the image: one fsync fewer in series. */
	struct img_write_opts o = {.compress = lhc.gzip, .nthreads = lhc.ckpt_threads, .level = 1,
				   .codec = lhc.codec, .no_dir_sync = conn.fd >= 0,
				   .direct = lhc.direct_io};
	struct img_write_stats st;
	memset(&st, 0, sizeof(st));
	c->h.image_id = lh_dirty_image_id();
	int rc = img_write_ex(cur.path, &c->h, c->blobs, c->nb, c->regs, c->nregs, &o,
			      lh_dirty_incr(), &st, err, errlen);
	if (rc == 0) {
		*bytes = st.file_bytes;
		log_debug("generation %u: %s, %llu bytes in %.3f s (%llu bytes of memory left to "
			  "the parent image)",
			  c->h.generation, cur.path, (unsigned long long)st.file_bytes, st.seconds,
			  (unsigned long long)st.parent_bytes);
	}
	return rc;
}

static int write_image(uint32_t gen, uint32_t nprocs, uint64_t *bytes, char *err, size_t errlen)
{
#ifdef LH_WITH_MPI
	/* an initialised rank without a mailbox could not be restarted: no image */
	int mrc = lh_mpi_image_ok(err, errlen);
	if (mrc < 0)
		return mrc;
#endif
	struct capture c;
	int rc = capture(gen, nprocs, &c, err, errlen);
	if (rc == 0)
		rc = write_capture(&c, bytes, err, errlen);
	capture_free(&c);
	return rc;
}

/*
 * Forked checkpoint: the image is written by a copy-on-write child of this process while the
 * application runs on. The child is made with a raw clone whose exit signal is 0, so the
 * application's own wait() never sees it; it reports {status, bytes, text} through a pipe.
 * Only the checkpoint thread exists in the child, and at the fork no other lower-half thread
 * of a non-MPI process holds a libc lock (application threads are parked in our handler).
 */
struct forked_result {
	int32_t status;
	uint32_t pad;
	uint64_t bytes;
	char text[1024];
};

static struct {
	int active;  /* a child is writing */
	pid_t pid;
	int fd;      /* read end of its result pipe */
	double t_parked; /* when the application was parked */
} fk = {.fd = -1};

static int start_forked(uint32_t gen, uint32_t nprocs, char *err, size_t errlen)
{
	struct capture c;
	int rc = capture(gen, nprocs, &c, err, errlen);
	if (rc < 0)
		return rc;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot make a pipe for the checkpoint writer: %s",
			 strerror(errno));
		capture_free(&c);
		return rc;
	}
	long pid = syscall(SYS_clone, 0L /* exit signal 0, no sharing */, 0L, 0L, 0L, 0L);
	if (pid == 0) {
		close(p[0]);
		struct forked_result r;
		memset(&r, 0, sizeof(r));
		r.status = -write_capture(&c, &r.bytes, r.text, sizeof(r.text));
		ssize_t w = write(p[1], &r, sizeof(r));
		(void)w;
		syscall(SYS_exit_group, r.status ? 1 : 0);
	}
	rc = pid < 0 ? -errno : 0;
	capture_free(&c);
	close(p[1]);
	if (rc < 0) {
		close(p[0]);
		snprintf(err, errlen, "cannot fork the checkpoint writer: %s", strerror(-rc));
		return rc;
	}
	fk.active = 1;
	fk.pid = (pid_t)pid;
	fk.fd = move_fd_high(p[0]);
	return 0;
}

/* The writer child answered (or died): report WRITTEN. */
static void finish_forked(void)
{
	struct forked_result r;
	memset(&r, 0, sizeof(r));
	ssize_t n = read(fk.fd, &r, sizeof(r));
	int st = 0;
	while (waitpid(fk.pid, &st, __WCLONE) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(r)) {
		/* the writer died: what it left behind is no image */
		char tmp[4200];
		snprintf(tmp, sizeof(tmp), "%s.tmp", cur.path);
		unlink(tmp);
		r.status = EIO;
		snprintf(r.text, sizeof(r.text), "the checkpoint writer (pid %d) died: %s",
			 (int)fk.pid,
			 WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "no result");
	}
	r.text[sizeof(r.text) - 1] = 0;
	close(fk.fd);
	fk.fd = -1;
	fk.active = 0;
	if (r.status)
		log_err("checkpoint generation %u failed: %s", cur.gen, r.text);
	cur.written = r.status == 0;
	send_written(r.status, r.bytes, r.text);
}

/* After every image of generation gen is durable: point the top-level name at it and drop
 * our images of generations older than the ones kept. */
static void commit(uint32_t gen)
{
	char dir[4096], file[4096], link[4096], tmp[4200], target[512];
	image_names(gen, dir, sizeof(dir), file, sizeof(file));
	snprintf(link, sizeof(link), "%s/ckpt_%s_%s.dmtcp", image_dir(), lhc.progname, lhc.upid);
	snprintf(target, sizeof(target), "gen-%06u/ckpt_%s_%s.dmtcp", gen, lhc.progname, lhc.upid);
	snprintf(tmp, sizeof(tmp), "%s.lnk%d", link, (int)getpid());
	unlink(tmp);
	if (symlink(target, tmp) < 0 || rename(tmp, link) < 0) {
		log_warn("cannot update %s: %s", link, strerror(errno));
		unlink(tmp);
	}
	lh_dirty_committed(gen);
	if (lhc.keep <= 0)
		return;
	/* a kept incremental image needs its chain: nothing below its full image goes */
	for (uint32_t g = lh_dirty_prune_from(file, gen, lhc.keep); g > 0; g--) {
		image_names(g, dir, sizeof(dir), file, sizeof(file));
		char tmp[4200];
		snprintf(tmp, sizeof(tmp), "%s.tmp", file);
		int gone = unlink(tmp) == 0; /* left by a writer that died */
		if (unlink(file) < 0 && errno == ENOENT && !gone && g + 64 < gen)
			break;
		lh_dirty_rmdir_gen(dir); /* stays while other processes' images are there */
	}
}

static void send_written(int status, uint64_t bytes, const char *text)
{
	struct proto_written w;
	memset(&w, 0, sizeof(w));
	w.status = status;
	w.bytes = bytes;
	snprintf(w.path, sizeof(w.path), "%s", cur.path);
	gethostname(w.hostname, sizeof(w.hostname) - 1);
	snprintf(w.text, sizeof(w.text), "%s", text ? text : "");
	coord_send_written(&conn, &w, 30000);
}

static void lost_coordinator(void);

/* The generation is over: let an exit or exec that waited for it go on (lh.gen_open). */
static void generation_closed(void)
{
	if (__atomic_exchange_n(&lh.gen_open, 0, __ATOMIC_ACQ_REL))
		sys_futex((int *)&lh.gen_open, FUTEX_WAKE, 0x7fffffff, 0);
}

static void handle(struct proto_msg *m)
{
	switch (m->hdr.type) {
	case MSG_SUSPEND: {
		struct proto_suspend s;
		if (proto_dec_suspend(m, &s) < 0)
			break;
		cur.gen = s.generation;
		cur.nprocs = s.nprocs;
		cur.written = 0;
#ifdef LH_WITH_MPI
		/* docs/mpi-ckpt.md section 2: quiesce and drain MPI before parking */
		if (lh_mpi_active()) {
			int q = lh_mpi_suspend(&conn, cur.gen);
			if (q < 0)
				lost_coordinator();
			if (q != 0)
				break;
		}
#endif
		lh_busy_leave();
		int rc = park_all();
		lh_busy_enter();
		if (rc < 0)
			log_err("cannot stop the application's threads: %s", strerror(-rc));
		coord_send_empty(&conn, MSG_SUSPENDED, 30000);
		break;
	}
	case MSG_WRITE: {
		struct proto_suspend ws;
		if (proto_dec_write(m, &ws) == 0 && ws.generation == cur.gen)
			cur.nprocs = ws.nprocs;
		char err[1024] = "";
		uint64_t bytes = 0;
		if (lhc.forked && !fk.active && start_forked(cur.gen, cur.nprocs, err, sizeof(err)) == 0) {
			coord_send_empty(&conn, MSG_CAPTURED, 30000);
			break;
		}
		int rc = write_image(cur.gen, cur.nprocs, &bytes, err, sizeof(err));
		if (rc < 0)
			log_err("checkpoint generation %u failed: %s", cur.gen, err);
		cur.written = rc == 0;
		send_written(rc < 0 ? -rc : 0, bytes, err);
		break;
	}
	case MSG_GO:
		/* every process is captured: run while the writer child finishes the image (an
		 * exit or exec of the application waits for the end of the generation) */
		__atomic_store_n(&lh.gen_open, 1, __ATOMIC_RELEASE);
		unpark_all();
		break;
	case MSG_RESUME: {
		struct proto_resume r;
		if (proto_dec_resume(m, &r) < 0)
			r.committed = 0;
		if (r.committed && cur.written)
			commit(cur.gen);
		generation_closed();
		unpark_all();
#ifdef LH_WITH_MPI
		lh_mpi_resume(); /* CMD_RESUME, wait REP_RESUMED */
#endif
		coord_send_empty(&conn, MSG_RESUMED, 30000);
		break;
	}
	case MSG_KILL:
		kill(getpid(), SIGKILL);
		break;
	case MSG_ERROR: {
		char text[512];
		if (proto_dec_error(m, text, sizeof(text)) == 0)
			log_err("coordinator: %s", text);
		break;
	}
	default:
		break;
	}
}

/* The coordinator vanished in the middle of a checkpoint: let the application run on. */
static void lost_coordinator(void)
{
	if (__atomic_load_n(&lh.ckpt_active, __ATOMIC_ACQUIRE)) {
		log_warn("the coordinator went away during checkpoint generation %u; "
			 "resuming the application without it",
			 cur.gen);
		unpark_all();
#ifdef LH_WITH_MPI
		lh_mpi_resume();
#endif
	} else if (fk.active) {
		log_warn("the coordinator went away during checkpoint generation %u while its "
			 "image was being written; that generation will not be committed",
			 cur.gen);
	}
	generation_closed();
	coord_close(&conn);
	lh.coord_fd = -1;
}

/* Without a coordinator (--no-coordinator): checkpoint every lhc.interval seconds on our own.
 * Each process of a tree does so independently, so their images are not one consistent cut;
 * a job made of several processes needs a coordinator. */
static void standalone_loop(void)
{
	uint32_t gen = lhc.restarted_from;
	for (;;) {
		if (lhc.interval <= 0) {
			pause();
			continue;
		}
		sleep(lhc.interval);
		gen++;
		cur.gen = gen;
		cur.nprocs = 1;
		int rc = park_all();
		lh_busy_enter();
		char err[1024] = "";
		uint64_t bytes = 0;
		if (rc == 0)
			rc = write_image(gen, 1, &bytes, err, sizeof(err));
		if (rc == 0)
			commit(gen);
		else
			log_err("checkpoint generation %u failed: %s", gen, err);
		lh_busy_leave();
		unpark_all();
	}
}

static void *ckpt_thread(void *arg)
{
	(void)arg;
	park_add_lower_tid((int)sys_gettid());
	/* Offset of the tid field in the lower libc's struct pthread: used when a forked child
	 * borrows the main thread's TLS and must say who it is. */
	int me = (int)sys_gettid();
	const int *p = (const int *)pthread_self();
	for (int off = 0; off < 4096; off += 4)
		if (p[off / 4] == me) {
			lh.lower_tid_off = off;
			break;
		}
	sem_post(&ready);
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	time_t next_try = 0;
	/* Every image header carries the hwloc summary. Discovering the topology (loading
	 * hwloc's plugins) costs 2-8 ms of CPU here: pay it once, now, while the application
	 * runs, not in every checkpoint; the forked image writer inherits the cached text. */
	lh_busy_enter();
	img_hwloc_summary(NULL, 0);
	lh_busy_leave();
#ifdef LH_WITH_MPI
	/* a restarted MPI rank: its upper half rebuilds MPI before the coordinator sees it */
	if (lh_mpi_restart_pending()) {
		lh_busy_enter();
		lh_mpi_restart_handshake();
		if (!lhc.no_coord && coord_join(1) < 0)
			next_try = time(NULL) + 2;
		lh_busy_leave();
	}
#endif
	for (;;) {
		if (conn.fd < 0) {
			if (lhc.no_coord) {
				standalone_loop();
				continue;
			}
			time_t now = time(NULL);
			if (now < next_try) {
				sleep(1);
				continue;
			}
			lh_busy_enter();
			int rc = coord_join(0);
			lh_busy_leave();
			next_try = now + 2;
			if (rc < 0)
				continue;
			log_info("reconnected to the coordinator at %s:%d", lhc.host, lhc.port);
		}
		struct pollfd pfd[3] = {{.fd = conn.fd, .events = POLLIN},
					{.fd = fk.active ? fk.fd : -1, .events = POLLIN},
					{.fd = -1, .events = POLLIN}};
#ifdef LH_WITH_MPI
		pfd[2].fd = lh_mpi_efd(); /* REGISTER / FINALIZED of the upper half */
#endif
		if (poll(pfd, 3, -1) < 0 && errno != EINTR) {
			lost_coordinator();
			continue;
		}
#ifdef LH_WITH_MPI
		if (pfd[2].revents & POLLIN) {
			lh_busy_enter();
			lh_mpi_event(&conn);
			lh_busy_leave();
			if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
		}
#endif
		if (fk.active && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			lh_busy_enter();
			finish_forked();
			lh_busy_leave();
			if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
		}
		lh_busy_enter();
		struct proto_msg m;
		memset(&m, 0, sizeof(m));
		int rc = coord_recv(&conn, &m, 0);
		if (rc == -ETIMEDOUT) {
			lh_busy_leave();
			continue;
		}
		if (rc < 0) {
			lost_coordinator();
			lh_busy_leave();
			continue;
		}
		handle(&m);
		proto_msg_free(&m);
		lh_busy_leave();
	}
	return NULL;
}

int lh_ckpt_start(void)
{
	coord_conn_init(&conn);
	lh.coord_fd = -1;
	int defer = 0;
#ifdef LH_WITH_MPI
	defer = lh_mpi_restart_pending(); /* joins after the MPI rebuild (checkpoint thread) */
#endif
	if (!lhc.no_coord && !defer && coord_join(1) < 0)
		return -1;
	sem_init(&ready, 0, 0);
	pthread_t t;
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	int rc = pthread_create(&t, &a, ckpt_thread, NULL);
	pthread_attr_destroy(&a);
	if (rc != 0) {
		log_err("cannot start the checkpoint thread: %s", strerror(rc));
		return -1;
	}
	while (sem_wait(&ready) < 0 && errno == EINTR)
		;
	cmdline_read();
	return 0;
}

/* In a forked child: the parent's connection is shared with the parent; drop our copy and
 * join as a new process. Runs on the application's thread with borrowed lower-half TLS. */
void lh_after_fork_child(int parent_vpid)
{
	if (lh.lower_tid_off > 0)
		*(int *)(lh.main_lower_fs + lh.lower_tid_off) = (int)sys_gettid();
	if (conn.fd >= 0)
		sys_call1(SYS_close, conn.fd);
	conn.fd = -1;
	coord_close(&conn);
	coord_conn_init(&conn);
#ifdef LH_WITH_MPI
	lh_mpi_fork_child(); /* not an MPI rank: checkpointed as a plain process */
#endif
	lh.coord_fd = -1;
	park_reset_lower_tids();
	lh.vppid = parent_vpid;
	lh.parent_in_tree = 1;
	lh.vpid = (int)sys_getpid(); /* a new process: its real pid is its virtual pid */
	lh.nthr = 0;
	lh.nslots = 0;
	lh.ckpt_active = 0;
	/* the parent's image writer and generation are the parent's: its result pipe read here
	 * would steal the parent's result ('the checkpoint writer died: no result' there) */
	if (fk.fd >= 0)
		sys_call1(SYS_close, fk.fd);
	fk.fd = -1;
	fk.active = 0;
	lh.gen_open = 0;
	lhc.restarted_from = 0;
	lh_new_upid();
	lh_priv_env_build();
	lh.busy = 0;
	if (lh_ckpt_start() < 0)
		log_warn("forked child %d runs without checkpoints", lh.vpid);
}
