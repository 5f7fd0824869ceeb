#!/bin/bash
# minislurm.sh - a throw-away Slurm cluster on this host: munged, slurmctld and N slurmd that
# play the nodes n1..nN, every file (config, keys, state, spool, logs, pid files) under one
# directory, every port chosen free. For tests and demos of the Slurm workflow; root is
# assumed (SlurmUser=root), no systemd, no cgroups, nothing written outside DIR.
#
# As a command:
#   minislurm.sh start DIR [NODES]   start the cluster (NODES >= 1, default 2); prints the
#                                    `export` lines of DIR/env.sh and returns once every node
#                                    is idle (exit 1 with the daemons' logs on failure)
#   minislurm.sh stop DIR            cancel every job, end every process of the cluster
#   minislurm.sh env DIR             print DIR/env.sh
#   minislurm.sh reap DIR...         stop the clusters among DIR... whose owner is gone
# As a library (source it): ms_start DIR [NODES] / ms_stop DIR / ms_reap DIR... do the same;
# ms_start also exports the environment (SLURM_CONF, MINISLURM_DIR) into the calling shell.
#
# Owner: ms_start records in DIR/owner the shell that started the cluster (pid and start
# time; the shell that ran `minislurm.sh start`, or that called ms_start). A test that is killed with SIGKILL cannot stop its cluster; `reap` (run by the next
# test) stops every cluster whose owner no longer runs.
#
# What the cluster is: SlurmctldHost and both nodes on 127.0.0.1 (NodeHostname is this host,
# so `slurmd -N nK` finds its node); partition `debug` (default, all nodes, no time limit);
# JobRequeue=1; proctrack/linuxproc, task/none; KillWait=2; MinJobAge=600 so finished jobs
# stay visible to `scontrol show job`; AuthInfo cred_expire=10, so a requeued job waits 10 s
# (not 120 s) before it may start again - `scontrol update JobId=X StartTime=now` skips even
# that; jobcomp/filetxt writes DIR/log/jobcomp.txt (one line per finished allocation).
#
# How it ends exactly what it started: every daemon runs with MINISLURM_DIR=DIR in its
# environment and so does every job submitted from a shell that sourced DIR/env.sh (sbatch
# exports the environment), down to processes that left the job's process tree (a daemonised
# coordinator). `stop` signals the pids whose /proc/PID/environ holds that exact entry,
# TERM first and KILL after 3 s, and nothing else.
set -u

ms__log() { echo "minislurm: $*" >&2; }

# A TCP port that nothing listens on and that this cluster has not taken yet, below the
# kernel's ephemeral range (32768-60999 here; net.ipv4.ip_local_port_range), from which the
# coordinators of `-p 0` and every outgoing connection take theirs in the time between the
# pick and slurmctld/slurmd binding it.
ms__free_port() {
	local p used lo
	lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
	[ "${lo:-0}" -gt 12000 ] 2>/dev/null || lo=32768
	used=$(ss -Htan 2>/dev/null | awk '{print $4}' | sed 's/.*://' | sort -u)
	for _ in $(seq 200); do
		p=$((10000 + RANDOM % (lo - 10000)))
		if ! grep -qx "$p" <<<"$used" && ! grep -qw "$p" <<<"${MS__TAKEN:-}"; then
			MS__TAKEN="${MS__TAKEN:-} $p"
			echo "$p"
			return 0
		fi
	done
	return 1
}

