//! The device (the Rust client over real sockets) against mosquitto and the stand-in's
//! misbehaving firmware server: every fault either ends in a byte-identical image and one
//! `done`, or in the `fail` code the reference gives it, with zero protocol deviations.
mod common;

use std::time::{Duration, Instant};

use common::{SECRET, StdPlatform};
use qcloud_ota::client::{Buffers, Client, Config};
use qcloud_ota::platform::EventKind;
use qcloud_ota_standin::{Faults, HttpLog, Report, generate_image};

const SIZE: usize = 512 << 10;

enum Want {
    Done,
    Fail(i32),
}

/// Run one device through the update (with the reboot) or until it reports a failure.
fn run(name: &str, faults: Faults, want: Want) -> (Report, StdPlatform) {
    let pid = "FAULTS0001";
    let image = generate_image(SIZE, name.len() as u64);
    let (broker, cloud) = common::cloud_with_task(pid, name, image.clone(), |t| t.faults = faults);
    let (mut rx, mut tx, mut http) = ([0u8; 2048], [0u8; 1024], [0u8; 4096]);
    let mut cfg = Config::new(pid, name, SECRET, "1.0.0");
    cfg.broker_host = Some("127.0.0.1");
    cfg.broker_port = broker.port();
    cfg.net_poll_ms = 2;
    cfg.policy.stall_timeout_ms = 1000;
    cfg.policy.journal_interval = 4096;

    let until = |client: &mut Client<'_, StdPlatform>, kinds: &[EventKind]| {
        let start = Instant::now();
        while !kinds.iter().any(|k| client.platform().saw(*k)) {
            assert!(start.elapsed() < Duration::from_secs(60), "{name}: stuck");
            let ms = client.poll();
            std::thread::sleep(Duration::from_millis(u64::from(ms.min(2))));
        }
    };
    let bufs = Buffers {
        mqtt_rx: &mut rx,
        mqtt_tx: &mut tx,
        http: &mut http,
    };
    let mut client = Client::new(&cfg, bufs, StdPlatform::new()).unwrap();
    until(&mut client, &[EventKind::ImageReady, EventKind::Failed]);
    client.shutdown();
    let mut plat = client.into_platform();
    match want {
        Want::Fail(code) => {
            assert!(!plat.bootable, "{name}: nothing bootable after a failure");
            assert!(cloud.wait_until(Duration::from_secs(10), |r| !r.fails.is_empty()));
            let report = cloud.stop();
            let codes: Vec<i32> = report.fails.iter().map(|f| f.1).collect();
            assert_eq!(codes, [code], "{name}:\n{report}");
            assert!(report.deviations.is_empty(), "{name}:\n{report}");
            return (report, plat);
        }
        Want::Done => {
            assert!(
                plat.saw(EventKind::ImageReady),
                "{name}: failed instead of finishing"
            );
            assert!(plat.slot == image, "{name}: slot differs");
        }
    }
    // The reboot into the new image.
    cfg.running_version = "2.0.0";
    plat.events.clear();
    let bufs = Buffers {
        mqtt_rx: &mut rx,
        mqtt_tx: &mut tx,
        http: &mut http,
    };
    let mut client = Client::new(&cfg, bufs, plat).unwrap();
    until(&mut client, &[EventKind::Done]);
    client.shutdown();
    assert!(cloud.wait_completed(Duration::from_secs(10)), "{name}");
    let report = cloud.stop();
    assert!(report.deviations.is_empty(), "{name}:\n{report}");
    assert_eq!(report.done, 1, "{name}:\n{report}");
    (report, client.into_platform())
}

fn resumed(r: &Report) -> usize {
    r.requests
        .iter()
        .filter(|q| q.start.unwrap_or(0) > 0)
        .count()
}

#[test]
fn dropped_connections_resume() {
    let f = Faults {
        drop_at: vec![100_000, 300_001],
        ..Faults::default()
    };
    let (r, _) = run("drops", f, Want::Done);
    assert!(resumed(&r) >= 2, "{r}");
}

#[test]
fn a_stall_is_detected_and_resumed() {
    let f = Faults {
        stall_at: Some((200_000, Duration::from_secs(3))),
        ..Faults::default()
    };
    let (r, plat) = run("stall", f, Want::Done);
    assert!(resumed(&r) >= 1, "{r}");
    assert!(plat.logs.iter().any(|l| l.contains("stall")) || r.requests.len() >= 2);
}

