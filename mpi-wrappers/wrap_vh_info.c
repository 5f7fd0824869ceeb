/*
 * wrap_vh_info.c - MPI_Info objects as virtual handles.
 *
 * Description: the (key, value) pairs, read from MPI before a checkpoint (snapshot) - an info
 * object changes with every MPI_Info_set/delete, and only its contents at the checkpoint
 * matter. A rebuild is MPI_Info_create and MPI_Info_set for each pair. MPI_INFO_ENV and
 * MPI_INFO_NULL are predefined.
 */
#include <stdlib.h>
#include <string.h>

#include "wrap.h"

struct info_desc {
	int n;
	char **keys, **vals;
};

static void info_clear(struct info_desc *d)
{
	for (int k = 0; k < d->n; k++) {
		free(d->keys[k]);
		free(d->vals[k]);
	}
	free(d->keys);
	free(d->vals);
	d->keys = d->vals = NULL;
	d->n = 0;
}

static void info_snapshot(struct wrap_vh_obj *e)
{
	struct info_desc *d = e->desc;
	MPI_Info info = (MPI_Info)e->real;
	int r, n = 0;
	if (!d && !(d = e->desc = calloc(1, sizeof(*d))))
		return;
	info_clear(d);
	WRAP_DOWN(r, MPI_Info_get_nkeys, info, &n);
	if (r != MPI_SUCCESS || n <= 0)
		return;
	d->keys = calloc((size_t)n, sizeof(char *));
	d->vals = calloc((size_t)n, sizeof(char *));
	if (!d->keys || !d->vals)
		return;
	for (int k = 0; k < n; k++) {
		char key[MPI_MAX_INFO_KEY + 1];
		int len = 0, flag = 0;
		WRAP_DOWN(r, MPI_Info_get_nthkey, info, k, key);
		if (r != MPI_SUCCESS)
			break;
		WRAP_DOWN(r, MPI_Info_get_valuelen, info, key, &len, &flag);
		char *val = malloc((size_t)len + 1);
		if (r != MPI_SUCCESS || !flag || !val) {
			free(val);
			break;
		}
		WRAP_DOWN(r, MPI_Info_get, info, key, len, val, &flag);
		val[len] = 0;
		d->keys[d->n] = strdup(key);
		d->vals[d->n++] = val;
	}
}

static int info_rebuild(struct wrap_vh_obj *e, int64_t *real)
{
	struct info_desc *d = e->desc;
	MPI_Info info = MPI_INFO_NULL;
	int r;
	WRAP_DOWN(r, MPI_Info_create, &info);
	for (int k = 0; r == MPI_SUCCESS && d && k < d->n; k++)
		WRAP_DOWN(r, MPI_Info_set, info, d->keys[k], d->vals[k]);
	*real = info;
	return r;
}

static void info_destroy(struct wrap_vh_obj *e)
{
	struct info_desc *d = e->desc;
	if (d) {
		info_clear(d);
		free(d);
	}
}

const struct wrap_vh_ops wrap_vh_info_ops = {
    .name = "info",
    .kind = WRAP_VH_INFO,
    .null_handle = MPI_INFO_NULL,
    .snapshot = info_snapshot,
    .rebuild = info_rebuild,
    .destroy = info_destroy,
};
