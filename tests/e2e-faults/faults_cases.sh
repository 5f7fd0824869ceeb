#!/bin/bash
# faults_cases.sh - the cases of faults.sh that are not crashes: full_disk, damaged, keep,
# progress (sourced by faults.sh, which documents what each one checks).

launch_job() { # launch_job NAME OUT [launch options] -- ft_mem ARGS: joins the coordinator on $PORT
	local name=$1 out=$2
	shift 2
	start_session "$name" "$out" "$LAUNCH" -h localhost -p "$PORT" -j "$@"
	wait_ready "$out"
}

# ---- a full disk ---------------------------------------------------------------------------------
case_full_disk() {
	local small=$T/small dir=$T/small/ckpt out rc img1 sum1 c0
	mkdir -p "$small"
	if ! mount -t tmpfs -o size=64m tmpfs "$small" 2>"$T/mount.err"; then
		note "SKIP: cannot mount a tmpfs of our own: $(cat "$T/mount.err")"
		exit 77
	fi
	track_mount "$small"
	start_native job 16 60 96
	start_coord c1 "$dir"
	launch_job job "$T/job.out" --ckptdir "$dir" "$FT_MEM" 16 60 96
	ckpt_ok
	img1=$(ls "$(gen_dir 1 "$dir")"/ckpt_*.dmtcp) || fail "no image in generation 1"
	sum1=$(sha256sum <"$img1")
	note "generation 1: $(stat -c %s "$img1") bytes; the filesystem: $(df -k --output=used,avail "$small" | tail -n 1 | awk '{print $1 " KiB used, " $2 " KiB free"}')"

	touch "$T/run/ft_grow"
	wait_for 30 has_line '^GREW' "$T/job.out" || fail "the job did not grow"
	c0=$(check_count "$T/job.out")
	wait_for 10 eval '[ "$(check_count "$T/job.out")" -gt '"$c0"' ]' ||
		fail "the job printed no CHECK line after it grew"
	out=$(coord_cmd -bc 2>&1)
	rc=$?
	note "dmtcp_command -bc with 96 MiB more (exit $rc): $out"
	[ $rc != 0 ] || fail "dmtcp_command -bc succeeded although the image cannot fit"
	[ $rc = 2 ] || fail "dmtcp_command -bc exited $rc, not 2 (the coordinator reports a failed checkpoint)"
	echo "$out" | grep -q "No space left on device" || fail "the error does not say 'No space left on device'"
	echo "$out" | grep -q "gen-000002/ckpt_ft_mem_[^ ]*\.dmtcp" || fail "the error does not name the image file"

	c0=$(check_count "$T/job.out")
	wait_for 10 eval '[ "$(check_count "$T/job.out")" -gt '"$c0"' ]' ||
		fail "the job does not run on after the failed checkpoint"
	session_alive "${SESSIONS[0]}" || fail "the job died"
	finished "$T/job.out" && fail "the job ended"
	[ "$(peers)" = 1 ] || fail "the coordinator lists $(peers) processes, not 1"
	[ "$(status_field RUNNING)" = yes ] || fail "the coordinator says RUNNING=$(status_field RUNNING)"
	note "the job runs on: new CHECK lines, 1 process, RUNNING=yes"

	local tmps
	tmps=$(find "$small" -name '*.tmp')
	[ -z "$tmps" ] || fail ".tmp files left behind: $tmps"
	[ "$(sha256sum <"$img1")" = "$sum1" ] || fail "generation 1's image changed"
	"$RESTART" --inspect "$img1" >"$T/inspect.out" 2>&1 || fail "--inspect refuses generation 1: $(tail -n 2 "$T/inspect.out")"
	case $(readlink "$dir"/ckpt_ft_mem_*.dmtcp) in
	gen-000001/*) ;;
	*) fail "the image symlink points at $(readlink "$dir"/ckpt_ft_mem_*.dmtcp)" ;;
	esac
	grep -q "gen-000001/ckpt_ft_mem" "$dir/dmtcp_restart_script.sh" || fail "the restart script does not name generation 1"
	note "no .tmp left; generation 1 unchanged, verified by --inspect, and still the one the symlink and the restart script name ($(df -k --output=avail "$small" | tail -n 1 | tr -d ' ') KiB free again)"

	kill_sessions
	wait_for 20 peers_are 0 || fail "the coordinator still lists $(peers) processes"
	touch "$T/run/ft_hurry"
	start_session restart "$T/job.out" "$RESTART" -h localhost -p "$PORT" -j --restartdir "$dir"
	expect_pass "restart from generation 1" 120 "$LAST_SID" "$T/job.out" job
	grep -q "of generation 1 " "$T/restart.log" || fail "the restart did not take generation 1: $(head -n 1 "$T/restart.log")"
}

# ---- damaged images --------------------------------------------------------------------------------
part() { # part NAME FIELD(2=offset, 3=length) of LAYOUT-FILE
	awk -v n="$1" -v f="$2" '$1 == n { print $f; exit }' "$3"
}
flip() { # flip FILE OFFSET: xor the byte at OFFSET with 0x10
	local byte
	byte=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	[ -n "$byte" ] || fail "flip: offset $2 is past the end of $1"
	printf "$(printf '\\%03o' $(((byte ^ 0x10) & 255)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
NDAMAGED=0
refused() { # refused LABEL SRC REGEX WHAT ARGS...: damage a copy of SRC, dmtcp_restart must refuse it
	local label=$1 src=$2 regex=$3 what=$4 d bad rc sid msg
	shift 4
	d=$T/damaged/$label
	mkdir -p "$d"
	bad=$d/$(basename "$src")
	cp "$src" "$bad"
	case $what in
	truncate) truncate -s "$1" "$bad" ;;
	append) head -c "$1" /dev/zero >>"$bad" ;;
	flip) flip "$bad" "$1" ;;
	version) "$FT_IMG" set-version "$bad" "$1" || fail "$label: ft_img failed" ;;
	region) "$FT_IMG" set-region-start "$bad" "$1" "$2" || fail "$label: ft_img failed" ;;
	*) fail "unknown damage $what" ;;
	esac
	rm -f "$T/dmg.sid"
	(cd "$T/run" && timeout 60 setsid sh -c 'echo $$ >"$0"; exec "$@"' "$T/dmg.sid" \
		"$RESTART" -h localhost -p "$PORT" -j "$bad") >"$T/dmg.out" 2>&1 </dev/null {NAP_FD}>&-
	rc=$?
	sid=$(cat "$T/dmg.sid" 2>/dev/null)
	[ -n "$sid" ] && SESSIONS+=("$sid")
	[ $rc != 124 ] || fail "$label: dmtcp_restart still ran after 60 s"
	[ $rc != 0 ] || fail "$label: dmtcp_restart accepted the image (exit 0): $(cat "$T/dmg.out")"
	grep -aq '^PASS$\|^CHECK' "$T/dmg.out" && fail "$label: the damaged image was run"
	msg=$(grep -a "$(basename "$bad")" "$T/dmg.out" | grep -v ' restarting ' | head -n 1)
	[ -n "$msg" ] || fail "$label: no message names $(basename "$bad"): $(cat "$T/dmg.out")"
	echo "$msg" | grep -Eq -- "$regex" || fail "$label: the message does not say '$regex': $msg"
	if [ -n "$sid" ]; then
		wait_for 10 eval '! session_alive '"$sid" || fail "$label: processes left: $(pids_in_session "$sid")"
	fi
	wait_for 10 peers_are 0 || fail "$label: the coordinator lists $(peers) processes"
	NDAMAGED=$((NDAMAGED + 1))
	note "$(printf '%-22s' "$label") exit $rc: ${msg#*: }"
}

case_damaged() {
	local gz raw L=$T/layout.gz R=$T/layout.raw S hs r0 rl
	start_native job 8 40
	start_coord c1 "$T/ckpt"
	launch_job job "$T/job.out" --ckptdir "$T/ckpt" "$FT_MEM" 8 40
	ckpt_ok
	kill_sessions
	start_coord c2 "$T/ckpt-raw"
	# the raw image is written with direct I/O (the aligned layout of large images)
	SPLITCKPT_DIRECT_IO=on launch_job raw "$T/raw.out" --no-gzip --ckptdir "$T/ckpt-raw" "$FT_MEM" 8 40
	ckpt_ok
	kill_sessions
	gz=$(ls "$T"/ckpt/gen-000001/ckpt_*.dmtcp) raw=$(ls "$T"/ckpt-raw/gen-000001/ckpt_*.dmtcp)
	"$FT_IMG" layout "$gz" >"$L" && "$FT_IMG" layout "$raw" >"$R" || fail "ft_img layout failed"
	note "layout of the compressed image: $(awk '{printf "%s@%s+%s ", $1, $2, $3}' "$L")"
	[ -n "$(part chunk.zlib 2 "$L")" ] || fail "the compressed image has no zlib chunk"
	[ -n "$(part chunk.raw 2 "$R")" ] || fail "the --no-gzip image has no raw chunk"
	"$RESTART" --inspect "$raw" | grep -q "aligned (written with direct I/O)" ||
		fail "SPLITCKPT_DIRECT_IO=on: the raw image is not in the aligned layout"
	S=$(stat -c %s "$gz") hs=$(part header 3 "$L")
	r0=$(part payload.regions 2 "$L") rl=$(part payload.regions 3 "$L")
	local trunc='truncated|not a splitckpt checkpoint image'
	# truncated and extended
	refused trunc_empty "$gz" "$trunc" truncate 0
	refused trunc_7 "$gz" "$trunc" truncate 7
	refused trunc_in_header "$gz" "truncated.*too short for the image header" truncate 40
	refused trunc_in_sections "$gz" "$trunc" truncate $((hs + 30))
	refused trunc_in_regions "$gz" "$trunc" truncate $((r0 + rl / 2))
	refused trunc_in_data "$gz" "$trunc" truncate $((S / 2))
	refused trunc_in_index "$gz" "$trunc" truncate $(($(part index 2 "$L") + 30))
	refused trunc_no_trailer "$gz" "$trunc" truncate $((S - 64))
	refused trunc_last_byte "$gz" "$trunc" truncate $((S - 1))
	refused extended "$gz" "truncated|extended|no trailer" append 4096
	# flipped bits
	refused flip_magic "$gz" "not a splitckpt checkpoint image" flip 0
	refused flip_header_size "$gz" "header" flip 12
	refused flip_nsections "$gz" "header checksum" flip 20
	refused flip_data_off "$gz" "header checksum" flip 32
	refused flip_header_crc "$gz" "header checksum" flip 61
	refused flip_info "$gz" "section [0-9]+ at [0-9]+: checksum mismatch" \
		flip $(($(part payload.info 2 "$L") + 20))
	refused flip_blob "$gz" "section [0-9]+ at [0-9]+: checksum mismatch" \
		flip $(($(part section.blob.1 2 "$L") + 30))
	refused flip_regions_magic "$gz" "section [0-9]+ at $((r0 - 24)): bad magic" flip $((r0 - 24))
	refused flip_regions_len "$gz" "section [0-9]+ at $((r0 - 24)): " flip $((r0 - 24 + 16))
	refused flip_regions_first "$gz" "section [0-9]+ at $((r0 - 24)): checksum mismatch" flip $((r0 + 9))
	refused flip_regions_mid "$gz" "section [0-9]+ at $((r0 - 24)): checksum mismatch" flip $((r0 + rl / 2))
	refused flip_regions_last "$gz" "section [0-9]+ at $((r0 - 24)): checksum mismatch" flip $((r0 + rl - 1))
	refused flip_index "$gz" "index|chunk" flip $(($(part index 2 "$L") + 24 + 50))
	refused flip_trailer "$gz" "trailer" flip $((S - 64 + 9))
	refused flip_trailer_crc "$gz" "trailer checksum" flip $((S - 3))
	refused flip_chunk_header "$gz" "chunk" flip $(($(part chunk.zlib 2 "$L") + 20))
	refused flip_zlib_data "$gz" "chunk" flip $(($(part chunkdata.zlib 2 "$L") + $(part chunkdata.zlib 3 "$L") / 2))
	refused flip_raw_data "$raw" "chunk" flip $(($(part chunkdata.raw 2 "$R") + $(part chunkdata.raw 3 "$R") / 2))
	refused flip_raw_last "$raw" "chunk" flip $(($(part chunkdata.raw 2 "$R") + $(part chunkdata.raw 3 "$R") - 1))
	# a region table that is wrong but has a valid checksum
	refused region_unaligned "$gz" "region 1 .*not a page-aligned user range" region 1 0x7f0000001234
	refused region_overlap "$gz" "overlap" region 1 copy:0
	# from a newer splitckpt (the header checksum is valid), and version 0
	refused version_3 "$gz" "made by a newer splitckpt \(format 3, this one reads up to 2\)" version 3
	refused version_max "$gz" "made by a newer splitckpt \(format 4294967295," version 0xffffffff
	refused version_0 "$gz" "bad format version 0" version 0
	note "$NDAMAGED damaged images refused"

	# the intact images restart and PASS
	touch "$T/run/ft_hurry"
	start_session restart "$T/job.out" "$RESTART" -h localhost -p "$PORT" -j "$gz"
	expect_pass "the intact compressed image" 60 "$LAST_SID" "$T/job.out" job
	start_session restart-raw "$T/raw.out" "$RESTART" -h localhost -p "$PORT" -j "$raw"
	expect_pass "the intact raw image" 60 "$LAST_SID" "$T/raw.out" job
}

# ---- --keep ------------------------------------------------------------------------------------------
gens_in() { (cd "$1" && ls -d gen-* 2>/dev/null | tr '\n' ' '); }
imgs_in() { find "$1" -maxdepth 1 -name 'ckpt_*.dmtcp' | wc -l; }
restart_answers() { # restart_answers LABEL SID OUT: the two processes end with PASS and their ANSWERs
	local label=$1 sid=$2 out=$3 bad want got
	wait_for 120 eval '! session_alive '"$sid" || fail "$label: still running after 120 s"
	native_done small
	native_done big
	bad=$(check_lines "$out" | sort -u | comm -23 - <(check_lines "$T"/native-small.out "$T"/native-big.out | sort -u) | head -n 1)
	[ -z "$bad" ] || fail "$label: '$bad' was never printed by the uninterrupted runs"
	grep -aq '^FAIL' "$out" && fail "$label: $(grep -ah '^FAIL' "$out" | head -n 1)"
	[ "$(grep -ac '^PASS$' "$out")" = 2 ] || fail "$label: $(grep -ac '^PASS$' "$out") PASS lines, not 2"
	want=$(answer_of "$T/native-small.out"; answer_of "$T/native-big.out")
	got=$(grep -ah '^ANSWER:' "$out")
	[ "$(sort <<<"$want")" = "$(sort <<<"$got")" ] || fail "$label: ANSWERs '$got', expected '$want'"
	note "$label: both processes PASS with the uninterrupted runs' ANSWERs"
}

case_keep() {
	local g
	# --keep 0: every generation stays
	start_coord c0 "$T/ckpt0"
	start_native k0 2 60
	launch_job k0 "$T/k0.out" --keep 0 --ckptdir "$T/ckpt0" "$FT_MEM" 2 60
	for g in 1 2 3 4 5; do ckpt_ok; done
	[ "$(gens_in "$T/ckpt0")" = "gen-000001 gen-000002 gen-000003 gen-000004 gen-000005 " ] ||
		fail "--keep 0 after 5 checkpoints left: $(gens_in "$T/ckpt0")"
	for g in 1 2 3 4 5; do [ "$(imgs_in "$(gen_dir $g "$T/ckpt0")")" = 1 ] || fail "--keep 0: generation $g has no image"; done
	note "--keep 0: all 5 generations remain"
	kill_sessions

	# --keep 2, two processes
	start_coord c1 "$T/ckpt"
	start_native small 4 60
	start_native big 256 60
	launch_job small "$T/small.out" --keep 2 --ckptdir "$T/ckpt" "$FT_MEM" 4 60
	local small_pid=$LAST_SID # the session leader execs dmtcp_launch, which execs the job
	launch_job big "$T/big.out" --keep 2 --ckptdir "$T/ckpt" "$FT_MEM" 256 60
	local big_pid=$LAST_SID
	for g in 1 2 3 4 5; do ckpt_ok; done
	# each worker removes its old images after it got RESUME, i.e. just after -bc returned
	wait_for 10 eval '[ "$(gens_in "$T/ckpt")" = "gen-000004 gen-000005 " ]' ||
		fail "--keep 2 after 5 checkpoints left: $(gens_in "$T/ckpt")"
	for g in 4 5; do
		[ "$(imgs_in "$(gen_dir $g)")" = 2 ] || fail "generation $g holds $(imgs_in "$(gen_dir $g)") images, not 2"
	done
	[ -z "$(find "$T/ckpt" -name '*.tmp')" ] || fail "a .tmp was left: $(find "$T/ckpt" -name '*.tmp')"
	for f in "$T"/ckpt/ckpt_ft_mem_*.dmtcp; do
		case $(readlink "$f") in gen-000005/*) ;; *) fail "$f points at $(readlink "$f")" ;; esac
	done
	[ "$(grep -c "^  '.*/gen-000005/ckpt_ft_mem_.*\.dmtcp'$" "$T/ckpt/dmtcp_restart_script.sh")" = 2 ] ||
		fail "the restart script does not name the 2 images of generation 5"
	note "--keep 2: exactly generations 4 and 5 remain, 2 images each; symlinks and the restart script name generation 5"

	# generation 6 incomplete: stop the big process's writer (its checkpoint thread, or the
	# child that writes for it) in the middle of the image, let the small one finish, kill all
	coord_cmd -bc >"$T/bc6.out" 2>&1 &
	local bc=$! tmp w
	big_tmp() { # globs are builtins: poll cheaply until the .tmp is there, then look for its writer
		local f
		for f in "$(gen_dir 6)"/ckpt_ft_mem_*-"$big_pid"-*.dmtcp.tmp; do
			[ -e "$f" ] || return 1
			tmp=$f
			w=$(writers_in "$big_pid" "$tmp" | head -n 1)
			[ -n "$w" ]
			return
		done
	}
	wait_for 30 big_tmp || fail "no writer of the big process's .tmp in generation 6"
	kill -STOP "$w"
	wait_for 30 eval '[ "$(imgs_in "$(gen_dir 6)")" -ge 1 ]' || fail "the small process wrote no image in generation 6"
	[ "$(imgs_in "$(gen_dir 6)")" = 1 ] || fail "the big process finished generation 6 before it was stopped: $(ls "$(gen_dir 6)" | tr '\n' ' ')"
	kill_sessions
	wait "$bc"
	note "generation 6 left incomplete ($(ls "$(gen_dir 6)" | tr '\n' ' ')); -bc said: $(cat "$T/bc6.out")"
	wait_for 20 peers_are 0 || fail "the coordinator still lists $(peers) processes"

	touch "$T/run/ft_hurry"
	: >"$T/r1.out"
	start_session restart1 "$T/r1.out" "$RESTART" -h localhost -p "$PORT" -j --restartdir "$T/ckpt"
	local sid=$LAST_SID
	# a warning about the incomplete generation 6 comes first: wait for the line itself
	wait_for 20 grep -q "restarting " "$T/restart1.log"
	grep -q "restarting 2 processes of generation 5 " "$T/restart1.log" ||
		fail "--restartdir did not take generation 5: $(cat "$T/restart1.log")"
	note "--restartdir: $(grep -h 'warning\|restarting' "$T/restart1.log" | sed 's/^\[[^]]*\] [^ ]* //' | tr '\n' ' ')"
	restart_answers "restart --restartdir" "$sid" "$T/r1.out"
	: >"$T/r2.out"
	start_session restart2 "$T/r2.out" bash "$T/ckpt/dmtcp_restart_script.sh"
	sid=$LAST_SID
	# a warning about the incomplete generation 6 comes first: wait for the line itself
	wait_for 20 grep -q "restarting " "$T/restart2.log"
	grep -q "restarting 2 processes of generation 5 " "$T/restart2.log" ||
		fail "the restart script did not take generation 5: $(cat "$T/restart2.log")"
	restart_answers "the restart script" "$sid" "$T/r2.out"
}

