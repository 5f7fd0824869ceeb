#!/bin/bash
# refuse_cr.sh - a checkpoint of an MPI job that holds something a restart cannot give back
# must be refused at checkpoint time, clearly, and the job must go on unharmed.
#
#   refuse_cr.sh [--first-ok] BUILD_DIR N REGEX -- prog args...
#
# Own temp dir and coordinator (-p 0 --port-file); `mpiexec -n N dmtcp_launch -j prog` in its
# own session; wait for N "READY" lines; `dmtcp_command -bc` must fail and print REGEX (the
# coordinator reports the rank's reason); no generation may be complete; then the job must
# finish by itself and print PASS. The job gets CR_GO=$T/go (tests/progs/cr_go.h), made only
# after the refusal: until then it holds before the last quarter of its steps (so it is still
# there, with what must be refused, however late the checkpoint comes), then it runs on
# without pauses. --first-ok: the job also gets CR_PRE=$T/pre and prints N "PRE" lines
# first, holding until that file exists; a checkpoint taken then must succeed, and after the
# refused one it must still be the newest complete generation; once the job has passed, a
# restart from the checkpoint directory (`mpiexec -n N dmtcp_restart --restartdir`) must run
# it to the end (PASS) again. Every process of the job's sessions and the coordinator are
# killed and the temp dir removed on exit, also on failure. Exit 0 pass, 1 fail.
set -u -o pipefail
FIRST_OK=0
[ "${1:-}" = --first-ok ] && { FIRST_OK=1; shift; }
BIN=$(cd "$1" && pwd) || exit 1
N=$2 RE=$3
shift 4
LAUNCH=$BIN/launcher/dmtcp_launch COORD=$BIN/coordinator/dmtcp_coordinator
RESTART=$BIN/launcher/dmtcp_restart
CMD=$BIN/coordinator/dmtcp_command
export UCX_TLS=${UCX_TLS:-self,sm} HWLOC_PLUGINS_PATH=/nonexistent
T=$(mktemp -d "${TMPDIR:-/tmp}/refuse_cr.XXXXXX") || exit 1
mkdir -p "$T/ckpt" "$T/state" && chmod 700 "$T/state"
export SPLITCKPT_STATE_DIR="$T/state"
export CR_GO=$T/go
[ $FIRST_OK = 1 ] && export CR_PRE=$T/pre
unset SPLITCKPT_SECRET
COORD_PID="" SESS="" SESS2="" PASSED=0
die() { echo "refuse_cr: FAIL: $*" >&2; exit 1; }
session_pids() {
	local f s
	for f in /proc/[0-9]*/stat; do
		{ read -r s <"$f"; } 2>/dev/null || continue # a builtin: no fork per process (polled)
		s=${s##*) }
		set -- $s
		[ -n "${4:-}" ] && case " $SESS $SESS2 " in *" $4 "*) echo "${f//[^0-9]/}" ;; esac
	done
}
cleanup() {
	local rc=$? pids
	set +e
	pids=$(session_pids)
	[ -n "$pids" ] && kill -9 $pids 2>/dev/null
	[ -n "$SESS" ] && wait "$SESS" 2>/dev/null
	[ -n "$SESS2" ] && wait "$SESS2" 2>/dev/null
	if [ -n "$COORD_PID" ]; then
		kill -9 "$COORD_PID" 2>/dev/null
		wait "$COORD_PID" 2>/dev/null
	fi
	if [ "$PASSED" != 1 ]; then
		for f in "$T"/*.out "$T"/*.log; do
			[ -f "$f" ] && { echo "---- ${f#$T/} (last 20 lines) ----" >&2; tail -n 20 "$f" >&2; }
		done
	fi
	rm -rf "$T"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM
wait_for() { local d=$((SECONDS + $1)); shift; while ! "$@"; do [ $SECONDS -lt $d ] || return 1; sleep 0.1; done; }
nlines() { # WORD: N lines of it in the job's output
	local n
	n=$(grep -ac "^$1\$" "$T/launch.out" 2>/dev/null)
	[ "${n:-0}" -ge "$N" ]
}
newest_complete() { ls -d "$T"/ckpt/gen-*/MANIFEST 2>/dev/null | sort | tail -n 1; }

"$COORD" -p 0 --port-file "$T/port" --ckptdir "$T/ckpt" >"$T/coord.log" 2>&1 </dev/null &
COORD_PID=$!
wait_for 15 test -s "$T/port" || die "no coordinator port file"
PORT=$(head -n 1 "$T/port")
(cd "$T" && exec setsid mpiexec -n "$N" "$LAUNCH" -h localhost -p "$PORT" -j --ckptdir "$T/ckpt" \
	"$@") >"$T/launch.out" 2>"$T/launch.log" </dev/null &
SESS=$!
GOOD=""
if [ $FIRST_OK = 1 ]; then
	wait_for 90 nlines PRE || die "not all $N ranks printed PRE"
	wait_for 30 eval '[ "$("$CMD" -h localhost -p "$PORT" -s 2>/dev/null | sed -n "s/.*NUM_PEERS=\([0-9]*\).*/\1/p")" -ge "$N" ]' ||
		die "the coordinator does not list $N processes"
	out=$("$CMD" -h localhost -p "$PORT" -bc 2>&1) || die "the first checkpoint failed: $out"
	GOOD=$(newest_complete)
	[ -n "$GOOD" ] || die "the first checkpoint left no complete generation"
	echo "refuse_cr: first checkpoint: ${GOOD#$T/ckpt/}"
	touch "$T/pre"
fi
wait_for 90 nlines READY || die "not all $N ranks printed READY"
wait_for 30 eval '[ "$("$CMD" -h localhost -p "$PORT" -s 2>/dev/null | sed -n "s/.*NUM_PEERS=\([0-9]*\).*/\1/p")" -ge "$N" ]' ||
	die "the coordinator does not list $N processes"
out=$("$CMD" -h localhost -p "$PORT" -bc 2>&1) && die "the checkpoint succeeded: $out"
echo "$out" | grep -Eq -- "$RE" || die "the refused checkpoint did not say /$RE/: $out"
echo "refuse_cr: refused as expected: $(echo "$out" | grep -Eo -- "$RE" | head -n 1)"
[ "$(newest_complete)" = "$GOOD" ] ||
	die "the newest complete generation is now $(newest_complete), not ${GOOD:-none}"
touch "$T/go"
wait_for 200 eval '! kill -0 $SESS 2>/dev/null' || die "the job did not finish after the refused checkpoint"
wait "$SESS"
rc=$?
[ $rc = 0 ] || die "the job exited with $rc after the refused checkpoint"
grep -aq '^PASS$' "$T/launch.out" || die "the job printed no PASS after the refused checkpoint"
echo "refuse_cr: the job went on and passed"
if [ $FIRST_OK = 1 ]; then # the generation kept is whole: a restart runs the job to the end
	(cd "$T" && exec setsid mpiexec -n "$N" "$RESTART" -h localhost -p "$PORT" -j \
		--restartdir "$T/ckpt") >"$T/restart.out" 2>"$T/restart.log" </dev/null &
	SESS2=$!
	wait_for 200 eval '! kill -0 $SESS2 2>/dev/null' || die "the restart did not finish"
	wait "$SESS2"
	rc=$?
	[ $rc = 0 ] || die "the restart of ${GOOD#$T/ckpt/} exited with $rc"
	grep -aq '^PASS$' "$T/restart.out" || die "the restart of ${GOOD#$T/ckpt/} printed no PASS"
	echo "refuse_cr: the restart of ${GOOD#$T/ckpt/} ran to the end and passed"
fi
PASSED=1
