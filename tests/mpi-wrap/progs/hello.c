/* hello.c - MPI_Init_thread, rank/size, processor name, thread level, Is_thread_main, Wtime. */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "mt.h"

static void *other_thread(void *arg)
{
	int flag = -1;
	MPI_Is_thread_main(&flag);
	*(int *)arg = flag;
	return NULL;
}

int main(int argc, char **argv)
{
	int provided = -1, rank = -1, size = -1, len = 0, flag = 0, expect = 0;
	char name[MPI_MAX_PROCESSOR_NAME], host[256] = "";

	mt_tls_set();
	if (MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS) {
		printf("FAIL hello: MPI_Init_thread\n");
		return 1;
	}
	if (argc > 1)
		expect = atoi(argv[1]);
	CHECK_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
	CHECK_MPI(MPI_Comm_size(MPI_COMM_WORLD, &size));
	CHECK(size == expect, "size %d, expected %d", size, expect);
	CHECK(rank >= 0 && rank < size, "rank %d of %d", rank, size);
	CHECK(mt_tls_ok(), "TLS of the main thread lost across MPI_Init");

	/* MULTIPLE over the real lower half (a lower TLS per thread), SERIALIZED over the test
	 * harness (one shared lower TLS): provided must be one of them, never more than asked */
	CHECK(provided == MPI_THREAD_SERIALIZED || provided == MPI_THREAD_MULTIPLE,
	      "provided %d, expected SERIALIZED or MULTIPLE", provided);
	int q = -1;
	CHECK_MPI(MPI_Query_thread(&q));
	CHECK(q == provided, "Query_thread %d != provided %d", q, provided);

	CHECK_MPI(MPI_Is_thread_main(&flag));
	CHECK(flag == 1, "Is_thread_main on the main thread: %d", flag);
	pthread_t t;
	int other = -1;
	pthread_create(&t, NULL, other_thread, &other);
	pthread_join(t, NULL);
	CHECK(other == 0, "Is_thread_main on another thread: %d", other);

	CHECK_MPI(MPI_Get_processor_name(name, &len));
	gethostname(host, sizeof(host));
	CHECK(len == (int)strlen(name) && strcmp(name, host) == 0,
	      "processor name '%s' (%d), host '%s'", name, len, host);

	int version = 0, subversion = 0;
	CHECK_MPI(MPI_Get_version(&version, &subversion));
	CHECK(version == 4 && subversion == 0, "MPI version %d.%d", version, subversion);
	char lib[MPI_MAX_LIBRARY_VERSION_STRING];
	CHECK_MPI(MPI_Get_library_version(lib, &len));
	CHECK(strstr(lib, "MPICH") != NULL, "library version '%s'", lib);

	double t0 = MPI_Wtime();
	usleep(20000);
	double t1 = MPI_Wtime();
	CHECK(t1 - t0 >= 0.015 && t1 - t0 < 5.0, "Wtime advanced by %f", t1 - t0);
	CHECK(MPI_Wtick() > 0.0 && MPI_Wtick() < 0.01, "Wtick %g", MPI_Wtick());

	int *tag_ub = NULL;
	CHECK_MPI(MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &tag_ub, &flag));
	CHECK(flag && tag_ub && *tag_ub >= 32767, "MPI_TAG_UB");

	printf("rank %d of %d on %s\n", rank, size, name);
	return mt_finish("hello");
}
