#!/bin/bash
# incr_cr.sh - an MPI job checkpointed with incremental images (--full-every, through
# DMTCP_FULL_EVERY), killed and restarted from the newest generation (tests/mpi-ckpt/mpi_cr.sh
# does launch, checkpoints, kill -9, restart, native ANSWER); then checks that the newest
# generation really was incremental: every rank's image of generation K names its parent in
# generation K-1, down to generation 1 (a chain of K images restored).
#   incr_cr.sh DRIVER BUILD_DIR N K -- prog args...
set -u -o pipefail
DRIVER=$1 BIN=$2 N=$3 K=$4
shift 5
LOG=$(mktemp "${TMPDIR:-/tmp}/incr_cr.XXXXXX") || exit 1
KEPT=""
cleanup() { rm -f "$LOG"; [ -n "$KEPT" ] && rm -rf "$KEPT"; }
trap cleanup EXIT
MC_KEEP=1 DMTCP_FULL_EVERY=$((K + 5)) bash "$DRIVER" --bin "$BIN" -n "$N" --ckpts "$K" -- "$@" 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}
KEPT=$(sed -n 's/^mpi_cr: \(\[[0-9]*s\] \)\{0,1\}kept //p' "$LOG" | tail -n 1)
[ "$rc" = 0 ] || { echo "incr_cr: FAIL: the checkpoint/restart failed"; exit 1; }
[ -d "$KEPT/ckpt" ] || { echo "incr_cr: FAIL: no kept directory"; exit 1; }
for g in $(seq 2 "$K"); do
	d=$(printf '%s/ckpt/gen-%06d' "$KEPT" "$g")
	p=$(printf '../gen-%06d/' $((g - 1)))
	n=0
	for img in "$d"/*.dmtcp; do
		grep -aq -- "$p" "$img" || { echo "incr_cr: FAIL: $img is not an incremental image on generation $((g - 1)) (full image)"; exit 1; }
		n=$((n + 1))
	done
	[ "$n" = "$N" ] || { echo "incr_cr: FAIL: generation $g has $n images, not $N"; exit 1; }
	echo "incr_cr: generation $g: $n incremental images on generation $((g - 1))"
done
echo "incr_cr: restarted from generation $K, a chain of $K images per rank: same ANSWER as the native run"
