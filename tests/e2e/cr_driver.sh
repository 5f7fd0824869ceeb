#!/bin/bash
# cr_driver.sh - the one driver behind every end-to-end checkpoint/restart CTest.
#
#   cr_driver.sh --bin BUILD_OR_BIN_DIR [options] -- prog args...
#
# Flow: make a temp dir; start `dmtcp_coordinator -p 0 --port-file F --ckptdir DIR` (its own
# port, so tests never share a coordinator); start a native run of the same program in the
# background (the reference answer); `dmtcp_launch` the program in its own session with stdout
# to a file; wait for "READY"; take N blocking checkpoints (`dmtcp_command -bc`, or wait for
# periodic ones with --interval); kill -9 the whole job (every pid the coordinator lists, every
# process of the session, the launch pid); restart (restart script, image files, or a chosen
# generation directory); wait until the restarted job has exited; then require "PASS", no
# "FAIL", and an ANSWER line equal to the native run's. Test programs follow tests/progs/tp.h.
# Pace (tests/progs/cr_go.h): the job runs with CR_GO=$T/go, a file made only before the
# restart that must run to the end (the last of --restarts, each of --restart-each): until then
# the program holds before the last quarter of its steps, so it never ends before the kill
# however slow the checkpoints are; after it the restarted program runs its remaining steps
# without pauses.
# The native runs get a go file that exists from the start.
#
# Options:
#   --bin DIR            build dir (launcher/, coordinator/ below it) or a bin dir
#   --ckpts N            blocking checkpoints before the kill (default 1)
#   --sleep S            seconds between checkpoints and before the first (default 1)
#   --interval N         periodic mode: launch with -i N instead of -bc; kill once --min-gen
#   --wait S             periodic mode: at most S seconds (default 5) until generation --min-gen
#   --min-gen G          periodic mode: the newest generation must reach G (default 2)
#   --restart-via M      script (default) | images | dir
#   --restart-gen K      restart from generation K (gen-00000K/); implies --restart-via dir
#   --restart-each       restart from every generation in turn (each one runs to the end)
#   --restarts N         checkpoint+kill+restart cycles (default 1); cycle i > 1 restarts from
#                        the generation the previous cycle made
#   --duration D         replace @DURATION@ in the program arguments with D
#   --no-gzip | --open-files | --keep N    passed to dmtcp_launch
#   --clobber FILE       after the kill, overwrite FILE (in the run dir) with other bytes
#   --env VAR=VALUE      environment of the program (native and checkpointed), repeatable
#   --no-strict          pass --no-strict-checking to dmtcp_restart
#   --through-pipe       launch and restart as `cmd 2>&1 | cat`: the job's stdout and stderr
#                        are one pipe to a process outside the job (not one of its pipes)
#   --damage KIND        negative: restart a damaged copy of the image (truncate, bitflip:OFF
#                        with OFF a byte offset or "mid"); it must fail naming the file
#   --restart-as USER    negative: restart as USER (setpriv); must fail with "made by uid"
#   --native-only        only run the program natively (twice) and check PASS + same ANSWER
#   --expect-fail REGEX  run `prog args` (a front-end command, not a test program) and require
#                        a non-zero exit and output matching REGEX
#   --timeout S          limit for the program to finish after a restart (default 120)
# Exit: 0 pass, 1 fail, 77 skipped. CR_KEEP=1 keeps the temp dir.
set -u -o pipefail

BIN="" CKPTS=1 SLEEP=1 INTERVAL="" WAIT=5 MIN_GEN=2 VIA=script RGEN="" EACH=0 RESTARTS=1
DURATION="" CLOBBER="" NOSTRICT=0 DAMAGE="" RESTART_AS="" NATIVE_ONLY=0 EXPECT_FAIL=""
WRAP=()
TIMEOUT=120 LAUNCH_OPTS=() PROG_ENV=()

die() { echo "cr_driver: FAIL: $*" >&2; exit 1; }
note() { echo "cr_driver: $*" >&2; }

