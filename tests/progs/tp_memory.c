/*
 * tp_memory.c - serial checkpoint test: N MiB of data whose checksum is tracked.
 *
 * Usage: tp_memory <MiB> [seconds (10)]
 * State: an mmap'ed buffer of N MiB (pages that are zero, compressible or random, in a fixed
 * pseudo-random mix), a static array, a stack array and a malloc'ed linked list. Every step
 * rewrites some words at pseudo-random places and updates an expected sum incrementally, and
 * frees and reallocates some list nodes; every second and at the end the sums are recomputed
 * from memory and compared. ANSWER is the expected sum, which depends only on the arguments.
 */
#include <stdint.h>
#include <sys/mman.h>

#include "tp.h"

#define STATIC_WORDS 8192
#define STACK_WORDS 2048
#define LIST_LEN 1000
#define WRITES_PER_STEP 64

static uint64_t static_data[STATIC_WORDS];

struct node {
	struct node *next;
	uint64_t key, val;
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

/* Replace the node with the given key by a new one with a new value. */
static uint64_t list_replace(struct node **head, uint64_t key, uint64_t val)
{
	for (struct node **p = head; *p; p = &(*p)->next) {
		if ((*p)->key != key)
			continue;
		struct node *old = *p, *nw = malloc(sizeof(*nw));
		if (!nw)
			return 0;
		uint64_t delta = val - old->val;
		nw->key = key;
		nw->val = val;
		nw->next = old->next;
		*p = nw;
		free(old);
		return delta;
	}
	return 0;
}

int main(int argc, char **argv)
{
	tp_init();
	if (argc < 2) {
		fprintf(stderr, "usage: tp_memory <MiB> [seconds]\n");
		return 2;
	}
	long mib = atol(argv[1]);
	if (mib < 1 || mib > 65536) {
		fprintf(stderr, "tp_memory: bad size '%s' (MiB)\n", argv[1]);
		return 2;
	}
	long steps = tp_steps(argc, argv, 2, 10);
	size_t nwords = (size_t)mib << 17, npages = nwords / 512;
	uint64_t *buf =
	    mmap(NULL, nwords * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		perror("tp_memory: mmap");
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
	printf("tp_memory: %ld MiB, %ld steps\n", mib, steps);
	tp_ready();

	const char *fail = NULL;
	for (long s = 1; s <= steps && !fail; s++) {
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
		if (s % 10 == 0 || s == steps) {
			if (sum_words(buf, nwords) != exp_buf)
				fail = tp_fmt("buffer checksum differs at step %ld", s);
			else if (sum_words(static_data, STATIC_WORDS) != exp_static)
				fail = tp_fmt("static data checksum differs at step %ld", s);
			else if (sum_words(stack_data, STACK_WORDS) != exp_stack)
				fail = tp_fmt("stack data checksum differs at step %ld", s);
			else if (list_sum(head, &len) != exp_list || len != LIST_LEN)
				fail = tp_fmt("list differs at step %ld (length %zu)", s, len);
		}
		tp_sleep_ms(TP_STEP_MS);
	}
	printf("ANSWER: %016llx %016llx %016llx %016llx\n", (unsigned long long)exp_buf,
	       (unsigned long long)exp_static, (unsigned long long)exp_stack,
	       (unsigned long long)exp_list);
	return tp_verdict(fail);
}
