# bench_lib.sh - shell helpers shared by the checkpoint benchmarks (sourced, not run):
# ckpt_size_time.sh, ckpt_fixed_cost.sh, ckpt_incremental.sh, ckpt_stall.sh.
#
# The caller sets BIN (a build dir or bin dir), CMD (dmtcp_command) and PORT (its coordinator),
# COORD_PID (the coordinator it started, or "") and SESSIONS (pids of the setsid'd job
# launches), T (its temp dir, make_tmp), OK (1 once it succeeded), KEEP (--keep) and note().
# The functions only read or reset those; each script keeps its own EXIT trap (which ends with
# bench_leave) and table.

# find_bin NAME SUBDIR: BIN/NAME or BIN/SUBDIR/NAME, the first executable one
find_bin() {
	local c
	for c in "$BIN/$1" "$BIN/$2/$1"; do
		if [ -x "$c" ]; then echo "$c"; return 0; fi
	done
	return 1
}

# find_tools: LAUNCH, RESTART, COORD and CMD under $BIN, or die (the caller's die)
find_tools() {
	LAUNCH=$(find_bin dmtcp_launch launcher) || die "dmtcp_launch not found under $BIN"
	RESTART=$(find_bin dmtcp_restart launcher) || die "dmtcp_restart not found under $BIN"
	COORD=$(find_bin dmtcp_coordinator coordinator) || die "dmtcp_coordinator not found under $BIN"
	CMD=$(find_bin dmtcp_command coordinator) || die "dmtcp_command not found under $BIN"
}

# make_tmp NAME: T = a new temp dir $BASE/NAME.XXXXXX with a private state dir for the jobs,
# whose environment loses the coordinator and checkpoint settings of the caller's shell
make_tmp() {
	mkdir -p "$BASE" || die "cannot create $BASE"
	T=$(mktemp -d "$BASE/$1.XXXXXX") || die "cannot make a temp dir in $BASE"
	mkdir -m 700 "$T/state" || die "cannot create $T/state"
	export SPLITCKPT_STATE_DIR="$T/state"
	unset SPLITCKPT_SECRET DMTCP_GZIP DMTCP_CHECKPOINT_INTERVAL DMTCP_COORD_PORT DMTCP_COORD_HOST
}

# pids of every process whose session id is $1
pids_in_session() {
	local sid=$1 f s p
	for f in /proc/[0-9]*/stat; do
		s=$(cat "$f" 2>/dev/null) || continue
		s=${s##*) }
		set -- $s
		if [ "${4:-}" = "$sid" ]; then
			p=${f#/proc/}
			echo "${p%/stat}"
		fi
	done
}

coord_cmd() { "$CMD" -h localhost -p "$PORT" "$@"; }

# the real pids the coordinator lists (processes of the job outside our sessions too)
coord_pids() {
	[ -n "$PORT" ] || return 0
	coord_cmd -l 2>/dev/null | sed -n 's/.*\[[0-9]*:\([0-9][0-9]*\)\]@.*/\1/p'
}

# gone PID...: true when none of them is alive (zombies count as gone)
gone() {
	local p
	for p in "$@"; do
		if [ -e "/proc/$p" ] && ! grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null; then
			return 1
		fi
	done
}

# kill -9 every process of the job (coordinator's list and our sessions) and wait until gone
kill_job() {
	local p pids=() s i
	for p in $(coord_pids); do pids+=("$p"); done
	for s in "${SESSIONS[@]}"; do
		for p in $(pids_in_session "$s"); do pids+=("$p"); done
		pids+=("$s")
	done
	[ ${#pids[@]} -gt 0 ] || return 0
	kill -9 "${pids[@]}" 2>/dev/null
	for i in $(seq 1 200); do gone "${pids[@]}" && break; sleep 0.05; done
	for s in "${SESSIONS[@]}"; do { wait "$s"; } 2>/dev/null; done
	SESSIONS=()
}

# ask our coordinator to quit, kill -9 it after 2 s
stop_coord() {
	[ -n "$COORD_PID" ] || return 0
	coord_cmd -q >/dev/null 2>&1
	local i
	for i in $(seq 1 40); do kill -0 "$COORD_PID" 2>/dev/null || break; sleep 0.05; done
	kill -9 "$COORD_PID" 2>/dev/null
	wait "$COORD_PID" 2>/dev/null
	COORD_PID="" PORT=""
}

# wait_for SECONDS COMMAND...: poll every 10 ms until COMMAND succeeds
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	while ! "$@"; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.01
	done
}
# bench_leave FILE...: the end of every EXIT trap, after the processes are gone: when the run
# did not succeed (OK != 1) the last 20 lines of each non-empty FILE, then the temp dir removed
# (kept with --keep)
bench_leave() {
	local f
	if [ "$OK" != 1 ]; then
		for f in "$@"; do
			[ -s "$f" ] || continue
			echo "---- ${f#$T/} (last 20 lines) ----" >&2
			tail -n 20 "$f" | cut -c1-300 >&2
		done
	fi
	if [ "$KEEP" = 1 ]; then note "kept $T"; else rm -rf "$T"; fi
}

has_line() { grep -aq "$1" "${@:2}" 2>/dev/null; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; } # calc FORMAT EXPR
