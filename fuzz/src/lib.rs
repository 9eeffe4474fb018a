//! The fuzz target bodies, shared by the cargo-fuzz targets (`fuzz/fuzz_targets/*.rs`, nightly)
//! and the smoke test `tests/fuzz_smoke.rs` (stable `cargo test`, which includes this file with
//! `#[path]`), so both run exactly the same checks.
//!
//! Every function takes arbitrary bytes and panics only on a bug: a panic inside the library, a
//! broken invariant or round trip (asserted here), or a state machine that stops making progress
//! (every loop below is bounded and asserts instead of spinning).
//!
//! This file may only use `std`, `qcloud_ota` and `httparse` (a dev-dependency of the root
//! package: the reference HTTP grammar), so that the root package's integration test can compile
//! it.

use qcloud_ota::http::body::{BodyDecoder, BodyError, Framing};
use qcloud_ota::http::download::{Download, DownloadEvent};
use qcloud_ota::http::request::write_get;
use qcloud_ota::http::response::{HeadError, MAX_HEADERS, parse_head};
use qcloud_ota::http::url::{self, Scheme, Url};
use qcloud_ota::journal::Record;
use qcloud_ota::mqtt::codec::{self, Packet};
use qcloud_ota::mqtt::session::{Session, SessionConfig, SessionEvent};
use qcloud_ota::protocol::{self, Message, Offer, Progress, Str, URL_MAX};

/// A target body: arbitrary bytes in, a panic on a bug.
pub type Target = fn(&[u8]);

/// Every target, by the name of its `fuzz/fuzz_targets/<name>.rs` and `fuzz/corpus/<name>/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("mqtt_decode", mqtt_decode),
    ("mqtt_session", mqtt_session),
    ("http_head", http_head),
    ("http_body", http_body),
    ("http_download", http_download),
    ("url", url),
    ("ota_json", ota_json),
    ("journal", journal),
    #[cfg(feature = "delta")]
    ("delta", delta),
];

/// SplitMix64: deterministic choices (chunk sizes, timing) derived from a few input bytes, so a
/// seed's tail can stay a plain byte stream (a real broker or server response).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform-ish in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    /// Read sizes as a socket delivers them: often tiny, sometimes large.
    fn chunk(&mut self) -> usize {
        match self.below(8) {
            0 | 1 => 1,
            2 => 2 + self.below(3),
            3 | 4 => 1 + self.below(64),
            5 => 1 + self.below(700),
            _ => usize::MAX,
        }
    }
}

/// `n` header bytes (missing ones read as 0) and the rest of the input.
fn split_header<const N: usize>(data: &[u8]) -> ([u8; N], &[u8]) {
    let mut h = [0u8; N];
    let n = data.len().min(N);
    h[..n].copy_from_slice(&data[..n]);
    (h, &data[n..])
}

/// Reads fields for structured inputs; exhausted input reads as zeros / empty.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }
    /// A length-prefixed (one byte) string, lossily made UTF-8.
    fn string(&mut self) -> String {
        let n = usize::from(self.u8());
        String::from_utf8_lossy(self.take(n)).into_owned()
    }
}

// ---------------------------------------------------------------- MQTT codec

/// `codec::decode`, `decode_incoming` and `frame_len` over a byte stream, packet after packet;
/// every decoded packet the client can encode is re-encoded and must decode to itself. Then the
/// same bytes, read as encoder arguments (`mqtt_encode`), must give a packet that decodes to
/// those arguments.
pub fn mqtt_decode(data: &[u8]) {
    let mut rest = data;
    for _ in 0..=data.len() {
        let d = codec::decode(rest);
        let f = codec::frame_len(rest);
        mqtt_incoming_agrees(rest, &d, &f);
        match (&d, &f) {
            (Ok(Some((p, n))), _) => {
                let n = *n;
                assert!(
                    n >= 2 && n <= rest.len(),
                    "decode length {n} of {}",
                    rest.len()
                );
                assert_eq!(f, Ok(Some(n)), "frame_len disagrees with decode");
                // A strict prefix of a complete packet is incomplete, never an error.
                for cut in [0, 1, n / 2, n - 1] {
                    assert_eq!(codec::decode(&rest[..cut]), Ok(None), "prefix {cut} of {n}");
                }
                mqtt_reencode(p);
                rest = &rest[n..];
            }
            (Ok(None), Ok(None)) => break,
            (Ok(None), Ok(Some(n))) => {
                assert!(*n > rest.len(), "decode wants more than frame_len {n}");
                break;
            }
            (Ok(None), Err(e)) => panic!("decode incomplete, frame_len {e:?}"),
            (Err(_), Ok(_)) => break,
            (Err(de), Err(fe)) => {
                assert_eq!(de, fe, "decode and frame_len reject differently");
                break;
            }
        }
    }
    mqtt_encode(data);
}

