/*
 * tp_shortkids.c - checkpoint test: processes that end (or exec) while a checkpoint that
 * caught them is still being written.
 *
 * Usage: tp_shortkids <seconds (10)> [MiB per child (48)]
 * Every 100 ms step forks one child that fills MiB of incompressible memory, sleeps 100 ms,
 * checks its memory and exits with (step % 7) - or, every third step, execs `sh -c 'exit N'`
 * with the same code. The parent waits for each child and sums the codes. A checkpoint that
 * catches a child writes its image from a copy-on-write writer while the child runs on; the
 * child's image takes longer to write than the child lives, so the child ends before its
 * image is durable: that must not fail the checkpoint (lower-half/sigsys_sigsafe.c holds the
 * exit/exec back until the generation is over). ANSWER: children, sum of codes (depends only
 * on the arguments). A restarted child continues its sleep and ends the same way.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tp_mem.h"

static int child(long step, size_t mib)
{
	size_t nwords = mib << 17;
	uint64_t *w = mmap(NULL, nwords * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			   -1, 0);
	if (w == MAP_FAILED)
		return 100;
	for (size_t i = 0; i < nwords; i++)
		w[i] = tp_mix(i ^ ((uint64_t)step << 40));
	uint64_t sum = tp_sum_words(w, nwords);
	cr_pause_us(TP_STEP_MS * 1000L);
	if (tp_sum_words(w, nwords) != sum)
		return 101;
	int code = (int)(step % 7);
	if (step % 3 == 0) {
		char cmd[32];
		snprintf(cmd, sizeof(cmd), "exit %d", code);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		return 102;
	}
	return code;
}

int main(int argc, char **argv)
{
	tp_init();
	long steps = tp_steps(argc, argv, 1, 10);
	long mib = argc > 2 ? atol(argv[2]) : 48;
	if (mib < 1 || mib > 4096) {
		fprintf(stderr, "tp_shortkids: bad size (MiB)\n");
		return 2;
	}
	printf("tp_shortkids: %ld children of %ld MiB\n", steps, mib);
	tp_ready();
	const char *fail = NULL;
	long sum = 0;
	for (long s = 1; s <= steps && !fail; s++) {
		if (s - 1 >= cr_hold_step(steps))
			cr_wait_go(); /* the last quarter only once the go file exists (tp.h) */
		fflush(stdout);
		pid_t pid = fork();
		if (pid < 0) {
			fail = tp_fmt("fork failed at step %ld", s);
			break;
		}
		if (pid == 0)
			_exit(child(s, (size_t)mib));
		int st;
		pid_t r;
		while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
			;
		if (r != pid)
			fail = tp_fmt("waitpid failed at step %ld", s);
		else if (!WIFEXITED(st) || WEXITSTATUS(st) != s % 7)
			fail = tp_fmt("child of step %ld ended with status 0x%x, not exit %ld", s, st,
				      s % 7);
		else
			sum += WEXITSTATUS(st);
	}
	printf("ANSWER: %ld %ld\n", steps, sum);
	return tp_verdict(fail);
}
