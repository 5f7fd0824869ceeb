/*
 * proto.h - the coordinator wire protocol: framing, bounded field put/get, message layouts.
 *
 * Every message is a 16-byte header {u32 magic_ver, u32 type, u32 len, u32 seq} followed by
 * `len` payload bytes; all integers are little endian. `len` never exceeds PROTO_MAX_PAYLOAD and
 * a receiver checks that before it allocates anything. `seq` counts the messages one sender has
 * sent on one connection (1, 2, ...); it is informational (logs) and never checked.
 *
 * Payload fields are u32, u64 or str (u32 byte count, then the bytes, no NUL, no NUL inside).
 * Writers use struct proto_buf (the error is sticky: check once at the end); readers use
 * struct proto_reader whose getters fail with EBADMSG and never read past the payload; a decoder
 * also fails unless the payload is consumed exactly. The per-message encoders/decoders below are
 * the one place where the payload layouts live (docs/INTERFACES.md lists them too).
 *
 * Invariants: no function here keeps global state, so all are thread-safe on distinct objects;
 * none is async-signal-safe (they may call malloc). Functions return 0 or -errno, with errno
 * set as well, so that both `rc < 0 && errno` and `strerror(-rc)` styles work.
 */
#ifndef SPLITCKPT_PROTO_H
#define SPLITCKPT_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_MAGIC_VER 0x53430001u /* "SC" + protocol version 1 */
#define PROTO_HDR_SIZE 16u
#define PROTO_MAX_PAYLOAD (1u << 20)

/* Buffer sizes for string fields, NUL included (so a field holds at most size-1 bytes). */
#define PROTO_SECRET_HEX 64 /* the secret is exactly 64 hex chars */
#define PROTO_MAX_HOST 256
#define PROTO_MAX_NAME 256 /* progname, uniquepid, barrier name */
#define PROTO_MAX_PATH 4096
#define PROTO_MAX_TEXT 4096    /* error texts; longer texts are truncated by the encoders */
#define PROTO_MAX_CMDLINE 8192 /* truncated by the encoder */

/* Message types. The numbers are part of the protocol: never renumber, only append. */
enum proto_msg_type {
	MSG_NONE = 0,
	MSG_HELLO_WORKER = 1,  /* W->C */
	MSG_WELCOME = 2,       /* C->W and C->K: reply to a good HELLO_* */
	MSG_ERROR = 3,	       /* C->any: then the coordinator closes the connection */
	MSG_SUSPEND = 4,       /* C->W */
	MSG_SUSPENDED = 5,     /* W->C */
	MSG_WRITE = 6,	       /* C->W */
	MSG_WRITTEN = 7,       /* W->C */
	MSG_RESUME = 8,	       /* C->W */
	MSG_RESUMED = 9,       /* W->C */
	MSG_KILL = 10,	       /* C->W */
	MSG_BARRIER = 11,      /* W->C */
	MSG_BARRIER_DONE = 12, /* C->W */
	MSG_HELLO_CMD = 13,    /* K->C */
	MSG_CMD = 14,	       /* K->C */
	MSG_CMD_REPLY = 15,    /* C->K */
	MSG_CAPTURED = 16,     /* W->C: forked checkpoint: state captured, image being written */
	MSG_GO = 17,	       /* C->W: every process captured: resume before the images are done */
	MSG_MPI = 18,	       /* W<->C: MPI checkpoint rounds (docs/mpi-ckpt.md section 3) */
	MSG_TYPE_COUNT
};

/* Operations of MSG_CMD (dmtcp_command). Same rule: append only. */
enum proto_cmd_op {
	CMD_NONE = 0,
	CMD_STATUS = 1,
	CMD_LIST = 2,
	CMD_CKPT = 3,
	CMD_CKPT_BLOCKING = 4,
	CMD_INTERVAL = 5, /* arg = seconds, 0 = no interval checkpoints */
	CMD_KILL = 6,
	CMD_QUIT = 7,
	CMD_OP_COUNT
};

/* Human-readable name of a type / op ("SUSPEND", "?" when unknown). Never NULL. */
const char *proto_type_name(uint32_t type);
const char *proto_cmd_name(uint32_t op);

/* ---- header ---------------------------------------------------------------------------- */

struct proto_hdr {
	uint32_t magic_ver;
	uint32_t type;
	uint32_t len;
	uint32_t seq;
};

/* Decode 16 header bytes (no checks). */
void proto_hdr_decode(const uint8_t raw[PROTO_HDR_SIZE], struct proto_hdr *h);
/* Check a decoded header: -EPROTO for a bad magic/version, -EMSGSIZE for len above
 * PROTO_MAX_PAYLOAD, -EBADMSG for an unknown type. 0 if it may be read further. */
int proto_hdr_check(const struct proto_hdr *h);

/* ---- writing --------------------------------------------------------------------------- */

/* A message under construction: header space + payload, grown on demand, never above
 * PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD bytes. `err` is the first error (sticky, -errno). */
struct proto_buf {
	uint8_t *data;
	size_t len; /* header + payload bytes so far */
	size_t cap;
	uint32_t type;
	int err;
};

