#!/bin/bash
# mpi_overhead.sh - what running an MPI program as a split process costs: the same MPICH
# benchmark program run natively and through the MPI lower half, in ONE invocation.
#
#   mpi_overhead.sh [--bin BUILD_DIR] [--reps N] [--samples K] [--scale S] [--only LIST]
#                   [--ab OTHER_BUILD_DIR] [--strict] [--keep]
#
# The program (bench/mpi_overhead.c, built with Debian's mpicc: BUILD_DIR/bench/mpi_overhead,
# or compiled here into the temp dir when the build has none) runs N times (default 5) as
#   native  mpiexec -n 2 PROG
#   split   mpiexec -n 2 dmtcp_launch --no-coordinator PROG
# alternating which of the two goes first, with UCX_TLS=self,sm (unless set) and
# HWLOC_PLUGINS_PATH=/nonexistent for both. This machine is shared and oversubscribed, so
# inside a run every figure comes from many short samples (K = 31 by default for the gate,
# latency and bandwidth; the 10^5 Allreduce calls in 100 chunks of 1000; the stencil's 2000
# iterations in 50 chunks of 40: "total time" = number of chunks x median chunk): the median
# of the undisturbed samples, those within 1.5x of the run's best (a sample in which a rank
# lost its CPU is many times slower; mpi_overhead.c, CLEAN). The table shows the median over
# the N runs of those per-run figures; per mode the spread (max-min)/median of the N per-run
# figures; and "kept", the share of samples that counted (native/split, median over the runs).
# The ratio split/native and the added split - native are medians over the N run pairs (the
# native and split runs of a pair ran back to back), so that drifting load cancels out.
# The actual wall times of the two loops, noise included, are rows without a target.
# Benchmarks (see mpi_overhead.c): loops of MPI_Comm_rank and MPI_Wtime (ns per call);
# ping-pong latency at 0 B, 8 B, 1 KiB; bandwidth at 64 KiB, 1 MiB, 4 MiB; 10^5 MPI_Allreduce
# of 8 bytes (total time); a 2-D halo-exchange stencil with Isend/Irecv/Waitall (total time).
# S (default 1) scales the number of samples and chunks (below 0.1 also their size: smoke
# runs); --only runs a subset (gate,lat,bw,allreduce,stencil).
# Targets (MPI issue, "Performance"): at most 30 ns added per call; latency split/native
# <= 1.05; bandwidth split/native >= 0.98; Allreduce and stencil total time split/native
# <= 1.02.
# The hardware floor, measured in the same runs (benchmark "floor", always run): F = ns per
# rdfsbase + 2 wrfsbase, what one crossing of the call gate executes at the least (median of
# the native runs). Per row "floor" is what one crossing per MPI call adds to the row's figure
# at the least (calls one rank makes per unit, on the critical path: 1 per gate call, 1 per
# ping-pong leg (a Recv then a Send per round trip), window + 2 per bandwidth window, 1 per
# Allreduce, 5 per stencil iteration + 1 Allreduce per 40), "best" the ratio that gives on
# the native figure, "reach" whether the target can be met at all with one crossing per call
# on this CPU (no: only a design with fewer crossings, or none, can meet it).
# --ab OTHER_BUILD_DIR adds a third mode, split-B: the same program as a split process of the
# other build (its dmtcp_launch, its MPI lower half and libmpich), in the same rotation (native,
# split, split-B; each run pair of the table is still native i / split i), and a second table:
# per row the split figures of both builds and split/split-B (median over the runs i, which ran
# back to back): an A/B of two builds in one invocation, under the same load.
# Exit: 0 when every run completed and its results checked (a missed target prints FAIL but
# only --strict turns it into exit 3), 1 when something broke, 2 on usage errors, 77 when this
# machine cannot run it (no mpicc/mpiexec, or a build without the MPI lower half). The temp dir
# is removed on exit (--keep keeps it, with every run's output).
set -u -o pipefail

