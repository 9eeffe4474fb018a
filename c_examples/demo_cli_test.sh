#!/usr/bin/env bash
# Command-line and start-up checks for ota_demo that need no broker:
#   usage errors exit 2, device_info.json is read, flags override it, DIR/running_version overrides
#   --version, and a refused broker is retried (not fatal) until SIGTERM, which exits 143.
# usage: demo_cli_test.sh path/to/ota_demo
set -u
demo=${1:?usage: demo_cli_test.sh path/to/ota_demo}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0

expect() { # expect STATUS DESCRIPTION -- command...
    local want=$1 what=$2; shift 3
    "$@" >"$work/out" 2>&1
    local got=$?
    if [ "$got" != "$want" ]; then
        echo "FAIL: $what: exit $got, want $want"; sed 's/^/    /' "$work/out" | head -20
        fails=$((fails + 1))
    else
        echo "ok:   $what"
    fi
}
contains() { # contains TEXT DESCRIPTION: the last command's output has TEXT
    if grep -qF -- "$1" "$work/out"; then echo "ok:   $2"; else
        echo "FAIL: $2: no '$1' in output"; sed 's/^/    /' "$work/out" | head -40
        fails=$((fails + 1))
    fi
}

id=(--product-id ABCDEFGHIJ --device-name dev1 --device-secret aGVsbG8gd29ybGQ=)
expect 2 "no arguments" -- "$demo"
contains "usage: ota_demo" "usage printed"
expect 2 "missing --version" -- "$demo" "${id[@]}" --dir "$work/d"
expect 2 "missing --dir" -- "$demo" "${id[@]}" --version 1.0.0
expect 2 "unknown option" -- "$demo" "${id[@]}" --version 1.0.0 --dir "$work/d" --bogus
expect 2 "bad port" -- "$demo" "${id[@]}" --version 1.0.0 --dir "$work/d" --port 70000
expect 2 "option without value" -- "$demo" "${id[@]}" --dir "$work/d" --version
expect 2 "no identity" -- "$demo" --version 1.0.0 --dir "$work/d"
expect 0 "--help" -- "$demo" --help
expect 2 "missing device_info.json" -- "$demo" --device-info "$work/nope.json" --version 1 --dir "$work/d"
expect 2 "--cert without --key" -- "$demo" "${id[@]}" --version 1 --dir "$work/d" --cert "$work/c.pem"
contains "--cert and --key go together" "says what is missing"
expect 2 "unreadable --cert" -- "$demo" --product-id ABCDEFGHIJ --device-name dev1 --version 1 \
    --dir "$work/d" --cert "$work/nope.pem" --key "$work/nope.key"
contains "cannot read --cert" "names the certificate file"

cat >"$work/no_secret.json" <<'EOF'
{"auth_mode":"KEY","productId":"FILEPID001","deviceName":"filedev","key_deviceinfo":{}}
EOF
expect 2 "device_info.json without deviceSecret" -- \
    "$demo" --device-info "$work/no_secret.json" --version 1 --dir "$work/d"
contains "deviceSecret" "names the missing field"

cat >"$work/device_info.json" <<'EOF'
{
    "auth_mode": "KEY",
    "productId": "FILEPID001",
    "deviceName": "filedev",
    "key_deviceinfo": { "deviceSecret": "c2VjcmV0c2VjcmV0" },
    "subDev": { "subdev_list": [ { "productId": "WRONG", "deviceName": "wrong" } ] }
}
EOF
# A valid identity and an unreachable broker: the demo keeps retrying; SIGTERM ends it with 143.
expect 143 "refused broker is retried until SIGTERM" -- timeout --preserve-status -s TERM 4 \
    "$demo" --device-info "$work/device_info.json" --device-name flagdev \
    --host 127.0.0.1 --port 1 --version 1.0.0 --dir "$work/d"
contains "FILEPID001/flagdev" "identity from the file, device name from the flag"
contains "127.0.0.1:1" "broker address shown"
contains "running  1.0.0" "running version from --version"
contains "SIGTERM" "stops on SIGTERM"
n=$(grep -c "connect" "$work/out")
if [ "$n" -ge 2 ]; then echo "ok:   connection attempts logged ($n lines)"; else
    echo "FAIL: expected repeated connection attempts"; cat "$work/out"; fails=$((fails + 1)); fi

echo "2.0.0" >"$work/d/running_version"
expect 143 "running_version file" -- timeout --preserve-status -s TERM 2 \
    "$demo" --device-info "$work/device_info.json" --host 127.0.0.1 --port 1 \
    --version 1.0.0 --dir "$work/d"
contains "running  2.0.0" "DIR/running_version overrides --version"

expect 130 "SIGINT exits 130" -- timeout --preserve-status -s INT 2 \
    "$demo" --device-info "$work/device_info.json" --host 127.0.0.1 --port 1 \
    --version 1.0.0 --dir "$work/d"

expect 3 "ota_init refuses a version that is not UTF-8" -- \
    "$demo" "${id[@]}" --version $'1.0\xff' --dir "$work/e"
contains "ota_init failed" "ota_init failure explained"

if [ "$fails" -ne 0 ]; then echo "demo_cli_test: $fails failure(s)"; exit 1; fi
echo "demo_cli_test: ok"
