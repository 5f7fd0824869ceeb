#!/bin/bash
# ckpt_fixed_cost.sh - the fixed cost of one checkpoint and of one restart: a small process
# (memhog, 10 MiB of incompressible data), checkpointed and restarted many times.
#
#   ckpt_fixed_cost.sh [--bin BUILD_OR_BIN_DIR] [--size MiB] [--reps N] [--dir DIR]
#                      [--cold] [--strict] [--keep] [-- LAUNCH_OPTIONS...]
#
# One run, all files in a temp dir under DIR (default ${TMPDIR:-/tmp}):
#   1. a coordinator (-p 0 --port-file), `dmtcp_launch memhog SIZE random` (default 10 MiB);
#   2. N times (default 11) `dmtcp_command -bc`, each timed by the script from just before the
#      command starts to its exit (so the figure includes starting dmtcp_command, the
#      coordinator's rounds, writing the image, its fsync and the restart script's);
#   3. kill -9 of the job, then N times: start `dmtcp_restart` of the newest image and time
#      it up to the "RESTORED <time>" stamp of the restored memhog (it polls its flag file
#      every 0.1 ms), which then verifies the checksum of its memory and exits. The image is
#      in the page cache (it was just written) unless --cold drops the cache before each one.
#   4. median, min and max of each, against the targets of issue 5: checkpoint <= 20 ms,
#      restart <= 50 ms (DMTCP 3 measured 0.4 s and 0.2 s for such a process on this VM).
# `uptime` is printed before and after: the machine is shared and small figures are noisy.
# Exit: 0 when every run completed and verified (a missed target prints FAIL; --strict turns
# that into exit 3), 1 when something broke, 2 on usage errors. Every process and the temp dir
# are removed on exit (--keep keeps the dir).
set -u -o pipefail

SIZE=10 REPS=11 BIN="" BASE=${TMPDIR:-/tmp} COLD=0 STRICT=0 KEEP=0 LOPTS=()
usage() { sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
	case "$1" in
	--bin) BIN=$2; shift 2 ;;
	--size) SIZE=$2; shift 2 ;;
	--reps) REPS=$2; shift 2 ;;
	--dir) BASE=$2; shift 2 ;;
	--cold) COLD=1; shift ;;
	--strict) STRICT=1; shift ;;
	--keep) KEEP=1; shift ;;
	--) shift; LOPTS=("$@"); break ;;
	-h | --help) usage ;;
	*) echo "ckpt_fixed_cost: unknown option '$1'" >&2; usage ;;
	esac
done
case $SIZE in '' | *[!0-9]* | 0) echo "ckpt_fixed_cost: bad --size '$SIZE' (MiB)" >&2; exit 2 ;; esac
case $REPS in '' | *[!0-9]* | 0) echo "ckpt_fixed_cost: bad --reps '$REPS'" >&2; exit 2 ;; esac

die() { echo "ckpt_fixed_cost: FAIL: $*" >&2; exit 1; }
note() { echo "ckpt_fixed_cost: $*" >&2; }

HERE=$(cd "$(dirname "$0")" && pwd)
[ -n "$BIN" ] || BIN=$HERE/../build
BIN=$(cd "$BIN" 2>/dev/null && pwd) || die "no such dir: $BIN (use --bin BUILD_DIR)"
. "$HERE/bench_lib.sh"
find_tools
MEMHOG=$(find_bin memhog bench) || die "memhog not found under $BIN"

make_tmp ckpt_fixed
mkdir "$T/ckpt" "$T/run"
COORD_PID="" PORT="" SESSIONS=() OK=0

