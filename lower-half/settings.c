/*
 * settings.c - the launch settings a restarted process keeps (LH_BLOB_SETTINGS): --keep,
 * compression (--no-gzip, --compress), --ckpt-open-files, --ckpt-threads and
 * --no-forked-ckpt. The checkpoint writes them as text lines "key=value"; a restart takes
 * each one whose environment variable (SPLITCKPT_KEEP, ...) dmtcp_restart did not set, i.e.
 * an option given to dmtcp_restart wins, else the launch's choice holds (before: a restart
 * fell back to the defaults). An image without the blob (older) keeps the defaults; unknown
 * keys and bad values are ignored, the blob being only advice about future checkpoints.
 * (--full-every lives in the image header; the checkpoint signal in the process blob.)
 */
#define LOG_PREFIX "lh"
#include "ckpt.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lh_collect_settings(void **blob, size_t *len)
{
	char *t = NULL;
	int n = asprintf(&t, "keep=%d\ncompress=%s\nopen_files=%d\nckpt_threads=%d\nforked=%d\n",
			 lhc.keep, lhc.gzip ? img_codec_name(lhc.codec) : "none", lhc.open_files,
			 lhc.ckpt_threads, lhc.forked);
	if (n < 0)
		return -ENOMEM;
	*blob = t;
	*len = (size_t)n;
	return 0;
}

/* value of key in the blob's text (at most n-1 bytes), or NULL */
static const char *find(const char *b, uint64_t len, const char *key, char *out, size_t n)
{
	size_t kl = strlen(key);
	for (uint64_t i = 0; i < len;) {
		const char *line = b + i;
		const char *nl = memchr(line, '\n', len - i);
		size_t ll = nl ? (size_t)(nl - line) : (size_t)(len - i);
		if (ll > kl && !memcmp(line, key, kl) && line[kl] == '=' && ll - kl - 1 < n) {
			memcpy(out, line + kl + 1, ll - kl - 1);
			out[ll - kl - 1] = '\0';
			return out;
		}
		i += ll + 1;
	}
	return NULL;
}

/* an int in [lo, hi] from the blob into *dst, unless env is set */
static void take_int(const char *b, uint64_t len, const char *key, const char *env, int lo,
		     int hi, int *dst)
{
	char v[32], *end;
	if (getenv(env) || !find(b, len, key, v, sizeof(v)))
		return;
	long x = strtol(v, &end, 10);
	if (*v && !*end && x >= lo && x <= hi)
		*dst = (int)x;
}

void lh_restore_settings(const void *blob, uint64_t len)
{
	const char *b = blob;
	char v[32];
	if (!b || !len)
		return;
	take_int(b, len, "keep", "SPLITCKPT_KEEP", 0, 1 << 20, &lhc.keep);
	take_int(b, len, "open_files", "SPLITCKPT_CKPT_OPEN_FILES", 0, 1, &lhc.open_files);
	take_int(b, len, "ckpt_threads", "SPLITCKPT_CKPT_THREADS", 0, 1024, &lhc.ckpt_threads);
#ifndef LH_WITH_MPI /* (an MPI rank never writes from a forked copy) */
	take_int(b, len, "forked", "SPLITCKPT_FORKED", 0, 1, &lhc.forked);
#endif
	if (!getenv("SPLITCKPT_GZIP") && !getenv("SPLITCKPT_COMPRESS") &&
	    find(b, len, "compress", v, sizeof(v))) {
		int c = img_codec_parse(v);
		if (c == -1)
			lhc.gzip = 0;
		else if (c > 0)
			lhc.gzip = 1, lhc.codec = c;
		else
			log_warn("the image was written with --compress=%s, which this splitckpt "
				 "cannot write; its checkpoints use %s",
				 v, img_codec_name(lhc.codec));
	}
	log_debug("settings after restart: keep %d, compress %s, open files %d, threads %d, "
		  "forked %d",
		  lhc.keep, lhc.gzip ? img_codec_name(lhc.codec) : "none", lhc.open_files,
		  lhc.ckpt_threads, lhc.forked);
}
