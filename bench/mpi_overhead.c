/*
 * mpi_overhead.c - the MPI micro-benchmarks of bench/mpi_overhead.sh, for exactly 2 ranks.
 *
 *   mpiexec -n 2 [dmtcp_launch --no-coordinator] mpi_overhead [-k SAMPLES] [-s SCALE] [-o LIST]
 *
 * A plain MPICH program (Debian's mpicc, nothing splitckpt-specific): the script runs it
 * natively and as a split process and compares. The machine it runs on is shared and
 * oversubscribed, so every figure is taken from many short samples (about 0.1-10 ms each,
 * shorter than a scheduler time slice): the MEDIAN of the undisturbed ones, those within 1.5x
 * of the run's best sample (see CLEAN below); a sample during which a rank lost its CPU is
 * many times slower and is left out ("kept_KEY K N" says how many were kept).
 * -k SAMPLES (default 31) is the number of samples of the gate,
 * latency and bandwidth benchmarks; the Allreduce loop (10^5 calls) is timed in 100 chunks of
 * 1000 calls and the stencil (2000 iterations) in 50 chunks of 40 iterations. SCALE (default
 * 1.0) multiplies the number of samples and chunks; below 0.1 it also shrinks every sample by
 * 10 x SCALE (the CTest smoke run: 0.01, whose figures mean nothing). -o LIST runs only the comma-separated benchmarks named in it
 * (floor,gate,lat,bw,allreduce,stencil). -v also prints every sample, in time order
 * ("samples_KEY v1 v2 ...") and the median of all of them ("median_all_KEY M").
 *
 * Rank 0 prints one line "KEY VALUE" per figure:
 *   floor_fsbase_ns    the hardware floor of one call-gate crossing: ns per rdfsbase + 2
 *                      wrfsbase (what the split process's gate executes per call: read the
 *                      caller's FS base, load the lower half's, load the caller's again),
 *                      here with the thread's own FS base (samples of 2x10^4); -1 when the
 *                      CPU or kernel does not allow FSGSBASE in user space
 *   gate_comm_rank_ns  ns per MPI_Comm_rank call       (samples of 2x10^4 calls)
 *   gate_wtime_ns      ns per MPI_Wtime call           (samples of 10^4 calls)
 *   lat_<B>_us         ping-pong one-way latency (RTT/2, Send/Recv), B = 0, 8, 1024 bytes
 *                      (samples of 1000 round trips, after 1000 unmeasured ones)
 *   bw_<B>_MBps        bandwidth, B = 65536, 1048576, 4194304 bytes, 10^6 bytes/s: a window of
 *                      Isends (16, 8, 2 messages: 1, 8, 8 MiB) answered by a 0-byte ack
 *                      (OSU bw style); samples of 8 MiB
 *   allreduce_s        time of 10^5 MPI_Allreduce of one double (8 bytes, MPI_SUM), as
 *                      100 x the (undisturbed) median time of a chunk of 1000 calls
 *   allreduce_total_s  the same loop's actual wall time (every chunk, noise included)
 *   stencil_s          time of 2000 iterations of a 2-D 5-point Jacobi stencil, 128 x 128
 *                      doubles per rank, split by rows, periodic, halo rows exchanged with
 *                      Isend/Irecv/Waitall, an Allreduce of the residual every 40 iterations:
 *                      50 x the (undisturbed) median time of a chunk of 40 iterations
 *   stencil_total_s    the same loop's actual wall time
 *   allreduce_calls, stencil_iters  how many calls / iterations those loops made
 * and "check_* ..." lines that prove the communication carried the right data (the script
 * compares them between native and split).
 * Timing: clock_gettime(CLOCK_MONOTONIC) around whole samples (in a split process it is a
 * system call, the upper half has no vDSO: well under 1 us per sample of milliseconds).
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <time.h>
#include <unistd.h>

/* GCC warns that MPI_Waitall(n, req, MPI_STATUSES_IGNORE) writes into a 0-byte array: a false
 * positive with MPICH's (MPI_Status *)1 */
#pragma GCC diagnostic ignored "-Wstringop-overflow"

static int rank, nranks;
static int nsamp = 31;
static double scale = 1.0;
static const char *only;
static int verbose;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static long iters(double n)
{
	long v = (long)(n * scale);
	return v < 1 ? 1 : v;
}

