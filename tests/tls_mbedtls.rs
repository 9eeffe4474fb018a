//! The mbedTLS host-TLS glue of the FreeRTOS example (`c_examples/freertos/tls_mbedtls.c`),
//! built with mbedTLS 2.28 and `mbedtls_config_ota.h` through `mbedtls.cmake`, over real
//! non-blocking POSIX sockets on 127.0.0.1: an HTTPS download from the stand-in and an MQTT
//! CONNECT to mosquitto's TLS listener (ECDSA test CA), an MQTT CONNECT to mosquitto with an RSA
//! certificate (as Tencent's brokers have); an unknown CA, a wrong name (host name or IPv4
//! literal) and an expired certificate refused with their own errors; the would-block paths of
//! the handshake, recv and send, and a send retried with more bytes losing nothing. The C
//! program (`tests/tls_mbedtls/`) counts mbedTLS's heap; the same CMake builds the library for a
//! Cortex-M4F.
mod common;
use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::programs::{root, run, scratch_dir};
use common::tls_cloud_with_task;
use qcloud_ota_standin::{Leaf, TestPki, TlsFront, generate_image};

/// Configures `tests/tls_mbedtls` (once) and builds `target` in it; returns the program. One
/// build at a time: the targets share the mbedTLS library. `TLS_MBEDTLS_USER_CONFIG=/abs/h.h`
/// builds a variant with that header as MBEDTLS_USER_CONFIG_FILE (e.g. smaller record
/// buffers), to try a configuration against the same servers.
fn build(target: &str) -> PathBuf {
    static LOCK: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let mut configured = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let user = std::env::var("TLS_MBEDTLS_USER_CONFIG").unwrap_or_default();
    let build = root().join(if user.is_empty() {
        "target/tls_mbedtls/host"
    } else {
        "target/tls_mbedtls/host-user-config"
    });
    let cmake = |args: &[&str]| {
        let st = Command::new("cmake")
            .args(args)
            .status()
            .expect("cmake (scripts/setup.sh installs it)");
        assert!(st.success(), "cmake {args:?} failed");
    };
    if !*configured {
        let src = root().join("tests/tls_mbedtls");
        // Where scripts/build-demo.sh builds the library (common::programs::examples_dir).
        let lib_dir = root().join("target/cmake");
        cmake(&[
            "-S",
            src.to_str().unwrap(),
            "-B",
            build.to_str().unwrap(),
            "-DCMAKE_BUILD_TYPE=Release",
            &format!("-DMBEDTLS_OTA_USER_CONFIG={user}"),
            &format!("-DQCLOUD_OTA_BUILD_DIR={}", lib_dir.display()),
        ]);
        *configured = true;
    }
    cmake(&[
        "--build",
        build.to_str().unwrap(),
        "--target",
        target,
        "-j2",
    ]);
    build.join(target)
}

/// The glue's test program (`tests/tls_mbedtls/tls_mbedtls_test.c`), built once.
fn program() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| build("tls_mbedtls_test")).clone()
}

/// Runs the program; its exit code and its `key=value` lines.
fn client(args: &[&str], no_clock: bool) -> (i32, HashMap<String, String>, String) {
    let prog = program();
    let (code, out) = if no_clock {
        // The variable is read by the program only; the wrapper keeps the environment of this
        // (multi-threaded) test process untouched.
        let mut all = vec!["TLS_TEST_NO_CLOCK=1", prog.to_str().unwrap()];
        all.extend_from_slice(args);
        run(Path::new("/usr/bin/env"), &all, Duration::from_secs(20))
    } else {
        run(&prog, args, Duration::from_secs(20))
    };
    let kv = out
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (code, kv, out)
}

fn num(kv: &HashMap<String, String>, key: &str, out: &str) -> i64 {
    kv.get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in:\n{out}"))
}

/// Checks common to every connection: close gave every byte back.
fn clean(kv: &HashMap<String, String>, out: &str) {
    assert_eq!(num(kv, "heap_live_after_close", out), 0, "{out}");
    assert_eq!(num(kv, "blocks_live_after_close", out), 0, "{out}");
}

