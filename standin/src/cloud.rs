//! The stand-in cloud: configuration, start/stop, and the glue between the MQTT connection, the
//! OTA service model ([`crate::checker`]) and the firmware server ([`crate::http`]).

use crate::Error;
use crate::broker::{self, EmbeddedBroker};
use crate::checker::{Checker, DeviceState, Incoming};
use crate::http::{HttpServer, HttpSink, ServedFile};
use crate::report::{Direction, HttpLog, Logged, Report};
use rumqttc::{Client, Connection, Event, Packet, QoS, RecvTimeoutError, SubscribeReasonCode};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Which broker the stand-in uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Broker {
    /// A broker that is already running (mosquitto in the tests); the stand-in connects to it.
    External { host: String, port: u16 },
    /// An rmqtt broker started in-process on `127.0.0.1:port` (0: any free port).
    Embedded { port: u16 },
}

/// Faults the firmware server injects for one device. Empty for now: the place where drop at
/// byte N, stall, 403 on the first URL, 404, 500, ignore Range and wrong length will go.
/// Build it as `Faults { ..Faults::default() }` so that new fields do not break callers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Offer this `md5sum` instead of the image's real one (the device must report `fail` -4).
    pub wrong_md5sum: Option<String>,
}

/// One device and the upgrade task the cloud holds for it.
#[derive(Clone, Debug)]
pub struct DeviceTask {
    pub product_id: String,
    pub device_name: String,
    /// Base64 device secret (written to `device_info.json`; the stand-in does not check
    /// MQTT passwords).
    pub device_secret: String,
    /// The version the task upgrades to.
    pub target_version: String,
    /// The firmware image.
    pub image: Vec<u8>,
    pub faults: Faults,
}

impl DeviceTask {
    pub fn new(
        product_id: impl Into<String>,
        device_name: impl Into<String>,
        device_secret: impl Into<String>,
        target_version: impl Into<String>,
        image: Vec<u8>,
    ) -> DeviceTask {
        DeviceTask {
            product_id: product_id.into(),
            device_name: device_name.into(),
            device_secret: device_secret.into(),
            target_version: target_version.into(),
            image,
            faults: Faults::default(),
        }
    }
}

/// A line-by-line sink for the readable live log (the CLI prints it).
pub type LogSink = Arc<dyn Fn(&str) + Send + Sync>;

/// How to start the stand-in.
#[derive(Clone)]
pub struct CloudConfig {
    pub broker: Broker,
    /// Firmware server port on 127.0.0.1 (0: any free port).
    pub http_port: u16,
    pub devices: Vec<DeviceTask>,
    /// Receives a readable line for every MQTT message, HTTP request and deviation.
    pub log: Option<LogSink>,
}

impl CloudConfig {
    /// Ephemeral HTTP port, no live log.
    pub fn new(broker: Broker, devices: Vec<DeviceTask>) -> CloudConfig {
        CloudConfig {
            broker,
            http_port: 0,
            devices,
            log: None,
        }
    }
}

impl fmt::Debug for CloudConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudConfig")
            .field("broker", &self.broker)
            .field("http_port", &self.http_port)
            .field("devices", &self.devices.len())
            .field("log", &self.log.is_some())
            .finish()
    }
}

struct Inner {
    report: Report,
    checker: Checker,
    subscribed: bool,
}

struct Shared {
    inner: Mutex<Inner>,
    cv: Condvar,
    start: Instant,
    log: Option<LogSink>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn emit(&self, line: impl FnOnce() -> String) {
        if let Some(log) = &self.log {
            log(&line());
        }
    }

    fn stamp(at: Duration) -> String {
        format!("[{:9.3}]", at.as_secs_f64())
    }
}

impl HttpSink for Shared {
    fn clock(&self) -> Duration {
        self.start.elapsed()
    }

    fn begin(&self, log: HttpLog) -> usize {
        self.emit(|| {
            format!(
                "{} http #{} {} {}{}{} -> {} ({} bytes)",
                Self::stamp(log.at),
                log.conn,
                log.method,
                log.target,
                log.range
                    .as_deref()
                    .map(|r| format!(" Range: {r}"))
                    .unwrap_or_default(),
                log.if_range
                    .as_deref()
                    .map(|r| format!(" If-Range: {r}"))
                    .unwrap_or_default(),
                log.status,
                log.content_length
            )
        });
        let mut g = self.lock();
        g.report.requests.push(log);
        self.cv.notify_all();
        g.report.requests.len() - 1
    }

