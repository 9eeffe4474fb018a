//! Bring-your-own MQTT (`Config::host_mqtt`): the simulated host owns the connection to the
//! cloud. It is a direct adapter: what the library publishes through `Platform::mqtt_publish`
//! travels (latency, jitter, in order) to the same simulated cloud as in built-in mode, and the
//! cloud's messages travel back to the host, which hands them to `Client::mqtt_input`.
//!
//! Faults of the host's connection: it drops (the host calls `mqtt_disconnected`, or, for a lazy
//! host, says nothing and only calls `mqtt_connected` after the reconnect), reconnects at least
//! 5 s apart (some attempts fail), `WouldBlock` streaks on publish and subscribe, PUBACKs reported
//! late, PUBACKs lost with the connection, hosts that cannot report PUBACKs at all (`Ok(None)`),
//! broker redeliveries of the cloud's messages, and messages for other topics (another
//! sub-device, another service) that the library must refuse. A power cut drops the connection
//! too.
//!
//! The promise checked for hosts without PUBACKs: the library counts a QoS1 report delivered once
//! the host accepted it, so a report lost with the connection is lost for good (a `done` is not
//! sent again: the record is gone). The cloud still completes, because the version is reported
//! again after every reconnect and reboot: the cloud then closes the task on `report_version`
//! with the target version (counted as `closed_by_version`, allowed only after a lost `done`).

use std::collections::VecDeque;

use qcloud_ota::client::Client;
use qcloud_ota::error::Error;
use qcloud_ota::platform::NetError;

use super::json::{self, Json};
use super::rng::Rng;
use super::world::{Ctx, DEVICE, NEW, PRODUCT, SimPlatform, topic_report, topic_update};

/// The host's behaviour and its connection's faults, drawn once per seed.
#[derive(Clone, Debug)]
pub struct HostCfg {
    /// The host reports PUBACKs (`Ok(Some(token))`); else it cannot (`Ok(None)`).
    pub acks: bool,
    /// Tokens are MQTT packet ids, restarting at 1 with every connection (else one counter).
    pub per_conn_tokens: bool,
    /// The host calls `mqtt_disconnected` when its connection drops (a lazy host does not).
    pub signals_drop: bool,
    /// Per publish/subscribe: start a `WouldBlock` streak of up to `busy_ms`.
    pub busy: f64,
    pub busy_ms: u64,
    /// The host reports a PUBACK up to this long after it arrived.
    pub ack_delay_max_ms: u64,
    /// Per cloud message: also hand the library a message for another topic.
    pub foreign: f64,
    /// Per cloud message: the broker delivers it twice (QoS1 redelivery).
    pub dup: f64,
    /// Mean time until the host's connection drops by itself.
    pub break_mean_ms: Option<f64>,
    /// A reconnect attempt fails.
    pub refuse: f64,
    /// The host (re)connects within this long (never less than 5 s after its last attempt).
    pub reconnect_max_ms: u64,
    /// MQTT buffers of length 0 (allowed in this mode).
    pub empty_mqtt_bufs: bool,
    /// Scripted drops: right after the `n`-th QoS1 report of `kind` (`report_version`,
    /// `burning`, `done`, `fail`) was accepted (`before`: it never reaches the cloud) or reached
    /// the cloud (its PUBACK is lost with the connection).
    pub script_drops: Vec<(&'static str, u32, bool)>,
}

impl HostCfg {
    pub fn draw(r: &mut Rng, builtin_break: Option<f64>) -> HostCfg {
        HostCfg {
            acks: !r.chance(0.3),
            per_conn_tokens: r.chance(0.5),
            signals_drop: !r.chance(0.2),
            busy: r.maybe_rate(0.6, 0.01, 0.3),
            busy_ms: r.range(1, 800),
            ack_delay_max_ms: if r.chance(0.5) { r.range(1, 3000) } else { 0 },
            foreign: r.maybe_rate(0.5, 0.05, 0.5),
            dup: r.maybe_rate(0.3, 0.02, 0.3),
            break_mean_ms: builtin_break
                .or_else(|| r.chance(0.5).then(|| r.log_uniform(5_000.0, 300_000.0))),
            refuse: r.maybe_rate(0.4, 0.05, 0.5),
            reconnect_max_ms: r.range(0, 20_000),
            empty_mqtt_bufs: r.chance(0.5),
            script_drops: Vec::new(),
        }
    }

