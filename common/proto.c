/*
 * proto.c - implementation of proto.h: little-endian framing, bounded put/get, and the payload
 * layout of every message type (one encoder and one decoder per type, side by side, so that a
 * layout can only be changed in one place).
 *
 * Invariants: a proto_buf never grows above PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD; a reader never
 * touches a byte at or after r->len; every decoder ends with proto_get_end (exact consumption).
 */
#include "proto.h"
#include "mpi_ckpt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[MSG_TYPE_COUNT] = {
    [MSG_NONE] = "NONE",
    [MSG_HELLO_WORKER] = "HELLO_WORKER",
    [MSG_WELCOME] = "WELCOME",
    [MSG_ERROR] = "ERROR",
    [MSG_SUSPEND] = "SUSPEND",
    [MSG_SUSPENDED] = "SUSPENDED",
    [MSG_WRITE] = "WRITE",
    [MSG_WRITTEN] = "WRITTEN",
    [MSG_RESUME] = "RESUME",
    [MSG_RESUMED] = "RESUMED",
    [MSG_KILL] = "KILL",
    [MSG_BARRIER] = "BARRIER",
    [MSG_BARRIER_DONE] = "BARRIER_DONE",
    [MSG_HELLO_CMD] = "HELLO_CMD",
    [MSG_CMD] = "CMD",
    [MSG_CMD_REPLY] = "CMD_REPLY",
    [MSG_CAPTURED] = "CAPTURED",
    [MSG_GO] = "GO",
    [MSG_MPI] = "MPI",
};

static const char *const cmd_names[CMD_OP_COUNT] = {
    [CMD_NONE] = "NONE",
    [CMD_STATUS] = "STATUS",
    [CMD_LIST] = "LIST",
    [CMD_CKPT] = "CHECKPOINT",
    [CMD_CKPT_BLOCKING] = "BLOCKING_CHECKPOINT",
    [CMD_INTERVAL] = "INTERVAL",
    [CMD_KILL] = "KILL",
    [CMD_QUIT] = "QUIT",
};

const char *proto_type_name(uint32_t type)
{
	return type < MSG_TYPE_COUNT ? type_names[type] : "?";
}

const char *proto_cmd_name(uint32_t op) { return op < CMD_OP_COUNT ? cmd_names[op] : "?"; }

