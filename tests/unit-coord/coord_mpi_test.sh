#!/bin/bash
# coord_mpi_test.sh - CTest driver for the coordinator's MPI rounds, MANIFEST and MPI restart
# script (coordinator/coord_mpi.c, coord_script.c; docs/mpi-ckpt.md section 3) with a real
# dmtcp_coordinator, a real dmtcp_command and fake_mpi (N simulated ranks over real TCP).
#
#   coord_mpi_test.sh CASE COORDINATOR COMMAND FAKE_MPI
#
# Own temp dir, state dir and port; every process it started is killed on exit, pass or fail.
set -u
CASE=$1 COORD=$2 CMD=$3 FM=$4
T=$(mktemp -d "${TMPDIR:-/tmp}/unit-coord-mpi-$CASE.XXXXXX")
export SPLITCKPT_STATE_DIR=$T/state
unset SPLITCKPT_SECRET DMTCP_COORD_HOST DMTCP_COORD_PORT DMTCP_CHECKPOINT_DIR \
	DMTCP_CHECKPOINT_INTERVAL DMTCP_TMPDIR SLURM_JOB_ID DMTCP_MPIEXEC_ARGS DMTCP_SRUN_ARGS
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
# shellcheck source=coord_lib.sh
source "$(dirname "$0")/coord_lib.sh"

mkdir -p "$T/img"
"$COORD" -p 0 --port-file "$T/port" --ckptdir "$T/img" </dev/null >"$T/coord.out" 2>&1 &
PIDS+=($!)
wait_for 10 test -s "$T/port" || fail "the coordinator wrote no port file"
PORT=$(cat "$T/port")

# fake N CASE [CKPTS [REGISTERED]]: the simulated ranks; REGISTERED (default N) of them are
# registered before it returns.
fake() {
	"$FM" --port "$PORT" --dir "$T/img" --ranks "$1" --case "$2" --ckpts "${3:-1}" \
		--ready "$T/ready" >"$T/fake.out" 2>&1 &
	FPID=$!
	PIDS+=("$FPID")
	wait_for 20 test -e "$T/ready" || fail "fake_mpi did not connect"
	wait_for 10 sh -c "'$CMD' -p $PORT -l | grep -c 'rank [0-9]*/$1' | grep -qx ${4:-$1}" ||
		fail "not ${4:-$1} of $1 ranks registered: $("$CMD" -p "$PORT" -l)"
}
bc() { timeout 30 "$CMD" -p "$PORT" -bc >"$T/bc.out" 2>&1; }
fake_done() { wait_for 20 sh -c "! kill -0 $FPID" || fail "fake_mpi did not finish"; wait "$FPID" || fail "fake_mpi failed"; }

case $CASE in
balanced)
	fake 4 balanced
	"$CMD" -p "$PORT" -s | grep -q 'MPI=yes ranks=4 launcher=mpiexec' || fail "-s: $("$CMD" -p "$PORT" -s)"
	bc || fail "-bc failed: $(cat "$T/bc.out")"
	fake_done
	has "$T/fake.out" 'rank 0 targets round 1 final 1 1:5 77:2' || fail "no final targets 1:5 77:2 in round 1"
	has "$T/fake.out" 'rank 0 final after 1 rounds' || fail "final not after one round"
	has "$T/fake.out" 'resume committed=1' || fail "no committed RESUME"
	;;
behind)
	fake 4 behind 2
	bc || fail "-bc 1 failed: $(cat "$T/bc.out")"
	bc || fail "-bc 2 failed: $(cat "$T/bc.out")"
	fake_done
	has "$T/fake.out" 'rank 0 targets round 1 final 0 1:6' || fail "round 1 is not targets 1:6, not final"
	has "$T/fake.out" 'rank 0 targets round 2 final 1 1:6' || fail "round 2 is not final 1:6"
	[ "$(grep -c 'final after 2 rounds' "$T/fake.out")" = 2 ] || fail "not 2 checkpoints of 2 rounds"
	;;
