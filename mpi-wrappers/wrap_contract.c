/*
 * wrap_contract.c - finding the lower half's contract, and the messages for MPI functions
 * that cannot be served.
 *
 * The contract (common/contract.h) is mapped by the lower half at LH_CONTRACT_ADDR before the
 * application starts. We check it once, on the first MPI call: mapped (mincore, so a missing
 * lower half gives a message instead of a SIGSEGV), magic, version, and a size that covers
 * the header. After that the fast path only loads wrap_contract_ok. Every failure is reported
 * once per function on stderr, naming the function, and the function returns
 * MPI_ERR_UNSUPPORTED_OPERATION (never a crash, never a silent wrong answer).
 */
#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>

#include "wrap.h"

const struct lh_contract *wrap_contract_ok;
uint64_t wrap_upper_fs;
__thread uint64_t wrap_my_lower_fs __attribute__((tls_model("initial-exec")));
__thread uint64_t wrap_my_epoch __attribute__((tls_model("initial-exec")));
static uint64_t main_tls_epoch; /* epoch in which main_lower_fs was handed out */

uint64_t wrap_lower_fs_slow(const struct lh_contract *c)
{
	uint64_t seen = __atomic_load_n(&main_tls_epoch, __ATOMIC_ACQUIRE), low = 0;
	if (seen != c->epoch &&
	    __atomic_compare_exchange_n(&main_tls_epoch, &seen, c->epoch, 0, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE))
		low = c->main_lower_fs;
	else if (c->thread_lower_fs && c->upper_fs_off)
		low = c->thread_lower_fs();
	if (!low) /* no TLS of its own: share the main one (FUNNELED/SERIALIZED use only) */
		low = c->main_lower_fs;
	wrap_my_lower_fs = low;
	wrap_my_epoch = c->epoch;
	return low;
}

static int contract_bad;		    /* 1: checked and unusable */
static unsigned char reported[WRAP_NFUNCS]; /* per function: message printed */

static int range_mapped(uintptr_t start, size_t len)
{
	unsigned char vec[LH_CONTRACT_SLOT / 4096];
	uintptr_t a = start & ~(uintptr_t)4095;
	size_t l = len + (start - a);
	if (l > LH_CONTRACT_SLOT)
		l = LH_CONTRACT_SLOT;
	return mincore((void *)a, l, vec) == 0;
}

const struct lh_contract *wrap_contract_check(void)
{
	const struct lh_contract *c = (const struct lh_contract *)LH_CONTRACT_ADDR;
	size_t hdr = offsetof(struct lh_contract, fn);

	if (wrap_contract_ok)
		return wrap_contract_ok;
	if (contract_bad)
		return NULL;
	if (!range_mapped(LH_CONTRACT_ADDR, hdr)) {
		fprintf(stderr,
			"splitckpt: no MPI lower half in this process (nothing is mapped at the "
			"contract address %#lx): start MPI programs with dmtcp_launch, which runs "
			"them over a lower half that owns MPICH\n",
			LH_CONTRACT_ADDR);
		contract_bad = 1;
		return NULL;
	}
	if (c->magic != LH_CONTRACT_MAGIC || c->version != LH_CONTRACT_VERSION || c->size < hdr ||
	    c->main_lower_fs == 0 ||
	    !range_mapped(LH_CONTRACT_ADDR, hdr + sizeof(void *) * (size_t)c->nfuncs)) {
		fprintf(
		    stderr,
		    "splitckpt: the MPI lower-half contract at %#lx is not usable (magic %#x, "
		    "version %u, size %u, %u functions, lower FS %#lx; this library expects "
		    "magic %#x version %u): lower half and libmpich.so.12 wrapper do not match\n",
		    LH_CONTRACT_ADDR, c->magic, c->version, c->size, c->nfuncs,
		    (unsigned long)c->main_lower_fs, LH_CONTRACT_MAGIC, LH_CONTRACT_VERSION);
		contract_bad = 1;
		return NULL;
	}
	wrap_contract_ok = c;
	return c;
}

static int report(unsigned idx, const char *fmt)
{
	if (idx < WRAP_NFUNCS && !reported[idx]) {
		reported[idx] = 1;
		fprintf(stderr, fmt, wrap_fn_name(idx));
	}
	return MPI_ERR_UNSUPPORTED_OPERATION;
}

int wrap_unavailable(unsigned idx)
{
	if (contract_bad)
		return report(idx, "splitckpt: %s is not available: there is no usable MPI lower "
				   "half (see above)\n");
	return report(idx, "splitckpt: %s is not available in the lower half\n");
}

int wrap_unsupported(unsigned idx)
{
	return report(idx, "splitckpt: %s is not supported in a split process yet (it takes "
			   "callbacks that the lower half cannot route to the application)\n");
}

int wrap_fail(unsigned idx, int err, const char *why)
{
	fprintf(stderr, "splitckpt: %s: %s\n", wrap_fn_name(idx), why);
	return err;
}
