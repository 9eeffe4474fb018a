//! The OTA service model: per-device task state, the replies the cloud sends, and the check of
//! every device message against the reference (`shared/reference/tencent-ota-protocol.md`
//! §2-§3). Pure logic: no sockets, time is passed in.

use crate::cloud::DeviceTask;
use crate::files::hex;
use crate::http::ServedFile;
use crate::report::{DeviceReport, Report};
use md5::{Digest, Md5};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// The cloud's publish on `$ota/update/{pid}/{dn}` (always QoS0, as the real cloud does).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    pub topic: String,
    pub payload: String,
}

/// Minimum spacing of `downloading` reports other than 0 and 100 (1 s, reference §3.6), less a
/// tolerance for scheduling jitter.
pub const PROGRESS_MIN_INTERVAL: Duration = Duration::from_millis(900);

/// Where a device stands in the current attempt (one attempt per `update_firmware` offer).
#[derive(Clone, Debug, Default)]
struct Attempt {
    /// Last `downloading` percent of this attempt.
    last_percent: Option<u8>,
    /// Receive time of the last `downloading` report of this attempt.
    last_download_at: Option<Duration>,
    burning: bool,
    finished: Option<Finish>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Finish {
    Done,
    Fail,
}

pub(crate) struct DeviceState {
    /// The task (its `image` moved out to the HTTP server).
    pub task: DeviceTask,
    /// The `md5sum` of the latest offer (the first one's before any offer).
    pub md5sum: String,
    /// The image as served (shared with the firmware server: current object, offers, faults).
    pub file: Arc<ServedFile>,
    pub file_size: u64,
    /// URL path of the image on the firmware server.
    pub path: String,
    /// Offer tokens sent, in order (the `t` query parameter).
    offers: Vec<u64>,
    attempt: Attempt,
    /// A `downloading` report was ever seen for this task.
    ever_downloaded: bool,
    /// `done` was reported and not yet confirmed by a `report_version`.
    done_pending: bool,
    /// Length of `Report::requests` at the previous `fail` (requests since then explain the
    /// next one).
    fail_mark: usize,
}

impl DeviceState {
    pub fn new(mut task: DeviceTask, image: impl Into<Arc<[u8]>>) -> Self {
        task.image = Vec::new();
        let image: Arc<[u8]> = image.into();
        let file_size = image.len() as u64;
        let path = image_path(&task.product_id, &task.device_name, &task.target_version);
        let file = Arc::new(ServedFile::new(
            format!("{}/{}", task.product_id, task.device_name),
            image,
            task.faults.clone(),
        ));
        let mut dev = DeviceState {
            task,
            md5sum: String::new(),
            file,
            file_size,
            path,
            offers: Vec::new(),
            attempt: Attempt::default(),
            ever_downloaded: false,
            done_pending: false,
            fail_mark: 0,
        };
        dev.md5sum = dev.offer_md5sum();
        dev
    }

    /// The `md5sum` to offer now: the current object's (it changes with the
    /// `change_object_at` fault), or the `wrong_md5sum` fault's.
    fn offer_md5sum(&self) -> String {
        self.task
            .faults
            .wrong_md5sum
            .clone()
            .unwrap_or_else(|| self.file.current().md5.clone())
    }

    pub fn key(&self) -> String {
        format!("{}/{}", self.task.product_id, self.task.device_name)
    }

    pub fn report(&self) -> DeviceReport {
        DeviceReport {
            product_id: self.task.product_id.clone(),
            device_name: self.task.device_name.clone(),
            target_version: self.task.target_version.clone(),
            md5sum: self.md5sum.clone(),
            file_size: self.file_size,
            ..DeviceReport::default()
        }
    }
}

/// The URL path under which a device's image is served.
pub fn image_path(product_id: &str, device_name: &str, version: &str) -> String {
    format!(
        "/ota/{}/{}/firmware-{}.bin",
        path_escape(product_id),
        path_escape(device_name),
        path_escape(version)
    )
}

fn path_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Writes `s` as a JSON string the way the real cloud may: `/` escaped as `\/`.
fn json_string_escaped_slashes(s: &str) -> String {
    Value::String(s.to_owned()).to_string().replace('/', "\\/")
}

fn json_string(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// The `report_version_rsp` payload, byte for byte as the real cloud sends it (reference §3.2).
pub fn report_version_rsp(version: &str) -> String {
    format!(
        "{{\"result_code\":0,\"result_msg\":\"success\",\"type\":\"report_version_rsp\",\"version\":{}}}",
        json_string(version)
    )
}

/// The `update_firmware` payload (reference §3.3), URL written with `\/` escapes.
pub fn update_firmware(file_size: u64, md5sum: &str, url: &str, version: &str) -> String {
    format!(
        "{{\"file_size\":{},\"md5sum\":{},\"type\":\"update_firmware\",\"url\":{},\"user_defined\":{},\"version\":{}}}",
        file_size,
        json_string(md5sum),
        json_string_escaped_slashes(url),
        json_string("{\"time\":\"2026-11-27\",\"info\":\"stand-in\"}"),
        json_string(version)
    )
}

/// The signed-looking query string of offer `token`.
pub fn offer_query(product_id: &str, device_name: &str, token: u64) -> String {
    let sig = hex(&Md5::digest(
        format!("{product_id}/{device_name}/{token}").as_bytes(),
    ));
    format!("sign=q-sign-algorithm%3Dsha1%26q-signature%3D{sig}&t={token}")
}

/// Extracts the offer token (`t=`) from a query string.
pub fn offer_token(query: &str) -> Option<u64> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("t="))
        .and_then(|t| t.parse().ok())
}

