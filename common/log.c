/*
 * log.c - implementation of log.h. Keeps one level and one optional extra FILE; formats the
 * whole line first and writes it with one fputs so lines from threads do not interleave.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static enum log_level cur_level = LOG_INFO;
static FILE *extra_fp;

void log_set_level(enum log_level lvl)
{
	cur_level = lvl;
}

void log_set_quiet(int quiet)
{
	cur_level = quiet <= 0 ? LOG_INFO : quiet == 1 ? LOG_WARN : LOG_ERR;
	const char *d = getenv("SPLITCKPT_DEBUG");
	if (d && *d && *d != '0')
		cur_level = LOG_DEBUG;
}

enum log_level log_get_level(void)
{
	return cur_level;
}

void log_set_file(FILE *fp)
{
	extra_fp = fp;
}

void log_msg(enum log_level lvl, const char *prefix, int with_errno, const char *fmt, ...)
{
	int saved = errno;
	if (lvl > cur_level && !extra_fp)
		return;
	char host[64] = "?";
	gethostname(host, sizeof(host) - 1);
	char line[2048];
	int n = snprintf(line, sizeof(line), "[splitckpt %s] %s:%d: ", prefix, host, (int)getpid());
	if (n < 0 || n >= (int)sizeof(line))
		n = 0;
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (m > 0)
		n += m;
	if (n >= (int)sizeof(line) - 64)
		n = sizeof(line) - 64;
	if (with_errno)
		n += snprintf(line + n, sizeof(line) - n, ": %s", strerror(saved));
	snprintf(line + n, sizeof(line) - n, "\n");
	if (lvl <= cur_level)
		fputs(line, stderr);
	if (extra_fp) {
		fputs(line, extra_fp);
		fflush(extra_fp);
	}
	errno = saved;
}
