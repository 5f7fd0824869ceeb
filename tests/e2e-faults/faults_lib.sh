#!/bin/bash
# faults_lib.sh - helpers of faults.sh (sourced): temp dir and cleanup, sessions, coordinators,
# the job and its native reference run. Sets T, BIN, LAUNCH, RESTART, COORD, CMD.
#
# Processes: every program of a test runs in a session of its own (`setsid -f`), so cleanup
# kills whole sessions and nothing is a child of the test shell; coordinators and native runs
# are background jobs of the shell. Mounts made with track_mount are unmounted in the trap,
# after every process is gone. FAULTS_KEEP=1 keeps the temp dir.

abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
BIN=$(abs "$2") FT_MEM=$(abs "$3") FT_IMG=$(abs "$4")
LAUNCH=$BIN/launcher/dmtcp_launch RESTART=$BIN/launcher/dmtcp_restart
COORD=$BIN/coordinator/dmtcp_coordinator CMD=$BIN/coordinator/dmtcp_command
for p in "$LAUNCH" "$RESTART" "$COORD" "$CMD" "$FT_MEM" "$FT_IMG"; do
	[ -x "$p" ] || { echo "faults: FAIL: $p is missing" >&2; exit 1; }
done
export PATH="$BIN/launcher:$BIN/coordinator:$PATH" # the restart script finds ours first

T=$(mktemp -d "${TMPDIR:-/tmp}/faults.XXXXXX") || exit 1
mkdir -m 700 "$T/state"
mkdir -p "$T/run" "$T/ckpt"
export SPLITCKPT_STATE_DIR="$T/state"
unset SPLITCKPT_SECRET DMTCP_GZIP DMTCP_CHECKPOINT_INTERVAL DMTCP_COORD_PORT DMTCP_COORD_HOST
unset DMTCP_CHECKPOINT_DIR DMTCP_SIGCKPT SPLITCKPT_KEEP
COORDS=() SESSIONS=() BG_PIDS=() MOUNTS=() PASSED=0 PORT="" COORD_PID=""

fail() { echo "faults[$CASE]: FAIL: $*" >&2; exit 1; }
note() { echo "faults[$CASE]: $*" >&2; }

