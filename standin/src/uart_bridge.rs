//! The host end of the bare-metal firmware's UART link (`c_examples/mps2-an386/modem_link.h`):
//! runs the firmware in `qemu-system-arm`, takes UART0 over a loopback TCP chardev, and answers
//! the firmware's framed open/send/receive/close requests with real TCP connections, the way a
//! cellular modem's AT sockets do. It also collects the firmware's log lines, the slot it dumps
//! back, and its end-of-run notice.
//!
//! Frame (both directions, little-endian): `0x7E 0x51 | type | handle | seq | len u16 |
//! payload | crc u16`, CRC-16/CCITT-FALSE over type..payload; see [`frame`].

use crate::Error;
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The frame codec, shared by both directions.
pub mod frame {
    /// Largest payload either side sends or accepts.
    pub const MAX_PAYLOAD: usize = 4096;
    const MAGIC: [u8; 2] = [0x7E, 0x51];
    const HEADER: usize = 7;

    /// One decoded frame.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Frame {
        pub kind: u8,
        pub handle: u8,
        pub seq: u8,
        pub payload: Vec<u8>,
    }

    /// CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final xor.
    pub fn crc16(data: &[u8]) -> u16 {
        data.iter().fold(0xFFFF, |mut crc: u16, &b| {
            crc ^= u16::from(b) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x1021
                } else {
                    crc << 1
                };
            }
            crc
        })
    }

    /// The bytes of one frame. Payloads over [`MAX_PAYLOAD`] are a caller bug.
    pub fn encode(kind: u8, handle: u8, seq: u8, payload: &[u8]) -> Vec<u8> {
        assert!(payload.len() <= MAX_PAYLOAD, "frame payload too long");
        let mut out = Vec::with_capacity(payload.len() + HEADER + 2);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&[kind, handle, seq]);
        out.extend_from_slice(&(payload.len() as u16).to_le_bytes());
        out.extend_from_slice(payload);
        let crc = crc16(&out[2..]);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Incremental decoder: feed bytes as they arrive, take frames out. Noise before a magic is
    /// skipped; a frame with a bad CRC or an oversize length is counted in `errors` and the
    /// decoder hunts for the next magic from the byte after the bad one's.
    #[derive(Default)]
    pub struct Decoder {
        buf: Vec<u8>,
        pub errors: u32,
    }

    impl Decoder {
        pub fn push(&mut self, bytes: &[u8]) {
            self.buf.extend_from_slice(bytes);
        }

        /// The next complete, valid frame, if any.
        pub fn next_frame(&mut self) -> Option<Frame> {
            loop {
                let start = self.buf.windows(2).position(|w| w == MAGIC);
                let Some(start) = start else {
                    // Keep a trailing 0x7E: it may be the first half of the next magic.
                    let keep = usize::from(self.buf.last() == Some(&MAGIC[0]));
                    self.buf.drain(..self.buf.len() - keep);
                    return None;
                };
                self.buf.drain(..start);
                let header = self.buf.get(..HEADER)?;
                let len = usize::from(u16::from_le_bytes([header[5], header[6]]));
                if len > MAX_PAYLOAD {
                    self.errors += 1;
                    self.buf.drain(..MAGIC.len());
                    continue;
                }
                let whole = self.buf.get(..HEADER + len + 2)?;
                let crc = u16::from_le_bytes([whole[HEADER + len], whole[HEADER + len + 1]]);
                if crc16(&whole[2..HEADER + len]) != crc {
                    self.errors += 1;
                    self.buf.drain(..MAGIC.len());
                    continue;
                }
                let f = Frame {
                    kind: whole[2],
                    handle: whole[3],
                    seq: whole[4],
                    payload: whole[HEADER..HEADER + len].to_vec(),
                };
                self.buf.drain(..HEADER + len + 2);
                return Some(f);
            }
        }
    }
}

use frame::{Decoder, Frame, MAX_PAYLOAD};

/// `OTA_NET_WOULD_BLOCK` and `OTA_NET_ERROR` of `include/qcloud_ota.h`.
const WOULD_BLOCK: i32 = -2;
const NET_ERROR: i32 = -1;

