/*
 * image.h - the checkpoint image: one file per process per generation (DESIGN decision 7).
 *
 * Writers: the lower half writes the memory of its own process while the application threads
 * are parked (img_write reads each region in place, from its address in the calling process).
 * Readers: the restart maps every region writable at its address, then img_restore_memory
 * fills them in place; `dmtcp_restart --inspect` prints a file with img_inspect.
 *
 * On-disk format, version 2 (all integers little endian, all structs below have no padding):
 *
 *   offset 0           struct img_disk_header (header_size bytes, own CRC32)
 *   header_size        nsections sections, back to back, sections_len bytes in all:
 *                        struct img_disk_section + payload, CRC32 over both;
 *                        INFO (header fields), one BLOB per blob type, REGIONS (region table)
 *   data_off           chunks, back to back: struct img_disk_chunk + stored bytes
 *                        (raw memory, or raw deflate of it); each header has its own CRC32
 *                        and a CRC32 of the stored bytes; order in the file is not memory order.
 *                        With IMG_F_ALIGNED (format 2, written with direct I/O), the header
 *                        of a chunk storing >= 128 KiB is placed so that its bytes start on a
 *                        4 KiB boundary of the file; the gap before it holds zeros.
 *                        Format 1 is format 2 without that flag; both are read.
 *   index_off          an INDEX section: one struct img_disk_index per chunk, in file order
 *   file_size - 64     struct img_disk_trailer (counts, offsets, own CRC32)
 *
 * All-zero pages are never stored. Every byte of the file but alignment gaps is covered by
 * exactly one CRC32 and every length, offset and index read from a file is checked before use;
 * a damaged, truncated or newer file is refused with a message naming the file and what is
 * wrong.
 * Fields are only ever appended (INFO and REGIONS entries are length-prefixed).
 */
#ifndef SPLITCKPT_IMAGE_H
#define SPLITCKPT_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define IMG_VERSION 2

enum img_blob_type {
	IMG_BLOB_NONE = 0,
	IMG_BLOB_PROC = 1,
	IMG_BLOB_THREADS = 2,
	IMG_BLOB_FDS = 3,
	IMG_BLOB_FILEDATA = 4,
	IMG_BLOB_PIPES = 5,
	IMG_BLOB_ARENA = 6,
	IMG_BLOB_LAYOUT = 7,
};

/* img_header_info.flags */
#define IMG_F_COMPRESSED 0x1u
#define IMG_F_INCREMENTAL 0x2u /* set by img_write_ex when it is given a parent */
/* Large chunks start on 4 KiB boundaries of the file (format 2; img_internal.h, img_chunk_pos):
 * set by img_write_ex when it writes with direct I/O. */
#define IMG_F_ALIGNED 0x4u

/* img_region.flags */
#define IMG_REG_ANON 0x1u    /* anonymous memory (private unless IMG_REG_SHARED) */
#define IMG_REG_STACK 0x2u   /* a thread stack */
#define IMG_REG_SHARED 0x4u  /* MAP_SHARED */
#define IMG_REG_FILE 0x8u    /* backed by path at file_offset */
#define IMG_REG_NODATA 0x10u /* do not read or store (PROT_NONE reservation) */

struct img_header_info {	     /* filled by the caller; the library stores and returns it */
	uint32_t generation, nprocs; /* nprocs = processes in the job for this generation */
	uint64_t job_id;	     /* coordinator id */
	uint32_t uid;		     /* filled by the caller */
	int32_t vpid, vppid;
	uint64_t time_sec; /* filled by the caller */
	uint64_t arena_base, arena_size;
	uint32_t flags; /* the library sets IMG_F_COMPRESSED when opts->compress */
	char uniquepid[64], progname[256], hostname[256], cmdline[4096], cwd[4096];
	char hwloc_summary[512]; /* if empty, img_write fills it with img_hwloc_summary() */
	/* Incremental images (appended fields; 0/"" in full images and in older files):
	 * image_id names this image; an image with parent_id != 0 stores only what changed since
	 * its parent, the image with image_id == parent_id of generation parent_gen, found at
	 * parent_name relative to this image's directory (img_chain_open). */
	uint64_t image_id, parent_id;
	uint32_t parent_gen;
	char parent_name[512];
	/* Appended: the K of --full-every in force when the image was written (0: every image
	 * full, or a file written before this field), so that a restarted job keeps it. */
	uint32_t full_every;
};

struct img_region {
	uint64_t start, len; /* page aligned */
	uint32_t prot;	     /* PROT_* as mapped */
	uint32_t flags;	     /* IMG_REG_* */
	uint64_t file_offset;
	char path[256]; /* backing file or "[name]" */
};

