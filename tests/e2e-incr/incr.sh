#!/bin/bash
# incr.sh - incremental checkpoints end to end (issue 5): real coordinator, dmtcp_launch
# --full-every, dmtcp_command -bc, kill -9, dmtcp_restart of every generation of a chain.
#
#   incr.sh CASE BUILD_DIR INCR_PROG
#
# The program (incr_prog.c) rewrites 1% of 64 MiB of pages every 100 ms, maps/unmaps and
# mremaps memory between checkpoints, and at the end checks every page against a replay of its
# own generator, printing PASS or FAIL and an ANSWER that must equal a native run's.
# Cases:
#   chain    --full-every 3, 5 generations: 1 and 4 are full, 2, 3 and 5 incremental (read
#            from the images' headers) and at most 1/4 of a full one (1% is rewritten every
#            100 ms; on a loaded machine more steps pass between checkpoints); restarting from every
#            generation in turn PASSes.
#   damaged  the same chain, then: the parent of generation 3 truncated, missing, and replaced
#            by another image; restarting generation 3 is refused naming the parent's file,
#            while generation 5 (whose chain is intact) still PASSes.
#   kill9    generations 1 (full) and 2 (incremental), then kill -9 of the whole job at a
#            random moment of the 3rd checkpoint (incremental), 3 times; the restart script
#            (the newest committed generation) PASSes each time.
#   restarted  --full-every 8: generations 1-3, kill, restart of 3; the next checkpoint (4) is
#            incremental on 3 (tracking starts at the restart); generation 4 restarts and PASSes.
#   restarted_k  --full-every 3: generations 1, 2, kill, restart of 2 WITHOUT --full-every: the
#            job keeps K from the image header, so 3 is incremental on 2 and 4 (a chain of 3)
#            is full; the header says "full every 3"; generation 3 restarts and PASSes.
#   restarted_settings  --keep 0 --compress=none: generations 1, 2, kill, restart of 2 with no
#            option: 3 and 4 are raw and 1-4 all remain; then a restart of 4 with --keep 1
#            (the restart's option wins): only 5 remains; generation 5 restarts and PASSes.
#   keep     --keep 2 --full-every 4: after 4 checkpoints all of 1..4 remain (3 and 4 build on
#            1); after 6 only 5 and 6 remain; generation 6 restarts and PASSes.
# Uses the process/coordinator helpers of tests/e2e-faults/faults_lib.sh (own ports, own temp
# and state dirs, every process killed on exit, logs printed on failure).
# Pace (tests/progs/cr_go.h): the program runs with CR_GO=$T/go, removed at every launch and
# made before a restart that must run to the end: until then it holds before the last quarter
# of its steps (it never ends before its checkpoints however slow they are), after it the
# rest of its steps run without pauses. The native run's go file exists from the start.
set -u -o pipefail
CASE=${1:?case} PROG_BIN=$3
set -- "$1" "$2" "$3" "$3" # faults_lib.sh: CASE BIN FT_MEM FT_IMG
. "$(dirname "$0")/../e2e-faults/faults_lib.sh"
MIB=64 STEPS=70
export CR_GO=$T/go

