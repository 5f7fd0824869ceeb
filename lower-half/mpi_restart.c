/*
 * mpi_restart.c - restart of an MPI rank (splitckpt-lh-mpi --restore IMG; docs/mpi-ckpt.md
 * section 4). Before a byte of the upper half is restored, the fresh lower half initialises
 * MPI itself (MPI_Init_thread at the level the image records, on this lower main thread, with
 * the environment mpiexec/srun gave the new rank) and checks that new rank r restores the
 * image of old rank r and that the job has its old size. After the memory is back and before
 * any upper thread runs, the restored mailbox gets phase RESTORED, the new eventfd and epoch;
 * the checkpoint thread then sends CMD_RESTARTED and waits for REP_RESUMED (the upper half
 * rebuilds its MPI objects) before it joins the coordinator.
 *
 * Invariant: once MPI_Init ran, a failed restart ends with MPI_Abort (once its message has
 * left through stderr), so the other ranks of the job do not wait forever for this one.
 */
#define LOG_PREFIX "lh"
#include "mpi_ckpt.h"
#include "arena.h"
#include "ckpt.h"
#include "contract.h"
#include "image.h"
#include "lh.h"
#include "log.h"
#include "mpi_lower.h"
#include "sys_nolibc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <mpi.h>

/* The contract index of every entry of the list (mpi-wrappers/mpi_functions.def). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wcomment"
enum {
#define WRAP_FN(kind, ret, name, sym, params, args, notes) LH_IDX_##name,
#define WRAP_DATA(name, sym) LH_IDXD_##name,
#include "mpi_functions.def"
#undef WRAP_FN
#undef WRAP_DATA
	LH_IDX_N
};
#pragma GCC diagnostic pop

static struct {
	struct lh_mpi_blob b;
	int inited;  /* MPI_Init ran */
	int pending; /* a live mailbox: the checkpoint thread owes CMD_RESTARTED */
	int rank, size;
} rs;

int lh_mpi_restart_inited(void)
{
	return rs.inited;
}

int lh_mpi_restart_pending(void)
{
	return rs.pending;
}

/* Before an MPI_Abort: wait (at most 2 s) until the launcher has read what this rank wrote
 * to stderr (a pipe from mpiexec's proxy or a socket from slurmstepd), then 0.1 s for it to
 * pass it on. Otherwise the abort can end the launch before the message that says why is
 * forwarded (seen: 1 failed restart in 4 printed nothing but mpiexec's abort line). */
