#!/bin/bash
# netns-hosts.sh - throw-away "hosts" for multi-host MPI runs on one machine: N network
# namespaces, each with one veth into a bridge in the calling (root) namespace, all on
# loopback-range addresses (DESIGN section 3), plus a launcher script for Hydra.
#
#   netns-hosts.sh up DIR [N]   make a set of N hosts (default 4); DIR (created if missing)
#                               receives the description below; prints `export` lines
#   netns-hosts.sh down DIR     remove the set DIR describes: end the processes still running
#                               in its namespaces, delete the namespaces, veths and bridge;
#                               idempotent, also after a half-done `up`
#   netns-hosts.sh reap         remove every set whose owner (the shell that ran `up`) is gone
#   netns-hosts.sh check DIR    exit 0 iff nothing of the set DIR described is left
#
# A set has an index X (1..250, the first free one): bridge `sckbrX` with address
# 127.100.X.254 in the root namespace, namespaces `sckX-h1`..`sckX-hN` with 127.100.X.K on
# their `eth0` (veth peer `sckX-vK` in the bridge). 127/8 is local on every namespace's `lo`,
# so each side gets a more specific unicast route for 127.100.X.0/24 in its `local` table
# (the 127/8 route narrowed for that /24 only; the root namespace's 127.0.0.1 is untouched)
# and `route_localnet=1` on its interface, so these addresses may leave the host and ARP
# answers them. Nothing leaves the machine: only our own namespaces are on the bridge.
#
# DIR/hosts    one line per host: `ADDRESS NAMESPACE`
# DIR/launcher Hydra's launcher (`mpiexec -launcher ssh -launcher-exec DIR/launcher`): called
#              like ssh (`launcher [-x] HOST command...`), it runs the command with `sh -c`
#              in HOST's namespace, with the caller's environment and working directory.
#              The hosts share one kernel, so UCX (which tells machines apart by
#              /proc/sys/kernel/random/boot_id) takes them for one machine and connects
#              ranks of different hosts through shared memory when UCX_TLS has sm. With
#              NH_SEPARATE_SYSTEMS=1 in its environment the launcher bind-mounts a boot_id
#              of the host's own (DIR/boot_id.ADDRESS) in the mount namespace of
#              `ip netns exec`: UCX then sees separate machines and uses tcp between them
# DIR/env.sh   NH_ROOT (the root namespace's address, where a coordinator listens for the
#              hosts), NH_HOSTS (addresses, comma-separated), NH_MPIEXEC_ARGS (the Hydra
#              options: launcher, launcher-exec and `-localhost NH_ROOT`, which the
#              proxies connect back to), NH_INDEX, NH_DIR
#
# Owner: `up` writes "netns-hosts owner=PID:STARTTIME" (the calling shell) as the bridge's
# alias (NH_OWNER overrides the pid), so `reap` knows which sets belong to a test that was killed without cleaning up.
# Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN for `ip netns`).
set -u

NH_OWNER=${NH_OWNER:-} # default: sourced, this shell; as a command, its caller (below)
nh_log() { echo "netns-hosts: $*" >&2; }

# starttime of a pid (field 22 of /proc/PID/stat), empty when it is gone
nh_starttime() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	s=${s##*) }
	set -- $s
	echo "${20}"
}

# nh_remove_index X: end what runs in sckX-h*, delete them and the bridge. Quiet when absent.
nh_remove_index() {
	local x=$1 ns pids i
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^sck$x-h[0-9]+\$"); do
		for i in 1 2 3 4 5 6 7 8 9 10; do
			pids=$(ip netns pids "$ns" 2>/dev/null)
			[ -n "$pids" ] || break
			kill -9 $pids 2>/dev/null
			sleep 0.1
		done
		[ -z "$(ip netns pids "$ns" 2>/dev/null)" ] || nh_log "processes left in $ns: $pids"
		ip netns del "$ns" || nh_log "cannot delete namespace $ns"
	done
	# a veth whose namespace is gone is gone too; one left by a half-done `up` is not
	for i in $(ip -o link show 2>/dev/null | sed -n "s/^[0-9]*: \(sck$x-v[0-9]*\)@.*/\1/p"); do
		ip link del "$i" 2>/dev/null
	done
	if ip link show "sckbr$x" >/dev/null 2>&1; then
		ip link del "sckbr$x" || nh_log "cannot delete bridge sckbr$x"
	fi
	return 0
}

