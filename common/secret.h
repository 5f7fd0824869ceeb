/*
 * secret.h - the per-job secret that keeps other users from driving a coordinator.
 *
 * The coordinator makes 32 random bytes at start and keeps them as 64 lowercase hex chars in
 * <state>/coord-<port>.secret (file 0600, directory 0700), <state> = $SPLITCKPT_STATE_DIR or
 * $HOME/.splitckpt. Clients (workers, dmtcp_command) send it in their HELLO; they take it from
 * $SPLITCKPT_SECRET when set, else from that file (secret_load does exactly this).
 *
 * All functions are thread-safe (no globals), not async-signal-safe, and return 0 or -errno
 * (errno is set too).
 */
#ifndef SPLITCKPT_SECRET_H
#define SPLITCKPT_SECRET_H

#include <stddef.h>
#include <stdint.h>

#define SECRET_HEX_LEN 64

/* 64 fresh random hex chars + NUL into hex (getrandom). */
int secret_generate(char hex[SECRET_HEX_LEN + 1]);
/* 1 if s is exactly 64 hex chars, else 0. */
int secret_is_valid(const char *s);
/* Compare two secrets in time independent of where they differ; 1 if equal and both valid. */
int secret_equal(const char *a, const char *b);
/* The state directory (no trailing slash); -ENOENT if neither variable gives one. */
int secret_state_dir(char *out, size_t n);
/* <state>/coord-<port>.secret */
int secret_path(int port, char *out, size_t n);
/* Write hex as the secret of port: creates <state> (0700) if needed, refuses a state directory
 * owned by someone else or writable by others (-EPERM), writes a temp file 0600, fsyncs and
 * renames it. */
int secret_write(int port, const char *hex);
/* The secret a client should send to the coordinator of port: $SPLITCKPT_SECRET if set (must be
 * valid: -EINVAL otherwise), else the file (-ENOENT if missing, -EINVAL if malformed, -EPERM if
 * it is not ours or readable by others). hex gets 64 chars + NUL. */
int secret_load(int port, char hex[SECRET_HEX_LEN + 1]);
/* Remove the file of port if it still holds hex (so a newer coordinator's file survives). */
/* Like secret_load but from the port's file only, ignoring $SPLITCKPT_SECRET: a process that
 * lost its coordinator finds the secret of a new one started on the same port there. */
int secret_load_file(int port, char hex[SECRET_HEX_LEN + 1]);
int secret_remove(int port, const char *hex);
/* 8 random bytes as a u64 (used for job ids). */
int secret_random_u64(uint64_t *out);

#endif
