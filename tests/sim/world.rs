//! The simulated world: virtual clock, flash (slot + two record copies), the MQTT broker with the
//! OTA cloud behind it, the firmware HTTP server, the fault plan, and the device's `Platform`.

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use md5::{Digest, Md5};
use qcloud_ota::journal::{RECORD_LEN, Record};
use qcloud_ota::mqtt::codec::{self, Packet};
use qcloud_ota::platform::{
    Channel, Event, EventKind, HostError, Level, NetError, Platform, Socket,
};

use super::host::HostLink;
use super::json::{self, Json};
use super::net::{Link, Pipe};
use super::rng::Rng;

pub const PRODUCT: &str = "SIMPROD001";
pub const DEVICE: &str = "dev1";
/// base64("1234567890abcdef")
pub const SECRET: &str = "MTIzNDU2Nzg5MGFiY2RlZg==";
pub const BROKER: &str = "broker.sim";
pub const BROKER_PORT: u16 = 1883;
pub const FW_HOST: &str = "fw.sim";
/// Where the firmware server may redirect to (same content, another host).
pub const CDN_HOST: &str = "cdn.sim";
pub const OLD: &str = "1.0.0";
pub const NEW: &str = "2.0.0";
const FW_PATH: &str = "/fw/2.0.0.bin";
/// The redirect target's path (served directly, never redirected again).
const CDN_PATH: &str = "/cos/2.0.0.bin";

pub fn topic_update() -> String {
    format!("$ota/update/{PRODUCT}/{DEVICE}")
}
pub fn topic_report() -> String {
    format!("$ota/report/{PRODUCT}/{DEVICE}")
}

/// What can go wrong in this run, drawn once per seed.
#[derive(Clone, Debug)]
pub struct Faults {
    pub mqtt_link: Link,
    pub http_link: Link,
    pub connect_latency: u64,
    /// connect() fails at once, or the socket fails on first use.
    pub refuse: f64,
    /// A new connection gets a cut point in one of its directions.
    pub cut_http: f64,
    pub cut_mqtt: f64,
    /// Mean time until an MQTT connection breaks by itself (NAT timeout, Wi-Fi loss).
    pub mqtt_break_mean_ms: Option<f64>,
    pub short_write: f64,
    pub short_read: f64,
    /// Per send/recv: start a WouldBlock streak of up to `wouldblock_ms`.
    pub wouldblock: f64,
    pub wouldblock_ms: u64,
    pub http500: f64,
    pub http403: f64,
    pub http200: f64,
    /// The server closes the connection after a response.
    pub http_close: f64,
    /// A signed URL expires this long after the offer carrying it.
    pub url_ttl_ms: Option<u64>,
    pub connack_refuse: f64,
    /// Power cuts: mean time between timed cuts, and per-call probabilities.
    pub cut_mean_ms: Option<f64>,
    pub cut_store: f64,
    pub cut_slot_write: f64,
    pub cut_any_call: f64,
    pub max_cuts: u32,
    pub reboot_delay_max_ms: u64,
    /// The cloud publishes with QoS 1 (else 0).
    pub cloud_qos1: bool,
    /// A request to the cloud's URL is redirected (302) to the CDN.
    pub http_redirect: f64,
    /// A 200/206 body is sent chunked.
    pub http_chunked: f64,
    /// Mean time between offers the cloud pushes on its own (console retries), if any.
    pub repush_mean_ms: Option<f64>,
    /// Per cloud reply: also send junk on the update topic (another type, malformed JSON, or a
    /// message larger than the device's receive buffer).
    pub junk: f64,
    /// Flash is slow: virtual time passes inside `slot_write` (per KiB) and `store_save`.
    pub flash_ms_per_kib: u64,
    pub store_ms: u64,
    /// Per write of a Downloading record: the store fails with the power on (a worn sector, a
    /// driver error): a prefix of the record is written and the save returns an error; the
    /// device goes on. (Not for erases and Installed records: those failures end the update
    /// with `fail`, which the cloud's checker does not model.)
    pub store_error: f64,
    /// Deterministic faults for hand-written scenarios.
    pub script: Script,
}

/// Platform calls a scripted power cut can hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Call {
    StoreSave,
    SlotWrite,
    SlotOpen,
    SlotClose,
}

/// Faults at exact places, for minimal scenarios (counts are 1-based and over the whole run).
#[derive(Clone, Debug, Default)]
pub struct Script {
    /// Cut the power during the n-th call of this kind (a save or write is torn to `keep` bytes).
    pub cuts: Vec<(Call, u32, usize)>,
    /// The n-th HTTP request is answered with this status (200: the whole image, Range ignored).
    pub http: Vec<(u32, u16)>,
    /// The n-th MQTT connection fails on its first use.
    pub refuse_mqtt: Vec<u32>,
    /// Cut the power at the n-th save of an Installed record (nothing of it written).
    pub cut_installed_save: Option<u32>,
    /// Cut the power right after the n-th `slot_open(_, 0)` erased the slot.
    pub cut_after_erase: Option<u32>,
    /// The n-th HTTP connection is closed by the server (FIN) after this many bytes.
    pub fin_http: Vec<(u32, u64)>,
    /// After `done`, the cloud answers the new version's report with the task's offer once
    /// more (an operator's retry crossing the done, or a stale redelivery).
    pub offer_after_done: bool,
    /// The n-th write of a Downloading record that the power survives fails as a
    /// `Faults::store_error` does.
    pub failed_saves: Vec<u32>,
}

impl Faults {
    pub fn draw(r: &mut Rng) -> Faults {
        let latency = r.range(0, 150);
        let calm = r.chance(0.15);
        // Storms: so many failures that the download attempts run out and the device reports
        // fail; the cloud then offers again.
        let storm = !calm && r.chance(0.15);
        let k = if calm {
            0.0
        } else if storm {
            2.0
        } else {
            1.0
        };
        Faults {
            mqtt_link: Link {
                latency,
                jitter: r.range(0, 50),
                rate: 0,
            },
            http_link: Link {
                latency,
                jitter: r.range(0, 50),
                rate: r.log_uniform(5.0, 500.0) as u64,
            },
            connect_latency: r.range(0, 300),
            refuse: k * r.maybe_rate(0.5, 0.01, 0.3),
            cut_http: k * r.maybe_rate(0.7, 0.02, 0.4),
            cut_mqtt: k * r.maybe_rate(0.6, 0.02, 0.3),
            mqtt_break_mean_ms: (!calm && r.chance(0.4)).then(|| r.log_uniform(5_000.0, 300_000.0)),
            short_write: k * r.maybe_rate(0.6, 0.05, 0.8),
            short_read: k * r.maybe_rate(0.6, 0.05, 0.8),
            wouldblock: k * r.maybe_rate(0.6, 0.01, 0.2),
            wouldblock_ms: r.range(1, 500),
            http500: k * r.maybe_rate(0.4, 0.02, 0.2),
            http403: k * r.maybe_rate(0.4, 0.02, 0.2),
            http200: k * r.maybe_rate(0.5, 0.02, 0.3),
            http_close: r.maybe_rate(0.5, 0.1, 1.0),
            url_ttl_ms: r.chance(0.3).then(|| r.range(5_000, 600_000)),
            connack_refuse: k * r.maybe_rate(0.3, 0.02, 0.3),
            cut_mean_ms: (!calm && r.chance(0.6)).then(|| r.log_uniform(2_000.0, 120_000.0)),
            cut_store: k * r.maybe_rate(0.7, 0.01, 0.15),
            cut_slot_write: k * r.maybe_rate(0.6, 0.002, 0.03),
            cut_any_call: k * r.maybe_rate(0.4, 0.0002, 0.003),
            max_cuts: r.range(0, 25) as u32,
            reboot_delay_max_ms: r.range(0, 30_000),
            cloud_qos1: r.chance(0.5),
            http_redirect: r.maybe_rate(0.3, 0.1, 1.0),
            http_chunked: r.maybe_rate(0.3, 0.1, 1.0),
            repush_mean_ms: r.chance(0.3).then(|| r.log_uniform(10_000.0, 600_000.0)),
            junk: r.maybe_rate(0.3, 0.02, 0.3),
            flash_ms_per_kib: if r.chance(0.4) { r.range(1, 20) } else { 0 },
            store_ms: if r.chance(0.4) { r.range(1, 80) } else { 0 },
            store_error: k * r.maybe_rate(0.5, 0.1, 0.6),
            script: Script::default(),
        }
        .clamped()
    }

    fn clamped(mut self) -> Faults {
        for p in [
            &mut self.refuse,
            &mut self.cut_http,
            &mut self.cut_mqtt,
            &mut self.http500,
            &mut self.http403,
            &mut self.http200,
            &mut self.connack_refuse,
        ] {
            *p = p.min(0.5);
        }
        self
    }

