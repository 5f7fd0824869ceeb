/*
 * wrap_vh_file.c - MPI-IO files as virtual handles; MPI_File_c2f/f2c.
 *
 * MPI_File is a pointer in MPICH (ROMIO). A virtual file is the pointer
 * (MPI_File)(uintptr_t)(0xD2000000 + index), and its Fortran integer is that number, so a
 * Fortran program's file handle also survives a restart (ROMIO's own c2f table would not).
 *
 * Description: the world ranks of its group, the file name and access mode (hook after
 * MPI_File_open), its error handler; before a checkpoint the view (displacement, etype,
 * filetype, data representation) and the individual file pointer. Rebuild, in an order all
 * members agree on: MPI_File_open again without MPI_MODE_CREATE/EXCL, the view, the
 * position. Not kept: the shared file pointer, info hints, atomicity (MPI-IO is passed
 * through untested in this version).
 */
#include <stdlib.h>
#include <string.h>

#include "wrap.h"
#include "wrap_hooks.h"

struct file_desc {
	int n, *ranks, amode;
	int *key, keylen;
	uint64_t seq;
	uint32_t hash;
	char *filename;
	int have_view;
	MPI_Offset disp, pos;
	int etype, filetype; /* virtual, holding references */
	char datarep[MPI_MAX_DATAREP_STRING + 1];
};

static int file_describe(struct wrap_vh_obj *e)
{
	MPI_File f = (MPI_File)(uintptr_t)e->real;
	struct file_desc *d = calloc(1, sizeof(*d));
	int r, g = MPI_GROUP_NULL;
	if (!d)
		return -1;
	e->desc = d;
	d->etype = d->filetype = MPI_DATATYPE_NULL;
	e->aux = (uint64_t)wrap_vh_errhandler_of(WRAP_VH_FILE, e->real);
	WRAP_DOWN(r, MPI_File_get_amode, f, &d->amode);
	WRAP_DOWN(r, MPI_File_get_group, f, &g);
	if (r != MPI_SUCCESS)
		return -1;
	d->ranks = wrap_vh_world_ranks(g, &d->n);
	WRAP_DOWN(r, MPI_Group_free, &g);
	if (!d->ranks)
		return -1;
	return wrap_vh_member_key(2, d->ranks, d->n, NULL, 0, &d->key, &d->keylen, &d->seq,
				  &d->hash);
}

void wrap_hook_MPI_File_open(int r_, MPI_Comm comm, const char *filename, int amode, MPI_Info info,
			     MPI_File *fh)
{
	(void)comm, (void)info, (void)amode;
	if (r_ != MPI_SUCCESS || !fh)
		return;
	wrap_vh_lock();
	struct wrap_vh_obj *e = wrap_vh_obj_of(WRAP_VH_FILE, (int64_t)(uint32_t)(uintptr_t)*fh);
	struct file_desc *d = e ? e->desc : NULL;
	if (d && !d->filename)
		d->filename = strdup(filename);
	wrap_vh_unlock();
}

static void file_snapshot(struct wrap_vh_obj *e)
{
	struct file_desc *d = e->desc;
	MPI_File f = (MPI_File)(uintptr_t)e->real;
	MPI_Datatype et = MPI_DATATYPE_NULL, ft = MPI_DATATYPE_NULL;
	int r;
	if (!d)
		return;
	WRAP_DOWN(r, MPI_File_get_view, f, &d->disp, &et, &ft, d->datarep);
	if (r == MPI_SUCCESS) {
		wrap_vh_unref(WRAP_VH_DATATYPE, d->etype);
		wrap_vh_unref(WRAP_VH_DATATYPE, d->filetype);
		d->etype = (int)wrap_vh_intern(WRAP_VH_DATATYPE, et);
		d->filetype = (int)wrap_vh_intern(WRAP_VH_DATATYPE, ft);
		d->have_view = 1;
		/* a view's types are committed (ROMIO returns committed duplicates) */
		struct wrap_vh_obj *t;
		if ((t = wrap_vh_obj_of(WRAP_VH_DATATYPE, d->etype)) != NULL)
			t->flags |= WRAP_VH_F_COMMITTED;
		if ((t = wrap_vh_obj_of(WRAP_VH_DATATYPE, d->filetype)) != NULL)
			t->flags |= WRAP_VH_F_COMMITTED;
	}
	if (!(d->amode & MPI_MODE_SEQUENTIAL))
		WRAP_DOWN(r, MPI_File_get_position, f, &d->pos);
}

