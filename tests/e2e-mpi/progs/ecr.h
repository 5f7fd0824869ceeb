/*
 * ecr.h - helpers shared by the MPI checkpoint/restart test programs of tests/e2e-mpi
 * (header-only, static inline; plain MPI, nothing of splitckpt).
 *
 * Protocol (tests/progs/tp.h, for MPI): every rank prints "PID <rank> <pid>", "NETNS <rank>
 * <inode of its network namespace>" and "READY" once MPI is up; the program works in deterministic steps, checks itself as it goes
 * (ecr_fail() records and prints "FAIL rank R: why"), and ecr_finish() reduces the pass flag
 * over all ranks, folds every rank's answer hash in rank order, and rank 0 prints
 * "ANSWER: <hex>" (a function of the arguments only, never of timing or checkpoints) and
 * "PASS" or "FAIL". Exit status 0 only if every rank passed.
 *
 * MPICH 4.0.2 with UCX_TLS=tcp hangs in MPI_Finalize when some pair of ranks never
 * connected (a flush-mode close of an endpoint that is still connecting, with the peer
 * already in the final PMI barrier). ecr_finish() therefore exchanges one message with every
 * peer before MPI_Finalize, which also makes every restarted pair connect.
 *
 * Pauses between steps go through ../../progs/cr_go.h: with mpi_cr.sh's CR_GO a program holds
 * before the last quarter of its steps until the driver's go file exists and pauses no more
 * once it does.
 */
#ifndef ECR_H
#define ECR_H

#include <mpi.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../progs/cr_go.h" /* CR_GO: the pace of the steps (cr_pace_us, cr_pause_us) */

static int ecr_rank, ecr_size, ecr_failed;

static inline void ecr_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void ecr_fail(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (ecr_failed++ < 20)
		printf("FAIL rank %d: %s\n", ecr_rank, buf);
	fflush(stdout);
}

/* abort the whole job (inconsistency that makes going on pointless) */
static inline void ecr_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static inline void ecr_die(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	printf("FAIL rank %d: %s\n", ecr_rank, buf);
	fflush(stdout);
	MPI_Abort(MPI_COMM_WORLD, 3);
	exit(3);
}

/* an MPI call that must return MPI_SUCCESS (the error handler is ERRORS_RETURN) */
#define ECR_MPI(call)                                                                      \
	do {                                                                               \
		int ecr_rc_ = (call);                                                      \
		if (ecr_rc_ != MPI_SUCCESS) {                                              \
			char ecr_s_[MPI_MAX_ERROR_STRING];                                 \
			int ecr_l_ = 0;                                                    \
			MPI_Error_string(ecr_rc_, ecr_s_, &ecr_l_);                        \
			ecr_die("%s:%d: %s: %s", __FILE__, __LINE__, #call, ecr_s_);       \
		}                                                                          \
	} while (0)

static inline void ecr_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (ms > 0 && nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* MPI_Init_thread(level), ERRORS_RETURN on WORLD, rank/size, "PID r pid" (READY is separate) */
static inline void ecr_init(int *argc, char ***argv, int level)
{
	int got = 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (MPI_Init_thread(argc, argv, level, &got) != MPI_SUCCESS) {
		fprintf(stderr, "FAIL: MPI_Init_thread\n");
		exit(3);
	}
	MPI_Comm_rank(MPI_COMM_WORLD, &ecr_rank);
	MPI_Comm_size(MPI_COMM_WORLD, &ecr_size);
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	if (got < level)
		ecr_die("thread level %d provided, %d required", got, level);
	printf("PID %d %d\n", ecr_rank, (int)getpid());
	struct stat ns;
	if (stat("/proc/self/ns/net", &ns) == 0) /* which (netns) host the rank runs on */
		printf("NETNS %d %llu\n", ecr_rank, (unsigned long long)ns.st_ino);
}

static inline void ecr_ready(void)
{
	printf("READY\n");
	fflush(stdout);
}

/* splitmix64 */
static inline uint64_t ecr_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* a small deterministic generator: state advanced by splitmix64 */
struct ecr_rng {
	uint64_t s;
};
static inline uint64_t ecr_next(struct ecr_rng *g) { return ecr_mix(g->s += 0x632be59bd9b4e019ULL); }
static inline uint64_t ecr_below(struct ecr_rng *g, uint64_t n) { return n ? ecr_next(g) % n : 0; }

/* FNV-1a over bytes, continuing from h */
static inline uint64_t ecr_hash(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}
static inline uint64_t ecr_hash_u64(uint64_t h, uint64_t v) { return ecr_mix(h ^ v); }
#define ECR_HASH0 0xcbf29ce484222325ULL

/* fill n bytes with the stream of seed (8 bytes per step) */
static inline void ecr_fill(void *p, size_t n, uint64_t seed)
{
	unsigned char *b = p;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t v = ecr_mix(seed + i);
		memcpy(b + i, &v, 8);
	}
	if (i < n) {
		uint64_t v = ecr_mix(seed + i);
		memcpy(b + i, &v, n - i);
	}
}

/* index of the first byte that differs from ecr_fill(seed), or -1 */
static inline long ecr_check_fill(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = ecr_mix(seed + i);
		size_t k = n - i < 8 ? n - i : 8;
		if (memcmp(b + i, &v, k))
			return (long)i;
	}
	return -1;
}

/* wait until PATH exists (a file the test driver creates); never inside MPI */
static inline void ecr_wait_file(const char *path)
{
	if (!path || !*path || !strcmp(path, "-"))
		return;
	while (access(path, F_OK) != 0)
		ecr_sleep_ms(50);
}

/* one small message with every peer (see the top of the file) */
static inline void ecr_connect_all(void)
{
	for (int d = 1; d < ecr_size; d++) {
		int to = (ecr_rank + d) % ecr_size, from = (ecr_rank - d + ecr_size) % ecr_size;
		int out = ecr_rank, in = -1;
		ECR_MPI(MPI_Sendrecv(&out, 1, MPI_INT, to, 999, &in, 1, MPI_INT, from, 999,
				     MPI_COMM_WORLD, MPI_STATUS_IGNORE));
		if (in != from)
			ecr_fail("connect_all: got %d from %d", in, from);
	}
}

/* Reduce the verdict, print ANSWER (every rank's hash, in rank order) and PASS/FAIL on
 * rank 0, finalize. Returns the exit status. */
static inline int ecr_finish(uint64_t my_answer, const char *what)
{
	uint64_t *all = malloc(sizeof(uint64_t) * (size_t)ecr_size);
	int bad = ecr_failed ? 1 : 0, anybad = 1;
	if (!all)
		ecr_die("out of memory");
	ecr_connect_all();
	bad = ecr_failed ? 1 : 0;
	ECR_MPI(MPI_Allreduce(&bad, &anybad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
	ECR_MPI(MPI_Gather(&my_answer, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD));
	if (ecr_rank == 0) {
		uint64_t h = ECR_HASH0;
		for (int r = 0; r < ecr_size; r++)
			h = ecr_hash_u64(h, all[r]);
		printf("ANSWER: %s %016llx\n", what, (unsigned long long)h);
		printf(anybad ? "FAIL\n" : "PASS\n");
	}
	free(all);
	MPI_Finalize();
	return anybad ? 1 : 0;
}

#endif