    /// No random faults at all: a clean network and steady power (scenarios add a script).
    pub fn none() -> Faults {
        Faults {
            mqtt_link: Link {
                latency: 20,
                jitter: 0,
                rate: 0,
            },
            http_link: Link {
                latency: 20,
                jitter: 0,
                rate: 50,
            },
            connect_latency: 10,
            refuse: 0.0,
            cut_http: 0.0,
            cut_mqtt: 0.0,
            mqtt_break_mean_ms: None,
            short_write: 0.0,
            short_read: 0.0,
            wouldblock: 0.0,
            wouldblock_ms: 1,
            http500: 0.0,
            http403: 0.0,
            http200: 0.0,
            http_close: 0.0,
            url_ttl_ms: None,
            connack_refuse: 0.0,
            cut_mean_ms: None,
            cut_store: 0.0,
            cut_slot_write: 0.0,
            cut_any_call: 0.0,
            max_cuts: 10,
            reboot_delay_max_ms: 0,
            cloud_qos1: false,
            http_redirect: 0.0,
            http_chunked: 0.0,
            repush_mean_ms: None,
            junk: 0.0,
            flash_ms_per_kib: 0,
            store_ms: 0,
            store_error: 0.0,
            script: Script::default(),
        }
    }
}

#[derive(Default, Clone)]
pub struct Flash {
    pub slot: Vec<u8>,
    /// Durably written prefix of the slot.
    pub slot_written: usize,
    pub slot_open: bool,
    /// The last `slot_close` marked a verified image bootable: the next boot runs it.
    pub boot_pending: bool,
    pub record: [Vec<u8>; 2],
}

#[derive(Default, Clone, Debug)]
pub struct Stats {
    pub power_cuts: u32,
    pub torn_records: u32,
    pub torn_slot_writes: u32,
    pub reboots: u32,
    pub requests: u32,
    /// Requests whose Range starts past 0.
    pub ranged_requests: u32,
    /// The first request after a power cut started past 0: the download resumed.
    pub resumes_after_cut: u32,
    /// Bytes the device read from the firmware server.
    pub http_bytes: u64,
    /// Extra `done` allowed because a power cut fell after the cloud had `done` but before the
    /// device erased its record.
    pub done_windows_cut: u32,
    /// ... because the MQTT session was lost (or a QoS1 redelivery) before the PUBACK arrived.
    pub done_windows_mqtt: u32,
    pub fail_codes: Vec<i64>,
    pub http_status: HashMap<u16, u32>,
    pub polls: u64,
    pub offers: u32,
    pub mqtt_connects: u32,
    pub slot_reads: u32,
    /// Resumes with a record claiming the whole image (`slot_open(size, size)`): the power went
    /// after the last byte was recorded, before the Installed record.
    pub resumes_at_end: u32,
    /// Record writes that failed with the power on (`Faults::store_error`).
    pub store_errors: u32,
    /// A `200` answered a request past byte 0 (the download starts over), ...
    pub restarts: u32,
    /// ... and the record of that restart failed to save.
    pub restarts_unsaved: u32,
}

#[derive(Default)]
pub struct Cloud {
    pub url_seq: u64,
    /// token -> (expiry, revoked)
    pub tokens: HashMap<u64, (u64, bool)>,
    pub dones: u32,
    pub allowed_extra_dones: u32,
    /// The cloud has a `done` the device may not know was acknowledged.
    pub done_unconfirmed: bool,
    pub saw_done: bool,
    pub complete: bool,
    pub pid: u16,
    pub task_id: Option<u64>,
    pub fw_type: Option<String>,
    /// The cloud pushes an offer on its own at this time (after a fail, or at random).
    pub repush_at: Option<u64>,
}

pub struct Image {
    pub data: Rc<Vec<u8>>,
    pub md5hex: String,
    pub etag: String,
}

pub struct Ctx {
    pub seed: u64,
    pub now: u64,
    pub rng: Rng,
    pub fx: Faults,
    pub img: Image,
    pub flash: Flash,
    pub running: String,
    pub boot: u32,
    /// The power is cut: every platform call is a no-op until the reboot.
    pub dead: bool,
    pub cuts_left: u32,
    pub next_cut_at: Option<u64>,
    /// This boot follows a power cut.
    pub after_cut: bool,
    pub first_request_in_boot: bool,
    pub bootable_this_boot: bool,
    /// The host reboots into the new image at this time (after ImageReady).
    pub reboot_at: Option<u64>,
    pub cloud: Cloud,
    pub stats: Stats,
    pub violations: Vec<String>,
    pub tracing: bool,
    pub trace: VecDeque<String>,
    /// Resuming on a slot that does not hold the claimed prefix is reported at `slot_open`
    /// (off: let the run go on to see where it ends).
    pub check_resume_prefix: bool,
    erases: u32,
    calls: HashMap<Call, u32>,
    http_requests: u32,
    mqtt_conns: u32,
    http_conns: u32,
    installed_saves: u32,
    downloading_saves: u32,
    /// Status of the last response the firmware server sent on the device's latest connection.
    pub last_http_status: Option<u16>,
    /// The device's MQTT receive buffer (junk messages are made larger).
    pub dev_mqtt_rx: usize,
    /// Host behaviour: manual acceptance (accept after a delay, sometimes defer first) and
    /// manual confirmation after the reboot.
    pub manual_accept: bool,
    pub manual_confirm: bool,
    pub accept_at: Option<u64>,
    pub confirm_at: Option<u64>,
    /// This boot found an Installed record while running the old image (a rollback: the only
    /// source of `fail -5` here).
    pub boot_rolled_back: bool,
    /// Last MQTT connect() in this boot.
    pub last_mqtt_connect: Option<u64>,
    /// Percent last reported downloading in this boot (reset by a restart from 0).
    pub last_percent: Option<u8>,
    next_sock: i32,
    /// Sockets handed out, closed or not, to catch use after close.
    known_socks: HashMap<i32, Channel>,
    /// Bring-your-own MQTT: the host's connection (`None`: the library's built-in client).
    pub host: Option<HostLink>,
    /// The module the device serves (`Config::module`), named in its `report_version`.
    pub dev_module: Option<String>,
    /// Host MQTT mode: slot erases before the report being delivered was published (a report
    /// from before a restart at byte 0 may arrive after it).
    pub report_epoch: Option<u32>,
    /// A `200` restarted the download; its record (at offset 0) has not been written yet.
    restart_unsaved: bool,
}

impl Ctx {
    pub fn new(seed: u64, rng: Rng, fx: Faults, image: Vec<u8>, tracing: bool) -> Ctx {
        let md5hex: String = Md5::digest(&image)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let etag = format!("\"{md5hex}\"");
        let mut c = Ctx {
            seed,
            now: 1_000_000,
            rng,
            cuts_left: fx.max_cuts,
            fx,
            img: Image {
                data: Rc::new(image),
                md5hex,
                etag,
            },
            flash: Flash::default(),
            running: OLD.into(),
            boot: 0,
            dead: false,
            next_cut_at: None,
            after_cut: false,
            first_request_in_boot: true,
            bootable_this_boot: false,
            reboot_at: None,
            cloud: Cloud::default(),
            stats: Stats::default(),
            violations: Vec::new(),
            tracing,
            trace: VecDeque::new(),
            check_resume_prefix: true,
            erases: 0,
            calls: HashMap::new(),
            http_requests: 0,
            mqtt_conns: 0,
            http_conns: 0,
            installed_saves: 0,
            downloading_saves: 0,
            last_http_status: None,
            boot_rolled_back: false,
            last_mqtt_connect: None,
            last_percent: None,
            dev_mqtt_rx: 1024,
            manual_accept: false,
            manual_confirm: false,
            accept_at: None,
            confirm_at: None,
            next_sock: 3,
            known_socks: HashMap::new(),
            host: None,
            dev_module: None,
            report_epoch: None,
            restart_unsaved: false,
        };
        c.cloud.task_id = c.rng.chance(0.5).then(|| c.rng.range(1, 1 << 40));
        c.cloud.fw_type = c.rng.chance(0.3).then(|| "mcu".to_string());
        c.schedule_cut();
        c.schedule_repush();
        c
    }

    fn schedule_repush(&mut self) {
        self.cloud.repush_at = self
            .fx
            .repush_mean_ms
            .map(|m| self.now + 1 + self.rng.exp(m) as u64);
    }

    pub fn trace(&mut self, f: impl FnOnce() -> String) {
        if self.tracing {
            let line = format!("[{:>9} b{}] {}", self.now, self.boot, f());
            if self.trace.len() >= 4000 {
                self.trace.pop_front();
            }
            self.trace.push_back(line);
        }
    }

    /// Slot erases so far (`slot_open(_, 0)`).
    pub fn erases(&self) -> u32 {
        self.erases
    }