/// `decode_incoming` (what the session reads with) agrees with `decode` and `frame_len`: the same
/// broker packet and length, the same error, `Unsupported` for a client packet, and while
/// incomplete the total length once the fixed header is there.
fn mqtt_incoming_agrees(
    b: &[u8],
    d: &Result<Option<(Packet<'_>, usize)>, codec::DecodeError>,
    f: &Result<Option<usize>, codec::DecodeError>,
) {
    let client = matches!(b.first().map(|f| f >> 4), Some(1 | 8 | 10 | 12 | 14));
    match (d, codec::decode_incoming(b)) {
        (Ok(Some((p, n))), Ok(i)) => {
            assert!(
                i.is_complete() && !client,
                "decode_incoming took a client packet"
            );
            assert_eq!((i.packet(), i.len), (*p, *n), "decode_incoming != decode");
        }
        (Ok(Some(_)), Err(codec::DecodeError::Unsupported)) => {
            assert!(client, "decode_incoming refused a broker packet")
        }
        (Ok(None), Ok(i)) => {
            assert!(!i.is_complete());
            assert_eq!(*f, Ok((i.len > 0).then_some(i.len)), "incomplete length");
        }
        (Err(e), Err(g)) => assert!(
            *e == g || (client && g == codec::DecodeError::Unsupported),
            "decode {e:?}, decode_incoming {g:?}"
        ),
        (d, i) => panic!("decode {d:?}, decode_incoming {i:?}"),
    }
}

/// Encode what a client can send with the decoded fields; decoding it must give them back.
fn mqtt_reencode(p: &Packet<'_>) {
    let mut out = vec![0u8; 32 + packet_size_hint(p)];
    // The packet as it is: what a client sends encodes (RETAIN excepted) and decodes to itself.
    match codec::encode(&mut out, p) {
        Ok(n) => assert_eq!(
            codec::decode(&out[..n]),
            Ok(Some((*p, n))),
            "encode(&{p:?})"
        ),
        Err(e) => assert!(
            matches!(
                p,
                Packet::Publish { retain: true, .. }
                    | Packet::Publish { qos: 2, .. }
                    | Packet::Subscribe { qos: 2, .. }
                    | Packet::ConnAck { .. }
                    | Packet::SubAck { .. }
                    | Packet::Unsubscribe { .. }
                    | Packet::UnsubAck { .. }
                    | Packet::PingResp
            ),
            "encode(&{p:?}): {e:?}"
        ),
    }
    let r = match *p {
        Packet::Connect {
            client_id,
            username,
            password,
            keepalive_s,
            clean_session,
        } => {
            let Ok(pw) = password.map(core::str::from_utf8).transpose() else {
                return; // binary password: the encoder takes &str
            };
            codec::encode_connect(
                &mut out,
                client_id,
                username,
                pw,
                keepalive_s,
                clean_session,
            )
        }
        Packet::Publish {
            dup,
            qos,
            topic,
            pid,
            payload,
            ..
        } if qos <= 1 => codec::encode_publish(&mut out, topic, payload, qos, pid, dup),
        Packet::PubAck { pid } => codec::encode_puback(&mut out, pid),
        Packet::Subscribe { pid, topic, qos } if qos <= 1 => {
            codec::encode_subscribe(&mut out, pid, topic, qos)
        }
        Packet::PingReq => codec::encode_pingreq(&mut out),
        Packet::Disconnect => codec::encode_disconnect(&mut out),
        _ => return,
    };
    let n = r.unwrap_or_else(|e| panic!("re-encoding decoded {p:?}: {e:?}"));
    let want = match *p {
        // The client never sets RETAIN.
        Packet::Publish { retain: true, .. } => {
            let mut q = *p;
            if let Packet::Publish { retain, .. } = &mut q {
                *retain = false;
            }
            q
        }
        q => q,
    };
    match codec::decode(&out[..n]) {
        Ok(Some((q, m))) => {
            assert_eq!(m, n, "re-encoded length");
            assert_eq!(q, want, "decode(encode(decode(x)))");
        }
        other => panic!("re-encoded {p:?} decodes as {other:?}"),
    }
}

fn packet_size_hint(p: &Packet<'_>) -> usize {
    match *p {
        Packet::Connect {
            client_id,
            username,
            password,
            ..
        } => client_id.len() + username.map_or(0, str::len) + password.map_or(0, <[u8]>::len),
        Packet::Publish { topic, payload, .. } => topic.len() + payload.len(),
        Packet::Subscribe { topic, .. } => topic.len(),
        _ => 0,
    }
}

/// Encoder arguments from the bytes; whatever the encoder accepts must decode to them.
fn mqtt_encode(data: &[u8]) {
    let mut b = Bytes(data);
    let kind = b.u8();
    let mut out = vec![0u8; 600];
    let len = usize::from(b.u16()) % 700; // sometimes larger than `out`
    let out = &mut out[..len.min(600)];
    match kind % 5 {
        0 => {
            let (flags, keepalive_s) = (b.u8(), b.u16());
            let client_id = b.string();
            let username = (flags & 1 != 0).then(|| b.string());
            let password = (flags & 2 != 0).then(|| b.string());
            let clean = flags & 4 != 0;
            let r = codec::encode_connect(
                out,
                &client_id,
                username.as_deref(),
                password.as_deref(),
                keepalive_s,
                clean,
            );
            if let Ok(n) = r {
                let want = Packet::Connect {
                    client_id: &client_id,
                    username: username.as_deref(),
                    password: password.as_deref().map(str::as_bytes),
                    keepalive_s,
                    clean_session: clean,
                };
                expect_decodes(&out[..n], want);
            }
        }
        1 => {
            let (flags, pid) = (b.u8(), b.u16());
            let qos = flags & 3;
            let dup = flags & 4 != 0;
            let pid = (flags & 8 != 0).then_some(pid);
            let topic = b.string();
            let payload = b.0;
            if let Ok(n) = codec::encode_publish(out, &topic, payload, qos, pid, dup) {
                let want = Packet::Publish {
                    dup,
                    qos,
                    retain: false,
                    topic: &topic,
                    pid,
                    payload,
                };
                expect_decodes(&out[..n], want);
            }
        }
        2 => {
            let (qos, pid) = (b.u8() % 4, b.u16());
            let topic = b.string();
            if let Ok(n) = codec::encode_subscribe(out, pid, &topic, qos) {
                let want = Packet::Subscribe {
                    pid,
                    topic: &topic,
                    qos,
                };
                expect_decodes(&out[..n], want);
            }
        }
        3 => {
            let pid = b.u16();
            if let Ok(n) = codec::encode_puback(out, pid) {
                expect_decodes(&out[..n], Packet::PubAck { pid });
            }
        }
        _ => {
            if let Ok(n) = codec::encode_pingreq(out) {
                expect_decodes(&out[..n], Packet::PingReq);
            }
            if let Ok(n) = codec::encode_disconnect(out) {
                expect_decodes(&out[..n], Packet::Disconnect);
            }
        }
    }
}

/// Whatever an encoder accepts must decode to exactly what was encoded (the encoders refuse
/// U+0000 in strings, which `decode` would reject [MQTT-1.5.3-2]).
fn expect_decodes(bytes: &[u8], want: Packet<'_>) {
    match codec::decode(bytes) {
        Ok(Some((p, n))) => {
            assert_eq!(n, bytes.len(), "encoded {want:?}: decoded length");
            assert_eq!(p, want, "decode(encode(x)) != x");
        }
        other => panic!("encoded {want:?} as {bytes:02x?}, which decodes as {other:?}"),
    }
}

// ---------------------------------------------------------------- MQTT session

const CLIENT_ID: &str = "ABCDEFGHIJdev1";
const USERNAME: &str = "ABCDEFGHIJdev1;12010126;4VX2Q;4102444800";
const PASSWORD: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c;hmacsha1";
const UPDATE_TOPIC: &str = "$ota/update/ABCDEFGHIJ/dev1";
const REPORT_TOPIC: &str = "$ota/report/ABCDEFGHIJ/dev1";

/// A session after CONNECT, fed the input as the broker's bytes in arbitrary read sizes, with
/// time jumps, reconnects, subscribes and QoS 1 publishes driven by the first 4 bytes.
///
/// Header: `[rx size, tx size, timing flags, rng seed]`, then the broker's byte stream.
pub fn mqtt_session(data: &[u8]) {
    let (h, mut stream) = split_header::<4>(data);
    let rx_len = if h[0] < 32 {
        usize::from(h[0]) + 1
    } else {
        64 + (usize::from(h[0]) - 32) * 4
    };
    let tx_len = 128 + usize::from(h[1]) * 2;
    let cfg = SessionConfig {
        client_id: CLIENT_ID,
        username: USERNAME,
        password: PASSWORD,
        keepalive_s: [0, 1, 60, 240][usize::from(h[2] & 3)],
        ack_timeout_ms: [0, 1, 1000, 5000][usize::from((h[2] >> 2) & 3)],
    };
    let mut now: u64 = if h[2] & 0x10 != 0 {
        u64::MAX - 20_000
    } else {
        0
    };
    let mut rng = Rng::new(u64::from_le_bytes([h[3], h[2], h[1], h[0], 0, 0, 0, 1]));

    let (mut rx, mut tx) = (vec![0u8; rx_len], vec![0u8; tx_len]);
    let mut s = Session::new(&mut rx, &mut tx);
    if s.connect(now, &cfg).is_err() {
        return;
    }
    // Everything the session sent since the last (re)connect.
    let mut wire: Vec<u8> = Vec::new();
    let mut closed = false;
    let mut reconnects = 0;
    // Our QoS 1 publishes awaiting PUBACK.
    let mut outstanding: Vec<u16> = Vec::new();

    // Each round feeds at least one byte, or reconnects (bounded), or ends.
    let max_rounds = 2 * data.len() + 64;
    for _round in 0..max_rounds {
        // Send some or all of tx.
        let pending = s.tx_pending().len();
        if pending > 0 && rng.below(4) != 0 {
            let n = pending.min(rng.chunk());
            wire.extend_from_slice(&s.tx_pending()[..n]);
            s.tx_consumed(n, now);
        }
        match rng.below(16) {
            0 => now = now.saturating_add(rng.below(2000) as u64),
            1 => now = now.saturating_add(rng.below(400_000) as u64),
            _ => {}
        }
        let events = drain_session(&mut s, now, &mut rng, &mut outstanding, rx_len);
        closed |= events.closed;

        if closed {
            check_client_wire(&wire);
            if stream.is_empty() || reconnects >= 4 || rng.below(2) == 0 {
                return;
            }
            reconnects += 1;
            wire.clear();
            outstanding.clear();
            closed = false;
            if s.connect(now, &cfg).is_err() {
                return;
            }
            continue;
        }
        if stream.is_empty() {
            break;
        }
        let mut space_len = s.rx_space().len();
        if space_len == 0 {
            // rx is full: sending everything and polling must free space (or end the session).
            wire.extend_from_slice(s.tx_pending());
            let n = s.tx_pending().len();
            s.tx_consumed(n, now);
            let events = drain_session(&mut s, now, &mut rng, &mut outstanding, rx_len);
            if events.closed {
                closed = true;
                continue;
            }
            space_len = s.rx_space().len();
            assert!(space_len > 0, "session stuck: rx full, tx sent, no event");
        }
        let n = space_len.min(stream.len()).min(rng.chunk());
        s.rx_space()[..n].copy_from_slice(&stream[..n]);
        s.rx_filled(n, now);
        stream = &stream[n..];
    }
    assert!(stream.is_empty() || closed, "session loop did not finish");
    // Let every timer fire.
    for _ in 0..4 {
        now = now.saturating_add(1_000_000);
        wire.extend_from_slice(s.tx_pending());
        let n = s.tx_pending().len();
        s.tx_consumed(n, now);
        if drain_session(&mut s, now, &mut rng, &mut outstanding, rx_len).closed {
            break;
        }
    }
    s.disconnect();
    wire.extend_from_slice(s.tx_pending());
    check_client_wire(&wire);
}

struct Drained {
    closed: bool,
}

/// `poll_event` until None, acting on events like a client would. Bounded: each event consumes
/// a packet from rx or reports a timer once.
fn drain_session(
    s: &mut Session<'_>,
    now: u64,
    rng: &mut Rng,
    outstanding: &mut Vec<u16>,
    rx_len: usize,
) -> Drained {
    let mut closed = false;
    let mut n = 0;
    let bound = rx_len + 64;
    loop {
        n += 1;
        assert!(
            n <= bound,
            "event storm: more than {bound} events from one poll loop"
        );
        let Some(ev) = s.poll_event(now) else { break };
        let mut reply = false;
        match ev {
            SessionEvent::Connected => {
                let _ = s.subscribe(UPDATE_TOPIC, 1);
            }
            SessionEvent::Refused(code) => {
                assert_ne!(code, 0, "Refused(0)");
                closed = true;
            }
            SessionEvent::Dead => closed = true,
            SessionEvent::Subscribed { .. } => reply = true,
            SessionEvent::Message { topic, payload } => {
                assert!(!topic.is_empty() && !topic.contains(['+', '#', '\0']));
                // What the client does with it: the OTA parser sees broker bytes too.
                ota_json(payload);
                reply = true;
            }
            SessionEvent::Acked { pid } => {
                let i = outstanding.iter().position(|&p| p == pid);
                let i = i.unwrap_or_else(|| panic!("Acked({pid}) not outstanding"));
                outstanding.swap_remove(i);
            }
            SessionEvent::AckTimeout { pid } => {
                assert!(
                    outstanding.contains(&pid),
                    "AckTimeout({pid}) not outstanding"
                );
                if rng.below(2) == 0 {
                    s.forget(pid);
                    outstanding.retain(|&p| p != pid);
                } else {
                    let _ = s.publish(now, REPORT_TOPIC, b"{}", 1, Some(pid));
                }
            }
            SessionEvent::Oversize { len } => assert!(len > rx_len, "Oversize({len})"),
        }
        if reply && s.is_connected() && rng.below(2) == 0 {
            let qos = rng.below(2) as u8;
            let payload = br#"{"type":"report_version","report":{"version":"1.0.0"}}"#;
            if let Ok(Some(pid)) = s.publish(now, REPORT_TOPIC, payload, qos, None) {
                assert!(pid != 0 && !outstanding.contains(&pid), "pid {pid} reused");
                outstanding.push(pid);
            }
        }
    }
    // After None, polling again at the same time is quiet unless poll_at() says work is due.
    if !closed && s.poll_at().is_none_or(|t| t > now) {
        let at = s.poll_at();
        if let Some(ev) = s.poll_event(now) {
            panic!("poll_event after None (poll_at {at:?}, now {now}): {ev:?}");
        }
    }
    Drained { closed }
}

/// What the session sent must be a sequence of valid client packets (the last may be cut off by
/// a reconnect or the end of the run).
fn check_client_wire(wire: &[u8]) {
    let mut rest = wire;
    while !rest.is_empty() {
        match codec::decode(rest) {
            Ok(Some((p, n))) => {
                assert!(
                    matches!(
                        p,
                        Packet::Connect { .. }
                            | Packet::Subscribe { .. }
                            | Packet::Publish { .. }
                            | Packet::PubAck { .. }
                            | Packet::PingReq
                            | Packet::Disconnect
                    ),
                    "session sent {p:?}"
                );
                rest = &rest[n..];
            }
            Ok(None) => return,
            Err(e) => panic!("session sent an invalid packet ({e:?}): {rest:02x?}"),
        }
    }
}

// ---------------------------------------------------------------- HTTP

/// `parse_head` on arbitrary bytes: it accepts, waits for and rejects exactly what httparse does
/// (in its default configuration), the documented guarantees of a parsed head hold, and the head
/// is the same whether more bytes follow it or not.
pub fn http_head(data: &[u8]) {
    let ours = parse_head(data);
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut reference = httparse::Response::new(&mut headers);
    match (reference.parse(data), &ours) {
        (Ok(httparse::Status::Partial), Ok(None))
        | (Err(httparse::Error::TooManyHeaders), Err(HeadError::TooManyHeaders)) => {}
        (Err(_), Err(HeadError::Malformed)) => {}
        (Ok(httparse::Status::Complete(n)), Ok(Some((h, len)))) => {
            assert_eq!((*len, Some(h.status)), (n, reference.code))
        }
        // A well-formed head whose header values we refuse.
        (Ok(httparse::Status::Complete(_)), Err(e)) => {
            assert!(!matches!(
                e,
                HeadError::Malformed | HeadError::TooManyHeaders
            ))
        }
        (theirs, ours) => panic!("httparse says {theirs:?}, parse_head {ours:?}"),
    }
    let Ok(Some((h, n))) = ours else {
        return;
    };
    assert!(n > 0 && n <= data.len());
    assert!(h.status <= 999, "status {}", h.status);
    if h.chunked {
        assert_eq!(h.content_length, None, "chunked with a Content-Length");
    }
    if let Some(cr) = h.content_range {
        assert!(cr.start <= cr.end, "{cr:?}");
        assert!(cr.total.is_none_or(|t| cr.end < t), "{cr:?}");
        assert_eq!(cr.len(), cr.end - cr.start + 1, "{cr:?}");
    }
    assert!(h.etag.is_none_or(|e| !e.is_empty()));
    assert!(h.location.is_none_or(|l| !l.is_empty()));
    match parse_head(&data[..n]) {
        Ok(Some((h2, n2))) => {
            assert_eq!(n2, n);
            assert_eq!(h2, h, "head differs without the body bytes");
        }
        other => panic!("the head alone parses as {other:?}"),
    }
    for cut in [n - 1, n / 2] {
        if let Err(e) = parse_head(&data[..cut]) {
            panic!("prefix {cut} of a {n}-byte head is an error: {e:?}");
        }
    }
}

/// Output of one body decoding run: body bytes, then Ok(done, unconsumed) or the error.
type BodyRun = (Vec<u8>, Result<(bool, usize), BodyError>);

/// Decode `body` fed in `pieces`, keeping unconsumed bytes like a caller's buffer would.
fn body_run(framing: Framing, body: &[u8], pieces: &[usize]) -> BodyRun {
    let mut d = BodyDecoder::new(framing);
    let mut out = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut pos = 0;
    for &p in pieces.iter().chain([usize::MAX].iter()) {
        let take = p.min(body.len() - pos);
        pending.extend_from_slice(&body[pos..pos + take]);
        pos += take;
        // Each call with n > 0 consumes input, so this is bounded by its length.
        for _ in 0..=pending.len() + 1 {
            let (n, data) = match d.decode(&pending) {
                Ok(r) => r,
                Err(e) => return (out, Err(e)),
            };
            assert!(n <= pending.len(), "consumed {n} of {}", pending.len());
            assert!(data.len() <= n, "data {} beyond consumed {n}", data.len());
            if !data.is_empty() {
                // Zero copy: the data is inside the consumed part of the input.
                let off = data.as_ptr() as usize - pending.as_ptr() as usize;
                assert!(off + data.len() <= n);
            }
            out.extend_from_slice(data);
            pending.drain(..n);
            if n == 0 {
                break;
            }
        }
        if pos == body.len() {
            break;
        }
    }
    // Nothing is left that the decoder would still take.
    if let Ok((n, _)) = d.decode(&pending) {
        assert!(
            n == 0 || d.is_done(),
            "decoder stopped with input it accepts"
        );
    }
    (out, Ok((d.is_done(), pending.len())))
}

/// `BodyDecoder` over a body split at input-chosen points: the result must not depend on the
/// split. Header: `[framing, len hi, len lo, split seed]`.
pub fn http_body(data: &[u8]) {
    let (h, body) = split_header::<4>(data);
    let len = u64::from(u16::from_be_bytes([h[1], h[2]]));
    let framing = match h[0] {
        0..=0x9f => Framing::Chunked,
        0xa0..=0xdd => Framing::Length(len),
        0xde => Framing::Length(u64::MAX - len),
        _ => Framing::UntilClose,
    };
    let whole = body_run(framing, body, &[]);
    let mut rng = Rng::new(u64::from(h[3]) | 0x100);
    let mut pieces = Vec::new();
    let mut total = 0usize;
    while total < body.len() {
        let c = rng.chunk().min(body.len() - total);
        pieces.push(c);
        total += c;
    }
    let split = body_run(framing, body, &pieces);
    let bytewise = body_run(framing, body, &vec![1; body.len()]);
    assert_eq!(split, whole, "split {pieces:?} changes the result");
    assert_eq!(bytewise, whole, "byte-by-byte changes the result");

    let (out, res) = whole;
    match framing {
        Framing::Length(n) => {
            let got = (body.len() as u64).min(n);
            assert_eq!(out.len() as u64, got);
            assert_eq!(out, body[..got as usize]);
            assert_eq!(res, Ok((got == n, body.len() - got as usize)));
        }
        Framing::UntilClose => {
            assert_eq!(out, body);
            assert_eq!(res, Ok((false, 0)));
        }
        Framing::Chunked => {
            assert!(out.len() <= body.len());
            if let Ok((done, left)) = res {
                assert!(done || left == 0, "stopped early without being done");
            }
        }
    }
    // EOF after everything: only UntilClose or a finished body end cleanly.
    let mut d = BodyDecoder::new(framing);
    let mut rest = body;
    for _ in 0..=body.len() + 1 {
        match d.decode(rest) {
            Ok((n, _)) if n > 0 => rest = &rest[n..],
            _ => break,
        }
    }
    let done = d.is_done();
    let eof = d.on_eof();
    if done || framing == Framing::UntilClose {
        assert_eq!(eof, Ok(()));
        assert!(d.is_done());
    } else {
        assert_eq!(eof, Err(BodyError::Truncated));
    }
}

const DL_URLS: [&str; 4] = [
    "http://ota-1255858890.cos.ap-guangzhou.myqcloud.com/fw/1.3.0.bin?sign=q-sign-algorithm%3Dsha1",
    "https://examplebucket-12500000000.cos.ap-guangzhou.myqcloud.com/path/to/firmware?sign=x",
    "http://127.0.0.1:8080/fw.bin",
    "http://[::1]:8443/f",
];

/// A `Download` after `start`, fed the input as the server's response in arbitrary read sizes;
/// a kept-alive connection is reused for another request with the rest of the bytes.
///
/// Header: `[buffer size, range start, range length, rng seed]`, then the response bytes. Range
/// start 0 means no Range; otherwise `bytes=(s-1)*1024-(s-1)*1024+(l+1)*64-1`.
pub fn http_download(data: &[u8]) {
    let (h, mut stream) = split_header::<4>(data);
    let buf_len = 160 + usize::from(h[0]) * 8;
    let mut rng = Rng::new(u64::from_le_bytes([h[3], h[2], h[1], h[0], 0, 0, 1, 0]));
    let url = url::parse(DL_URLS[rng.below(DL_URLS.len())]).expect("fixed URL");
    let mut range = (h[1] != 0).then(|| {
        let first = (u64::from(h[1]) - 1) * 1024;
        (first, first + (u64::from(h[2]) + 1) * 64 - 1)
    });
    let mut buf = vec![0u8; buf_len];
    let mut dl = Download::new(&mut buf);
    let etag = ["\"e1\"", "\"5d41402abc4b2a76b9719d911017c592\""][rng.below(2)];
    let if_range = (rng.below(3) == 0).then_some(etag);
    if dl.start(&url, range, if_range).is_err() {
        return; // the request does not fit this buffer
    }

    for _request in 0..8 {
        // Send the request in pieces; nothing can be received meanwhile.
        let mut request = Vec::new();
        for _ in 0..buf_len + 1 {
            let pending = dl.tx_pending().len();
            if pending == 0 {
                break;
            }
            assert!(dl.rx_space().is_empty(), "rx space while sending");
            let n = pending.min(rng.chunk());
            request.extend_from_slice(&dl.tx_pending()[..n]);
            dl.tx_consumed(n);
        }
        assert!(dl.tx_pending().is_empty(), "request never finished sending");
        check_request(&request, &url, range);

        let mut status: Option<u16> = None;
        let mut expect_len: Option<u64> = None;
        let mut got: u64 = 0;
        let mut ended = false;
        let mut eof = false;
        let rounds = 2 * stream.len() + 8;
        for _ in 0..rounds {
            // Poll until None; each Some consumes input or ends the response.
            for k in 0.. {
                assert!(k <= buf_len + 8, "download event storm");
                let Some(ev) = dl.poll_event() else { break };
                assert!(!ended, "event after Done/Error: {ev:?}");
                match ev {
                    DownloadEvent::Head(hd) => {
                        assert!(status.is_none(), "second head");
                        assert!(!(100..200).contains(&hd.status), "1xx head reported");
                        // Whether a 206 answers `range` is the engine's one check
                        // (`Engine::on_head`); here it is delivered like a 200, its body framed
                        // by its own head (checked at Done), and a Content-Range it carries is
                        // a well-formed one.
                        if let Some(cr) = hd.content_range.filter(|_| hd.status == 206) {
                            assert!(cr.start <= cr.end, "{cr:?}");
                        }
                        if matches!(hd.status, 200 | 206) && !hd.chunked {
                            expect_len = hd.content_length;
                        }
                        status = Some(hd.status);
                    }
                    DownloadEvent::Data(d) => {
                        assert!(!d.is_empty(), "empty Data");
                        assert!(matches!(status, Some(200 | 206)), "Data for {status:?}");
                        got += d.len() as u64;
                    }
                    DownloadEvent::Done => {
                        assert!(status.is_some(), "Done without a head");
                        if let Some(n) = expect_len {
                            assert_eq!(got, n, "Done after {got} of {n} bytes");
                        }
                        ended = true;
                    }
                    DownloadEvent::Error(_) => ended = true,
                }
            }
            if ended || eof {
                break;
            }
            if stream.is_empty() {
                dl.on_eof();
                eof = true;
                continue;
            }
            let space = dl.rx_space();
            assert!(!space.is_empty(), "download stuck: no rx space, no event");
            let n = space.len().min(stream.len()).min(rng.chunk());
            space[..n].copy_from_slice(&stream[..n]);
            dl.rx_filled(n);
            stream = &stream[n..];
        }
        assert!(ended, "response neither done nor failed after EOF");
        assert!(dl.poll_event().is_none(), "event after the end");
        if !dl.reusable() || stream.is_empty() {
            return;
        }
        // Keep-alive: the next request on the same connection, with the remaining bytes.
        range = range.map(|(a, b)| (b + 1, b + 1 + (b - a)));
        dl.start(&url, range, None)
            .expect("start on a reusable connection");
    }
}

/// The request bytes parse as HTTP and ask for the URL and Range given.
fn check_request(req: &[u8], u: &Url<'_>, range: Option<(u64, u64)>) {
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut r = httparse::Request::new(&mut headers);
    match r.parse(req) {
        Ok(httparse::Status::Complete(n)) => assert_eq!(n, req.len(), "bytes after the request"),
        other => panic!(
            "request {:?} parses as {other:?}",
            String::from_utf8_lossy(req)
        ),
    }
    assert_eq!(r.method, Some("GET"));
    let path = r.path.unwrap_or_default();
    assert!(path.starts_with('/') && path.is_ascii(), "target {path:?}");
    let host = r
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("host"));
    let host = core::str::from_utf8(host.expect("no Host").value).expect("Host not UTF-8");
    let want_host = match (u.host_is_ipv6(), u.port_is_default()) {
        (false, true) => u.host.to_string(),
        (false, false) => format!("{}:{}", u.host, u.port),
        (true, true) => format!("[{}]", u.host),
        (true, false) => format!("[{}]:{}", u.host, u.port),
    };
    assert_eq!(host, want_host);
    let rh = r
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("range"));
    match range {
        Some((a, b)) => assert_eq!(
            rh.map(|h| h.value),
            Some(format!("bytes={a}-{b}").as_bytes())
        ),
        None => assert!(rh.is_none()),
    }
}

