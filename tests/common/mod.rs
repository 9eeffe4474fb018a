//! A std implementation of the host platform for integration tests: non-blocking TCP sockets,
//! a slot and a record store in memory, every event recorded.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Instant;

pub mod programs;

use qcloud_ota_standin::{Broker, Cloud, CloudConfig, DeviceTask, Leaf, Mosquitto, TestPki};

use qcloud_ota::platform::{
    Channel, Event, EventKind, HostError, Level, NetError, Platform, Socket,
};

/// The device secret every test uses (base64 of "1234567890abcdef", the reference's example).
pub const SECRET: &str = "MTIzNDU2Nzg5MGFiY2RlZg==";

/// A real mosquitto and the stand-in on it, holding one task: `pid`/`dn` to version 2.0.0.
pub fn cloud_with_task(
    pid: &str,
    dn: &str,
    image: Vec<u8>,
    tweak: impl FnOnce(&mut DeviceTask),
) -> (Mosquitto, Cloud) {
    let mut task = DeviceTask::new(pid, dn, SECRET, "2.0.0", image);
    tweak(&mut task);
    cloud_with_tasks(vec![task])
}

/// A real mosquitto and the stand-in on it, holding these tasks.
pub fn cloud_with_tasks(tasks: Vec<DeviceTask>) -> (Mosquitto, Cloud) {
    let broker = Mosquitto::start().expect("mosquitto (scripts/setup.sh installs it)");
    let broker_at = Broker::External {
        host: "127.0.0.1".into(),
        port: broker.port(),
    };
    let cloud = Cloud::start(CloudConfig::new(broker_at, tasks)).expect("stand-in");
    (broker, cloud)
}

/// The TLS bench: a test CA and mosquitto with a TLS listener for the device (certificate for
/// localhost and 127.0.0.1 from that CA); the stand-in on it is returned next to it.
pub struct TlsBench {
    pub pki: TestPki,
    pub broker: Mosquitto,
    dir: std::path::PathBuf,
}

impl TlsBench {
    /// mosquitto's TLS port, for the device.
    pub fn mqtt_tls_port(&self) -> u16 {
        self.broker.tls_port().expect("TLS listener")
    }

    /// mosquitto's certificate-authentication port ([`cert_cloud_with_task`]): the device must
    /// present a certificate from the test CA.
    pub fn mqtt_cert_port(&self) -> u16 {
        self.broker
            .cert_port()
            .expect("certificate-authentication listener")
    }
}

