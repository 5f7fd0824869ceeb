/*
 * wrap_pool.h - WRAP_POOL(X) expands X(i) for i = 0..99: a fixed pool of callback trampolines.
 *
 * MPICH calls a user op or an error handler with no context argument, so the lower half must
 * be given a distinct function per registered user function. The pools are static (no
 * executable memory is made at run time) and live in this library, i.e. in the upper half:
 * after a restart the same trampoline addresses are valid again.
 */
#ifndef SPLITCKPT_WRAP_POOL_H
#define SPLITCKPT_WRAP_POOL_H

/* clang-format off */
#define WRAP_POOL_SIZE 100
#define WRAP_POOL_10(X, d) \
	X(d##0) X(d##1) X(d##2) X(d##3) X(d##4) X(d##5) X(d##6) X(d##7) X(d##8) X(d##9)
#define WRAP_POOL(X) \
	X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) \
	WRAP_POOL_10(X, 1) WRAP_POOL_10(X, 2) WRAP_POOL_10(X, 3) WRAP_POOL_10(X, 4) \
	WRAP_POOL_10(X, 5) WRAP_POOL_10(X, 6) WRAP_POOL_10(X, 7) WRAP_POOL_10(X, 8) \
	WRAP_POOL_10(X, 9)
/* clang-format on */

#endif