REPS=5 INNER=31 SCALE=1 ONLY="" BIN="" STRICT=0 KEEP=0 AB=""
usage() { sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
	case "$1" in
	--bin) BIN=$2; shift 2 ;;
	--reps) REPS=$2; shift 2 ;;
	--samples) INNER=$2; shift 2 ;;
	--scale) SCALE=$2; shift 2 ;;
	--only) ONLY=$2; shift 2 ;;
	--ab) AB=$2; shift 2 ;;
	--strict) STRICT=1; shift ;;
	--keep) KEEP=1; shift ;;
	-h | --help) usage ;;
	*) echo "mpi_overhead: unknown option '$1'" >&2; usage ;;
	esac
done
case $REPS in '' | *[!0-9]* | 0) echo "mpi_overhead: bad --reps '$REPS'" >&2; exit 2 ;; esac
case $INNER in '' | *[!0-9]* | 0) echo "mpi_overhead: bad --samples '$INNER'" >&2; exit 2 ;; esac
[ "$INNER" -le 4096 ] || { echo "mpi_overhead: --samples is at most 4096" >&2; exit 2; }
awk "BEGIN { exit !(\"$SCALE\" + 0 > 0) }" 2>/dev/null ||
	{ echo "mpi_overhead: bad --scale '$SCALE'" >&2; exit 2; }
case $ONLY in *[!a-z,]*) echo "mpi_overhead: bad --only '$ONLY'" >&2; exit 2 ;; esac

die() { echo "mpi_overhead: FAIL: $*" >&2; exit 1; }
skip() { echo "mpi_overhead: SKIP: $*" >&2; exit 77; }
note() { echo "mpi_overhead: $*" >&2; }

# ---- programs -----------------------------------------------------------------------------
HERE=$(cd "$(dirname "$0")" && pwd)
[ -n "$BIN" ] || BIN=$HERE/../build
BIN=$(cd "$BIN" 2>/dev/null && pwd) || die "no such dir: $BIN (use --bin BUILD_DIR)"
find_bin() { # find_bin NAME SUBDIR
	local c
	for c in "$BIN/$1" "$BIN/$2/$1"; do
		if [ -x "$c" ]; then echo "$c"; return 0; fi
	done
	return 1
}
MPIEXEC=$(command -v mpiexec) || skip "no mpiexec"
LAUNCH=$(find_bin dmtcp_launch launcher) || die "dmtcp_launch not found under $BIN"
# the MPI lower half sits next to dmtcp_launch in a build tree, in libexec when installed
if [ -d "$BIN/lower-half" ] && [ ! -x "$BIN/lower-half/splitckpt-lh-mpi" ]; then
	skip "this build has no MPI lower half ($BIN/lower-half/splitckpt-lh-mpi)"
