//! Certificate authentication end to end: the real C demo (through CMake on the real `.a` and
//! header) signs in to mosquitto's certificate-authentication listener (`require_certificate`,
//! device certificates checked against the test CA) with a device certificate instead of a
//! secret, and updates; once with the library's built-in TLS (rustls, the certificate and key
//! handed over in `ota_config`) and once with the platform's (OpenSSL in posix_platform.c, asked
//! for the client certificate by `OTA_NET_CLIENT_CERT`). A device without a certificate, and one
//! whose certificate comes from another CA, are refused with a clear error; no log line carries
//! any of the private key.
mod common;
use std::path::Path;
use std::time::Duration;

use common::programs::{
    demo_updates_cleanly_with, device_args, program, run_until_line, scratch_dir,
};
use common::{SECRET, TlsBench, cert_cloud_with_task};
use qcloud_ota_standin::{Device, generate_image};

/// Fragments of the private key in `key_pem` (and its DER twin next to it) that must never show
/// up in a log: every 12-character piece of the PEM's base64 lines, and 8-byte windows of the
/// DER as hex.
fn key_fragments(bench: &TlsBench, device: Device) -> Vec<String> {
    let pem = std::fs::read_to_string(bench.pki.device_key_path(device, false)).unwrap();
    let der = std::fs::read(bench.pki.device_key_path(device, true)).unwrap();
    let mut out = Vec::new();
    for line in pem.lines().filter(|l| !l.starts_with("-----")) {
        for piece in line.as_bytes().chunks(12).filter(|c| c.len() == 12) {
            out.push(String::from_utf8(piece.to_vec()).unwrap());
        }
    }
    for w in der.chunks(8).filter(|c| c.len() == 8) {
        let hex: String = w.iter().map(|b| format!("{b:02x}")).collect();
        out.push(hex.to_uppercase());
        out.push(hex);
    }
    assert!(out.len() > 20, "a real key");
    out
}

fn no_key_in(logs: &[&str], fragments: &[String]) {
    for log in logs {
        for f in fragments {
            assert!(
                !log.contains(f.as_str()),
                "key material {f} in a log:\n{log}"
            );
        }
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn update_with_certificate(dn: &str, device: Device, der: bool, mode: &[&str]) {
    let image = generate_image(512 << 10, 4441);
    let (bench, cloud) = cert_cloud_with_task("E2ECERT001", dn, image.clone(), |_| {});
    let (ca, cert, key) = (
        bench.pki.ca_path(),
        bench.pki.device_cert_path(device, der),
        bench.pki.device_key_path(device, der),
    );
    let mut args = vec![
        "--ca",
        path(&ca),
        "--cert",
        path(&cert),
        "--key",
        path(&key),
    ];
    args.extend_from_slice(mode);
    let (log, report) = demo_updates_cleanly_with(
        &program("ota_demo"),
        "E2ECERT001",
        dn,
        bench.mqtt_cert_port(),
        cloud,
        &image,
        &args,
    );
    assert!(log.contains("secret none (certificate)"), "{log}");
    assert!(log.contains("connected and subscribed"), "{log}");
    no_key_in(
        &[&log, &bench.broker.log(), &report.to_string()],
        &key_fragments(&bench, device),
    );
}

#[test]
fn c_demo_updates_with_a_device_certificate_through_the_builtin_tls() {
    // ECDSA P-256 in DER, RSA 2048 in PEM: both key types, both encodings.
    update_with_certificate("cert-builtin-ec", Device::Ecdsa, true, &[]);
    update_with_certificate("cert-builtin-rsa", Device::Rsa, false, &[]);
}

#[test]
fn c_demo_updates_with_a_device_certificate_through_the_hosts_openssl() {
    update_with_certificate("cert-host", Device::Rsa, false, &["--host-tls"]);
}

/// The demo against the certificate-authentication listener with `device`'s certificate (or
/// none, then with the secret) until a line says `error`.
fn refused(device: Option<Device>, mode: &[&str], error: &str) {
    let dn = format!("refused-{device:?}-{}", mode.len());
    let image = generate_image(64 << 10, 4442);
    let (bench, _cloud) = cert_cloud_with_task("E2ECERT002", &dn, image, |_| {});
    let dir = scratch_dir(&format!("cert-{dn}"));
    let port = bench.mqtt_cert_port().to_string();
    let (ca, device_dir) = (bench.pki.ca_path(), dir.join("device"));
    let files = device.map(|d| {
        (
            bench.pki.device_cert_path(d, false),
            bench.pki.device_key_path(d, false),
        )
    });
    let mut args = device_args("E2ECERT002", &dn, "127.0.0.1", &port, &device_dir);
    args.extend_from_slice(&["--tls", "--ca", path(&ca)]);
    match &files {
        Some((cert, key)) => args.extend_from_slice(&["--cert", path(cert), "--key", path(key)]),
        None => args.extend_from_slice(&["--device-secret", SECRET]),
    }
    args.extend_from_slice(mode);
    let log = run_until_line(&program("ota_demo"), &args, error, Duration::from_secs(30));
    assert!(!log.contains("connected and subscribed"), "{log}");
    if let Some(d) = device {
        no_key_in(&[&log, &bench.broker.log()], &key_fragments(&bench, d));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

const REFUSED: &str =
    "refused the device certificate (missing, or from a CA it does not trust) (-57)";

#[test]
fn a_device_without_a_certificate_is_refused() {
    refused(None, &[], REFUSED);
}

#[test]
fn a_certificate_from_another_ca_is_refused() {
    refused(Some(Device::Foreign), &[], REFUSED);
}

#[test]
fn the_hosts_tls_reports_the_brokers_refusal_of_a_foreign_certificate() {
    // OpenSSL's reason, as the platform logs it: posix_platform.c keeps certificate
    // authentication to TLS 1.2 (what Tencent's brokers speak), where the broker's verdict is
    // part of the handshake. (A device without a certificate talks TLS 1.3 there, and the
    // broker's alert then races its reset of the connection: not asserted.)
    refused(Some(Device::Foreign), &["--host-tls"], "alert unknown ca");
}
