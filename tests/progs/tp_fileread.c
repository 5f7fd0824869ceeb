/*
 * tp_fileread.c - checkpoint test for the content of an open file (--ckpt-open-files).
 *
 * Usage: tp_fileread [seconds (10)] [file (tp_fileread.dat)]
 * The program keeps a scratch file open read-write and keeps its data only there: each step
 * writes one record and reads back an earlier one with pread; at the end the whole file is
 * read back and must be exactly the expected records. The test driver overwrites the file
 * between the kill and the restart (--clobber), so this passes only if the restart put the
 * file's content back as it was at the checkpoint.
 */
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tp.h"

#define REC_LEN 96

static void record(long s, char out[REC_LEN])
{
	memset(out, 0, REC_LEN);
	snprintf(out, REC_LEN, "scratch record %ld: %016llx %016llx", s,
		 (unsigned long long)tp_mix((uint64_t)s), (unsigned long long)tp_mix(~(uint64_t)s));
}

int main(int argc, char **argv)
{
	tp_init();
	long steps = tp_steps(argc, argv, 1, 10);
	const char *path = argc > 2 ? argv[2] : "tp_fileread.dat";
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		fprintf(stderr, "tp_fileread: %s: %s\n", path, strerror(errno));
		return 2;
	}
	tp_ready();
	const char *fail = NULL;
	char rec[REC_LEN], want[REC_LEN];
	for (long s = 1; s <= steps && !fail; s++) {
		record(s, rec);
		if (write(fd, rec, REC_LEN) != REC_LEN) {
			fail = tp_fmt("write of record %ld failed: %s", s, strerror(errno));
			break;
		}
		long back = 1 + (long)(tp_mix((uint64_t)s) % (uint64_t)s);
		record(back, want);
		if (pread(fd, rec, REC_LEN, (back - 1) * REC_LEN) != REC_LEN ||
		    memcmp(rec, want, REC_LEN))
			fail = tp_fmt("record %ld read back wrong at step %ld", back, s);
		tp_pace(s, steps);
	}
	struct stat st;
	if (!fail && (fstat(fd, &st) || st.st_size != steps * REC_LEN))
		fail = tp_fmt("%s has %lld bytes, expected %ld", path, (long long)st.st_size,
			      steps * REC_LEN);
	for (long s = 1; s <= steps && !fail; s++) {
		record(s, want);
		if (pread(fd, rec, REC_LEN, (s - 1) * REC_LEN) != REC_LEN ||
		    memcmp(rec, want, REC_LEN))
			fail = tp_fmt("record %ld of %s is wrong", s, path);
	}
	close(fd);
	printf("ANSWER: %ld records of %d bytes\n", steps, REC_LEN);
	return tp_verdict(fail);
}
