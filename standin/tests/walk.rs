//! A scripted device walks a whole update against the stand-in, over mosquitto and over the
//! embedded broker.

mod common;

use common::*;
use qcloud_ota_standin::{
    Broker, Cloud, CloudConfig, DeviceTask, Mosquitto, generate_image, md5_hex,
};
use serde_json::Value;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

fn walk(broker: Broker) {
    let image = generate_image(300_001, 7);
    let cloud = Cloud::start(CloudConfig::new(
        broker,
        vec![DeviceTask::new(PID, DN, SECRET, "2.0.0", image.clone())],
    ))
    .expect("stand-in starts");
    let dev = FakeDevice::connect(cloud.mqtt_port(), PID, DN);

    dev.report_version("1.0.0");
    let (topic, qos, rsp) = dev.recv(T);
    assert_eq!(topic, format!("$ota/update/{PID}/{DN}"));
    assert_eq!(qos, 0);
    assert_eq!(
        rsp,
        r#"{"result_code":0,"result_msg":"success","type":"report_version_rsp","version":"1.0.0"}"#
    );
    let (_, qos, raw) = dev.recv(T);
    assert_eq!(qos, 0);
    assert!(raw.contains(r#""url":"http:\/\/127.0.0.1:"#), "{raw}");
    let upd: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(upd["type"], "update_firmware");
    assert_eq!(upd["version"], "2.0.0");
    assert_eq!(upd["file_size"], image.len() as u64);
    assert_eq!(upd["md5sum"], md5_hex(&image));
    assert_eq!(
        upd["user_defined"],
        r#"{"time":"2026-11-27","info":"stand-in"}"#
    );
    let url = upd["url"].as_str().unwrap();
    assert!(
        url.contains("?sign=q-sign-algorithm%3Dsha1%26q-signature%3D"),
        "{url}"
    );
    let (port, target) = split_url(url);
    assert_eq!(port, cloud.http_port());

    dev.progress("downloading", Some("0"), "2.0.0");
    let half = image.len() / 2;
    let mut http = HttpConn::connect(port);
    let a = http.get(&target, &[&format!("Range: bytes=0-{}", half - 1)]);
    assert_eq!(a.status, 206);
    assert_eq!(
        a.header("Content-Range"),
        Some(format!("bytes 0-{}/{}", half - 1, image.len()).as_str())
    );
    let b = http.get(&target, &[&format!("Range: bytes={half}-")]);
    assert_eq!(b.status, 206);
    let mut got = a.body;
    got.extend_from_slice(&b.body);
    assert_eq!(md5_hex(&got), upd["md5sum"].as_str().unwrap());
    assert!(got == image);

    dev.progress("downloading", Some("100"), "2.0.0");
    dev.progress("burning", None, "2.0.0");
    dev.progress("done", None, "2.0.0");
    dev.report_version("2.0.0");
    let (_, _, rsp) = dev.recv(T);
    assert!(rsp.contains(r#""version":"2.0.0""#), "{rsp}");

    assert!(cloud.wait_completed(T), "{}", cloud.report());
    // No new offer after completion.
    assert!(dev.rx_is_empty_for(Duration::from_millis(300)));
    let report = cloud.stop();
    assert!(report.deviations.is_empty(), "{report}");
    assert!(report.completed);
    assert_eq!(report.done, 1);
    assert!(report.fails.is_empty());
    assert_eq!(report.requests.len(), 2);
    assert_eq!(report.requests[0].conn, report.requests[1].conn);
    assert_eq!(report.bytes_served, image.len() as u64);
    let qos: Vec<u8> = report.device_messages().map(|m| m.qos).collect();
    assert_eq!(qos, [1, 0, 0, 1, 1, 1]);
    let d = report.device(DN).unwrap();
    assert_eq!(d.offers, 1);
    assert_eq!(d.reported_versions, ["1.0.0", "2.0.0"]);
}

#[test]
fn walk_over_mosquitto() {
    let m = Mosquitto::start().expect("mosquitto is required for this test");
    walk(Broker::External {
        host: "127.0.0.1".into(),
        port: m.port(),
    });
}

#[test]
fn walk_over_embedded_broker() {
    walk(Broker::Embedded { port: 0 });
}

#[test]
fn every_offer_has_a_fresh_url() {
    let cloud = Cloud::start(CloudConfig::new(
        Broker::Embedded { port: 0 },
        vec![DeviceTask::new(
            PID,
            DN,
            SECRET,
            "2.0.0",
            generate_image(1000, 1),
        )],
    ))
    .unwrap();
    let dev = FakeDevice::connect(cloud.mqtt_port(), PID, DN);
    let mut urls = Vec::new();
    for _ in 0..3 {
        dev.report_version("1.0.0");
        let (_, _, rsp) = dev.recv(T);
        assert!(rsp.contains("report_version_rsp"));
        let (_, _, upd) = dev.recv(T);
        let v: Value = serde_json::from_str(&upd).unwrap();
        urls.push(v["url"].as_str().unwrap().to_owned());
    }
    urls.sort();
    urls.dedup();
    assert_eq!(urls.len(), 3);
    // The device already runs the target: no offer.
    dev.report_version("2.0.0");
    let (_, _, rsp) = dev.recv(T);
    assert!(rsp.contains(r#""version":"2.0.0""#));
    assert!(dev.rx_is_empty_for(Duration::from_millis(300)));
    let report = cloud.stop();
    assert!(report.deviations.is_empty(), "{report}");
    assert!(!report.completed);
}

#[test]
fn bad_messages_are_deviations() {
    let cloud = Cloud::start(CloudConfig::new(
        Broker::Embedded { port: 0 },
        vec![DeviceTask::new(
            PID,
            DN,
            SECRET,
            "2.0.0",
            generate_image(1000, 1),
        )],
    ))
    .unwrap();
    let dev = FakeDevice::connect(cloud.mqtt_port(), PID, DN);
    dev.report_version("1.0.0");
    dev.recv(T);
    dev.recv(T);
    // percent as a number.
    dev.publish(
        0,
        r#"{"type":"report_progress","report":{"progress":{"state":"downloading","percent":0,"result_code":"0","result_msg":""},"version":"2.0.0"}}"#,
    );
    // wrong version.
    dev.progress("downloading", Some("0"), "1.0.0");
    // result_code as a number, with QoS0 for done.
    dev.publish(
        0,
        r#"{"type":"report_progress","report":{"progress":{"state":"done","result_code":0,"result_msg":""},"version":"2.0.0"}}"#,
    );
    // not JSON; unknown device.
    dev.publish(1, "hello");
    dev.client
        .publish(
            "$ota/report/ABCDEFGHIJ/other",
            rumqttc::QoS::AtLeastOnce,
            false,
            "{}",
        )
        .unwrap();
    // A device of another product: ignored, not a deviation (a broker shared with another
    // stand-in).
    dev.client
        .publish(
            "$ota/report/OTHERPRODU/dev001",
            rumqttc::QoS::AtLeastOnce,
            false,
            "{}",
        )
        .unwrap();
    assert!(
        cloud.wait_until(T, |r| r.device_messages().count() == 7),
        "{}",
        cloud.report()
    );
    let report = cloud.stop();
    let has = |s: &str| report.deviations.iter().any(|d| d.contains(s));
    assert!(has("percent must be a JSON string"), "{report}");
    assert!(has("is not the offered target version"), "{report}");
    assert!(has("result_code must be a JSON string"), "{report}");
    assert!(has("done sent with QoS0"), "{report}");
    assert!(has("not valid JSON"), "{report}");
    assert!(has("unknown device ABCDEFGHIJ/other"), "{report}");
    assert!(!has("OTHERPRODU"), "{report}");
    assert!(
        report.notes.iter().any(|n| n.contains("OTHERPRODU")),
        "{report}"
    );
    assert!(!report.completed);
}
