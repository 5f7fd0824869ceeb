/*
 * ft_mem.c - the program behind the fault-injection tests (tests/e2e-faults/faults.sh).
 *
 * Usage: ft_mem <MiB> <seconds> [grow MiB]
 *
 * State: an mmap'ed buffer of MiB (zero, compressible and random pages in a fixed mix, like
 * tests/progs/tp_memory), a static array, a stack array and a malloc'ed list. Every 100 ms step
 * rewrites some words at pseudo-random places and keeps the expected sums up to date. It follows
 * the protocol of tests/progs/tp.h (READY, ANSWER, PASS/FAIL) and adds, for the fault tests:
 *
 *   CHECK <step> <sums>  every 5 steps: the expected sums at that step. They depend only on
 *                        the step, so every CHECK line of a restarted run must also be in an
 *                        uninterrupted run's output. Without ft_hurry, a CHECK line is printed
 *                        only after the whole memory was summed again and matched; so a CHECK
 *                        line that appears after a restart proves the restored state.
 *   ft_hurry (a file in the cwd)  no more sleeping, and memory is summed only every 100 steps
 *                        (and at the end): lets a test finish a long run quickly. The ANSWER
 *                        does not depend on timing.
 *   ft_grow (a file in the cwd)   allocate [grow MiB] more of incompressible data once
 *                        (prints "GREW <MiB>"); it is verified with the rest but is not part
 *                        of ANSWER, so a run that grew and one that did not agree.
 * A mismatch ends the run with FAIL at once. Exit 0 PASS, 1 FAIL, 2 usage.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tp.h"

#define STATIC_WORDS 8192
#define STACK_WORDS 2048
#define LIST_LEN 1000
#define WRITES_PER_STEP 64
#define CHECK_EVERY 5
#define HURRY_VERIFY_EVERY 100

static uint64_t static_data[STATIC_WORDS];

struct node {
	struct node *next;
	uint64_t key, val;
};

struct grow {
	uint64_t *buf;
	size_t nwords;
	uint64_t sum;
};

static uint64_t sum_words(const uint64_t *w, size_t n)
{
	uint64_t s = 0;
	for (size_t i = 0; i < n; i++)
		s += w[i] * (i | 1);
	return s;
}

static void fill_page(uint64_t *w, size_t page)
{
	unsigned kind = tp_mix(page) % 4;
	for (size_t i = 0; i < 512; i++)
		w[i] = kind == 0 ? 0 : kind == 1 ? page : tp_mix(page * 512 + i);
}

static uint64_t list_sum(const struct node *n, size_t *len)
{
	uint64_t s = 0;
	*len = 0;
	for (; n; n = n->next, (*len)++)
		s += n->key * 31 + n->val;
	return s;
}

/* Replace the node with the given key by a new one with a new value; returns the delta. */
static uint64_t list_replace(struct node **head, uint64_t key, uint64_t val)
{
	for (struct node **p = head; *p; p = &(*p)->next) {
		if ((*p)->key != key)
			continue;
		struct node *old = *p, *nw = malloc(sizeof(*nw));
		if (!nw)
			return 0;
		uint64_t delta = val - old->val;
		*nw = (struct node){old->next, key, val};
		*p = nw;
		free(old);
		return delta;
	}
	return 0;
}

