/*
 * mpi_overhead.c - the MPI micro-benchmarks of bench/mpi_overhead.sh, for exactly 2 ranks.
 *
 *   mpiexec -n 2 [dmtcp_launch --no-coordinator] mpi_overhead [-k INNER] [-s SCALE] [-o LIST]
 *
 * A plain MPICH program (Debian's mpicc, nothing splitckpt-specific): the script runs it
 * natively and as a split process and compares. Each benchmark is measured INNER times
 * (default 3) inside one run and rank 0 prints the median as one line "KEY VALUE". SCALE
 * (default 1.0) multiplies every iteration count (the CTest smoke run uses a tiny one).
 * -o LIST runs only the comma-separated benchmarks named in it (gate,lat,bw,allreduce,stencil).
 *
 * Keys (all from rank 0):
 *   gate_comm_rank_ns  ns per MPI_Comm_rank call      (loop of 4e6 calls)
 *   gate_wtime_ns      ns per MPI_Wtime call          (loop of 2e6 calls)
 *   lat_<B>_us         ping-pong one-way latency, B = 0, 8, 1024 bytes (Send/Recv, RTT/2)
 *   bw_<B>_MBps        bandwidth, B = 65536, 1048576, 4194304 bytes: a window of Isends
 *                      answered by a 0-byte ack (OSU bw style), 10^6 bytes/s
 *   allreduce_s        total time of 10^5 MPI_Allreduce of one double (8 bytes), MPI_SUM
 *   stencil_s          total time of a 2-D 5-point Jacobi stencil, 128 x 128 doubles per rank,
 *                      split by rows, periodic, halo rows exchanged with Isend/Irecv/Waitall,
 *                      2000 iterations (an Allreduce of the residual every 100)
 * and "check_* ..." lines that prove the communication carried the right data.
 * Timing: clock_gettime(CLOCK_MONOTONIC) around whole loops, after an MPI_Barrier.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* GCC warns that MPI_Waitall(n, req, MPI_STATUSES_IGNORE) writes into a 0-byte array: a false
 * positive with MPICH's (MPI_Status *)1 */
#pragma GCC diagnostic ignored "-Wstringop-overflow"

static int rank, nranks;
static int inner = 3;
static double scale = 1.0;
static const char *only;

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

static void report(const char *key, double *samples, int n, const char *fmt)
{
	/* the printed figure is rank 0's; both ranks take part in every sample */
	double m = median(samples, n);
	if (rank == 0) {
		printf("%s ", key);
		printf(fmt, m);
		printf("\n");
		fflush(stdout);
	}
}

/* ---- call gate: the cheapest calls there are -------------------------------------------- */
static volatile double sink_d;
static volatile int sink_i;

static void bench_gate(void)
{
	long n = iters(4e6), nw = iters(2e6);
	double s[64];
	int r = -1;
	for (int k = 0; k < inner; k++) {
		MPI_Barrier(MPI_COMM_WORLD);
		double t0 = now();
		for (long i = 0; i < n; i++)
			MPI_Comm_rank(MPI_COMM_WORLD, &r);
		s[k] = (now() - t0) * 1e9 / n;
	}
	if (r != rank)
		die("MPI_Comm_rank in the loop returned another rank");
	sink_i = r;
	report("gate_comm_rank_ns", s, inner, "%.2f");
	for (int k = 0; k < inner; k++) {
		MPI_Barrier(MPI_COMM_WORLD);
		double acc = 0, t0 = now();
		for (long i = 0; i < nw; i++)
			acc += MPI_Wtime();
		s[k] = (now() - t0) * 1e9 / nw;
		sink_d = acc;
	}
	report("gate_wtime_ns", s, inner, "%.2f");
}