/// The OTA service: all devices, their tasks and the checks.
pub(crate) struct Checker {
    pub devices: Vec<DeviceState>,
    pub http_port: u16,
    /// Offers carry `https://` URLs.
    pub https: bool,
    /// The host name in offered URLs (the firmware server listens on 127.0.0.1).
    pub url_host: String,
    next_token: u64,
}

/// What the checker needs from the caller for one message.
pub(crate) struct Incoming<'a> {
    pub at: Duration,
    pub topic: &'a str,
    pub qos: u8,
    pub payload: &'a [u8],
}

impl Checker {
    pub fn new(devices: Vec<DeviceState>, http_port: u16) -> Self {
        Checker {
            devices,
            http_port,
            https: false,
            url_host: "127.0.0.1".to_owned(),
            next_token: 1_800_000_000,
        }
    }

    pub fn device_index(&self, product_id: &str, device_name: &str) -> Option<usize> {
        self.devices
            .iter()
            .position(|d| d.task.product_id == product_id && d.task.device_name == device_name)
    }

    /// Handles one device message: records deviations in `report`, returns what to publish.
    pub fn on_message(&mut self, msg: Incoming<'_>, report: &mut Report) -> Vec<Outgoing> {
        let mut devs = Vec::new();
        let out = self.handle(&msg, report, &mut devs);
        for d in devs {
            report
                .deviations
                .push(deviation_line(msg.at, msg.topic, &d));
        }
        report.completed = self.devices.iter().all(|d| report_of(report, d).completed);
        out
    }

