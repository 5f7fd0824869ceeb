/*
 * wrap_vh_datatype.c - derived datatypes as virtual handles, as a replay log of their
 * constructors; MPI_Type_get_contents(_c) and the MPI_Type_commit hook.
 *
 * Description: MPI's own account of how the type was made, asked when the type comes out of
 * the lower MPI (any constructor, MPI_Type_dup, MPI_File_get_view...): the combiner and the
 * arguments of MPI_Type_get_contents_c (integers, addresses, large counts, old types), the old
 * types as *virtual* handles holding a reference each (so a freed old type stays described
 * while a type built on it lives - MPI keeps it alive the same way); whether the application
 * committed it; its name (snapshot); attributes its copy callbacks gave it (MPI_Type_dup).
 * An old type the application does not hold (freed, or made inside MPI) gets an entry of its
 * own, described the same way.
 *
 * Rebuild: the old types first (recursively), then the same constructor - the classic one, or
 * the large-count (_c) one when MPI reports large counts - with the old types' new lower
 * handles, then MPI_Type_commit if it was committed. A type only other types need (the
 * application freed it) is made again for them and its lower handle freed afterwards.
 *
 * Argument layouts are MPI 4.0's (section 5.1.13), as MPICH 4.0.2 reports them: for the
 * large-count constructors the counts, block lengths and displacements are all in the large
 * counts, for subarray and darray the sizes (gsizes) too.
 */
#include <stdlib.h>
#include <string.h>

#include "wrap.h"
#include "wrap_door.h"
#include "wrap_hooks.h"

struct dt_desc {
	int combiner;
	MPI_Count ni, na, nc, nd;
	int *i;
	MPI_Aint *a;
	MPI_Count *c;
	int *types; /* virtual, or predefined */
	char *name;
};

static void *arr(MPI_Count n, size_t sz) { return malloc(sz * (size_t)(n > 0 ? n : 1)); }

static int dt_describe(struct wrap_vh_obj *e)
{
	MPI_Datatype t = (MPI_Datatype)e->real;
	struct dt_desc *d = calloc(1, sizeof(*d));
	int r;
	if (!d)
		return -1;
	e->desc = d;
	wrap_vh_attrs_take_pending(e);
	WRAP_DOWN(r, MPI_Type_get_envelope_c, t, &d->ni, &d->na, &d->nc, &d->nd, &d->combiner);
	if (r != MPI_SUCCESS || d->combiner == MPI_COMBINER_NAMED)
		return -1;
	d->i = arr(d->ni, sizeof(int));
	d->a = arr(d->na, sizeof(MPI_Aint));
	d->c = arr(d->nc, sizeof(MPI_Count));
	d->types = arr(d->nd, sizeof(int));
	if (!d->i || !d->a || !d->c || !d->types)
		return -1;
	WRAP_DOWN(r, MPI_Type_get_contents_c, t, d->ni, d->na, d->nc, d->nd, d->i, d->a, d->c,
		  d->types);
	if (r != MPI_SUCCESS) {
		d->nd = 0;
		return -1;
	}
	for (MPI_Count k = 0; k < d->nd; k++) {
		MPI_Datatype old = d->types[k];
		if (wrap_vh_is_predefined(WRAP_VH_DATATYPE, old))
			continue;
		d->types[k] = (int)wrap_vh_intern(WRAP_VH_DATATYPE, old);
		WRAP_DOWN(r, MPI_Type_free, &old); /* the reference get_contents gave */
	}
	/* MPI_Type_dup gives the new type the committed state of the old one */
	if (d->combiner == MPI_COMBINER_DUP && d->nd == 1) {
		struct wrap_vh_obj *old = wrap_vh_obj_of(WRAP_VH_DATATYPE, d->types[0]);
		if (!old || (old->flags & WRAP_VH_F_COMMITTED))
			e->flags |= WRAP_VH_F_COMMITTED;
	}
	return 0;
}

