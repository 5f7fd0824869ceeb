#!/bin/bash
# ckpt_size_time.sh - checkpoint and restart speed and image size of one big process, next to
# what the disk itself does, all measured in ONE invocation.
#
#   ckpt_size_time.sh [--bin BUILD_OR_BIN_DIR] [--size MiB] [--dir DIR] [--no-drop-caches]
#                     [--pairs N] [--strict] [--keep]
#
# Steps (all files in one temp dir under DIR, default ${TMPDIR:-/tmp}, so the disk figures are
# those of the filesystem that receives the images):
#   1. native: `memhog SIZE random|zeros|mixed --once` alone (fill + checksum + verify), timed;
#      `gzip -1` of the mixed memory, timed.
#   2. per case: incompressible with --compress=none, incompressible with the default codec,
#      touched zeros and mixed memory with the default: own coordinator (-p 0 --port-file),
#      dmtcp_launch, wait READY, `dmtcp_command -bc` timed, image size, kill -9 of the job,
#      drop the page cache, create memhog's flag file and start dmtcp_restart; the restart time
#      runs from just before dmtcp_restart starts to the "RESTORED <time>" stamp that the
#      restored memhog prints (CLOCK_REALTIME, so no polling error); then memhog verifies.
#   3. the disk, right before AND right after each incompressible case (this disk is shared:
#      its speed changes within a minute, so a figure from another moment misleads):
#      `dd if=/dev/zero bs=16M count=SIZE/16 conv=fsync` and the cold sequential read of that
#      file (`echo 3 > /proc/sys/vm/drop_caches` first; without root the read is warm and the
#      output says so). A case is compared with the mean of the two dd runs around it.
#   4. one table with the ratios of issue 5: x_dd = checkpoint time / dd time for the same
#      bytes (targets: <= 1.2 with the default codec; throughput >= 0.9 x dd, i.e. x_dd <=
#      1.11, with --compress=none); x_read = restart throughput / cold read throughput (target
#      >= 0.9 for the raw image, judged on the paired rounds of step 5); zeros: image < 1 MiB
#      in < 0.3 s; mixed: image <= gzip -1 of the same memory and checkpoint >= 5x faster than
#      gzip -1.
#   5. paired rounds of the raw image (--pairs N, default 3): N times the cold read of the image
#      file itself (dd bs=16M, page cache dropped) next to a cold restart of it (read first in
#      odd rounds, restart first in even ones). This disk's speed swings 2-3x within a minute
#      (session 6: 697-2509 MiB/s for one file), so a reference read of another file seconds
#      away can judge a restart by another moment's disk; the median of the N per-pair ratios
#      is the x_read verdict of the raw case, and the one-shot ratio against the dd file of
#      step 3 is still printed in the table.
# Throughputs are the process's memory size (SIZE MiB) divided by the time, in MiB/s.
# Exit: 0 when every run completed and verified (targets missed only print FAIL, unless
# --strict: then 3), 1 when something broke, 2 on usage errors. Every process and the temp dir
# are removed on exit (--keep keeps the temp dir).
set -u -o pipefail

SIZE=2048 BIN="" BASE=${TMPDIR:-/tmp} DROP=1 STRICT=0 KEEP=0 PAIRS=3 PAIR_ROWS=()
usage() { sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
	case "$1" in
	--bin) BIN=$2; shift 2 ;;
	--size) SIZE=$2; shift 2 ;;
	--dir) BASE=$2; shift 2 ;;
	--pairs) PAIRS=$2; shift 2 ;;
	--no-drop-caches) DROP=0; shift ;;
	--strict) STRICT=1; shift ;;
	--keep) KEEP=1; shift ;;
	-h | --help) usage ;;
	*) echo "ckpt_size_time: unknown option '$1'" >&2; usage ;;
	esac
