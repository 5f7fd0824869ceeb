/*
 * wrap_datarep.c - user data representations for MPI-IO (MPI_Register_datarep[_c]).
 *
 * ROMIO in the lower half calls the conversion and extent functions on its TLS with the
 * registration's extra state: we register our trampolines with a context of ours as extra
 * state; they switch to the upper thread's TLS, translate the datatype and call the
 * application. A representation cannot be unregistered, so contexts live for the process.
 * MPI_CONVERSION_FN_NULL (NULL) is passed down as NULL.
 */
#include <stdlib.h>

#include "wrap.h"
#include "wrap_door.h"

struct datarep_ctx {
	void (*read)(void);
	void (*write)(void);
	MPI_Datarep_extent_function *extent;
	void *extra;
};

static int conv_tramp(void (*fn)(void), void *userbuf, MPI_Datatype datatype, int count,
		      void *filebuf, MPI_Offset position, void *extra)
{
	uint64_t low = wrap_cb_enter();
	int r = ((MPI_Datarep_conversion_function *)(void *)fn)(
	    userbuf, wrap_datatype_lookup_lower(datatype), count, filebuf, position, extra);
	wrap_cb_leave(low);
	return r;
}

static int conv_tramp_c(void (*fn)(void), void *userbuf, MPI_Datatype datatype, MPI_Count count,
			void *filebuf, MPI_Offset position, void *extra)
{
	uint64_t low = wrap_cb_enter();
	int r = ((MPI_Datarep_conversion_function_c *)(void *)fn)(
	    userbuf, wrap_datatype_lookup_lower(datatype), count, filebuf, position, extra);
	wrap_cb_leave(low);
	return r;
}

static int read_tramp(void *userbuf, MPI_Datatype datatype, int count, void *filebuf,
		      MPI_Offset position, void *extra_state)
{
	struct datarep_ctx *c = extra_state;
	return conv_tramp(c->read, userbuf, datatype, count, filebuf, position, c->extra);
}

static int write_tramp(void *userbuf, MPI_Datatype datatype, int count, void *filebuf,
		       MPI_Offset position, void *extra_state)
{
	struct datarep_ctx *c = extra_state;
	return conv_tramp(c->write, userbuf, datatype, count, filebuf, position, c->extra);
}

static int read_tramp_c(void *userbuf, MPI_Datatype datatype, MPI_Count count, void *filebuf,
			MPI_Offset position, void *extra_state)
{
	struct datarep_ctx *c = extra_state;
	return conv_tramp_c(c->read, userbuf, datatype, count, filebuf, position, c->extra);
}

static int write_tramp_c(void *userbuf, MPI_Datatype datatype, MPI_Count count, void *filebuf,
			 MPI_Offset position, void *extra_state)
{
	struct datarep_ctx *c = extra_state;
	return conv_tramp_c(c->write, userbuf, datatype, count, filebuf, position, c->extra);
}

static int extent_tramp(MPI_Datatype datatype, MPI_Aint *extent, void *extra_state)
{
	uint64_t low = wrap_cb_enter();
	struct datarep_ctx *c = extra_state;
	int r = c->extent(wrap_datatype_lookup_lower(datatype), extent, c->extra);
	wrap_cb_leave(low);
	return r;
}

static struct datarep_ctx *new_ctx(unsigned idx, void (*rd)(void), void (*wr)(void),
				   MPI_Datarep_extent_function *ext, void *extra)
{
	struct datarep_ctx *c = malloc(sizeof(*c));
	if (!c) {
		wrap_fail(idx, 0, "out of memory");
		return NULL;
	}
	c->read = rd;
	c->write = wr;
	c->extent = ext;
	c->extra = extra;
	return c;
}

WRAP_EXPORT int PMPI_Register_datarep(const char *datarep,
				      MPI_Datarep_conversion_function *read_conversion_fn,
				      MPI_Datarep_conversion_function *write_conversion_fn,
				      MPI_Datarep_extent_function *dtype_file_extent_fn,
				      void *extra_state)
{
	struct datarep_ctx *c =
	    new_ctx(WRAP_IDX_MPI_Register_datarep, (void (*)(void))read_conversion_fn,
		    (void (*)(void))write_conversion_fn, dtype_file_extent_fn, extra_state);
	int r;
	if (!c)
		return MPI_ERR_NO_MEM;
	wrap_door_t d_ = wrap_door_enter(WRAP_DOOR_LOCAL, 0);
	WRAP_DOWN(r, MPI_Register_datarep, datarep, read_conversion_fn ? read_tramp : NULL,
		  write_conversion_fn ? write_tramp : NULL,
		  dtype_file_extent_fn ? extent_tramp : NULL, c);
	wrap_door_leave(d_);
	if (r != MPI_SUCCESS)
		free(c);
	return r;
}
WRAP_ALIAS(PMPI_Register_datarep, MPI_Register_datarep)

WRAP_EXPORT int PMPI_Register_datarep_c(const char *datarep,
					MPI_Datarep_conversion_function_c *read_conversion_fn,
					MPI_Datarep_conversion_function_c *write_conversion_fn,
					MPI_Datarep_extent_function *dtype_file_extent_fn,
					void *extra_state)
{
	struct datarep_ctx *c =
	    new_ctx(WRAP_IDX_MPI_Register_datarep_c, (void (*)(void))read_conversion_fn,
		    (void (*)(void))write_conversion_fn, dtype_file_extent_fn, extra_state);
	int r;
	if (!c)
		return MPI_ERR_NO_MEM;
	wrap_door_t d_ = wrap_door_enter(WRAP_DOOR_LOCAL, 0);
	WRAP_DOWN(r, MPI_Register_datarep_c, datarep, read_conversion_fn ? read_tramp_c : NULL,
		  write_conversion_fn ? write_tramp_c : NULL,
		  dtype_file_extent_fn ? extent_tramp : NULL, c);
	wrap_door_leave(d_);
	if (r != MPI_SUCCESS)
		free(c);
	return r;
}
WRAP_ALIAS(PMPI_Register_datarep_c, MPI_Register_datarep_c)