static int file_rebuild(struct wrap_vh_obj *e, int64_t *real)
{
	struct file_desc *d = e->desc;
	MPI_File f = MPI_FILE_NULL;
	int r, r2, c = MPI_COMM_NULL;
	*real = 0;
	if (!d || !d->filename || !d->key)
		return MPI_ERR_FILE;
	r = wrap_vh_comm_of_ranks(d->ranks, d->n, (int)(d->hash & 0x7fff), &c);
	if (r != MPI_SUCCESS)
		return r;
	WRAP_DOWN(r, MPI_File_open, c, d->filename, d->amode & ~(MPI_MODE_CREATE | MPI_MODE_EXCL),
		  MPI_INFO_NULL, &f);
	if (r == MPI_SUCCESS && d->have_view)
		WRAP_DOWN(r, MPI_File_set_view, f, d->disp, wrap_datatype_to_lower(d->etype),
			  wrap_datatype_to_lower(d->filetype), d->datarep, MPI_INFO_NULL);
	if (r == MPI_SUCCESS && !(d->amode & MPI_MODE_SEQUENTIAL))
		WRAP_DOWN(r, MPI_File_seek, f, d->pos, MPI_SEEK_SET);
	WRAP_DOWN(r2, MPI_Comm_free, &c);
	(void)r2;
	*real = (int64_t)(uintptr_t)f;
	return r;
}

static void file_finish(struct wrap_vh_obj *e)
{
	if (e->aux && wrap_vh_errhandler_apply(WRAP_VH_FILE, e->real, (int64_t)e->aux))
		wrap_vh_warn("cannot set the error handler of a file again");
}

static int file_order(const struct wrap_vh_obj *a, const struct wrap_vh_obj *b)
{
	const struct file_desc *x = a->desc, *y = b->desc;
	if (!x || !x->key || !y || !y->key)
		return (x && x->key) - (y && y->key);
	return wrap_vh_key_cmp(x->key, x->keylen, x->seq, y->key, y->keylen, y->seq);
}

static void file_destroy(struct wrap_vh_obj *e)
{
	struct file_desc *d = e->desc;
	wrap_vh_unref(WRAP_VH_ERRHANDLER, (int64_t)e->aux);
	if (!d)
		return;
	wrap_vh_unref(WRAP_VH_DATATYPE, d->etype);
	wrap_vh_unref(WRAP_VH_DATATYPE, d->filetype);
	free(d->ranks);
	free(d->key);
	free(d->filename);
	free(d);
}

const struct wrap_vh_ops wrap_vh_file_ops = {
    .name = "file",
    .kind = WRAP_VH_FILE,
    .null_handle = 0,
    .describe = file_describe,
    .snapshot = file_snapshot,
    .rebuild = file_rebuild,
    .finish = file_finish,
    .destroy = file_destroy,
    .order = file_order,
};

/* ---- Fortran integers of files ------------------------------------------------------------ */

WRAP_EXPORT MPI_Fint PMPI_File_c2f(MPI_File file)
{
	if (file == MPI_FILE_NULL)
		return 0;
	uint64_t u = (uint64_t)(uintptr_t)file - WRAP_VH_BASE_FILE;
	if (u < wrap_vh_limit(WRAP_VH_FILE))
		return (MPI_Fint)(uint32_t)(uintptr_t)file;
	MPI_Fint r; /* not one of ours: whatever the lower MPI says */
	WRAP_DOWN(r, MPI_File_c2f, file);
	return r;
}
WRAP_ALIAS(PMPI_File_c2f, MPI_File_c2f)

WRAP_EXPORT MPI_File PMPI_File_f2c(MPI_Fint file)
{
	if (file == 0)
		return MPI_FILE_NULL;
	if (wrap_vh_obj_of(WRAP_VH_FILE, (int64_t)(uint32_t)file))
		return wrap_vh_file_ptr((uint32_t)file);
	return MPI_FILE_NULL;
}
WRAP_ALIAS(PMPI_File_f2c, MPI_File_f2c)