impl Drop for TlsBench {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// [`cloud_with_task`] over TLS: MQTT on mosquitto's TLS listener, firmware over HTTPS.
pub fn tls_cloud_with_task(
    pid: &str,
    dn: &str,
    image: Vec<u8>,
    tweak: impl FnOnce(&mut DeviceTask),
) -> (TlsBench, Cloud) {
    tls_bench(pid, dn, image, tweak, |_| {}, false)
}

/// [`tls_cloud_with_task`] with a say in the stand-in's configuration (e.g. `url_host`).
pub fn tls_cloud_with_task_config(
    pid: &str,
    dn: &str,
    image: Vec<u8>,
    tweak: impl FnOnce(&mut DeviceTask),
    config: impl FnOnce(&mut CloudConfig),
) -> (TlsBench, Cloud) {
    tls_bench(pid, dn, image, tweak, config, false)
}

/// [`tls_cloud_with_task`] with mosquitto's certificate-authentication listener as well
/// ([`TlsBench::mqtt_cert_port`]).
pub fn cert_cloud_with_task(
    pid: &str,
    dn: &str,
    image: Vec<u8>,
    tweak: impl FnOnce(&mut DeviceTask),
) -> (TlsBench, Cloud) {
    tls_bench(pid, dn, image, tweak, |_| {}, true)
}

fn tls_bench(
    pid: &str,
    dn: &str,
    image: Vec<u8>,
    tweak: impl FnOnce(&mut DeviceTask),
    config: impl FnOnce(&mut CloudConfig),
    cert_auth: bool,
) -> (TlsBench, Cloud) {
    let dir = std::env::temp_dir().join(format!("qcloud-ota-pki-{dn}-{}", std::process::id()));
    let pki = TestPki::generate(&dir).expect("test PKI");
    let (cert, key) = (
        pki.cert_path(Leaf::Localhost),
        pki.key_path(Leaf::Localhost),
    );
    let broker = match cert_auth {
        true => Mosquitto::start_tls_cert_auth(&cert, &key, &pki.ca_path()),
        false => Mosquitto::start_tls(&cert, &key),
    }
    .expect("mosquitto with TLS (scripts/setup.sh installs it)");
    let mut task = DeviceTask::new(pid, dn, SECRET, "2.0.0", image);
    tweak(&mut task);
    let mut cfg = CloudConfig::new(
        Broker::External {
            host: "127.0.0.1".into(),
            port: broker.port(),
        },
        vec![task],
    );
    cfg.https = Some(pki.server_config(Leaf::Localhost).expect("server config"));
    config(&mut cfg);
    let cloud = Cloud::start(cfg).expect("stand-in");
    (TlsBench { pki, broker, dir }, cloud)
}

/// Every connection a server recorded began with a TLS handshake record and carried no MQTT
/// CONNECT or HTTP request in clear.
pub fn all_tls(first_bytes: &[Vec<u8>]) {
    assert!(!first_bytes.is_empty(), "no connection was recorded");
    for b in first_bytes {
        assert_eq!(b.first(), Some(&0x16), "not a TLS handshake: {b:02x?}");
        for clear in [&b"MQTT"[..], b"GET ", b"HTTP/"] {
            assert!(!b.windows(clear.len()).any(|w| w == clear), "{b:02x?}");
        }
    }
}

/// The cloud's view of an update that went right: no protocol deviation, exactly one `done`,
/// no `fail`.
pub fn assert_done_once(report: &qcloud_ota_standin::Report) {
    assert!(
        report.deviations.is_empty(),
        "protocol deviations:\n{report}"
    );
    assert_eq!(report.done, 1, "exactly one done:\n{report}");
    assert!(report.fails.is_empty(), "{report}");
}

/// Called around every piece of platform code so tests can exclude it from measurements.
pub type Hook = fn(bool);

#[derive(Debug, Clone)]
pub struct Recorded {
    pub kind: EventKind,
    pub error: Option<qcloud_ota::error::Error>,
    pub result_code: i32,
    pub version: String,
    pub percent: u8,
}

pub struct StdPlatform {
    start: Instant,
    socks: Vec<Option<TcpStream>>,
    pub slot: Vec<u8>,
    pub slot_open: bool,
    pub bootable: bool,
    pub record: [Vec<u8>; 2],
    pub events: Vec<Recorded>,
    pub logs: Vec<String>,
    pub verbose: bool,
    hook: Option<Hook>,
}

impl StdPlatform {
    pub fn new() -> Self {
        StdPlatform {
            start: Instant::now(),
            socks: Vec::new(),
            slot: Vec::new(),
            slot_open: false,
            bootable: false,
            record: [Vec::new(), Vec::new()],
            events: Vec::new(),
            logs: Vec::new(),
            verbose: std::env::var_os("OTA_TEST_VERBOSE").is_some(),
            hook: None,
        }
    }

    /// `hook(false)` on entry to platform code, `hook(true)` on return to the library.
    pub fn with_hook(mut self, hook: Hook) -> Self {
        self.hook = Some(hook);
        self
    }

    fn enter(&self) {
        if let Some(h) = self.hook {
            h(false)
        }
    }
    fn leave(&self) {
        if let Some(h) = self.hook {
            h(true)
        }
    }

    pub fn saw(&self, kind: EventKind) -> bool {
        self.events.iter().any(|e| e.kind == kind)
    }

    fn sock(&mut self, s: Socket) -> Option<&mut TcpStream> {
        self.socks.get_mut(usize::try_from(s.0).ok()?)?.as_mut()
    }
}

fn io_err(e: std::io::Error) -> NetError {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::NotConnected => NetError::WouldBlock,
        _ => NetError::Failed,
    }
}

impl Platform for StdPlatform {
    fn now_ms(&mut self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn unix_time_s(&mut self) -> Option<i64> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        now.ok().map(|d| d.as_secs() as i64)
    }

