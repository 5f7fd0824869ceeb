/*
 * elf_load.h - mapping ELF files into the arena (see elf_load.c).
 */
#ifndef LH_ELF_LOAD_H
#define LH_ELF_LOAD_H

#include <stddef.h>
#include <stdint.h>

struct elf_info {
	uint64_t base, entry, phdr, phnum;
	int is_dyn, has_interp;
	char interp[4096];
};

/* Reads the headers of path: ELF type and PT_INTERP. 0 or -errno with a message in err. */
int elf_probe(const char *path, struct elf_info *out, char *err, size_t errlen);
/* Maps path's PT_LOAD segments (arena for ET_DYN, own addresses for ET_EXEC) and fills
 * base/entry/phdr/phnum. 0 or -errno with a message in err. */
int elf_map(const char *path, struct elf_info *out, char *err, size_t errlen);

#endif
