/*
 * tp_mem.h - the memory state shared by the checkpoint test programs that track a checksum of
 * their memory (tests/progs/tp_memory.c, tests/e2e-faults/ft_mem.c); header-only, static inline.
 *
 * Pages of a buffer are zero, compressible (the page number repeated) or random, in a fixed
 * pseudo-random mix (tp_fill_page), so images exercise the zero-page, compressed and raw paths.
 * Sums weight each word by its position, so a word moved elsewhere does not cancel out. The
 * linked list is rebuilt node by node (tp_list_replace frees the old node and mallocs a new one)
 * so that the malloc heap changes between checkpoints too.
 */
#ifndef SPLITCKPT_TP_MEM_H
#define SPLITCKPT_TP_MEM_H

#include <stdint.h>
#include <stdlib.h>

#include "tp.h"

struct tp_node {
	struct tp_node *next;
	uint64_t key, val;
};

static inline uint64_t tp_sum_words(const uint64_t *w, size_t n)
{
	uint64_t s = 0;
	for (size_t i = 0; i < n; i++)
		s += w[i] * (i | 1);
	return s;
}

/* Fill the 512 words of page number `page` with its kind of content. */
static inline void tp_fill_page(uint64_t *w, size_t page)
{
	unsigned kind = tp_mix(page) % 4;
	for (size_t i = 0; i < 512; i++)
		w[i] = kind == 0 ? 0 : kind == 1 ? page : tp_mix(page * 512 + i);
}

static inline uint64_t tp_list_sum(const struct tp_node *n, size_t *len)
{
	uint64_t s = 0;
	*len = 0;
	for (; n; n = n->next, (*len)++)
		s += n->key * 31 + n->val;
	return s;
}

/* Replace the node with the given key by a newly allocated one holding val; returns the change
 * of tp_list_sum (0 when the key is absent or malloc failed). */
static inline uint64_t tp_list_replace(struct tp_node **head, uint64_t key, uint64_t val)
{
	for (struct tp_node **p = head; *p; p = &(*p)->next) {
		if ((*p)->key != key)
			continue;
		struct tp_node *old = *p, *nw = malloc(sizeof(*nw));
		if (!nw)
			return 0;
		uint64_t delta = val - old->val;
		*nw = (struct tp_node){old->next, key, val};
		*p = nw;
		free(old);
		return delta;
	}
	return 0;
}

/* The tracked state: a buffer of nwords (tp_fill_page pages), the caller's static and stack
 * arrays, a malloc'ed list, and the expected sums, kept up to date word by word. */
#define TP_MEM_STATIC_WORDS 8192
#define TP_MEM_STACK_WORDS 2048
#define TP_MEM_LIST_LEN 1000
#define TP_MEM_WRITES_PER_STEP 64

struct tp_mem {
	uint64_t *buf, *stat, *stack; /* stat: TP_MEM_STATIC_WORDS, stack: TP_MEM_STACK_WORDS */
	size_t nwords;
	struct tp_node *head;
	uint64_t exp_buf, exp_static, exp_stack, exp_list;
};

/* Fill everything and compute the expected sums. 0, or -1 when malloc failed. */
static inline int tp_mem_setup(struct tp_mem *m, uint64_t *buf, size_t nwords, uint64_t *stat,
			       uint64_t *stack)
{
	*m = (struct tp_mem){.buf = buf, .stat = stat, .stack = stack, .nwords = nwords};
	for (size_t p = 0; p < nwords / 512; p++)
		tp_fill_page(buf + p * 512, p);
	for (size_t i = 0; i < TP_MEM_STATIC_WORDS; i++)
		stat[i] = tp_mix(i + 7777);
	for (size_t i = 0; i < TP_MEM_STACK_WORDS; i++)
		stack[i] = tp_mix(i + 9999);
	for (uint64_t k = 0; k < TP_MEM_LIST_LEN; k++) {
		struct tp_node *n = malloc(sizeof(*n));
		if (!n)
			return -1;
		*n = (struct tp_node){m->head, k, tp_mix(k)};
		m->head = n;
	}
	size_t len;
	m->exp_buf = tp_sum_words(buf, nwords);
	m->exp_static = tp_sum_words(stat, TP_MEM_STATIC_WORDS);
	m->exp_stack = tp_sum_words(stack, TP_MEM_STACK_WORDS);
	m->exp_list = tp_list_sum(m->head, &len);
	return 0;
}

/* Step s: rewrite words at places that depend only on s, and replace list nodes. */
static inline void tp_mem_step(struct tp_mem *m, long s)
{
	for (int k = 0; k < TP_MEM_WRITES_PER_STEP; k++) {
		uint64_t r = tp_mix((uint64_t)s * TP_MEM_WRITES_PER_STEP + k);
		uint64_t v = tp_mix(r);
		size_t i = r % m->nwords;
		m->exp_buf += (v - m->buf[i]) * (i | 1);
		m->buf[i] = v;
		size_t j = r % TP_MEM_STATIC_WORDS;
		m->exp_static += (v - m->stat[j]) * (j | 1);
		m->stat[j] = v;
		size_t t = (r >> 20) % TP_MEM_STACK_WORDS;
		m->exp_stack += (v - m->stack[t]) * (t | 1);
		m->stack[t] = v;
		m->exp_list += tp_list_replace(&m->head, r % TP_MEM_LIST_LEN, v);
	}
}

/* Sum everything again; NULL when it matches, else what differs (at step s). */
static inline const char *tp_mem_verify(const struct tp_mem *m, long s)
{
	size_t len;
	if (tp_sum_words(m->buf, m->nwords) != m->exp_buf)
		return tp_fmt("buffer checksum differs at step %ld", s);
	if (tp_sum_words(m->stat, TP_MEM_STATIC_WORDS) != m->exp_static)
		return tp_fmt("static data checksum differs at step %ld", s);
	if (tp_sum_words(m->stack, TP_MEM_STACK_WORDS) != m->exp_stack)
		return tp_fmt("stack data checksum differs at step %ld", s);
	if (tp_list_sum(m->head, &len) != m->exp_list || len != TP_MEM_LIST_LEN)
		return tp_fmt("list differs at step %ld (length %zu)", s, len);
	return NULL;
}

/* "<prefix> buf static stack list" with the expected sums, on stdout. */
static inline void tp_mem_print(const struct tp_mem *m, const char *prefix)
{
	printf("%s %016llx %016llx %016llx %016llx\n", prefix, (unsigned long long)m->exp_buf,
	       (unsigned long long)m->exp_static, (unsigned long long)m->exp_stack,
	       (unsigned long long)m->exp_list);
}

#endif
