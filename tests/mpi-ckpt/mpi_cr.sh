#!/bin/bash
# mpi_cr.sh - checkpoint/restart of an MPI job under Hydra (docs/mpi-ckpt.md), one CTest each.
#
#   mpi_cr.sh --bin BUILD_DIR -n N [options] -- prog args...
#
# Flow: own temp dir and coordinator (-p 0 --port-file, --ckptdir); an uninterrupted
# `mpiexec -n N prog` for the reference ANSWER; `mpiexec -n N dmtcp_launch -j prog` in its own
# session; wait for N "READY" lines; `dmtcp_command -bc` (its line, with the times, is
# printed); kill -9 the session; if the generation has no MANIFEST (the coordinator does not
# write one yet), write it from the "PID <rank> <pid>" lines of the program; then
# `mpiexec -n M dmtcp_restart -j --restartdir CKPTDIR` and require PASS and the native ANSWER.
#
# Options:
#   --restart-n M       ranks of the restart (default N)
#   --mangle KIND       before the restart: missing (remove rank N-1's image), mixed (rank
#                       N-1's image replaced by its image of an older generation; takes two
#                       checkpoints), same-image (every rank is given rank 0's image by
#                       starting splitckpt-lh-mpi --restore directly: the lower half's own
#                       rank check must refuse it)
#   --expect-fail RE    the restart must fail (exit != 0), print RE, and print no ANSWER
#   --ckpts K           blocking checkpoints before the kill (default 1, 2 with mixed)
#   --via-script        restart with the coordinator's dmtcp_restart_script.sh (it must run
#                       mpiexec -n N dmtcp_restart --restartdir GEN itself)
#   --new-coord         before checkpointing, kill -9 the coordinator and start a new one on
#                       its port: every rank must join it again as an MPI rank (-l)
#   --cycles C          C restarts: before the last one, the restarted job is checkpointed
#                       again (-bc once it is back under the coordinator) and killed
# Exit: 0 pass, 1 fail. MC_KEEP=1 keeps the temp dir.
set -u -o pipefail
BIN="" N=2 RN="" MANGLE="" EXPECT="" CKPTS=1 CYCLES=1 VIA=dir NEWCOORD=0
die() { echo "mpi_cr: FAIL: $*" >&2; exit 1; }
note() { echo "mpi_cr: $*" >&2; }
while [ $# -gt 0 ]; do
	case "$1" in
	--bin) BIN=$2; shift 2 ;;
	-n) N=$2; shift 2 ;;
	--restart-n) RN=$2; shift 2 ;;
	--mangle) MANGLE=$2; shift 2 ;;
	--expect-fail) EXPECT=$2; shift 2 ;;
	--ckpts) CKPTS=$2; shift 2 ;;
	--cycles) CYCLES=$2; shift 2 ;;
	--via-script) VIA=script; shift ;;
	--new-coord) NEWCOORD=1; shift ;;
	--) shift; break ;;
	*) echo "mpi_cr: unknown option $1" >&2; exit 2 ;;
	esac
