#!/usr/bin/env bash
# Installs what the tests need when it is missing: mosquitto (the real MQTT broker the tests run
# against), libmosquitto-dev (the MQTT client of the bring-your-own-MQTT C demos), cmake (the C
# build), libssl-dev (OpenSSL: the demo's host-TLS mode), the Cortex-M toolchain
# (gcc-arm-none-eabi, newlib), QEMU for the bare-metal firmware test (qemu-system-arm: mps2-an386),
# the Cortex-M Rust targets, and detools (pip: the delta patch tool). Safe to run repeatedly.
set -euo pipefail

need_apt=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
[ -f /usr/include/mosquitto.h ] || need_apt+=(libmosquitto-dev)
[ -f /usr/include/openssl/ssl.h ] || need_apt+=(libssl-dev)
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc)
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
command -v arm-none-eabi-gcc >/dev/null 2>&1 || need_apt+=(gcc-arm-none-eabi)
[ -f /usr/lib/arm-none-eabi/newlib/libc_nano.a ] || need_apt+=(libnewlib-arm-none-eabi)
command -v qemu-system-arm >/dev/null 2>&1 || need_apt+=(qemu-system-arm)
# detools (scripts/mkdelta.py, tests/delta_detools.rs) is pip-installed below; pip and Python's
# headers (detools builds a C extension) come from apt
python3 -c 'import pip' >/dev/null 2>&1 || need_apt+=(python3-pip)
python3 -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
    >/dev/null 2>&1 || need_apt+=(python3-dev)
# the openssl command: tests/tls_mbedtls.rs makes an RSA test PKI with it
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# The delta patch tool, pinned (docs/delta.md). Debian's own python3 refuses a plain pip install
# (externally managed); the tests need it in the python3 they run.
if ! python3 -c 'import sys, detools; sys.exit(detools.__version__ != "0.53.0")' >/dev/null 2>&1; then
    echo "setup: installing detools 0.53.0 (pip)"
    python3 -m pip install -q detools==0.53.0 2>/dev/null \
        || python3 -m pip install -q --break-system-packages detools==0.53.0
fi

for target in thumbv7em-none-eabihf thumbv7m-none-eabi; do
    if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
        echo "setup: adding Rust target $target"
        rustup target add "$target"
    fi
done
# The FreeRTOS firmware's C sources (FreeRTOS kernel, lwIP, mbedTLS) come from crates pinned by
# c_examples/freertos/sources/Cargo.lock; fetched now so the first firmware build needs no network.
cargo fetch --locked --manifest-path "$(dirname "$0")/../c_examples/freertos/sources/Cargo.toml" >/dev/null
# Debian starts no service in a container; make sure no stray broker holds the tests' ports.
echo "setup: ok (mosquitto $(/usr/sbin/mosquitto -h 2>/dev/null | head -1 | awk '{print $3}'), $(cmake --version | head -1))"
