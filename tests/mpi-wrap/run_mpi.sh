#!/bin/bash
# run_mpi.sh - run one MPI wrapper test program and judge it.
#
#   run_mpi.sh NPROCS NAME [--stderr REGEX] [--env VAR=VALUE]... -- PROGRAM [ARGS...]
#
# Runs PROGRAM under MPICH's Hydra (`mpiexec -n NPROCS`) with the upper half's libmpich.so.12
# ($WRAP_LIBDIR, via LD_LIBRARY_PATH) and the TEST HARNESS lower half ($WRAP_PRELOAD, via
# LD_PRELOAD); NPROCS 0 runs PROGRAM alone, with the wrapper library but no lower half at all.
# Passes when the run exits 0 within the time limit, stdout has "PASS NAME", nothing printed
# "FAIL", and (with --stderr) stderr matches REGEX (grep -E).
set -u
nprocs=$1 name=$2
shift 2
stderr_re="" envs=()
while [ $# -gt 0 ]; do
	case "$1" in
	--stderr) stderr_re=$2; shift 2 ;;
	--env) envs+=("$2"); shift 2 ;;
	--) shift; break ;;
	*) echo "run_mpi.sh: bad argument $1" >&2; exit 2 ;;
	esac
done
: "${WRAP_LIBDIR:?}" "${WRAP_PRELOAD:?}"
export UCX_TLS=${UCX_TLS:-self,sm} HWLOC_PLUGINS_PATH=/nonexistent
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ "$nprocs" = 0 ]; then
	env "${envs[@]}" LD_LIBRARY_PATH="$WRAP_LIBDIR" timeout -k 5 30 "$@" \
		>"$tmp/out" 2>"$tmp/err"
	rc=$?
else
	genv=(-genv LD_LIBRARY_PATH "$WRAP_LIBDIR" -genv LD_PRELOAD "$WRAP_PRELOAD")
	for e in "${envs[@]}"; do
		genv+=(-genv "${e%%=*}" "${e#*=}")
	done
	timeout -k 5 40 mpiexec -n "$nprocs" "${genv[@]}" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
fi
cat "$tmp/out"
cat "$tmp/err" >&2
fail=0
if [ $rc -ne 0 ]; then
	echo "run_mpi.sh: $name: exit status $rc" >&2
	fail=1
fi
if ! grep -q "^PASS $name\$" "$tmp/out"; then
	echo "run_mpi.sh: $name: no 'PASS $name' line" >&2
	fail=1
fi
if grep -q FAIL "$tmp/out" "$tmp/err"; then
	echo "run_mpi.sh: $name: FAIL printed" >&2
	fail=1
fi
if [ -n "$stderr_re" ] && ! grep -Eq "$stderr_re" "$tmp/err"; then
	echo "run_mpi.sh: $name: stderr does not match /$stderr_re/" >&2
	fail=1
fi
exit $fail