    /// A well-behaved host on a steady connection (scenarios change what they test).
    pub fn calm() -> HostCfg {
        HostCfg {
            acks: true,
            per_conn_tokens: false,
            signals_drop: true,
            busy: 0.0,
            busy_ms: 1,
            ack_delay_max_ms: 0,
            foreign: 0.0,
            dup: 0.0,
            break_mean_ms: None,
            refuse: 0.0,
            reconnect_max_ms: 0,
            empty_mqtt_bufs: true,
            script_drops: Vec::new(),
        }
    }
}

/// A report on its way from the host to the cloud.
struct Up {
    at: u64,
    payload: Vec<u8>,
    qos: u8,
    token: Option<u32>,
    kind: String,
    /// Slot erases before it was published.
    epoch: u32,
    /// Scripted: lost with the connection whatever happens.
    lose: bool,
    /// The library published this report again, its earlier token still unacknowledged (the
    /// host-mode ack timeout): the cloud sees it as a QoS1 redelivery.
    again: bool,
}

#[derive(Default, Clone, Debug)]
pub struct HostStats {
    pub connects: u32,
    pub refused_connects: u32,
    pub drops: u32,
    pub unsignalled_drops: u32,
    pub busy: u32,
    pub acks_reported: u32,
    pub acks_lost: u32,
    pub foreign_refused: u32,
    pub dup_deliveries: u32,
    /// QoS1 reports accepted without a PUBACK to come and lost with the connection.
    pub lost_reports: u32,
    /// ... of which `done`.
    pub lost_dones: u32,
    /// The cloud closed the task on the target version's report, its `done` lost.
    pub closed_by_version: u32,
    /// Reports delivered at the moment the connection dropped (their PUBACK lost).
    pub delivered_at_drop: u32,
    /// Offers for another module of the device on its own topic (to be ignored).
    pub other_module_offers: u32,
    /// QoS1 reports published again after the library's ack timeout.
    pub republished: u32,
}

/// The host's side of its MQTT connection.
pub struct HostLink {
    pub cfg: HostCfg,
    pub up: bool,
    /// What the library was told last: `mqtt_connected` (true) or `mqtt_disconnected`.
    pub told_up: bool,
    pub subscribed: bool,
    pub conn: u32,
    pub last_connect: Option<u64>,
    pub connect_at: Option<u64>,
    pub break_at: Option<u64>,
    busy_until: u64,
    next_token: u32,
    /// Tokens handed out on this connection whose PUBACK has not been reported.
    outstanding: Vec<u32>,
    /// The last QoS1 report published and its token.
    last_q1: Option<(u32, Vec<u8>)>,
    to_cloud: VecDeque<Up>,
    last_up_at: u64,
    /// `(at, topic, payload)` for `mqtt_input`, in order.
    to_dev: VecDeque<(u64, String, Vec<u8>)>,
    last_dev_at: u64,
    acks: VecDeque<(u64, u32)>,
    /// QoS1 reports accepted per kind (for scripted drops).
    counts: Vec<(String, u32)>,
    pub stats: HostStats,
}

impl HostLink {
    pub fn new(cfg: HostCfg) -> HostLink {
        HostLink {
            cfg,
            up: false,
            told_up: false,
            subscribed: false,
            conn: 0,
            last_connect: None,
            connect_at: None,
            break_at: None,
            busy_until: 0,
            next_token: 1,
            outstanding: Vec::new(),
            last_q1: None,
            to_cloud: VecDeque::new(),
            last_up_at: 0,
            to_dev: VecDeque::new(),
            last_dev_at: 0,
            acks: VecDeque::new(),
            counts: Vec::new(),
            stats: HostStats::default(),
        }
    }

