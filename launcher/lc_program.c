/*
 * lc_program.c - which program dmtcp_launch is asked to start, and whether the lower half can
 * start it. The PATH search follows execvp (an empty PATH entry is the cwd). The ELF check
 * reads the file header and program headers itself and checks every offset and size against
 * the file before using it: the file is user input. A `#!` script is passed on unchanged; the
 * lower half loads its interpreter.
 */
#define LOG_PREFIX "launch"
#include "launch_common.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define MAX_PHNUM 4096

static int is_exec_file(const char *path)
{
	struct stat st;
	return !stat(path, &st) && S_ISREG(st.st_mode) && !access(path, X_OK);
}

/* Errors are printed only when o is not NULL. */
int lc_resolve_program(const struct lc_opts *o, const char *prog, char *out, size_t n)
{
	if (!*prog) {
		if (o)
			lc_error(o, "empty program name");
		return -1;
	}
	if (strchr(prog, '/')) {
		int l;
		if (prog[0] == '/') {
			l = snprintf(out, n, "%s", prog);
		} else {
			char cwd[LC_MAX_PATH];
			if (!getcwd(cwd, sizeof(cwd))) {
				if (o)
					lc_error(o, "cannot read the current directory: %s",
						 strerror(errno));
				return -1;
			}
			l = snprintf(out, n, "%s/%s", cwd, prog);
		}
		if (l < 0 || (size_t)l >= n) {
			if (o)
				lc_error(o, "%s: path too long", prog);
			return -1;
		}
		if (access(out, F_OK)) {
			if (o)
				lc_error(o, "%s: %s", prog, strerror(errno));
			return -1;
		}
		return 0;
	}
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	int seen_noexec = 0;
	for (const char *p = path;; p++) {
		const char *colon = strchr(p, ':');
		size_t dl = colon ? (size_t)(colon - p) : strlen(p);
		char cand[LC_MAX_PATH];
		int l;
		if (dl == 0) {
			char cwd[LC_MAX_PATH];
			l = getcwd(cwd, sizeof(cwd))
				? snprintf(cand, sizeof(cand), "%s/%s", cwd, prog)
				: -1;
		} else {
			l = snprintf(cand, sizeof(cand), "%.*s/%s", (int)dl, p, prog);
		}
		if (l > 0 && (size_t)l < sizeof(cand) && (size_t)l < n) {
			if (is_exec_file(cand)) {
				memcpy(out, cand, l + 1);
				return 0;
			}
			if (!access(cand, F_OK))
				seen_noexec = 1;
		}
		if (!colon)
			break;
		p = colon;
	}
	if (o)
		lc_error(o, "%s: %s", prog,
			 seen_noexec ? "Permission denied" : "command not found in PATH");
	return -1;
}

/* pread exactly len bytes at off, or fail. */
static int read_at(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t r = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

/* Find PT_INTERP in a 64-bit ELF; 1 found (interp filled), 0 none, -1 malformed. */
static int elf64_interp(int fd, uint64_t fsize, const Elf64_Ehdr *eh, char *interp, size_t n)
{
	if (eh->e_phnum == 0)
		return 0;
	if (eh->e_phentsize < sizeof(Elf64_Phdr) || eh->e_phnum > MAX_PHNUM)
		return -1;
	uint64_t end = eh->e_phoff + (uint64_t)eh->e_phnum * eh->e_phentsize;
	if (eh->e_phoff < sizeof(*eh) || end < eh->e_phoff || end > fsize)
		return -1;
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;
		if (read_at(fd, &ph, sizeof(ph), eh->e_phoff + (uint64_t)i * eh->e_phentsize))
			return -1;
		if (ph.p_type != PT_INTERP)
			continue;
		if (ph.p_filesz < 2 || ph.p_filesz > n || ph.p_offset > fsize ||
		    ph.p_filesz > fsize - ph.p_offset)
			return -1;
		if (read_at(fd, interp, ph.p_filesz, ph.p_offset))
			return -1;
		if (interp[ph.p_filesz - 1] != '\0' || strlen(interp) == 0)
			return -1;
		return 1;
	}
	return 0;
}