img_of() { ls "$(gen_dir "$1" "${2:-$T/ckpt}")"/ckpt_*.dmtcp 2>/dev/null | head -n 1; }
parent_of() { # parent_of IMG: the generation its header names as parent (0 = full image)
	"$RESTART" --inspect "$1" 2>/dev/null |
		sed -n 's/^  parent *none.*/0/p; s/^  parent *generation \([0-9]*\).*/\1/p' | head -n 1
}
gens_in() { # generations that still hold an image (a directory may keep other files)
	local d
	for d in "${1:-$T/ckpt}"/gen-*; do
		ls "$d"/ckpt_*.dmtcp >/dev/null 2>&1 && { d=${d##*/gen-}; printf '%d ' "$((10#$d))"; }
	done
}

native() { # the uninterrupted run, in the background: its ANSWER is the reference
	touch "$T/go.native"
	(cd "$T/run" && CR_GO=$T/go.native exec "$PROG_BIN" $MIB $STEPS) >"$T/native-full.out" 2>&1 </dev/null {NAP_FD}>&- &
	BG_PIDS+=("$!")
	NATIVE_PID=$!
}
native_answer() { # sets ANSWER
	wait "$NATIVE_PID"
	has_line '^PASS$' "$T/native-full.out" || fail "the native run did not PASS"
	ANSWER=$(answer_of "$T/native-full.out")
}

launch() { # launch NAME OPTS...: the program under dmtcp_launch on our coordinator
	local name=$1
	shift
	rm -f "$T/go"
	start_session "$name" "$T/$name.out" "$LAUNCH" -h localhost -p "$PORT" --ckptdir "$T/ckpt" \
		"$@" "$PROG_BIN" $MIB $STEPS
	wait_ready "$T/$name.out"
	JOB_SID=$LAST_SID
}
ckpt() { coord_cmd -bc >>"$T/cmd.log" 2>&1 || fail "checkpoint failed: $(tail -n 1 "$T/cmd.log")"; }
kill_job() { kill_sessions; wait_for 10 peers_are 0 || fail "the coordinator still lists processes"; }

restart_pass() { # restart_pass LABEL IMG: restart IMG on our coordinator; it must PASS
	local label=$1 img=$2 out="$T/restart-$1.out"
	touch "$T/go"
	start_session "restart-$label" "$out" "$RESTART" -h localhost -p "$PORT" "$img"
	wait_for 60 eval '! session_alive '"$LAST_SID" || fail "$label: still running after 60 s"
	has_line '^PASS$' "$out" || fail "$label: no PASS: $(tail -n 3 "$out"; tail -n 3 "$T/restart-$label.log")"
	[ "$(answer_of "$out")" = "$ANSWER" ] || fail "$label: ANSWER $(answer_of "$out") is not the native $ANSWER"
	note "$label: PASS"
}
restart_refused() { # restart_refused LABEL IMG REGEX: dmtcp_restart fails and says REGEX
	local label=$1 img=$2 re=$3 log="$T/refused-$1.log"
	start_session "refused-$label" "$T/refused-$label.out" "$RESTART" -h localhost -p "$PORT" "$img"
	wait_for 30 eval '! session_alive '"$LAST_SID" || fail "$label: still running"
	has_line '^PASS$' "$T/refused-$label.out" && fail "$label: restarted although its chain is broken"
	grep -Eq "$re" "$log" || fail "$label: no message matching '$re': $(cat "$log")"
	note "$label: refused: $(grep -E "$re" "$log" | head -n 1 | cut -c1-240)"
}

make_chain() { # 5 generations with --full-every 3
	launch job --keep 0 --full-every 3
	for g in 1 2 3 4 5; do nap 0.4; ckpt; done
	kill_job
	local full=0 g p
	for g in 1 2 3 4 5; do
		p=$(parent_of "$(img_of $g)")
		[ -n "$p" ] || fail "generation $g: no image or no header"
		case $g in 1 | 4) [ "$p" = 0 ] || fail "generation $g should be full, its parent is $p" ;;
		*) [ "$p" = $((g - 1)) ] || fail "generation $g should build on $((g - 1)), not '$p'" ;;
		esac
	done
	full=$(stat -c %s "$(img_of 1)")
	for g in 2 3 5; do
		local s
		s=$(stat -c %s "$(img_of $g)")
		[ $((s * 4)) -le "$full" ] || fail "generation $g is $s bytes, the full one $full"
		note "generation $g: $s bytes, full image $full bytes"
	done
}

case_chain() {
	make_chain
	for g in 5 4 3 2 1; do restart_pass gen$g "$(img_of $g)"; kill_sessions; done
}

