# cr_functions.sh - checkpoint/restart helpers for Slurm batch jobs (bash; source it).
#
# The functions of NERSC's nersc_cr module, for splitckpt's DMTCP command set. A job script
# does `source cr_functions.sh` (bash finds it on PATH; installed next to dmtcp_launch) or
# `module load splitckpt`, then:
#
#   start_coordinator [opts]   start this job's dmtcp_coordinator (daemon, free port), export
#                              DMTCP_COORD_HOST/DMTCP_COORD_PORT, write ./dmtcp_command.<jobid>
#   restart_count              print how often Slurm has requeued this job (0 on the first run)
#   requeue_job FUNC SIG...    if this job's total time (--comment) outlasts this allocation,
#                              trap SIG... to run `FUNC SIG` (normally: func_trap USR1)
#   func_trap SIG              run $ckpt_command, requeue the job, book the time it used
#   ckpt_dmtcp                 checkpoint now; returns when every image is on disk
#   wait_coord [SECS]          wait until the coordinator's processes run (not mid-checkpoint)
#   parse_job                  read the job's time budget into variables (see below)
#   cr_time_to_secs T          Slurm time (M, M:S, H:M:S, D-H, D-H:M, D-H:M:S) -> seconds
#   cr_secs_to_time N          seconds -> [D-]HH:MM:SS
#   cr_remaining_secs          seconds of the total time (--comment) that are left now
#
# Remaining-time bookkeeping: `#SBATCH --comment=T` holds the total run time the job may
# still use over all its allocations, in Slurm's time format. At every requeue func_trap
# subtracts the time this allocation really ran (squeue %M), stores the rest back into the
# job's Comment and sets the next allocation's TimeLimit to min(rest, max_timelimit). When
# nothing is left, the job is not requeued again.
#
# Variables a job script may set (before requeue_job):
#   ckpt_command   what func_trap runs before the requeue (`ckpt_dmtcp` for DMTCP jobs;
#                  empty: no checkpoint, the application restarts from its own files)
#   ckpt_overhead  seconds (default 60) counted as usable when requeue_job predicts whether
#                  time is left after this allocation (the job ends about that long before
#                  its limit: the lead time of --signal)
#   max_timelimit  largest time limit to ask for an allocation (Slurm time or seconds);
#                  default: the time limit of this allocation
#
# Messages go to stdout with a "cr_functions:" prefix (the job's output file); errors to
# stderr. Functions return 0 on success, 1 on failure; start_coordinator, which the rest of
# a C/R job script cannot do without, exits a non-interactive shell instead of returning 1.
# Works with `set -u` and `set -e` in the calling script.

# When this allocation started (seconds since the epoch), set once per allocation: a value
# inherited from the submitting shell or an earlier allocation of the job is not ours.
if [ "${CR__ALLOC_KEY:-}" != "${SLURM_JOB_ID:-}.${SLURM_RESTART_COUNT:-0}" ] ||
	[ -z "${CR_ALLOC_START:-}" ]; then
	CR__ALLOC_KEY="${SLURM_JOB_ID:-}.${SLURM_RESTART_COUNT:-0}"
	CR_ALLOC_START=$(date +%s)
fi

cr__say() { echo "cr_functions: $*"; }
cr__err() { echo "cr_functions: error: $*" >&2; }

