#!/bin/bash
# faults.sh - "nothing lost" tests (issue 5): crashes during checkpoints, a full disk, damaged
# images, --keep, and the progress display.
#
#   faults.sh CASE BUILD_DIR FT_MEM FT_IMG [MOMENTS]
#
# Cases:
#   kill_app N     a job of FAULTS_MIB (256) MiB; N times: start a checkpoint and kill -9 the
#                  application at a random moment in [0, 1.2 x the checkpoint's duration]
#                  (the duration of a second checkpoint taken first: the first one, written
#                  cold, took 6 s where the next ones took 1.2-2.3 s, so 8 of 12 kills came
#                  after the checkpoint had ended)
#   kill_coord N   the same, but kill -9 the coordinator; then kill the job (after it has
#                  finished the image it was writing, if any) and use a new coordinator
#   kill_writer N  kill -9 the process that writes the image while its gen-NNNNNN/*.dmtcp.tmp
#                  exists: at a random moment in [0, 0.9 x the checkpoint's duration] after the
#                  .tmp appeared. The writer is the process that has the .tmp open: the
#                  application itself (its checkpoint thread writes), or with forked checkpoints
#                  a copy-on-write child of it, in which case the application must run on
#                  and is then killed by the test. A writer child of a killed application may
#                  finish its image; the restart happens after it has.
#                After every kill: `dmtcp_restart --restartdir` must take the newest generation
#                that holds a final image, the restarted program must print a new CHECK line
#                (it re-summed its whole memory) equal to the uninterrupted run's at that step,
#                and the restart script must name images that exist. The chain goes on from the
#                restarted job; at the end the job finishes (in a hurry) with PASS and the
#                uninterrupted run's ANSWER. The moments come from bash's RANDOM seeded with
#                FAULTS_SEED (default: from the clock); the seed is printed.
#   full_disk      the checkpoint directory on a 64 MiB tmpfs of our own: generation 1 of a
#                  16 MiB job fits; then the job grows by 96 MiB of incompressible data and
#                  `dmtcp_command -bc` must fail naming the file and "No space left on device";
#                  the job runs on, no .tmp is left, generation 1 is untouched (same bytes,
#                  --inspect verifies it, the symlink and restart script still point at it) and
#                  restarts to PASS. Skipped (77) if we may not mount a tmpfs.
#   damaged        truncated and extended images, bit flips in the header, every section
#                  (info, blobs, the region table), the chunk index, chunk headers, compressed
#                  and raw chunk data and the trailer, a region table that is wrong with a
#                  valid checksum, and a newer format version (with a valid header checksum):
#                  each refused by dmtcp_restart with a non-zero exit, a message naming the
#                  file and the problem, and no process left; the intact images restart to PASS
#   keep           --keep 2 with two processes: after 5 checkpoints exactly generations 4 and
#                  5 remain, with both images each; generation 6 is left incomplete (killed
#                  while the larger process writes); --restartdir and the restart script both
#                  restart generation 5 to PASS. --keep 0: all 5 generations remain.
#   stale_tmp      kill -9 the writer of generation 2 in the middle of its .tmp (stopped first,
#                  so surely in the middle); then 3 checkpoints with --keep 2 (after a restart,
#                  if the writer was the application): no .tmp may be left and only the two
#                  newest generation directories may remain
#   coord_lost_bg_write  forked checkpoints: the coordinator dies while the writer child (held
#                  with SIGSTOP) is in the middle of the image; a new coordinator on the same
#                  port: the job must rejoin, reap its writer once it has finished, take two
#                  more checkpoints normally (symlink on the newest, no .tmp) and restart to PASS
#   rejoin_numbering  two checkpoints, kill -9 of the coordinator, a new one on the same port,
#                  the job rejoins it: its first checkpoint must get a generation number above
#                  those already in the directory, and --restartdir must take that image
#   progress       dmtcp_command -bc and dmtcp_restart in a pipe print one summary line and
#                  nothing else; on a terminal (script -qc) -bc shows a progress line and
#                  ends with the same summary line
# Exit: 0 pass, 1 fail, 77 skipped.
set -u -o pipefail

