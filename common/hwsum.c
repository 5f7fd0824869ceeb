/*
 * hwsum.c - the one-line hardware topology summary stored in every image header
 * (DESIGN decision 7), e.g. "1 package, 2 cores, 2 PUs, 1 NUMA node, L3 32MiB; AMD EPYC".
 * Only CPU-side objects are discovered (I/O and instruction caches are filtered out), so the
 * text is the same whether or not hwloc's plugins can be loaded, and loading stays fast.
 * The summary is computed once per process (the machine does not change under a process;
 * a restart runs in a fresh lower half) and then copied out.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <hwloc.h>

#include "image.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char summary[512];
static int summary_rc;

static void add(size_t *at, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add(size_t *at, const char *fmt, ...)
{
	if (*at >= sizeof(summary))
		return;
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(summary + *at, sizeof(summary) - *at, fmt, ap);
	va_end(ap);
	if (k > 0)
		*at += (size_t)k;
}

static const char *plural(int n) { return n == 1 ? "" : "s"; }

static void compute(void)
{
	static const hwloc_obj_type_t caches[] = {HWLOC_OBJ_L3CACHE, HWLOC_OBJ_L2CACHE,
						  HWLOC_OBJ_L1CACHE};
	static const char *const cache_names[] = {"L3", "L2", "L1"};
	hwloc_topology_t t;
	size_t at = 0;

	snprintf(summary, sizeof(summary), "unknown");
	if (hwloc_topology_init(&t)) {
		summary_rc = -ENOMEM;
		return;
	}
	hwloc_topology_set_io_types_filter(t, HWLOC_TYPE_FILTER_KEEP_NONE);
	hwloc_topology_set_icache_types_filter(t, HWLOC_TYPE_FILTER_KEEP_NONE);
	if (hwloc_topology_load(t)) {
		summary_rc = -EIO;
		goto out;
	}
	int npkg = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PACKAGE);
	int ncore = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE);
	int npu = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PU);
	int nnuma = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE);
	add(&at, "%d package%s, %d core%s, %d PU%s, %d NUMA node%s", npkg, plural(npkg), ncore,
	    plural(ncore), npu, plural(npu), nnuma, plural(nnuma));
	for (unsigned i = 0; i < sizeof(caches) / sizeof(caches[0]); i++) {
		hwloc_obj_t c = hwloc_get_obj_by_type(t, caches[i], 0);
		if (c && c->attr) {
			unsigned long long kib = c->attr->cache.size >> 10;
			if (kib >= 1024 && kib % 1024 == 0)
				add(&at, ", %s %lluMiB", cache_names[i], kib >> 10);
			else
				add(&at, ", %s %lluKiB", cache_names[i], kib);
			break;
		}
	}
	hwloc_obj_t pkg = hwloc_get_obj_by_type(t, HWLOC_OBJ_PACKAGE, 0);
	const char *model = pkg ? hwloc_obj_get_info_by_name(pkg, "CPUModel") : NULL;
	if (model)
		add(&at, "; %s", model);
	summary_rc = 0;
out:
	hwloc_topology_destroy(t);
}

int img_hwloc_summary(char *buf, size_t len)
{
	pthread_once(&once, compute);
	if (buf && len)
		snprintf(buf, len, "%s", summary);
	return summary_rc;
}
