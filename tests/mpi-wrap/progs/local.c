/* local.c - the calls the upper half answers without the lower MPI (mpi-wrappers/wrap_vh_comm.c,
 * wrap_wtime.c) give MPICH's answers and MPICH's errors: MPI_Comm_rank/size/remote_size/
 * test_inter on WORLD, SELF, a dup, a split, an intercommunicator, a Cartesian communicator
 * and inside an attribute copy callback; MPI_COMM_NULL, a freed handle and a NULL output
 * fail with MPICH's error classes; MPI_Wtime is
 * CLOCK_REALTIME minus an hour-aligned epoch (MPICH 4.0.2's MPL rule), never goes back, and
 * MPI_Wtick is clock_getres(CLOCK_REALTIME). Run with 4 ranks; prints "PASS local". */
#include <math.h>
#include <time.h>

#include "mt.h"

static int cls(int err)
{
	int c = -1;
	MPI_Error_class(err, &c);
	return c;
}

static void same(MPI_Comm c, int rank, int size, int inter, int rsize, const char *what)
{
	int r = -1, s = -1, f = -1, rs = -1;
	CHECK_MPI(MPI_Comm_rank(c, &r));
	CHECK_MPI(MPI_Comm_size(c, &s));
	CHECK_MPI(MPI_Comm_test_inter(c, &f));
	CHECK(r == rank && s == size && f == inter, "%s: rank %d size %d inter %d, want %d %d %d",
	      what, r, s, f, rank, size, inter);
	if (inter) {
		CHECK_MPI(MPI_Comm_remote_size(c, &rs));
		CHECK(rs == rsize, "%s: remote size %d, want %d", what, rs, rsize);
	} else { /* the lower MPI's answer (MPICH 4.0.2: the size; the standard: an error) */
		int e = MPI_Comm_remote_size(c, &rs);
		CHECK(e == MPI_SUCCESS ? rs == size : cls(e) == MPI_ERR_COMM,
		      "%s: Comm_remote_size of an intracommunicator: error %d, %d", what, e, rs);
	}
}

static int cb_rank = -2;
static int copy_cb(MPI_Comm old, int kv, void *extra, void *in, void *out, int *flag)
{
	(void)kv, (void)extra;
	MPI_Comm_rank(old, &cb_rank); /* MPI from inside a callback of the lower MPICH */
	*(void **)out = in;
	*flag = 1;
	return MPI_SUCCESS;
}

