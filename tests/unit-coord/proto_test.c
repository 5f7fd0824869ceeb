/*
 * proto_test.c - unit test of common/proto.c and common/secret.c: every message round-trips,
 * every truncation and every extra byte is refused, bounded getters hold their bounds, the
 * header checks catch bad magic / oversize / unknown type, and the secret helpers behave.
 * Prints PASS or the failed checks; exit status 0 only on PASS.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mpi_ckpt.h"
#include "proto.h"
#include "secret.h"

static int failures;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                     \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

/* Finish b into a msg that points at its payload (b keeps the bytes). */
static struct proto_msg as_msg(struct proto_buf *b)
{
	struct proto_msg m = {0};
	CHECK(proto_buf_finish(b, 7) == 0);
	proto_hdr_decode(b->data, &m.hdr);
	CHECK(proto_hdr_check(&m.hdr) == 0);
	CHECK(m.hdr.seq == 7 && m.hdr.len == b->len - PROTO_HDR_SIZE);
	m.payload = b->data + PROTO_HDR_SIZE;
	return m;
}

/* Every shorter payload and one longer must fail to decode. */
typedef int (*dec_fn)(const struct proto_msg *, void *);
static void check_exact(struct proto_buf *b, dec_fn dec, void *out)
{
	struct proto_msg m = as_msg(b);
	CHECK(dec(&m, out) == 0);
	uint32_t full = m.hdr.len;
	for (uint32_t l = 0; l < full; l++) {
		m.hdr.len = l;
		if (dec(&m, out) != -EBADMSG) {
			printf("FAIL: %s decoded with %u of %u bytes\n",
			       proto_type_name(m.hdr.type), l, full);
			failures++;
		}
	}
	uint8_t *longer = calloc(1, full + 1);
	memcpy(longer, m.payload, full);
	m.payload = longer;
	m.hdr.len = full + 1;
	CHECK(dec(&m, out) == -EBADMSG);
	free(longer);
}

static int dec_hello(const struct proto_msg *m, void *o) { return proto_dec_hello_worker(m, o); }
static int dec_welcome(const struct proto_msg *m, void *o) { return proto_dec_welcome(m, o); }
static int dec_written(const struct proto_msg *m, void *o) { return proto_dec_written(m, o); }
static int dec_reply(const struct proto_msg *m, void *o) { return proto_dec_cmd_reply(m, o); }
static int dec_write(const struct proto_msg *m, void *o) { return proto_dec_write(m, o); }
static int dec_barrier(const struct proto_msg *m, void *o) { return proto_dec_barrier(m, o); }

