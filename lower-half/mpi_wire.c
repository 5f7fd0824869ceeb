/*
 * mpi_wire.c - MSG_MPI between the checkpoint thread and the coordinator (docs/mpi-ckpt.md
 * section 3), through the encoders and the decoder of common/proto.h. The mailbox is upper
 * memory: counts read from it are bounded before use, and targets from the coordinator are
 * copied into it only after proto_dec_mpi has checked them.
 */
#define LOG_PREFIX "lh"
#include "mpi_ckpt.h"
#include "coord_client.h"
#include "log.h"

#include <errno.h>
#include <string.h>

#define SEND_MS 30000

static int send(struct coord_conn *c, struct proto_buf *b, const char *what)
{
	int rc = coord_send(c, b, SEND_MS);
	if (rc < 0)
		log_warn("cannot send %s to the coordinator: %s", what, strerror(-rc));
	return rc;
}

int lh_mpi_send_register(struct coord_conn *c, int rank, int size, int level,
			 const char *launcher, const char *info)
{
	struct proto_buf b;
	proto_enc_mpi_register(&b, (uint32_t)rank, (uint32_t)size, (uint32_t)level, launcher, info);
	return send(c, &b, "MPI_REGISTER");
}

int lh_mpi_send_report(struct coord_conn *c, const struct lh_mpi_mailbox *mb)
{
	uint32_t n = mb->n_report;
	if (n > LH_MPI_MAX_COMMS) {
		log_warn("MPI rank %d reported %u communicators; only %u are sent", mb->world_rank, n,
			 LH_MPI_MAX_COMMS);
		n = LH_MPI_MAX_COMMS;
	}
	struct proto_buf b;
	proto_enc_mpi_report(&b, mb->report_round, mb->report_flags, n, mb->report);
	return send(c, &b, "MPI_REPORT");
}

int lh_mpi_send_finalized(struct coord_conn *c)
{
	struct proto_buf b;
	proto_enc_mpi_finalized(&b);
	return send(c, &b, "MPI_FINALIZED");
}

int lh_mpi_send_error(struct coord_conn *c, const char *text)
{
	struct proto_buf b;
	proto_enc_mpi_error(&b, text);
	return send(c, &b, "MPI_ERROR");
}

int lh_mpi_recv_targets(const struct proto_msg *m, struct lh_mpi_mailbox *mb)
{
	if (m->hdr.type != MSG_MPI)
		return 1;
	struct proto_mpi d;
	memset(&d, 0, sizeof(d));
	if (proto_dec_mpi(m, &d) < 0)
		return -1;
	int rc = 1;
	if (d.kind == MPI_MSG_TARGETS) {
		if (d.n > LH_MPI_MAX_COMMS) {
			rc = -1;
		} else {
			if (d.n)
				memcpy(mb->targets, d.targets, d.n * sizeof(*d.targets));
			mb->n_targets = d.n;
			mb->round = d.round;
			mb->final = d.flags; /* 0, LH_MPI_FINAL_OUT, LH_MPI_FINAL_DRAIN */
			rc = 0;
		}
	} else {
		log_debug("MSG_MPI kind %u ignored by a worker", d.kind);
	}
	proto_mpi_free(&d);
	return rc;
}
