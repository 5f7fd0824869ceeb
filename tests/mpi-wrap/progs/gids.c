/* gids.c - communicator gids (docs/mpi-ckpt.md, section 1): the same number on every member,
 * different for different communicators, 0 for size-1 ones; and collective seqs counted alike.
 *
 * Makes communicators with every constructor (dup twice, split, split_type, create, idup,
 * Cartesian + sub, graph, dist graph, intercommunicator between the two halves + merge,
 * create_group, a dup of MPI_COMM_SELF), runs 3 Barriers on each intracommunicator, and asks
 * the upper half (SPLITCKPT_test_seq) for gid and seq. Every rank publishes, per communicator,
 * its gid, seq and the lowest world rank of the communicator (its "leader", naming the
 * communicator among the split-like ones); then every rank checks: same leader -> same gid and
 * seq, different leader -> different gid, distinct communicators of one rank -> distinct gids,
 * size 1 -> gid 0, MPI_COMM_WORLD -> gid 1.     gids      (4 ranks, split process only)
 */
#include <dlfcn.h>
#include <string.h>

#include "mt.h"

#define NC 15

typedef unsigned long long (*seq_fn)(int, unsigned long long *);

static int lowest(MPI_Group g, MPI_Group wg, int lo)
{
	int n;
	MPI_Group_size(g, &n);
	for (int i = 0; i < n; i++) {
		int w;
		MPI_Group_translate_ranks(g, 1, &i, wg, &w);
		if (w < lo)
			lo = w;
	}
	return lo;
}

/* lowest world rank of the communicator (both groups of an intercommunicator) */
static int leader_of(MPI_Comm c)
{
	MPI_Group g, wg;
	int inter = 0, lo;
	MPI_Comm_test_inter(c, &inter);
	MPI_Comm_group(MPI_COMM_WORLD, &wg);
	MPI_Comm_group(c, &g);
	lo = lowest(g, wg, 1 << 30);
	MPI_Group_free(&g);
	if (inter) {
		MPI_Comm_remote_group(c, &g);
		lo = lowest(g, wg, lo);
		MPI_Group_free(&g);
	}
	MPI_Group_free(&wg);
	return lo + (inter ? 1000 : 0);
}

int main(int argc, char **argv)
{
	int rank, size;
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	seq_fn seq = (seq_fn)dlsym(RTLD_DEFAULT, "SPLITCKPT_test_seq");
	CHECK(seq != NULL, "no SPLITCKPT_test_seq: not a split process");
	CHECK(size == 4, "run with 4 ranks");
	if (!seq || size != 4)
		return mt_finish("gids");

	MPI_Comm c[NC];
	for (int i = 0; i < NC; i++)
		c[i] = MPI_COMM_NULL;
	MPI_Group wg, g3;
	MPI_Comm_group(MPI_COMM_WORLD, &wg);
	int three[3] = {0, 1, 2}, dims[1] = {4}, per[1] = {1};
	MPI_Group_incl(wg, 3, three, &g3);
	c[0] = MPI_COMM_WORLD;
	MPI_Comm_dup(MPI_COMM_WORLD, &c[1]);
	MPI_Comm_dup(MPI_COMM_WORLD, &c[2]);
	MPI_Comm_split(MPI_COMM_WORLD, rank % 2, rank, &c[3]);
	MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &c[4]);
	MPI_Comm_create(MPI_COMM_WORLD, g3, &c[5]); /* NULL on rank 3 */
	MPI_Request q;
	MPI_Comm_idup(c[1], &c[6], &q);
	MPI_Wait(&q, MPI_STATUS_IGNORE);
	MPI_Cart_create(MPI_COMM_WORLD, 1, dims, per, 0, &c[7]);
	int sub[1] = {0};
	MPI_Cart_sub(c[7], sub, &c[8]); /* size 1 each */
	int index[4] = {2, 4, 6, 8}, edges[8] = {1, 3, 0, 2, 1, 3, 0, 2};
	MPI_Graph_create(MPI_COMM_WORLD, 4, index, edges, 0, &c[9]);
	int src[1] = {(rank + 3) % 4}, dst[1] = {(rank + 1) % 4};
	MPI_Dist_graph_create_adjacent(MPI_COMM_WORLD, 1, src, MPI_UNWEIGHTED, 1, dst,
				       MPI_UNWEIGHTED, MPI_INFO_NULL, 0, &c[10]);
	MPI_Intercomm_create(c[3], 0, MPI_COMM_WORLD, rank % 2 ? 0 : 1, 7, &c[11]);
	MPI_Intercomm_merge(c[11], rank % 2, &c[12]);
	if (rank < 3) /* collective over the group's members only */
		MPI_Comm_create_group(MPI_COMM_WORLD, g3, 5, &c[13]);
	MPI_Comm_dup(MPI_COMM_SELF, &c[14]);
	MPI_Group_free(&g3);
	MPI_Group_free(&wg);

	unsigned long long mine[NC][3], all[4][NC][3];
	for (int i = 0; i < NC; i++) {
		int inter = 0;
		mine[i][0] = mine[i][1] = 0;
		mine[i][2] = (unsigned long long)-1;
		if (c[i] == MPI_COMM_NULL)
			continue;
		MPI_Comm_test_inter(c[i], &inter);
		for (int k = 0; k < 3 && !inter; k++)
			CHECK_MPI(MPI_Barrier(c[i]));
		mine[i][1] = seq(c[i], &mine[i][0]);
		mine[i][2] = (unsigned long long)leader_of(c[i]);
		int n;
		MPI_Comm_size(c[i], &n);
		if (inter) {
			MPI_Comm_remote_size(c[i], &n);
			n += 1;
		}
		CHECK((n == 1) == (mine[i][0] == 0), "communicator %d of size %d has gid %llx", i,
		      n, mine[i][0]);
	}
	CHECK(mine[0][0] == 1, "MPI_COMM_WORLD has gid %llx", mine[0][0]);
	MPI_Allgather(mine, NC * 3, MPI_UNSIGNED_LONG_LONG, all, NC * 3, MPI_UNSIGNED_LONG_LONG,
		      MPI_COMM_WORLD);
	for (int i = 0; i < NC; i++)
		for (int r = 0; r < 4; r++) {
			if (all[r][i][0] == 0 || mine[i][0] == 0)
				continue;
			if (all[r][i][2] == mine[i][2])
				CHECK(all[r][i][0] == mine[i][0] && all[r][i][1] == mine[i][1],
				      "communicator %d: rank %d gid %llx seq %llu, rank %d gid "
				      "%llx seq "
				      "%llu",
				      i, r, all[r][i][0], all[r][i][1], rank, mine[i][0],
				      mine[i][1]);
			else
				CHECK(all[r][i][0] != mine[i][0],
				      "communicator %d: two different ones share gid %llx", i,
				      mine[i][0]);
		}
	for (int i = 0; i < NC; i++)
		for (int j = i + 1; j < NC; j++)
			CHECK(mine[i][0] == 0 || mine[i][0] != mine[j][0],
			      "communicators %d and %d share gid %llx", i, j, mine[i][0]);
	for (int i = 1; i < NC; i++)
		if (c[i] != MPI_COMM_NULL)
			MPI_Comm_free(&c[i]);
	return mt_finish("gids");
}
