/*
 * coord_keys.c - keyboard commands of a foreground coordinator, one per line on stdin:
 * c checkpoint, s status, l list, i [SECS] show/set interval, k kill, q kill and quit, ? help.
 * Output goes to stdout (the answers), errors through the log.
 */
#define LOG_PREFIX "coord"
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord.h"
#include "log.h"

void coord_keys_help(void)
{
	fputs("Keys (then Enter):\n"
	      "  c  checkpoint now\n"
	      "  s  status\n"
	      "  l  list the processes\n"
	      "  i  show the checkpoint interval; 'i SECS' sets it (0 = off)\n"
	      "  k  kill all processes of the job\n"
	      "  q  kill all processes and quit\n"
	      "  ?  this help\n",
	      stdout);
	fflush(stdout);
}

static void print_owned(char *text)
{
	if (text)
		fputs(text, stdout);
	fflush(stdout);
	free(text);
}

static void key_interval(struct coord *co, const char *arg)
{
	while (isspace((unsigned char)*arg))
		arg++;
	if (!*arg) {
		if (co->interval)
			printf("checkpoint interval: %u s\n", co->interval);
		else
			printf("checkpoint interval: none (checkpoint on request only)\n");
		fflush(stdout);
		return;
	}
	char *end;
	errno = 0;
	unsigned long v = strtoul(arg, &end, 10);
	while (isspace((unsigned char)*end))
		end++;
	if (errno || *end || *arg == '-' || v > UINT32_MAX) {
		printf("i: expected a number of seconds, got '%s'\n", arg);
		fflush(stdout);
		return;
	}
	coord_set_interval(co, (uint32_t)v);
}

void coord_keys_line(struct coord *co, const char *line)
{
	while (isspace((unsigned char)*line))
		line++;
	if (!*line)
		return;
	char msg[512];
	switch (*line) {
	case 'c':
		coord_ckpt_request(co, NULL, msg, sizeof(msg));
		fputs(msg, stdout);
		fflush(stdout);
		break;
	case 's':
		print_owned(coord_status_text(co));
		break;
	case 'l':
		print_owned(coord_list_text(co));
		break;
	case 'i':
		key_interval(co, line + 1);
		break;
	case 'k':
		coord_do_kill(co);
		break;
	case 'q':
		log_info("quit requested from the keyboard");
		coord_do_quit(co);
		break;
	case '?':
	case 'h':
		coord_keys_help();
		break;
	default:
		printf("unknown key '%c'; '?' lists the keys\n", *line);
		fflush(stdout);
		break;
	}
}