    fn next_event(&self, now: u64) -> Option<u64> {
        [
            self.to_cloud.front().map(|m| m.at),
            self.to_dev.front().map(|m| m.0),
            self.acks.front().map(|a| a.0),
            self.connect_at.filter(|_| !self.up),
            self.break_at.filter(|_| self.up),
            (self.busy_until > now).then_some(self.busy_until),
        ]
        .into_iter()
        .flatten()
        .map(|t| t.max(now))
        .min()
    }
}

/// The kind of a report: its `type`, or for `report_progress` its state.
fn kind_of(payload: &[u8]) -> String {
    let Ok(j) = json::parse(payload) else {
        return "?".into();
    };
    match j.get("type").and_then(Json::as_str) {
        Some("report_progress") => j
            .path(&["report", "progress", "state"])
            .and_then(Json::as_str)
            .unwrap_or("?")
            .to_string(),
        Some(t) => t.to_string(),
        None => "?".into(),
    }
}

impl Ctx {
    pub fn host_mode(&self) -> bool {
        self.host.is_some()
    }

    pub fn host_next_event(&self) -> Option<u64> {
        self.host.as_ref().and_then(|h| h.next_event(self.now))
    }

    fn host_busy(&mut self) -> bool {
        let now = self.now;
        let h = self.host.as_mut().unwrap();
        if h.busy_until > now {
            h.stats.busy += 1;
            return true;
        }
        if self.rng.chance(h.cfg.busy) {
            h.busy_until = now + 1 + self.rng.below(h.cfg.busy_ms);
            h.stats.busy += 1;
            return true;
        }
        false
    }

    /// `Platform::mqtt_subscribe`.
    pub fn host_subscribe(&mut self, topic: &str, qos: u8) -> Result<(), NetError> {
        if self.dead {
            return Err(NetError::WouldBlock);
        }
        let Some(h) = self.host.as_ref() else {
            self.violation(format!("mqtt_subscribe({topic}) in built-in MQTT mode"));
            return Err(NetError::Failed);
        };
        if !h.told_up {
            self.violation(format!(
                "mqtt_subscribe({topic}) while the host said its connection is down"
            ));
        }
        if topic != topic_update() || qos != 1 {
            self.violation(format!("mqtt_subscribe({topic}, qos {qos})"));
        }
        if self.host_busy() {
            return Err(NetError::WouldBlock);
        }
        let h = self.host.as_mut().unwrap();
        if !h.up {
            // A lazy host: its connection is gone and it has not said so.
            return Err(NetError::WouldBlock);
        }
        h.subscribed = true;
        self.trace(|| "host: subscribed".into());
        Ok(())
    }

    /// `Platform::mqtt_publish`.
    pub fn host_publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: u8,
    ) -> Result<Option<u32>, NetError> {
        if self.dead {
            return Err(NetError::WouldBlock);
        }
        let Some(h) = self.host.as_ref() else {
            self.violation(format!("mqtt_publish({topic}) in built-in MQTT mode"));
            return Err(NetError::Failed);
        };
        if !h.told_up {
            self.violation(format!(
                "mqtt_publish while the host said its connection is down: {}",
                String::from_utf8_lossy(payload)
            ));
        }
        if topic != topic_report() || qos > 1 {
            self.violation(format!("mqtt_publish to {topic} qos {qos}"));
        }
        if self.cut_here(0.0) {
            self.die("mqtt_publish");
            return Err(NetError::WouldBlock);
        }
        if self.host_busy() {
            return Err(NetError::WouldBlock);
        }
        let now = self.now;
        let h = self.host.as_mut().unwrap();
        if !h.up {
            return Err(NetError::WouldBlock);
        }
        if !h.subscribed {
            self.violation("mqtt_publish before mqtt_subscribe on this connection".into());
        }
        let h = self.host.as_mut().unwrap();
        let token = (qos == 1 && h.cfg.acks).then(|| {
            let t = h.next_token;
            h.next_token = if h.cfg.per_conn_tokens {
                h.next_token % 65_535 + 1
            } else {
                h.next_token.wrapping_add(1).clamp(1, i32::MAX as u32)
            };
            h.outstanding.push(t);
            t
        });
        let again = h
            .last_q1
            .as_ref()
            .is_some_and(|(t, p)| p == payload && h.outstanding.contains(t));
        if let Some(t) = token {
            h.stats.republished += u32::from(again);
            h.last_q1 = Some((t, payload.to_vec()));
        }
        let kind = kind_of(payload);
        let mut lose = false;
        if qos == 1 {
            let n = match h.counts.iter_mut().find(|c| c.0 == kind) {
                Some(c) => {
                    c.1 += 1;
                    c.1
                }
                None => {
                    h.counts.push((kind.clone(), 1));
                    1
                }
            };
            if h.cfg.script_drops.contains(&(kind.as_str(), n, true)) {
                lose = true;
                h.break_at = Some(now);
            }
        }
        let link = self.fx.mqtt_link;
        let j = self.rng.below(link.jitter + 1);
        let epoch = self.erases();
        let h = self.host.as_mut().unwrap();
        let at = (now + link.latency + j).max(h.last_up_at);
        h.last_up_at = at;
        h.to_cloud.push_back(Up {
            at,
            payload: payload.to_vec(),
            qos,
            token,
            kind,
            epoch,
            lose,
            again,
        });
        let t = token;
        self.trace(|| format!("host: publish q{qos} accepted, token {t:?}"));
        Ok(token)
    }

