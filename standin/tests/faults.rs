//! Fault injection (`Faults`): each fault does exactly what it says, byte for byte, and shows
//! in the HTTP log; the checker accepts what the faults legitimately cause.

mod common;

use common::*;
use qcloud_ota_standin::{
    Broker, Cloud, CloudConfig, DeviceTask, Faults, Report, generate_image, md5_hex,
};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const SIZE: usize = 100_000;
const T: Duration = Duration::from_secs(10);

fn cloud(faults: Faults) -> (Cloud, Vec<u8>, String) {
    let image = generate_image(SIZE, 11);
    let mut task = DeviceTask::new(PID, DN, SECRET, "2.0.0", image.clone());
    task.faults = faults;
    let cloud = Cloud::start(CloudConfig::new(Broker::Embedded { port: 0 }, vec![task])).unwrap();
    let (_, target) = split_url(&cloud.firmware_url(PID, DN).unwrap());
    (cloud, image, target)
}

/// A response read until the server closed the connection: head and raw body bytes.
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn from_bytes(all: &[u8]) -> Raw {
        let end = all
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a response head")
            + 4;
        let head = std::str::from_utf8(&all[..end - 4]).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap()[9..12].parse().unwrap();
        let headers = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.to_owned(), v.trim().to_owned())
            })
            .collect();
        Raw {
            status,
            headers,
            body: all[end..].to_vec(),
        }
    }
}

fn send(port: u16, method: &str, target: &str, headers: &[&str]) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s
}

/// One request on a fresh connection, read until the server closes it. Without
/// `Connection: close` in `headers`, only use this where the server closes by itself.
fn exchange(port: u16, method: &str, target: &str, headers: &[&str]) -> Raw {
    let mut s = send(port, method, target, headers);
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    Raw::from_bytes(&all)
}

/// `exchange` with `Connection: close` added.
fn get_close(port: u16, target: &str, headers: &[&str]) -> Raw {
    let mut h = headers.to_vec();
    h.push("Connection: close");
    exchange(port, "GET", target, &h)
}

/// Decodes a chunked body; returns the payload, the chunk sizes, and whether the terminating
/// zero chunk arrived.
fn dechunk(mut raw: &[u8]) -> (Vec<u8>, Vec<usize>, bool) {
    let (mut out, mut sizes) = (Vec::new(), Vec::new());
    loop {
        let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") else {
            return (out, sizes, false);
        };
        let n = usize::from_str_radix(std::str::from_utf8(&raw[..eol]).unwrap(), 16).unwrap();
        raw = &raw[eol + 2..];
        if n == 0 {
            assert_eq!(raw, b"\r\n", "no trailers");
            return (out, sizes, true);
        }
        sizes.push(n);
        if raw.len() < n {
            out.extend_from_slice(raw);
            return (out, sizes, false);
        }
        out.extend_from_slice(&raw[..n]);
        raw = &raw[n..];
        if raw.is_empty() {
            return (out, sizes, false);
        }
        assert_eq!(&raw[..2], b"\r\n");
        raw = &raw[2..];
    }
}

fn fault_of(report: &Report, i: usize) -> &str {
    report.requests[i].fault.as_deref().unwrap_or("")
}

#[test]
fn no_faults_serve_clean() {
    assert!(Faults::default().serves_clean());
    let wrong = Faults {
        wrong_md5sum: Some("00".into()),
        ..Faults::default()
    };
    assert!(wrong.serves_clean(), "wrong_md5sum acts on offers only");
    let (cloud, image, target) = cloud(Faults::default());
    let r = get_close(cloud.http_port(), &target, &["Range: bytes=5-"]);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &image[5..]);
    let report = cloud.stop();
    assert_eq!(report.requests[0].fault, None);
    assert_eq!(report.bytes_served_for(DN), (SIZE - 5) as u64);
    assert_eq!(
        report.bytes_served_for(&format!("{PID}/{DN}")),
        (SIZE - 5) as u64
    );
    assert_eq!(report.bytes_served_for("other"), 0);
}

