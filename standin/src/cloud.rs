//! The stand-in cloud: configuration, start/stop, and the glue between the MQTT connection, the
//! OTA service model ([`crate::checker`]) and the firmware server ([`crate::http`]).

use crate::Error;
use crate::broker::{self, EmbeddedBroker};
use crate::checker::{Checker, DeviceState, Incoming};
use crate::gateway::{BROKER_LOG_FILTER, Gateway, Gateways};
use crate::http::{HttpServer, HttpSink};
use crate::report::{Direction, HttpLog, Logged, Report};
use rumqttc::{
    Client, Connection, Event, Packet, QoS, RecvTimeoutError, SubscribeFilter, SubscribeReasonCode,
};
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

/// Faults the stand-in injects for one device (reference §5 and §10: what a device meets on a
/// real network and a real COS). They combine; build with `Faults { x, ..Faults::default() }`
/// so that new fields do not break callers. The default injects nothing, and the server's fast
/// path is untouched then.
///
/// Offsets are absolute image offsets. "Request" means a request for this device's image path
/// (GET or HEAD; other paths are not counted). A request passes these stages in order, and each
/// `*_first` counter counts only the requests that reach its stage:
/// `not_found` → `forbidden_first` → `redirect_first` → `server_error_first` → served
/// (`ignore_range`, `change_object_at`, then the body faults `wrong_content_length`, `chunked`,
/// `stall_at`, `trickle_at`, `drop_at`, which apply to GET bodies only).
///
/// Every fault that acts on a response is named in that request's [`HttpLog::fault`] note.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Offer this `md5sum` instead of the image's real one (the device must report `fail` -4).
    pub wrong_md5sum: Option<String>,
    /// For each offset N: the first response whose body contains byte N is cut right after
    /// byte N-1 (0 body bytes when the body starts at N): the server stops writing and closes
    /// the connection. Each offset fires once; when one body contains several pending offsets,
    /// the smallest fires and the others stay pending. Note: `drop at N (cut after S of L body
    /// bytes)`.
    pub drop_at: Vec<u64>,
    /// Once: the first response whose body contains byte N sends bytes up to N-1, then sends
    /// nothing for the duration (the connection stays open), then goes on. Note: `stall D ms at
    /// N`. Not fired by a body that a drop cuts before N (it stays pending).
    pub stall_at: Option<(u64, Duration)>,
    /// Once: the first response whose body contains byte N sends bytes up to N-1, then one
    /// byte per duration (a server that never stops but never gets anywhere) until the client
    /// closes the connection or the body is sent. Not with `chunked` (the fault stays pending).
    /// Note: `trickle 1 byte per D ms from N`.
    pub trickle_at: Option<(u64, Duration)>,
    /// The URLs of this device's first K offers (`update_firmware` messages, told apart by
    /// their `t=` query) answer 403 for ever, like an expired signed URL (COS XML
    /// `AccessDenied`, "Request has expired"). URLs of later offers work, so the device must send
    /// `report_version` again to get a fresh one. A redirect URL inherits its origin's offer.
    /// URLs without a known `t=` (direct tests) are not affected. Note: `403: URL of offer #i
    /// expired`.
    pub forbidden_first: usize,
    /// Every request gets 404 (COS XML `NoSuchKey`). Note: `404: not_found`.
    pub not_found: bool,
    /// The first K requests get 500 (COS XML `InternalError`). Note: `500: server error i/K`.
    pub server_error_first: usize,
    /// Range and If-Range are ignored: 200 with the whole image, always (the device must
    /// restart from 0, never splice). Note: `ignore_range` when the request had a Range.
    pub ignore_range: bool,
    /// The first GET response with a non-empty body declares `Content-Length` off by this delta
    /// (clamped at 0), while the body sent is the real slice (`Content-Range`, if any, is the
    /// true one); the server closes the connection after that body. Sent with Content-Length
    /// even when `chunked` is set. Note: `wrong Content-Length: declared X, body Y`.
    pub wrong_content_length: Option<i64>,
    /// Once byte N has been sent in some response, the object changes (a new upload of the
    /// same version): every byte XORed with 0xA5, new strong ETag (its MD5), and later offers
    /// carry the new `md5sum` (unless `wrong_md5sum` is set). The response that sent byte N
    /// finishes with the old bytes. `If-Range` with the old ETag then gets 200 with the new
    /// object. Notes: `object replaced after byte N (new ETag ...)` on the response that
    /// triggered it; `If-Range has a replaced ETag` on later requests that use the old one.
    pub change_object_at: Option<u64>,
    /// Bodies are sent with `Transfer-Encoding: chunked` instead of `Content-Length`; chunk
    /// sizes vary from 1 byte to 64 KiB, deterministically (xorshift seeded by the body's first
    /// offset). Note: `chunked`.
    pub chunked: bool,
    /// The first K requests get `302 Found` with an absolute `Location:
    /// http://127.0.0.1:PORT/same/path?sign=...&t=NEW` (a fresh token that stands for the same
    /// offer). Note: `302: redirect i/K to t=NEW`.
    pub redirect_first: usize,
    /// The first K requests get `302 Found` to the same object over plain `http://` (a
    /// downgrade a device must refuse when it came over https). Counted before
    /// `redirect_first`. Note: `302: redirect i/K to plain http`.
    pub insecure_redirect_first: usize,
    /// Send bodies at most this many bytes per second (a slow link, so a test can interrupt
    /// the device in the middle of a download).
    pub rate_limit: Option<u64>,
}

