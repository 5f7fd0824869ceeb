/* fileio.c - MPI-IO files open across a real checkpoint/restart (known limit 4).
 *
 * Two files, named after rank 0's process id (the native and the checkpointed run of the
 * driver share a directory; the id stays the same across a restart), open on all ranks for
 * the whole run: data (MPI_MODE_CREATE | MPI_MODE_RDWR, a view per rank: displacement
 * rank * 8 longs, a vector filetype of 8 longs every size * 8) and log (CREATE | WRONLY, view
 * at rank * 4096 bytes, written through the individual file pointer). Every step s:
 * MPI_File_write_at_all of 8 longs at view offset s * 8 (collective), MPI_File_write of one
 * long to log (the pointer must be where it was after a restart), MPI_File_read_at of this
 * rank's block of step s - 1. At the end the log positions are checked, rank 0 reads both
 * files back with stdio and checks every element, prints "ANSWER: <hash of both files>"
 * (equal to the native run) and PASS/FAIL (reduced).   fileio [steps] [ms per step]
 * The pause per step is paced by ../../progs/cr_go.h (CR_GO: none once the driver's go file
 * exists, a wait for it before the last quarter).
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../progs/cr_go.h"

#define B 8 /* longs per rank and step */

static uint64_t hash = 1469598103934665603ULL;
static int bad;

static void fold(const long *v, long n)
{
	for (long i = 0; i < n; i++)
		hash = (hash ^ (uint64_t)v[i]) * 1099511628211ULL;
}

static long val(int s, int r, int i) { return (long)s * 1000 + r * 10 + i; }

int main(int argc, char **argv)
{
	int steps = argc > 1 ? atoi(argv[1]) : 200, ms = argc > 2 ? atoi(argv[2]) : 5;
	int rank, size, ok;
	MPI_File f, lg;
	MPI_Datatype ft;
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	printf("PID %d %d\n", rank, (int)getpid());
	fflush(stdout);
	long id = (long)getpid();
	char dn[64], ln[64];
	MPI_Bcast(&id, 1, MPI_LONG, 0, MPI_COMM_WORLD);
	snprintf(dn, sizeof(dn), "fileio.%ld.dat", id);
	snprintf(ln, sizeof(ln), "fileio.%ld.log", id);
	if (rank == 0) {
		unlink(dn);
		unlink(ln);
	}
	MPI_Barrier(MPI_COMM_WORLD);
	MPI_Type_vector(steps, B, B * size, MPI_LONG, &ft);
	MPI_Type_commit(&ft);
	if (MPI_File_open(MPI_COMM_WORLD, dn, MPI_MODE_CREATE | MPI_MODE_RDWR,
			  MPI_INFO_NULL, &f) != MPI_SUCCESS ||
	    MPI_File_open(MPI_COMM_WORLD, ln, MPI_MODE_CREATE | MPI_MODE_WRONLY,
			  MPI_INFO_NULL, &lg) != MPI_SUCCESS) {
		fprintf(stderr, "FAIL rank %d: MPI_File_open\n", rank);
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	MPI_File_set_view(f, (MPI_Offset)rank * B * sizeof(long), MPI_LONG, ft, "native",
			  MPI_INFO_NULL);
	MPI_File_set_view(lg, (MPI_Offset)rank * 4096, MPI_LONG, MPI_LONG, "native", MPI_INFO_NULL);

	for (int s = 0; s < steps; s++) {
		long w[B], r[B];
		for (int i = 0; i < B; i++)
			w[i] = val(s, rank, i);
		MPI_File_write_at_all(f, (MPI_Offset)s * B, w, B, MPI_LONG, MPI_STATUS_IGNORE);
		long one = val(s, rank, 9);
		MPI_File_write(lg, &one, 1, MPI_LONG, MPI_STATUS_IGNORE);
		if (s > 0) {
			MPI_File_read_at(f, (MPI_Offset)(s - 1) * B, r, B, MPI_LONG,
					 MPI_STATUS_IGNORE);
			for (int i = 0; i < B; i++)
				if (r[i] != val(s - 1, rank, i) && bad++ < 5)
					fprintf(stderr, "FAIL rank %d step %d: read %ld\n", rank, s,
						r[i]);
		}
		if (s == 10) {
			printf("READY\n");
			fflush(stdout);
		}
		cr_pace_us(s, steps, ms * 1000L);
	}
	MPI_Offset pos;
	MPI_File_get_position(lg, &pos);
	if (pos != steps && bad++ < 5)
		fprintf(stderr, "FAIL rank %d: log.dat position %lld, expected %d\n", rank,
			(long long)pos, steps);
	MPI_File_close(&lg);
	MPI_File_close(&f);
	MPI_Type_free(&ft);
	MPI_Barrier(MPI_COMM_WORLD);
	if (rank == 0) { /* both files, read back with plain stdio */
		long n = (long)steps * B * size, *all = malloc(sizeof(long) * (size_t)n);
		FILE *fp = fopen(dn, "rb");
		if (!all || !fp || fread(all, sizeof(long), (size_t)n, fp) != (size_t)n) {
			fprintf(stderr, "FAIL: cannot read fileio.dat back\n");
			bad++;
		} else {
			for (long k = 0; k < n; k++) {
				int s = (int)(k / (B * size)), r = (int)(k / B % size),
				    i = (int)(k % B);
				if (all[k] != val(s, r, i) && bad++ < 5)
					fprintf(stderr, "FAIL: fileio.dat[%ld] = %ld\n", k, all[k]);
			}
			fold(all, n);
		}
		if (fp)
			fclose(fp);
		fp = fopen(ln, "rb");
		for (int r = 0; fp && r < size; r++) {
			long v;
			for (int s = 0; s < steps; s++) {
				if (fseek(fp, (long)r * 4096 + s * (long)sizeof(long), SEEK_SET) ||
				    fread(&v, sizeof(v), 1, fp) != 1 || v != val(s, r, 9)) {
					if (bad++ < 5)
						fprintf(stderr, "FAIL: log.dat rank %d step %d\n", r, s);
					break;
				}
				fold(&v, 1);
			}
		}
		if (!fp)
			bad++;
		else
			fclose(fp);
		free(all); /* the files stay: a second restart from the same images opens them */
	}
	MPI_Allreduce(&bad, &ok, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
	if (rank == 0) {
		printf("ANSWER: %016llx\n", (unsigned long long)hash);
		printf("%s\n", ok ? "FAIL" : "PASS");
	}
	MPI_Finalize();
	return ok != 0;
}
