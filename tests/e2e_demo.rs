//! End to end: the real C demo (built through CMake on the real `.a` and header) updates an
//! 8 MiB random image against a real mosquitto and the IoT Explorer stand-in, including the
//! simulated reboot, with a byte-identical slot and zero protocol deviations.
mod common;
use std::time::Duration;

use common::SECRET;
use common::programs::{program, run, scratch_dir};
use qcloud_ota_standin::{generate_image, write_device_info};

/// Run the demo with a deadline; returns its exit code and output.
fn run_demo(args: &[&str], limit: Duration) -> (i32, String) {
    run(&program("ota_demo"), args, limit)
}

#[test]
fn c_demo_updates_an_8_mib_image_against_mosquitto() {
    let image = generate_image(8 << 20, 2026);
    let (broker, cloud) = common::cloud_with_task("E2EDEMO001", "c-demo", image.clone(), |_| {});

    let dir = scratch_dir("e2e");
    let info = dir.join("device_info.json");
    write_device_info(&info, "E2EDEMO001", "c-demo", SECRET).unwrap();
    let device = dir.join("device");
    std::fs::create_dir_all(&device).unwrap();
    let port = broker.port().to_string();
    let args = [
        "--device-info",
        info.to_str().unwrap(),
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--version",
        "1.0.0",
        "--dir",
        device.to_str().unwrap(),
        "--once",
    ];
    let (code, log) = run_demo(&args, Duration::from_secs(120));
    assert_eq!(code, 0, "ota_demo failed:\n{log}");

    assert!(
        cloud.wait_completed(Duration::from_secs(10)),
        "stand-in never saw the task complete"
    );
    let report = cloud.stop();
    assert!(
        report.deviations.is_empty(),
        "protocol deviations:\n{report}"
    );
    assert!(report.completed);
    assert_eq!(report.done, 1, "exactly one done");
    assert!(report.fails.is_empty());

    let slot = std::fs::read(device.join("firmware.bin")).unwrap();
    assert!(slot == image, "slot differs from the served image");
    let running = std::fs::read_to_string(device.join("running_version")).unwrap();
    assert_eq!(running.trim(), "2.0.0");
    assert!(log.contains("rebooting into 2.0.0"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn c_demo_reports_md5_mismatch_and_exits_non_zero() {
    let image = generate_image(256 << 10, 9);
    let (broker, cloud) = common::cloud_with_task("E2EDEMO002", "c-demo-bad", image, |t| {
        t.faults.wrong_md5sum = Some("00112233445566778899aabbccddeeff".into());
    });
    let dir = scratch_dir("e2e-bad");
    let port = broker.port().to_string();
    let args = [
        "--product-id",
        "E2EDEMO002",
        "--device-name",
        "c-demo-bad",
        "--device-secret",
        SECRET,
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--version",
        "1.0.0",
        "--dir",
        dir.to_str().unwrap(),
        "--once",
    ];
    let (code, log) = run_demo(&args, Duration::from_secs(60));
    assert_eq!(code, 1, "a failed update exits 1:\n{log}");
    // The demo exits once the broker acknowledged `fail`; the stand-in hears it a moment later.
    assert!(
        cloud.wait_until(Duration::from_secs(10), |r| !r.fails.is_empty()),
        "no fail report"
    );
    let report = cloud.stop();
    assert!(report.deviations.is_empty(), "{report}");
    let codes: Vec<i32> = report.fails.iter().map(|f| f.1).collect();
    assert_eq!(codes, [-4], "{report}");
    assert_eq!(report.done, 0);
    assert!(
        !dir.join("running_version").exists(),
        "a bad image is never booted"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
