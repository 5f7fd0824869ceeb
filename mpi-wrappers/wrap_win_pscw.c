/*
 * wrap_win_pscw.c - MPI_Win_post and MPI_Win_start, so that an origin waiting for its
 * targets' posts can step out of MPI for a checkpoint.
 *
 * MPICH 4.0.2 (ch4) blocks inside MPI_Win_start until every target of the group has called
 * MPI_Win_post (measured: 0.32 s in Win_start for a target that posts 0.3 s late). A target
 * that reaches MPI_Win_post while a checkpoint drains waits at the door, so an origin inside
 * the lower Win_start would never come out and the checkpoint could never be taken. So:
 *   - MPI_Win_post: the lower Win_post, then one empty message to each origin of the group
 *     (its world rank) on the private communicator (wrap_ckpt.c; tag WRAP_PSCW_TAG), the
 *     window's gid (the same on every member, wrap_seq.c) as its 8 bytes of payload;
 *   - MPI_Win_start: first wait for such a message from every target of the group in a loop
 *     of lower Improbe/Mrecv calls that steps out of the lower half at a checkpoint
 *     (wrap_door_must_step_out) and looks the private communicator up again afterwards (a
 *     restart makes it again); then the lower Win_start, which returns at once: the targets'
 *     posts were sent before their messages.
 * A message for another window (or another thread's Win_start) goes into a list that every
 * waiter looks at first (one mutex), so the waits of several windows never take each other's
 * messages. MPI_MODE_NOCHECK (on both sides, as MPI requires) skips the messages, and so
 * does a process without the private communicator (MPI checkpointing not set up: no lower
 * half's mailbox, every rank alike).
 *
 * Checkpoints: while an origin waits here, no target of its group has posted (a posted target
 * has its exposure epoch open, which refuses the checkpoint: wrap_vh_win_checkpoint), so a
 * checkpoint that is taken has no such message in flight, and the private communicator is
 * neither drained nor counted. Cost: one 8-byte message per (target, origin) and epoch
 * (2 ranks, an epoch with one Put: 1.21-1.30 us before, 1.46-1.60 us after, native
 * 0.83-1.15 us, three interleaved runs of 5 x 20000 epochs).
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "wrap.h"
#include "wrap_door.h"

#define WRAP_PSCW_TAG 7714

/* Messages received by one waiter for another (source world rank, window gid). */
struct posted {
	int source;
	uint64_t gid;
	struct posted *next;
};
static struct posted *early;
static pthread_mutex_t early_lock = PTHREAD_MUTEX_INITIALIZER;

/* The same name for a window on every member: its gid (a size-1 window: its handle). */
static uint64_t win_key(MPI_Win win)
{
	uint64_t g = wrap_seq_of_win(win)->gid;
	return g ? g : (1ull << 63) | (uint32_t)win;
}

/* World ranks of a virtual group's members (malloc'd; *n = 0 and NULL for an empty group or
 * no memory: *err then says which). */
static int *group_world(MPI_Group group, int *n, int *err)
{
	const int *w;
	int *out = NULL;
	*err = MPI_SUCCESS;
	wrap_vh_lock();
	w = wrap_vh_group_ranks(group, n);
	if (w && *n > 0 && (out = malloc(sizeof(int) * (size_t)*n)))
		memcpy(out, w, sizeof(int) * (size_t)*n);
	else if (w && *n > 0)
		*err = MPI_ERR_NO_MEM;
	else
		*n = 0;
	wrap_vh_unlock();
	return out;
}

static int tell_origins(MPI_Group group, MPI_Win win)
{
	int n, r;
	int *ranks = group_world(group, &n, &r);
	uint64_t key = win_key(win);
	for (int i = 0; i < n && r == MPI_SUCCESS; i++)
		WRAP_DOWN(r, MPI_Send, &key, 8, MPI_BYTE, ranks[i], WRAP_PSCW_TAG,
			  wrap_ckpt_private_comm());
	free(ranks);
	return r;
}

/* Take one message of (source, key) from the list; 1 if there was one. */
static int take_early(int source, uint64_t key)
{
	int got = 0;
	pthread_mutex_lock(&early_lock);
	for (struct posted **p = &early; *p; p = &(*p)->next)
		if ((*p)->source == source && (*p)->gid == key) {
			struct posted *x = *p;
			*p = x->next;
			free(x);
			got = 1;
			break;
		}
	pthread_mutex_unlock(&early_lock);
	return got;
}

