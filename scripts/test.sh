#!/bin/bash
# test.sh - install the dependencies, build splitckpt in ./build and run its CTest suite
# (everything except the tests labelled `long`). Exits with ctest's status.
#
# Usage: bash scripts/test.sh      (root or sudo needed only if packages are missing)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] || command -v sudo >/dev/null 2>&1; then
	bash scripts/install-deps.sh
fi
mkdir -p build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >build/configure.log 2>&1 || {
	cat build/configure.log >&2
	exit 1
}
cmake --build build -j2
cd build
set +e
ctest --output-on-failure -j2 --label-exclude '^long$'
rc=$?
exit $rc