/* Start a message of `type` (no allocation until the first put). */
void proto_buf_init(struct proto_buf *b, uint32_t type);
void proto_buf_free(struct proto_buf *b);
void proto_put_u32(struct proto_buf *b, uint32_t v);
void proto_put_u64(struct proto_buf *b, uint64_t v);
/* str field from n bytes; -EINVAL if they contain a NUL. */
void proto_put_strn(struct proto_buf *b, const char *s, size_t n);
/* str field from a C string (NULL = empty); -ENAMETOOLONG if it has >= max bytes. */
void proto_put_str(struct proto_buf *b, const char *s, size_t max);
/* str field from a C string, cut to max-1 bytes (for informational text). */
void proto_put_str_trunc(struct proto_buf *b, const char *s, size_t max);
/* Fill in the header (len, seq). Returns b->err; on success b->data[0..b->len) is the whole
 * message ready to be written. */
int proto_buf_finish(struct proto_buf *b, uint32_t seq);

/* ---- reading --------------------------------------------------------------------------- */

/* A received message: header + payload (payload owned by whoever filled it in). */
struct proto_msg {
	struct proto_hdr hdr;
	const uint8_t *payload;
	uint8_t *owned; /* non-NULL when proto_msg_free must free it */
};
void proto_msg_free(struct proto_msg *m);

struct proto_reader {
	const uint8_t *p;
	size_t len;
	size_t off;
	int err; /* sticky: -EBADMSG after the first failed get */
};

void proto_reader_init(struct proto_reader *r, const uint8_t *p, size_t len);
int proto_get_u32(struct proto_reader *r, uint32_t *v);
int proto_get_u64(struct proto_reader *r, uint64_t *v);
/* Copy a str field into dst (size dstsz, NUL-terminated). Fails (EBADMSG) if it has >= dstsz
 * bytes or contains a NUL. */
int proto_get_str(struct proto_reader *r, char *dst, size_t dstsz);
/* Point at a str field without copying (not NUL-terminated; valid while the payload is). */
int proto_get_str_ref(struct proto_reader *r, const char **s, uint32_t *n);
/* 0 if no get failed and every byte was consumed, else -EBADMSG. */
int proto_get_end(struct proto_reader *r);

/* ---- message layouts ------------------------------------------------------------------- */

struct proto_hello_worker {
	char secret[PROTO_SECRET_HEX + 1];
	uint32_t vpid;	   /* the pid the application sees (stable across restart) */
	uint32_t real_pid; /* the kernel pid now */
	char uniquepid[PROTO_MAX_NAME];
	char progname[PROTO_MAX_NAME];
	char hostname[PROTO_MAX_HOST];
	char cmdline[PROTO_MAX_CMDLINE]; /* args joined by spaces, informational */
	uint32_t restarted_from;	 /* generation restarted from, 0 = fresh launch */
	uint32_t interval;		 /* requested checkpoint interval (s), 0 = leave it */
};

struct proto_hello_cmd {
	char secret[PROTO_SECRET_HEX + 1];
};

struct proto_welcome {
	uint64_t coord_id;	      /* the job id: random, fixed for the coordinator's life */
	uint32_t next_gen;	      /* generation the next checkpoint will have */
	char ckptdir[PROTO_MAX_PATH]; /* coordinator's --ckptdir, "" if none */
	uint32_t interval;	      /* current checkpoint interval (s), 0 = none */
};

struct proto_suspend {
	uint32_t generation;
	uint32_t nprocs; /* processes taking part in this generation */
};

struct proto_written {
	uint32_t status;	   /* 0 = image durable, else an errno value */
	uint64_t bytes;		   /* bytes of the image file */
	char path[PROTO_MAX_PATH]; /* absolute path of the image */
	char hostname[PROTO_MAX_HOST];
	char text[PROTO_MAX_TEXT]; /* what went wrong (status != 0), may be "" */
};

struct proto_resume {
	uint32_t committed; /* 1: every image of the generation is durable */
};

struct proto_barrier {
	char name[PROTO_MAX_NAME];
	uint32_t count; /* BARRIER only: how many workers must enter */
};

struct proto_cmd {
	uint32_t op; /* enum proto_cmd_op */
	uint32_t arg;
};

/* CMD_REPLY. A long text (a list of thousands of workers) comes as several replies, all but
 * the last with more = 1; the numbers are meaningful in the last one only. */
struct proto_cmd_reply {
	uint32_t status; /* 0 ok, else an error (text says what) */
	uint32_t more;
	const char *text; /* decode: points into the message payload, not NUL-terminated */
	uint32_t text_len;
	uint32_t generation; /* blocking checkpoint: its generation, else 0 */
	uint64_t bytes;	     /* blocking checkpoint: bytes of all images */
	uint64_t ms;	     /* blocking checkpoint: milliseconds from SUSPEND to durable */
};

/* Encoders: start b with the right type and put the fields (then call proto_buf_finish).
 * Messages without payload (SUSPENDED, RESUMED, KILL) need only proto_buf_init. WRITE has the
 * layout of SUSPEND: {generation, processes that were suspended}. */
