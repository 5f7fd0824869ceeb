#!/bin/bash
# cr_functions_test.sh - cr_functions.sh without Slurm: the time conversions of the
# remaining-time bookkeeping, restart_count and requeue_job outside a job, and
# start_coordinator (a real coordinator; its ./dmtcp_command.<id> wrapper must reach it from
# an empty environment and from another directory).
#
#   cr_functions_test.sh BINDIR_OR_PREFIX SOURCE_DIR       exit 0 pass, 1 fail
set -u
BIN=$(cd "$1" && pwd) SRC=$(cd "$2" && pwd)
if [ -x "$BIN/bin/dmtcp_coordinator" ]; then
	PATH=$BIN/bin:$PATH
else
	PATH=$BIN/coordinator:$BIN/launcher:$SRC/scripts:$PATH
fi
export PATH
fails=0
check() { # check DESCRIPTION EXPECTED ACTUAL
	if [ "$2" = "$3" ]; then
		echo "ok   $1"
	else
		echo "FAIL $1: expected '$2', got '$3'"
		fails=$((fails + 1))
	fi
}
unset SLURM_JOB_ID SLURM_RESTART_COUNT SPLITCKPT_SECRET DMTCP_COORD_HOST DMTCP_COORD_PORT
set -u -e # the functions must work under both
source cr_functions.sh
set +e

check "minutes" 1800 "$(cr_time_to_secs 30)"
check "M:S" 330 "$(cr_time_to_secs 5:30)"
check "H:M:S" 172800 "$(cr_time_to_secs 48:00:00)"
check "squeue M:SS" 300 "$(cr_time_to_secs 5:00)"
check "D-H" 93600 "$(cr_time_to_secs 1-02)"
check "D-H:M" 93780 "$(cr_time_to_secs 1-02:03)"
check "D-H:M:S" 93784 "$(cr_time_to_secs 1-02:03:04)"
check "leading zeros" 549 "$(cr_time_to_secs 00:09:09)"
for bad in UNLIMITED "(null)" "" 1:2:3:4 abc -5 1-; do
	cr_time_to_secs "$bad" >/dev/null && { echo "FAIL '$bad' accepted"; fails=$((fails + 1)); }
done
check "format" 00:09:09 "$(cr_secs_to_time 549)"
check "format days" 2-00:00:01 "$(cr_secs_to_time 172801)"
check "format negative" 00:00:00 "$(cr_secs_to_time -4)"
check "round trip" 345678 "$(cr_time_to_secs "$(cr_secs_to_time 345678)")"
check "restart_count outside a job" 0 "$(restart_count)"
check "restart_count from SLURM_RESTART_COUNT" 12 "$(SLURM_RESTART_COUNT=12 restart_count)"
out=$(requeue_job func_trap USR1)
check "requeue_job without a comment" \
	"cr_functions: no total time in --comment: job ? will not be requeued" "$out"
check "no trap installed" "" "$(trap -p USR1)"
requeue_job 2>/dev/null && { echo "FAIL requeue_job without arguments"; fails=$((fails + 1)); }

# requeue_job / func_trap bookkeeping against a stand-in squeue and scontrol (functions,
# which bash prefers to the programs): Comment (total left) C, TimeLimit L, time used U.
fake_job() { # fake_job C L U: squeue answers these; scontrol calls are logged to $CALLS
	FAKE_C=$1 FAKE_L=$2 FAKE_U=$3
	: >"$CALLS"
}
squeue() {
	case "$*" in
	*%k*) echo "$FAKE_C" ;; *%l*) echo "$FAKE_L" ;; *%M*) echo "$FAKE_U" ;;
	esac
}
scontrol() { [ "$1" = show ] || echo "scontrol $*" >>"$CALLS"; }
CALLS=$(mktemp)
export SLURM_JOB_ID=77
fake_job 00:30:00 10:00 4:00
requeue_job func_trap USR1 >/dev/null
check "trap armed when the total outlasts the allocation" "trap -- 'func_trap USR1' SIGUSR1" \
	"$(trap -p USR1)"