struct img_blob {
	uint32_t type;
	const void *data;
	uint64_t len;
};

struct img_write_opts {
	int compress;
	int nthreads; /* 0 = number of online CPUs */
	int level;    /* zlib level; 0 = 1 */
	int codec;    /* IMG_CODEC_*; 0 = img_default_codec() */
	/* 1: do not fsync the directory after the rename; the caller makes the new name durable
	 * itself (the checkpoint coordinator fsyncs the directory after it wrote the
	 * generation's MANIFEST there, before anything names the image). */
	int no_dir_sync;
	/* Direct I/O (O_DIRECT, the aligned layout): 0 = when the regions to save hold at least
	 * IMG_DIRECT_MIN bytes and the filesystem allows it, 1 = whenever it allows it, -1 = never. */
	int direct;
};
#define IMG_DIRECT_MIN (64ull << 20)
/* 1 (default): restores read the large raw chunks of an aligned image with O_DIRECT
 * (process-wide; SPLITCKPT_DIRECT_IO=off sets 0). docs/decisions.md has the figures. */
extern int img_direct_reads;

/* Codecs of compressed chunks (docs/decisions.md: zstd level 1 is the default when the build
 * has libzstd; zlib level 1 otherwise). */
enum img_codec { IMG_CODEC_DEFAULT = 0, IMG_CODEC_ZLIB = 1, IMG_CODEC_ZSTD = 2 };
int img_default_codec(void);
/* "zstd", "zlib" (also "gzip") -> IMG_CODEC_*; "none" -> -1 (no compression); else -2. A codec
 * this build lacks gives -3. */
int img_codec_parse(const char *s);
const char *img_codec_name(int codec);

struct img_write_stats {
	uint64_t file_bytes, data_bytes /* non-zero memory */, zero_bytes, chunks, raw_chunks;
	double seconds;
	uint64_t parent_bytes; /* memory left to the parent image (incremental images) */
};

/* Per-region totals from a file's chunk index (img_region_usage). */
struct img_usage {
	uint64_t data_bytes;   /* memory bytes stored (non-zero pages) */
	uint64_t stored_bytes; /* bytes in the file for them (chunk payloads) */
	uint64_t chunks, raw_chunks;
	uint64_t parent_bytes; /* memory bytes taken from the parent image (IMG_CHUNK_PARENT) */
};

/* Writes final_path+".tmp", fsyncs it, renames it to final_path and fsyncs the directory
 * (unless o->no_dir_sync).
 * Memory of each region (unless IMG_REG_NODATA) is read in place from regs[i].start; a region
 * without PROT_READ is read through /proc/self/mem. h, blobs and regs stay the caller's.
 * Creates nthreads worker threads (all signals blocked in them) and joins them before it
 * returns. Not async-signal-safe. st may be NULL.
 * Returns 0, or -errno with a message in err (naming the file). On error the .tmp is removed. */
int img_write(const char *final_path, const struct img_header_info *h, const struct img_blob *blobs,
	      size_t nblobs, const struct img_region *regs, size_t nregs,
	      const struct img_write_opts *o, struct img_write_stats *st, char *err, size_t errlen);

struct img_reader;

/* Opens and validates the header, every small section (blobs, region table), the chunk index
 * and the trailer (truncation is detected here). On success *r owns the open file and all
 * parsed data until img_close. Returns 0 or -errno / -EBADMSG with a message in err. */
int img_open(const char *path, struct img_reader **r, char *err, size_t errlen);

/* The header fields as stored. Valid until img_close. */
const struct img_header_info *img_header(const struct img_reader *r);

/* Points *data and *len at the blob of that type (valid until img_close); -ENOENT if absent. */
int img_blob(const struct img_reader *r, uint32_t type, const void **data, uint64_t *len);

/* The region table, *n entries, valid until img_close. */
const struct img_region *img_regions(const struct img_reader *r, size_t *n);

/* Per-region totals (*n entries, parallel to img_regions), valid until img_close. */
const struct img_usage *img_region_usage(const struct img_reader *r, size_t *n);

/* Size of the file in bytes and the number of chunks in it. */
uint64_t img_file_size(const struct img_reader *r);
uint64_t img_chunk_count(const struct img_reader *r);

/* Fills every region's data in place (the caller has mapped regions at their addresses,
 * writable), reading and decompressing in nthreads threads (0 = online CPUs) and checking
 * every chunk's CRCs. Zero pages are left untouched (the caller maps fresh anonymous memory).
 * The first bad chunk stops the restore with an error naming the file, chunk, region and
 * offset; the memory is then partly written and must not be run. st may be NULL.
 * Returns 0 or -errno / -EBADMSG. */