/// A server that never stops but sends one byte per 100 ms: with a 1 s stall timeout that is
/// 10 bytes per window, under the 1 KiB a window needs, so it is a stall, not a download that
/// takes 14 hours.
#[test]
fn a_trickle_is_a_stall_and_resumed() {
    let f = Faults {
        trickle_at: Some((300_000, Duration::from_millis(100))),
        ..Faults::default()
    };
    let (r, _) = run("trickle", f, Want::Done);
    assert!(resumed(&r) >= 1, "{r}");
    let trickled = r.requests.iter().find(|q| {
        q.fault
            .as_deref()
            .is_some_and(|f| f.contains("trickle 1 byte per 100 ms from 300000"))
    });
    assert!(trickled.is_some(), "the fault fired:\n{r}");
}

#[test]
fn expired_urls_are_replaced_by_asking_the_cloud_again() {
    let f = Faults {
        forbidden_first: 2,
        ..Faults::default()
    };
    let (r, _) = run("expired", f, Want::Done);
    assert!(r.devices[0].offers >= 3, "{r}");
}

#[test]
fn not_found_fails_with_2() {
    run(
        "missing",
        Faults {
            not_found: true,
            ..Faults::default()
        },
        Want::Fail(-2),
    );
}

/// The first byte a request asked for (`Range: bytes=N-...`).
fn range_start(q: &HttpLog) -> Option<u64> {
    q.range
        .as_deref()?
        .strip_prefix("bytes=")?
        .split('-')
        .next()?
        .parse()
        .ok()
}

#[test]
fn server_errors_are_retried() {
    let f = Faults {
        server_error_first: 2,
        ..Faults::default()
    };
    let (r, _) = run("errors", f, Want::Done);
    // The first two requests got the 500s, the third the image: retried, not failed.
    let notes: Vec<(u16, Option<&str>)> = r
        .requests
        .iter()
        .take(3)
        .map(|q| (q.status, q.fault.as_deref()))
        .collect();
    assert_eq!(
        notes,
        [
            (500, Some("500: server error 1/2")),
            (500, Some("500: server error 2/2")),
            (206, None)
        ],
        "{r}"
    );
    assert!(r.fails.is_empty(), "{r}");
}

#[test]
fn a_server_that_ignores_range_is_never_spliced() {
    let f = Faults {
        ignore_range: true,
        drop_at: vec![200_000],
        ..Faults::default()
    };
    let (r, _) = run("norange", f, Want::Done);
    // The drop cut the first body; the resume asked for the rest and got the whole image (a
    // 200), which the device took from byte 0: the slot is the image (`run`), not a splice.
    let first = &r.requests[0];
    assert!(first.fault_has("drop at 200000"), "the drop fired:\n{r}");
    let resume = r
        .requests
        .iter()
        .find(|q| range_start(q).is_some_and(|s| s > 0))
        .unwrap_or_else(|| panic!("no request resumed past byte 0:\n{r}"));
    assert!(
        resume.fault_has("ignore_range") && resume.status == 200 && resume.start == Some(0),
        "the resume was answered with the whole image:\n{r}"
    );
    assert_eq!(resume.bytes_sent, SIZE as u64, "{r}");
}

#[test]
fn a_wrong_content_length_is_an_error_then_retried() {
    let f = Faults {
        wrong_content_length: Some(10),
        ..Faults::default()
    };
    run("badlength", f, Want::Done);
}

#[test]
fn chunked_bodies_and_redirects() {
    let f = Faults {
        chunked: true,
        redirect_first: 2,
        drop_at: vec![250_000],
        ..Faults::default()
    };
    run("chunked", f, Want::Done);
}

/// The object changes under the device: If-Range gets the new one, whose MD5 does not match
/// the offer; the device reports -4, asks again, gets the new md5sum and finishes.
#[test]
fn a_changed_object_is_never_spliced_onto_the_old_one() {
    let f = Faults {
        change_object_at: Some(150_000),
        drop_at: vec![200_000],
        ..Faults::default()
    };
    let (r, plat) = run("changed", f, Want::Fail(-4));
    assert!(
        r.requests.iter().any(|q| q.if_range.is_some()),
        "resumed with If-Range:\n{r}"
    );
    assert!(!plat.bootable);
}
