#!/bin/bash
# ckpt_incremental.sh - incremental checkpoints (issue 5): image size and time of a full and of
# incremental generations of one big process that rewrites 1% of its pages between them, and
# the restart of the chain against the restart of the full image, all in ONE invocation.
#
#   ckpt_incremental.sh [--bin BUILD_DIR] [--size MiB] [--percent P] [--dir DIR]
#                       [--no-drop-caches] [--strict] [--keep]
#
# Steps (files in one temp dir under DIR, default ${TMPDIR:-/tmp}):
#   1. disk: `dd if=/dev/zero bs=16M conv=fsync` write throughput of SIZE MiB (the limit).
#   2. native: `incrhog SIZE P --once` alone (fill, rewrite P%, checksum), timed.
#   3. own coordinator; `dmtcp_launch --full-every 8 --keep 0 incrhog SIZE P` (incompressible
#      memory, default compression); generation 1 (full) with `dmtcp_command -bc`, timed; then
#      twice: the program rewrites P% of its pages (random ones, new random bytes), then a
#      timed `-bc` (generations 2 and 3, incremental). Sizes from the image files.
#   4. kill -9; drop the page cache; restart generation 3 (a chain of 3 images) and time it up
#      to the "RESTORED" stamp of the process, which then verifies its checksum; the same for
#      generation 1 (one full image); twice each, alternating (the ratio uses the best of each).
#   5. one table; target: incremental image <= 3% of the full image (issue 5).
# Exit: 0 when every run completed and verified (a missed target only prints FAIL, unless
# --strict: then 3), 1 when something broke, 2 on usage errors. Every process and the temp dir
# are removed on exit (--keep keeps the temp dir).
set -u -o pipefail

SIZE=2048 PCT=1 BIN="" BASE=${TMPDIR:-/tmp} DROP=1 STRICT=0 KEEP=0
usage() { sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
	case "$1" in
	--bin) BIN=$2; shift 2 ;;
	--size) SIZE=$2; shift 2 ;;
	--percent) PCT=$2; shift 2 ;;
	--dir) BASE=$2; shift 2 ;;
	--no-drop-caches) DROP=0; shift ;;
	--strict) STRICT=1; shift ;;
	--keep) KEEP=1; shift ;;
	-h | --help) usage ;;
	*) echo "ckpt_incremental: unknown option '$1'" >&2; usage ;;
	esac
done
case $SIZE in '' | *[!0-9]*) echo "ckpt_incremental: bad --size '$SIZE' (MiB)" >&2; exit 2 ;; esac
[ "$SIZE" -ge 16 ] || { echo "ckpt_incremental: --size must be at least 16 MiB" >&2; exit 2; }

die() { echo "ckpt_incremental: FAIL: $*" >&2; exit 1; }
note() { echo "ckpt_incremental: $*" >&2; }

HERE=$(cd "$(dirname "$0")" && pwd)
[ -n "$BIN" ] || BIN=$HERE/../build
BIN=$(cd "$BIN" 2>/dev/null && pwd) || die "no such dir: $BIN (use --bin BUILD_DIR)"
. "$HERE/bench_lib.sh"
find_tools
HOG=$(find_bin incrhog bench) || die "incrhog not found under $BIN"

make_tmp ckpt_incr
mkdir "$T/ckpt" "$T/flags" "$T/run"
unset SPLITCKPT_FULL_EVERY DMTCP_FULL_EVERY
COORD_PID="" PORT="" SESSIONS=() OK=0

