#!/bin/bash
# mpi_cr.sh - end-to-end checkpoint/restart of an MPI job through the user-facing commands
# only (issue 4): dmtcp_coordinator, mpiexec + dmtcp_launch, dmtcp_command,
# dmtcp_restart_script.sh, mpiexec + dmtcp_restart --restartdir. The one driver of the
# tests of tests/e2e-mpi and tests/mpi-ckpt.
#
#   mpi_cr.sh --bin BUILD_DIR [options] -- prog args...     (@GO@ in args: the go file)
#
# Flow: own temp dir; `dmtcp_coordinator -p 0 --port-file F --daemon --ckptdir D` (own
# port); an uninterrupted native `mpiexec -n N prog` gives the reference ANSWER; the job
# `mpiexec -n N dmtcp_launch -h HOST -p PORT prog` runs in its own session; once N ranks
# printed READY and the coordinator lists N processes: K checkpoints (`dmtcp_command -bc`,
# or the coordinator's interval), kill -9 of the job's session (or `dmtcp_command -k`), then
# one restart after the other, each running to the end: with ./dmtcp_restart_script.sh and
# by hand with `mpiexec -n N dmtcp_restart --restartdir D/gen-NNNNNN`. Every run must exit 0,
# print PASS and the native ANSWER. `timeout` bounds every step; on any failure the logs'
# tails are printed; every process, the coordinator and the temp dir are removed (trap).
# Pace: every run gets CR_GO (tests/progs/cr_go.h), the go file: the native run's exists
# from the start (no pauses), the job's ($T/go, also @GO@) only once a restart that must run
# to the end has started (or, --no-kill, after the checkpoints): until then the job holds
# before the last quarter of its steps, so it never ends before the kill however slow the
# checkpoints are, and a restart runs the rest of its steps without pauses.
#
# Options:
#   -n N               ranks (default 4)
#   --ckpts K          blocking checkpoints before the kill (default 1)
#   --sleep S          seconds before the first checkpoint and between them (default 1)
#   --interval I       periodic mode: coordinator -i I; after --wait S seconds (default 10)
#                      also the --ckpts manual ones; needs generation >= --min-gen (2)
#   --restart-via V    script | hand | both (default both; each runs to the end)
#   --via-script       same as --restart-via script
#   --restartdir-all   restart by hand with --restartdir D (the checkpoint directory: the
#                      restart picks the newest complete generation) instead of D/gen-NNNNNN
#   --new-coord        once the ranks run, kill -9 the coordinator and start a new one on its
#                      port: every rank must join it again as an MPI rank (-l), and its
#                      checkpoints are the ones restarted
#   --restart-gen G    restart by hand from generation G (default the newest)
#   --cycles C         C times: checkpoint, kill, restart by hand; cycle c > 1 checkpoints
#                      the restarted job (default 1)
#   --no-kill          checkpoint, then let the job run on to the end (resume path)
#   --kill-via-cmd     kill the job with `dmtcp_command -k` instead of kill -9
#   --kill-during-ckpt after the checkpoints, start one more `-bc` and kill -9 the job while
#                      it runs; the restart (--restartdir D) must take the previous generation
#   --restart-n M      restart with M ranks (refusal tests)
#   --mangle KIND      before the restart: missing (remove one rank's image), mixed (one
#                      rank's image from an older generation; takes 2 checkpoints) or
#                      same-image (every rank started as `splitckpt-lh-mpi --restore` of rank
#                      0's image: the lower half's own rank check must refuse it) or
#                      flip-data (one byte in the middle of one rank's image flipped: that
#                      rank fails after MPI_Init, while its memory is restored)
#   --expect-fail RE   the restart must exit != 0 within 60 s, print RE, and no ANSWER
#   --netns            the job runs on netns hosts A,B (scripts/netns-hosts.sh), N/2 ranks
#                      on each, restarts on C,D; the coordinator listens in the root
#                      namespace. UCX_TLS=tcp,self,sm: the hosts share one kernel (one
#                      boot_id), so UCX joins ranks of every host through shared memory and
#                      the native MPICH 4.0.2 finalizes reliably; over tcp between hosts
#                      (--env NH_SEPARATE_SYSTEMS=1, tests/README.md) it deadlocks in
#                      MPI_Finalize in about 1 run in 5, natively too
#   --no-ckpt          no coordinator, no checkpoint: `mpiexec dmtcp_launch --no-coordinator`
#                      must give the native ANSWER (with --netns: the multi-host plumbing)
#   --expect-answer A  compare with A instead of the native ANSWER (to check the driver)
#   --env VAR=VALUE    environment of every run (repeatable)
#   --timeout S        limit for one run to finish (default 120)
# Exit: 0 pass, 1 fail, 77 skip. MPI_CR_KEEP=1 (or MC_KEEP=1) keeps the temp dir.
set -u -o pipefail

