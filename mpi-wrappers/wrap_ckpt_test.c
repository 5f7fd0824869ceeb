/*
 * wrap_ckpt_test.c - test entry points of the MPI checkpoint's upper side (tests only,
 * exported from the upper half's libmpich.so.12 like SPLITCKPT_test_rebuild_handles).
 *
 * They let a test program play the lower half's part in-process: write a command into the
 * mailbox exactly as lower-half/mpi_ckpt.c does (fields, cmd, to_upper++ with release,
 * FUTEX_WAKE) and read the reply (to_lower changes), so that the door, the service thread,
 * the rounds and the drain run for real inside a running MPI job without a coordinator. While
 * a test drives the mailbox, the lower half's eventfd is not written (efd -1), so the real
 * lower half does not see replies meant for the test.
 *
 * Not for products: nothing here is used by the checkpoint itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "wrap.h"
#include "wrap_door.h"

#define MB wrap_ckpt_mb

static int32_t saved_efd = -2;

static void post(int cmd, unsigned round, uint32_t final, int n, const unsigned long long *gt)
{
	MB.round = round;
	MB.final = final;
	MB.n_targets = (uint32_t)n;
	for (int i = 0; i < n; i++) {
		MB.targets[i].gid = gt[2 * i];
		MB.targets[i].target = gt[2 * i + 1];
	}
	__atomic_store_n(&MB.cmd, (uint32_t)cmd, __ATOMIC_RELEASE);
	__atomic_fetch_add(&MB.to_upper, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &MB.to_upper, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* Send command cmd (with round/final/targets for LH_MPI_CMD_TARGETS: n pairs gid,target in
 * gt[2n]) and wait up to timeout_ms for the reply (final targets: the OUT report is answered
 * with the go for the drain, LH_MPI_FINAL_DRAIN, as the coordinator would, and the reply is
 * the drain's). Returns the reply (enum lh_mpi_reply), 0
 * when none came in time, -1 when MPI_Init* has not set up the mailbox. Replies that answer
 * an earlier command (update reports of an older round) are read and skipped, and `taken`
 * is set as the lower half does, so that the next report can come. For REP_REPORT,
 * *flags, *n_out and up to max triples (gid, seq, want) in rep[3*max] are filled; text (if
 * not NULL) gets the reply's text. */
WRAP_EXPORT int SPLITCKPT_test_ckpt_command(int cmd, unsigned round, int final, int n,
					    const unsigned long long *gt, int timeout_ms,
					    unsigned *flags, int *n_out, unsigned long long *rep,
					    int max, char *text, int textlen);
