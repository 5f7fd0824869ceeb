/*
 * tp_forkpipe.c - process-tree checkpoint test: a parent and a forked child talking over
 * pipes.
 *
 * Usage: tp_forkpipe [seconds (10)]
 * The child reports getpid()/getppid() at start; the parent checks them against fork()'s
 * return value and its own pid. The parent then sends one numbered message per step; the
 * child checks the sequence and payload, and at EOF reports its count, hash and pids again
 * and exits 42. The parent checks the report, waitpid()s the child (same pid) and checks the
 * exit status. Messages may sit in the pipe at the checkpoint. ANSWER depends only on the
 * arguments.
 */
#include <stdint.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tp.h"

struct msg {
	uint32_t seq, pad;
	uint64_t payload;
};

struct report {
	int32_t pid, ppid;
	uint64_t count, hash;
	int32_t ok, pad;
};

static int read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return got == 0 && r == 0 ? 0 : -1;
		got += (size_t)r;
	}
	return 1;
}

static int write_full(int fd, const void *buf, size_t n)
{
	size_t done = 0;
	while (done < n) {
		ssize_t w = write(fd, (const char *)buf + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		done += (size_t)w;
	}
	return 0;
}

static void child(int in, int out)
{
	pid_t me = getpid(), parent = getppid();
	struct report rep = {me, parent, 0, 0, 1, 0};
	if (write_full(out, &rep, sizeof(rep)))
		_exit(3);
	struct msg m;
	int r;
	while ((r = read_full(in, &m, sizeof(m))) == 1) {
		if (m.seq != rep.count + 1 || m.payload != tp_mix(m.seq))
			rep.ok = 0;
		rep.count++;
		rep.hash = tp_mix(rep.hash ^ m.payload);
	}
	if (r < 0 || getpid() != me || getppid() != parent)
		rep.ok = 0;
	rep.pid = getpid();
	rep.ppid = getppid();
	if (write_full(out, &rep, sizeof(rep)))
		_exit(3);
	_exit(rep.ok ? 42 : 1);
}

int main(int argc, char **argv)
{
	tp_init();
	long steps = tp_steps(argc, argv, 1, 10);
	int p2c[2], c2p[2];
	if (pipe(p2c) || pipe(c2p)) {
		perror("tp_forkpipe: pipe");
		return 2;
	}
	pid_t me = getpid();
	fflush(stdout);
	pid_t kid = fork();
	if (kid < 0) {
		perror("tp_forkpipe: fork");
		return 2;
	}
	if (kid == 0) {
		close(p2c[1]);
		close(c2p[0]);
		child(p2c[0], c2p[1]);
	}
	close(p2c[0]);
	close(c2p[1]);
	const char *fail = NULL;
	struct report hello;
	if (read_full(c2p[0], &hello, sizeof(hello)) != 1)
		fail = "no hello from the child";
	else if (hello.pid != kid || hello.ppid != me)
		fail = tp_fmt("child says pid %d ppid %d; fork returned %d, parent is %d",
			      hello.pid, hello.ppid, (int)kid, (int)me);
	tp_ready();
	uint64_t hash = 0;
	for (long s = 1; s <= steps && !fail; s++) {
		struct msg m = {(uint32_t)s, 0, tp_mix((uint64_t)s)};
		if (write_full(p2c[1], &m, sizeof(m)))
			fail =
			    tp_fmt("write to the child failed at step %ld: %s", s, strerror(errno));
		hash = tp_mix(hash ^ m.payload);
		tp_pace(s, steps);
	}
	close(p2c[1]);
	struct report fin = {0};
	if (!fail && read_full(c2p[0], &fin, sizeof(fin)) != 1)
		fail = "no final report from the child";
	if (!fail && !fin.ok)
		fail = "the child saw a wrong sequence, payload or pid";
	if (!fail && (fin.count != (uint64_t)steps || fin.hash != hash))
		fail = tp_fmt("child received %llu messages, sent %ld",
			      (unsigned long long)fin.count, steps);
	if (!fail && (fin.pid != kid || fin.ppid != me))
		fail = "child pids changed";
	if (!fail && getpid() != me)
		fail = "parent pid changed";
	int st = 0;
	pid_t w = waitpid(kid, &st, 0);
	if (!fail && w != kid)
		fail = tp_fmt("waitpid(%d) returned %d: %s", (int)kid, (int)w, strerror(errno));
	if (!fail && (!WIFEXITED(st) || WEXITSTATUS(st) != 42))
		fail = tp_fmt("child exit status %#x, expected exit 42", st);
	printf("ANSWER: %ld %016llx\n", steps, (unsigned long long)hash);
	return tp_verdict(fail);
}
