//! The `standin` program end to end: a scripted device against it, exit codes.

mod common;

use common::*;
use serde_json::Value;
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);

struct Standin {
    child: Child,
    dir: std::path::PathBuf,
}

impl Standin {
    fn start(name: &str, extra: &[&str]) -> (Standin, u16, u16) {
        let dir = std::env::temp_dir().join(format!("standin-cli-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ports = dir.join("ports");
        let child = Command::new(env!("CARGO_BIN_EXE_standin"))
            .args([
                "--product-id",
                PID,
                "--device-name",
                DN,
                "--device-secret",
                SECRET,
                "--target-version",
                "2.0.0",
                "--image-size",
                "50000",
                "--seed",
                "5",
                "--timeout",
                "30",
            ])
            .args(["--write-ports", ports.to_str().unwrap()])
            .args(["--write-image", dir.join("image.bin").to_str().unwrap()])
            .args([
                "--write-device-info",
                dir.join("device_info.json").to_str().unwrap(),
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let s = Standin { child, dir };
        let mut text = String::new();
        assert!(
            wait_for(T, || {
                text = std::fs::read_to_string(&ports).unwrap_or_default();
                text.contains("HTTP_PORT")
            }),
            "standin wrote its ports"
        );
        let port = |k: &str| -> u16 {
            text.lines()
                .find_map(|l| l.strip_prefix(k))
                .unwrap()
                .parse()
                .unwrap()
        };
        let (m, h) = (port("MQTT_PORT="), port("HTTP_PORT="));
        (s, m, h)
    }

    /// Waits (bounded) for the exit; returns (code, stdout).
    fn wait(mut self) -> (i32, String) {
        let deadline = Instant::now() + Duration::from_secs(40);
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("standin did not exit");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        (status.code().unwrap_or(-1), out)
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn download(url: &str) -> Vec<u8> {
    let (port, target) = split_url(url);
    let mut c = HttpConn::connect(port);
    let r = c.get(&target, &["Range: bytes=0-"]);
    assert_eq!(r.status, 206);
    r.body
}

#[test]
fn clean_run_exits_0() {
    let (s, mqtt, _) = Standin::start("clean", &["--exit-when-done"]);
    let image = std::fs::read(s.dir.join("image.bin")).unwrap();
    assert_eq!(image, qcloud_ota_standin::generate_image(50000, 5));
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(s.dir.join("device_info.json")).unwrap())
            .unwrap();
    assert_eq!(info["key_deviceinfo"]["deviceSecret"], SECRET);
    let dev = FakeDevice::connect(mqtt, PID, DN);
    dev.report_version("1.0.0");
    dev.recv(T);
    let (_, _, upd) = dev.recv(T);
    let upd: Value = serde_json::from_str(&upd).unwrap();
    dev.progress("downloading", Some("0"), "2.0.0");
    assert_eq!(download(upd["url"].as_str().unwrap()), image);
    dev.progress("downloading", Some("100"), "2.0.0");
    dev.progress("done", None, "2.0.0");
    dev.report_version("2.0.0");
    let (code, out) = s.wait();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("standin: OK"), "{out}");
    assert!(
        out.contains("<- $ota/report/ABCDEFGHIJ/dev001 (q1"),
        "{out}"
    );
    assert!(
        out.contains("-> $ota/update/ABCDEFGHIJ/dev001 (q0"),
        "{out}"
    );
}

#[test]
fn deviation_exits_1() {
    let (s, mqtt, _) = Standin::start("deviation", &["--exit-when-done"]);
    let dev = FakeDevice::connect(mqtt, PID, DN);
    dev.report_version("1.0.0");
    dev.recv(T);
    dev.recv(T);
    dev.publish(
        0,
        r#"{"type":"report_progress","report":{"progress":{"state":"downloading","percent":0,"result_code":"0","result_msg":""},"version":"2.0.0"}}"#,
    );
    dev.progress("downloading", Some("100"), "2.0.0");
    dev.progress("done", None, "2.0.0");
    dev.report_version("2.0.0");
    let (code, out) = s.wait();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("percent must be a JSON string"), "{out}");
    assert!(out.contains("standin: FAILED"), "{out}");
}

#[test]
fn timeout_exits_1() {
    let dir = std::env::temp_dir().join(format!("standin-cli-{}-timeout", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_standin"))
        .args([
            "--product-id",
            PID,
            "--device-name",
            DN,
            "--device-secret",
            SECRET,
            "--target-version",
            "2.0.0",
            "--image-size",
            "10",
            "--timeout",
            "1",
            "--exit-when-done",
        ])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("timed out"));
}

#[test]
fn bad_usage_exits_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_standin"))
        .arg("--nonsense")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn help_documents_every_fault_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_standin"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--drop-at N",
        "--stall-at N:MS",
        "--forbidden-first K",
        "--not-found",
        "--server-error-first K",
        "--ignore-range",
        "--wrong-content-length D",
        "--change-object-at N",
        "--chunked",
        "--redirect-first K",
        "--wrong-md5sum HEX",
    ] {
        assert!(text.contains(flag), "{flag} missing from --help:\n{text}");
    }
    for bad in [
        &["--stall-at", "5"][..],
        &["--drop-at", "x"],
        &["--wrong-content-length", "1.5"],
        &["--forbidden-first"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_standin"))
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }
}

#[test]
fn fault_flags_reach_the_server() {
    let (s, _, http) = Standin::start(
        "faults",
        &[
            "--timeout",
            "2",
            "--server-error-first",
            "1",
            "--drop-at",
            "1000",
            "--drop-at",
            "3000",
            "--stall-at",
            "2000:10",
            "--wrong-content-length",
            "-5",
            "--chunked",
        ],
    );
    let image = std::fs::read(s.dir.join("image.bin")).unwrap();
    let target = format!("/ota/{PID}/{DN}/firmware-2.0.0.bin");
    let mut c = HttpConn::connect(http);
    assert_eq!(c.get(&target, &[]).status, 500);
    drop(c);
    // Wrong length (declared 49995, Content-Length instead of chunked) and cut at 1000.
    let raw = |headers: &str| {
        let mut st = std::net::TcpStream::connect(("127.0.0.1", http)).unwrap();
        std::io::Write::write_all(
            &mut st,
            format!("GET {target} HTTP/1.1\r\nHost: x\r\n{headers}\r\n").as_bytes(),
        )
        .unwrap();
        let mut all = Vec::new();
        st.read_to_end(&mut all).unwrap();
        let end = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        (
            String::from_utf8_lossy(&all[..end]).into_owned(),
            all[end..].to_vec(),
        )
    };
    let (head, body) = raw("");
    assert!(head.contains("Content-Length: 49995"), "{head}");
    assert_eq!(body, &image[..1000]);
    // Chunked from now on; the stall at 2000 fires, then the cut at 3000.
    let (head, body) = raw("Range: bytes=1000-\r\n");
    assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
    assert!(body.len() > 2000);
    let (code, out) = s.wait();
    assert_eq!(code, 1, "timed out without a device: {out}");
    assert!(out.contains("standin: faults Faults {"), "{out}");
    assert!(out.contains("FAULT: 500: server error 1/1"), "{out}");
    assert!(
        out.contains("FAULT: wrong Content-Length: declared 49995, body 50000; drop at 1000"),
        "{out}"
    );
    assert!(
        out.contains(
            "FAULT: chunked; drop at 3000 (cut after 2000 of 49000 body bytes); stall 10 ms at 2000"
        ),
        "{out}"
    );
    assert!(
        out.contains("connection cut by the drop fault after 2000 of 49000 bytes"),
        "{out}"
    );
}
