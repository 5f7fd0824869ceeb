/*
 * objects.c - MPI objects made before a checkpoint and used after it (issue 4, test 4).
 *
 *   objects GOFILE        (GOFILE "-": do not wait)
 *
 * Makes 100 communicators (20 each of: dup, split, create_group, cart, intercomm; the
 * intercomms also merged), groups, derived datatypes of every constructor (contiguous,
 * vector, hvector, indexed, hindexed, indexed_block, hindexed_block, struct, subarray,
 * darray, resized, dup), a commutative and a non-commutative user op, comm and type
 * keyvals with attributes (copy and delete callbacks) and an error handler; frees a third
 * of them; records what every survivor must give (membership, packed bytes of a pattern
 * through each datatype); prints READY and waits (every rank, outside MPI) until GOFILE
 * exists (the driver makes it after the checkpoint / the restart). Then it uses every
 * survivor: reductions and exchanges on every communicator, cart shifts, datatypes through
 * pack and a ring Sendrecv, user ops, attribute lookups, the error handler, and frees all
 * (delete callbacks counted). The answer folds every checked value.
 */
#include "ecr.h"

enum { NCOMM = 100, NTYPE = 12, PAT = 4096 };

static uint64_t answer = ECR_HASH0;
static MPI_Comm comm[NCOMM], merged[NCOMM];
static int alive[NCOMM], isinter[NCOMM];
static int csize[NCOMM], crank[NCOMM], cworld[NCOMM][64], crsize[NCOMM];
static MPI_Datatype types[NTYPE];
static int talive[NTYPE];
static uint64_t tpack[NTYPE];
static int tsize[NTYPE];
static int ckey, tkey, copies, deletes, errcalls;

static int copy_fn(MPI_Comm c, int k, void *extra, void *in, void *out, int *flag)
{
	(void)c, (void)k, (void)extra;
	*(intptr_t *)out = (intptr_t)in + 1000; /* a copy is marked */
	*flag = 1;
	copies++;
	return MPI_SUCCESS;
}
static int del_fn(MPI_Comm c, int k, void *v, void *extra)
{
	(void)c, (void)k, (void)v, (void)extra;
	deletes++;
	return MPI_SUCCESS;
}
static int tdel_fn(MPI_Datatype t, int k, void *v, void *extra)
{
	(void)t, (void)k, (void)v, (void)extra;
	deletes++;
	return MPI_SUCCESS;
}
static void errh_fn(MPI_Comm *c, int *code, ...)
{
	(void)c;
	errcalls += *code == MPI_ERR_OTHER ? 1 : 100;
}
/* commutative: sum mod 65521; non-commutative: 2x2 matrix product mod 65521 (4 ints) */
static void modsum(void *in, void *io, int *len, MPI_Datatype *t)
{
	(void)t;
	for (int i = 0; i < *len; i++)
		((int *)io)[i] = (((int *)in)[i] + ((int *)io)[i]) % 65521;
}
static void matmul(void *in, void *io, int *len, MPI_Datatype *t)
{
	(void)t;
	int *a = in, *b = io;
	for (int m = 0; m < *len / 4; m++, a += 4, b += 4) {
		long r0 = ((long)a[0] * b[0] + (long)a[1] * b[2]) % 65521;
		long r1 = ((long)a[0] * b[1] + (long)a[1] * b[3]) % 65521;
		long r2 = ((long)a[2] * b[0] + (long)a[3] * b[2]) % 65521;
		long r3 = ((long)a[2] * b[1] + (long)a[3] * b[3]) % 65521;
		b[0] = (int)r0, b[1] = (int)r1, b[2] = (int)r2, b[3] = (int)r3;
	}
}