impl Faults {
    /// True when the firmware server has nothing to inject (`wrong_md5sum` only affects offers).
    pub fn serves_clean(&self) -> bool {
        Faults {
            wrong_md5sum: None,
            ..self.clone()
        } == Faults::default()
    }
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
    /// Serve the firmware over HTTPS with this configuration (offers carry `https://` URLs).
    pub https: Option<Arc<rustls::ServerConfig>>,
    /// With [`Broker::Embedded`]: also accept devices over TLS on this configuration, through a
    /// TLS front ([`crate::TlsFront`]) on [`Cloud::mqtt_tls_port`].
    pub broker_tls: Option<(Arc<rustls::ServerConfig>, u16)>,
    /// The host in offered firmware URLs: `127.0.0.1` (default), or a name for it such as
    /// `localhost` (a TLS client that checks only dNSName entries, e.g. mbedTLS 2.28).
    pub url_host: String,
    /// Gateways and their bound sub-devices ([`crate::gateway`]): the sub-devices' reports
    /// count only while a gateway has them online.
    pub gateways: Vec<Gateway>,
}

impl CloudConfig {
    /// Ephemeral HTTP port, no live log.
    pub fn new(broker: Broker, devices: Vec<DeviceTask>) -> CloudConfig {
        CloudConfig {
            broker,
            http_port: 0,
            devices,
            log: None,
            https: None,
            broker_tls: None,
            url_host: "127.0.0.1".to_owned(),
            gateways: Vec::new(),
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
            .field("https", &self.https.is_some())
            .field("broker_tls", &self.broker_tls.as_ref().map(|b| b.1))
            .field("gateways", &self.gateways.len())
            .finish()
    }
}

struct Inner {
    report: Report,
    checker: Checker,
    gateways: Gateways,
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
                "{} http #{} {} {}{}{} -> {} ({} bytes){}",
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
                log.content_length,
                log.fault
                    .as_deref()
                    .map(|f| format!(" FAULT: {f}"))
                    .unwrap_or_default()
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
                let why = if r.fault.as_deref().is_some_and(|f| f.contains("drop at")) {
                    "connection cut by the drop fault"
                } else {
                    "connection lost"
                };
                self.emit(|| {
                    format!(
                        "{} http #{conn} {why} after {bytes} of {len} bytes",
                        Self::stamp(self.start.elapsed())
                    )
                });
            }
        }
        self.cv.notify_all();
    }

    fn connection(&self, first: Vec<u8>) {
        let mut g = self.lock();
        g.report.http_first_bytes.push(first);
        self.cv.notify_all();
    }

    fn note(&self, idx: usize, note: &str) {
        let mut g = self.lock();
        if let Some(r) = g.report.requests.get_mut(idx) {
            let conn = r.conn;
            r.fault = Some(match r.fault.take() {
                Some(f) => format!("{f}; {note}"),
                None => note.to_owned(),
            });
            self.emit(|| {
                format!(
                    "{} http #{conn} FAULT: {note}",
                    Self::stamp(self.start.elapsed())
                )
            });
        }
        self.cv.notify_all();
    }
}

