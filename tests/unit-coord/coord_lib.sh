# coord_lib.sh - helpers shared by the unit-coord drivers (coord_test.sh, coord_mpi_test.sh).
# Sourced, not run; the driver sets T (its temp dir) before calling fail.

# fail TEXT...: print FAIL and the tail of every log in $T, exit 1 (the driver's trap cleans up).
fail() {
	echo "FAIL: $*"
	local f
	for f in "$T"/*.out "$T"/*.log; do
		[ -f "$f" ] || continue
		echo "----- $f"
		tail -n 40 "$f"
	done
	exit 1
}

# wait_for TIMEOUT_S COMMAND...: poll every 50 ms until COMMAND succeeds. A poll ends as soon
# as its condition holds, so the drivers give generous deadlines (30 s where 5 s was enough
# on a quiet machine: 2 cores at load 100 can starve the coordinator for seconds).
wait_for() {
	local limit=$(($1 * 20)) i=0
	shift
	while ! "$@" 2>/dev/null; do
		i=$((i + 1))
		[ $i -ge $limit ] && return 1
		sleep 0.05
	done
	return 0
}

has() { grep -q -- "$2" "$1"; }