static void make_comms(MPI_Group world)
{
	int dims[2] = {0, 0}, periods[2] = {1, 0};
	MPI_Dims_create(ecr_size, 2, dims);
	for (int i = 0; i < NCOMM; i++) {
		int kind = i % 5, j = i / 5;
		switch (kind) {
		case 0: ECR_MPI(MPI_Comm_dup(j ? comm[i - 5] : MPI_COMM_WORLD, &comm[i])); break;
		case 1:
			ECR_MPI(MPI_Comm_split(MPI_COMM_WORLD, (ecr_rank + j) % (2 + j % 2),
					       (j % 2) ? -ecr_rank : ecr_rank, &comm[i]));
			break;
		case 2: { /* ranks whose bit (j % 3) is clear, plus rank 0 ... in a rotated order */
			int members[64], n = 0, in = 0;
			for (int r = 0; r < ecr_size; r++) {
				int w = (r + j) % ecr_size;
				if (!((w >> (j % 2)) & 1) || w == 0)
					members[n++] = w;
			}
			for (int m = 0; m < n; m++)
				in |= members[m] == ecr_rank;
			MPI_Group g;
			ECR_MPI(MPI_Group_incl(world, n, members, &g));
			comm[i] = MPI_COMM_NULL;
			if (in)
				ECR_MPI(MPI_Comm_create_group(MPI_COMM_WORLD, g, j, &comm[i]));
			MPI_Group_free(&g);
			break;
		}
		case 3:
			periods[1] = j % 2;
			ECR_MPI(MPI_Cart_create(MPI_COMM_WORLD, 2, dims, periods, j % 2, &comm[i]));
			break;
		case 4: { /* the two parity halves, leaders world 0 and 1 */
			MPI_Comm local;
			ECR_MPI(MPI_Comm_split(MPI_COMM_WORLD, ecr_rank % 2, ecr_rank, &local));
			ECR_MPI(MPI_Intercomm_create(local, 0, MPI_COMM_WORLD, 1 - ecr_rank % 2, 50 + j,
						     &comm[i]));
			MPI_Comm_free(&local);
			isinter[i] = 1;
			ECR_MPI(MPI_Intercomm_merge(comm[i], ecr_rank % 2, &merged[i]));
			break;
		}
		}
	}
}

/* record rank, size and world ranks of every communicator */
static void describe(int i, MPI_Group world, int *rank, int *size, int *w, int *rsize)
{
	MPI_Group g;
	int idx[64];
	ECR_MPI(MPI_Comm_rank(comm[i], rank));
	ECR_MPI(MPI_Comm_size(comm[i], size));
	*rsize = 0;
	if (isinter[i]) {
		ECR_MPI(MPI_Comm_remote_size(comm[i], rsize));
		ECR_MPI(MPI_Comm_remote_group(comm[i], &g));
	} else {
		ECR_MPI(MPI_Comm_group(comm[i], &g));
	}
	int n = isinter[i] ? *rsize : *size;
	for (int k = 0; k < n; k++)
		idx[k] = k;
	ECR_MPI(MPI_Group_translate_ranks(g, n, idx, world, w));
	MPI_Group_free(&g);
}

static void make_types(void)
{
	int bl[3] = {2, 1, 3}, disp[3] = {0, 5, 9}, sizes[2] = {8, 8}, sub[2] = {3, 4},
	    starts[2] = {2, 1}, gs[2] = {4, 4}, distr[2] = {MPI_DISTRIBUTE_BLOCK, MPI_DISTRIBUTE_CYCLIC},
	    dargs[2] = {MPI_DISTRIBUTE_DFLT_DARG, 1}, psizes[2] = {2, 2};
	MPI_Aint hd[3] = {0, 24, 44};
	MPI_Datatype st[3] = {MPI_INT, MPI_DOUBLE, MPI_CHAR};
	MPI_Aint sd[3] = {0, 8, 24};
	ECR_MPI(MPI_Type_contiguous(5, MPI_INT, &types[0]));
	ECR_MPI(MPI_Type_vector(3, 2, 4, MPI_INT, &types[1]));
	ECR_MPI(MPI_Type_create_hvector(3, 1, 12, types[0], &types[2]));
	ECR_MPI(MPI_Type_indexed(3, bl, disp, MPI_INT, &types[3]));
	ECR_MPI(MPI_Type_create_hindexed(3, bl, hd, MPI_SHORT, &types[4]));
	ECR_MPI(MPI_Type_create_indexed_block(3, 2, disp, MPI_INT, &types[5]));
	ECR_MPI(MPI_Type_create_hindexed_block(3, 2, hd, MPI_DOUBLE, &types[6]));
	ECR_MPI(MPI_Type_create_struct(3, bl, sd, st, &types[7]));
	ECR_MPI(MPI_Type_create_subarray(2, sizes, sub, starts, MPI_ORDER_C, MPI_INT, &types[8]));
	/* a 2x2 process grid for every rank count: rank % 4 */
	ECR_MPI(MPI_Type_create_darray(4, ecr_rank % 4, 2, gs, distr, dargs, psizes, MPI_ORDER_C,
				       MPI_INT, &types[9]));
	ECR_MPI(MPI_Type_create_resized(types[1], -4, 64, &types[10]));
	ECR_MPI(MPI_Type_dup(types[7], &types[11]));
	for (int t = 0; t < NTYPE; t++) {
		ECR_MPI(MPI_Type_commit(&types[t]));
		talive[t] = 1;
	}
}

