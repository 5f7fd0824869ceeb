/*
 * img_internal.h - what the image library's own files share and nobody else uses:
 * bounded serialization helpers, CRC and I/O wrappers, the reader's state.
 * Invariants: an img_cur never reads past its end (a short field sets bad and yields zeros);
 * an img_buf either grows or records ENOMEM and ignores further puts.
 */
#ifndef SPLITCKPT_IMG_INTERNAL_H
#define SPLITCKPT_IMG_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/uio.h>

#include "image.h"

/* Growable byte buffer for encoding sections. */
struct img_buf {
	uint8_t *p;
	size_t len, cap;
	int nomem;
};

/* Bounded reading cursor over bytes from a file. */
struct img_cur {
	const uint8_t *p;
	size_t left;
	int bad;
};

/* Everything img_open parsed; owned by the reader, freed by img_close. */
struct img_reader {
	char *path;
	int fd;
	uint64_t file_size;
	struct img_disk_header hdr;
	struct img_disk_trailer trl;
	struct img_header_info info;
	uint8_t *sections; /* raw bytes of all sections; blobs point into it */
	struct img_blob *blobs;
	size_t nblobs;
	struct img_region *regs;
	struct img_usage *usage;
	size_t nregs;
	struct img_disk_index *index;
	uint64_t nchunks;
};

/* crc32 (zlib) over any length. */
uint32_t img_crc(uint32_t crc, const void *p, size_t n);