/// One firmware run under QEMU.
pub struct FirmwareRun {
    /// `qemu-system-arm -M` machine, e.g. `mps2-an386` (Cortex-M4) or `mps2-an385` (Cortex-M3).
    pub machine: String,
    /// The firmware ELF.
    pub kernel: PathBuf,
    /// Sent to the firmware at every boot as `key=value` pairs (identity, broker, version).
    pub config: Vec<(String, String)>,
    /// The whole run is killed past this.
    pub limit: Duration,
    /// Print log lines as they arrive.
    pub verbose: bool,
}

/// What a run produced.
#[derive(Debug, Default)]
pub struct BridgeReport {
    /// The firmware's log lines, "LEVEL text".
    pub logs: Vec<String>,
    /// The slot as the firmware dumped it back.
    pub dump: Vec<u8>,
    /// The end notice: exit status (0 = update done) and the running version.
    pub end: Option<(u8, String)>,
    /// Boots seen (hello frames).
    pub boots: u32,
    /// Frames dropped for a bad CRC or length, on the bridge's side.
    pub frame_errors: u32,
    /// Requests answered, by frame type.
    pub requests: HashMap<char, u64>,
    /// Bytes carried from the TCP connections to the firmware and back.
    pub bytes_down: u64,
    pub bytes_up: u64,
    /// What QEMU printed on stderr.
    pub qemu_stderr: String,
}

impl BridgeReport {
    /// The number after `key=` in the firmware's log lines (the last one).
    pub fn figure(&self, key: &str) -> Option<u64> {
        let prefix = format!("{key}=");
        self.logs.iter().rev().find_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix(&prefix))
                .and_then(|v| v.parse().ok())
        })
    }
}

/// Finds `qemu-system-arm` on `$PATH`.
pub fn find_qemu() -> Option<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.join("qemu-system-arm"))
        .find(|p| p.is_file())
}

/// Kills QEMU (by its PID, through the Child handle) however the run ends.
struct Qemu(Child);

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Boots the firmware and bridges its link until it sends its end notice, QEMU exits, or the
/// limit passes (an error carrying what was seen so far).
pub fn run_firmware(run: &FirmwareRun) -> Result<BridgeReport, Error> {
    let qemu = find_qemu().ok_or_else(|| {
        Error::new("qemu-system-arm not found on PATH: scripts/setup.sh installs it (Debian package qemu-system-arm)")
    })?;
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| Error::new(format!("bind: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::new(e.to_string()))?
        .port();
    let stderr_path = std::env::temp_dir().join(format!(
        "qcloud-ota-qemu-{}-{port}.stderr",
        std::process::id()
    ));
    let stderr = std::fs::File::create(&stderr_path).map_err(|e| Error::new(e.to_string()))?;
    let child = Command::new(&qemu)
        .args(["-M", &run.machine, "-display", "none", "-monitor", "none"])
        .arg("-serial")
        .arg(format!("tcp:127.0.0.1:{port}"))
        .arg("-kernel")
        .arg(&run.kernel)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|e| Error::new(format!("start {}: {e}", qemu.display())))?;
    let mut qemu = Qemu(child);
    let mut report = BridgeReport::default();
    let result = bridge(run, &listener, &mut qemu, &mut report);
    drop(qemu);
    report.qemu_stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let _ = std::fs::remove_file(&stderr_path);
    match result {
        Ok(()) => Ok(report),
        Err(e) => Err(Error::new(format!(
            "{e}\n--- firmware log ---\n{}\n--- qemu stderr ---\n{}",
            report.logs.join("\n"),
            report.qemu_stderr
        ))),
    }
}

fn bridge(
    run: &FirmwareRun,
    listener: &TcpListener,
    qemu: &mut Qemu,
    report: &mut BridgeReport,
) -> Result<(), Error> {
    let start = Instant::now();
    let left = |what: &str| {
        run.limit
            .checked_sub(start.elapsed())
            .ok_or_else(|| Error::new(format!("firmware run exceeded {:?} {what}", run.limit)))
    };
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::new(e.to_string()))?;
    let mut serial = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if let Ok(Some(st)) = qemu.0.try_wait() {
                    return Err(Error::new(format!("qemu exited at start: {st}")));
                }
                left("waiting for QEMU's serial connection")?;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(Error::new(format!("accept: {e}"))),
        }
    };
    serial
        .set_nonblocking(false)
        .and_then(|_| serial.set_read_timeout(Some(Duration::from_millis(100))))
        .and_then(|_| serial.set_nodelay(true))
        .map_err(|e| Error::new(e.to_string()))?;

    let mut sockets: HashMap<u8, TcpStream> = HashMap::new();
    let mut decoder = Decoder::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        left("(the firmware never ended its run)")?;
        match serial.read(&mut buf) {
            Ok(0) => return Err(Error::new("QEMU closed the serial link")),
            Ok(n) => decoder.push(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if let Ok(Some(st)) = qemu.0.try_wait() {
                    return Err(Error::new(format!("qemu exited: {st}")));
                }
                continue;
            }
            Err(e) => return Err(Error::new(format!("serial read: {e}"))),
        }
        while let Some(f) = decoder.next_frame() {
            *report.requests.entry(char::from(f.kind)).or_default() += 1;
            let reply = serve(run, &f, &mut sockets, report);
            if let Some((kind, payload)) = reply {
                serial
                    .write_all(&frame::encode(kind, f.handle, f.seq, &payload))
                    .map_err(|e| Error::new(format!("serial write: {e}")))?;
            }
            if report.end.is_some() {
                report.frame_errors = decoder.errors;
                return Ok(());
            }
        }
        report.frame_errors = decoder.errors;
    }
}

