//! The platform callbacks: the C types of the functions the host provides, `ota_platform`, and
//! [`CPlatform`], the crate's [`Platform`] over them.

use core::ffi::{c_char, c_void};
use core::mem::{offset_of, size_of};

use super::constants::*;
use crate::client::TOPIC_MAX;
use crate::error::Error;
use crate::platform::{Channel, Event, HostError, Level, NetError, Platform, Socket};
use crate::slices::copy_prefix;

/// One event, valid only during the event callback.
#[repr(C)]
pub struct ota_event {
    /// OTA_EVENT_*
    pub kind: i32,
    /// OTA_ERR_* for DISCONNECTED, FAILED and ERROR; OTA_OK otherwise.
    pub error: i32,
    /// The Tencent result_code reported with FAILED (-1 timeout, -2 not found, -3 signature expired, -4 MD5, -5 upgrade failed).
    pub result_code: i32,
    /// NUL-terminated, never NULL: the target version ("" when there is none), or the running
    /// version for CONNECTED, DISCONNECTED and VERSION_REPORTED.
    pub version: *const c_char,
    /// Image size in bytes (0 when there is no image).
    pub file_size: u32,
    /// Bytes downloaded and verified into the slot so far.
    pub downloaded: u32,
    /// downloaded * 100 / file_size.
    pub percent: u8,
}

/// Monotonic milliseconds, any origin. Required.
pub type ota_now_ms_fn = Option<unsafe extern "C" fn(user: *mut c_void) -> u64>;
/// Start a non-blocking connection to host:port (DNS is the host's business) and return a
/// non-negative handle, or OTA_NET_ERROR. The connection may still be in progress: net_send/net_recv return
/// OTA_NET_WOULD_BLOCK until it is up. channel is OTA_CHANNEL_MQTT or OTA_CHANNEL_HTTP; with
/// OTA_NET_TLS in flags the host must open a TLS connection that verifies `host` (the built-in
/// TLS, when it handles a connection, asks for plain TCP and runs TLS over it); with
/// OTA_NET_CLIENT_CERT as well, it also presents the device's client certificate and key
/// (OTA_FLAG_CERT_AUTH). `host` is NUL-terminated, at most OTA_HOST_MAX bytes before the NUL,
/// valid only during the call. Required.
pub type ota_net_connect_fn = Option<
    unsafe extern "C" fn(
        user: *mut c_void,
        channel: i32,
        host: *const c_char,
        port: u16,
        flags: u32,
    ) -> i32,
>;
/// Send up to len bytes (len > 0, at most INT32_MAX): the count sent (> 0), OTA_NET_WOULD_BLOCK,
/// or OTA_NET_ERROR. Required.
pub type ota_net_send_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, sock: i32, buf: *const u8, len: usize) -> i32>;
/// Receive up to len bytes (len > 0, at most INT32_MAX) into buf: the count (> 0), 0 when the
/// peer closed, OTA_NET_WOULD_BLOCK, or OTA_NET_ERROR. Required.
pub type ota_net_recv_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, sock: i32, buf: *mut u8, len: usize) -> i32>;
/// Close a connection. Required.
pub type ota_net_close_fn = Option<unsafe extern "C" fn(user: *mut c_void, sock: i32)>;
/// Prepare the slot for an image of image_size bytes; offset 0 starts afresh (erase as needed). 0 or negative. Required.
pub type ota_slot_open_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, image_size: u32, offset: u32) -> i32>;
/// Write len bytes at offset into the slot: 0 or negative. Writes arrive in order. Required.
pub type ota_slot_write_fn = Option<
    unsafe extern "C" fn(user: *mut c_void, offset: u32, data: *const u8, len: usize) -> i32,
