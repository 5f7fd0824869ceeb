/*
 * fake_mpi.c - TEST PEER ONLY, not a product component: N simulated MPI ranks in one process,
 * each a worker connection to a real dmtcp_coordinator speaking the real protocol (HELLO,
 * MSG_MPI REGISTER/REPORT/TARGETS/ERROR, SUSPENDED, WRITTEN, RESUMED) the way the lower
 * half's checkpoint thread does for a rank, with scripted collective sequence numbers, so the
 * coordinator's MPI rounds (coordinator/coord_mpi.c) can be tested and timed at any N.
 *
 *   fake_mpi --port P --dir DIR --ranks N --case CASE [--ckpts K] [--ready FILE] [--no-fsync]
 *
 * Cases (what every rank reports; docs/mpi-ckpt.md section 3):
 *   balanced  {1:5, 77:2}, QUIET: final after round 0
 *   behind    rank 0 {1:6}, the others {1:5}: targets 6, they catch up, final after round 1
 *   stall     rank 0 {1:5 want 6, 9:4} waits at a door; the others {1:5, 9:3} can reach 4 on
 *             comm 9 only after rank 0 went through its door (target 6 on comm 1); all
 *             STALLED: the coordinator must raise comm 1 to 6
 *   error     the last rank answers SUSPEND with MPI_ERROR: every rank must get RESUME
 *             committed=0 during its rounds
 *   late      as balanced, but the last rank sends MPI_REGISTER only when SUSPEND comes (what
 *             the lower half does when MPI_Init raced the checkpoint): it joins round 0
 *   dup       as balanced, plus one more connection that registers as rank 0 too (a forked
 *             child of rank 0) and answers SUSPEND like a plain process
 *   missing   the last rank disconnects before the checkpoint: the generation must fail
 *   finmix    as balanced, but the last rank finalized MPI before the checkpoint (it sends
 *             MPI_FINALIZED and answers SUSPEND like a plain process): the checkpoint must
 *             fail during the rounds, naming the finalized and the running ranks
 *   update    as behind, but in round 1 the ranks other than 0 first send an unsettled report
 *             (they move), 30 ms later a STALLED one with nothing to raise (the coordinator
 *             must wait, not start a round), 30 ms later AT at 1:6: final after 2 rounds
 * Lines on stdout: "rank R targets round T final F g:t ...", "rank R final after T rounds",
 * "rank R resume committed=C", "checkpoint K done in MS ms (rounds MS ms)". Exit 0 after K
 * checkpoints (each ended by RESUME), 1 on a protocol error, 2 on usage errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "coord_client.h"
#include "mpi_ckpt.h"
#include "secret.h"

enum fcase { C_BALANCED, C_BEHIND, C_STALL, C_ERROR, C_LATE, C_DUP, C_MISSING, C_UPDATE, C_FINMIX };

struct rank {
	struct coord_conn c;
	int r;
	uint32_t gen;
	int nseq;
	struct lh_mpi_comm_seq seq[2];
	uint32_t flags;
	int final;
	int late;  /* registers at SUSPEND (case late) */
	int plain; /* not an MPI rank for the coordinator (case dup): no rounds */
	int step;  /* case update: the next scripted report of round 1 (0 none) */
	uint32_t round;
	double due; /* when it is due (now_ms) */
};

static enum fcase fcase;
static int nranks;
static const char *dir;
static int no_fsync; /* --no-fsync: the bench times the coordinator, not this disk */

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int send_buf(struct rank *k, struct proto_buf *b)
{
	return coord_send(&k->c, b, 5000); /* finishes and frees b */
}

#define AT_FLAGS (LH_MPI_REPORT_QUIET | LH_MPI_REPORT_AT)

