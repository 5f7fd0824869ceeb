/*
 * tp_filewrite.c - checkpoint test for the offset of a file being written sequentially.
 *
 * Usage: tp_filewrite [seconds (10)] [file (tp_filewrite.out)]
 * One fixed-size record per step is appended with write(2) (no O_APPEND, no stdio buffer);
 * before each write the file offset must be exactly where the previous write ended. At the
 * end the file is read back and must hold exactly the expected records: nothing lost, nothing
 * written twice. (Records written after a checkpoint and before a kill are written again at
 * the same offset after the restart, which gives the same bytes.)
 */
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tp.h"

#define REC_LEN 32

static void record(long s, char out[REC_LEN + 1])
{
	/* steps are at most 10^6, so 7 digits always fit: every record is REC_LEN bytes */
	snprintf(out, REC_LEN + 1, "record %07u %016llx\n", (unsigned)(s % 10000000),
		 (unsigned long long)tp_mix((uint64_t)s));
}

int main(int argc, char **argv)
{
	tp_init();
	long steps = tp_steps(argc, argv, 1, 10);
	const char *path = argc > 2 ? argv[2] : "tp_filewrite.out";
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		fprintf(stderr, "tp_filewrite: %s: %s\n", path, strerror(errno));
		return 2;
	}
	tp_ready();
	const char *fail = NULL;
	for (long s = 1; s <= steps && !fail; s++) {
		off_t at = lseek(fd, 0, SEEK_CUR);
		if (at != (off_t)((s - 1) * REC_LEN)) {
			fail = tp_fmt("offset is %lld before record %ld, expected %ld",
				      (long long)at, s, (s - 1) * REC_LEN);
			break;
		}
		char rec[REC_LEN + 1];
		record(s, rec);
		if (write(fd, rec, REC_LEN) != REC_LEN)
			fail = tp_fmt("write of record %ld failed: %s", s, strerror(errno));
		tp_pace(s, steps);
	}
	if (close(fd) && !fail)
		fail = tp_fmt("close: %s", strerror(errno));
	FILE *f = fopen(path, "r");
	if (!f && !fail)
		fail = tp_fmt("cannot reopen %s: %s", path, strerror(errno));
	long n = 0;
	char rec[REC_LEN + 1], want[REC_LEN + 1];
	while (f && !fail && fread(rec, 1, REC_LEN, f) == REC_LEN) {
		rec[REC_LEN] = '\0';
		record(++n, want);
		if (memcmp(rec, want, REC_LEN))
			fail = tp_fmt("record %ld is '%.*s'", n, REC_LEN - 1, rec);
	}
	struct stat st;
	if (!fail && f && fstat(fileno(f), &st) == 0 && st.st_size != steps * REC_LEN)
		fail = tp_fmt("%s has %lld bytes, expected %ld (records lost or doubled)", path,
			      (long long)st.st_size, steps * REC_LEN);
	if (f)
		fclose(f);
	printf("ANSWER: %ld records of %d bytes\n", steps, REC_LEN);
	return tp_verdict(fail);
}