static double realtime(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* MPI_Wtime() read between two reads of CLOCK_REALTIME, the closest pair of up to 100 tries
 * (one within 1 ms ends them): a preemption between two single reads, long on a loaded machine,
 * would look like an offset. Sets *w and *rt (the middle of the pair); returns the gap. */
static double wtime_and_realtime(double *w, double *rt)
{
	double gap = 1e30;
	for (int i = 0; i < 100 && gap > 1e-3; i++) {
		double r0 = realtime(), t = MPI_Wtime(), r1 = realtime();
		if (r1 - r0 < gap) {
			gap = r1 - r0;
			*w = t;
			*rt = (r0 + r1) / 2;
		}
	}
	return gap;
}

int main(int argc, char **argv)
{
	int rank, size;
	MPI_Init(&argc, &argv);
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	CHECK_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
	CHECK_MPI(MPI_Comm_size(MPI_COMM_WORLD, &size));
	CHECK(size == 4, "run with 4 ranks, not %d", size);
	int all[4] = {-1, -1, -1, -1};
	MPI_Allgather(&rank, 1, MPI_INT, all, 1, MPI_INT, MPI_COMM_WORLD);
	for (int i = 0; i < 4; i++)
		CHECK(all[i] == i, "rank %d said it is rank %d", i, all[i]);
	same(MPI_COMM_WORLD, rank, 4, 0, 0, "WORLD");
	same(MPI_COMM_SELF, 0, 1, 0, 0, "SELF");

	MPI_Comm dup, half, inter, cart;
	CHECK_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &dup));
	same(dup, rank, 4, 0, 0, "dup");
	/* reversed order inside each half: rank 3 is 0 of the odd half */
	CHECK_MPI(MPI_Comm_split(MPI_COMM_WORLD, rank % 2, -rank, &half));
	same(half, rank < 2 ? 1 : 0, 2, 0, 0, "split");
	CHECK_MPI(MPI_Intercomm_create(half, 0, MPI_COMM_WORLD, rank % 2 ? 2 : 3, 7, &inter));
	same(inter, rank < 2 ? 1 : 0, 2, 1, 2, "intercomm");
	int dims[2] = {2, 2}, per[2] = {1, 0};
	CHECK_MPI(MPI_Cart_create(MPI_COMM_WORLD, 2, dims, per, 0, &cart));
	same(cart, rank, 4, 0, 0, "cart");

	int kv;
	MPI_Comm dup2;
	CHECK_MPI(MPI_Comm_create_keyval(copy_cb, MPI_COMM_NULL_DELETE_FN, &kv, NULL));
	CHECK_MPI(MPI_Comm_set_attr(half, kv, &kv));
	CHECK_MPI(MPI_Comm_dup(half, &dup2));
	CHECK(cb_rank == (rank < 2 ? 1 : 0), "Comm_rank inside a copy callback: %d", cb_rank);
	same(dup2, rank < 2 ? 1 : 0, 2, 0, 0, "dup of split");

	/* errors: the lower MPI's, through WORLD's error handler (MPI_ERRORS_RETURN) */
	int x = -5;
	CHECK(cls(MPI_Comm_rank(MPI_COMM_NULL, &x)) == MPI_ERR_COMM, "rank of COMM_NULL");
	CHECK(cls(MPI_Comm_size(MPI_COMM_NULL, &x)) == MPI_ERR_COMM, "size of COMM_NULL");
	CHECK(cls(MPI_Comm_test_inter(MPI_COMM_NULL, &x)) == MPI_ERR_COMM, "test_inter of NULL");
	CHECK(cls(MPI_Comm_rank(MPI_COMM_WORLD, NULL)) == MPI_ERR_ARG, "rank into NULL");
	CHECK(cls(MPI_Comm_size(dup, NULL)) == MPI_ERR_ARG, "size into NULL");
	MPI_Comm stale = dup2;
	CHECK_MPI(MPI_Comm_free(&dup2));
	CHECK(cls(MPI_Comm_rank(stale, &x)) == MPI_ERR_COMM, "rank of a freed communicator");
	CHECK(cls(MPI_Comm_size(stale, &x)) == MPI_ERR_COMM, "size of a freed communicator");
	CHECK(x == -5, "a failed call wrote %d", x);

	/* time: CLOCK_REALTIME minus a whole number of hours, ns resolution, never back */
	double w = 0, rt = 0, gap = wtime_and_realtime(&w, &rt);
	double off = fmod(rt - w, 3600.0);
	CHECK(w >= 0 && w < 7200 && (off < 0.05 || off > 3600 - 0.05),
	      "Wtime %.6f, CLOCK_REALTIME %.6f (+-%.6f): not realtime minus whole hours", w, rt,
	      gap / 2);
	CHECK(MPI_Wtick() > 0 && MPI_Wtick() <= 1e-6, "Wtick %g", MPI_Wtick());
	double prev = MPI_Wtime();
	for (int i = 0; i < 100000; i++) {
		double t = MPI_Wtime();
		CHECK(t >= prev, "Wtime went back from %.9f to %.9f", prev, t);
		if (t < prev)
			break;
		prev = t;
	}
	struct timespec nap = {0, 20000000};
	nanosleep(&nap, NULL);
	double el = MPI_Wtime() - prev;
	CHECK(el >= 0.019 && el < 5, "20 ms of sleep measured as %.6f s", el);

	MPI_Comm_free_keyval(&kv);
	MPI_Comm_free(&cart);
	MPI_Comm_free(&inter);
	MPI_Comm_free(&half);
	MPI_Comm_free(&dup);
	return mt_finish("local");
}
