//! What the stand-in saw: the live record that tests wait on and the final report.

use std::fmt;
use std::time::Duration;

/// Which way an MQTT message went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Published by a device on `$ota/report/...` and received by the stand-in.
    FromDevice,
    /// Published by the stand-in on `$ota/update/...`.
    ToDevice,
}

/// One MQTT message, as the stand-in received or sent it.
#[derive(Clone, Debug)]
pub struct Logged {
    /// Time since the cloud started, on the stand-in's clock (receive time for device messages).
    pub at: Duration,
    pub direction: Direction,
    pub topic: String,
    /// QoS of the PUBLISH as delivered (the stand-in subscribes with QoS1, so this is the
    /// device's publish QoS for device messages).
    pub qos: u8,
    /// The payload (lossy UTF-8).
    pub payload: String,
}

/// One HTTP request to the firmware server.
#[derive(Clone, Debug)]
pub struct HttpLog {
    /// Time since the cloud started at which the request head was read.
    pub at: Duration,
    /// Connection number (requests on one keep-alive connection share it).
    pub conn: u64,
    pub method: String,
    /// Request target as sent (path and query).
    pub target: String,
    /// Path part of the target.
    pub path: String,
    /// `Range` header, verbatim.
    pub range: Option<String>,
    /// `If-Range` header, verbatim.
    pub if_range: Option<String>,
    /// `Host` header, verbatim.
    pub host: Option<String>,
    /// Response status.
    pub status: u16,
    /// First byte of the image in the response body (for 200/206).
    pub start: Option<u64>,
    /// Length of the body the response carries (200/206): its Content-Length, except with the
    /// `wrong_content_length` fault (the declared value is in `fault`) and with `chunked`
    /// (no Content-Length header; this counts payload bytes, not chunk framing).
    pub content_length: u64,
    /// Body bytes actually written (less than `content_length` if the client went away or a
    /// `drop_at` fault cut the body).
    pub bytes_sent: u64,
    /// `product_id/device_name` of the image served, if the path was a known image.
    pub device: Option<String>,
    /// The offer (`t` query parameter of an `update_firmware` URL) this request used, if any.
    /// A redirect URL's token is resolved to the offer it stands for (the `t=` actually sent
    /// is in `target`).
    pub offer: Option<u64>,
    /// What the injected faults did to this response, `; `-separated (see [`crate::Faults`]):
    /// `404: not_found`, `403: URL of offer #i expired`, `302: redirect i/K to t=N`,
    /// `500: server error i/K`, `ignore_range`, `If-Range has a replaced ETag`,
    /// `wrong Content-Length: declared X, body Y`, `chunked`, `drop at N (cut after S of L body
    /// bytes)`, `stall D ms at N`, `object replaced after byte N (new ETag ...)`. `None` when no
    /// fault acted.
    pub fault: Option<String>,
}

impl HttpLog {
    /// The fault note contains `what`.
    pub fn fault_has(&self, what: &str) -> bool {
        self.fault.as_deref().is_some_and(|f| f.contains(what))
    }
}

/// Per-device outcome.
#[derive(Clone, Debug, Default)]
pub struct DeviceReport {
    pub product_id: String,
    pub device_name: String,
    pub target_version: String,
    pub md5sum: String,
    pub file_size: u64,
    /// Every version the device reported with `report_version`, in order.
    pub reported_versions: Vec<String>,
    /// Number of `update_firmware` messages sent to it.
    pub offers: u32,
    /// Number of `done` reports (one per attempt).
    pub done: usize,
    /// `fail` result codes reported, in order.
    pub fails: Vec<i32>,
    /// For each entry of `fails`: the status of the last HTTP response served to this device
    /// on the current offer's URL (or a URL without an offer token) before it (`None`: no such
    /// request). The checker requires -3 after a 403 and -2 after a 404, and a 403 (404) since
    /// the previous fail for a -3 (-2).
    pub fail_last_http: Vec<Option<u16>>,
    /// Last `downloading` percent seen.
    pub last_percent: Option<u8>,
    /// The device reported the target version after a `done`: the task is complete.
    pub completed: bool,
}

