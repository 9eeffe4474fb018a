//! End to end: the real C demo (built through CMake on the real `.a` and header) updates an
//! 8 MiB random image against a real mosquitto and the IoT Explorer stand-in, including the
//! simulated reboot, with a byte-identical slot and zero protocol deviations.
mod common;
use std::time::Duration;

use common::programs::{demo_args, demo_updates_cleanly, program, run, scratch_dir};
use qcloud_ota_standin::generate_image;

/// Run the demo with a deadline; returns its exit code and output.
fn run_demo(args: &[&str], limit: Duration) -> (i32, String) {
    run(&program("ota_demo"), args, limit)
}

#[test]
fn c_demo_updates_an_8_mib_image_against_mosquitto() {
    let image = generate_image(8 << 20, 2026);
    let (broker, cloud) = common::cloud_with_task("E2EDEMO001", "c-demo", image.clone(), |_| {});

    demo_updates_cleanly(
        &program("ota_demo"),
        "E2EDEMO001",
        "c-demo",
        broker.port(),
        cloud,
        &image,
    );
}

#[test]
fn c_demo_reports_md5_mismatch_and_exits_non_zero() {
    let image = generate_image(256 << 10, 9);
    let (broker, cloud) = common::cloud_with_task("E2EDEMO002", "c-demo-bad", image, |t| {
        t.faults.wrong_md5sum = Some("00112233445566778899aabbccddeeff".into());
    });
    let dir = scratch_dir("e2e-bad");
    let port = broker.port().to_string();
    let mut args = demo_args("E2EDEMO002", "c-demo-bad", "127.0.0.1", &port, &dir);
    args.push("--once");
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