    fn handle(
        &mut self,
        msg: &Incoming<'_>,
        report: &mut Report,
        devs: &mut Vec<String>,
    ) -> Vec<Outgoing> {
        // Topic: $ota/report/{pid}/{dn} of a known device.
        let parts: Vec<&str> = msg.topic.split('/').collect();
        let idx = match parts.as_slice() {
            ["$ota", "report", pid, dn] => match self.device_index(pid, dn) {
                Some(i) => i,
                None if self.devices.iter().any(|d| d.task.product_id == *pid) => {
                    devs.push(format!("message from unknown device {pid}/{dn}"));
                    return Vec::new();
                }
                None => {
                    // Another product: not ours (a broker shared with another stand-in).
                    report.notes.push(format!(
                        "ignored a message for product {pid} (device {dn}), not configured here"
                    ));
                    return Vec::new();
                }
            },
            _ => {
                devs.push(
                    "message on a topic other than $ota/report/{productId}/{deviceName}".into(),
                );
                return Vec::new();
            }
        };

        let text = match std::str::from_utf8(msg.payload) {
            Ok(t) => t,
            Err(_) => {
                devs.push("payload is not UTF-8".into());
                return Vec::new();
            }
        };
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                devs.push(format!("payload is not valid JSON ({e})"));
                return Vec::new();
            }
        };
        let Some(obj) = value.as_object() else {
            devs.push("payload is not a JSON object".into());
            return Vec::new();
        };
        let ty = match obj.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(_) => {
                devs.push("\"type\" is not a string".into());
                return Vec::new();
            }
            None => {
                devs.push("payload has no \"type\"".into());
                return Vec::new();
            }
        };
        extra_keys(obj, &["type", "report"], "top level", devs);
        let Some(rep) = obj.get("report") else {
            devs.push(format!("{ty}: no \"report\" object"));
            return Vec::new();
        };
        let Some(rep) = rep.as_object() else {
            devs.push(format!("{ty}: \"report\" is not an object"));
            return Vec::new();
        };
        check_optional_ids(rep, ty, devs);
        match ty {
            "report_version" => self.on_report_version(idx, msg, rep, report, devs),
            "report_progress" => {
                self.on_report_progress(idx, msg, rep, report, devs);
                Vec::new()
            }
            other => {
                devs.push(format!("unknown message type {other:?}"));
                Vec::new()
            }
        }
    }

    fn on_report_version(
        &mut self,
        idx: usize,
        msg: &Incoming<'_>,
        rep: &Map<String, Value>,
        report: &mut Report,
        devs: &mut Vec<String>,
    ) -> Vec<Outgoing> {
        extra_keys(
            rep,
            &["version", "fw_type", "task_id"],
            "report_version.report",
            devs,
        );
        if msg.qos != 1 {
            devs.push(format!(
                "report_version sent with QoS{}, expected QoS1",
                msg.qos
            ));
        }
        let version = match rep.get("version") {
            Some(Value::String(v)) => v.clone(),
            Some(other) => {
                devs.push(format!("report_version: version is not a string: {other}"));
                return Vec::new();
            }
            None => {
                devs.push("report_version: no report.version".into());
                return Vec::new();
            }
        };
        let chars = version.chars().count();
        if !(1..=32).contains(&chars) {
            devs.push(format!(
                "report_version: version {version:?} has {chars} characters (1 to 32 allowed)"
            ));
        }

        let http_port = self.http_port;
        let dev = &mut self.devices[idx];
        let topic = format!(
            "$ota/update/{}/{}",
            dev.task.product_id, dev.task.device_name
        );
        let mut out = vec![Outgoing {
            topic: topic.clone(),
            payload: report_version_rsp(&version),
        }];
        let key = dev.key();
        let dr = report_of_mut(report, dev);
        dr.reported_versions.push(version.clone());
        if dr.completed {
            return out;
        }
        if version == dev.task.target_version {
            if dev.done_pending {
                dr.completed = true;
                dev.done_pending = false;
            }
            // Without a `done` the device simply runs the target already: nothing to offer.
            return out;
        }
        if dev.done_pending {
            devs.push(format!(
                "{key} reported done for {} but then reported running version {version:?}",
                dev.task.target_version
            ));
            dev.done_pending = false;
        }
        // Offer (again) with a freshly signed URL.
        self.next_token += 1;
        let token = self.next_token;
        let dev = &mut self.devices[idx];
        dev.offers.push(token);
        dev.file.record_offer(token);
        dev.md5sum = dev.offer_md5sum();
        dev.attempt = Attempt::default();
        let scheme = if self.https { "https" } else { "http" };
        let url = format!(
            "{scheme}://{}:{http_port}{}?{}",
            self.url_host,
            dev.path,
            offer_query(&dev.task.product_id, &dev.task.device_name, token)
        );
        out.push(Outgoing {
            topic,
            payload: update_firmware(dev.file_size, &dev.md5sum, &url, &dev.task.target_version),
        });
        let dr = report_of_mut(report, dev);
        dr.offers += 1;
        dr.md5sum = dev.md5sum.clone();
        out
    }

    fn on_report_progress(
        &mut self,
        idx: usize,
        msg: &Incoming<'_>,
        rep: &Map<String, Value>,
        report: &mut Report,
        devs: &mut Vec<String>,
    ) {
        extra_keys(
            rep,
            &["progress", "version", "fw_type", "task_id"],
            "report_progress.report",
            devs,
        );
        let dev = &self.devices[idx];
        let target = dev.task.target_version.clone();
        match rep.get("version") {
            Some(Value::String(v)) if *v == target => {}
            Some(Value::String(v)) => devs.push(format!(
                "report_progress: version {v:?} is not the offered target version {target:?}"
            )),
            Some(other) => devs.push(format!("report_progress: version is not a string: {other}")),
            None => devs.push("report_progress: no report.version".into()),
        }
        let Some(progress) = rep.get("progress").and_then(Value::as_object) else {
            devs.push("report_progress: no report.progress object".into());
            return;
        };
        let state = match progress.get("state") {
            Some(Value::String(s)) => s.as_str(),
            _ => {
                devs.push("report_progress: progress.state missing or not a string".into());
                return;
            }
        };
        if !["downloading", "burning", "done", "fail"].contains(&state) {
            devs.push(format!(
                "report_progress: state {state:?} is not downloading, burning, done or fail"
            ));
            return;
        }
        let allowed: &[&str] = if state == "downloading" {
            &["state", "percent", "result_code", "result_msg"]
        } else {
            &["state", "result_code", "result_msg"]
        };
        extra_keys(progress, allowed, &format!("{state} progress"), devs);

        // result_code / result_msg: JSON strings.
        let code = match progress.get("result_code") {
            Some(Value::String(c)) => Some(c.clone()),
            Some(other) => {
                devs.push(format!(
                    "{state}: result_code must be a JSON string, got {other}"
                ));
                None
            }
            None => {
                devs.push(format!("{state}: no result_code"));
                None
            }
        };
        match progress.get("result_msg") {
            Some(Value::String(_)) => {}
            Some(other) => devs.push(format!(
                "{state}: result_msg must be a JSON string, got {other}"
            )),
            None => devs.push(format!("{state}: no result_msg")),
        }
        let mut fail_code = None;
        if let Some(c) = &code {
            if state == "fail" {
                match c.as_str() {
                    "-1" | "-2" | "-3" | "-4" | "-5" => fail_code = c.parse::<i32>().ok(),
                    _ => devs.push(format!(
                        "fail: result_code {c:?} is not one of \"-1\"..\"-5\""
                    )),
                }
            } else if c != "0" {
                devs.push(format!("{state}: result_code {c:?}, expected \"0\""));
            }
        }

        // QoS.
        let want_qos = if state == "downloading" { 0 } else { 1 };
        if msg.qos != want_qos {
            devs.push(format!(
                "{state} sent with QoS{}, expected QoS{want_qos}",
                msg.qos
            ));
        }

        // Order within the task.
        let key = dev.key();
        if dev.offers.is_empty() {
            devs.push(format!(
                "{state} reported before any update_firmware was offered"
            ));
            return;
        }
        if report_of(report, dev).completed {
            devs.push(format!("{state} reported after the task completed"));
            return;
        }
        let offer = *dev.offers.last().unwrap_or(&0);
        match state {
            "downloading" => {
                let percent = match progress.get("percent") {
                    Some(Value::String(p)) => match parse_percent(p) {
                        Some(p) => Some(p),
                        None => {
                            devs.push(format!("downloading: percent {p:?} is not \"0\"..\"100\""));
                            None
                        }
                    },
                    Some(other) => {
                        devs.push(format!(
                            "downloading: percent must be a JSON string, got {other}"
                        ));
                        None
                    }
                    None => {
                        devs.push("downloading: no percent".into());
                        None
                    }
                };
                let dev = &self.devices[idx];
                let a = &dev.attempt;
                if let Some(f) = a.finished {
                    devs.push(format!(
                        "downloading after {} without a new update_firmware",
                        if f == Finish::Done { "done" } else { "fail" }
                    ));
                }
                if a.burning {
                    devs.push("downloading after burning".into());
                }
                if let Some(p) = percent {
                    if let Some(last) = a.last_percent {
                        if p < last && p != 0 {
                            devs.push(format!(
                                "percent went down from {last} to {p} within one download"
                            ));
                        }
                    } else {
                        // First progress of this offer.
                        if !dev.ever_downloaded && p != 0 {
                            devs.push(format!(
                                "the first download started with percent {p}, not \"0\""
                            ));
                        } else if p != 0 {
                            let fresh = report
                                .requests
                                .iter()
                                .find(|r| {
                                    r.offer == Some(offer)
                                        && r.device.as_deref() == Some(&key)
                                        && matches!(r.status, 200 | 206)
                                })
                                .is_some_and(|r| r.start == Some(0));
                            if fresh {
                                devs.push(format!(
                                    "download of offer t={offer} started at byte 0 but its first progress was {p}, not \"0\""
                                ));
                            }
                        }
                    }
                    if p != 0
                        && p != 100
                        && let Some(t) = a.last_download_at
                    {
                        let gap = msg.at.saturating_sub(t);
                        if gap < PROGRESS_MIN_INTERVAL {
                            devs.push(format!(
                                    "downloading {p}% only {} ms after the previous progress report (at most one per second)",
                                    gap.as_millis()
                                ));
                        }
                    }
                }
                let dev = &mut self.devices[idx];
                dev.ever_downloaded = true;
                if let Some(p) = percent {
                    dev.attempt.last_percent = Some(p);
                    report_of_mut(report, dev).last_percent = Some(p);
                }
                dev.attempt.last_download_at = Some(msg.at);
            }
            "burning" => {
                let a = &dev.attempt;
                if let Some(f) = a.finished {
                    devs.push(format!(
                        "burning after {} without a new update_firmware",
                        if f == Finish::Done { "done" } else { "fail" }
                    ));
                }
                if let Some(p) = a.last_percent
                    && p != 100
                {
                    devs.push(format!(
                        "burning before the download reached 100 (last percent {p})"
                    ));
                }
                self.devices[idx].attempt.burning = true;
            }
            "done" => {
                let a = &dev.attempt;
                if a.finished == Some(Finish::Fail) {
                    devs.push("done after fail without a new update_firmware".into());
                }
                if let Some(p) = a.last_percent
                    && p != 100
                {
                    devs.push(format!(
                        "done before the download reached 100 (last percent {p})"
                    ));
                }
                let first = a.finished != Some(Finish::Done);
                let dev = &mut self.devices[idx];
                dev.attempt.finished = Some(Finish::Done);
                dev.done_pending = true;
                if first {
                    report_of_mut(report, dev).done += 1;
                    report.done += 1;
                }
            }
            _ => {
                // fail
                if dev.attempt.finished == Some(Finish::Done) {
                    devs.push("fail after done without a new update_firmware".into());
                }
                let dev = &mut self.devices[idx];
                dev.attempt.finished = Some(Finish::Fail);
                dev.done_pending = false;
                let since = dev.fail_mark.min(report.requests.len());
                dev.fail_mark = report.requests.len();
                if let Some(c) = fail_code {
                    let mine = || {
                        report.requests[since..]
                            .iter()
                            .filter(|r| r.device.as_deref() == Some(&key))
                    };
                    // The last response on the current offer's URL (or on a URL without an
                    // offer token).
                    let last = report
                        .requests
                        .iter()
                        .rev()
                        .find(|r| {
                            r.device.as_deref() == Some(&key) && r.offer.is_none_or(|t| t == offer)
                        })
                        .map(|r| r.status);
                    // The codes of reference §3.5/§11: 403 → -3, 404 → -2.
                    for (status, code, meaning) in [
                        (403, -3, "signature expired"),
                        (404, -2, "file does not exist"),
                    ] {
                        if last == Some(status) && c != code {
                            devs.push(format!(
                                "fail {c} after an HTTP {status}: expected {code} ({meaning})"
                            ));
                        }
                        if c == code && !mine().any(|r| r.status == status) {
                            devs.push(format!(
                                "fail {c} ({meaning}) but no HTTP {status} was served to {key} since its previous fail"
                            ));
                        }
                    }
                    let dr = report_of_mut(report, dev);
                    dr.fails.push(c);
                    dr.fail_last_http.push(last);
                    report.fails.push((key, c));
                }
            }
        }
    }
}