#[test]
fn drop_at_cuts_after_byte_n_minus_1_once_per_offset() {
    let (cloud, image, target) = cloud(Faults {
        drop_at: vec![5000, 1000, 20_000],
        ..Faults::default()
    });
    let port = cloud.http_port();
    // Keep-alive request: the server closes the connection right after byte 999.
    let r = exchange(port, "GET", &target, &["Range: bytes=0-"]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Length"), Some("100000"));
    assert_eq!(r.body, &image[..1000]);
    // The resume crosses 5000 (the smallest pending offset fires, 20000 stays pending).
    let r = exchange(port, "GET", &target, &["Range: bytes=1000-"]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Range"), Some("bytes 1000-99999/100000"));
    assert_eq!(r.body, &image[1000..5000]);
    // A body that starts at the offset: headers, no body byte, close.
    let r = exchange(port, "GET", &target, &["Range: bytes=20000-29999"]);
    assert_eq!(r.status, 206);
    assert!(r.body.is_empty());
    // Each offset fired once: everything is served now, with keep-alive.
    let mut c = HttpConn::connect(port);
    let r = c.get(&target, &["Range: bytes=0-"]);
    assert_eq!(r.body, image);
    let r = c.get(&target, &["Range: bytes=1000-"]);
    assert_eq!(r.body, &image[1000..]);
    drop(c);
    let report = cloud.stop();
    let q = &report.requests;
    assert_eq!(q.len(), 5);
    assert_eq!(
        (q[0].status, q[0].content_length, q[0].bytes_sent),
        (206, 100_000, 1000)
    );
    assert_eq!(
        fault_of(&report, 0),
        "drop at 1000 (cut after 1000 of 100000 body bytes)"
    );
    assert_eq!((q[1].start, q[1].bytes_sent), (Some(1000), 4000));
    assert!(q[1].fault_has("drop at 5000"));
    assert_eq!(q[2].bytes_sent, 0);
    assert!(q[2].fault_has("drop at 20000 (cut after 0 of 10000"));
    assert_eq!(q[3].fault, None);
    assert_eq!(q[4].fault, None);
    // What a test of a device would assert: a Range past 0 came after a drop.
    let dropped = q.iter().position(|r| r.fault_has("drop at")).unwrap();
    assert!(
        q[dropped + 1..]
            .iter()
            .any(|r| r.start.is_some_and(|s| s > 0))
    );
    assert_eq!(
        report.bytes_served_for(DN),
        1000 + 4000 + SIZE as u64 + (SIZE - 1000) as u64
    );
}

#[test]
fn stall_at_pauses_before_byte_n_then_goes_on() {
    let (cloud, image, target) = cloud(Faults {
        stall_at: Some((30_000, Duration::from_millis(800))),
        ..Faults::default()
    });
    let mut s = send(cloud.http_port(), "GET", &target, &["Connection: close"]);
    let mut all = Vec::new();
    let mut buf = [0u8; 65536];
    let mut head_len = None;
    let mut reached: Option<(usize, Instant)> = None;
    let mut resumed: Option<Instant> = None;
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        if reached.is_some() && resumed.is_none() {
            resumed = Some(Instant::now());
        }
        all.extend_from_slice(&buf[..n]);
        if head_len.is_none() {
            head_len = all.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
        }
        if let Some(h) = head_len
            && reached.is_none()
            && all.len() - h >= 30_000
        {
            reached = Some((all.len() - h, Instant::now()));
        }
    }
    let (at, when) = reached.unwrap();
    assert_eq!(at, 30_000, "nothing past byte 29999 before the pause");
    let gap = resumed.unwrap() - when;
    assert!(gap >= Duration::from_millis(700), "paused only {gap:?}");
    let r = Raw::from_bytes(&all);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, image, "the whole body after the pause");
    // Once only.
    let t = Instant::now();
    assert_eq!(get_close(cloud.http_port(), &target, &[]).body, image);
    assert!(t.elapsed() < Duration::from_millis(700));
    let report = cloud.stop();
    assert_eq!(fault_of(&report, 0), "stall 800 ms at 30000");
    assert_eq!(report.requests[0].bytes_sent, SIZE as u64);
    assert_eq!(report.requests[1].fault, None);
}

