/*
 * rb_usr2.c - a program that uses SIGUSR2 itself, for `dmtcp_launch --ckpt-signal 10`.
 *
 * Usage: rb_usr2 [seconds (10)] [handlers|masks (handlers)]
 * State: a SIGUSR2 handler that counts per thread (installed with SA_RESTART and SIGINT in its
 * mask, so that flags and mask are checked too) and a second thread that sleeps with SIGUSR2
 * unblocked. Every step the main thread
 *   - raise(SIGUSR2): the handler must have run on the main thread when raise returns;
 *   - pthread_kill(thread, SIGUSR2): the handler must run on that thread (waited for);
 *   - and checks that the disposition is still its own handler with its flags and mask.
 * "masks" adds the signal mask: a third thread keeps SIGUSR2 blocked and takes it with
 * sigwaitinfo (the main thread sends it one per step), and every step the main thread blocks
 * SIGUSR2, raises it, checks it is pending and not handled, and unblocks it (the handler must
 * run then). ANSWER holds the counts, which depend only on the arguments.
 * The checkpoint signal (SIGUSR1 here) is never touched.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "tp.h"

static pthread_t main_thread;
static atomic_long handled_main, handled_thread, waited;

static void on_usr2(int sig)
{
	(void)sig;
	if (pthread_equal(pthread_self(), main_thread))
		atomic_fetch_add(&handled_main, 1);
	else
		atomic_fetch_add(&handled_thread, 1);
}

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;)
		tp_sleep_ms(1000);
	return NULL;
}

static void *waiter(void *arg)
{
	(void)arg;
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR2);
	for (;;) {
		siginfo_t si;
		if (sigwaitinfo(&s, &si) == SIGUSR2)
			atomic_fetch_add(&waited, 1);
	}
	return NULL;
}

static const char *check_disposition(void)
{
	struct sigaction sa;
	if (sigaction(SIGUSR2, NULL, &sa) < 0)
		return "sigaction(SIGUSR2) query failed";
	if (sa.sa_handler != on_usr2)
		return "the SIGUSR2 handler is no longer ours";
	if (!(sa.sa_flags & SA_RESTART))
		return "SA_RESTART was lost from the SIGUSR2 disposition";
	if (!sigismember(&sa.sa_mask, SIGINT))
		return "the SIGUSR2 handler's mask lost SIGINT";
	return NULL;
}

/* Waits up to 5 s until *c reaches want. */
static int wait_count(atomic_long *c, long want)
{
	for (int i = 0; i < 5000 && atomic_load(c) < want; i++)
		tp_sleep_ms(1);
	return atomic_load(c) == want;
}

/* One step of "masks": block, raise, pending, unblock; then one signal for the waiter. */
static const char *mask_step(long s, pthread_t w, long *exp_main, long *exp_waited)
{
	sigset_t usr2, pend;
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &usr2, NULL);
	raise(SIGUSR2);
	sigpending(&pend);
	int pending = sigismember(&pend, SIGUSR2);
	long h = atomic_load(&handled_main);
	pthread_sigmask(SIG_UNBLOCK, &usr2, NULL);
	if (!pending || h != *exp_main)
		return tp_fmt("step %ld: SIGUSR2 raised while blocked was %s (handler runs %ld, "
			      "expected %ld)",
			      s, pending ? "pending" : "not pending", h, *exp_main);
	if (atomic_load(&handled_main) != ++*exp_main)
		return tp_fmt("step %ld: unblocking SIGUSR2 did not run the handler", s);
	pthread_kill(w, SIGUSR2);
	if (!wait_count(&waited, ++*exp_waited))
		return tp_fmt("step %ld: sigwaitinfo took %ld SIGUSR2, expected %ld", s,
			      atomic_load(&waited), *exp_waited);
	return NULL;
}

int main(int argc, char **argv)
{
	tp_init();
	long steps = tp_steps(argc, argv, 1, 10);
	int masks = argc > 2 && strcmp(argv[2], "masks") == 0;
	if (argc > 2 && !masks && strcmp(argv[2], "handlers") != 0) {
		fprintf(stderr, "usage: rb_usr2 [seconds] [handlers|masks]\n");
		return 2;
	}
	main_thread = pthread_self();
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr2;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGINT);
	if (sigaction(SIGUSR2, &sa, NULL) < 0) {
		perror("rb_usr2: sigaction");
		return 2;
	}
	pthread_t h, w;
	if (pthread_create(&h, NULL, sleeper, NULL) != 0) {
		fprintf(stderr, "rb_usr2: pthread_create failed\n");
		return 2;
	}
	if (masks) { /* the waiter inherits a mask with SIGUSR2 blocked */
		sigset_t usr2;
		sigemptyset(&usr2);
		sigaddset(&usr2, SIGUSR2);
		pthread_sigmask(SIG_BLOCK, &usr2, NULL);
		if (pthread_create(&w, NULL, waiter, NULL) != 0) {
			fprintf(stderr, "rb_usr2: pthread_create failed\n");
			return 2;
		}
		pthread_sigmask(SIG_UNBLOCK, &usr2, NULL);
	}
	printf("rb_usr2: %ld steps, %s\n", steps, masks ? "handlers and masks" : "handlers");
	tp_ready();

	const char *fail = NULL;
	long exp_main = 0, exp_thread = 0, exp_waited = 0;
	for (long s = 1; s <= steps && !fail; s++) {
		raise(SIGUSR2);
		if (atomic_load(&handled_main) != ++exp_main) {
			fail = tp_fmt("step %ld: raise(SIGUSR2) ran the handler %ld times, expected %ld",
				      s, atomic_load(&handled_main), exp_main);
			break;
		}
		pthread_kill(h, SIGUSR2);
		if (!wait_count(&handled_thread, ++exp_thread)) {
			fail = tp_fmt("step %ld: the handler ran %ld times on the other thread, "
				      "expected %ld",
				      s, atomic_load(&handled_thread), exp_thread);
			break;
		}
		if (masks && (fail = mask_step(s, w, &exp_main, &exp_waited)))
			break;
		fail = check_disposition();
		tp_pace(s, steps);
	}
	printf("ANSWER: main %ld thread %ld waited %ld steps %ld\n", atomic_load(&handled_main),
	       atomic_load(&handled_thread), atomic_load(&waited), steps);
	return tp_verdict(fail);
}
