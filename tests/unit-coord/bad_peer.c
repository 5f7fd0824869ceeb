/*
 * bad_peer.c - TEST PEER ONLY: connects to a coordinator and sends something hostile, then
 * checks that the coordinator answers MSG_ERROR (where it can) and closes the connection.
 *
 *   bad_peer PORT MODE [SECONDS]
 *   MODE: garbage | bad-magic | oversize | unknown-type | wrong-secret | short-hello |
 *         long-hello | cmd-first | worker-msg-from-cmd | partial
 * "partial" sends half a header and holds the connection SECONDS (default 2) without closing:
 * the coordinator must keep serving others meanwhile. Exit 0 = PASS, 1 = FAIL.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coord_client.h"
#include "secret.h"

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static void hdr(uint8_t *p, uint32_t magic, uint32_t type, uint32_t len)
{
	put32(p, magic);
	put32(p + 4, type);
	put32(p + 8, len);
	put32(p + 12, 1);
}

/* Wait up to 5 s: 0 if the coordinator closed (after an optional ERROR), -1 otherwise. */
static int expect_close(int fd, int want_error)
{
	uint8_t buf[8192];
	size_t got = 0;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 5000) <= 0) {
			printf("FAIL: connection still open after 5 s\n");
			return -1;
		}
		ssize_t n = recv(fd, buf + got, sizeof(buf) - got, 0);
		if (n < 0 && errno == ECONNRESET)
			n = 0;
		if (n < 0) {
			printf("FAIL: recv: %s\n", strerror(errno));
			return -1;
		}
		if (n == 0)
			break;
		got += n;
		if (got == sizeof(buf)) {
			printf("FAIL: too much data\n");
			return -1;
		}
	}
	struct proto_hdr h;
	if (got >= PROTO_HDR_SIZE) {
		proto_hdr_decode(buf, &h);
		if (h.type == MSG_ERROR && got >= PROTO_HDR_SIZE + 4)
			printf("coordinator said: %.*s\n", (int)(got - PROTO_HDR_SIZE - 4),
			       (char *)buf + PROTO_HDR_SIZE + 4);
	}
	if (want_error && (got < PROTO_HDR_SIZE || h.type != MSG_ERROR)) {
		printf("FAIL: closed without an ERROR message (%zu bytes)\n", got);
		return -1;
	}
	printf("PASS: connection closed\n");
	return 0;
}

static int send_all(int fd, const void *p, size_t n)
{
	return send(fd, p, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

/* A HELLO_WORKER with a valid layout, the given secret, plus `extra` trailing bytes, or cut by
 * `cut` bytes. */
static int send_hello(int fd, const char *secret, int extra, int cut)
{
	static struct proto_hello_worker h;
	snprintf(h.secret, sizeof(h.secret), "%s", secret);
	h.vpid = 7;
	snprintf(h.progname, sizeof(h.progname), "bad_peer");
	snprintf(h.hostname, sizeof(h.hostname), "nowhere");
	struct proto_buf b;
	proto_enc_hello_worker(&b, &h);
	for (int i = 0; i < extra; i++)
		proto_put_u32(&b, 0xdeadbeef);
	if (proto_buf_finish(&b, 1) < 0)
		return -1;
	size_t len = b.len - cut;
	put32(b.data + 8, (uint32_t)(len - PROTO_HDR_SIZE));
	int rc = send_all(fd, b.data, len);
	proto_buf_free(&b);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: bad_peer PORT MODE [SECONDS]\n");
		return 1;
	}
	int port = atoi(argv[1]);
	const char *mode = argv[2];
	struct coord_conn c;
	coord_conn_init(&c);
	if (coord_connect(&c, "127.0.0.1", port, 5000) < 0) {
		printf("FAIL: connect: %s\n", strerror(errno));
		return 1;
	}
	int fd = coord_conn_fd(&c);
	uint8_t m[64];
	int rc = 0, want_error = 1;
	char secret[SECRET_HEX_LEN + 1] = "";
	secret_load(port, secret);
	if (!strcmp(mode, "garbage")) {
		const char g[] = "GET / HTTP/1.0\r\nHost: x\r\n\r\n and some more garbage bytes";
		rc = send_all(fd, g, sizeof(g));
	} else if (!strcmp(mode, "bad-magic")) {
		hdr(m, 0x53430002, MSG_HELLO_CMD, 0);
		rc = send_all(fd, m, PROTO_HDR_SIZE);
	} else if (!strcmp(mode, "oversize")) {
		hdr(m, PROTO_MAGIC_VER, MSG_HELLO_WORKER, 0xfffffff0u);
		rc = send_all(fd, m, PROTO_HDR_SIZE);
	} else if (!strcmp(mode, "unknown-type")) {
		hdr(m, PROTO_MAGIC_VER, 999, 0);
		rc = send_all(fd, m, PROTO_HDR_SIZE);
	} else if (!strcmp(mode, "wrong-secret")) {
		rc = send_hello(
		    fd, "00000000000000000000000000000000000000000000000000000000000000ff", 0, 0);
	} else if (!strcmp(mode, "short-hello")) {
		rc = send_hello(fd, secret, 0, 6); /* declared len cuts the last field */
	} else if (!strcmp(mode, "long-hello")) {
		rc = send_hello(fd, secret, 1, 0); /* 4 bytes too many */
	} else if (!strcmp(mode, "cmd-first")) {
		hdr(m, PROTO_MAGIC_VER, MSG_CMD, 8);
		put32(m + 16, CMD_QUIT);
		put32(m + 20, 0);
		rc = send_all(fd, m, 24);
	} else if (!strcmp(mode, "worker-msg-from-cmd")) {
		struct proto_welcome w;
		char err[256];
		if (coord_hello_cmd(&c, secret, &w, err, sizeof(err), 5000) < 0) {
			printf("FAIL: hello: %s\n", err);
			return 1;
		}
		hdr(m, PROTO_MAGIC_VER, MSG_SUSPENDED, 0);
		rc = send_all(fd, m, PROTO_HDR_SIZE);
	} else if (!strcmp(mode, "partial")) {
		hdr(m, PROTO_MAGIC_VER, MSG_HELLO_CMD, 68);
		rc = send_all(fd, m, 8);
		sleep(argc > 3 ? atoi(argv[3]) : 2);
		printf("PASS: held a partial message\n");
		coord_close(&c);
		return 0;
	} else {
		fprintf(stderr, "bad_peer: unknown mode %s\n", mode);
		return 1;
	}
	if (rc < 0) {
		printf("FAIL: send: %s\n", strerror(errno));
		return 1;
	}
	rc = expect_close(fd, want_error);
	coord_close(&c);
	return rc < 0 ? 1 : 0;
}