#[test]
fn stall_is_not_fired_by_a_body_cut_before_it() {
    let (cloud, image, target) = cloud(Faults {
        drop_at: vec![100],
        stall_at: Some((200, Duration::from_millis(300))),
        ..Faults::default()
    });
    let r = exchange(cloud.http_port(), "GET", &target, &[]);
    assert_eq!(r.body, &image[..100]);
    let r = get_close(cloud.http_port(), &target, &["Range: bytes=100-"]);
    assert_eq!(r.body, &image[100..]);
    let report = cloud.stop();
    assert!(!report.requests[0].fault_has("stall"));
    assert_eq!(fault_of(&report, 1), "stall 300 ms at 200");
}

#[test]
fn server_error_first_k() {
    let (cloud, image, target) = cloud(Faults {
        server_error_first: 2,
        ..Faults::default()
    });
    let mut c = HttpConn::connect(cloud.http_port());
    for _ in 0..2 {
        let r = c.get(&target, &["Range: bytes=0-9"]);
        assert_eq!(r.status, 500);
        assert_eq!(r.header("Connection"), Some("keep-alive"));
        assert!(String::from_utf8_lossy(&r.body).contains("<Code>InternalError</Code>"));
    }
    let r = c.get(&target, &["Range: bytes=0-9"]);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &image[..10]);
    let report = cloud.stop();
    assert_eq!(fault_of(&report, 0), "500: server error 1/2");
    assert_eq!(fault_of(&report, 1), "500: server error 2/2");
    assert_eq!(report.requests[0].status, 500);
    assert_eq!(report.requests[2].fault, None);
    assert_eq!(report.bytes_served, 10);
}

#[test]
fn not_found_every_request() {
    let (cloud, _, target) = cloud(Faults {
        not_found: true,
        ..Faults::default()
    });
    let mut c = HttpConn::connect(cloud.http_port());
    for _ in 0..3 {
        let r = c.get(&target, &["Range: bytes=0-"]);
        assert_eq!(r.status, 404);
        assert!(String::from_utf8_lossy(&r.body).contains("<Code>NoSuchKey</Code>"));
    }
    assert_eq!(c.request("HEAD", &target, &[]).status, 404);
    let report = cloud.stop();
    assert!(report.requests.iter().all(|r| r.status == 404));
    assert!(
        report
            .requests
            .iter()
            .all(|r| r.fault_has("404: not_found"))
    );
    assert_eq!(report.bytes_served, 0);
}

#[test]
fn ignore_range_always_sends_the_whole_image() {
    let (cloud, image, target) = cloud(Faults {
        ignore_range: true,
        ..Faults::default()
    });
    let etag = format!("\"{}\"", md5_hex(&image));
    let mut c = HttpConn::connect(cloud.http_port());
    for h in [
        vec!["Range: bytes=10-19".to_owned()],
        vec![
            "Range: bytes=50000-".to_owned(),
            format!("If-Range: {etag}"),
        ],
        vec![],
    ] {
        let h: Vec<&str> = h.iter().map(String::as_str).collect();
        let r = c.get(&target, &h);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Content-Range"), None);
        assert_eq!(r.header("Content-Length"), Some("100000"));
        assert_eq!(r.body, image);
    }
    let report = cloud.stop();
    assert_eq!(fault_of(&report, 0), "ignore_range");
    assert_eq!(fault_of(&report, 1), "ignore_range");
    assert_eq!(report.requests[2].fault, None, "no Range, nothing ignored");
    assert!(report.requests.iter().all(|r| r.start == Some(0)));
}