# cr_time_to_secs T: print T (Slurm's time format: "M", "M:S", "H:M:S", "D-H", "D-H:M",
# "D-H:M:S"; a bare number is minutes, as in `sbatch -t`) as seconds. Returns 1, printing
# nothing, for anything else ("UNLIMITED", "(null)", "").
cr_time_to_secs() {
	local t=${1:-} d=0 h=0 m=0 s=0 rest
	local n='[0-9]+'
	if [[ $t =~ ^($n)-(.*)$ ]]; then
		d=$((10#${BASH_REMATCH[1]}))
		rest=${BASH_REMATCH[2]}
		if [[ $rest =~ ^($n)$ ]]; then
			h=$((10#${BASH_REMATCH[1]}))
		elif [[ $rest =~ ^($n):($n)$ ]]; then
			h=$((10#${BASH_REMATCH[1]})) m=$((10#${BASH_REMATCH[2]}))
		elif [[ $rest =~ ^($n):($n):($n)$ ]]; then
			h=$((10#${BASH_REMATCH[1]})) m=$((10#${BASH_REMATCH[2]}))
			s=$((10#${BASH_REMATCH[3]}))
		else
			return 1
		fi
	elif [[ $t =~ ^($n)$ ]]; then
		m=$((10#${BASH_REMATCH[1]}))
	elif [[ $t =~ ^($n):($n)$ ]]; then
		m=$((10#${BASH_REMATCH[1]})) s=$((10#${BASH_REMATCH[2]}))
	elif [[ $t =~ ^($n):($n):($n)$ ]]; then
		h=$((10#${BASH_REMATCH[1]})) m=$((10#${BASH_REMATCH[2]}))
		s=$((10#${BASH_REMATCH[3]}))
	else
		return 1
	fi
	echo $((((d * 24 + h) * 60 + m) * 60 + s))
}

# cr_secs_to_time N: print N seconds as [D-]HH:MM:SS (negative N prints 00:00:00).
cr_secs_to_time() {
	local n=${1:-0} d
	[ "$n" -lt 0 ] && n=0
	d=$((n / 86400))
	n=$((n % 86400))
	if [ "$d" -gt 0 ]; then
		printf '%d-%02d:%02d:%02d\n' "$d" $((n / 3600)) $((n % 3600 / 60)) $((n % 60))
	else
		printf '%02d:%02d:%02d\n' $((n / 3600)) $((n % 3600 / 60)) $((n % 60))
	fi
}

# cr__job_field FMT: one squeue field of this job (e.g. %k comment, %l time limit, %M time
# used); prints nothing outside a job or when slurmctld does not answer.
cr__job_field() {
	[ -n "${SLURM_JOB_ID:-}" ] || return 1
	squeue -h -j "$SLURM_JOB_ID" -o "$1" 2>/dev/null | head -n 1 | tr -d ' '
}

# restart_count: print how often Slurm has requeued this job: $SLURM_RESTART_COUNT, else
# the Restarts= field of `scontrol show job` (all its digits), else 0 (also outside a job).
restart_count() {
	local n=${SLURM_RESTART_COUNT:-}
	if [ -z "$n" ] && [ -n "${SLURM_JOB_ID:-}" ]; then
		n=$(scontrol show job "$SLURM_JOB_ID" 2>/dev/null |
			sed -n 's/.*Restarts=\([0-9][0-9]*\).*/\1/p' | head -n 1)
	fi
	echo "${n:-0}"
}

# start_coordinator [dmtcp_coordinator options...]: start the job's coordinator as
#   dmtcp_coordinator --daemon --exit-on-last -p 0 --port-file F [options...]
# in the current directory (where dmtcp_restart_script.sh will be written), then
#  - export DMTCP_COORD_HOST (this host) and DMTCP_COORD_PORT (the port it got), which
#    dmtcp_launch, dmtcp_restart and dmtcp_command use, and SPLITCKPT_SECRET (the job
#    secret, so that the processes of this job find it even where $HOME is not shared);
#  - write ./dmtcp_command.<jobid> (mode 0700): dmtcp_command bound to this coordinator,
#    usable from any shell that can reach this host, e.g. `./dmtcp_command.123 -bc`.
# Any environment SPLITCKPT_SECRET of an earlier coordinator is dropped first. On failure
# prints why and exits a non-interactive shell with status 1 (returns 1 when interactive).
start_coordinator() {
	local jobid=${SLURM_JOB_ID:-$$} coord cmd host port pf secret sfile wrapper tmp
	wrapper="dmtcp_command.$jobid"
	coord=$(command -v dmtcp_coordinator) ||
		{ cr__err "no dmtcp_coordinator on PATH (module load splitckpt?)"; cr__die; return 1; }
	cmd=$(command -v dmtcp_command) ||
		{ cr__err "no dmtcp_command on PATH (module load splitckpt?)"; cr__die; return 1; }
	host=$(hostname 2>/dev/null || uname -n)
	pf=".$wrapper.port.$$"
	rm -f "$pf"
	unset SPLITCKPT_SECRET
	if ! "$coord" --daemon --exit-on-last -p 0 --port-file "$pf" "$@"; then
		rm -f "$pf"
		cr__err "dmtcp_coordinator $* did not start (see the message above)"
		cr__die
		return 1
	fi
	port=$(cat "$pf" 2>/dev/null)
	rm -f "$pf"
	if ! [[ $port =~ ^[0-9]+$ ]]; then
		cr__err "dmtcp_coordinator wrote no port to $pf"
		cr__die
		return 1
	fi
	sfile=${SPLITCKPT_STATE_DIR:-${HOME:-}/.splitckpt}/coord-$port.secret
	secret=$(cat "$sfile" 2>/dev/null)
	if ! [[ $secret =~ ^[0-9a-fA-F]{64}$ ]]; then
		cr__err "cannot read the job secret of the coordinator at port $port ($sfile)"
		cr__die
		return 1
	fi
	tmp=".$wrapper.tmp.$$"
	(
		umask 077
		cat >"$tmp" <<EOF
#!/bin/bash
# $wrapper - dmtcp_command for the coordinator of job $jobid at $host:$port
# (written by start_coordinator on $(date '+%F %T')). Try: $wrapper -s, -l, -bc, -k.
export DMTCP_COORD_HOST='$host' DMTCP_COORD_PORT='$port'
export SPLITCKPT_SECRET='$secret'
exec '$cmd' "\$@"
EOF
	) && chmod 0700 "$tmp" && mv -f "$tmp" "$wrapper" ||
		{ rm -f "$tmp"; cr__err "cannot write ./$wrapper"; cr__die; return 1; }
	export DMTCP_COORD_HOST=$host DMTCP_COORD_PORT=$port SPLITCKPT_SECRET=$secret
	cr__say "coordinator of job $jobid at $host:$port (./$wrapper talks to it)"
}

# A batch script cannot go on without its coordinator: leave it (see start_coordinator).
cr__die() { case $- in *i*) ;; *) exit 1 ;; esac; }

# wait_coord [SECS]: wait (default 60 s) until the coordinator reports processes that run
# (NUM_PEERS > 0 and RUNNING=yes: none joining, no checkpoint under way). Returns 1 on
# timeout.
wait_coord() {
	local limit=${1:-60} t0 st
	t0=$(date +%s)
	while :; do
		st=$(dmtcp_command -s 2>/dev/null)
		if [[ $st =~ NUM_PEERS=([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -gt 0 ] &&
			[[ $st == *RUNNING=yes* ]]; then
			return 0
		fi
		[ $(($(date +%s) - t0)) -ge "$limit" ] && break
		sleep 1
	done
	cr__err "wait_coord: the processes of the coordinator at ${DMTCP_COORD_HOST:-?}:${DMTCP_COORD_PORT:-?} do not run after $limit s"
	return 1
}

# ckpt_dmtcp: checkpoint the job through its coordinator (DMTCP_COORD_HOST/PORT) and wait
# until every image is durable (dmtcp_command --bcheckpoint). Returns its status.
ckpt_dmtcp() {
	local out rc
	cr__say "checkpointing job ${SLURM_JOB_ID:-} at $(date '+%F %T')"
	out=$(dmtcp_command --bcheckpoint 2>&1)
	rc=$?
	if [ $rc -eq 0 ]; then
		cr__say "${out:-checkpoint done}"
	else
		cr__err "checkpoint failed (status $rc): $out"
	fi
	return $rc
}

# parse_job: read this job's time budget (guide name; func_trap and requeue_job call it).
# Sets, in seconds: cr_total (the Comment: total time left for the job, empty if none),
# cr_limit (this allocation's time limit, empty if unlimited), cr_used (time this
# allocation ran so far), cr_max (max_timelimit, default cr_limit), and remainingTimeSec =
# cr_total - cr_limit + ckpt_overhead (what is predicted to be left after this allocation).
parse_job() {
	local v
	: "${ckpt_overhead:=60}"
	cr_total=$(cr_time_to_secs "$(cr__job_field %k)") || cr_total=
	cr_limit=$(cr_time_to_secs "$(cr__job_field %l)") || cr_limit=
	# Time used: the larger of Slurm's figure and our own clock (squeue rounds down and
	# may lag a just-started allocation), at least 1 s: no allocation is free.
	cr_used=$(cr_time_to_secs "$(cr__job_field %M)") || cr_used=0
	v=$(($(date +%s) - CR_ALLOC_START))
	[ "$v" -gt "$cr_used" ] && cr_used=$v
	[ "$cr_used" -ge 1 ] || cr_used=1
	cr_max=$cr_limit
	if [ -n "${max_timelimit:-}" ]; then
		if [[ $max_timelimit =~ ^[0-9]+$ ]]; then
			cr_max=$max_timelimit
		elif v=$(cr_time_to_secs "$max_timelimit"); then
			cr_max=$v
		else
			cr__err "max_timelimit='$max_timelimit' is not a time; ignored"
		fi
	fi
	remainingTimeSec=
	if [ -n "$cr_total" ] && [ -n "$cr_limit" ]; then
		remainingTimeSec=$((cr_total - cr_limit + ckpt_overhead))
	fi
}

# cr_remaining_secs: print the seconds of the job's total time (--comment) left now: the
# Comment minus the time this allocation ran. Returns 1 if the job has no such comment.
cr_remaining_secs() {
	parse_job
	[ -n "$cr_total" ] || return 1
	echo $((cr_total - cr_used))
}

# requeue_job FUNC SIG...: the guide's entry point. If the job has a total time
# (--comment) that this allocation will not use up (remainingTimeSec > 0, see parse_job),
# install `trap "FUNC SIG" SIG` for each SIG (bash runs it when the signal arrives, e.g.
# the USR1 of `#SBATCH --signal=B:USR1@300`, which also interrupts `wait`). Else say so:
# the job then ends at its time limit, as any job.
requeue_job() {
	local func=${1:-} sig
	shift || true
	if [ -z "$func" ] || [ $# -eq 0 ]; then
		cr__err "usage: requeue_job FUNCTION SIGNAL..."
		return 1
	fi
	parse_job
	if [ -z "$cr_total" ]; then
		cr__say "no total time in --comment: job ${SLURM_JOB_ID:-?} will not be requeued"
		return 0
	fi
	if [ -z "$remainingTimeSec" ] || [ "$remainingTimeSec" -le 0 ]; then
		cr__say "no more job requeues: the total time $(cr_secs_to_time "$cr_total") fits" \
			"in this allocation"
		return 0
	fi
	for sig in "$@"; do
		# shellcheck disable=SC2064 # expand now: the trap runs "FUNC SIG"
		trap "$func $sig" "$sig"
	done
	cr__say "job ${SLURM_JOB_ID:-?} (restart $(restart_count)): on $* run $func, then" \
		"requeue; total time left $(cr_secs_to_time "$cr_total")"
}

# func_trap SIG: what requeue_job traps the signal with. Ignores SIGTERM from here on (the
# requeue makes Slurm signal every process of the job, this shell too, and the bookkeeping
# below must still run), runs $ckpt_command, then - if any of the total time is left after
# what this allocation used - `scontrol requeue` the job and set its Comment to the time
# left and its TimeLimit to min(time left, max_timelimit). A failed checkpoint is reported
# and the job is requeued anyway: it restarts from its previous checkpoint.
func_trap() {
	local sig=${1:-signal} left next
	trap '' TERM
	cr__say "job ${SLURM_JOB_ID:-?} got $sig on $(hostname 2>/dev/null) at $(date '+%F %T')" \
		"(restart $(restart_count))"
	if [ -n "${ckpt_command:-}" ]; then
		$ckpt_command || cr__err "'$ckpt_command' failed; the next allocation restarts" \
			"from the previous checkpoint"
	fi
	parse_job
	if [ -z "$cr_total" ]; then
		cr__say "no total time in --comment: no requeue"
		return 0
	fi
	left=$((cr_total - cr_used))
	if [ "$left" -le 0 ]; then
		cr__say "the total time is used up ($(cr_secs_to_time "$cr_used") run): no requeue"
		return 0
	fi
	next=$left
	if [ -n "$cr_max" ] && [ "$cr_max" -lt "$next" ]; then next=$cr_max; fi
	if ! scontrol requeue "$SLURM_JOB_ID"; then
		cr__err "scontrol requeue $SLURM_JOB_ID failed"
		return 1
	fi
	# After the requeue: lowering TimeLimit below the time already used would end a
	# running job at once.
	scontrol update JobId="$SLURM_JOB_ID" TimeLimit="$(cr_secs_to_time "$next")" \
		Comment="$(cr_secs_to_time "$left")" ||
		cr__err "cannot update TimeLimit/Comment of job $SLURM_JOB_ID"
	cr__say "requeued job $SLURM_JOB_ID after $(cr_secs_to_time "$cr_used"):" \
		"$(cr_secs_to_time "$left") left, next time limit $(cr_secs_to_time "$next")"
}
