/*
 * blocked.c - ranks blocked inside MPI at the checkpoint (issue 4, test 2).
 *
 *   blocked GOFILE [ROUNDS]        (GOFILE "-": do not wait)
 *
 * After READY, rank 0 waits (outside MPI, polling the file system) until GOFILE exists;
 * the test driver creates it only after `dmtcp_command -bc` has returned (and, in the
 * restart tests, after the restart). Meanwhile rank 1 blocks in MPI_Recv and rank 2 in
 * MPI_Wait (of an MPI_Irecv) for messages rank 0 sends only then, and rank 3 blocks in
 * MPI_Ssend to rank 0, whose receive is posted only then; ranks >= 4 block in MPI_Recv too.
 * Then ROUNDS (default 20) rounds of a ring exchange with checked contents. Each rank
 * checks what it got; the answer folds the contents.
 */
#include "ecr.h"

enum { LEN = 100000 };

int main(int argc, char **argv)
{
	ecr_init(&argc, &argv, MPI_THREAD_SINGLE);
	if (argc < 2)
		ecr_die("usage: blocked GOFILE [ROUNDS]");
	int rounds = argc > 2 ? atoi(argv[2]) : 20;
	if (ecr_size < 4)
		ecr_die("needs at least 4 ranks");
	uint64_t answer = ECR_HASH0;
	int *buf = malloc(sizeof(int) * LEN), *out = malloc(sizeof(int) * LEN);
	if (!buf || !out)
		ecr_die("out of memory");
	ecr_ready();
	if (ecr_rank == 0) {
		ecr_wait_file(argv[1]);
		printf("rank 0: go\n");
		for (int d = 1; d < ecr_size; d++) {
			if (d == 3)
				continue;
			for (int i = 0; i < LEN; i++)
				out[i] = d * 1000003 + i;
			ECR_MPI(MPI_Send(out, LEN, MPI_INT, d, 7, MPI_COMM_WORLD));
		}
		ECR_MPI(MPI_Recv(buf, LEN, MPI_INT, 3, 9, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
		for (int i = 0; i < LEN; i++)
			if (buf[i] != 3 * 7 + i) {
				ecr_fail("from rank 3: element %d is %d, expected %d", i, buf[i], 21 + i);
				break;
			}
		answer = ecr_hash(answer, buf, sizeof(int) * LEN);
	} else if (ecr_rank == 3) {
		for (int i = 0; i < LEN; i++)
			out[i] = 3 * 7 + i;
		ECR_MPI(MPI_Ssend(out, LEN, MPI_INT, 0, 9, MPI_COMM_WORLD));
	} else {
		MPI_Status st;
		if (ecr_rank == 2) {
			MPI_Request rq;
			ECR_MPI(MPI_Irecv(buf, LEN, MPI_INT, 0, 7, MPI_COMM_WORLD, &rq));
			ECR_MPI(MPI_Wait(&rq, &st));
		} else {
			ECR_MPI(MPI_Recv(buf, LEN, MPI_INT, MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD,
					 &st));
		}
		int count = -1;
		MPI_Get_count(&st, MPI_INT, &count);
		if (st.MPI_SOURCE != 0 || st.MPI_TAG != 7 || count != LEN)
			ecr_fail("status source %d tag %d count %d, expected 0 7 %d", st.MPI_SOURCE,
				 st.MPI_TAG, count, LEN);
		for (int i = 0; i < LEN; i++)
			if (buf[i] != ecr_rank * 1000003 + i) {
				ecr_fail("element %d is %d, expected %d", i, buf[i],
					 ecr_rank * 1000003 + i);
				break;
			}
		answer = ecr_hash(answer, buf, sizeof(int) * LEN);
	}
	/* ring rounds: each rank's value goes on to the right */
	long long v = ecr_rank + 1;
	for (int r = 0; r < rounds; r++) {
		long long in = -1;
		int to = (ecr_rank + 1) % ecr_size, from = (ecr_rank + ecr_size - 1) % ecr_size;
		ECR_MPI(MPI_Sendrecv(&v, 1, MPI_LONG_LONG, to, r, &in, 1, MPI_LONG_LONG, from, r,
				     MPI_COMM_WORLD, MPI_STATUS_IGNORE));
		/* the value from 'from' after r steps: start value of rank from - r, times 3^r + r */
		v = in * 3 + r;
		ecr_sleep_ms(20);
	}
	/* closed form: v = 3^R * (start of rank (me - R) mod n) + sum_{r<R} r * 3^(R-1-r) */
	long long want = (ecr_rank - rounds % ecr_size + ecr_size) % ecr_size + 1, acc = 0;
	for (int r = 0; r < rounds; r++) {
		want *= 3;
		acc = acc * 3 + r;
	}
	want += acc;
	if (v != want)
		ecr_fail("ring value %lld, expected %lld", v, want);
	answer = ecr_hash_u64(answer, (uint64_t)v);
	free(buf);
	free(out);
	return ecr_finish(answer, "blocked");
}
