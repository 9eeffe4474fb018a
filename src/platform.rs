//! What the host provides: one trait with a method per function the host implements. The C ABI
//! implements it over the function pointers of `ota_platform`; tests and simulations implement it in
//! Rust. The library calls it only from inside `poll`/`init`, never re-entrantly.

use crate::error::Error;

/// A host callback reported failure (its own code is the host's business).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct HostError;

/// A connection handle the host returned from [`Platform::connect`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Socket(pub i32);

/// Why a send/recv did not move bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NetError {
    /// Nothing can move right now; try again later (EAGAIN, a connect still in progress).
    WouldBlock,
    /// The peer closed the connection (recv only).
    Closed,
    /// Anything else: the connection is unusable.
    Failed,
}

/// Which of the library's two connections a socket is for (a hint for the host's logs).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Channel {
    Mqtt,
    Http,
}

/// Built with log lines (cargo feature `log`). Call sites that compute a line test it, so a
/// build without it leaves the texts and the building out, not just the host's call.
pub const LOG: bool = cfg!(feature = "log");

/// Severity of a log line.
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
#[repr(i32)]
pub enum Level {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
}

/// What happened, for the host's event callback.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(i32)]
pub enum EventKind {
    /// The MQTT session is up and subscribed to the OTA topic.
    Connected = 1,
    /// The MQTT connection was lost (`error` says why); the library reconnects by itself.
    Disconnected = 2,
    /// The cloud acknowledged `report_version` (`report_version_rsp` with result 0).
    VersionReported = 3,
    /// The cloud offered an update. With manual acceptance, answer with accept/defer/decline.
    Offered = 4,
    /// The download (re)started at `downloaded` bytes.
    DownloadStarted = 5,
    /// Download progress changed (at most once per percent).
    Progress = 6,
    /// The image is verified and the slot was closed as bootable: reboot when convenient.
    ImageReady = 7,
    /// After the reboot the cloud acknowledged `done` and the new version: the update is complete.
    Done = 8,
    /// The update failed; the cloud acknowledged `fail` with `result_code`. `error` says why.
    Failed = 9,
    /// A recoverable problem (the library retries); `error` says what.
    Error = 10,
}

/// One event. Borrowed data is valid only during the callback.
#[derive(Clone, Copy, Debug)]
pub struct Event<'a> {
    pub kind: EventKind,
    pub error: Option<Error>,
    /// The Tencent result code reported with `Failed`, else 0.
    pub result_code: i32,
    /// The target version (or, for `Connected`/`VersionReported`, the running version).
    pub version: &'a str,
    pub file_size: u32,
    pub downloaded: u32,
    pub percent: u8,
}

impl<'a> Event<'a> {
    pub fn new(kind: EventKind, version: &'a str) -> Self {
        Event {
            kind,
            error: None,
            result_code: 0,
            version,
            file_size: 0,
            downloaded: 0,
            percent: 0,
        }
    }
}

/// [`Platform::connect`]: the host's TLS.
pub const NET_TLS: u32 = 1;
/// [`Platform::connect`]: the host's TLS presents the device certificate.
pub const NET_CLIENT_CERT: u32 = 2;

/// The functions the host must provide.
pub trait Platform {
    /// Monotonic milliseconds (any origin).
    fn now_ms(&mut self) -> u64;
    /// Wall-clock time, seconds since 1970 (UTC), for certificate validity checks of the
    /// built-in TLS; `None` when the host has no clock (see `tls` for what happens then).
    fn unix_time_s(&mut self) -> Option<i64> {
        None
    }
    /// Start a connection to `host:port` without blocking (DNS is the host's business). With
    /// [`NET_TLS`] in `flags` the host must wrap the connection in its own TLS with server
    /// verification for `host`; with [`NET_CLIENT_CERT`] as well it also presents the device's
    /// client certificate (certificate authentication). (The C ABI's `OTA_NET_*` values.)
    fn connect(
        &mut self,
        channel: Channel,
        host: &str,
        port: u16,
        flags: u32,
    ) -> Result<Socket, NetError>;
    /// Send some bytes; `Ok(n)` with `0 < n <= buf.len()`.
    fn send(&mut self, sock: Socket, buf: &[u8]) -> Result<usize, NetError>;
    /// Receive some bytes; `Ok(n)` with `0 < n`, `Err(Closed)` at end of stream.
    fn recv(&mut self, sock: Socket, buf: &mut [u8]) -> Result<usize, NetError>;
    fn close(&mut self, sock: Socket);

    /// Prepare the firmware slot for an image of `size` bytes. `offset` 0 starts afresh (erase as
    /// needed); a larger offset continues a download whose first `offset` bytes are already there.
    fn slot_open(&mut self, size: u32, offset: u32) -> Result<(), HostError>;
    fn slot_write(&mut self, offset: u32, data: &[u8]) -> Result<(), HostError>;
    /// Read back from the slot; `None` when the host has no read-back.
    fn slot_read(&mut self, _offset: u32, _buf: &mut [u8]) -> Option<Result<(), HostError>> {
        None
    }
    /// Finish with the slot: `bootable` marks the verified image for the next boot; `false`
    /// abandons it.
    fn slot_close(&mut self, bootable: bool) -> Result<(), HostError>;

    /// Load copy `copy` (0 or 1) of the persistent record into `buf`; returns its length (0 when
    /// that copy is empty). The two copies must be independent (two files, two flash sectors).
    fn store_load(&mut self, copy: u8, buf: &mut [u8]) -> usize;
    /// Replace copy `copy` (0 or 1); an empty `data` erases it. A torn write is tolerated: the
    /// library writes the copies alternately, and each carries a sequence number and a CRC.
    fn store_save(&mut self, copy: u8, data: &[u8]) -> Result<(), HostError>;

