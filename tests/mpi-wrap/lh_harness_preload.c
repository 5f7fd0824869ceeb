/*
 * lh_harness_preload.c - TEST HARNESS ONLY, not a product component: a stand-in for the MPI
 * lower half, so that mpi-wrappers/ can be tested before (and independently of) the real one.
 *
 * Preloaded (LD_PRELOAD) into an unmodified MPI program whose libmpich.so.12 is resolved to
 * the upper half's wrapper library (LD_LIBRARY_PATH). Its constructor, before main():
 *  - maps the contract slot at LH_CONTRACT_ADDR (common/contract.h);
 *  - starts a parked "lower main thread" and uses *its* TLS as main_lower_fs, so that every
 *    MPI call really runs on another TLS than the application's, as in a split process;
 *  - loads the real MPICH with dlmopen(LM_ID_NEWLM) (its own libc, UCX, hwloc: a separate
 *    link namespace, so nothing of it is visible to the application's symbol lookups);
 *  - fills fn[i] = dlsym(mpich, wrap_lower_symbol(i)) for every entry of mpi_functions.def.
 * It refuses to run (exit 97) if the real MPICH is visible in the application's namespace,
 * i.e. if the program did not get the wrapper library.
 *
 * Test knobs (environment): SPLITCKPT_TEST_BLANK=MPI_A,MPI_B leaves those entries NULL (to test
 * the "not available" path); SPLITCKPT_TEST_SAME_FS=1 uses the application thread's own TLS.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include "contract.h"
#include "wrap_index.h"

#ifndef REAL_LIBMPICH
#define REAL_LIBMPICH "/usr/lib/x86_64-linux-gnu/libmpich.so.12"
#endif

static volatile uint64_t lower_main_fs;

static uint64_t read_fs(void)
{
	uint64_t v;
	__asm__ volatile("mov %%fs:0, %0" : "=r"(v)); /* glibc: the TCB points to itself */
	return v;
}

static void *lower_main_thread(void *arg)
{
	(void)arg;
	lower_main_fs = read_fs();
	for (;;)
		pause();
	return NULL;
}

static void die(const char *what)
{
	fprintf(stderr, "lh_harness: %s\n", what);
	_exit(97);
}

static int blanked(const char *name)
{
	const char *b = getenv("SPLITCKPT_TEST_BLANK");
	size_t n = strlen(name);
	while (b && *b) {
		if (strncmp(b, name, n) == 0 && (b[n] == ',' || b[n] == 0))
			return 1;
		b = strchr(b, ',');
		if (b)
			b++;
	}
	return 0;
}

__attribute__((constructor)) static void harness_init(void)
{
	size_t need = offsetof(struct lh_contract, fn) + sizeof(void *) * WRAP_NFUNCS;
	if (need > LH_CONTRACT_SLOT)
		die("contract does not fit its slot");
	if (dlsym(RTLD_DEFAULT, "MPIR_Err_create_code"))
		die("the real MPICH is loaded in the application's namespace: the program did not "
		    "get the upper half's libmpich.so.12 (check LD_LIBRARY_PATH)");

	void *slot = mmap((void *)LH_CONTRACT_ADDR, LH_CONTRACT_SLOT, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (slot != (void *)LH_CONTRACT_ADDR)
		die("cannot map the contract slot");
	struct lh_contract *c = slot;

	pthread_t t;
	if (getenv("SPLITCKPT_TEST_SAME_FS")) {
		lower_main_fs = read_fs();
	} else {
		if (pthread_create(&t, NULL, lower_main_thread, NULL) != 0)
			die("cannot start the lower main thread");
		while (!lower_main_fs)
			usleep(100);
	}

	void *h = dlmopen(LM_ID_NEWLM, REAL_LIBMPICH, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "lh_harness: dlmopen %s: %s\n", REAL_LIBMPICH, dlerror());
		_exit(97);
	}
	for (unsigned i = 0; i < WRAP_NFUNCS; i++)
		c->fn[i] = blanked(wrap_fn_name(i)) ? NULL : dlsym(h, wrap_lower_symbol(i));
	c->nfuncs = WRAP_NFUNCS;
	c->epoch = 1;
	c->main_lower_fs = lower_main_fs;
	c->fsgsbase = (getauxval(AT_HWCAP2) & 2 /* HWCAP2_FSGSBASE */) != 0;
	c->max_thread_level = 3; /* the lower MPICH supports MPI_THREAD_MULTIPLE */
	c->thread_lower_fs = NULL;
	c->mpi_efd = -1; /* no MPI checkpoint here: no eventfd */
	c->size = sizeof(struct lh_contract);
	c->version = LH_CONTRACT_VERSION;
	__atomic_store_n(&c->magic, LH_CONTRACT_MAGIC, __ATOMIC_RELEASE);
}