static void initial_seqs(struct rank *k)
{
	k->flags = AT_FLAGS; /* round 0: no targets yet, so QUIET is AT */
	k->final = 0;
	switch (fcase) {
	case C_BALANCED:
	case C_ERROR:
	case C_LATE:
	case C_DUP:
	case C_MISSING:
	case C_FINMIX:
		k->nseq = 2;
		k->seq[0] = (struct lh_mpi_comm_seq){1, 5, 0};
		k->seq[1] = (struct lh_mpi_comm_seq){77, 2, 0};
		break;
	case C_BEHIND:
	case C_UPDATE:
		k->nseq = 1;
		k->seq[0] = (struct lh_mpi_comm_seq){1, k->r == 0 ? 6 : 5, 0};
		break;
	case C_STALL:
		k->nseq = 2;
		k->flags = LH_MPI_REPORT_STALLED;
		k->seq[0] = (struct lh_mpi_comm_seq){1, 5, k->r == 0 ? 6 : 0};
		k->seq[1] = (struct lh_mpi_comm_seq){9, k->r == 0 ? 4 : 3, 0};
		break;
	}
}

static int report(struct rank *k, uint32_t round)
{
	struct proto_buf b;
	proto_enc_mpi_report(&b, round, k->flags, (uint32_t)k->nseq, k->seq);
	return send_buf(k, &b);
}

/* What a rank does with non-final targets: run up to them where the case lets it. */
static void follow(struct rank *k, const struct proto_mpi *m)
{
	uint64_t t1 = 0;
	for (uint32_t i = 0; i < m->n; i++)
		if (m->targets[i].gid == 1)
			t1 = m->targets[i].target;
	if (fcase == C_STALL && t1 < 6)
		return; /* nobody can move: report the same, STALLED */
	for (int s = 0; s < k->nseq; s++) {
		for (uint32_t i = 0; i < m->n; i++)
			if (m->targets[i].gid == k->seq[s].gid && m->targets[i].target > k->seq[s].seq)
				k->seq[s].seq = m->targets[i].target;
		k->seq[s].want = 0;
	}
	k->flags = AT_FLAGS;
}

/* Case update, round 1, ranks > 0: moving (seq 5), then STALLED (seq 5), then AT (seq 6). */
static int update_step(struct rank *k)
{
	struct lh_mpi_comm_seq e = {1, 5, 0};
	uint32_t f = 0;
	if (k->step == 2)
		f = LH_MPI_REPORT_QUIET | LH_MPI_REPORT_STALLED;
	else if (k->step == 3)
		e.seq = 6, f = AT_FLAGS;
	k->seq[0] = e;
	k->flags = f;
	k->step = k->step < 3 ? k->step + 1 : 0;
	k->due = now_ms() + 30;
	return report(k, k->round);
}

static int write_image(struct rank *k)
{
	char gdir[4200], path[4400], tmp[4500];
	snprintf(gdir, sizeof(gdir), "%s/gen-%06u", dir, k->gen);
	if (mkdir(gdir, 0755) < 0 && errno != EEXIST)
		return -1;
	snprintf(path, sizeof(path), "%s/ckpt_fake_mpi_%d.dmtcp", gdir, k->r);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, "fake", 4) != 4 || (!no_fsync && fsync(fd) < 0) || close(fd) < 0 ||
	    rename(tmp, path) < 0)
		return -1;
	struct proto_written w = {.status = 0, .bytes = 4};
	snprintf(w.path, sizeof(w.path), "%s", path);
	return coord_send_written(&k->c, &w, 5000);
}

