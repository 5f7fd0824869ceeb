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