/* pack the pattern through type t; returns the hash of the packed bytes */
static uint64_t pack_hash(int t, int *size)
{
	static unsigned char pat[PAT], out[PAT * 2];
	int pos = 0;
	ecr_fill(pat, PAT, 77);
	ECR_MPI(MPI_Type_size(types[t], size));
	/* resized starts at -4: pack from pat + 64 */
	ECR_MPI(MPI_Pack(pat + 64, 2, types[t], out, sizeof(out), &pos, MPI_COMM_WORLD));
	return ecr_hash(ECR_HASH0, out, (size_t)pos) ^ (uint64_t)pos;
}

static void use_comm(int i, MPI_Group world)
{
	int rank, size, w[64], rsize, mine = ecr_rank + 1, sum = 0, want = 0;
	describe(i, world, &rank, &size, w, &rsize);
	if (rank != crank[i] || size != csize[i] || rsize != crsize[i])
		ecr_fail("comm %d: rank/size/remote %d/%d/%d, before %d/%d/%d", i, rank, size, rsize,
			 crank[i], csize[i], crsize[i]);
	int n = isinter[i] ? rsize : size;
	for (int k = 0; k < n; k++) {
		if (w[k] != cworld[i][k])
			ecr_fail("comm %d: member %d is world %d, before %d", i, k, w[k], cworld[i][k]);
		want += w[k] + 1;
	}
	/* on an intercomm, Allreduce gives the remote group's sum */
	ECR_MPI(MPI_Allreduce(&mine, &sum, 1, MPI_INT, MPI_SUM, comm[i]));
	if (sum != want)
		ecr_fail("comm %d: allreduce %d, expected %d", i, sum, want);
	answer = ecr_hash_u64(answer, ((uint64_t)i << 32) ^ (uint64_t)sum);
	if (i % 5 == 3) { /* cart: shift along dim 0 and exchange */
		int src, dst, got = -1, coords[2];
		ECR_MPI(MPI_Cart_coords(comm[i], rank, 2, coords));
		ECR_MPI(MPI_Cart_shift(comm[i], 0, 1, &src, &dst));
		ECR_MPI(MPI_Sendrecv(&rank, 1, MPI_INT, dst, 5, &got, 1, MPI_INT, src, 5, comm[i],
				     MPI_STATUS_IGNORE));
		if (src != MPI_PROC_NULL && got != src)
			ecr_fail("cart %d: got %d from %d", i, got, src);
		answer = ecr_hash_u64(answer, (uint64_t)(coords[0] * 100 + coords[1]));
	}
	if (isinter[i]) {
		int msum = 0, mw = 0;
		ECR_MPI(MPI_Allreduce(&mine, &msum, 1, MPI_INT, MPI_SUM, merged[i]));
		for (int r = 0; r < ecr_size; r++)
			mw += r + 1;
		if (msum != mw)
			ecr_fail("merged %d: allreduce %d, expected %d", i, msum, mw);
	}
	intptr_t v = 0;
	int flag = 0;
	ECR_MPI(MPI_Comm_get_attr(comm[i], ckey, &v, &flag));
	if (i % 5 == 0) { /* set on the first dup, copied (+1000) into each later one */
		if (!flag || v != 7 + 1000 * (i / 5))
			ecr_fail("comm %d: attribute %ld (flag %d), expected %d", i, (long)v, flag,
				 7 + 1000 * (i / 5));
	} else if (flag != (i % 7 == 1)) {
		ecr_fail("comm %d: attribute flag %d", i, flag);
	}
}