static void stderr_out(void)
{
	struct stat st;
	if (fstat(2, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
		for (int ms = 0; ms < 2000; ms += 5) {
			int n = 0;
			if (ioctl(2, S_ISFIFO(st.st_mode) ? FIONREAD : SIOCOUTQ, &n) < 0 || n <= 0)
				break;
			usleep(5000);
		}
	}
	usleep(100000);
}

static void __attribute__((noreturn)) abort_job(void)
{
	stderr_out();
	MPI_Abort(MPI_COMM_WORLD, 1);
	_exit(1);
}

/* dmtcp_restart refused this rank's restart (its message is printed): take the other ranks
 * of the launch down with it instead of leaving them waiting in MPI_Init. */
void lh_mpi_abort_job(void)
{
	if (MPI_Init(NULL, NULL) == MPI_SUCCESS)
		abort_job();
	_exit(1);
}

void lh_mpi_restart_abort(void)
{
	log_err("MPI rank %d: restart failed; aborting the MPI job", rs.rank);
	abort_job();
}

/* Descriptors held for the application (1) until restore_fds puts its own there. */
static unsigned char held[LH_FD_MIN];

/* A descriptor of the old MPI (UCX shared memory, sockets, eventfds, epoll): nothing to
 * reopen (and reopening a deleted /dev/shm file would create a stray file). */
static int old_mpi_fd(const char *path)
{
	size_t n = strlen(path);
	return !strncmp(path, "socket:[", 8) || !strncmp(path, "anon_inode:", 11) ||
	       (!strncmp(path, "/dev/shm/", 9) && n > 10 && !strcmp(path + n - 10, " (deleted)"));
}

/* restore_fds must leave alone stdio (the new mpiexec/srun's) and what the fresh MPI or its
 * launcher (PMI_FD, Hydra's pipes) opened: every fd open now that is not one of ours. The
 * image's descriptor of that number (the old launcher's or MPI's) is not restored; neither
 * is a descriptor of the old MPI (its number is given back). */
static int fd_is_mpis(int fd, const char *path)
{
	if (fd <= 2)
		return 1;
	if (fd >= LH_FD_MIN)
		return 0;
	if (held[fd]) {
		if (!old_mpi_fd(path))
			return 0;
		close(fd);
		held[fd] = 0;
		log_debug("fd %d (%s) was the old MPI's; not restored", fd, path);
		return 1;
	}
	if (fcntl(fd, F_GETFD) < 0)
		return old_mpi_fd(path);
	log_debug("fd %d belongs to the restarted MPI; the image's fd %d (%s) is not restored", fd,
		  fd, path);
	return 1;
}

/* Every descriptor number the image restores is held by /dev/null until then, so that the
 * fresh MPICH/UCX cannot take one (restore_fds would dup2 over it). */
static void reserve_fds(const struct img_reader *rd)
{
	const void *b;
	uint64_t len;
	int fds[1024];
	if (img_blob(rd, IMG_BLOB_FDS, &b, &len) < 0)
		return;
	int n = lh_fds_numbers(b, len, fds, 1024);
	for (int i = 0; i < n; i++) {
		if (fds[i] <= 2 || fds[i] >= LH_FD_MIN || fcntl(fds[i], F_GETFD) >= 0)
			continue;
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (fd == fds[i] || dup3(fd, fds[i], O_CLOEXEC) == fds[i])
			held[fds[i]] = 1;
		else
			log_warn("cannot keep fd %d free for the application: %s", fds[i],
				 strerror(errno));
		if (fd != fds[i])
			close(fd);
	}
	lh_restore_fd_skip = fd_is_mpis;
}

/* After MPI_Init: anything the fresh MPI (UCX, hwloc, hugepages, devices) mapped inside the
 * arena would be overwritten by the upper half. Reports every such mapping; 0 if none. */
static int arena_clean(const char *path)
{
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f) {
		log_perror("cannot read /proc/self/maps to check the arena after MPI_Init");
		return 0;
	}
	char line[4096 + 256];
	int bad = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		char perm[8] = "";
		int pos = 0;
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s%n", &s, &e, perm, &pos) < 3)
			continue;
		if (e <= ARENA_BASE || s >= ARENA_END)
			continue;
		const char *p = line + pos;
		while (*p == ' ')
			p++;
		if (!strcmp(perm, "---p") && (*p == '\n' || *p == 0))
			continue; /* our own reservation */
		line[strcspn(line, "\n")] = 0;
		log_err("%s: the fresh MPI of the restarted rank mapped %s inside the "
			"application's address range 0x%lx-0x%lx, where the image must go back",
			path, line, ARENA_BASE, ARENA_END);
		bad++;
	}
	fclose(f);
	return bad ? -1 : 0;
}