while [ $# -gt 0 ]; do
	case "$1" in
	--bin) BIN=$2; shift 2 ;;
	--ckpts) CKPTS=$2; shift 2 ;;
	--sleep) SLEEP=$2; shift 2 ;;
	--interval) INTERVAL=$2; shift 2 ;;
	--wait) WAIT=$2; shift 2 ;;
	--min-gen) MIN_GEN=$2; shift 2 ;;
	--restart-via) VIA=$2; shift 2 ;;
	--restart-gen) RGEN=$2; VIA=dir; shift 2 ;;
	--restart-each) EACH=1; shift ;;
	--restarts) RESTARTS=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--no-gzip) LAUNCH_OPTS+=(--no-gzip); shift ;;
	--open-files) LAUNCH_OPTS+=(--ckpt-open-files); shift ;;
	--keep) LAUNCH_OPTS+=(--keep "$2"); shift 2 ;;
	--clobber) CLOBBER=$2; shift 2 ;;
	--env) PROG_ENV+=("$2"); shift 2 ;;
	--no-strict) NOSTRICT=1; shift ;;
	--through-pipe) WRAP=(bash -c '"$@" 2>&1 | cat' cr_pipe); shift ;;
	--damage) DAMAGE=$2; shift 2 ;;
	--restart-as) RESTART_AS=$2; shift 2 ;;
	--native-only) NATIVE_ONLY=1; shift ;;
	--expect-fail) EXPECT_FAIL=$2; shift 2 ;;
	--timeout) TIMEOUT=$2; shift 2 ;;
	--) shift; break ;;
	*) echo "cr_driver: unknown option '$1'" >&2; exit 2 ;;
	esac
