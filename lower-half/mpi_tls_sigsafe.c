/*
 * mpi_tls_sigsafe.c - lower-half TLS blocks for the application's threads (MPI mode).
 *
 * Every upper thread that enters MPI needs a lower-half TLS of its own so that several can be
 * inside MPICH at once (MPI_THREAD_MULTIPLE). The lower half makes them in advance: each is
 * the TLS of a "shadow" lower-half thread that only sleeps (mpi_lower.c). The upper half's
 * gate asks for one per thread through the contract, calling this function directly with its
 * own FS base loaded, so it uses nothing but an atomic counter: no libc, no TLS.
 */
#include <stdint.h>

#define LH_MPI_TLS_MAX 256

uint64_t lh_mpi_tls_pool[LH_MPI_TLS_MAX];
int lh_mpi_tls_n;
static int next;

/* One unused lower TLS base, or 0 when the pool is used up. Async-signal-safe. */
uint64_t lh_mpi_thread_lower_fs(void)
{
	int i = __atomic_fetch_add(&next, 1, __ATOMIC_ACQ_REL);
	if (i >= __atomic_load_n(&lh_mpi_tls_n, __ATOMIC_ACQUIRE))
		return 0;
	return lh_mpi_tls_pool[i];
}