/* ---- ping-pong latency ------------------------------------------------------------------ */
static void bench_lat(void)
{
	static const int sizes[] = {0, 8, 1024};
	char *buf = malloc(1024);
	if (buf == NULL)
		die("malloc");
	for (unsigned z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
		int b = sizes[z];
		long n = iters(2e4), warm = iters(1e3);
		double s[64];
		for (int k = 0; k < inner; k++) {
			memset(buf, rank == 0 ? 'a' + k : 0, 1024);
			double t0 = 0;
			MPI_Barrier(MPI_COMM_WORLD);
			for (long i = 0; i < warm + n; i++) {
				if (i == warm)
					t0 = now();
				if (rank == 0) {
					MPI_Send(buf, b, MPI_CHAR, 1, 1, MPI_COMM_WORLD);
					MPI_Recv(buf, b, MPI_CHAR, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
				} else {
					MPI_Recv(buf, b, MPI_CHAR, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
					MPI_Send(buf, b, MPI_CHAR, 0, 1, MPI_COMM_WORLD);
				}
			}
			s[k] = (now() - t0) * 1e6 / n / 2;
			if (b > 0 && (buf[0] != 'a' + k || buf[b - 1] != 'a' + k))
				die("ping-pong data corrupted");
		}
		char key[32];
		snprintf(key, sizeof key, "lat_%d_us", b);
		report(key, s, inner, "%.3f");
	}
	free(buf);
}

/* ---- bandwidth: a window of Isends, one ack per window ---------------------------------- */
#define WINDOW 16
static void bench_bw(void)
{
	static const long sizes[] = {65536, 1048576, 4194304};
	/* one buffer per window slot, so that receives never overlap */
	size_t maxb = 4194304;
	char *buf = malloc(maxb * WINDOW);
	if (buf == NULL)
		die("malloc");
	memset(buf, rank, maxb * WINDOW);
	for (unsigned z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
		long b = sizes[z];
		/* about 64 MiB moved per sample at scale 1 */
		long n = iters(64.0 * 1048576 / (b * WINDOW)), warm = 2;
		double s[64];
		for (int k = 0; k < inner; k++) {
			MPI_Request req[WINDOW];
			double t0 = 0;
			if (rank == 0)
				for (int w = 0; w < WINDOW; w++)
					buf[w * b] = (char)(w + k), buf[w * b + b - 1] = (char)(w + k);
			MPI_Barrier(MPI_COMM_WORLD);
			for (long i = 0; i < warm + n; i++) {
				if (i == warm)
					t0 = now();
				if (rank == 0) {
					for (int w = 0; w < WINDOW; w++)
						MPI_Isend(buf + w * b, (int)b, MPI_CHAR, 1, 2, MPI_COMM_WORLD,
							  &req[w]);
					MPI_Waitall(WINDOW, req, MPI_STATUSES_IGNORE);
					MPI_Recv(NULL, 0, MPI_CHAR, 1, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
				} else {
					for (int w = 0; w < WINDOW; w++)
						MPI_Irecv(buf + w * b, (int)b, MPI_CHAR, 0, 2, MPI_COMM_WORLD,
							  &req[w]);
					MPI_Waitall(WINDOW, req, MPI_STATUSES_IGNORE);
					MPI_Send(NULL, 0, MPI_CHAR, 0, 3, MPI_COMM_WORLD);
				}
			}
			double t = now() - t0;
			s[k] = (double)b * WINDOW * n / t / 1e6;
			if (rank == 1)
				for (int w = 0; w < WINDOW; w++)
					if (buf[w * b] != (char)(w + k) || buf[w * b + b - 1] != (char)(w + k))
						die("bandwidth data corrupted");
		}
		char key[32];
		snprintf(key, sizeof key, "bw_%ld_MBps", b);
		report(key, s, inner, "%.1f");
	}
	free(buf);
}

/* ---- collective-heavy loop -------------------------------------------------------------- */
static void bench_allreduce(void)
{
	long n = iters(1e5);
	double s[64], sum = 0;
	for (int k = 0; k < inner; k++) {
		double in, out, acc = 0;
		MPI_Barrier(MPI_COMM_WORLD);
		double t0 = now();
		for (long i = 0; i < n; i++) {
			in = (double)(i & 1023) + rank;
			MPI_Allreduce(&in, &out, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
			acc += out;
		}
		s[k] = now() - t0;
		sum = acc;
	}
	/* sum over i of 2*(i & 1023) + 1 */
	double want = 0;
	for (long i = 0; i < n; i++)
		want += 2.0 * (i & 1023) + 1;
	if (sum != want)
		die("Allreduce result wrong");
	if (rank == 0)
		printf("check_allreduce %.0f\n", sum);
	report("allreduce_s", s, inner, "%.6f");
}

/* ---- 2-D halo-exchange stencil ---------------------------------------------------------- */
#define NX 128 /* columns */
#define NY 128 /* rows per rank */
static void bench_stencil(void)
{
	long n = iters(2000);
	int up = (rank + nranks - 1) % nranks, down = (rank + 1) % nranks;
	/* rows 0 and NY+1 are halos */
	double(*a)[NX] = malloc(sizeof(double[NY + 2][NX]));
	double(*b)[NX] = malloc(sizeof(double[NY + 2][NX]));
	if (a == NULL || b == NULL)
		die("malloc");
	double s[64], check = 0;
	for (int k = 0; k < inner; k++) {
		for (int y = 0; y < NY + 2; y++)
			for (int x = 0; x < NX; x++)
				a[y][x] = b[y][x] = (double)((rank * NY + y) * 7 + x * 3) / 1024.0;
		MPI_Barrier(MPI_COMM_WORLD);
		double t0 = now(), res = 0;
		for (long it = 0; it < n; it++) {
			MPI_Request req[4];
			/* tag 10: row sent upward (my first row becomes up's bottom halo);
			 * tag 11: row sent downward */
			MPI_Irecv(a[0], NX, MPI_DOUBLE, up, 11, MPI_COMM_WORLD, &req[0]);
			MPI_Irecv(a[NY + 1], NX, MPI_DOUBLE, down, 10, MPI_COMM_WORLD, &req[1]);
			MPI_Isend(a[1], NX, MPI_DOUBLE, up, 10, MPI_COMM_WORLD, &req[2]);
			MPI_Isend(a[NY], NX, MPI_DOUBLE, down, 11, MPI_COMM_WORLD, &req[3]);
			MPI_Waitall(4, req, MPI_STATUSES_IGNORE);
			double r = 0;
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
			if (it % 100 == 99)
				MPI_Allreduce(&r, &res, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
		}
		s[k] = now() - t0;
		double local = 0;
		for (int y = 1; y <= NY; y++)
			for (int x = 0; x < NX; x++)
				local += a[y][x];
		MPI_Allreduce(&local, &check, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
		(void)res;
	}
	/* a Jacobi sweep on a periodic grid conserves the sum: compare with the initial sum */
	double init = 0;
	for (int r = 0; r < nranks; r++)
		for (int y = 1; y <= NY; y++)
			for (int x = 0; x < NX; x++)
				init += (double)((r * NY + y) * 7 + x * 3) / 1024.0;
	double rel = (check - init) / init;
	if (rel > 1e-9 || rel < -1e-9)
		die("stencil: the sum over the grid changed (halo exchange wrong)");
	if (rank == 0)
		printf("check_stencil %.6e\n", check);
	report("stencil_s", s, inner, "%.6f");
	free(a);
	free(b);
}

int main(int argc, char **argv)
{
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &nranks);
	int c;
	while ((c = getopt(argc, argv, "k:s:o:")) != -1) {
		switch (c) {
		case 'k':
			inner = atoi(optarg);
			break;
		case 's':
			scale = atof(optarg);
			break;
		case 'o':
			only = optarg;
			break;
		default:
			die("usage: mpi_overhead [-k INNER] [-s SCALE] [-o gate,lat,bw,allreduce,stencil]");
		}
	}
	if (inner < 1 || inner > 64 || !(scale > 0))
		die("-k must be 1..64 and -s > 0");
	if (nranks != 2)
		die("run with exactly 2 ranks");
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