    /// A message for the device's side of the host (in order, after the link's latency).
    pub fn host_to_dev(&mut self, topic: String, payload: Vec<u8>) {
        let link = self.fx.mqtt_link;
        let j = self.rng.below(link.jitter + 1);
        let now = self.now;
        let Some(h) = self.host.as_mut() else { return };
        let at = (now + link.latency + j).max(h.last_dev_at);
        h.last_dev_at = at;
        h.to_dev.push_back((at, topic, payload));
    }

    /// The cloud's side: a report arrived. `replies`: its answers go back (false at a drop).
    fn host_deliver(&mut self, m: Up, replies: bool) {
        self.report_epoch = Some(m.epoch);
        let out = self.on_report(m.qos, m.again, true, &m.payload);
        self.report_epoch = None;
        let now = self.now;
        if let Some(t) = m.token {
            if replies {
                let link = self.fx.mqtt_link;
                let h = self.host.as_ref().unwrap();
                let extra = self.rng.below(h.cfg.ack_delay_max_ms + 1);
                let at = now + link.latency + extra;
                let h = self.host.as_mut().unwrap();
                let at = at.max(h.acks.back().map_or(0, |a| a.0));
                h.acks.push_back((at, t));
            } else {
                self.host.as_mut().unwrap().stats.acks_lost += 1;
            }
        }
        if !replies {
            self.host.as_mut().unwrap().stats.delivered_at_drop += 1;
            return;
        }
        let h = self.host.as_ref().unwrap();
        let n = h.counts.iter().find(|c| c.0 == m.kind).map_or(0, |c| c.1);
        if m.qos == 1 && h.cfg.script_drops.contains(&(m.kind.as_str(), n, false)) {
            // Scripted: the connection drops before the PUBACK reaches the host.
            self.host.as_mut().unwrap().break_at = Some(now);
        }
        for r in out {
            self.trace(|| format!("cloud -> {r}"));
            self.host_cloud_message(r);
        }
    }

    /// The cloud publishes on the device's update topic (plus the host-mode extras).
    pub fn host_cloud_message(&mut self, msg: String) {
        let h = self.host.as_ref().unwrap();
        let (dup, foreign) = (h.cfg.dup, h.cfg.foreign);
        let twice = self.fx.cloud_qos1 && self.rng.chance(dup);
        self.host_to_dev(topic_update(), msg.clone().into_bytes());
        if twice {
            self.host.as_mut().unwrap().stats.dup_deliveries += 1;
            self.host_to_dev(topic_update(), msg.clone().into_bytes());
        }
        if self.rng.chance(self.fx.junk) {
            let junk = match self.rng.below(3) {
                0 => "{\"type\":\"something_else\",\"n\":1}".to_string(),
                1 => "{\"type\":\"update_firmware\",\"url\":".to_string(),
                _ => "not json at all".to_string(),
            };
            self.trace(|| format!("cloud -> junk ({} bytes)", junk.len()));
            self.host_to_dev(topic_update(), junk.into_bytes());
        }
        if self.dev_module.is_some() && self.rng.chance(foreign) {
            // An offer for another module of this device, on its own topic: ignored.
            let other = r#"{"file_size":1000,"md5sum":"00000000000000000000000000000000","type":"update_firmware","url":"http:\/\/fw.sim\/other\/9.9.9.bin?t=0","version":"9.9.9","fw_type":"wifi"}"#;
            self.host.as_mut().unwrap().stats.other_module_offers += 1;
            self.host_to_dev(topic_update(), other.as_bytes().to_vec());
        }
        if self.rng.chance(foreign) {
            // Another sub-device's offer, or another service's message on this connection.
            let offer = msg.replace(NEW, "9.9.9").replace("/fw/", "/other/");
            let (topic, payload) = match self.rng.below(5) {
                0 => (format!("$ota/update/OTHERPROD1/{DEVICE}"), offer),
                1 => (format!("$ota/update/{PRODUCT}/dev2"), offer),
                2 => (format!("$ota/update/{PRODUCT}/{DEVICE}/x"), offer),
                3 => (
                    format!("$thing/down/property/{PRODUCT}/{DEVICE}"),
                    "{\"method\":\"control\",\"params\":{}}".to_string(),
                ),
                _ => (format!("$ota/report/{PRODUCT}/{DEVICE}"), msg),
            };
            self.host_to_dev(topic, payload.into_bytes());
        }
    }

