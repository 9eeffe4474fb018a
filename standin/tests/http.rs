//! The firmware server: ranges, ETag, If-Range, keep-alive, close, 404.

mod common;

use common::*;
use qcloud_ota_standin::{Broker, Cloud, CloudConfig, DeviceTask, generate_image, md5_hex};
use std::time::Duration;

const SIZE: usize = 100_000;

fn cloud() -> (Cloud, Vec<u8>, String) {
    let image = generate_image(SIZE, 3);
    let cloud = Cloud::start(CloudConfig::new(
        Broker::Embedded { port: 0 },
        vec![DeviceTask::new(PID, DN, SECRET, "2.0.0", image.clone())],
    ))
    .unwrap();
    let (_, target) = split_url(&cloud.firmware_url(PID, DN).unwrap());
    (cloud, image, target)
}

#[test]
fn range_forms_give_206() {
    let (cloud, image, target) = cloud();
    let mut c = HttpConn::connect(cloud.http_port());
    let r = c.get(&target, &["Range: bytes=10-19"]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Range"), Some("bytes 10-19/100000"));
    assert_eq!(r.header("Content-Length"), Some("10"));
    assert_eq!(r.body, &image[10..20]);
    let r = c.get(&target, &["Range: bytes=99990-"]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Range"), Some("bytes 99990-99999/100000"));
    assert_eq!(r.body, &image[99990..]);
    let r = c.get(&target, &["Range: bytes=-5"]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Range"), Some("bytes 99995-99999/100000"));
    assert_eq!(r.body, &image[99995..]);
    // Tencent's SDKs ask for one byte past the end: clamped.
    let r = c.get(&target, &["Range: bytes=50000-100000"]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Range"), Some("bytes 50000-99999/100000"));
    assert_eq!(r.body, &image[50000..]);
    let report = cloud.stop();
    assert_eq!(report.requests.len(), 4);
    assert!(
        report
            .requests
            .iter()
            .all(|q| q.conn == report.requests[0].conn)
    );
    assert_eq!(report.requests[0].range.as_deref(), Some("bytes=10-19"));
    assert_eq!(report.requests[0].status, 206);
    assert_eq!(report.bytes_served, 10 + 10 + 5 + 50000);
}

#[test]
fn no_range_gives_200_with_etag() {
    let (cloud, image, target) = cloud();
    let mut c = HttpConn::connect(cloud.http_port());
    let r = c.get(&target, &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, image);
    assert_eq!(r.header("Content-Range"), None);
    assert_eq!(r.header("Accept-Ranges"), Some("bytes"));
    assert_eq!(
        r.header("ETag"),
        Some(format!("\"{}\"", md5_hex(&image)).as_str())
    );
    let h = c.request("HEAD", &target, &[]);
    assert_eq!(h.status, 200);
    assert_eq!(h.header("Content-Length"), Some("100000"));
    let report = cloud.stop();
    assert_eq!(report.bytes_served, SIZE as u64);
}

#[test]
fn unsatisfiable_gives_416() {
    let (cloud, _, target) = cloud();
    let mut c = HttpConn::connect(cloud.http_port());
    for range in ["bytes=100000-", "bytes=200000-300000", "bytes=-0"] {
        let r = c.get(&target, &[&format!("Range: {range}")]);
        assert_eq!(r.status, 416, "{range}");
        assert_eq!(r.header("Content-Range"), Some("bytes */100000"));
        assert!(r.body.is_empty());
    }
    // Still usable after a 416.
    assert_eq!(c.get(&target, &["Range: bytes=0-0"]).status, 206);
}

#[test]
fn if_range() {
    let (cloud, image, target) = cloud();
    let etag = format!("\"{}\"", md5_hex(&image));
    let mut c = HttpConn::connect(cloud.http_port());
    let r = c.get(
        &target,
        &["Range: bytes=100-", &format!("If-Range: {etag}")],
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &image[100..]);
    let r = c.get(
        &target,
        &[
            "Range: bytes=100-",
            "If-Range: \"0123456789abcdef0123456789abcdef\"",
        ],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, image);
    let report = cloud.stop();
    assert_eq!(
        report.requests[1].if_range.as_deref(),
        Some("\"0123456789abcdef0123456789abcdef\"")
    );
}

#[test]
fn keep_alive_and_close() {
    let (cloud, image, target) = cloud();
    let mut c = HttpConn::connect(cloud.http_port());
    for i in 0..5 {
        let r = c.get(
            &target,
            &[&format!("Range: bytes={}-{}", i * 1000, i * 1000 + 999)],
        );
        assert_eq!(r.status, 206);
        assert_eq!(r.header("Connection"), Some("keep-alive"));
        assert_eq!(r.body, &image[i * 1000..i * 1000 + 1000]);
    }
    let r = c.get(&target, &["Range: bytes=0-9", "Connection: close"]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(c.closed_by_server());
    let report = cloud.stop();
    assert_eq!(report.requests.len(), 6);
    assert!(
        report
            .requests
            .iter()
            .all(|q| q.conn == report.requests[0].conn)
    );
}

#[test]
fn unknown_path_is_404() {
    let (cloud, _, target) = cloud();
    let mut c = HttpConn::connect(cloud.http_port());
    assert_eq!(c.get("/nothing/here.bin", &[]).status, 404);
    assert_eq!(c.get(&format!("{target}x"), &[]).status, 404);
    // The query string does not matter for routing.
    assert_eq!(
        c.get(&format!("{target}?sign=abc&t=5"), &["Range: bytes=0-0"])
            .status,
        206
    );
    let report = cloud.stop();
    assert_eq!(report.requests[0].status, 404);
    assert_eq!(report.requests[2].offer, Some(5));
    assert_eq!(
        report.requests[2].device.as_deref(),
        Some("ABCDEFGHIJ/dev001")
    );
}

#[test]
fn large_image_is_fast() {
    // 64 MiB from memory over loopback; the bound is loose (debug build, shared machine).
    let image = generate_image(64 << 20, 9);
    let cloud = Cloud::start(CloudConfig::new(
        Broker::Embedded { port: 0 },
        vec![DeviceTask::new(PID, DN, SECRET, "2.0.0", image)],
    ))
    .unwrap();
    let (_, target) = split_url(&cloud.firmware_url(PID, DN).unwrap());
    let mut c = HttpConn::connect(cloud.http_port());
    let t = std::time::Instant::now();
    let r = c.get(&target, &[]);
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(r.body.len(), 64 << 20);
    let mbps = 64.0 / secs;
    eprintln!("served 64 MiB in {secs:.3} s: {mbps:.0} MiB/s");
    assert!(secs < Duration::from_secs(20).as_secs_f64());
}