    fn connect(
        &mut self,
        _ch: Channel,
        host: &str,
        port: u16,
        flags: u32,
    ) -> Result<Socket, NetError> {
        let tls = flags != 0;
        self.enter();
        let r = (|| {
            if tls {
                return Err(NetError::Failed);
            }
            let addr = (host, port)
                .to_socket_addrs()
                .map_err(|_| NetError::Failed)?
                .next()
                .ok_or(NetError::Failed)?;
            // Loopback connects at once; blocking connect keeps the test platform simple.
            let s = TcpStream::connect(addr).map_err(|_| NetError::Failed)?;
            s.set_nonblocking(true).map_err(|_| NetError::Failed)?;
            s.set_nodelay(true).map_err(|_| NetError::Failed)?;
            let idx = match self.socks.iter().position(Option::is_none) {
                Some(i) => {
                    self.socks[i] = Some(s);
                    i
                }
                None => {
                    self.socks.push(Some(s));
                    self.socks.len() - 1
                }
            };
            Ok(Socket(idx as i32))
        })();
        self.leave();
        r
    }

    fn send(&mut self, s: Socket, buf: &[u8]) -> Result<usize, NetError> {
        let sock = self.sock(s).ok_or(NetError::Failed)?;
        match sock.write(buf) {
            Ok(0) => Err(NetError::Failed),
            Ok(n) => Ok(n),
            Err(e) => Err(io_err(e)),
        }
    }

    fn recv(&mut self, s: Socket, buf: &mut [u8]) -> Result<usize, NetError> {
        let sock = self.sock(s).ok_or(NetError::Failed)?;
        match sock.read(buf) {
            Ok(0) => Err(NetError::Closed),
            Ok(n) => Ok(n),
            Err(e) => Err(io_err(e)),
        }
    }

    fn close(&mut self, s: Socket) {
        self.enter();
        if let Some(slot) = usize::try_from(s.0)
            .ok()
            .and_then(|i| self.socks.get_mut(i))
        {
            *slot = None;
        }
        self.leave();
    }

    fn slot_open(&mut self, size: u32, offset: u32) -> Result<(), HostError> {
        self.enter();
        if offset == 0 {
            self.slot.clear();
        }
        self.slot.reserve(size as usize);
        self.slot_open = true;
        self.bootable = false;
        self.leave();
        Ok(())
    }

    fn slot_write(&mut self, offset: u32, data: &[u8]) -> Result<(), HostError> {
        self.enter();
        let off = offset as usize;
        if self.slot.len() < off + data.len() {
            self.slot.resize(off + data.len(), 0);
        }
        self.slot[off..off + data.len()].copy_from_slice(data);
        self.leave();
        Ok(())
    }

    fn slot_read(&mut self, offset: u32, buf: &mut [u8]) -> Option<Result<(), HostError>> {
        let off = offset as usize;
        Some(match self.slot.get(off..off + buf.len()) {
            Some(src) => {
                buf.copy_from_slice(src);
                Ok(())
            }
            None => Err(HostError),
        })
    }

    fn slot_close(&mut self, bootable: bool) -> Result<(), HostError> {
        self.slot_open = false;
        self.bootable = bootable;
        Ok(())
    }

    fn store_load(&mut self, copy: u8, buf: &mut [u8]) -> usize {
        let rec = &self.record[usize::from(copy & 1)];
        let n = rec.len().min(buf.len());
        buf[..n].copy_from_slice(&rec[..n]);
        n
    }

    fn store_save(&mut self, copy: u8, data: &[u8]) -> Result<(), HostError> {
        self.enter();
        self.record[usize::from(copy & 1)] = data.to_vec();
        self.leave();
        Ok(())
    }

    fn event(&mut self, e: &Event<'_>) {
        self.enter();
        if self.verbose {
            eprintln!(
                "event {:?} {:?} {} {}%",
                e.kind, e.error, e.version, e.percent
            );
        }
        self.events.push(Recorded {
            kind: e.kind,
            error: e.error,
            result_code: e.result_code,
            version: e.version.to_string(),
            percent: e.percent,
        });
        self.leave();
    }

    fn log(&mut self, level: Level, msg: &str) {
        self.enter();
        if self.verbose {
            eprintln!("log {level:?} {msg}");
        }
        self.logs.push(format!("{level:?} {msg}"));
        self.leave();
    }
}
