//! MQTT 3.1.1 packet codec: pure functions over byte slices, no allocation, no panics.
//!
//! Decoding is zero-copy (topics and payloads borrow the input) and strict: reserved flag bits,
//! QoS 3, DUP on QoS 0, zero packet ids, non-UTF-8 strings and length mismatches are errors.
//! QoS 2 (PUBREC/PUBREL/PUBCOMP) and wills are rejected: Tencent's broker supports neither.

use crate::slices::{copy_prefix, has_byte};

/// The largest Remaining Length a 4-byte varint can carry.
const MAX_REMAINING: usize = 268_435_455;

/// Why a byte sequence is not an acceptable MQTT 3.1.1 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Packet type 0 or 15, or reserved fixed-header flag bits set.
    BadHeader,
    /// Remaining Length longer than 4 bytes.
    BadLength,
    /// QoS 3, or DUP set on a QoS 0 PUBLISH.
    BadQos,
    /// A string is not UTF-8, contains U+0000, is empty where it must not be, or a PUBLISH topic
    /// contains a wildcard.
    BadString,
    /// The body does not match its fields: too short, trailing bytes, zero packet id, wrong
    /// protocol name or level, invalid return code or flags.
    Malformed,
    /// Valid MQTT that this client does not speak: QoS 2 flow packets, CONNECT with a will.
    Unsupported,
}

/// Why a packet could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// The output buffer cannot hold the packet.
    BufferTooSmall,
    /// The arguments do not form a valid packet: QoS > 1, zero or missing packet id, empty topic,
    /// wildcard in a PUBLISH topic, string longer than 65535 bytes, password without username.
    Invalid,
}

/// Any packet of the subset we speak, as decoded (borrowing the input) or to be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    Connect {
        client_id: &'a str,
        username: Option<&'a str>,
        password: Option<&'a [u8]>,
        keepalive_s: u16,
        clean_session: bool,
    },
    ConnAck {
        session_present: bool,
        code: u8,
    },
    Publish {
        dup: bool,
        qos: u8,
        retain: bool,
        topic: &'a str,
        pid: Option<u16>,
        payload: &'a [u8],
    },
    PubAck {
        pid: u16,
    },
    /// The first topic filter and its requested QoS (all filters are validated).
    Subscribe {
        pid: u16,
        topic: &'a str,
        qos: u8,
    },
    /// The first return code (all are validated).
    SubAck {
        pid: u16,
        code: u8,
    },
    /// The first topic filter (all are validated).
    Unsubscribe {
        pid: u16,
        topic: &'a str,
    },
    UnsubAck {
        pid: u16,
    },
    PingReq,
    PingResp,
    Disconnect,
}

/// A packet a broker sends (CONNACK, PUBLISH, PUBACK, SUBACK, UNSUBACK, PINGRESP) as one flat
/// record: what the session acts on, validated as strictly as by `decode`. While the packet is
/// incomplete, `first` is 0 and `len` its total length once the fixed header is complete (0
/// before).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Incoming<'a> {
    /// The fixed header's first byte: packet type (`kind`) and flags; 0 while incomplete.
    pub first: u8,
    /// The bytes the packet occupies (fixed header included).
    pub len: usize,
    /// CONNACK: the return code. SUBACK: the first return code (all are validated).
    pub code: u8,
    /// CONNACK: the session-present flag.
    pub session_present: bool,
    /// PUBACK, SUBACK, UNSUBACK and QoS > 0 PUBLISH: the packet id (never 0); otherwise 0.
    pub pid: u16,
    /// PUBLISH: the topic (non-empty, no wildcards); otherwise empty.
    pub topic: &'a str,
    /// PUBLISH: the payload; otherwise empty.
    pub payload: &'a [u8],
}

impl<'a> Incoming<'a> {
    /// Whether the whole packet is there (and valid).
    pub fn is_complete(&self) -> bool {
        self.first != 0
    }

    /// The packet type (`first >> 4`).
    pub fn kind(&self) -> u8 {
        self.first >> 4
    }

    /// PUBLISH: the QoS.
    pub fn qos(&self) -> u8 {
        (self.first >> 1) & 3
    }

    /// The same packet as `decode` gives.
    pub fn packet(self) -> Packet<'a> {
        let pid = self.pid;
        match self.kind() {
            2 => Packet::ConnAck {
                session_present: self.session_present,
                code: self.code,
            },
            3 => Packet::Publish {
                dup: self.first & 0x08 != 0,
                qos: self.qos(),
                retain: self.first & 0x01 != 0,
                topic: self.topic,
                pid: (pid != 0).then_some(pid),
                payload: self.payload,
            },
            4 => Packet::PubAck { pid },
            9 => Packet::SubAck {
                pid,
                code: self.code,
            },
            11 => Packet::UnsubAck { pid },
            _ => Packet::PingResp,
        }
    }
}

/// Checks the first byte (type and flags) so garbage is rejected before its length is trusted.
fn check_first(first: u8) -> Result<(), DecodeError> {
    let (kind, flags) = (first >> 4, first & 0x0f);
    let want = match kind {
        0 | 15 => return Err(DecodeError::BadHeader),
        3 => {
            let qos = flags >> 1 & 3;
            if qos == 3 || (qos == 0 && flags & 0x08 != 0) {
                return Err(DecodeError::BadQos);
            }
            flags
        }
        5..=7 => return Err(DecodeError::Unsupported),
        // SUBSCRIBE and UNSUBSCRIBE [MQTT-3.8.1-1], [MQTT-3.10.1-1].
        8 | 10 => 0x02,
        _ => 0,
    };
    if flags != want {
        return Err(DecodeError::BadHeader);
    }
    Ok(())
}

