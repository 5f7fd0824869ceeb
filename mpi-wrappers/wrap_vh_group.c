/*
 * wrap_vh_group.c - groups as virtual handles.
 *
 * Description: the world ranks of the members, in group order (asked from MPI when the group
 * comes out of the lower MPI: MPI_Comm_group, the group algebra, MPI_Win_get_group...). A
 * rebuild is MPI_Group_incl on MPI_COMM_WORLD's group, a local call. MPI_Comm_group returns
 * the same group again while the communicator holds it: the second output is one more
 * reference to the same virtual handle, as natively. A group with members outside
 * MPI_COMM_WORLD (dynamic processes) cannot be rebuilt (reported).
 */
#include <stdlib.h>

#include "wrap.h"

struct group_desc {
	int n;
	int *ranks;
};

static int group_describe(struct wrap_vh_obj *e)
{
	struct group_desc *d = calloc(1, sizeof(*d));
	if (!d)
		return -1;
	e->desc = d;
	d->ranks = wrap_vh_world_ranks((int)e->real, &d->n);
	return d->ranks ? 0 : -1;
}

static int group_rebuild(struct wrap_vh_obj *e, int64_t *real)
{
	struct group_desc *d = e->desc;
	int r, g = MPI_GROUP_NULL, wg = wrap_vh_world_group();
	if (!d || !d->ranks || wg == MPI_GROUP_NULL)
		return MPI_ERR_GROUP;
	WRAP_DOWN(r, MPI_Group_incl, wg, d->n, d->ranks, &g);
	*real = g;
	return r;
}

static void group_destroy(struct wrap_vh_obj *e)
{
	struct group_desc *d = e->desc;
	if (d) {
		free(d->ranks);
		free(d);
	}
}

const struct wrap_vh_ops wrap_vh_group_ops = {
    .name = "group",
    .kind = WRAP_VH_GROUP,
    .null_handle = MPI_GROUP_NULL,
    .describe = group_describe,
    .rebuild = group_rebuild,
    .destroy = group_destroy,
};

const int *wrap_vh_group_ranks(int vgroup, int *n)
{
	struct wrap_vh_obj *e = wrap_vh_obj_of(WRAP_VH_GROUP, vgroup);
	const struct group_desc *d = e ? e->desc : NULL;
	*n = d ? d->n : 0;
	return d ? d->ranks : NULL;
}
