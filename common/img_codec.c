/*
 * img_codec.c - which compressor image chunks use, by name (--compress=, SPLITCKPT_COMPRESS).
 *
 * zstd level 1 is the default when the build has libzstd (SPLITCKPT_HAVE_ZSTD): on this
 * project's mixed-memory benchmark it writes smaller chunks than zlib level 1 about ten times
 * faster (docs/decisions.md). zlib level 1 stays available and is the default of builds
 * without libzstd. Images say per chunk which codec wrote it, so a reader handles both.
 */
#include <string.h>

#include "image.h"

int img_default_codec(void)
{
#ifdef SPLITCKPT_HAVE_ZSTD
	return IMG_CODEC_ZSTD;
#else
	return IMG_CODEC_ZLIB;
#endif
}

int img_codec_parse(const char *s)
{
	if (!s || !*s)
		return img_default_codec();
	if (!strcmp(s, "none") || !strcmp(s, "off"))
		return -1;
	if (!strcmp(s, "zlib") || !strcmp(s, "gzip"))
		return IMG_CODEC_ZLIB;
	if (!strcmp(s, "zstd")) {
#ifdef SPLITCKPT_HAVE_ZSTD
		return IMG_CODEC_ZSTD;
#else
		return -3;
#endif
	}
	if (!strcmp(s, "default"))
		return img_default_codec();
	return -2;
}

const char *img_codec_name(int codec)
{
	return codec == IMG_CODEC_ZSTD ? "zstd" : codec == IMG_CODEC_ZLIB ? "zlib" : "none";
}