/* The constructor again, with the old types' lower handles in t[]. */
static int construct(const struct dt_desc *d, const MPI_Datatype *t, MPI_Datatype *nt)
{
	const int *i = d->i;
	const MPI_Aint *a = d->a;
	const MPI_Count *c = d->c;
	int r = MPI_ERR_TYPE;
	if (d->nc > 0) { /* made by a large-count constructor */
		MPI_Count n = c[0];
		switch (d->combiner) {
		case MPI_COMBINER_CONTIGUOUS:
			WRAP_DOWN(r, MPI_Type_contiguous_c, n, t[0], nt);
			break;
		case MPI_COMBINER_VECTOR:
			WRAP_DOWN(r, MPI_Type_vector_c, n, c[1], c[2], t[0], nt);
			break;
		case MPI_COMBINER_HVECTOR:
			WRAP_DOWN(r, MPI_Type_create_hvector_c, n, c[1], c[2], t[0], nt);
			break;
		case MPI_COMBINER_INDEXED:
			WRAP_DOWN(r, MPI_Type_indexed_c, n, c + 1, c + 1 + n, t[0], nt);
			break;
		case MPI_COMBINER_HINDEXED:
			WRAP_DOWN(r, MPI_Type_create_hindexed_c, n, c + 1, c + 1 + n, t[0], nt);
			break;
		case MPI_COMBINER_INDEXED_BLOCK:
			WRAP_DOWN(r, MPI_Type_create_indexed_block_c, n, c[1], c + 2, t[0], nt);
			break;
		case MPI_COMBINER_HINDEXED_BLOCK:
			WRAP_DOWN(r, MPI_Type_create_hindexed_block_c, n, c[1], c + 2, t[0], nt);
			break;
		case MPI_COMBINER_STRUCT:
			WRAP_DOWN(r, MPI_Type_create_struct_c, n, c + 1, c + 1 + n, t, nt);
			break;
		case MPI_COMBINER_SUBARRAY: {
			int nd = i[0];
			WRAP_DOWN(r, MPI_Type_create_subarray_c, nd, c, c + nd, c + 2 * nd, i[1],
				  t[0], nt);
			break;
		}
		case MPI_COMBINER_DARRAY: {
			int nd = i[2];
			WRAP_DOWN(r, MPI_Type_create_darray_c, i[0], i[1], nd, c, i + 3, i + 3 + nd,
				  i + 3 + 2 * nd, i[3 + 3 * nd], t[0], nt);
			break;
		}
		case MPI_COMBINER_RESIZED:
			WRAP_DOWN(r, MPI_Type_create_resized_c, t[0], c[0], c[1], nt);
			break;
		}
		return r;
	}
	switch (d->combiner) {
	case MPI_COMBINER_DUP:
		WRAP_DOWN(r, MPI_Type_dup, t[0], nt);
		break;
	case MPI_COMBINER_CONTIGUOUS:
		WRAP_DOWN(r, MPI_Type_contiguous, i[0], t[0], nt);
		break;
	case MPI_COMBINER_VECTOR:
		WRAP_DOWN(r, MPI_Type_vector, i[0], i[1], i[2], t[0], nt);
		break;
	case MPI_COMBINER_HVECTOR:
	case MPI_COMBINER_HVECTOR_INTEGER:
		WRAP_DOWN(r, MPI_Type_create_hvector, i[0], i[1], a[0], t[0], nt);
		break;
	case MPI_COMBINER_INDEXED:
		WRAP_DOWN(r, MPI_Type_indexed, i[0], i + 1, i + 1 + i[0], t[0], nt);
		break;
	case MPI_COMBINER_HINDEXED:
	case MPI_COMBINER_HINDEXED_INTEGER:
		WRAP_DOWN(r, MPI_Type_create_hindexed, i[0], i + 1, a, t[0], nt);
		break;
	case MPI_COMBINER_INDEXED_BLOCK:
		WRAP_DOWN(r, MPI_Type_create_indexed_block, i[0], i[1], i + 2, t[0], nt);
		break;
	case MPI_COMBINER_HINDEXED_BLOCK:
		WRAP_DOWN(r, MPI_Type_create_hindexed_block, i[0], i[1], a, t[0], nt);
		break;
	case MPI_COMBINER_STRUCT:
	case MPI_COMBINER_STRUCT_INTEGER:
		WRAP_DOWN(r, MPI_Type_create_struct, i[0], i + 1, a, t, nt);
		break;
	case MPI_COMBINER_SUBARRAY: {
		int nd = i[0];
		WRAP_DOWN(r, MPI_Type_create_subarray, nd, i + 1, i + 1 + nd, i + 1 + 2 * nd,
			  i[1 + 3 * nd], t[0], nt);
		break;
	}
	case MPI_COMBINER_DARRAY: {
		int nd = i[2];
		WRAP_DOWN(r, MPI_Type_create_darray, i[0], i[1], nd, i + 3, i + 3 + nd,
			  i + 3 + 2 * nd, i + 3 + 3 * nd, i[3 + 4 * nd], t[0], nt);
		break;
	}
	case MPI_COMBINER_F90_REAL:
		WRAP_DOWN(r, MPI_Type_create_f90_real, i[0], i[1], nt);
		break;
	case MPI_COMBINER_F90_COMPLEX:
		WRAP_DOWN(r, MPI_Type_create_f90_complex, i[0], i[1], nt);
		break;
	case MPI_COMBINER_F90_INTEGER:
		WRAP_DOWN(r, MPI_Type_create_f90_integer, i[0], nt);
		break;
	case MPI_COMBINER_RESIZED:
		WRAP_DOWN(r, MPI_Type_create_resized, t[0], a[0], a[1], nt);
		break;
	}
	return r;
}