fi
LAUNCH_B=""
if [ -n "$AB" ]; then
	for c in "$AB/dmtcp_launch" "$AB/launcher/dmtcp_launch"; do
		[ -x "$c" ] && { LAUNCH_B=$c; break; }
	done
	[ -n "$LAUNCH_B" ] || die "--ab: dmtcp_launch not found under $AB"
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/mpi_bench.XXXXXX") || die "cannot make a temp dir"
OK=0
cleanup() {
	local rc=$? f
	set +e
	if [ "$OK" != 1 ]; then
		for f in "$T"/*.out "$T"/*.err; do
			[ -s "$f" ] || continue
			echo "---- ${f#$T/} (last 20 lines) ----" >&2
			tail -n 20 "$f" | cut -c1-300 >&2
		done
	fi
	if [ "$KEEP" = 1 ]; then note "kept $T"; else rm -rf "$T"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

PROG=$(find_bin mpi_overhead bench) || PROG=""
if [ -z "$PROG" ]; then
	MPICC=$(command -v mpicc) || skip "no mpicc, and no mpi_overhead under $BIN"
	PROG=$T/mpi_overhead
	"$MPICC" -O2 -g -o "$PROG" "$HERE/mpi_overhead.c" 2>"$T/mpicc.err" ||
		die "mpicc $HERE/mpi_overhead.c failed: $(cat "$T/mpicc.err")"
	note "compiled $PROG with $MPICC"
fi

export UCX_TLS=${UCX_TLS:-self,sm} HWLOC_PLUGINS_PATH=/nonexistent
ARGS=(-k "$INNER" -s "$SCALE")
[ -n "$ONLY" ] && ARGS+=(-o "floor,$ONLY")
# a run at scale 1 takes a few seconds; allow for a very loaded machine
TMO=$(awk "BEGIN { t = 120 * $SCALE; print (t < 60 ? 60 : int(t)) }")

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; } # calc FORMAT EXPR

run_one() { # run_one MODE I: one mpiexec, output in $T/MODE.I.out
	local mode=$1 i=$2 cmd t0 t1 rc
	case $mode in
	native) cmd=("$MPIEXEC" -n 2 "$PROG" "${ARGS[@]}") ;;
	split) cmd=("$MPIEXEC" -n 2 "$LAUNCH" --no-coordinator "$PROG" "${ARGS[@]}") ;;
	splitb) cmd=("$MPIEXEC" -n 2 "$LAUNCH_B" --no-coordinator "$PROG" "${ARGS[@]}") ;;
	esac
	t0=$(now)
	timeout -k 5 "$TMO" "${cmd[@]}" >"$T/$mode.$i.out" 2>"$T/$mode.$i.err" </dev/null
	rc=$?
	t1=$(now)
	[ $rc = 124 ] && die "$mode run $i timed out after $TMO s: ${cmd[*]}"
	[ $rc = 0 ] || die "$mode run $i: exit status $rc: ${cmd[*]}"
	grep -q '^done$' "$T/$mode.$i.out" || die "$mode run $i printed no 'done': ${cmd[*]}"
	echo "wall_s $(calc %.3f "$t1 - $t0")" >>"$T/$mode.$i.out"
	note "$mode run $i/$REPS: $(calc %.2f "$t1 - $t0") s"
}

note "program $PROG, dmtcp_launch $LAUNCH${AB:+ (split-B: $LAUNCH_B)}, UCX_TLS=$UCX_TLS, $REPS runs per mode, $INNER samples per run, scale $SCALE"
for i in $(seq 1 "$REPS"); do
	# alternate the order so that a drift of the machine's load hits every mode alike
	if [ -n "$AB" ]; then
		case $((i % 3)) in
		1) order="native split splitb" ;;
		2) order="split splitb native" ;;
		0) order="splitb native split" ;;
		esac
	elif [ $((i % 2)) = 1 ]; then
		order="native split"
	else
		order="split native"
	fi
	for m in $order; do run_one "$m" "$i"; done
done

# the check_* lines (results of the Allreduce and of the stencil) are the same in both modes
for i in $(seq 1 "$REPS"); do
	a=$(grep '^check_' "$T/native.$i.out") b=$(grep '^check_' "$T/split.$i.out")
	[ "$a" = "$b" ] || die "run $i: results differ: native '$a', split '$b'"
	if [ -n "$AB" ]; then
		c=$(grep '^check_' "$T/splitb.$i.out")
		[ "$a" = "$c" ] || die "run $i: results differ: native '$a', split-B '$c'"
	fi
done

pairs() { # pairs KEY EXPR [MODE_A MODE_B]: EXPR of ($1, $2) = (native, split) or (MODE_A,
	# MODE_B) for every run pair, one a line
	paste <(values "${3:-native}" "$1") <(values "${4:-split}" "$1") | awk "\$1 > 0 { print $2 }"
}
values() { # values MODE KEY: the per-run figures, one a line
	local i
	for i in $(seq 1 "$REPS"); do
		awk -v k="$2" '$1 == k { print $2 }' "$T/$1.$i.out"
	done
}
kept() { # kept MODE KEY: median over the runs of the percentage of samples that counted
	local i
	for i in $(seq 1 "$REPS"); do
		awk -v k="kept_$2" '$1 == k { print 100 * $2 / $3 }' "$T/$1.$i.out"
	done | median | awk '{ printf "%.0f", $1 }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; \
	print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
spread() { sort -g | awk '{ v[NR] = $1 } END { m = (NR % 2 ? v[(NR + 1) / 2] : \
	(v[NR / 2] + v[NR / 2 + 1]) / 2); printf "%.0f%%", (m > 0 ? 100 * (v[NR] - v[1]) / m : 0) }'; }

# ---- the table ------------------------------------------------------------------------------
NALL=$(awk '$1 == "allreduce_calls" { print $2 }' "$T/native.1.out")
NST=$(awk '$1 == "stencil_iters" { print $2 }' "$T/native.1.out")
# rows: KEY|label|unit|kind (gate: added ns; time: ratio <= limit; bw: ratio >= limit)|limit|
# crossings: gate crossings per unit of the figure on the critical path, at one per call
# (time rows: per ns/us/s unit as counted; bw rows: "W:BYTES", per window of W messages of
# BYTES: W + 2 calls)
ROWS=(
	"gate_comm_rank_ns|MPI_Comm_rank loop|ns/call|gate|30|1"
	"gate_wtime_ns|MPI_Wtime loop|ns/call|gate|30|1"
	"lat_0_us|ping-pong 0 B|us|time|1.05|1"
	"lat_8_us|ping-pong 8 B|us|time|1.05|1"
	"lat_1024_us|ping-pong 1 KiB|us|time|1.05|1"
	"bw_65536_MBps|bandwidth 64 KiB|MB/s|bw|0.98|16:65536"
	"bw_1048576_MBps|bandwidth 1 MiB|MB/s|bw|0.98|8:1048576"
	"bw_4194304_MBps|bandwidth 4 MiB|MB/s|bw|0.98|2:4194304"
	"allreduce_s|Allreduce 8 B x$NALL|s|time|1.02|$NALL"
	"stencil_s|stencil 2-D halo x$NST|s|time|1.02|$(awk "BEGIN { print $NST * 5 + $NST / 40 }")"
	"allreduce_total_s|Allreduce wall|s|info||"
	"stencil_total_s|stencil wall|s|info||"
	"wall_s|whole mpiexec run|s|info||"
)
# the floor F (ns), median of the native runs (the split runs measure it too: same CPU)
FLOOR=$(values native floor_fsbase_ns | median) || FLOOR=-1
FLOOR_S=$(values split floor_fsbase_ns | median) || FLOOR_S=-1
# floor_of KIND NATIVE UNIT CROSSINGS: prints "added best" (added in the row's unit; for bw the
# added time per window in ns), or "- -" without a floor
floor_of() {
	awk -v f="$FLOOR" -v k="$1" -v nat="$2" -v u="$3" -v c="$4" 'BEGIN {
		if (f <= 0 || k == "info") { print "- -"; exit }
		if (k == "bw") { split(c, w, ":"); t = w[1] * w[2] / nat * 1e3; a = (w[1] + 2) * f
			printf "%.0fns/win %.3f\n", a, t / (t + a); exit }
		s = (u ~ /^ns/ ? 1 : u == "us" ? 1e-3 : 1e-9); a = c * f * s
		printf "%.3g %.3f\n", a, (nat + a) / nat }'
}
echo
echo "splitckpt MPI overhead, native vs split, 2 ranks, UCX_TLS=$UCX_TLS ($(uname -n), $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ))"
echo "each figure: median over $REPS runs per mode (interleaved) of the run's median of its undisturbed short samples (within 1.5x of the best; $INNER samples for gate/latency/bandwidth; Allreduce, stencil: chunks x median chunk); n_sprd/s_sprd = (max-min)/median over the runs; kept = % of samples undisturbed, native/split"
echo "hardware floor of one gate crossing (rdfsbase + 2 wrfsbase, this run): $FLOOR ns (native runs), $FLOOR_S ns (split runs); floor = what one crossing per call adds at the least, best = the ratio it leaves, reach = whether the target is reachable with one crossing per call"
FMT='%-23s %-7s %10s %10s %7s %8s %7s %7s %8s  %-14s %-6s %9s %6s %s\n'
printf "$FMT" benchmark unit native split ratio added n_sprd s_sprd kept target result floor best reach
NPASS=0 NTARGET=0
for r in "${ROWS[@]}"; do
	IFS='|' read -r key label unit kind lim cross <<<"$r"
	nat=$(values native "$key" | median) || continue # benchmark not run (--only)
	spl=$(values split "$key" | median) || die "split runs have no $key"
	nsp=$(values native "$key" | spread) ssp=$(values split "$key" | spread)
	kept=-
	if [ "$kind" != info ]; then
		kept="$(kept native "$key")/$(kept split "$key")"
	fi
	# ratio and added: medians over the run pairs (native i and split i ran back to back), so
	# that a change of the machine's load between pairs cancels out
	ratio=$(pairs "$key" '$2 / $1' | median | awk '{ printf "%.3f", $1 }')
	diff=$(pairs "$key" '$2 - $1' | median)
	added=-
	case $kind in
	gate)
		added=$(calc %.2f "$diff")
		target="added<=${lim}ns"
		pass=$(awk "BEGIN { print ($added <= $lim) }")
		;;
	time)
		added=$(calc %.3g "$diff")
		target="ratio<=$lim"
		pass=$(awk "BEGIN { print ($ratio <= $lim) }")
		;;
	bw)
		target="ratio>=$lim"
		pass=$(awk "BEGIN { print ($ratio >= $lim) }")
		;;
	info)
		added=$(calc %.3g "$diff")
		target=- pass=-
		;;
	esac
	case $pass in
	1) result=PASS NPASS=$((NPASS + 1)) NTARGET=$((NTARGET + 1)) ;;
	0) result=FAIL NTARGET=$((NTARGET + 1)) ;;
	*) result=- ;;
	esac
	read -r fl best <<<"$(floor_of "$kind" "$nat" "$unit" "$cross")"
	reach=-
	if [ "$best" != - ]; then
		case $kind in
		gate) reach=$(awk "BEGIN { print ($FLOOR <= $lim) ? \"yes\" : \"no\" }") ;;
		time) reach=$(awk "BEGIN { print ($best <= $lim) ? \"yes\" : \"no\" }") ;;
		bw) reach=$(awk "BEGIN { print ($best >= $lim) ? \"yes\" : \"no\" }") ;;
		esac
	fi
	printf "$FMT" "$label" "$unit" "$nat" "$spl" "$ratio" "$added" "$nsp" "$ssp" "$kept" "$target" \
		"$result" "$fl" "$best" "$reach"
done
echo "ratio = split/native (for bandwidth too: higher is better there), added = split - native: both the median over the $REPS run pairs (native and split run back to back); wall rows: the loops' actual wall time, noise included (no target)"
echo "targets: $NPASS of $NTARGET PASS"
if [ -n "$AB" ]; then
	echo
	echo "A/B: split = $BIN, split-B = $(cd "$AB" && pwd); ratio = split/split-B, median over the $REPS runs i (run back to back): above 1 for bandwidth, below 1 for times means the first build is faster"
	FMTB='%-23s %-7s %10s %10s %7s %7s %7s\n'
	printf "$FMTB" benchmark unit split split-B ratio s_sprd b_sprd
	for r in "${ROWS[@]}"; do
		IFS='|' read -r key label unit kind lim cross <<<"$r"
		spl=$(values split "$key" | median) || continue
		splb=$(values splitb "$key" | median) || die "split-B runs have no $key"
		ratio=$(pairs "$key" '$2 / $1' splitb split | median | awk '{ printf "%.3f", $1 }')
		printf "$FMTB" "$label" "$unit" "$spl" "$splb" "$ratio" "$(values split "$key" | spread)" \
			"$(values splitb "$key" | spread)"
	done
fi
OK=1
[ "$STRICT" = 1 ] && [ "$NPASS" != "$NTARGET" ] && exit 3
exit 0
