#!/usr/bin/env bash
# Regenerate include/qcloud_ota.h from src/ffi.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
touch src/ffi.rs
QCLOUD_OTA_WRITE_HEADER=1 cargo build --lib --quiet
echo "include/qcloud_ota.h regenerated"