#[test]
fn wrong_content_length_positive_then_honest() {
    let (cloud, image, target) = cloud(Faults {
        wrong_content_length: Some(10),
        ..Faults::default()
    });
    // Keep-alive asked, but the server closes after the real slice.
    let r = exchange(cloud.http_port(), "GET", &target, &["Range: bytes=0-99"]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Length"), Some("110"));
    assert_eq!(r.header("Content-Range"), Some("bytes 0-99/100000"));
    assert_eq!(r.body, &image[..100]);
    // Only the first response lies.
    let mut c = HttpConn::connect(cloud.http_port());
    let r = c.get(&target, &["Range: bytes=0-99"]);
    assert_eq!(r.header("Content-Length"), Some("100"));
    assert_eq!(r.body, &image[..100]);
    drop(c);
    let report = cloud.stop();
    assert_eq!(
        fault_of(&report, 0),
        "wrong Content-Length: declared 110, body 100"
    );
    assert_eq!(
        (
            report.requests[0].content_length,
            report.requests[0].bytes_sent
        ),
        (100, 100)
    );
    assert_eq!(report.requests[1].fault, None);
}

#[test]
fn wrong_content_length_negative_on_a_200() {
    let (cloud, image, target) = cloud(Faults {
        wrong_content_length: Some(-1000),
        chunked: true, // the lying response uses Content-Length anyway
        ..Faults::default()
    });
    let r = exchange(cloud.http_port(), "GET", &target, &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("99000"));
    assert_eq!(r.header("Transfer-Encoding"), None);
    assert_eq!(r.body, image, "the real body, then close");
    let r = get_close(cloud.http_port(), &target, &[]);
    assert_eq!(r.header("Transfer-Encoding"), Some("chunked"));
    assert_eq!(dechunk(&r.body).0, image);
    let report = cloud.stop();
    assert_eq!(
        fault_of(&report, 0),
        "wrong Content-Length: declared 99000, body 100000"
    );
    assert_eq!(fault_of(&report, 1), "chunked");
}

#[test]
fn chunked_bodies_vary_deterministically() {
    let (cloud, image, target) = cloud(Faults {
        chunked: true,
        ..Faults::default()
    });
    let port = cloud.http_port();
    let a = get_close(port, &target, &["Range: bytes=0-"]);
    assert_eq!(a.status, 206);
    assert_eq!(a.header("Transfer-Encoding"), Some("chunked"));
    assert_eq!(a.header("Content-Length"), None);
    assert_eq!(a.header("Content-Range"), Some("bytes 0-99999/100000"));
    let (body, sizes, terminated) = dechunk(&a.body);
    assert!(terminated);
    assert_eq!(body, image);
    assert!(sizes.len() > 5, "{sizes:?}");
    assert!(sizes.iter().any(|&n| n <= 16), "tiny chunks too: {sizes:?}");
    let distinct: std::collections::BTreeSet<_> = sizes.iter().collect();
    assert!(distinct.len() > sizes.len() / 2, "{sizes:?}");
    // Same request, same framing.
    let b = get_close(port, &target, &["Range: bytes=0-"]);
    assert_eq!(a.body, b.body);
    // Keep-alive works with chunked bodies.
    let mut s = send(port, "GET", &target, &["Range: bytes=10-19"]);
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    while !all.ends_with(b"0\r\n\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        all.extend_from_slice(&buf[..n]);
    }
    let r = Raw::from_bytes(&all);
    assert_eq!(r.header("Connection"), Some("keep-alive"));
    assert_eq!(dechunk(&r.body).0, &image[10..20]);
    let h = exchange(port, "HEAD", &target, &["Connection: close"]);
    assert_eq!(h.header("Transfer-Encoding"), Some("chunked"));
    assert!(h.body.is_empty());
    let report = cloud.stop();
    assert!(report.requests.iter().all(|r| r.fault_has("chunked")));
    assert_eq!(report.requests[0].bytes_sent, SIZE as u64);
    assert_eq!(report.requests[0].content_length, SIZE as u64);
}

#[test]
fn chunked_and_drop_cut_inside_a_chunk() {
    let (cloud, image, target) = cloud(Faults {
        chunked: true,
        drop_at: vec![54_321],
        ..Faults::default()
    });
    let r = exchange(cloud.http_port(), "GET", &target, &[]);
    let (body, _, terminated) = dechunk(&r.body);
    assert!(!terminated);
    assert_eq!(body, &image[..54_321]);
    let report = cloud.stop();
    assert_eq!(
        fault_of(&report, 0),
        "chunked; drop at 54321 (cut after 54321 of 100000 body bytes)"
    );
    assert_eq!(report.requests[0].bytes_sent, 54_321);
}

#[test]
fn redirect_first_k_with_a_fresh_token() {
    let (cloud, image, target) = cloud(Faults {
        redirect_first: 2,
        ..Faults::default()
    });
    let port = cloud.http_port();
    let mut c = HttpConn::connect(port);
    let mut next = format!("{target}?sign=abc&t=5");
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let r = c.get(&next, &["Range: bytes=0-99"]);
        assert_eq!(r.status, 302);
        let loc = r.header("Location").unwrap().to_owned();
        let (p, t) = split_url(&loc);
        assert_eq!(p, port);
        let (path, query) = t.split_once('?').unwrap();
        assert_eq!(path, target, "same path");
        assert!(query.starts_with("sign=q-sign-algorithm%3Dsha1%26q-signature%3D"));
        let tok = query.rsplit_once("&t=").unwrap().1.to_owned();
        assert_ne!(tok, "5");
        tokens.push(tok);
        next = t;
    }
    assert_ne!(tokens[0], tokens[1]);
    let r = c.get(&next, &["Range: bytes=0-99"]);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &image[..100]);
    let report = cloud.stop();
    let q = &report.requests;
    assert_eq!(
        fault_of(&report, 0),
        format!("302: redirect 1/2 to t={}", tokens[0])
    );
    assert_eq!(
        fault_of(&report, 1),
        format!("302: redirect 2/2 to t={}", tokens[1])
    );
    // Redirect URLs stand for the offer they came from.
    assert!(q.iter().all(|r| r.offer == Some(5)));
    assert!(q[2].target.ends_with(&format!("t={}", tokens[1])));
}