/// `url::parse`, the request written for it, and `resolve` of a redirect. Input: base URL, then
/// optionally `\n` and a `Location` value.
pub fn url(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (base, loc) = match text.split_once('\n') {
        Some((b, l)) => (b, Some(l)),
        None => (&*text, None),
    };
    let Ok(u) = url::parse(base) else { return };
    check_url(&u);
    // Printing it back gives the same URL.
    let printed = print_url(&u);
    assert_eq!(url::parse(&printed), Ok(u), "reparsing {printed:?}");
    check_write(&u);
    let mut out = [0u8; 2048];
    let n = data.len() as u64;
    let range = (!n.is_multiple_of(3)).then_some((n, n * 1000 + 7));
    if let Ok(len) = write_get(&mut out, &u, range, Some("\"etag-1\"")) {
        check_request(&out[..len], &u, range);
    }
    if let Some(loc) = loc
        && let Ok(t) = url::resolve(&u, loc)
    {
        check_url(&t);
        check_write(&t);
        assert!(
            !(u.scheme == Scheme::Https && t.scheme == Scheme::Http),
            "https redirected to http"
        );
    }
}

fn check_url(u: &Url<'_>) {
    assert!(!u.host.is_empty(), "{u:?}");
    assert!(
        !u.host.bytes().any(|b| b"/?#@ \r\n[]".contains(&b)),
        "{u:?}"
    );
    assert_ne!(u.port, 0, "{u:?}");
    assert!(u.path.starts_with('/') || u.path.starts_with('?'), "{u:?}");
    assert!(
        !u.path.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'#'),
        "{u:?}"
    );
}

