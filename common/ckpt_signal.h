/*
 * ckpt_signal.h - which signal may stop the application's threads for a checkpoint
 * (--ckpt-signal, DMTCP_SIGCKPT, SPLITCKPT_CKPT_SIGNAL, and the one an image records): one
 * rule for the launcher and the lower half. Not SIGKILL/SIGSTOP (cannot be caught), SIGSYS
 * (the lower half's system-call trap), or 32/33 (glibc's own thread signals in the
 * application).
 */
#ifndef SPLITCKPT_CKPT_SIGNAL_H
#define SPLITCKPT_CKPT_SIGNAL_H

#include <signal.h>

static inline int ckpt_signal_usable(long s)
{
	return s >= 1 && s <= 64 && s != SIGKILL && s != SIGSTOP && s != SIGSYS && s != 32 &&
	       s != 33;
}

#endif
