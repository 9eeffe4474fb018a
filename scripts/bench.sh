#!/usr/bin/env bash
# Benchmarks (not tests): download throughput against curl (over HTTP from nginx, and over HTTPS
# from the stand-in with the built-in TLS), CPU per image byte against MD5 alone, memory (heap with TLS, x86-64 stack, Cortex-M
# stack under QEMU), Cortex-M flash, and how they scale with the image size. Prints Markdown tables
# and writes them to $BENCH_OUT/results.md. Needs root for apt-get when a tool is missing (nginx
# included: Debian's nginx-light, run as this script's own process on 127.0.0.1, never a service).
#
#   scripts/bench.sh                      # everything, about 5-8 minutes on 2 cores
#   BENCH_REPS=3 scripts/bench.sh         # fewer runs per figure (default 5)
#   BENCH_SIZES_MIB="1 16 64"             # scaling sizes; the largest is the throughput figure
#   BENCH_CPU_MIB="4 8"                   # the two image sizes of the callgrind slope
#   BENCH_ONLY="throughput cpu memory flash rtos"   # a subset
#   BENCH_OUT=bench/out                   # results, logs, callgrind files
#   BENCH_STANDIN=path/to/standin         # use this stand-in instead of building it
#   BENCH_OTA_BENCH=path/to/ota_bench     # use this device program (e.g. with another platform)
#   BENCH_VARIANTS="defaults demo readback buf4k tls"   # the runs at the largest size (also:
#                                         # demo_readback, ota_demo --readback)
#
# Methods are described in bench/README.md. Nothing here changes the library or its tests.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

