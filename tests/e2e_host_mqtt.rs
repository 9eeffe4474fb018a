//! End to end, bring-your-own MQTT (`OTA_FLAG_HOST_MQTT`): the C programs that own their MQTT
//! connection through libmosquitto and lend it to the library, built through CMake on the real
//! `.a` and header, against a real mosquitto and the IoT Explorer stand-in.
//!
//! - `ota_byo_demo` (ota_demo's job on the program's own connection) updates an 8 MiB image.
//! - `ota_gateway_demo` (one gateway connection, three sub-device clients) updates three
//!   sub-devices to three different images at once; the stand-in's HTTP log shows the three
//!   downloads overlapping in time.
//!
//! Both programs are built only when libmosquitto is installed (`scripts/setup.sh` installs
//! it); without it these tests fail, they do not skip.
mod common;
use std::time::{Duration, Instant};

use common::SECRET;
use common::programs::{demo_updates_cleanly, program, run, scratch_dir};
use qcloud_ota_standin::{DeviceTask, Faults, generate_image};

#[test]
fn byo_demo_updates_an_8_mib_image_on_its_own_mqtt_connection() {
    let byo = program("ota_byo_demo");
    let image = generate_image(8 << 20, 2027);
    let task = DeviceTask::new("BYODEMO001", "byo-demo", SECRET, "2.0.0", image.clone());
    let (broker, cloud) = common::cloud_with_tasks(vec![task]);

    let log = demo_updates_cleanly(&byo, "BYODEMO001", "byo-demo", broker.port(), cloud, &image);
    // One MQTT connection for the whole run (the reboot restarts only the OTA client), signed
    // as Tencent expects, and the library's QoS1 reports were acknowledged through the host.
    assert!(log.contains("client id BYODEMO001byo-demo"), "{log}");
    assert!(log.contains("closed: 1 connection(s)"), "{log}");
    assert!(!log.contains(" 0 acknowledged"), "{log}");
    drop(broker);
}

#[test]
fn gateway_demo_updates_three_sub_devices_at_once() {
    let gateway = program("ota_gateway_demo");
    // Three sub-devices, three images; each link is slowed so its download takes about 1 s,
    // long enough that three concurrent downloads must overlap.
    let subs: [(&str, &str, usize, &str); 3] = [
        ("GWSUBPRD01", "sub-a", 2 << 20, "1.1.0"),
        ("GWSUBPRD01", "sub-b", 3 << 20, "1.2.0"),
        ("GWSUBPRD02", "sub-c", 4 << 20, "2.0.0"),
    ];
    let images: Vec<Vec<u8>> = subs
        .iter()
        .enumerate()
        .map(|(i, s)| generate_image(s.2, 3000 + i as u64))
        .collect();
    let tasks = subs
        .iter()
        .zip(&images)
        .map(|(s, img)| {
            let mut t = DeviceTask::new(s.0, s.1, SECRET, s.3, img.clone());
            t.faults = Faults {
                rate_limit: Some(s.2 as u64),
                ..Faults::default()
            };
            t
        })
        .collect();
    let (broker, cloud) = common::cloud_with_tasks(tasks);

    let dir = scratch_dir("e2e-gateway");
    let port = broker.port().to_string();
    let gw_id = format!("GWPRODUCT1/gateway-1/{SECRET}");
    let sub_ids: Vec<String> = subs
        .iter()
        .map(|s| format!("{}/{}/{SECRET}:1.0.0", s.0, s.1))
        .collect();
    let mut args = vec![
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--dir",
        dir.to_str().unwrap(),
        "--gateway",
        &gw_id,
    ];
    for s in &sub_ids {
        args.extend(["--sub", s.as_str()]);
    }
    args.push("--once");
    let started = Instant::now();
    let (code, log) = run(&gateway, &args, Duration::from_secs(120));
    let took = started.elapsed();
    assert_eq!(code, 0, "ota_gateway_demo failed:\n{log}");
    assert!(log.contains("memory per extra client:"), "{log}");

    assert!(
        cloud.wait_completed(Duration::from_secs(10)),
        "stand-in never saw all three tasks complete:\n{log}"
    );
    let report = cloud.stop();
    assert!(
        report.deviations.is_empty(),
        "protocol deviations:\n{report}"
    );
    assert!(report.completed, "{report}");
    assert!(report.fails.is_empty(), "{report}");
    assert_eq!(report.done, 3, "one done per sub-device:\n{report}");

    let mut intervals = Vec::new();
    for ((pid, dn, size, version), image) in subs.iter().zip(&images) {
        let d = report.device(dn).expect("device report");
        assert!(d.completed, "{dn} not completed:\n{report}");
        assert_eq!(d.done, 1, "{dn}: exactly one done:\n{report}");
        let sub_dir = dir.join(dn);
        let slot = std::fs::read(sub_dir.join("firmware.bin")).unwrap();
        assert!(&slot == image, "{dn}: slot differs from the served image");
        let running = std::fs::read_to_string(sub_dir.join("running_version")).unwrap();
        assert_eq!(running.trim(), *version, "{dn}");
        assert!(
            log.contains(&format!("[{dn}] rebooting into {version}")),
            "{dn} never rebooted:\n{log}"
        );

        // The download's span on the stand-in's clock: the first request's head until the last
        // body byte (each request's bytes at the link's fixed rate).
        let key = format!("{pid}/{dn}");
        let reqs: Vec<_> = report.requests_for(&key).collect();
        assert!(!reqs.is_empty(), "{dn}: no HTTP request");
        let rate = *size as f64;
        let start = reqs.iter().map(|r| r.at).min().unwrap();
        let end = reqs
            .iter()
            .map(|r| r.at + Duration::from_secs_f64(r.bytes_sent as f64 / rate))
            .max()
            .unwrap();
        let served: u64 = reqs.iter().map(|r| r.bytes_sent).sum();
        assert_eq!(served, *size as u64, "{dn}: bytes served");
        intervals.push((dn, start, end));
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