>;
/// Read back len bytes at offset: 0 or negative. Optional (NULL: no read-back).
pub type ota_slot_read_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, offset: u32, buf: *mut u8, len: usize) -> i32>;
/// Finish with the slot. bootable: the MD5-verified image must boot next (e.g. MCUboot's
/// boot_set_pending); false: the image is abandoned and will never be used (the slot may be
/// erased; the resume record was cleared before: when store_save fails, this call waits, the
/// slot left as it is, until the record could be cleared). 0 or negative. Required.
pub type ota_slot_close_fn = Option<unsafe extern "C" fn(user: *mut c_void, bootable: bool) -> i32>;
/// Load copy `copy` (0 or 1) of the persistent record into buf (cap: its size in bytes, at least
/// OTA_RECORD_SIZE): the record's length in bytes, 0 when that copy is empty, or negative.
/// Required.
pub type ota_store_load_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, copy: u8, buf: *mut u8, cap: usize) -> i32>;
/// Replace copy `copy` (0 or 1) of the persistent record with len bytes (at most
/// OTA_RECORD_SIZE; len 0 erases it): 0 or negative. Keep
/// the two copies independent (two files, or two flash sectors): the library writes them
/// alternately with a sequence number and a CRC, so a power cut during a write loses only the
/// copy being written, never the last good record. Required.
pub type ota_store_save_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, copy: u8, data: *const u8, len: usize) -> i32>;
/// OTA_FLAG_HOST_MQTT only: subscribe `topic` (NUL-terminated) with `qos` on the host's
/// connection: 0, OTA_NET_WOULD_BLOCK (asked again at the next poll), or negative.
pub type ota_mqtt_subscribe_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, topic: *const c_char, qos: u8) -> i32>;
/// OTA_FLAG_HOST_MQTT only: publish `len` bytes on `topic` (NUL-terminated) with `qos` (0 or 1)
/// on the host's connection. Returns a positive token when the host will report this QoS1
/// message's PUBACK with ota_mqtt_acked(token); 0 when accepted and no acknowledgement will come
/// (QoS0, or a host that cannot tell: the library then counts it as delivered);
/// OTA_NET_WOULD_BLOCK (asked again at the next poll); or another negative on failure.
/// A token not acknowledged within ack_timeout_ms is published again (a new token; QoS1 is
/// at-least-once), 3 times per connection; then the library counts the connection as lost for
/// reporting (OTA_EVENT_DISCONNECTED, OTA_ERR_MQTT_TIMEOUT) and subscribes and reports again
/// itself after a backoff (ack_timeout_ms doubled per loss, at most 60 s).
pub type ota_mqtt_publish_fn = Option<
    unsafe extern "C" fn(
        user: *mut c_void,
        topic: *const c_char,
        payload: *const u8,
        len: usize,
        qos: u8,
    ) -> i32,
>;
/// An event (see OTA_EVENT_*). May call ota_accept()/ota_defer()/ota_decline() on the same client. Optional.
pub type ota_event_fn = Option<unsafe extern "C" fn(user: *mut c_void, event: *const ota_event)>;
/// Wall-clock time in seconds since 1970-01-01 UTC, or a negative value when the clock is not set
/// yet. Used by the built-in TLS to check certificate validity. Optional: without it (or while it
/// is negative) the library's build time stands in, so a certificate that expired before the
/// build is still refused but a later expiry is not noticed.
pub type ota_unix_time_s_fn = Option<unsafe extern "C" fn(user: *mut c_void) -> i64>;
/// A log line: msg is NUL-terminated, len is its length in bytes without the NUL (lines are cut
/// at 159), level is OTA_LOG_*; valid only during the call. Optional; never called when the
/// library was built without the cargo feature `log` (CMake: QCLOUD_OTA_LOG=OFF).
pub type ota_log_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, level: i32, msg: *const c_char, len: usize)>;