    pub fn violation(&mut self, msg: String) {
        let m = format!(
            "t={} boot={} running={}: {msg}",
            self.now, self.boot, self.running
        );
        self.trace(|| format!("VIOLATION {m}"));
        if self.violations.len() < 20 {
            self.violations.push(m);
        }
    }

    /// Count a call of `kind`; `Some(keep)` when the script cuts the power during it.
    fn scripted_cut(&mut self, kind: Call) -> Option<usize> {
        let n = self.calls.entry(kind).or_default();
        *n += 1;
        let n = *n;
        if self.dead {
            return None;
        }
        self.fx
            .script
            .cuts
            .iter()
            .find(|c| c.0 == kind && c.1 == n)
            .map(|c| c.2)
    }

    pub fn schedule_cut(&mut self) {
        self.next_cut_at = match self.fx.cut_mean_ms {
            Some(m) if self.cuts_left > 0 => Some(self.now + 1 + self.rng.exp(m) as u64),
            _ => None,
        };
    }

    /// A power cut at this platform call, with probability `p` (plus the any-call rate).
    pub fn cut_here(&mut self, p: f64) -> bool {
        !self.dead && self.cuts_left > 0 && self.rng.chance(p + self.fx.cut_any_call)
    }

    pub fn die(&mut self, why: &str) {
        if self.dead {
            return;
        }
        self.dead = true;
        self.cuts_left = self.cuts_left.saturating_sub(1);
        self.stats.power_cuts += 1;
        let w = why.to_string();
        self.trace(|| format!("POWER CUT ({w})"));
    }

    /// Some copy holds an intact record (what the device will find at boot).
    pub fn valid_record(&self) -> bool {
        self.flash
            .record
            .iter()
            .any(|c| Record::decode(c).is_some())
    }

    /// The record the device would load: the intact copy with the newest sequence number.
    pub fn newest_record(&self) -> Option<Record> {
        self.newest().map(|b| b.2)
    }

    /// `(copy, seq, record)` of the newest intact record.
    pub fn newest(&self) -> Option<(usize, u32, Record)> {
        let mut best: Option<(usize, u32, Record)> = None;
        for (i, c) in self.flash.record.iter().enumerate() {
            if let Some((seq, r)) = Record::decode(c)
                && best
                    .as_ref()
                    .is_none_or(|b| seq.wrapping_sub(b.1) as i32 > 0)
            {
                best = Some((i, seq, r));
            }
        }
        best
    }

    fn jitter(&mut self, l: Link) -> u64 {
        self.rng.below(l.jitter + 1)
    }

    fn slot_matches_prefix(&self, n: usize) -> bool {
        n <= self.flash.slot_written
            && n <= self.img.data.len()
            && self.flash.slot.get(..n) == Some(&self.img.data[..n])
    }

    /// The slot's bytes are the image (what a bootloader would boot).
    pub fn slot_is_image(&self) -> bool {
        self.flash.slot.get(..) == Some(&self.img.data[..])
    }

    // ---- the cloud ----

    fn offer_json(&mut self) -> String {
        self.cloud.url_seq += 1;
        let t = self.cloud.url_seq;
        let expiry = self.fx.url_ttl_ms.map_or(u64::MAX, |ttl| self.now + ttl);
        self.cloud.tokens.insert(t, (expiry, false));
        self.stats.offers += 1;
        let mut extra = String::new();
        if let Some(id) = self.cloud.task_id {
            extra.push_str(&format!(",\"task_id\":{id}"));
        }
        if let Some(f) = &self.cloud.fw_type {
            extra.push_str(&format!(",\"fw_type\":\"{f}\""));
        }
        if self.rng.chance(0.3) {
            extra.push_str(",\"user_defined\":\"{\\\"info\\\":\\\"sim\\\"}\"");
        }
        format!(
            "{{\"file_size\":{},\"md5sum\":\"{}\",\"type\":\"update_firmware\",\"url\":\"http:\\/\\/{FW_HOST}\\/fw\\/2.0.0.bin?t={t}\",\"version\":\"{NEW}\"{extra}}}",
            self.img.data.len(),
            self.img.md5hex
        )
    }

    /// A device publish reached the cloud; returns the messages the cloud sends back.
    pub fn on_report(&mut self, qos: u8, dup: bool, live: bool, payload: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        let text = String::from_utf8_lossy(payload).into_owned();
        self.trace(|| format!("cloud <- q{qos}{} {text}", if dup { " dup" } else { "" }));
        let j = match json::parse(payload) {
            Ok(j @ Json::Obj(_)) => j,
            Ok(_) => {
                self.violation(format!("report is not a JSON object: {text}"));
                return out;
            }
            Err(e) => {
                self.violation(format!("report is not valid JSON ({e}): {text}"));
                return out;
            }
        };
        let ty = j
            .get("type")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        match ty.as_str() {
            "report_version" => {
                if qos != 1 {
                    self.violation(format!("report_version with QoS {qos}"));
                }
                let Some(v) = j.path(&["report", "version"]).and_then(Json::as_str) else {
                    self.violation(format!("report_version without report.version: {text}"));
                    return out;
                };
                let v = v.to_string();
                let fw = j.path(&["report", "fw_type"]).and_then(Json::as_str);
                if fw != self.dev_module.as_deref() {
                    self.violation(format!(
                        "report_version names module {fw:?}, the device serves {:?}",
                        self.dev_module
                    ));
                }
                if v != self.running {
                    self.violation(format!("report_version {v} while running {}", self.running));
                }
                out.push(format!(
                    "{{\"result_code\":0,\"result_msg\":\"success\",\"type\":\"report_version_rsp\",\"version\":\"{v}\"}}"
                ));
                if v == NEW {
                    if self.cloud.saw_done && self.fx.script.offer_after_done {
                        self.fx.script.offer_after_done = false;
                        let o = self.offer_json();
                        out.push(o);
                    }
                    if self.cloud.saw_done {
                        self.cloud.complete = true;
                    } else if self.host.as_ref().is_some_and(|h| h.stats.lost_dones > 0) {
                        // The done went to a host without PUBACKs and was lost with its
                        // connection: the library will not send it again, the version closes it.
                        if !self.cloud.complete {
                            self.host.as_mut().unwrap().stats.closed_by_version += 1;
                        }
                        self.cloud.complete = true;
                        self.trace(|| "cloud: task closed by the version report".into());
                    }
                } else {
                    if self.cloud.saw_done {
                        self.violation(format!("report_version {v} after the cloud had done"));
                    }
                    if !self.cloud.complete {
                        let o = self.offer_json();
                        out.push(o);
                    }
                }
            }
            "report_progress" => self.on_progress(&j, qos, dup, live, &text),
            _ => self.violation(format!("unknown report type: {text}")),
        }
        out
    }

    /// `fail -5` is the library's catch-all: check that what the device says happened did.
    fn check_fail_5(&mut self, msg: &str, text: &str) {
        match msg {
            "device came back on the old version" if self.boot_rolled_back => {}
            // An unexpected HTTP status on the last attempt.
            "upgrade failed" if self.last_http_status == Some(500) => {}
            _ => self.violation(format!("fail -5 that nothing in this run explains: {text}")),
        }
    }