/// Runs the program's `mode` against 127.0.0.1:`port`, verifying `name` against `ca` (then
/// `extra` arguments); it must exit 0 and give every byte back. Its `key=value` lines and output.
fn connected(
    mode: &str,
    port: &str,
    name: &str,
    ca: &Path,
    extra: &[&str],
) -> (HashMap<String, String>, String) {
    let mut args = vec![mode, "127.0.0.1", port, name, ca.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (code, kv, out) = client(&args, false);
    assert_eq!(code, 0, "{out}");
    clean(&kv, &out);
    (kv, out)
}

#[test]
fn https_download_and_mqtt_connect_through_the_glue() {
    let image = generate_image(200 * 1024, 77);
    let (bench, cloud) = tls_cloud_with_task("MBEDTLS001", "glue", image.clone(), |_| {});
    let ca = bench.pki.ca_path();
    let url = cloud.firmware_url("MBEDTLS001", "glue").expect("url");
    let rest = url.strip_prefix("https://127.0.0.1:").expect("https url");
    let (port, path) = rest.split_at(rest.find('/').expect("path"));
    let dir = scratch_dir("tls-mbedtls");
    let body = dir.join("body.bin");

    let (kv, out) = connected(
        "https",
        port,
        "127.0.0.1", // the URL's host, as the library passes it to net_connect
        &ca,
        &[path, body.to_str().unwrap()],
    );
    assert_eq!(
        num(&kv, "recv_idle", &out),
        -2,
        "recv before the request must would-block"
    );
    assert!(num(&kv, "recv_idle_us", &out) < 100_000, "{out}");
    assert_eq!(num(&kv, "pending_seen", &out), 1, "{out}");
    assert!(kv["suite"].contains("ECDHE-ECDSA-WITH-AES-"), "{out}");
    assert_eq!(
        num(&kv, "recv_after_close", &out),
        0,
        "closed stays closed:\n{out}"
    );
    assert_eq!(
        std::fs::read(&body).unwrap(),
        image,
        "body differs from the image"
    );
    eprintln!(
        "mbedTLS glue, HTTPS: sizeof(tls_mbedtls_conn) {} B, heap peak {} B in {} blocks (handshake {} B), live while open {} B",
        num(&kv, "conn_size", &out),
        num(&kv, "heap_peak", &out),
        num(&kv, "heap_blocks_peak", &out),
        num(&kv, "handshake_heap_peak", &out),
        num(&kv, "heap_live_open", &out),
    );

    let mqtt_port = bench.mqtt_tls_port().to_string();
    let (kv, out) = connected("mqtt", &mqtt_port, "localhost", &ca, &[]);
    assert_eq!(kv.get("connack").map(String::as_str), Some("20020000"));
    assert!(kv["suite"].contains("ECDHE-ECDSA"), "{out}");
    eprintln!(
        "mbedTLS glue, MQTT: heap peak {} B (handshake {} B), live while open {} B",
        num(&kv, "heap_peak", &out),
        num(&kv, "handshake_heap_peak", &out),
        num(&kv, "heap_live_open", &out),
    );

    // Nothing went out in clear: every HTTPS connection began with a handshake record.
    let report = cloud.stop();
    assert!(!report.http_first_bytes.is_empty());
    for b in &report.http_first_bytes {
        assert_eq!(b.first(), Some(&0x16), "not TLS: {b:02x?}");
        assert!(!b.windows(4).any(|w| w == b"GET "), "{b:02x?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A TLS server presenting `leaf`; the program connects with `name` and must be refused with
/// failure `code` (or, with `code` None, must complete the handshake).
fn handshake_with(leaf: Leaf, name: &str, no_clock: bool, code: Option<i64>) {
    let dir = scratch_dir(&format!("tls-mbedtls-{leaf:?}-{name}-{no_clock}"));
    let pki = TestPki::generate(&dir).unwrap();
    let front = TlsFront::start(pki.server_config(leaf).unwrap(), 0, None).unwrap();
    let port = front.port().to_string();
    let ca = pki.ca_path();
    let args = ["refuse", "127.0.0.1", &port, name, ca.to_str().unwrap()];
    let (exit, kv, out) = client(&args, no_clock);
    clean(&kv, &out);
    match code {
        Some(code) => {
            assert_eq!(exit, 0, "the handshake must fail:\n{out}");
            assert_eq!(num(&kv, "failure_code", &out), code, "{out}");
        }
        None => assert_eq!(kv.get("handshake").map(String::as_str), Some("ok"), "{out}"),
    }
    drop(front);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unknown_ca_is_refused_as_untrusted() {
    handshake_with(Leaf::UnknownCa, "localhost", false, Some(1));
}

#[test]
fn a_wrong_host_name_is_refused_as_name_mismatch() {
    // The certificate is for wrong.example only.
    handshake_with(Leaf::WrongName, "localhost", false, Some(2));
    // The right certificate, asked for another name.
    handshake_with(Leaf::Localhost, "other.example", false, Some(2));
    // An IPv4 literal is checked against the iPAddress entries (the glue's own check).
    handshake_with(Leaf::Localhost, "10.0.2.2", false, Some(2));
    handshake_with(Leaf::WrongName, "127.0.0.1", false, Some(2));
    // An IPv6 literal is compared as a name by mbedTLS 2.28: never a match (documented).
    handshake_with(Leaf::Localhost, "::1", false, Some(2));
}

#[test]
fn an_ipv4_literal_is_verified_against_the_certificates_addresses() {
    // The leaf lists 127.0.0.1 as an iPAddress entry (and localhost as a dNSName).
    handshake_with(Leaf::Localhost, "127.0.0.1", false, None);
    // The right address on a certificate from an unknown CA is still untrusted.
    handshake_with(Leaf::UnknownCa, "127.0.0.1", false, Some(1));
}

#[test]
fn an_expired_certificate_is_refused_while_the_time_is_known() {
    handshake_with(Leaf::Expired, "localhost", false, Some(3));
    // Without a clock (and TLS_MBEDTLS_TIME_FLOOR 0 in the test build) dates are not checked.
    handshake_with(Leaf::Expired, "localhost", true, None);
}

#[test]
fn the_handshake_returns_would_block_while_the_server_is_silent() {
    let dir = scratch_dir("tls-mbedtls-silent");
    let pki = TestPki::generate(&dir).unwrap();
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port().to_string();
    let holder = std::thread::spawn(move || server.accept().map(|(s, _)| s));
    let ca = pki.ca_path();
    let (kv, out) = connected("silent", &port, "localhost", &ca, &[]);
    assert!(num(&kv, "silent_steps", &out) >= 3, "{out}");
    assert!(
        num(&kv, "silent_slowest_us", &out) < 100_000,
        "a step blocked:\n{out}"
    );
    drop(holder);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn send_returns_would_block_when_the_peer_does_not_read() {
    let dir = scratch_dir("tls-mbedtls-fill");
    let pki = TestPki::generate(&dir).unwrap();
    // The TLS front relays into a backend that accepts and never reads: the buffers fill up.
    let backend = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = backend.local_addr().unwrap();
    let holder = std::thread::spawn(move || backend.accept().map(|(s, _)| s));
    let front =
        TlsFront::start(pki.server_config(Leaf::Localhost).unwrap(), 0, Some(addr)).unwrap();
    let port = front.port().to_string();
    let ca = pki.ca_path();
    let (kv, out) = connected("fill", &port, "localhost", &ca, &[]);
    assert_eq!(num(&kv, "send_would_block", &out), 1, "{out}");
    assert!(num(&kv, "fill_sent", &out) > 0, "{out}");
    drop(front);
    drop(holder);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Tencent's brokers present RSA certificates: ECDHE-RSA and RSA chain verification against
/// mosquitto with an RSA test PKI made by the openssl command.
#[test]
fn mqtt_connect_to_a_broker_with_an_rsa_certificate() {
    let dir = scratch_dir("tls-mbedtls-rsa");
    let sh = |script: &str| {
        let out = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(&dir)
            .output()
            .expect("sh");
        assert!(
            out.status.success(),
            "openssl (scripts/setup.sh installs it): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n\
         keyUsage=digitalSignature,keyEncipherment\n",
    )
    .unwrap();
    sh(
        "openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 3650 -subj /CN=rsa-test-ca \
        -keyout ca.key -out ca.pem 2>/dev/null \
        && openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout leaf.key \
           -out leaf.csr 2>/dev/null \
        && openssl x509 -req -sha256 -days 365 -in leaf.csr -CA ca.pem -CAkey ca.key \
           -CAcreateserial -extfile leaf.ext -out leaf.crt 2>/dev/null \
        && chmod 644 leaf.key", // mosquitto reads it after dropping root
    );
    let broker =
        qcloud_ota_standin::Mosquitto::start_tls(&dir.join("leaf.crt"), &dir.join("leaf.key"))
            .expect("mosquitto with TLS");
    let port = broker.tls_port().expect("TLS port").to_string();
    let ca = dir.join("ca.pem");
    let (kv, out) = connected("mqtt", &port, "localhost", &ca, &[]);
    assert!(kv["suite"].contains("ECDHE-RSA-WITH-AES-"), "{out}");
    eprintln!(
        "mbedTLS glue, MQTT with RSA: heap peak {} B (handshake {} B), live while open {} B",
        num(&kv, "heap_peak", &out),
        num(&kv, "handshake_heap_peak", &out),
        num(&kv, "heap_live_open", &out),
    );
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}

/// mbedtls.cmake builds the same library for a Cortex-M4F (hard float) with the project's
/// toolchain file; its size (every object, before the firmware's --gc-sections) is bounded.
#[test]
fn mbedtls_builds_for_cortex_m4f() {
    let build = root().join("target/tls_mbedtls/cortex-m4");
    let toolchain = root().join("cmake/arm-none-eabi.cmake");
    let src = root().join("tests/tls_mbedtls");
    let toolchain_def = format!("-DCMAKE_TOOLCHAIN_FILE={}", toolchain.display());
    for args in [
        vec![
            "-S",
            src.to_str().unwrap(),
            "-B",
            build.to_str().unwrap(),
            &toolchain_def,
            "-DMCU_CPU=cortex-m4",
            "-DCMAKE_BUILD_TYPE=MinSizeRel",
        ],
        vec!["--build", build.to_str().unwrap(), "-j2"],
    ] {
        let st = Command::new("cmake")
            .args(&args)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("cmake");
        assert!(
            st.success(),
            "cmake {args:?} failed (scripts/setup.sh installs the toolchain)"
        );
    }
    let lib = build.join("libmbedtls_ota.a");
    let attrs = Command::new("arm-none-eabi-readelf")
        .args(["-A", lib.to_str().unwrap()])
        .output()
        .expect("arm-none-eabi-readelf");
    let attrs = String::from_utf8_lossy(&attrs.stdout);
    assert!(
        attrs.contains("Tag_CPU_name: \"7E-M\"") || attrs.contains("Cortex-M4"),
        "{attrs}"
    );
    assert!(
        attrs.contains("Tag_ABI_VFP_args: VFP registers"),
        "not hard-float"
    );
    let size = Command::new("arm-none-eabi-size")
        .args(["-t", lib.to_str().unwrap()])
        .output()
        .expect("arm-none-eabi-size");
    let size = String::from_utf8_lossy(&size.stdout);
    let totals: Vec<u64> = size
        .lines()
        .find(|l| l.contains("(TOTALS)"))
        .expect("totals")
        .split_whitespace()
        .take(3)
        .map(|n| n.parse().expect("number"))
        .collect();
    let (text, data, bss) = (totals[0], totals[1], totals[2]);
    eprintln!(
        "mbedTLS 2.28 (mbedtls_config_ota.h) for Cortex-M4F, -Os, whole library: text {text} B, data {data} B, bss {bss} B"
    );
    assert!(text + data < 90_000, "{size}");
    assert!(data + bss < 256, "{size}");
}

/// The byte at offset `i` of the program's `stream` mode.
#[cfg(feature = "tls")]
fn stream_byte(i: usize) -> u8 {
    (i.wrapping_mul(7).wrapping_add(i / 251)) as u8
}

/// A slow TLS reader (rustls, a direct dependency with the default `tls` feature): a send
/// that would block is retried with more bytes offered (as the library does when it queued more
/// meanwhile), and every byte arrives once, in order. (The stand-in's TlsFront cannot be the
/// peer here: it hands rustls only the first part of a large read.)
#[cfg(feature = "tls")]
#[test]
fn a_retried_send_with_more_bytes_loses_and_repeats_nothing() {
    use std::io::Read;
    const TOTAL: usize = 1 << 20;
    let dir = scratch_dir("tls-mbedtls-stream");
    let pki = TestPki::generate(&dir).unwrap();
    let cfg = pki.server_config(Leaf::Localhost).unwrap();
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port().to_string();
    let reader = std::thread::spawn(move || {
        let (tcp, _) = server.accept().expect("accept");
        tcp.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let conn = rustls::ServerConnection::new(cfg).expect("server connection");
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut got = Vec::with_capacity(TOTAL);
        let mut buf = [0u8; 4096];
        loop {
            match tls.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                // close_notify is best effort: a full socket at close drops it.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => panic!("TLS reader: {e} after {} bytes", got.len()),
            }
            std::thread::sleep(Duration::from_micros(300)); // slower than the sender
        }
        got
    });
    let ca = pki.ca_path();
    let total = TOTAL.to_string();
    let (kv, out) = connected("stream", &port, "localhost", &ca, &[&total]);
    assert!(num(&kv, "stream_would_block", &out) >= 1, "{out}");
    assert!(num(&kv, "stream_grown_retries", &out) >= 1, "{out}");
    let got = reader.join().expect("reader");
    assert_eq!(got.len(), TOTAL, "bytes received");
    let first_bad = (0..TOTAL).find(|&i| got[i] != stream_byte(i));
    assert_eq!(first_bad, None, "the stream differs");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The library itself in host-TLS mode with the glue as its TLS (what the FreeRTOS firmware
/// does over lwIP): MQTT/TLS to mosquitto, the offer, the https download of the image from the
/// stand-in, verified into the slot. Every connection is TLS and nothing went out in clear.
#[test]
fn the_library_downloads_over_mqtt_tls_and_https_through_the_glue() {
    let _ = common::programs::examples_dir(); // builds libqcloud_ota.a where build() expects it
    let prog = build("ota_over_mbedtls");
    let image = generate_image(300 * 1024, 4242);
    let (bench, cloud) = tls_cloud_with_task("MBEDTLS002", "ota-glue", image.clone(), |_| {});
    let dir = scratch_dir("tls-mbedtls-ota");
    let ca = bench.pki.ca_path();
    let port = bench.mqtt_tls_port().to_string();
    let args = [
        dir.to_str().unwrap(),
        "MBEDTLS002",
        "ota-glue",
        common::SECRET,
        &port,
        ca.to_str().unwrap(),
    ];
    let (code, out) = run(&prog, &args, Duration::from_secs(90));
    assert_eq!(code, 0, "{out}");
    let kv: HashMap<&str, &str> = out.lines().filter_map(|l| l.split_once('=')).collect();
    assert_eq!(kv.get("image_ready"), Some(&"2.0.0 307200"), "{out}");
    assert_eq!(kv.get("plain_connections"), Some(&"0"), "{out}");
    assert!(
        kv.get("tls_connections")
            .and_then(|v| v.parse::<u32>().ok())
            >= Some(2)
    );
    assert_eq!(kv.get("heap_live_after_close"), Some(&"0"), "{out}");
    assert_eq!(std::fs::read(dir.join("firmware.bin")).unwrap(), image);
    eprintln!(
        "mbedTLS glue under the library (MQTT/TLS + HTTPS open together): heap peak {} B",
        kv.get("heap_peak").unwrap_or(&"?")
    );
    let report = cloud.report();
    assert!(report.deviations.is_empty(), "{report}");
    assert!(!report.http_first_bytes.is_empty());
    for b in &report.http_first_bytes {
        assert_eq!(b.first(), Some(&0x16), "not TLS: {b:02x?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
