/*
 * elf_load.c - maps an ELF executable or interpreter into the arena the way the kernel would.
 *
 * Used at launch for the application's program and its PT_INTERP (ld.so). Position-independent
 * objects go to a free range of the arena; a fixed-address (ET_EXEC) program goes to its own
 * addresses, recorded as an "outside" range (it must be free again at restart, which it is:
 * the lower half is position independent). Every offset and size read from the file is checked
 * against the file before use.
 */
#define LOG_PREFIX "lh"
#include "elf_load.h"
#include "arena.h"
#include "log.h"
#include "sys_nolibc.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PG 4096UL
#define PG_DOWN(x) ((x) & ~(PG - 1))
#define PG_UP(x) (((x) + PG - 1) & ~(PG - 1))

static int read_headers(int fd, const char *path, Elf64_Ehdr *eh, Elf64_Phdr **ph, char *err,
			size_t errlen)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || pread(fd, eh, sizeof(*eh), 0) != (ssize_t)sizeof(*eh) ||
	    memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0) {
		snprintf(err, errlen, "%s: not an ELF file", path);
		return -ENOEXEC;
	}
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_machine != EM_X86_64 ||
	    (eh->e_type != ET_EXEC && eh->e_type != ET_DYN)) {
		snprintf(err, errlen, "%s: not an x86-64 executable or shared object", path);
		return -ENOEXEC;
	}
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 || eh->e_phnum > 256 ||
	    eh->e_phoff > (uint64_t)st.st_size ||
	    eh->e_phoff + eh->e_phnum * sizeof(Elf64_Phdr) > (uint64_t)st.st_size) {
		snprintf(err, errlen, "%s: bad program header table", path);
		return -ENOEXEC;
	}
	size_t sz = eh->e_phnum * sizeof(Elf64_Phdr);
	*ph = malloc(sz);
	if (!*ph)
		return -ENOMEM;
	if (pread(fd, *ph, sz, eh->e_phoff) != (ssize_t)sz) {
		free(*ph);
		snprintf(err, errlen, "%s: cannot read program headers", path);
		return -EIO;
	}
	for (int i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr *p = &(*ph)[i];
		if (p->p_type == PT_LOAD &&
		    (p->p_filesz > p->p_memsz || p->p_offset > (uint64_t)st.st_size ||
		     p->p_filesz > (uint64_t)st.st_size - p->p_offset ||
		     (p->p_vaddr & (PG - 1)) != (p->p_offset & (PG - 1)) || p->p_memsz > (1UL << 40))) {
			free(*ph);
			snprintf(err, errlen, "%s: bad PT_LOAD segment %d", path, i);
			return -ENOEXEC;
		}
	}
	return 0;
}

int elf_probe(const char *path, struct elf_info *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	Elf64_Ehdr eh;
	Elf64_Phdr *ph = NULL;
	int rc = read_headers(fd, path, &eh, &ph, err, errlen);
	if (rc < 0)
		goto out;
	out->is_dyn = eh.e_type == ET_DYN;
	for (int i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type != PT_INTERP)
			continue;
		if (ph[i].p_filesz < 2 || ph[i].p_filesz >= sizeof(out->interp) ||
		    pread(fd, out->interp, ph[i].p_filesz, ph[i].p_offset) != (ssize_t)ph[i].p_filesz ||
		    out->interp[ph[i].p_filesz - 1] != 0) {
			snprintf(err, errlen, "%s: bad PT_INTERP", path);
			rc = -ENOEXEC;
			goto out;
		}
		out->has_interp = 1;
	}
out:
	free(ph);
	close(fd);
	return rc;
}

int elf_map(const char *path, struct elf_info *out, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	Elf64_Ehdr eh;
	Elf64_Phdr *ph = NULL;
	int rc = read_headers(fd, path, &eh, &ph, err, errlen);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	uint64_t lo = UINT64_MAX, hi = 0;
	for (int i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD)
			continue;
		if (PG_DOWN(ph[i].p_vaddr) < lo)
			lo = PG_DOWN(ph[i].p_vaddr);
		if (PG_UP(ph[i].p_vaddr + ph[i].p_memsz) > hi)
			hi = PG_UP(ph[i].p_vaddr + ph[i].p_memsz);
	}
	if (hi <= lo) {
		snprintf(err, errlen, "%s: no loadable segment", path);
		rc = -ENOEXEC;
		goto out;
	}
	uint64_t bias;
	if (eh.e_type == ET_DYN) {
		long a = arena_take(hi - lo);
		if (a < 0) {
			snprintf(err, errlen, "%s: no room in the arena for %lu bytes", path,
				 (unsigned long)(hi - lo));
			rc = (int)a;
			goto out;
		}
		bias = (uint64_t)a - lo;
	} else {
		long a = arena_mmap(lo, hi - lo, PROT_NONE,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | 0x100000, -1, 0);
		if (a < 0) {
			snprintf(err, errlen, "%s: its fixed addresses 0x%lx-0x%lx are taken", path,
				 (unsigned long)lo, (unsigned long)hi);
			rc = (int)a;
			goto out;
		}
		bias = 0;
	}
	for (int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr *p = &ph[i];
		if (p->p_type != PT_LOAD)
			continue;
		int prot = (p->p_flags & PF_R ? PROT_READ : 0) | (p->p_flags & PF_W ? PROT_WRITE : 0) |
			   (p->p_flags & PF_X ? PROT_EXEC : 0);
		uint64_t seg = bias + PG_DOWN(p->p_vaddr);
		uint64_t fend = bias + p->p_vaddr + p->p_filesz;
		uint64_t mend = bias + p->p_vaddr + p->p_memsz;
		if (p->p_filesz) {
			long m = sys_mmap((void *)seg, PG_UP(fend) - seg, prot | PROT_WRITE,
					  MAP_PRIVATE | MAP_FIXED, fd, PG_DOWN(p->p_offset));
			if (m < 0) {
				snprintf(err, errlen, "%s: cannot map segment %d: %s", path, i,
					 strerror((int)-m));
				rc = (int)m;
				goto out;
			}
			/* zero the part of the last file page that belongs to .bss */
			if (mend > fend && (fend & (PG - 1)))
				memset((void *)fend, 0, PG_UP(fend) - fend);
		}
		uint64_t anon = p->p_filesz ? PG_UP(fend) : seg;
		if (PG_UP(mend) > anon) {
			long m = sys_mmap((void *)anon, PG_UP(mend) - anon, prot,
					  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
			if (m < 0) {
				snprintf(err, errlen, "%s: cannot map bss of segment %d", path, i);
				rc = (int)m;
				goto out;
			}
		}
		if (p->p_filesz && !(prot & PROT_WRITE))
			sys_mprotect((void *)seg, PG_UP(fend) - seg, prot);
	}
	out->base = bias;
	out->entry = bias + eh.e_entry;
	out->phnum = eh.e_phnum;
	out->phdr = 0;
	for (int i = 0; i < eh.e_phnum; i++)
		if (ph[i].p_type == PT_PHDR)
			out->phdr = bias + ph[i].p_vaddr;
	if (!out->phdr) /* no PT_PHDR: the table is in the first segment at e_phoff */
		out->phdr = bias + lo + eh.e_phoff;
	out->is_dyn = eh.e_type == ET_DYN;
out:
	free(ph);
	close(fd);
	return rc;
}
