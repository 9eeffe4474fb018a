//! One OTA client: owns the MQTT session, the HTTP download and the engine, and moves bytes
//! between them and the host's sockets. `poll` does whatever is due and never blocks.

use core::mem::MaybeUninit;

use crate::auth::{self, SignMethod};
use crate::engine::{Engine, Policy, State};
use crate::error::Error;
use crate::http::body::BodyError;
use crate::http::download::{Download, DownloadError, DownloadEvent};
use crate::http::url::{self, Scheme};
use crate::link::{Links, TlsSetup};
use crate::mqtt::session::{Session, SessionConfig, SessionEvent};
use crate::num::{Ms, backoff, ms, reached, until, xorshift32};
use crate::platform::{
    Channel, Event, EventKind, LOG, Level, NET_CLIENT_CERT, NET_TLS, NetError, Platform, Socket,
};
use crate::protocol::VERSION_MAX;
use crate::text::{Str, Writer};

/// Smallest buffers the library accepts (see `ota_config`).
pub const MIN_MQTT_RX: usize = 1024;
pub const MIN_MQTT_TX: usize = 512;
pub const MIN_HTTP: usize = 1024;
pub const PRODUCT_ID_MAX: usize = 32;
pub const DEVICE_NAME_MAX: usize = 64;
pub const HOST_MAX: usize = 128;
const KEY_MAX: usize = 64;
/// `$ota/update/` (or `$ota/report/`), the product id, `/`, the device name.
const TOPIC_PREFIX: usize = 12;
pub(crate) const TOPIC_MAX: usize = TOPIC_PREFIX + PRODUCT_ID_MAX + 1 + DEVICE_NAME_MAX;
/// Most bytes one `poll` moves from the firmware server before returning (keeps each call short).
const HTTP_BUDGET_PER_POLL: usize = 512 * 1024;
/// Longest one `poll` spends moving firmware bytes: on a link slower than the device (a modem's
/// UART), the socket never runs dry and the byte budget alone held `ota_poll` for 17 s per call,
/// delaying progress reports and pings (found by tests/qemu_firmware.rs).
const HTTP_TIME_BUDGET_MS: Ms = 20;
/// Tencent allows one CONNECT per 5 s per device.
const MIN_CONNECT_INTERVAL_MS: Ms = 5000;
/// The token for a QoS1 publish the host accepted without a PUBACK to come (hosts return
/// positive `i32` tokens, so this one is never theirs).
const HOST_NO_ACK: u32 = u32::MAX;
/// Host MQTT: a QoS1 report whose token is not acknowledged within `ack_timeout_ms` is published
/// again (a new token) this many times per connection; then the connection counts as lost for
/// reporting and is subscribed again after a backoff (see `host_ack_check`).
const HOST_REPUBLISH_MAX: u8 = 3;
/// Signature expiry sent in the username: 2^31-1, "never", as Tencent's C SDK does without a
/// wall clock. (A host with real time could pass now + a margin; see the README.)
const EXPIRY: u64 = 2_147_483_647;
/// Built with the host-MQTT bridge (cargo feature `host-mqtt`).
const HOST_MQTT: bool = cfg!(feature = "host-mqtt");
/// Built with the library's own MQTT session (every build but `host-mqtt-only`).
const BUILTIN_MQTT: bool = !cfg!(feature = "host-mqtt-only");
/// Built with the read-back verification (cargo feature `readback`).
pub(crate) const READBACK: bool = cfg!(feature = "readback");

/// The optional capabilities a build has (its cargo features). The code tests the constants
/// above, so the compiler leaves out what a build lacks.
#[derive(Clone, Copy)]
struct Capabilities {
    host_mqtt: bool,
    builtin_mqtt: bool,
    readback: bool,
}

impl Capabilities {
    const BUILT: Capabilities = Capabilities {
        host_mqtt: HOST_MQTT,
        builtin_mqtt: BUILTIN_MQTT,
        readback: READBACK,
    };

    /// A configuration that needs a capability the build left out is refused
    /// ([`Error::Unsupported`]), never run without it.
    fn check(self, cfg: &Config<'_>) -> Result<(), Error> {
        let mqtt = match cfg.host_mqtt {
            true => self.host_mqtt,
            false => self.builtin_mqtt,
        };
        match mqtt && (self.readback || !cfg.policy.readback_verify) {
            true => Ok(()),
            false => Err(Error::Unsupported),
        }
    }
}

/// Everything `init` needs to know; strings are copied, so they need not outlive the call.
#[derive(Clone, Copy, Debug)]
pub struct Config<'a> {
    pub product_id: &'a str,
    pub device_name: &'a str,
    /// Base64, as the console shows it.
    pub device_secret: &'a str,
    /// `None`: `{product_id}.iotcloud.tencentdevices.com`.
    pub broker_host: Option<&'a str>,
    /// 0: 1883, or 8883 with `mqtt_tls`.
    pub broker_port: u16,
    /// The broker connection is TLS (built-in, or the host's with `host_tls`).
    pub mqtt_tls: bool,
    /// Every TLS connection is opened by the host (`Platform::connect` with `tls`), also when
    /// the library has the built-in TLS.
    pub host_tls: bool,
    pub running_version: &'a str,
    /// At most 900.
    pub keepalive_s: u16,
    /// Kept within 100..=60000.
    pub ack_timeout_ms: u32,
    pub sign_method: SignMethod,
    /// Longest delay `poll` returns while a connection is open and data may arrive.
    pub net_poll_ms: u32,
    pub policy: Policy,
    /// The host owns the MQTT connection: it publishes and subscribes for the library
    /// ([`Platform::mqtt_publish`], [`Platform::mqtt_subscribe`]) and hands it the messages of
    /// the update topic ([`Client::mqtt_input`]). The MQTT buffers may then be empty.
    pub host_mqtt: bool,
    /// The module this client serves (`fw_type`), for devices whose product has several.
    pub module: Option<&'a str>,
    /// Certificate authentication (set `mqtt_tls` too): the broker's TLS presents the device
    /// certificate, no secret is needed and CONNECT carries no password.
    pub cert_auth: bool,
}

