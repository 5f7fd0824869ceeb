#!/bin/bash
# check_symbols.sh - the upper half's libmpich.so.12 covers the real one.
#
#   check_symbols.sh coverage OUR_LIB DEF [REAL_LIBDIR]
#       every MPI_/PMPI_/MPIX_/PMPIX_ symbol (function or data) the real libmpich.so.12
#       exports, and every symbol Debian's libmpichfort/libmpichcxx take from it, is exported
#       by OUR_LIB; prints the coverage numbers (exported, generated, hand-written, refused,
#       missing from the real lower MPICH).
#   check_symbols.sh needed OUR_LIB
#       OUR_LIB needs libc.so.6 and nothing else (no MPICH, UCX, hwloc).
set -u
mode=$1 ours=$2
real_dir=${4:-/usr/lib/x86_64-linux-gnu}
real=$real_dir/libmpich.so.12
defined() { nm -D --defined-only "$1" | awk '$2 ~ /^[TWDBRV]$/ {print $3}' | sort -u; }

case "$mode" in
needed)
	needed=$(readelf -d "$ours" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
	echo "NEEDED: $needed"
	[ "$needed" = "libc.so.6" ] || { echo "FAIL: $ours needs more than libc.so.6"; exit 1; }
	echo "PASS needed"
	;;
coverage)
	def=$3
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	defined "$real" | grep -E '^P?MPIX?_' >"$tmp/real"
	for l in libmpichfort.so.12 libmpichcxx.so.12; do
		nm -D --undefined-only "$real_dir/$l" | awk '{print $2}'
	done | sort -u | comm -12 - <(defined "$real") >"$tmp/imported"
	sort -u "$tmp/real" "$tmp/imported" >"$tmp/required"
	defined "$ours" >"$tmp/ours"
	comm -23 "$tmp/required" "$tmp/ours" >"$tmp/missing"
	nreq=$(wc -l <"$tmp/required")
	nmiss=$(wc -l <"$tmp/missing")
	n_mpi=$(grep -cE '^MPIX?_' "$tmp/ours")
	n_pmpi=$(grep -cE '^PMPIX?_' "$tmp/ours")
	n_other=$(grep -cvE '^P?MPIX?_' "$tmp/ours")
	kinds=$(sed -n 's/^WRAP_FN(\([A-Z]*\),.*/\1/p' "$def" | sort | uniq -c | awk '{printf "%s %s, ", $2, $1}')
	ndata=$(grep -c '^WRAP_DATA' "$def")
	# entries whose lower-half symbol the real MPICH does not have: "not available" at run time
	defined "$real" >"$tmp/realall"
	sed -n 's/^WRAP_FN([A-Z]*, [^,]*, \([A-Za-z_0-9]*\), "\([A-Za-z_0-9]*\)".*/\1 \2/p' "$def" |
		while read -r name sym; do
			grep -qx "$sym" "$tmp/realall" || echo "$name"
		done >"$tmp/absent"
	echo "list: ${kinds}data $ndata"
	echo "exported by the upper half: $n_mpi MPI_/MPIX_, $n_pmpi PMPI_/PMPIX_, $n_other other"
	echo "required (real libmpich exports + libmpichfort/cxx imports): $nreq, missing: $nmiss"
	echo "in mpi.h but absent from the real lower MPICH ($(wc -l <"$tmp/absent")): $(tr '\n' ' ' <"$tmp/absent")"
	echo "refused in a split process: $(sed -n 's/^WRAP_FN(UNSUP, [^,]*, \([A-Za-z_0-9]*\),.*/\1/p' "$def" | tr '\n' ' ')"
	if [ "$nmiss" -ne 0 ]; then
		echo "FAIL: not exported by $ours:"
		cat "$tmp/missing"
		exit 1
	fi
	echo "PASS coverage"
	;;
*)
	echo "usage: check_symbols.sh coverage|needed OUR_LIB [DEF]" >&2
	exit 2
	;;
esac