    fn on_progress(&mut self, j: &Json, qos: u8, dup: bool, live: bool, text: &str) {
        let p = j.path(&["report", "progress"]);
        let state = p
            .and_then(|p| p.get("state"))
            .and_then(Json::as_str)
            .unwrap_or("");
        let rc = p.and_then(|p| p.get("result_code"));
        let rm = p.and_then(|p| p.get("result_msg"));
        let percent = p.and_then(|p| p.get("percent"));
        let code = match rc {
            Some(Json::Str(s)) => s.parse::<i64>().ok(),
            _ => None,
        };
        if code.is_none() {
            self.violation(format!("result_code is not a string integer: {text}"));
        }
        if !matches!(rm, Some(Json::Str(_))) {
            self.violation(format!("result_msg is not a string: {text}"));
        }
        match j.path(&["report", "version"]).and_then(Json::as_str) {
            Some(NEW) => {}
            _ => self.violation(format!("report_progress version is not {NEW}: {text}")),
        }
        match (self.cloud.task_id, j.path(&["report", "task_id"])) {
            (None, None) => {}
            (Some(id), Some(Json::Num(n))) if *n == id.to_string() => {}
            _ => self.violation(format!("task_id not echoed as offered: {text}")),
        }
        // The module the offer named, or else the one the device serves.
        let want_fw = self.cloud.fw_type.clone().or(self.dev_module.clone());
        match (&want_fw, j.path(&["report", "fw_type"])) {
            (None, None) => {}
            (Some(f), Some(Json::Str(s))) if s == f => {}
            _ => self.violation(format!("fw_type not echoed as offered: {text}")),
        }
        let want_qos = if state == "downloading" { 0 } else { 1 };
        if qos != want_qos {
            self.violation(format!("{state} with QoS {qos}"));
        }
        if state != "downloading" && percent.is_some() {
            self.violation(format!("percent outside downloading: {text}"));
        }
        if state != "fail" && code != Some(0) {
            self.violation(format!("{state} with a non-zero result_code: {text}"));
        }
        match state {
            "downloading" => match percent {
                Some(Json::Str(s)) if s.parse::<u8>().is_ok_and(|p| p <= 100) => {
                    let p: u8 = s.parse().unwrap();
                    let stale = self.report_epoch.is_some_and(|e| e < self.erases);
                    if stale {
                        // Published before the download restarted at byte 0.
                    } else if self.last_percent.is_some_and(|l| p < l) {
                        self.violation(format!(
                            "percent went back from {:?} to {p}",
                            self.last_percent
                        ));
                    } else {
                        self.last_percent = Some(p);
                    }
                }
                _ => self.violation(format!("percent is not a string 0..100: {text}")),
            },
            "burning" => {
                if !self.bootable_this_boot {
                    self.violation("burning before the slot was closed bootable".into());
                }
            }
            "done" => {
                if self.running != NEW {
                    self.violation(format!("done while running {}", self.running));
                }
                self.cloud.dones += 1;
                self.cloud.saw_done = true;
                if !live {
                    // The device closed this connection before the cloud even saw the done:
                    // it cannot have the PUBACK and will send done again.
                    self.cloud.allowed_extra_dones += 1;
                    self.stats.done_windows_mqtt += 1;
                } else if self.cloud.done_unconfirmed && dup {
                    // QoS1 redelivery of a done whose PUBACK is still on its way.
                    self.cloud.allowed_extra_dones += 1;
                    self.stats.done_windows_mqtt += 1;
                } else if self.host.is_some() && !self.valid_record() {
                    // A host without PUBACKs: the library counted done delivered when the host
                    // accepted it and erased its record; it will not send done again.
                } else {
                    self.cloud.done_unconfirmed = true;
                }
            }
            "fail" => {
                if self.cloud.saw_done {
                    self.violation(format!("fail after done: {text}"));
                }
                let c = code.unwrap_or(0);
                if !(-5..=-1).contains(&c) {
                    self.violation(format!("fail with result_code {c}"));
                }
                // The simulated server never corrupts or loses the image.
                if c == -4 || c == -2 {
                    self.violation(format!("fail {c} cannot happen in this simulation: {text}"));
                }
                if c == -5 {
                    self.check_fail_5(rm.and_then(Json::as_str).unwrap_or(""), text);
                }
                self.stats.fail_codes.push(c);
                // Like an operator retrying the task from the console.
                let at = self.now + self.rng.range(5_000, 120_000);
                self.cloud.repush_at = Some(self.cloud.repush_at.map_or(at, |t| t.min(at)));
            }
            _ => self.violation(format!("unknown progress state: {text}")),
        }
    }
}

// ---- connections ----

pub enum Srv {
    Mqtt { connected: bool, subscribed: bool },
    Http,
}

pub struct Conn {
    pub sock: i32,
    pub chan: Channel,
    pub open_at: u64,
    pub refused: bool,
    pub to_dev: Pipe,
    pub to_srv: Pipe,
    pub dev_closed: bool,
    /// The server stopped processing (closed, broken, or kicked).
    pub srv_done: bool,
    pub wb_until: u64,
    pub break_at: Option<u64>,
    pub srv: Srv,
    pub rx: Vec<u8>,
}

/// A device packet, owned (the decoder borrows the receive buffer).
enum In {
    Connect {
        client_id: String,
        user: bool,
        pass: bool,
        keepalive: u16,
        clean: bool,
    },
    Publish {
        dup: bool,
        qos: u8,
        retain: bool,
        topic: String,
        pid: Option<u16>,
        payload: Vec<u8>,
    },
    PubAck,
    Subscribe {
        pid: u16,
        topic: String,
        qos: u8,
    },
    PingReq,
    Disconnect,
    Other(String),
}

pub struct World {
    pub conns: Vec<Conn>,
    pub x: Ctx,
    /// Keepalive the device was configured with (checked in CONNECT).
    pub keepalive_s: u16,
}

impl World {
    fn conn(&mut self, s: Socket) -> Option<usize> {
        self.conns
            .iter()
            .position(|c| c.sock == s.0 && !c.dev_closed)
    }

    /// Move bytes the servers can see and let them answer; timed connection breaks; the
    /// cloud's own pushes.
    pub fn step_all(&mut self) {
        if self.x.cloud.repush_at.is_some_and(|t| self.x.now >= t) {
            self.x.schedule_repush();
            let host_up = self.x.host.as_ref().map(|h| h.up && h.subscribed);
            let target = self.conns.iter().rposition(|c| {
                !c.srv_done
                    && !c.dev_closed
                    && matches!(
                        c.srv,
                        Srv::Mqtt {
                            subscribed: true,
                            ..
                        }
                    )
            });
            // An operator retries the task only while the device has not updated (the cloud
            // cannot know a done is on its way: see regression_offer_for_the_running_version).
            let retry = !self.x.cloud.saw_done && !self.x.cloud.complete && self.x.running != NEW;
            if host_up == Some(true) && retry {
                let o = self.x.offer_json();
                self.x.trace(|| format!("cloud pushes on its own -> {o}"));
                self.x.host_cloud_message(o);
            } else if let Some(i) = target
                && retry
            {
                let o = self.x.offer_json();
                self.x.trace(|| format!("cloud pushes on its own -> {o}"));
                self.cloud_send(i, &o);
            }
        }
        for i in 0..self.conns.len() {
            if let Some(t) = self.conns[i].break_at
                && self.x.now >= t
            {
                self.conns[i].break_at = None;
                let now = self.x.now;
                let c = &mut self.conns[i];
                c.to_dev.reset(now);
                c.to_srv.reset(now);
                c.srv_done = true;
                let s = c.sock;
                self.x.trace(|| format!("link break on sock {s}"));
            }
            self.step_conn(i);
        }
        self.conns
            .retain(|c| !(c.dev_closed && (c.srv_done || c.to_srv.is_empty())));
    }

    fn step_conn(&mut self, i: usize) {
        let now = self.x.now;
        let c = &mut self.conns[i];
        if c.srv_done {
            return;
        }
        if c.to_srv.read_all(now, &mut c.rx) == 0 && c.to_srv.at_end().is_none() {
            return;
        }
        match c.srv {
            Srv::Mqtt { .. } => self.mqtt_process(i),
            Srv::Http => self.http_process(i),
        }
        let c = &mut self.conns[i];
        if c.to_srv.at_end().is_some() {
            // The device closed or the link broke: the server is done with it.
            c.srv_done = true;
            c.to_dev.finish(NetError::Closed);
        }
    }

    /// The earliest future time at which bytes become readable on either side.
    pub fn next_event(&self) -> Option<u64> {
        let now = self.x.now;
        self.conns
            .iter()
            .flat_map(|c| {
                [
                    c.to_dev.next_ready(now),
                    c.to_srv.next_ready(now),
                    c.break_at,
                    (c.open_at > now).then_some(c.open_at),
                    (c.wb_until > now).then_some(c.wb_until),
                ]
            })
            .flatten()
            .chain(self.x.cloud.repush_at)
            .chain(self.x.host_next_event())
            .min()
    }

    // ---- MQTT broker + cloud ----

    fn mqtt_send(&mut self, i: usize, bytes: &[u8]) {
        let link = self.x.fx.mqtt_link;
        let j = self.x.jitter(link);
        let now = self.x.now;
        self.conns[i].to_dev.push(now, bytes, link, j);
    }

    fn cloud_send(&mut self, i: usize, msg: &str) {
        let (qos, pid) = if self.x.fx.cloud_qos1 {
            self.x.cloud.pid = self.x.cloud.pid.wrapping_add(1).max(1);
            (1, Some(self.x.cloud.pid))
        } else {
            (0, None)
        };
        let mut b = vec![0u8; msg.len() + 128];
        let n = codec::encode_publish(&mut b, &topic_update(), msg.as_bytes(), qos, pid, false)
            .unwrap();
        self.mqtt_send(i, &b[..n]);
    }