BIN="" N=4 CKPTS=1 SLEEP=1 INTERVAL="" WAIT=10 MIN_GEN=2 VIA=both RGEN="" CYCLES=1
NOKILL=0 KILLCMD=0 KILLDURING=0 RN="" MANGLE="" EXPECT="" NETNS=0 NOCKPT=0 WANT="" TMO=120
RALL=0 NEWCOORD=0
ENVS=()
die() { echo "mpi_cr: [${SECONDS}s] FAIL: $*" >&2; exit 1; }
note() { echo "mpi_cr: [${SECONDS}s] $*" >&2; }
while [ $# -gt 0 ]; do
	case "$1" in
	--bin) BIN=$2; shift 2 ;;
	-n) N=$2; shift 2 ;;
	--ckpts) CKPTS=$2; shift 2 ;;
	--sleep) SLEEP=$2; shift 2 ;;
	--interval) INTERVAL=$2; shift 2 ;;
	--wait) WAIT=$2; shift 2 ;;
	--min-gen) MIN_GEN=$2; shift 2 ;;
	--restart-via) VIA=$2; shift 2 ;;
	--via-script) VIA=script; shift ;;
	--restartdir-all) RALL=1; shift ;;
	--new-coord) NEWCOORD=1; shift ;;
	--restart-gen) RGEN=$2; VIA=hand; shift 2 ;;
	--cycles) CYCLES=$2; VIA=hand; shift 2 ;;
	--no-kill) NOKILL=1; shift ;;
	--kill-via-cmd) KILLCMD=1; shift ;;
	--kill-during-ckpt) KILLDURING=1; VIA=hand; shift ;;
	--restart-n) RN=$2; VIA=hand; shift 2 ;;
	--mangle) MANGLE=$2; VIA=hand; shift 2 ;;
	--expect-fail) EXPECT=$2; VIA=hand; shift 2 ;;
	--netns) NETNS=1; shift ;;
	--no-ckpt) NOCKPT=1; shift ;;
	--expect-answer) WANT=$2; shift 2 ;;
	--env) ENVS+=("$2"); shift 2 ;;
	--timeout) TMO=$2; shift 2 ;;
	--) shift; break ;;
	*) echo "mpi_cr: unknown option $1" >&2; exit 2 ;;
	esac