REPS=${BENCH_REPS:-5}
SIZES_MIB=${BENCH_SIZES_MIB:-"1 16 64"}
CPU_MIB=${BENCH_CPU_MIB:-"4 8"}
ONLY=${BENCH_ONLY:-"throughput cpu memory flash rtos"}
VARIANTS=${BENCH_VARIANTS:-"defaults demo readback buf4k tls"}
OUT=${BENCH_OUT:-$ROOT/bench/out}
MIB=1048576
PID_=BENCHPROD1
DN=bench-dev
SECRET=MTIzNDU2Nzg5MGFiY2RlZg==

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
SHM=$(mktemp -d /dev/shm/qcloud-ota-bench.XXXXXX)
standin_pid=""
nginx_pid=""
cleanup() {
    if [ -n "$standin_pid" ]; then kill "$standin_pid" 2>/dev/null || true; wait "$standin_pid" 2>/dev/null || true; fi
    if [ -n "$nginx_pid" ]; then kill "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true; fi
    rm -rf "$SHM"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

want() { case " $ONLY " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
say() { echo "== $*" >&2; }

# ---- tools ---------------------------------------------------------------------------------------
missing=()
command -v curl >/dev/null || missing+=(curl)
command -v valgrind >/dev/null || missing+=(valgrind)
command -v cc >/dev/null || missing+=(gcc)
[ -x /usr/bin/time ] || missing+=(time)
command -v c++filt >/dev/null || missing+=(binutils)
command -v python3 >/dev/null || missing+=(python3)
if want memory; then
    command -v qemu-system-arm >/dev/null || missing+=(qemu-system-arm)
    command -v cmake >/dev/null || missing+=(cmake)
fi
if want flash || want memory; then
    command -v arm-none-eabi-gcc >/dev/null || missing+=(gcc-arm-none-eabi binutils-arm-none-eabi)
    [ -e /usr/lib/arm-none-eabi/newlib/thumb/v7e-m+fp/hard/libc_nano.a ] || missing+=(libnewlib-arm-none-eabi)
fi
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    timeout 600 apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# nginx serves the timed downloads (the stand-in's own server is slower than curl can read).
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if want throughput && [ ! -x "$NGINX" ]; then
    timeout 600 apt-get update -qq
    pkg=nginx-light # the smallest build; plain nginx where a release has no nginx-light
    apt-cache policy nginx-light 2>/dev/null | grep -q 'Candidate: [0-9]' || pkg=nginx
    say "installing $pkg"
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq "$pkg" >/dev/null
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
fi
if { want flash || want memory; } && ! rustup target list --installed 2>/dev/null | grep -qx thumbv7em-none-eabihf; then
    timeout 600 rustup target add thumbv7em-none-eabihf
fi

# ---- builds --------------------------------------------------------------------------------------
say "building libqcloud_ota.a (host, release), the stand-in, bench/ota_bench, bench/md5"
timeout 900 cargo build --release --lib --quiet
if [ -n "${BENCH_STANDIN:-}" ]; then
    STANDIN=$BENCH_STANDIN          # a stand-in built elsewhere (e.g. to bench a patched library)
else
    timeout 900 cargo build --release --quiet -p qcloud-ota-standin
    STANDIN=$ROOT/target/release/standin
fi
BENCH=${BENCH_OTA_BENCH:-$OUT/ota_bench}
if [ -z "${BENCH_OTA_BENCH:-}" ]; then
    timeout 300 cc -O2 -g -std=c99 -Wall -Wextra -I c_examples -I include \
        bench/ota_bench.c c_examples/posix_platform.c target/release/libqcloud_ota.a \
        -lpthread -ldl -lm -o "$BENCH"
fi
(cd bench/md5 && timeout 600 cargo build --release --quiet && timeout 600 cargo build --profile release-o3 --quiet)
MD5_S=$ROOT/bench/md5/target/release/md5_alone
MD5_O3=$ROOT/bench/md5/target/release-o3/md5_alone

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# nginx as this script's own process: its config, pid file and logs under target/bench-nginx, the
# images it serves on the tmpfs ($SHM/www), listening on 127.0.0.1 only. Sets NGX_PORT.
NGX_DIR=$ROOT/target/bench-nginx
DOCROOT=$SHM/www
start_nginx() {
    local t
    mkdir -p "$NGX_DIR" "$DOCROOT"
    chmod 755 "$SHM" "$DOCROOT" # started as root, nginx's worker reads as nobody
    NGX_PORT=$(free_port)
    {
        echo "daemon off;"
        echo "worker_processes 1;"
        echo "pid $NGX_DIR/nginx.pid;"
        echo "error_log $NGX_DIR/error.log warn;"
        echo "events { worker_connections 64; }"
        echo "http {"
        echo "    access_log off;"
        echo "    sendfile on;"
        echo "    tcp_nopush on;"
        echo "    default_type application/octet-stream;"
        for t in client_body proxy fastcgi uwsgi scgi; do echo "    ${t}_temp_path $NGX_DIR/$t;"; done
        echo "    server { listen 127.0.0.1:$NGX_PORT; root $DOCROOT; }"
        echo "}"
    } >"$NGX_DIR/nginx.conf"
    "$NGINX" -p "$NGX_DIR" -e "$NGX_DIR/error.log" -c "$NGX_DIR/nginx.conf" >"$NGX_DIR/stdout.log" 2>&1 &
    nginx_pid=$!
    for t in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$NGX_PORT/" && return 0
        kill -0 "$nginx_pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$NGX_DIR/error.log" "$NGX_DIR/stdout.log" >&2 2>/dev/null || true
    echo "bench: nginx did not start" >&2
    exit 1
}

# Start a stand-in serving SIZE bytes (one task: one device update). Sets PORT, URL, MD5, LOG.
# With a second argument `tls` it serves the image over HTTPS (its test CA: $SHM/pki/ca.pem, CA
# then set) and offers an https URL; MQTT stays plain. Without it, the image also goes to nginx
# under the URL's path: NGX_URL, and HTTP_PORT=(--http-port NGX_PORT) for ota_bench.
start_standin() {
    local size=$1 tls=()
    PORT=$(free_port)
    LOG=$SHM/standin.log
    CA=""
    rm -rf "$SHM/dev" "$SHM/slot.curl"
    mkdir -p "$SHM/dev"
    # Emptied here, not only by the background job's redirection: that may run after the wait
    # below has already read the previous stand-in's MQTT_PORT line from it.
    : >"$LOG"
    if [ "${2:-}" = tls ]; then
        tls=(--tls-dir "$SHM/pki")
        CA=$SHM/pki/ca.pem
    fi
    timeout 300 "$STANDIN" --embedded-broker "$PORT" "${tls[@]}" --product-id "$PID_" --device-name "$DN" \
        --device-secret "$SECRET" --target-version 2.0.0 --image-size "$size" --seed 1 \
        --write-image "$SHM/image.bin" --exit-when-done --timeout 240 >"$LOG" 2>&1 &
    standin_pid=$!
    local i
    for i in $(seq 600); do
        grep -q '^MQTT_PORT=' "$LOG" 2>/dev/null && break
        kill -0 "$standin_pid" 2>/dev/null || { cat "$LOG" >&2; echo "bench: stand-in died" >&2; exit 1; }
        [ "$i" -lt 600 ] || { cat "$LOG" >&2; echo "bench: the stand-in did not start within 60 s" >&2; exit 1; }
        sleep 0.1
    done
    URL=$(sed -n 's/^standin: firmware server \(http[^ ]*\) .*/\1/p' "$LOG")
    MD5=$(sed -n 's/^standin: firmware server .* md5 \([0-9a-f]*\)).*/\1/p' "$LOG")
    [ -n "$URL" ] && [ -n "$MD5" ] || { cat "$LOG" >&2; echo "bench: no URL from the stand-in" >&2; exit 1; }
    HTTP_PORT=() NGX_URL=""
    if [ -z "$CA" ] && [ -n "$nginx_pid" ]; then
        local path=/${URL#http://*/}
        mkdir -p "$DOCROOT${path%/*}"
        mv -f "$SHM/image.bin" "$DOCROOT$path"
        chmod 644 "$DOCROOT$path"
        NGX_URL=http://127.0.0.1:$NGX_PORT$path
        HTTP_PORT=(--http-port "$NGX_PORT")
    fi
    rm -f "$SHM/image.bin"
}

# The stand-in exits 0 once the device reported done and the new version with no deviation.
stop_standin() {
    local rc=0
    wait "$standin_pid" || rc=$?
    standin_pid=""
    if [ "$rc" != 0 ]; then
        tail -20 "$LOG" >&2
        echo "bench: the stand-in reported a failure ($rc)" >&2
        exit 1
    fi
}

# curl -s [--cacert CA] URL | tee SLOT | md5sum, timed around the whole pipeline (ms). Checks the
# digest. From nginx when it serves the image, else from the stand-in.
curl_once() {
    local t0 t1 got
    t0=$(date +%s%N)
    local ca=()
    [ -n "$CA" ] && ca=(--cacert "$CA")
    got=$(timeout 120 curl -s "${ca[@]}" "${NGX_URL:-$URL}" | tee "$SHM/slot.curl" | md5sum)
    t1=$(date +%s%N)
    [ "${got%% *}" = "$MD5" ] || { echo "bench: curl got $got, want $MD5" >&2; exit 1; }
    rm -f "$SHM/slot.curl"
    echo $(((t1 - t0) / 1000)) | awk '{printf "%.1f", $1 / 1000}'
}

# The server's own ceiling: curl -s -o /dev/null URL (no tee, no md5sum), ms.
ceiling_once() {
    local t0 t1
    t0=$(date +%s%N)
    timeout 120 curl -s -o /dev/null "${NGX_URL:-$URL}"
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000)) | awk '{printf "%.1f", $1 / 1000}'
}

device_args() {
    echo --port "$PORT" --product-id "$PID_" --device-name "$DN" --device-secret "$SECRET" --version 1.0.0 --dir "$SHM/dev" --timeout 200
    [ -z "$CA" ] || echo --ca "$CA"
    echo "${HTTP_PORT[@]}"
}

# ---- throughput and scaling --------------------------------------------------------------------
# The plain-HTTP runs download from nginx (the curl pipeline and the device alike): the stand-in
# only plays the cloud over MQTT. The HTTPS row stays on the stand-in's HTTPS server.
if want throughput; then
    : >"$OUT/runs.txt"
    start_nginx
    say "nginx $("$NGINX" -v 2>&1 | sed 's/.*\///') on 127.0.0.1:$NGX_PORT (pid $nginx_pid)"
    big=0
    for s in $SIZES_MIB; do [ "$s" -gt "$big" ] && big=$s; done
    for s in $SIZES_MIB; do
        size=$((s * MIB))
        variants="defaults"
        [ "$s" = "$big" ] && variants=$VARIANTS
        for rep in $(seq "$REPS"); do
            for v in $variants; do
                extra="" tls=""
                case $v in
                    demo) extra="--demo" ;;
                    demo_readback) extra="--demo --readback" ;;
                    readback) extra="--readback" ;;
                    buf4k) extra="--http-buf 4096" ;;
                    tls) tls=tls ;;
                esac
                start_standin "$size" $tls
                ceil=$(ceiling_once)
                cms=$(curl_once)
                # shellcheck disable=SC2046
                res=$(/usr/bin/time -f "maxrss_kb=%M" -o "$SHM/time.txt" timeout 240 "$BENCH" $(device_args) $extra 2>"$SHM/bench.err") \
                    || { cat "$SHM/bench.err" >&2; echo "bench: ota_bench failed" >&2; exit 1; }
                stop_standin
                got=$(md5sum <"$SHM/dev/firmware.bin")
                [ "${got%% *}" = "$MD5" ] || { echo "bench: the slot's MD5 is $got, want $MD5" >&2; exit 1; }
                echo "RUN size=$size variant=$v rep=$rep curl_ms=$cms ceiling_ms=$ceil server=$([ -n "$NGX_URL" ] && echo nginx || echo standin) $(tail -1 "$SHM/time.txt") ${res#RESULT }" >>"$OUT/runs.txt"
                say "$s MiB $v #$rep: server alone $ceil ms, curl $cms ms, device $(echo "$res" | sed -n 's/.*verified_ms=\([0-9.]*\).*/\1/p') ms"
            done
        done
        # Stack high-water mark of ota_poll (paint-and-check; slow, so not timed).
        start_standin "$size"
        # shellcheck disable=SC2046
        res=$(timeout 240 "$BENCH" $(device_args) --stack 2>"$SHM/bench.err") || { cat "$SHM/bench.err" >&2; exit 1; }
        stop_standin
        echo "STACK size=$size ${res#RESULT }" >>"$OUT/runs.txt"
    done
    kill "$nginx_pid" 2>/dev/null || true
    wait "$nginx_pid" 2>/dev/null || true
    nginx_pid=""
