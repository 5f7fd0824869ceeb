#!/bin/bash
# run_mpi.sh - run one MPI wrapper test program and judge it.
#
#   run_mpi.sh MODE NPROCS NAME [--stderr REGEX] [--env VAR=VALUE]... -- PROGRAM [ARGS...]
#
# Runs PROGRAM under MPICH's Hydra (`mpiexec -n NPROCS`), each rank as a split process:
#   lh       `dmtcp_launch --no-coordinator PROGRAM` ($WRAP_LAUNCH): the real MPI lower half,
#            which gives the application the upper half's libmpich.so.12;
#   harness  the upper half's libmpich.so.12 ($WRAP_LIBDIR, via LD_LIBRARY_PATH) over the TEST
#            HARNESS lower half ($WRAP_PRELOAD, via LD_PRELOAD);
#   none     PROGRAM alone (NPROCS is ignored), with our libmpich.so.12 and no lower half.
# Passes when the run exits 0 within the time limit, stdout has "PASS NAME", nothing printed
# "FAIL", and (with --stderr) stderr matches REGEX (grep -E). The time limit (timeout) is
# generous, 100 s (RUN_MPI_TIMEOUT): these runs take 1-10 s, up to 16 s seen at load 25 on
# 2 cores, and the limit is only there to end a hang.
set -u
mode=$1 nprocs=$2 name=$3
shift 3
stderr_re="" envs=()
while [ $# -gt 0 ]; do
	case "$1" in
	--stderr) stderr_re=$2; shift 2 ;;
	--env) envs+=("$2"); shift 2 ;;
	--) shift; break ;;
	*) echo "run_mpi.sh: bad argument $1" >&2; exit 2 ;;
	esac
done
: "${WRAP_LIBDIR:?}" "${WRAP_PRELOAD:?}" "${WRAP_LAUNCH:?}"
export UCX_TLS=${UCX_TLS:-self,sm} HWLOC_PLUGINS_PATH=/nonexistent
TMO=${RUN_MPI_TIMEOUT:-100}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

genv=()
for e in "${envs[@]}"; do
	genv+=(-genv "${e%%=*}" "${e#*=}")
done
case "$mode" in
none)
	env "${envs[@]}" LD_LIBRARY_PATH="$WRAP_LIBDIR" timeout -k 3 "$TMO" "$@" \
		>"$tmp/out" 2>"$tmp/err"
	rc=$?
	;;
harness)
	genv+=(-genv LD_LIBRARY_PATH "$WRAP_LIBDIR" -genv LD_PRELOAD "$WRAP_PRELOAD")
	timeout -k 3 "$TMO" mpiexec -n "$nprocs" "${genv[@]}" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	;;
lh)
	timeout -k 3 "$TMO" mpiexec -n "$nprocs" "${genv[@]}" "$WRAP_LAUNCH" --no-coordinator "$@" \
		>"$tmp/out" 2>"$tmp/err"
	rc=$?
	;;
*)
	echo "run_mpi.sh: unknown mode $mode" >&2
	exit 2
	;;
esac
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