    fn mqtt_process(&mut self, i: usize) {
        loop {
            let c = &mut self.conns[i];
            if c.srv_done {
                return;
            }
            let (pkt, n) = match codec::decode(&c.rx) {
                Ok(None) => return,
                Err(e) => {
                    let hex: String = c.rx.iter().take(16).map(|b| format!("{b:02x}")).collect();
                    self.x
                        .violation(format!("malformed MQTT from the device: {e:?} ({hex}..)"));
                    let c = &mut self.conns[i];
                    c.srv_done = true;
                    c.to_dev.finish(NetError::Closed);
                    return;
                }
                Ok(Some((p, n))) => {
                    let p = match p {
                        Packet::Connect {
                            client_id,
                            username,
                            password,
                            keepalive_s,
                            clean_session,
                        } => In::Connect {
                            client_id: client_id.into(),
                            user: username.is_some(),
                            pass: password.is_some(),
                            keepalive: keepalive_s,
                            clean: clean_session,
                        },
                        Packet::Publish {
                            dup,
                            qos,
                            retain,
                            topic,
                            pid,
                            payload,
                        } => In::Publish {
                            dup,
                            qos,
                            retain,
                            topic: topic.into(),
                            pid,
                            payload: payload.to_vec(),
                        },
                        Packet::PubAck { .. } => In::PubAck,
                        Packet::Subscribe { pid, topic, qos } => In::Subscribe {
                            pid,
                            topic: topic.into(),
                            qos,
                        },
                        Packet::PingReq => In::PingReq,
                        Packet::Disconnect => In::Disconnect,
                        other => In::Other(format!("{other:?}")),
                    };
                    (p, n)
                }
            };
            c.rx.drain(..n);
            let (connected, subscribed) = match self.conns[i].srv {
                Srv::Mqtt {
                    connected,
                    subscribed,
                } => (connected, subscribed),
                Srv::Http => unreachable!(),
            };
            match pkt {
                In::Connect {
                    client_id,
                    user,
                    pass,
                    keepalive,
                    clean,
                } => {
                    self.x.stats.mqtt_connects += 1;
                    if connected {
                        self.x.violation("second CONNECT on one connection".into());
                    }
                    if client_id != format!("{PRODUCT}{DEVICE}") || !user || !pass || !clean {
                        self.x
                            .violation(format!("bad CONNECT: client id {client_id:?}"));
                    }
                    if keepalive != self.keepalive_s {
                        self.x.violation(format!("CONNECT keepalive {keepalive}"));
                    }
                    if self.x.rng.chance(self.x.fx.connack_refuse) {
                        self.x.trace(|| "broker refuses CONNECT (3)".into());
                        self.mqtt_send(i, &[0x20, 2, 0, 3]);
                        let c = &mut self.conns[i];
                        c.srv_done = true;
                        c.to_dev.finish(NetError::Closed);
                        return;
                    }
                    self.mqtt_send(i, &[0x20, 2, 0, 0]);
                    self.conns[i].srv = Srv::Mqtt {
                        connected: true,
                        subscribed: false,
                    };
                    // One session per client id: the broker drops any older connection.
                    let me = self.conns[i].sock;
                    let now = self.x.now;
                    for c in self
                        .conns
                        .iter_mut()
                        .filter(|c| c.sock != me && matches!(c.srv, Srv::Mqtt { .. }))
                    {
                        if !c.srv_done {
                            c.srv_done = true;
                            c.to_dev.finish(NetError::Closed);
                            c.to_srv.reset(now);
                        }
                    }
                }
                _ if !connected => {
                    self.x.violation("packet before CONNECT".into());
                }
                In::Subscribe { pid, topic, qos } => {
                    if topic != topic_update() || qos != 1 {
                        self.x.violation(format!("SUBSCRIBE {topic} qos {qos}"));
                    }
                    let [hi, lo] = pid.to_be_bytes();
                    self.mqtt_send(i, &[0x90, 3, hi, lo, 1]);
                    self.conns[i].srv = Srv::Mqtt {
                        connected: true,
                        subscribed: true,
                    };
                }
                In::Publish {
                    dup,
                    qos,
                    retain,
                    topic,
                    pid,
                    payload,
                } => {
                    if topic != topic_report() || retain || qos > 1 {
                        self.x
                            .violation(format!("PUBLISH to {topic} qos {qos} retain {retain}"));
                    }
                    if !subscribed {
                        self.x
                            .violation("report published before the SUBACK".into());
                    }
                    if let (1, Some(p)) = (qos, pid) {
                        let mut b = [0u8; 4];
                        let n = codec::encode_puback(&mut b, p).unwrap();
                        self.mqtt_send(i, &b[..n]);
                    }
                    let live = !self.conns[i].dev_closed;
                    let replies = self.x.on_report(qos, dup, live, &payload);
                    for r in replies {
                        self.x.trace(|| format!("cloud -> {r}"));
                        self.cloud_send(i, &r);
                        if self.x.rng.chance(self.x.fx.junk) {
                            let junk = match self.x.rng.below(4) {
                                0 => "{\"type\":\"something_else\",\"n\":1}".to_string(),
                                1 => "{\"type\":\"update_firmware\",\"url\":".to_string(),
                                2 => "not json at all".to_string(),
                                _ => format!(
                                    "{{\"type\":\"big\",\"pad\":\"{}\"}}",
                                    "x".repeat(self.x.dev_mqtt_rx + 100)
                                ),
                            };
                            self.x
                                .trace(|| format!("cloud -> junk ({} bytes)", junk.len()));
                            self.cloud_send(i, &junk);
                        }
                    }
                }
                In::PubAck => {}
                In::PingReq => self.mqtt_send(i, &[0xd0, 0]),
                In::Disconnect => {
                    let c = &mut self.conns[i];
                    c.srv_done = true;
                    c.to_dev.finish(NetError::Closed);
                    return;
                }
                In::Other(s) => self
                    .x
                    .violation(format!("unexpected packet from the device: {s}")),
            }
        }
    }

    // ---- firmware server ----