[ $# -ge 4 ] || { echo "usage: faults.sh CASE BUILD_DIR FT_MEM FT_IMG [MOMENTS]" >&2; exit 2; }
CASE=$1 MOMENTS=${5:-12}
. "$(dirname "$0")/faults_lib.sh"

# ---- crashes during checkpoints --------------------------------------------------------------
rand_upto() { echo $(((RANDOM << 15 | RANDOM) % ($1 + 1))); } # 0..$1

CUR_LOG="" NRESTART=0 NCOORD=1
restart_newest() { # restart_newest: dmtcp_restart --restartdir, check the generation and state
	local want before sid g
	want=$(newest_complete "$T/ckpt" 1)
	[ "$want" -ge 1 ] || fail "no complete generation left in $T/ckpt: $(ls "$T/ckpt" | tr '\n' ' ')"
	before=$(check_count "$T/job.out")
	NRESTART=$((NRESTART + 1))
	start_session "restart$NRESTART" "$T/job.out" \
		"$RESTART" -h localhost -p "$PORT" -j --restartdir "$T/ckpt"
	sid=$LAST_SID
	JOB_SID=$sid
	CUR_LOG=$T/restart$NRESTART.log
	new_check() { [ "$(check_count "$T/job.out")" -gt "$before" ] || ! session_alive "$sid"; }
	wait_for 60 new_check || fail "restart $NRESTART: no new CHECK line within 60 s"
	session_alive "$sid" || fail "restart $NRESTART ended: $(tail -n 3 "$CUR_LOG")"
	g=$(sed -n 's/.*restarting .* of generation \([0-9]*\) .*/\1/p' "$CUR_LOG" | head -n 1)
	[ "$g" = "$want" ] || fail "restart $NRESTART took generation '$g', the newest complete one is $want"
	checks_match_native "$T/job.out" job
	finished "$T/job.out" && fail "the job finished during the chain; give it a longer duration"
	wait_for 20 peers_are 1 || fail "restart $NRESTART: the restarted job did not join the coordinator"
	RESTARTED_GEN=$g
}
script_names_existing() { # the restart script (if any) names images that exist
	local s=$T/ckpt/dmtcp_restart_script.sh f
	[ -e "$s" ] || return 0
	for f in $(sed -n "s/^  '\(.*\.dmtcp\)'$/\1/p" "$s"); do
		[ -f "$f" ] || fail "the restart script names $f, which does not exist"
	done
	sed -n "s/^  '\(.*\.dmtcp\)'$/\1/p" "$s" | grep -q . || fail "the restart script names no image"
}
newest_tmp() { # a .tmp image written since $T/stamp, or nothing
	local f
	for f in "$T"/ckpt/gen-*/ckpt_*.dmtcp.tmp; do
		[ -e "$f" ] && [ "$f" -nt "$T/stamp" ] && { echo "$f"; return 0; }
	done
	return 1
}

no_writer() { [ -z "$(writers_in "$JOB_SID")" ]; }

# one_fault KIND I: start a checkpoint, kill at a random moment, restart. The image is written
# by the application's checkpoint thread, or (forked checkpoint) by a copy-on-write child of it
# while the application runs on: the writer is whichever process has the .tmp open.
one_fault() {
	local kind=$1 i=$2 pid bc delay during="" tmp="" wpid="" t0 what out at c0
	pid=$(app_pids | head -n 1)
	[ -n "$pid" ] || fail "moment $i: the coordinator lists no process"
	touch "$T/stamp"
	coord_cmd -bc >"$T/bc.out" 2>&1 &
	bc=$!
	t0=$(now_ms)
	case $kind in
	kill_app | kill_coord)
		delay=$(rand_upto $((CKPT_MS * 12 / 10)))
		sleep_ms "$delay"
		;;
	kill_writer)
		delay=$(rand_upto $((CKPT_MS * 9 / 10)))
		wait_for 30 newest_tmp >/dev/null || fail "moment $i: no .tmp image appeared within 30 s"
		tmp=$(newest_tmp)
		wpid=$(writers_in "$JOB_SID" "$tmp" | head -n 1)
		# A fast writer may have closed its .tmp (to rename it) before we looked: then
		# this moment comes too late, and the checkpoint simply completes.
		if [ -z "$wpid" ]; then
			[ -e "$tmp" ] && wait_for 10 eval '[ ! -e "$tmp" ]'
			[ -e "$tmp" ] && fail "moment $i: no process has $tmp open, and it stays"
			wpid=none
		fi
		[ "$wpid" = none ] || sleep_ms "$delay"
		;;
	esac
	case $kind in
	kill_coord)
		kill -9 "$COORD_PID"
		what="the coordinator"
		;;
	kill_app)
		kill -9 "$pid"
		what="the application"
		;;
	kill_writer)
		[ -e "$tmp" ] && during=" with its .tmp still there"
		if [ "$wpid" = none ]; then what="nothing: the writer had renamed its image already"
		elif [ "$wpid" = "$pid" ]; then what="the writer (the application)$during"
		else what="the writer (pid $wpid, a child of the application)$during"; fi
		[ "$wpid" = none ] || kill -9 "$wpid" 2>/dev/null || what="$what, which had already exited"
		;;
	esac
	at=$(($(now_ms) - t0))
	case $kind in
	kill_coord)
		wait_gone 10 "$COORD_PID"
		# the job runs on; kill it once it has finished the image it was writing
		c0=$(check_count "$T/job.out")
		settled() { no_writer && { has_line "went away during checkpoint" "$CUR_LOG" ||
			[ "$(check_count "$T/job.out")" -ge $((c0 + 2)) ]; }; }
		wait_for 60 settled || fail "moment $i: the job did not run on after the coordinator's death"
		wait "$bc" 2>/dev/null
		kill_sessions
		NCOORD=$((NCOORD + 1))
		start_coord "c$NCOORD"
		;;
	*)
		if [ "$wpid" != none ]; then
			wait_gone 20 "${wpid:-$pid}" || fail "moment $i: pid ${wpid:-$pid} survived kill -9"
		fi
		if [ "$kind" = kill_writer ] && [ "$wpid" != "$pid" ] && [ "$wpid" != none ]; then
			# only the writer child died: the checkpoint fails, the application runs on
			wait "$bc" 2>/dev/null
			c0=$(check_count "$T/job.out")
			wait_for 20 eval '[ "$(check_count "$T/job.out")" -gt '"$c0"' ]' ||
				fail "moment $i: the application does not run on after its writer died"
		fi
		# a writer child of a killed application may finish its image: wait for it
		wait_for 60 no_writer || fail "moment $i: the image is still being written 60 s later"
		wait "$bc" 2>/dev/null
		kill_sessions
		wait_for 20 peers_are 0 || fail "moment $i: the coordinator still lists $(peers) processes"
		;;
	esac
	out=$(tr '\n' ' ' <"$T/bc.out" | cut -c1-200)
	restart_newest
	script_names_existing
	note "moment $i/$MOMENTS: +$delay ms: killed $what at +$at ms; -bc: $out; restarted generation $RESTARTED_GEN"
	[ -n "$during" ] && NDURING=$((NDURING + 1))
	case $out in *complete*) NCOMPLETE=$((NCOMPLETE + 1)) ;; esac
}

