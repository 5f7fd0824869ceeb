#!/bin/bash
# robust.sh - robustness end-to-end tests: what happens when the coordinator dies, without a
# coordinator, with another checkpoint signal, with the compression switches, and when the
# interval is switched off.
#
#   robust.sh CASE BUILD_DIR TP_MEMORY RB_USR2
#
# Cases:
#   coord_killed          kill -9 of the coordinator while the job runs: the job runs on and
#                         finishes with PASS and the native run's ANSWER
#   coord_replaced        the same, then a NEW coordinator on the same port: the job must
#                         rejoin it (it retries every 2 s), `dmtcp_command -bc` must work and
#                         a restart from that image must PASS
#   coord_killed_mid_ckpt kill -9 of the coordinator while generation 2 is being written: the
#                         job resumes and finishes, generation 1 stays the committed one and a
#                         restart from it PASSes
#   no_coord_interval     `dmtcp_launch --no-coordinator -i 2`: generations appear on their
#                         own, only the newest --keep (2) stay, a restart of the newest PASSes
#   ckpt_signal_usr1      `--ckpt-signal 10` with a program that uses SIGUSR2 handlers itself
#                         (rb_usr2 handlers): two checkpoints, kill, restart, PASS and the
#                         native ANSWER
#   ckpt_signal_usr1_masks  the same with rb_usr2 masks: the program also blocks SIGUSR2,
#                         checks it is pending, and has a thread take it with sigwaitinfo
#   gzip_flags            DMTCP_GZIP=0, DMTCP_GZIP=0 with --gzip, --no-gzip and the default, one
#                         process each: `dmtcp_restart --inspect` must say compressed or not,
#                         and every image restarts to PASS
#   interval_stop         `dmtcp_launch -i 1`, then `dmtcp_command -i 0`: no checkpoint after
#                         that (also not after a restart), -bc still works, the restart PASSes
# Every case has its own temp dir, state dir and coordinator(s) on ports picked by the kernel
# (-p 0 --port-file); a trap kills every process it started and removes the dir.
# Pace (tests/progs/cr_go.h): jobs run with CR_GO=$T/go, made (go) only once a job may end:
# until then a program holds before the last quarter of its steps, so it is still running for
# every check however slow the machine; after it a program runs its remaining steps without
# pauses. The native runs get a go file that exists from the start.
# Exit: 0 pass, 1 fail, 77 skipped. ROBUST_KEEP=1 keeps the temp dir.
set -u -o pipefail