/// The functions the host provides, each called with `user` first, only from inside ota_* calls
/// (ota_init() calls now_ms and store_load, and may log; the others come from ota_poll() and
/// the ota_* calls that act at once). ota_init() copies this struct: it need not outlive the
/// call. A required member that is NULL makes ota_init() return OTA_ERR_NULL_POINTER.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ota_platform {
    /// Passed as the first argument of every callback; never dereferenced by the library. May be NULL.
    pub user: *mut c_void,
    /// Required. Called at every ota_poll() and for every deadline.
    pub now_ms: ota_now_ms_fn,
    /// Required. Called when the MQTT connection (built-in MQTT) or a download opens.
    pub net_connect: ota_net_connect_fn,
    /// Required. Called while a connection has bytes to send.
    pub net_send: ota_net_send_fn,
    /// Required. Called at every ota_poll() while a connection is open.
    pub net_recv: ota_net_recv_fn,
    /// Required. Called once per handle net_connect returned, when the library is done with it.
    pub net_close: ota_net_close_fn,
    /// Required. Called when a download starts or resumes.
    pub slot_open: ota_slot_open_fn,
    /// Required. Called for each chunk of the image, in order.
    pub slot_write: ota_slot_write_fn,
    /// Optional (NULL: no read-back, OTA_FLAG_READBACK_VERIFY then trusts the stream's MD5).
    /// Called only with OTA_FLAG_READBACK_VERIFY, after the last byte, to hash the slot again.
    pub slot_read: ota_slot_read_fn,
    /// Required. Called once per slot_open, when the image is verified or abandoned.
    pub slot_close: ota_slot_close_fn,
    /// Required. Called by ota_init() for both copies of the record (and never after).
    pub store_load: ota_store_load_fn,
    /// Required. Called every journal_interval bytes of a download and when an update's state
    /// changes (offer taken, image ready, outcome reported).
    pub store_save: ota_store_save_fn,
    /// Optional (NULL: no events). Called for each OTA_EVENT_*.
    pub on_event: ota_event_fn,
    /// Optional (NULL: no log lines). Called for each log line.
    pub log: ota_log_fn,
    /// Required with OTA_FLAG_HOST_MQTT (NULL otherwise): called from ota_poll() after
    /// ota_mqtt_connected().
    pub mqtt_subscribe: ota_mqtt_subscribe_fn,
    /// Required with OTA_FLAG_HOST_MQTT (NULL otherwise): called from ota_poll() for every report.
    pub mqtt_publish: ota_mqtt_publish_fn,
    /// Optional: wall-clock time for the built-in TLS's certificate checks, called at each step
    /// of a built-in TLS connection. Never called without the built-in TLS.
    pub unix_time_s: ota_unix_time_s_fn,
}

// ---------------------------------------------------------------------------------------------
// The platform over C function pointers
// ---------------------------------------------------------------------------------------------

/// The client's private copy of `ota_platform`, made only from a [`Checked`] one.
pub(super) struct CPlatform {
    p: ota_platform,
}

/// An `ota_platform` whose callbacks of `REQUIRED` (with OTA_FLAG_HOST_MQTT, of `HOST_MQTT`
/// too) are set: [`Checked::new`] is the one check, and the only way to a [`CPlatform`]. A
/// borrow, so the check can come first and the copy straight into the client later.
pub(super) struct Checked<'a>(&'a ota_platform);

impl<'a> Checked<'a> {
    /// OTA_ERR_NULL_POINTER when a required callback is NULL.
    pub(super) fn new(p: &'a ota_platform, host_mqtt: bool) -> Result<Self, Error> {
        let need = REQUIRED_MASK | if host_mqtt { HOST_MQTT_MASK } else { 0 };
        // SAFETY: `ota_platform` is PLATFORM_WORDS pointers (asserted with the masks).
        let words = unsafe {
            core::slice::from_raw_parts(
                core::ptr::from_ref(p).cast::<*const c_void>(),
                PLATFORM_WORDS,
            )
        };
        for (i, w) in words.iter().enumerate() {
            if (need >> i) & 1 != 0 && w.is_null() {
                return Err(Error::NullPointer);
            }
        }
        Ok(Checked(p))
    }
}

impl From<Checked<'_>> for CPlatform {
    fn from(c: Checked<'_>) -> Self {
        CPlatform { p: *c.0 }
    }
}

/// Required callback `$f` of the `CPlatform` `$s`: compiles only when `$f` is in `REQUIRED`,
/// which [`Checked::new`] checked non-NULL in the copy `$s` holds, so `None` cannot occur.
macro_rules! required {
    ($s:ident . $f:ident) => {{
        const {
            assert!(
                REQUIRED_MASK & mask(&[offset_of!(ota_platform, $f)]) != 0,
                "a callback used unchecked must be in REQUIRED"
            )
        };
        // SAFETY: as the assertion above shows, `Checked::new` refused a NULL here.
        unsafe { $s.p.$f.unwrap_unchecked() }
    }};
}

/// Copy `s` into `buf` with a NUL; longer text is cut (only for names and log lines).
pub(super) fn nul_terminated<'a>(s: &str, buf: &'a mut [u8]) -> &'a [u8] {
    let n = s.len().min(buf.len().saturating_sub(1));
    if let (Some(dst), Some(src)) = (buf.get_mut(..n), s.as_bytes().get(..n)) {
        copy_prefix(dst, src);
    }
    if let Some(b) = buf.get_mut(n) {
        *b = 0;
    }
    buf.get(..=n).unwrap_or(&[])
}

fn clamp_len(n: usize) -> usize {
    n.min(i32::MAX as usize)
}

