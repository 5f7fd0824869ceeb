/*
 * mc_ring.c - MPI checkpoint test program: ranks that are inside their MPI life when they
 * are checkpointed. ITERS steps, one every 50 ms: every rank sends its state to the right
 * neighbour and receives the left one's (MPI_Sendrecv, point-to-point), mixes it in, and all
 * ranks sum the new states (MPI_Allreduce, a collective) into an accumulator. At the end
 * rank 0 gathers every state and replays the whole computation alone: PASS if it matches.
 * Output: "PID <rank> <pid>", "READY" per rank after the first step, then on rank 0
 * "ANSWER: <hex>" and PASS or FAIL. Usage: mc_ring [ITERS [MIB [fork]]]: MIB MiB per rank
 * of pseudo-random memory (checked at the end) to give the image a size; "fork": rank 0
 * forks a child after MPI_Init that only sleeps (no MPI) while the job is checkpointed (20 s,
 * or until the go file of CR_GO exists: the job's run ends when the child's does).
 * The 50 ms pause follows ../../progs/cr_go.h (CR_GO: none once the driver's go file exists,
 * a wait for it before the last quarter).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../progs/cr_go.h"

static uint64_t mix(uint64_t a, uint64_t b, int i)
{
	uint64_t x = a * 0x9e3779b97f4a7c15ULL ^ (b + (uint64_t)i);
	return x ^ (x >> 29);
}

/* FUNNELED asked: the application is told FUNNELED (provided, MPI_Query_thread), while under
 * splitckpt the lower MPI runs at SERIALIZED at least (its service thread calls MPI). */
static int check_level(int provided)
{
	int q = -1;
	MPI_Query_thread(&q);
	int (*lower)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "SPLITCKPT_test_lower_thread_level");
	int l = lower ? lower() : MPI_THREAD_SERIALIZED;
	return provided != MPI_THREAD_FUNNELED || q != MPI_THREAD_FUNNELED || l < MPI_THREAD_SERIALIZED;
}

int main(int argc, char **argv)
{
	int iters = argc > 1 ? atoi(argv[1]) : 160;
	int provided, rank, size;
	MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (check_level(provided))
		printf("FAIL rank %d: thread levels after MPI_Init_thread\n", rank);
	if (argc > 3 && !strcmp(argv[3], "fork") && rank == 0) {
		signal(SIGCHLD, SIG_IGN); /* never waited for (not restarted with the ranks) */
		pid_t c = fork();
		if (c == 0) { /* 20 s, or less: until the go file exists (cr_go.h) */
			for (int t = 0; t < 200 && !cr_go(); t++)
				cr_sleep_us(100000);
			_exit(0);
		}
		if (c < 0)
			printf("FAIL fork\n");
	}
	printf("PID %d %d\n", rank, (int)getpid());
	fflush(stdout);
	size_t mib = argc > 2 ? (size_t)atoi(argv[2]) : 0, nw = mib << 17;
	uint64_t *mem = nw ? malloc(nw * 8) : NULL, x = 88172645463325252ULL ^ (uint64_t)rank;
	for (size_t k = 0; k < nw; k++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		mem[k] = x;
	}
	uint64_t st = 1000003ULL * (uint64_t)(rank + 1), acc = 0;
	int right = (rank + 1) % size, left = (rank + size - 1) % size;
	for (int i = 0; i < iters; i++) {
		uint64_t in = 0, sum = 0;
		MPI_Sendrecv(&st, 1, MPI_UINT64_T, right, i, &in, 1, MPI_UINT64_T, left, i,
			     MPI_COMM_WORLD, MPI_STATUS_IGNORE);
		st = mix(st, in, i);
		MPI_Allreduce(&st, &sum, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
		acc = mix(acc, sum, i);
		if (i == 0) {
			printf("READY\n");
			fflush(stdout);
		}
		cr_pace_us(i, iters, 50000);
	}
	x = 88172645463325252ULL ^ (uint64_t)rank;
	int memok = 1;
	for (size_t k = 0; k < nw; k++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		memok &= mem[k] == x;
	}
	if (!memok)
		printf("FAIL rank %d: its %zu MiB of memory changed\n", rank, mib);
	if (check_level(MPI_THREAD_FUNNELED)) {
		printf("FAIL rank %d: thread levels at the end (after a restart?)\n", rank);
		memok = 0;
	}
	uint64_t *all = rank == 0 ? calloc(size, sizeof(*all)) : NULL;
	MPI_Gather(&st, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
	int ok = 1;
	if (rank == 0) {
		uint64_t *s = calloc(size, sizeof(*s)), *n = calloc(size, sizeof(*n)), a = 0;
		for (int r = 0; r < size; r++)
			s[r] = 1000003ULL * (uint64_t)(r + 1);
		for (int i = 0; i < iters; i++) {
			uint64_t sum = 0;
			for (int r = 0; r < size; r++)
				n[r] = mix(s[r], s[(r + size - 1) % size], i);
			for (int r = 0; r < size; r++)
				sum += (s[r] = n[r]);
			a = mix(a, sum, i);
		}
		for (int r = 0; r < size; r++)
			ok &= s[r] == all[r];
		ok &= a == acc;
		printf("ANSWER: %016llx\n", (unsigned long long)acc);
		printf(ok ? "PASS\n" : "FAIL the replay differs\n");
	}
	MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
	ok &= memok;
	MPI_Finalize();
	return ok ? 0 : 1;
}
