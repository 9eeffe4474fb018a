//! Power cuts, for real: the C demo is SIGKILLed at 20 random moments of a download and once in
//! the middle of a record save (a torn record). Each kill's own restart (the first request after
//! it) resumes where the slot stands (a Range starting past 0) at most one record interval plus
//! one HTTP buffer before where the slot stood at the kill, and the update finishes
//! byte-identical with exactly one `done`.
mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::SECRET;
use common::programs::program;
use qcloud_ota_standin::generate_image;

const SIZE: u64 = 4 << 20;
/// The library's default `journal_interval` (a bound the demo's 16 KiB meets with room) and the
/// demo's HTTP buffer: what a power cut may cost.
const RECORD_INTERVAL: u64 = 64 << 10;
const HTTP_BUF: u64 = 16 << 10;
const PID: &str = "E2EKILL001";
const DN: &str = "c-demo-kill";

fn spawn(demo: &Path, dir: &Path, port: u16, once: bool, env: Option<(&str, &str)>) -> Child {
    let mut cmd = Command::new(demo);
    cmd.args([
        "--product-id",
        PID,
        "--device-name",
        DN,
        "--device-secret",
        SECRET,
    ])
    .args([
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--version",
        "1.0.0",
    ])
    .arg("--dir")
    .arg(dir)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    if once {
        cmd.arg("--once");
    }
    if let Some((k, v)) = env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("start ota_demo")
}

fn slot_len(dir: &Path) -> u64 {
    std::fs::metadata(dir.join("firmware.bin")).map_or(0, |m| m.len())
}

/// Deterministic kill points between 256 KiB and the last 256 KiB, increasing.
fn kill_points(n: usize) -> Vec<u64> {
    let mut x: u64 = 0x2026_1127;
    let mut v: Vec<u64> = (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (256 << 10) + (x >> 16) % (SIZE - (512 << 10))
        })
        .collect();
    v.sort_unstable();
    v
}

#[test]
fn c_demo_resumes_after_sigkill_at_20_moments_and_a_torn_record() {
    let demo = program("ota_demo");
    let image = generate_image(SIZE as usize, 99);
    // A 2 MiB/s link, so the kills land in the middle of the download.
    let (broker, cloud) = common::cloud_with_task(PID, DN, image.clone(), |t| {
        t.faults.rate_limit = Some(2 << 20)
    });
    let dir = std::env::temp_dir().join(format!("qcloud-ota-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let points = kill_points(20);
    // Per kill: the bytes in the slot and how many requests the stand-in had logged. A killed
    // process sends nothing more, so the next request logged is its restart's first.
    let mut killed_at = Vec::new();
    let requests = || cloud.report().requests_for(DN).count();
    for (i, &at) in points.iter().enumerate() {
        // Each run must get somewhere before it dies: at least 32 KiB past where it started.
        let at = at.max(slot_len(&dir) + (32 << 10));
        let mut child = spawn(&demo, &dir, broker.port(), true, None);
        let start = Instant::now();
        while slot_len(&dir) < at {
            assert!(
                child.try_wait().unwrap().is_none(),
                "demo exited before kill #{i} at {at}"
            );
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no progress to {at} (kill #{i})"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        child.kill().unwrap(); // SIGKILL: no cleanup, like a power cut
        child.wait().unwrap();
        killed_at.push((slot_len(&dir), requests()));
    }

    // A power cut in the middle of a record save: half a record over one copy, then death.
    let mut child = spawn(
        &demo,
        &dir,
        broker.port(),
        true,
        Some(("OTA_DEMO_CRASH_IN_SAVE", "2")),
    );
    let status = wait(&mut child, Duration::from_secs(30));
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "the save hook killed it"
    );
    // The torn save lost at most the record being written: the one before it still holds.
    killed_at.push((slot_len(&dir), requests()));

    // Then let it finish.
    let mut child = spawn(&demo, &dir, broker.port(), true, None);
    let status = wait(&mut child, Duration::from_secs(60));
    assert!(status.success(), "final run: {status:?}");

    assert!(cloud.wait_completed(Duration::from_secs(10)));
    let report = cloud.stop();
    assert!(report.deviations.is_empty(), "{report}");
    assert_eq!(report.done, 1, "{report}");
    assert_eq!(
        std::fs::read(dir.join("firmware.bin")).unwrap(),
        image,
        "slot byte-identical"
    );

    // 22 runs: the first starts at byte 0, every later one resumes.
    let starts: Vec<u64> = report
        .requests_for(DN)
        .map(|r| r.start.unwrap_or(0))
        .collect();
    let resumed = starts.iter().filter(|&&s| s > 0).count();
    assert_eq!(
        starts.iter().filter(|&&s| s == 0).count(),
        1,
        "a restart began again from byte 0:\n{report}"
    );
    assert!(
        resumed > points.len(),
        "only {resumed} requests resumed past byte 0:\n{report}"
    );
    // Each kill costs at most what came after the last record save: its own restart (the
    // first request after it) resumes within one record interval (plus one buffer in flight)
    // below where the slot stood. (The bytes served are only printed: under load the server's
    // sends pile up in the kernel's socket buffers before a kill, which says nothing about the
    // device.)
    let ranges: Vec<Option<u64>> = report
        .requests_for(DN)
        .map(|r| {
            let range = r.range.as_deref()?.strip_prefix("bytes=")?;
            range.split('-').next()?.parse().ok()
        })
        .collect();
    for (i, &(k, before)) in killed_at.iter().enumerate() {
        let own = ranges.get(before).copied().flatten();
        assert!(
            own.is_some_and(|s| s <= k && k - s <= RECORD_INTERVAL + HTTP_BUF),
            "kill #{i} with {k} bytes in the slot: its restart (request #{before}) asked for \
             {own:?}, not within {RECORD_INTERVAL} + {HTTP_BUF} bytes below it \
             (requested from {ranges:?})"
        );
    }
    let served = report.bytes_served_for(DN);
    println!(
        "{} kills + 1 torn record: {resumed} resumed requests, {served} bytes served for {SIZE}",
        points.len()
    );
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}

fn wait(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("ota_demo did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