static int fail(int e)
{
	errno = e;
	return -e;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- header ---------------------------------------------------------------------------- */

void proto_hdr_decode(const uint8_t raw[PROTO_HDR_SIZE], struct proto_hdr *h)
{
	h->magic_ver = get_le32(raw);
	h->type = get_le32(raw + 4);
	h->len = get_le32(raw + 8);
	h->seq = get_le32(raw + 12);
}

int proto_hdr_check(const struct proto_hdr *h)
{
	if (h->magic_ver != PROTO_MAGIC_VER)
		return fail(EPROTO);
	if (h->len > PROTO_MAX_PAYLOAD)
		return fail(EMSGSIZE);
	if (h->type == MSG_NONE || h->type >= MSG_TYPE_COUNT)
		return fail(EBADMSG);
	return 0;
}

/* ---- writing --------------------------------------------------------------------------- */

void proto_buf_init(struct proto_buf *b, uint32_t type)
{
	b->data = NULL;
	b->len = PROTO_HDR_SIZE;
	b->cap = 0;
	b->type = type;
	b->err = 0;
}

void proto_buf_free(struct proto_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* Make room for n more bytes; returns a pointer to them or NULL (b->err set). */
static uint8_t *buf_room(struct proto_buf *b, size_t n)
{
	if (b->err)
		return NULL;
	if (n > PROTO_MAX_PAYLOAD || b->len - PROTO_HDR_SIZE > PROTO_MAX_PAYLOAD - n) {
		b->err = -EMSGSIZE;
		return NULL;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		if (cap > PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD)
			cap = PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD;
		uint8_t *p = realloc(b->data, cap);
		if (!p) {
			b->err = -ENOMEM;
			return NULL;
		}
		b->data = p;
		b->cap = cap;
	}
	uint8_t *p = b->data + b->len;
	b->len += n;
	return p;
}

void proto_put_u32(struct proto_buf *b, uint32_t v)
{
	uint8_t *p = buf_room(b, 4);
	if (p)
		put_le32(p, v);
}

void proto_put_u64(struct proto_buf *b, uint64_t v)
{
	uint8_t *p = buf_room(b, 8);
	if (p) {
		put_le32(p, (uint32_t)v);
		put_le32(p + 4, (uint32_t)(v >> 32));
	}
}

void proto_put_strn(struct proto_buf *b, const char *s, size_t n)
{
	if (n && memchr(s, '\0', n)) {
		if (!b->err)
			b->err = -EINVAL;
		return;
	}
	if (n > PROTO_MAX_PAYLOAD) {
		if (!b->err)
			b->err = -EMSGSIZE;
		return;
	}
	uint8_t *p = buf_room(b, 4 + n);
	if (p) {
		put_le32(p, (uint32_t)n);
		if (n)
			memcpy(p + 4, s, n);
	}
}

void proto_put_str(struct proto_buf *b, const char *s, size_t max)
{
	size_t n = s ? strnlen(s, max) : 0;
	if (n >= max) {
		if (!b->err)
			b->err = -ENAMETOOLONG;
		return;
	}
	proto_put_strn(b, s, n);
}

void proto_put_str_trunc(struct proto_buf *b, const char *s, size_t max)
{
	size_t n = s ? strnlen(s, max) : 0;
	if (n >= max)
		n = max - 1;
	proto_put_strn(b, s, n);
}

int proto_buf_finish(struct proto_buf *b, uint32_t seq)
{
	if (!b->data)
		buf_room(b, 0); /* an empty message: allocate room for the header */
	if (b->err)
		return fail(-b->err);
	put_le32(b->data, PROTO_MAGIC_VER);
	put_le32(b->data + 4, b->type);
	put_le32(b->data + 8, (uint32_t)(b->len - PROTO_HDR_SIZE));
	put_le32(b->data + 12, seq);
	return 0;
}

/* ---- reading --------------------------------------------------------------------------- */

void proto_msg_free(struct proto_msg *m)
{
	free(m->owned);
	m->owned = NULL;
	m->payload = NULL;
}

void proto_reader_init(struct proto_reader *r, const uint8_t *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
	r->err = 0;
}

/* Take n bytes; NULL (sticky EBADMSG) if fewer are left. */
static const uint8_t *rd_take(struct proto_reader *r, size_t n)
{
	if (r->err || n > r->len - r->off) {
		r->err = -EBADMSG;
		return NULL;
	}
	const uint8_t *p = r->p + r->off;
	r->off += n;
	return p;
}

int proto_get_u32(struct proto_reader *r, uint32_t *v)
{
	const uint8_t *p = rd_take(r, 4);
	if (!p)
		return fail(EBADMSG);
	*v = get_le32(p);
	return 0;
}

int proto_get_u64(struct proto_reader *r, uint64_t *v)
{
	const uint8_t *p = rd_take(r, 8);
	if (!p)
		return fail(EBADMSG);
	*v = (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
	return 0;
}

int proto_get_str_ref(struct proto_reader *r, const char **s, uint32_t *n)
{
	uint32_t len;
	if (proto_get_u32(r, &len) < 0)
		return -EBADMSG;
	const uint8_t *p = rd_take(r, len);
	if (!p)
		return fail(EBADMSG);
	*s = (const char *)p;
	*n = len;
	return 0;
}

int proto_get_str(struct proto_reader *r, char *dst, size_t dstsz)
{
	const char *s;
	uint32_t n;
	if (dstsz)
		dst[0] = '\0';
	if (proto_get_str_ref(r, &s, &n) < 0)
		return -EBADMSG;
	if (n >= dstsz || (n && memchr(s, '\0', n))) {
		r->err = -EBADMSG;
		return fail(EBADMSG);
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

int proto_get_end(struct proto_reader *r)
{
	if (r->err || r->off != r->len) {
		r->err = -EBADMSG;
		return fail(EBADMSG);
	}
	return 0;
}

/* Start reading msg if it has the expected type. */
static int rd_open(struct proto_reader *r, const struct proto_msg *msg, uint32_t type)
{
	proto_reader_init(r, msg->payload, msg->hdr.len);
	if (msg->hdr.type != type || (msg->hdr.len && !msg->payload))
		return fail(EBADMSG);
	return 0;
}

int proto_dec_empty(const struct proto_msg *msg, uint32_t type)
{
	struct proto_reader r;
	if (rd_open(&r, msg, type) < 0)
		return -EBADMSG;
	return proto_get_end(&r);
}

/* ---- message layouts (keep each encoder next to its decoder) ---------------------------- */

/* HELLO_WORKER: str secret, u32 vpid, u32 real_pid, str uniquepid, str progname, str hostname,
 * str cmdline, u32 restarted_from, u32 interval */
void proto_enc_hello_worker(struct proto_buf *b, const struct proto_hello_worker *m)
{
	proto_buf_init(b, MSG_HELLO_WORKER);
	proto_put_str(b, m->secret, sizeof(m->secret));
	proto_put_u32(b, m->vpid);
	proto_put_u32(b, m->real_pid);
	proto_put_str(b, m->uniquepid, sizeof(m->uniquepid));
	proto_put_str(b, m->progname, sizeof(m->progname));
	proto_put_str(b, m->hostname, sizeof(m->hostname));
	proto_put_str_trunc(b, m->cmdline, sizeof(m->cmdline));
	proto_put_u32(b, m->restarted_from);
	proto_put_u32(b, m->interval);
}

int proto_dec_hello_worker(const struct proto_msg *msg, struct proto_hello_worker *m)
{
	struct proto_reader r;
	if (rd_open(&r, msg, MSG_HELLO_WORKER) < 0)
		return -EBADMSG;
	proto_get_str(&r, m->secret, sizeof(m->secret));
	proto_get_u32(&r, &m->vpid);
	proto_get_u32(&r, &m->real_pid);
	proto_get_str(&r, m->uniquepid, sizeof(m->uniquepid));
	proto_get_str(&r, m->progname, sizeof(m->progname));
	proto_get_str(&r, m->hostname, sizeof(m->hostname));
	proto_get_str(&r, m->cmdline, sizeof(m->cmdline));
	proto_get_u32(&r, &m->restarted_from);
	proto_get_u32(&r, &m->interval);
	return proto_get_end(&r);
}

/* HELLO_CMD: str secret */
void proto_enc_hello_cmd(struct proto_buf *b, const struct proto_hello_cmd *m)
{
	proto_buf_init(b, MSG_HELLO_CMD);
	proto_put_str(b, m->secret, sizeof(m->secret));
}

int proto_dec_hello_cmd(const struct proto_msg *msg, struct proto_hello_cmd *m)
{
	struct proto_reader r;
	if (rd_open(&r, msg, MSG_HELLO_CMD) < 0)
		return -EBADMSG;
	proto_get_str(&r, m->secret, sizeof(m->secret));
	return proto_get_end(&r);
}

/* WELCOME: u64 coord_id, u32 next_gen, str ckptdir, u32 interval */
void proto_enc_welcome(struct proto_buf *b, const struct proto_welcome *m)
{
	proto_buf_init(b, MSG_WELCOME);
	proto_put_u64(b, m->coord_id);
	proto_put_u32(b, m->next_gen);
	proto_put_str(b, m->ckptdir, sizeof(m->ckptdir));
	proto_put_u32(b, m->interval);
}

int proto_dec_welcome(const struct proto_msg *msg, struct proto_welcome *m)
{
	struct proto_reader r;
	if (rd_open(&r, msg, MSG_WELCOME) < 0)
		return -EBADMSG;
	proto_get_u64(&r, &m->coord_id);
	proto_get_u32(&r, &m->next_gen);
	proto_get_str(&r, m->ckptdir, sizeof(m->ckptdir));
	proto_get_u32(&r, &m->interval);
	return proto_get_end(&r);
}

/* ERROR: str text */
void proto_enc_error(struct proto_buf *b, const char *text)
{
	proto_buf_init(b, MSG_ERROR);
	proto_put_str_trunc(b, text, PROTO_MAX_TEXT);
}

int proto_dec_error(const struct proto_msg *msg, char *text, size_t textsz)
{
	struct proto_reader r;
	if (rd_open(&r, msg, MSG_ERROR) < 0)
		return -EBADMSG;
	proto_get_str(&r, text, textsz);
	return proto_get_end(&r);
}

/* SUSPEND: u32 generation, u32 nprocs */
void proto_enc_suspend(struct proto_buf *b, const struct proto_suspend *m)
{
	proto_buf_init(b, MSG_SUSPEND);
	proto_put_u32(b, m->generation);
	proto_put_u32(b, m->nprocs);
}

int proto_dec_suspend(const struct proto_msg *msg, struct proto_suspend *m)
{
	struct proto_reader r;
	if (rd_open(&r, msg, MSG_SUSPEND) < 0)
		return -EBADMSG;
	proto_get_u32(&r, &m->generation);
	proto_get_u32(&r, &m->nprocs);
	return proto_get_end(&r);
}

/* WRITE: u32 generation, u32 nprocs (the processes that were suspended: what the images of
 * this generation count as "complete") */
void proto_enc_write(struct proto_buf *b, const struct proto_suspend *m)
{
	proto_buf_init(b, MSG_WRITE);
	proto_put_u32(b, m->generation);
	proto_put_u32(b, m->nprocs);
}

int proto_dec_write(const struct proto_msg *msg, struct proto_suspend *m)
{
	struct proto_reader r;
	if (rd_open(&r, msg, MSG_WRITE) < 0)
		return -EBADMSG;
	proto_get_u32(&r, &m->generation);
	proto_get_u32(&r, &m->nprocs);
	return proto_get_end(&r);
}

/* WRITTEN: u32 status, u64 bytes, str path, str hostname, str text */
void proto_enc_written(struct proto_buf *b, const struct proto_written *m)
{
	proto_buf_init(b, MSG_WRITTEN);
	proto_put_u32(b, m->status);
	proto_put_u64(b, m->bytes);
	proto_put_str(b, m->path, sizeof(m->path));
	proto_put_str(b, m->hostname, sizeof(m->hostname));
	proto_put_str_trunc(b, m->text, sizeof(m->text));
}

int proto_dec_written(const struct proto_msg *msg, struct proto_written *m)
{
	struct proto_reader r;
	if (rd_open(&r, msg, MSG_WRITTEN) < 0)
		return -EBADMSG;
	proto_get_u32(&r, &m->status);
	proto_get_u64(&r, &m->bytes);
	proto_get_str(&r, m->path, sizeof(m->path));
	proto_get_str(&r, m->hostname, sizeof(m->hostname));
	proto_get_str(&r, m->text, sizeof(m->text));
	return proto_get_end(&r);
}

/* RESUME: u32 committed */
void proto_enc_resume(struct proto_buf *b, const struct proto_resume *m)
{
	proto_buf_init(b, MSG_RESUME);
	proto_put_u32(b, m->committed);
}

int proto_dec_resume(const struct proto_msg *msg, struct proto_resume *m)
{
	struct proto_reader r;
	if (rd_open(&r, msg, MSG_RESUME) < 0)
		return -EBADMSG;
	proto_get_u32(&r, &m->committed);
	return proto_get_end(&r);
}

/* BARRIER: str name, u32 count */
void proto_enc_barrier(struct proto_buf *b, const struct proto_barrier *m)
{
	proto_buf_init(b, MSG_BARRIER);
	proto_put_str(b, m->name, sizeof(m->name));
	proto_put_u32(b, m->count);
}

int proto_dec_barrier(const struct proto_msg *msg, struct proto_barrier *m)
{
	struct proto_reader r;
	if (rd_open(&r, msg, MSG_BARRIER) < 0)
		return -EBADMSG;
	proto_get_str(&r, m->name, sizeof(m->name));
	proto_get_u32(&r, &m->count);
	return proto_get_end(&r);
}

/* BARRIER_DONE: str name */
void proto_enc_barrier_done(struct proto_buf *b, const char *name)
{
	proto_buf_init(b, MSG_BARRIER_DONE);
	proto_put_str(b, name, PROTO_MAX_NAME);
}

int proto_dec_barrier_done(const struct proto_msg *msg, char *name, size_t namesz)
{
	struct proto_reader r;
	if (rd_open(&r, msg, MSG_BARRIER_DONE) < 0)
		return -EBADMSG;
	proto_get_str(&r, name, namesz);
	return proto_get_end(&r);
}

/* CMD: u32 op, u32 arg */
void proto_enc_cmd(struct proto_buf *b, const struct proto_cmd *m)
{
	proto_buf_init(b, MSG_CMD);
	proto_put_u32(b, m->op);
	proto_put_u32(b, m->arg);
}

int proto_dec_cmd(const struct proto_msg *msg, struct proto_cmd *m)
{
	struct proto_reader r;
	if (rd_open(&r, msg, MSG_CMD) < 0)
		return -EBADMSG;
	proto_get_u32(&r, &m->op);
	proto_get_u32(&r, &m->arg);
	return proto_get_end(&r);
}

/* CMD_REPLY: u32 status, u32 more, str text, u32 generation, u64 bytes, u64 ms */
void proto_enc_cmd_reply(struct proto_buf *b, const struct proto_cmd_reply *m)
{
	proto_buf_init(b, MSG_CMD_REPLY);
	proto_put_u32(b, m->status);
	proto_put_u32(b, m->more);
	proto_put_strn(b, m->text ? m->text : "", m->text ? m->text_len : 0);
	proto_put_u32(b, m->generation);
	proto_put_u64(b, m->bytes);
	proto_put_u64(b, m->ms);
}

int proto_dec_cmd_reply(const struct proto_msg *msg, struct proto_cmd_reply *m)
{
	struct proto_reader r;
	if (rd_open(&r, msg, MSG_CMD_REPLY) < 0)
		return -EBADMSG;
	proto_get_u32(&r, &m->status);
	proto_get_u32(&r, &m->more);
	if (proto_get_str_ref(&r, &m->text, &m->text_len) == 0 &&
	    memchr(m->text, '\0', m->text_len))
		r.err = -EBADMSG;
	proto_get_u32(&r, &m->generation);
	proto_get_u64(&r, &m->bytes);
	proto_get_u64(&r, &m->ms);
	return proto_get_end(&r);
}

/* MPI: u32 kind, then per kind (see proto.h). */
void proto_enc_mpi_register(struct proto_buf *b, uint32_t rank, uint32_t size, uint32_t level,
			    const char *launcher, const char *info)
{
	proto_buf_init(b, MSG_MPI);
	proto_put_u32(b, MPI_MSG_REGISTER);
	proto_put_u32(b, rank);
	proto_put_u32(b, size);
	proto_put_u32(b, level);
	proto_put_str_trunc(b, launcher ? launcher : "", PROTO_MPI_LAUNCHER - 1);
	proto_put_str_trunc(b, info ? info : "", PROTO_MAX_TEXT - 1);
}

void proto_enc_mpi_report(struct proto_buf *b, uint32_t round, uint32_t flags, uint32_t n,
			  const struct lh_mpi_comm_seq *v)
{
	proto_buf_init(b, MSG_MPI);
	proto_put_u32(b, MPI_MSG_REPORT);
	proto_put_u32(b, round);
	proto_put_u32(b, flags);
	proto_put_u32(b, n);
	for (uint32_t i = 0; i < n; i++) {
		proto_put_u64(b, v[i].gid);
		proto_put_u64(b, v[i].seq);
		proto_put_u64(b, v[i].want);
	}
}

void proto_enc_mpi_targets(struct proto_buf *b, uint32_t round, uint32_t final, uint32_t n,
			   const struct lh_mpi_comm_target *v)
{
	proto_buf_init(b, MSG_MPI);
	proto_put_u32(b, MPI_MSG_TARGETS);
	proto_put_u32(b, round);
	proto_put_u32(b, final);
	proto_put_u32(b, n);
	for (uint32_t i = 0; i < n; i++) {
		proto_put_u64(b, v[i].gid);
		proto_put_u64(b, v[i].target);
	}
}

void proto_enc_mpi_finalized(struct proto_buf *b)
{
	proto_buf_init(b, MSG_MPI);
	proto_put_u32(b, MPI_MSG_FINALIZED);
}

void proto_enc_mpi_error(struct proto_buf *b, const char *text)
{
	proto_buf_init(b, MSG_MPI);
	proto_put_u32(b, MPI_MSG_ERROR);
	proto_put_str_trunc(b, text ? text : "", PROTO_MAX_TEXT - 1);
}

void proto_mpi_free(struct proto_mpi *m)
{
	free(m->seqs);
	free(m->targets);
	m->seqs = NULL;
	m->targets = NULL;
}

int proto_dec_mpi(const struct proto_msg *msg, struct proto_mpi *m)
{
	struct proto_reader r;
	memset(m, 0, sizeof(*m));
	if (rd_open(&r, msg, MSG_MPI) < 0 || proto_get_u32(&r, &m->kind) < 0)
		return -EBADMSG;
	switch (m->kind) {
	case MPI_MSG_REGISTER:
		proto_get_u32(&r, &m->rank);
		proto_get_u32(&r, &m->size);
		proto_get_u32(&r, &m->level);
		proto_get_str(&r, m->launcher, sizeof(m->launcher));
		proto_get_str(&r, m->text, sizeof(m->text));
		break;
	case MPI_MSG_REPORT:
	case MPI_MSG_TARGETS: {
		int rep = m->kind == MPI_MSG_REPORT;
		size_t each = rep ? 24 : 16;
		if (proto_get_u32(&r, &m->round) < 0 || proto_get_u32(&r, &m->flags) < 0 ||
		    proto_get_u32(&r, &m->n) < 0)
			return -EBADMSG;
		/* Bound n by the bytes really there before allocating anything. */
		if (m->n > PROTO_MPI_MAX_ENTRIES || (size_t)m->n * each != r.len - r.off) {
			errno = EBADMSG;
			return -EBADMSG;
		}
		if (m->n) {
			void *a = rep ? calloc(m->n, sizeof(*m->seqs)) : calloc(m->n, sizeof(*m->targets));
			if (!a) {
				errno = ENOMEM;
				return -ENOMEM;
			}
			if (rep)
				m->seqs = a;
			else
				m->targets = a;
		}
		for (uint32_t i = 0; i < m->n; i++) {
			if (rep) {
				proto_get_u64(&r, &m->seqs[i].gid);
				proto_get_u64(&r, &m->seqs[i].seq);
				proto_get_u64(&r, &m->seqs[i].want);
			} else {
				proto_get_u64(&r, &m->targets[i].gid);
				proto_get_u64(&r, &m->targets[i].target);
			}
		}
		break;
	}
	case MPI_MSG_FINALIZED:
		break;
	case MPI_MSG_ERROR:
		proto_get_str(&r, m->text, sizeof(m->text));
		break;
	default:
		errno = EBADMSG;
		return -EBADMSG;
	}
	int rc = proto_get_end(&r);
	if (rc < 0)
		proto_mpi_free(m);
	return rc;
}
