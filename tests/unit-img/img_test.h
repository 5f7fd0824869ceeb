/*
 * img_test.h - shared helpers of the image library's unit tests: a private temporary
 * directory removed at exit (also on a fatal signal), CHECK that counts failures instead of
 * aborting, data patterns, and a result line per test program.
 */
#ifndef IMG_TEST_H
#define IMG_TEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "image.h"

extern int t_failures;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			t_failures++;                                                              \
			fprintf(stderr, "FAIL %s:%d: (%s) ", __FILE__, __LINE__, #cond);           \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
		}                                                                                  \
	} while (0)

enum t_pattern { T_NONE = 0, T_ZERO, T_RANDOM, T_TEXT, T_MIXED };

/* The test's temporary directory (created on first use, removed at exit). */
const char *t_dir(void);
/* buf = t_dir()/name. */
void t_path(char *buf, size_t len, const char *name);
/* Fills p[0..len) with a pattern from a seed. */
void t_fill(void *p, size_t len, enum t_pattern pat, uint64_t seed);
/* Anonymous private RW mapping, or exits the test. */
void *t_map(size_t len);
/* Header fields with recognisable values. */
void t_info(struct img_header_info *h, const char *prog);
/* 1 if the file exists. */
int t_exists(const char *path);
/* Reads a whole file into a malloc'ed buffer; returns its size or -1. */
long t_slurp(const char *path, uint8_t **buf);
/* Writes buf[0..len) to path (truncating). 0 or -1. */
int t_spit(const char *path, const void *buf, size_t len);
/* Prints the result line and returns the exit status. */
int t_finish(const char *name);

#endif
