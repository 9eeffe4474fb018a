//! End to end, a gateway (`ota_gateway_demo`: one libmosquitto connection, one qcloud-ota client
//! per sub-device, `c_examples/gateway_subdev.c` for the online/offline exchange) against a real
//! mosquitto and the stand-in playing the cloud's gateway side (`standin/src/gateway.rs`): a
//! sub-device's topics are used only after the cloud answered its `online` with result 0, on
//! the gateway's current connection; every report of a sub-device that is not online is a
//! deviation, and no offer reaches it.
//!
//! - three sub-devices come online and update to three images at once;
//! - a sub-device the gateway is not bound to (-1) is skipped while the others finish;
//! - the gateway's connection is taken over in the middle of the downloads: it reconnects,
//!   sends `online` again before the sub-devices' topics are used, and all finish.
mod common;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::SECRET;
use common::programs::{program, run, scratch_dir};
use qcloud_ota_standin::{
    Broker, Cloud, CloudConfig, DeviceTask, Direction, Faults, Gateway, Mosquitto, Report,
    generate_image,
};

const GW_PID: &str = "GWPRODUCT1";
const GW_DN: &str = "gateway-1";

struct Sub {
    pid: &'static str,
    dn: &'static str,
    size: usize,
    version: &'static str,
}

const SUBS: [Sub; 3] = [
    Sub {
        pid: "GWSUBPRD01",
        dn: "sub-a",
        size: 2 << 20,
        version: "1.1.0",
    },
    Sub {
        pid: "GWSUBPRD01",
        dn: "sub-b",
        size: 3 << 20,
        version: "1.2.0",
    },
    Sub {
        pid: "GWSUBPRD02",
        dn: "sub-c",
        size: 4 << 20,
        version: "2.0.0",
    },
];

/// mosquitto and the stand-in holding a task for each of `subs` (its link slowed so that the
/// download takes `seconds`), all bound to the gateway.
fn gateway_cloud(subs: &[Sub], seconds: f64) -> (Mosquitto, Cloud, Vec<Vec<u8>>) {
    let images: Vec<Vec<u8>> = subs
        .iter()
        .enumerate()
        .map(|(i, s)| generate_image(s.size, 3000 + i as u64))
        .collect();
    let tasks = subs
        .iter()
        .zip(&images)
        .map(|(s, img)| {
            let mut t = DeviceTask::new(s.pid, s.dn, SECRET, s.version, img.clone());
            t.faults = Faults {
                rate_limit: Some((s.size as f64 / seconds) as u64),
                ..Faults::default()
            };
            t
        })
        .collect();
    let broker = Mosquitto::start().expect("mosquitto (scripts/setup.sh installs it)");
    let mut cfg = CloudConfig::new(
        Broker::External {
            host: "127.0.0.1".into(),
            port: broker.port(),
        },
        tasks,
    );
    let bound: Vec<(&str, &str)> = subs.iter().map(|s| (s.pid, s.dn)).collect();
    cfg.gateways = vec![Gateway::new(GW_PID, GW_DN, &bound)];
    let cloud = Cloud::start(cfg).expect("stand-in");
    (broker, cloud, images)
}

/// The demo's command line for `subs` (`--once`).
fn gateway_args(port: u16, dir: &Path, subs: &[(&str, &str)]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--dir",
        dir.to_str().unwrap(),
        "--gateway",
        &format!("{GW_PID}/{GW_DN}/{SECRET}"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (pid, dn) in subs {
        args.push("--sub".into());
        args.push(format!("{pid}/{dn}/{SECRET}:1.0.0"));
    }
    args.push("--once".into());
    args
}

fn run_gateway(args: &[String]) -> (i32, String) {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&program("ota_gateway_demo"), &refs, Duration::from_secs(60))
}

fn gateway_ops<'r>(report: &'r Report, kind: &'r str, dn: &'r str) -> Vec<&'r str> {
    report
        .messages
        .iter()
        .filter(|m| {
            m.direction == Direction::FromDevice
                && m.topic == format!("$gateway/operation/{GW_PID}/{GW_DN}")
                && m.payload.contains(&format!("\"type\":\"{kind}\""))
                && m.payload.contains(&format!("\"device_name\":\"{dn}\""))
        })
        .map(|m| m.payload.as_str())
        .collect()
}