done
case $SIZE in '' | *[!0-9]*) echo "ckpt_size_time: bad --size '$SIZE' (MiB)" >&2; exit 2 ;; esac
case $PAIRS in '' | *[!0-9]*) echo "ckpt_size_time: bad --pairs '$PAIRS'" >&2; exit 2 ;; esac
[ "$SIZE" -ge 16 ] || { echo "ckpt_size_time: --size must be at least 16 MiB" >&2; exit 2; }

die() { echo "ckpt_size_time: FAIL: $*" >&2; exit 1; }
note() { echo "ckpt_size_time: $*" >&2; }

# ---- programs -----------------------------------------------------------------------------
HERE=$(cd "$(dirname "$0")" && pwd)
[ -n "$BIN" ] || BIN=$HERE/../build
BIN=$(cd "$BIN" 2>/dev/null && pwd) || die "no such dir: $BIN (use --bin BUILD_DIR)"
. "$HERE/bench_lib.sh"
find_tools
MEMHOG=$(find_bin memhog bench) || die "memhog not found under $BIN"

# ---- temp dir, cleanup ----------------------------------------------------------------------
make_tmp ckpt_bench
COORD_PID="" PORT="" SESSIONS=() BG_PIDS=() OK=0

cleanup() {
	local rc=$? p
	set +e
	kill_job
	for p in "${BG_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	stop_coord
	bench_leave "$T"/*/*.out "$T"/*/*.log
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# ---- helpers ----------------------------------------------------------------------------------
LC_NUMERIC=C # times come from $EPOCHREALTIME (a `date` process would add its start-up)
DROP_NOTE=""
drop_caches() { # 0 if the page cache was dropped
	[ "$DROP" = 1 ] || { DROP_NOTE="page cache not dropped (--no-drop-caches): reads are warm"; return 1; }
	sync
	if { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then return 0; fi
	DROP_NOTE="cannot write /proc/sys/vm/drop_caches (needs root): reads are warm, not cold"
	return 1
}
dd_secs() { # seconds from dd's last line: "N bytes (...) copied, S s, R"
	sed -n 's/.* copied, \([0-9.e+-]*\) s,.*/\1/p' | tail -n 1
}

BYTES=$((SIZE * 1048576))
MIB=$SIZE
note "size $SIZE MiB, temp dir $T ($(df -PT "$T" | awk 'NR == 2 { print $2 " on " $1 }'))"

# ---- 0. the data is incompressible ------------------------------------------------------------
GZ_IN=$((16 * 1048576))
GZ_OUT=$("$MEMHOG" 16 random --emit | gzip -1 | wc -c)
[ -n "$GZ_OUT" ] || die "memhog --emit | gzip failed"
GZ_RATIO=$(calc %.4f "$GZ_OUT / $GZ_IN")

# ---- the disk, measured around each incompressible case ------------------------------------------
mkdir "$T/disk"
DD_BYTES=$(((SIZE / 16) * 16 * 1048576))
COLD=warm DD_WS=() DD_RS=()
disk_measure() { # appends one dd write time (s, for SIZE MiB) and one (cold) read figure (MiB/s)
	local out s
	out=$(dd if=/dev/zero of="$T/disk/dd.bin" bs=16M count=$((SIZE / 16)) conv=fsync 2>&1) ||
		die "dd write failed: $out"
	s=$(echo "$out" | dd_secs)
	DD_WS+=("$(calc %.3f "$s * $SIZE * 1048576 / $DD_BYTES")")
	drop_caches && COLD=cold
	out=$(dd if="$T/disk/dd.bin" of=/dev/null bs=16M 2>&1) || die "dd read failed: $out"
	s=$(echo "$out" | dd_secs)
	DD_RS+=("$(calc %.1f "$DD_BYTES / 1048576 / $s")")
	rm -f "$T/disk/dd.bin"
	note "dd: write $SIZE MiB in ${DD_WS[-1]} s (conv=fsync), $COLD read ${DD_RS[-1]} MiB/s"
}

# ---- 2. native runs ---------------------------------------------------------------------------
declare -A NATIVE
for kind in random zeros mixed; do
	t0=$EPOCHREALTIME
	out=$("$MEMHOG" "$SIZE" "$kind" --once 2>&1) || die "native memhog $kind failed: $out"
	t1=$EPOCHREALTIME
	echo "$out" | grep -q '^VERIFIED OK' || die "native memhog $kind did not verify: $out"
	NATIVE[$kind]=$(calc %.3f "$t1 - $t0")
	note "native memhog $SIZE $kind: ${NATIVE[$kind]} s"
done

# gzip -1 of the mixed memory (the same bytes memhog mixed holds), from the page cache.
"$MEMHOG" "$SIZE" mixed --emit >"$T/mixed.bin" || die "memhog mixed --emit failed"
cat "$T/mixed.bin" >/dev/null
t0=$EPOCHREALTIME
GZM_OUT=$(gzip -1 -c "$T/mixed.bin" | wc -c)
t1=$EPOCHREALTIME
GZM_S=$(calc %.3f "$t1 - $t0")
rm -f "$T/mixed.bin"
note "gzip -1 of the mixed memory: $GZM_OUT bytes in $GZM_S s"

# ---- 3. checkpoint / kill / restart per case ----------------------------------------------------
restart_once() { # restart_once DIR IMAGE: restart, wait for the verification, end it; sets
	# RS_S to the seconds from just before dmtcp_restart starts to memhog's RESTORED stamp.
	# (The restored memhog writes to its own stdout again, launch.out, so lines are counted.)
	local d=$1 img=$2 t0 rpid stamp n0 v0
	n0=$(cat "$d/restart.out" "$d/launch.out" 2>/dev/null | grep -ac '^RESTORED ')
	v0=$(cat "$d/restart.out" "$d/launch.out" 2>/dev/null | grep -ac '^VERIFIED OK\|^FAIL')
	: >"$d/restarted"
	t0=$EPOCHREALTIME
	(cd "$d/run" && exec setsid "$RESTART" -h localhost -p "$PORT" -j "$img") \
		>>"$d/restart.out" 2>>"$d/restart.log" </dev/null &
	rpid=$!
	SESSIONS+=("$rpid")
	wait_for 300 more_lines '^RESTORED ' "$n0" "$d/restart.out" "$d/launch.out" ||
		die "the restarted memhog printed no RESTORED line ($d)"
	stamp=$(grep -ah '^RESTORED ' "$d/restart.out" "$d/launch.out" | sed -n "$((n0 + 1))p" | cut -d' ' -f2)
	wait_for 300 more_lines '^VERIFIED OK\|^FAIL' "$v0" "$d/restart.out" "$d/launch.out" ||
		die "the restarted memhog did not finish its verification ($d)"
	grep -ah '^VERIFIED OK\|^FAIL' "$d/restart.out" "$d/launch.out" | sed -n "$((v0 + 1))p" |
		grep -q '^VERIFIED OK' || die "after restart: $(grep -ah '^FAIL' "$d/restart.out" "$d/launch.out")"
	wait_for 30 gone $(pids_in_session "$rpid") "$rpid" || note "the restarted job did not exit ($d)"
	wait "$rpid" 2>/dev/null
	SESSIONS=()
	RS_S=$(calc %.3f "$stamp - $t0")
}
more_lines() { # more_lines REGEX N FILE...: more than N lines of the files match
	[ "$(cat "${@:3}" 2>/dev/null | grep -ac "$1")" -gt "$2" ]
}

run_case() { # run_case NAME KIND DISK(0|1) [launch options...]
	local name=$1 kind=$2 disk=$3
	shift 3
	local nd=${#DD_WS[@]}
	[ "$disk" = 1 ] && disk_measure
	local d="$T/case$((${#CASES[@]} + 1))"
	mkdir -p "$d/ckpt" "$d/run"
	"$COORD" -p 0 --port-file "$d/port" --ckptdir "$d/ckpt" >"$d/coord.log" 2>&1 </dev/null &
	COORD_PID=$!
	wait_for 15 test -s "$d/port" || die "$name: the coordinator wrote no port file"
	PORT=$(head -n 1 "$d/port")
	wait_for 10 coord_cmd -s >/dev/null 2>&1 || die "$name: cannot reach the coordinator"

	(cd "$d/run" && exec setsid "$LAUNCH" -h localhost -p "$PORT" -j --ckptdir "$d/ckpt" "$@" \
		"$MEMHOG" "$SIZE" "$kind" --flag "$d/restarted") >"$d/launch.out" 2>"$d/launch.log" </dev/null &
	SESSIONS+=("$!")
	wait_for 300 has_line '^READY$' "$d/launch.out" || die "$name: memhog printed no READY"

	local t0 t1 out
	t0=$EPOCHREALTIME
	out=$(coord_cmd -bc 2>&1) || die "$name: dmtcp_command -bc failed: $out"
	t1=$EPOCHREALTIME
	local ck_s coord_s
	ck_s=$(calc %.3f "$t1 - $t0")
	coord_s=$(echo "$out" | sed -n 's/.* written in \([0-9.]*\) s.*/\1/p')
	local img
	img=$(ls "$d"/ckpt/gen-000001/ckpt_*.dmtcp 2>/dev/null | head -n 1)
	[ -f "$img" ] || die "$name: no image in $d/ckpt/gen-000001 after: $out"
	local isize
	isize=$(stat -c %s "$img")
	note "$name: $out (wall ${ck_s} s), image $isize bytes"

	kill_job
	wait_for 20 test "$(coord_cmd -s 2>/dev/null | sed -n 's/.*NUM_PEERS=\([0-9]*\).*/\1/p')" = 0 ||
		note "$name: warning: the coordinator still lists processes after the kill"
	drop_caches
	local rs_s
	restart_once "$d" "$img"
	rs_s=$RS_S
	# paired rounds (raw case): the cold read of the image file itself, then a cold restart
	if [ "$name" = "incompressible none" ] && [ "$PAIRS" -gt 0 ]; then
		local k rd rr
		for k in $(seq 1 "$PAIRS"); do
			# (the order alternates: read first in odd pairs, restart first in even ones)
			[ $((k % 2)) = 0 ] && { drop_caches; restart_once "$d" "$img"; rr=$RS_S; }
			drop_caches
			out=$(dd if="$img" of=/dev/null bs=16M 2>&1) || die "dd read of $img failed: $out"
			rd=$(calc %.1f "$isize / 1048576 / $(echo "$out" | dd_secs)")
			[ $((k % 2)) = 1 ] && { drop_caches; restart_once "$d" "$img"; rr=$RS_S; }
			PAIR_ROWS+=("$rd|$rr|$(calc %.3f "$MIB / $rr / $rd")")
			note "pair $k: cold read of the image $rd MiB/s, restart $rr s"
		done
	fi
	stop_coord
	rm -rf "$d/ckpt"

	local ddw=- ddr=-
	if [ "$disk" = 1 ]; then
		disk_measure
		ddw=$(calc %.3f "(${DD_WS[$nd]} + ${DD_WS[$((nd + 1))]}) / 2")
		ddr=$(calc %.1f "(${DD_RS[$nd]} + ${DD_RS[$((nd + 1))]}) / 2")
	fi
	# one row: name kind native ckpt coord_ckpt image_bytes restart dd_write_s dd_read_MiB/s
	CASES+=("$name|$kind|${NATIVE[$kind]}|$ck_s|${coord_s:--}|$isize|$rs_s|$ddw|$ddr")
}

CASES=()
run_case "incompressible none" random 1 --compress=none
run_case "incompressible default" random 1
run_case "touched zeros default" zeros 0
run_case "mixed default" mixed 0

# ---- 4. the table -----------------------------------------------------------------------------
echo
echo "splitckpt checkpoint/restart of one process with $SIZE MiB of memory ($(uname -n), $(date -u +%Y-%m-%dT%H:%MZ))"
echo "disk ($(df -PT "$T" | awk 'NR == 2 { print $2 }') under $BASE), right before and after each incompressible case: dd of $SIZE MiB (bs=16M conv=fsync) in ${DD_WS[*]} s; $COLD sequential read ${DD_RS[*]} MiB/s"
[ -n "$DROP_NOTE" ] && echo "note: $DROP_NOTE"
echo "data check: gzip -1 of 16 MiB of memhog random data -> $GZ_OUT bytes (ratio $GZ_RATIO)"
FMT='%-24s %8s %8s %8s %8s %6s %10s %9s %9s %9s %6s  %s\n'
printf "$FMT" case native_s ckpt_s coord_s dd_s x_dd image_MiB restart_s rst_MiB/s read_MiB/s x_read \
	target
NPASS=0 NTARGET=0
pass() { # pass NAME AWK-CONDITION
	NTARGET=$((NTARGET + 1))
	if awk "BEGIN { exit !($2) }"; then
		NPASS=$((NPASS + 1)) TARGET="$TARGET PASS($1)"
	else
		TARGET="$TARGET FAIL($1)"
	fi
}
for c in "${CASES[@]}"; do
	IFS='|' read -r name kind nat ck coord isize rs ddw ddr <<<"$c"
	rs_tp=$(calc %.1f "$MIB / $rs") x_dd=- x_read=- TARGET=""
	if [ "$ddw" != - ]; then
		x_dd=$(calc %.2f "$ck / $ddw")
		x_read=$(calc %.2f "$rs_tp / $ddr")
	fi
	case $name in
	*zeros*) pass "<1MiB,<0.3s" "$isize < 1048576 && $ck < 0.3" ;;
	mixed*) pass "<=gzip-1,>=5x" "$isize <= $GZM_OUT && $GZM_S >= 5 * $ck" ;;
	*none*)
		pass "x_dd<=1.11" "$x_dd <= 1 / 0.9"
		if [ ${#PAIR_ROWS[@]} -gt 0 ]; then
			x_pairs=$(for r in "${PAIR_ROWS[@]}"; do echo "${r##*|}"; done | sort -g |
				awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
			pass "x_read(paired median ${x_pairs})>=0.9" "$x_pairs >= 0.9"
		else
			pass "x_read>=0.9" "$x_read >= 0.9"
		fi
		;;
	*default*) pass "x_dd<=1.2" "$x_dd <= 1.2" ;;
	esac
	printf "$FMT" "$name" "$nat" "$ck" "$coord" "$ddw" "$x_dd" \
		"$(calc %.3f "$isize / 1048576")" "$rs" "$rs_tp" "$ddr" "$x_read" "${TARGET# }"
done
if [ ${#PAIR_ROWS[@]} -gt 0 ]; then
	printf 'raw image, paired rounds (cold read of the image file next to a cold restart of it):'
	for r in "${PAIR_ROWS[@]}"; do
		IFS='|' read -r rd rr rx <<<"$r"
		printf ' [read %s MiB/s, restart %s s = %s MiB/s: x %s]' "$rd" "$rr" "$(calc %.1f "$MIB / $rr")" "$rx"
	done
	echo
fi
echo "mixed (1 MiB blocks: zeros, zeros, text, random): gzip -1 of the same memory $GZM_OUT bytes in $GZM_S s"
echo "ckpt_s: wall time of dmtcp_command -bc (coord_s: what the coordinator reports); dd_s: mean time of the dd conv=fsync of $SIZE MiB right before and after the case; x_dd = ckpt_s / dd_s; restart_s: dmtcp_restart start to the restored process running; read_MiB/s: mean $COLD read around the case; x_read = rst_MiB/s / read_MiB/s; native_s: memhog alone (fill+checksum+verify)"
echo "targets: $NPASS of $NTARGET PASS"
OK=1
[ "$STRICT" = 1 ] && [ "$NPASS" != "$NTARGET" ] && exit 3
exit 0