cleanup() {
	local rc=$?
	set +e
	kill_job
	stop_coord
	bench_leave "$T"/*.out "$T"/*.log
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

LC_NUMERIC=C # times come from $EPOCHREALTIME (a `date` process would add its start-up)
stats() { # stats VALUE...: "median min max" in ms of values in seconds
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 * 1000 }
		END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		      printf "%.1f %.1f %.1f\n", m, v[1], v[NR] }'
}
drop_caches() {
	sync
	{ echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null ||
		die "--cold: cannot write /proc/sys/vm/drop_caches (needs root)"
}

LOAD0=$(uptime | sed 's/.*load average: //')
"$COORD" -p 0 --port-file "$T/port" --ckptdir "$T/ckpt" >"$T/coord.log" 2>&1 </dev/null &
COORD_PID=$!
wait_for 15 test -s "$T/port" || die "the coordinator wrote no port file"
PORT=$(head -n 1 "$T/port")
wait_for 10 coord_cmd -s >/dev/null 2>&1 || die "cannot reach the coordinator"

(cd "$T/run" && exec setsid "$LAUNCH" -h localhost -p "$PORT" -j --ckptdir "$T/ckpt" \
	"${LOPTS[@]}" "$MEMHOG" "$SIZE" random --flag "$T/restarted" --poll-us 100) \
	>"$T/launch.out" 2>"$T/launch.log" </dev/null &
SESSIONS+=("$!")
wait_for 60 has_line '^READY$' "$T/launch.out" || die "memhog printed no READY"

# ---- checkpoints -----------------------------------------------------------------------------
CK=() COORD_MS=()
for i in $(seq 1 "$REPS"); do
	t0=$EPOCHREALTIME
	out=$(coord_cmd -bc 2>&1) || die "dmtcp_command -bc (checkpoint $i) failed: $out"
	t1=$EPOCHREALTIME
	CK+=("$(calc %.6f "$t1 - $t0")")
	COORD_MS+=("$(echo "$out" | sed -n 's/.* written in \([0-9.]*\) s.*/\1/p')")
done
IMG=$(ls "$T"/ckpt/ckpt_*.dmtcp 2>/dev/null | head -n 1)
[ -f "$IMG" ] || die "no image ckpt_*.dmtcp in $T/ckpt after $REPS checkpoints"
ISIZE=$(stat -L -c %s "$IMG")
kill_job

# ---- restarts --------------------------------------------------------------------------------
RS=()
: >"$T/restarted"
for i in $(seq 1 "$REPS"); do
	[ "$COLD" = 1 ] && drop_caches
	: >"$T/restart.out"
	t0=$EPOCHREALTIME
	(cd "$T/run" && exec setsid "$RESTART" -h localhost -p "$PORT" -j "$IMG") \
		>"$T/restart.out" 2>"$T/restart.log" </dev/null &
	rpid=$!
	SESSIONS+=("$rpid")
	wait_for 60 has_line '^RESTORED ' "$T/restart.out" || die "restart $i: no RESTORED line"
	stamp=$(grep -a '^RESTORED ' "$T/restart.out" | tail -n 1 | cut -d' ' -f2)
	RS+=("$(calc %.6f "$stamp - $t0")")
	wait_for 60 has_line '^VERIFIED OK\|^FAIL' "$T/restart.out" ||
		die "restart $i: the restored memhog did not finish its verification"
	has_line '^VERIFIED OK' "$T/restart.out" ||
		die "restart $i: $(grep -a '^FAIL' "$T/restart.out")"
	wait_for 30 gone $(pids_in_session "$rpid") "$rpid" || note "restart $i: the job did not exit"
	wait "$rpid" 2>/dev/null
	SESSIONS=()
done
LOAD1=$(uptime | sed 's/.*load average: //')

# ---- table ----------------------------------------------------------------------------------
read -r CK_MED CK_MIN CK_MAX <<<"$(stats "${CK[@]}")"
read -r CO_MED CO_MIN CO_MAX <<<"$(stats "${COORD_MS[@]}")"
read -r RS_MED RS_MIN RS_MAX <<<"$(stats "${RS[@]}")"
CK_T=FAIL RS_T=FAIL
awk "BEGIN { exit !($CK_MED <= 20) }" && CK_T=PASS
awk "BEGIN { exit !($RS_MED <= 50) }" && RS_T=PASS
echo
echo "splitckpt fixed cost: memhog $SIZE MiB random, $REPS checkpoints and $REPS restarts ($(uname -n), $(date -u +%Y-%m-%dT%H:%MZ))"
echo "launch options: ${LOPTS[*]:-(defaults)}; image $ISIZE bytes; restarts from a $([ "$COLD" = 1 ] && echo cold || echo warm) page cache"
echo "load average before: $LOAD0; after: $LOAD1"
FMT='%-34s %9s %9s %9s  %s\n'
printf "$FMT" what median_ms min_ms max_ms target
printf "$FMT" "checkpoint (dmtcp_command -bc)" "$CK_MED" "$CK_MIN" "$CK_MAX" "$CK_T(<=20ms)"
printf "$FMT" "  as the coordinator reports it" "$CO_MED" "$CO_MIN" "$CO_MAX" "-"
printf "$FMT" "restart (to the process running)" "$RS_MED" "$RS_MIN" "$RS_MAX" "$RS_T(<=50ms)"
echo "every sample, s: ckpt ${CK[*]}"
echo "every sample, s: restart ${RS[*]}"
NP=0
[ $CK_T = PASS ] && NP=$((NP + 1))
[ $RS_T = PASS ] && NP=$((NP + 1))
echo "targets: $NP of 2 PASS"
OK=1
[ "$STRICT" = 1 ] && [ "$NP" != 2 ] && exit 3
exit 0
