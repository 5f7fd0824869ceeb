/*
 * tp_exec.c - checkpoint test for a child that exec'd another program.
 *
 * Usage: tp_exec [seconds (10)]
 * The parent forks a child that execs /bin/sh -c with a loop (one step every 0.5 s, each
 * running /bin/sleep) computing a hash; the shell prints "child <steps> <hash>" on a pipe and
 * exits 42. Meanwhile the parent does its own steps. At the end the parent checks the line
 * against its own computation of the hash and waitpid()s the child for exit status 42.
 * Both paces follow cr_go.h (CR_GO; the child's in the shell: no sleep once the go file
 * exists, before the last quarter of its steps a wait for it).
 * ANSWER depends only on the arguments.
 */
#include <stdint.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tp.h"

static const char script[] = "i=0; h=7\n"
			     "while [ $i -lt \"$1\" ]; do\n"
			     "  i=$((i + 1)); h=$(( (h * 31 + i) % 1000000007 ))\n"
			     "  if [ -z \"$CR_GO\" ]; then sleep 0.5; continue; fi\n"
			     "  while [ $i -ge $(($1 - $1 / 4)) ] && [ ! -e \"$CR_GO\" ]; do sleep 0.1; done\n"
			     "  [ -e \"$CR_GO\" ] || sleep 0.5\n"
			     "done\n"
			     "echo \"child $i $h\"\n"
			     "exit 42\n";

int main(int argc, char **argv)
{
	tp_init();
	long steps = tp_steps(argc, argv, 1, 10);
	long child_steps = steps / 5;
	int out[2];
	if (pipe(out)) {
		perror("tp_exec: pipe");
		return 2;
	}
	char nbuf[32];
	snprintf(nbuf, sizeof(nbuf), "%ld", child_steps);
	fflush(stdout);
	pid_t kid = fork();
	if (kid < 0) {
		perror("tp_exec: fork");
		return 2;
	}
	if (kid == 0) {
		close(out[0]);
		if (dup2(out[1], 1) < 0)
			_exit(3);
		close(out[1]);
		execl("/bin/sh", "sh", "-c", script, "sh", nbuf, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	tp_ready();
	uint64_t hash = 0;
	for (long s = 1; s <= steps; s++) {
		hash = tp_mix(hash ^ (uint64_t)s);
		tp_pace(s, steps);
	}
	const char *fail = NULL;
	char line[128] = "";
	size_t got = 0;
	while (got < sizeof(line) - 1) {
		ssize_t r = read(out[0], line + got, sizeof(line) - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	line[got] = '\0';
	long long want = 7;
	for (long i = 1; i <= child_steps; i++)
		want = (want * 31 + i) % 1000000007;
	char expect[128];
	snprintf(expect, sizeof(expect), "child %ld %lld\n", child_steps, want);
	if (strcmp(line, expect))
		fail = tp_fmt("the child printed '%.60s', expected '%.60s'", line, expect);
	int st = 0;
	pid_t w = waitpid(kid, &st, 0);
	if (!fail && w != kid)
		fail = tp_fmt("waitpid(%d) returned %d: %s", (int)kid, (int)w, strerror(errno));
	if (!fail && (!WIFEXITED(st) || WEXITSTATUS(st) != 42))
		fail = tp_fmt("child exit status %#x, expected exit 42", st);
	printf("ANSWER: %ld %016llx %lld\n", steps, (unsigned long long)hash, want);
	return tp_verdict(fail);
}
