#!/bin/bash
# ckpt_stall.sh - how long a checkpoint stops the application (issue 5: "application stall
# with forked checkpoint <= 0.1 s for 2 GiB"), next to the stops the machine itself causes,
# all measured in ONE invocation.
#
#   ckpt_stall.sh [--bin BUILD_OR_BIN_DIR] [--size MiB] [--dir DIR] [--strict] [--keep]
#
# `memhog SIZE random --stall FILE` spins after READY, reading the clock and one word of its
# memory each turn, and prints the longest gap between two turns once FILE exists (then it
# verifies its memory and exits). Three runs of it, each about as long as a checkpoint:
#   native     alone, no checkpoint: what the scheduler and the VM cost (the noise floor);
#   forked     under dmtcp_launch (forked checkpoint, the default): `dmtcp_command -bc`, timed,
#              then FILE; the longest gap is the stall;
#   in place   the same with --no-forked-ckpt: the job stops for the whole write.
# Each checkpointed run must still verify its memory after the checkpoint.
# Exit: 0 when every run completed and verified (a missed target prints FAIL; --strict turns
# that into exit 3), 1 when something broke, 2 on usage errors. Every process and the temp dir
# are removed on exit (--keep keeps the dir).
set -u -o pipefail

SIZE=2048 BIN="" BASE=${TMPDIR:-/tmp} STRICT=0 KEEP=0
usage() { sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
	case "$1" in
	--bin) BIN=$2; shift 2 ;;
	--size) SIZE=$2; shift 2 ;;
	--dir) BASE=$2; shift 2 ;;
	--strict) STRICT=1; shift ;;
	--keep) KEEP=1; shift ;;
	-h | --help) usage ;;
	*) echo "ckpt_stall: unknown option '$1'" >&2; usage ;;
	esac
done
case $SIZE in '' | *[!0-9]* | 0) echo "ckpt_stall: bad --size '$SIZE' (MiB)" >&2; exit 2 ;; esac

die() { echo "ckpt_stall: FAIL: $*" >&2; exit 1; }
note() { echo "ckpt_stall: $*" >&2; }

HERE=$(cd "$(dirname "$0")" && pwd)
[ -n "$BIN" ] || BIN=$HERE/../build
BIN=$(cd "$BIN" 2>/dev/null && pwd) || die "no such dir: $BIN (use --bin BUILD_DIR)"
. "$HERE/bench_lib.sh"
find_tools
MEMHOG=$(find_bin memhog bench) || die "memhog not found under $BIN"

make_tmp ckpt_stall
COORD_PID="" PORT="" SESSIONS=() OK=0

cleanup() {
	local rc=$?
	set +e
	kill_job
	stop_coord
	bench_leave "$T"/*/*.out "$T"/*/*.log
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
LC_NUMERIC=C

stall_of() { sed -n 's/^STALL \([0-9.]*\) .*/\1/p' "$1" | tail -n 1; }

# run NAME native|ckpt [LAUNCH_OPTIONS...]: one memhog; sets GAP (longest gap, ms) and CK
# (the -bc wall time, s). Runs in this shell, so the cleanup trap sees its processes.
run() {
	local name=$1 how=$2 d=$T/$1
	shift 2
	mkdir -p "$d/ckpt"
	if [ "$how" = native ]; then
		"$MEMHOG" "$SIZE" random --stall "$d/go" --timeout 600 >"$d/job.out" 2>"$d/job.log" &
		SESSIONS+=("$!")
	else
		"$COORD" -p 0 --port-file "$d/port" --ckptdir "$d/ckpt" >"$d/coord.log" 2>&1 </dev/null &
		COORD_PID=$!
		wait_for 15 test -s "$d/port" || die "$name: the coordinator wrote no port file"
		PORT=$(head -n 1 "$d/port")
		(cd "$d" && exec setsid "$LAUNCH" -h localhost -p "$PORT" -j --ckptdir "$d/ckpt" "$@" \
			"$MEMHOG" "$SIZE" random --stall "$d/go" --timeout 600) \
			>"$d/job.out" 2>"$d/job.log" </dev/null &
		SESSIONS+=("$!")
	fi
	wait_for 300 has_line '^READY$' "$d/job.out" || die "$name: memhog printed no READY"
	sleep 0.3 # the spin runs on its own for a moment first
	local t0 t1 ck=-
	if [ "$how" = native ]; then
		sleep "$NATIVE_S"
	else
		t0=$EPOCHREALTIME
		coord_cmd -bc >"$d/bc.out" 2>&1 || die "$name: dmtcp_command -bc failed: $(cat "$d/bc.out")"
		t1=$EPOCHREALTIME
		ck=$(calc %.3f "$t1 - $t0")
		sleep 0.3
	fi
	: >"$d/go"
	wait_for 120 has_line '^VERIFIED OK\|^FAIL' "$d/job.out" ||
		die "$name: memhog did not finish its verification"
	has_line '^VERIFIED OK' "$d/job.out" || die "$name: $(grep -a '^FAIL' "$d/job.out")"
	local gap
	gap=$(stall_of "$d/job.out")
	[ -n "$gap" ] || die "$name: no STALL line"
	wait_for 30 gone $(for s in "${SESSIONS[@]}"; do pids_in_session "$s"; echo "$s"; done) ||
		note "$name: memhog did not exit"
	for s in "${SESSIONS[@]}"; do wait "$s" 2>/dev/null; done
	SESSIONS=()
	stop_coord
	GAP=$gap CK=$ck
}

LOAD0=$(uptime | sed 's/.*load average: //')
run forked ckpt
F_GAP=$GAP F_CK=$CK
run inplace ckpt --no-forked-ckpt
P_GAP=$GAP P_CK=$CK
NATIVE_S=$F_CK
run native native
N_GAP=$GAP
LOAD1=$(uptime | sed 's/.*load average: //')

verdict=$(awk -v g="$F_GAP" 'BEGIN { print (g <= 100 ? "PASS(<=100ms)" : "FAIL(<=100ms)") }')
echo
echo "splitckpt application stall: memhog $SIZE MiB random, spinning (vm, $(date -u +%Y-%m-%dT%H:%MZ))"
echo "load average before: $LOAD0; after: $LOAD1"
printf '%-34s %12s %10s  %s\n' "run" "longest_ms" "ckpt_s" "target"
printf '%-34s %12s %10s  %s\n' "native (no checkpoint, ${F_CK} s)" "$N_GAP" "-" "-"
printf '%-34s %12s %10s  %s\n' "forked checkpoint (default)" "$F_GAP" "$F_CK" "$verdict"
printf '%-34s %12s %10s  %s\n' "in place (--no-forked-ckpt)" "$P_GAP" "$P_CK" "-"
echo "longest_ms: the longest gap between two turns of memhog's spin loop over the run (its memory verified after); ckpt_s: dmtcp_command -bc wall time"
OK=1
case $verdict in FAIL*) [ "$STRICT" = 1 ] && exit 3 ;; esac
exit 0
