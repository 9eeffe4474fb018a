#!/usr/bin/env bash
# The zero-install demo: builds the library and the C demo (CMake), starts the IoT Explorer
# stand-in with its embedded MQTT broker and firmware server, and lets the C demo perform a
# complete update of an 8 MiB image, including the simulated reboot and the `done` report.
#
#   DEMO_TLS=1 scripts/demo.sh      the same over MQTT/TLS and an https firmware URL, with the
#                                   library's built-in TLS (certificates from a test CA)
#   DEMO_TLS=host scripts/demo.sh   ... with the platform's TLS (OpenSSL in posix_platform.c)
set -euo pipefail
cd "$(dirname "$0")/.."

size=${DEMO_IMAGE_SIZE:-8388608}
work=$(mktemp -d /tmp/qcloud-ota-demo.XXXXXX)
standin_pid=""
cleanup() {
    [ -n "$standin_pid" ] && kill "$standin_pid" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT

scripts/setup.sh   # cmake and friends on a fresh machine
echo "== building the library and the C demo (CMake)"
demo=$(scripts/build-demo.sh | tail -1)
echo "== building the IoT Explorer stand-in"
cargo build --release --quiet -p qcloud-ota-standin
standin=target/release/standin

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
standin_tls=() demo_tls=() device_port=$port
case ${DEMO_TLS:-} in
    "") ;;
    1|host)
        device_port=$(free_port)
        standin_tls=(--tls-dir "$work/pki" --mqtt-tls-port "$device_port")
        demo_tls=(--tls --ca "$work/pki/ca.pem")
        [ "$DEMO_TLS" = host ] && demo_tls+=(--host-tls)
        ;;
    *) echo "DEMO_TLS must be 1 or host" >&2; exit 2 ;;
esac
echo "== starting the stand-in (embedded broker on 127.0.0.1:$port${DEMO_TLS:+, TLS on $device_port})"
"$standin" --embedded-broker "$port" "${standin_tls[@]}" \
    --product-id DEMOPROD01 --device-name demo-device --device-secret MTIzNDU2Nzg5MGFiY2RlZg== \
    --target-version 2.0.0 --image-size "$size" --seed 1 \
    --write-image "$work/expected.bin" --write-device-info "$work/device_info.json" \
    --exit-when-done --timeout 300 > "$work/standin.log" 2>&1 &
standin_pid=$!
for _ in $(seq 100); do
    [ -f "$work/device_info.json" ] && grep -q "MQTT_PORT=" "$work/standin.log" 2>/dev/null && break
    sleep 0.1
done

mkdir -p "$work/device"
echo "== running the C demo: $demo"
"$demo" --device-info "$work/device_info.json" --host 127.0.0.1 --port "$device_port" \
    --version 1.0.0 --dir "$work/device" --once "${demo_tls[@]}"

echo "== waiting for the stand-in's verdict"
status=0
wait "$standin_pid" || status=$?
standin_pid=""
cat "$work/standin.log" | tail -20
if cmp -s "$work/expected.bin" "$work/device/firmware.bin"; then
    echo "== slot is byte-identical to the served image ($size bytes)"
else
    echo "== slot differs from the served image"; status=1
fi
echo "== running version now: $(cat "$work/device/running_version")"
[ "$status" = 0 ] && echo "DEMO OK" || echo "DEMO FAILED"
rm -rf "$work"
exit "$status"
