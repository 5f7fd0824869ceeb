/*
 * wrap_drain.h - the drain of point-to-point messages at a checkpoint (docs/mpi-ckpt.md
 * section 1) and the delivery of what it received.
 *
 * The drain (wrap_drain_run, service thread, phase DRAIN) completes what it can of every
 * pending request, receives every message that reached this rank unmatched as MPI_BYTE into an
 * upper buffer queued per communicator in arrival order, receives the messages the
 * application matched with MPI_Mprobe/Improbe but did not receive yet, and reduces (sent -
 * recvd) over the job until it is 0: then nothing is in flight.
 *
 * Every receive entry point asks the queue first (wrap_drain_pending(): one load when it is
 * empty) and takes the first queued message of its communicator that matches (source, tag),
 * unpacked with its own datatype. Messages queued on one communicator keep MPI's order per
 * (source, tag), since the drain takes them in the order MPI matches them.
 */
#ifndef SPLITCKPT_WRAP_DRAIN_H
#define SPLITCKPT_WRAP_DRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "wrap.h"

/* One drained message: payload as bytes, from (source, tag) of virtual communicator comm. */
struct wrap_drain_msg {
	struct wrap_drain_msg *next;
	MPI_Comm comm; /* virtual (or predefined) */
	int source, tag;
	MPI_Count len;
	unsigned char data[];
};

/* Number of queued messages (all communicators); the receive fast path reads only this. */
extern uint64_t wrap_drain_queued WRAP_HIDDEN;
static inline __attribute__((always_inline)) int wrap_drain_pending(void)
{
	return __builtin_expect(__atomic_load_n(&wrap_drain_queued, __ATOMIC_RELAXED) != 0, 0);
}

/* Remove and return the first queued message of comm matching source/tag (MPI_ANY_SOURCE,
 * MPI_ANY_TAG allowed), or NULL. Thread-safe. The caller owns the message (free()). */
struct wrap_drain_msg *wrap_drain_take(MPI_Comm comm, int source, int tag) WRAP_HIDDEN;
/* Like take, without removing: fills st (unless MPI_STATUS_IGNORE) as MPI_Probe would; 1 if
 * one matched, else 0. */
int wrap_drain_peek(MPI_Comm comm, int source, int tag, MPI_Status *st) WRAP_HIDDEN;
/* Unpack message m into (buf, count, datatype) (virtual datatype, m->comm's lower
 * communicator) and fill st (source, tag, error, count in bytes) unless MPI_STATUS_IGNORE.
 * Returns MPI_SUCCESS, or MPI_ERR_TRUNCATE (what fits is unpacked; the communicator's error
 * handler is called as MPICH would) or the error of MPI_Unpack. Does not free m. */
int wrap_drain_unpack(const struct wrap_drain_msg *m, void *buf, MPI_Count count,
		      MPI_Datatype datatype, MPI_Status *st) WRAP_HIDDEN;
/* Status st for message m as a probe sees it (count in bytes). */
void wrap_drain_status(const struct wrap_drain_msg *m, MPI_Status *st) WRAP_HIDDEN;

/* The drain. Called by the service thread in phase DRAIN with every application thread out
 * of MPI, on every rank (collective over the private communicator). Returns 0, or -1 with a
 * reason in err (rank, what failed). Fills mailbox drained_msgs/drained_bytes. */
int wrap_drain_run(char *err, size_t errlen) WRAP_HIDDEN;

#endif
