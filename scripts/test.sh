#!/usr/bin/env bash
# Runs every test: installs what is missing, checks formatting and lints, then the Rust unit and
# integration tests, which include the C demo built through CMake against a real mosquitto.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/sbin:$PATH"   # mosquitto lives in /usr/sbin on Debian
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace 2>&1