# Pids of the processes that carry MINISLURM_DIR=$1 in their environment (not this shell).
ms__pids() {
	local want="MINISLURM_DIR=$1" f pid
	for f in /proc/[0-9]*/environ; do
		pid=${f#/proc/}
		pid=${pid%/environ}
		[ "$pid" = "$$" ] || [ "$pid" = "${BASHPID:-$$}" ] && continue
		if { tr '\0' '\n' <"$f"; } 2>/dev/null | grep -qxF "$want"; then echo "$pid"; fi
	done
}

ms__write_conf() {
	local dir=$1 nodes=$2 host ctld_port i
	host=$(hostname)
	ctld_port=$(ms__free_port) || return 1
	{
		echo "# written by minislurm.sh; everything lives under $dir"
		echo "ClusterName=ms$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
		echo "SlurmctldHost=$host(127.0.0.1)"
		echo "SlurmctldPort=$ctld_port"
		echo "SlurmUser=root"
		echo "SlurmdUser=root"
		echo "AuthType=auth/munge"
		echo "CredType=cred/munge"
		echo "AuthInfo=socket=$dir/munge/munge.socket,cred_expire=10"
		echo "StateSaveLocation=$dir/ctld"
		echo "SlurmdSpoolDir=$dir/spool/%n"
		echo "SlurmctldPidFile=$dir/run/slurmctld.pid"
		echo "SlurmdPidFile=$dir/run/slurmd-%n.pid"
		echo "SlurmctldLogFile=$dir/log/slurmctld.log"
		echo "SlurmdLogFile=$dir/log/slurmd-%n.log"
		echo "SlurmctldDebug=info"
		echo "SlurmdDebug=info"
		echo "ProctrackType=proctrack/linuxproc"
		echo "TaskPlugin=task/none"
		echo "SelectType=select/cons_tres"
		echo "SelectTypeParameters=CR_CPU"
		echo "SchedulerType=sched/builtin"
		echo "JobRequeue=1"
		echo "KillWait=2"
		echo "MinJobAge=600"
		echo "ReturnToService=2"
		echo "MpiDefault=none"
		echo "SwitchType=switch/none"
		echo "JobCompType=jobcomp/filetxt"
		echo "JobCompLoc=$dir/log/jobcomp.txt"
		echo "AccountingStorageType=accounting_storage/none"
		echo "JobAcctGatherType=jobacct_gather/none"
		echo "InactiveLimit=0"
		echo "SlurmctldTimeout=30"
		echo "SlurmdTimeout=60"
		echo "MessageTimeout=10"
		echo "PlugStackConfig=$dir/plugstack.conf"
		for i in $(seq "$nodes"); do
			echo "NodeName=n$i NodeHostname=$host NodeAddr=127.0.0.1" \
			     "Port=$(ms__free_port) CPUs=2 RealMemory=1000 State=UNKNOWN"
		done
		echo "PartitionName=debug Nodes=n[1-$nodes] Default=YES MaxTime=INFINITE State=UP"
	} >"$dir/slurm.conf"
	: >"$dir/plugstack.conf"
}

ms__fail() {
	local dir=$1 f
	shift
	ms__log "$*"
	for f in "$dir"/log/*.log; do
		[ -s "$f" ] || continue
		echo "----- $f (last 20 lines)" >&2
		tail -n 20 "$f" >&2
	done
	return 1
}

# ms__proc_start PID: the start time of PID (field 22 of /proc/PID/stat), empty if none.
ms__proc_start() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	st=${st##*) }
	set -- $st
	echo "${20:-}"
}

# ms_start DIR [NODES]: see the header.
ms_start() {
	local dir=${1:?ms_start DIR [NODES]} nodes=${2:-2} i state
	for prog in munged slurmctld slurmd sinfo scontrol ss; do
		command -v "$prog" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
		command -v "$prog" >/dev/null 2>&1 || { ms__log "$prog not found"; return 1; }
	done
	mkdir -p "$dir" && dir=$(cd "$dir" && pwd) || return 1
	mkdir -p "$dir"/{munge,ctld,spool,run,log} || return 1
	chmod 0700 "$dir/munge" "$dir/ctld"
	ms__write_conf "$dir" "$nodes" || { ms__log "no free port"; return 1; }
	cat >"$dir/env.sh" <<EOF
export SLURM_CONF='$dir/slurm.conf'
export MINISLURM_DIR='$dir'
EOF
	export SLURM_CONF="$dir/slurm.conf" MINISLURM_DIR="$dir"
	local owner=${MS_OWNER:-$$}
	echo "$owner $(ms__proc_start "$owner")" >"$dir/owner"

	# munge: own key, own socket.
	head -c 1024 /dev/urandom >"$dir/munge/munge.key" && chmod 0400 "$dir/munge/munge.key"
	munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
		--pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" \
		--seed-file="$dir/munge/munged.seed" ||
		{ ms__fail "$dir" "munged did not start"; return 1; }

	slurmctld -i >>"$dir/log/slurmctld.out" 2>&1 ||
		{ ms__fail "$dir" "slurmctld did not start"; return 1; }
	for i in $(seq 100); do
		scontrol ping 2>/dev/null | grep -q 'is UP' && break
		sleep 0.1
	done
	scontrol ping 2>/dev/null | grep -q 'is UP' ||
		{ ms__fail "$dir" "slurmctld does not answer"; return 1; }
	for i in $(seq "$nodes"); do
		mkdir -p "$dir/spool/n$i"
		slurmd -N "n$i" >>"$dir/log/slurmd-n$i.out" 2>&1 ||
			{ ms__fail "$dir" "slurmd n$i did not start"; return 1; }
	done
	for i in $(seq 150); do
		state=$(sinfo -h -N -o '%T' 2>/dev/null | sort -u | tr '\n' ' ')
		[ "$state" = "idle " ] && break
		sleep 0.2
	done
	[ "$state" = "idle " ] || { ms__fail "$dir" "nodes not idle: $state"; return 1; }
	cat "$dir/env.sh"
}

# ms_stop DIR: see the header. Always returns 0.
ms_stop() {
	local dir=${1:?ms_stop DIR} pids i
	[ -d "$dir" ] || return 0
	dir=$(cd "$dir" && pwd)
	if [ -f "$dir/slurm.conf" ]; then
		SLURM_CONF="$dir/slurm.conf" timeout 5 scancel --full --quiet \
			$(SLURM_CONF="$dir/slurm.conf" timeout 5 squeue -h -o %A 2>/dev/null) \
			>/dev/null 2>&1
	fi
	pids=$(ms__pids "$dir")
	[ -n "$pids" ] && kill -TERM $pids 2>/dev/null
	for i in $(seq 30); do
		pids=$(ms__pids "$dir")
		[ -z "$pids" ] && return 0
		sleep 0.1
	done
	kill -KILL $pids 2>/dev/null
	sleep 0.2
	return 0
}

# ms_reap DIR...: ms_stop each DIR (a cluster directory) whose owner no longer runs.
ms_reap() {
	local dir pid start
	for dir in "$@"; do
		[ -f "$dir/owner" ] || continue
		read -r pid start <"$dir/owner" || continue
		[ -n "$pid" ] && [ "$(ms__proc_start "$pid")" = "$start" ] && continue
		ms__log "stopping the cluster of a finished owner: $dir"
		ms_stop "$dir"
		rm -f "$dir/owner"
	done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	case "${1:-}" in
	start) shift; MS_OWNER=$PPID ms_start "$@" ;;
	stop) shift; ms_stop "$@" ;;
	env) cat "${2:?minislurm.sh env DIR}/env.sh" ;;
	reap) shift; ms_reap "$@" ;;
	*) echo "usage: minislurm.sh start DIR [NODES] | stop DIR | env DIR | reap DIR..." >&2
	   exit 2 ;;
	esac
fi
