# slurm_lib.sh - helpers of the Slurm tests (sourced by slurm_test.sh): a private cluster per
# test (scripts/slurm/minislurm.sh), a run directory, polling with deadlines, job fields.
#
# Every wait has a deadline and fails the test with what it saw; every test ends its cluster
# (the EXIT trap of st_setup) whether it passed, failed or was killed by CTest's timeout
# (SIGTERM, which the trap turns into an exit).

ST_T0=$(date +%s.%N)

st_log() {
	printf 'slurm_test [%6.1fs]: %s\n' "$(awk "BEGIN{print $(date +%s.%N) - $ST_T0}")" "$*" >&2
}
st_fail() {
	st_log "FAIL: $*"
	st_dump
	exit 1
}
st_skip() {
	st_log "SKIP: $*"
	exit 77
}

# What a person would look at first when a test fails: the jobs, the run dir, the outputs.
st_dump() {
	[ -n "${ST_DUMPED:-}" ] && return
	ST_DUMPED=1
	[ -n "${SLURM_CONF:-}" ] || return
	{
		echo "----- squeue / jobs"
		squeue -a 2>&1
		scontrol show job 2>&1 | grep -E 'JobId=|JobState=|Restarts=|TimeLimit=|Comment=|NodeList=' | grep -v ReqNodeList
		echo "----- run dir $ST_RUN"
		ls -la "$ST_RUN" 2>&1
		for f in "$ST_RUN"/*-*.out "$ST_RUN"/*-*.err; do
			[ -f "$f" ] || continue
			echo "----- $f (last 40 lines)"
			tail -n 40 "$f"
		done
		echo "----- jobcomp"
		cat "$MINISLURM_DIR/log/jobcomp.txt" 2>&1
		echo "----- slurmctld.log (last 15 lines)"
		tail -n 15 "$MINISLURM_DIR/log/slurmctld.log" 2>&1
	} >&2
}

st_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[ -n "${ST_WATCHDOG:-}" ] && kill "$ST_WATCHDOG" 2>/dev/null
	[ $rc -ne 0 ] && [ $rc -ne 77 ] && st_dump
	[ -n "${ST_TMP:-}" ] && ms_stop "$ST_TMP/cluster"
	if [ -n "${ST_TMP:-}" ] && [ "${SLURM_TEST_KEEP:-0}" = 1 ]; then
		st_log "kept $ST_TMP"
	elif [ -n "${ST_TMP:-}" ]; then
		rm -rf "$ST_TMP"
	fi
	exit $rc
}

# st_setup BIN SRC: check what the tests need, make the temp dir, start the cluster, put the
# splitckpt commands on PATH (BIN: an install prefix with bin/, or a build tree) and make
# the run dir ST_RUN (cwd from then on).
st_setup() {
	local bin=$1 src=$2
	ST_SRC=$src
	[ "$(id -u)" = 0 ] || st_skip "the test cluster runs its daemons as root"
	for p in munged slurmctld slurmd sbatch scontrol squeue ss; do
		command -v "$p" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
		command -v "$p" >/dev/null 2>&1 || st_skip "$p is not installed"
	done
	if [ -x "$bin/bin/dmtcp_launch" ]; then
		PATH=$bin/bin:$PATH
	elif [ -x "$bin/launcher/dmtcp_launch" ]; then
		PATH=$bin/launcher:$bin/coordinator:$src/scripts:$PATH
	else
		st_fail "no dmtcp_launch under $bin"
	fi
	export PATH
	# shellcheck source=../../scripts/slurm/minislurm.sh
	source "$src/scripts/slurm/minislurm.sh"
	st_reap
	ST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/slurm_test.XXXXXX") || st_fail "mktemp"
	trap st_cleanup EXIT
	trap 'st_log "SIGTERM"; exit 143' TERM
	trap 'exit 130' INT
	# Our own deadline, before CTest's (which kills with no chance to stop the cluster).
	(
		trap 'kill $s 2>/dev/null; exit 0' TERM
		sleep "${SLURM_TEST_DEADLINE:-100}" &
		s=$!
		wait $s && kill -TERM $$
	) >/dev/null 2>&1 </dev/null &
	ST_WATCHDOG=$!
	ms_start "$ST_TMP/cluster" "${ST_NODES:-2}" >/dev/null ||
		st_fail "the test cluster did not start"
	st_log "cluster up in $ST_TMP/cluster (SLURM_CONF=$SLURM_CONF)"
	ST_RUN=$ST_TMP/run
	mkdir -p "$ST_RUN" && cd "$ST_RUN" || st_fail "no run dir"
	# Jobs inherit this environment (sbatch --export=ALL): the secret state dir too.
	export SPLITCKPT_STATE_DIR=$ST_TMP/state
	unset SPLITCKPT_SECRET DMTCP_COORD_HOST DMTCP_COORD_PORT DMTCP_CHECKPOINT_INTERVAL
}

# st_reap: stop the clusters of earlier tests that were killed before they could (SIGKILL),
# and remove their temp dirs.
st_reap() {
	local d
	for d in "${TMPDIR:-/tmp}"/slurm_test.*/cluster; do
		[ -f "$d/owner" ] || continue
		ms_reap "$d"
		[ -f "$d/owner" ] || rm -rf "${d%/cluster}"
	done
}

# st_until SECS DESCRIPTION CMD...: poll CMD every 0.2 s until it succeeds; fail after SECS.
st_until() {
	local secs=$1 what=$2 end
	shift 2
	end=$(($(date +%s) + secs))
	while ! "$@"; do
		[ "$(date +%s)" -ge $end ] && st_fail "waited $secs s for: $what"
		sleep 0.2
	done
}

# st_field JOB NAME: one field of `scontrol show job` (JobState, Restarts, ExitCode, ...).
st_field() {
	scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}
st_state_is() { [ "$(st_field "$1" JobState)" = "$2" ]; }
st_state_in() {
	local s
	s=$(st_field "$1" JobState)
	[[ " ${*:2} " == *" $s "* ]]
}

# st_submit ARGS...: sbatch --parsable; prints the job id.
st_submit() {
	local id
	id=$(sbatch --parsable "$@") || st_fail "sbatch $* failed"
	echo "${id%%;*}"
}

# st_kick JOB: a requeued job waits cred_expire seconds (BeginTime) before it may start again;
# let it start now. Not at once: slurmd refuses a launch whose credential is from the second
# in which it revoked the job's old one ("Job credential revoked": the job then FAILS).
st_kick() {
	st_until 30 "job $1 requeued (PENDING)" st_state_in "$1" PENDING RUNNING
	sleep 2
	st_state_is "$1" PENDING && scontrol update JobId="$1" StartTime=now >/dev/null 2>&1
	return 0
}

# st_count FILE REGEX: number of lines of FILE matching REGEX (0 if no file).
st_count() {
	local n
	n=$(grep -cE "$2" "$1" 2>/dev/null)
	echo "${n:-0}"
}
st_count_ge() { [ "$(st_count "$1" "$2")" -ge "$3" ]; }

# st_last_step FILE: the highest "step K/N" the application printed in FILE (0 if none).
st_last_step() {
	local n
	n=$(sed -n 's/^step \([0-9]*\)\/.*/\1/p' "$1" 2>/dev/null | sort -n | tail -n 1)
	echo "${n:-0}"
}
st_steps_ge() { [ "$(st_last_step "$1")" -ge "$2" ]; }

# st_coord_running WRAPPER: the job's coordinator has processes and they run.
st_coord_running() {
	local s
	s=$("$1" -s 2>/dev/null) || return 1
	[[ $s == *RUNNING=yes* ]] && [[ $s =~ NUM_PEERS=([1-9][0-9]*) ]]
}

# st_coord_gen WRAPPER: the last complete checkpoint generation (0 if none).
st_coord_gen() {
	local s
	s=$("$1" -s 2>/dev/null)
	if [[ $s =~ LAST_CKPT_GENERATION=([0-9]+) ]]; then echo "${BASH_REMATCH[1]}"; else echo 0; fi
}
st_gen_ge() { [ "$(st_coord_gen "$1")" -ge "$2" ]; }

# st_result FILE: the "result = X" line of the application.
st_result() { grep -E '^result = ' "$1" 2>/dev/null | tail -n 1; }

# st_reference STEPS SWEEPS: the answer of an uninterrupted native run (cached per test).
st_reference() {
	OMP_NUM_THREADS=2 OMP_APP_EXIT=0 OMP_APP_PAUSE_MS=0 "$ST_APP" "$1" "$2" | grep -E '^result = '
}

# st_no_marked_procs NAME: no process named NAME of this cluster (its marker) is left.
st_no_marked_procs() {
	local pid
	for pid in $(ms__pids "$MINISLURM_DIR"); do
		[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] && return 1
	done
	return 0
}
