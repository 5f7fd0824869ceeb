#!/bin/bash
# demo_mpi.sh - build splitckpt into ./build and show a checkpoint/kill/restart of a 4-rank
# MPI job (examples/mpi/mpi_pi.c), the way the DMTCP guide does it:
#   1. run mpi_pi uninterrupted with `mpiexec -n 4` and keep its answer;
#   2. start a coordinator (-p 0 --port-file --daemon --ckptdir), launch the job with
#      `mpiexec -n 4 dmtcp_launch -h 127.0.0.1 -p PORT ./mpi_pi`, wait a few rounds,
#      checkpoint with `dmtcp_command -bc`, kill -9 every process of the job;
#   3. restart it with the generated dmtcp_restart_script.sh (which relaunches the ranks
#      with mpiexec) and let it finish;
#   4. print both answers and "DEMO OK" if they are the same, else "DEMO FAILED".
# Usage: bash scripts/demo_mpi.sh   (DEMO_ROUNDS=N: length, 20 by default; DEMO_BUILD=DIR:
# use an existing build directory instead of building ./build)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ROUNDS=${DEMO_ROUNDS:-20}
NP=4

say() { printf '\n=== %s\n' "$*"; }
fail() {
	echo "demo_mpi: $*" >&2
	echo "DEMO FAILED"
	exit 1
}

if [ -n "${DEMO_BUILD:-}" ]; then
	B=$(cd "$DEMO_BUILD" && pwd) || fail "no build directory $DEMO_BUILD"
else
	say "building into ./build"
	mkdir -p build
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >build/configure.log 2>&1 ||
		{ cat build/configure.log >&2; fail "cmake configure failed"; }
	cmake --build build -j2 >build/build.log 2>&1 || { tail -n 40 build/build.log >&2; fail "build failed"; }
	B=$ROOT/build
fi
for p in launcher/dmtcp_launch coordinator/dmtcp_coordinator coordinator/dmtcp_command; do
	[ -x "$B/$p" ] || fail "$B/$p was not built"
done
command -v mpicc >/dev/null && command -v mpiexec >/dev/null ||
	fail "mpicc/mpiexec not found (sudo bash scripts/install-deps.sh installs MPICH)"
export PATH="$B/launcher:$B/coordinator:$PATH"
export UCX_TLS=${UCX_TLS:-self,sm} HWLOC_PLUGINS_PATH=/nonexistent

W=$(mktemp -d "${TMPDIR:-/tmp}/splitckpt-demo-mpi.XXXXXX") || exit 1
SESS=() PORT=""
job_pids() { # every process of the sessions we started
	local f s p
	for f in /proc/[0-9]*/stat; do
		s=$(cat "$f" 2>/dev/null) || continue
		s=${s##*) }
		set -- $s
		for p in "${SESS[@]}"; do [ "${4:-}" = "$p" ] && echo "${f//[^0-9]/}"; done
	done
}
kill_job() {
	local i pids
	for i in $(seq 1 50); do
		pids=$(job_pids)
		[ -n "$pids" ] || break
		kill -9 $pids 2>/dev/null
		sleep 0.1
	done
	for p in "${SESS[@]}"; do wait "$p" 2>/dev/null; done
	SESS=()
}
cleanup() {
	kill_job
	[ -n "$PORT" ] && timeout 5 dmtcp_command -h 127.0.0.1 -p "$PORT" -q >/dev/null 2>&1
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

say "mpicc -O2 -o mpi_pi examples/mpi/mpi_pi.c"
mpicc -O2 -o "$W/mpi_pi" examples/mpi/mpi_pi.c || fail "cannot compile examples/mpi/mpi_pi.c"

say "uninterrupted run: mpiexec -n $NP ./mpi_pi $ROUNDS"
(cd "$W" && timeout 120 mpiexec -n $NP ./mpi_pi "$ROUNDS") >"$W/native.out" 2>"$W/native.log" ||
	{ cat "$W/native.log" >&2; fail "the uninterrupted run failed"; }
NATIVE=$(grep '^pi = ' "$W/native.out")
echo "$NATIVE"

say "dmtcp_coordinator -p 0 --port-file port --daemon --ckptdir ckpt"
cd "$W"
dmtcp_coordinator -p 0 --port-file "$W/port" --daemon --coord-logfile "$W/coord.log" \
	--ckptdir "$W/ckpt" </dev/null >/dev/null 2>&1 || fail "dmtcp_coordinator failed"
for _ in $(seq 1 100); do [ -s "$W/port" ] && break; sleep 0.1; done
PORT=$(cat "$W/port" 2>/dev/null)
[ -n "$PORT" ] || fail "the coordinator wrote no port file"
echo "coordinator on port $PORT"

say "mpiexec -n $NP dmtcp_launch -h 127.0.0.1 -p $PORT ./mpi_pi $ROUNDS"
(exec setsid timeout 300 mpiexec -n $NP dmtcp_launch -h 127.0.0.1 -p "$PORT" ./mpi_pi "$ROUNDS") \
	>"$W/run.out" 2>"$W/launch.log" </dev/null &
SESS+=($!)
for _ in $(seq 1 600); do
	grep -q "^round 5/" "$W/run.out" 2>/dev/null && break
	[ -n "$(job_pids)" ] || { tail "$W/launch.log" >&2; fail "the launched job exited early"; }
	sleep 0.1
done
grep -q "^round 5/" "$W/run.out" || { tail "$W/launch.log" >&2; fail "no progress from the launched job"; }
tail -n 1 "$W/run.out"

say "dmtcp_command -h 127.0.0.1 -p $PORT -bc"
timeout 120 dmtcp_command -h 127.0.0.1 -p "$PORT" -bc || { tail "$W/coord.log" >&2; fail "the checkpoint failed"; }
ls "$W"/ckpt/gen-*/ 2>/dev/null | sed 's/^/  /'

say "kill -9 every process of the job"
kill_job 2>/dev/null # (no "Killed" notice from bash)
grep -q '^pi = ' "$W/run.out" && fail "the job finished before it was killed; use a larger DEMO_ROUNDS"
echo "killed after: $(grep '^round' "$W/run.out" | tail -n 1)"

say "./dmtcp_restart_script.sh -h 127.0.0.1 -p $PORT"
[ -x "$W/ckpt/dmtcp_restart_script.sh" ] || fail "no dmtcp_restart_script.sh in $W/ckpt"
(exec setsid timeout 300 "$W/ckpt/dmtcp_restart_script.sh" -h 127.0.0.1 -p "$PORT") \
	>"$W/restart.out" 2>"$W/restart.log" </dev/null &
SESS+=($!)
wait "${SESS[-1]}"
rc=$?
SESS=()
cat "$W/restart.out"
[ $rc = 0 ] || { tail -n 20 "$W/restart.log" >&2; fail "the restarted job exited with $rc"; }
RESTARTED=$(grep '^pi = ' "$W/restart.out")

say "answers"
echo "uninterrupted: $NATIVE"
echo "restarted:     $RESTARTED"
[ -n "$RESTARTED" ] && [ "$RESTARTED" = "$NATIVE" ] || fail "the answers differ"
echo "DEMO OK"