/* One message for rank k. 1 = its checkpoint ended (RESUME), 0 = go on, -1 = error. */
static int on_msg(struct rank *k, const struct proto_msg *msg, double *t_final)
{
	switch (msg->hdr.type) {
	case MSG_SUSPEND: {
		struct proto_suspend s;
		if (proto_dec_suspend(msg, &s) < 0)
			return -1;
		k->gen = s.generation;
		initial_seqs(k);
		if (k->plain || (fcase == C_FINMIX && k->r == nranks - 1))
			return coord_send_empty(&k->c, MSG_SUSPENDED, 5000);
		if (k->late) {
			k->late = 0;
			struct proto_buf b;
			proto_enc_mpi_register(&b, (uint32_t)k->r, (uint32_t)nranks, 1, "mpiexec",
					       "PMI_RANK (fake, late)");
			if (send_buf(k, &b) < 0)
				return -1;
		}
		if (fcase == C_ERROR && k->r == nranks - 1) {
			struct proto_buf b;
			proto_enc_mpi_error(&b, "fake rank cannot drain (test)");
			return send_buf(k, &b);
		}
		return report(k, 0);
	}
	case MSG_MPI: {
		struct proto_mpi m;
		if (proto_dec_mpi(msg, &m) < 0 || m.kind != MPI_MSG_TARGETS)
			return -1;
		if (k->r == 0 || fcase == C_STALL) {
			printf("rank %d targets round %u final %u", k->r, m.round, m.flags);
			for (uint32_t i = 0; i < m.n; i++)
				printf(" %llu:%llu", (unsigned long long)m.targets[i].gid,
				       (unsigned long long)m.targets[i].target);
			printf("\n");
		}
		int rc = 0;
		if (m.flags) {
			k->final = 1;
			if (k->r == 0) {
				printf("rank 0 final after %u rounds\n", m.round);
				*t_final = now_ms();
			}
			rc = coord_send_empty(&k->c, MSG_SUSPENDED, 5000);
		} else if (fcase == C_UPDATE && k->r > 0 && m.round == 1) {
			k->round = m.round;
			k->step = 1;
			rc = update_step(k);
		} else {
			follow(k, &m);
			rc = report(k, m.round);
		}
		proto_mpi_free(&m);
		return rc;
	}
	case MSG_WRITE:
		return write_image(k) < 0 ? -1 : 0;
	case MSG_RESUME: {
		struct proto_resume r;
		if (proto_dec_resume(msg, &r) < 0)
			return -1;
		if (k->r == 0 || !r.committed)
			printf("rank %d resume committed=%u%s\n", k->r, r.committed,
			       k->final ? "" : " (during the rounds)");
		return coord_send_empty(&k->c, MSG_RESUMED, 5000) < 0 ? -1 : 1;
	}
	case MSG_KILL:
		exit(0);
	default:
		fprintf(stderr, "fake_mpi: rank %d: unexpected %s\n", k->r,
			proto_type_name(msg->hdr.type));
		return -1;
	}
}