static int dt_rebuild(struct wrap_vh_obj *e, int64_t *real)
{
	struct dt_desc *d = e->desc;
	MPI_Datatype nt = MPI_DATATYPE_NULL, *t;
	int r;
	if (!d)
		return MPI_ERR_TYPE;
	t = arr(d->nd, sizeof(MPI_Datatype));
	if (!t)
		return MPI_ERR_NO_MEM;
	for (MPI_Count k = 0; k < d->nd; k++) {
		struct wrap_vh_obj *old = wrap_vh_obj_of(WRAP_VH_DATATYPE, d->types[k]);
		if (old && wrap_vh_rebuild_one(old) != 0) {
			free(t);
			return MPI_ERR_TYPE;
		}
		t[k] = wrap_datatype_to_lower(d->types[k]);
	}
	r = construct(d, t, &nt);
	free(t);
	if (r == MPI_SUCCESS && (e->flags & WRAP_VH_F_COMMITTED))
		WRAP_DOWN(r, MPI_Type_commit, &nt);
	*real = nt;
	return r;
}

static void dt_snapshot(struct wrap_vh_obj *e)
{
	struct dt_desc *d = e->desc;
	char name[MPI_MAX_OBJECT_NAME + 1];
	int r, len = 0;
	if (!d)
		return;
	WRAP_DOWN(r, MPI_Type_get_name, (MPI_Datatype)e->real, name, &len);
	free(d->name);
	d->name = r == MPI_SUCCESS && len > 0 ? strndup(name, (size_t)len) : NULL;
}

static void dt_finish(struct wrap_vh_obj *e)
{
	struct dt_desc *d = e->desc;
	int r;
	if (d && d->name)
		WRAP_DOWN(r, MPI_Type_set_name, (MPI_Datatype)e->real, d->name);
	(void)r;
}

static void dt_free_lower(struct wrap_vh_obj *e)
{
	MPI_Datatype t = (MPI_Datatype)e->real;
	int r;
	WRAP_DOWN(r, MPI_Type_free, &t);
	(void)r;
}