# ---- progress ----------------------------------------------------------------------------------------
case_progress() {
	local out err n
	# 768 MiB: the checkpoint must outlast the 0.2 s redraw period (zstd writes 128 MiB of
	# this data in 0.2 s)
	start_native job 768 60
	start_coord c1 "$T/ckpt"
	launch_job job "$T/job.out" --ckptdir "$T/ckpt" "$FT_MEM" 768 60
	# not a terminal: one summary line, nothing else
	"$CMD" -h localhost -p "$PORT" -bc >"$T/bc.stdout" 2>"$T/bc.stderr" </dev/null || fail "-bc failed: $(cat "$T/bc.stderr")"
	n=$(wc -l <"$T/bc.stdout")
	[ "$n" = 1 ] || fail "-bc in a pipe printed $n lines: $(cat -A "$T/bc.stdout")"
	grep -Eq '^checkpoint generation 1 complete: 1 process, [0-9.]+ [kMG]?B written in [0-9.]+ s$' "$T/bc.stdout" ||
		fail "unexpected summary line: $(cat -A "$T/bc.stdout")"
	[ ! -s "$T/bc.stderr" ] || fail "-bc in a pipe wrote to stderr: $(cat "$T/bc.stderr")"
	grep -q $'\r' "$T/bc.stdout" && fail "-bc in a pipe printed a carriage return"
	note "in a pipe: $(cat "$T/bc.stdout")"
	# a terminal
	if command -v script >/dev/null 2>&1; then
		script -qec "'$CMD' -h localhost -p $PORT -bc" /dev/null </dev/null >"$T/tty.raw" 2>&1 ||
			fail "-bc on a terminal failed: $(tr '\r' '\n' <"$T/tty.raw" | tail -n 3)"
		tr '\r' '\n' <"$T/tty.raw" | sed 's/\x1b\[K//g' | grep -v '^$' >"$T/tty.lines"
		grep -Eq '^[|/\\-] checkpoint 2: [0-9.]+ s' "$T/tty.lines" ||
			fail "no progress line on the terminal: $(head -c 600 "$T/tty.lines")"
		grep -Eq '^[|/\\-] checkpoint 2: [0-9.]+ s, writing 0/1; [0-9.]+ [kMG]B' "$T/tty.lines" ||
			note "warning: no progress line with bytes written (the checkpoint was too quick?)"
		[ "$(tail -n 1 "$T/tty.lines")" != "" ] &&
			tail -n 1 "$T/tty.lines" | grep -Eq '^checkpoint generation 2 complete: 1 process, .* written in [0-9.]+ s$' ||
			fail "the terminal output does not end with the summary line: $(tail -n 1 "$T/tty.lines" | cat -A)"
		note "on a terminal: $(grep -c checkpoint "$T/tty.lines") lines, e.g. '$(grep -E '^[|/\\-] ' "$T/tty.lines" | tail -n 1)', then '$(tail -n 1 "$T/tty.lines")'"
	else
		note "no script(1): the terminal case is not tested"
	fi
	# dmtcp_restart in a pipe: one line before the lower half takes over
	kill_sessions
	wait_for 20 peers_are 0 || fail "the coordinator still lists $(peers) processes"
	touch "$T/run/ft_hurry"
	start_session restart "$T/job.out" "$RESTART" -h localhost -p "$PORT" -j --restartdir "$T/ckpt"
	expect_pass "restart" 60 "$LAST_SID" "$T/job.out" job
	n=$(wc -l <"$T/restart.log")
	[ "$n" = 1 ] || fail "dmtcp_restart printed $n lines: $(cat "$T/restart.log")"
	grep -Eq "restarting 1 process of generation 2 from $T/ckpt/gen-000002 \([0-9.]+ [kMG]B of images\); new images go to $T/ckpt\$" "$T/restart.log" ||
		fail "unexpected restart line: $(cat "$T/restart.log")"
	note "dmtcp_restart: $(cat "$T/restart.log")"
}

