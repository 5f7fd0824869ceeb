/*
 * crc.c - img_crc: the CRC-32 of zlib (IEEE 802.3, bit-reflected, pre- and post-inverted),
 * computed with carry-less multiplication where the CPU has it.
 *
 * zlib 1.2's table-driven crc32 runs at ~4 GB/s, which on a 2-core node costs as much CPU as
 * copying the image into the page cache. With PCLMULQDQ the buffer is folded 64 bytes at a
 * time into four 128-bit lanes (multiplying each lane by x^(512+-64) mod P and adding the next
 * data), the lanes are folded into one, and a Barrett reduction yields the 32-bit remainder;
 * this is the method of Gopal et al., "Fast CRC Computation for Generic Polynomials Using
 * PCLMULQDQ Instruction" (Intel, 2009), with its published constants for P = 0x104C11DB7
 * (bit-reflected). Results are bit-identical to zlib's crc32 (checked by tests/unit-img), and
 * bytes that do not fill a 16-byte block, or short buffers, go through zlib.
 */
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "img_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define FOLD_MIN 256 /* below this, zlib's table is as fast */

__attribute__((target("pclmul,sse4.1"))) static inline __m128i fold(__m128i x, __m128i k)
{
	return _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11));
}

/* CRC without the zlib inversions over n bytes (n >= 64, a multiple of 16). */
__attribute__((target("pclmul,sse4.1"))) static uint32_t crc_fold(uint32_t crc, const uint8_t *p,
								  size_t n)
{
	const __m128i *q = (const __m128i *)p;
	__m128i x1 = _mm_loadu_si128(q), x2 = _mm_loadu_si128(q + 1);
	__m128i x3 = _mm_loadu_si128(q + 2), x4 = _mm_loadu_si128(q + 3);
	x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)crc));
	q += 4;
	n -= 64;
	__m128i k = _mm_set_epi64x(0x1c6e41596, 0x154442bd4); /* x^(512+32), x^(512-32) */
	for (; n >= 64; n -= 64, q += 4) {
		x1 = _mm_xor_si128(fold(x1, k), _mm_loadu_si128(q));
		x2 = _mm_xor_si128(fold(x2, k), _mm_loadu_si128(q + 1));
		x3 = _mm_xor_si128(fold(x3, k), _mm_loadu_si128(q + 2));
		x4 = _mm_xor_si128(fold(x4, k), _mm_loadu_si128(q + 3));
	}
	k = _mm_set_epi64x(0x0ccaa009e, 0x1751997d0); /* x^(128+32), x^(128-32) */
	x1 = _mm_xor_si128(fold(x1, k), x2);
	x1 = _mm_xor_si128(fold(x1, k), x3);
	x1 = _mm_xor_si128(fold(x1, k), x4);
	for (; n >= 16; n -= 16, q++)
		x1 = _mm_xor_si128(fold(x1, k), _mm_loadu_si128(q));

	/* 128 -> 64 bits (appending 32 zero bits), then 64 -> 32 + 32. */
	const __m128i mask32 = _mm_set_epi32(0, 0, 0, -1);
	x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), _mm_clmulepi64_si128(k, x1, 0x01));
	__m128i k5 = _mm_set_epi64x(0, 0x163cd6124);
	x1 = _mm_xor_si128(_mm_srli_si128(x1, 4),
			   _mm_clmulepi64_si128(_mm_and_si128(x1, mask32), k5, 0x00));
	/* Barrett reduction: mu = 0x1F7011641, P' = 0x1DB710641. */
	__m128i up = _mm_set_epi64x(0x1f7011641, 0x1db710641);
	__m128i t = _mm_clmulepi64_si128(_mm_and_si128(x1, mask32), up, 0x10);
	t = _mm_clmulepi64_si128(_mm_and_si128(t, mask32), up, 0x00);
	return (uint32_t)_mm_extract_epi32(_mm_xor_si128(t, x1), 1);
}

static int have_pclmul(void)
{
	static int have = -1;
	if (have < 0)
		have = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
	return have;
}

uint32_t img_crc(uint32_t crc, const void *p, size_t n)
{
	if (!n) /* zlib returns 0 for a NULL buffer whatever crc is */
		return crc;
	if (n >= FOLD_MIN && have_pclmul()) {
		size_t body = n & ~(size_t)15;
		crc = ~crc_fold(~crc, p, body);
		p = (const uint8_t *)p + body;
		n -= body;
		if (!n)
			return crc;
	}
	return (uint32_t)crc32_z(crc, p, n);
}

#else

uint32_t img_crc(uint32_t crc, const void *p, size_t n)
{
	if (!n)
		return crc;
	return (uint32_t)crc32_z(crc, p, n);
}

#endif
