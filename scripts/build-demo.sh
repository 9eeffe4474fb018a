#!/usr/bin/env bash
# Build libqcloud_ota.a (through CMake, which runs cargo) and the C demo c_examples/ota_demo.
# Works from a clean clone; later runs are incremental. Prints the demo's path on success.
#
#   scripts/build-demo.sh            # Release build in ./build
#   BUILD_DIR=/tmp/b scripts/build-demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${BUILD_DIR:-build}
for tool in cmake cargo cc; do
    command -v "$tool" >/dev/null 2>&1 || { echo "build-demo: $tool not found" >&2; exit 1; }
done

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build_dir" -j2

demo="$build_dir/c_examples/ota_demo"
[ -x "$demo" ] || { echo "build-demo: $demo was not built" >&2; exit 1; }
case $demo in /*) echo "$demo" ;; *) echo "$PWD/$demo" ;; esac