/// Parses the fixed header: (first byte, header length, remaining length), or None if incomplete.
/// Inlined: the firmware reads headers only through `decode_incoming`, and the tuple in a
/// `Result<Option<_>>` costs more to return than the parse itself.
#[inline(always)]
fn header(buf: &[u8]) -> Result<Option<(u8, usize, usize)>, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    check_first(first)?;
    let mut rem = 0usize;
    for i in 0..4 {
        let Some(&b) = buf.get(1 + i) else {
            return Ok(None);
        };
        rem |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(Some((first, 2 + i, rem)));
        }
    }
    Err(DecodeError::BadLength)
}

/// Total length (fixed header + body) of the packet starting at `buf[0]`, once the fixed header
/// is complete; `Ok(None)` while it is not. Lets a caller skip packets bigger than its buffer.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    Ok(header(buf)?.map(|(_, hl, rem)| hl + rem))
}

/// The complete packet at the start of `buf`: (first byte, body, total length). For `decode`.
fn frame(buf: &[u8]) -> Result<Option<(u8, Rd<'_>, usize)>, DecodeError> {
    let Some((first, hl, rem)) = header(buf)? else {
        return Ok(None);
    };
    let total = hl + rem;
    Ok(buf.get(hl..total).map(|body| (first, Rd(body), total)))
}

/// A topic name for PUBLISH: non-empty, no wildcards [MQTT-3.3.2-2], [MQTT-4.7.3-1], no U+0000.
fn valid_topic(t: &[u8]) -> bool {
    !t.is_empty() && !t.iter().any(|&c| matches!(c, 0 | b'+' | b'#'))
}

/// A UTF-8 string without U+0000 [MQTT-1.5.3-1], [MQTT-1.5.3-2].
fn text(b: &[u8]) -> Result<&str, DecodeError> {
    if has_byte(b, 0) {
        return Err(DecodeError::BadString);
    }
    crate::text::str_from_utf8(b).ok_or(DecodeError::BadString)
}

/// A packet id: never 0 [MQTT-2.3.1-1].
fn pid(hi: u8, lo: u8) -> Result<u16, DecodeError> {
    match u16::from_be_bytes([hi, lo]) {
        0 => Err(DecodeError::Malformed),
        p => Ok(p),
    }
}

/// A SUBACK return code: a granted QoS or failure.
fn suback_code(c: u8) -> bool {
    matches!(c, 0 | 1 | 2 | 0x80)
}

/// Cursor over a packet body; every read is bounds-checked.
struct Rd<'a>(&'a [u8]);

impl<'a> Rd<'a> {
    fn u8(&mut self) -> Result<u8, DecodeError> {
        let (&b, rest) = self.0.split_first().ok_or(DecodeError::Malformed)?;
        self.0 = rest;
        Ok(b)
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        let (b, rest) = self
            .0
            .split_first_chunk::<2>()
            .ok_or(DecodeError::Malformed)?;
        self.0 = rest;
        Ok(u16::from_be_bytes(*b))
    }
    fn pid(&mut self) -> Result<u16, DecodeError> {
        let [hi, lo] = self.u16()?.to_be_bytes();
        pid(hi, lo)
    }
    fn bin(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = usize::from(self.u16()?);
        let (b, rest) = self.0.split_at_checked(n).ok_or(DecodeError::Malformed)?;
        self.0 = rest;
        Ok(b)
    }
    fn str(&mut self) -> Result<&'a str, DecodeError> {
        text(self.bin()?)
    }
    /// A non-empty topic filter.
    fn filter(&mut self) -> Result<&'a str, DecodeError> {
        let s = self.str()?;
        if s.is_empty() {
            return Err(DecodeError::BadString);
        }
        Ok(s)
    }
    fn sub_entry(&mut self) -> Result<(&'a str, u8), DecodeError> {
        let t = self.filter()?;
        let q = self.u8()?;
        if q > 2 {
            return Err(DecodeError::Malformed);
        }
        Ok((t, q))
    }
    /// The body must be used up: trailing bytes are malformed.
    fn end(&self) -> Result<(), DecodeError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Malformed)
        }
    }
}

/// Decodes the packet a broker sends at the start of `buf` (what a client receives), or tells
/// how long it is while incomplete (see `Incoming`). A client packet there is an error
/// (`Unsupported`, or whatever is wrong with it first).
pub fn decode_incoming(buf: &[u8]) -> Result<Incoming<'_>, DecodeError> {
    let mut p = Incoming {
        first: 0,
        len: 0,
        code: 0,
        session_present: false,
        pid: 0,
        topic: "",
        payload: &[],
    };
    let Some((first, hl, rem)) = header(buf)? else {
        return Ok(p);
    };
    p.len = hl + rem;
    let Some(body) = buf.get(hl..p.len) else {
        return Ok(p);
    };
    // Each arm takes the whole body, so trailing bytes fail it.
    match (first >> 4, body) {
        (2, &[flags, code]) if flags <= 1 => {
            p.session_present = flags != 0;
            p.code = code;
        }
        (3, &[hi, lo, ref rest @ ..]) => {
            let n = usize::from(u16::from_be_bytes([hi, lo]));
            let (topic, rest) = rest.split_at_checked(n).ok_or(DecodeError::Malformed)?;
            if !valid_topic(topic) {
                return Err(DecodeError::BadString);
            }
            p.topic = crate::text::str_from_utf8(topic).ok_or(DecodeError::BadString)?;
            p.payload = rest;
            if first & 0x06 != 0 {
                let &[hi, lo, ref payload @ ..] = rest else {
                    return Err(DecodeError::Malformed);
                };
                p.pid = pid(hi, lo)?;
                p.payload = payload;
            }
        }
        (4 | 11, &[hi, lo]) => p.pid = pid(hi, lo)?,
        (9, &[hi, lo, code, ref more @ ..])
            if suback_code(code) && more.iter().all(|&c| suback_code(c)) =>
        {
            p.pid = pid(hi, lo)?;
            p.code = code;
        }
        (13, []) => {}
        (2 | 3 | 4 | 9 | 11 | 13, _) => return Err(DecodeError::Malformed),
        _ => return Err(DecodeError::Unsupported),
    }
    p.first = first;
    Ok(p)
}

