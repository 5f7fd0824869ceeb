#!/bin/bash
# loop.sh - bash checkpoint test: a loop with shell state (counter, associative array, string).
#
# Usage: loop.sh [seconds (10)]
# Every 100 ms step (an external /bin/sleep) updates a counter, an associative array and a hash
# kept in shell variables; at the end the values are recomputed without sleeping and compared.
# Prints READY, then "ANSWER: ..." (depends only on the arguments) and PASS or FAIL.
# The pause follows tests/progs/cr_go.h: with CR_GO set (the checkpoint drivers), no pause once
# that file exists, and before the last quarter of the steps a wait until it exists.
secs=${1:-10}
steps=$((secs * 10))

pace() { # pace S STEPS: the pause after step S
	if [ -z "${CR_GO:-}" ]; then sleep 0.1; return; fi
	if [ "$1" -ge $(($2 - $2 / 4)) ]; then
		while [ ! -e "$CR_GO" ]; do sleep 0.02; done
	fi
	[ -e "$CR_GO" ] || sleep 0.1
}
run() { # run STEPS SLEEP -> sets count, hash, keys
	local s
	count=0
	hash=5381
	declare -gA bucket=()
	for ((s = 1; s <= $1; s++)); do
		count=$((count + 1))
		hash=$(((hash * 33 + s) % 4294967296))
		bucket[b$((s % 7))]+="$((s % 10))"
		if [ "$2" = 1 ]; then pace "$s" "$1"; fi
	done
	keys=""
	for k in $(printf '%s\n' "${!bucket[@]}" | sort); do
		keys+="$k=${#bucket[$k]};"
	done
}

echo READY
run "$steps" 1
got="$count $hash $keys"
run "$steps" 0
want="$count $hash $keys"
echo "ANSWER: $got"
if [ "$got" != "$want" ]; then
	echo "FAIL: shell state '$got' differs from '$want'"
	exit 1
fi
echo PASS