/// Everything the stand-in recorded. [`crate::Cloud::wait_until`] hands the live one to its
/// predicate; [`crate::Cloud::report`] and [`crate::Cloud::stop`] return a copy.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Every way a device departed from the reference protocol, human readable.
    pub deviations: Vec<String>,
    /// Every MQTT message, both ways, in order.
    pub messages: Vec<Logged>,
    /// Per device, in the order of the configuration.
    pub devices: Vec<DeviceReport>,
    /// Total `done` reports over all devices.
    pub done: usize,
    /// `(product_id/device_name, result_code)` of every `fail` report.
    pub fails: Vec<(String, i32)>,
    /// Every HTTP request to the firmware server.
    pub requests: Vec<HttpLog>,
    /// Firmware body bytes written by the HTTP server.
    pub bytes_served: u64,
    /// All devices completed their task.
    pub completed: bool,
    /// Problems of the stand-in itself (broker connection lost, ...): not device deviations.
    pub notes: Vec<String>,
    /// The first raw bytes (up to 16) of every connection to the firmware server: a TLS
    /// handshake starts with 0x16, a request in clear with its method.
    pub http_first_bytes: Vec<Vec<u8>>,
}

impl Report {
    /// Firmware body bytes written to one device: `device` is `product_id/device_name` or
    /// just the device name.
    pub fn bytes_served_for(&self, device: &str) -> u64 {
        self.requests_for(device).map(|r| r.bytes_sent).sum()
    }

    /// The HTTP requests for one device's image: `device` is `product_id/device_name` or just
    /// the device name.
    pub fn requests_for<'a>(&'a self, device: &'a str) -> impl Iterator<Item = &'a HttpLog> {
        self.requests.iter().filter(move |r| {
            r.device.as_deref().is_some_and(|d| {
                d == device || (!device.contains('/') && d.rsplit('/').next() == Some(device))
            })
        })
    }

    /// The device messages only.
    pub fn device_messages(&self) -> impl Iterator<Item = &Logged> {
        self.messages
            .iter()
            .filter(|m| m.direction == Direction::FromDevice)
    }

    /// The per-device report of `device_name`.
    pub fn device(&self, device_name: &str) -> Option<&DeviceReport> {
        self.devices.iter().find(|d| d.device_name == device_name)
    }

    /// True when the run is clean: completed and no deviation.
    pub fn is_clean(&self) -> bool {
        self.completed && self.deviations.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "stand-in report")?;
        writeln!(
            f,
            "  completed: {}  done: {}  fails: {}  messages: {}  http requests: {}  bytes served: {}",
            if self.completed { "yes" } else { "no" },
            self.done,
            self.fails.len(),
            self.messages.len(),
            self.requests.len(),
            self.bytes_served
        )?;
        for d in &self.devices {
            writeln!(
                f,
                "  device {}/{}: target {} ({} bytes, md5 {}), offers {}, done {}, fails {:?} (last HTTP status before each: {:?}), versions {:?}, completed {}",
                d.product_id,
                d.device_name,
                d.target_version,
                d.file_size,
                d.md5sum,
                d.offers,
                d.done,
                d.fails,
                d.fail_last_http,
                d.reported_versions,
                if d.completed { "yes" } else { "no" }
            )?;
        }
        for n in &self.notes {
            writeln!(f, "  note: {n}")?;
        }
        if self.deviations.is_empty() {
            writeln!(f, "  deviations: none")?;
        } else {
            writeln!(f, "  deviations: {}", self.deviations.len())?;
            for d in &self.deviations {
                writeln!(f, "    - {d}")?;
            }
        }
        Ok(())
    }
}
