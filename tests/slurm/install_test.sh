#!/bin/bash
# install_test.sh - what `cmake --install` gives users besides the programs, in PREFIX:
# the man pages (render without groff warnings, `man` finds them through MANPATH),
# cr_functions.sh on PATH, the example job scripts, and the modulefile: with Environment
# Modules installed, `module load splitckpt` sets PATH, LD_LIBRARY_PATH and MANPATH, keeps
# man's default path, defines the job functions in bash, and `module unload` takes it all
# back (that part is skipped, with a note, where Modules is not installed).
#
#   install_test.sh PREFIX        exit 0 pass, 1 fail
set -u
P=$(cd "$1" && pwd) || exit 1
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
ok() { echo "ok   $*"; }

for page in man1/dmtcp_coordinator.1 man1/dmtcp_launch.1 man1/dmtcp_restart.1 \
	man1/dmtcp_command.1 man7/cr_functions.7; do
	f=$P/share/man/$page
	[ -f "$f" ] || { fail "$page not installed"; continue; }
	if command -v groff >/dev/null 2>&1; then
		w=$(groff -man -Tutf8 -ww -z "$f" 2>&1)
		[ -z "$w" ] && ok "$page renders" || fail "$page: $w"
	fi
	name=${page#*/}
	if command -v man >/dev/null 2>&1; then
		found=$(MANPATH=$P/share/man man -w "${name%.*}" 2>/dev/null)
		[ "$found" = "$f" ] && ok "man finds ${name%.*}" || fail "man -w ${name%.*}: '$found'"
	fi
done
command -v groff >/dev/null 2>&1 || echo "note: groff not installed: man pages not rendered"
command -v man >/dev/null 2>&1 || echo "note: man not installed: MANPATH lookups not checked"
[ -f "$P/bin/cr_functions.sh" ] && ok "cr_functions.sh in bin/" || fail "no bin/cr_functions.sh"
for s in run.slurm run_launch.slurm run_restart.slurm run_cr.slurm omp_app.c mpi_app.c; do
	[ -f "$P/share/splitckpt/examples/slurm/$s" ] || fail "example $s not installed"
done
mf=$P/share/modulefiles/splitckpt
[ -n "$(ls "$mf" 2>/dev/null)" ] && ok "modulefile installed" || fail "no modulefile in $mf"

init=/usr/share/modules/init/bash
if [ -f "$init" ] && command -v modulecmd >/dev/null 2>&1; then
	out=$(env -i HOME="$HOME" PATH=/usr/bin:/bin bash -c '
		source '"$init"'
		module use '"$P"'/share/modulefiles || exit 1
		module load splitckpt || exit 1
		echo "path=$(command -v dmtcp_launch)"
		echo "ld=$LD_LIBRARY_PATH"
		echo "manpath=$MANPATH"
		echo "root=$SPLITCKPT_ROOT"
		echo "fn=$(type -t start_coordinator)"
		echo "man=$(man -w dmtcp_restart)"
		echo "sysman=$(man -w bash >/dev/null 2>&1 && echo yes)"
		module unload splitckpt
		echo "after=$(command -v dmtcp_launch)$(type -t start_coordinator)"
	' 2>&1)
	expect() {
		grep -qxF "$1" <<<"$out" && ok "module: $1" || fail "module: want '$1' in: $out"
	}
	expect "path=$P/bin/dmtcp_launch"
	expect "ld=$P/lib"
	expect "manpath=$P/share/man:"
	expect "root=$P"
	command -v man >/dev/null 2>&1 && expect "man=$P/share/man/man1/dmtcp_restart.1"
	expect "after="
	if grep -qx 'fn=function' <<<"$out"; then ok "module: functions defined"; else
		echo "note: this Modules does not define shell functions (source-sh): $(grep fn= <<<"$out")"
	fi
	grep -qx 'sysman=yes' <<<"$out" || ! command -v man >/dev/null 2>&1 ||
		[ ! -e /usr/share/man/man1/bash.1.gz ] ||
		fail "module: man lost its default path"
else
	echo "note: Environment Modules not installed (apt-get install environment-modules):" \
		"modulefile not loaded"
fi

[ $fails -eq 0 ] && echo PASS && exit 0
echo "FAIL: $fails checks"
exit 1