nh_index_of() { sed -n 's/^NH_INDEX=//p' "$1/env.sh" 2>/dev/null; }

# nh_lock / nh_unlock: one set is claimed (bridge made and owned) or reaped at a time; the
# lock is this script file's own (no lock file to leave behind)
NH_LOCKFD="" NH_SELF=$(readlink -f "${BASH_SOURCE[0]}")
nh_lock() {
	exec {NH_LOCKFD}<"$NH_SELF" || { nh_log "cannot open $NH_SELF to lock it"; return 1; }
	flock -w 60 "$NH_LOCKFD" || { nh_log "waited 60 s for the lock on $NH_SELF"; exec {NH_LOCKFD}<&-; NH_LOCKFD=""; return 1; }
}
nh_unlock() {
	[ -n "$NH_LOCKFD" ] && exec {NH_LOCKFD}<&-
	NH_LOCKFD=""
}

nh_up() {
	local dir=$1 n=${2:-4} x k ns addr root hosts=""
	[ "$n" -ge 1 ] && [ "$n" -le 200 ] 2>/dev/null || { nh_log "bad host count '$n'"; return 2; }
	[ "$(id -u)" = 0 ] || { nh_log "needs root"; return 1; }
	command -v ip >/dev/null || { nh_log "no 'ip' command (iproute2)"; return 1; }
	mkdir -p "$dir" && dir=$(cd "$dir" && pwd) || return 1
	[ ! -e "$dir/env.sh" ] || { nh_log "$dir already holds a set (netns-hosts.sh down $dir)"; return 1; }
	NH_OWNER=${NH_OWNER:-$$}
	# the first free index: creating the bridge is the atomic claim; it gets its owner under
	# the lock that `reap` takes too, which would otherwise see an ownerless bridge and remove
	# it (two netns tests at once under ctest -j2)
	nh_lock || return 1
	for x in $(seq 1 250); do
		ip link add "sckbr$x" type bridge 2>/dev/null && break
		x=""
	done
	[ -n "$x" ] || { nh_unlock; nh_log "no free set index (sckbr1..250 all exist?)"; return 1; }
	root=127.100.$x.254
	# written first, so that `down DIR` finds what a failing `up` leaves
	printf 'NH_INDEX=%s\nNH_DIR=%s\n' "$x" "$dir" >"$dir/env.sh"
	ip link set "sckbr$x" alias "netns-hosts owner=$NH_OWNER:$(nh_starttime "$NH_OWNER") dir=$dir"
	k=$?
	nh_unlock
	[ $k = 0 ] && ip link set "sckbr$x" up &&
		sysctl -qw "net.ipv4.conf.sckbr$x.route_localnet=1" &&
		ip addr add "$root/24" dev "sckbr$x" &&
		ip route add "127.100.$x.0/24" dev "sckbr$x" table local src "$root" ||
		{ nh_log "cannot set up bridge sckbr$x"; nh_remove_index "$x"; return 1; }
	: >"$dir/hosts"
	for k in $(seq 1 "$n"); do
		ns=sck$x-h$k addr=127.100.$x.$k
		ip netns add "$ns" &&
			ip link add "sck$x-v$k" type veth peer name eth0 netns "$ns" &&
			ip link set "sck$x-v$k" master "sckbr$x" up &&
			ip netns exec "$ns" sh -ec "
				ip link set lo up
				sysctl -qw net.ipv4.conf.eth0.route_localnet=1
				ip addr add $addr/24 dev eth0
				ip link set eth0 up
				ip route add 127.100.$x.0/24 dev eth0 table local src $addr" ||
			{ nh_log "cannot set up host $k ($ns, $addr)"; nh_remove_index "$x"; return 1; }
		echo "$addr $ns" >>"$dir/hosts"
		cat /proc/sys/kernel/random/uuid >"$dir/boot_id.$addr"
		hosts=${hosts:+$hosts,}$addr
	done
	cat >"$dir/launcher" <<EOF
#!/bin/bash
# Hydra launcher for the hosts of $dir (see scripts/netns-hosts.sh): called like ssh.
while [ \$# -gt 0 ] && [ "\${1:0:1}" = - ]; do shift; done
[ \$# -ge 2 ] || { echo "netns-hosts launcher: usage: launcher [-x] HOST command..." >&2; exit 255; }
ns=\$(awk -v h="\$1" '\$1 == h { print \$2 }' "$dir/hosts")
[ -n "\$ns" ] || { echo "netns-hosts launcher: unknown host \$1 (not in $dir/hosts)" >&2; exit 255; }
h=\$1
shift
if [ "\${NH_SEPARATE_SYSTEMS:-0}" = 1 ]; then
	exec ip netns exec "\$ns" /bin/sh -c 'mount --bind "\$0" /proc/sys/kernel/random/boot_id && exec /bin/sh -c "\$1"' "$dir/boot_id.\$h" "\$*"
fi
exec ip netns exec "\$ns" /bin/sh -c "\$*"
EOF
	chmod 755 "$dir/launcher"
	cat >>"$dir/env.sh" <<EOF
NH_ROOT=$root
NH_HOSTS=$hosts
NH_MPIEXEC_ARGS="-launcher ssh -launcher-exec $dir/launcher -localhost $root"
EOF
	sed 's/^/export /' "$dir/env.sh"
	# the veths need a moment before the first packet passes the bridge
	for k in $(seq 1 50); do
		[ "$(cat "/sys/class/net/sckbr$x/operstate" 2>/dev/null)" = up ] && break
		sleep 0.1
	done
	return 0
}

nh_down() {
	local dir=$1 x
	x=$(nh_index_of "$dir")
	[ -n "$x" ] || { nh_log "$dir describes no set (no NH_INDEX in $dir/env.sh)"; return 0; }
	nh_remove_index "$x"
	rm -f "$dir/env.sh" "$dir/hosts" "$dir/launcher" "$dir"/boot_id.*
	nh_check_index "$x"
}

# nh_check_index X: 0 iff no namespace, link or route of set X is left
nh_check_index() {
	local x=$1 left
	left=$( {
		ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^sck$x-h[0-9]+\$"
		ip -o link show 2>/dev/null | grep -oE "(sckbr$x|sck$x-v[0-9]+)[:@]"
		ip route show table local 2>/dev/null | grep -F "127.100.$x."
	})
	[ -z "$left" ] && return 0
	nh_log "left over of set $x:" $left
	return 1
}

nh_reap() {
	local l x owner pid st
	nh_lock || return 1
	ip -o link show type bridge 2>/dev/null | grep -oE 'sckbr[0-9]+' | sort -u | while read -r l; do
		x=${l#sckbr}
		owner=$(ip -d link show "$l" 2>/dev/null | sed -n 's/.*alias netns-hosts owner=\([0-9]*:[0-9]*\).*/\1/p')
		pid=${owner%%:*} st=${owner#*:}
		if [ -n "$owner" ] && [ "$(nh_starttime "$pid")" = "$st" ]; then continue; fi
		nh_log "reaping set $x (owner ${owner:-unknown} gone)"
		nh_remove_index "$x"
	done
	nh_unlock
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	NH_OWNER=${NH_OWNER:-$PPID}
	case "${1:-}" in
	up) [ $# -ge 2 ] || { nh_log "usage: netns-hosts.sh up DIR [N]"; exit 2; }; nh_up "$2" "${3:-4}" ;;
	down) [ $# -eq 2 ] || { nh_log "usage: netns-hosts.sh down DIR"; exit 2; }; nh_down "$2" ;;
	check)
		[ $# -eq 2 ] || { nh_log "usage: netns-hosts.sh check DIR"; exit 2; }
		x=$(nh_index_of "$2")
		[ -n "$x" ] || { nh_log "$2 describes no set"; exit 2; }
		nh_check_index "$x"
		;;
	reap) nh_reap ;;
	*) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
	esac
fi