/* Bytes of chunk data (headers included) that the restores of this process have read so far:
 * for a progress display (lower-half/restore_progress.c). */
uint64_t img_restore_progress(void);
int img_restore_memory(struct img_reader *r, int nthreads, struct img_write_stats *st, char *err,
		       size_t errlen);

/* Reads all data, checks all CRCs and decompresses every chunk without writing memory.
 * Returns 0 or -errno / -EBADMSG with a message in err. */
int img_verify(struct img_reader *r, char *err, size_t errlen);

/* Closes the file and frees everything; r may be NULL. */
void img_close(struct img_reader *r);

/* Human-readable dump for `dmtcp_restart --inspect FILE`: header fields, blobs (type, size),
 * region table (addr range, prot, flags, path, stored bytes), and totals with compression
 * ratio. Verifies checksums too. Returns 0 or -errno (message printed to stderr). */
int img_inspect(const char *path, FILE *out);

/* Short topology summary, e.g. "1 package, 2 cores, 2 PUs, L3 32MiB; AMD EPYC", from hwloc
 * (CPU objects only: no I/O discovery, so the result does not depend on hwloc's plugins).
 * Computed once per process (~1 ms; ~5 ms if hwloc's plugins get loaded: hwloc loads them on
 * its first topology unless HWLOC_PLUGINS_PATH points nowhere, so a lower half that wants no
 * extra libraries sets that before the first call), then copied.
 * Thread-safe. Returns 0 or -errno (buf then holds "unknown"). */
int img_hwloc_summary(char *buf, size_t len);

/* ---- incremental images (img_chain.c) -------------------------------------------------
 * An incremental image has the same layout; its chunks are data (raw or compressed) or
 * IMG_CHUNK_PARENT ("these pages are as in the parent image": no stored bytes). Pages covered
 * by no chunk are zero, as in a full image. Readers that predate this refuse such a chunk. */
struct img_incr {
	uint64_t parent_id;	 /* image_id of the parent */
	uint32_t parent_gen;	 /* its generation */
	const char *parent_name; /* its path relative to the directory of the new image */
	const uint64_t *clean;	 /* sorted, disjoint [start, end) address pairs, page aligned: */
	size_t nclean;		 /* pages unchanged since the parent was taken */
};

/* img_write with an optional parent: pages inside incr->clean are written as PARENT chunks
 * and not read; everything else as img_write does. incr NULL = img_write. st->parent_bytes
 * (if st) counts the memory left to the parent. Same contract as img_write otherwise. */
int img_write_ex(const char *final_path, const struct img_header_info *h,
		 const struct img_blob *blobs, size_t nblobs, const struct img_region *regs,
		 size_t nregs, const struct img_write_opts *o, const struct img_incr *incr,
		 struct img_write_stats *st, char *err, size_t errlen);

struct img_chain;

/* Opens an image and, if it is incremental, every ancestor up to a full image, checking that
 * each parent exists, is valid (img_open), belongs to the same process (uniquepid) and is
 * the very image the child was made against (image_id). A missing, damaged or wrong parent
 * refuses the whole chain with a message naming both files. Returns 0 or -errno/-EBADMSG. */
int img_chain_open(const char *path, struct img_chain **c, char *err, size_t errlen);
/* The newest image (the one given to img_chain_open): header, blobs and region table. */
struct img_reader *img_chain_head(struct img_chain *c);
/* Images in the chain (1 for a full image). */
size_t img_chain_length(const struct img_chain *c);
/* Fills the regions of the head image in place (mapped writable at their addresses, zero
 * elsewhere): every page from the newest image of the chain that defines it, each page
 * written once. Errors as img_restore_memory. st (may be NULL) sums over the chain. */
int img_chain_restore(struct img_chain *c, int nthreads, struct img_write_stats *st, char *err,
		      size_t errlen);
void img_chain_close(struct img_chain *c);
/* Generation of the full image at the base of path's chain (path's own if it is full), by
 * reading headers only. Returns 0, or -errno/-EBADMSG (message in err). */
int img_chain_base(const char *path, uint32_t *base_gen, char *err, size_t errlen);

/* Name of a blob type ("PROC", ...) or NULL if unknown. */
const char *img_blob_name(uint32_t type);

/* ------------------------------------------------------------------------------------------
 * On-disk structures (version 1). Readers never trust them: see img_read.c.
 */
