#!/usr/bin/env bash
# Runs every test: installs what is missing, checks formatting and lints, then the Rust unit and
# integration tests, which include the C demo built through CMake against a real mosquitto.
# Run from a fresh clone on a Debian machine with the Rust toolchain (root, for apt-get).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/sbin:$PATH"   # mosquitto lives in /usr/sbin on Debian
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# The C side: the library through CMake, the header check, the demo's own tests.
BUILD_DIR=target/cmake scripts/build-demo.sh >/dev/null
ctest --test-dir target/cmake --output-on-failure
cargo test --workspace 2>&1
