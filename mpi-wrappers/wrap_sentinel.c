/*
 * wrap_sentinel.c - functions that take MPICH's "special pointers" (MPI_UNWEIGHTED,
 * MPI_WEIGHTS_EMPTY, MPI_T_PVAR_ALL_HANDLES).
 *
 * The application (or libmpichfort) passes *our* addresses (wrap_data.c); the lower MPICH
 * compares with its own. Each such argument goes through wrap_sentinel_to_lower() before the
 * gate; everything else is as in a generated wrapper (door, collective seq and gid, handles
 * translated before the gate).
 */
#include "wrap.h"
#include "wrap_door.h"

#define SENTINEL(v, p, err) ((__typeof__(p))wrap_sentinel_to_lower((p), &(err)))

WRAP_EXPORT int PMPI_Dist_graph_create(MPI_Comm comm_old, int n, const int sources[],
				       const int degrees[], const int destinations[],
				       const int weights[], MPI_Info info, int reorder,
				       MPI_Comm *comm_dist_graph)
{
	int r = MPI_SUCCESS;
	wrap_door_t d_ = wrap_door_enter(WRAP_DOOR_COLL, comm_old);
	struct wrap_seq *ps_ = wrap_seq_of(comm_old);
	uint64_t pq_ = ps_->seq;
	const int *w = SENTINEL(w, weights, r);
	MPI_Comm l_comm = wrap_comm_to_lower(comm_old);
	MPI_Info l_info = wrap_info_to_lower(info);
	if (r == MPI_SUCCESS)
		WRAP_DOWN(r, MPI_Dist_graph_create, l_comm, n, sources, degrees, destinations, w,
			  l_info, reorder, comm_dist_graph);
	if (r == MPI_SUCCESS && comm_dist_graph) {
		*comm_dist_graph = wrap_comm_from_lower(*comm_dist_graph);
		wrap_seq_child(ps_, pq_, *comm_dist_graph, 1);
	}
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Dist_graph_create, MPI_Dist_graph_create)

WRAP_EXPORT int PMPI_Dist_graph_create_adjacent(MPI_Comm comm_old, int indegree,
						const int sources[], const int sourceweights[],
						int outdegree, const int destinations[],
						const int destweights[], MPI_Info info, int reorder,
						MPI_Comm *comm_dist_graph)
{
	int r = MPI_SUCCESS;
	wrap_door_t d_ = wrap_door_enter(WRAP_DOOR_COLL, comm_old);
	struct wrap_seq *ps_ = wrap_seq_of(comm_old);
	uint64_t pq_ = ps_->seq;
	const int *sw = SENTINEL(sw, sourceweights, r);
	const int *dw = SENTINEL(dw, destweights, r);
	MPI_Comm l_comm = wrap_comm_to_lower(comm_old);
	MPI_Info l_info = wrap_info_to_lower(info);
	if (r == MPI_SUCCESS)
		WRAP_DOWN(r, MPI_Dist_graph_create_adjacent, l_comm, indegree, sources, sw,
			  outdegree, destinations, dw, l_info, reorder, comm_dist_graph);
	if (r == MPI_SUCCESS && comm_dist_graph) {
		*comm_dist_graph = wrap_comm_from_lower(*comm_dist_graph);
		wrap_seq_child(ps_, pq_, *comm_dist_graph, 1);
	}
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Dist_graph_create_adjacent, MPI_Dist_graph_create_adjacent)

WRAP_EXPORT int PMPI_Dist_graph_neighbors(MPI_Comm comm, int maxindegree, int sources[],
					  int sourceweights[], int maxoutdegree, int destinations[],
					  int destweights[])
{
	int r = MPI_SUCCESS;
	int *sw = SENTINEL(sw, sourceweights, r);
	int *dw = SENTINEL(dw, destweights, r);
	MPI_Comm l_comm = wrap_comm_to_lower(comm);
	if (r != MPI_SUCCESS)
		return r;
	wrap_door_t d_ = wrap_door_enter(WRAP_DOOR_LOCAL, 0);
	WRAP_DOWN(r, MPI_Dist_graph_neighbors, l_comm, maxindegree, sources, sw, maxoutdegree,
		  destinations, dw);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Dist_graph_neighbors, MPI_Dist_graph_neighbors)

#define PVAR_FN(NAME)                                                                              \
	WRAP_EXPORT int P##NAME(MPI_T_pvar_session session, MPI_T_pvar_handle handle)              \
	{                                                                                          \
		int r = MPI_SUCCESS;                                                               \
		MPI_T_pvar_handle h = SENTINEL(h, handle, r);                                      \
		if (r != MPI_SUCCESS)                                                              \
			return r;                                                                  \
		wrap_door_t d_ = wrap_door_enter(WRAP_DOOR_LOCAL, 0);                              \
		WRAP_DOWN(r, NAME, session, h);                                                    \
		wrap_door_leave(d_);                                                               \
		return r;                                                                          \
	}                                                                                          \
	WRAP_ALIAS(P##NAME, NAME)

PVAR_FN(MPI_T_pvar_start)
PVAR_FN(MPI_T_pvar_stop)
PVAR_FN(MPI_T_pvar_reset)