# ---- what a dead writer leaves behind --------------------------------------------------------------
case_stale_tmp() {
	local tmp w pid bc
	# 384 MiB: the writer must still be writing when the test looks for it (as in
	# coord_lost_bg_write)
	start_native job 384 60
	start_coord c1 "$T/ckpt"
	launch_job job "$T/job.out" --keep 2 --ckptdir "$T/ckpt" "$FT_MEM" 384 60
	JOB_SID=$LAST_SID
	ckpt_ok
	pid=$(app_pids | head -n 1)
	touch "$T/stamp"
	coord_cmd -bc >"$T/bc.out" 2>&1 &
	bc=$!
	writer() { tmp=$(ls "$(gen_dir 2)"/ckpt_*.dmtcp.tmp 2>/dev/null) &&
		w=$(writers_in "$JOB_SID" "$tmp" | head -n 1) && [ -n "$w" ]; }
	wait_for 30 writer || fail "no writer of a .tmp in generation 2 (session $JOB_SID: $(pids_in_session "$JOB_SID" | tr "\n" " "))"
	kill -STOP "$w"
	[ -e "$tmp" ] || fail "the .tmp was gone before the writer stopped"
	kill -9 "$w"
	wait "$bc"
	note "killed the writer of $(basename "$tmp") (pid $w, the application is pid $pid); -bc: $(cat "$T/bc.out")"
	if [ "$w" = "$pid" ]; then
		kill_sessions
		wait_for 20 peers_are 0 || fail "the coordinator still lists $(peers) processes"
		start_session restart "$T/job.out" "$RESTART" -h localhost -p "$PORT" -j --restartdir "$T/ckpt"
		JOB_SID=$LAST_SID
		wait_for 30 peers_are 1 || fail "the restarted job did not join"
	else
		# the application knows its writer died: it should remove what the writer left
		wait_for 30 eval '[ ! -e "$tmp" ]' || fail "the application left its dead writer's $(basename "$tmp")"
		note "the application removed its dead writer's .tmp"
	fi
	ckpt_ok
	ckpt_ok
	ckpt_ok
	wait_for 10 eval '[ -z "$(find "$T/ckpt" -name "*.tmp")" ]' ||
		fail "after 3 more checkpoints with --keep 2, stale files remain: $(cd "$T/ckpt" && find . -name '*.tmp' | tr '\n' ' ')"
	local g
	g=$(newest_complete "$T/ckpt" 1)
	[ "$(gens_in "$T/ckpt")" = "$(printf 'gen-%06d gen-%06d ' $((g - 1)) "$g")" ] ||
		fail "--keep 2 left these generations: $(gens_in "$T/ckpt")"
	note "no stale .tmp; exactly the 2 newest generations remain"
}