    fn sent(&self, idx: usize, bytes: u64) {
        let mut g = self.lock();
        g.report.bytes_served += bytes;
        if let Some(r) = g.report.requests.get_mut(idx) {
            r.bytes_sent = bytes;
            if bytes < r.content_length {
                let (conn, len) = (r.conn, r.content_length);
                self.emit(|| {
                    format!(
                        "{} http #{conn} connection lost after {bytes} of {len} bytes",
                        Self::stamp(self.start.elapsed())
                    )
                });
            }
        }
        self.cv.notify_all();
    }
}

/// The running stand-in. Dropping it stops it.
pub struct Cloud {
    shared: Arc<Shared>,
    http: HttpServer,
    embedded: Option<EmbeddedBroker>,
    mqtt_host: String,
    mqtt_port: u16,
    client: Client,
    stop: Arc<AtomicBool>,
    peer: Option<JoinHandle<()>>,
    urls: Vec<(String, String, String)>,
}

impl Cloud {
    /// Starts the firmware server and the broker (if embedded), connects to the broker and
    /// subscribes `$ota/report/+/+` (QoS1). Returns once the subscription is acknowledged.
    pub fn start(cfg: CloudConfig) -> Result<Cloud, Error> {
        let mut files = HashMap::new();
        let mut states = Vec::new();
        for mut task in cfg.devices {
            let image: Arc<[u8]> = std::mem::take(&mut task.image).into();
            let state = DeviceState::new(task.clone(), &image);
            if files.contains_key(&state.path) {
                return Err(Error::new(format!(
                    "device {} configured twice",
                    state.key()
                )));
            }
            files.insert(
                state.path.clone(),
                ServedFile {
                    data: image,
                    etag: format!("\"{}\"", state.md5sum),
                    device: state.key(),
                    faults: task.faults.clone(),
                },
            );
            states.push(state);
        }
        let report = Report {
            devices: states.iter().map(DeviceState::report).collect(),
            ..Report::default()
        };
        let urls = states
            .iter()
            .map(|s| {
                (
                    s.task.product_id.clone(),
                    s.task.device_name.clone(),
                    s.path.clone(),
                )
            })
            .collect();
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                report,
                checker: Checker::new(states, 0),
                subscribed: false,
            }),
            cv: Condvar::new(),
            start: Instant::now(),
            log: cfg.log,
        });

        let http = HttpServer::start(cfg.http_port, files, shared.clone())
            .map_err(|e| Error::new(format!("firmware server on port {}: {e}", cfg.http_port)))?;
        shared.lock().checker.http_port = http.port();

        let (embedded, host, port) = match cfg.broker {
            Broker::External { host, port } => (None, host, port),
            Broker::Embedded { port } => {
                let b = EmbeddedBroker::start(port)?;
                let p = b.port();
                (Some(b), "127.0.0.1".to_owned(), p)
            }
        };

        static INSTANCE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let client_id = format!(
            "qcloud-ota-standin-{}-{}",
            std::process::id(),
            INSTANCE.fetch_add(1, Ordering::Relaxed)
        );
        let (client, connection) = broker::connect(&host, port, &client_id);
        let stop = Arc::new(AtomicBool::new(false));
        let peer = {
            let shared = shared.clone();
            let client = client.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("standin-mqtt".into())
                .spawn(move || run_peer(client, connection, shared, stop))
                .map_err(|e| Error::new(format!("cannot spawn the MQTT thread: {e}")))?
        };
        let mut cloud = Cloud {
            shared,
            http,
            embedded,
            mqtt_host: host,
            mqtt_port: port,
            client,
            stop,
            peer: Some(peer),
            urls,
        };
        if !cloud.wait_inner(Duration::from_secs(10), |i| i.subscribed) {
            let notes = cloud.report().notes;
            cloud.shutdown();
            return Err(Error::new(format!(
                "could not subscribe $ota/report/+/+ on {}:{} within 10 s{}",
                cloud.mqtt_host,
                cloud.mqtt_port,
                notes
                    .last()
                    .map(|n| format!(" (last: {n})"))
                    .unwrap_or_default()
            )));
        }
        Ok(cloud)
    }

    /// The firmware server's port on 127.0.0.1.
    pub fn http_port(&self) -> u16 {
        self.http.port()
    }

    /// The broker's port (the embedded one's actual port when started with port 0).
    pub fn mqtt_port(&self) -> u16 {
        self.mqtt_port
    }

    /// The broker's host as the stand-in reaches it.
    pub fn mqtt_host(&self) -> &str {
        &self.mqtt_host
    }

    /// The image URL of a device without the signature query (for direct HTTP tests).
    pub fn firmware_url(&self, product_id: &str, device_name: &str) -> Option<String> {
        self.urls
            .iter()
            .find(|(p, d, _)| p == product_id && d == device_name)
            .map(|(_, _, path)| format!("http://127.0.0.1:{}{path}", self.http_port()))
    }

    /// Waits until `pred` holds for the live report, or `timeout` passes. Returns whether it
    /// held. `pred` runs under the stand-in's lock: keep it short.
    pub fn wait_until(&self, timeout: Duration, mut pred: impl FnMut(&Report) -> bool) -> bool {
        self.wait_inner(timeout, |i| pred(&i.report))
    }

    /// Waits until every device completed its task.
    pub fn wait_completed(&self, timeout: Duration) -> bool {
        self.wait_until(timeout, |r| r.completed)
    }

    fn wait_inner(&self, timeout: Duration, mut pred: impl FnMut(&Inner) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut g = self.shared.lock();
        loop {
            if pred(&g) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            g = self
                .shared
                .cv
                .wait_timeout(g, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// A copy of the report so far.
    pub fn report(&self) -> Report {
        self.shared.lock().report.clone()
    }

    /// Stops everything and returns the final report.
    pub fn stop(mut self) -> Report {
        self.shutdown();
        self.report()
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.client.try_disconnect();
        if let Some(t) = self.peer.take() {
            let _ = t.join();
        }
        self.http.stop();
        if let Some(mut b) = self.embedded.take() {
            b.stop();
        }
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        self.shutdown();
    }
}

const REPORT_FILTER: &str = "$ota/report/+/+";

/// The cloud's MQTT loop: (re)subscribes on every CONNACK, hands device messages to the
/// checker and publishes its replies.
fn run_peer(client: Client, mut conn: Connection, shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    let mut last_error: Option<String> = None;
    while !stop.load(Ordering::SeqCst) {
        match conn.recv_timeout(Duration::from_millis(100)) {
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
            Ok(Err(e)) => {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let msg = format!("MQTT connection error: {e}");
                if last_error.as_deref() != Some(&msg) {
                    shared.emit(|| format!("{} {msg}", Shared::stamp(shared.start.elapsed())));
                    let mut g = shared.lock();
                    g.report.notes.push(msg.clone());
                    g.subscribed = false;
                    shared.cv.notify_all();
                    last_error = Some(msg);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                last_error = None;
                if let Err(e) = client.try_subscribe(REPORT_FILTER, QoS::AtLeastOnce) {
                    shared.lock().report.notes.push(format!("subscribe: {e}"));
                }
            }
            Ok(Ok(Event::Incoming(Packet::SubAck(ack)))) => {
                let ok = ack
                    .return_codes
                    .iter()
                    .all(|c| !matches!(c, SubscribeReasonCode::Failure));
                let mut g = shared.lock();
                if ok {
                    g.subscribed = true;
                } else {
                    g.report.notes.push(format!(
                        "the broker refused the subscription to {REPORT_FILTER}"
                    ));
                }
                shared.cv.notify_all();
            }
            Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                on_publish(&client, &shared, &p.topic, p.qos as u8, &p.payload);
            }
            Ok(Ok(_)) => {}
        }
    }
}

fn on_publish(client: &Client, shared: &Shared, topic: &str, qos: u8, payload: &[u8]) {
    let at = shared.start.elapsed();
    let mut g = shared.lock();
    let text = String::from_utf8_lossy(payload).into_owned();
    shared.emit(|| {
        format!(
            "{} <- {topic} (q{qos}, {} bytes) {text}",
            Shared::stamp(at),
            payload.len()
        )
    });
    g.report.messages.push(Logged {
        at,
        direction: Direction::FromDevice,
        topic: topic.to_owned(),
        qos,
        payload: text,
    });
    let before = g.report.deviations.len();
    let Inner {
        report, checker, ..
    } = &mut *g;
    let out = checker.on_message(
        Incoming {
            at,
            topic,
            qos,
            payload,
        },
        report,
    );
    for d in &report.deviations[before..] {
        shared.emit(|| format!("{} !! DEVIATION {d}", Shared::stamp(at)));
    }
    for o in out {
        let sent_at = shared.start.elapsed();
        shared.emit(|| {
            format!(
                "{} -> {} (q0, {} bytes) {}",
                Shared::stamp(sent_at),
                o.topic,
                o.payload.len(),
                o.payload
            )
        });
        if let Err(e) = client.try_publish(&o.topic, QoS::AtMostOnce, false, o.payload.clone()) {
            report.notes.push(format!("publish on {}: {e}", o.topic));
        }
        report.messages.push(Logged {
            at: sent_at,
            direction: Direction::ToDevice,
            topic: o.topic,
            qos: 0,
            payload: o.payload,
        });
    }
    shared.cv.notify_all();
}