cleanup() {
	local rc=$?
	set +e
	kill_job
	stop_coord
	bench_leave "$T"/run/*.out "$T"/run/*.log
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

now() { date +%s.%N; }
DROP_NOTE=""
drop_caches() {
	[ "$DROP" = 1 ] || { DROP_NOTE="page cache not dropped (--no-drop-caches): reads are warm"; return 1; }
	sync
	{ echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null && return 0
	DROP_NOTE="cannot write /proc/sys/vm/drop_caches: reads are warm, not cold"
	return 1
}
session() { # session NAME CMD...: own session, stdout $T/run/NAME.out, stderr NAME.log
	local name=$1
	shift
	rm -f "$T/run/$name.sid"
	(cd "$T/run" && exec setsid -f sh -c 'echo $$ >"$0"; exec "$@"' "$T/run/$name.sid" "$@") \
		>"$T/run/$name.out" 2>"$T/run/$name.log" </dev/null
	wait_for 10 test -s "$T/run/$name.sid" || die "$name did not start"
	SESSIONS+=("$(cat "$T/run/$name.sid")")
}
img_of() { ls "$T/ckpt/gen-$(printf %06d "$1")"/ckpt_*.dmtcp 2>/dev/null | head -n 1; }

note "size $SIZE MiB, $PCT% of the pages rewritten between generations, temp dir $T"
# ---- 1. disk -----------------------------------------------------------------------------------
out=$(dd if=/dev/zero of="$T/dd.bin" bs=16M count=$((SIZE / 16)) conv=fsync 2>&1) || die "dd: $out"
DD_S=$(echo "$out" | sed -n 's/.* copied, \([0-9.e+-]*\) s,.*/\1/p' | tail -n 1)
DD_MIBS=$(calc %.1f "$((SIZE / 16 * 16)) / $DD_S")
rm -f "$T/dd.bin"
# ---- 2. native ---------------------------------------------------------------------------------
t0=$(now)
out=$("$HOG" "$SIZE" "$PCT" "$T/flags" --once 2>&1) || die "native incrhog failed: $out"
NATIVE_S=$(calc %.3f "$(now) - $t0")
echo "$out" | grep -q '^VERIFIED OK' || die "native incrhog did not verify: $out"
# ---- 3. checkpoints ------------------------------------------------------------------------------
"$COORD" -p 0 --port-file "$T/port" --ckptdir "$T/ckpt" >"$T/run/coord.log" 2>&1 </dev/null &
COORD_PID=$!
wait_for 15 test -s "$T/port" || die "the coordinator wrote no port file"
PORT=$(head -n 1 "$T/port")
session job "$LAUNCH" -h localhost -p "$PORT" --ckptdir "$T/ckpt" --keep 0 --full-every 8 \
	"$HOG" "$SIZE" "$PCT" "$T/flags"
wait_for 300 has_line '^READY$' "$T/run/job.out" || die "no READY from incrhog"
declare -a CK_S CK_B
ckpt() { # ckpt GEN
	local t0 out
	t0=$(now)
	out=$(coord_cmd -bc 2>&1) || die "checkpoint $1 failed: $out"
	CK_S[$1]=$(calc %.3f "$(now) - $t0")
	CK_B[$1]=$(stat -c %s "$(img_of "$1")") || die "no image of generation $1"
}
ckpt 1
for g in 2 3; do
	touch "$T/flags/rewrite-$((g - 2))"
	wait_for 120 has_line "^REWROTE $((g - 2)) " "$T/run/job.out" || die "incrhog did not rewrite"
	ckpt $g
done
NW=$(sed -n 's/^REWROTE 0 \([0-9]*\) .*/\1/p' "$T/run/job.out")
kill_job
# ---- 4. restarts -----------------------------------------------------------------------------------
declare -A RS_S
restart() { # restart GEN: appends the time to RS_S[GEN]
	local t0 r
	drop_caches
	touch "$T/flags/go"
	t0=$(now)
	session "restart$1" "$RESTART" -h localhost -p "$PORT" "$(img_of "$1")"
	wait_for 300 has_line '^VERIFIED OK\|^FAIL' "$T/run/restart$1.out" || die "restart of generation $1 did not finish"
	has_line '^VERIFIED OK' "$T/run/restart$1.out" || die "restart of generation $1: $(grep FAIL "$T/run/restart$1.out")"
	r=$(sed -n 's/^RESTORED \([0-9.]*\)$/\1/p' "$T/run/restart$1.out")
	RS_S[$1]="${RS_S[$1]:-} $(calc %.3f "$r - $t0")"
	kill_job
}
# alternating, twice each: the shared disk's speed drifts, so one sample of each misleads
for round in 1 2; do restart 3; restart 1; done
min_of() { printf '%s\n' $1 | sort -g | head -n 1; }
# ---- 5. table --------------------------------------------------------------------------------------
R2=$(calc %.4f "${CK_B[2]} / ${CK_B[1]}")
R3=$(calc %.4f "${CK_B[3]} / ${CK_B[1]}")
T2=$(calc %.3f "${CK_S[2]} / ${CK_S[1]}")
RR=$(calc %.2f "$(min_of "${RS_S[3]}") / $(min_of "${RS_S[1]}")")
PASS=$(awk "BEGIN { print ($R2 <= 0.03 && $R3 <= 0.03) ? \"PASS\" : \"FAIL\" }")
printf '%-34s %14s %9s %9s\n' "$SIZE MiB incompressible, $PCT% rewritten" "image bytes" "vs full" "ckpt s"
printf '%-34s %14s %9s %9s\n' "full image (gen 1)" "${CK_B[1]}" "1.0000" "${CK_S[1]}"
printf '%-34s %14s %9s %9s\n' "incremental gen 2" "${CK_B[2]}" "$R2" "${CK_S[2]}"
printf '%-34s %14s %9s %9s\n' "incremental gen 3" "${CK_B[3]}" "$R3" "${CK_S[3]}"
echo "pages rewritten per generation: $NW of $((SIZE * 256)); incremental ckpt time / full: $T2"
echo "dd conv=fsync: $DD_MIBS MiB/s, i.e. $(calc %.3f "$SIZE / $DD_MIBS") s for $SIZE MiB (full ckpt / dd: $(calc %.2f "${CK_S[1]} * $DD_MIBS / $SIZE"))"
echo "native run (fill, rewrite, verify): $NATIVE_S s"
echo "restart full image (gen 1):${RS_S[1]} s; restart chain of 3 (gen 3):${RS_S[3]} s; chain / full (best of each): $RR"
[ -n "$DROP_NOTE" ] && echo "note: $DROP_NOTE"
echo "targets: incremental image <= 0.03 x full image: $PASS ($R2, $R3)"
OK=1
[ "$STRICT" = 1 ] && [ "$PASS" != PASS ] && exit 3
exit 0