fn report_of<'r>(report: &'r Report, dev: &DeviceState) -> &'r DeviceReport {
    report
        .devices
        .iter()
        .find(|d| d.product_id == dev.task.product_id && d.device_name == dev.task.device_name)
        .expect("every configured device has a DeviceReport")
}

fn report_of_mut<'r>(report: &'r mut Report, dev: &DeviceState) -> &'r mut DeviceReport {
    report
        .devices
        .iter_mut()
        .find(|d| d.product_id == dev.task.product_id && d.device_name == dev.task.device_name)
        .expect("every configured device has a DeviceReport")
}

/// `"0"`..`"100"`, canonical decimal.
fn parse_percent(p: &str) -> Option<u8> {
    let canonical = !p.is_empty()
        && p.len() <= 3
        && p.bytes().all(|b| b.is_ascii_digit())
        && (p == "0" || !p.starts_with('0'));
    if !canonical {
        return None;
    }
    p.parse::<u8>().ok().filter(|v| *v <= 100)
}

/// One deviation as the report lists it: when, on which topic, what.
pub(crate) fn deviation_line(at: Duration, topic: &str, what: &str) -> String {
    format!("[{:.3}s {topic}] {what}", at.as_secs_f64())
}

pub(crate) fn extra_keys(
    obj: &Map<String, Value>,
    allowed: &[&str],
    what: &str,
    devs: &mut Vec<String>,
) {
    for k in obj.keys() {
        if !allowed.contains(&k.as_str()) {
            devs.push(format!("{what}: unexpected field {k:?}"));
        }
    }
}