case_damaged() {
	make_chain
	local p1 p3
	p1=$(img_of 2) p3=$(img_of 3)
	cp "$p1" "$T/saved2"
	truncate -s 5000 "$p1"
	restart_refused truncated "$p3" "needs its parent image .*gen-000002/ckpt_.*truncated"
	rm -f "$p1"
	restart_refused missing "$p3" "needs its parent image .*gen-000002/ckpt_.*No such file"
	# refused before anything starts: no coordinator of its own is left behind
	local rc
	(cd "$T" && timeout 30 "$RESTART" -p 0 --port-file "$T/refused-own.port" "$p3") \
		>"$T/refused-own.log" 2>&1 </dev/null
	rc=$?
	[ $rc != 0 ] && [ $rc != 124 ] || fail "restart with a missing parent and its own coordinator: exit $rc"
	grep -Eq "needs its parent image .*gen-000002/ckpt_.*No such file" "$T/refused-own.log" ||
		fail "restart with its own coordinator: no parent message: $(cat "$T/refused-own.log")"
	if grep -q "started a coordinator" "$T/refused-own.log" || [ -s "$T/refused-own.port" ]; then
		timeout 5 "$CMD" -h localhost -p "$(cat "$T/refused-own.port" 2>/dev/null)" -q >/dev/null 2>&1
		fail "a restart refused for its missing parent started a coordinator first"
	fi
	cp "$(img_of 1)" "$p1"
	restart_refused wrong "$p3" "gen-000002/ckpt_.* not the image this one was made against"
	cp "$T/saved2" "$p1"
	restart_pass gen3_repaired "$p3"
	kill_sessions
	restart_pass gen5 "$(img_of 5)"
}

case_kill9() {
	local round d
	for round in 1 2 3; do
		rm -rf "$T/ckpt" && mkdir -p "$T/ckpt"
		start_coord coord$round # generations from 1 again
		launch job$round --keep 0 --full-every 8
		nap 0.3; ckpt; nap 0.3; ckpt; nap 0.3
		d=$((RANDOM % 40))
		coord_cmd -c >>"$T/cmd.log" 2>&1
		sleep_ms $d
		kill_job
		note "round $round: killed $d ms into generation 3; generations on disk: $(gens_in)"
		[ "$(parent_of "$(img_of 2)")" = 1 ] || fail "generation 2 is not incremental"
		[ -x "$T/ckpt/dmtcp_restart_script.sh" ] || fail "no restart script"
		touch "$T/go"
		start_session "script$round" "$T/script$round.out" bash "$T/ckpt/dmtcp_restart_script.sh" \
			-h localhost -p "$PORT"
		wait_for 60 eval '! session_alive '"$LAST_SID" || fail "round $round: restart still running"
		has_line '^PASS$' "$T/script$round.out" || fail "round $round: restart did not PASS"
		[ "$(answer_of "$T/script$round.out")" = "$ANSWER" ] || fail "round $round: wrong ANSWER"
		note "round $round: the restart script ($(grep -o 'gen-[0-9]*' "$T/ckpt/dmtcp_restart_script.sh" | head -n 1)) PASSes"
		kill_sessions
	done
}

case_restarted() {
	launch job --keep 0 --full-every 8
	for g in 1 2 3; do nap 0.4; ckpt; done
	kill_job
	start_session restarted "$T/restarted.out" "$RESTART" -h localhost -p "$PORT" --full-every 8 \
		"$(img_of 3)"
	wait_for 30 peers_are 1 || fail "the restarted process did not join"
	nap 0.5
	ckpt
	[ "$(parent_of "$(img_of 4)")" = 3 ] ||
		fail "the first image after a restart from generation 3 should build on it, not '$(parent_of "$(img_of 4)")'"
	note "generation 4, the first after the restart, is incremental on generation 3: $(stat -c %s "$(img_of 4)") bytes"
	kill_job
	restart_pass gen4 "$(img_of 4)"
}