fn result(r: i32) -> Option<(u8, Vec<u8>)> {
    Some((b'R', r.to_le_bytes().to_vec()))
}

/// Answers one frame (None for notices).
fn serve(
    run: &FirmwareRun,
    f: &Frame,
    sockets: &mut HashMap<u8, TcpStream>,
    report: &mut BridgeReport,
) -> Option<(u8, Vec<u8>)> {
    let p = &f.payload;
    match f.kind {
        b'H' => {
            // A (re)boot: the firmware forgot its connections, like a modem reset.
            sockets.clear();
            report.boots += 1;
            let mut cfg = Vec::new();
            for (k, v) in &run.config {
                cfg.extend_from_slice(format!("{k}={v}").as_bytes());
                cfg.push(0);
            }
            note(run, report, format!("BOOT {}", String::from_utf8_lossy(p)));
            Some((b'C', cfg))
        }
        b'O' => {
            let (Some(port), Some(flags), Some(host)) = (
                p.get(..2).map(|b| u16::from_le_bytes([b[0], b[1]])),
                p.get(2),
                p.get(4..).map(String::from_utf8_lossy),
            ) else {
                return result(NET_ERROR);
            };
            if flags & 1 != 0 {
                return result(NET_ERROR); // TLS: this bridge carries plain TCP only
            }
            match open(&host, port) {
                Ok(s) => {
                    note(run, report, format!("NET open #{} {host}:{port}", f.handle));
                    sockets.insert(f.handle, s);
                    result(0)
                }
                Err(e) => {
                    note(
                        run,
                        report,
                        format!("NET open #{} {host}:{port}: {e}", f.handle),
                    );
                    result(NET_ERROR)
                }
            }
        }
        b'S' => {
            let Some(s) = sockets.get_mut(&f.handle) else {
                return result(NET_ERROR);
            };
            match s.write(p) {
                Ok(n) if n > 0 => {
                    report.bytes_up += n as u64;

                    result(n as i32)
                }
                Ok(_) => result(NET_ERROR),
                Err(e) if e.kind() == ErrorKind::WouldBlock => result(WOULD_BLOCK),
                Err(_) => result(NET_ERROR),
            }
        }
        b'V' => {
            let Some(s) = sockets.get_mut(&f.handle) else {
                return result(NET_ERROR);
            };
            let max = p
                .get(..2)
                .map_or(0, |b| usize::from(u16::from_le_bytes([b[0], b[1]])));
            let mut data = vec![0u8; max.min(MAX_PAYLOAD)];
            match s.read(&mut data) {
                Ok(0) if !data.is_empty() => result(0),
                Ok(n) => {
                    data.truncate(n);
                    report.bytes_down += n as u64;
                    Some((b'D', data))
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => Some((b'D', Vec::new())),
                Err(_) => result(NET_ERROR),
            }
        }
        b'X' => {
            sockets.remove(&f.handle);
            result(0)
        }
        b'L' => {
            let level = ["?", "ERROR", "WARN", "INFO", "DEBUG"]
                .get(usize::from(f.handle))
                .unwrap_or(&"?");
            note(
                run,
                report,
                format!("{level} {}", String::from_utf8_lossy(p)),
            );
            None
        }
        b'W' => {
            if let Some(off) = p
                .get(..4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            {
                let off = off as usize;
                let data = &p[4..];
                if report.dump.len() < off + data.len() {
                    report.dump.resize(off + data.len(), 0);
                }
                report.dump[off..off + data.len()].copy_from_slice(data);
            }
            None
        }
        b'E' => {
            report.end = Some((f.handle, String::from_utf8_lossy(p).into_owned()));
            None
        }
        other => {
            note(
                run,
                report,
                format!("BRIDGE unknown frame type {other:#04x}"),
            );
            None
        }
    }
}

fn note(run: &FirmwareRun, report: &mut BridgeReport, line: String) {
    if run.verbose {
        eprintln!("firmware: {line}");
    }
    report.logs.push(line);
}

/// A blocking connect with a deadline (loopback answers at once), then non-blocking I/O.
fn open(host: &str, port: u16) -> std::io::Result<TcpStream> {
    let addr = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::new(ErrorKind::NotFound, "no address"))?;
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_nonblocking(true)?;
    s.set_nodelay(true)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::frame::{Decoder, crc16, encode};

    #[test]
    fn crc_matches_the_ccitt_false_check_value() {
        assert_eq!(crc16(b"123456789"), 0x29B1);
    }

    #[test]
    fn frames_survive_byte_by_byte_arrival_and_noise() {
        let a = encode(b'S', 1, 7, b"hello");
        let b = encode(b'D', 2, 8, &[0x7E, 0x51, 0x7E]); // magic inside a payload
        let mut stream = b"noise\x7e".to_vec();
        stream.extend_from_slice(&a);
        stream.extend_from_slice(&b);
        let mut d = Decoder::default();
        let mut got = Vec::new();
        for byte in stream {
            d.push(&[byte]);
            while let Some(f) = d.next_frame() {
                got.push(f);
            }
        }
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].kind, got[0].handle, got[0].seq), (b'S', 1, 7));
        assert_eq!(got[0].payload, b"hello");
        assert_eq!(got[1].payload, [0x7E, 0x51, 0x7E]);
        assert_eq!(d.errors, 0);
    }

    #[test]
    fn a_corrupted_frame_is_dropped_and_the_next_one_decoded() {
        for flip in 2..encode(b'V', 0, 1, b"abc").len() {
            let mut bad = encode(b'V', 0, 1, b"abc");
            bad[flip] ^= 0x04;
            let good = encode(b'R', 3, 2, &5i32.to_le_bytes());
            let mut d = Decoder::default();
            d.push(&bad);
            d.push(&good);
            let mut frames = Vec::new();
            while let Some(f) = d.next_frame() {
                frames.push(f);
            }
            // A flipped length can make the bad frame swallow the good one's bytes: then the
            // good one is lost too, but never a wrong frame accepted.
            assert!(
                frames.iter().all(|f| f.kind == b'R' && f.seq == 2),
                "flip {flip}"
            );
            assert!(d.errors >= 1 || frames.is_empty(), "flip {flip}");
        }
    }

    #[test]
    fn an_oversize_length_is_rejected_without_waiting_for_it() {
        let mut d = Decoder::default();
        d.push(&[0x7E, 0x51, b'D', 0, 0, 0xFF, 0xFF]);
        d.push(&encode(b'R', 0, 9, &[]));
        let f = d.next_frame().expect("the frame after the bad header");
        assert_eq!(f.seq, 9);
        assert_eq!(d.errors, 1);
    }
}