done
[ $# -gt 0 ] && [ -n "$BIN" ] || { echo "usage: mpi_cr.sh --bin DIR [options] -- prog args" >&2; exit 2; }
RN=${RN:-$N}
[ "$MANGLE" = mixed ] && [ "$CKPTS" -lt 2 ] && CKPTS=2
BIN=$(cd "$BIN" && pwd) || exit 1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NETNS_SH=$HERE/../../scripts/netns-hosts.sh
LAUNCH=$BIN/launcher/dmtcp_launch RESTART=$BIN/launcher/dmtcp_restart
COORD=$BIN/coordinator/dmtcp_coordinator CMD=$BIN/coordinator/dmtcp_command
for p in "$LAUNCH" "$RESTART" "$COORD" "$CMD"; do [ -x "$p" ] || die "$p not built"; done
command -v mpiexec >/dev/null || { echo "mpi_cr: SKIP: no mpiexec" >&2; exit 77; }
export PATH="$BIN/launcher:$BIN/coordinator:$PATH" HWLOC_PLUGINS_PATH=/nonexistent
export UCX_TLS=${UCX_TLS:-self,sm} OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
# OpenMP threads that spin while they wait make 8 threads on 2 busy cores crawl (hybrid
# 250 20 256 natively: 27 s spinning, 11 s passive)
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
[ $NETNS = 1 ] && export UCX_TLS=tcp,self,sm
for e in "${ENVS[@]}"; do export "${e?}"; done
unset SPLITCKPT_SECRET DMTCP_COORD_HOST DMTCP_COORD_PORT DMTCP_CHECKPOINT_DIR

T=$(mktemp -d "${TMPDIR:-/tmp}/e2e_mpi_cr.XXXXXX") || exit 1
mkdir -p "$T/ckpt" "$T/state" "$T/run" && chmod 700 "$T/state"
export SPLITCKPT_STATE_DIR="$T/state"
COORD_PID="" PORT="" HOST=127.0.0.1 SESS=() BG=() PASSED=0 NH="" MPIARGS=() RARGS=()
GO=$T/go PROG=() REF=""
export CR_GO=$GO
for a in "$@"; do PROG+=("${a//@GO@/$GO}"); done

session_pids() { # every process of our sessions and every descendant of one (Hydra's
	# proxies and the lower halves start sessions of their own)
	[ ${#SESS[@]} -gt 0 ] || return 0
	cat /proc/[0-9]*/stat 2>/dev/null | sed 's/^\([0-9]*\) (.*) [A-Za-z] /\1 /' |
		awk -v sess=" ${SESS[*]} " -v me=$$ '
			{ pid[NR] = $1; ppid[NR] = $2; sid[NR] = $4 }
			END {
				for (i = 1; i <= NR; i++) if (index(sess, " " sid[i] " ")) mark[pid[i]] = 1
				do { added = 0
					for (i = 1; i <= NR; i++)
						if (!(pid[i] in mark) && (ppid[i] in mark)) { mark[pid[i]] = 1; added = 1 }
				} while (added)
				for (p in mark) if (p != me) print p
			}'
}
kill_job() {
	local pids i
	for i in "${SESS[@]}"; do pkill -9 -s "$i" 2>/dev/null; done # fast: our sessions only
	for i in $(seq 1 50); do
		pids=$(session_pids)
		[ -n "$pids" ] || break
		kill -9 $pids 2>/dev/null
		sleep 0.1
	done
	[ -z "$(session_pids)" ] || note "processes left after kill -9: $(session_pids | tr '\n' ' ')"
	for p in "${SESS[@]}"; do wait "$p" 2>/dev/null; done
	SESS=()
}
coord_pid_of() { # the coordinator we started (--daemon detaches): found by its port file
	local f
	for f in /proc/[0-9]*/cmdline; do
		{ tr "\0" " " <"$f"; } 2>/dev/null | grep -qE -- "--port-file $T/port2? " && { f=${f%/cmdline}; echo "${f#/proc/}"; }
	done
}
cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	kill_job
	for p in "${BG[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	if [ -n "$PORT" ]; then
		timeout 5 "$CMD" -h "$HOST" -p "$PORT" -q >/dev/null 2>&1
		sleep 0.2
	fi
	for p in $(coord_pid_of); do kill -9 "$p" 2>/dev/null; done
	if [ -n "$NH" ]; then
		bash "$NETNS_SH" down "$NH" || { note "netns hosts not fully removed"; rc=1; }
	fi
	if [ "$PASSED" != 1 ] || [ $rc != 0 ]; then
		for f in "$T"/*.out "$T"/*.log "$T"/ckpt/*.log; do
			[ -f "$f" ] && { echo "---- ${f#$T/} (last 25 lines) ----" >&2; tail -n 25 "$f" | cut -c1-300 >&2; }
		done
	fi
	if [ "${MPI_CR_KEEP:-0}" = 1 ] || [ "${MC_KEEP:-0}" = 1 ]; then note "kept $T"; else rm -rf "$T"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM
wait_for() { local d=$((SECONDS + $1)); shift; while ! "$@"; do [ $SECONDS -lt $d ] || return 1; sleep 0.2; done; }
since() { awk -v t="$1" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f", n - t }'; }
nlines() { [ "$(grep -ac "$1" "$2" 2>/dev/null)" -ge "$3" ]; }
answer_of() { grep -ah '^ANSWER:' "$1" 2>/dev/null | tail -n 1; }
coord_cmd() { timeout 120 "$CMD" -h "$HOST" -p "$PORT" "$@"; }
peers() { coord_cmd -s 2>/dev/null | sed -n 's/.*NUM_PEERS=\([0-9]*\).*/\1/p'; }
newest_gen() { ls -d "$T"/ckpt/gen-* 2>/dev/null | sort | tail -n 1; }
gen_no() { local g=${1##*/gen-}; echo $((10#$g)); }

# bg_run NAME cmd...: run in $T/run in a new session, stdout NAME.out, stderr NAME.log
bg_run() {
	local name=$1
	shift
	(cd "$T/run" && exec setsid "$@") >"$T/$name.out" 2>"$T/$name.log" </dev/null &
	SESS+=($!)
	LASTPID=$!
}
# judge NAME RC: a finished run must have exited 0 with PASS and the reference answer
judge() {
	local a
	[ -n "$REF" ] || native_answer # the reference run goes on beside the job and its restarts
	[ "$2" = 0 ] || die "$1: exit status $2"
	grep -aq '^PASS$' "$T/$1.out" || die "$1: no PASS"
	! grep -aq FAIL "$T/$1.out" || die "$1: FAIL printed: $(grep -a FAIL "$T/$1.out" | head -n 3)"
	a=$(answer_of "$T/$1.out")
	[ "$a" = "$REF" ] || die "$1: ANSWER '$a' differs from the uninterrupted run's '$REF'"
	note "$1: $a (same as the uninterrupted run)"
}
run_to_end() { # NAME cmd...: run (own session) until it exits, at most TMO seconds
	local name=$1 rc
	shift
	bg_run "$name" timeout -k 5 "$TMO" "$@"
	wait "$LASTPID"
	rc=$?
	SESS=()
	return $rc
}

# ---- hosts -------------------------------------------------------------------------------
if [ $NETNS = 1 ]; then
	[ "$(id -u)" = 0 ] || { echo "mpi_cr: SKIP: --netns needs root" >&2; exit 77; }
	bash "$NETNS_SH" reap
	NH=$T/hosts
	bash "$NETNS_SH" up "$NH" 4 >/dev/null || die "netns-hosts.sh up failed"
	source "$NH/env.sh"
	IFS=, read -r HA HB HC HD <<<"$NH_HOSTS"
	HOST=$NH_ROOT
	read -ra NHARGS <<<"$NH_MPIEXEC_ARGS"
	MPIARGS=("${NHARGS[@]}" -hosts "$HA,$HB")
	RARGS=("${NHARGS[@]}" -hosts "$HC,$HD")
	export DMTCP_MPIEXEC_ARGS="$NH_MPIEXEC_ARGS -hosts $HC,$HD"
	note "hosts: job on $HA,$HB, restart on $HC,$HD, coordinator at $HOST"
fi

# check_hosts NAME ADDR...: every rank of run NAME printed a NETNS line naming the network
# namespace of one of the hosts ADDR..., and each of them has a rank
check_hosts() {
	local name=$1 r ino a ns want=() got
	shift
	for a in "$@"; do
		ns=$(awk -v h="$a" '$1 == h { print $2 }' "$NH/hosts")
		want+=("$(stat -L -c %i "/var/run/netns/$ns")") || die "no namespace for host $a"
	done
	for r in $(seq 0 $((N - 1))); do
		ino=$(sed -n "s/^NETNS $r \([0-9]*\)\$/\1/p" "$T/$name.out" | head -n 1)
		[ -n "$ino" ] || die "$name: rank $r printed no NETNS line"
		[[ " ${want[*]} " == *" $ino "* ]] || die "$name: rank $r ran in namespace $ino, not on $*"
		got+=" $ino"
	done
	for ino in "${want[@]}"; do
		[[ "$got " == *" $ino "* ]] || die "$name: no rank ran on every host of $*"
	done
	note "$name: the $N ranks ran on hosts $*"
}

# check_running_hosts NAME ADDR...: the restarted ranks (splitckpt-lh processes of our
# sessions) run in the network namespaces of hosts ADDR..., every host with one or more
ns_inode() { stat -L -c %i "/var/run/netns/$(awk -v h="$1" '$1 == h { print $2 }' "$NH/hosts")"; }
check_running_hosts() {
	local name=$1 p ino d=$((SECONDS + 30)) found=() a
	shift
	while [ $SECONDS -lt $d ]; do
		found=()
		for p in $(session_pids); do
			grep -aq splitckpt-lh "/proc/$p/cmdline" 2>/dev/null || continue
			ino=$(stat -L -c %i "/proc/$p/ns/net" 2>/dev/null) && found+=("$ino")
		done
		[ ${#found[@]} -ge "$RN" ] && break
		sleep 0.2
	done
	[ ${#found[@]} -ge "$RN" ] || die "$name: found ${#found[@]} restarted ranks, not $RN"
	for ino in "${found[@]}"; do
		[ "$ino" = "$(ns_inode "$1")" ] || [ "$ino" = "$(ns_inode "$2")" ] ||
			die "$name: a restarted rank runs in namespace $ino, not on $*"
	done
	for a in "$@"; do
		[[ " ${found[*]} " == *" $(ns_inode "$a") "* ]] || die "$name: no restarted rank on $a"
	done
	note "$name: the restarted ranks run on hosts $*"
}

# ---- reference run -----------------------------------------------------------------------
touch "$T/go.native"
NATIVE=""
NPROG=()
for a in "$@"; do NPROG+=("${a//@GO@/$T/go.native}"); done
if [ -z "$EXPECT" ]; then # a refused restart computes nothing to compare
	(cd "$T/run" && CR_GO=$T/go.native exec timeout -k 5 "$TMO" mpiexec "${MPIARGS[@]}" -n "$N" "${NPROG[@]}") \
		>"$T/native.out" 2>"$T/native.log" </dev/null &
	NATIVE=$!
	BG+=("$NATIVE")
fi
native_answer() {
	[ -n "$NATIVE" ] || return 0
	wait "$NATIVE" || die "the uninterrupted run failed"
	grep -aq '^PASS$' "$T/native.out" || die "the uninterrupted run printed no PASS"
	REF=$(answer_of "$T/native.out")
	[ -n "$REF" ] || die "the uninterrupted run printed no ANSWER"
	[ -z "$WANT" ] || REF="ANSWER: $WANT"
	NATIVE=""
}

if [ $NOCKPT = 1 ]; then
	touch "$GO"
	run_to_end plain mpiexec "${MPIARGS[@]}" -n "$N" "$LAUNCH" --no-coordinator "${PROG[@]}"
	rc=$?
	native_answer
	judge plain $rc
	[ $NETNS = 1 ] && check_hosts plain "$HA" "$HB"
	PASSED=1
	exit 0
fi

# ---- coordinator -------------------------------------------------------------------------
CARGS=(-p 0 --port-file "$T/port" --daemon --coord-logfile "$T/coord.log" --ckptdir "$T/ckpt")
[ -n "$INTERVAL" ] && CARGS+=(-i "$INTERVAL")
"$COORD" "${CARGS[@]}" </dev/null >>"$T/coord.log" 2>&1 || die "dmtcp_coordinator failed"
wait_for 15 test -s "$T/port" || die "no coordinator port file"
PORT=$(head -n 1 "$T/port")

# ---- launch, checkpoint(s), kill ---------------------------------------------------------
launch() {
	bg_run launch timeout -k 5 "$TMO" mpiexec "${MPIARGS[@]}" -n "$N" "$LAUNCH" -h "$HOST" \
		-p "$PORT" -j "${PROG[@]}"
	wait_for 90 eval 'nlines "^READY\$" "$T/launch.out" "$N" || ! kill -0 $LASTPID 2>/dev/null'
	nlines '^READY$' "$T/launch.out" "$N" || die "not all $N ranks printed READY"
	wait_for 30 eval '[ "$(peers)" -ge "$N" ] 2>/dev/null' || die "the coordinator lists $(peers) processes, not $N"
}
# new_coord: kill -9 the coordinator, start another on its port; the ranks must join it
# again and say again that they are MPI ranks
new_coord() {
	local p i
	for p in $(coord_pid_of); do
		kill -9 "$p"
		wait_for 10 eval '[ ! -e /proc/$p ]' || die "the coordinator (pid $p) survived kill -9"
	done
	for i in $(seq 1 40); do # its port may stay taken a moment after it is gone
		"$COORD" -p "$PORT" --port-file "$T/port2" --daemon --coord-logfile "$T/coord2.log" \
			--ckptdir "$T/ckpt" </dev/null >>"$T/coord2.log" 2>&1 && break
		grep -q "is in use" "$T/coord2.log" || die "the new dmtcp_coordinator failed"
		: >"$T/coord2.log"
		sleep 0.25
	done
	[ -s "$T/port2" ] || die "the new dmtcp_coordinator did not start on port $PORT"
	note "new coordinator on port $PORT (attempt $i)"
	wait_for 60 eval '[ "$(coord_cmd -l 2>/dev/null | grep -c "rank [0-9]")" = "$N" ]' ||
		die "the ranks did not join the new coordinator as MPI ranks: $(coord_cmd -l 2>&1 | tail -n 4)"
	note "all $N ranks joined the new coordinator as MPI ranks"
}
checkpoint() { # blocking checkpoint; its summary line goes to the log
	local out
	out=$(coord_cmd -bc 2>&1) || die "dmtcp_command -bc failed: $out"
	note "$out"
	[ -d "$(newest_gen)" ] || die "no gen-NNNNNN directory after -bc"
	[ -f "$(newest_gen)/MANIFEST" ] || die "$(newest_gen) has no MANIFEST"
}
take_checkpoints() {
	local k g
	if [ -n "$INTERVAL" ]; then
		sleep "$WAIT"
		g=$(newest_gen)
		[ -n "$g" ] && [ "$(gen_no "$g")" -ge "$MIN_GEN" ] ||
			die "after $WAIT s with -i $INTERVAL the newest generation is '${g##*/}', want >= $MIN_GEN"
		note "interval checkpoints: newest ${g##*/}"
	fi
	for k in $(seq 1 "$CKPTS"); do
		sleep "$SLEEP"
		checkpoint
	done
}
kill_it() {
	if [ $KILLCMD = 1 ]; then
		coord_cmd -k >/dev/null 2>&1 || note "dmtcp_command -k failed"
		wait_for 20 eval '[ -z "$(session_pids)" ]' || note "dmtcp_command -k left processes; kill -9"
	fi
	kill_job
	wait_for 10 eval '[ "$(peers)" = 0 ]' || note "the coordinator still lists $(peers) processes"
	grep -aq '^ANSWER:' "$T/launch.out" && die "the job finished before it was killed; the restart would prove nothing"
	return 0
}

launch
[ $NEWCOORD = 1 ] && new_coord
take_checkpoints
if [ $NOKILL = 1 ]; then
	touch "$GO"
	wait "$LASTPID"
	rc=$?
	SESS=()
	native_answer
	judge launch $rc
	PASSED=1
	exit 0
fi
PREV=$(newest_gen)
if [ $KILLDURING = 1 ]; then
	# kill -9 as soon as the next generation's directory appears (images being written)
	NEXT=$(printf '%s/ckpt/gen-%06d' "$T" $(($(gen_no "$PREV") + 1)))
	(coord_cmd -bc >"$T/killed-ckpt.out" 2>&1) &
	CK=$!
	BG+=($CK)
	for _ in $(seq 1 3000); do
		[ -d "$NEXT" ] && break
		kill -0 $CK 2>/dev/null || break
		sleep 0.005
	done
	kill_job
	wait $CK
	ckrc=$?
	note "killed during checkpoint (${NEXT##*/}: $(ls "$NEXT" 2>/dev/null | tr '\n' ' ')); -bc exit $ckrc: $(head -n 2 "$T/killed-ckpt.out" | tr '\n' ' ')"
	# a -bc that succeeded means the kill came too late: then the new generation is the one
	if [ $ckrc = 0 ]; then
		note "the checkpoint completed before the kill; the restart must take ${NEXT##*/}"
		PREV=$NEXT
	fi
else
	kill_it
fi

# ---- refusals ----------------------------------------------------------------------------
GEN=$(newest_gen)
# periodic mode: the kill may have hit an interval checkpoint; take the newest complete one
[ -n "$INTERVAL" ] && GEN=$T/ckpt
[ -n "$RGEN" ] && GEN=$(printf '%s/ckpt/gen-%06d' "$T" "$RGEN")
[ -d "$GEN" ] || die "no generation directory $GEN"
if [ -n "$MANGLE" ]; then
	[ -f "$GEN/MANIFEST" ] || die "no MANIFEST in $GEN"
	last=$(sed -n "s/^rank $((N - 1)) host [^ ]* image //p" "$GEN/MANIFEST")
	[ -n "$last" ] || die "the MANIFEST of $GEN names no image of rank $((N - 1))"
	case "$MANGLE" in
	missing) rm -f "$GEN/$last" ;;
	same-image) ;;
	flip-data)
		sz=$(stat -c %s "$GEN/$last")
		off=$((sz / 2))
		byte=$(od -An -tu1 -j $off -N1 "$GEN/$last" | tr -d ' ')
		printf "$(printf '\\%03o' $(((byte ^ 0x10) & 255)))" |
			dd of="$GEN/$last" bs=1 seek=$off conv=notrunc status=none
		;;
	mixed)
		prev=$(ls -d "$T"/ckpt/gen-* | sort | tail -n 2 | head -n 1)
		[ "$prev" != "$GEN" ] && [ -f "$prev/$last" ] || die "no older image of rank $((N - 1))"
		cp "$prev/$last" "$GEN/$last"
		;;
	*) die "unknown --mangle $MANGLE" ;;
	esac
fi
if [ -n "$EXPECT" ]; then
	s=$SECONDS
	if [ "$MANGLE" = same-image ]; then # no dmtcp_restart: the lower half checks the rank
		img0=$(sed -n "s/^rank 0 host [^ ]* image //p" "$GEN/MANIFEST")
		[ -f "$GEN/$img0" ] || die "no image of rank 0 in $GEN"
		RCMD=(env SPLITCKPT_NO_COORD=1 SPLITCKPT_COORD_PORT=0 "$BIN/lower-half/splitckpt-lh-mpi"
			--restore "$GEN/$img0")
	else
		RDIR=$GEN
		[ $RALL = 1 ] && RDIR=$T/ckpt
		RCMD=("$RESTART" -h "$HOST" -p "$PORT" -j --restartdir "$RDIR")
	fi
	(cd "$T/run" && exec setsid timeout -k 5 90 mpiexec "${RARGS[@]}" -n "$RN" "${RCMD[@]}") \
		>"$T/refused.out" 2>"$T/refused.log" </dev/null &
	SESS+=($!)
	wait $!
	rc=$?
	SESS=()
	[ $rc != 0 ] || die "the restart succeeded; expected it to fail with /$EXPECT/"
	[ $rc != 124 ] && [ $rc != 137 ] || die "the restart hung (killed by timeout after $((SECONDS - s)) s) instead of refusing"
	grep -Eq -- "$EXPECT" "$T/refused.out" "$T/refused.log" || die "the restart failed (exit $rc) without /$EXPECT/"
	[ -z "$(answer_of "$T/refused.out")" ] || die "the refused restart still computed an ANSWER"
	note "refused in $((SECONDS - s)) s: $(grep -Eh -- "$EXPECT" "$T/refused.out" "$T/refused.log" | head -n 1)"
	PASSED=1
	exit 0
fi

# ---- restarts ----------------------------------------------------------------------------
restart_hand() { # NAME GENDIR: by hand, in the background (RPID; T0 when it started)
	T0=$(date +%s.%N)
	bg_run "$1" timeout -k 5 "$TMO" mpiexec "${RARGS[@]}" -n "$RN" "$RESTART" -h "$HOST" \
		-p "$PORT" -j --restartdir "$2"
	RPID=$LASTPID
}
# back_in NAME: note how long the restart RPID took until all its ranks were back under the
# coordinator (restored, MPI rebuilt, HELLO said)
back_in() {
	if wait_for 60 eval '[ "$(peers)" -ge "$RN" ] 2>/dev/null || ! kill -0 $RPID 2>/dev/null' &&
		kill -0 $RPID 2>/dev/null; then
		note "$1: all $RN ranks back under the coordinator after $(since "$T0") s"
	fi
}
if [ $KILLDURING = 1 ]; then
	# the interrupted generation (if any) is incomplete: --restartdir of the whole directory
	# must take the previous one, PREV
	restart_hand restart "$T/ckpt"
	touch "$GO"
	wait "$RPID"
	rc=$?
	SESS=()
	grep -aqF "${PREV##*/}" "$T/restart.log" ||
		die "the restart did not take ${PREV##*/}: $(grep -a 'restarting' "$T/restart.log" | head -n 1)"
	judge restart $rc
	PASSED=1
	exit 0
fi
if [ "$VIA" = script ] || [ "$VIA" = both ]; then
	[ -x "$T/ckpt/dmtcp_restart_script.sh" ] || die "no executable $T/ckpt/dmtcp_restart_script.sh"
	bg_run script timeout -k 5 "$TMO" "$T/ckpt/dmtcp_restart_script.sh" -h "$HOST" -p "$PORT"
	[ $NETNS = 1 ] && check_running_hosts script "$HC" "$HD"
	touch "$GO"
	wait "$LASTPID"
	rc=$?
	SESS=()
	judge script $rc
	rm -f "$GO"
fi
if [ "$VIA" = hand ] || [ "$VIA" = both ]; then
	[ $RALL = 1 ] && GEN=$T/ckpt
	for c in $(seq 1 "$CYCLES"); do
		restart_hand "restart$c" "$GEN"
		if [ "$c" -lt "$CYCLES" ]; then # checkpoint the restarted job and kill it again
			wait_for 30 eval '[ "$(peers)" = "$RN" ]' || die "restart $c: the coordinator lists $(peers) processes"
			sleep "$SLEEP"
			checkpoint
			kill_job
			grep -aq '^ANSWER:' "$T/restart$c.out" && die "restart $c finished before it was killed"
			GEN=$(newest_gen)
			note "cycle $c: checkpointed the restarted job (${GEN##*/}), killed it"
			[ $RALL = 1 ] && GEN=$T/ckpt
			continue
		fi
		[ $NETNS = 1 ] && check_running_hosts "restart$c" "$HC" "$HD"
		back_in "restart$c"
		touch "$GO"
		wait "$RPID"
		rc=$?
		SESS=()
		judge "restart$c" $rc
		note "restart$c: restart to exit $(since "$T0") s"
	done
fi
PASSED=1
