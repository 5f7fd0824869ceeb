#!/bin/bash
# install-deps.sh - install what splitckpt needs to build and test, from Debian packages only.
#
# Usage (as root, or through sudo): bash scripts/install-deps.sh
# Idempotent: when every package is already installed it does nothing (no apt-get update).
# Non-interactive and quiet; services (munge, slurm) are not started by the install, the tests
# start what they need themselves.
set -euo pipefail

PKGS=(build-essential cmake pkg-config gfortran g++ zlib1g-dev libzstd-dev libhwloc-dev mpich libmpich-dev
	python3 bash procps iproute2 util-linux coreutils slurm-wlm munge file environment-modules)

missing=()
for p in "${PKGS[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	case "$status" in
	ii*) ;;
	*) missing+=("$p") ;;
	esac
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#PKGS[@]} packages are installed"
	exit 0
fi

SUDO=()
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=(sudo)
	else
		echo "install-deps: run as root (or install sudo): missing ${missing[*]}" >&2
		exit 1
	fi
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Keep package scripts from starting daemons (no init system in containers and CI).
policy=/usr/sbin/policy-rc.d
added_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
	"${SUDO[@]}" chmod 755 "$policy"
	added_policy=1
fi
cleanup() { if [ $added_policy = 1 ]; then "${SUDO[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT

"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -qq -y --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