/// After the demo exited: the stand-in saw every task of `subs` complete and the demo's
/// `offline` requests, with no deviation and no fail; then each sub-device: exactly one `done`,
/// the slot is the image, it "rebooted" into the target, its first report came after its first
/// `online` request, and it was taken offline at the end. Returns the stand-in's report.
fn check_updated(cloud: Cloud, log: &str, dir: &Path, subs: &[Sub], images: &[Vec<u8>]) -> Report {
    assert!(
        cloud.wait_completed(Duration::from_secs(10)),
        "stand-in never saw every task complete:\n{log}"
    );
    // The `offline` requests the demo sent just before it exited.
    cloud.wait_until(Duration::from_secs(10), |r| {
        subs.iter()
            .all(|s| !gateway_ops(r, "offline", s.dn).is_empty())
    });
    let report = cloud.stop();
    assert!(
        report.deviations.is_empty(),
        "protocol deviations:\n{report}\n{log}"
    );
    assert!(report.completed && report.fails.is_empty(), "{report}");
    assert_eq!(
        report.done,
        subs.len(),
        "one done per sub-device:\n{report}"
    );
    for (s, image) in subs.iter().zip(images) {
        let d = report.device(s.dn).expect("device report");
        assert!(d.completed, "{} not completed:\n{report}", s.dn);
        assert_eq!(d.done, 1, "{}: exactly one done:\n{report}", s.dn);
        let slot = std::fs::read(dir.join(s.dn).join("firmware.bin")).unwrap();
        assert!(
            &slot == image,
            "{}: slot differs from the served image",
            s.dn
        );
        let running = std::fs::read_to_string(dir.join(s.dn).join("running_version")).unwrap();
        assert_eq!(running.trim(), s.version, "{}", s.dn);
        assert!(
            log.contains(&format!("[{}] rebooting into {}", s.dn, s.version)),
            "{} never rebooted:\n{log}",
            s.dn
        );
        let first = |pred: &dyn Fn(&qcloud_ota_standin::Logged) -> bool| {
            report.messages.iter().position(pred)
        };
        let online = first(&|m| {
            m.topic.starts_with("$gateway/operation/")
                && m.payload.contains("\"type\":\"online\"")
                && m.payload.contains(&format!("\"device_name\":\"{}\"", s.dn))
        });
        let reported = first(&|m| m.topic == format!("$ota/report/{}/{}", s.pid, s.dn));
        assert!(
            online.is_some() && reported.is_some() && online < reported,
            "{}: online {online:?}, first report {reported:?}:\n{report}",
            s.dn
        );
        assert_eq!(
            gateway_ops(&report, "offline", s.dn).len(),
            1,
            "{}: one offline at the end:\n{report}",
            s.dn
        );
    }
    report
}