impl<'a> Config<'a> {
    pub fn new(
        product_id: &'a str,
        device_name: &'a str,
        device_secret: &'a str,
        running_version: &'a str,
    ) -> Self {
        Config {
            product_id,
            device_name,
            device_secret,
            broker_host: None,
            broker_port: 0,
            mqtt_tls: false,
            host_tls: false,
            running_version,
            keepalive_s: 240,
            ack_timeout_ms: 10_000,
            sign_method: SignMethod::HmacSha256,
            net_poll_ms: 20,
            policy: Policy::default(),
            host_mqtt: false,
            module: None,
            cert_auth: false,
        }
    }
}

/// The buffers the host lends for the client's lifetime.
pub struct Buffers<'b> {
    pub mqtt_rx: &'b mut [u8],
    pub mqtt_tx: &'b mut [u8],
    pub http: &'b mut [u8],
}

/// The device's names, checked and copied once into one buffer: the update topic
/// (`$ota/update/{product_id}/{device_name}`, which holds both names), the report topic, then
/// the broker host.
struct Identity {
    text: [u8; 2 * TOPIC_MAX + HOST_MAX],
    pid_len: u8,
    topic_len: u8,
    host_len: u8,
    key_len: u8,
    key: [u8; KEY_MAX],
    port: u16,
    /// The broker connection's `Platform::connect` flags (TLS, client certificate).
    net: u8,
    keepalive_s: u16,
    ack_timeout_ms: u32,
    sign: SignMethod,
}

impl Identity {
    /// Bytes `from..to` of the names (always ASCII: every piece was a `&str`, cut at ASCII).
    fn part(&self, from: usize, to: usize) -> &str {
        utf8(self.text.get(from..to).unwrap_or(&[]))
    }
    /// Compared as bytes: any other topic, ASCII or not, is another's.
    fn is_update_topic(&self, topic: &[u8]) -> bool {
        self.text.get(..usize::from(self.topic_len)) == Some(topic)
    }
    fn topic_update(&self) -> &str {
        self.part(0, self.topic_len.into())
    }
    fn topic_report(&self) -> &str {
        let t = usize::from(self.topic_len);
        self.part(t, 2 * t)
    }
    fn host(&self) -> &str {
        let t = 2 * usize::from(self.topic_len);
        self.part(t, t + usize::from(self.host_len))
    }
}

/// 1 to `max` bytes, as every name and version must be.
fn bounded(s: &str, max: usize) -> Result<&str, Error> {
    if s.is_empty() || s.len() > max {
        return Err(Error::InvalidArgument);
    }
    Ok(s)
}

fn utf8(b: &[u8]) -> &str {
    crate::text::utf8_or_empty(b)
}

/// The version string rules of the reference: 1 to 32 bytes.
pub fn version_text(v: &str) -> Result<Str<VERSION_MAX>, Error> {
    text(v)
}

/// Inlined: the checked text is then built where it is stored, not copied there twice.
#[inline(always)]
fn text<const N: usize>(v: &str) -> Result<Str<N>, Error> {
    Str::try_from_str(bounded(v, N)?).map_err(|_| Error::InvalidArgument)
}

/// Milliseconds from `now` until the layer's deadline `at` (both on the host's clock), 0 once
/// it has come. One copy for the deadlines of the session and the engine.
#[inline(never)]
fn delay(now: u64, at: u64) -> Ms {
    Ms::try_from(at.saturating_sub(now)).unwrap_or(Ms::MAX)
}

pub struct Client<'b, P: Platform> {
    plat: P,
    id: Identity,
    mqtt: Session<'b>,
    mqtt_sock: Option<Socket>,
    /// Subscribed: reports can flow.
    online: bool,
    /// Host MQTT mode, and whether the host says its connection is up.
    host_mqtt: bool,
    host_connected: bool,
    host_republished: u8,
    /// Host MQTT: when the QoS1 report in flight times out.
    host_ack_deadline: Ms,
    /// Built-in: the next CONNECT; host MQTT: the next subscribe after a lost acknowledgement.
    next_connect_ms: Ms,
    last_connect_ms: Ms,
    connect_failures: u32,
    rng: u32,
    net_poll_ms: u32,
    http: Download<'b>,
    http_sock: Option<Socket>,
    links: Links<'b>,
    engine: Engine,
}

impl<'b, P: Platform> Client<'b, P> {
    pub fn new(cfg: &Config<'_>, bufs: Buffers<'b>, plat: P) -> Result<Self, Error> {
        Self::with_tls(cfg, bufs, TlsSetup::default(), plat)
    }

    /// [`Self::new`] with the buffer and extra anchors of the built-in TLS.
    pub fn with_tls(
        cfg: &Config<'_>,
        bufs: Buffers<'b>,
        tls: TlsSetup<'b>,
        plat: P,
    ) -> Result<Self, Error> {
        let links = Self::check(cfg, &bufs, tls)?;
        let running = version_text(cfg.running_version)?;
        let mut c = Self::blank(cfg, bufs, links, running, plat);
        c.fill(cfg)?;
        c.boot();
        Ok(c)
    }

