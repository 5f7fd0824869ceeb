/*
 * wrap_data.c - the data symbols of libmpich.so.12, and MPIR_Dup_fn.
 *
 * Applications and libmpichfort compare against, or pass, the *addresses* MPICH exports as
 * "special pointers" (MPI_UNWEIGHTED, MPI_WEIGHTS_EMPTY, MPI_F08_STATUS_IGNORE, ...). The
 * upper half has its own (they live in the arena and are saved with it); wherever one is
 * passed to the lower MPICH, wrap_sentinel_to_lower() swaps it for the lower half's value,
 * which the lower half publishes in the contract (WRAP_DATA entries). MPI_F_STATUS(ES)_IGNORE
 * are NULL in MPICH until its Fortran layer sets them; they are NULL here too.
 *
 * MPIR_Dup_fn is what MPI_DUP_FN / MPI_COMM_DUP_FN / MPI_TYPE_DUP_FN / MPI_WIN_DUP_FN name:
 * an attribute copy function the application passes by address. It runs in the upper half
 * (called through the attribute proxy of wrap_keyval.c), exactly as MPICH's.
 */
#include "wrap.h"

static int unweighted_obj, weights_empty_obj, pvar_all_handles_obj;

WRAP_EXPORT int *const MPI_UNWEIGHTED = &unweighted_obj;
WRAP_EXPORT int *const MPI_WEIGHTS_EMPTY = &weights_empty_obj;
WRAP_EXPORT int *MPIR_C_MPI_UNWEIGHTED = &unweighted_obj;
WRAP_EXPORT int *MPIR_C_MPI_WEIGHTS_EMPTY = &weights_empty_obj;

WRAP_EXPORT MPI_Fint *MPI_F_STATUS_IGNORE;
WRAP_EXPORT MPI_Fint *MPI_F_STATUSES_IGNORE;

WRAP_EXPORT MPI_F08_status MPIR_F08_MPI_STATUS_IGNORE_OBJ;
WRAP_EXPORT MPI_F08_status MPIR_F08_MPI_STATUSES_IGNORE_OBJ[1];
WRAP_EXPORT int MPIR_F08_MPI_IN_PLACE;
WRAP_EXPORT int MPIR_F08_MPI_BOTTOM;
WRAP_EXPORT MPI_F08_status *MPI_F08_STATUS_IGNORE = &MPIR_F08_MPI_STATUS_IGNORE_OBJ;
WRAP_EXPORT MPI_F08_status *MPI_F08_STATUSES_IGNORE = &MPIR_F08_MPI_STATUSES_IGNORE_OBJ[0];

WRAP_EXPORT struct MPIR_T_pvar_handle_s *const MPI_T_PVAR_ALL_HANDLES =
    (struct MPIR_T_pvar_handle_s *)&pvar_all_handles_obj;

/* The lower half's value for the special pointer p when p is ours, else p itself. Sets *err
 * to MPI_ERR_UNSUPPORTED_OPERATION (after a message) when p is ours and the lower half does
 * not publish its value. */
void *wrap_sentinel_to_lower(const void *p, int *err)
{
	static const struct {
		const void *const *ours;
		unsigned idx;
	} map[] = {
	    {(const void *const *)&MPI_UNWEIGHTED, WRAP_IDX_MPI_UNWEIGHTED},
	    {(const void *const *)&MPI_WEIGHTS_EMPTY, WRAP_IDX_MPI_WEIGHTS_EMPTY},
	    {(const void *const *)&MPI_F08_STATUS_IGNORE, WRAP_IDX_MPI_F08_STATUS_IGNORE},
	    {(const void *const *)&MPI_F08_STATUSES_IGNORE, WRAP_IDX_MPI_F08_STATUSES_IGNORE},
	    {(const void *const *)&MPI_T_PVAR_ALL_HANDLES, WRAP_IDX_MPI_T_PVAR_ALL_HANDLES},
	};
	if (p == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (p != *map[i].ours)
			continue;
		void *low = wrap_lower_data(map[i].idx);
		if (low == NULL)
			*err = wrap_unavailable(map[i].idx);
		return low;
	}
	return (void *)p;
}

WRAP_EXPORT int MPIR_Dup_fn(MPI_Comm oldcomm, int keyval, void *extra_state, void *attribute_val_in,
			    void *attribute_val_out, int *flag)
{
	(void)oldcomm;
	(void)keyval;
	(void)extra_state;
	*(void **)attribute_val_out = attribute_val_in;
	*flag = 1;
	return MPI_SUCCESS;
}
