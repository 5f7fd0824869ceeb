/*
 * omp_app.c - the OpenMP application of the Slurm examples (the job scripts run it as ./a.out).
 *
 * A 1-D heat equation on a ring of CELLS cells, advanced by Jacobi sweeps: every new cell
 * depends only on the previous array, and the checksum adds fixed blocks in block order, so
 * the output is bit-for-bit the same for any OMP_NUM_THREADS and any number of checkpoints,
 * kills and restarts. The state (two arrays, 16 MiB) lives in memory only; nothing is written
 * to disk, so a restarted run can only be right if its memory came back.
 *
 * Usage: omp_app [steps] [sweeps per step] [exit status] [pause ms]
 *   defaults from the environment: OMP_APP_STEPS (40), OMP_APP_SWEEPS (60), OMP_APP_EXIT
 *   (0: the status to end with), OMP_APP_PAUSE_MS (0: sleep after each step, which makes a
 *   run long without using the CPU, as tests on a busy machine want); arguments win.
 * Prints "omp_app: ..." once, "step K/N checksum X" after every step and "result = X" at the
 * end. With the defaults one step takes about 0.1-0.3 s on 2 cores.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CELLS (1L << 20)
#define BLOCKS 64

static long arg_or_env(int argc, char **argv, int i, const char *env, long def)
{
	const char *s = argc > i ? argv[i] : getenv(env);
	if (!s || !*s)
		return def;
	char *end;
	long v = strtol(s, &end, 10);
	if (*end || v < 0) {
		fprintf(stderr, "omp_app: '%s' is not a count (%s)\n", s, env);
		exit(2);
	}
	return v;
}

static double checksum(const double *u)
{
	double part[BLOCKS], s = 0.0;
	long per = CELLS / BLOCKS;
#pragma omp parallel for schedule(static)
	for (int b = 0; b < BLOCKS; b++) {
		double t = 0.0;
		for (long i = b * per; i < (b + 1) * per; i++)
			t += u[i] * (double)((i % 7) + 1);
		part[b] = t;
	}
	for (int b = 0; b < BLOCKS; b++)
		s += part[b];
	return s;
}

int main(int argc, char **argv)
{
	long steps = arg_or_env(argc, argv, 1, "OMP_APP_STEPS", 40);
	long sweeps = arg_or_env(argc, argv, 2, "OMP_APP_SWEEPS", 60);
	int status = (int)arg_or_env(argc, argv, 3, "OMP_APP_EXIT", 0);
	long pause_ms = arg_or_env(argc, argv, 4, "OMP_APP_PAUSE_MS", 0);
	struct timespec pause = {pause_ms / 1000, (pause_ms % 1000) * 1000000L};
	setvbuf(stdout, NULL, _IOLBF, 0);

	double *u = malloc(CELLS * sizeof(double)), *v = malloc(CELLS * sizeof(double));
	if (!u || !v) {
		fprintf(stderr, "omp_app: out of memory\n");
		return 1;
	}
	for (long i = 0; i < CELLS; i++) /* a few hot spots on a cold ring */
		u[i] = (i % 4099 == 0) ? 1000.0 : (double)(i % 13) * 0.01;
	printf("omp_app: %ld steps of %ld sweeps over %ld cells, %d threads\n", steps, sweeps,
	       CELLS, omp_get_max_threads());

	for (long k = 1; k <= steps; k++) {
		for (long s = 0; s < sweeps; s++) {
#pragma omp parallel for schedule(static)
			for (long i = 0; i < CELLS; i++) {
				double l = u[(i + CELLS - 1) % CELLS], r = u[(i + 1) % CELLS];
				v[i] = u[i] + 0.25 * (l - 2.0 * u[i] + r);
			}
			double *t = u;
			u = v;
			v = t;
		}
		printf("step %ld/%ld checksum %.17g\n", k, steps, checksum(u));
		if (pause_ms)
			nanosleep(&pause, NULL); /* a signal may cut it short: no matter */
	}
	printf("result = %.17g\n", checksum(u));
	free(u);
	free(v);
	return status;
}