static int read_blob(const struct img_reader *rd, const char *path)
{
	const void *p;
	uint64_t len;
	if (img_blob(rd, LH_BLOB_MPI, &p, &len) < 0) {
		log_err("%s has no MPI section: it is not the image of an MPI rank; restart it "
			"with dmtcp_restart (which starts splitckpt-lh for it)",
			path);
		return -1;
	}
	const struct lh_mpi_blob *b = p;
	if (len < 8 || b->magic != LH_MPI_BLOB_MAGIC || b->size > len ||
	    b->size < sizeof(struct lh_mpi_blob)) {
		log_err("%s: the MPI section is damaged or from another splitckpt version (magic "
			"%#x, size %u of %llu bytes)",
			path, len >= 4 ? b->magic : 0, len >= 8 ? b->size : 0,
			(unsigned long long)len);
		return -1;
	}
	rs.b = *b;
	rs.b.launcher[sizeof(rs.b.launcher) - 1] = 0;
	if (rs.b.mailbox && !arena_contains(rs.b.mailbox, sizeof(struct lh_mpi_mailbox))) {
		log_err("%s: the MPI mailbox address %#llx is outside the application's memory",
			path, (unsigned long long)rs.b.mailbox);
		return -1;
	}
	return 0;
}

/* MPI_Initialized and MPI_Finalized of a restarted rank that had finalized MPI: its fresh
 * lower MPI is never initialised (nothing to finalize either), so MPICH would answer 0 to
 * both, while the application saw 1 and 1 before the checkpoint (the mailbox's finalized,
 * kept in the image). Called through the gate like any lower MPI function. */
static int finalized_answer(int *flag)
{
	if (flag)
		*flag = 1;
	return MPI_SUCCESS;
}

/* A rank that had called MPI_Finalize: its rank and size come from the launcher's
 * environment (PMI_RANK/PMI_SIZE, SLURM_PROCID/SLURM_NTASKS); a mismatch is refused. */
static int finalized_rank(const char *path, struct lh_contract *c)
{
	if (c->nfuncs > LH_IDX_MPI_Finalized && c->nfuncs > LH_IDX_MPI_Initialized) {
		c->fn[LH_IDX_MPI_Finalized] = (void *)finalized_answer;
		c->fn[LH_IDX_MPI_Initialized] = (void *)finalized_answer;
	}
	const char *r = getenv("PMI_RANK"), *z = getenv("PMI_SIZE");
	if (!r || !z)
		r = getenv("SLURM_PROCID"), z = getenv("SLURM_NTASKS");
	int rank = r ? atoi(r) : -1, size = z ? atoi(z) : -1;
	if ((rank >= 0 && rs.b.world_rank >= 0 && rank != rs.b.world_rank) ||
	    (size > 0 && rs.b.world_size > 0 && size != rs.b.world_size)) {
		char host[256] = "";
		gethostname(host, sizeof(host) - 1);
		log_err("%s is the image of MPI rank %d of a job of %d ranks, but this process on "
			"%s is rank %d of %d: restart every rank r from the image of old rank r; "
			"nothing was restored",
			path, rs.b.world_rank, rs.b.world_size, host, rank, size);
		return -1;
	}
	rs.rank = rs.b.world_rank;
	rs.size = rs.b.world_size;
	c->epoch = (rs.b.epoch ? rs.b.epoch : 1) + 1;
	return 0;
}