/// `url::write` (how the engine keeps a redirect target) parses back to the same URL, the path
/// only gaining the `/` the request line adds anyway.
fn check_write(u: &Url<'_>) {
    let mut s: Str<URL_MAX> = Str::new();
    if url::write(u, &mut s).is_err() {
        return; // longer than the offer's URL field
    }
    let back = url::parse(s.as_str())
        .unwrap_or_else(|e| panic!("url::write({u:?}) = {:?} does not parse: {e:?}", s.as_str()));
    let path = if u.path.starts_with('?') {
        format!("/{}", u.path)
    } else {
        u.path.to_string()
    };
    assert_eq!(
        (back.scheme, back.host, back.port, back.path),
        (u.scheme, u.host, u.port, path.as_str()),
        "url::write({u:?}) = {:?}",
        s.as_str()
    );
}

fn print_url(u: &Url<'_>) -> String {
    let scheme = match u.scheme {
        Scheme::Http => "http",
        Scheme::Https => "https",
    };
    let host = if u.host_is_ipv6() {
        format!("[{}]", u.host)
    } else {
        u.host.to_string()
    };
    format!("{scheme}://{host}:{}{}", u.port, u.path)
}

// ---------------------------------------------------------------- OTA JSON

/// `protocol::parse` on arbitrary bytes. An accepted `update_firmware` is printed back as JSON
/// (with escapes chosen by the input) and must parse to the same offer; the writers' output for
/// strings taken from the input must parse as JSON with our parser.
pub fn ota_json(data: &[u8]) {
    let mut offer = Offer::new();
    let r = protocol::parse(data, &mut offer);
    let mut again = Offer::new();
    assert_eq!(
        protocol::parse(data, &mut again),
        r,
        "parse is not deterministic"
    );
    let style = data.iter().fold(0u8, |a, &b| a.wrapping_add(b));
    if r == Ok(Message::UpdateFirmware) {
        assert_eq!(again, offer);
        assert!(
            !offer.version.is_empty() && offer.file_size > 0,
            "{offer:?}"
        );
        let u = offer.url.as_str().to_ascii_lowercase();
        assert!(
            u.starts_with("http://") || u.starts_with("https://"),
            "{offer:?}"
        );
        let json = print_offer(&offer, style);
        let mut back = Offer::new();
        assert_eq!(
            protocol::parse(json.as_bytes(), &mut back),
            Ok(Message::UpdateFirmware),
            "reprinted offer {json}"
        );
        assert_eq!(back, offer, "reprinted offer {json}");
    }
    // The writers escape whatever strings they get.
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '|');
    let (a, b, c) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let mut out = [0u8; 4096];
    if let Ok(n) = protocol::write_report_version(&mut out, a, b) {
        expect_other(&out[..n]);
    }
    let p = match style % 4 {
        0 => Progress::Downloading { percent: style },
        1 => Progress::Burning,
        2 => Progress::Done,
        _ => Progress::Fail {
            code: i32::from(style as i8),
            msg: c,
        },
    };
    let task = (style & 8 != 0).then_some(u64::from(style) << 56);
    if let Ok(n) = protocol::write_report_progress(&mut out, &p, a, task, b) {
        expect_other(&out[..n]);
    }
}