    fn http_respond(
        &mut self,
        i: usize,
        status: u16,
        head_extra: &str,
        body: Option<(usize, usize)>,
        text: &str,
        close: bool,
    ) {
        *self.x.stats.http_status.entry(status).or_default() += 1;
        self.x.last_http_status = Some(status);
        let reason = match status {
            200 => "OK",
            206 => "Partial Content",
            302 => "Found",
            403 => "Forbidden",
            416 => "Range Not Satisfiable",
            _ => "Internal Server Error",
        };
        let len = body.map_or(text.len(), |(a, b)| b - a);
        let chunked = body.is_some() && self.x.rng.chance(self.x.fx.http_chunked);
        let framing = if chunked {
            "Transfer-Encoding: chunked".to_string()
        } else {
            format!("Content-Length: {len}")
        };
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\nServer: sim\r\n{framing}\r\n{head_extra}{}\r\n",
            if close { "Connection: close\r\n" } else { "" }
        );
        let link = self.x.fx.http_link;
        let j = self.x.jitter(link);
        let now = self.x.now;
        let img = self.x.img.data.clone();
        let mut sizes = Vec::new();
        if let (true, Some((a, b))) = (chunked, body) {
            let mut at = a;
            while at < b {
                let k = (1 + self.x.rng.below(8192) as usize).min(b - at);
                sizes.push(k);
                at += k;
            }
        }
        let c = &mut self.conns[i];
        c.to_dev.push(now, head.as_bytes(), link, j);
        match body {
            Some((a, b)) if chunked => {
                let mut at = a;
                for k in sizes {
                    c.to_dev.push(now, format!("{k:x}\r\n").as_bytes(), link, 0);
                    c.to_dev.push_image(now, &img, at, at + k, link, 0);
                    c.to_dev.push(now, b"\r\n", link, 0);
                    at += k;
                }
                debug_assert_eq!(at, b);
                c.to_dev.push(now, b"0\r\n\r\n", link, 0);
            }
            Some((a, b)) => {
                c.to_dev.push_image(now, &img, a, b, link, 0);
            }
            None => {
                c.to_dev.push(now, text.as_bytes(), link, 0);
            }
        }
        if close {
            c.srv_done = true;
            c.to_dev.finish(NetError::Closed);
        }
    }

    fn http_process(&mut self, i: usize) {
        loop {
            let c = &mut self.conns[i];
            if c.srv_done {
                return;
            }
            let Some(end) = c.rx.windows(4).position(|w| w == b"\r\n\r\n") else {
                if c.rx.len() > 4096 {
                    self.x.violation("HTTP request head over 4 KiB".into());
                    self.conns[i].srv_done = true;
                }
                return;
            };
            let head = String::from_utf8_lossy(&c.rx[..end]).into_owned();
            c.rx.drain(..end + 4);
            self.http_request(i, &head);
        }
    }

    fn http_request(&mut self, i: usize, head: &str) {
        self.x.stats.requests += 1;
        let h = head.to_string();
        self.x
            .trace(|| format!("http <- {}", h.replace("\r\n", " | ")));
        let mut lines = head.split("\r\n");
        let first = lines.next().unwrap_or("");
        let parts: Vec<&str> = first.split(' ').collect();
        let mut hdr: HashMap<String, String> = HashMap::new();
        for l in lines {
            match l.split_once(':') {
                Some((k, v)) => {
                    if hdr
                        .insert(k.trim().to_ascii_lowercase(), v.trim().to_string())
                        .is_some()
                    {
                        self.x.violation(format!("repeated header {k}"));
                    }
                }
                None => self.x.violation(format!("bad header line {l:?}")),
            }
        }
        let close = self.x.rng.chance(self.x.fx.http_close);
        if parts.len() != 3 || parts[0] != "GET" || parts[2] != "HTTP/1.1" {
            self.x.violation(format!("bad request line {first:?}"));
            return self.http_respond(i, 500, "", None, "bad request", true);
        }
        let host = hdr.get("host").cloned().unwrap_or_default();
        let cdn = host == CDN_HOST;
        if host != FW_HOST && !cdn {
            self.x.violation(format!("bad Host: {host:?}"));
        }
        let (path, query) = parts[1].split_once('?').unwrap_or((parts[1], ""));
        let on_cdn_path = path == CDN_PATH;
        if path != FW_PATH && !on_cdn_path {
            self.x
                .violation(format!("request for an unknown path {path:?}"));
        }
        let token = query.strip_prefix("t=").and_then(|t| t.parse::<u64>().ok());
        let Some(token) = token else {
            self.x
                .violation(format!("request for an unknown target {:?}", parts[1]));
            return self.http_respond(i, 500, "", None, "no such object", close);
        };
        let size = self.x.img.data.len();
        let range = hdr.get("range").and_then(|r| {
            let (a, b) = r.strip_prefix("bytes=")?.split_once('-')?;
            Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?))
        });
        let Some((a, b)) = range else {
            self.x.violation(format!(
                "request without a valid Range: {:?}",
                hdr.get("range")
            ));
            return self.http_respond(i, 500, "", None, "range", close);
        };
        if a > b || b != size - 1 {
            self.x
                .violation(format!("Range {a}-{b} for a {size}-byte image"));
            return self.http_respond(
                i,
                416,
                &format!("Content-Range: bytes */{size}\r\n"),
                None,
                "",
                close,
            );
        }
        if self.x.check_resume_prefix && !self.x.slot_matches_prefix(a) {
            let w = self.x.flash.slot_written;
            self.x.violation(format!(
                "request from byte {a}, but the slot does not hold the image's first {a} bytes (durable prefix {w})"
            ));
        }
        if a > 0 {
            self.x.stats.ranged_requests += 1;
            if self.x.after_cut && self.x.first_request_in_boot {
                self.x.stats.resumes_after_cut += 1;
            }
        }
        self.x.first_request_in_boot = false;
        let now = self.x.now;
        let forbidden = match self.x.cloud.tokens.get_mut(&token) {
            None => {
                self.x
                    .violation(format!("URL token {token} was never issued"));
                true
            }
            Some((exp, revoked)) => {
                if !*revoked && self.x.rng.chance(self.x.fx.http403) {
                    *revoked = true;
                }
                *revoked || now >= *exp
            }
        };
        self.x.http_requests += 1;
        let scripted = self
            .x
            .fx
            .script
            .http
            .iter()
            .find(|h| h.0 == self.x.http_requests)
            .map(|h| h.1);
        const DENIED: &str = "<?xml version='1.0' encoding='utf-8' ?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>";
        if forbidden {
            return self.http_respond(
                i,
                403,
                "Content-Type: application/xml\r\n",
                None,
                DENIED,
                close,
            );
        }
        if scripted.is_some_and(|st| st != 200 && st != 206) {
            let st = scripted.unwrap();
            return self.http_respond(
                i,
                st,
                "Content-Type: text/plain\r\n",
                None,
                "scripted",
                close,
            );
        }
        if !on_cdn_path && self.x.rng.chance(self.x.fx.http_redirect) {
            // To the CDN, absolute or host-relative, the signed query kept.
            let loc = if self.x.rng.chance(0.5) {
                format!("http://{CDN_HOST}{CDN_PATH}?t={token}")
            } else {
                format!("{CDN_PATH}?t={token}")
            };
            let extra = format!("Location: {loc}\r\n");
            return self.http_respond(i, 302, &extra, None, "", close);
        }
        if self.x.rng.chance(self.x.fx.http500) {
            return self.http_respond(
                i,
                500,
                "Content-Type: text/plain\r\n",
                None,
                "internal error",
                close,
            );
        }
        let etag = self.x.img.etag.clone();
        let stale = hdr.get("if-range").is_some_and(|t| *t != etag);
        if hdr.contains_key("if-range") && a == 0 {
            self.x.violation("If-Range on a request from byte 0".into());
        }
        let extra = format!(
            "ETag: {etag}\r\nAccept-Ranges: bytes\r\nContent-Type: application/octet-stream\r\n"
        );
        if stale || scripted == Some(200) || self.x.rng.chance(self.x.fx.http200) {
            if a > 0 {
                self.x.stats.restarts += 1;
                self.x.restart_unsaved = true;
            }
            return self.http_respond(i, 200, &extra, Some((0, size)), "", close);
        }
        let extra = format!("{extra}Content-Range: bytes {a}-{b}/{size}\r\n");
        self.http_respond(i, 206, &extra, Some((a, b + 1)), "", close)
    }

    // ---- power ----

    /// Everything volatile is gone; flash stays. `cut`: this was a power cut (not a planned reboot).
    pub fn power_down(&mut self, cut: bool) {
        self.x.host_power_down();
        if cut && self.x.cloud.done_unconfirmed && self.x.valid_record() {
            // The cloud has done, the device still has its record: it reports done again.
            self.x.cloud.allowed_extra_dones += 1;
            self.x.stats.done_windows_cut += 1;
            self.x
                .trace(|| "done window: cut after the cloud acknowledged done".into());
        }
        self.x.cloud.done_unconfirmed = false;
        self.conns.clear();
        self.x.flash.slot_open = false;
        self.x.reboot_at = None;
        self.x.dead = false;
    }

    pub fn boot(&mut self, after_cut: bool) {
        self.x.boot += 1;
        self.x.stats.reboots += u32::from(self.x.boot > 1);
        if self.x.flash.boot_pending {
            self.x.flash.boot_pending = false;
            self.x.running = NEW.into();
        }
        self.x.after_cut = after_cut;
        self.x.first_request_in_boot = true;
        self.x.last_mqtt_connect = None;
        self.x.boot_rolled_back = self.x.running == OLD
            && self
                .x
                .newest_record()
                .is_some_and(|r| r.phase == qcloud_ota::journal::Phase::Installed);
        self.x.last_percent = None;
        self.x.accept_at = None;
        self.x.confirm_at = (self.x.manual_confirm && self.x.running == NEW)
            .then(|| self.x.now + self.x.rng.below(10_000));
        self.x.bootable_this_boot = false;
        let r = self.x.running.clone();
        self.x.trace(|| format!("BOOT running {r}"));
        self.x.host_boot();
    }
}

/// The device's view of the world.
pub struct SimPlatform {
    pub w: Box<World>,
}

impl SimPlatform {
    fn wb(&mut self, i: usize) -> bool {
        let x = &mut self.w.x;
        let c = &mut self.w.conns[i];
        if c.wb_until > x.now {
            return true;
        }
        if x.rng.chance(x.fx.wouldblock) {
            c.wb_until = x.now + 1 + x.rng.below(x.fx.wouldblock_ms);
            return true;
        }
        false
    }

    fn bad_socket(&mut self, s: Socket, op: &str) -> NetError {
        if !self.w.x.known_socks.contains_key(&s.0) {
            self.w
                .x
                .violation(format!("{op} on a socket never handed out: {}", s.0));
        } else {
            self.w.x.violation(format!("{op} on closed socket {}", s.0));
        }
        NetError::Failed
    }
}

impl Platform for SimPlatform {
    fn now_ms(&mut self) -> u64 {
        self.w.x.now
    }

