/*
 * wrap_index.h - positions of the entries of mpi_functions.def, for both halves.
 *
 * The upper half (this library) indexes the contract's fn[] with enum wrap_fn_index; the lower
 * half fills fn[i] = dlsym(handle, wrap_lower_symbol(i)) for every i < WRAP_NFUNCS, in list
 * order, and sets nfuncs = WRAP_NFUNCS. For WRAP_DATA entries fn[i] is the address of the data
 * object (dlsym of a variable), which the upper half reads to learn the lower half's value of
 * MPI_UNWEIGHTED & co. A missing symbol leaves fn[i] = NULL: the upper half then fails that one
 * function with a clear message. Needs only the .def (no MPI header): include it anywhere.
 */
#ifndef SPLITCKPT_WRAP_INDEX_H
#define SPLITCKPT_WRAP_INDEX_H

enum wrap_fn_index {
#define WRAP_FN(kind, ret, name, lower, params, args, handles) WRAP_IDX_##name,
#define WRAP_DATA(name, lower) WRAP_IDX_##name,
#include "mpi_functions.def"
#undef WRAP_FN
#undef WRAP_DATA
	WRAP_NFUNCS
};

/* The symbol the lower half resolves for entry i ("PMPI_Send", "MPII_Op_set_cxx", ...), or
 * NULL when i is out of range. */
static inline const char *wrap_lower_symbol(unsigned i)
{
	static const char *const sym[WRAP_NFUNCS] = {
#define WRAP_FN(kind, ret, name, lower, params, args, handles) lower,
#define WRAP_DATA(name, lower) lower,
#include "mpi_functions.def"
#undef WRAP_FN
#undef WRAP_DATA
	};
	return i < WRAP_NFUNCS ? sym[i] : 0;
}

/* The name the application knows entry i by ("MPI_Send"), or NULL when out of range. */
static inline const char *wrap_fn_name(unsigned i)
{
	static const char *const nm[WRAP_NFUNCS] = {
#define WRAP_FN(kind, ret, name, lower, params, args, handles) #name,
#define WRAP_DATA(name, lower) #name,
#include "mpi_functions.def"
#undef WRAP_FN
#undef WRAP_DATA
	};
	return i < WRAP_NFUNCS ? nm[i] : 0;
}

#endif