static void test_messages(void)
{
	static struct proto_hello_worker h, h2;
	strcpy(h.secret, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	h.vpid = 40000;
	h.real_pid = 1234;
	strcpy(h.uniquepid, "00000000deadbeef-40000-5f00");
	strcpy(h.progname, "a.out");
	strcpy(h.hostname, "node1");
	memset(h.cmdline, 'x', sizeof(h.cmdline) - 1); /* exactly the maximum */
	h.restarted_from = 3;
	h.interval = 60;
	struct proto_buf b;
	proto_enc_hello_worker(&b, &h);
	check_exact(&b, dec_hello, &h2);
	CHECK(memcmp(&h, &h2, sizeof(h)) == 0);
	proto_buf_free(&b);

	struct proto_welcome w = {.coord_id = 0x1122334455667788ull, .next_gen = 9, .interval = 5},
			     w2;
	strcpy(w.ckptdir, "/tmp/ck");
	proto_enc_welcome(&b, &w);
	check_exact(&b, dec_welcome, &w2);
	CHECK(w2.coord_id == w.coord_id && w2.next_gen == 9 && !strcmp(w2.ckptdir, "/tmp/ck"));
	proto_buf_free(&b);

	static struct proto_written wr = {.status = 0, .bytes = 1ull << 40}, wr2;
	strcpy(wr.path, "/x/gen-000001/ckpt_a_b.dmtcp");
	strcpy(wr.hostname, "node1");
	proto_enc_written(&b, &wr);
	check_exact(&b, dec_written, &wr2);
	CHECK(wr2.bytes == wr.bytes && !strcmp(wr2.path, wr.path) && wr2.text[0] == '\0');
	proto_buf_free(&b);

	struct proto_barrier ba = {.count = 3}, ba2;
	strcpy(ba.name, "restart-1");
	proto_enc_barrier(&b, &ba);
	check_exact(&b, dec_barrier, &ba2);
	CHECK(ba2.count == 3 && !strcmp(ba2.name, "restart-1"));
	proto_buf_free(&b);

	struct proto_cmd_reply r = {.status = 1,
				    .more = 0,
				    .text = "hello\n",
				    .text_len = 6,
				    .generation = 2,
				    .bytes = 3,
				    .ms = 4},
			       r2;
	proto_enc_cmd_reply(&b, &r);
	check_exact(&b, dec_reply, &r2);
	struct proto_msg rm = as_msg(&b);
	CHECK(proto_dec_cmd_reply(&rm, &r2) == 0);
	CHECK(r2.status == 1 && r2.text_len == 6 && !memcmp(r2.text, "hello\n", 6) && r2.ms == 4);
	proto_buf_free(&b);

	struct proto_suspend wr_in = {.generation = 5, .nprocs = 2}, wr_out;
	proto_enc_write(&b, &wr_in);
	check_exact(&b, dec_write, &wr_out);
	CHECK(wr_out.generation == 5 && wr_out.nprocs == 2);
	proto_buf_free(&b);

	/* wrong type is refused */
	proto_buf_init(&b, MSG_SUSPENDED);
	struct proto_msg m = as_msg(&b);
	CHECK(proto_dec_empty(&m, MSG_SUSPENDED) == 0);
	CHECK(proto_dec_empty(&m, MSG_RESUMED) == -EBADMSG);
	proto_buf_free(&b);
}

static void test_bounds(void)
{
	/* a string one byte longer than the destination is refused */
	struct proto_buf b;
	proto_buf_init(&b, MSG_ERROR);
	proto_put_strn(&b, "abcdef", 6);
	struct proto_msg m = as_msg(&b);
	char small[6], ok[7];
	CHECK(proto_dec_error(&m, small, sizeof(small)) == -EBADMSG);
	CHECK(proto_dec_error(&m, ok, sizeof(ok)) == 0 && !strcmp(ok, "abcdef"));
	proto_buf_free(&b);

	/* a NUL inside a string is refused on both sides */
	proto_buf_init(&b, MSG_ERROR);
	proto_put_strn(&b, "ab\0cd", 5);
	CHECK(b.err == -EINVAL);
	proto_buf_free(&b);

	/* a string length pointing past the payload is refused */
	uint8_t raw[8] = {0xff, 0xff, 0xff, 0x7f, 'a', 'b', 'c', 'd'};
	struct proto_msg m2 = {.hdr = {PROTO_MAGIC_VER, MSG_ERROR, sizeof(raw), 1}, .payload = raw};
	CHECK(proto_dec_error(&m2, ok, sizeof(ok)) == -EBADMSG);

	/* a payload never grows above the maximum */
	proto_buf_init(&b, MSG_CMD_REPLY);
	char *big = malloc(PROTO_MAX_PAYLOAD);
	memset(big, 'y', PROTO_MAX_PAYLOAD);
	proto_put_strn(&b, big, PROTO_MAX_PAYLOAD - 4); /* exactly fits */
	CHECK(b.err == 0);
	proto_put_u32(&b, 1);
	CHECK(b.err == -EMSGSIZE);
	CHECK(proto_buf_finish(&b, 1) == -EMSGSIZE);
	proto_buf_free(&b);
	free(big);

	/* too-long C strings */
	char name[PROTO_MAX_NAME + 1];
	memset(name, 'n', PROTO_MAX_NAME);
	name[PROTO_MAX_NAME] = '\0';
	proto_buf_init(&b, MSG_BARRIER_DONE);
	proto_put_str(&b, name, PROTO_MAX_NAME);
	CHECK(b.err == -ENAMETOOLONG);
	proto_buf_free(&b);

	/* header checks */
	struct proto_hdr h = {PROTO_MAGIC_VER, MSG_CMD, PROTO_MAX_PAYLOAD, 0};
	CHECK(proto_hdr_check(&h) == 0);
	h.len = PROTO_MAX_PAYLOAD + 1;
	CHECK(proto_hdr_check(&h) == -EMSGSIZE);
	h.len = 0;
	h.magic_ver = 0x53430002;
	CHECK(proto_hdr_check(&h) == -EPROTO);
	h.magic_ver = PROTO_MAGIC_VER;
	h.type = MSG_TYPE_COUNT;
	CHECK(proto_hdr_check(&h) == -EBADMSG);
	h.type = MSG_NONE;
	CHECK(proto_hdr_check(&h) == -EBADMSG);
}

static void test_secret(void)
{
	char dir[] = "/tmp/proto_test.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char state[64];
	snprintf(state, sizeof(state), "%s/state", dir);
	setenv("SPLITCKPT_STATE_DIR", state, 1);
	unsetenv("SPLITCKPT_SECRET");
	char a[SECRET_HEX_LEN + 1], b[SECRET_HEX_LEN + 1], c[SECRET_HEX_LEN + 1];
	CHECK(secret_generate(a) == 0 && secret_generate(b) == 0);
	CHECK(secret_is_valid(a) && strcmp(a, b) != 0);
	CHECK(secret_equal(a, a) && !secret_equal(a, b) && !secret_equal(a, "short"));
	CHECK(secret_load(4242, c) == -ENOENT);
	CHECK(secret_write(4242, a) == 0);
	struct stat st;
	char path[256];
	CHECK(secret_path(4242, path, sizeof(path)) == 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(stat(state, &st) == 0 && (st.st_mode & 0777) == 0700);
	CHECK(secret_load(4242, c) == 0 && secret_equal(a, c));
	setenv("SPLITCKPT_SECRET", b, 1);
	CHECK(secret_load(4242, c) == 0 && secret_equal(b, c));
	setenv("SPLITCKPT_SECRET", "nothex", 1);
	CHECK(secret_load(4242, c) == -EINVAL);
	unsetenv("SPLITCKPT_SECRET");
	chmod(path, 0644);
	CHECK(secret_load(4242, c) == -EPERM); /* readable by others: refused */
	chmod(path, 0600);
	CHECK(secret_remove(4242, b) == 0 && access(path, F_OK) == 0); /* not ours: kept */
	CHECK(secret_remove(4242, a) == 0 && access(path, F_OK) != 0);
	rmdir(state);
	rmdir(dir);
}

/* MSG_MPI decodes into a scratch struct that is freed at once (check_exact decodes often). */
static int dec_mpi_free(const struct proto_msg *m, void *o)
{
	struct proto_mpi *t = o;
	int rc = proto_dec_mpi(m, t);
	if (rc == 0)
		proto_mpi_free(t);
	return rc;
}

static void test_mpi(void)
{
	static struct proto_mpi m2; /* big: not on the stack */
	struct proto_buf b;
	struct lh_mpi_comm_seq seqs[3] = {{1, 7, 0}, {0xdeadbeefcafeULL, 3, 4}, {42, 0, 1}};
	struct lh_mpi_comm_target tg[2] = {{1, 9}, {42, 1}};

	proto_enc_mpi_register(&b, 3, 4, 1, "mpiexec", "PMI_RANK=3");
	check_exact(&b, dec_mpi_free, &m2);
	struct proto_msg m = as_msg(&b);
	CHECK(proto_dec_mpi(&m, &m2) == 0 && m2.kind == MPI_MSG_REGISTER && m2.rank == 3 &&
	      m2.size == 4 && m2.level == 1 && !strcmp(m2.launcher, "mpiexec") &&
	      !strcmp(m2.text, "PMI_RANK=3"));
	proto_mpi_free(&m2);
	proto_buf_free(&b);

	proto_enc_mpi_report(&b, 2, LH_MPI_REPORT_QUIET, 3, seqs);
	check_exact(&b, dec_mpi_free, &m2);
	m = as_msg(&b);
	CHECK(proto_dec_mpi(&m, &m2) == 0 && m2.kind == MPI_MSG_REPORT && m2.round == 2 &&
	      m2.flags == LH_MPI_REPORT_QUIET && m2.n == 3 && m2.seqs &&
	      !memcmp(m2.seqs, seqs, sizeof(seqs)));
	proto_mpi_free(&m2);
	proto_buf_free(&b);

	proto_enc_mpi_targets(&b, 3, 1, 2, tg);
	check_exact(&b, dec_mpi_free, &m2);
	m = as_msg(&b);
	CHECK(proto_dec_mpi(&m, &m2) == 0 && m2.kind == MPI_MSG_TARGETS && m2.round == 3 &&
	      m2.flags == 1 && m2.n == 2 && m2.targets && !memcmp(m2.targets, tg, sizeof(tg)));
	proto_mpi_free(&m2);
	proto_buf_free(&b);

	proto_enc_mpi_targets(&b, 1, 0, 0, NULL); /* no entries */
	m = as_msg(&b);
	CHECK(proto_dec_mpi(&m, &m2) == 0 && m2.n == 0 && !m2.targets);
	proto_buf_free(&b);

	proto_enc_mpi_error(&b, "rank 2 finalized");
	check_exact(&b, dec_mpi_free, &m2);
	proto_buf_free(&b);
	proto_enc_mpi_finalized(&b);
	check_exact(&b, dec_mpi_free, &m2);
	proto_buf_free(&b);

	/* Hostile counts: n beyond the limit, n beyond the bytes, an unknown kind. */
	uint32_t bad[][4] = {{MPI_MSG_REPORT, 1, 0, PROTO_MPI_MAX_ENTRIES + 1},
			     {MPI_MSG_TARGETS, 1, 0, 0xffffffffu},
			     {MPI_MSG_REPORT, 1, 0, 2},
			     {99, 0, 0, 0}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		proto_buf_init(&b, MSG_MPI);
		for (int k = 0; k < 4; k++)
			proto_put_u32(&b, bad[i][k]);
		if (i == 2) /* one entry of the two announced */
			for (int k = 0; k < 3; k++)
				proto_put_u64(&b, 5);
		m = as_msg(&b);
		CHECK(proto_dec_mpi(&m, &m2) == -EBADMSG && !m2.seqs && !m2.targets);
		proto_buf_free(&b);
	}
}

int main(void)
{
	test_mpi();
	test_messages();
	test_bounds();
	test_secret();
	if (failures) {
		printf("FAIL: %d checks failed\n", failures);
		return 1;
	}
	printf("PASS\n");
	return 0;
}
