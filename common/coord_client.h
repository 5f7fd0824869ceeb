/*
 * coord_client.h - the client end of the coordinator protocol (proto.h), used by dmtcp_command
 * and by the lower half's checkpoint thread. Plain libc + pthreads; no globals.
 *
 * One struct coord_conn per TCP connection. Thread safety: sends are serialised by a lock in
 * the conn and receives by another, so one thread may sit in coord_recv while others send
 * (e.g. a BARRIER). coord_conn_init/coord_close must not race with anything else on the conn.
 * Nothing here is async-signal-safe.
 *
 * Timeouts are in milliseconds: < 0 waits forever, 0 does not wait. A receive that times out
 * in the middle of a message keeps what it has read, so the next coord_recv continues it; a
 * send that times out in the middle of a message marks the conn broken (-EPIPE afterwards),
 * since the stream can no longer be framed.
 *
 * Every function returns 0 or -errno (errno is set as well). Errors worth knowing:
 *   -ECONNREFUSED  nobody listens at host:port        -ETIMEDOUT  the timeout expired
 *   -ENXIO         host name does not resolve         -ECONNRESET the coordinator closed
 *   -EPROTO/-EMSGSIZE/-EBADMSG  the coordinator sent something malformed (conn is broken)
 *   -EACCES        the coordinator answered MSG_ERROR (its text is in errbuf), e.g. bad secret
 */
#ifndef SPLITCKPT_COORD_CLIENT_H
#define SPLITCKPT_COORD_CLIENT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct coord_conn {
	int fd; /* -1 when closed */
	int broken;
	uint32_t send_seq;
	pthread_mutex_t send_lock;
	pthread_mutex_t recv_lock;
	/* partial receive state, kept across timeouts */
	uint8_t rhdr[PROTO_HDR_SIZE];
	size_t rhdr_got;
	struct proto_hdr rh;
	uint8_t *rpayload;
	size_t rpayload_got;
};

/* Make c an unconnected conn (fd = -1). Call once before anything else. */
void coord_conn_init(struct coord_conn *c);
/* Connect to host:port (IPv4; "localhost" and dotted addresses work), waiting at most
 * timeout_ms. The socket is close-on-exec, blocking (timeouts use poll), TCP_NODELAY. */
int coord_connect(struct coord_conn *c, const char *host, int port, int timeout_ms);
/* Close the socket and free the receive state; c can be connected again afterwards. */
void coord_close(struct coord_conn *c);
/* The socket, for callers that poll it themselves (readable = coord_recv will progress). */
int coord_conn_fd(const struct coord_conn *c);

/* Finish b (an encoded message, see proto.h) with the next seq and write it all. b is freed
 * in every case. */
int coord_send(struct coord_conn *c, struct proto_buf *b, int timeout_ms);
/* Send a message without payload (SUSPENDED, RESUMED, ...). */
int coord_send_empty(struct coord_conn *c, uint32_t type, int timeout_ms);

/* Receive the next whole message into msg (payload owned by msg: proto_msg_free it). Header
 * checks (magic, len <= PROTO_MAX_PAYLOAD, known type) happen before any allocation. */
int coord_recv(struct coord_conn *c, struct proto_msg *msg, int timeout_ms);

/* Convenience for the checkpoint thread. */
int coord_send_written(struct coord_conn *c, const struct proto_written *w, int timeout_ms);
int coord_send_barrier(struct coord_conn *c, const char *name, uint32_t count, int timeout_ms);

/* Send HELLO_WORKER and wait for WELCOME (into *welcome). -EACCES with the coordinator's text in
 * errbuf (may be NULL) if it refused, e.g. for a wrong secret. */
int coord_hello_worker(struct coord_conn *c, const struct proto_hello_worker *hello,
		       struct proto_welcome *welcome, char *errbuf, size_t errsz, int timeout_ms);
/* Same for a command client: HELLO_CMD with the secret, wait for WELCOME. */
int coord_hello_cmd(struct coord_conn *c, const char *secret, struct proto_welcome *welcome,
		    char *errbuf, size_t errsz, int timeout_ms);
/* Send CMD{op, arg}. The replies are read with coord_recv + proto_dec_cmd_reply. */
int coord_send_cmd(struct coord_conn *c, uint32_t op, uint32_t arg, int timeout_ms);

#endif
