/*
 * wrap_mpii.h - MPICH-internal interfaces that Debian's libmpichfort.so.12 and
 * libmpichcxx.so.12 use (MPICH 4.0.2, src/include/mpir_attr_generic.h, errutil.c, op_impl.c,
 * grequest.c). They are not in mpi.h; these declarations match MPICH's ABI.
 */
#ifndef SPLITCKPT_WRAP_MPII_H
#define SPLITCKPT_WRAP_MPII_H

/* MPIR_Attr_type: bit 0 set = the attribute is an integer (Fortran), not a pointer */
#define WRAP_ATTR_KIND_INT 1

/* Attribute copy/delete "proxy": the language glue MPICH calls instead of the user function,
 * with the user function as its first argument. */
typedef int wrap_attr_copy_proxy(MPI_Comm_copy_attr_function *user_function, int handle, int keyval,
				 void *extra_state, int attrib_type, void *attrib,
				 void **attrib_copy, int *flag);
typedef int wrap_attr_delete_proxy(MPI_Comm_delete_attr_function *user_function, int handle,
				   int keyval, int attrib_type, void *attrib, void *extra_state);

/* C++ glue: how MPICH calls a C++ user op and a C++ error handler */
typedef void wrap_cxx_call_op_fn(const void *in, void *inout, int count, MPI_Datatype dt,
				 MPI_User_function *uop);
typedef void wrap_cxx_call_errfn(int kind, int *handle, int *errcode, void (*fn)(void));

/* Fortran generalized request callbacks (MPIR_Grequest_f77_*_function) */
typedef void wrap_f77_greq_query(void *extra, MPI_Fint *status, MPI_Fint *ierr);
typedef void wrap_f77_greq_free(void *extra, MPI_Fint *ierr);
typedef void wrap_f77_greq_cancel(void *extra, MPI_Fint *complete, MPI_Fint *ierr);

void MPII_Keyval_set_proxy(int keyval, wrap_attr_copy_proxy *copy_proxy,
			   wrap_attr_delete_proxy *delete_proxy);
void MPII_Op_set_cxx(MPI_Op op, void (*opcall)(void));
void MPII_Errhandler_set_cxx(MPI_Errhandler errhand, void (*errcall)(void));
void MPII_Grequest_set_lang_f77(MPI_Request greq);
int MPII_Comm_set_attr(MPI_Comm comm, int keyval, void *attribute_val, int attrib_type);
int MPII_Type_set_attr(MPI_Datatype datatype, int keyval, void *attribute_val, int attrib_type);
int MPII_Win_set_attr(MPI_Win win, int keyval, void *attribute_val, int attrib_type);
int MPII_Comm_get_attr(MPI_Comm comm, int keyval, void *attribute_val, int *flag, int attrib_type);
int MPII_Type_get_attr(MPI_Datatype datatype, int keyval, void *attribute_val, int *flag,
		       int attrib_type);
int MPII_Win_get_attr(MPI_Win win, int keyval, void *attribute_val, int *flag, int attrib_type);

#endif
