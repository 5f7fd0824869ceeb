/*
 * mpi_lower.h - MPI mode of the lower half (mpi_lower.c, only in splitckpt-lh-mpi).
 */
#ifndef LH_MPI_LOWER_H
#define LH_MPI_LOWER_H

/* Maps and fills the contract. 0 or -1 (logged). Call after lh.main_lower_fs is known. */
int lh_mpi_setup(void);
/* The environment for the upper half: env with our libmpich.so.12 directory first in
 * LD_LIBRARY_PATH. NULL on error (logged). */
char **lh_mpi_upper_env(char **env);

struct lh_contract;
/* The contract once lh_mpi_setup has mapped it, else NULL. */
struct lh_contract *lh_mpi_contract(void);
/* The checkpoint thread's eventfd (made on the first call, thread-safe), or -1 (logged). */
int lh_mpi_efd(void);
/* In a forked child of a rank (MPI forbids MPI calls there): forget the contract and the
 * eventfd, so that the child is checkpointed as a plain process. */
void lh_mpi_fork_child(void);
int lh_mpi_is_fork_child(void);

#endif