WRAP_EXPORT int SPLITCKPT_test_ckpt_command(int cmd, unsigned round, int final, int n,
					    const unsigned long long *gt, int timeout_ms,
					    unsigned *flags, int *n_out, unsigned long long *rep,
					    int max, char *text, int textlen)
{
	if (MB.magic != LH_MPI_MAILBOX_MAGIC)
		return -1;
	if (saved_efd == -2) {
		saved_efd = MB.efd;
		__atomic_store_n(&MB.efd, -1, __ATOMIC_SEQ_CST);
	}
	if (n < 0 || n > LH_MPI_MAX_COMMS)
		return -1;
	uint32_t before = __atomic_load_n(&MB.to_lower, __ATOMIC_ACQUIRE);
	/* replies that came since the last command (updates of its round) count as read */
	__atomic_store_n(&MB.taken, before, __ATOMIC_RELEASE);
	if (cmd == LH_MPI_CMD_SUSPEND)
		MB.gen++;
	post(cmd, round, (uint32_t) final, n, gt);

	for (long waited = 0; waited < (long)timeout_ms * 10; waited++) {
		uint32_t now = __atomic_load_n(&MB.to_lower, __ATOMIC_ACQUIRE);
		if (now != before) {
			int r = (int)MB.reply;
			/* the answer to this command: a report of its round (the first one of a
			 * round is settled; later ones are updates of an older round), else a
			 * reply that is not a report */
			int ours = r != LH_MPI_REP_REPORT
				       ? cmd != LH_MPI_CMD_SUSPEND && (cmd != LH_MPI_CMD_TARGETS || final)
				       : (cmd == LH_MPI_CMD_SUSPEND && MB.report_round == 0) ||
					     (cmd == LH_MPI_CMD_TARGETS && !final &&
					      MB.report_round == round);
			if (r == LH_MPI_REP_ERROR)
				ours = 1;
			if (r == LH_MPI_REP_REPORT && (MB.report_flags & LH_MPI_REPORT_OUT) &&
			    cmd == LH_MPI_CMD_TARGETS && final) {
				/* every thread of this rank is out: the coordinator's part, for one
				 * rank, is the go for the drain (every rank of the test gets there)
				 */
				before = now;
				__atomic_store_n(&MB.taken, now, __ATOMIC_RELEASE);
				post(LH_MPI_CMD_TARGETS, round + 1, LH_MPI_FINAL_DRAIN, 0, NULL);
				continue;
			}
			if (!ours) { /* read as the lower half would: the next report may come */
				before = now;
				__atomic_store_n(&MB.taken, now, __ATOMIC_RELEASE);
				continue;
			}
			if (r == LH_MPI_REP_REPORT) {
				if (flags)
					*flags = MB.report_flags;
				if (n_out)
					*n_out = (int)MB.n_report;
				for (uint32_t i = 0; rep && i < MB.n_report && (int)i < max; i++) {
					rep[3 * i] = MB.report[i].gid;
					rep[3 * i + 1] = MB.report[i].seq;
					rep[3 * i + 2] = MB.report[i].want;
				}
			}
			if (text && textlen > 0) {
				strncpy(text, MB.text, (size_t)textlen - 1);
				text[textlen - 1] = 0;
			}
			__atomic_store_n(&MB.taken, now, __ATOMIC_RELEASE);
			if (cmd == LH_MPI_CMD_RESUME && saved_efd != -2) {
				__atomic_store_n(&MB.efd, saved_efd, __ATOMIC_SEQ_CST);
				saved_efd = -2;
			}
			return r;
		}
		struct timespec ts = {0, 100000};
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* What the service thread sees of the application threads now (after a membarrier): counts
 * of registered threads, threads inside MPI, inside a collective, waiting at the door for a
 * collective; and the phase. */
WRAP_EXPORT void SPLITCKPT_test_door(unsigned out[5]);
WRAP_EXPORT void SPLITCKPT_test_door(unsigned out[5])
{
	struct wrap_door_census c;
	wrap_door_barrier();
	wrap_door_census(&c, NULL, NULL);
	out[0] = c.threads;
	out[1] = c.inside;
	out[2] = c.in_coll;
	out[3] = c.waiting;
	out[4] = __atomic_load_n(&MB.phase, __ATOMIC_ACQUIRE);
}

/* seq and gid of a virtual communicator (MPI_COMM_WORLD included). */
WRAP_EXPORT unsigned long long SPLITCKPT_test_seq(int vcomm, unsigned long long *gid);
WRAP_EXPORT unsigned long long SPLITCKPT_test_seq(int vcomm, unsigned long long *gid)
{
	struct wrap_seq *s = wrap_seq_of(vcomm);
	if (gid)
		*gid = s->gid;
	return __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
}

/* Write the phase as the lower half does on a restart (LH_MPI_RESTORED before the restored
 * threads run), so that a test can send CMD_RESTARTED inside a running job. */
WRAP_EXPORT void SPLITCKPT_test_set_phase(unsigned phase);
WRAP_EXPORT void SPLITCKPT_test_set_phase(unsigned phase)
{
	__atomic_store_n(&MB.phase, phase, __ATOMIC_SEQ_CST);
}

/* The thread level the LOWER MPI was initialised with (what a restart asks for again). */
WRAP_EXPORT int SPLITCKPT_test_lower_thread_level(void);
WRAP_EXPORT int SPLITCKPT_test_lower_thread_level(void)
{
	return MB.magic == LH_MPI_MAILBOX_MAGIC ? MB.thread_level : -1;
}
