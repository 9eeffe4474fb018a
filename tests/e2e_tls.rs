//! TLS end to end: the real C demo (through CMake on the real `.a` and header) updates over
//! MQTT/TLS (mosquitto's TLS listener) and an https firmware URL (the stand-in's HTTPS server),
//! with certificates from a test CA generated here; once with the library's built-in TLS
//! (rustls) and once with the platform's (OpenSSL in posix_platform.c, `--host-tls`). The
//! negative cases each end in a clear error event, and the servers' records prove that nothing
//! went out in clear: every connection opened with a TLS handshake record (0x16), and no MQTT
//! CONNECT or HTTP request appears in the raw bytes.
mod common;
use std::time::Duration;

use common::programs::{
    demo_args, demo_updates_cleanly_with, program, run_until_line, scratch_dir,
};
use common::{all_tls, tls_cloud_with_task};
use qcloud_ota_standin::{Leaf, TestPki, TlsFront, generate_image};

fn update_over_tls(dn: &str, mode: &[&str]) {
    let image = generate_image(2 << 20, 4431);
    let (bench, cloud) = tls_cloud_with_task("E2ETLS0001", dn, image.clone(), |_| {});
    let ca = bench.pki.ca_path();
    let mut args = vec!["--tls", "--ca", ca.to_str().unwrap()];
    args.extend_from_slice(mode);
    let port = bench.mqtt_tls_port();
    let (log, report) = demo_updates_cleanly_with(
        &program("ota_demo"),
        "E2ETLS0001",
        dn,
        port,
        cloud,
        &image,
        &args,
    );
    assert!(log.contains("(TLS"), "{log}");
    all_tls(&report.http_first_bytes);
    assert!(
        report
            .requests
            .iter()
            .all(|r| r.status == 206 || r.status == 200),
        "{report}"
    );
}

#[test]
fn c_demo_updates_over_mqtt_tls_and_https_with_the_builtin_tls() {
    update_over_tls("tls-builtin", &[]);
}

#[test]
fn c_demo_updates_over_mqtt_tls_and_https_with_the_hosts_openssl() {
    update_over_tls("tls-host", &["--host-tls"]);
}

/// The demo against a TLS server presenting `leaf`, until the error event names `error`.
fn refused(leaf: Leaf, host: &str, with_ca: bool, mode: &[&str], error: &str) {
    let dir = scratch_dir(&format!("tls-refused-{leaf:?}-{}", mode.len()));
    let pki = TestPki::generate(&dir.join("pki")).unwrap();
    let front = TlsFront::start(pki.server_config(leaf).unwrap(), 0, None).unwrap();
    let port = front.port().to_string();
    let ca = pki.ca_path();
    let device = dir.join("device");
    let mut args = demo_args("E2ETLS0002", "refused", host, &port, &device);
    args.push("--tls");
    if with_ca {
        args.extend_from_slice(&["--ca", ca.to_str().unwrap()]);
    }
    args.extend_from_slice(mode);
    let log = run_until_line(&program("ota_demo"), &args, error, Duration::from_secs(30));
    assert!(!log.contains("connected and subscribed"), "{log}");
    all_tls(&front.first_bytes());
    drop(front);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unknown_ca_is_refused() {
    refused(
        Leaf::UnknownCa,
        "localhost",
        true,
        &[],
        "not from a trusted CA (ota_config.ca) (-50)",
    );
    // Without --ca the test CA itself is unknown too.
    refused(
        Leaf::Localhost,
        "localhost",
        false,
        &[],
        "not from a trusted CA (ota_config.ca) (-50)",
    );
}

#[test]
fn a_certificate_for_another_name_is_refused() {
    refused(
        Leaf::WrongName,
        "localhost",
        true,
        &[],
        "not valid for the host name (-51)",
    );
    // The host's TLS refuses it as well (the platform logs OpenSSL's reason).
    refused(
        Leaf::WrongName,
        "localhost",
        true,
        &["--host-tls"],
        "hostname mismatch",
    );
}

#[test]
fn an_expired_certificate_is_refused() {
    refused(
        Leaf::Expired,
        "127.0.0.1",
        true,
        &[],
        "expired or not yet valid (clock?) (-52)",
    );
}

#[test]
fn a_redirect_from_https_to_http_is_refused_and_the_retry_completes() {
    let image = generate_image(256 << 10, 4432);
    let (bench, cloud) = tls_cloud_with_task("E2ETLS0003", "tls-downgrade", image.clone(), |t| {
        t.faults.insecure_redirect_first = 1;
    });
    let ca = bench.pki.ca_path();
    let port = bench.mqtt_tls_port();
    let (log, report) = demo_updates_cleanly_with(
        &program("ota_demo"),
        "E2ETLS0003",
        "tls-downgrade",
        port,
        cloud,
        &image,
        &["--tls", "--ca", ca.to_str().unwrap()],
    );
    assert!(
        log.contains("refused a redirect from https to http (-56)"),
        "{log}"
    );
    all_tls(&report.http_first_bytes);
    let statuses: Vec<u16> = report.requests.iter().map(|r| r.status).collect();
    assert_eq!(statuses.first(), Some(&302), "{report}");
    assert!(
        report.requests[0]
            .fault
            .as_deref()
            .unwrap_or("")
            .contains("plain http")
    );
}

#[test]
fn a_tls_close_alert_mid_download_resumes_like_a_dropped_link() {
    let image = generate_image(1 << 20, 4433);
    let half = image.len() as u64 / 2;
    let (bench, cloud) = tls_cloud_with_task("E2ETLS0004", "tls-alert", image.clone(), |t| {
        t.faults.drop_at = vec![half];
    });
    let ca = bench.pki.ca_path();
    let port = bench.mqtt_tls_port();
    let (log, report) = demo_updates_cleanly_with(
        &program("ota_demo"),
        "E2ETLS0004",
        "tls-alert",
        port,
        cloud,
        &image,
        &["--tls", "--ca", ca.to_str().unwrap()],
    );
    assert!(
        log.contains("connection failed or closed by the peer (-11)"),
        "{log}"
    );
    all_tls(&report.http_first_bytes);
    let cut = &report.requests[0];
    assert!(
        cut.fault.as_deref().unwrap_or("").contains("drop at"),
        "{report}"
    );
    assert_eq!(cut.bytes_sent, half);
    let resumed = report.requests.iter().skip(1).find(|r| r.status == 206);
    assert!(
        resumed.is_some_and(|r| r.start.is_some_and(|s| s > 0)),
        "the retry resumes where the slot stands:\n{report}"
    );
}