fi

# ---- CPU per byte (callgrind) --------------------------------------------------------------------
if want cpu; then
    : >"$OUT/cpu.txt"
    ir_of() { sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p' "$1"; }
    for s in $CPU_MIB; do
        size=$((s * MIB))
        for what in update update_rb; do
            extra=""
            [ "$what" = update_rb ] && extra="--readback"
            start_standin "$size"
            # shellcheck disable=SC2046
            timeout 600 valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.$what.$s.out" \
                "$BENCH" $(device_args) $extra >"$SHM/cg.stdout" 2>"$SHM/cg.err" \
                || { cat "$SHM/cg.err" >&2; echo "bench: ota_bench under callgrind failed" >&2; exit 1; }
            stop_standin
            echo "CPU what=$what size=$size ir=$(ir_of "$SHM/cg.err")" >>"$OUT/cpu.txt"
        done
        for what in md5_s md5_o3; do
            bin=$MD5_S
            [ "$what" = md5_o3 ] && bin=$MD5_O3
            timeout 600 valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.$what.$s.out" \
                "$bin" "$size" >/dev/null 2>"$SHM/cg.err"
            echo "CPU what=$what size=$size ir=$(ir_of "$SHM/cg.err")" >>"$OUT/cpu.txt"
        done
        say "callgrind $s MiB done"
    done
    last=$(echo $CPU_MIB | awk '{print $NF}')
    callgrind_annotate --threshold=99 "$OUT/callgrind.update.$last.out" >"$OUT/callgrind_update_top.txt" 2>/dev/null || true
fi

# ---- memory measured by tests: heap peak with the built-in TLS, Cortex-M stack under QEMU -------
if want memory; then
    say "heap peak of an update with the built-in TLS (tests/tls_heap.rs)"
    timeout 900 cargo test --test tls_heap -- --nocapture >"$OUT/tls_heap.txt" 2>&1 \
        || { tail -30 "$OUT/tls_heap.txt" >&2; echo "bench: tests/tls_heap.rs failed" >&2; exit 1; }
    say "Cortex-M4F firmware in QEMU mps2-an386, 1 MiB update (tests/qemu_firmware.rs, 1-2 minutes)"
    timeout 1200 cargo test --test qemu_firmware mps2_an386 -- --nocapture >"$OUT/qemu.txt" 2>&1 \
        || { tail -30 "$OUT/qemu.txt" >&2; echo "bench: tests/qemu_firmware.rs failed" >&2; exit 1; }
fi

# ---- report --------------------------------------------------------------------------------------
{
    echo "## Benchmark results ($(date -u +%Y-%m-%d), $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo ', uncommitted library changes'))"
    echo
    echo "Machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1); reproduce with \`scripts/bench.sh\`."
    echo
    if want throughput || want cpu; then
        python3 bench/summarize.py "$OUT"
    fi
    if want cpu && [ -s "$OUT/callgrind_update_top.txt" ]; then
        echo "Where the update's instructions go (callgrind_annotate, $last MiB, top entries):"
        echo
        echo '```'
        grep -E '^ *[0-9,]+ \( *[0-9.]+%\) ' "$OUT/callgrind_update_top.txt" | grep -v 'PROGRAM TOTALS' | sed -n '1,8{s/ \[.*\]$//;p;}' # sed reads to the end: no SIGPIPE under pipefail
        echo '```'
        echo
    fi
    if want memory; then
        hdr=include/qcloud_ota.h
        # The header picks OTA_CLIENT_SIZE_32 or _64 by pointer size; this bench runs on x86-64.
        csize=$(sed -n 's/^#define OTA_CLIENT_SIZE_64 \([0-9]*\)/\1/p' $hdr)
        rx=$(sed -n 's/^#define OTA_MIN_MQTT_RX \([0-9]*\)/\1/p' $hdr)
        tx=$(sed -n 's/^#define OTA_MIN_MQTT_TX \([0-9]*\)/\1/p' $hdr)
        hb=$(sed -n 's/^#define OTA_MIN_HTTP \([0-9]*\)/\1/p' $hdr)
        rec=$(sed -n 's/^#define OTA_RECORD_SIZE \([0-9]*\)/\1/p' $hdr)
        # runs.txt comes from the throughput runs; without them (BENCH_ONLY=memory) the stack is "-".
        stack=$(sed -n 's/^STACK .*stack_lib=\([0-9]*\).*/\1/p' "$OUT/runs.txt" 2>/dev/null | sort -n | tail -1 || true)
        stack_all=$(sed -n 's/^STACK .*stack_all=\([0-9]*\).*/\1/p' "$OUT/runs.txt" 2>/dev/null | sort -n | tail -1 || true)
        echo "### Memory"
        echo
        echo "| item | bytes | note |"
        echo "|---|---:|---|"
        echo "| heap, no TLS (plain or the host's TLS) | 0 | no allocator in the core; \`tests/zero_alloc.rs\` counts allocations during a whole update against mosquitto |"
        echo "| \`ota_client\` (\`OTA_CLIENT_SIZE_64\`, x86-64) | $csize | upper bound; \`cargo test client_storage_size -- --nocapture\` prints the part in use; 32-bit targets: \`OTA_CLIENT_SIZE_32\` |"
        echo "| buffers, minimum (\`OTA_MIN_MQTT_RX\`/\`_TX\`/\`OTA_MIN_HTTP\`) | $((rx + tx + hb)) | $rx + $tx + $hb |"
        echo "| buffers, README example | 7168 | 2048 + 1024 + 4096 |"
        echo "| buffers, this bench (and the demo) | 21504 | 4096 + 1024 + 16384 |"
        echo "| record copy (host side, twice) | $rec | \`OTA_RECORD_SIZE\` |"
        echo "| \`ota_poll\` stack, x86-64, library frames | ${stack:--} | paint-and-check in bench/ota_bench.c, deepest over 1/16/64 MiB updates; each callback's own frames excluded |"
        echo "| \`ota_poll\` stack, x86-64, with the POSIX callbacks | ${stack_all:--} | the same, including getaddrinfo/printf inside posix_platform.c |"
        # tests/qemu_firmware.rs prints "stack: deepest ota_poll ...: N bytes (ota_init: N; whole
        # firmware: N)" and "RAM: ota_client N + buffers N + ota_poll stack N = N bytes (...); with
        # ota_init's deeper stack: N (...)".
        q=$OUT/qemu.txt
        m_poll=$(sed -n 's/^stack: deepest ota_poll.*: \([0-9]*\) bytes (ota_init: \([0-9]*\); whole firmware: \([0-9]*\)).*/\1/p' "$q")
        m_init=$(sed -n 's/^stack: deepest ota_poll.*: \([0-9]*\) bytes (ota_init: \([0-9]*\); whole firmware: \([0-9]*\)).*/\2/p' "$q")
        m_client=$(sed -n 's/^RAM: ota_client \([0-9]*\) + buffers \([0-9]*\) + .* = \([0-9]*\) bytes.*with ota_init.s deeper stack: \([0-9]*\).*/\1/p' "$q")
        m_bufs=$(sed -n 's/^RAM: ota_client \([0-9]*\) + buffers \([0-9]*\) + .* = \([0-9]*\) bytes.*with ota_init.s deeper stack: \([0-9]*\).*/\2/p' "$q")
        m_ram=$(sed -n 's/^RAM: ota_client \([0-9]*\) + buffers \([0-9]*\) + .* = \([0-9]*\) bytes.*with ota_init.s deeper stack: \([0-9]*\).*/\3/p' "$q")
        m_ram_init=$(sed -n 's/^RAM: ota_client \([0-9]*\) + buffers \([0-9]*\) + .* = \([0-9]*\) bytes.*with ota_init.s deeper stack: \([0-9]*\).*/\4/p' "$q")
        tls_peak=$(sed -n 's/^heap peak of a TLS update.*: \([0-9]*\) bytes$/\1/p' "$OUT/tls_heap.txt")
        echo "| heap, built-in TLS in use (MQTT/TLS + HTTPS) | ${tls_peak:--} | peak of a whole update with rustls, \`cargo test --test tls_heap -- --nocapture\`; the TLS buffer (\`OTA_MIN_TLS_LEN\` per connection) comes from the host and is not counted |"
        echo "| \`ota_poll\` stack, Cortex-M4F (QEMU mps2-an386) | ${m_poll:--} | paint-and-check in the firmware, deepest over a 1 MiB update, with the platform callbacks and any exception frame; \`cargo test --test qemu_firmware mps2_an386 -- --nocapture\` |"
        echo "| \`ota_init\` stack, Cortex-M4F | ${m_init:--} | the same firmware |"
        if [ -n "$m_ram" ]; then
            echo "| **RAM on Cortex-M4F: \`ota_client\` $m_client + buffers $m_bufs + \`ota_poll\` stack $m_poll** | **$m_ram** | budget 8192; with \`ota_init\`'s deeper stack: $m_ram_init (the firmware's client size and buffers, 32-bit) |"
        fi
        if [ -n "$stack" ]; then
            total=$((csize + rx + tx + hb + stack))
            echo "| RAM, minimum buffers + client + x86-64 \`ota_poll\` stack | $total | the same sum with the host's 64-bit frames |"
        fi
        echo
    fi
    if want flash; then
        echo "### Flash"
        echo
        say "cross-building for thumbv7em-none-eabihf"
        # The full MCU build (no std; log lines, host-MQTT bridge, read-back); tests/firmware_size.rs
        # measures every profile.
        timeout 900 cargo build --release --lib --no-default-features --features log,host-mqtt,readback --target thumbv7em-none-eabihf --quiet
        python3 bench/flash_report.py --lib target/thumbv7em-none-eabihf/release/libqcloud_ota.a \
            --header include/qcloud_ota.h --out "$OUT/flash"
        echo
        timeout 900 cargo build --release --lib --no-default-features --target thumbv7em-none-eabihf --quiet
        read -r _ _ _ _ fl < <(python3 bench/flash_report.py --lib target/thumbv7em-none-eabihf/release/libqcloud_ota.a \
            --header include/qcloud_ota.h --out "$OUT/flash-plain" --exclude '^ota_(mqtt_|update_topic)' --share-only)
        echo "The plain MCU build (\`--no-default-features\`: no log lines, no host-MQTT bridge, no read-back): $fl bytes."
        echo
    fi
} | tee "$OUT/results.md"

# ---- further benchmarks --------------------------------------------------------------------------
# Each appends its own section to "$OUT/results.md" here.
# The FreeRTOS + lwIP + mbedTLS firmware in QEMU (its own script; also runs alone).
if want rtos; then
    BENCH_OUT="$OUT" scripts/bench-rtos.sh
    cat "$OUT/rtos.md" >> "$OUT/results.md"
fi