int lh_mpi_restart_begin(const struct img_reader *rd, const char *path)
{
	if (read_blob(rd, path) < 0)
		return -1;
	lh.main_lower_fs = lh_get_fs();
	if (lh_mpi_setup() < 0)
		return -1;
	struct lh_contract *c = lh_mpi_contract();
	reserve_fds(rd);
	if (rs.b.finalized) /* MPI is over for this rank: nothing to initialise (or finalize) */
		return finalized_rank(path, c);
	int level = rs.b.thread_level;
	if (level < MPI_THREAD_SINGLE || level > MPI_THREAD_MULTIPLE)
		level = (int)c->max_thread_level; /* never initialised: the most the gate allows */
	int provided = -1;
	int r = MPI_Init_thread(NULL, NULL, level, &provided);
	if (r != MPI_SUCCESS) {
		char s[MPI_MAX_ERROR_STRING] = "";
		int sl = 0;
		MPI_Error_string(r, s, &sl);
		log_err("%s: MPI_Init_thread failed in the restarted rank: %s (is this restart "
			"started by mpiexec or srun, like the launch?)",
			path, s);
		return -1;
	}
	rs.inited = 1;
	if (arena_clean(path) < 0)
		return -1; /* the caller aborts the job */
	MPI_Comm_rank(MPI_COMM_WORLD, &rs.rank);
	MPI_Comm_size(MPI_COMM_WORLD, &rs.size);
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	int bad = (rs.b.world_size >= 0 && rs.b.world_size != rs.size) ||
		  (rs.b.world_rank >= 0 && rs.b.world_rank != rs.rank);
	if (bad)
		log_err("%s is the image of MPI rank %d of a job of %d ranks, but this process on "
			"%s is rank %d of %d: restart every rank r from the image of old rank r, "
			"with as many ranks as the checkpointed job (e.g. mpiexec -n %d "
			"dmtcp_restart --restartdir DIR); nothing was restored",
			path, rs.b.world_rank, rs.b.world_size, host, rs.rank, rs.size,
			rs.b.world_size);
	/* Every rank learns whether one refused, and then all end through MPI_Finalize: an
	 * MPI_Abort here could end the launch before mpiexec had forwarded the message above
	 * (seen: 1 refused restart in 8 on 2 loaded cores lost its whole stderr). */
	int anybad = 1;
	if (MPI_Allreduce(&bad, &anybad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS) {
		log_err("MPI rank %d: the check of every rank's image failed; aborting the MPI job",
			rs.rank);
		abort_job();
	}
	if (anybad) {
		if (!bad)
			log_err("MPI rank %d on %s: another rank refused its image (see its message); "
				"nothing was restored",
				rs.rank, host);
		MPI_Finalize();
		_exit(1);
	}
	if (provided < level)
		log_warn("MPI rank %d: the fresh MPI gives thread level %d, the image had %d", rs.rank,
			 provided, level);
	c->epoch = (rs.b.epoch ? rs.b.epoch : 1) + 1;
	rs.pending = rs.b.mailbox != 0 && !rs.b.finalized;
	log_debug("MPI rank %d of %d on %s: MPI initialised for %s (level %d, epoch %llu)",
		  rs.rank, rs.size, host, path, provided, (unsigned long long)c->epoch);
	return 0;
}

int lh_mpi_restart_memory(const char *path)
{
	if (!rs.b.mailbox)
		return 0;
	struct lh_contract *c = lh_mpi_contract();
	struct lh_mpi_mailbox *mb = (struct lh_mpi_mailbox *)rs.b.mailbox;
	if (mb->magic != LH_MPI_MAILBOX_MAGIC || mb->version != LH_MPI_MAILBOX_VERSION ||
	    mb->size < sizeof(*mb)) {
		log_err("%s: the restored MPI mailbox at %p is not valid (magic %#x version %u size "
			"%u)",
			path, (void *)mb, mb->magic, mb->version, mb->size);
		return -1;
	}
	mb->efd = lh_mpi_efd();
	mb->epoch = c->epoch;
	if (rs.pending)
		__atomic_store_n(&mb->phase, LH_MPI_RESTORED, __ATOMIC_RELEASE);
	c->mpi_mailbox = mb;
	lh_mpi_seen_now(mb);
	return 0;
}

int lh_mpi_restart_handshake(void)
{
	struct lh_mpi_mailbox *mb = lh_mpi_mailbox();
	rs.pending = 0;
	if (!mb)
		return -1;
	lh_mpi_post(mb, LH_MPI_CMD_RESTARTED);
	lh_mpi_wait_reply(mb, LH_MPI_REP_RESUMED, 10, "RESTARTED (rebuilding its MPI objects)");
	char text[LH_MPI_TEXT];
	size_t k = 0;
	while (k + 1 < sizeof(text) && mb->text[k])
		text[k] = mb->text[k], k++;
	text[k] = 0;
	if (text[0])
		log_warn("MPI rank %d after restart: %s", rs.rank, text);
	return 0;
}
