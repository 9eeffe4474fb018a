//! The firmware our users ship: FreeRTOS + lwIP (+ mbedTLS) on QEMU's mps2-an386 with its
//! emulated LAN9118 Ethernet (`c_examples/freertos`), run by `scripts/rtos-demo.sh` with the
//! Linux demo's command line against a real mosquitto and the stand-in over QEMU's user
//! network. The firmware is built once per test run (under target/rtos/firmware, the script's
//! own build directory); QEMU and the Arm toolchain come from scripts/setup.sh.
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::programs::{
    demo_args, demo_updates_cleanly, root, run_checked, scratch_dir, wait_with_deadline,
};
use qcloud_ota_standin::generate_image;

/// Small images keep the suite short; the 1 MiB figures belong to scripts/bench-rtos.sh.
const IMAGE: usize = 256 << 10;

/// The firmware ELF, built once by the script's own CMake project; the script is then pointed
/// at it (RTOS_FIRMWARE) so parallel tests never build at the same time.
fn firmware() -> &'static Path {
    static ELF: OnceLock<PathBuf> = OnceLock::new();
    ELF.get_or_init(|| {
        let dir = root().join("target/rtos/firmware");
        let toolchain = root().join("cmake/arm-none-eabi.cmake");
        if !dir.join("CMakeCache.txt").is_file() {
            run_checked(
                Command::new("cmake")
                    .arg("-S")
                    .arg(root().join("c_examples/freertos"))
                    .arg("-B")
                    .arg(&dir)
                    .arg(format!("-DCMAKE_TOOLCHAIN_FILE={}", toolchain.display())),
                "firmware configure",
            );
        }
        run_checked(
            Command::new("cmake").arg("--build").arg(&dir).arg("-j2"),
            "firmware build",
        );
        dir.join("rtos_firmware.elf")
    })
}

fn script() -> PathBuf {
    root().join("scripts/rtos-demo.sh")
}

/// The script with the firmware prebuilt, for `common::programs` helpers that take a program.
fn demo() -> PathBuf {
    let elf = firmware();
    // SAFETY: set once, before any thread of this binary spawns a child that reads it; every
    // test sets the same value.
    static SET: OnceLock<()> = OnceLock::new();
    SET.get_or_init(|| unsafe { std::env::set_var("RTOS_FIRMWARE", elf) });
    script()
}

#[test]
fn freertos_lwip_firmware_updates_over_emulated_ethernet() {
    let image = generate_image(IMAGE, 12);
    let (pid, dn) = ("RTOSPLAIN1", "freertos-plain");
    let (broker, cloud) = common::cloud_with_task(pid, dn, image.clone(), |_| {});
    let log = demo_updates_cleanly(&demo(), pid, dn, broker.port(), cloud, &image);
    assert!(log.contains("booting 1.0.0 (FreeRTOS"), "{log}");
    assert!(log.contains("booting 2.0.0 (FreeRTOS"), "{log}");
}

fn spawn(dir: &Path, port: u16) -> Child {
    Command::new(demo())
        .args(demo_args(
            "RTOSKILL01",
            "freertos-kill",
            "127.0.0.1",
            &port.to_string(),
            dir,
        ))
        .arg("--once")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start scripts/rtos-demo.sh")
}

fn slot_len(dir: &Path) -> u64 {
    std::fs::metadata(dir.join("firmware.bin")).map_or(0, |m| m.len())
}