static void dt_destroy(struct wrap_vh_obj *e)
{
	struct dt_desc *d = e->desc;
	if (!d)
		return;
	for (MPI_Count k = 0; k < d->nd; k++)
		wrap_vh_unref(WRAP_VH_DATATYPE, d->types[k]);
	free(d->i);
	free(d->a);
	free(d->c);
	free(d->types);
	free(d->name);
	free(d);
}

const struct wrap_vh_ops wrap_vh_datatype_ops = {
    .name = "datatype",
    .kind = WRAP_VH_DATATYPE,
    .null_handle = MPI_DATATYPE_NULL,
    .describe = dt_describe,
    .snapshot = dt_snapshot,
    .rebuild = dt_rebuild,
    .finish = dt_finish,
    .destroy = dt_destroy,
    .rebuild_unheld = 1,
    .free_lower = dt_free_lower,
};

void wrap_hook_MPI_Type_commit(int r_, MPI_Datatype *datatype)
{
	if (r_ != MPI_SUCCESS || !datatype)
		return;
	wrap_vh_lock();
	struct wrap_vh_obj *e = wrap_vh_obj_of(WRAP_VH_DATATYPE, *datatype);
	if (e)
		e->flags |= WRAP_VH_F_COMMITTED;
	wrap_vh_unlock();
}

/* ---- MPI_Type_get_contents(_c): only the first num_datatypes outputs are handles --------- */

static MPI_Count num_types(MPI_Datatype lt)
{
	MPI_Count ni, na, nc, nd = 0;
	int comb, r;
	WRAP_DOWN(r, MPI_Type_get_envelope_c, lt, &ni, &na, &nc, &nd, &comb);
	return r == MPI_SUCCESS ? nd : 0;
}

WRAP_EXPORT int PMPI_Type_get_contents(MPI_Datatype datatype, int max_integers, int max_addresses,
				       int max_datatypes, int array_of_integers[],
				       MPI_Aint array_of_addresses[],
				       MPI_Datatype array_of_datatypes[])
{
	wrap_door_t d_ = wrap_door_enter(WRAP_DOOR_LOCAL, 0);
	MPI_Datatype lt = wrap_datatype_to_lower(datatype);
	int r;
	WRAP_DOWN(r, MPI_Type_get_contents, lt, max_integers, max_addresses, max_datatypes,
		  array_of_integers, array_of_addresses, array_of_datatypes);
	if (r == MPI_SUCCESS) {
		MPI_Count n = num_types(lt);
		wrap_datatype_array_from_lower(array_of_datatypes,
					       (long)(n < max_datatypes ? n : max_datatypes));
	}
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Type_get_contents, MPI_Type_get_contents)

WRAP_EXPORT int PMPI_Type_get_contents_c(MPI_Datatype datatype, MPI_Count max_integers,
					 MPI_Count max_addresses, MPI_Count max_large_counts,
					 MPI_Count max_datatypes, int array_of_integers[],
					 MPI_Aint array_of_addresses[],
					 MPI_Count array_of_large_counts[],
					 MPI_Datatype array_of_datatypes[])
{
	wrap_door_t d_ = wrap_door_enter(WRAP_DOOR_LOCAL, 0);
	MPI_Datatype lt = wrap_datatype_to_lower(datatype);
	int r;
	WRAP_DOWN(r, MPI_Type_get_contents_c, lt, max_integers, max_addresses, max_large_counts,
		  max_datatypes, array_of_integers, array_of_addresses, array_of_large_counts,
		  array_of_datatypes);
	if (r == MPI_SUCCESS) {
		MPI_Count n = num_types(lt);
		wrap_datatype_array_from_lower(array_of_datatypes,
					       (long)(n < max_datatypes ? n : max_datatypes));
	}
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Type_get_contents_c, MPI_Type_get_contents_c)
