//! A stand-in for Tencent Cloud IoT Explorer's OTA service, for the tests and the demo of
//! `qcloud-ota`.
//!
//! It plays the cloud's side of the protocol in `shared/reference/tencent-ota-protocol.md`:
//! - MQTT: connects to a broker (mosquitto, or an rmqtt broker it embeds), subscribes
//!   `$ota/report/+/+` with QoS1, answers `report_version` with the exact `report_version_rsp`,
//!   and offers `update_firmware` (a fresh signed-looking URL each time) while a task is pending;
//! - checks every device message against the reference and records each deviation;
//! - plays the cloud's side of the gateway protocol ([`Gateway`]): answers `online`/`offline`,
//!   and a sub-device's reports count only while it is online;
//! - serves the firmware over HTTP/1.1 (Range, 206/200/416, ETag, If-Range, keep-alive);
//! - injects faults per device ([`Faults`]): drops, stalls, 403/404/500, redirects, ignored
//!   ranges, wrong lengths, chunked bodies, a replaced object.
//!
//! ```no_run
//! use qcloud_ota_standin::{Broker, Cloud, CloudConfig, DeviceTask, generate_image};
//! use std::time::Duration;
//! let image = generate_image(100_000, 1);
//! let cloud = Cloud::start(CloudConfig::new(
//!     Broker::Embedded { port: 0 },
//!     vec![DeviceTask::new("ABCDEFGHIJ", "dev001", "MTIzNDU2Nzg5MGFiY2RlZg==", "2.0.0", image)],
//! ))
//! .unwrap();
//! // ... run the device against 127.0.0.1:cloud.mqtt_port() ...
//! assert!(cloud.wait_completed(Duration::from_secs(60)));
//! let report = cloud.stop();
//! assert!(report.deviations.is_empty(), "{report}");
//! ```

pub mod broker;
pub mod checker;
pub mod cloud;
pub mod files;
pub mod gateway;
pub mod http;
pub mod mosquitto;
pub mod report;
pub mod tls;
pub mod uart_bridge;

pub use broker::EmbeddedBroker;
pub use cloud::{Broker, Cloud, CloudConfig, DeviceTask, Faults, LogSink};
pub use files::{device_info_json, generate_image, md5_hex, write_device_info};
pub use gateway::Gateway;
pub use mosquitto::Mosquitto;
pub use report::{DeviceReport, Direction, HttpLog, Logged, Report};
pub use tls::{Device, Leaf, TestPki, TlsFront};

use std::fmt;

/// An error of the stand-in itself (not a device deviation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    pub fn new(msg: impl Into<String>) -> Error {
        Error(msg.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}