fn net_result(r: i32, eof_is: NetError) -> Result<usize, NetError> {
    match r {
        n if n > 0 => Ok(n as usize),
        0 => Err(eof_is),
        OTA_NET_WOULD_BLOCK => Err(NetError::WouldBlock),
        _ => Err(NetError::Failed),
    }
}

fn status(r: i32) -> Result<(), HostError> {
    if r < 0 { Err(HostError) } else { Ok(()) }
}

impl Platform for CPlatform {
    fn now_ms(&mut self) -> u64 {
        let f = required!(self.now_ms);
        // SAFETY: host callback with its own context.
        unsafe { f(self.p.user) }
    }
    fn unix_time_s(&mut self) -> Option<i64> {
        // SAFETY: host callback with its own context.
        let t = self.p.unix_time_s.map(|f| unsafe { f(self.p.user) })?;
        (t >= 0).then_some(t)
    }
    fn connect(
        &mut self,
        channel: Channel,
        host: &str,
        port: u16,
        flags: u32,
    ) -> Result<Socket, NetError> {
        let mut name = [0u8; OTA_HOST_MAX + 1];
        let name = nul_terminated(host, &mut name);
        let ch = match channel {
            Channel::Mqtt => OTA_CHANNEL_MQTT,
            Channel::Http => OTA_CHANNEL_HTTP,
        };
        let f = required!(self.net_connect);
        // SAFETY: `name` is NUL-terminated and lives across the call.
        let r = unsafe { f(self.p.user, ch, name.as_ptr().cast(), port, flags) };
        if r >= 0 {
            Ok(Socket(r))
        } else {
            Err(NetError::Failed)
        }
    }
    fn send(&mut self, sock: Socket, buf: &[u8]) -> Result<usize, NetError> {
        let f = required!(self.net_send);
        // SAFETY: buf is valid for len bytes during the call.
        let r = unsafe { f(self.p.user, sock.0, buf.as_ptr(), clamp_len(buf.len())) };
        net_result(r, NetError::WouldBlock).map(|n| n.min(buf.len()))
    }
    fn recv(&mut self, sock: Socket, buf: &mut [u8]) -> Result<usize, NetError> {
        let f = required!(self.net_recv);
        // SAFETY: buf is valid and writable for len bytes during the call.
        let r = unsafe { f(self.p.user, sock.0, buf.as_mut_ptr(), clamp_len(buf.len())) };
        net_result(r, NetError::Closed).map(|n| n.min(buf.len()))
    }
    fn close(&mut self, sock: Socket) {
        // SAFETY: host callback with its own context.
        let f = required!(self.net_close);
        // SAFETY: host callback with its own context.
        unsafe { f(self.p.user, sock.0) }
    }
    fn slot_open(&mut self, size: u32, offset: u32) -> Result<(), HostError> {
        let f = required!(self.slot_open);
        // SAFETY: host callback with its own context.
        status(unsafe { f(self.p.user, size, offset) })
    }
    fn slot_write(&mut self, offset: u32, data: &[u8]) -> Result<(), HostError> {
        let f = required!(self.slot_write);
        // SAFETY: data is valid for len bytes during the call.
        status(unsafe { f(self.p.user, offset, data.as_ptr(), data.len()) })
    }
    fn slot_read(&mut self, offset: u32, buf: &mut [u8]) -> Option<Result<(), HostError>> {
        let f = self.p.slot_read?;
        // SAFETY: buf is valid and writable for len bytes during the call.
        Some(status(unsafe {
            f(self.p.user, offset, buf.as_mut_ptr(), buf.len())
        }))
    }
    fn slot_close(&mut self, bootable: bool) -> Result<(), HostError> {
        let f = required!(self.slot_close);
        // SAFETY: host callback with its own context.
        status(unsafe { f(self.p.user, bootable) })
    }
    fn store_load(&mut self, copy: u8, buf: &mut [u8]) -> usize {
        let f = required!(self.store_load);
        // SAFETY: buf is valid and writable for cap bytes during the call.
        let r = unsafe { f(self.p.user, copy, buf.as_mut_ptr(), buf.len()) };
        usize::try_from(r).unwrap_or(0).min(buf.len())
    }
    fn store_save(&mut self, copy: u8, data: &[u8]) -> Result<(), HostError> {
        let f = required!(self.store_save);
        // SAFETY: data is valid for len bytes during the call.
        status(unsafe { f(self.p.user, copy, data.as_ptr(), data.len()) })
    }
    fn event(&mut self, ev: &Event<'_>) {
        let Some(f) = self.p.on_event else { return };
        let mut version = [0u8; OTA_VERSION_MAX + 1];
        let version = nul_terminated(ev.version, &mut version);
        let c = ota_event {
            kind: ev.kind as i32,
            error: ev.error.map_or(OTA_OK, Error::code),
            result_code: ev.result_code,
            version: version.as_ptr().cast(),
            file_size: ev.file_size,
            downloaded: ev.downloaded,
            percent: ev.percent,
        };
        // SAFETY: `c` and the version it points to live across the call.
        unsafe { f(self.p.user, &c) }
    }
    fn mqtt_subscribe(&mut self, topic: &str, qos: u8) -> Result<(), NetError> {
        let f = self.p.mqtt_subscribe.ok_or(NetError::Failed)?;
        let mut name = [0u8; TOPIC_MAX + 1];
        let name = nul_terminated(topic, &mut name);
        // SAFETY: `name` is NUL-terminated and lives across the call.
        match unsafe { f(self.p.user, name.as_ptr().cast(), qos) } {
            0.. => Ok(()),
            OTA_NET_WOULD_BLOCK => Err(NetError::WouldBlock),
            _ => Err(NetError::Failed),
        }
    }
    fn mqtt_publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: u8,
    ) -> Result<Option<u32>, NetError> {
        let f = self.p.mqtt_publish.ok_or(NetError::Failed)?;
        let mut name = [0u8; TOPIC_MAX + 1];
        let name = nul_terminated(topic, &mut name);
        // SAFETY: `name` is NUL-terminated, `payload` valid for len bytes, both across the call.
        match unsafe {
            f(
                self.p.user,
                name.as_ptr().cast(),
                payload.as_ptr(),
                payload.len(),
                qos,
            )
        } {
            0 => Ok(None),
            t if t > 0 => Ok(Some(t as u32)),
            OTA_NET_WOULD_BLOCK => Err(NetError::WouldBlock),
            _ => Err(NetError::Failed),
        }
    }
    fn log(&mut self, level: Level, msg: &str) {
        // Without the feature the compiler drops the texts and the code that builds them.
        if !cfg!(feature = "log") {
            return;
        }
        let Some(f) = self.p.log else { return };
        let mut line = [0u8; 160];
        let line = nul_terminated(msg, &mut line);
        // SAFETY: `line` is NUL-terminated and lives across the call.
        unsafe {
            f(
                self.p.user,
                level as i32,
                line.as_ptr().cast(),
                line.len() - 1,
            )
        }
    }
}