# ---- the coordinator dies while a forked writer finishes the image in the background ----------------
case_coord_lost_bg_write() {
	local tmp w pid bc port g
	# 384 MiB: the writer must still be writing when the test looks for it (zstd writes
	# 128 MiB of this data in ~0.3 s, which a loaded machine's polling can miss)
	start_native job 384 60
	start_coord c1 "$T/ckpt"
	port=$PORT
	launch_job job "$T/job.out" --ckptdir "$T/ckpt" "$FT_MEM" 384 60
	JOB_SID=$LAST_SID
	ckpt_ok
	pid=$(app_pids | head -n 1)
	coord_cmd -bc >"$T/bc.out" 2>&1 &
	bc=$!
	writer() { tmp=$(ls "$(gen_dir 2)"/ckpt_*.dmtcp.tmp 2>/dev/null) &&
		w=$(writers_in "$JOB_SID" "$tmp" | head -n 1) && [ -n "$w" ]; }
	wait_for 30 writer || fail "no writer of a .tmp in generation 2"
	if [ "$w" = "$pid" ]; then
		note "SKIP: the application writes its own image (no forked checkpoint)"
		exit 77
	fi
	kill -STOP "$w" # hold the writer child in the middle of the image
	kill -9 "$COORD_PID"
	wait_gone 10 "$COORD_PID"
	wait "$bc"
	note "killed the coordinator while the writer child $w (of application $pid) held $(basename "$tmp"); -bc: $(cat "$T/bc.out")"
	start_coord c2 "$T/ckpt" "$port"
	wait_for 20 peers_are 1 || fail "the job did not rejoin the new coordinator on port $port"
	has_line "went away\|lost" "$T/job.log" ||
		fail "the job did not log that it lost its coordinator during generation 2: $(tail -n 2 "$T/job.log" | tr '\n' ' ')"
	kill -CONT "$w"
	wait_for 30 eval '! alive '"$w"' && [ -z "$(zombies_in "$JOB_SID")" ]' ||
		fail "the writer child $w of generation 2 was not reaped 30 s after it finished (state: $(grep '^State' /proc/$w/status 2>/dev/null)); log: $(tail -n 2 "$T/job.log" | tr '\n' ' ')"
	note "the writer child finished and was reaped; gen-000002: $(ls "$(gen_dir 2)" | tr '\n' ' ')"
	ckpt_ok
	ckpt_ok
	g=$(newest_complete "$T/ckpt" 1)
	case $(readlink "$T"/ckpt/ckpt_ft_mem_*.dmtcp) in
	"$(printf 'gen-%06d/' "$g")"*) ;;
	*) fail "after two more checkpoints the symlink points at $(readlink "$T"/ckpt/ckpt_ft_mem_*.dmtcp), not generation $g" ;;
	esac
	[ -z "$(find "$T/ckpt" -name '*.tmp')" ] || fail "a .tmp was left: $(find "$T/ckpt" -name '*.tmp')"
	kill_sessions
	wait_for 20 peers_are 0 || fail "the coordinator still lists $(peers) processes"
	touch "$T/run/ft_hurry"
	start_session restart "$T/job.out" "$RESTART" -h localhost -p "$PORT" -j --restartdir "$T/ckpt"
	expect_pass "restart from generation $g" 60 "$LAST_SID" "$T/job.out" job
}