    fn connect(
        &mut self,
        ch: Channel,
        host: &str,
        port: u16,
        flags: u32,
    ) -> Result<Socket, NetError> {
        let tls = flags != 0;
        let x = &mut self.w.x;
        if x.dead {
            return Err(NetError::Failed);
        }
        if x.cut_here(0.0) {
            x.die("connect");
            return Err(NetError::Failed);
        }
        let ok = match ch {
            Channel::Mqtt => host == BROKER && port == BROKER_PORT,
            Channel::Http => (host == FW_HOST || host == CDN_HOST) && port == 80,
        };
        if !ok || tls || (ch == Channel::Mqtt && x.host.is_some()) {
            x.violation(format!(
                "connect {ch:?} to {host}:{port} tls={tls} (host MQTT: {})",
                x.host.is_some()
            ));
            return Err(NetError::Failed);
        }
        let open = self
            .w
            .conns
            .iter()
            .filter(|c| c.chan == ch && !c.dev_closed)
            .count();
        let x = &mut self.w.x;
        if open > 0 {
            x.violation(format!(
                "connect {ch:?} while {open} such connection(s) are still open"
            ));
        }
        if ch == Channel::Mqtt {
            if let Some(t) = x.last_mqtt_connect
                && x.now < t + 5000
            {
                x.violation(format!(
                    "MQTT connect {} ms after the previous one (Tencent allows one per 5 s)",
                    x.now - t
                ));
            }
            x.last_mqtt_connect = Some(x.now);
        }
        let mut refused = false;
        if ch == Channel::Mqtt {
            x.mqtt_conns += 1;
            refused = x.fx.script.refuse_mqtt.contains(&x.mqtt_conns);
        }
        if x.rng.chance(x.fx.refuse) {
            if x.rng.chance(0.5) {
                x.trace(|| format!("connect {ch:?} refused"));
                return Err(NetError::Failed);
            }
            refused = true;
        }
        let sock = x.next_sock;
        x.next_sock += 1;
        x.known_socks.insert(sock, ch);
        let (p_cut, dev_scale, srv_scale) = match ch {
            Channel::Mqtt => (x.fx.cut_mqtt, 1500, 1500),
            Channel::Http => (x.fx.cut_http, x.img.data.len() as u64 + 400, 400),
        };
        let mut to_dev = Pipe::default();
        let mut to_srv = Pipe::default();
        if x.rng.chance(p_cut) {
            if x.rng.chance(0.7) {
                to_dev.cut_at = Some(x.rng.below(dev_scale));
                to_dev.cut_as = Some(if x.rng.chance(0.5) {
                    NetError::Closed
                } else {
                    NetError::Failed
                });
            } else {
                to_srv.cut_at = Some(x.rng.below(srv_scale));
            }
        }
        if ch == Channel::Http {
            x.http_conns += 1;
            x.last_http_status = None;
            let n = x.http_conns;
            if let Some(&(_, b)) = x.fx.script.fin_http.iter().find(|f| f.0 == n) {
                to_dev.cut_at = Some(b);
                to_dev.cut_as = Some(NetError::Closed);
            }
        }
        let break_at = match (ch, x.fx.mqtt_break_mean_ms) {
            (Channel::Mqtt, Some(m)) => Some(x.now + 1 + x.rng.exp(m) as u64),
            _ => None,
        };
        let open_at = x.now + x.rng.below(x.fx.connect_latency + 1);
        x.trace(|| {
            format!(
                "connect {ch:?} -> sock {sock}{}",
                if refused { " (will fail)" } else { "" }
            )
        });
        self.w.conns.push(Conn {
            sock,
            chan: ch,
            open_at,
            refused,
            to_dev,
            to_srv,
            dev_closed: false,
            srv_done: false,
            wb_until: 0,
            break_at,
            srv: match ch {
                Channel::Mqtt => Srv::Mqtt {
                    connected: false,
                    subscribed: false,
                },
                Channel::Http => Srv::Http,
            },
            rx: Vec::new(),
        });
        Ok(Socket(sock))
    }

    fn send(&mut self, s: Socket, buf: &[u8]) -> Result<usize, NetError> {
        if self.w.x.dead {
            return Err(NetError::WouldBlock);
        }
        if buf.is_empty() {
            self.w.x.violation("send of 0 bytes".into());
        }
        let Some(i) = self.w.conn(s) else {
            return Err(self.bad_socket(s, "send"));
        };
        let now = self.w.x.now;
        if self.w.conns[i].open_at > now {
            return Err(NetError::WouldBlock);
        }
        if self.w.conns[i].refused {
            return Err(NetError::Failed);
        }
        if self.wb(i) {
            return Err(NetError::WouldBlock);
        }
        let x = &mut self.w.x;
        let c = &mut self.w.conns[i];
        if c.to_srv.is_ended() {
            return Err(NetError::Failed);
        }
        let mut n = buf.len();
        if n > 1 && x.rng.chance(x.fx.short_write) {
            n = 1 + x.rng.below(n as u64) as usize;
        }
        if x.cut_here(0.0) {
            // The cut catches the bytes half-way: a prefix leaves, then nothing.
            let k = x.rng.below(n as u64 + 1) as usize;
            let link = if c.chan == Channel::Mqtt {
                x.fx.mqtt_link
            } else {
                x.fx.http_link
            };
            c.to_srv.push(now, &buf[..k], link, 0);
            x.die("send");
            return Ok(n);
        }
        let link = if c.chan == Channel::Mqtt {
            x.fx.mqtt_link
        } else {
            x.fx.http_link
        };
        let j = x.rng.below(link.jitter + 1);
        c.to_srv.push(now, &buf[..n], link, j);
        if c.to_srv.is_ended() {
            // The cut point in this direction: the connection is reset.
            c.to_dev.reset(now);
            let sock = c.sock;
            x.trace(|| format!("sock {sock}: reset while sending"));
        }
        self.w.step_conn(i);
        Ok(n)
    }

    fn recv(&mut self, s: Socket, buf: &mut [u8]) -> Result<usize, NetError> {
        if self.w.x.dead {
            return Err(NetError::WouldBlock);
        }
        if buf.is_empty() {
            self.w.x.violation("recv into 0 bytes".into());
        }
        let Some(i) = self.w.conn(s) else {
            return Err(self.bad_socket(s, "recv"));
        };
        let now = self.w.x.now;
        if self.w.conns[i].open_at > now {
            return Err(NetError::WouldBlock);
        }
        if self.w.conns[i].refused {
            return Err(NetError::Failed);
        }
        if self.wb(i) {
            return Err(NetError::WouldBlock);
        }
        if self.w.x.cut_here(0.0) {
            self.w.x.die("recv");
            return Err(NetError::WouldBlock);
        }
        self.w.step_conn(i);
        let x = &mut self.w.x;
        let c = &mut self.w.conns[i];
        let mut max = buf.len();
        if max > 1 && x.rng.chance(x.fx.short_read) {
            max = 1 + x.rng.below(max as u64) as usize;
        }
        let n = c.to_dev.read(now, &mut buf[..max]);
        if n > 0 {
            if c.chan == Channel::Http {
                x.stats.http_bytes += n as u64;
            }
            return Ok(n);
        }
        match c.to_dev.at_end() {
            Some(e) => Err(e),
            None => Err(NetError::WouldBlock),
        }
    }

    fn close(&mut self, s: Socket) {
        if self.w.x.dead {
            return;
        }
        let Some(i) = self.w.conn(s) else {
            self.bad_socket(s, "close");
            return;
        };
        let x = &mut self.w.x;
        let c = &mut self.w.conns[i];
        c.dev_closed = true;
        c.to_srv.finish(NetError::Closed);
        if c.chan == Channel::Mqtt && x.cloud.done_unconfirmed {
            // The session is gone before the device saw the PUBACK for done (it would have
            // erased its record): it reports done again on the next session.
            x.cloud.allowed_extra_dones += 1;
            x.cloud.done_unconfirmed = false;
            x.stats.done_windows_mqtt += 1;
            x.trace(|| "done window: MQTT closed before the PUBACK for done was handled".into());
        }
        let sock = c.sock;
        x.trace(|| format!("close sock {sock}"));
        self.w.step_conn(i);
    }

    fn slot_open(&mut self, size: u32, offset: u32) -> Result<(), HostError> {
        let x = &mut self.w.x;
        if x.dead {
            return Ok(());
        }
        if x.scripted_cut(Call::SlotOpen).is_some() || x.cut_here(0.0) {
            x.die("slot_open");
            return Ok(());
        }
        x.trace(|| format!("slot_open({size}, {offset})"));
        let (size, offset) = (size as usize, offset as usize);
        if size != x.img.data.len() || offset > size {
            x.violation(format!(
                "slot_open({size}, {offset}) for a {}-byte image",
                x.img.data.len()
            ));
            return Err(HostError);
        }
        if x.flash.boot_pending {
            x.violation("slot_open while a verified image waits for the reboot".into());
            x.flash.boot_pending = false;
        }
        if offset == 0 {
            x.flash.slot = vec![0xFF; size];
            x.erases += 1;
            x.last_percent = None;
            x.flash.slot_written = 0;
            if x.fx.script.cut_after_erase == Some(x.erases) {
                x.die("right after the slot erase");
            }
        } else {
            if x.check_resume_prefix && !x.slot_matches_prefix(offset) {
                let w = x.flash.slot_written;
                let msg = format!(
                    "slot_open resumes at {offset} but the slot's durable image prefix is {w} bytes or wrong"
                );
                x.violation(msg);
            }
            x.flash.slot_written = offset.min(x.flash.slot_written);
            if offset == size {
                x.stats.resumes_at_end += 1;
            }
        }
        x.flash.slot_open = true;
        Ok(())
    }

