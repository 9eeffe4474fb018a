#!/usr/bin/env bash
# The FreeRTOS + lwIP + mbedTLS firmware (c_examples/freertos) in QEMU's mps2-an386 with its
# emulated LAN9118 Ethernet on QEMU's user network, with the Linux demo's command line:
#
#   scripts/rtos-demo.sh [--device-info F] [--product-id ID] [--device-name N]
#                        [--device-secret B64] [--host H] [--port P] --version V --dir DIR
#                        [--once] [--tls] [--ca FILE]
#
# Builds the firmware when needed (target/rtos/firmware; RTOS_FIRMWARE=path.elf runs that one
# instead), writes the settings to DIR/rtos-settings and execs QEMU, so a signal to this script
# reaches the emulated device: killing it is a power cut. DIR keeps the emulated flash
# (firmware.bin, ota_record.0/.1, running_version, boot_pending) across runs. Loopback hosts
# (127.x, localhost, ::1), on the command line or in a firmware URL, are the host's loopback,
# which the guest reaches as 10.0.2.2; TLS still verifies the name that was given.
# Other names (the real cloud's broker, COS hosts) are resolved through QEMU's DNS forwarder
# (10.0.2.3); the tests use loopback names only, so they never send a DNS query. For https
# firmware URLs from the real cloud, pass the public root that signs the COS host with --ca.
# --once: exit 0 after an update completed, 1 after one failed (3: the firmware could not start).
# TLS trusts the --ca file and Tencent's IoT CA (certs/tencent_iot_ca.pem).
# RTOS_ICOUNT=1 runs QEMU with -icount shift=0 (one instruction per virtual nanosecond, for
# deterministic instruction counts: scripts/bench-rtos.sh); RTOS_BENCH=1 makes the firmware print
# the download's busy time and time MD5 alone over 1 MiB after the update.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() {
    sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

info="" pid="" dn="" secret="" host="" port="" version="" dir="" once=0 tls=0 ca=""
while [ $# -gt 0 ]; do
    case "$1" in
        --device-info) info="${2:?}"; shift 2 ;;
        --product-id) pid="${2:?}"; shift 2 ;;
        --device-name) dn="${2:?}"; shift 2 ;;
        --device-secret) secret="${2:?}"; shift 2 ;;
        --host) host="${2:?}"; shift 2 ;;
        --port) port="${2:?}"; shift 2 ;;
        --version) version="${2:?}"; shift 2 ;;
        --dir) dir="${2:?}"; shift 2 ;;
        --once) once=1; shift ;;
        --tls) tls=1; shift ;;
        --ca) ca="${2:?}"; shift 2 ;;
        -h|--help) usage ;;
        *) echo "rtos-demo: unknown argument $1" >&2; usage ;;
    esac
done
[ -n "$version" ] && [ -n "$dir" ] || { echo "rtos-demo: --version and --dir are required" >&2; usage; }

if [ -n "$info" ]; then
    # The three fields of Tencent's device_info.json; the flags override them.
    read -r ipid idn isecret < <(python3 - "$info" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(d.get("productId", "-"), d.get("deviceName", "-"),
      (d.get("key_deviceinfo") or {}).get("deviceSecret", "-"))
PY
)
    [ -n "$pid" ] || pid="$ipid"
    [ -n "$dn" ] || dn="$idn"
    [ -n "$secret" ] || secret="$isecret"
fi
for v in pid dn secret; do
    if [ -z "${!v}" ] || [ "${!v}" = "-" ]; then
        echo "rtos-demo: no ${v/pid/product id} (--device-info or the flags)" >&2; exit 2
    fi
done

mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
trust=""
if [ "$tls" = 1 ] || [ -n "$ca" ]; then
    trust="$dir/rtos-trust.pem"
    { [ -z "$ca" ] || cat "$ca"; cat "$root/certs/tencent_iot_ca.pem"; } > "$trust.tmp"
    mv "$trust.tmp" "$trust"
fi
settings="$dir/rtos-settings"
umask 077
cat > "$settings.tmp" <<SETTINGS
product_id=$pid
device_name=$dn
device_secret=$secret
host=$host
port=$port
version=$version
dir=$dir
once=$once
tls=$tls
ca=$trust
bench=${RTOS_BENCH:-0}
SETTINGS
mv "$settings.tmp" "$settings"

elf="${RTOS_FIRMWARE:-}"
if [ -z "$elf" ]; then
    build="$root/target/rtos/firmware"
    if [ ! -f "$build/CMakeCache.txt" ]; then
        cmake -S "$root/c_examples/freertos" -B "$build" \
            -DCMAKE_TOOLCHAIN_FILE="$root/cmake/arm-none-eabi.cmake" >&2
    fi
    cmake --build "$build" -j2 >&2
    elf="$build/rtos_firmware.elf"
fi

icount=()
[ "${RTOS_ICOUNT:-0}" = 1 ] && icount=(-icount shift=0)
exec qemu-system-arm -M mps2-an386 -cpu cortex-m4 -kernel "$elf" \
    -display none -monitor none -serial stdio \
    -nic user,model=lan9118 \
    -semihosting-config "enable=on,target=native,arg=${settings//,/,,}" \
    "${icount[@]}"