fn decode_connect<'a>(r: &mut Rd<'a>) -> Result<Packet<'a>, DecodeError> {
    if r.bin()? != b"MQTT" || r.u8()? != 4 {
        return Err(DecodeError::Malformed);
    }
    let flags = r.u8()?;
    // Bit 0 is reserved; a password needs a username in 3.1.1 [MQTT-3.1.2-22].
    if flags & 0x01 != 0 || flags & 0xc0 == 0x40 {
        return Err(DecodeError::Malformed);
    }
    if flags & 0x3c != 0 {
        return Err(DecodeError::Unsupported);
    }
    let keepalive_s = r.u16()?;
    let client_id = r.str()?;
    let username = if flags & 0x80 != 0 {
        Some(r.str()?)
    } else {
        None
    };
    let password = if flags & 0x40 != 0 {
        Some(r.bin()?)
    } else {
        None
    };
    Ok(Packet::Connect {
        client_id,
        username,
        password,
        keepalive_s,
        clean_session: flags & 0x02 != 0,
    })
}

/// Decodes any packet of the subset at the start of `buf` (a broker's view; the firmware uses
/// `decode_incoming`): `Ok(None)` if more bytes are needed, otherwise the packet (borrowing
/// `buf`) and the number of bytes it occupies.
pub fn decode(buf: &[u8]) -> Result<Option<(Packet<'_>, usize)>, DecodeError> {
    let Some((first, mut r, total)) = frame(buf)? else {
        return Ok(None);
    };
    let pkt = match first >> 4 {
        1 => decode_connect(&mut r)?,
        8 => {
            let pid = r.pid()?;
            let (topic, qos) = r.sub_entry()?;
            while !r.0.is_empty() {
                r.sub_entry()?;
            }
            Packet::Subscribe { pid, topic, qos }
        }
        10 => {
            let pid = r.pid()?;
            let topic = r.filter()?;
            while !r.0.is_empty() {
                r.filter()?;
            }
            Packet::Unsubscribe { pid, topic }
        }
        12 => Packet::PingReq,
        14 => Packet::Disconnect,
        _ => {
            let p = decode_incoming(buf)?;
            return Ok(Some((p.packet(), p.len)));
        }
    };
    r.end()?;
    Ok(Some((pkt, total)))
}

/// Where `body` puts a packet body: with an empty `out` it only counts (the first pass, for the
/// Remaining Length), then it writes into exactly the room counted. Invalid arguments latch
/// `invalid` (every encoder error before the write is `Invalid`), so each step stays one call.
struct Body<'o> {
    out: &'o mut [u8],
    n: usize,
    invalid: bool,
}

impl Body<'_> {
    fn check(&mut self, ok: bool) {
        self.invalid |= !ok;
    }
    fn raw(&mut self, b: &[u8]) {
        copy_prefix(self.out.get_mut(self.n..).unwrap_or(&mut []), b);
        self.n = self.n.saturating_add(b.len());
    }
    /// Binary data after its 2-byte length; at most 65535 bytes.
    fn bin(&mut self, b: &[u8]) {
        self.check(b.len() <= 0xffff);
        self.raw(&(b.len() as u16).to_be_bytes());
        self.raw(b);
    }
    /// A string: as binary data, without U+0000 [MQTT-1.5.3-2].
    fn str(&mut self, s: &str) {
        self.check(!has_byte(s.as_bytes(), 0));
        self.bin(s.as_bytes());
    }
    /// A packet id: never 0 [MQTT-2.3.1-1].
    fn pid(&mut self, pid: u16) {
        self.check(pid != 0);
        self.raw(&pid.to_be_bytes());
    }
}

/// The fixed header for a body of `rem` bytes: the first byte, then the Remaining Length varint;
/// returns the header bytes and how many are used.
fn fixed_header(first: u8, rem: usize) -> Result<([u8; 5], usize), EncodeError> {
    if rem > MAX_REMAINING {
        return Err(EncodeError::Invalid);
    }
    let mut head = [first, 0, 0, 0, 0];
    let (mut n, mut rem) = (1, rem);
    loop {
        let b = (rem & 0x7f) as u8;
        rem >>= 7;
        if let Some(h) = head.get_mut(n) {
            *h = if rem != 0 { b | 0x80 } else { b };
        }
        n += 1;
        if rem == 0 {
            return Ok((head, n));
        }
    }
}

/// Checks a client packet and puts its body into `b`; returns the fixed header's first byte.
/// Runs twice per packet (count, then write), so it only reads `p`.
#[inline(never)]
fn body(p: &Packet<'_>, b: &mut Body<'_>) -> u8 {
    match *p {
        Packet::Connect {
            client_id,
            username,
            password,
            keepalive_s,
            clean_session,
        } => {
            // A password needs a username in 3.1.1 [MQTT-3.1.2-22].
            b.check(password.is_none() || username.is_some());
            let flags = u8::from(clean_session) << 1
                | u8::from(username.is_some()) << 7
                | u8::from(password.is_some()) << 6;
            b.raw(&[0, 4, b'M', b'Q', b'T', b'T', 4, flags]);
            b.raw(&keepalive_s.to_be_bytes());
            b.str(client_id);
            if let Some(u) = username {
                b.str(u);
            }
            if let Some(pw) = password {
                b.bin(pw);
            }
            0x10
        }
        Packet::Subscribe { pid, topic, qos } => {
            b.check(qos <= 1 && !topic.is_empty());
            b.pid(pid);
            b.str(topic);
            b.raw(&[qos]);
            0x82
        }
        Packet::Publish {
            dup,
            qos,
            retain,
            topic,
            pid,
            payload,
        } => {
            b.check(!retain && valid_topic(topic.as_bytes()));
            b.str(topic);
            match (qos, pid) {
                (0, None) => b.check(!dup),
                (1, Some(id)) => b.pid(id),
                _ => b.check(false),
            }
            b.raw(payload);
            0x30 | u8::from(dup) << 3 | qos << 1
        }
        Packet::PubAck { pid } => {
            b.pid(pid);
            0x40
        }
        Packet::PingReq => 0xc0,
        Packet::Disconnect => 0xe0,
        _ => {
            b.check(false);
            0
        }
    }
}