#[test]
fn change_object_at_replaces_the_object_once_byte_n_was_sent() {
    let (cloud, image, target) = cloud(Faults {
        change_object_at: Some(5000),
        ..Faults::default()
    });
    let port = cloud.http_port();
    let old_etag = format!("\"{}\"", md5_hex(&image));
    let new_image: Vec<u8> = image.iter().map(|b| b ^ 0xA5).collect();
    let new_etag = format!("\"{}\"", md5_hex(&new_image));
    let mut c = HttpConn::connect(port);
    // Up to byte 4999: nothing changes.
    let r = c.get(&target, &["Range: bytes=0-4999"]);
    assert_eq!(r.header("ETag"), Some(old_etag.as_str()));
    // This response sends byte 5000: it finishes with the old bytes.
    let r = c.get(&target, &["Range: bytes=4990-9999"]);
    assert_eq!(r.body, &image[4990..10000]);
    // A resume with the old ETag gets the new object whole.
    let ir = format!("If-Range: {old_etag}");
    let r = c.get(&target, &["Range: bytes=10000-", &ir]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("ETag"), Some(new_etag.as_str()));
    assert_eq!(r.body, new_image);
    // A resume without If-Range splices the new bytes (what a careless device would do).
    let r = c.get(&target, &["Range: bytes=10000-10009"]);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &new_image[10000..10010]);
    // Once only: byte 5000 again changes nothing more.
    let r = c.get(&target, &["Range: bytes=0-"]);
    assert_eq!(r.header("ETag"), Some(new_etag.as_str()));
    assert_eq!(r.body, new_image);
    drop(c);
    let report = cloud.stop();
    assert_eq!(report.requests[0].fault, None);
    assert_eq!(
        fault_of(&report, 1),
        format!("object replaced after byte 5000 (new ETag {new_etag})")
    );
    assert_eq!(fault_of(&report, 2), "If-Range has a replaced ETag");
    assert_eq!(report.requests[3].fault, None);
    assert_eq!(report.requests[4].fault, None);
}