/* Receive one waiting message, if any: 1 and (*source, *key) when there was one. */
static int receive_one(int *source, uint64_t *key, int *err)
{
	int r, flag = 0;
	MPI_Message m = MPI_MESSAGE_NULL;
	MPI_Status st;
	MPI_Comm pc = wrap_ckpt_private_comm();
	WRAP_DOWN(r, MPI_Improbe, MPI_ANY_SOURCE, WRAP_PSCW_TAG, pc, &flag, &m, &st);
	if (r == MPI_SUCCESS && flag)
		WRAP_DOWN(r, MPI_Mrecv, key, 8, MPI_BYTE, &m, &st);
	*err = r;
	if (r != MPI_SUCCESS || !flag)
		return 0;
	*source = st.MPI_SOURCE;
	return 1;
}

/* Wait until every target of the group has posted on this window; steps out of the lower
 * half at a checkpoint. */
static int wait_posts(MPI_Group group, MPI_Win win)
{
	int n, r, left;
	int *ranks = group_world(group, &n, &r);
	uint64_t key = win_key(win);
	left = n;
	for (unsigned spin = 1; left > 0 && r == MPI_SUCCESS; spin++) {
		for (int i = 0; i < n; i++)
			if (ranks[i] >= 0 && take_early(ranks[i], key)) {
				ranks[i] = -1;
				left--;
			}
		int source;
		uint64_t k;
		while (left > 0 && receive_one(&source, &k, &r)) {
			int i = 0;
			while (i < n && !(k == key && ranks[i] == source))
				i++;
			if (i < n) {
				ranks[i] = -1;
				left--;
				continue;
			}
			struct posted *x = malloc(sizeof(*x)); /* another wait's message */
			if (!x) {
				r = MPI_ERR_NO_MEM;
				break;
			}
			*x = (struct posted){source, k, NULL};
			pthread_mutex_lock(&early_lock);
			x->next = early;
			early = x;
			pthread_mutex_unlock(&early_lock);
		}
		if (left == 0 || r != MPI_SUCCESS)
			break;
		if (wrap_door_must_step_out())
			wrap_door_step_out();
		else if ((spin & 1023) == 0)
			sched_yield();
	}
	free(ranks);
	return r;
}

WRAP_EXPORT int PMPI_Win_post(MPI_Group group, int assertion, MPI_Win win)
{
	wrap_door_t d_ = wrap_door_enter(WRAP_DOOR_P2P, 0);
	int r, lg = wrap_group_to_lower(group);
	MPI_Win lw = wrap_win_to_lower(win);
	WRAP_DOWN(r, MPI_Win_post, lg, assertion, lw);
	wrap_vh_win_pscw(r, win, WRAP_VH_WIN_POST, 0);
	if (r == MPI_SUCCESS && !(assertion & MPI_MODE_NOCHECK) &&
	    wrap_ckpt_private_comm() != MPI_COMM_NULL)
		r = tell_origins(group, win);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Win_post, MPI_Win_post)

WRAP_EXPORT int PMPI_Win_start(MPI_Group group, int assertion, MPI_Win win)
{
	wrap_door_t d_ = wrap_door_enter(WRAP_DOOR_P2P, 0);
	int r = MPI_SUCCESS;
	if (!(assertion & MPI_MODE_NOCHECK) && wrap_ckpt_private_comm() != MPI_COMM_NULL)
		r = wait_posts(group, win);
	if (r == MPI_SUCCESS) {
		int lg = wrap_group_to_lower(group); /* after a restart: the new lower handles */
		MPI_Win lw = wrap_win_to_lower(win);
		wrap_ckpt_inside_add(WRAP_IDX_MPI_Win_start, 1);
		WRAP_DOWN(r, MPI_Win_start, lg, assertion, lw);
		wrap_ckpt_inside_add(WRAP_IDX_MPI_Win_start, -1);
	}
	wrap_vh_win_pscw(r, win, WRAP_VH_WIN_START, 0);
	wrap_door_leave(d_);
	return r;
}
WRAP_ALIAS(PMPI_Win_start, MPI_Win_start)
