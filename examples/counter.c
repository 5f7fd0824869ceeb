/*
 * counter.c - example: a serial program that counts, once a second, and keeps a running hash
 * of everything it counted (like DMTCP's classic dmtcp1 demo). The final line depends only on
 * the count, so a run that was checkpointed, killed and restarted prints the same answer as an
 * uninterrupted one.
 *
 * Usage: counter [count (20)] [milliseconds per step (1000)]
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 20;
	long ms = argc > 2 ? atol(argv[2]) : 1000;
	if (n < 1 || ms < 0) {
		fprintf(stderr, "usage: counter [count] [milliseconds per step]\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	uint64_t hash = 1469598103934665603ULL; /* FNV-1a over the counted numbers */
	for (long i = 1; i <= n; i++) {
		for (int b = 0; b < 8; b++) {
			hash ^= (uint64_t)(i >> (8 * b)) & 0xff;
			hash *= 1099511628211ULL;
		}
		printf("%ld ", i);
		if (i % 10 == 0 || i == n)
			printf("\n");
		fflush(stdout);
		sleep_ms(ms);
	}
	printf("counter: counted to %ld, hash %016llx\n", n, (unsigned long long)hash);
	return 0;
}