/// The running stand-in. Dropping it stops it.
pub struct Cloud {
    shared: Arc<Shared>,
    http: HttpServer,
    embedded: Option<EmbeddedBroker>,
    tls_front: Option<crate::TlsFront>,
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
            let state = DeviceState::new(task, image);
            if files.contains_key(&state.path) {
                return Err(Error::new(format!(
                    "device {} configured twice",
                    state.key()
                )));
            }
            files.insert(state.path.clone(), state.file.clone());
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
                gateways: Gateways::new(cfg.gateways),
                subscribed: false,
            }),
            cv: Condvar::new(),
            start: Instant::now(),
            log: cfg.log,
        });

        let https = cfg.https.is_some();
        let http = HttpServer::start(cfg.http_port, files, shared.clone(), cfg.https)
            .map_err(|e| Error::new(format!("firmware server on port {}: {e}", cfg.http_port)))?;
        {
            let mut g = shared.lock();
            g.checker.http_port = http.port();
            g.checker.https = https;
            g.checker.url_host = cfg.url_host;
        }

        let (embedded, host, port) = match cfg.broker {
            Broker::External { host, port } => (None, host, port),
            Broker::Embedded { port } => {
                let b = EmbeddedBroker::start(port)?;
                let p = b.port();
                (Some(b), "127.0.0.1".to_owned(), p)
            }
        };

        static INSTANCE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let tls_front = match (&cfg.broker_tls, &embedded) {
            (Some((tls, tls_port)), Some(_)) => Some(crate::TlsFront::start(
                tls.clone(),
                *tls_port,
                Some(std::net::SocketAddr::from(([127, 0, 0, 1], port))),
            )?),
            _ => None,
        };
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
            tls_front,
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
    /// The TLS port of the embedded broker's front ([`CloudConfig::broker_tls`]).
    pub fn mqtt_tls_port(&self) -> Option<u16> {
        self.tls_front.as_ref().map(crate::TlsFront::port)
    }

    pub fn mqtt_host(&self) -> &str {
        &self.mqtt_host
    }

    /// The image URL of a device without the signature query (for direct HTTP tests).
    pub fn firmware_url(&self, product_id: &str, device_name: &str) -> Option<String> {
        self.urls
            .iter()
            .find(|(p, d, _)| p == product_id && d == device_name)
            .map(|(_, _, path)| {
                let scheme = if self.shared.lock().checker.https {
                    "https"
                } else {
                    "http"
                };
                format!("{scheme}://127.0.0.1:{}{path}", self.http_port())
            })
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
        if let Some(mut f) = self.tls_front.take() {
            f.stop();
        }
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
                // One SUBSCRIBE (one SUBACK) for the reports and, with gateways, their topics.
                let extra = shared.lock().gateways.filters();
                let filters = std::iter::once(REPORT_FILTER)
                    .chain(extra.iter().copied())
                    .map(|f| SubscribeFilter::new(f.to_owned(), QoS::AtLeastOnce));
                if let Err(e) = client.try_subscribe_many(filters) {
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
    if topic.starts_with(BROKER_LOG_FILTER.trim_end_matches('N')) {
        // The broker's log: only a gateway's new connection matters.
        if let Some(note) = g.gateways.on_broker_log(&text) {
            shared.emit(|| format!("{} {note}", Shared::stamp(at)));
            g.report.notes.push(note);
            shared.cv.notify_all();
        }
        return;
    }
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
        report,
        checker,
        gateways,
        ..
    } = &mut *g;
    let out = match gateways.intercept(at, topic, payload, report) {
        Some(out) => out,
        None => checker.on_message(
            Incoming {
                at,
                topic,
                qos,
                payload,
            },
            report,
        ),
    };
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