fn expect_other(json: &[u8]) {
    let mut o = Offer::new();
    let r = protocol::parse(json, &mut o);
    assert_eq!(
        r,
        Ok(Message::Other),
        "writer output {:?}",
        String::from_utf8_lossy(json)
    );
}

fn print_offer(o: &Offer, style: u8) -> String {
    let mut members = vec![
        format!("\"type\":{}", json_str("update_firmware", style)),
        format!("\"url\":{}", json_str(o.url.as_str(), style)),
        format!("\"md5sum\":\"{}\"", hex(&o.md5, style & 1 != 0)),
        format!("\"file_size\":{}", o.file_size),
        format!("\"version\":{}", json_str(o.version.as_str(), style >> 1)),
        format!(
            "\"user_defined\":{}",
            json_str("{\"time\":\"2024-05-16\"}", style)
        ),
    ];
    if let Some(t) = o.task_id {
        members.push(if style & 2 != 0 {
            format!("\"task_id\":{t}")
        } else {
            format!("\"task_id\":\"{t}\"")
        });
    }
    if !o.fw_type.is_empty() {
        members.push(format!(
            "\"fw_type\":{}",
            json_str(o.fw_type.as_str(), style >> 2)
        ));
    } else if style & 4 != 0 {
        members.push("\"fw_type\":null".to_string());
    }
    let k = usize::from(style) % members.len();
    members.rotate_left(k);
    let sep = if style & 16 != 0 { ", " } else { "," };
    format!("{{{}}}", members.join(sep))
}