static void *map_words(size_t nwords)
{
	void *p = mmap(NULL, nwords * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* Allocate and fill the incompressible extra memory. 0 or -1. */
static int grow_now(struct grow *g, long mib)
{
	g->nwords = (size_t)mib << 17;
	g->buf = map_words(g->nwords);
	if (!g->buf)
		return -1;
	for (size_t i = 0; i < g->nwords; i++)
		g->buf[i] = tp_mix(i ^ 0x5eedULL);
	g->sum = sum_words(g->buf, g->nwords);
	printf("GREW %ld\n", mib);
	return 0;
}

int main(int argc, char **argv)
{
	tp_init();
	if (argc < 3) {
		fprintf(stderr, "usage: ft_mem <MiB> <seconds> [grow MiB]\n");
		return 2;
	}
	long mib = atol(argv[1]), grow_mib = argc > 3 ? atol(argv[3]) : 0;
	if (mib < 1 || mib > 65536 || grow_mib < 0 || grow_mib > 65536) {
		fprintf(stderr, "ft_mem: bad size (MiB)\n");
		return 2;
	}
	long steps = tp_steps(argc, argv, 2, 10);
	size_t nwords = (size_t)mib << 17, npages = nwords / 512;
	uint64_t *buf = map_words(nwords);
	if (!buf) {
		perror("ft_mem: mmap");
		return 2;
	}
	uint64_t stack_data[STACK_WORDS];
	for (size_t p = 0; p < npages; p++)
		fill_page(buf + p * 512, p);
	for (size_t i = 0; i < STATIC_WORDS; i++)
		static_data[i] = tp_mix(i + 7777);
	for (size_t i = 0; i < STACK_WORDS; i++)
		stack_data[i] = tp_mix(i + 9999);
	struct node *head = NULL;
	for (uint64_t k = 0; k < LIST_LEN; k++) {
		struct node *n = malloc(sizeof(*n));
		if (!n)
			return 2;
		*n = (struct node){head, k, tp_mix(k)};
		head = n;
	}
	uint64_t exp_buf = sum_words(buf, nwords);
	uint64_t exp_static = sum_words(static_data, STATIC_WORDS);
	uint64_t exp_stack = sum_words(stack_data, STACK_WORDS);
	size_t len;
	uint64_t exp_list = list_sum(head, &len);
	struct grow g = {0};
	printf("ft_mem: %ld MiB, %ld steps, grow %ld MiB on ft_grow\n", mib, steps, grow_mib);
	tp_ready();

	const char *fail = NULL;
	for (long s = 1; s <= steps && !fail; s++) {
		int hurry = access("ft_hurry", F_OK) == 0;
		if (grow_mib && !g.buf && access("ft_grow", F_OK) == 0 && grow_now(&g, grow_mib)) {
			fail = "cannot allocate the memory to grow";
			break;
		}
		for (int k = 0; k < WRITES_PER_STEP; k++) {
			uint64_t r = tp_mix((uint64_t)s * WRITES_PER_STEP + k);
			size_t i = r % nwords;
			uint64_t v = tp_mix(r);
			exp_buf += (v - buf[i]) * (i | 1);
			buf[i] = v;
			size_t j = r % STATIC_WORDS;
			exp_static += (v - static_data[j]) * (j | 1);
			static_data[j] = v;
			size_t t = (r >> 20) % STACK_WORDS;
			exp_stack += (v - stack_data[t]) * (t | 1);
			stack_data[t] = v;
			exp_list += list_replace(&head, r % LIST_LEN, v);
		}
		int verify = s == steps || (hurry ? s % HURRY_VERIFY_EVERY == 0 : s % CHECK_EVERY == 0);
		if (verify) {
			if (sum_words(buf, nwords) != exp_buf)
				fail = tp_fmt("buffer checksum differs at step %ld", s);
			else if (sum_words(static_data, STATIC_WORDS) != exp_static)
				fail = tp_fmt("static data checksum differs at step %ld", s);
			else if (sum_words(stack_data, STACK_WORDS) != exp_stack)
				fail = tp_fmt("stack data checksum differs at step %ld", s);
			else if (list_sum(head, &len) != exp_list || len != LIST_LEN)
				fail = tp_fmt("list differs at step %ld (length %zu)", s, len);
			else if (g.buf && sum_words(g.buf, g.nwords) != g.sum)
				fail = tp_fmt("grown memory checksum differs at step %ld", s);
		}
		if (!fail && s % CHECK_EVERY == 0)
			printf("CHECK %ld %016llx %016llx %016llx %016llx\n", s,
			       (unsigned long long)exp_buf, (unsigned long long)exp_static,
			       (unsigned long long)exp_stack, (unsigned long long)exp_list);
		if (!hurry)
			tp_sleep_ms(TP_STEP_MS);
	}
	printf("ANSWER: %016llx %016llx %016llx %016llx\n", (unsigned long long)exp_buf,
	       (unsigned long long)exp_static, (unsigned long long)exp_stack,
	       (unsigned long long)exp_list);
	return tp_verdict(fail);
}