done
[ $# -gt 0 ] || { echo "usage: cr_driver.sh --bin DIR [options] -- prog args..." >&2; exit 2; }
PROG=("$@")
if [ -n "$DURATION" ]; then
	for i in "${!PROG[@]}"; do PROG[$i]=${PROG[$i]//@DURATION@/$DURATION}; done
fi

# ---- programs -------------------------------------------------------------------------------
find_bin() { # find_bin NAME SUBDIR
	local c
	for c in "$BIN/$1" "$BIN/$2/$1"; do
		if [ -x "$c" ]; then echo "$c"; return 0; fi
	done
	return 1
}
if [ -n "$BIN" ]; then BIN=$(cd "$BIN" && pwd) || die "no such dir: $BIN"; fi
if [ "$NATIVE_ONLY" = 0 ] && [ -z "$EXPECT_FAIL" ]; then
	LAUNCH=$(find_bin dmtcp_launch launcher) || die "dmtcp_launch not found under $BIN"
	RESTART=$(find_bin dmtcp_restart launcher) || die "dmtcp_restart not found under $BIN"
	COORD=$(find_bin dmtcp_coordinator coordinator) || die "dmtcp_coordinator not found under $BIN"
	CMD=$(find_bin dmtcp_command coordinator) || die "dmtcp_command not found under $BIN"
	# The restart script looks for dmtcp_restart on PATH first: make it ours.
	export PATH="$(dirname "$RESTART"):$(dirname "$COORD"):$PATH"
fi

# ---- temp dir and cleanup -------------------------------------------------------------------
T=$(mktemp -d "${TMPDIR:-/tmp}/cr_driver.XXXXXX") || exit 1
mkdir -p "$T/run" "$T/native" "$T/ckpt" "$T/state"
chmod 700 "$T/state"
export SPLITCKPT_STATE_DIR="$T/state" # secrets of this test's coordinators only
export CR_GO=$T/go # the job's go file (made before the last restart); natives: go.native
touch "$T/go.native"
unset SPLITCKPT_SECRET
COORD_PID="" PORT="" SESSIONS=() BG_PIDS=() CLEAN_DIRS=() PASSED=0 NATIVE_ANSWER="" NPEERS=0

pids_in_session() { # pids of every process whose session id is $1
	local sid=$1 f s p
	for f in /proc/[0-9]*/stat; do
		{ read -r s <"$f"; } 2>/dev/null || continue # a builtin: no fork per process (polled)
		s=${s##*) }
		set -- $s
		if [ "${4:-}" = "$sid" ]; then
			p=${f#/proc/}
			echo "${p%/stat}"
		fi
	done
}

coord_cmd() { "$CMD" -h localhost -p "$PORT" "$@"; }
coord_pids() { # real pids the coordinator lists: "N, prog[vpid:realpid]@host, ..."
	[ -n "$PORT" ] || return 0
	coord_cmd -l 2>/dev/null | sed -n 's/.*\[[0-9]*:\([0-9][0-9]*\)\]@.*/\1/p'
}
coord_peers() {
	coord_cmd -s 2>/dev/null | sed -n 's/.*NUM_PEERS=\([0-9][0-9]*\).*/\1/p' | head -1
}
peers_are() { [ "$(coord_peers)" = "$1" ]; } # evaluated on every poll of wait_for

kill_job() { # kill -9 every process of the job; wait until they are gone
	local p pids=() s i
	for p in $(coord_pids); do pids+=("$p"); done
	for s in "${SESSIONS[@]}"; do
		for p in $(pids_in_session "$s"); do pids+=("$p"); done
		pids+=("$s")
	done
	[ ${#pids[@]} -gt 0 ] || return 0
	kill -9 "${pids[@]}" 2>/dev/null
	for i in $(seq 1 100); do
		local alive=0
		for p in "${pids[@]}"; do
			if [ -e "/proc/$p" ] && ! grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null; then
				alive=1
			fi
		done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	SESSIONS=()
}

cleanup() {
	local rc=$?
	set +e
	kill_job
	for p in "${BG_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	if [ -n "$COORD_PID" ]; then
		coord_cmd -q >/dev/null 2>&1
		for i in $(seq 1 20); do kill -0 "$COORD_PID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$COORD_PID" 2>/dev/null
		wait "$COORD_PID" 2>/dev/null
	fi
	if [ "$PASSED" != 1 ] && [ $rc != 77 ]; then
		for f in "$T"/*.out "$T"/*.log "$T"/run/*.out; do
			[ -f "$f" ] || continue
			echo "---- ${f#$T/} (last 40 lines) ----" >&2
			tail -n 40 "$f" | cut -c1-300 >&2
		done
	fi
	for d in "${CLEAN_DIRS[@]}"; do rm -rf "$d"; done
	if [ "${CR_KEEP:-0}" = 1 ]; then note "kept $T"; else rm -rf "$T"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- helpers ---------------------------------------------------------------------------------
wait_for() { # wait_for SECONDS COMMAND...: poll until COMMAND succeeds
	local deadline=$((SECONDS + $1))
	shift
	while ! "$@"; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.1
	done
}
has_line() { grep -aq "$1" "${@:2}" 2>/dev/null; }
answer_of() { grep -ah '^ANSWER:' "$@" 2>/dev/null | tail -n 1; }

start_native() { # run the program uninterrupted in $T/native, in the background
	(cd "$T/native" && exec env CR_GO="$T/go.native" "${PROG_ENV[@]}" "${PROG[@]}") >"$T/native.out" 2>"$T/native.log" </dev/null &
	NATIVE_PID=$!
	BG_PIDS+=("$NATIVE_PID")
}
finish_native() {
	wait "$NATIVE_PID"
	local rc=$?
	has_line '^PASS$' "$T/native.out" || die "the native run did not PASS (exit $rc): $(tail -n 3 "$T/native.out")"
	NATIVE_ANSWER=$(answer_of "$T/native.out")
	[ -n "$NATIVE_ANSWER" ] || die "the native run printed no ANSWER line"
}

# ---- mode: a front-end command must fail ----------------------------------------------------
if [ -n "$EXPECT_FAIL" ]; then
	(cd "$T/run" && "${PROG[@]}") >"$T/cmd.out" 2>&1 </dev/null
	rc=$?
	[ $rc != 0 ] || die "'${PROG[*]}' succeeded; expected a failure matching '$EXPECT_FAIL'"
	grep -Eq -- "$EXPECT_FAIL" "$T/cmd.out" || die "output of '${PROG[*]}' (exit $rc) does not match '$EXPECT_FAIL'"
	note "'${PROG[*]}' failed as expected (exit $rc): $(head -n 1 "$T/cmd.out")"
	PASSED=1
	exit 0
fi

# ---- mode: native only ----------------------------------------------------------------------
if [ "$NATIVE_ONLY" = 1 ]; then
	start_native
	first=$NATIVE_PID
	(mkdir -p "$T/native2" && cd "$T/native2" && exec env CR_GO="$T/go.native" "${PROG_ENV[@]}" "${PROG[@]}") >"$T/native2.out" 2>&1 </dev/null &
	second=$!
	BG_PIDS+=("$second")
	has_line '^READY$' "$T/native.out" || wait_for 60 has_line '^READY$' "$T/native.out" || die "no READY line"
	finish_native
	wait "$second" || die "the second native run failed"
	a2=$(answer_of "$T/native2.out")
	[ "$a2" = "$NATIVE_ANSWER" ] || die "ANSWER is not deterministic: '$NATIVE_ANSWER' vs '$a2'"
	grep -aq '^FAIL' "$T/native.out" "$T/native2.out" && die "a FAIL line was printed"
	note "native runs PASS with $NATIVE_ANSWER"
	PASSED=1
	exit 0
fi

# ---- the coordinator --------------------------------------------------------------------------
"$COORD" -p 0 --port-file "$T/port" --ckptdir "$T/ckpt" >"$T/coord.log" 2>&1 </dev/null &
COORD_PID=$!
wait_for 15 test -s "$T/port" || die "dmtcp_coordinator wrote no port file"
PORT=$(head -n 1 "$T/port")
wait_for 10 coord_cmd -s >/dev/null 2>&1 || die "dmtcp_command -s cannot reach the coordinator on port $PORT"
note "coordinator pid $COORD_PID on port $PORT, temp dir $T"

start_native

# ---- launch -----------------------------------------------------------------------------------
launch_opts=(-h localhost -p "$PORT" -j --ckptdir "$T/ckpt" "${LAUNCH_OPTS[@]}")
[ -n "$INTERVAL" ] && launch_opts+=(-i "$INTERVAL")
(cd "$T/run" && exec setsid "${WRAP[@]}" env "${PROG_ENV[@]}" "$LAUNCH" "${launch_opts[@]}" "${PROG[@]}") \
	>"$T/run/launch.out" 2>"$T/launch.log" </dev/null &
LAUNCH_PID=$!
SESSIONS+=("$LAUNCH_PID")
wait_for 60 has_line '^READY$' "$T/run/launch.out" ||
	die "the launched program printed no READY within 60 s (dmtcp_launch pid $LAUNCH_PID)"
note "launched (pid $LAUNCH_PID), READY"

newest_gen() { # highest gen-NNNNNN number under $T/ckpt, or 0
	local g best=0 d
	for d in "$T"/ckpt/gen-*; do
		[ -d "$d" ] || continue
		g=$((10#${d##*/gen-}))
		[ $g -gt $best ] && best=$g
	done
	echo $best
}
gen_dir() { printf '%s/ckpt/gen-%06d' "$T" "$1"; }

checkpoint() { # one blocking checkpoint; fails the test if the program ended meanwhile
	local out
	out=$(coord_cmd -bc 2>&1) || die "dmtcp_command -bc failed: $out"
	note "checkpoint: $(echo "$out" | tr '\n' ' ' | cut -c1-200)"
}

assert_still_running() {
	if has_line '^PASS$\|^FAIL\|^ANSWER:' "$T/run/launch.out"; then
		die "the program finished before it was killed; give it a longer duration"
	fi
}

# ---- restart ----------------------------------------------------------------------------------
NRESTART=0
start_session() { # start_session CMD...: run CMD in its own session, output to restartN.out/.log
	NRESTART=$((NRESTART + 1))
	note "restart $NRESTART: $*"
	(cd "$T/run" && exec setsid "${WRAP[@]}" "$@") >"$T/run/restart$NRESTART.out" \
		2>"$T/restart$NRESTART.log" </dev/null &
	RESTART_PID=$!
	SESSIONS+=("$RESTART_PID")
}

restart_job() { # restart_job HOW [GEN]
	local how=$1 gen=${2:-} extra=()
	[ "$NOSTRICT" = 1 ] && extra+=(--no-strict-checking)
	case $how in
	script)
		[ -f "$T/ckpt/dmtcp_restart_script.sh" ] || die "no restart script in $T/ckpt"
		start_session bash "$T/ckpt/dmtcp_restart_script.sh"
		;;
	images)
		start_session "$RESTART" -h localhost -p "$PORT" -j "${extra[@]}" "$T"/ckpt/ckpt_*.dmtcp
		;;
	dir)
		[ -n "$gen" ] || gen=$(newest_gen)
		local d
		d=$(gen_dir "$gen")
		[ -d "$d" ] || die "no generation directory $d"
		# new images of this restart go elsewhere, so the older generations stay intact
		start_session "$RESTART" -h localhost -p "$PORT" -j --ckptdir "$T/ckpt-r$((NRESTART + 1))" \
			"${extra[@]}" "$d"
		;;
	*) die "unknown --restart-via '$how'" ;;
	esac
}