/// The fake device asks for the version and returns the offer's parsed JSON.
fn offer(dev: &FakeDevice, version: &str) -> Value {
    dev.report_version(version);
    let (_, _, rsp) = dev.recv(T);
    assert!(rsp.contains("report_version_rsp"), "{rsp}");
    let (_, _, raw) = dev.recv(T);
    let v: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(v["type"], "update_firmware");
    v
}

fn fail(dev: &FakeDevice, code: &str) {
    dev.publish(
        1,
        &format!(
            "{{\"type\": \"report_progress\", \"report\": {{\"progress\": {{\"state\":\"fail\", \"result_code\":\"{code}\", \"result_msg\":\"time_out\"}}, \"version\": \"2.0.0\"}}}}"
        ),
    );
}

#[test]
fn forbidden_first_expires_the_first_offers_urls() {
    let (cloud, image, _) = cloud(Faults {
        forbidden_first: 2,
        ..Faults::default()
    });
    let dev = FakeDevice::connect(cloud.mqtt_port(), PID, DN);
    let o1 = offer(&dev, "1.0.0");
    let (port, t1) = split_url(o1["url"].as_str().unwrap());
    dev.progress("downloading", Some("0"), "2.0.0");
    let mut c = HttpConn::connect(port);
    let r = c.get(&t1, &["Range: bytes=0-"]);
    assert_eq!(r.status, 403);
    let body = String::from_utf8_lossy(&r.body).into_owned();
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");
    assert!(body.contains("Request has expired"), "{body}");
    // report_version mid-download for a fresh URL: a new offer of the same task.
    let o2 = offer(&dev, "1.0.0");
    assert_eq!(o2["md5sum"], o1["md5sum"]);
    let (_, t2) = split_url(o2["url"].as_str().unwrap());
    assert_ne!(t1, t2);
    assert_eq!(c.get(&t2, &["Range: bytes=0-"]).status, 403);
    // 403 reported as -3: expected, recorded.
    fail(&dev, "-3");
    let o3 = offer(&dev, "1.0.0");
    let (_, t3) = split_url(o3["url"].as_str().unwrap());
    dev.progress("downloading", Some("0"), "2.0.0");
    let r = c.get(&t3, &["Range: bytes=0-"]);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, image);
    // The old URLs stay expired; a URL without a token is not affected.
    assert_eq!(c.get(&t1, &[]).status, 403);
    let bare = t1.split_once('?').unwrap().0;
    assert_eq!(c.get(bare, &["Range: bytes=0-0"]).status, 206);
    dev.progress("downloading", Some("100"), "2.0.0");
    dev.progress("burning", None, "2.0.0");
    dev.progress("done", None, "2.0.0");
    dev.report_version("2.0.0");
    assert!(cloud.wait_completed(T), "{}", cloud.report());
    let report = cloud.stop();
    assert!(report.deviations.is_empty(), "{report}");
    let d = report.device(DN).unwrap();
    assert_eq!(d.offers, 3);
    assert_eq!(d.fails, [-3]);
    assert_eq!(d.fail_last_http, [Some(403)]);
    assert_eq!(fault_of(&report, 0), "403: URL of offer #1 expired");
    assert_eq!(fault_of(&report, 1), "403: URL of offer #2 expired");
    assert_eq!(report.requests[2].fault, None);
    assert_eq!(fault_of(&report, 3), "403: URL of offer #1 expired");
}

#[test]
fn fail_codes_after_faults_are_checked() {
    let (cloud, _, _) = cloud(Faults {
        not_found: true,
        ..Faults::default()
    });
    let dev = FakeDevice::connect(cloud.mqtt_port(), PID, DN);
    let o = offer(&dev, "1.0.0");
    let (port, t) = split_url(o["url"].as_str().unwrap());
    let mut c = HttpConn::connect(port);
    assert_eq!(c.get(&t, &[]).status, 404);
    fail(&dev, "-2");
    assert!(cloud.wait_until(T, |r| r.fails.len() == 1));
    assert!(cloud.report().deviations.is_empty(), "{}", cloud.report());
    // A 404 reported as a timeout is a deviation.
    let o = offer(&dev, "1.0.0");
    let (_, t) = split_url(o["url"].as_str().unwrap());
    assert_eq!(c.get(&t, &[]).status, 404);
    fail(&dev, "-1");
    assert!(cloud.wait_until(T, |r| r.fails.len() == 2));
    let report = cloud.stop();
    assert_eq!(report.deviations.len(), 1, "{report}");
    assert!(report.deviations[0].contains("after an HTTP 404: expected -2"));
    assert_eq!(report.device(DN).unwrap().fails, [-2, -1]);
    assert_eq!(
        report.device(DN).unwrap().fail_last_http,
        [Some(404), Some(404)]
    );
}