static int wanted(const char *name)
{
	if (only == NULL)
		return 1;
	size_t n = strlen(name);
	for (const char *p = only; (p = strstr(p, name)) != NULL; p += n)
		if ((p == only || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
			return 1;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *msg)
{
	fprintf(stderr, "mpi_overhead: rank %d: %s\n", rank, msg);
	MPI_Abort(MPI_COMM_WORLD, 1);
}

/* A sample counts as undisturbed when it is within a factor CLEAN of the run's best one (the
 * shortest time, the highest bandwidth). On this shared machine the samples of one run form a
 * tight cluster of undisturbed ones plus outliers many times slower, in which a rank lost its
 * CPU (busy-polling MPI needs both ranks running at once); the figure is the median of the
 * cluster, the same rule for both modes. A uniform slowdown (a slower gate) stays inside the
 * cluster and so is measured; only samples slower than CLEAN x the best are dropped. */
#define CLEAN 1.5

static void report(const char *key, double *samples, int n, const char *fmt, int higher_better)
{
	/* the printed figure is rank 0's; both ranks take part in every sample */
	if (verbose && rank == 0) {
		printf("samples_%s", key);
		for (int i = 0; i < n; i++) {
			printf(" ");
			printf(fmt, samples[i]);
		}
		printf("\n");
	}
	qsort(samples, n, sizeof *samples, cmp_double);
	double all = median(samples, n);
	int k = 0;
	if (higher_better) {
		while (k < n && samples[n - 1 - k] >= samples[n - 1] / CLEAN)
			k++;
		samples += n - k;
	} else {
		while (k < n && samples[k] <= samples[0] * CLEAN)
			k++;
	}
	double m = median(samples, k);
	if (rank == 0) {
		printf("%s ", key);
		printf(fmt, m);
		printf("\nkept_%s %d %d\n", key, k, n);
		if (verbose) {
			printf("median_all_%s ", key);
			printf(fmt, all);
			printf("\n");
		}
		fflush(stdout);
	}
}

/* ---- call gate: the cheapest calls there are -------------------------------------------- */
static volatile double sink_d;
static volatile int sink_i;

#define MAXS 4096
static double samples[MAXS];

/* the size of one sample: SCALE below 0.1 (smoke runs, whose figures mean nothing) also
 * shrinks it, by 10 x SCALE */
static long ssize(long n)
{
	if (scale >= 0.1)
		return n;
	long v = (long)(n * scale * 10);
	return v < 1 ? 1 : v;
}

static int nsamples(double n)
{
	long v = iters(n);
	return v > MAXS ? MAXS : (int)v;
}

static void bench_gate(void)
{
	int ns = nsamples(nsamp);
	long n = ssize(20000), nw = ssize(10000);
	int r = -1;
	for (int k = 0; k < ns; k++) {
		MPI_Barrier(MPI_COMM_WORLD);
		double t0 = now();
		for (long i = 0; i < n; i++)
			MPI_Comm_rank(MPI_COMM_WORLD, &r);
		samples[k] = (now() - t0) * 1e9 / n;
	}
	if (r != rank)
		die("MPI_Comm_rank in the loop returned another rank");
	sink_i = r;
	report("gate_comm_rank_ns", samples, ns, "%.2f", 0);
	for (int k = 0; k < ns; k++) {
		MPI_Barrier(MPI_COMM_WORLD);
		double acc = 0, t0 = now();
		for (long i = 0; i < nw; i++)
			acc += MPI_Wtime();
		samples[k] = (now() - t0) * 1e9 / nw;
		sink_d = acc;
	}
	report("gate_wtime_ns", samples, ns, "%.2f", 0);
}

/* ---- the hardware floor of a gate crossing ------------------------------------------------ */
static void bench_floor(void)
{
#if defined(__x86_64__)
	const unsigned long hwcap2_fsgsbase = 2; /* HWCAP2_FSGSBASE */
	if (getauxval(AT_HWCAP2) & hwcap2_fsgsbase) {
		int ns = nsamples(nsamp);
		long n = ssize(20000);
		for (int k = 0; k < ns; k++) {
			double t0 = now();
			for (long i = 0; i < n; i++) {
				unsigned long v;
				__asm__ volatile("rdfsbase %0" : "=r"(v));
				__asm__ volatile("wrfsbase %0" ::"r"(v) : "memory");
				__asm__ volatile("wrfsbase %0" ::"r"(v) : "memory");
			}
			samples[k] = (now() - t0) * 1e9 / n;
		}
		report("floor_fsbase_ns", samples, ns, "%.2f", 0);
		return;
	}
#endif
	if (rank == 0)
		printf("floor_fsbase_ns -1\nkept_floor_fsbase_ns 0 0\n");
}

/* ---- ping-pong latency ------------------------------------------------------------------ */
static void pingpong(char *buf, int b, long n)
{
	for (long i = 0; i < n; i++) {
		if (rank == 0) {
			MPI_Send(buf, b, MPI_CHAR, 1, 1, MPI_COMM_WORLD);
			MPI_Recv(buf, b, MPI_CHAR, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
		} else {
			MPI_Recv(buf, b, MPI_CHAR, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
			MPI_Send(buf, b, MPI_CHAR, 0, 1, MPI_COMM_WORLD);
		}
	}
}

static void bench_lat(void)
{
	static const int sizes[] = {0, 8, 1024};
	int ns = nsamples(nsamp);
	long n = ssize(1000);
	char *buf = malloc(1024);
	if (buf == NULL)
		die("malloc");
	for (unsigned z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
		int b = sizes[z];
		memset(buf, rank == 0 ? 'a' + z : 0, 1024);
		MPI_Barrier(MPI_COMM_WORLD);
		pingpong(buf, b, ssize(1000)); /* warm-up */
		for (int k = 0; k < ns; k++) {
			MPI_Barrier(MPI_COMM_WORLD);
			double t0 = now();
			pingpong(buf, b, n);
			samples[k] = (now() - t0) * 1e6 / n / 2;
		}
		if (b > 0 && (buf[0] != (char)('a' + z) || buf[b - 1] != (char)('a' + z)))
			die("ping-pong data corrupted");
		char key[32];
		snprintf(key, sizeof key, "lat_%d_us", b);
		report(key, samples, ns, "%.3f", 0);
	}
	free(buf);
}

/* ---- bandwidth: a window of Isends, one ack per window ---------------------------------- */
#define MAXWIN 16
static void bw_window(char *buf, long b, int win, int tag)
{
	MPI_Request req[MAXWIN];
	if (rank == 0) {
		for (int w = 0; w < win; w++)
			MPI_Isend(buf + w * b, (int)b, MPI_CHAR, 1, tag, MPI_COMM_WORLD, &req[w]);
		MPI_Waitall(win, req, MPI_STATUSES_IGNORE);
		MPI_Recv(NULL, 0, MPI_CHAR, 1, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
	} else {
		for (int w = 0; w < win; w++)
			MPI_Irecv(buf + w * b, (int)b, MPI_CHAR, 0, tag, MPI_COMM_WORLD, &req[w]);
		MPI_Waitall(win, req, MPI_STATUSES_IGNORE);
		MPI_Send(NULL, 0, MPI_CHAR, 0, 3, MPI_COMM_WORLD);
	}
}

static void bench_bw(void)
{
	static const long sizes[] = {65536, 1048576, 4194304};
	const long per_sample = 8L << 20;
	int ns = nsamples(nsamp);
	/* one buffer per window slot, so that receives never overlap */
	size_t total = 8L << 20;
	char *buf = malloc(total);
	if (buf == NULL)
		die("malloc");
	memset(buf, rank, total);
	for (unsigned z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
		long b = sizes[z];
		int win = (int)(per_sample / b > MAXWIN ? MAXWIN : per_sample / b);
		long n = per_sample / (b * win); /* windows per sample */
		if (rank == 0)
			for (int w = 0; w < win; w++)
				buf[w * b] = (char)(w + z), buf[w * b + b - 1] = (char)(w + z + 1);
		MPI_Barrier(MPI_COMM_WORLD);
		bw_window(buf, b, win, 2); /* warm-up */
		for (int k = 0; k < ns; k++) {
			MPI_Barrier(MPI_COMM_WORLD);
			double t0 = now();
			for (long i = 0; i < n; i++)
				bw_window(buf, b, win, 2);
			samples[k] = (double)b * win * n / (now() - t0) / 1e6;
		}
		if (rank == 1)
			for (int w = 0; w < win; w++)
				if (buf[w * b] != (char)(w + z) || buf[w * b + b - 1] != (char)(w + z + 1))
					die("bandwidth data corrupted");
		char key[32];
		snprintf(key, sizeof key, "bw_%ld_MBps", b);
		report(key, samples, ns, "%.1f", 1);
	}
	free(buf);
}

/* ---- collective-heavy loop -------------------------------------------------------------- */
static void bench_allreduce(void)
{
	int nchunks = nsamples(100);
	long chunk = ssize(1000);
	double acc = 0, in, out;
	MPI_Barrier(MPI_COMM_WORLD);
	double start = now(), t0 = start;
	for (int c = 0; c < nchunks; c++) {
		for (long j = 0; j < chunk; j++) {
			long i = c * chunk + j;
			in = (double)(i & 1023) + rank;
			MPI_Allreduce(&in, &out, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
			acc += out;
		}
		double t1 = now();
		samples[c] = t1 - t0;
		t0 = t1;
	}
	double total = t0 - start;
	/* sum over i of 2*(i & 1023) + 1 */
	double want = 0;
	for (long i = 0; i < nchunks * chunk; i++)
		want += 2.0 * (i & 1023) + 1;
	if (acc != want)
		die("Allreduce result wrong");
	if (rank == 0)
		printf("check_allreduce %.0f\nallreduce_calls %ld\n", acc, nchunks * chunk);
	report("allreduce_total_s", &total, 1, "%.6f", 0);
	for (int c = 0; c < nchunks; c++)
		samples[c] *= nchunks;
	report("allreduce_s", samples, nchunks, "%.6f", 0);
}

/* ---- 2-D halo-exchange stencil ---------------------------------------------------------- */
#define NX 128 /* columns */
#define NY 128 /* rows per rank */
static void bench_stencil(void)
{
	int nchunks = nsamples(50);
	long chunk = ssize(40);
	int up = (rank + nranks - 1) % nranks, down = (rank + 1) % nranks;
	/* rows 0 and NY+1 are halos */
	double(*a)[NX] = malloc(sizeof(double[NY + 2][NX]));
	double(*b)[NX] = malloc(sizeof(double[NY + 2][NX]));
	if (a == NULL || b == NULL)
		die("malloc");
	for (int y = 0; y < NY + 2; y++)
		for (int x = 0; x < NX; x++)
			a[y][x] = b[y][x] = (double)((rank * NY + y) * 7 + x * 3) / 1024.0;
	MPI_Barrier(MPI_COMM_WORLD);
	double start = now(), t0 = start, res = 0;
	for (int c = 0; c < nchunks; c++) {
		double r = 0;
		for (long it = 0; it < chunk; it++) {
			MPI_Request req[4];
			/* tag 10: row sent upward (my first row becomes up's bottom halo);
			 * tag 11: row sent downward */
			MPI_Irecv(a[0], NX, MPI_DOUBLE, up, 11, MPI_COMM_WORLD, &req[0]);
			MPI_Irecv(a[NY + 1], NX, MPI_DOUBLE, down, 10, MPI_COMM_WORLD, &req[1]);
			MPI_Isend(a[1], NX, MPI_DOUBLE, up, 10, MPI_COMM_WORLD, &req[2]);
			MPI_Isend(a[NY], NX, MPI_DOUBLE, down, 11, MPI_COMM_WORLD, &req[3]);
			MPI_Waitall(4, req, MPI_STATUSES_IGNORE);
			r = 0;
			for (int y = 1; y <= NY; y++)
				for (int x = 0; x < NX; x++) {
					double v = 0.25 * (a[y - 1][x] + a[y + 1][x] + a[y][(x + NX - 1) % NX] +
							   a[y][(x + 1) % NX]);
					double d = v - a[y][x];
					r += d * d;
					b[y][x] = v;
				}
			double(*t)[NX] = a;
			a = b;
			b = t;
		}
		MPI_Allreduce(&r, &res, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
		double t1 = now();
		samples[c] = t1 - t0;
		t0 = t1;
	}
	double total = t0 - start;
	double local = 0, check = 0;
	for (int y = 1; y <= NY; y++)
		for (int x = 0; x < NX; x++)
			local += a[y][x];
	MPI_Allreduce(&local, &check, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
	/* a Jacobi sweep on a periodic grid conserves the sum: compare with the initial sum */
	double init = 0;
	for (int q = 0; q < nranks; q++)
		for (int y = 1; y <= NY; y++)
			for (int x = 0; x < NX; x++)
				init += (double)((q * NY + y) * 7 + x * 3) / 1024.0;
	double rel = (check - init) / init;
	if (rel > 1e-9 || rel < -1e-9)
		die("stencil: the sum over the grid changed (halo exchange wrong)");
	if (rank == 0)
		printf("check_stencil %.6e %.3e\nstencil_iters %ld\n", check, res, nchunks * chunk);
	report("stencil_total_s", &total, 1, "%.6f", 0);
	for (int c = 0; c < nchunks; c++)
		samples[c] *= nchunks;
	report("stencil_s", samples, nchunks, "%.6f", 0);
	free(a);
	free(b);
}

int main(int argc, char **argv)
{
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &nranks);
	int c;
	while ((c = getopt(argc, argv, "k:s:o:v")) != -1) {
		switch (c) {
		case 'k':
			nsamp = atoi(optarg);
			break;
		case 's':
			scale = atof(optarg);
			break;
		case 'o':
			only = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			die("usage: mpi_overhead [-k SAMPLES] [-s SCALE] [-o floor,gate,lat,bw,allreduce,stencil] [-v]");
		}
	}
	if (nsamp < 1 || nsamp > MAXS || !(scale > 0))
		die("-k must be 1..4096 and -s > 0");
	if (nranks != 2)
		die("run with exactly 2 ranks");
	if (wanted("floor"))
		bench_floor();
	if (wanted("gate"))
		bench_gate();
	if (wanted("lat"))
		bench_lat();
	if (wanted("bw"))
		bench_bw();
	if (wanted("allreduce"))
		bench_allreduce();
	if (wanted("stencil"))
		bench_stencil();
	if (rank == 0)
		printf("done\n");
	MPI_Finalize();
	return 0;
}
