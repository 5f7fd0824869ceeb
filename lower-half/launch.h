/*
 * launch.h - starting a new application as the upper half (launch.c).
 */
#ifndef LH_LAUNCH_H
#define LH_LAUNCH_H

/* Maps path (a program or a #! script) and its ld.so into the arena, builds its stack and
 * jumps to it; returns only on error: -1 (logged), -2 statically linked program. */
int lh_launch(const char *path, int argc, char **argv, char **app_envp);
/* Last steps before any upper-half code runs on this thread: our handlers, rseq handed over,
 * seccomp filter. 0 or -1 (logged). */
int lh_enter_upper_prepare(int pidvirt);

#endif