# ---- processes -------------------------------------------------------------------------------
pids_in_session() { # pids of every live (not zombie) process whose session id is $1
	local sid=$1 f s p
	for f in /proc/[0-9]*/stat; do
		{ read -r s <"$f"; } 2>/dev/null || continue # a builtin: no fork per process
		s=${s##*) }
		set -- $s
		if [ "${4:-}" = "$sid" ] && [ "$1" != Z ]; then
			p=${f#/proc/}
			echo "${p%/stat}"
		fi
	done
}
alive() { [ -e "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
session_alive() { [ -n "$(pids_in_session "$1")" ]; }
wait_gone() { # wait_gone SECONDS PID...: every PID has exited
	local deadline=$((SECONDS + $1)) p any
	shift
	while :; do
		any=0
		for p in "$@"; do alive "$p" && any=1; done
		[ $any = 0 ] && return 0
		[ $SECONDS -lt $deadline ] || return 1
		nap 0.02
	done
}
kill_sessions() { # kill -9 every process of our sessions; wait until they are gone
	local s p pids=()
	for s in "${SESSIONS[@]}"; do
		for p in $(pids_in_session "$s"); do pids+=("$p"); done
		pids+=("$s")
	done
	SESSIONS=()
	[ ${#pids[@]} -gt 0 ] || return 0
	kill -9 "${pids[@]}" 2>/dev/null
	wait_gone 10 "${pids[@]}"
}
track_mount() { MOUNTS+=("$1"); }
cleanup() {
	local rc=$? p f m i
	set +e
	kill_sessions
	for p in "${BG_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; { wait "$p"; } 2>/dev/null; done
	for p in "${COORDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	[ ${#COORDS[@]} -gt 0 ] && wait_gone 10 "${COORDS[@]}"
	for m in "${MOUNTS[@]}"; do
		for i in 1 2 3 4 5; do umount "$m" 2>/dev/null && break; sleep 0.2; done
		mountpoint -q "$m" && umount -l "$m"
	done
	if [ "$PASSED" != 1 ] && [ $rc != 77 ]; then
		for f in "$T"/*.out "$T"/*.log; do
			[ -f "$f" ] || continue
			echo "---- ${f#$T/} (last 25 lines) ----" >&2
			tail -n 25 "$f" | cut -c1-300 >&2
		done
	fi
	if [ "${FAULTS_KEEP:-0}" = 1 ]; then note "kept $T"; else rm -rf "$T"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

exec {NAP_FD}<> <(:) # a pipe nobody writes: `read -t` on it sleeps without a fork (the jobs
# and coordinators we start do not inherit it: {NAP_FD}>&-)
nap() { read -r -t "${1:-0.02}" -u "$NAP_FD" || :; }
wait_for() { # wait_for SECONDS COMMAND...: poll every 20 ms until COMMAND succeeds
	local deadline=$((SECONDS + $1))
	shift
	while ! "$@"; do
		[ $SECONDS -lt $deadline ] || return 1
		nap 0.02
	done
	return 0
}
has_line() { grep -aq "$1" "${@:2}" 2>/dev/null; }
answer_of() { grep -ah '^ANSWER:' "$@" 2>/dev/null | tail -n 1; }
sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ---- coordinator -----------------------------------------------------------------------------
coord_cmd() { "$CMD" -h localhost -p "$PORT" "$@"; }
status_field() { coord_cmd -s 2>/dev/null | sed -n "s/.*$1=\([^ ]*\).*/\1/p" | head -n 1; }
peers() { status_field NUM_PEERS; }
peers_are() { [ "$(peers)" = "$1" ]; }
app_pids() { # real pids the coordinator lists: "N, prog[vpid:realpid]@host, ..."
	coord_cmd -l 2>/dev/null | sed -n 's/.*\[[0-9]*:\([0-9][0-9]*\)\]@.*/\1/p'
}
start_coord() { # start_coord NAME [CKPTDIR [PORT]]: sets PORT, COORD_PID; log in $T/NAME.log
	local name=$1 dir=${2:-$T/ckpt} port=${3:-0}
	rm -f "$T/$name.port"
	"$COORD" -p "$port" --port-file "$T/$name.port" --ckptdir "$dir" >"$T/$name.log" 2>&1 </dev/null {NAP_FD}>&- &
	COORD_PID=$!
	disown "$COORD_PID" # no "Killed" notice from bash when a test kills it
	COORDS+=("$COORD_PID")
	wait_for 15 test -s "$T/$name.port" || fail "$name: dmtcp_coordinator wrote no port file"
	PORT=$(head -n 1 "$T/$name.port")
	wait_for 10 coord_cmd -s >/dev/null 2>&1 || fail "$name: cannot reach the coordinator on port $PORT"
}

# ---- sessions ----------------------------------------------------------------------------------
start_session() { # start_session NAME OUT CMD...: own session, cwd $T/run, stdout appended to
	# OUT, stderr to $T/NAME.log; sets LAST_SID. `setsid -f` forks, so what we kill later is
	# never a child of this shell; the session leader writes its pid (= the session id).
	local name=$1 out=$2
	shift 2
	rm -f "$T/$name.sid"
	(cd "$T/run" && exec setsid -f sh -c 'echo $$ >"$0"; exec "$@"' "$T/$name.sid" "$@") \
		>>"$out" 2>"$T/$name.log" </dev/null {NAP_FD}>&-
	wait_for 10 test -s "$T/$name.sid" || fail "$name: the session did not start"
	LAST_SID=$(cat "$T/$name.sid")
	SESSIONS+=("$LAST_SID")
}
ready_or_dead() { has_line '^READY$' "$1" || ! session_alive "$2"; }
wait_ready() { # wait_ready OUT: the program of session $LAST_SID printed READY
	wait_for 60 ready_or_dead "$1" "$LAST_SID" && has_line '^READY$' "$1" ||
		fail "no READY in $1: $(tail -n 2 "$1")"
}

# ---- the test program --------------------------------------------------------------------------
start_native() { # start_native NAME ARGS...: ft_mem ARGS in $T/native-NAME, in a hurry
	mkdir -p "$T/native-$1"
	touch "$T/native-$1/ft_hurry"
	(cd "$T/native-$1" && exec "$FT_MEM" "${@:2}") >"$T/native-$1.out" 2>&1 </dev/null {NAP_FD}>&- &
	BG_PIDS+=("$!")
	eval "NATIVE_PID_$1=$!"
}
native_done() { # native_done NAME: wait for it; it must PASS
	local pid
	eval "pid=\$NATIVE_PID_$1"
	wait "$pid"
	has_line '^PASS$' "$T/native-$1.out" || fail "the native run $1 did not PASS: $(tail -n 2 "$T/native-$1.out")"
}
check_lines() { grep -ah '^CHECK ' "$@" 2>/dev/null; }
check_count() { check_lines "$1" | wc -l; }
checks_match_native() { # checks_match_native OUT NAME: every CHECK line of OUT is the native's
	native_done "$2"
	local bad
	bad=$(check_lines "$1" | sort -u | comm -23 - <(check_lines "$T/native-$2.out" | sort -u) | head -n 1)
	[ -z "$bad" ] || fail "$1 has '$bad', which the uninterrupted run never printed"
	grep -aq '^FAIL' "$1" && fail "$1: $(grep -ah '^FAIL' "$1" | head -n 1)"
	return 0
}
expect_pass() { # expect_pass LABEL SECONDS SID OUT NAME: the session ends, OUT has PASS + ANSWER
	local label=$1 secs=$2 sid=$3 out=$4 name=$5 a n
	wait_for "$secs" eval '! session_alive '"$sid" || fail "$label: still running after $secs s"
	checks_match_native "$out" "$name"
	has_line '^PASS$' "$out" || fail "$label: no PASS in $out"
	a=$(answer_of "$out")
	n=$(answer_of "$T/native-$name.out")
	[ "$a" = "$n" ] || fail "$label: ANSWER '$a' differs from the uninterrupted run's '$n'"
	note "$label: PASS, ANSWER matches the uninterrupted run"
}
writers_in() { # writers_in SID [FILE]: pids of session SID that have FILE (any *.dmtcp.tmp) open
	local p
	for p in $(pids_in_session "$1"); do
		find "/proc/$p/fd" -maxdepth 1 -lname "${2:-*.dmtcp.tmp}" 2>/dev/null | grep -q . && echo "$p"
	done
}
zombies_in() { # zombies_in SID: zombie processes of session SID
	local sid=$1 f s p
	for f in /proc/[0-9]*/stat; do
		{ read -r s <"$f"; } 2>/dev/null || continue
		s=${s##*) }
		set -- $s
		if [ "${4:-}" = "$sid" ] && [ "$1" = Z ]; then p=${f#/proc/}; echo "${p%/stat}"; fi
	done
}
finished() { has_line '^PASS$\|^FAIL\|^ANSWER:' "$@"; }

# ---- images --------------------------------------------------------------------------------------
gen_dir() { printf '%s/gen-%06d' "${2:-$T/ckpt}" "$1"; }
newest_complete() { # newest_complete DIR NPROCS: highest gen holding NPROCS final images, or 0
	local d g n best=0
	for d in "$1"/gen-*; do
		[ -d "$d" ] || continue
		n=$(find "$d" -maxdepth 1 -name 'ckpt_*.dmtcp' | wc -l)
		[ "$n" -ge "$2" ] || continue
		g=$((10#${d##*/gen-}))
		[ $g -gt $best ] && best=$g
	done
	echo $best
}
ckpt_ok() { # ckpt_ok: one blocking checkpoint that must succeed; LAST_CKPT_MS = its time
	local out
	out=$(coord_cmd -bc 2>&1) || fail "dmtcp_command -bc failed: $out"
	note "$out"
	LAST_CKPT_MS=$(echo "$out" | sed -n 's/.* in \([0-9]*\)\.\([0-9]*\) s$/\1\2/p' | tail -n 1)
	LAST_CKPT_MS=$((10#${LAST_CKPT_MS:-0}))
}