    /// The connection is gone (link break or power): reports in flight reach the cloud or not,
    /// PUBACKs and the cloud's messages in flight are lost.
    fn host_lose_connection(&mut self) {
        let Some(h) = self.host.as_mut() else { return };
        h.up = false;
        h.subscribed = false;
        h.break_at = None;
        let inflight: Vec<Up> = h.to_cloud.drain(..).collect();
        let lost_acks = h.acks.len() as u32;
        h.acks.clear();
        h.to_dev.clear();
        h.outstanding.clear();
        h.stats.acks_lost += lost_acks;
        let noack = !h.cfg.acks;
        for m in inflight {
            if !m.lose && self.rng.chance(0.5) {
                let k = m.kind.clone();
                self.trace(|| format!("host: {k} reaches the cloud as the connection drops"));
                self.host_deliver(m, false);
            } else {
                let k = m.kind.clone();
                self.trace(|| format!("host: {k} lost with the connection"));
                if noack && m.qos == 1 {
                    // Lost for good unless a power cut kept the record the library was clearing
                    // (then it sends done again after the reboot).
                    let gone = !self.valid_record();
                    let h = self.host.as_mut().unwrap();
                    h.stats.lost_reports += 1;
                    if m.kind == "done" && gone {
                        h.stats.lost_dones += 1;
                    }
                }
            }
        }
    }

    /// The host's connection drops. Returns whether the host tells the library.
    fn host_drop(&mut self) -> bool {
        self.host_lose_connection();
        if self.cloud.done_unconfirmed {
            // The PUBACK for done is lost: the library sends done again after mqtt_connected.
            self.cloud.allowed_extra_dones += 1;
            self.cloud.done_unconfirmed = false;
            self.stats.done_windows_mqtt += 1;
            self.trace(|| "done window: host connection dropped before the PUBACK for done".into());
        }
        let now = self.now;
        let d = self
            .rng
            .below(self.host.as_ref().unwrap().cfg.reconnect_max_ms + 1);
        let h = self.host.as_mut().unwrap();
        h.stats.drops += 1;
        let earliest = h.last_connect.map_or(now, |t| t + 5000);
        h.connect_at = Some((now + d).max(earliest));
        let signal = h.cfg.signals_drop;
        if signal {
            h.told_up = false;
        } else {
            h.stats.unsignalled_drops += 1;
        }
        self.trace(|| format!("host: connection dropped (signalled: {signal})"));
        signal
    }