case_restarted_k() {
	launch job --keep 0 --full-every 3
	for g in 1 2; do nap 0.4; ckpt; done
	kill_job
	start_session restarted "$T/restarted.out" "$RESTART" -h localhost -p "$PORT" "$(img_of 2)"
	wait_for 30 peers_are 1 || fail "the restarted process did not join"
	for g in 3 4; do nap 0.4; ckpt; done
	[ "$(parent_of "$(img_of 3)")" = 2 ] ||
		fail "restarted without --full-every, generation 3 should build on 2 (K = 3 kept from the image), not on '$(parent_of "$(img_of 3)")'"
	[ "$(parent_of "$(img_of 4)")" = 0 ] ||
		fail "generation 4 should be full (K = 3, chain 1-2-3), not built on '$(parent_of "$(img_of 4)")'"
	"$RESTART" --inspect "$(img_of 4)" 2>/dev/null | grep -q '^  full every *3 ' ||
		fail "the header of generation 4 does not say 'full every 3'"
	note "after a restart without --full-every: generation 3 incremental on 2, generation 4 full (K = 3 from the image)"
	kill_job
	restart_pass gen3 "$(img_of 3)"
}

case_restarted_settings() { # the launch's --keep and --compress hold after a plain restart
	launch job --keep 0 --compress=none
	for g in 1 2; do nap 0.3; ckpt; done
	kill_job
	start_session restarted "$T/restarted.out" "$RESTART" -h localhost -p "$PORT" "$(img_of 2)"
	wait_for 30 peers_are 1 || fail "the restarted process did not join"
	for g in 3 4; do nap 0.3; ckpt; done
	[ "$(gens_in)" = "1 2 3 4 " ] ||
		fail "launched with --keep 0 and restarted without it: generations $(gens_in)left, want 1 2 3 4 (the default keeps 2)"
	local st
	st=$("$RESTART" --inspect "$(img_of 4)" 2>/dev/null | sed -n 's/^  stored .* chunks (\(.*\))$/\1/p')
	case $st in
	"0 raw"* | *" 0 raw"* | "") fail "generation 4 after the restart is compressed or unreadable: ($st)" ;;
	*"0 zlib, 0 zstd"*) ;;
	*) fail "launched with --compress=none, generation 4 after the restart has compressed chunks: ($st)" ;;
	esac
	note "after a plain restart: generations $(gens_in)kept (--keep 0), generation 4 stored ($st)"
	# an option given to the restart wins over the launch's
	kill_job
	start_session restarted2 "$T/restarted2.out" "$RESTART" -h localhost -p "$PORT" --keep 1 "$(img_of 4)"
	wait_for 30 peers_are 1 || fail "the second restarted process did not join"
	nap 0.3
	ckpt
	wait_for 30 eval '[ "$(gens_in)" = "5 " ]' || fail "restarted with --keep 1: generations $(gens_in)left, want 5"
	kill_job
	restart_pass gen5 "$(img_of 5)"
}

case_keep() {
	launch job --keep 2 --full-every 4
	for g in 1 2 3 4; do nap 0.3; ckpt; done
	wait_for 30 eval '[ "$(gens_in)" = "1 2 3 4 " ]' ||
		fail "--keep 2 after 4 checkpoints (3, 4 build on 1) left: $(gens_in)"
	note "after 4 checkpoints: generations $(gens_in)(3 and 4 need 1 and 2)"
	for g in 5 6; do nap 0.3; ckpt; done
	wait_for 30 eval '[ "$(gens_in)" = "5 6 " ]' || fail "--keep 2 after 6 checkpoints left: $(gens_in)"
	[ "$(parent_of "$(img_of 6)")" = 5 ] || fail "generation 6 is not incremental on 5"
	note "after 6 checkpoints: generations $(gens_in)"
	kill_job
	restart_pass gen6 "$(img_of 6)"
}

native
start_coord coord
native_answer
case $CASE in
chain | damaged | kill9 | keep | restarted | restarted_k | restarted_settings) "case_$CASE" ;;
*) fail "unknown case $CASE" ;;
esac
PASSED=1
note "PASS"