trap - USR1
fake_job 00:30:00 10:00 4:00
(func_trap USR1 >/dev/null)
check "func_trap requeues and books the time used" \
	"scontrol requeue 77|scontrol update JobId=77 TimeLimit=00:10:00 Comment=00:26:00" \
	"$(paste -sd'|' "$CALLS")"
fake_job 00:05:00 10:00 1:30
(func_trap USR1 >/dev/null)
check "next limit = what is left when that is less" \
	"scontrol requeue 77|scontrol update JobId=77 TimeLimit=00:03:30 Comment=00:03:30" \
	"$(paste -sd'|' "$CALLS")"
fake_job 2-00:00:00 1-00:00:00 12:00:00
(max_timelimit=06:00:00 func_trap USR1 >/dev/null)
check "max_timelimit caps the next limit" \
	"scontrol requeue 77|scontrol update JobId=77 TimeLimit=06:00:00 Comment=1-12:00:00" \
	"$(paste -sd'|' "$CALLS")"
fake_job 00:20:00 10:00 20:00
out=$(func_trap USR1)
check "no requeue when the total is used up" "" "$(cat "$CALLS")"
check "... and it says so" yes "$([[ $out == *"total time is used up"* ]] && echo yes)"
fake_job 00:08:00 10:00 0:05
requeue_job func_trap USR1 >"$CALLS.out"
out=$(cat "$CALLS.out")
check "no trap when the total fits in this allocation" "" "$(trap -p USR1)"
check "... and it says so" yes "$([[ $out == *"no more job requeues"* ]] && echo yes)"
fake_job 00:30:00 10:00 4:00
(ckpt_command="echo CKPT-RAN" func_trap USR1 | grep -q CKPT-RAN)
check "func_trap runs \$ckpt_command" 0 "$?"
fake_job 00:30:00 10:00 4:00
(ckpt_command=false func_trap USR1 >/dev/null 2>&1)
check "a failed checkpoint still requeues" "scontrol requeue 77" "$(head -n 1 "$CALLS")"
check "restart_count from scontrol (all digits)" 13 \
	"$(scontrol() { echo "   Requeue=1 Restarts=13 BatchFlag=1"; }; restart_count)"
unset -f squeue scontrol
unset SLURM_JOB_ID
rm -f "$CALLS" "$CALLS.out"

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export SPLITCKPT_STATE_DIR=$T/state
cd "$T" || exit 1
start_coordinator -i 0 >start.out || { echo "FAIL start_coordinator"; exit 1; }
w=$T/dmtcp_command.$$
check "wrapper written" yes "$([ -x "$w" ] && echo yes)"
check "wrapper mode" 700 "$(stat -c %a "$w")"
check "DMTCP_COORD_HOST" "$(hostname)" "$DMTCP_COORD_HOST"
check "port exported" yes "$([[ $DMTCP_COORD_PORT =~ ^[0-9]+$ ]] && echo yes)"
check "secret exported" 64 "${#SPLITCKPT_SECRET}"
st=$(cd / && env -i "$w" -s 2>&1)
check "wrapper reaches the coordinator" "Port: $DMTCP_COORD_PORT" \
	"$(echo "$st" | grep -o "Port: [0-9]*")"
check "own dmtcp_command reaches it" 0 "$(dmtcp_command -s >/dev/null 2>&1; echo $?)"
(cd / && env -i "$w" -q >/dev/null 2>&1)
sleep 0.3
check "coordinator gone after -q" 1 "$(dmtcp_command -s >/dev/null 2>&1; echo $?)"
# A failing start ends a non-interactive shell with status 1 and says why.
out=$(PATH=/usr/bin:/bin bash -c 'source '"$(command -v cr_functions.sh)"'; start_coordinator; echo not reached' 2>&1)
check "no coordinator on PATH: exit 1" 1 "$?"
check "no coordinator on PATH: message" yes \
	"$([[ $out == *"no dmtcp_coordinator on PATH"* && $out != *"not reached"* ]] && echo yes)"
out=$(bash -c 'source cr_functions.sh; start_coordinator --bogus-option; echo not reached' 2>&1)
check "bad coordinator option: exit 1" 1 "$?"

[ $fails -eq 0 ] && echo "PASS" && exit 0
echo "FAIL: $fails checks"
exit 1