/// Encodes a packet a client sends into `out`; returns the bytes written. The subset: CONNECT
/// (MQTT 3.1.1, no will), SUBSCRIBE with one filter and QoS 0 or 1, PUBLISH QoS 0 (no pid, no
/// DUP) or 1 (non-zero pid) and never retained, PUBACK, PINGREQ, DISCONNECT; anything else is
/// `Invalid`, as are a password without a username, empty topics, wildcards in a PUBLISH topic,
/// U+0000 in a string and strings over 65535 bytes. Nothing is written before all is checked.
pub fn encode(out: &mut [u8], p: &Packet<'_>) -> Result<usize, EncodeError> {
    let mut count = Body {
        out: &mut [],
        n: 0,
        invalid: false,
    };
    let first = body(p, &mut count);
    if count.invalid {
        return Err(EncodeError::Invalid);
    }
    let (head, hl) = fixed_header(first, count.n)?;
    let total = hl + count.n;
    let out = out.get_mut(..total).ok_or(EncodeError::BufferTooSmall)?;
    copy_prefix(out, head.get(..hl).unwrap_or(&[]));
    let mut write = Body {
        out: out.get_mut(hl..).unwrap_or(&mut []),
        n: 0,
        invalid: false,
    };
    body(p, &mut write);
    Ok(total)
}

/// CONNECT (see `encode`).
pub fn encode_connect(
    out: &mut [u8],
    client_id: &str,
    username: Option<&str>,
    password: Option<&str>,
    keepalive_s: u16,
    clean_session: bool,
) -> Result<usize, EncodeError> {
    let p = Packet::Connect {
        client_id,
        username,
        password: password.map(str::as_bytes),
        keepalive_s,
        clean_session,
    };
    encode(out, &p)
}

/// SUBSCRIBE with one topic filter and requested QoS 0 or 1.
pub fn encode_subscribe(
    out: &mut [u8],
    pid: u16,
    topic: &str,
    qos: u8,
) -> Result<usize, EncodeError> {
    encode(out, &Packet::Subscribe { pid, topic, qos })
}

/// PUBLISH, QoS 0 (`pid` None, `dup` false) or QoS 1 (`pid` Some, non-zero); never retained.
pub fn encode_publish(
    out: &mut [u8],
    topic: &str,
    payload: &[u8],
    qos: u8,
    pid: Option<u16>,
    dup: bool,
) -> Result<usize, EncodeError> {
    let p = Packet::Publish {
        dup,
        qos,
        retain: false,
        topic,
        pid,
        payload,
    };
    encode(out, &p)
}

/// PUBACK for a received QoS 1 PUBLISH.
pub fn encode_puback(out: &mut [u8], pid: u16) -> Result<usize, EncodeError> {
    encode(out, &Packet::PubAck { pid })
}

pub fn encode_pingreq(out: &mut [u8]) -> Result<usize, EncodeError> {
    encode(out, &Packet::PingReq)
}

