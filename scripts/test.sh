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
# Coverage-guided fuzzing, 10 s per target, where a nightly toolchain exists (libFuzzer needs it).
# tests/fuzz_smoke.rs runs the same targets over the seed corpora on stable in any case.
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    cargo +nightly fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked --quiet
    mkdir -p target
    if ! CARGO_TARGET_DIR="$PWD/target/fuzz" fuzz/run.sh "${FUZZ_SECONDS:-10}" > target/fuzz.log 2>&1; then
        tail -40 target/fuzz.log
        echo "fuzz: a target failed (log above, inputs in fuzz/artifacts/)"
        exit 1
    fi
    grep -E '^(===|fuzz/run.sh)|^Done [0-9]+ runs' target/fuzz.log
else
    echo "fuzz: no nightly toolchain here; libFuzzer runs skipped (tests/fuzz_smoke.rs still runs)"
fi
cargo test --workspace 2>&1
# Delta updates are an opt-in feature: its unit tests, the comparison with detools, its fuzz body.
cargo test --features delta --lib delta:: 2>&1
cargo test --features delta --test delta_detools --test fuzz_smoke 2>&1