int main(int argc, char **argv)
{
	int port = 0, ckpts = 1;
	const char *cs = "balanced", *ready = NULL;
	static const struct option lo[] = {{"port", 1, 0, 'p'},	 {"dir", 1, 0, 'd'},
					   {"ranks", 1, 0, 'n'}, {"case", 1, 0, 'c'},
					   {"ckpts", 1, 0, 'k'}, {"ready", 1, 0, 'r'},
					   {"no-fsync", 0, 0, 'F'},
					   {0, 0, 0, 0}};
	int o;
	while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (o) {
		case 'p': port = atoi(optarg); break;
		case 'd': dir = optarg; break;
		case 'n': nranks = atoi(optarg); break;
		case 'c': cs = optarg; break;
		case 'k': ckpts = atoi(optarg); break;
		case 'r': ready = optarg; break;
		case 'F': no_fsync = 1; break;
		default: return 2;
		}
	}
	if (!strcmp(cs, "balanced")) fcase = C_BALANCED;
	else if (!strcmp(cs, "behind")) fcase = C_BEHIND;
	else if (!strcmp(cs, "stall")) fcase = C_STALL;
	else if (!strcmp(cs, "error")) fcase = C_ERROR;
	else if (!strcmp(cs, "late")) fcase = C_LATE;
	else if (!strcmp(cs, "dup")) fcase = C_DUP;
	else if (!strcmp(cs, "missing")) fcase = C_MISSING;
	else if (!strcmp(cs, "update")) fcase = C_UPDATE;
	else if (!strcmp(cs, "finmix")) fcase = C_FINMIX;
	else return 2;
	if (port <= 0 || !dir || nranks < 1 || nranks > 100000 || ckpts < 1) {
		fprintf(stderr, "usage: fake_mpi --port P --dir DIR --ranks N --case CASE\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* dup: connection nranks is the extra one (registers as rank 0) */
	int nconn = nranks + (fcase == C_DUP);
	struct rank *ks = calloc((size_t)nconn, sizeof(*ks));
	struct pollfd *pf = calloc((size_t)nconn, sizeof(*pf));
	if (!ks || !pf)
		return 1;
	char host[PROTO_MAX_HOST] = "fakehost";
	for (int r = 0; r < nconn; r++) {
		struct rank *k = &ks[r];
		k->r = r;
		k->late = fcase == C_LATE && r == nranks - 1;
		k->plain = r == nranks;
		coord_conn_init(&k->c);
		if (coord_connect(&k->c, "127.0.0.1", port, 5000) < 0) {
			fprintf(stderr, "fake_mpi: rank %d cannot connect: %s\n", r, strerror(errno));
			return 1;
		}
		struct proto_hello_worker h;
		memset(&h, 0, sizeof(h));
		if (secret_load(port, h.secret) < 0) {
			fprintf(stderr, "fake_mpi: no secret for port %d\n", port);
			return 1;
		}
		h.vpid = h.real_pid = 100000 + (uint32_t)r;
		snprintf(h.uniquepid, sizeof(h.uniquepid), "fake-%d", r);
		snprintf(h.progname, sizeof(h.progname), "fake_mpi");
		snprintf(h.hostname, sizeof(h.hostname), "%s", host);
		snprintf(h.cmdline, sizeof(h.cmdline), "fake_mpi rank %d", r);
		struct proto_welcome w;
		char err[256];
		if (coord_hello_worker(&k->c, &h, &w, err, sizeof(err), 5000) < 0) {
			fprintf(stderr, "fake_mpi: rank %d: HELLO refused: %s\n", r, err);
			return 1;
		}
		struct proto_buf b;
		proto_enc_mpi_register(&b, k->plain ? 0 : (uint32_t)r, (uint32_t)nranks, 1,
				       "mpiexec", "PMI_RANK (fake)");
		if (!k->late && send_buf(k, &b) < 0)
			return 1;
		if (k->late)
			proto_buf_free(&b);
		if (fcase == C_FINMIX && r == nranks - 1) {
			proto_enc_mpi_finalized(&b);
			if (send_buf(k, &b) < 0)
				return 1;
		}
		pf[r] = (struct pollfd){.fd = coord_conn_fd(&k->c), .events = POLLIN};
	}
	int nlive = nconn;
	if (fcase == C_MISSING) { /* the last rank ends before the checkpoint */
		coord_close(&ks[nranks - 1].c);
		pf[nranks - 1].fd = -1;
		nlive--;
	}
	if (ready) {
		FILE *f = fopen(ready, "w");
		if (f)
			fclose(f);
	}
	for (int ck = 1; ck <= ckpts; ck++) {
		int ended = 0;
		double t0 = 0, t_final = 0;
		while (ended < nlive) {
			int wait_ms = 60000, pr;
			for (int r = 0; r < nconn; r++)
				if (ks[r].step) {
					double d = ks[r].due - now_ms();
					int w = d < 0 ? 0 : (int)d + 1;
					if (w < wait_ms)
						wait_ms = w;
				}
			pr = poll(pf, (nfds_t)nconn, wait_ms);
			for (int r = 0; r < nconn; r++)
				if (ks[r].step && !ks[r].final && now_ms() >= ks[r].due &&
				    update_step(&ks[r]) < 0)
					return 1;
			if (pr == 0 && wait_ms < 60000)
				continue;
			if (pr <= 0) {
				fprintf(stderr, "fake_mpi: no message for 60 s (%d of %d ranks ended)\n",
					ended, nlive);
				return 1;
			}
			for (int r = 0; r < nconn; r++) {
				if (pf[r].fd < 0 || !pf[r].revents)
					continue;
				for (;;) { /* every message already received on this connection */
					struct proto_msg m;
					memset(&m, 0, sizeof(m));
					int rc = coord_recv(&ks[r].c, &m, 0);
					if (rc == -ETIMEDOUT)
						break;
					if (rc < 0) {
						fprintf(stderr, "fake_mpi: rank %d: coordinator gone\n", r);
						return 1;
					}
					if (m.hdr.type == MSG_SUSPEND && r == 0)
						t0 = now_ms();
					int k = on_msg(&ks[r], &m, &t_final);
					proto_msg_free(&m);
					if (k < 0) {
						fprintf(stderr, "fake_mpi: rank %d: protocol error\n", r);
						return 1;
					}
					ended += k;
				}
			}
		}
		printf("checkpoint %d done in %.2f ms (rounds %.2f ms)\n", ck, now_ms() - t0,
		       t_final > 0 ? t_final - t0 : -1.0);
	}
	return 0;
}
