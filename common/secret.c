/*
 * secret.c - implementation of secret.h: random job secrets and their 0600 file per port.
 *
 * Invariants: a secret file is only ever replaced by rename (readers never see half a file);
 * we never follow a symlink when opening it (O_NOFOLLOW) and never trust a file or directory
 * owned by another user or open to group/others.
 */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(int e)
{
	errno = e;
	return -e;
}

static int get_random(void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = getrandom((char *)buf + got, n - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return fail(errno);
		}
		got += r;
	}
	return 0;
}

int secret_generate(char hex[SECRET_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char raw[SECRET_HEX_LEN / 2];
	int rc = get_random(raw, sizeof(raw));
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < sizeof(raw); i++) {
		hex[2 * i] = digits[raw[i] >> 4];
		hex[2 * i + 1] = digits[raw[i] & 15];
	}
	hex[SECRET_HEX_LEN] = '\0';
	return 0;
}

int secret_random_u64(uint64_t *out) { return get_random(out, sizeof(*out)); }

static int is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int secret_is_valid(const char *s)
{
	if (!s)
		return 0;
	for (int i = 0; i < SECRET_HEX_LEN; i++)
		if (!is_hex(s[i]))
			return 0;
	return s[SECRET_HEX_LEN] == '\0';
}

int secret_equal(const char *a, const char *b)
{
	if (!secret_is_valid(a) || !secret_is_valid(b))
		return 0;
	unsigned diff = 0;
	for (int i = 0; i < SECRET_HEX_LEN; i++)
		diff |= (unsigned char)a[i] ^ (unsigned char)b[i];
	return diff == 0;
}

int secret_state_dir(char *out, size_t n)
{
	const char *d = getenv("SPLITCKPT_STATE_DIR");
	int len;
	if (d && *d) {
		len = snprintf(out, n, "%s", d);
	} else {
		const char *home = getenv("HOME");
		if (!home || !*home) {
			struct passwd pw, *res = NULL;
			char buf[1024];
			if (getpwuid_r(getuid(), &pw, buf, sizeof(buf), &res) == 0 && res)
				home = pw.pw_dir;
		}
		if (!home || !*home)
			return fail(ENOENT);
		len = snprintf(out, n, "%s/.splitckpt", home);
	}
	if (len < 0 || (size_t)len >= n)
		return fail(ENAMETOOLONG);
	while (len > 1 && out[len - 1] == '/')
		out[--len] = '\0';
	return 0;
}

int secret_path(int port, char *out, size_t n)
{
	char dir[4096];
	int rc = secret_state_dir(dir, sizeof(dir));
	if (rc < 0)
		return rc;
	int len = snprintf(out, n, "%s/coord-%d.secret", dir, port);
	if (len < 0 || (size_t)len >= n)
		return fail(ENAMETOOLONG);
	return 0;
}

/* Create dir (one level) 0700 if missing; refuse it unless it is ours and closed to others. */
static int prepare_dir(const char *dir)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return fail(errno);
	struct stat st;
	if (stat(dir, &st) < 0)
		return fail(errno);
	if (!S_ISDIR(st.st_mode))
		return fail(ENOTDIR);
	if (st.st_uid != geteuid())
		return fail(EPERM);
	if ((st.st_mode & 0077) && chmod(dir, st.st_mode & 0700) < 0)
		return fail(errno);
	return 0;
}

int secret_write(int port, const char *hex)
{
	char dir[4096], path[4200], tmp[4300];
	int rc;
	if (!secret_is_valid(hex))
		return fail(EINVAL);
	if ((rc = secret_state_dir(dir, sizeof(dir))) < 0 || (rc = prepare_dir(dir)) < 0)
		return rc;
	snprintf(path, sizeof(path), "%s/coord-%d.secret", dir, port);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(errno);
	char line[SECRET_HEX_LEN + 1];
	memcpy(line, hex, SECRET_HEX_LEN);
	line[SECRET_HEX_LEN] = '\n';
	ssize_t w = write(fd, line, sizeof(line));
	int e = w == (ssize_t)sizeof(line) ? 0 : w < 0 ? errno : EIO;
	if (!e && fsync(fd) < 0)
		e = errno;
	if (close(fd) < 0 && !e)
		e = errno;
	if (!e && rename(tmp, path) < 0)
		e = errno;
	if (e) {
		unlink(tmp);
		return fail(e);
	}
	return 0;
}

/* Read the file of port into hex; see secret_load for the errors. */
static int read_file(int port, char hex[SECRET_HEX_LEN + 1])
{
	char path[4200];
	int rc = secret_path(port, path, sizeof(path));
	if (rc < 0)
		return rc;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fail(errno == ELOOP ? EPERM : errno);
	struct stat st;
	char buf[SECRET_HEX_LEN + 2];
	ssize_t n = -1;
	int e = 0;
	if (fstat(fd, &st) < 0)
		e = errno;
	else if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 0077))
		e = EPERM;
	else if ((n = read(fd, buf, sizeof(buf))) < 0)
		e = errno;
	close(fd);
	if (e)
		return fail(e);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n != SECRET_HEX_LEN)
		return fail(EINVAL);
	memcpy(hex, buf, SECRET_HEX_LEN);
	hex[SECRET_HEX_LEN] = '\0';
	return secret_is_valid(hex) ? 0 : fail(EINVAL);
}

int secret_load(int port, char hex[SECRET_HEX_LEN + 1])
{
	const char *env = getenv("SPLITCKPT_SECRET");
	if (env && *env) {
		if (!secret_is_valid(env))
			return fail(EINVAL);
		memcpy(hex, env, SECRET_HEX_LEN + 1);
		return 0;
	}
	return read_file(port, hex);
}

int secret_load_file(int port, char hex[SECRET_HEX_LEN + 1])
{
	return read_file(port, hex);
}

int secret_remove(int port, const char *hex)
{
	char have[SECRET_HEX_LEN + 1], path[4200];
	int rc = secret_path(port, path, sizeof(path));
	if (rc < 0)
		return rc;
	rc = read_file(port, have);
	if (rc < 0)
		return rc;
	if (!secret_equal(have, hex))
		return 0; /* someone else's now: leave it */
	if (unlink(path) < 0)
		return fail(errno);
	return 0;
}