    /// A (re)connect attempt; true when the connection is up.
    fn host_connect(&mut self) -> bool {
        let now = self.now;
        if let Some(t) = self.host.as_ref().unwrap().last_connect
            && now < t + 5000
        {
            self.violation(format!(
                "simulation bug: host connects {} ms after its last attempt",
                now - t
            ));
        }
        let h = self.host.as_ref().unwrap();
        let refused = self.rng.chance(h.cfg.refuse);
        let d = self.rng.below(h.cfg.reconnect_max_ms + 1);
        let brk = h
            .cfg
            .break_mean_ms
            .map(|m| now + 1 + self.rng.exp(m) as u64);
        let h = self.host.as_mut().unwrap();
        h.last_connect = Some(now);
        if refused {
            h.stats.refused_connects += 1;
            h.connect_at = Some(now + 5000 + d);
            self.trace(|| "host: connect refused".into());
            return false;
        }
        h.up = true;
        h.told_up = true;
        h.conn += 1;
        h.connect_at = None;
        h.break_at = brk;
        if h.cfg.per_conn_tokens {
            h.next_token = 1;
        }
        h.stats.connects += 1;
        self.stats.mqtt_connects += 1;
        self.trace(|| "host: connected".into());
        true
    }

    /// Power is gone (cut or reboot): the connection with it.
    pub fn host_power_down(&mut self) {
        if self.host.is_none() {
            return;
        }
        self.host_lose_connection();
        let h = self.host.as_mut().unwrap();
        h.told_up = false;
        h.connect_at = None;
        h.busy_until = 0;
    }

    pub fn host_boot(&mut self) {
        let now = self.now;
        let d = self.rng.below(3000);
        if let Some(h) = self.host.as_mut() {
            // One CONNECT per 5 s per identity applies within a boot, as for the built-in client.
            h.last_connect = None;
            h.connect_at = Some(now + d);
        }
    }
}

enum Step {
    Drop,
    Connect,
    Up(Up),
    Ack(u32),
    Input(String, Vec<u8>),
}

/// Everything the host does at the current virtual time: drops, reconnects, reports reaching
/// the cloud, PUBACKs and messages handed to the library.
pub fn step(client: &mut Client<'_, SimPlatform>) {
    loop {
        let x = &mut client.platform().w.x;
        if x.dead {
            return;
        }
        let now = x.now;
        let Some(h) = x.host.as_mut() else { return };
        let s = if h.up && h.break_at.is_some_and(|t| now >= t) {
            Step::Drop
        } else if !h.up && h.connect_at.is_some_and(|t| now >= t) {
            Step::Connect
        } else if h.to_cloud.front().is_some_and(|m| m.at <= now) {
            Step::Up(h.to_cloud.pop_front().unwrap())
        } else if h.acks.front().is_some_and(|a| a.0 <= now) {
            let t = h.acks.pop_front().unwrap().1;
            match h.outstanding.iter().position(|&o| o == t) {
                Some(i) => {
                    h.outstanding.remove(i);
                }
                None => x.violation(format!("simulation bug: PUBACK for unknown token {t}")),
            }
            Step::Ack(t)
        } else if h.to_dev.front().is_some_and(|m| m.0 <= now) {
            let (_, t, p) = h.to_dev.pop_front().unwrap();
            Step::Input(t, p)
        } else {
            return;
        };
        match s {
            Step::Drop => {
                if x.host_drop() {
                    client.mqtt_disconnected();
                }
            }
            Step::Connect => {
                if x.host_connect()
                    && let Err(e) = client.mqtt_connected()
                {
                    let x = &mut client.platform().w.x;
                    x.violation(format!("mqtt_connected() = {e:?}"));
                }
            }
            Step::Up(m) => x.host_deliver(m, true),
            Step::Ack(t) => {
                x.host.as_mut().unwrap().stats.acks_reported += 1;
                x.trace(|| format!("host: PUBACK token {t}"));
                client.mqtt_acked(t);
            }
            Step::Input(topic, payload) => {
                let mine = topic == topic_update();
                let ut = client.update_topic().to_string();
                let r = client.mqtt_input(&topic, &payload);
                let x = &mut client.platform().w.x;
                if ut != topic_update() {
                    x.violation(format!("update_topic() is {ut}"));
                }
                match (mine, r) {
                    (true, Ok(())) => {}
                    (false, Err(Error::OtherTopic)) => {
                        x.host.as_mut().unwrap().stats.foreign_refused += 1;
                    }
                    (true, r) => x.violation(format!("mqtt_input on the update topic: {r:?}")),
                    (false, r) => x.violation(format!(
                        "mqtt_input accepted a message for another topic ({topic}): {r:?}"
                    )),
                }
            }
        }
    }
}