    fn slot_write(&mut self, offset: u32, data: &[u8]) -> Result<(), HostError> {
        let x = &mut self.w.x;
        if x.dead {
            return Ok(());
        }
        let off = offset as usize;
        if !x.flash.slot_open {
            x.violation(format!(
                "slot_write({off}, {}) with the slot closed",
                data.len()
            ));
            return Err(HostError);
        }
        let hole = off > x.flash.slot_written && x.check_resume_prefix;
        if hole || off + data.len() > x.flash.slot.len() {
            x.violation(format!(
                "slot_write({off}, {}) leaves a hole or overflows (written {}, size {})",
                data.len(),
                x.flash.slot_written,
                x.flash.slot.len()
            ));
            return Err(HostError);
        }
        let mut n = data.len();
        let scripted = x.scripted_cut(Call::SlotWrite);
        let torn = scripted.is_some() || x.cut_here(x.fx.cut_slot_write);
        if torn {
            n = match scripted {
                Some(keep) => keep.min(n),
                None => x.rng.below(n as u64) as usize,
            };
            x.stats.torn_slot_writes += 1;
        }
        x.flash.slot[off..off + n].copy_from_slice(&data[..n]);
        x.now += (n as u64 * x.fx.flash_ms_per_kib) / 1024;
        x.flash.slot_written = x.flash.slot_written.max(off + n);
        if torn {
            x.die("in slot_write");
        }
        Ok(())
    }

    fn slot_read(&mut self, offset: u32, buf: &mut [u8]) -> Option<Result<(), HostError>> {
        let x = &mut self.w.x;
        if x.dead {
            return Some(Ok(()));
        }
        let off = offset as usize;
        match x.flash.slot.get(off..off + buf.len()) {
            Some(src) => {
                buf.copy_from_slice(src);
                x.stats.slot_reads += 1;
                Some(Ok(()))
            }
            None => {
                let (n, len) = (buf.len(), x.flash.slot.len());
                x.violation(format!("slot_read({off}, {n}) past the slot ({len})"));
                Some(Err(HostError))
            }
        }
    }

    fn slot_close(&mut self, bootable: bool) -> Result<(), HostError> {
        let x = &mut self.w.x;
        if x.dead {
            return Ok(());
        }
        let cut = x.scripted_cut(Call::SlotClose).is_some() || x.cut_here(0.0);
        if cut && x.rng.chance(0.5) {
            x.die("before slot_close");
            return Ok(());
        }
        x.trace(|| format!("slot_close({bootable})"));
        if bootable {
            match x.newest_record() {
                Some(r)
                    if r.phase == qcloud_ota::journal::Phase::Installed
                        && r.version.as_str() == NEW => {}
                other => {
                    let o = other.map(|r| (r.phase, r.version.as_str().to_string()));
                    x.violation(format!(
                        "slot_close(true) without an Installed record first (newest: {o:?})"
                    ))
                }
            }
            if !x.slot_is_image() {
                x.violation("slot_close(true) with a slot that is not the image".into());
            }
            x.flash.boot_pending = true;
            x.bootable_this_boot = true;
        } else {
            x.flash.boot_pending = false;
        }
        x.flash.slot_open = false;
        if cut {
            x.die("after slot_close");
        }
        Ok(())
    }

    fn store_load(&mut self, copy: u8, buf: &mut [u8]) -> usize {
        let x = &mut self.w.x;
        if copy > 1 {
            x.violation(format!("store_load copy {copy}"));
            return 0;
        }
        let r = &x.flash.record[usize::from(copy)];
        if buf.len() < r.len() {
            let (b, r) = (buf.len(), r.len());
            x.violation(format!("store_load buffer {b} < record {r}"));
            return 0;
        }
        buf[..r.len()].copy_from_slice(r);
        r.len()
    }

    fn store_save(&mut self, copy: u8, data: &[u8]) -> Result<(), HostError> {
        let x = &mut self.w.x;
        if x.dead {
            return Ok(());
        }
        if copy > 1 || !(data.is_empty() || data.len() == RECORD_LEN) {
            x.violation(format!("store_save copy {copy} len {}", data.len()));
            return Err(HostError);
        }
        let c = usize::from(copy);
        if !data.is_empty() {
            // The torn-save guarantee: a save never goes over the newest intact record, and
            // carries a higher sequence number.
            match (x.newest(), Record::decode(data)) {
                (_, None) => x.violation("store_save of a record that does not decode".into()),
                (Some((nc, nseq, _)), Some((seq, _))) => {
                    if nc == c {
                        x.violation(format!(
                            "store_save over the newest record (copy {c}, seq {nseq})"
                        ));
                    }
                    if seq.wrapping_sub(nseq) as i32 <= 0 {
                        x.violation(format!("store_save seq {seq} not after the newest {nseq}"));
                    }
                }
                (None, Some(_)) => {}
            }
        }
        let mut scripted = x.scripted_cut(Call::StoreSave);
        if Record::decode(data)
            .is_some_and(|(_, r)| r.phase == qcloud_ota::journal::Phase::Installed)
        {
            x.installed_saves += 1;
            if x.fx.script.cut_installed_save == Some(x.installed_saves) {
                scripted = Some(0);
            }
        }
        if scripted.is_some() || x.cut_here(x.fx.cut_store) {
            // Torn: only a prefix of the new bytes (or, for an erase, of the old ones) is there.
            if data.is_empty() {
                let old = x.flash.record[c].len() as u64;
                let k = scripted.unwrap_or_else(|| x.rng.below(old + 1) as usize);
                x.flash.record[c].truncate(k);
            } else {
                let k = scripted.unwrap_or_else(|| x.rng.below(data.len() as u64) as usize);
                x.flash.record[c] = data[..k.min(data.len() - 1)].to_vec();
            }
            x.stats.torn_records += 1;
            x.die(if data.is_empty() {
                "in store_save (erase)"
            } else {
                "in store_save"
            });
            return Ok(());
        }
        // The restart's own record: the first at offset 0 after the 200.
        let restart_save = x.restart_unsaved
            && Record::decode(data).is_some_and(|(_, r)| r.offset == 0)
            && std::mem::take(&mut x.restart_unsaved);
        let downloading = Record::decode(data)
            .is_some_and(|(_, r)| r.phase == qcloud_ota::journal::Phase::Downloading);
        x.downloading_saves += u32::from(downloading);
        let scripted = downloading && x.fx.script.failed_saves.contains(&x.downloading_saves);
        if scripted || downloading && x.rng.chance(x.fx.store_error) {
            let k = x.rng.below(data.len() as u64) as usize;
            x.flash.record[c] = data[..k].to_vec();
            x.stats.store_errors += 1;
            x.stats.restarts_unsaved += u32::from(restart_save);
            x.trace(|| format!("store_save copy {copy}: fails after {k} bytes"));
            return Err(HostError);
        }
        x.flash.record[c] = data.to_vec();
        x.now += x.fx.store_ms;
        let what = if data.is_empty() {
            "erase".to_string()
        } else {
            match Record::decode(data) {
                Some((seq, r)) => format!(
                    "seq {seq} {:?} {} off {}",
                    r.phase,
                    r.version.as_str(),
                    r.offset
                ),
                None => "UNDECODABLE".to_string(),
            }
        };
        x.trace(|| format!("store_save copy {copy}: {what}"));
        if data.is_empty() && x.cloud.done_unconfirmed && !x.valid_record() {
            // The device handled the PUBACK for done: it erased its record.
            x.cloud.done_unconfirmed = false;
        }
        Ok(())
    }

    fn event(&mut self, e: &Event<'_>) {
        let x = &mut self.w.x;
        if x.dead {
            return;
        }
        let (k, err, v) = (e.kind, e.error, e.version.to_string());
        x.trace(|| format!("event {k:?} {err:?} {v}"));
        match e.kind {
            EventKind::ImageReady => {
                if !x.bootable_this_boot {
                    x.violation("ImageReady without a bootable slot".into());
                }
                if x.reboot_at.is_none() {
                    x.reboot_at = Some(x.now + x.rng.below(3000));
                }
            }
            EventKind::Offered if x.manual_accept => {
                x.accept_at = Some(x.now + x.rng.below(10_000));
            }
            EventKind::Done if x.running != NEW => {
                x.violation(format!("Done event while running {}", x.running));
            }
            _ => {}
        }
    }

    fn mqtt_subscribe(&mut self, topic: &str, qos: u8) -> Result<(), NetError> {
        self.w.x.host_subscribe(topic, qos)
    }

    fn mqtt_publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: u8,
    ) -> Result<Option<u32>, NetError> {
        self.w.x.host_publish(topic, payload, qos)
    }

    fn log(&mut self, level: Level, msg: &str) {
        let m = msg.to_string();
        self.w.x.trace(|| format!("log {level:?}: {m}"));
    }
}