#[test]
fn three_sub_devices_come_online_then_update_at_once() {
    // Each link is slowed so that its download takes about 1 s: three concurrent downloads
    // must overlap.
    let (broker, cloud, images) = gateway_cloud(&SUBS, 1.0);
    let dir = scratch_dir("e2e-gateway-three");
    let ids: Vec<(&str, &str)> = SUBS.iter().map(|s| (s.pid, s.dn)).collect();
    let started = Instant::now();
    let (code, log) = run_gateway(&gateway_args(broker.port(), &dir, &ids));
    let took = started.elapsed();
    assert_eq!(code, 0, "ota_gateway_demo failed:\n{log}");
    assert!(log.contains("memory per extra client:"), "{log}");
    for s in &SUBS {
        assert!(log.contains(&format!("{}/{} online", s.pid, s.dn)), "{log}");
    }
    let report = check_updated(cloud, &log, &dir, &SUBS, &images);
    for s in &SUBS {
        assert_eq!(gateway_ops(&report, "online", s.dn).len(), 1, "{report}");
    }

    // The download's span on the stand-in's clock: the first request's head until the last
    // body byte (each request's bytes at the link's fixed rate).
    let mut intervals = Vec::new();
    for s in &SUBS {
        let key = format!("{}/{}", s.pid, s.dn);
        let reqs: Vec<_> = report.requests_for(&key).collect();
        assert!(!reqs.is_empty(), "{}: no HTTP request", s.dn);
        let rate = s.size as f64;
        let start = reqs.iter().map(|r| r.at).min().unwrap();
        let end = reqs
            .iter()
            .map(|r| r.at + Duration::from_secs_f64(r.bytes_sent as f64 / rate))
            .max()
            .unwrap();
        let served: u64 = reqs.iter().map(|r| r.bytes_sent).sum();
        assert_eq!(served, s.size as u64, "{}: bytes served", s.dn);
        intervals.push((s.dn, start, end));
    }
    // Concurrent: some moment lies inside all three downloads (every one started before any
    // finished), and together they took far less than one after the other (about 3 s).
    let latest_start = intervals.iter().map(|i| i.1).max().unwrap();
    let earliest_end = intervals.iter().map(|i| i.2).min().unwrap();
    assert!(
        latest_start + Duration::from_millis(300) < earliest_end,
        "the downloads did not overlap: {intervals:?}"
    );
    let span =
        intervals.iter().map(|i| i.2).max().unwrap() - intervals.iter().map(|i| i.1).min().unwrap();
    assert!(
        span < Duration::from_millis(2500),
        "three ~1 s downloads took {span:?} together: not concurrent ({intervals:?})"
    );
    eprintln!("gateway: downloads {intervals:?}, span {span:?}, whole run {took:?}");
    assert!(log.contains("closed: 1 connection(s)"), "{log}");
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unbound_sub_device_is_skipped_while_the_others_finish() {
    // sub-x is not bound to the gateway (and has no task): its online gets -1.
    let subs = &SUBS[..2];
    let (broker, cloud, images) = gateway_cloud(subs, 0.5);
    let dir = scratch_dir("e2e-gateway-unbound");
    let ids = [
        (subs[0].pid, subs[0].dn),
        ("GWSUBPRD01", "sub-x"),
        (subs[1].pid, subs[1].dn),
    ];
    let (code, log) = run_gateway(&gateway_args(broker.port(), &dir, &ids));
    // Exit 1: not every sub-device was updated.
    assert_eq!(code, 1, "ota_gateway_demo:\n{log}");
    assert!(
        log.contains(
            "GWSUBPRD01/sub-x: online refused: result -1 (the gateway is not bound to this \
             sub-device); skipping this sub-device"
        ),
        "{log}"
    );
    assert!(log.contains("no failure, 1 skipped"), "{log}");
    let report = check_updated(cloud, &log, &dir, subs, &images);
    // sub-x: asked once, refused, then never used (no report, no offline, no slot).
    let x = gateway_ops(&report, "online", "sub-x");
    assert_eq!(x.len(), 1, "{report}");
    assert!(
        report
            .messages
            .iter()
            .any(|m| m.direction == Direction::ToDevice
                && m.payload
                    .contains("\"device_name\":\"sub-x\",\"result\":-1")),
        "{report}"
    );
    assert!(
        !report
            .messages
            .iter()
            .any(|m| m.topic.contains("sub-x") && m.topic.starts_with("$ota/")),
        "{report}"
    );
    assert!(
        gateway_ops(&report, "offline", "sub-x").is_empty(),
        "{report}"
    );
    assert!(!dir.join("sub-x").join("firmware.bin").exists());
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Connects to mosquitto with `client_id` and leaves again: the broker closes the connection
/// that held that client id (IoT Explorer does the same: one connection per identity).
fn take_over(port: u16, client_id: &str) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to mosquitto");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60];
    body.extend_from_slice(&(client_id.len() as u16).to_be_bytes());
    body.extend_from_slice(client_id.as_bytes());
    assert!(body.len() < 128);
    let mut packet = vec![0x10, body.len() as u8];
    packet.extend_from_slice(&body);
    s.write_all(&packet).unwrap();
    let mut connack = [0u8; 4];
    s.read_exact(&mut connack).expect("CONNACK");
    assert_eq!(connack, [0x20, 2, 0, 0], "CONNACK accepted");
    s.write_all(&[0xE0, 0]).unwrap(); // DISCONNECT
}

#[test]
fn a_gateway_reconnect_in_the_middle_of_the_downloads() {
    // Downloads of about 9 s. The connection is taken over 5 s after they started: the gateway
    // reconnects at once (mosq_link spaces attempts 5 s apart) while they still run.
    let _built = program("ota_gateway_demo"); // before the clock below starts
    let (broker, cloud, images) = gateway_cloud(&SUBS, 9.0);
    let dir: PathBuf = scratch_dir("e2e-gateway-reconnect");
    let ids: Vec<(&str, &str)> = SUBS.iter().map(|s| (s.pid, s.dn)).collect();
    let args = gateway_args(broker.port(), &dir, &ids);
    let demo = std::thread::spawn(move || run_gateway(&args));

    let all_started = cloud.wait_until(Duration::from_secs(30), |r| {
        SUBS.iter().all(|s| {
            r.requests_for(&format!("{}/{}", s.pid, s.dn))
                .next()
                .is_some()
        })
    });
    assert!(
        all_started,
        "the downloads never started:\n{}",
        cloud.report()
    );
    std::thread::sleep(Duration::from_secs(5));
    let mid = cloud.report();
    assert!(
        !mid.completed && mid.done == 0,
        "too late for the reconnect:\n{mid}"
    );
    take_over(broker.port(), &format!("{GW_PID}{GW_DN}"));

    let (code, log) = demo.join().expect("demo thread");
    assert_eq!(code, 0, "ota_gateway_demo failed:\n{log}");
    assert!(log.contains("connection lost"), "{log}");
    assert!(log.contains("closed: 2 connection(s)"), "{log}");
    // The demo's own order: the reconnection before any image was complete, and on it each
    // sub-device's online reply before its update topic was subscribed again.
    let lost = log.find("connection lost").unwrap();
    let after = &log[lost..];
    let reconnected = after.find("connected to 127.0.0.1").expect("reconnected");
    let first_image = after.find("marked bootable").expect("an image");
    assert!(
        reconnected < first_image,
        "reconnected after the downloads:\n{log}"
    );
    for s in &SUBS {
        assert!(
            after.contains(&format!(
                "{}/{} offline with the connection; online again after the reconnect",
                s.pid, s.dn
            )),
            "{log}"
        );
        let online = after.find(&format!("{}/{} online", s.pid, s.dn));
        let subscribed = after.find(&format!("subscribed $ota/update/{}/{} ", s.pid, s.dn));
        assert!(
            online.is_some() && subscribed.is_some() && online < subscribed,
            "{}: online again at {online:?}, subscribed at {subscribed:?}:\n{log}",
            s.dn
        );
    }
    // Zero deviations (checked there): after the new connection no sub-device's report came
    // before its new `online` (the stand-in counts any as a deviation).
    let report = check_updated(cloud, &log, &dir, &SUBS, &images);
    // The take-over is the client id's connection #2: the gateway's sub-devices go offline
    // with its connection #1. The gateway's reconnection is #3 (whether the intruder's own
    // DISCONNECT is logged before it is a race), and it ends with every sub-device offline.
    let gw_notes: Vec<&str> = report
        .notes
        .iter()
        .filter_map(|n| n.strip_prefix("gateway GWPRODUCT1/gateway-1: "))
        .filter(|n| *n != "connection #2 ended (disconnected)")
        .collect();
    assert_eq!(
        gw_notes.len(),
        4,
        "the gateway's connections as the stand-in saw them:\n{report}"
    );
    assert_eq!(gw_notes[0], "connection #1", "{report}");
    assert_eq!(
        gw_notes[1], "connection #2, GWSUBPRD01/sub-a, GWSUBPRD01/sub-b, GWSUBPRD02/sub-c offline",
        "{report}"
    );
    assert_eq!(gw_notes[2], "connection #3", "{report}");
    assert!(
        gw_notes[3].starts_with("connection #3 ended (") && !gw_notes[3].contains("offline"),
        "{report}"
    );
    for s in &SUBS {
        assert_eq!(
            gateway_ops(&report, "online", s.dn).len(),
            2,
            "{}: online once per connection:\n{report}",
            s.dn
        );
        // It reported on the new connection too (its version again, then progress).
        let d = report.device(s.dn).unwrap();
        assert!(
            d.reported_versions.len() >= 3,
            "{}: {:?}",
            s.dn,
            d.reported_versions
        );
    }
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}
