/*
 * img_inspect.c - the human-readable dump behind `dmtcp_restart --inspect FILE` (our `crit`):
 * header fields, blobs, the region table with the bytes stored per region, totals with the
 * compression ratio, and a full checksum verification.
 * Strings from the file are printed with control characters escaped, so a damaged or hostile
 * image cannot drive the terminal.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "img_internal.h"

static void put_str(FILE *out, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch < 0x20 || ch == 0x7f)
			fprintf(out, "\\x%02x", ch);
		else
			fputc(ch, out);
	}
}

static void field(FILE *out, const char *name, const char *s)
{
	fprintf(out, "  %-14s ", name);
	put_str(out, s);
	fputc('\n', out);
}

static const char *human(uint64_t n, char *buf, size_t len)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)n;
	unsigned u = 0;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, len, "%.1f %s", v, unit[u]);
	return buf;
}

static const char *reg_flags(uint32_t f, char *buf, size_t len)
{
	static const char *const names[] = {"anon", "stack", "shared", "file", "nodata"};
	size_t at = 0;
	buf[0] = 0;
	for (unsigned i = 0; i < 5; i++)
		if (f & (1u << i) && at < len)
			at += (size_t)snprintf(buf + at, len - at, "%s%s", at ? "," : "", names[i]);
	if (!at)
		snprintf(buf, len, "-");
	return buf;
}

static void print_header(FILE *out, const struct img_reader *r)
{
	const struct img_header_info *h = img_header(r);
	char b[64], t[64];
	time_t ts = (time_t)h->time_sec;
	struct tm tm;
	fprintf(out, "splitckpt image %s\n", r->path);
	fprintf(out, "  %-14s %u\n", "format", r->hdr.version);
	fprintf(out, "  %-14s %llu (%s)\n", "file size", (unsigned long long)r->file_size,
		human(r->file_size, b, sizeof(b)));
	fprintf(out, "  %-14s %u\n", "generation", h->generation);
	fprintf(out, "  %-14s %u\n", "nprocs", h->nprocs);
	fprintf(out, "  %-14s 0x%016llx\n", "job id", (unsigned long long)h->job_id);
	field(out, "uniquepid", h->uniquepid);
	field(out, "program", h->progname);
	fprintf(out, "  %-14s %d\n", "vpid", h->vpid);
	fprintf(out, "  %-14s %d\n", "vppid", h->vppid);
	fprintf(out, "  %-14s %u\n", "uid", h->uid);
	if (!gmtime_r(&ts, &tm) || !strftime(t, sizeof(t), "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(t, sizeof(t), "?");
	fprintf(out, "  %-14s %llu (%s)\n", "time", (unsigned long long)h->time_sec, t);
	field(out, "hostname", h->hostname);
	field(out, "cmdline", h->cmdline);
	field(out, "cwd", h->cwd);
	fprintf(out, "  %-14s 0x%llx-0x%llx (%s)\n", "arena", (unsigned long long)h->arena_base,
		(unsigned long long)(h->arena_base + h->arena_size),
		human(h->arena_size, b, sizeof(b)));
	field(out, "hwloc", h->hwloc_summary);
	fprintf(out, "  %-14s %s%s\n", "flags", h->flags & IMG_F_COMPRESSED ? "compressed" : "-",
		h->flags & IMG_F_ALIGNED ? ", aligned (written with direct I/O)" : "");
	if (h->full_every)
		fprintf(out, "  %-14s %u (incremental images, a full one every %u)\n", "full every",
			h->full_every, h->full_every);
	fprintf(out, "  %-14s %016llx\n", "image id", (unsigned long long)h->image_id);
	if (h->parent_id)
		fprintf(out, "  %-14s generation %u (%s, image id %016llx): incremental image\n",
			"parent", h->parent_gen, h->parent_name, (unsigned long long)h->parent_id);
	else
		fprintf(out, "  %-14s none (full image)\n", "parent");
}

static void print_blobs(FILE *out, const struct img_reader *r)
{
	char b[64];
	fprintf(out, "blobs (%zu)\n", r->nblobs);
	for (size_t i = 0; i < r->nblobs; i++) {
		const char *name = img_blob_name(r->blobs[i].type);
		char tn[32];
		if (!name)
			snprintf(tn, sizeof(tn), "type %u", r->blobs[i].type);
		fprintf(out, "  %-10s %12llu bytes (%s)\n", name ? name : tn,
			(unsigned long long)r->blobs[i].len, human(r->blobs[i].len, b, sizeof(b)));
	}
}

static void print_regions(FILE *out, const struct img_reader *r)
{
	char f[64], d[32], s[32];
	fprintf(out, "regions (%zu)\n", r->nregs);
	fprintf(out, "  %4s  %-14s %-14s %-4s %-18s %10s %10s  %s\n", "#", "start", "end", "prot",
		"flags", "data", "stored", "path");
	for (size_t i = 0; i < r->nregs; i++) {
		const struct img_region *g = &r->regs[i];
		const struct img_usage *u = &r->usage[i];
		fprintf(out, "  %4zu  0x%012llx 0x%012llx %c%c%c  %-18s %10s %10s  ", i,
			(unsigned long long)g->start, (unsigned long long)(g->start + g->len),
			g->prot & PROT_READ ? 'r' : '-', g->prot & PROT_WRITE ? 'w' : '-',
			g->prot & PROT_EXEC ? 'x' : '-', reg_flags(g->flags, f, sizeof(f)),
			human(u->data_bytes, d, sizeof(d)), human(u->stored_bytes, s, sizeof(s)));
		put_str(out, g->path);
		fputc('\n', out);
	}
}

static void print_totals(FILE *out, const struct img_reader *r)
{
	uint64_t mem = 0;
	char b[64];
	for (size_t i = 0; i < r->nregs; i++) {
		if (!(r->regs[i].flags & IMG_REG_NODATA))
			mem += r->regs[i].len;
	}
	uint64_t data = r->trl.data_bytes, stored = r->trl.stored_bytes, par = 0;
	for (size_t i = 0; i < r->nregs; i++)
		par += r->usage[i].parent_bytes;
	data -= par;
	mem -= par < mem ? par : mem;
	fprintf(out, "totals\n");
	if (par)
		fprintf(out, "  %-14s %llu (%s, not stored: as in the parent image)\n",
			"unchanged", (unsigned long long)par, human(par, b, sizeof(b)));
	fprintf(out, "  %-14s %llu (%s)\n", "memory", (unsigned long long)mem,
		human(mem, b, sizeof(b)));
	fprintf(out, "  %-14s %llu (%s)\n", "non-zero", (unsigned long long)data,
		human(data, b, sizeof(b)));
	fprintf(out, "  %-14s %llu (%s, not stored)\n", "zero pages",
		(unsigned long long)(mem > data ? mem - data : 0),
		human(mem > data ? mem - data : 0, b, sizeof(b)));
	uint64_t nk[4] = {0}, npar = 0; /* by codec (enum img_chunk_flags), parent */
	for (uint64_t i = 0; i < r->nchunks; i++) {
		uint32_t f = r->index[i].c.flags;
		if (f == IMG_CHUNK_PARENT)
			npar++;
		else if (f < 4)
			nk[f]++;
	}
	fprintf(out, "  %-14s %llu (%s) in %llu chunks (%llu raw, %llu zlib, %llu zstd", "stored",
		(unsigned long long)stored, human(stored, b, sizeof(b)),
		(unsigned long long)(r->nchunks - npar), (unsigned long long)nk[IMG_CHUNK_RAW],
		(unsigned long long)nk[IMG_CHUNK_ZLIB], (unsigned long long)nk[IMG_CHUNK_ZSTD]);
	if (npar)
		fprintf(out, "; %llu chunks as in the parent", (unsigned long long)npar);
	fprintf(out, ")\n");
	fprintf(out, "  %-14s %.2f:1 (non-zero memory / stored bytes)\n", "compression",
		stored ? (double)data / (double)stored : 1.0);
	fprintf(out, "  %-14s %.2f:1 (memory / file size)\n", "overall ratio",
		r->file_size ? (double)mem / (double)r->file_size : 0.0);
}

int img_inspect(const char *path, FILE *out)
{
	struct img_reader *r;
	char err[512];
	int rc = img_open(path, &r, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "%s\n", err);
		return rc;
	}
	print_header(out, r);
	print_blobs(out, r);
	print_regions(out, r);
	print_totals(out, r);
	rc = img_verify(r, err, sizeof(err));
	if (rc) {
		fprintf(out, "checksums: FAILED: %s\n", err);
		fprintf(stderr, "%s\n", err);
	} else {
		fprintf(out, "checksums: OK (%llu chunks verified)\n",
			(unsigned long long)r->nchunks);
	}
	img_close(r);
	return rc;
}
