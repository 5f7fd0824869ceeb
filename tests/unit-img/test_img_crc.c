/*
 * test_img_crc.c - img_crc (folded with PCLMULQDQ where the CPU has it) gives exactly zlib's
 * crc32 for every length, alignment and starting value, including incremental use.
 */
#include <stdlib.h>
#include <zlib.h>

#include "img_internal.h"
#include "img_test.h"

int main(void)
{
	size_t cap = 1u << 20;
	uint8_t *b = malloc(cap + 64);
	t_fill(b, cap + 64, T_RANDOM, 3);
	uint64_t s = 12345;
	int bad = 0;
	for (int t = 0; t < 20000 && bad < 5; t++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		size_t off = (s >> 20) % 64;
		size_t n = (s >> 33) % (t < 15000 ? 4100 : cap);
		uint32_t c0 = (uint32_t)(s >> 7);
		uint32_t want = (uint32_t)crc32_z(c0, b + off, n);
		uint32_t got = img_crc(c0, b + off, n);
		CHECK(got == want, "len %zu offset %zu: %08x, zlib %08x", n, off, got, want);
		bad += got != want;
		size_t cut = n ? (s >> 40) % n : 0; /* in two pieces */
		got = img_crc(img_crc(c0, b + off, cut), b + off + cut, n - cut);
		CHECK(got == want, "len %zu split at %zu: %08x, zlib %08x", n, cut, got, want);
		bad += got != want;
	}
	CHECK(img_crc(0x1234, NULL, 0) == 0x1234, "empty buffer changes the crc");
	free(b);
	return t_finish("test_img_crc");
}
