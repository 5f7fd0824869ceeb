/* maps.c - in a split process, MPICH, UCX and hwloc are only in the lower half: no mapping of
 * them lies in the arena, while the application's libmpich.so.12 (ours) does. Reads
 * /proc/self/maps of each rank. Only meaningful over the real lower half. */
#include <string.h>

#include "arena.h"
#include "mt.h"

static int is_lower_lib(const char *path)
{
	static const char *const libs[] = {"/libucp.so", "/libuct.so",	 "/libucs.so",
					   "/libucm.so", "/libhwloc.so", "/ucx/libuct_"};
	for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++)
		if (strstr(path, libs[i]))
			return 1;
	/* the real MPICH: libmpich.so.12.2.2 in the system directory */
	return strstr(path, "/libmpich.so.12.") != NULL;
}

int main(int argc, char **argv)
{
	mt_tls_set();
	MPI_Init(&argc, &argv);
	FILE *f = fopen("/proc/self/maps", "r");
	CHECK(f != NULL, "cannot open /proc/self/maps");
	char line[4096];
	int ours_in_arena = 0, real_mpich_seen = 0;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char path[4096] = "";
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %4095s", &lo, &hi, path) < 2)
			continue;
		int in_arena = lo >= ARENA_BASE && hi <= ARENA_END;
		if (is_lower_lib(path)) {
			real_mpich_seen |= strstr(path, "/libmpich.so.12.") != NULL;
			CHECK(!in_arena, "lower-half library inside the arena: %s", line);
		} else if (strstr(path, "/libmpich.so.12")) {
			ours_in_arena |= in_arena;
			CHECK(in_arena, "the application's libmpich.so.12 outside the arena: %s",
			      line);
		}
	}
	if (f)
		fclose(f);
	CHECK(ours_in_arena, "the upper half's libmpich.so.12 is not mapped in the arena");
	CHECK(real_mpich_seen, "the real MPICH is not mapped (in the lower half) at all");
	return mt_finish("maps");
}