int main(int argc, char **argv)
{
	ecr_init(&argc, &argv, MPI_THREAD_SINGLE);
	if (argc < 2)
		ecr_die("usage: objects GOFILE");
	if (ecr_size > 64)
		ecr_die("at most 64 ranks");
	MPI_Group world;
	MPI_Errhandler eh;
	MPI_Op opc, opn;
	ECR_MPI(MPI_Comm_group(MPI_COMM_WORLD, &world));
	ECR_MPI(MPI_Comm_create_keyval(copy_fn, del_fn, &ckey, NULL));
	ECR_MPI(MPI_Type_create_keyval(MPI_TYPE_NULL_COPY_FN, tdel_fn, &tkey, NULL));
	ECR_MPI(MPI_Comm_create_errhandler(errh_fn, &eh));
	ECR_MPI(MPI_Op_create(modsum, 1, &opc));
	ECR_MPI(MPI_Op_create(matmul, 0, &opn));
	make_comms(world);
	for (int i = 0; i < NCOMM; i += 5) {
		intptr_t v = 7 + 1000 * (i / 5);
		ECR_MPI(MPI_Comm_set_attr(comm[i], ckey, (void *)v));
	}
	/* the copy callback: a dup of comm[0] carries 7 + 1000 */
	MPI_Comm cdup;
	ECR_MPI(MPI_Comm_dup(comm[0], &cdup));
	for (int i = 0; i < NCOMM; i++)
		if (comm[i] != MPI_COMM_NULL && i % 5 != 0 && i % 7 == 1)
			ECR_MPI(MPI_Comm_set_attr(comm[i], ckey, (void *)(intptr_t)i));
	make_types();
	for (int t = 0; t < NTYPE; t++)
		ECR_MPI(MPI_Type_set_attr(types[t], tkey, (void *)(intptr_t)(t + 1)));
	ECR_MPI(MPI_Comm_set_errhandler(comm[0], eh));
	/* free a third (never comm[0]: it holds the error handler) */
	int freed = 0;
	for (int i = 0; i < NCOMM; i++) {
		alive[i] = comm[i] != MPI_COMM_NULL;
		if (alive[i] && i % 3 == 2) {
			if (isinter[i])
				MPI_Comm_free(&merged[i]);
			MPI_Comm_free(&comm[i]);
			alive[i] = 0;
			freed++;
		}
	}
	for (int t = 3; t < NTYPE; t += 3) { /* none that another type is built on */
		MPI_Type_free(&types[t]);
		talive[t] = 0;
	}
	for (int i = 0; i < NCOMM; i++)
		if (alive[i])
			describe(i, world, &crank[i], &csize[i], cworld[i], &crsize[i]);
	for (int t = 0; t < NTYPE; t++)
		if (talive[t])
			tpack[t] = pack_hash(t, &tsize[t]);
	int deletes_before = deletes;
	printf("rank %d: %d communicators made, %d freed, %d copies, %d deletes\n", ecr_rank,
	       NCOMM, freed, copies, deletes);
	ecr_ready();
	ecr_wait_file(argv[1]);

	/* after the checkpoint: use everything */
	for (int i = 0; i < NCOMM; i++)
		if (alive[i])
			use_comm(i, world);
	for (int t = 0; t < NTYPE; t++) {
		if (!talive[t])
			continue;
		int size = 0;
		uint64_t h = pack_hash(t, &size);
		if (h != tpack[t] || size != tsize[t])
			ecr_fail("datatype %d: packs to %016llx (size %d), before %016llx (%d)", t,
				 (unsigned long long)h, size, (unsigned long long)tpack[t], tsize[t]);
		/* through the ring: send with the type, receive as bytes */
		static unsigned char pat[PAT], got[PAT];
		ecr_fill(pat, PAT, 77);
		memset(got, 0, sizeof(got));
		int to = (ecr_rank + 1) % ecr_size, from = (ecr_rank + ecr_size - 1) % ecr_size, n = 0;
		MPI_Status st;
		ECR_MPI(MPI_Sendrecv(pat + 64, 2, types[t], to, 100 + t, got, PAT, MPI_BYTE, from,
				     100 + t, MPI_COMM_WORLD, &st));
		MPI_Get_count(&st, MPI_BYTE, &n);
		/* darray differs per rank: compare with what the sender packs, for the others */
		if (t != 9 && (n != 2 * size || (ecr_hash(ECR_HASH0, got, (size_t)n) ^ (uint64_t)n) != h))
			ecr_fail("datatype %d: ring message of %d bytes differs from the packed one", t, n);
		intptr_t v = 0;
		int flag = 0;
		ECR_MPI(MPI_Type_get_attr(types[t], tkey, &v, &flag));
		if (!flag || v != t + 1)
			ecr_fail("datatype %d: attribute %ld flag %d", t, (long)v, flag);
		answer = ecr_hash_u64(answer, h);
	}
	/* user ops */
	int in[8], out[8], want[8];
	for (int i = 0; i < 4; i++)
		in[i] = (ecr_rank * 37 + i * 11) % 65521;
	/* matrices [[1, r+1], [0, 1]]: the product in rank order is [[1, sum], [0, 1]] */
	in[4] = 1, in[5] = ecr_rank + 1, in[6] = 0, in[7] = 1;
	ECR_MPI(MPI_Allreduce(in, out, 4, MPI_INT, opc, MPI_COMM_WORLD));
	ECR_MPI(MPI_Allreduce(in + 4, out + 4, 4, MPI_INT, opn, MPI_COMM_WORLD));
	for (int i = 0; i < 4; i++) {
		want[i] = 0;
		for (int r = 0; r < ecr_size; r++)
			want[i] = (want[i] + (r * 37 + i * 11) % 65521) % 65521;
	}
	want[4] = 1, want[5] = ecr_size * (ecr_size + 1) / 2, want[6] = 0, want[7] = 1;
	for (int i = 0; i < 8; i++)
		if (out[i] != want[i])
			ecr_fail("user op: element %d is %d, expected %d", i, out[i], want[i]);
	answer = ecr_hash(answer, out, sizeof(out));
	/* the copied attribute, the error handler of comm[0] */
	{
		intptr_t v = 0;
		int flag = 0, sz = 0;
		ECR_MPI(MPI_Comm_get_attr(cdup, ckey, &v, &flag));
		ECR_MPI(MPI_Comm_size(cdup, &sz));
		if (!flag || v != 1007 || sz != ecr_size || copies != 1)
			ecr_fail("dup of comm 0: attribute %ld flag %d size %d copies %d", (long)v,
				 flag, sz, copies);
		MPI_Comm_free(&cdup);
		deletes--; /* its attribute's delete */
	}
	MPI_Errhandler e2;
	ECR_MPI(MPI_Comm_get_errhandler(comm[0], &e2));
	ECR_MPI(MPI_Comm_call_errhandler(comm[0], MPI_ERR_OTHER));
	if (errcalls != 1)
		ecr_fail("error handler: %d calls, expected 1", errcalls);
	MPI_Errhandler_free(&e2);
	/* free everything: every attribute's delete callback runs once */
	int expect_del = deletes_before;
	for (int i = 0; i < NCOMM; i++) {
		if (!alive[i])
			continue;
		intptr_t v;
		int flag = 0;
		MPI_Comm_get_attr(comm[i], ckey, &v, &flag);
		expect_del += flag;
		if (isinter[i])
			MPI_Comm_free(&merged[i]);
		MPI_Comm_free(&comm[i]);
	}
	for (int t = 0; t < NTYPE; t++)
		if (talive[t]) {
			MPI_Type_free(&types[t]);
			expect_del++;
		}
	if (deletes != expect_del)
		ecr_fail("%d delete callbacks, expected %d", deletes, expect_del);
	answer = ecr_hash_u64(answer, (uint64_t)deletes);
	MPI_Op_free(&opc);
	MPI_Op_free(&opn);
	MPI_Errhandler_free(&eh);
	MPI_Comm_free_keyval(&ckey);
	MPI_Type_free_keyval(&tkey);
	MPI_Group_free(&world);
	return ecr_finish(answer, "objects");
}