#[test]
fn change_object_changes_later_offers_md5sum() {
    let (cloud, image, _) = cloud(Faults {
        change_object_at: Some(50_000),
        ..Faults::default()
    });
    let new_md5 = md5_hex(&image.iter().map(|b| b ^ 0xA5).collect::<Vec<u8>>());
    let dev = FakeDevice::connect(cloud.mqtt_port(), PID, DN);
    let o1 = offer(&dev, "1.0.0");
    assert_eq!(o1["md5sum"], md5_hex(&image));
    let (port, t1) = split_url(o1["url"].as_str().unwrap());
    dev.progress("downloading", Some("0"), "2.0.0");
    let mut c = HttpConn::connect(port);
    let a = c.get(&t1, &["Range: bytes=0-59999"]);
    let etag = a.header("ETag").unwrap().to_owned();
    let b = c.get(&t1, &["Range: bytes=60000-", &format!("If-Range: {etag}")]);
    assert_eq!(b.status, 200, "the object changed under the download");
    assert_eq!(md5_hex(&b.body), new_md5);
    // The device restarts from 0 on the 200 (allowed), then learns the md5sum changed.
    dev.progress("downloading", Some("0"), "2.0.0");
    let o2 = offer(&dev, "1.0.0");
    assert_eq!(o2["md5sum"], new_md5.as_str());
    let (_, t2) = split_url(o2["url"].as_str().unwrap());
    let r = c.get(&t2, &["Range: bytes=0-"]);
    assert_eq!(md5_hex(&r.body), new_md5);
    dev.progress("downloading", Some("0"), "2.0.0");
    dev.progress("downloading", Some("100"), "2.0.0");
    dev.progress("burning", None, "2.0.0");
    dev.progress("done", None, "2.0.0");
    dev.report_version("2.0.0");
    assert!(cloud.wait_completed(T), "{}", cloud.report());
    let report = cloud.stop();
    assert!(report.deviations.is_empty(), "{report}");
    assert_eq!(report.device(DN).unwrap().md5sum, new_md5);
}

#[test]
fn stages_combine_in_order() {
    // not_found wins over everything; otherwise 403 (expired offer) → 302 → 500 → body faults.
    let (cloud, image, target) = cloud(Faults {
        redirect_first: 1,
        server_error_first: 1,
        drop_at: vec![10],
        ignore_range: true,
        ..Faults::default()
    });
    let mut c = HttpConn::connect(cloud.http_port());
    let r = c.get(&target, &["Range: bytes=50-"]);
    assert_eq!(r.status, 302);
    let (_, next) = split_url(r.header("Location").unwrap());
    assert_eq!(c.get(&next, &["Range: bytes=50-"]).status, 500);
    drop(c);
    let r = exchange(cloud.http_port(), "GET", &next, &["Range: bytes=50-"]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, &image[..10]);
    let r = get_close(cloud.http_port(), &next, &["Range: bytes=50-"]);
    assert_eq!(r.body, image);
    let report = cloud.stop();
    assert!(fault_of(&report, 0).starts_with("302: redirect 1/1"));
    assert_eq!(fault_of(&report, 1), "500: server error 1/1");
    assert_eq!(
        fault_of(&report, 2),
        "ignore_range; drop at 10 (cut after 10 of 100000 body bytes)"
    );
    assert_eq!(fault_of(&report, 3), "ignore_range");
}