    /// The first part of [`Self::with_tls`], written into `slot` instead of returned and moved
    /// (which cost two 2.9 KiB frames on thumbv7em): the checks and the client with its small
    /// fields set; [`Self::fill`] and [`Self::boot`] must follow before any other use. On an
    /// error (here or in `fill`) `slot` may hold a client that was never started; it owns
    /// nothing yet (the TLS state is empty until the first connection), so leaving it
    /// undropped leaks nothing. Inlined into the caller that builds the configuration
    /// (`ffi::build`), which then writes it without passing it through memory; that caller's
    /// frame, where LLVM stages parts of the blank engine, is gone before `boot` loads the
    /// journal.
    #[inline(always)]
    pub(crate) fn blank_in<'s>(
        slot: &'s mut MaybeUninit<Self>,
        cfg: &Config<'_>,
        bufs: Buffers<'b>,
        tls: TlsSetup<'b>,
        plat: P,
    ) -> Result<&'s mut Self, Error> {
        let links = Self::check(cfg, &bufs, tls)?;
        let running = version_text(cfg.running_version)?;
        Ok(slot.write(Self::blank(cfg, bufs, links, running, plat)))
    }

    /// The checks that come before the client is built.
    fn check(cfg: &Config<'_>, bufs: &Buffers<'b>, tls: TlsSetup<'b>) -> Result<Links<'b>, Error> {
        Capabilities::BUILT.check(cfg)?;
        let mqtt_short = bufs.mqtt_rx.len() < MIN_MQTT_RX || bufs.mqtt_tx.len() < MIN_MQTT_TX;
        if (mqtt_short && !cfg.host_mqtt) || bufs.http.len() < MIN_HTTP {
            return Err(Error::BufferTooSmall);
        }
        let own_mqtt = !cfg.host_mqtt;
        Links::new(
            tls,
            cfg.mqtt_tls && own_mqtt,
            cfg.host_tls,
            cfg.cert_auth && own_mqtt,
        )
    }

    #[inline(always)]
    fn blank(
        cfg: &Config<'_>,
        bufs: Buffers<'b>,
        links: Links<'b>,
        running: Str<VERSION_MAX>,
        plat: P,
    ) -> Self {
        let port = match (cfg.broker_port, cfg.mqtt_tls) {
            (0, false) => 1883,
            (0, true) => 8883,
            (p, _) => p,
        };
        Client {
            plat,
            id: Identity {
                text: const { [0; 2 * TOPIC_MAX + HOST_MAX] },
                pid_len: 0,
                topic_len: 0,
                host_len: 0,
                key_len: 0,
                key: const { [0; KEY_MAX] },
                port,
                net: match (cfg.mqtt_tls, cfg.cert_auth) {
                    (false, _) => 0,
                    (true, false) => NET_TLS as u8,
                    (true, true) => (NET_TLS | NET_CLIENT_CERT) as u8,
                },
                keepalive_s: cfg.keepalive_s.min(900),
                ack_timeout_ms: cfg.ack_timeout_ms.clamp(100, 60_000),
                sign: cfg.sign_method,
            },
            mqtt: Session::new(bufs.mqtt_rx, bufs.mqtt_tx),
            mqtt_sock: None,
            online: false,
            host_mqtt: cfg.host_mqtt,
            host_connected: false,
            host_republished: 0,
            host_ack_deadline: 0,
            next_connect_ms: 0,
            last_connect_ms: 0,
            connect_failures: 0,
            rng: 0,
            net_poll_ms: cfg.net_poll_ms.max(1),
            http: Download::new(bufs.http),
            http_sock: None,
            links,
            engine: Engine::new(running, cfg.policy),
        }
    }

    /// Reads the clock, checks and copies the configuration's strings into the client: all
    /// that can fail, before [`Self::boot`].
    #[inline(always)]
    pub(crate) fn fill(&mut self, cfg: &Config<'_>) -> Result<(), Error> {
        let now = ms(self.plat.now_ms());
        self.next_connect_ms = now;
        let pid = bounded(cfg.product_id, PRODUCT_ID_MAX)?;
        let dn = bounded(cfg.device_name, DEVICE_NAME_MAX)?;
        let id = &mut self.id;
        // The secret signs the built-in MQTT login; with the host's connection it is not needed,
        // with certificate authentication not used (no key: no password). (A host-only build
        // never decodes it: the decoder is then left out.)
        let unused =
            !BUILTIN_MQTT || cfg.cert_auth || cfg.host_mqtt && cfg.device_secret.is_empty();
        id.key_len = match unused {
            true => 0,
            false => match auth::decode_secret(cfg.device_secret, &mut id.key) {
                Ok(n @ 1..=KEY_MAX) => n as u8,
                _ => return Err(Error::InvalidArgument),
            },
        };
        let mut w = Writer::new(&mut id.text);
        for topic in ["$ota/update/", "$ota/report/"] {
            w.str(topic);
            w.str(pid);
            w.byte(b'/');
            w.str(dn);
        }
        match cfg.broker_host {
            Some(h) => w.str(bounded(h, HOST_MAX)?),
            None => {
                w.str(pid);
                w.str(".iotcloud.tencentdevices.com");
            }
        }
        // Each piece is bounded above, so everything fits and the lengths fit a byte.
        let topic_len = TOPIC_PREFIX + pid.len() + 1 + dn.len();
        id.host_len = w.len().saturating_sub(2 * topic_len) as u8;
        id.topic_len = topic_len as u8;
        id.pid_len = pid.len() as u8;
        if let Some(m) = cfg.module {
            self.engine.set_module(text(m)?);
        }
        self.rng =
            (now ^ 0x9E37_79B9 ^ crate::journal::crc32(self.id.topic_report().as_bytes())) | 1;
        Ok(())
    }

    /// Loads the journal (after [`Self::fill`]): what an update before the reboot left to report.
    #[inline(always)]
    pub(crate) fn boot(&mut self) {
        self.engine.boot(&mut self.plat);
    }

    pub fn platform(&mut self) -> &mut P {
        &mut self.plat
    }
    /// Give the platform back (after [`Self::shutdown`]), e.g. to simulate a reboot.
    pub fn into_platform(self) -> P {
        self.plat
    }
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
    pub fn is_online(&self) -> bool {
        self.online
    }

    pub fn accept(&mut self) -> Result<(), Error> {
        let now = self.plat.now_ms();
        self.engine.accept(now, &mut self.plat)
    }
    pub fn decline(&mut self) -> Result<(), Error> {
        self.engine.decline(&mut self.plat)
    }
    pub fn defer(&mut self, delay_ms: u32) -> Result<(), Error> {
        let now = self.plat.now_ms();
        self.engine.defer(now, delay_ms)
    }
    pub fn confirm(&mut self) -> Result<(), Error> {
        self.engine.confirm()
    }
    pub fn report_version(&mut self, version: &str) -> Result<(), Error> {
        self.engine.report_version(version_text(version)?);
        Ok(())
    }

    // ---- the host's own MQTT connection ----

    /// The topic whose messages the host hands to [`Self::mqtt_input`].
    pub fn update_topic(&self) -> &str {
        self.id.topic_update()
    }

    /// The host's connection is up (again): the next poll subscribes through the host and
    /// reports the version, as after any reconnect.
    pub fn mqtt_connected(&mut self) -> Result<(), Error> {
        if !self.host_mode() {
            return Err(Error::WrongState);
        }
        self.mqtt_disconnected();
        self.host_connected = true;
        self.host_republished = 0;
        self.connect_failures = 0;
        self.next_connect_ms = ms(self.plat.now_ms());
        Ok(())
    }

    /// The host's connection is down: reports wait, unacknowledged ones go again later.
    pub fn mqtt_disconnected(&mut self) {
        self.host_connected = false;
        if self.online {
            self.online = false;
            self.engine.on_offline();
            self.event(EventKind::Disconnected, Some(Error::NetIo));
        }
    }

    /// A message the host received; only those of [`Self::update_topic`] are for this client.
    pub fn mqtt_input<T: AsRef<[u8]> + ?Sized>(
        &mut self,
        topic: &T,
        payload: &[u8],
    ) -> Result<(), Error> {
        if !self.host_mode() {
            return Err(Error::WrongState);
        }
        if !self.id.is_update_topic(topic.as_ref()) {
            return Err(Error::OtherTopic);
        }
        let now = self.plat.now_ms();
        self.engine.on_message(now, payload, &mut self.plat);
        Ok(())
    }

    /// The broker acknowledged the host's publish with this token.
    pub fn mqtt_acked(&mut self, token: u32) {
        if self.engine.awaiting_ack() == Some(token) {
            self.host_republished = 0;
            self.connect_failures = 0;
        }
        self.engine.on_acked(token, &mut self.plat);
    }

    /// Host MQTT: a PUBACK that does not come. The report goes again (QoS1 is at-least-once and
    /// the cloud takes a repeated report), `HOST_REPUBLISH_MAX` times; then the connection
    /// counts as lost for reporting, as a dead built-in session would: `Disconnected`, and a new
    /// subscribe (and `report_version`) after an exponential backoff, without waiting for the host.
    fn host_ack_check(&mut self, now: Ms) {
        let Some(token) = self.engine.awaiting_ack() else {
            return;
        };
        if token == HOST_NO_ACK || !reached(now, self.host_ack_deadline) {
            return;
        }
        if self.host_republished < HOST_REPUBLISH_MAX {
            self.host_republished += 1;
            self.engine.on_ack_timeout(token);
            return;
        }
        self.host_republished = 0;
        self.online = false;
        self.engine.on_offline();
        self.connect_failures = self.connect_failures.saturating_add(1);
        // No jitter: the host's connection stays up, only this client's subscription waits.
        let wait = backoff(self.id.ack_timeout_ms, self.connect_failures, 0);
        self.next_connect_ms = now.wrapping_add(wait);
        self.engine.note_error(Error::MqttTimeout);
        self.event(EventKind::Disconnected, Some(Error::MqttTimeout));
    }

    fn host_step(&mut self, now: Ms) {
        self.host_ack_check(now);
        if !self.host_connected || self.online || !reached(now, self.next_connect_ms) {
            return;
        }
        match self.plat.mqtt_subscribe(self.id.topic_update(), 1) {
            Ok(()) => self.went_online(),
            Err(NetError::WouldBlock) => {}
            // Said once per connection; the subscription is asked for again at each poll.
            Err(_) if self.engine.last_error() != Some(Error::SubscribeRejected) => {
                self.engine.note_error(Error::SubscribeRejected);
                self.event(EventKind::Error, Some(Error::SubscribeRejected));
            }
            Err(_) => {}
        }
    }

    /// Host MQTT mode: set by the configuration, or fixed when the build has only one of the
    /// two modes (so the compiler leaves the other's code out).
    #[inline(always)]
    fn host_mode(&self) -> bool {
        HOST_MQTT && (!BUILTIN_MQTT || self.host_mqtt)
    }

    /// The built-in session has a connection (never in a `host-mqtt-only` build).
    #[inline(always)]
    fn mqtt_open(&self) -> bool {
        BUILTIN_MQTT && self.mqtt_sock.is_some()
    }

    /// Subscribed, through either connection: reports can flow.
    fn went_online(&mut self) {
        self.online = true;
        if !self.host_mode() {
            self.connect_failures = 0;
        }
        self.engine.on_online();
        self.event(EventKind::Connected, None);
    }

    fn next_random(&mut self) -> u32 {
        self.rng = xorshift32(self.rng);
        self.rng
    }

    /// Do whatever is due; returns the milliseconds until the next call is wanted.
    pub fn poll(&mut self) -> u32 {
        let now = self.plat.now_ms();
        let t = ms(now);
        if self.host_mode() {
            self.host_step(t);
        } else {
            self.mqtt_step(now);
        }
        self.engine.poll(now, &mut self.plat);
        self.publish_step(now);
        let mut busy = self.http_step(now);
        if self.http_sock.is_none() && self.engine.has_work() {
            // Between requests the HTTP buffer is free for the read-back verification.
            busy |= self.engine.work(&mut self.plat, self.http.scratch());
        }
        // Bytes written to the slot may have queued a report (progress 100, burning).
        self.publish_step(now);
        // The built-in TLS may hold whole records already read from the socket, which will not
        // wake a host waiting for readiness.
        busy |= self.mqtt_open() && self.links.pending(Channel::Mqtt);
        busy |= self.http_sock.is_some() && self.links.pending(Channel::Http);
        if busy {
            return 0;
        }
        let mut next = Ms::MAX;
        if let Some(at) = self.mqtt_open().then(|| self.mqtt.poll_at()).flatten() {
            next = next.min(delay(now, at));
        }
        if let Some(at) = self.engine.poll_at(now) {
            next = next.min(delay(now, at));
        }
        if !self.host_mode() && self.mqtt_sock.is_none() {
            next = next.min(until(t, self.next_connect_ms));
        }
        let host_waiting = self.engine.awaiting_ack().is_some_and(|a| a != HOST_NO_ACK);
        if self.host_mode() && host_waiting {
            next = next.min(until(t, self.host_ack_deadline));
        }
        let subscribing = self.host_connected && !self.online;
        // A subscribe the host could not take yet is asked again at the network poll interval.
        if subscribing && !reached(t, self.next_connect_ms) {
            next = next.min(until(t, self.next_connect_ms));
        }
        if self.mqtt_open() || self.http_sock.is_some() || subscribing {
            next = next.min(self.net_poll_ms);
        }
        next
    }

    /// Leave cleanly: DISCONNECT if possible, close both connections.
    pub fn shutdown(&mut self) {
        let now = self.plat.now_ms();
        if self.online && BUILTIN_MQTT {
            self.mqtt.disconnect();
            self.mqtt_flush(now);
        }
        if let Some(s) = self.mqtt_sock.take() {
            self.links.close(&mut self.plat, Channel::Mqtt, s);
        }
        if BUILTIN_MQTT {
            self.mqtt.reset();
        }
        self.close_http();
        self.online = false;
        self.engine.on_offline();
    }

    fn event(&mut self, kind: EventKind, error: Option<Error>) {
        let mut ev = Event::new(kind, self.engine.running_version());
        ev.error = error;
        self.plat.event(&ev);
    }

    /// Publish what the engine has queued, through the host's connection or the built-in
    /// session, and hand the engine the token the PUBACK will carry.
    fn publish_step(&mut self, now: u64) {
        if self.online {
            let mut payload = [0u8; 384];
            for _ in 0..8 {
                let Some((len, qos, retransmit)) = self.engine.next_publish(&mut payload) else {
                    break;
                };
                let body = payload.get(..len).unwrap_or(&[]);
                let topic = self.id.topic_report();
                let sent = if self.host_mode() {
                    self.plat.mqtt_publish(topic, body, qos).map_err(drop)
                } else {
                    let retransmit = retransmit.and_then(|p| u16::try_from(p).ok());
                    let r = self.mqtt.publish(now, topic, body, qos, retransmit);
                    r.map(|pid| pid.map(u32::from)).map_err(drop)
                };
                // Busy host or full tx buffer: the next poll tries again.
                let Ok(token) = sent else { break };
                // QoS1 through a host that cannot report PUBACKs: delivered once accepted.
                let token = (qos == 1).then_some(token.unwrap_or(HOST_NO_ACK));
                self.host_ack_deadline = ms(now).wrapping_add(self.id.ack_timeout_ms);
                self.engine.published(now, token);
                if token == Some(HOST_NO_ACK) {
                    self.engine.on_acked(HOST_NO_ACK, &mut self.plat);
                }
            }
        }
        self.mqtt_flush(now);
    }

    // ---- MQTT ----

    fn mqtt_connect(&mut self, now: u64) {
        self.last_connect_ms = ms(now);
        let sock = match self.links.open(
            &mut self.plat,
            Channel::Mqtt,
            self.id.host(),
            self.id.port,
            self.id.net.into(),
        ) {
            Ok(s) => s,
            Err(e) => return self.drop_mqtt(now, e),
        };
        self.mqtt_sock = Some(sock);
        let connid = auth::make_connid(u64::from(self.next_random()));
        let id = &self.id;
        // The update topic holds both names: `$ota/update/{pid}/{dn}`.
        let pid_end = TOPIC_PREFIX + usize::from(id.pid_len);
        let pid = id.part(TOPIC_PREFIX, pid_end);
        let dn = id.part(pid_end + 1, id.topic_len.into());
        let key = id.key.get(..usize::from(id.key_len)).unwrap_or(&[]);
        let mut username = [0u8; PRODUCT_ID_MAX + DEVICE_NAME_MAX + 48];
        let mut password = [0u8; 96];
        let mut wu = Writer::new(&mut username);
        let mut wp = Writer::new(&mut password);
        // No key (certificate authentication): no password, the TLS client certificate is the
        // credential.
        let ok = auth::write_username(&mut wu, pid, dn, auth::SDKAPPID, utf8(&connid), EXPIRY)
            .is_ok()
            && auth::write_password(&mut wp, key, wu.written(), id.sign).is_ok();
        if !ok {
            return self.drop_mqtt(now, Error::InvalidArgument);
        }
        // The username starts with the client id, `{pid}{dn}`.
        let username = wu.written();
        let cfg = SessionConfig {
            client_id: utf8(username.get(..pid.len() + dn.len()).unwrap_or(&[])),
            username: utf8(username),
            password: utf8(wp.written()),
            keepalive_s: id.keepalive_s,
            ack_timeout_ms: id.ack_timeout_ms,
        };
        if self.mqtt.connect(now, &cfg).is_err() {
            self.drop_mqtt(now, Error::BufferTooSmall);
        }
    }

    /// Close the MQTT connection (if it got as far as a socket), tell the engine and the host,
    /// and schedule a reconnect with backoff and jitter.
    fn drop_mqtt(&mut self, now: u64, e: Error) {
        let e = self.links.cause(Channel::Mqtt, e);
        if let Some(s) = self.mqtt_sock.take() {
            self.links.close(&mut self.plat, Channel::Mqtt, s);
        }
        self.mqtt.reset();
        let was_online = self.online;
        self.online = false;
        self.engine.on_offline();
        let now = ms(now);
        self.connect_failures = self.connect_failures.saturating_add(1);
        let wait = backoff(1000, self.connect_failures, self.next_random());
        let at = now.wrapping_add(wait);
        let earliest = self.last_connect_ms.wrapping_add(MIN_CONNECT_INTERVAL_MS);
        self.next_connect_ms = if reached(at, earliest) { at } else { earliest };
        self.engine.note_error(e);
        if LOG {
            let mut line = [0u8; 160];
            let mut w = Writer::new(&mut line);
            w.str("MQTT ");
            w.str(self.id.host());
            w.str(": ");
            w.str(e.as_str());
            w.str("; reconnecting in ");
            w.u64(self.next_connect_ms.wrapping_sub(now).into());
            w.str(" ms");
            self.plat.log(Level::Warn, utf8(w.written()));
        }
        let kind = if was_online {
            EventKind::Disconnected
        } else {
            EventKind::Error
        };
        self.event(kind, Some(e));
    }

    fn mqtt_flush(&mut self, now: u64) {
        let Some(sock) = self.mqtt_sock.filter(|_| BUILTIN_MQTT) else {
            return;
        };
        while !self.mqtt.tx_pending().is_empty() {
            match self
                .links
                .send(&mut self.plat, Channel::Mqtt, sock, self.mqtt.tx_pending())
            {
                Ok(n) => self.mqtt.tx_consumed(n, now),
                Err(NetError::WouldBlock) => return,
                Err(_) => return self.drop_mqtt(now, Error::NetIo),
            }
        }
    }

    fn mqtt_step(&mut self, now: u64) {
        let Some(sock) = self.mqtt_sock else {
            if reached(ms(now), self.next_connect_ms) {
                self.mqtt_connect(now);
            }
            return;
        };
        self.mqtt_flush(now);
        if self.mqtt_sock != Some(sock) {
            return; // the flush found the connection dead and closed it
        }
        // A few reads per poll: OTA messages are small and rare.
        for _ in 0..4 {
            let space = self.mqtt.rx_space();
            if space.is_empty() {
                break;
            }
            match self.links.recv(&mut self.plat, Channel::Mqtt, sock, space) {
                Ok(n) => self.mqtt.rx_filled(n, now),
                Err(NetError::WouldBlock) => break,
                Err(_) => {
                    // Whatever already arrived (a last message) is still handled below.
                    self.handle_session_events(now);
                    return self.drop_mqtt(now, Error::NetIo);
                }
            }
        }
        self.handle_session_events(now);
    }

    fn handle_session_events(&mut self, now: u64) {
        loop {
            let e = match self.mqtt.poll_event(now) {
                None => return,
                Some(SessionEvent::Message { topic, payload }) => {
                    if self.id.is_update_topic(topic.as_bytes()) {
                        self.engine.on_message(now, payload, &mut self.plat);
                    }
                    continue;
                }
                Some(SessionEvent::Acked { pid }) => {
                    self.engine.on_acked(u32::from(pid), &mut self.plat);
                    continue;
                }
                Some(SessionEvent::AckTimeout { pid }) => {
                    self.engine.on_ack_timeout(u32::from(pid));
                    continue;
                }
                Some(SessionEvent::Oversize { .. }) => {
                    self.event(EventKind::Error, Some(Error::MqttOversize));
                    continue;
                }
                Some(SessionEvent::Connected) => {
                    if self.mqtt.subscribe(self.id.topic_update(), 1).is_ok() {
                        continue;
                    }
                    Error::BufferTooSmall
                }
                Some(SessionEvent::Subscribed { code, .. }) if code & 0x80 == 0 => {
                    self.went_online();
                    continue;
                }
                Some(SessionEvent::Subscribed { .. }) => Error::SubscribeRejected,
                Some(SessionEvent::Refused(_)) => Error::MqttRefused,
                Some(SessionEvent::Dead) => Error::MqttTimeout,
            };
            return self.drop_mqtt(now, e);
        }
    }

    // ---- HTTP ----

    fn close_http(&mut self) {
        if let Some(s) = self.http_sock.take() {
            self.links.close(&mut self.plat, Channel::Http, s);
        }
        self.http.reset();
    }

    fn http_failed(&mut self, now: u64, e: Error) {
        let e = self.links.cause(Channel::Http, e);
        self.close_http();
        self.engine.on_download_error(now, e, &mut self.plat);
    }

    fn http_start(&mut self, now: u64) -> bool {
        let Some((url_text, first, last, if_range)) = self.engine.download_due(now) else {
            return false;
        };
        let Ok(u) = url::parse(url_text) else {
            self.engine
                .on_download_error(now, Error::BadUrl, &mut self.plat);
            return false;
        };
        let tls = matches!(u.scheme, Scheme::Https);
        let sock = match self
            .links
            .open(&mut self.plat, Channel::Http, u.host, u.port, tls.into())
        {
            Ok(s) => s,
            Err(e) => {
                self.engine.on_download_error(now, e, &mut self.plat);
                return false;
            }
        };
        self.http_sock = Some(sock);
        self.http.reset();
        if self
            .http
            .start(&u, Some((u64::from(first), u64::from(last))), if_range)
            .is_err()
        {
            self.http_failed(now, Error::BadUrl);
            return false;
        }
        self.engine.download_started(now);
        if first == 0 {
            self.plat.log(Level::Info, "download started");
        } else {
            self.plat.log(Level::Info, "download resumed");
        }
        true
    }

    /// Move firmware bytes; `true` when more are probably waiting (call again at once).
    fn http_step(&mut self, now: u64) -> bool {
        if self.engine.download_stalled(now) {
            self.http_failed(now, Error::DownloadTimeout);
        }
        if self.http_sock.is_none() && !self.http_start(now) {
            return false;
        }
        let Some(sock) = self.http_sock else {
            return false;
        };
        let mut moved = 0usize;
        loop {
            while !self.http.tx_pending().is_empty() {
                match self
                    .links
                    .send(&mut self.plat, Channel::Http, sock, self.http.tx_pending())
                {
                    Ok(n) => self.http.tx_consumed(n),
                    Err(NetError::WouldBlock) => return false,
                    Err(_) => {
                        self.http_failed(now, Error::NetIo);
                        return false;
                    }
                }
            }
            let space = self.http.rx_space();
            if space.is_empty() {
                // The head did not fit: the download reports it below.
                if !self.handle_download_events(now) {
                    self.http_failed(now, Error::HttpProtocol);
                }
                return false;
            }
            let eof = match self.links.recv(&mut self.plat, Channel::Http, sock, space) {
                Ok(n) => {
                    self.http.rx_filled(n);
                    moved += n;
                    false
                }
                Err(NetError::WouldBlock) => {
                    self.handle_download_events(now);
                    return false;
                }
                Err(NetError::Closed) => {
                    self.http.on_eof();
                    true
                }
                Err(NetError::Failed) => {
                    self.http_failed(now, Error::NetIo);
                    return false;
                }
            };
            if self.handle_download_events(now) {
                return false;
            }
            if eof {
                self.http_failed(now, Error::NetIo);
                return false;
            }
            if moved >= HTTP_BUDGET_PER_POLL
                || ms(self.plat.now_ms()).wrapping_sub(ms(now)) >= HTTP_TIME_BUDGET_MS
            {
                return true;
            }
        }
    }

    /// Feed download events to the engine; `true` when the request is over (done or failed).
    fn handle_download_events(&mut self, now: u64) -> bool {
        loop {
            let outcome = match self.http.poll_event() {
                None => return false,
                Some(DownloadEvent::Head(h)) => self.engine.on_head(&h, &mut self.plat),
                Some(DownloadEvent::Data(d)) => self.engine.on_data(now, d, &mut self.plat),
                Some(DownloadEvent::Done) => {
                    self.close_http();
                    self.engine.on_body_done(now, &mut self.plat);
                    return true;
                }
                // A connection that ends early is a network failure (-1 when it never recovers);
                // anything else the server sent wrong is a protocol error.
                Some(DownloadEvent::Error(
                    DownloadError::Closed | DownloadError::Body(BodyError::Truncated),
                )) => Err(Error::NetIo),
                Some(DownloadEvent::Error(_)) => Err(Error::HttpProtocol),
            };
            if let Err(e) = outcome {
                self.http_failed(now, e);
                return true;
            }
            if self.engine.state() != State::Downloading {
                self.close_http();
                return true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::String;

    use super::*;
    use crate::platform::mock::Mock;

    const SECRET: &str = "MTIzNDU2Nzg5MGFiY2RlZg==";

    fn host_client<'b>(http: &'b mut [u8], plat: Mock) -> Client<'b, Mock> {
        let mut cfg = Config::new("ABCDEFGHIJ", "sub1", SECRET, "1.0.0");
        cfg.host_mqtt = true;
        let bufs = Buffers {
            mqtt_rx: &mut [],
            mqtt_tx: &mut [],
            http,
        };
        Client::new(&cfg, bufs, plat).expect("host mode needs no MQTT buffers")
    }

    fn published(c: &mut Client<'_, Mock>) -> std::vec::Vec<(String, String, u8)> {
        c.platform()
            .published
            .drain(..)
            .map(|(t, p, q)| (t, String::from_utf8(p).unwrap(), q))
            .collect()
    }

    /// Every capability a configuration can ask for, against builds with and without it.
    #[test]
    fn a_configuration_needing_a_left_out_feature_is_refused() {
        let mut cfg = Config::new("ABCDEFGHIJ", "dev", SECRET, "1.0.0");
        let build = |host_mqtt, builtin_mqtt, readback| Capabilities {
            host_mqtt,
            builtin_mqtt,
            readback,
        };
        let plain = build(false, true, false);
        let host_only = build(true, false, false);
        let plain_readback = build(false, true, true);
        let every = build(true, true, true);
        let bad = Err(Error::Unsupported);
        // (build, host MQTT asked, read-back asked, verdict)
        let cases = [
            (plain, false, false, Ok(())),
            (plain, true, false, bad),
            (plain, false, true, bad),
            (host_only, false, false, bad),
            (host_only, true, false, Ok(())),
            (host_only, true, true, bad),
            (plain_readback, false, true, Ok(())),
            (plain_readback, true, true, bad),
            (every, false, false, Ok(())),
            (every, true, true, Ok(())),
        ];
        for (i, (built, host, readback, want)) in cases.into_iter().enumerate() {
            cfg.host_mqtt = host;
            cfg.policy.readback_verify = readback;
            assert_eq!(built.check(&cfg), want, "case {i}");
        }
        // This build: the client itself refuses what its features leave out.
        let mut http = [0u8; 1024];
        cfg.host_mqtt = true;
        cfg.policy.readback_verify = true;
        let bufs = Buffers {
            mqtt_rx: &mut [],
            mqtt_tx: &mut [],
            http: &mut http,
        };
        let made = Client::new(&cfg, bufs, Mock::default()).map(drop);
        assert_eq!(made.is_ok(), HOST_MQTT && READBACK, "{made:?}");
    }

    #[test]
    fn host_mqtt_reports_through_the_host_and_takes_its_messages() {
        let mut http = [0u8; 1024];
        let mut c = host_client(
            &mut http,
            Mock {
                next_token: Some(7),
                ..Mock::default()
            },
        );
        c.poll();
        assert!(
            published(&mut c).is_empty(),
            "nothing before the host says it is connected"
        );
        c.mqtt_connected().unwrap();
        c.poll();
        assert_eq!(c.platform().subscribed, ["$ota/update/ABCDEFGHIJ/sub1"]);
        let sent = published(&mut c);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0, "$ota/report/ABCDEFGHIJ/sub1");
        assert_eq!(
            sent[0].1,
            r#"{"type":"report_version","report":{"version":"1.0.0"}}"#
        );
        assert_eq!(sent[0].2, 1);
        // Until the host reports the PUBACK nothing else QoS1 goes out; a lost ack is re-sent
        // after the host reconnects.
        c.report_version("1.0.0").unwrap();
        c.poll();
        assert!(published(&mut c).is_empty());
        c.mqtt_disconnected();
        c.mqtt_connected().unwrap();
        c.poll();
        assert_eq!(
            published(&mut c).len(),
            1,
            "the unacknowledged report again"
        );
        c.mqtt_acked(7);
        c.poll();
        assert!(published(&mut c).is_empty(), "one report_version is enough");

        let rsp = br#"{"result_code":0,"result_msg":"success","type":"report_version_rsp","version":"1.0.0"}"#;
        assert_eq!(
            c.mqtt_input("$ota/update/ABCDEFGHIJ/other", rsp),
            Err(Error::OtherTopic)
        );
        c.mqtt_input("$ota/update/ABCDEFGHIJ/sub1", rsp).unwrap();
        assert!(
            c.platform()
                .events
                .iter()
                .any(|e| e.0 == EventKind::VersionReported)
        );
    }

    #[test]
    fn a_puback_the_host_never_reports_is_published_again_then_the_link_counts_as_lost() {
        let mut http = [0u8; 1024];
        let mut c = host_client(
            &mut http,
            Mock {
                next_token: Some(7),
                ..Mock::default()
            },
        );
        c.mqtt_connected().unwrap();
        assert_eq!(c.poll(), 10_000, "woken at the ack timeout");
        assert_eq!(published(&mut c).len(), 1);
        c.platform().now = 9_999;
        c.poll();
        assert!(published(&mut c).is_empty(), "not before the ack timeout");
        for n in 1..=3u64 {
            c.platform().now = n * 10_000;
            c.poll();
            let sent = published(&mut c);
            assert_eq!(sent.len(), 1, "published again, time {n}");
            assert!(sent[0].1.contains("report_version"));
        }
        c.platform().now = 40_000;
        c.poll();
        assert!(published(&mut c).is_empty());
        assert!(
            !c.is_online(),
            "the connection counts as lost for reporting"
        );
        assert_eq!(
            c.platform().events.last().map(|e| (e.0, e.1)),
            Some((EventKind::Disconnected, Some(Error::MqttTimeout)))
        );
        c.platform().now = 59_999;
        c.poll();
        assert!(
            published(&mut c).is_empty(),
            "backoff before subscribing again"
        );
        c.platform().now = 60_000;
        c.poll();
        assert!(c.is_online());
        assert_eq!(c.platform().subscribed.len(), 2, "subscribed again");
        assert_eq!(published(&mut c).len(), 1, "and the report goes again");
        c.mqtt_acked(7);
        c.platform().now = 200_000;
        c.poll();
        assert!(published(&mut c).is_empty(), "acknowledged: nothing more");
        assert!(c.is_online());
    }

    #[test]
    fn a_host_that_cannot_report_acks_counts_qos1_as_delivered() {
        let mut http = [0u8; 1024];
        let mut c = host_client(&mut http, Mock::default());
        c.mqtt_connected().unwrap();
        c.report_version("1.0.0").unwrap();
        c.poll();
        assert_eq!(published(&mut c).len(), 1);
        c.report_version("1.0.1").unwrap();
        c.poll();
        let sent = published(&mut c);
        assert_eq!(
            sent.len(),
            1,
            "not stuck waiting for an ack that never comes"
        );
        assert!(sent[0].1.contains("1.0.1"));
    }

    #[test]
    fn builtin_mode_refuses_the_host_calls_and_small_buffers() {
        let (mut rx, mut tx, mut http) = ([0u8; 1024], [0u8; 512], [0u8; 1024]);
        let cfg = Config::new("ABCDEFGHIJ", "dev", SECRET, "1.0.0");
        let bufs = Buffers {
            mqtt_rx: &mut rx,
            mqtt_tx: &mut tx,
            http: &mut http,
        };
        let mut c = Client::new(&cfg, bufs, Mock::default()).unwrap();
        assert_eq!(c.mqtt_connected(), Err(Error::WrongState));
        assert_eq!(
            c.mqtt_input("$ota/update/ABCDEFGHIJ/dev", b"{}").err(),
            Some(Error::WrongState)
        );
        let mut http = [0u8; 1024];
        let bufs = Buffers {
            mqtt_rx: &mut [],
            mqtt_tx: &mut [],
            http: &mut http,
        };
        assert!(matches!(
            Client::new(&cfg, bufs, Mock::default()),
            Err(Error::BufferTooSmall)
        ));
    }

    /// The CONNECT flags byte of the first packet sent (after "MQTT" and the level 4).
    fn connect_flags(sent: &[u8]) -> u8 {
        let at = sent
            .windows(5)
            .position(|w| w == b"MQTT\x04")
            .expect("a CONNECT");
        sent[at + 5]
    }

    /// A client for `cfg` (a network that connects) polled through its first MQTT connect; its
    /// platform, to read what it connected and sent.
    fn first_connect(cfg: &Config) -> Mock {
        let (mut rx, mut tx, mut http) = ([0u8; 1024], [0u8; 512], [0u8; 1024]);
        let bufs = Buffers {
            mqtt_rx: &mut rx,
            mqtt_tx: &mut tx,
            http: &mut http,
        };
        let mock = Mock {
            net: true,
            ..Mock::default()
        };
        let mut c = Client::new(cfg, bufs, mock).expect("a valid configuration");
        c.poll();
        c.poll();
        c.into_platform()
    }

    #[test]
    fn certificate_auth_needs_no_secret_sends_no_password_and_asks_for_the_client_cert() {
        let mut cfg = Config::new("ABCDEFGHIJ", "dev001", "", "1.0.0");
        cfg.cert_auth = true;
        cfg.mqtt_tls = true;
        cfg.host_tls = true;
        let p = first_connect(&cfg);
        // The host's TLS presents the certificate (OTA_NET_TLS | OTA_NET_CLIENT_CERT).
        assert_eq!(p.connects, [(Channel::Mqtt, NET_TLS | NET_CLIENT_CERT)]);
        // Username (0x80) and clean session (0x02); no password (0x40).
        assert_eq!(connect_flags(&p.sent), 0x82);
        assert!(p.sent.windows(16).any(|w| w == b"ABCDEFGHIJdev001"));
        assert!(!p.sent.windows(9).any(|w| w == b";hmacsha2"));

        // Key authentication over the same TLS: a password, and no client certificate.
        cfg.cert_auth = false;
        cfg.device_secret = SECRET;
        let p = first_connect(&cfg);
        assert_eq!(p.connects, [(Channel::Mqtt, NET_TLS)]);
        assert_eq!(connect_flags(&p.sent), 0xC2);
    }

    #[test]
    fn host_mode_needs_no_secret_builtin_does() {
        let mut http = [0u8; 1024];
        let mut cfg = Config::new("ABCDEFGHIJ", "sub1", "", "1.0.0");
        cfg.host_mqtt = true;
        let bufs = Buffers {
            mqtt_rx: &mut [],
            mqtt_tx: &mut [],
            http: &mut http,
        };
        assert!(Client::new(&cfg, bufs, Mock::default()).is_ok());
        cfg.host_mqtt = false;
        let (mut rx, mut tx, mut http) = ([0u8; 1024], [0u8; 512], [0u8; 1024]);
        let bufs = Buffers {
            mqtt_rx: &mut rx,
            mqtt_tx: &mut tx,
            http: &mut http,
        };
        assert!(matches!(
            Client::new(&cfg, bufs, Mock::default()),
            Err(Error::InvalidArgument)
        ));
    }
}