case_crashes() {
	local kind=$CASE mib=${FAULTS_MIB:-256} secs=$((40 + 3 * MOMENTS)) seed=${FAULTS_SEED:-}
	[ -n "$seed" ] || seed=$(($(date +%s%N) / 1000 % 1000000))
	RANDOM=$seed
	note "seed $seed (rerun these moments with FAULTS_SEED=$seed), $MOMENTS moments, $mib MiB, forked checkpoints ${SPLITCKPT_FORKED:-1}"
	local t_start=$SECONDS
	start_native job "$mib" "$secs"
	start_coord c1
	start_session job "$T/job.out" "$LAUNCH" -h localhost -p "$PORT" -j --ckptdir "$T/ckpt" \
		"$FT_MEM" "$mib" "$secs"
	wait_ready "$T/job.out"
	JOB_SID=$LAST_SID
	CUR_LOG=$T/job.log
	native_done job # its CPU would stretch the checkpoint that sets the time scale
	ckpt_ok
	CKPT_MS0=$LAST_CKPT_MS
	ckpt_ok # warm: its duration is the time scale of the moments
	CKPT_MS=$LAST_CKPT_MS
	[ "$CKPT_MS" -gt 0 ] || fail "cannot read the checkpoint's duration"
	NDURING=0 NCOMPLETE=0
	for i in $(seq 1 "$MOMENTS"); do one_fault "$kind" "$i"; done
	touch "$T/run/ft_hurry"
	expect_pass "the job after $MOMENTS crashes" 180 "$JOB_SID" "$T/job.out" job
	local stale
	stale=$(find "$T/ckpt" -name '*.tmp' | wc -l)
	note "$MOMENTS moments in $((SECONDS - t_start)) s (checkpoint $CKPT_MS ms, the first, cold one $CKPT_MS0 ms); $NCOMPLETE checkpoints completed before the kill, $NDURING kills with the .tmp present; $stale stale .tmp file(s) left in $T/ckpt"
}

# ---- the cases that are not crashes live in faults_cases.sh ------------------------------------
. "$(dirname "$0")/faults_cases.sh"

# One compound command: bash reads all of it before it runs it, so editing this file while a
# test runs cannot derail that test.
{
	case "$CASE" in
	kill_app | kill_coord | kill_writer) case_crashes ;;
	full_disk | damaged | keep | progress | stale_tmp | coord_lost_bg_write | rejoin_numbering) "case_$CASE" ;;
	*) echo "faults: unknown case '$CASE'" >&2; exit 2 ;;
	esac
	PASSED=1
	exit 0
}