done
[ $# -gt 0 ] || { echo "usage: mpi_cr.sh --bin DIR -n N [options] -- prog args" >&2; exit 2; }
RN=${RN:-$N}
[ "$MANGLE" = mixed ] && [ "$CKPTS" -lt 2 ] && CKPTS=2
PROG=("$@")
BIN=$(cd "$BIN" && pwd) || exit 1
LAUNCH=$BIN/launcher/dmtcp_launch RESTART=$BIN/launcher/dmtcp_restart
COORD=$BIN/coordinator/dmtcp_coordinator CMD=$BIN/coordinator/dmtcp_command
for p in "$LAUNCH" "$RESTART" "$COORD" "$CMD"; do [ -x "$p" ] || die "$p not built"; done
command -v mpiexec >/dev/null || die "mpiexec not found"
export UCX_TLS=${UCX_TLS:-self,sm} HWLOC_PLUGINS_PATH=/nonexistent
export PATH="$BIN/launcher:$BIN/coordinator:$PATH"

T=$(mktemp -d "${TMPDIR:-/tmp}/mpi_cr.XXXXXX") || exit 1
mkdir -p "$T/ckpt" "$T/state" && chmod 700 "$T/state"
export SPLITCKPT_STATE_DIR="$T/state"
unset SPLITCKPT_SECRET
COORD_PID="" PORT="" SESS=() BG=() PASSED=0

coord_cmd() { "$CMD" -h localhost -p "$PORT" "$@"; }
session_pids() { # every process whose session id is one of ours
	local f s p
	for f in /proc/[0-9]*/stat; do
		s=$(cat "$f" 2>/dev/null) || continue
		s=${s##*) }
		set -- $s
		for p in "${SESS[@]}"; do [ "${4:-}" = "$p" ] && echo "${f//[^0-9]/}"; done
	done
}
kill_job() {
	local pids i
	pids=$(session_pids)
	[ -n "$pids" ] || return 0
	kill -9 $pids 2>/dev/null
	for i in $(seq 1 100); do
		[ -z "$(session_pids)" ] && break
		sleep 0.1
	done
	for p in "${SESS[@]}"; do wait "$p" 2>/dev/null; done
	SESS=()
}
cleanup() {
	local rc=$?
	set +e
	kill_job
	for p in "${BG[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	if [ -n "$COORD_PID" ]; then
		coord_cmd -q >/dev/null 2>&1
		sleep 0.2
		kill -9 "$COORD_PID" 2>/dev/null
		wait "$COORD_PID" 2>/dev/null
	fi
	if [ "$PASSED" != 1 ]; then
		for f in "$T"/*.out "$T"/*.log; do
			[ -f "$f" ] && { echo "---- ${f#$T/} (last 30 lines) ----" >&2; tail -n 30 "$f" | cut -c1-300 >&2; }
		done
	fi
	if [ "${MC_KEEP:-0}" = 1 ]; then note "kept $T"; else rm -rf "$T"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM
wait_for() { local d=$((SECONDS + $1)); shift; while ! "$@"; do [ $SECONDS -lt $d ] || return 1; sleep 0.1; done; }
nlines() { [ "$(grep -ac "$1" "$2" 2>/dev/null)" -ge "$3" ]; }
answer_of() { grep -ah '^ANSWER:' "$1" 2>/dev/null | tail -n 1; }

"$COORD" -p 0 --port-file "$T/port" --ckptdir "$T/ckpt" >"$T/coord.log" 2>&1 </dev/null &
COORD_PID=$!
wait_for 15 test -s "$T/port" || die "no coordinator port file"
PORT=$(head -n 1 "$T/port")

# reference run (uninterrupted, plain MPICH)
(cd "$T" && exec timeout -k 3 120 mpiexec -n "$N" "${PROG[@]}") >"$T/native.out" 2>"$T/native.log" </dev/null &
NATIVE=$!
BG+=("$NATIVE")

(cd "$T" && exec setsid mpiexec -n "$N" "$LAUNCH" -h localhost -p "$PORT" -j --ckptdir "$T/ckpt" \
	"${PROG[@]}") >"$T/launch.out" 2>"$T/launch.log" </dev/null &
SESS+=($!)
wait_for 90 nlines '^READY$' "$T/launch.out" "$N" || die "not all $N ranks printed READY"
wait_for 30 eval '[ "$(coord_cmd -s 2>/dev/null | sed -n "s/.*NUM_PEERS=\([0-9]*\).*/\1/p")" -ge "$N" ]' ||
	die "the coordinator does not list $N processes"
if [ "$NEWCOORD" = 1 ]; then
	kill -9 "$COORD_PID"
	wait "$COORD_PID" 2>/dev/null
	"$COORD" -p "$PORT" --ckptdir "$T/ckpt" >"$T/coord2.log" 2>&1 </dev/null &
	COORD_PID=$!
	wait_for 30 eval '[ "$(coord_cmd -l 2>/dev/null | grep -c "rank [0-9]")" = "$N" ]' ||
		die "the ranks did not join the new coordinator as MPI ranks: $(coord_cmd -l 2>&1 | tail -n 4)"
	note "all $N ranks joined the new coordinator as MPI ranks"
fi
for k in $(seq 1 "$CKPTS"); do
	sleep 1
	out=$(coord_cmd -bc 2>&1) || die "dmtcp_command -bc failed: $out"
	note "$out"
done
kill_job
wait "$NATIVE" || die "the native run failed: $(tail -n 3 "$T/native.out" "$T/native.log")"
NATIVE_ANSWER=$(answer_of "$T/native.out")
[ -n "$NATIVE_ANSWER" ] || die "the native run printed no ANSWER"

gen=$(ls -d "$T"/ckpt/gen-* | sort | tail -n 1)
[ -d "$gen" ] || die "no generation directory in $T/ckpt"
if [ ! -f "$gen/MANIFEST" ]; then # written by hand until the coordinator writes it
	g=$((10#${gen##*/gen-}))
	{
		echo "splitckpt-manifest 1"
		echo "generation $g"
		echo "processes $N"
		echo "mpi_size $N"
		echo "launcher mpiexec"
		for r in $(seq 0 $((N - 1))); do
			pid=$(sed -n "s/^PID $r \([0-9]*\)$/\1/p" "$T/launch.out" | head -n 1)
			img=$(cd "$gen" && ls ckpt_*-"$pid"-*.dmtcp 2>/dev/null | head -n 1)
			[ -n "$img" ] || die "no image of rank $r (pid $pid) in $gen"
			echo "rank $r host $(hostname) image $img"
		done
	} >"$gen/MANIFEST"
	note "wrote $gen/MANIFEST by hand"
fi
last=$(sed -n "s/^rank $((N - 1)) host [^ ]* image //p" "$gen/MANIFEST")
case "$MANGLE" in
missing) rm -f "$gen/$last" ;;
mixed)
	prev=$(ls -d "$T"/ckpt/gen-* | sort | tail -n 2 | head -n 1)
	[ "$prev" != "$gen" ] && [ -f "$prev/$last" ] || die "no older image of rank $((N - 1)) to mix in"
	cp "$prev/$last" "$gen/$last"
	;;
esac

for cycle in $(seq 1 "$CYCLES"); do
t0=$(date +%s.%N)
if [ "$MANGLE" = same-image ]; then
	img0=$(sed -n "s/^rank 0 host [^ ]* image //p" "$gen/MANIFEST")
	(cd "$T" && exec setsid timeout -k 3 120 mpiexec -n "$RN" env SPLITCKPT_NO_COORD=1 \
		SPLITCKPT_COORD_PORT=0 "$BIN/lower-half/splitckpt-lh-mpi" --restore "$gen/$img0") \
		>"$T/restart.out" 2>"$T/restart.log" </dev/null &
elif [ "$VIA" = script ]; then
	[ -x "$T/ckpt/dmtcp_restart_script.sh" ] || die "the coordinator wrote no restart script"
	(cd "$T" && exec setsid timeout -k 3 120 bash "$T/ckpt/dmtcp_restart_script.sh" \
		-h localhost -p "$PORT") >"$T/restart.out" 2>"$T/restart.log" </dev/null &
else
(cd "$T" && exec setsid timeout -k 3 120 mpiexec -n "$RN" "$RESTART" -h localhost -p "$PORT" -j \
	--restartdir "$T/ckpt") >"$T/restart.out" 2>"$T/restart.log" </dev/null &
fi
RPID=$!
SESS+=($RPID)
# back under the coordinator = every rank restored, rebuilt its MPI state and said HELLO
tj=""
if [ -z "$EXPECT" ] && wait_for 60 eval '[ "$(coord_cmd -s 2>/dev/null | sed -n "s/.*NUM_PEERS=\([0-9]*\).*/\1/p")" = "$RN" ] || ! kill -0 $RPID 2>/dev/null'; then
	tj=$(date +%s.%N)
fi
if [ "$cycle" -lt "$CYCLES" ]; then
	[ -n "$tj" ] && kill -0 $RPID 2>/dev/null || die "restart $cycle: the job is not back under the coordinator"
	note "restart $cycle: all ranks back under the coordinator after $(echo "$tj - $t0" | bc) s"
	sleep 1
	out=$(coord_cmd -bc 2>&1) || die "restart $cycle: dmtcp_command -bc failed: $out"
	note "restart $cycle: $out"
	kill_job
	continue
fi
done
wait "$RPID"
rc=$?
t1=$(date +%s.%N)
if [ -n "$EXPECT" ]; then
	[ $rc != 0 ] || die "the restart succeeded; expected it to fail with /$EXPECT/"
	grep -Eq -- "$EXPECT" "$T/restart.out" "$T/restart.log" || die "the restart failed (exit $rc) without /$EXPECT/"
	[ -z "$(answer_of "$T/restart.out")" ] || die "the refused restart still computed an ANSWER"
	note "refused as expected: $(grep -Eh -- "$EXPECT" "$T/restart.out" "$T/restart.log" | head -n 1)"
	PASSED=1
	exit 0
fi
[ $rc = 0 ] || die "the restarted job exited with $rc"
grep -aq '^PASS$' "$T/restart.out" || die "the restarted job printed no PASS"
grep -aq FAIL "$T/restart.out" && die "the restarted job printed FAIL"
a=$(answer_of "$T/restart.out")
[ "$a" = "$NATIVE_ANSWER" ] || die "restart ANSWER '$a' differs from the native '$NATIVE_ANSWER'"
note "restarted $RN ranks: $a (same as the uninterrupted run); all ranks back under the coordinator after ${tj:+$(echo "$tj - $t0" | bc)} s, restart to exit $(echo "$t1 - $t0" | bc) s"
PASSED=1
