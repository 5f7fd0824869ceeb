#!/bin/bash
# demo.sh - build splitckpt into ./build and show a checkpoint/kill/restart of an OpenMP
# program, the way the DMTCP guide does it:
#   1. run examples/pi_omp uninterrupted and keep its answer;
#   2. dmtcp_launch it with its own coordinator (-p 0 --port-file), wait a few rounds,
#      checkpoint with `dmtcp_command -bc`, kill -9 every process of the job;
#   3. restart it with the generated dmtcp_restart_script.sh and let it finish;
#   4. print both answers and "DEMO OK" if they are the same, else "DEMO FAILED".
# Usage: bash scripts/demo.sh        (DEMO_ROUNDS=N changes the length; 12 by default)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ROUNDS=${DEMO_ROUNDS:-12}

say() { printf '\n=== %s\n' "$*"; }
fail() {
	echo "demo: $*" >&2
	echo "DEMO FAILED"
	exit 1
}

say "building into ./build"
mkdir -p build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >build/configure.log 2>&1 ||
	{ cat build/configure.log >&2; fail "cmake configure failed"; }
cmake --build build -j2 >build/build.log 2>&1 || { tail -n 40 build/build.log >&2; fail "build failed"; }
B=$ROOT/build
PI=$B/examples/pi_omp
[ -x "$PI" ] || fail "$PI was not built (is OpenMP available?)"
export PATH="$B/launcher:$B/coordinator:$PATH"

W=$(mktemp -d "${TMPDIR:-/tmp}/splitckpt-demo.XXXXXX") || exit 1
PIDS=()
PORT=""
cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	[ -n "$PORT" ] && dmtcp_command -p "$PORT" -q >/dev/null 2>&1
	rm -rf "$W"
}
trap cleanup EXIT

say "uninterrupted run: pi_omp $ROUNDS"
"$PI" "$ROUNDS" >"$W/native.out" || fail "the uninterrupted run failed"
NATIVE=$(grep '^pi = ' "$W/native.out")
echo "$NATIVE"

say "dmtcp_launch -p 0 --port-file $W/port --ckptdir $W/ckpt pi_omp $ROUNDS"
cd "$W"
dmtcp_launch -p 0 --port-file "$W/port" --ckptdir "$W/ckpt" "$PI" "$ROUNDS" \
	>"$W/run.out" 2>"$W/launch.log" </dev/null &
LAUNCH_PID=$!
PIDS+=("$LAUNCH_PID")
for _ in $(seq 1 600); do
	grep -q "^round 3/" "$W/run.out" 2>/dev/null && break
	kill -0 "$LAUNCH_PID" 2>/dev/null || { cat "$W/launch.log" >&2; fail "the launched program exited early"; }
	sleep 0.1
done
grep -q "^round 3/" "$W/run.out" || fail "no progress from the launched program"
PORT=$(cat "$W/port")
tail -n 1 "$W/run.out"
echo "coordinator on port $PORT:"
dmtcp_command -p "$PORT" -l

say "dmtcp_command -p $PORT -bc   (returns when every image is on disk)"
dmtcp_command -p "$PORT" -bc || fail "the checkpoint failed"
ls -l "$W/ckpt"/gen-*/

say "kill -9 the whole job"
JOB=$(dmtcp_command -p "$PORT" -l | sed -n 's/.*\[[0-9]*:\([0-9][0-9]*\)\]@.*/\1/p')
kill -9 $JOB "$LAUNCH_PID" 2>/dev/null
wait "$LAUNCH_PID" 2>/dev/null
echo "killed $JOB; last output before the kill: $(tail -n 1 "$W/run.out")"
sleep 0.5

say "restart: $W/ckpt/dmtcp_restart_script.sh"
[ -x "$W/ckpt/dmtcp_restart_script.sh" ] || fail "no restart script in $W/ckpt"
"$W/ckpt/dmtcp_restart_script.sh" >"$W/restart.out" 2>"$W/restart.log" </dev/null &
RESTART_PID=$!
PIDS+=("$RESTART_PID")
for _ in $(seq 1 1200); do
	grep -q '^pi = ' "$W/run.out" "$W/restart.out" 2>/dev/null && break
	kill -0 "$RESTART_PID" 2>/dev/null || break
	sleep 0.1
done
wait "$RESTART_PID"
RC=$?
# The restarted process writes to the stdout it had (run.out) or to the restart's: show both.
grep -ah '^round' "$W/run.out" "$W/restart.out" 2>/dev/null | tail -n 3
RESTARTED=$(grep -ah '^pi = ' "$W/restart.out" "$W/run.out" 2>/dev/null | tail -n 1)
[ -n "$RESTARTED" ] || { cat "$W/restart.log" >&2; fail "the restarted program printed no answer (exit $RC)"; }

say "answers"
echo "uninterrupted:           $NATIVE"
echo "checkpointed+restarted:  $RESTARTED"
if [ "$NATIVE" = "$RESTARTED" ]; then
	echo "DEMO OK"
	exit 0
fi
fail "the answers differ"