/// Optional `task_id` (number) and `fw_type` (string) in `report`.
fn check_optional_ids(rep: &Map<String, Value>, ty: &str, devs: &mut Vec<String>) {
    if let Some(v) = rep.get("task_id")
        && !v.is_number()
    {
        devs.push(format!("{ty}: task_id must be a number, got {v}"));
    }
    if let Some(v) = rep.get("fw_type")
        && !v.is_string()
    {
        devs.push(format!("{ty}: fw_type must be a string, got {v}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::{DeviceTask, Faults};

    fn checker() -> (Checker, Report) {
        let task = DeviceTask {
            product_id: "PID".into(),
            device_name: "dev".into(),
            device_secret: "c2VjcmV0".into(),
            target_version: "2.0.0".into(),
            image: Vec::new(),
            faults: Faults::default(),
        };
        let c = Checker::new(vec![DeviceState::new(task, vec![1, 2, 3, 4])], 8080);
        let report = Report {
            devices: c.devices.iter().map(DeviceState::report).collect(),
            ..Report::default()
        };
        (c, report)
    }

    fn send(c: &mut Checker, r: &mut Report, ms: u64, qos: u8, payload: &str) -> Vec<Outgoing> {
        c.on_message(
            Incoming {
                at: Duration::from_millis(ms),
                topic: "$ota/report/PID/dev",
                qos,
                payload: payload.as_bytes(),
            },
            r,
        )
    }

    fn progress(state: &str, percent: Option<&str>) -> String {
        match percent {
            Some(p) => format!(
                "{{\"type\": \"report_progress\", \"report\": {{\"progress\": {{\"state\":\"{state}\", \"percent\":\"{p}\", \"result_code\":\"0\", \"result_msg\":\"\"}}, \"version\": \"2.0.0\"}}}}"
            ),
            None => format!(
                "{{\"type\": \"report_progress\", \"report\": {{\"progress\": {{\"state\":\"{state}\", \"result_code\":\"0\", \"result_msg\":\"\"}}, \"version\": \"2.0.0\"}}}}"
            ),
        }
    }

    #[test]
    fn exact_replies() {
        assert_eq!(
            report_version_rsp("1.0.0"),
            r#"{"result_code":0,"result_msg":"success","type":"report_version_rsp","version":"1.0.0"}"#
        );
        assert_eq!(report_version_rsp("1.0.0").len(), 86);
        let p = update_firmware(
            5,
            "00112233445566778899aabbccddeeff",
            "http://h:1/a?b=c&t=1",
            "2.0",
        );
        assert_eq!(
            p,
            r#"{"file_size":5,"md5sum":"00112233445566778899aabbccddeeff","type":"update_firmware","url":"http:\/\/h:1\/a?b=c&t=1","user_defined":"{\"time\":\"2026-11-27\",\"info\":\"stand-in\"}","version":"2.0"}"#
        );
        let v: Value = serde_json::from_str(&p).unwrap();
        assert_eq!(v["url"], "http://h:1/a?b=c&t=1");
        assert_eq!(offer_token("sign=x%26y&t=42"), Some(42));
    }

    #[test]
    fn clean_walk() {
        let (mut c, mut r) = checker();
        let out = send(
            &mut c,
            &mut r,
            0,
            1,
            r#"{"type": "report_version", "report":{"version":"1.0.0"}}"#,
        );
        assert_eq!(out.len(), 2);
        assert!(out[1].payload.contains("update_firmware"));
        send(&mut c, &mut r, 100, 0, &progress("downloading", Some("0")));
        send(
            &mut c,
            &mut r,
            1100,
            0,
            &progress("downloading", Some("40")),
        );
        send(
            &mut c,
            &mut r,
            1200,
            0,
            &progress("downloading", Some("100")),
        );
        send(&mut c, &mut r, 1300, 1, &progress("burning", None));
        send(&mut c, &mut r, 1400, 1, &progress("done", None));
        let out = send(
            &mut c,
            &mut r,
            1500,
            1,
            r#"{"type":"report_version","report":{"version":"2.0.0"}}"#,
        );
        assert_eq!(out.len(), 1);
        assert!(r.deviations.is_empty(), "{:?}", r.deviations);
        assert!(r.completed);
        assert_eq!(r.done, 1);
        // No offers after completion.
        let out = send(
            &mut c,
            &mut r,
            1600,
            1,
            r#"{"type":"report_version","report":{"version":"1.0.0"}}"#,
        );
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn deviations_are_found() {
        let (mut c, mut r) = checker();
        send(
            &mut c,
            &mut r,
            0,
            0,
            r#"{"type":"report_version","report":{"version":"1.0.0"}}"#,
        );
        assert_eq!(r.deviations.len(), 1, "{:?}", r.deviations); // QoS0
        send(
            &mut c,
            &mut r,
            10,
            0,
            r#"{"type":"report_progress","report":{"progress":{"state":"downloading","percent":0,"result_code":"0","result_msg":""},"version":"2.0.0"}}"#,
        );
        assert!(
            r.deviations
                .iter()
                .any(|d| d.contains("percent must be a JSON string"))
        );
        send(
            &mut c,
            &mut r,
            20,
            0,
            &progress("downloading", Some("0")).replace("2.0.0", "1.0.0"),
        );
        assert!(
            r.deviations
                .iter()
                .any(|d| d.contains("not the offered target"))
        );
        let n = r.deviations.len();
        send(&mut c, &mut r, 30, 0, &progress("downloading", Some("10")));
        assert!(
            r.deviations[n..]
                .iter()
                .any(|d| d.contains("at most one per second"))
        );
        send(&mut c, &mut r, 2000, 0, &progress("downloading", Some("5")));
        assert!(r.deviations.iter().any(|d| d.contains("went down")));
        send(&mut c, &mut r, 3000, 1, &progress("burning", None));
        assert!(
            r.deviations
                .iter()
                .any(|d| d.contains("before the download reached 100"))
        );
        send(&mut c, &mut r, 3100, 0, &progress("done", None));
        assert!(
            r.deviations
                .iter()
                .any(|d| d.contains("done sent with QoS0"))
        );
        send(
            &mut c,
            &mut r,
            3200,
            1,
            r#"{"type":"report_version","report":{"version":"2.0.0"},"x":1}"#,
        );
        assert!(
            r.deviations
                .iter()
                .any(|d| d.contains("unexpected field \"x\""))
        );
        assert!(!r.deviations.iter().any(|d| d.contains("percent 0")));
    }

    fn fail(code: &str) -> String {
        format!(
            "{{\"type\": \"report_progress\", \"report\": {{\"progress\": {{\"state\":\"fail\", \"result_code\":\"{code}\", \"result_msg\":\"time_out\"}}, \"version\": \"2.0.0\"}}}}"
        )
    }

    const V1: &str = r#"{"type":"report_version","report":{"version":"1.0.0"}}"#;
    const V2: &str = r#"{"type":"report_version","report":{"version":"2.0.0"}}"#;

    #[test]
    fn resume_after_a_new_offer() {
        let (mut c, mut r) = checker();
        send(&mut c, &mut r, 0, 1, V1);
        send(&mut c, &mut r, 10, 0, &progress("downloading", Some("0")));
        send(
            &mut c,
            &mut r,
            1100,
            0,
            &progress("downloading", Some("60")),
        );
        // The device restarts, asks again, resumes at 40 % (its journal was older).
        let out = send(&mut c, &mut r, 1200, 1, V1);
        assert_eq!(out.len(), 2);
        send(
            &mut c,
            &mut r,
            1300,
            0,
            &progress("downloading", Some("40")),
        );
        send(
            &mut c,
            &mut r,
            1350,
            0,
            &progress("downloading", Some("100")),
        );
        // A fresh restart within one offer is allowed too.
        send(&mut c, &mut r, 1400, 0, &progress("downloading", Some("0")));
        send(
            &mut c,
            &mut r,
            1450,
            0,
            &progress("downloading", Some("100")),
        );
        send(&mut c, &mut r, 1500, 1, &progress("done", None));
        send(&mut c, &mut r, 9000, 1, V2);
        assert!(r.deviations.is_empty(), "{:?}", r.deviations);
        assert!(r.completed);
        assert_eq!(r.devices[0].offers, 2);
    }

    #[test]
    fn fresh_download_must_start_with_zero() {
        let (mut c, mut r) = checker();
        send(&mut c, &mut r, 0, 1, V1);
        send(&mut c, &mut r, 10, 0, &progress("downloading", Some("0")));
        send(&mut c, &mut r, 20, 1, V1);
        // The second offer's download starts at byte 0 but reports 30 first.
        let token = c.devices[0].offers[1];
        r.requests.push(crate::report::HttpLog {
            at: Duration::from_millis(25),
            conn: 1,
            method: "GET".into(),
            target: String::new(),
            path: c.devices[0].path.clone(),
            range: Some("bytes=0-".into()),
            if_range: None,
            host: None,
            status: 206,
            start: Some(0),
            content_length: 4,
            bytes_sent: 4,
            device: Some("PID/dev".into()),
            offer: Some(token),
            fault: None,
        });
        send(&mut c, &mut r, 30, 0, &progress("downloading", Some("30")));
        assert!(
            r.deviations.iter().any(|d| d.contains("started at byte 0")),
            "{:?}",
            r.deviations
        );
    }

    #[test]
    fn fail_codes_and_order() {
        let (mut c, mut r) = checker();
        send(&mut c, &mut r, 0, 1, V1);
        send(&mut c, &mut r, 10, 1, &fail("-1"));
        assert!(r.deviations.is_empty(), "{:?}", r.deviations);
        assert_eq!(r.fails, [("PID/dev".to_string(), -1)]);
        send(&mut c, &mut r, 20, 1, &fail("-6"));
        assert!(r.deviations.iter().any(|d| d.contains("\"-6\"")));
        send(&mut c, &mut r, 30, 1, &progress("done", None));
        assert!(r.deviations.iter().any(|d| d.contains("done after fail")));
        let n = r.deviations.len();
        send(&mut c, &mut r, 40, 1, V1);
        send(&mut c, &mut r, 50, 1, &progress("done", None));
        send(&mut c, &mut r, 60, 1, &fail("-5"));
        assert!(
            r.deviations[n..]
                .iter()
                .any(|d| d.contains("fail after done"))
        );
        // done, then the device comes back on the old version.
        let n = r.deviations.len();
        send(&mut c, &mut r, 70, 1, V1);
        send(&mut c, &mut r, 80, 1, &progress("done", None));
        let out = send(&mut c, &mut r, 90, 1, V1);
        assert!(
            r.deviations[n..]
                .iter()
                .any(|d| d.contains("reported done"))
        );
        assert_eq!(out.len(), 2, "the task is still pending: offered again");
        assert!(!r.completed);
    }

    fn served(c: &Checker, r: &mut Report, status: u16, offer: Option<u64>) {
        r.requests.push(crate::report::HttpLog {
            at: Duration::ZERO,
            conn: 1,
            method: "GET".into(),
            target: String::new(),
            path: c.devices[0].path.clone(),
            range: None,
            if_range: None,
            host: None,
            status,
            start: None,
            content_length: 0,
            bytes_sent: 0,
            device: Some("PID/dev".into()),
            offer,
            fault: Some("test".into()),
        });
    }

    #[test]
    fn fail_codes_must_match_http_statuses() {
        let (mut c, mut r) = checker();
        send(&mut c, &mut r, 0, 1, V1);
        let t1 = c.devices[0].offers[0];
        // 403 on an expired URL: report_version again mid-download is no deviation, and the
        // cloud offers the same task with a fresh URL.
        served(&c, &mut r, 403, Some(t1));
        let out = send(&mut c, &mut r, 10, 1, V1);
        assert_eq!(out.len(), 2);
        assert_ne!(c.devices[0].offers[1], t1);
        served(&c, &mut r, 403, Some(c.devices[0].offers[1]));
        send(&mut c, &mut r, 20, 1, &fail("-3"));
        assert!(r.deviations.is_empty(), "{:?}", r.deviations);
        assert_eq!(r.devices[0].fail_last_http, [Some(403)]);
        // -3 again without a new 403 since the previous fail: a lie.
        send(&mut c, &mut r, 30, 1, V1);
        send(&mut c, &mut r, 40, 1, &fail("-3"));
        assert_eq!(r.deviations.len(), 1, "{:?}", r.deviations);
        assert!(r.deviations[0].contains("no HTTP 403"));
        // 404 reported as anything but -2.
        send(&mut c, &mut r, 50, 1, V1);
        served(&c, &mut r, 404, None);
        send(&mut c, &mut r, 60, 1, &fail("-1"));
        assert!(r.deviations[1].contains("after an HTTP 404: expected -2"));
        send(&mut c, &mut r, 70, 1, V1);
        served(&c, &mut r, 404, None);
        send(&mut c, &mut r, 80, 1, &fail("-2"));
        // Other codes after other statuses are the device's call.
        send(&mut c, &mut r, 90, 1, V1);
        served(&c, &mut r, 500, None);
        send(&mut c, &mut r, 100, 1, &fail("-1"));
        assert_eq!(r.deviations.len(), 2, "{:?}", r.deviations);
        assert_eq!(r.devices[0].fails, [-3, -3, -1, -2, -1]);
        assert_eq!(
            r.devices[0].fail_last_http,
            [Some(403), None, Some(404), Some(404), Some(500)]
        );
    }

    #[test]
    fn throttle_exempts_0_and_100() {
        let (mut c, mut r) = checker();
        send(&mut c, &mut r, 0, 1, V1);
        send(&mut c, &mut r, 10, 0, &progress("downloading", Some("0")));
        send(&mut c, &mut r, 20, 0, &progress("downloading", Some("100")));
        assert!(r.deviations.is_empty(), "{:?}", r.deviations);
        send(&mut c, &mut r, 30, 0, &progress("downloading", Some("0")));
        send(&mut c, &mut r, 930, 0, &progress("downloading", Some("10"))); // 900 ms: tolerated
        send(
            &mut c,
            &mut r,
            1700,
            0,
            &progress("downloading", Some("20")),
        ); // 770 ms: too soon
        assert_eq!(r.deviations.len(), 1, "{:?}", r.deviations);
        assert!(r.deviations[0].contains("770 ms"));
    }

    #[test]
    fn percent_syntax() {
        assert_eq!(parse_percent("0"), Some(0));
        assert_eq!(parse_percent("100"), Some(100));
        assert_eq!(parse_percent("101"), None);
        assert_eq!(parse_percent("05"), None);
        assert_eq!(parse_percent(""), None);
        assert_eq!(parse_percent("-1"), None);
        assert_eq!(parse_percent(" 5"), None);
    }
}