int lc_check_program(const struct lc_opts *o, const char *path, const char *shown)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		lc_error(o, "%s: %s", shown, strerror(errno));
		return -1;
	}
	struct stat st;
	int rc = -1;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		lc_error(o, "%s is not a regular file", shown);
		goto out;
	}
	if (access(path, X_OK)) {
		lc_error(o, "%s: %s (not executable)", shown, strerror(errno));
		goto out;
	}
	Elf64_Ehdr eh;
	memset(&eh, 0, sizeof(eh));
	ssize_t got = pread(fd, &eh, sizeof(eh), 0);
	if (got >= 2 && memcmp(&eh, "#!", 2) == 0) {
		rc = 0; /* a script: the lower half starts its interpreter */
		goto out;
	}
	if (got < (ssize_t)EI_NIDENT || memcmp(eh.e_ident, ELFMAG, SELFMAG)) {
		lc_error(o, "%s is neither an ELF program nor a #! script", shown);
		goto out;
	}
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || got < (ssize_t)sizeof(eh)) {
		lc_error(o, "%s is a 32-bit program; splitckpt needs a 64-bit x86-64 program",
			 shown);
		goto out;
	}
	if (eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64) {
		lc_error(o,
			 "%s is built for another machine (e_machine %u); splitckpt needs an "
			 "x86-64 program",
			 shown, (unsigned)eh.e_machine);
		goto out;
	}
	if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) {
		lc_error(o, "%s is not an executable (ELF type %u)", shown, (unsigned)eh.e_type);
		goto out;
	}
	char interp[LC_MAX_PATH];
	int r = elf64_interp(fd, (uint64_t)st.st_size, &eh, interp, sizeof(interp));
	if (r < 0) {
		lc_error(o, "%s: malformed ELF program headers", shown);
		goto out;
	}
	if (r == 0) {
		lc_error(o,
			 "%s is statically linked; splitckpt needs a dynamically linked program "
			 "(relink without -static)",
			 shown);
		goto out;
	}
	if (access(interp, X_OK)) {
		lc_error(o, "%s needs the ELF interpreter %s: %s", shown, interp, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

/* Which MPI the program is linked against, from its DT_NEEDED entries. */
static int needed_mpi(int fd, uint64_t fsize, const Elf64_Ehdr *eh, char *lib, size_t libn)
{
	if (eh->e_phnum == 0 || eh->e_phentsize < sizeof(Elf64_Phdr) || eh->e_phnum > MAX_PHNUM)
		return -1;
	int nph = eh->e_phnum, dyn = -1;
	Elf64_Phdr *ph = calloc(nph, sizeof(*ph));
	if (!ph)
		return -1;
	for (int i = 0; i < nph; i++) {
		if (read_at(fd, &ph[i], sizeof(ph[i]), eh->e_phoff + (uint64_t)i * eh->e_phentsize)) {
			free(ph);
			return -1;
		}
		if (ph[i].p_type == PT_DYNAMIC)
			dyn = i;
	}
	if (dyn < 0) {
		free(ph);
		return LC_MPI_NONE;
	}
	if (ph[dyn].p_offset > fsize || ph[dyn].p_filesz > fsize - ph[dyn].p_offset ||
	    ph[dyn].p_filesz > (1u << 20)) {
		free(ph);
		return -1;
	}
	size_t nd = ph[dyn].p_filesz / sizeof(Elf64_Dyn);
	Elf64_Dyn *d = malloc(nd * sizeof(*d) + 1);
	if (!d || read_at(fd, d, nd * sizeof(*d), ph[dyn].p_offset)) {
		free(d);
		free(ph);
		return -1;
	}
	uint64_t strtab = 0, strsz = 0;
	for (size_t i = 0; i < nd && d[i].d_tag != DT_NULL; i++) {
		if (d[i].d_tag == DT_STRTAB)
			strtab = d[i].d_un.d_ptr;
		else if (d[i].d_tag == DT_STRSZ)
			strsz = d[i].d_un.d_val;
	}
	/* the string table's file offset, through the PT_LOAD that holds it */
	uint64_t stroff = UINT64_MAX;
	for (int i = 0; i < nph; i++)
		if (ph[i].p_type == PT_LOAD && strtab >= ph[i].p_vaddr &&
		    strtab < ph[i].p_vaddr + ph[i].p_filesz)
			stroff = ph[i].p_offset + (strtab - ph[i].p_vaddr);
	int kind = LC_MPI_NONE;
	for (size_t i = 0; i < nd && d[i].d_tag != DT_NULL && stroff != UINT64_MAX; i++) {
		if (d[i].d_tag != DT_NEEDED || d[i].d_un.d_val >= strsz)
			continue;
		char name[256] = "";
		uint64_t off = stroff + d[i].d_un.d_val;
		if (off >= fsize)
			continue;
		size_t len = fsize - off < sizeof(name) - 1 ? fsize - off : sizeof(name) - 1;
		if (read_at(fd, name, len, off))
			continue;
		name[sizeof(name) - 1] = 0;
		if (strncmp(name, "libmpich", 8) == 0) {
			kind = LC_MPI_MPICH;
			snprintf(lib, libn, "%s", name);
		} else if (kind == LC_MPI_NONE &&
			   (strncmp(name, "libmpi.so", 9) == 0 || strncmp(name, "libmpi_", 7) == 0 ||
			    strncmp(name, "libmpi_mpifh", 12) == 0)) {
			kind = LC_MPI_OTHER;
			snprintf(lib, libn, "%s", name);
		}
	}
	free(d);
	free(ph);
	return kind;
}

int lc_program_mpi(const struct lc_opts *o, const char *path, const char *shown)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return LC_MPI_NONE; /* lc_check_program already said what is wrong */
	struct stat st;
	Elf64_Ehdr eh;
	int kind = LC_MPI_NONE;
	char lib[256] = "";
	if (fstat(fd, &st) == 0 && pread(fd, &eh, sizeof(eh), 0) == (ssize_t)sizeof(eh) &&
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 && eh.e_ident[EI_CLASS] == ELFCLASS64)
		kind = needed_mpi(fd, (uint64_t)st.st_size, &eh, lib, sizeof(lib));
	close(fd);
	if (kind < 0) {
		lc_error(o, "%s: malformed ELF dynamic section", shown);
		return -1;
	}
	if (kind == LC_MPI_OTHER) {
		lc_error(o,
			 "%s is linked against %s, which is not MPICH; splitckpt runs MPI programs "
			 "built with Debian's MPICH (mpicc/mpif90/mpicxx from the mpich package)",
			 shown, lib);
		return -1;
	}
	return kind;
}