void proto_enc_hello_worker(struct proto_buf *b, const struct proto_hello_worker *m);
void proto_enc_hello_cmd(struct proto_buf *b, const struct proto_hello_cmd *m);
void proto_enc_welcome(struct proto_buf *b, const struct proto_welcome *m);
void proto_enc_error(struct proto_buf *b, const char *text);
void proto_enc_suspend(struct proto_buf *b, const struct proto_suspend *m);
void proto_enc_write(struct proto_buf *b, const struct proto_suspend *m);
void proto_enc_written(struct proto_buf *b, const struct proto_written *m);
void proto_enc_resume(struct proto_buf *b, const struct proto_resume *m);
void proto_enc_barrier(struct proto_buf *b, const struct proto_barrier *m);
void proto_enc_barrier_done(struct proto_buf *b, const char *name);
void proto_enc_cmd(struct proto_buf *b, const struct proto_cmd *m);
void proto_enc_cmd_reply(struct proto_buf *b, const struct proto_cmd_reply *m);

/* MSG_MPI (docs/mpi-ckpt.md section 3): u32 kind, then the kind's fields. */
enum proto_mpi_kind {
	MPI_MSG_REGISTER = 1,  /* W->C: u32 rank, u32 size, u32 thread level, str launcher, str info */
	MPI_MSG_REPORT = 2,    /* W->C: u32 round, u32 flags, u32 n, n x (u64 gid, seq, want) */
	MPI_MSG_TARGETS = 3,   /* C->W: u32 round, u32 final, u32 n, n x (u64 gid, target) */
	MPI_MSG_FINALIZED = 4, /* W->C */
	MPI_MSG_ERROR = 5,     /* W->C: str text */
};
#define PROTO_MPI_MAX_ENTRIES 8192 /* = LH_MPI_MAX_COMMS (common/mpi_ckpt.h) */
#define PROTO_MPI_LAUNCHER 32

struct lh_mpi_comm_seq;
struct lh_mpi_comm_target;
struct proto_mpi {
	uint32_t kind;
	uint32_t rank, size, level;	      /* REGISTER */
	char launcher[PROTO_MPI_LAUNCHER];    /* REGISTER: "mpiexec", "srun" or "" */
	char text[PROTO_MAX_TEXT];	      /* REGISTER: launch info; ERROR: the reason */
	uint32_t round, flags, n;	      /* REPORT (flags), TARGETS (flags = final) */
	struct lh_mpi_comm_seq *seqs;	      /* REPORT: n entries (malloc'd by the decoder) */
	struct lh_mpi_comm_target *targets;   /* TARGETS: n entries (malloc'd by the decoder) */
};
void proto_enc_mpi_register(struct proto_buf *b, uint32_t rank, uint32_t size, uint32_t level,
			    const char *launcher, const char *info);
void proto_enc_mpi_report(struct proto_buf *b, uint32_t round, uint32_t flags, uint32_t n,
			  const struct lh_mpi_comm_seq *v);
void proto_enc_mpi_targets(struct proto_buf *b, uint32_t round, uint32_t final, uint32_t n,
			   const struct lh_mpi_comm_target *v);
void proto_enc_mpi_finalized(struct proto_buf *b);
void proto_enc_mpi_error(struct proto_buf *b, const char *text);
/* 0 or -EBADMSG (also for an unknown kind, n above PROTO_MPI_MAX_ENTRIES or beyond the
 * payload) or -ENOMEM. On success free the arrays with proto_mpi_free. */
int proto_dec_mpi(const struct proto_msg *msg, struct proto_mpi *m);
void proto_mpi_free(struct proto_mpi *m);

/* Decoders: 0 or -EBADMSG (wrong type, short, long, or a field out of bounds). */
int proto_dec_hello_worker(const struct proto_msg *msg, struct proto_hello_worker *m);
int proto_dec_hello_cmd(const struct proto_msg *msg, struct proto_hello_cmd *m);
int proto_dec_welcome(const struct proto_msg *msg, struct proto_welcome *m);
int proto_dec_error(const struct proto_msg *msg, char *text, size_t textsz);
int proto_dec_suspend(const struct proto_msg *msg, struct proto_suspend *m);
int proto_dec_write(const struct proto_msg *msg, struct proto_suspend *m);
int proto_dec_written(const struct proto_msg *msg, struct proto_written *m);
int proto_dec_resume(const struct proto_msg *msg, struct proto_resume *m);
int proto_dec_barrier(const struct proto_msg *msg, struct proto_barrier *m);
int proto_dec_barrier_done(const struct proto_msg *msg, char *name, size_t namesz);
int proto_dec_cmd(const struct proto_msg *msg, struct proto_cmd *m);
int proto_dec_cmd_reply(const struct proto_msg *msg, struct proto_cmd_reply *m);
/* For messages without payload: 0 if type matches and len == 0. */
int proto_dec_empty(const struct proto_msg *msg, uint32_t type);

#endif
