/*
 * tp_threads.c - threaded checkpoint test: 4 pthreads with mutexes, condition variables and
 * __thread variables.
 *
 * Usage: tp_threads [seconds (10)]
 * The threads pass a turn around a ring (mutex + condvar; each checks the invariant a == b
 * of the shared pair it updates) and hammer a second mutex-protected counter. Each keeps its
 * own count and hash in __thread variables. After the work every thread checks that
 * pthread_self(), gettid() and getpid() are what they were at the start and that its TLS
 * holds the expected values; main checks the shared totals. ANSWER depends only on the
 * arguments.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tp.h"

#define NTHREADS 4
#define HAMMER 1000

static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ring_cv = PTHREAD_COND_INITIALIZER;
static int turn;
static uint64_t pair_a, pair_b;
static pthread_mutex_t hammer_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t hammered;
static pthread_barrier_t start_barrier;
static long rounds;

static __thread uint64_t my_count, my_hash = 17;
static __thread int my_index = -1;

static const char *results[NTHREADS];
static uint64_t hashes[NTHREADS];

static pid_t get_tid(void) { return (pid_t)syscall(SYS_gettid); }

static uint64_t expected_hash(int idx)
{
	uint64_t h = 17;
	for (long r = 0; r < rounds; r++)
		h = tp_mix(h ^ (uint64_t)(r * NTHREADS + idx));
	return h;
}

static void *worker(void *arg)
{
	int idx = (int)(intptr_t)arg;
	pthread_t self = pthread_self();
	pid_t tid = get_tid(), pid = getpid();
	my_index = idx;
	const char *fail = NULL;
	pthread_barrier_wait(&start_barrier);
	for (long r = 0; r < rounds && !fail; r++) {
		pthread_mutex_lock(&ring_lock);
		while (turn != idx)
			pthread_cond_wait(&ring_cv, &ring_lock);
		if (pair_a != pair_b)
			fail = tp_fmt("thread %d: invariant a == b broken in round %ld", idx, r);
		pair_a += idx + 1;
		pair_b += idx + 1;
		my_count++;
		my_hash = tp_mix(my_hash ^ (uint64_t)(r * NTHREADS + idx));
		turn = (idx + 1) % NTHREADS;
		pthread_cond_broadcast(&ring_cv);
		pthread_mutex_unlock(&ring_lock);
		for (int k = 0; k < HAMMER; k++) {
			pthread_mutex_lock(&hammer_lock);
			hammered++;
			pthread_mutex_unlock(&hammer_lock);
		}
		tp_pace(r + 1, rounds);
	}
	if (fail) {
		/* let the others finish their rounds */
		pthread_mutex_lock(&ring_lock);
		results[idx] = fail;
		pthread_mutex_unlock(&ring_lock);
		return NULL;
	}
	if (!pthread_equal(self, pthread_self()))
		fail = tp_fmt("thread %d: pthread_self() changed", idx);
	else if (tid != get_tid())
		fail = tp_fmt("thread %d: gettid() changed from %d to %d", idx, (int)tid,
			      (int)get_tid());
	else if (pid != getpid())
		fail = tp_fmt("thread %d: getpid() changed from %d to %d", idx, (int)pid,
			      (int)getpid());
	else if (my_index != idx || my_count != (uint64_t)rounds)
		fail = tp_fmt("thread %d: __thread values wrong (index %d, count %llu)", idx,
			      my_index, (unsigned long long)my_count);
	else if (my_hash != expected_hash(idx))
		fail = tp_fmt("thread %d: __thread hash wrong", idx);
	hashes[idx] = my_hash;
	pthread_mutex_lock(&ring_lock);
	results[idx] = fail ? strdup(fail) : NULL;
	pthread_mutex_unlock(&ring_lock);
	return NULL;
}

int main(int argc, char **argv)
{
	tp_init();
	rounds = tp_steps(argc, argv, 1, 10);
	pthread_t main_self = pthread_self();
	pid_t main_tid = get_tid(), pid = getpid();
	pthread_barrier_init(&start_barrier, NULL, NTHREADS + 1);
	pthread_t th[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		if (pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i)) {
			perror("tp_threads: pthread_create");
			return 2;
		}
	}
	pthread_barrier_wait(&start_barrier);
	tp_ready();
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	const char *fail = NULL;
	for (int i = 0; i < NTHREADS && !fail; i++)
		fail = results[i];
	uint64_t want_pair = (uint64_t)rounds * (NTHREADS * (NTHREADS + 1) / 2);
	if (!fail && (pair_a != want_pair || pair_b != want_pair))
		fail = "shared pair has the wrong total";
	if (!fail && hammered != (uint64_t)rounds * NTHREADS * HAMMER)
		fail = "mutex-protected counter lost increments";
	if (!fail &&
	    (!pthread_equal(main_self, pthread_self()) || main_tid != get_tid() || pid != getpid()))
		fail = "main thread ids changed";
	uint64_t h = 0;
	for (int i = 0; i < NTHREADS; i++)
		h ^= hashes[i];
	printf("ANSWER: %llu %llu %016llx\n", (unsigned long long)pair_a,
	       (unsigned long long)hammered, (unsigned long long)h);
	return tp_verdict(fail);
}
