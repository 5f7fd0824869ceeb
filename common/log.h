/*
 * log.h - one logging API for every part of splitckpt that runs with libc.
 *
 * Each .c file defines LOG_PREFIX before including this header ("coord", "img", ...).
 * Messages go to stderr (or the file given to log_set_file) as
 *   "[splitckpt <prefix>] <host>:<pid>: message".
 * log_perror appends ": strerror(errno)". The level is set once from -q / SPLITCKPT_QUIET:
 * quiet 0 prints info and above, 1 prints warnings and errors, 2 prints errors only.
 * Not async-signal-safe: code in *_sigsafe.c / *_nolibc.c uses its own raw writer.
 */
#ifndef SPLITCKPT_LOG_H
#define SPLITCKPT_LOG_H

#include <stdio.h>

#ifndef LOG_PREFIX
#define LOG_PREFIX "splitckpt"
#endif

enum log_level { LOG_NONE = 0, LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_quiet(int quiet);
void log_set_level(enum log_level lvl);
/* Send messages to fp too (e.g. --coord-logfile); NULL stops. fp stays owned by the caller. */
void log_set_file(FILE *fp);
enum log_level log_get_level(void);
void log_msg(enum log_level lvl, const char *prefix, int with_errno, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define log_err(...) log_msg(LOG_ERR, LOG_PREFIX, 0, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, LOG_PREFIX, 0, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, LOG_PREFIX, 0, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, LOG_PREFIX, 0, __VA_ARGS__)
#define log_perror(...) log_msg(LOG_ERR, LOG_PREFIX, 1, __VA_ARGS__)

#endif