#define IMG_MAGIC "SPLTCKPT"	     /* 8 bytes, no NUL */
#define IMG_TRAILER_MAGIC "SPLTEND1" /* 8 bytes, no NUL */
#define IMG_SECT_MAGIC 0x54434553u   /* "SECT" */
#define IMG_CHUNK_MAGIC 0x4b4e4843u  /* "CHNK" */
#define IMG_PAGE_SIZE 4096u
#define IMG_CHUNK_MAX (4u << 20)      /* memory bytes in one chunk, at most */
#define IMG_HEADER_MAX 4096u	      /* header_size, at most */
#define IMG_SECTIONS_MAX (4ull << 30) /* sections_len, at most */
#define IMG_REGIONS_MAX (1u << 20)    /* regions in one image, at most */
#define IMG_ADDR_LIMIT (1ull << 57)   /* no region ends above this */

enum img_sect_type {
	IMG_SEC_NONE = 0,
	IMG_SEC_INFO = 1,    /* serialized img_header_info */
	IMG_SEC_BLOB = 2,    /* subtype = blob type, payload = blob bytes */
	IMG_SEC_REGIONS = 3, /* u32 count, then per region: u32 entry length + fields */
	IMG_SEC_INDEX = 4,   /* struct img_disk_index[nchunks] */
};

/* IMG_CHUNK_ZSTD: zstd frame (written only by builds with libzstd; others refuse to read it). */
enum img_chunk_flags { IMG_CHUNK_NONE = 0, IMG_CHUNK_RAW = 1, IMG_CHUNK_ZLIB = 2, IMG_CHUNK_ZSTD = 3 };

/* "as in the parent image": stored_len 0, crc 0; only in images with a parent_id */
#define IMG_CHUNK_PARENT 0x10u

struct img_disk_header {
	char magic[8];	       /* IMG_MAGIC */
	uint32_t version;      /* IMG_VERSION of the writer */
	uint32_t header_size;  /* bytes of this header (>= 64, <= IMG_HEADER_MAX) */
	uint32_t flags;	       /* IMG_F_* */
	uint32_t nsections;    /* sections between the header and the data */
	uint64_t sections_len; /* their bytes */
	uint64_t data_off;     /* header_size + sections_len: the first chunk */
	uint64_t reserved[2];
	uint32_t reserved2;
	uint32_t crc; /* crc32 of header_size bytes with this field 0 */
};

struct img_disk_section {
	uint32_t magic;	  /* IMG_SECT_MAGIC */
	uint32_t type;	  /* enum img_sect_type */
	uint32_t subtype; /* blob type for IMG_SEC_BLOB, else 0 */
	uint32_t crc;	  /* crc32 of this struct with crc 0, then of the payload */
	uint64_t len;	  /* payload bytes */
};

struct img_disk_chunk {
	uint32_t magic;	     /* IMG_CHUNK_MAGIC */
	uint32_t seq;	     /* position in the file (and in the index) */
	uint32_t region;     /* index into the region table */
	uint32_t flags;	     /* enum img_chunk_flags */
	uint64_t offset;     /* in the region, page aligned */
	uint32_t raw_len;    /* memory bytes, page multiple, <= IMG_CHUNK_MAX */
	uint32_t stored_len; /* bytes that follow */
	uint32_t crc;	     /* crc32 of the stored bytes */
	uint32_t hcrc;	     /* crc32 of this struct with hcrc 0 */
};

struct img_disk_index {
	uint64_t file_off; /* where the chunk header is */
	struct img_disk_chunk c;
};

struct img_disk_trailer {
	char magic[8]; /* IMG_TRAILER_MAGIC */
	uint64_t nchunks;
	uint64_t data_bytes;   /* sum of raw_len */
	uint64_t stored_bytes; /* sum of stored_len */
	uint64_t data_off;     /* as in the header */
	uint64_t index_off;    /* the INDEX section: end of the chunks */
	uint64_t file_size;    /* bytes of the whole file */
	uint32_t nregions;
	uint32_t crc; /* crc32 of this struct with crc 0 */
};

_Static_assert(sizeof(struct img_disk_header) == 64, "img_disk_header layout");
_Static_assert(sizeof(struct img_disk_section) == 24, "img_disk_section layout");
_Static_assert(sizeof(struct img_disk_chunk) == 40, "img_disk_chunk layout");
_Static_assert(sizeof(struct img_disk_index) == 48, "img_disk_index layout");
_Static_assert(sizeof(struct img_disk_trailer) == 64, "img_disk_trailer layout");
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the image format is little endian; add byte swapping for this host"
#endif

#endif
