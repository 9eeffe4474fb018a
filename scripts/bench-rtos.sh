#!/usr/bin/env bash
# Figures of the FreeRTOS + lwIP + mbedTLS firmware (c_examples/freertos) in QEMU mps2-an386
# (benchmarks, not tests): flash and RAM per component, the OTA task's stack high-water mark and
# the FreeRTOS heap's lowest free level (plain and TLS), instructions per image byte of the whole
# download path against MD5 alone on the same emulated Cortex-M4 (QEMU -icount shift=0: one
# instruction per virtual nanosecond; the firmware subtracts the time it slept in the idle task),
# and the wall time of a 1 MiB update (plain and TLS). Prints Markdown and writes it to
# $BENCH_OUT/rtos.md.
#
#   scripts/bench-rtos.sh                  # about 2-4 minutes on 2 cores after the build
#   BENCH_OUT=bench/out BENCH_STANDIN=path/to/standin
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${BENCH_OUT:-$ROOT/bench/out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d /tmp/qcloud-ota-bench-rtos.XXXXXX)
SIZE=1048576
PID_=BENCHRTOS1
DN=bench-rtos
SECRET=MTIzNDU2Nzg5MGFiY2RlZg==
standin_pid=""
cleanup() {
    if [ -n "$standin_pid" ]; then kill "$standin_pid" 2>/dev/null || true; wait "$standin_pid" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- build --------------------------------------------------------------------------------------
BUILD=$ROOT/target/rtos/firmware
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S c_examples/freertos -B "$BUILD" -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/arm-none-eabi.cmake" >/dev/null
fi
timeout 1200 cmake --build "$BUILD" -j2 >/dev/null
export RTOS_FIRMWARE=$BUILD/rtos_firmware.elf
STANDIN=${BENCH_STANDIN:-}
if [ -z "$STANDIN" ]; then
    timeout 900 cargo build --release --quiet -p qcloud-ota-standin
    STANDIN=$ROOT/target/release/standin
fi

# ---- flash and RAM per component, from the linker map -------------------------------------------
python3 - "$BUILD/rtos_firmware.map" >"$WORK/size.md" <<'PY'
import re, sys
groups = [
    ("FreeRTOS kernel", ("libfreertos_kernel.a",)),
    ("lwIP", ("liblwip.a",)),
    ("mbedTLS", ("libmbedtls_ota.a",)),
    ("qcloud-ota (the library)", ("libqcloud_ota.a",)),
    ("platform glue (ota_lwip_platform.c, tls_mbedtls.c, emu_flash.c)",
     ("ota_lwip_platform.c", "tls_mbedtls.c", "emu_flash.c")),
    ("application (main.c)", ("main.c",)),
    ("board (startup, LAN9118 driver, console, semihosting)",
     ("startup_mps2.c", "lan9118_netif.c", "console.c", "semihost.c")),
    ("bench only (mbedTLS md5.c, the MD5 reference)", ("libbench_md5.a",)),
    ("C library, libgcc", ("libc", "libg", "libgcc", "libnosys", "libm")),
]
flash = {g: 0 for g, _ in groups}; ram = {g: 0 for g, _ in groups}
other_f = other_r = 0
lines = open(sys.argv[1]).read().split("\n")
start = next(i for i, l in enumerate(lines) if l.startswith("Linker script and memory map"))
pend = None
for l in lines[start:]:
    m = re.match(r"^ (\.[\w.]+|COMMON)\s*$", l)
    if m:
        pend = m.group(1); continue
    m = re.match(r"^ (\.[\w.]+|COMMON)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$", l)
    if not m:
        pend = None; continue
    name = m.group(1) or pend; pend = None
    if name is None: continue
    size = int(m.group(3), 16); obj = m.group(4)
    if size == 0 or name.startswith(".debug") or name.startswith(".comment") or name.startswith(".ARM.attributes"):
        continue
    if name.startswith((".text", ".rodata", ".ARM.exidx", ".init", ".fini")):
        f, r = size, 0
    elif name.startswith((".data", ".got")):
        f, r = size, size
    elif name.startswith((".bss", "COMMON")):
        f, r = 0, size
    else:
        continue
    for g, keys in groups:
        if any(k in obj for k in keys):
            flash[g] += f; ram[g] += r; break
    else:
        other_f += f; other_r += r
print("| component | flash (bytes) | static RAM (bytes) |")
print("|---|---:|---:|")
for g, _ in groups:
    print(f"| {g} | {flash[g]:,} | {ram[g]:,} |")
if other_f or other_r:
    print(f"| other (vector table, linker) | {other_f:,} | {other_r:,} |")
print(f"| **total** | **{sum(flash.values()) + other_f:,}** | **{sum(ram.values()) + other_r:,}** |")
PY

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# One 1 MiB update through scripts/rtos-demo.sh; $1 plain|tls, $2 wall|icount. Leaves the
# firmware's output in $WORK/$1-$2.log and the wall seconds in $WORK/$1-$2.secs.
run_update() {
    local mode=$1 kind=$2 log=$OUT/rtos-$1-$2.log port args=() env=() started ended
    rm -rf "$WORK/dev" "$WORK/pki"
    port=$(free_port)
    local tls=()
    [ "$mode" = tls ] && tls=(--tls-dir "$WORK/pki" --url-host localhost)
    timeout 600 "$STANDIN" --embedded-broker "$port" "${tls[@]}" --product-id "$PID_" \
        --device-name "$DN" --device-secret "$SECRET" --target-version 2.0.0 \
        --image-size "$SIZE" --seed 1 --exit-when-done --timeout 500 >"$WORK/standin.log" 2>&1 &
    standin_pid=$!
    for _ in $(seq 300); do
        if grep -q '^MQTT_PORT=' "$WORK/standin.log" 2>/dev/null \
            && { [ "$mode" = plain ] || grep -q 'MQTT over TLS at' "$WORK/standin.log"; }; then
            break
        fi
        kill -0 "$standin_pid" 2>/dev/null || { cat "$WORK/standin.log" >&2; exit 1; }
        sleep 0.1
    done
    args=(--product-id "$PID_" --device-name "$DN" --device-secret "$SECRET" --version 1.0.0
          --dir "$WORK/dev" --once)
    if [ "$mode" = tls ]; then
        local tport
        tport=$(sed -n 's/^standin: MQTT over TLS at 127.0.0.1:\([0-9]*\).*/\1/p' "$WORK/standin.log")
        args+=(--host localhost --port "$tport" --tls --ca "$WORK/pki/ca.pem")
    else
        args+=(--host 127.0.0.1 --port "$port")
    fi
    [ "$kind" = icount ] && env=(RTOS_ICOUNT=1 RTOS_BENCH=1)
    started=$(date +%s.%N)
    env "${env[@]}" timeout 900 scripts/rtos-demo.sh "${args[@]}" >"$log" 2>&1 \
        || { tail -30 "$log" >&2; echo "bench-rtos: $mode $kind update failed" >&2; exit 1; }
    ended=$(date +%s.%N)
    echo "$started $ended" | awk '{printf "%.1f\n", $2 - $1}' >"$WORK/$mode-$kind.secs"
    wait "$standin_pid" || { tail -20 "$WORK/standin.log" >&2; echo "bench-rtos: stand-in failed" >&2; exit 1; }
    standin_pid=""
}

figure() { # the largest value of "figure NAME=V" in a log (both boots print their figures)
    sed -n "s/^figure $2=\([0-9]*\).*/\1/p" "$1" | sort -n | tail -1
}
figure_min() { # the smallest
    sed -n "s/^figure $2=\([0-9]*\).*/\1/p" "$1" | sort -n | head -1
}

REPS=${BENCH_REPS:-3}
for mode in plain tls; do
    for rep in $(seq "$REPS"); do
        run_update "$mode" wall
        cp "$OUT/rtos-$mode-wall.log" "$OUT/rtos-$mode-wall-$rep.log"
        cat "$WORK/$mode-wall.secs" >>"$WORK/$mode-wall.all"
    done
    sort -n "$WORK/$mode-wall.all" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}' >"$WORK/$mode-wall.secs"
    run_update "$mode" icount