# ---- generation numbers after a job rejoins a new coordinator ---------------------------------------
case_rejoin_numbering() {
	local port first
	start_native job 8 60
	start_coord c1 "$T/ckpt"
	port=$PORT
	launch_job job "$T/job.out" --ckptdir "$T/ckpt" "$FT_MEM" 8 60
	ckpt_ok
	ckpt_ok
	kill -9 "$COORD_PID"
	wait_gone 10 "$COORD_PID"
	start_coord c2 "$T/ckpt" "$port"
	wait_for 20 peers_are 1 || fail "the job did not rejoin the new coordinator on port $port"
	ckpt_ok
	first=$(status_field LAST_CKPT_GENERATION)
	note "the first checkpoint after the rejoin is generation $first; on disk: $(gens_in "$T/ckpt"); symlink: $(readlink "$T"/ckpt/ckpt_ft_mem_*.dmtcp)"
	[ "$first" -gt 2 ] ||
		fail "the new coordinator numbered its first checkpoint $first, although generations 1 and 2 of the job are in $T/ckpt: --restartdir now takes the older generation 2 instead of the newest image (generation $first)"
	kill_sessions
	wait_for 20 peers_are 0 || fail "the coordinator still lists $(peers) processes"
	touch "$T/run/ft_hurry"
	start_session restart "$T/job.out" "$RESTART" -h localhost -p "$PORT" -j --restartdir "$T/ckpt"
	expect_pass "restart" 60 "$LAST_SID" "$T/job.out" job
	grep -q "of generation $first " "$T/restart.log" || fail "the restart did not take generation $first: $(cat "$T/restart.log")"
}
