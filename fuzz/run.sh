#!/bin/sh
# Fuzz every target (or the ones named) for SECONDS each, one after the other.
#
#   fuzz/run.sh [SECONDS] [TARGET...]        SECONDS defaults to 30
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`). New inputs go to
# fuzz/work/<target>/ (git-ignored); the committed seeds in fuzz/corpus/<target>/ are only read.
# A crash is saved under fuzz/artifacts/<target>/ and reproduced with
#   cargo +nightly fuzz run <target> fuzz/artifacts/<target>/<file>
# Environment: FUZZ_SANITIZER (default none: the fuzzed code is safe Rust; `address` to use ASan),
# FUZZ_ARGS (extra libFuzzer flags, e.g. "-jobs=2 -workers=2"), CARGO_TARGET_DIR as usual.
set -eu

secs=${1:-30}
[ $# -gt 0 ] && shift
cd "$(dirname "$0")/.."

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "fuzz/run.sh: needs a nightly toolchain: rustup toolchain install nightly" >&2
    exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: needs cargo-fuzz: cargo install cargo-fuzz --locked" >&2
    exit 2
fi

sanitizer=${FUZZ_SANITIZER:-none}
if [ $# -gt 0 ]; then
    targets=$*
    for t in $targets; do cargo +nightly fuzz build -s "$sanitizer" "$t"; done
else
    targets=$(cargo +nightly fuzz list)
    cargo +nightly fuzz build -s "$sanitizer"
fi

failed=""
for t in $targets; do
    mkdir -p "fuzz/work/$t"
    echo "=== $t: ${secs}s"
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
    if ! cargo +nightly fuzz run -s "$sanitizer" "$t" "fuzz/work/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 ${FUZZ_ARGS:-}; then
        failed="$failed $t"
    fi
done

if [ -n "$failed" ]; then
    echo "fuzz/run.sh: crashes in:$failed (see fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz/run.sh: no crash in:" $targets