/* snprintf into err (if err && errlen), returns -e so callers can `return img_fail(...)`. */
int img_fail(char *err, size_t errlen, int e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

void img_buf_put(struct img_buf *b, const void *p, size_t n);
void img_buf_u32(struct img_buf *b, uint32_t v);
void img_buf_u64(struct img_buf *b, uint64_t v);
/* u32 length + bytes (without the NUL) of the string in a field of size cap. */
void img_buf_str(struct img_buf *b, const char *s, size_t cap);

uint32_t img_get_u32(struct img_cur *c);
uint64_t img_get_u64(struct img_cur *c);
/* Reads a u32 length + bytes into dst[cap] with a NUL; sets bad if it does not fit. */
void img_get_str(struct img_cur *c, char *dst, size_t cap);

/* INFO and REGIONS payloads. Encoders append to b; decoders return 0 or -EBADMSG/-ENOMEM
 * with a message (without the file name) in err. */
void img_encode_info(struct img_buf *b, const struct img_header_info *h);
int img_decode_info(const uint8_t *p, size_t n, struct img_header_info *h, char *err,
		    size_t errlen);
void img_encode_regions(struct img_buf *b, const struct img_region *r, size_t n);
int img_decode_regions(const uint8_t *p, size_t n, struct img_region **out, size_t *nout, char *err,
		       size_t errlen);

/* Checks a region table: page alignment, bounds, no overlap. 0 or -EINVAL with message. */
int img_check_regions(const struct img_region *r, size_t n, char *err, size_t errlen);

/* Section header for a payload, crc included (payload crc computed over p[0..len)). */
void img_make_section(struct img_disk_section *s, uint32_t type, uint32_t subtype, const void *p,
		      uint64_t len);

/* crc32 of a disk chunk header with hcrc taken as 0. */
uint32_t img_chunk_hcrc(const struct img_disk_chunk *c);

/* After a readv/writev-like call moved k bytes: drops the iovecs it finished and advances
 * into the one it stopped in. */
static inline void img_iov_advance(struct iovec **iov, int *cnt, size_t k)
{
	while (*cnt > 0 && k >= (*iov)->iov_len) {
		k -= (*iov)->iov_len;
		(*iov)++;
		(*cnt)--;
	}
	if (*cnt > 0) {
		(*iov)->iov_base = (char *)(*iov)->iov_base + k;
		(*iov)->iov_len -= k;
	}
}

/* pread exactly n bytes; -EIO style -errno, or -ENODATA if the file ends first. */
int img_pread_full(int fd, void *p, size_t n, uint64_t off);

/* Resolve a thread count: n > 0 is kept (capped at 64), 0 = online CPUs. */
int img_nthreads(int n);

/* Part of a chunk's memory to restore: bytes [off, off + len) of chunk number chunk. */
struct img_piece {
	uint64_t chunk, off, len;
};
/* Restores only the given pieces (sorted by chunk, disjoint; several pieces of one chunk
 * share one read and one decompression) into the memory of r's regions; the caller has made
 * sure that memory is mapped writable. IMG_CHUNK_PARENT chunks are skipped. 0 or -errno. */
int img_restore_pieces(struct img_reader *r, const struct img_piece *p, uint64_t n, int nthreads,
		       char *err, size_t errlen);

/* Writer side of incremental images: the clean set of img_incr (NULL: none). */
struct img_clean {
	const uint64_t *pairs;
	size_t n;
};

/* ---- the writer's output file (img_out.c) ---- */
#define IMG_ALIGN 4096u		   /* IMG_F_ALIGNED: block of direct I/O */
#define IMG_ALIGN_MIN (128u << 10) /* chunks storing at least this many bytes start on a block */

/* Where the header of a chunk storing stored_len bytes goes when the previous one ends at off:
 * there, or (aligned layout, a large chunk) just before the next block boundary, so that its
 * data starts on the boundary. Writer and reader both place chunks by this rule. */
static inline uint64_t img_chunk_pos(uint64_t off, uint32_t stored_len, int aligned)
{
	const uint64_t h = sizeof(struct img_disk_chunk);
	if (!aligned || stored_len < IMG_ALIGN_MIN)
		return off;
	return ((off + h + IMG_ALIGN - 1) & ~(uint64_t)(IMG_ALIGN - 1)) - h;
}

struct img_out {
	int fd;
	int aligned;	  /* IMG_F_ALIGNED layout, staging in arena (until the final flush) */
	int direct;	  /* fd has O_DIRECT now */
	uint64_t pos;	  /* bytes put so far: the position of the next byte */
	uint64_t iov_off; /* file position of the first pending byte */
	uint8_t *arena;	  /* aligned: staged bytes; [aseg, alen) is the open segment */
	size_t acap, alen, aseg;
	struct iovec *iov; /* pending writes */
	int niov, iovcap;
	int pipe_r, pipe_w; /* direct: the pipe of vmsplice + splice, or -1 */
	size_t psz;	    /* its capacity */
};
/* Creates path (O_TRUNC, mode 0600); aligned asks for the aligned layout and O_DIRECT, which
 * a filesystem without O_DIRECT turns into the compact layout (o->aligned tells). -errno. */
int img_out_open(struct img_out *o, const char *path, int aligned);
/* Room for copy_bytes more staged bytes and pieces more iovecs: only right after a flush. */
int img_out_reserve(struct img_out *o, size_t copy_bytes, int pieces);
/* Puts n bytes; compact layout: p must stay valid until the next flush. */
void img_out_put(struct img_out *o, const void *p, size_t n);
/* As img_out_put, but block-aligned memory at a block-aligned position is not copied. */
void img_out_put_data(struct img_out *o, const void *p, size_t n);
/* Puts zero bytes up to position to. */
void img_out_pad(struct img_out *o, uint64_t to);
/* Writes what was put (aligned: but a last partial block, unless final). After a final flush
 * everything is on its way to the disk and later puts are compact. 0 or -errno. */
int img_out_flush(struct img_out *o, int final);
/* Closes the file (if open) and frees the buffers. */
void img_out_free(struct img_out *o);

/* ---- the writer pipeline (img_scan.c produces chunks, img_write.c writes them) ---- */
#define IMG_QCAP 1024	       /* finished chunks waiting for the writer, at most */
#define IMG_QBYTES (16u << 20) /* and stored bytes in them, so they are still in cache */

struct img_wbuf {
	uint8_t *mem; /* IMG_CHUNK_MAX bytes, allocated on first use */
	int refs;     /* the worker filling it + every chunk pointing into it; under mu */
};

struct img_wjob {		 /* one finished chunk */
	struct img_disk_chunk c; /* all fields but seq and hcrc */
	const void *data;	 /* stored bytes: process memory or a worker buffer */
	struct img_wbuf *buf;	 /* reference to drop once written, or NULL */
};

struct img_worker;

struct img_wctx {
	const char *path; /* final path, for messages */
	const struct img_region *regs;
	size_t nregs;
	int compress, level, codec; /* codec: IMG_CODEC_ZLIB or _ZSTD */
	int mem_fd, pm_fd; /* /proc/self/mem and /proc/self/pagemap, or -1 */
	struct img_clean clean; /* pages written as IMG_CHUNK_PARENT */
	uint64_t parent_bytes;	/* summed by img_scan_join */
	pthread_mutex_t mu;
	pthread_cond_t cv_writer, cv_worker;
	size_t cur_reg; /* next segment to hand out */
	uint64_t cur_off;
	struct img_wjob q[IMG_QCAP]; /* ring: qhead, qlen */
	size_t qhead, qlen;
	uint64_t qbytes;
	int running; /* workers that have not finished */
	int abort;
	int err; /* first worker error (positive errno) and its message */
	char msg[256];
	struct img_worker *workers;
	int nworkers;
	uint64_t zero_bytes; /* summed by img_scan_join */
};

/* Records the first error (e > 0) and makes every thread of the pipeline stop. */
void img_wctx_abort(struct img_wctx *w, int e, const char *msg);
/* Starts nthreads workers on w (signals blocked in them). On failure the pipeline is aborted
 * and -errno returned with a message; img_scan_join must be called either way. */
int img_scan_start(struct img_wctx *w, int nthreads, char *err, size_t errlen);
/* Joins the workers and frees their buffers: only once the writer holds no chunk. */
void img_scan_join(struct img_wctx *w);

#endif
