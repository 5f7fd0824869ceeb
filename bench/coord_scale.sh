#!/bin/bash
# coord_scale.sh - what the coordinator costs per checkpoint of an MPI job as the number of
# ranks grows: simulated ranks (tests/unit-coord/fake_mpi: N worker connections in one
# process, real protocol over TCP) checkpointed with `dmtcp_command -bc`, each checkpoint with
# two MPI rounds (rank 0 one collective ahead: targets, catch-up, final), a tiny image per rank
# (written without fsync: the coordinator is measured, not the disk; the coordinator still
# fsyncs its MANIFEST and restart script).
#
#   coord_scale.sh [--bin BUILD_DIR] [--ranks "4 16 64 256 1024"] [--ckpts K] [--case CASE]
#
# --case (fake_mpi's): behind (default, 2 rounds), stall (every rank STALLED, one waits at a
# door: the coordinator raises its target, 3 rounds), update (round 1 answered by an update
# stream: moving, 30 ms later STALLED with nothing to raise, 30 ms later AT; 2 rounds).
#
# Prints per N: the median over K checkpoints of the -bc wall time, of SUSPEND->final targets
# (the rounds, measured in fake_mpi) and the ratio against N=first. All processes (coordinator
# and fake ranks) share this machine's cores, so the figures include the ranks' own work.
# Exit 0 when every checkpoint completed, 1 otherwise, 2 on usage errors.
set -u -o pipefail
BIN="" RANKS="4 16 64 256 1024" CKPTS=5 CASE=behind
while [ $# -gt 0 ]; do
	case "$1" in
	--bin) BIN=$2; shift 2 ;;
	--ranks) RANKS=$2; shift 2 ;;
	--ckpts) CKPTS=$2; shift 2 ;;
	--case) CASE=$2; shift 2 ;;
	-h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "coord_scale: unknown option '$1'" >&2; exit 2 ;;
	esac
done
case $CASE in
behind | update) NR=2 ;;
stall) NR=3 ;;
*) echo "coord_scale: unknown case '$CASE'" >&2; exit 2 ;;
esac
HERE=$(cd "$(dirname "$0")" && pwd)
[ -n "$BIN" ] || BIN=$HERE/../build
COORD=$BIN/coordinator/dmtcp_coordinator CMD=$BIN/coordinator/dmtcp_command
FM=$BIN/tests/unit-coord/fake_mpi
for p in "$COORD" "$CMD" "$FM"; do
	[ -x "$p" ] || { echo "coord_scale: $p missing (build first, or --bin)" >&2; exit 2; }
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null
T=$(mktemp -d "${TMPDIR:-/tmp}/coord_scale.XXXXXX")
export SPLITCKPT_STATE_DIR=$T/state
unset SPLITCKPT_SECRET DMTCP_COORD_HOST DMTCP_COORD_PORT
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
die() { echo "coord_scale: $*" >&2; exit 1; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

printf '%-6s %10s %10s %12s %12s %10s\n' ranks bc_ms rounds_ms bc_us/rank x_first rounds/ckpt
first=""
for n in $RANKS; do
	d=$T/n$n
	mkdir -p "$d/img"
	"$COORD" -p 0 --port-file "$d/port" --ckptdir "$d/img" -q </dev/null >"$d/coord.out" 2>&1 &
	cpid=$!
	PIDS+=("$cpid")
	for _ in $(seq 100); do [ -s "$d/port" ] && break; sleep 0.05; done
	port=$(cat "$d/port" 2>/dev/null) || die "no coordinator for N=$n"
	"$FM" --port "$port" --dir "$d/img" --ranks "$n" --case "$CASE" --ckpts "$CKPTS" --no-fsync \
		--ready "$d/ready" >"$d/fake.out" 2>&1 &
	fpid=$!
	PIDS+=("$fpid")
	for _ in $(seq 600); do [ -e "$d/ready" ] && break; sleep 0.05; done
	[ -e "$d/ready" ] || die "N=$n: the simulated ranks did not connect: $(tail -3 "$d/fake.out")"
	for _ in $(seq 200); do
		[ "$("$CMD" -p "$port" -l 2>/dev/null | grep -c 'rank [0-9]*/')" = "$n" ] && break
		sleep 0.05
	done
	: >"$d/bc_ms"
	for _ in $(seq "$CKPTS"); do
		t0=$(date +%s%N)
		"$CMD" -p "$port" -bc >"$d/bc.out" 2>&1 || die "N=$n: -bc failed: $(cat "$d/bc.out")"
		t1=$(date +%s%N)
		echo "$(((t1 - t0) / 1000))" >>"$d/bc_ms"
	done
	wait "$fpid" || die "N=$n: fake_mpi failed: $(tail -5 "$d/fake.out")"
	kill "$cpid" 2>/dev/null
	bc=$(median <"$d/bc_ms")
	rounds=$(sed -n 's/.*(rounds \([0-9.]*\) ms).*/\1/p' "$d/fake.out" | median)
	nr=$(grep -c "rank 0 final after $NR rounds" "$d/fake.out")
	[ "$nr" = "$CKPTS" ] || die "N=$n: $nr of $CKPTS checkpoints took $NR rounds"
	[ -n "$first" ] || first=$bc
	awk -v n="$n" -v bc="$bc" -v r="$rounds" -v f="$first" \
		-v nr="$NR" 'BEGIN { printf "%-6s %10.2f %10.2f %12.1f %12.2f %10s\n", n, bc / 1000, r, bc / n, bc / f, nr }'
done
echo "bc_ms: wall time of dmtcp_command -bc (median of $CKPTS); rounds_ms: SUSPEND to final targets seen by rank 0; x_first: bc_ms / bc_ms at the first N"