/// The callbacks `ota_init` refuses NULL for, by their place in `ota_platform`: the one list.
/// [`Checked::new`] checks them, and [`required!`] compiles only for one of them.
const REQUIRED: [usize; 10] = [
    offset_of!(ota_platform, now_ms),
    offset_of!(ota_platform, net_connect),
    offset_of!(ota_platform, net_send),
    offset_of!(ota_platform, net_recv),
    offset_of!(ota_platform, net_close),
    offset_of!(ota_platform, slot_open),
    offset_of!(ota_platform, slot_write),
    offset_of!(ota_platform, slot_close),
    offset_of!(ota_platform, store_load),
    offset_of!(ota_platform, store_save),
];
/// Required as well with OTA_FLAG_HOST_MQTT (used through `Option`, so never unchecked).
const HOST_MQTT: [usize; 2] = [
    offset_of!(ota_platform, mqtt_subscribe),
    offset_of!(ota_platform, mqtt_publish),
];

/// `ota_platform` is one pointer per member (`user`, then the callbacks, each `Option<fn>`,
/// NULL for `None`), so the required ones are checked in one loop over a mask of positions
/// (smaller code than a check per member: flash is at its budget).
const PLATFORM_WORDS: usize = size_of::<ota_platform>() / size_of::<usize>();
const _: () = assert!(PLATFORM_WORDS * size_of::<usize>() == size_of::<ota_platform>());
const _: () = assert!(PLATFORM_WORDS == 17 && PLATFORM_WORDS <= 32);

/// The positions of `members` as a bit mask over `ota_platform`'s words.
const fn mask(members: &[usize]) -> u32 {
    let (mut m, mut i) = (0, 0);
    while i < members.len() {
        m |= 1 << (members[i] / size_of::<usize>());
        i += 1;
    }
    m
}
const REQUIRED_MASK: u32 = mask(&REQUIRED);
const HOST_MQTT_MASK: u32 = mask(&HOST_MQTT);