done

{
    echo "### FreeRTOS + lwIP + mbedTLS firmware (QEMU mps2-an386, Cortex-M4F, arm-none-eabi-gcc -Os)"
    echo
    echo "Flash and static RAM per component (rtos_firmware.map; the FreeRTOS heap, 128 KiB, is"
    echo "the kernel's .bss and holds the task stacks, lwIP's mailboxes and mbedTLS's buffers):"
    echo
    cat "$WORK/size.md"
    echo
    echo "| 1 MiB update | plain | TLS (MQTT/TLS + https, mbedTLS) |"
    echo "|---|---:|---:|"
    echo "| OTA task stack high-water mark (bytes used of 8192) | $(figure "$OUT/rtos-plain-wall.log" ota_stack_used) | $(figure "$OUT/rtos-tls-wall.log" ota_stack_used) |"
    echo "| FreeRTOS heap lowest free level (bytes of 131072) | $(figure_min "$OUT/rtos-plain-wall.log" heap_min_free) | $(figure_min "$OUT/rtos-tls-wall.log" heap_min_free) |"
    for m in plain tls; do
        b=$(figure "$OUT/rtos-$m-icount.log" download_bytes)
        ns=$(( $(figure "$OUT/rtos-$m-icount.log" download_busy_ticks) * 40 ))
        mb=$(figure "$OUT/rtos-$m-icount.log" md5_bytes)
        mns=$(( $(figure "$OUT/rtos-$m-icount.log" md5_busy_ticks) * 40 ))
        eval "ipb_$m=\$(awk -v n=$ns -v b=$b 'BEGIN{printf \"%.1f\", n/b}')"
        eval "md5_$m=\$(awk -v n=$mns -v b=$mb 'BEGIN{printf \"%.1f\", n/b}')"
    done
    echo "| instructions per image byte, whole download path (-icount shift=0) | $ipb_plain | $ipb_tls |"
    echo "| instructions per byte, MD5 alone (mbedTLS md5.c -O2, same core) | $md5_plain | $md5_tls |"
    echo "| ratio | $(awk -v a=$ipb_plain -v b=$md5_plain 'BEGIN{printf "%.2f", a/b}') | $(awk -v a=$ipb_tls -v b=$md5_tls 'BEGIN{printf "%.2f", a/b}') |"
    echo "| wall time of the update, QEMU start to \`done\` after the reboot (s, median of $REPS, no -icount) | $(cat "$WORK/plain-wall.secs") | $(cat "$WORK/tls-wall.secs") |"
} | tee "$OUT/rtos.md"