pub fn encode_disconnect(out: &mut [u8]) -> Result<usize, EncodeError> {
    encode(out, &Packet::Disconnect)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoders_refuse_nul_in_strings() {
        // MQTT-1.5.3-2; decode() already rejects these with BadString. Found by fuzz/mqtt_decode.
        let mut out = [0u8; 64];
        assert_eq!(
            encode_subscribe(&mut out, 0x2002, "\u{8}\0", 0),
            Err(EncodeError::Invalid)
        );
        assert_eq!(
            encode_publish(&mut out, "a\0b", b"x", 0, None, false),
            Err(EncodeError::Invalid)
        );
        assert_eq!(
            encode_connect(&mut out, "c\0", Some("u"), Some("p"), 60, true),
            Err(EncodeError::Invalid)
        );
        assert_eq!(
            encode_connect(&mut out, "c", Some("u\0"), Some("p"), 60, true),
            Err(EncodeError::Invalid)
        );
        assert!(
            encode_connect(&mut out, "c", Some("u"), Some("p\0"), 60, true).is_ok(),
            "the password is binary"
        );
    }

    /// `decode_incoming` agrees with `decode` and `frame_len` on any input: the same broker packet
    /// and length, the same error, `Unsupported` for a client packet, and while incomplete the
    /// total length once the fixed header is there.
    fn incoming_agrees(b: &[u8]) {
        let client = matches!(b.first().map(|f| f >> 4), Some(1 | 8 | 10 | 12 | 14));
        match (decode(b), decode_incoming(b)) {
            (Ok(Some((p, n))), Ok(i)) => {
                assert!(i.is_complete() && !client, "{b:02x?}");
                assert_eq!((i.packet(), i.len), (p, n));
            }
            (Ok(Some(_)), Err(DecodeError::Unsupported)) => assert!(client, "{b:02x?}"),
            (Ok(None), Ok(i)) => {
                assert!(!i.is_complete());
                assert_eq!(frame_len(b), Ok((i.len > 0).then_some(i.len)), "{b:02x?}");
            }
            (Err(e), Err(f)) => {
                assert!(
                    e == f || (client && f == DecodeError::Unsupported),
                    "{b:02x?}"
                )
            }
            (d, i) => panic!("{b:02x?}: decode {d:?}, decode_incoming {i:?}"),
        }
    }

    fn dec(b: &[u8]) -> Packet<'_> {
        incoming_agrees(b);
        match decode(b) {
            Ok(Some((p, n))) => {
                assert_eq!(n, b.len());
                p
            }
            other => panic!("decode {b:02x?}: {other:?}"),
        }
    }

    fn err(b: &[u8]) -> DecodeError {
        incoming_agrees(b);
        match decode(b) {
            Err(e) => e,
            other => panic!("expected error for {b:02x?}: {other:?}"),
        }
    }

    /// Every strict prefix of a valid packet asks for more bytes.
    fn prefixes_need_more(b: &[u8]) {
        for i in 0..b.len() {
            assert_eq!(decode(&b[..i]), Ok(None), "prefix {i} of {b:02x?}");
            incoming_agrees(&b[..i]);
        }
    }

    #[test]
    fn connect_known_bytes() {
        let mut out = [0u8; 64];
        let n = encode_connect(&mut out, "c", Some("u"), Some("p"), 60, true).unwrap();
        let want = [
            0x10, 19, 0, 4, b'M', b'Q', b'T', b'T', 4, 0xc2, 0, 60, 0, 1, b'c', 0, 1, b'u', 0, 1,
            b'p',
        ];
        assert_eq!(&out[..n], &want);
        prefixes_need_more(&want);
        assert_eq!(
            dec(&want),
            Packet::Connect {
                client_id: "c",
                username: Some("u"),
                password: Some(b"p"),
                keepalive_s: 60,
                clean_session: true
            }
        );
        // Username only (TLS-PSK), no clean session.
        let n = encode_connect(&mut out, "id", Some("user"), None, 900, false).unwrap();
        assert_eq!(
            &out[..n],
            &[
                0x10, 20, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x80, 0x03, 0x84, 0, 2, b'i', b'd', 0,
                4, b'u', b's', b'e', b'r'
            ]
        );
        let n = encode_connect(&mut out, "", None, None, 0, true).unwrap();
        assert_eq!(
            &out[..n],
            &[0x10, 12, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 0, 0, 0]
        );
    }

    #[test]
    fn connect_tencent_example_roundtrip() {
        let mut out = [0u8; 256];
        let cid = "ABCDEFGHIJdev001";
        let user = "ABCDEFGHIJdev001;12010126;Ab1Cd;2147483647";
        let pass = "e66ac1c8d0f75e9842745b3f4525e1805f2afc6d10dbd9618e64e59da4d17362;hmacsha256";
        let n = encode_connect(&mut out, cid, Some(user), Some(pass), 240, true).unwrap();
        let rem = 10 + 2 + cid.len() + 2 + user.len() + 2 + pass.len();
        assert!(rem >= 128);
        assert_eq!(
            &out[..3],
            &[0x10, (rem as u8 & 0x7f) | 0x80, (rem >> 7) as u8]
        );
        assert_eq!(n, 3 + rem);
        assert_eq!(
            dec(&out[..n]),
            Packet::Connect {
                client_id: cid,
                username: Some(user),
                password: Some(pass.as_bytes()),
                keepalive_s: 240,
                clean_session: true
            }
        );
        // Every shorter output buffer fails cleanly.
        for len in 0..n {
            assert_eq!(
                encode_connect(&mut out[..len], cid, Some(user), Some(pass), 240, true),
                Err(EncodeError::BufferTooSmall)
            );
        }
    }

    #[test]
    fn connect_invalid_args() {
        let mut out = [0u8; 64];
        assert_eq!(
            encode_connect(&mut out, "c", None, Some("p"), 60, true),
            Err(EncodeError::Invalid)
        );
        let long = [b'a'; 70000];
        let long = core::str::from_utf8(&long).unwrap();
        assert_eq!(
            encode_connect(&mut out, long, None, None, 60, true),
            Err(EncodeError::Invalid)
        );
    }

    #[test]
    fn connect_decode_malformed() {
        let good = [
            0x10u8, 19, 0, 4, b'M', b'Q', b'T', b'T', 4, 0xc2, 0, 60, 0, 1, b'c', 0, 1, b'u', 0, 1,
            b'p',
        ];
        let with = |i: usize, v: u8| {
            let mut b = good;
            b[i] = v;
            b
        };
        assert_eq!(err(&with(4, b'X')), DecodeError::Malformed); // protocol name
        assert_eq!(err(&with(8, 3)), DecodeError::Malformed); // level 3.1
        assert_eq!(err(&with(9, 0xc3)), DecodeError::Malformed); // reserved flag
        assert_eq!(err(&with(9, 0x42)), DecodeError::Malformed); // password without username
        assert_eq!(err(&with(9, 0xc6)), DecodeError::Unsupported); // will
        assert_eq!(err(&with(0, 0x11)), DecodeError::BadHeader);
        assert_eq!(err(&with(1, 18)), DecodeError::Malformed); // password runs past the end
        // Trailing byte inside the remaining length.
        let mut t = good.to_vec();
        t[1] = 20;
        t.push(0);
        assert_eq!(err(&t), DecodeError::Malformed);
    }

    #[test]
    fn connack() {
        assert_eq!(
            dec(&[0x20, 2, 0, 0]),
            Packet::ConnAck {
                session_present: false,
                code: 0
            }
        );
        assert_eq!(
            dec(&[0x20, 2, 1, 5]),
            Packet::ConnAck {
                session_present: true,
                code: 5
            }
        );
        prefixes_need_more(&[0x20, 2, 0, 0]);
        assert_eq!(err(&[0x20, 2, 2, 0]), DecodeError::Malformed);
        assert_eq!(err(&[0x20, 3, 0, 0, 0]), DecodeError::Malformed);
        assert_eq!(err(&[0x20, 1, 0]), DecodeError::Malformed);
        assert_eq!(err(&[0x21, 2, 0, 0]), DecodeError::BadHeader);
    }

    #[test]
    fn publish_qos0_and_qos1_known_bytes() {
        let mut out = [0u8; 64];
        let n = encode_publish(&mut out, "a/b", b"hi", 0, None, false).unwrap();
        let q0 = [0x30, 7, 0, 3, b'a', b'/', b'b', b'h', b'i'];
        assert_eq!(&out[..n], &q0);
        let n = encode_publish(&mut out, "a/b", b"hi", 1, Some(0x1234), false).unwrap();
        let q1 = [0x32, 9, 0, 3, b'a', b'/', b'b', 0x12, 0x34, b'h', b'i'];
        assert_eq!(&out[..n], &q1);
        let n = encode_publish(&mut out, "a/b", b"", 1, Some(7), true).unwrap();
        assert_eq!(&out[..n], &[0x3a, 7, 0, 3, b'a', b'/', b'b', 0, 7]);
        prefixes_need_more(&q1);
        assert_eq!(
            dec(&q0),
            Packet::Publish {
                dup: false,
                qos: 0,
                retain: false,
                topic: "a/b",
                pid: None,
                payload: b"hi"
            }
        );
        assert_eq!(
            dec(&q1),
            Packet::Publish {
                dup: false,
                qos: 1,
                retain: false,
                topic: "a/b",
                pid: Some(0x1234),
                payload: b"hi"
            }
        );
        // Retain is decoded (a broker may set it), DUP with QoS1 too.
        assert!(matches!(
            dec(&[0x3b, 5, 0, 1, b't', 0, 1]),
            Packet::Publish {
                dup: true,
                qos: 1,
                retain: true,
                pid: Some(1),
                ..
            }
        ));
    }

    #[test]
    fn publish_big_payload_two_byte_length() {
        let payload = [0x5au8; 200];
        let mut out = [0u8; 256];
        let n = encode_publish(&mut out, "t", &payload, 0, None, false).unwrap();
        assert_eq!(&out[..3], &[0x30, 0xcb, 0x01]); // 203 = 0x4b + 1*128
        assert_eq!(n, 206);
        assert_eq!(frame_len(&out[..2]), Ok(None));
        assert_eq!(frame_len(&out[..3]), Ok(Some(206)));
        assert!(matches!(dec(&out[..n]), Packet::Publish { payload: p, .. } if p == payload));
        assert_eq!(
            encode_publish(&mut out[..205], "t", &payload, 0, None, false),
            Err(EncodeError::BufferTooSmall)
        );
    }

    #[test]
    fn publish_invalid_args() {
        let mut out = [0u8; 64];
        let bad: [(&str, u8, Option<u16>, bool); 8] = [
            ("t", 0, Some(1), false),
            ("t", 0, None, true),
            ("t", 1, None, false),
            ("t", 1, Some(0), false),
            ("t", 2, Some(1), false),
            ("", 0, None, false),
            ("a/+", 0, None, false),
            ("#", 1, Some(1), false),
        ];
        for (t, q, p, d) in bad {
            assert_eq!(
                encode_publish(&mut out, t, b"x", q, p, d),
                Err(EncodeError::Invalid)
            );
        }
    }

    #[test]
    fn publish_decode_malformed() {
        assert_eq!(err(&[0x36, 5, 0, 1, b't', 0, 1]), DecodeError::BadQos); // QoS 3
        // QoS 2 is valid MQTT and decodes; the session refuses it (we never subscribe with it).
        assert!(matches!(
            dec(&[0x34, 5, 0, 1, b't', 0, 1]),
            Packet::Publish { qos: 2, .. }
        ));
        assert_eq!(err(&[0x38, 3, 0, 1, b't']), DecodeError::BadQos); // DUP on QoS 0
        assert_eq!(err(&[0x32, 5, 0, 1, b't', 0, 0]), DecodeError::Malformed); // pid 0
        assert_eq!(err(&[0x32, 4, 0, 1, b't', 0]), DecodeError::Malformed); // pid cut
        assert_eq!(err(&[0x30, 3, 0, 2, b't']), DecodeError::Malformed); // topic past end
        assert_eq!(err(&[0x30, 1, 0]), DecodeError::Malformed);
        assert_eq!(err(&[0x30, 0]), DecodeError::Malformed);
        assert_eq!(err(&[0x30, 2, 0, 0]), DecodeError::BadString); // empty topic
        assert_eq!(err(&[0x30, 4, 0, 2, 0xc3, 0x28]), DecodeError::BadString); // bad UTF-8
        assert_eq!(err(&[0x30, 3, 0, 1, 0]), DecodeError::BadString); // U+0000
        assert_eq!(err(&[0x30, 3, 0, 1, b'#']), DecodeError::BadString); // wildcard
        assert_eq!(err(&[0x30, 3, 0, 1, b'+']), DecodeError::BadString);
        // A valid multi-byte topic is fine.
        assert!(matches!(
            dec(&[0x30, 4, 0, 2, 0xc3, 0xa9]),
            Packet::Publish { topic: "é", .. }
        ));
    }

    #[test]
    fn puback_subscribe_suback_ping_disconnect() {
        let mut out = [0u8; 64];
        let n = encode_puback(&mut out, 0xabcd).unwrap();
        assert_eq!(&out[..n], &[0x40, 2, 0xab, 0xcd]);
        assert_eq!(dec(&out[..n]), Packet::PubAck { pid: 0xabcd });
        assert_eq!(encode_puback(&mut out, 0), Err(EncodeError::Invalid));
        assert_eq!(
            encode_puback(&mut out[..3], 1),
            Err(EncodeError::BufferTooSmall)
        );

        let n = encode_subscribe(&mut out, 10, "$ota/update/P/D", 1).unwrap();
        let mut want = vec![0x82, 20, 0, 10, 0, 15];
        want.extend_from_slice(b"$ota/update/P/D");
        want.push(1);
        assert_eq!(&out[..n], &want[..]);
        prefixes_need_more(&want);
        assert_eq!(
            dec(&want),
            Packet::Subscribe {
                pid: 10,
                topic: "$ota/update/P/D",
                qos: 1
            }
        );
        assert_eq!(
            encode_subscribe(&mut out, 0, "t", 1),
            Err(EncodeError::Invalid)
        );
        assert_eq!(
            encode_subscribe(&mut out, 1, "t", 2),
            Err(EncodeError::Invalid)
        );
        assert_eq!(
            encode_subscribe(&mut out, 1, "", 0),
            Err(EncodeError::Invalid)
        );
        assert_eq!(
            encode_subscribe(&mut out[..7], 1, "t", 0),
            Err(EncodeError::BufferTooSmall)
        );

        assert_eq!(
            dec(&[0x90, 3, 0, 10, 1]),
            Packet::SubAck { pid: 10, code: 1 }
        );
        assert_eq!(
            dec(&[0x90, 4, 0, 10, 0x80, 0]),
            Packet::SubAck {
                pid: 10,
                code: 0x80
            }
        );
        assert_eq!(dec(&[0xb0, 2, 0, 3]), Packet::UnsubAck { pid: 3 });
        assert_eq!(
            dec(&[0xa2, 5, 0, 3, 0, 1, b'x']),
            Packet::Unsubscribe { pid: 3, topic: "x" }
        );

        let n = encode_pingreq(&mut out).unwrap();
        assert_eq!(&out[..n], &[0xc0, 0]);
        assert_eq!(dec(&out[..n]), Packet::PingReq);
        assert_eq!(dec(&[0xd0, 0]), Packet::PingResp);
        let n = encode_disconnect(&mut out).unwrap();
        assert_eq!(&out[..n], &[0xe0, 0]);
        assert_eq!(dec(&out[..n]), Packet::Disconnect);
        assert_eq!(
            encode_pingreq(&mut out[..1]),
            Err(EncodeError::BufferTooSmall)
        );
        assert_eq!(encode_disconnect(&mut []), Err(EncodeError::BufferTooSmall));
    }

    #[test]
    fn small_packets_malformed() {
        for b in [
            &[0x90, 2, 0, 1][..],               // SUBACK without return code
            &[0x90, 3, 0, 1, 3],                // invalid return code
            &[0x90, 4, 0, 1, 0, 0x81],          // invalid second return code
            &[0x90, 3, 0, 0, 0],                // pid 0
            &[0x40, 2, 0, 0],                   // PUBACK pid 0
            &[0x40, 3, 0, 1, 0],                // PUBACK too long
            &[0x40, 1, 0],                      // PUBACK too short
            &[0xd0, 1, 0],                      // PINGRESP with body
            &[0xe0, 1, 0],                      // DISCONNECT with body
            &[0x82, 6, 0, 1, 0, 1, b't', 3],    // SUBSCRIBE QoS 3
            &[0x82, 2, 0, 1],                   // SUBSCRIBE without filter
            &[0x82, 7, 0, 1, 0, 1, b't', 0, 0], // trailing partial entry
            &[0xa2, 2, 0, 1],                   // UNSUBSCRIBE without filter
        ] {
            assert_eq!(err(b), DecodeError::Malformed, "{b:02x?}");
        }
        assert_eq!(err(&[0x82, 6, 0, 1, 0, 1, 0xff, 0]), DecodeError::BadString);
        assert_eq!(err(&[0x82, 5, 0, 1, 0, 0, 0]), DecodeError::BadString); // empty filter
    }

    #[test]
    fn header_flags() {
        for b in [
            0x00u8, 0xf0, 0x11, 0x28, 0x41, 0x80, 0x83, 0x92, 0xa0, 0xb1, 0xc1, 0xd8, 0xe4,
        ] {
            assert_eq!(err(&[b, 0]), DecodeError::BadHeader, "{b:02x}");
            assert_eq!(frame_len(&[b]), Err(DecodeError::BadHeader));
        }
        for b in [0x50u8, 0x62, 0x70] {
            assert_eq!(err(&[b, 2, 0, 1]), DecodeError::Unsupported);
        }
        assert_eq!(frame_len(&[0x36]), Err(DecodeError::BadQos));
    }

    #[test]
    fn remaining_length_varint() {
        let cases: [(&[u8], usize); 8] = [
            (&[0x00], 0),
            (&[0x7f], 127),
            (&[0x80, 0x01], 128),
            (&[0xff, 0x7f], 16_383),
            (&[0x80, 0x80, 0x01], 16_384),
            (&[0xff, 0xff, 0x7f], 2_097_151),
            (&[0x80, 0x80, 0x80, 0x01], 2_097_152),
            (&[0xff, 0xff, 0xff, 0x7f], 268_435_455),
        ];
        for (v, rem) in cases {
            let mut b = vec![0x30];
            b.extend_from_slice(v);
            assert_eq!(frame_len(&b), Ok(Some(1 + v.len() + rem)));
            assert_eq!(frame_len(&b[..b.len() - 1]), Ok(None));
            if rem > 0 {
                assert_eq!(decode(&b), Ok(None));
            }
            // The encoder produces the same varint.
            let (head, n) = fixed_header(0x30, rem).unwrap();
            assert_eq!(&head[..n], &b[..]);
        }
        assert_eq!(
            frame_len(&[0x30, 0x80, 0x80, 0x80, 0x80]),
            Err(DecodeError::BadLength)
        );
        assert_eq!(
            frame_len(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01]),
            Err(DecodeError::BadLength)
        );
        assert_eq!(frame_len(&[]), Ok(None));
        assert_eq!(
            fixed_header(0x30, MAX_REMAINING + 1),
            Err(EncodeError::Invalid)
        );
    }

    #[test]
    fn two_packets_back_to_back() {
        let b = [0x40, 2, 0, 1, 0xd0, 0, 0x20];
        let (p, n) = decode(&b).unwrap().unwrap();
        assert_eq!((p, n), (Packet::PubAck { pid: 1 }, 4));
        let (p, n) = decode(&b[4..]).unwrap().unwrap();
        assert_eq!((p, n), (Packet::PingResp, 2));
        assert_eq!(decode(&b[6..]), Ok(None));
    }

    /// Deterministic pseudo-random inputs: decode and frame_len never panic and agree.
    #[test]
    fn no_panic_on_garbage() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x = crate::num::xorshift64(x);
            x
        };
        let mut buf = [0u8; 40];
        for _ in 0..200_000 {
            let r = next();
            let len = (r % 41) as usize;
            for b in buf.iter_mut() {
                *b = next() as u8;
            }
            // Bias towards plausible headers so bodies get exercised.
            buf[0] = (buf[0] & 0xf0) | [0, 2, 0, 2, 0x0a, 0x0b][(r >> 8) as usize % 6] & 0x0f;
            buf[1] = (r >> 16) as u8 % 40;
            let input = &buf[..len];
            incoming_agrees(input);
            let d = decode(input);
            let f = frame_len(input);
            if let Ok(Some((_, n))) = d {
                assert_eq!(f, Ok(Some(n)));
                assert!(n <= len);
            }
            if f.is_err() {
                assert!(d.is_err());
            }
        }
        // Exhaustive over all 2-byte inputs and 3-byte inputs with a small body.
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                incoming_agrees(&[a, b]);
                incoming_agrees(&[a, 1, b]);
                incoming_agrees(&[a, 2, 0, b]);
            }
        }
    }

    /// Every byte of valid packets, flipped through all values: never a panic.
    #[test]
    fn mutate_every_byte() {
        let packets: [&[u8]; 4] = [
            &[
                0x10, 19, 0, 4, b'M', b'Q', b'T', b'T', 4, 0xc2, 0, 60, 0, 1, b'c', 0, 1, b'u', 0,
                1, b'p',
            ],
            &[0x32, 9, 0, 3, b'a', b'/', b'b', 0x12, 0x34, b'h', b'i'],
            &[0x82, 6, 0, 1, 0, 1, b't', 1],
            &[0x90, 4, 0, 10, 0x80, 0],
        ];
        for p in packets {
            let mut b = p.to_vec();
            for i in 0..b.len() {
                let orig = b[i];
                for v in 0..=255u8 {
                    b[i] = v;
                    incoming_agrees(&b);
                    let _ = frame_len(&b);
                }
                b[i] = orig;
            }
        }
    }

    #[test]
    fn encode_packet_roundtrip_and_refusals() {
        let mut out = [0u8; 64];
        // Client packets: encode(decode(x)) == x.
        let client: [&[u8]; 6] = [
            &[
                0x10, 19, 0, 4, b'M', b'Q', b'T', b'T', 4, 0xc2, 0, 60, 0, 1, b'c', 0, 1, b'u', 0,
                1, b'p',
            ],
            &[0x82, 6, 0, 1, 0, 1, b't', 1],
            &[0x3a, 7, 0, 3, b'a', b'/', b'b', 0, 7],
            &[0x40, 2, 0xab, 0xcd],
            &[0xc0, 0],
            &[0xe0, 0],
        ];
        for b in client {
            let n = encode(&mut out, &dec(b)).unwrap();
            assert_eq!(&out[..n], b);
        }
        // What a broker sends, and RETAIN, are not ours to encode.
        let refused = [
            Packet::ConnAck {
                session_present: false,
                code: 0,
            },
            Packet::SubAck { pid: 1, code: 0 },
            Packet::UnsubAck { pid: 1 },
            Packet::Unsubscribe { pid: 1, topic: "t" },
            Packet::PingResp,
            Packet::Publish {
                dup: false,
                qos: 0,
                retain: true,
                topic: "t",
                pid: None,
                payload: b"",
            },
        ];
        for p in refused {
            assert_eq!(encode(&mut out, &p), Err(EncodeError::Invalid), "{p:?}");
        }
        // A binary password may hold U+0000; checks come before the buffer size.
        let p = Packet::Connect {
            client_id: "c",
            username: Some("u"),
            password: Some(b"\0"),
            keepalive_s: 0,
            clean_session: true,
        };
        assert!(encode(&mut out, &p).is_ok());
        let bad = Packet::Subscribe {
            pid: 0,
            topic: "t",
            qos: 0,
        };
        assert_eq!(encode(&mut [], &bad), Err(EncodeError::Invalid));
    }

    #[test]
    fn incoming_reports_the_length_of_an_incomplete_packet() {
        let b = [0x30, 0x85, 0x01, 0, 1, b't'];
        // Header incomplete: no length yet; then 3 + 133.
        for (n, len) in [(0, 0), (1, 0), (2, 0), (3, 136), (6, 136)] {
            let i = decode_incoming(&b[..n]).unwrap();
            assert_eq!((i.is_complete(), i.len), (false, len), "{n}");
        }
        let i = decode_incoming(&[0x90, 4, 0, 10, 0x80, 0, 0xd0]).unwrap();
        assert_eq!((i.kind(), i.pid, i.code, i.len), (9, 10, 0x80, 6));
        let i = decode_incoming(&[0x32, 6, 0, 1, b't', 0, 9, b'x']).unwrap();
        assert_eq!((i.kind(), i.qos(), i.pid), (3, 1, 9));
        assert_eq!((i.topic, i.payload), ("t", &b"x"[..]));
        assert_eq!(decode_incoming(&[0xc0, 0]), Err(DecodeError::Unsupported));
        assert_eq!(
            decode_incoming(&[0x82, 1, 0]),
            Err(DecodeError::Unsupported)
        );
    }
}