/// A JSON string literal; `style` picks how much is escaped (`\u` with surrogate pairs, `\/`).
fn json_str(s: &str, style: u8) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' if style & 4 != 0 => out.push_str("\\/"),
            c if (c as u32) < 0x20 || (style & 8 != 0 && !c.is_ascii_alphanumeric()) => {
                let mut u = [0u16; 2];
                for unit in c.encode_utf16(&mut u) {
                    out.push_str(&format!("\\u{unit:04X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn hex(b: &[u8], upper: bool) -> String {
    b.iter()
        .map(|x| {
            if upper {
                format!("{x:02X}")
            } else {
                format!("{x:02x}")
            }
        })
        .collect()
}

// ---------------------------------------------------------------- journal

/// `Record::decode` on arbitrary bytes, and on the same bytes with the last 4 replaced by their
/// CRC-32 (so the field checks behind the CRC get exercised). A decoded record must encode and
/// decode to itself.
pub fn journal(data: &[u8]) {
    journal_one(data);
    if data.len() >= 4 {
        let mut fixed = data.to_vec();
        let at = data.len() - 4;
        let crc = crc32(&fixed[..at]);
        fixed[at..].copy_from_slice(&crc.to_le_bytes());
        journal_one(&fixed);
    }
}

/// The only lines that know the journal API (`decode -> Option<(seq, Record)>`,
/// `encode(&self, seq)`): update them when it changes.
fn journal_one(data: &[u8]) {
    if let Some((seq, r)) = Record::decode(data) {
        let bytes = r.encode(seq);
        assert_eq!(
            Record::decode(&bytes),
            Some((seq, r)),
            "decode(encode(r)) != r"
        );
    }
}

/// CRC-32/IEEE (reflected), as the journal uses; local so a journal layout change cannot break
/// this file's build.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

// ---------------------------------------------------------------- delta (feature `delta`)

/// The delta decoder's base for a fuzz input: `len` bytes from SplitMix64(`seed`), one byte per
/// draw (fuzz/seeds.py makes its patches against the same bytes).
#[cfg(feature = "delta")]
fn delta_base(seed: u8, len: usize) -> Vec<u8> {
    let mut r = Rng::new(u64::from(seed));
    (0..len).map(|_| r.next_u64() as u8).collect()
}

/// Input: `mode, base seed, base length (u16 BE), target length (u16 BE), rng seed (u16 BE)`,
/// then the bytes. Mode bit 0 = 1: the bytes are a delta file header (`Header::parse`; what
/// parses must encode to the same 96 bytes). Otherwise a bare detools patch applied in random
/// pieces: reads stay inside the base, writes never pass the target size, `finish` succeeds
/// only with the whole target; and stopping at a random checkpoint, saving it as bytes and
/// resuming from the target written so far gives the very same outcome as the straight run.
#[cfg(feature = "delta")]
pub fn delta(data: &[u8]) {
    use qcloud_ota::delta::header::HEADER_LEN;
    use qcloud_ota::delta::{Checkpoint, Header, Patch};

    let (h, rest) = split_header::<8>(data);
    if h[0] & 3 == 1 {
        if let Ok(hdr) = Header::parse(rest) {
            assert_eq!(
                hdr.encode()[..],
                rest[..HEADER_LEN],
                "encode(parse(h)) != h"
            );
        }
        return;
    }
    // Small sizes keep an input fast; the format's limits are the same at any size.
    let base = delta_base(h[1], usize::from(u16::from_be_bytes([h[2], h[3]])) % 8192);
    let target_size = u32::from(u16::from_be_bytes([h[4], h[5]])) % 16384;
    let seed = u64::from(u16::from_be_bytes([h[6], h[7]]));
    if h[0] & 3 == 3 {
        delta_resume_from_bytes(rest, &base, target_size, seed);
        return;
    }

    /// Feeds `patch` from `p` in random pieces; the outcome and the checkpoint taken on the way
    /// (at the first position `stop_at` patch bytes or later, when `stop_at` is set).
    fn run(
        p: &mut Patch,
        io: &mut DeltaIo,
        patch: &[u8],
        rng: &mut Rng,
        stop_at: Option<u32>,
    ) -> (Result<(), qcloud_ota::delta::Error>, Option<Checkpoint>) {
        let mut at = 0;
        let mut taken = None;
        while at < patch.len() {
            let n = rng.chunk().min(patch.len() - at);
            let want = stop_at.filter(|_| taken.is_none());
            match p.feed_until(&patch[at..at + n], io, |off| want.is_some_and(|w| off >= w)) {
                Ok(fed) => {
                    at += fed.consumed;
                    if let Some(cp) = fed.checkpoint {
                        assert_eq!(io.out.len(), cp.target_offset as usize);
                        taken = Some(cp);
                    }
                }
                Err(e) => {
                    // The error sticks: more bytes change nothing.
                    assert_eq!(p.feed(&patch[at..], io), Err(e), "error not sticky");
                    assert_eq!(p.finish(), Err(e));
                    return (Err(e), taken);
                }
            }
        }
        (p.finish(), taken)
    }

    let mut rng = Rng::new(seed);
    let mut io = DeltaIo {
        base: &base,
        out: Vec::new(),
        limit: target_size as usize,
    };
    let mut p = Patch::new(target_size, base.len() as u32);
    let stop = rest.len() as u32 * (seed as u32 % 8) / 8;
    let (result, cp) = run(&mut p, &mut io, rest, &mut rng, Some(stop));
    if result.is_ok() {
        assert_eq!(
            io.out.len(),
            target_size as usize,
            "done before the target was complete"
        );
    }
    let Some(cp) = cp else { return };
    let cp = Checkpoint::from_bytes(&cp.to_bytes()).expect("checkpoint round trip");
    let done = cp.target_offset as usize;
    let written = io
        .out
        .get(..done)
        .expect("checkpoint inside the output")
        .to_vec();
    let mut io2 = DeltaIo {
        base: &base,
        out: written.clone(),
        limit: target_size as usize,
    };
    let mut p2 = Patch::new(0, 0);
    p2.resume(&cp, target_size, base.len() as u32, &mut io2, |off, buf| {
        let at = off as usize;
        buf.copy_from_slice(written.get(at..at + buf.len()).expect("target read inside"));
        Ok(())
    })
    .expect("resume from a checkpoint the decoder took");
    let tail = rest
        .get(cp.patch_offset as usize..)
        .expect("checkpoint inside the patch");
    let (result2, _) = run(&mut p2, &mut io2, tail, &mut Rng::new(seed ^ 1), None);
    assert_eq!(result2, result, "resumed outcome differs");
    // On an error each run stops where its pieces ended; up to there the bytes agree.
    let n = io.out.len().min(io2.out.len());
    assert_eq!(io2.out[..n], io.out[..n], "resumed output differs");
    if result.is_ok() {
        assert_eq!(io2.out, io.out);
    }
}

/// The delta targets' base and target: reads must stay inside the base, writes inside the
/// target size.
#[cfg(feature = "delta")]
struct DeltaIo<'a> {
    base: &'a [u8],
    out: Vec<u8>,
    limit: usize,
}

#[cfg(feature = "delta")]
impl qcloud_ota::delta::PatchIo for DeltaIo<'_> {
    fn read_base(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), qcloud_ota::delta::IoError> {
        let at = offset as usize;
        let src = self.base.get(at..at + buf.len());
        buf.copy_from_slice(src.expect("base read outside the base"));
        Ok(())
    }
    fn write(&mut self, data: &[u8]) -> Result<(), qcloud_ota::delta::IoError> {
        assert!(!data.is_empty());
        self.out.extend_from_slice(data);
        assert!(self.out.len() <= self.limit, "wrote past the target size");
        Ok(())
    }
}

/// A checkpoint from arbitrary bytes (the first 29): `Checkpoint::from_bytes` and
/// `Patch::resume` refuse what does not fit, a resumed decoder reads back only target bytes that
/// were written, and then takes the rest of the input like any patch.
#[cfg(feature = "delta")]
fn delta_resume_from_bytes(data: &[u8], base: &[u8], target_size: u32, seed: u64) {
    use qcloud_ota::delta::checkpoint::CHECKPOINT_LEN;
    use qcloud_ota::delta::{Checkpoint, Patch};

    let (cp, rest) = split_header::<CHECKPOINT_LEN>(data);
    let Some(cp) = Checkpoint::from_bytes(&cp) else {
        return;
    };
    let target = delta_base(seed as u8, target_size as usize);
    let done = (cp.target_offset as usize).min(target.len());
    let mut io = DeltaIo {
        base,
        out: target[..done].to_vec(),
        limit: target_size as usize,
    };
    let read = |off: u32, buf: &mut [u8]| {
        let at = off as usize;
        assert!(at + buf.len() <= done, "read back unwritten target");
        buf.copy_from_slice(&target[at..at + buf.len()]);
        Ok(())
    };
    let mut p = Patch::new(0, 0);
    if let Err(e) = p.resume(&cp, target_size, base.len() as u32, &mut io, read) {
        // A failed resume stays failed.
        assert_eq!(p.feed(rest, &mut io), Err(e));
        return;
    }
    let mut rng = Rng::new(seed);
    let mut at = 0;
    while at < rest.len() {
        let n = rng.chunk().min(rest.len() - at);
        if p.feed(&rest[at..at + n], &mut io).is_err() {
            return;
        }
        at += n;
    }
    if p.finish().is_ok() {
        assert_eq!(io.out.len(), target_size as usize);
    }
}