[ $# -eq 4 ] || { echo "usage: robust.sh CASE BUILD_DIR TP_MEMORY RB_USR2" >&2; exit 2; }
abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
CASE=$1 BIN=$(abs "$2") TP_MEMORY=$(abs "$3") RB_USR2=$(abs "$4")
LAUNCH=$BIN/launcher/dmtcp_launch RESTART=$BIN/launcher/dmtcp_restart
COORD=$BIN/coordinator/dmtcp_coordinator CMD=$BIN/coordinator/dmtcp_command
for p in "$LAUNCH" "$RESTART" "$COORD" "$CMD" "$TP_MEMORY" "$RB_USR2"; do
	[ -x "$p" ] || { echo "robust: FAIL: $p is missing" >&2; exit 1; }
done
export PATH="$BIN/launcher:$BIN/coordinator:$PATH" # the restart script finds ours first

T=$(mktemp -d "${TMPDIR:-/tmp}/robust.XXXXXX") || exit 1
mkdir -m 700 "$T/state"
export SPLITCKPT_STATE_DIR="$T/state"
export CR_GO=$T/go
touch "$T/go.native"
unset SPLITCKPT_SECRET DMTCP_GZIP DMTCP_CHECKPOINT_INTERVAL DMTCP_COORD_PORT DMTCP_COORD_HOST
unset DMTCP_CHECKPOINT_DIR DMTCP_SIGCKPT
COORDS=() SESSIONS=() BG_PIDS=() PASSED=0 PORT="" NATIVE_ANSWER=""

fail() { echo "robust[$CASE]: FAIL: $*" >&2; exit 1; }
note() { echo "robust[$CASE]: $*" >&2; }

# ---- processes ------------------------------------------------------------------------------
pids_in_session() { # pids of every live (not zombie) process whose session id is $1
	local sid=$1 f s p
	for f in /proc/[0-9]*/stat; do
		{ read -r s <"$f"; } 2>/dev/null || continue # a builtin: no fork per process (polled)
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
kill_sessions() { # kill -9 every process of our sessions; wait until they are gone
	local s p i pids=()
	for s in "${SESSIONS[@]}"; do
		for p in $(pids_in_session "$s"); do pids+=("$p"); done
		pids+=("$s")
	done
	[ ${#pids[@]} -gt 0 ] || return 0
	kill -9 "${pids[@]}" 2>/dev/null
	for i in $(seq 1 100); do
		local any=0
		for p in "${pids[@]}"; do alive "$p" && any=1; done
		[ $any = 0 ] && break
		sleep 0.1
	done
	SESSIONS=()
}
cleanup() {
	local rc=$? p f
	set +e
	kill_sessions
	for p in "${BG_PIDS[@]}" "${COORDS[@]}"; do kill -9 "$p" 2>/dev/null; { wait "$p"; } 2>/dev/null; done
	if [ "$PASSED" != 1 ] && [ $rc != 77 ]; then
		for f in "$T"/*.out "$T"/*.log; do
			[ -f "$f" ] || continue
			echo "---- ${f#$T/} (last 30 lines) ----" >&2
			tail -n 30 "$f" | cut -c1-300 >&2
		done
	fi
	if [ "${ROBUST_KEEP:-0}" = 1 ]; then note "kept $T"; else rm -rf "$T"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

wait_for() { # wait_for SECONDS COMMAND...: poll until COMMAND succeeds
	local deadline=$((SECONDS + $1))
	shift
	while ! "$@"; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.05
	done
}
has_line() { grep -aq "$1" "${@:2}" 2>/dev/null; }
go() { touch "$T/go"; } # from now on the programs may end (see the top)
answer_of() { grep -ah '^ANSWER:' "$@" 2>/dev/null | tail -n 1; }

# ---- coordinator ------------------------------------------------------------------------------
coord_cmd() { "$CMD" -h localhost -p "$PORT" "$@"; }
status_field() { coord_cmd -s 2>/dev/null | sed -n "s/.*$1=\([^ ]*\).*/\1/p" | head -n 1; }
peers() { status_field NUM_PEERS; }
peers_are() { [ "$(peers)" = "$1" ]; }
start_coord() { # start_coord NAME [PORT]: sets PORT; log in $T/NAME.log
	local name=$1 port=${2:-0}
	rm -f "$T/$name.port"
	"$COORD" -p "$port" --port-file "$T/$name.port" --ckptdir "$T/ckpt" >"$T/$name.log" 2>&1 </dev/null &
	COORDS+=("$!")
	COORD_PID=$!
	wait_for 15 test -s "$T/$name.port" || fail "$name: dmtcp_coordinator wrote no port file"
	PORT=$(head -n 1 "$T/$name.port")
	wait_for 10 coord_cmd -s >/dev/null 2>&1 || fail "$name: cannot reach the coordinator on port $PORT"
}

# ---- programs -----------------------------------------------------------------------------------
start_native() { # start_native PROG ARGS...: the reference ANSWER, in the background
	mkdir -p "$T/native"
	(cd "$T/native" && CR_GO=$T/go.native exec "$@") >"$T/native.out" 2>&1 </dev/null &
	NATIVE_PID=$!
	BG_PIDS+=("$NATIVE_PID")
}
native_answer() {
	[ -n "$NATIVE_ANSWER" ] && return 0
	wait "$NATIVE_PID"
	has_line '^PASS$' "$T/native.out" || fail "the native run did not PASS: $(tail -n 3 "$T/native.out")"
	NATIVE_ANSWER=$(answer_of "$T/native.out")
}
start_session() { # start_session NAME CMD...: own session, cwd $T/run, output $T/NAME.out/.log
	# `setsid -f` forks, so what we kill later is never a child of this shell (no "Killed"
	# job notices); the session leader writes its pid, which is the session id.
	mkdir -p "$T/run"
	rm -f "$T/$1.sid"
	(cd "$T/run" && exec setsid -f sh -c 'echo $$ >"$0"; exec "$@"' "$T/$1.sid" "${@:2}") \
		>"$T/$1.out" 2>"$T/$1.log" </dev/null
	wait_for 10 test -s "$T/$1.sid" || fail "$1: the session did not start"
	LAST_SID=$(cat "$T/$1.sid")
	SESSIONS+=("$LAST_SID")
}
ready_or_dead() { has_line '^READY$' "$T/$1.out" || ! session_alive "$2"; }
wait_ready() { # wait_ready NAME: the program of session $LAST_SID printed READY
	wait_for 60 ready_or_dead "$1" "$LAST_SID" && has_line '^READY$' "$T/$1.out" ||
		fail "$1: no READY: $(tail -n 2 "$T/$1.log")"
}
launch() { # launch NAME [launch options] -- PROG ARGS...: joins the coordinator on $PORT
	local name=$1
	shift
	start_session "$name" "$LAUNCH" -h localhost -p "$PORT" -j --ckptdir "$T/ckpt" "$@"
	wait_ready "$name"
}
launch_env() { # launch_env NAME VAR=VALUE [launch options] -- PROG ARGS...
	local name=$1 env=$2
	shift 2
	start_session "$name" env "$env" "$LAUNCH" -h localhost -p "$PORT" -j "$@"
	wait_ready "$name"
}
ckpt() { # ckpt: one blocking checkpoint; prints the reply
	local out
	out=$(coord_cmd -bc 2>&1) || fail "dmtcp_command -bc failed: $out"
	note "$out"
}
finished() { has_line '^PASS$\|^FAIL\|^ANSWER:' "$@"; }
expect_pass() { # expect_pass LABEL SECONDS SID FILES...: the session ends with PASS + ANSWER
	local label=$1 secs=$2 sid=$3
	shift 3
	wait_for "$secs" eval '! session_alive '"$sid" || fail "$label: still running after $secs s"
	grep -aq '^FAIL' "$@" && fail "$label: $(grep -ah '^FAIL' "$@" | head -n 1)"
	has_line '^PASS$' "$@" || fail "$label: no PASS in $*"
	native_answer
	local a
	a=$(answer_of "$@")
	[ "$a" = "$NATIVE_ANSWER" ] || fail "$label: ANSWER '$a' differs from the native '$NATIVE_ANSWER'"
	note "$label: PASS, ANSWER matches the native run"
}
gen_dir() { printf '%s/gen-%06d' "${2:-$T/ckpt}" "$1"; }
newest_gen() { # highest gen-NNNNNN under DIR (default $T/ckpt) that holds an image, or 0
	local d g best=0
	for d in "${1:-$T/ckpt}"/gen-*; do
		[ -d "$d" ] || continue
		ls "$d"/ckpt_*.dmtcp >/dev/null 2>&1 || continue
		g=$((10#${d##*/gen-}))
		[ $g -gt $best ] && best=$g
	done
	echo $best
}
gen_at_least() { [ "$(newest_gen)" -ge "$1" ]; }
ckpt_idle() { coord_cmd -s 2>/dev/null | grep -q 'STATE=running'; } # no checkpoint under way

# ---- cases --------------------------------------------------------------------------------------
kill_coordinator_while_running() { # shared start of coord_killed and coord_replaced
	start_coord c1
	start_native "$TP_MEMORY" 16 20
	launch job -- "$TP_MEMORY" 16 20
	JOB=$LAST_SID
	ckpt
	kill -9 "$COORD_PID"
	{ wait "$COORD_PID"; } 2>/dev/null
	note "killed the coordinator (pid $COORD_PID, port $PORT) with SIGKILL"
	sleep 3
	session_alive "$JOB" || fail "the job ended within 3 s of the coordinator's death"
	finished "$T/job.out" && fail "the job finished too early to tell anything"
}

case_coord_killed() {
	kill_coordinator_while_running
	go
	expect_pass "the job without its coordinator" 60 "$JOB" "$T/job.out"
}

case_coord_replaced() {
	kill_coordinator_while_running
	local old=$PORT
	start_coord c2 "$old"
	note "a new coordinator listens on the same port $PORT"
	# the job retries every 2 s (a try can also meet the old secret file, before c2 wrote its
	# own), and a loaded machine stretches each try: 30 s, polled, not 10 s
	wait_for 30 peers_are 1 ||
		fail "the job did not rejoin the new coordinator on port $PORT within 30 s ($(grep -c 'wrong job secret' "$T/c2.log") HELLOs refused for a wrong job secret)"
	finished "$T/job.out" && fail "the job finished before the new coordinator could checkpoint it"
	ckpt
	kill_sessions
	wait_for 20 peers_are 0 || note "warning: the coordinator still lists processes"
	go
	start_session restart bash "$T/ckpt/dmtcp_restart_script.sh"
	expect_pass "restart from the new coordinator's image" 90 "$LAST_SID" "$T/job.out" "$T/restart.out"
}

case_coord_killed_mid_ckpt() {
	local mib=512 secs=20
	start_coord c1
	start_native "$TP_MEMORY" $mib $secs
	launch job -- "$TP_MEMORY" $mib $secs
	JOB=$LAST_SID
	ckpt
	local link1
	link1=$(readlink "$T"/ckpt/ckpt_*.dmtcp)
	cp "$T/ckpt/dmtcp_restart_script.sh" "$T/script.gen1" 2>/dev/null
	coord_cmd -c >/dev/null 2>&1 || fail "dmtcp_command -c failed"
	wait_for 30 has_line 'generation 2: all .* suspended, writing' "$T/c1.log" ||
		fail "generation 2 never reached the writing phase"
	kill -9 "$COORD_PID"
	{ wait "$COORD_PID"; } 2>/dev/null
	if has_line 'generation 2 complete' "$T/c1.log"; then
		fail "generation 2 completed before the coordinator could be killed; use a larger process"
	fi
	note "killed the coordinator while generation 2 was being written; gen-000002 then held: $(ls "$(gen_dir 2)" 2>/dev/null | tr '\n' ' ')"
	wait_for 30 has_line 'went away during checkpoint generation 2' "$T/job.log" ||
		fail "the job did not report the lost coordinator"
	finished "$T/job.out" && fail "the job finished too early to tell anything"
	go
	expect_pass "the job after losing its coordinator mid-checkpoint" 120 "$JOB" "$T/job.out"
	note "gen-000002 afterwards: $(ls -l "$(gen_dir 2)" 2>/dev/null | tail -n +2 | awk '{print $5, $9}' | tr '\n' ' ')"
	local link2
	link2=$(readlink "$T"/ckpt/ckpt_*.dmtcp)
	[ "$link1" = "$link2" ] || fail "the committed image moved from $link1 to $link2 without a complete generation"
	case $link2 in gen-000001/*) ;; *) fail "the committed image is $link2, not in gen-000001" ;; esac
	grep -q 'gen-000002' "$T/ckpt/dmtcp_restart_script.sh" && fail "the restart script names generation 2"
	start_coord c2
	start_session restart "$RESTART" -h localhost -p "$PORT" -j --ckptdir "$T/ckpt-r" "$(gen_dir 1)"
	expect_pass "restart from generation 1" 120 "$LAST_SID" "$T/restart.out"
}

case_no_coord_interval() {
	start_native "$TP_MEMORY" 8 15
	start_session job "$LAUNCH" --no-coordinator -i 2 --ckptdir "$T/ckpt" "$TP_MEMORY" 8 15
	JOB=$LAST_SID
	wait_ready job
	wait_for 20 gen_at_least 3 || fail "after 20 s with -i 2 the newest generation is $(newest_gen)"
	ls "$T/state"/coord-*.secret >/dev/null 2>&1 && fail "--no-coordinator started a coordinator: $(ls "$T/state")"
	local g
	g=$(newest_gen)
	kill_sessions
	local kept
	kept=$(ls -d "$T"/ckpt/gen-* | wc -l)
	note "generations on disk after the kill: $(ls "$T/ckpt" | tr '\n' ' ')"
	[ "$kept" -le 3 ] || fail "$kept generation directories kept with --keep 2 (default)"
	finished "$T/job.out" && fail "the job finished before it was killed"
	start_coord c1
	go
	start_session restart "$RESTART" -h localhost -p "$PORT" -j --ckptdir "$T/ckpt-r" "$(gen_dir "$g")"
	expect_pass "restart from generation $g" 90 "$LAST_SID" "$T/job.out" "$T/restart.out"
}

ckpt_signal_usr1() { # ckpt_signal_usr1 handlers|masks
	start_coord c1
	start_native "$RB_USR2" 8 "$1"
	launch job --ckpt-signal 10 -- "$RB_USR2" 8 "$1"
	sleep 1
	ckpt
	sleep 1
	ckpt
	finished "$T/job.out" && fail "the job finished before it was killed"
	kill_sessions
	wait_for 20 peers_are 0 || note "warning: the coordinator still lists processes"
	go
	start_session restart bash "$T/ckpt/dmtcp_restart_script.sh"
	expect_pass "restart with --ckpt-signal 10" 60 "$LAST_SID" "$T/job.out" "$T/restart.out"
}
case_ckpt_signal_usr1() { ckpt_signal_usr1 handlers; }
case_ckpt_signal_usr1_masks() { ckpt_signal_usr1 masks; }

case_gzip_flags() {
	start_coord c1
	start_native "$TP_MEMORY" 8 12
	# name, environment, option, expected flags line of --inspect
	local cases=("env0 DMTCP_GZIP=0 - -" "env0_gzip DMTCP_GZIP=0 --gzip compressed"
		     "nogzip X=1 --no-gzip -" "default X=1 - compressed")
	local c name env opt want
	for c in "${cases[@]}"; do
		read -r name env opt want <<<"$c"
		local o=()
		[ "$opt" != - ] && o=("$opt")
		launch_env "$name" "$env" --ckptdir "$T/ckpt-$name" "${o[@]}" "$TP_MEMORY" 8 12
	done
	ckpt
	local raw_size="" gz_size=""
	for c in "${cases[@]}"; do
		read -r name env opt want <<<"$c"
		local img flags size
		img=$(ls "$T/ckpt-$name"/gen-000001/ckpt_*.dmtcp 2>/dev/null | head -n 1)
		[ -f "$img" ] || fail "$name: no image in $T/ckpt-$name/gen-000001"
		flags=$("$RESTART" --inspect "$img" | sed -n 's/^  flags *//p')
		size=$(stat -c %s "$img")
		note "$name ($env, option $([ "$opt" = - ] && echo none || echo "$opt")): image $size bytes, --inspect flags: $flags"
		[ "$flags" = "$want" ] || fail "$name: --inspect says flags '$flags', expected '$want'"
		[ "$want" = - ] && raw_size=$size || gz_size=$size
	done
	[ "$gz_size" -lt "$raw_size" ] || fail "a compressed image ($gz_size) is not smaller than a raw one ($raw_size)"
	for c in "${cases[@]}"; do
		read -r name env opt want <<<"$c"
		finished "$T/$name.out" && fail "$name finished before it was killed"
	done
	kill_sessions
	wait_for 20 peers_are 0 || note "warning: the coordinator still lists processes"
	go
	start_session restart bash "$T/ckpt/dmtcp_restart_script.sh"
	local sid=$LAST_SID
	wait_for 60 eval '! session_alive '"$sid" || fail "the restarted job is still running after 60 s"
	# a restored process writes to the stdout it had (the launch's file); count the verdicts,
	# the native run's too: wait for it first (it may still be writing native.out)
	native_answer
	local n
	n=$(cat "$T"/*.out | grep -ac '^PASS$')
	grep -aq '^FAIL' "$T"/*.out && fail "$(grep -ah '^FAIL' "$T"/*.out | head -n 1)"
	[ "$n" = 5 ] || fail "$n PASS lines from 4 restarted processes and the native run, expected 5"
	[ "$(grep -ah '^ANSWER:' "$T"/*.out | sort -u | wc -l)" = 1 ] || fail "the ANSWERs differ"
	note "all 4 images restarted to PASS with the native ANSWER"
}

case_interval_stop() {
	start_coord c1
	start_native "$TP_MEMORY" 8 25
	launch job -i 1 -- "$TP_MEMORY" 8 25
	wait_for 15 gen_at_least 2 || fail "no periodic checkpoints with -i 1"
	local out
	out=$(coord_cmd -i 0 2>&1) || fail "dmtcp_command -i 0 failed: $out"
	note "dmtcp_command -i 0: $out"
	[ "$(status_field CKPT_INTERVAL)" = 0 ] ||
		fail "after -i 0 the status says CKPT_INTERVAL=$(status_field CKPT_INTERVAL)"
	# a checkpoint that had already started may still finish: wait until the coordinator is
	# idle (STATE=running: its images are final), not a fixed 1.5 s a loaded machine can outlast
	wait_for 60 ckpt_idle || fail "the coordinator did not come back to idle after -i 0: $(coord_cmd -s 2>&1 | grep STATE)"
	local g
	g=$(newest_gen)
	sleep 4
	[ "$(newest_gen)" = "$g" ] || fail "checkpoints went on after -i 0: generation $g, then $(newest_gen)"
	note "no checkpoint in 4 s after -i 0 (newest generation $g)"
	ckpt
	g=$(newest_gen)
	finished "$T/job.out" && fail "the job finished before it was killed"
	kill_sessions
	wait_for 20 peers_are 0 || note "warning: the coordinator still lists processes"
	start_session restart bash "$T/ckpt/dmtcp_restart_script.sh"
	wait_for 20 peers_are 1 || fail "the restarted job did not join"
	sleep 3.5
	[ "$(newest_gen)" = "$g" ] || fail "checkpoints resumed after the restart: generation $g, then $(newest_gen) (CKPT_INTERVAL=$(status_field CKPT_INTERVAL))"
	finished "$T/job.out" "$T/restart.out" && fail "the restarted job finished before the 3.5 s without checkpoints were over"
	go
	expect_pass "restart after -i 0" 60 "$LAST_SID" "$T/job.out" "$T/restart.out"
}

case "$CASE" in
coord_killed | coord_replaced | coord_killed_mid_ckpt | no_coord_interval | ckpt_signal_usr1 | \
	ckpt_signal_usr1_masks | gzip_flags | interval_stop) "case_$CASE" ;;
*) echo "robust: unknown case '$CASE'" >&2; exit 2 ;;
esac
PASSED=1
exit 0
