/*
 * hybrid.c - MPI + OpenMP (MPI_THREAD_FUNNELED) 2-D stencil for checkpoint/restart
 * (issue 4, test 5).
 *
 *   hybrid STEPS [SLEEP_MS] [N]          (defaults 300, 20, 512)
 *
 * An N x N grid of 32-bit cells, split by rows over the ranks; every step the master thread
 * exchanges halo rows with MPI_Sendrecv (each row travels with its own hash, which the
 * receiver checks), then an OpenMP loop over the rows computes the integer stencil
 * new = 3*c + n + s + e + w + step (mod 2^32, periodic in x, fixed zero rows at the top and
 * bottom), so the result does not depend on the thread count or on timing. Every 10 steps
 * the grid's sum is reduced (MPI_UINT64_T) and folded into the answer; rank 0 checks that
 * the number of OpenMP threads that ran each loop did not change across a checkpoint.
 */
#include "ecr.h"
#include <omp.h>

int main(int argc, char **argv)
{
	ecr_init(&argc, &argv, MPI_THREAD_FUNNELED);
	int steps = argc > 1 ? atoi(argv[1]) : 300;
	long sleep_ms = argc > 2 ? atol(argv[2]) : 20;
	int n = argc > 3 ? atoi(argv[3]) : 512;
	if (steps < 1 || sleep_ms < 0 || n < ecr_size || n > 16384)
		ecr_die("usage: hybrid STEPS [SLEEP_MS] [N]");
	int r0 = (int)((long)n * ecr_rank / ecr_size), r1 = (int)((long)n * (ecr_rank + 1) / ecr_size);
	int rows = r1 - r0, w = n + 2; /* row 0 and rows+1 are halos; the last column is the hash */
	uint32_t *a = calloc((size_t)(rows + 2) * w, 4), *b = calloc((size_t)(rows + 2) * w, 4);
	if (!a || !b)
		ecr_die("out of memory");
	for (int i = 1; i <= rows; i++)
		for (int j = 0; j < n; j++)
			a[i * w + j] = (uint32_t)ecr_mix((uint64_t)(r0 + i - 1) * n + j);
	int up = ecr_rank > 0 ? ecr_rank - 1 : MPI_PROC_NULL;
	int down = ecr_rank < ecr_size - 1 ? ecr_rank + 1 : MPI_PROC_NULL;
	int threads0 = 0;
	uint64_t answer = ECR_HASH0;
#pragma omp parallel
#pragma omp single
	threads0 = omp_get_num_threads();
	printf("rank %d: rows %d..%d, %d OpenMP threads\n", ecr_rank, r0, r1 - 1, threads0);
	ecr_ready();
	for (int s = 0; s < steps; s++) {
		/* the row hash in the extra column, checked by the receiver */
		a[1 * w + n] = (uint32_t)ecr_hash(ECR_HASH0, &a[1 * w], 4 * (size_t)n);
		a[rows * w + n] = (uint32_t)ecr_hash(ECR_HASH0, &a[rows * w], 4 * (size_t)n);
		ECR_MPI(MPI_Sendrecv(&a[1 * w], n + 1, MPI_UINT32_T, up, s, &a[(rows + 1) * w], n + 1,
				     MPI_UINT32_T, down, s, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
		ECR_MPI(MPI_Sendrecv(&a[rows * w], n + 1, MPI_UINT32_T, down, s, &a[0], n + 1,
				     MPI_UINT32_T, up, s, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
		if (up == MPI_PROC_NULL)
			memset(&a[0], 0, 4 * (size_t)w);
		else if (a[n] != (uint32_t)ecr_hash(ECR_HASH0, &a[0], 4 * (size_t)n))
			ecr_fail("step %d: halo row from rank %d damaged", s, up);
		if (down == MPI_PROC_NULL)
			memset(&a[(rows + 1) * w], 0, 4 * (size_t)w);
		else if (a[(rows + 1) * w + n] != (uint32_t)ecr_hash(ECR_HASH0, &a[(rows + 1) * w], 4 * (size_t)n))
			ecr_fail("step %d: halo row from rank %d damaged", s, down);
		int nthreads = 0;
#pragma omp parallel
		{
#pragma omp single
			nthreads = omp_get_num_threads();
#pragma omp for schedule(static)
			for (int i = 1; i <= rows; i++)
				for (int j = 0; j < n; j++) {
					uint32_t *c = &a[i * w + j];
					b[i * w + j] = 3u * c[0] + c[-w] + c[w] + a[i * w + (j + 1) % n] +
						       a[i * w + (j + n - 1) % n] + (uint32_t)s;
				}
		}
		if (nthreads != threads0)
			ecr_fail("step %d: %d OpenMP threads, %d at the start", s, nthreads, threads0);
		uint32_t *t = a;
		a = b, b = t;
		if (s % 10 == 9) {
			uint64_t sum = 0, all = 0;
			for (int i = 1; i <= rows; i++)
				for (int j = 0; j < n; j++)
					sum += a[i * w + j];
			ECR_MPI(MPI_Allreduce(&sum, &all, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD));
			answer = ecr_hash_u64(answer, all);
			if (ecr_rank == 0 && s % 50 == 49)
				printf("step %d sum %016llx\n", s + 1, (unsigned long long)all);
		}
		cr_pace_us(s, steps, sleep_ms * 1000L);
	}
	for (int i = 1; i <= rows; i++)
		answer = ecr_hash(answer, &a[i * w], 4 * (size_t)n);
	free(a), free(b);
	return ecr_finish(answer, "hybrid");
}
