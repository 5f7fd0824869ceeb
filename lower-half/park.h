/*
 * park.h - stopping and restarting the application's threads for a checkpoint (park.c).
 */
#ifndef LH_PARK_H
#define LH_PARK_H

/* Threads of the lower half (never parked). */
void park_add_lower_tid(int tid);
void park_remove_lower_tid(int tid);
/* In a forked child: the parent's lower threads do not exist here. */
void park_reset_lower_tids(void);
/* Parks every application thread; on return lh.slots[0..nslots) with state 2 hold their
 * contexts. 0 or -errno. */
int park_all(void);
/* Number of parked threads. */
int park_count(void);
/* Lets every parked thread run again. */
void unpark_all(void);

#endif