stall)
	fake 3 stall
	bc || fail "-bc failed: $(cat "$T/bc.out")"
	fake_done
	has "$T/fake.out" 'rank 0 targets round 1 final 0 1:5 9:4' || fail "round 1 should keep 1:5 9:4"
	has "$T/fake.out" 'rank 0 targets round 2 final 0 1:6 9:4' || fail "round 2 should raise comm 1 to 6"
	has "$T/fake.out" 'rank 0 targets round 3 final 1 1:6 9:4' || fail "round 3 should be final"
	;;
update)
	# updates replace a rank's report of the round; settled with nothing to raise: no round
	fake 4 update
	bc || fail "-bc failed: $(cat "$T/bc.out")"
	fake_done
	has "$T/fake.out" 'rank 0 targets round 1 final 0 1:6' || fail "round 1 is not targets 1:6"
	has "$T/fake.out" 'rank 0 targets round 2 final 1 1:6' || fail "round 2 is not final 1:6"
	grep -q 'targets round 3' "$T/fake.out" && fail "a round started with nothing to raise"
	grep -q 'ignoring an MPI report' "$T/coord.out" && fail "the coordinator ignored an update"
	;;
finmix)
	# rank 3 finalized, 0-2 did not: refused during the rounds, before any image, naming them
	fake 4 finmix
	bc && fail "-bc succeeded although rank 3 had finalized and ranks 0-2 had not"
	has "$T/bc.out" 'MPI rank 3 had called MPI_Finalize and ranks 0, 1, 2 had not' ||
		fail "-bc does not name the ranks: $(cat "$T/bc.out")"
	fake_done
	[ "$(grep -c 'resume committed=0' "$T/fake.out")" = 4 ] || fail "not 4 RESUME committed=0"
	ls "$T"/img/gen-*/*.dmtcp >/dev/null 2>&1 && fail "images were written"
	;;
error)
	fake 4 error
	bc && fail "-bc succeeded although a rank reported an MPI error"
	has "$T/bc.out" 'MPI rank 3 on fakehost cannot be checkpointed: fake rank cannot drain (test)' ||
		fail "-bc does not name the rank and its reason: $(cat "$T/bc.out")"
	fake_done
	[ "$(grep -c 'resume committed=0 (during the rounds)' "$T/fake.out")" = 4 ] ||
		fail "not every rank got RESUME committed=0 during its rounds"
	bc 2>/dev/null; [ -e "$T/img/gen-000002" ] && fail "a checkpoint ran with no process"
	;;
late)
	# rank 3 registers only when SUSPEND comes: it joins round 0 (no stale reports, no
	# rounds without end)
	fake 4 late 2 3
	bc || fail "-bc 1 failed: $(cat "$T/bc.out")"
	bc || fail "-bc 2 failed: $(cat "$T/bc.out")"
	fake_done
	[ "$(grep -c 'rank 0 final after 1 rounds' "$T/fake.out")" = 2 ] ||
		fail "not final after one round in both checkpoints"
	grep -q 'ignoring an MPI report' "$T/coord.out" && fail "the coordinator ignored a report"
	[ "$(grep -c '^rank [0-9] host' "$T/img/gen-000001/MANIFEST")" = 4 ] ||
		fail "MANIFEST of generation 1 does not hold 4 ranks: $(cat "$T/img/gen-000001/MANIFEST")"
	;;
dup)
	# a fifth connection says it is rank 0 as well (a forked child of rank 0): it stays a
	# plain process; ranks, -l and MANIFEST stay right
	fake 4 dup
	[ "$("$CMD" -p "$PORT" -l | grep -c 'rank 0/4')" = 1 ] || fail "-l: $("$CMD" -p "$PORT" -l)"
	has "$T/coord.out" 'which worker 100000 (fake_mpi on fakehost) already is' ||
		fail "the second rank 0 was not reported"
	bc || fail "-bc failed: $(cat "$T/bc.out")"
	fake_done
	m=$T/img/gen-000001/MANIFEST
	has "$m" 'processes 5' || fail "MANIFEST: $(cat "$m")"
	[ "$(grep -c '^rank 0 ' "$m")" = 1 ] || fail "MANIFEST holds rank 0 twice: $(cat "$m")"
	has "$m" '^proc host fakehost image ckpt_fake_mpi_4.dmtcp$' ||
		fail "MANIFEST lacks the plain process: $(cat "$m")"
	;;
missing)
	# rank 3 ended before the checkpoint: an MPI generation without it is not restartable,
	# so it is not committed and -bc says which rank is missing
	fake 4 missing 1 3
	bc && fail "-bc succeeded without rank 3"
	has "$T/bc.out" 'holds the images of 3 of the 4 MPI ranks (missing: rank 3)' ||
		fail "-bc does not name the missing rank: $(cat "$T/bc.out")"
	fake_done
	[ "$(grep -c 'resume committed=0' "$T/fake.out")" = 3 ] || fail "not 3 RESUME committed=0"
	[ -e "$T/img/gen-000001/MANIFEST" ] && fail "a MANIFEST was written for the failed generation"
	[ -e "$T/img/dmtcp_restart_script.sh" ] && fail "a restart script names the failed generation"
	;;
manifest)
	fake 4 balanced
	bc || fail "-bc failed: $(cat "$T/bc.out")"
	fake_done
	m=$T/img/gen-000001/MANIFEST
	[ -f "$m" ] || fail "no $m"
	exp=$(printf '%s\n' 'splitckpt-manifest 1' 'generation 1' 'processes 4' 'mpi_size 4' \
		'launcher mpiexec' 'rank 0 host fakehost image ckpt_fake_mpi_0.dmtcp' \
		'rank 1 host fakehost image ckpt_fake_mpi_1.dmtcp' \
		'rank 2 host fakehost image ckpt_fake_mpi_2.dmtcp' \
		'rank 3 host fakehost image ckpt_fake_mpi_3.dmtcp')
	[ "$(cat "$m")" = "$exp" ] || fail "MANIFEST differs: $(cat "$m")"
	;;
script_mpiexec | script_srun)
	fake 4 balanced
	bc || fail "-bc failed: $(cat "$T/bc.out")"
	fake_done
	s=$T/img/dmtcp_restart_script.sh
	[ -x "$s" ] || fail "no restart script"
	bash -n "$s" || fail "the restart script is not valid bash"
	# Recording stubs: the script itself is what is tested here.
	mkdir -p "$T/bin"
	for p in mpiexec srun dmtcp_restart; do
		printf '#!/bin/bash\necho "%s $*" >>"%s/calls"\n' "$p" "$T" >"$T/bin/$p"
		chmod +x "$T/bin/$p"
	done
	if [ "$CASE" = script_srun ]; then
		(cd "$T" && PATH=$T/bin:$PATH SLURM_JOB_ID=77 DMTCP_SRUN_ARGS="-w n3,n4" \
			DMTCP_COORD_HOST=c1 DMTCP_COORD_PORT=999 "$s") || fail "the script failed"
		exp="srun --mpi=pmi2 -n 4 -w n3,n4 $T/bin/dmtcp_restart --coord-host c1 --coord-port 999 --interval 0 --restartdir $T/img/gen-000001"
	else
		(cd "$T" && PATH=$T/bin:$PATH DMTCP_MPIEXEC_ARGS="-hosts C,D" "$s" -p 4242 \
			--restartdir "$T/img") || fail "the script failed"
		exp="mpiexec -n 4 -hosts C,D $T/bin/dmtcp_restart --coord-host $(hostname) --coord-port 4242 --interval 0 --restartdir $T/img/gen-000001"
	fi
	[ "$(cat "$T/calls")" = "$exp" ] || fail "the script ran '$(cat "$T/calls")', expected '$exp'"
	mv "$T/img/gen-000001/MANIFEST" "$T/img/gen-000001/M"
	(cd "$T" && PATH=$T/bin:$PATH "$s" >"$T/nomanifest.out" 2>&1) &&
		fail "the script ran without a MANIFEST"
	has "$T/nomanifest.out" 'MANIFEST is missing' || fail "no message about the MANIFEST"
	;;
*) fail "no case $CASE" ;;
esac
echo PASS