job_done() { # the restarted session has no process left
	[ -z "$(pids_in_session "$RESTART_PID")" ]
}

wait_restart() { # wait_restart SECONDS: 0 and RESTART_RC set if the session ended in time
	wait_for "$1" job_done || return 1
	wait "$RESTART_PID" 2>/dev/null
	RESTART_RC=$?
	SESSIONS=()
}

check_run() { # check_run LABEL: outputs of the launch and of the last restart
	local files=("$T/run/launch.out" "$T/run/restart$NRESTART.out")
	wait_restart "$TIMEOUT" || die "$1: the restarted job did not finish within $TIMEOUT s"
	[ -n "$NATIVE_ANSWER" ] || finish_native
	if grep -aq '^FAIL' "${files[@]}"; then die "$1: the program reported $(grep -ah '^FAIL' "${files[@]}" | head -n 1)"; fi
	has_line '^PASS$' "${files[@]}" || die "$1: no PASS after the restart (restart exit $RESTART_RC)"
	local ans
	ans=$(answer_of "${files[@]}")
	[ "$ans" = "$NATIVE_ANSWER" ] || die "$1: answer '$ans' differs from the uninterrupted run's '$NATIVE_ANSWER'"
	note "$1: PASS, answer matches the native run ($ans)"
}

wait_no_peers() { # after a kill the coordinator must have dropped every process
	wait_for 20 peers_are 0 || note "warning: coordinator still lists $(coord_peers) processes"
}

