/*
 * mt.h - tiny self-checking helpers for the MPI wrapper test programs.
 *
 * CHECK(cond, fmt, ...) records a failure (and prints FAIL with the rank); mt_finish() reduces
 * the pass flag over MPI_COMM_WORLD, rank 0 prints "PASS <name>" or "FAIL <name>", and the
 * result is the exit status. mt_tls_marker is a thread-local the callbacks check: it holds
 * MT_TLS_MAGIC only on the application's own TLS, so a callback that runs on the lower half's
 * TLS sees 0 and fails the test.
 */
#ifndef MT_H
#define MT_H

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#define MT_TLS_MAGIC 0x5eed1234

static int mt_ok = 1;
static __thread int mt_tls_marker;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			int r_;                                                                    \
			MPI_Comm_rank(MPI_COMM_WORLD, &r_);                                        \
			fprintf(stderr, "FAIL rank %d %s:%d: ", r_, __FILE__, __LINE__);           \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, "\n");                                                     \
			mt_ok = 0;                                                                 \
		}                                                                                  \
	} while (0)

#define CHECK_MPI(call) CHECK((call) == MPI_SUCCESS, "%s failed", #call)

static inline void mt_tls_set(void) { mt_tls_marker = MT_TLS_MAGIC; }

static inline int mt_tls_ok(void) { return mt_tls_marker == MT_TLS_MAGIC; }

static inline int mt_finish(const char *name)
{
	int all = 0, rank;
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	if (MPI_Allreduce(&mt_ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS)
		all = 0;
	if (rank == 0)
		printf("%s %s\n", all ? "PASS" : "FAIL", name);
	fflush(stdout);
	MPI_Finalize();
	return all ? 0 : 1;
}

#endif