/// Killing QEMU (the script execs it) in the middle of the download is a power cut: the next
/// run resumes from the record with a Range past 0 and finishes with exactly one `done`.
#[test]
fn freertos_firmware_killed_mid_download_resumes() {
    let image = generate_image(IMAGE, 13);
    let (broker, cloud) =
        common::cloud_with_task("RTOSKILL01", "freertos-kill", image.clone(), |t| {
            t.faults.rate_limit = Some(48 << 10); // ~5 s of download: time to cut the power
        });
    let dir = scratch_dir("rtos-kill").join("device");
    let mut first = spawn(&dir, broker.port());
    let start = Instant::now();
    // Past two record intervals (64 KiB each), so the record vouches for more than 0.
    while slot_len(&dir) < 160 << 10 {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "download never got going"
        );
        assert!(
            first.try_wait().unwrap().is_none(),
            "the firmware ended early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let cut_at = slot_len(&dir);

    let second = spawn(&dir, broker.port());
    let out = wait_with_deadline(second, "firmware run", Duration::from_secs(120));
    assert_eq!(
        out.0, 0,
        "the second run must complete the update:\n{}",
        out.1
    );
    assert!(cloud.wait_completed(Duration::from_secs(10)), "{}", out.1);
    let report = cloud.stop();
    common::assert_done_once(&report);
    let resumed: Vec<u64> = report
        .requests
        .iter()
        .filter_map(|r| r.start)
        .filter(|&s| s > 0)
        .collect();
    assert!(
        !resumed.is_empty(),
        "no request resumed past byte 0 (killed at {cut_at} bytes):\n{report}"
    );
    assert!(out.1.contains("download of 2.0.0 from "), "{}", out.1);
    let slot = std::fs::read(dir.join("firmware.bin")).unwrap();
    assert!(slot == image, "slot differs from the served image");
    println!("killed at {cut_at} bytes of the slot; resumed at {resumed:?}");
    if let Some(scratch) = dir.parent() {
        let _ = std::fs::remove_dir_all(scratch);
    }
}

/// MQTT over TLS to mosquitto's TLS listener and an https firmware URL from the stand-in, both
/// through mbedTLS in the firmware (host-TLS mode), verified against the stand-in's test CA and
/// the name `localhost` (the stand-in offers `https://localhost:PORT/...`, which the guest
/// reaches as 10.0.2.2 while mbedTLS checks the name).
#[test]
fn freertos_firmware_updates_over_mbedtls() {
    let image = generate_image(IMAGE, 14);
    let (pid, dn) = ("RTOSTLS001", "freertos-tls");
    let (bench, cloud) = common::tls_cloud_with_task_config(
        pid,
        dn,
        image.clone(),
        |_| {},
        |cfg| {
            cfg.url_host = "localhost".into();
        },
    );
    let ca = bench.pki.ca_path();
    let (log, report) = common::programs::demo_updates_cleanly_with(
        &demo(),
        pid,
        dn,
        bench.mqtt_tls_port(),
        cloud,
        &image,
        &["--tls", "--ca", ca.to_str().unwrap(), "--host", "localhost"],
    );
    common::all_tls(&report.http_first_bytes);
    assert!(
        report.requests.iter().all(|r| r
            .host
            .as_deref()
            .is_some_and(|h| h.starts_with("localhost"))),
        "{report}"
    );
    assert!(!log.contains("tls: "), "{log}");
}

/// A server whose chain does not lead to the configured CA is refused: the TLS glue reports
/// it, the library gets the error, and the server saw nothing but a TLS handshake.
#[test]
fn freertos_firmware_refuses_an_unknown_ca() {
    use qcloud_ota_standin::{Leaf, TestPki, TlsFront};
    let dir = scratch_dir("rtos-unknown-ca");
    let pki = TestPki::generate(&dir.join("pki")).unwrap();
    let front = TlsFront::start(pki.server_config(Leaf::UnknownCa).unwrap(), 0, None).unwrap();
    let port = front.port().to_string();
    let ca = pki.ca_path();
    let device = dir.join("device");
    let mut args = demo_args("RTOSTLS002", "freertos-ca", "localhost", &port, &device);
    args.extend_from_slice(&["--tls", "--ca", ca.to_str().unwrap()]);
    let log = common::programs::run_until_line(
        &demo(),
        &args,
        "event: error -11 (OTA_ERR_NET_IO)",
        Duration::from_secs(60),
    );
    assert!(log.contains("tls: untrusted CA"), "{log}");
    assert!(!log.contains("event: connected"), "{log}");
    common::all_tls(&front.first_bytes());
    drop(front);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--once` ends the run with 1 when the update failed: the firmware URL answers 404, the
/// device reports `fail -2` and exits.
#[test]
fn freertos_firmware_once_exits_1_when_the_update_fails() {
    let image = generate_image(16 << 10, 15);
    let (pid, dn) = ("RTOSFAIL01", "freertos-fail");
    let (broker, cloud) = common::cloud_with_task(pid, dn, image, |t| t.faults.not_found = true);
    let dir = scratch_dir("rtos-fail");
    let port = broker.port().to_string();
    let device = dir.join("device");
    let mut args = demo_args(pid, dn, "127.0.0.1", &port, &device);
    args.push("--once");
    let (code, log) = common::programs::run(&demo(), &args, Duration::from_secs(120));
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("result_code -2"), "{log}");
    let report = cloud.stop();
    assert!(
        report.deviations.is_empty(),
        "protocol deviations:\n{report}"
    );
    assert_eq!(
        report.fails.iter().map(|f| f.1).collect::<Vec<_>>(),
        [-2],
        "{report}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