    /// Host MQTT mode only: subscribe `topic` on the host's connection (`Err(WouldBlock)`: ask
    /// again at the next poll).
    fn mqtt_subscribe(&mut self, _topic: &str, _qos: u8) -> Result<(), NetError> {
        Err(NetError::Failed)
    }
    /// Host MQTT mode only: publish on the host's connection. `Ok(Some(token))`: the host will
    /// report the PUBACK of this QoS1 message with that token; `Ok(None)`: accepted, and no
    /// acknowledgement will come (QoS0, or a host that cannot tell); `Err(WouldBlock)`: busy.
    fn mqtt_publish(
        &mut self,
        _topic: &str,
        _payload: &[u8],
        _qos: u8,
    ) -> Result<Option<u32>, NetError> {
        Err(NetError::Failed)
    }

    fn event(&mut self, _event: &Event<'_>) {}
    fn log(&mut self, _level: Level, _msg: &str) {}
}

/// An in-memory host for unit tests: a slot, two record copies, every event; no network.
#[cfg(test)]
pub(crate) mod mock {
    extern crate std;
    use std::vec::Vec;

    use super::*;

    #[derive(Default)]
    pub struct Mock {
        pub slot: Vec<u8>,
        pub bootable: Option<bool>,
        /// Every `slot_open(size, offset)`.
        pub opened: Vec<(u32, u32)>,
        pub record: [Vec<u8>; 2],
        pub events: Vec<(EventKind, Option<Error>, i32)>,
        /// `slot_read` flips a bit at this offset: a flash that does not keep what it was given.
        pub flip: Option<usize>,
        /// The next `store_save` writes only this many bytes over the copy (a power cut), then fails.
        pub tear: Option<usize>,
        /// Host MQTT mode: what the library subscribed and published, and the token to give.
        pub subscribed: Vec<std::string::String>,
        pub published: Vec<(std::string::String, Vec<u8>, u8)>,
        pub next_token: Option<u32>,
        /// The clock `now_ms` reads.
        pub now: u64,
        /// `store_save` fails while this is set (a worn or full store).
        pub store_fails: bool,
        /// Connections open (else `connect` fails); each `connect` is recorded as (channel,
        /// flags), what is sent goes to `sent`, nothing is ever received.
        pub net: bool,
        pub connects: Vec<(Channel, u32)>,
        pub sent: Vec<u8>,
    }

    impl Platform for Mock {
        fn now_ms(&mut self) -> u64 {
            self.now
        }
        fn connect(
            &mut self,
            ch: Channel,
            _: &str,
            _: u16,
            flags: u32,
        ) -> Result<Socket, NetError> {
            self.connects.push((ch, flags));
            self.net.then_some(Socket(1)).ok_or(NetError::Failed)
        }
        fn send(&mut self, _: Socket, buf: &[u8]) -> Result<usize, NetError> {
            self.sent.extend_from_slice(buf);
            self.net.then_some(buf.len()).ok_or(NetError::Failed)
        }
        fn recv(&mut self, _: Socket, _: &mut [u8]) -> Result<usize, NetError> {
            self.net
                .then_some(())
                .map_or(Err(NetError::Failed), |()| Err(NetError::WouldBlock))
        }
        fn close(&mut self, _: Socket) {}
        fn slot_open(&mut self, size: u32, offset: u32) -> Result<(), HostError> {
            self.opened.push((size, offset));
            self.slot.truncate(offset as usize);
            Ok(())
        }
        fn slot_write(&mut self, offset: u32, data: &[u8]) -> Result<(), HostError> {
            assert_eq!(offset as usize, self.slot.len(), "writes arrive in order");
            self.slot.extend_from_slice(data);
            Ok(())
        }
        fn slot_read(&mut self, offset: u32, buf: &mut [u8]) -> Option<Result<(), HostError>> {
            let o = offset as usize;
            buf.copy_from_slice(&self.slot[o..o + buf.len()]);
            if let Some(i) = self.flip.filter(|i| (o..o + buf.len()).contains(i)) {
                buf[i - o] ^= 0x10;
            }
            Some(Ok(()))
        }
        fn slot_close(&mut self, bootable: bool) -> Result<(), HostError> {
            self.bootable = Some(bootable);
            Ok(())
        }
        fn store_load(&mut self, copy: u8, buf: &mut [u8]) -> usize {
            let r = &self.record[usize::from(copy)];
            buf[..r.len()].copy_from_slice(r);
            r.len()
        }
        fn store_save(&mut self, copy: u8, data: &[u8]) -> Result<(), HostError> {
            if self.store_fails {
                return Err(HostError);
            }
            let c = &mut self.record[usize::from(copy)];
            match self.tear.take() {
                Some(n) => {
                    c.resize(data.len().max(c.len()), 0xFF);
                    c[..n].copy_from_slice(&data[..n]);
                    Err(HostError)
                }
                None => {
                    *c = data.to_vec();
                    Ok(())
                }
            }
        }
        fn event(&mut self, e: &Event<'_>) {
            self.events.push((e.kind, e.error, e.result_code));
        }
        fn mqtt_subscribe(&mut self, topic: &str, _qos: u8) -> Result<(), NetError> {
            self.subscribed.push(topic.into());
            Ok(())
        }
        fn mqtt_publish(
            &mut self,
            topic: &str,
            payload: &[u8],
            qos: u8,
        ) -> Result<Option<u32>, NetError> {
            self.published.push((topic.into(), payload.to_vec(), qos));
            Ok(self.next_token.filter(|_| qos == 1))
        }
    }
}