# ---- the scenario -----------------------------------------------------------------------------
sleep "$SLEEP"
if [ -n "$INTERVAL" ]; then
	# --min-gen generations within --wait seconds (polled: done as soon as they are there)
	wait_for "$WAIT" eval '[ "$(newest_gen)" -ge "$MIN_GEN" ]'
	assert_still_running
	g=$(newest_gen)
	[ "$g" -ge "$MIN_GEN" ] || die "after $WAIT s with -i $INTERVAL the newest generation is $g (< $MIN_GEN)"
	note "periodic checkpoints reached generation $g"
	CKPTS=0
fi

for cycle in $(seq 1 "$RESTARTS"); do
	if [ "$cycle" -gt 1 ]; then
		wait_for 60 peers_are "$NPEERS" ||
			die "cycle $cycle: $(coord_peers) of $NPEERS processes reconnected after the restart"
	fi
	for i in $(seq 1 "$CKPTS"); do
		[ "$i" -gt 1 ] && sleep "$SLEEP"
		checkpoint
	done
	[ "$cycle" = 1 ] && NPEERS=$(coord_peers)
	[ "$cycle" = 1 ] && assert_still_running
	gen=$(newest_gen)
	[ "$gen" -ge 1 ] || die "no gen-NNNNNN directory in $T/ckpt after the checkpoint"
	kill_job
	wait_no_peers
	note "cycle $cycle: killed the job after generation $gen"

	if [ -n "$CLOBBER" ]; then
		yes "clobbered by cr_driver" | head -c 100000 >"$T/run/$CLOBBER"
	fi

	if [ -n "$DAMAGE" ]; then # negative: a damaged copy must be refused, naming the file
		mkdir -p "$T/damaged"
		img=$(ls "$(gen_dir "$gen")"/ckpt_*.dmtcp | head -n 1)
		[ -f "$img" ] || die "no image in $(gen_dir "$gen")"
		bad="$T/damaged/$(basename "$img")"
		cp "$img" "$bad"
		size=$(stat -c %s "$bad")
		case $DAMAGE in
		truncate) truncate -s $((size / 2)) "$bad" ;;
		bitflip:*)
			off=${DAMAGE#bitflip:}
			[ "$off" = mid ] && off=$((size / 2))
			byte=$(od -An -tu1 -j "$off" -N1 "$bad" | tr -d ' ')
			printf "$(printf '\\%03o' $(((byte ^ 0x10) & 255)))" |
				dd of="$bad" bs=1 seek="$off" conv=notrunc status=none
			;;
		*) die "unknown --damage '$DAMAGE'" ;;
		esac
		start_session "$RESTART" -h localhost -p "$PORT" -j "$bad"
		wait_restart 60 || die "a restart from the damaged image ($DAMAGE) was still running after 60 s"
		out=$(cat "$T/run/restart$NRESTART.out" "$T/restart$NRESTART.log")
		[ "$RESTART_RC" != 0 ] || die "dmtcp_restart accepted a damaged image ($DAMAGE)"
		echo "$out" | grep -q "$(basename "$bad")" || die "the error does not name the damaged file: $out"
		echo "$out" | grep -q '^PASS$' && die "the damaged image was run"
		note "damaged image ($DAMAGE) refused (exit $RESTART_RC): $(echo "$out" | grep "$(basename "$bad")" | grep -v 'restarting' | head -n 1)"
		PASSED=1
		exit 0
	fi

	if [ -n "$RESTART_AS" ]; then # negative: another user must be refused
		command -v setpriv >/dev/null || { note "SKIP: no setpriv"; exit 77; }
		[ "$(id -u)" = 0 ] || { note "SKIP: needs root to switch users"; exit 77; }
		id "$RESTART_AS" >/dev/null 2>&1 || { note "SKIP: no user $RESTART_AS"; exit 77; }
		as=(setpriv --reuid="$RESTART_AS" --regid="$(id -g "$RESTART_AS")" --clear-groups --)
		"${as[@]}" test -x "$RESTART" || { note "SKIP: $RESTART_AS cannot run $RESTART"; exit 77; }
		pub=$(mktemp -d /tmp/cr_driver_pub.XXXXXX)
		CLEAN_DIRS+=("$pub")
		chmod 755 "$pub"
		cp "$(gen_dir "$gen")"/ckpt_*.dmtcp "$pub/"
		chmod 644 "$pub"/*
		out=$(cd "$pub" && timeout 60 "${as[@]}" "$RESTART" -h localhost -p "$PORT" "$pub"/ckpt_*.dmtcp 2>&1 </dev/null)
		rc=$?
		rm -rf "$pub"
		[ $rc != 0 ] || die "dmtcp_restart as $RESTART_AS accepted images of uid $(id -u)"
		echo "$out" | grep -q "made by uid $(id -u)" || die "unexpected error for another uid: $out"
		note "restart as $RESTART_AS refused: $(echo "$out" | head -n 1)"
		PASSED=1
		exit 0
	fi

	if [ "$EACH" = 1 ]; then
		touch "$T/go" # every restart runs to the end
		for g in $(seq 1 "$gen"); do
			[ -d "$(gen_dir "$g")" ] || die "generation $g was not kept (use --keep 0)"
			: >"$T/run/launch.out" # a restored stdout writes at its old offset: grep -a copes
			restart_job dir "$g"
			check_run "restart from generation $g"
		done
		PASSED=1
		exit 0
	fi

	[ "$cycle" -lt "$RESTARTS" ] || touch "$T/go" # this restart runs to the end
	restart_job "$VIA" "$RGEN"
	if [ "$cycle" -lt "$RESTARTS" ]; then
		# let the restarted job run, then checkpoint it again in the next cycle
		sleep "$SLEEP"
		if has_line '^PASS$\|^FAIL\|^ANSWER:' "$T/run/launch.out" "$T/run/restart$NRESTART.out"; then
			die "cycle $cycle: the program finished before the next checkpoint; give it a longer duration"
		fi
		RGEN=""
		continue
	fi
	check_run "after $RESTARTS restart(s)"
done
PASSED=1
exit 0
