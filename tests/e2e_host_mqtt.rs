//! End to end, bring-your-own MQTT (`OTA_FLAG_HOST_MQTT`): the C programs that own their MQTT
//! connection through libmosquitto and lend it to the library, built through CMake on the real
//! `.a` and header, against a real mosquitto and the IoT Explorer stand-in.
//!
//! - `ota_byo_demo` (ota_demo's job on the program's own connection) updates an 8 MiB image.
//! - `ota_gateway_demo` is tested in `e2e_gateway.rs` (it needs the stand-in's gateway side).
//!
//! Both programs are built only when libmosquitto is installed (`scripts/setup.sh` installs
//! it); without it these tests fail, they do not skip.
mod common;
use common::SECRET;
use common::programs::{demo_updates_cleanly, program};
use qcloud_ota_standin::{DeviceTask, generate_image};

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
