//! MQTT 3.1.1 client session, sans-I/O: the caller owns the socket, the rx/tx buffers and the
//! clock. It feeds received bytes in (`rx_space`/`rx_filled`), sends what `tx_pending` holds
//! (`tx_consumed`), and calls `poll_event` until it returns `None`, then sleeps until `poll_at`.
//!
//! Minimum useful sizes: rx must hold the largest packet to be read (a smaller one is skipped as
//! `Oversize`), tx the CONNECT and the largest PUBLISH.

use super::codec::{self, EncodeError, Packet};
use crate::num::{Ms, ms, reached, until};
use crate::slices::move_to_front;

/// QoS 1 publishes awaiting PUBACK. Tencent's OTA flow has at most two at a time.
const MAX_INFLIGHT: usize = 4;
/// PUBACKs owed to the broker that did not fit in tx yet.
const MAX_PENDING_ACKS: usize = 4;

// Packet types the session acts on (`Incoming::kind`).
const CONNACK: u8 = 2;
const PUBLISH: u8 = 3;
const PUBACK: u8 = 4;
const SUBACK: u8 = 9;

pub struct SessionConfig<'a> {
    pub client_id: &'a str,
    /// Empty: no username field.
    pub username: &'a str,
    /// Empty: no password field (TLS-PSK sends only the username).
    pub password: &'a str,
    /// 0 disables pings. Tencent accepts up to 900.
    pub keepalive_s: u16,
    /// How long to wait for CONNACK, PINGRESP (any incoming byte) and PUBACK.
    pub ack_timeout_ms: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEvent<'a> {
    /// CONNACK with code 0.
    Connected,
    /// CONNACK with a non-zero code: the caller closes the transport.
    Refused(u8),
    /// SUBACK; code 0x80 (failure) is passed through.
    Subscribed { pid: u16, code: u8 },
    /// A PUBLISH; for QoS 1 the PUBACK is already queued. Borrows the rx buffer until the next
    /// `poll_event`.
    Message { topic: &'a str, payload: &'a [u8] },
    /// PUBACK for our QoS 1 publish.
    Acked { pid: u16 },
    /// No PUBACK within ack_timeout_ms (reported once): re-publish with `retransmit = Some(pid)`
    /// or give up with `forget(pid)`.
    AckTimeout { pid: u16 },
    /// An incoming packet of `len` bytes did not fit in rx and is being skipped.
    Oversize { len: usize },
    /// No CONNACK or no reply to PINGREQ in time, or a protocol error: the caller closes the
    /// transport.
    Dead,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionError {
    /// No CONNACK accepted yet (or the session ended).
    NotConnected,
    /// Not enough free tx space now; retry after sending.
    TxFull,
    /// All in-flight QoS 1 slots are taken.
    TooManyInFlight,
    /// Invalid arguments, or the packet can never fit in the tx buffer.
    Encode(EncodeError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No transport, or the session ended (Dead/Refused reported, DISCONNECT queued).
    Closed,
    Connecting,
    Connected,
}

#[derive(Clone, Copy)]
struct InFlight {
    /// 0 = free slot.
    pid: u16,
    deadline: Ms,
    reported: bool,
}

const FREE: InFlight = InFlight {
    pid: 0,
    deadline: 0,
    reported: false,
};

/// Valid bytes are `buf[start..end]`; the buffer front is reused once it is empty.
struct Buf<'b> {
    buf: &'b mut [u8],
    start: usize,
    end: usize,
}

impl Buf<'_> {
    fn data(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or(&[])
    }
    fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }
    fn consume(&mut self, n: usize) {
        self.start = self.start.saturating_add(n).min(self.end);
        if self.start == self.end {
            self.clear();
        }
    }
    fn compact(&mut self) {
        if self.start > 0 {
            move_to_front(self.buf, self.start, self.end);
            self.end -= self.start;
            self.start = 0;
        }
    }
    fn room(&self) -> usize {
        self.buf.len() - (self.end - self.start)
    }
    /// The free space behind the pending bytes (moved to the front first).
    fn tail(&mut self) -> &mut [u8] {
        self.compact();
        self.buf.get_mut(self.end..).unwrap_or(&mut [])
    }
    /// Appends one packet behind the pending bytes.
    fn push(&mut self, p: Packet<'_>) -> Result<(), SessionError> {
        match codec::encode(self.tail(), &p) {
            Ok(n) => {
                self.end += n;
                Ok(())
            }
            // An empty buffer that cannot hold it never will.
            Err(EncodeError::BufferTooSmall) if self.end > 0 => Err(SessionError::TxFull),
            Err(e) => Err(SessionError::Encode(e)),
        }
    }
}

enum Step {
    /// Nothing (more) to process in rx now.
    Idle,
    /// A packet was consumed without an event.
    Again,
    Event(SessionEvent<'static>),
    /// A valid PUBLISH of this many bytes is at the rx front.
    Message(usize),
}

pub struct Session<'b> {
    rx: Buf<'b>,
    tx: Buf<'b>,
    /// Bytes of the packet behind the last `Message`, dropped at the next call (deferred consume).
    rx_done: usize,
    /// Bytes of an oversize packet still to drop as they arrive.
    rx_skip: usize,
    state: State,
    keepalive_ms: Ms,
    ack_timeout_ms: Ms,
    /// While connecting: when CONNACK is due. While connected: set while a PINGREQ awaits any
    /// reply. Either way, no reply by then is `Dead`.
    reply_due: Option<Ms>,
    last_tx: Ms,
    /// The latest `now_ms` given to `connect`/`poll_event`: the base `poll_at` reports in.
    clock: u64,
    next_pid: u16,
    inflight: [InFlight; MAX_INFLIGHT],
    /// FIFO of owed PUBACK ids, 0 = empty; kept in order because MQTT acks in arrival order.
    acks: [u16; MAX_PENDING_ACKS],
}

impl<'b> Session<'b> {
    pub fn new(rx: &'b mut [u8], tx: &'b mut [u8]) -> Self {
        Session {
            rx: Buf {
                buf: rx,
                start: 0,
                end: 0,
            },
            tx: Buf {
                buf: tx,
                start: 0,
                end: 0,
            },
            rx_done: 0,
            rx_skip: 0,
            state: State::Closed,
            keepalive_ms: 0,
            ack_timeout_ms: 0,
            reply_due: None,
            last_tx: 0,
            clock: 0,
            next_pid: 1,
            inflight: const { [FREE; MAX_INFLIGHT] },
            acks: [0; MAX_PENDING_ACKS],
        }
    }

    /// The transport just opened: reset everything and queue CONNECT (clean session = 1).
    pub fn connect(&mut self, now_ms: u64, cfg: &SessionConfig<'_>) -> Result<(), EncodeError> {
        self.reset();
        let user = (!cfg.username.is_empty()).then_some(cfg.username);
        let pass = (!cfg.password.is_empty()).then_some(cfg.password);
        let p = Packet::Connect {
            client_id: cfg.client_id,
            username: user,
            password: pass.map(str::as_bytes),
            keepalive_s: cfg.keepalive_s,
            clean_session: true,
        };
        // tx is empty now.
        self.tx.end = codec::encode(self.tx.buf, &p)?;
        self.state = State::Connecting;
        self.keepalive_ms = Ms::from(cfg.keepalive_s) * 1000;
        self.ack_timeout_ms = cfg.ack_timeout_ms;
        self.clock = now_ms;
        self.last_tx = ms(now_ms);
        self.reply_due = Some(self.last_tx.wrapping_add(self.ack_timeout_ms));
        Ok(())
    }

    /// The transport closed: drop all buffered bytes and state. Packet ids keep counting.
    pub fn reset(&mut self) {
        self.rx.clear();
        self.tx.clear();
        self.rx_done = 0;
        self.rx_skip = 0;
        self.state = State::Closed;
        self.reply_due = None;
        self.inflight = [FREE; MAX_INFLIGHT];
        self.acks = [0; MAX_PENDING_ACKS];
    }

    /// CONNACK accepted and the session not ended since.
    pub fn is_connected(&self) -> bool {
        self.state == State::Connected
    }

    /// Bytes to send now.
    pub fn tx_pending(&self) -> &[u8] {
        self.tx.data()
    }

    /// `n` bytes of `tx_pending()` were sent (partial sends are fine).
    pub fn tx_consumed(&mut self, n: usize, now_ms: u64) {
        if n > 0 {
            self.tx.consume(n);
            self.last_tx = ms(now_ms);
        }
    }

    /// Free tx space, so a caller can check before formatting a payload.
    pub fn tx_room(&self) -> usize {
        self.tx.room()
    }

    /// Where to recv() into. Empty only when rx is full of complete packets: call `poll_event`.
    pub fn rx_space(&mut self) -> &mut [u8] {
        self.rx.consume(core::mem::take(&mut self.rx_done));
        // What is left is a partial packet, or packets held back by PUBACK backpressure.
        self.rx.tail()
    }

    /// `n` bytes were received into `rx_space()`.
    pub fn rx_filled(&mut self, n: usize, _now_ms: u64) {
        let n = n.min(self.rx.buf.len() - self.rx.end);
        self.rx.end += n;
        if n > 0 && self.state == State::Connected {
            // Any byte from the broker proves the link alive, as a PINGRESP would.
            self.reply_due = None;
        }
        // While skipping, rx held nothing else, so the bytes to drop are at the front.
        let d = self.rx_skip.min(self.rx.end - self.rx.start);
        self.rx_skip -= d;
        self.rx.consume(d);
    }

    /// Queues a SUBSCRIBE with one topic filter; returns its packet id.
    pub fn subscribe(&mut self, topic: &str, qos: u8) -> Result<u16, SessionError> {
        if self.state != State::Connected {
            return Err(SessionError::NotConnected);
        }
        let pid = self.alloc_pid();
        self.tx.push(Packet::Subscribe { pid, topic, qos })?;
        Ok(pid)
    }

    /// Queues a PUBLISH. QoS 1 returns its pid and is tracked until PUBACK; `retransmit` =
    /// Some(pid) re-sends a QoS 1 message with the same pid and DUP=1 (the caller regenerates the
    /// payload; the session keeps no copy) and re-arms its timeout.
    pub fn publish(
        &mut self,
        now_ms: u64,
        topic: &str,
        payload: &[u8],
        qos: u8,
        retransmit: Option<u16>,
    ) -> Result<Option<u16>, SessionError> {
        if self.state != State::Connected {
            return Err(SessionError::NotConnected);
        }
        let mut pid = retransmit;
        let mut slot = None;
        if qos == 1 {
            // A retransmit reuses its slot; an unknown pid (say, after a reconnect) takes a free
            // one.
            let want = retransmit.unwrap_or(0);
            for (i, f) in self.inflight.iter().enumerate() {
                if f.pid == want && want != 0 {
                    slot = Some(i);
                    break;
                }
                if f.pid == 0 && slot.is_none() {
                    slot = Some(i);
                }
            }
            if slot.is_none() {
                return Err(SessionError::TooManyInFlight);
            }
            if pid.is_none() {
                pid = Some(self.alloc_pid());
            }
        }
        // The encoder rejects QoS 2, a QoS 0 retransmit and pid 0.
        let dup = retransmit.is_some();
        let p = Packet::Publish {
            dup,
            qos,
            retain: false,
            topic,
            pid,
            payload,
        };
        self.tx.push(p)?;
        if let Some(f) = slot.and_then(|i| self.inflight.get_mut(i)) {
            *f = InFlight {
                pid: pid.unwrap_or(0),
                deadline: ms(now_ms).wrapping_add(self.ack_timeout_ms),
                reported: false,
            };
        }
        Ok(pid)
    }

    /// Stops tracking a QoS 1 publish the caller gave up on, freeing its slot.
    pub fn forget(&mut self, pid: u16) {
        for f in self.inflight.iter_mut().filter(|f| f.pid == pid) {
            *f = FREE;
        }
    }

    /// Queues DISCONNECT (if there is room) and ends the session; send `tx_pending`, then close.
    pub fn disconnect(&mut self) {
        if self.state != State::Closed {
            let _ = self.tx.push(Packet::Disconnect);
        }
        self.state = State::Closed;
    }

    /// Processes received bytes and timers; returns at most one event per call: call until None.
    pub fn poll_event(&mut self, now_ms: u64) -> Option<SessionEvent<'_>> {
        self.clock = now_ms;
        self.rx.consume(core::mem::take(&mut self.rx_done));
        if self.state == State::Closed {
            return None;
        }
        self.flush_acks();
        loop {
            match self.step() {
                Step::Idle => break,
                Step::Again => {}
                Step::Event(e) => return Some(e),
                Step::Message(n) => {
                    self.rx_done = n;
                    // step() validated it; decoding again keeps the borrow of rx simple.
                    return match codec::decode_incoming(self.rx.data()) {
                        Ok(p) => Some(SessionEvent::Message {
                            topic: p.topic,
                            payload: p.payload,
                        }),
                        _ => None,
                    };
                }
            }
        }
        self.timers(ms(now_ms))
    }

    /// The earliest time (ms) at which `poll_event` has timer work, if any.
    pub fn poll_at(&self) -> Option<u64> {
        if self.state == State::Closed {
            return None;
        }
        let now = ms(self.clock);
        // Waits from `clock`; MAX: no timer (a wait is below 2^31).
        let mut wait = Ms::MAX;
        if let Some(d) = self.link_timer() {
            wait = until(now, d);
        }
        for f in self.inflight.iter().filter(|f| f.pid != 0 && !f.reported) {
            wait = wait.min(until(now, f.deadline));
        }
        (wait != Ms::MAX).then(|| self.clock.saturating_add(u64::from(wait)))
    }

    /// When the link needs attention: a reply due (`reply_due`), else the next keepalive ping
    /// (never while connecting: `reply_due` is set then).
    fn link_timer(&self) -> Option<Ms> {
        let ping = (self.keepalive_ms > 0).then(|| self.last_tx.wrapping_add(self.keepalive_ms));
        self.reply_due.or(ping)
    }

    fn dead(&mut self) -> Step {
        self.state = State::Closed;
        Step::Event(SessionEvent::Dead)
    }

    /// Next packet id: never 0, wraps, skips ids still in flight.
    fn alloc_pid(&mut self) -> u16 {
        loop {
            let pid = self.next_pid;
            self.next_pid = pid.wrapping_add(1);
            if pid != 0 && !self.inflight.iter().any(|f| f.pid == pid) {
                return pid;
            }
        }
    }

    fn flush_acks(&mut self) {
        while let Some(&pid) = self.acks.first().filter(|&&p| p != 0) {
            if self.tx.push(Packet::PubAck { pid }).is_err() {
                return;
            }
            let [_, b, c, d] = self.acks;
            self.acks = [b, c, d, 0];
        }
    }

    /// Owes a PUBACK, sent now if tx has room; false if even the list is full.
    fn queue_ack(&mut self, pid: u16) -> bool {
        let Some(p) = self.acks.iter_mut().find(|p| **p == 0) else {
            return false;
        };
        *p = pid;
        self.flush_acks();
        true
    }

    /// Handles the packet at the rx front, if complete.
    fn step(&mut self) -> Step {
        let data = self.rx.data();
        if data.is_empty() {
            return Step::Idle;
        }
        let (kind, qos, pid, code, len) = match codec::decode_incoming(data) {
            Ok(p) => (p.kind(), p.qos(), p.pid, p.code, p.len),
            // Malformed, or a packet only a client sends.
            Err(_) => return self.dead(),
        };
        if kind == 0 {
            // Incomplete.
            if len > self.rx.buf.len() {
                // Drop what we have and the rest as it arrives. A skipped QoS 1 PUBLISH is not
                // acked: its content is lost either way, and clean sessions drop it on reconnect.
                self.rx_skip = len - data.len();
                self.rx.clear();
                return Step::Event(SessionEvent::Oversize { len });
            }
            // An rx buffer too small for a fixed header can never make progress.
            if len == 0 && self.rx.room() == 0 {
                return self.dead();
            }
            return Step::Idle;
        }
        // CONNACK must come first and only once [MQTT-3.2.0-1].
        if (kind == CONNACK) != (self.state == State::Connecting) {
            return self.dead();
        }
        match kind {
            CONNACK => {
                self.rx.consume(len);
                if code == 0 {
                    self.state = State::Connected;
                    self.reply_due = None;
                    Step::Event(SessionEvent::Connected)
                } else {
                    self.state = State::Closed;
                    Step::Event(SessionEvent::Refused(code))
                }
            }
            PUBLISH => match qos {
                0 => Step::Message(len),
                // Backpressure: leave it in rx until a PUBACK slot frees up.
                1 if !self.queue_ack(pid) => Step::Idle,
                1 => Step::Message(len),
                // QoS 2 was never requested.
                _ => self.dead(),
            },
            PUBACK => {
                self.rx.consume(len);
                match self.inflight.iter_mut().find(|f| f.pid == pid) {
                    Some(f) => {
                        *f = FREE;
                        Step::Event(SessionEvent::Acked { pid })
                    }
                    None => Step::Again,
                }
            }
            SUBACK => {
                self.rx.consume(len);
                Step::Event(SessionEvent::Subscribed { pid, code })
            }
            // PINGRESP, UNSUBACK: nothing to report.
            _ => {
                self.rx.consume(len);
                Step::Again
            }
        }
    }

    fn timers(&mut self, now: Ms) -> Option<SessionEvent<'static>> {
        if let Some(d) = self.link_timer()
            && reached(now, d)
        {
            if self.reply_due.is_some() {
                self.state = State::Closed;
                return Some(SessionEvent::Dead);
            }
            // Even if tx is full the deadline is armed: a link that cannot send is dead too.
            let _ = self.tx.push(Packet::PingReq);
            self.reply_due = Some(now.wrapping_add(self.ack_timeout_ms));
        }
        for f in self.inflight.iter_mut() {
            if f.pid != 0 && !f.reported && reached(now, f.deadline) {
                f.reported = true;
                return Some(SessionEvent::AckTimeout { pid: f.pid });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;
    use std::string::String;
    use std::vec::Vec;

    const ACK_MS: u32 = 5_000;
    const CONNACK: [u8; 4] = [0x20, 2, 0, 0];

    fn cfg(keepalive_s: u16) -> SessionConfig<'static> {
        SessionConfig {
            client_id: "c",
            username: "u",
            password: "p",
            keepalive_s,
            ack_timeout_ms: ACK_MS,
        }
    }

    fn feed(s: &mut Session<'_>, bytes: &[u8], now: u64) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let space = s.rx_space();
            let n = space.len().min(rest.len());
            assert!(n > 0, "rx full");
            space[..n].copy_from_slice(&rest[..n]);
            s.rx_filled(n, now);
            rest = &rest[n..];
        }
    }

    fn next_event(s: &mut Session<'_>, now: u64) -> Option<String> {
        Some(match s.poll_event(now)? {
            SessionEvent::Message { topic, payload } => {
                format!("Message {topic} {}", String::from_utf8_lossy(payload))
            }
            e => format!("{e:?}"),
        })
    }

    /// All events until None, as text (events borrow the session).
    fn events(s: &mut Session<'_>, now: u64) -> Vec<String> {
        let mut v = Vec::new();
        while let Some(e) = next_event(s, now) {
            v.push(e);
            assert!(v.len() < 100, "event storm");
        }
        v
    }

    fn take_tx(s: &mut Session<'_>, now: u64) -> Vec<u8> {
        let v = s.tx_pending().to_vec();
        s.tx_consumed(v.len(), now);
        v
    }

    fn publish_bytes(topic: &str, payload: &[u8], qos: u8, pid: Option<u16>, dup: bool) -> Vec<u8> {
        let mut b = [0u8; 1024];
        let n = codec::encode_publish(&mut b, topic, payload, qos, pid, dup).unwrap();
        b[..n].to_vec()
    }

    /// A session that has sent CONNECT at t=0 and got CONNACK.
    fn connected<'b>(rx: &'b mut [u8], tx: &'b mut [u8], keepalive_s: u16) -> Session<'b> {
        let mut s = Session::new(rx, tx);
        s.connect(0, &cfg(keepalive_s)).unwrap();
        take_tx(&mut s, 0);
        feed(&mut s, &CONNACK, 0);
        assert_eq!(events(&mut s, 0), ["Connected"]);
        s
    }

    #[test]
    fn full_exchange() {
        let (mut rx, mut tx) = ([0u8; 256], [0u8; 256]);
        let mut s = Session::new(&mut rx, &mut tx);
        assert!(!s.is_connected());
        assert_eq!(s.poll_at(), None);
        s.connect(100, &cfg(60)).unwrap();
        assert_eq!(
            take_tx(&mut s, 100),
            [
                0x10, 19, 0, 4, b'M', b'Q', b'T', b'T', 4, 0xc2, 0, 60, 0, 1, b'c', 0, 1, b'u', 0,
                1, b'p'
            ]
        );
        assert_eq!(
            s.publish(100, "t", b"x", 0, None),
            Err(SessionError::NotConnected)
        );
        assert_eq!(s.subscribe("t", 1), Err(SessionError::NotConnected));
        assert_eq!(s.poll_at(), Some(100 + 5_000));
        assert!(events(&mut s, 200).is_empty());

        feed(&mut s, &CONNACK, 300);
        assert_eq!(events(&mut s, 300), ["Connected"]);
        assert!(s.is_connected());

        let pid = s.subscribe("$ota/update/P/D", 1).unwrap();
        assert_eq!(pid, 1);
        let mut want = vec![0x82, 20, 0, 1, 0, 15];
        want.extend_from_slice(b"$ota/update/P/D");
        want.push(1);
        assert_eq!(take_tx(&mut s, 300), want);
        feed(&mut s, &[0x90, 3, 0, 1, 1], 400);
        assert_eq!(events(&mut s, 400), ["Subscribed { pid: 1, code: 1 }"]);

        // Incoming QoS 1: delivered, PUBACK queued.
        feed(
            &mut s,
            &publish_bytes("$ota/update/P/D", b"{}", 1, Some(0x0102), false),
            500,
        );
        assert_eq!(events(&mut s, 500), ["Message $ota/update/P/D {}"]);
        assert_eq!(take_tx(&mut s, 500), [0x40, 2, 1, 2]);

        // Our QoS 1 publish, acked.
        let pid = s.publish(600, "$ota/report/P/D", b"v", 1, None).unwrap();
        assert_eq!(pid, Some(2));
        assert_eq!(
            take_tx(&mut s, 600),
            publish_bytes("$ota/report/P/D", b"v", 1, Some(2), false)
        );
        assert_eq!(s.poll_at(), Some(600 + 5_000));
        feed(&mut s, &[0x40, 2, 0, 2], 700);
        assert_eq!(events(&mut s, 700), ["Acked { pid: 2 }"]);
        // A second PUBACK for it is ignored.
        feed(&mut s, &[0x40, 2, 0, 2], 700);
        assert!(events(&mut s, 700).is_empty());

        // QoS 0 publish: nothing tracked.
        assert_eq!(s.publish(800, "$ota/report/P/D", b"p", 0, None), Ok(None));
        assert_eq!(
            take_tx(&mut s, 800),
            publish_bytes("$ota/report/P/D", b"p", 0, None, false)
        );
        assert_eq!(s.poll_at(), Some(800 + 60_000));

        s.disconnect();
        assert_eq!(take_tx(&mut s, 900), [0xe0, 0]);
        assert!(!s.is_connected());
        assert_eq!(s.poll_at(), None);
        assert_eq!(
            s.publish(900, "t", b"", 0, None),
            Err(SessionError::NotConnected)
        );
    }

    #[test]
    fn empty_password_omitted() {
        let (mut rx, mut tx) = ([0u8; 64], [0u8; 64]);
        let mut s = Session::new(&mut rx, &mut tx);
        let c = SessionConfig {
            password: "",
            keepalive_s: 0,
            ..cfg(0)
        };
        s.connect(0, &c).unwrap();
        assert_eq!(s.tx_pending()[9], 0x82);
        // A CONNECT that cannot fit even an empty tx is an encode error.
        let (mut rx, mut tx) = ([0u8; 64], [0u8; 10]);
        let mut s = Session::new(&mut rx, &mut tx);
        assert_eq!(s.connect(0, &cfg(0)), Err(EncodeError::BufferTooSmall));
        assert!(s.tx_pending().is_empty());
    }

    #[test]
    fn ack_timeout_and_retransmit() {
        let (mut rx, mut tx) = ([0u8; 128], [0u8; 128]);
        let mut s = connected(&mut rx, &mut tx, 0);
        let pid = s.publish(1_000, "r", b"a", 1, None).unwrap().unwrap();
        take_tx(&mut s, 1_000);
        assert_eq!(s.poll_at(), Some(6_000));
        assert!(events(&mut s, 5_999).is_empty());
        assert_eq!(
            events(&mut s, 6_000),
            [format!("AckTimeout {{ pid: {pid} }}")]
        );
        // Reported once.
        assert!(events(&mut s, 9_000).is_empty());
        assert_eq!(s.poll_at(), None);

        assert_eq!(s.publish(9_000, "r", b"a", 1, Some(pid)), Ok(Some(pid)));
        assert_eq!(
            take_tx(&mut s, 9_000),
            publish_bytes("r", b"a", 1, Some(pid), true)
        );
        assert_eq!(take_tx(&mut s, 9_000)[..], [0u8; 0]);
        assert_eq!(s.poll_at(), Some(14_000));
        assert_eq!(
            events(&mut s, 14_000),
            [format!("AckTimeout {{ pid: {pid} }}")]
        );
        s.publish(15_000, "r", b"a", 1, Some(pid)).unwrap();
        feed(&mut s, &[0x40, 2, 0, pid as u8], 15_500);
        assert_eq!(events(&mut s, 20_000), [format!("Acked {{ pid: {pid} }}")]);
        assert_eq!(s.poll_at(), None);
    }

    #[test]
    fn inflight_limit_and_forget() {
        let (mut rx, mut tx) = ([0u8; 128], [0u8; 256]);
        let mut s = connected(&mut rx, &mut tx, 0);
        let pids: Vec<u16> = (0..4)
            .map(|_| s.publish(0, "r", b"", 1, None).unwrap().unwrap())
            .collect();
        assert_eq!(pids, [1, 2, 3, 4]);
        assert_eq!(
            s.publish(0, "r", b"", 1, None),
            Err(SessionError::TooManyInFlight)
        );
        // QoS 0 is not limited.
        assert_eq!(s.publish(0, "r", b"", 0, None), Ok(None));
        s.forget(2);
        assert_eq!(s.publish(0, "r", b"", 1, None), Ok(Some(5)));
        // Invalid arguments.
        assert_eq!(
            s.publish(0, "r", b"", 2, None),
            Err(SessionError::Encode(EncodeError::Invalid))
        );
        assert_eq!(
            s.publish(0, "r", b"", 0, Some(1)),
            Err(SessionError::Encode(EncodeError::Invalid))
        );
        s.forget(1);
        assert_eq!(
            s.publish(0, "r", b"", 1, Some(0)),
            Err(SessionError::Encode(EncodeError::Invalid))
        );
        assert_eq!(
            s.publish(0, "", b"", 1, None),
            Err(SessionError::Encode(EncodeError::Invalid))
        );
    }

    #[test]
    fn pid_wraps_and_skips_inflight() {
        let (mut rx, mut tx) = ([0u8; 128], [0u8; 256]);
        let mut s = connected(&mut rx, &mut tx, 0);
        s.next_pid = 0xfffe;
        assert_eq!(s.publish(0, "r", b"", 1, None), Ok(Some(0xfffe)));
        assert_eq!(s.subscribe("t", 0), Ok(0xffff));
        assert_eq!(s.publish(0, "r", b"", 1, None), Ok(Some(1)));
        // Wrap again onto an id still in flight: it is skipped.
        s.next_pid = 0xfffe;
        assert_eq!(s.subscribe("t", 0), Ok(0xffff));
        assert_eq!(s.subscribe("t", 0), Ok(2));
    }

    #[test]
    fn keepalive_ping_and_dead() {
        let (mut rx, mut tx) = ([0u8; 128], [0u8; 128]);
        let mut s = connected(&mut rx, &mut tx, 10);
        assert_eq!(s.poll_at(), Some(10_000));
        assert!(events(&mut s, 9_999).is_empty());
        assert!(s.tx_pending().is_empty());
        // Sending something postpones the ping.
        s.publish(4_000, "r", b"", 0, None).unwrap();
        take_tx(&mut s, 4_000);
        assert_eq!(s.poll_at(), Some(14_000));
        assert!(events(&mut s, 13_999).is_empty());
        assert!(s.tx_pending().is_empty());
        assert!(events(&mut s, 14_000).is_empty());
        assert_eq!(take_tx(&mut s, 14_000), [0xc0, 0]);
        assert_eq!(s.poll_at(), Some(19_000));
        feed(&mut s, &[0xd0, 0], 15_000);
        assert!(events(&mut s, 15_000).is_empty());
        assert_eq!(s.poll_at(), Some(24_000));
        // No answer this time.
        assert!(events(&mut s, 24_000).is_empty());
        assert_eq!(take_tx(&mut s, 24_100), [0xc0, 0]);
        assert!(events(&mut s, 28_999).is_empty());
        assert_eq!(events(&mut s, 29_000), ["Dead"]);
        assert!(!s.is_connected());
        assert!(events(&mut s, 40_000).is_empty());
        assert_eq!(s.poll_at(), None);
        // Reconnect on a new transport.
        s.reset();
        s.connect(50_000, &cfg(10)).unwrap();
        assert_eq!(take_tx(&mut s, 50_000)[0], 0x10);
        feed(&mut s, &CONNACK, 50_001);
        assert_eq!(events(&mut s, 50_001), ["Connected"]);
    }

    /// Internal time is 32-bit: timers that span a wrap of the low 32 bits of `now_ms` fire on
    /// time, and `poll_at` still reports in the caller's 64-bit clock.
    #[test]
    fn timers_across_the_32_bit_wrap() {
        let t0: u64 = (3 << 32) + 0xffff_f000; // 4096 ms before a wrap
        let (mut rx, mut tx) = ([0u8; 128], [0u8; 128]);
        let mut s = Session::new(&mut rx, &mut tx);
        s.connect(t0, &cfg(10)).unwrap();
        take_tx(&mut s, t0);
        assert_eq!(s.poll_at(), Some(t0 + 5_000));
        feed(&mut s, &CONNACK, t0);
        assert_eq!(events(&mut s, t0), ["Connected"]);
        assert_eq!(s.poll_at(), Some(t0 + 10_000));
        let pid = s.publish(t0, "r", b"", 1, None).unwrap().unwrap();
        take_tx(&mut s, t0);
        assert_eq!(s.poll_at(), Some(t0 + 5_000));
        assert!(events(&mut s, t0 + 4_999).is_empty());
        assert_eq!(
            events(&mut s, t0 + 5_000),
            [format!("AckTimeout {{ pid: {pid} }}")]
        );
        assert_eq!(s.poll_at(), Some(t0 + 10_000));
        assert!(events(&mut s, t0 + 9_999).is_empty());
        assert!(events(&mut s, t0 + 10_000).is_empty());
        assert_eq!(take_tx(&mut s, t0 + 10_000), [0xc0, 0]);
        assert_eq!(s.poll_at(), Some(t0 + 15_000));
        assert!(events(&mut s, t0 + 14_999).is_empty());
        assert_eq!(events(&mut s, t0 + 15_000), ["Dead"]);
    }

    #[test]
    fn keepalive_zero_never_pings() {
        let (mut rx, mut tx) = ([0u8; 64], [0u8; 64]);
        let mut s = connected(&mut rx, &mut tx, 0);
        assert_eq!(s.poll_at(), None);
        assert!(events(&mut s, u64::MAX).is_empty());
        assert!(s.tx_pending().is_empty());
    }

    #[test]
    fn connack_timeout_refused_and_protocol_errors() {
        let (mut rx, mut tx) = ([0u8; 64], [0u8; 64]);
        let mut s = Session::new(&mut rx, &mut tx);
        s.connect(0, &cfg(60)).unwrap();
        assert!(events(&mut s, 4_999).is_empty());
        assert_eq!(events(&mut s, 5_000), ["Dead"]);

        s.connect(0, &cfg(60)).unwrap();
        feed(&mut s, &[0x20, 2, 0, 5], 1);
        assert_eq!(events(&mut s, 1), ["Refused(5)"]);
        assert!(!s.is_connected());
        assert_eq!(s.subscribe("t", 0), Err(SessionError::NotConnected));

        // Anything but CONNACK first; CONNACK twice; client-only packets; garbage; QoS 2.
        let bad: [&[u8]; 7] = [
            &[0x90, 3, 0, 1, 0],
            &[0x20, 2, 0, 0, 0x20, 2, 0, 0],
            &[0x20, 2, 0, 0, 0xc0, 0],
            &[0x20, 2, 0, 0, 0x82, 6, 0, 1, 0, 1, b't', 0],
            &[0x20, 2, 0, 0, 0xff, 0],
            &[0x20, 2, 0, 0, 0x30, 0x80, 0x80, 0x80, 0x80, 0x01],
            &[0x20, 2, 0, 0, 0x34, 5, 0, 1, b't', 0, 1],
        ];
        for b in bad {
            s.connect(0, &cfg(60)).unwrap();
            feed(&mut s, b, 1);
            let ev = events(&mut s, 1);
            assert_eq!(ev.last().map(String::as_str), Some("Dead"), "{b:02x?}");
            assert!(!s.is_connected());
        }
    }

    /// CONNACK, SUBACK, a QoS 1 PUBLISH, a PUBACK for ours, a PINGRESP, a QoS 0 PUBLISH.
    fn script() -> Vec<u8> {
        let mut v = CONNACK.to_vec();
        v.extend_from_slice(&[0x90, 3, 0, 1, 1]);
        v.extend(publish_bytes(
            "$ota/update/P/D",
            b"{\"type\":\"x\"}",
            1,
            Some(9),
            false,
        ));
        v.extend_from_slice(&[0x40, 2, 0, 2]);
        v.extend_from_slice(&[0xd0, 0]);
        v.extend(publish_bytes("a", b"zero", 0, None, false));
        v
    }

    const SCRIPT_EVENTS: [&str; 5] = [
        "Connected",
        "Subscribed { pid: 1, code: 1 }",
        "Message $ota/update/P/D {\"type\":\"x\"}",
        "Acked { pid: 2 }",
        "Message a zero",
    ];

    /// Runs the script delivered in the given chunks; returns events and tx bytes after CONNECT.
    fn run_split(chunks: &[&[u8]], rx_len: usize) -> (Vec<String>, Vec<u8>) {
        let mut rx = vec![0u8; rx_len];
        let mut tx = [0u8; 256];
        let mut s = Session::new(&mut rx, &mut tx);
        s.connect(0, &cfg(60)).unwrap();
        take_tx(&mut s, 0);
        let mut evs = Vec::new();
        let mut out = Vec::new();
        for c in chunks {
            // Like a recv() loop: read what fits, then handle events.
            let mut rest = *c;
            while !rest.is_empty() {
                let sp = s.rx_space();
                let n = sp.len().min(rest.len());
                sp[..n].copy_from_slice(&rest[..n]);
                s.rx_filled(n, 1);
                rest = &rest[n..];
                while let Some(e) = next_event(&mut s, 1) {
                    if e == "Connected" {
                        assert_eq!(s.subscribe("t", 1), Ok(1));
                        assert_eq!(s.publish(1, "r", b"", 1, None), Ok(Some(2)));
                        take_tx(&mut s, 1);
                    }
                    evs.push(e);
                }
                out.extend(take_tx(&mut s, 1));
            }
        }
        (evs, out)
    }

    #[test]
    fn split_at_every_byte_boundary() {
        let sc = script();
        for rx_len in [sc.len(), 40] {
            let (evs, out) = run_split(&[&sc], rx_len);
            assert_eq!(evs, SCRIPT_EVENTS, "rx {rx_len}");
            assert_eq!(out, [0x40, 2, 0, 9]);
            for k in 1..sc.len() {
                let (evs, out) = run_split(&[&sc[..k], &sc[k..]], rx_len);
                assert_eq!(evs, SCRIPT_EVENTS, "split at {k}, rx {rx_len}");
                assert_eq!(out, [0x40, 2, 0, 9]);
            }
            let bytes: Vec<&[u8]> = sc.chunks(1).collect();
            assert_eq!(run_split(&bytes, rx_len).0, SCRIPT_EVENTS);
            let threes: Vec<&[u8]> = sc.chunks(3).collect();
            assert_eq!(run_split(&threes, rx_len).0, SCRIPT_EVENTS);
        }
    }

    #[test]
    fn message_borrows_rx_until_next_poll() {
        let (mut rx, mut tx) = ([0u8; 64], [0u8; 64]);
        let mut s = connected(&mut rx, &mut tx, 0);
        let mut two = publish_bytes("a", b"one", 0, None, false);
        two.extend(publish_bytes("b", b"two", 0, None, false));
        feed(&mut s, &two, 1);
        match s.poll_event(1) {
            Some(SessionEvent::Message { topic, payload }) => {
                assert_eq!((topic, payload), ("a", &b"one"[..]));
            }
            e => panic!("{e:?}"),
        }
        match s.poll_event(1) {
            Some(SessionEvent::Message { topic, payload }) => {
                assert_eq!((topic, payload), ("b", &b"two"[..]));
            }
            e => panic!("{e:?}"),
        }
        assert_eq!(s.poll_event(1), None);
        assert_eq!(s.rx_space().len(), 64);
    }

    #[test]
    fn oversize_skipped_across_reads() {
        let big = publish_bytes("$ota/update/P/D", &[b'x'; 300], 1, Some(5), false);
        let mut stream = big.clone();
        stream.extend_from_slice(&[0xd0, 0]);
        stream.extend(publish_bytes("a", b"ok", 1, Some(6), false));
        for chunk in [1usize, 2, 7, 31, 32, 64] {
            let (mut rx, mut tx) = ([0u8; 32], [0u8; 64]);
            let mut s = connected(&mut rx, &mut tx, 0);
            let mut evs = Vec::new();
            for c in stream.chunks(chunk) {
                // Feed with whatever rx_space offers, like a recv() loop would.
                let mut rest = c;
                while !rest.is_empty() {
                    let sp = s.rx_space();
                    let n = sp.len().min(rest.len());
                    sp[..n].copy_from_slice(&rest[..n]);
                    s.rx_filled(n, 1);
                    rest = &rest[n..];
                    evs.extend(events(&mut s, 1));
                }
            }
            assert_eq!(
                evs,
                [
                    format!("Oversize {{ len: {} }}", big.len()),
                    "Message a ok".into()
                ],
                "chunk {chunk}"
            );
            assert!(s.is_connected());
            // Only the small one is acked.
            assert_eq!(take_tx(&mut s, 1), [0x40, 2, 0, 6]);
        }
    }

    #[test]
    fn partial_tx_consumed() {
        let (mut rx, mut tx) = ([0u8; 64], [0u8; 64]);
        let mut s = Session::new(&mut rx, &mut tx);
        s.connect(0, &cfg(60)).unwrap();
        let whole = s.tx_pending().to_vec();
        assert_eq!(s.tx_room(), 64 - whole.len());
        let mut sent = Vec::new();
        while !s.tx_pending().is_empty() {
            let n = s.tx_pending().len().min(4);
            sent.extend_from_slice(&s.tx_pending()[..n]);
            s.tx_consumed(n, 0);
        }
        assert_eq!(sent, whole);
        assert_eq!(s.tx_room(), 64);
        // Over-reporting is clamped.
        s.tx_consumed(100, 0);
        assert_eq!(s.tx_room(), 64);

        // A partial send followed by a publish that only fits once pending bytes move forward.
        feed(&mut s, &CONNACK, 0);
        assert_eq!(events(&mut s, 0), ["Connected"]);
        s.publish(0, "t", &[1; 40], 0, None).unwrap(); // 45 bytes
        s.tx_consumed(30, 0);
        assert_eq!(s.tx_room(), 64 - 15);
        s.publish(0, "t", &[2; 40], 0, None).unwrap();
        let pend = s.tx_pending().to_vec();
        assert_eq!(pend.len(), 60);
        assert_eq!(
            &pend[..15],
            &publish_bytes("t", &[1; 40], 0, None, false)[30..]
        );
        assert_eq!(
            &pend[15..],
            &publish_bytes("t", &[2; 40], 0, None, false)[..]
        );
        assert_eq!(
            s.publish(0, "t", b"abc", 0, None),
            Err(SessionError::TxFull)
        );
        // Too big: TxFull while bytes are pending, an encode error once tx is empty.
        assert_eq!(
            s.publish(0, "t", &[0; 70], 0, None),
            Err(SessionError::TxFull)
        );
        take_tx(&mut s, 0);
        assert_eq!(
            s.publish(0, "t", &[0; 70], 0, None),
            Err(SessionError::Encode(EncodeError::BufferTooSmall))
        );
    }

    #[test]
    fn pending_pubacks_when_tx_full() {
        let (mut rx, mut tx) = ([0u8; 256], [0u8; 24]);
        let mut s = connected(&mut rx, &mut tx, 0);
        s.publish(0, "t", &[0; 19], 0, None).unwrap(); // 24 bytes: tx full
        assert_eq!(s.tx_room(), 0);
        let mut inb = Vec::new();
        for pid in 1..=6u16 {
            inb.extend(publish_bytes("a", &[b'0' + pid as u8], 1, Some(pid), false));
        }
        feed(&mut s, &inb, 1);
        // Four acks fit the pending list; the fifth message waits in rx.
        let evs = events(&mut s, 1);
        assert_eq!(
            evs,
            ["Message a 1", "Message a 2", "Message a 3", "Message a 4"]
        );
        assert_eq!(s.acks, [1, 2, 3, 4]);
        // Send part of tx: one PUBACK fits, then the rest follow in order as tx drains.
        s.tx_consumed(4, 2);
        let evs = events(&mut s, 2);
        assert_eq!(evs, ["Message a 5"]);
        let mut out = take_tx(&mut s, 3);
        for _ in 0..4 {
            out.extend(take_tx(&mut s, 3));
            let evs = events(&mut s, 3);
            if !evs.is_empty() {
                assert_eq!(evs, ["Message a 6"]);
            }
        }
        out.extend(take_tx(&mut s, 3));
        let acks: Vec<u8> = out[20..].to_vec();
        let want: Vec<u8> = (1..=6u8).flat_map(|p| [0x40, 2, 0, p]).collect();
        assert_eq!(acks, want);
    }

    #[test]
    fn rx_compacts_partial_packet() {
        let (mut rx, mut tx) = ([0u8; 16], [0u8; 64]);
        let mut s = connected(&mut rx, &mut tx, 0);
        // 10 bytes complete + 5 of a 10-byte packet.
        let p1 = publish_bytes("a", b"12345", 0, None, false);
        let p2 = publish_bytes("b", b"67890", 0, None, false);
        assert_eq!((p1.len(), p2.len()), (10, 10));
        let mut first = p1.clone();
        first.extend_from_slice(&p2[..5]);
        feed(&mut s, &first, 1);
        assert_eq!(events(&mut s, 1), ["Message a 12345"]);
        // The rest of p2 cannot fit behind it: rx_space moves it to the front.
        assert_eq!(s.rx_space().len(), 11);
        feed(&mut s, &p2[5..], 1);
        assert_eq!(events(&mut s, 1), ["Message b 67890"]);
    }

    #[test]
    fn tiny_rx_buffer_is_dead_not_stuck() {
        let (mut rx, mut tx) = ([0u8; 2], [0u8; 64]);
        let mut s = Session::new(&mut rx, &mut tx);
        s.connect(0, &cfg(0)).unwrap();
        feed(&mut s, &[0x30, 0x80], 1);
        assert_eq!(events(&mut s, 1), ["Dead"]);
    }

    /// Random traffic (biased towards valid packets) in random chunks: never a panic, and the
    /// session stays internally consistent.
    #[test]
    fn random_traffic_never_panics() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x = crate::num::xorshift64(x);
            x
        };
        let pieces: [&[u8]; 8] = [
            &[0x20, 2, 0, 0],
            &[0x90, 3, 0, 1, 0x80],
            &[0x40, 2, 0, 1],
            &[0xd0, 0],
            &[0x32, 6, 0, 1, b't', 0, 3, b'x'],
            &[0x30, 0x90, 0x01],
            &[0x30, 3, 0, 1, b'a'],
            &[0xff],
        ];
        for _ in 0..20_000 {
            let mut stream = Vec::new();
            for _ in 0..(next() % 12) {
                if next() % 4 == 0 {
                    stream.extend((0..next() % 8).map(|_| next() as u8));
                } else {
                    stream.extend_from_slice(pieces[(next() % 8) as usize]);
                }
            }
            let (mut rx, mut tx) = ([0u8; 24], [0u8; 40]);
            let mut s = Session::new(&mut rx, &mut tx);
            s.connect(0, &cfg(1)).unwrap();
            let mut now = 0;
            let mut rest = &stream[..];
            while !rest.is_empty() {
                now += next() % 700;
                let sp = s.rx_space();
                let n = sp.len().min(rest.len()).min(1 + (next() % 9) as usize);
                sp[..n].copy_from_slice(&rest[..n]);
                s.rx_filled(n, now);
                rest = &rest[n..];
                let _ = events(&mut s, now);
                let _ = s.publish(now, "r", b"p", (next() % 2) as u8, None);
                let _ = s.subscribe("t", 1);
                let k = s.tx_pending().len().min((next() % 16) as usize);
                s.tx_consumed(k, now);
                if n == 0 {
                    // rx full of unprocessed packets: only when closed or under PUBACK backpressure.
                    assert!(!s.is_connected() || s.acks.iter().all(|&p| p != 0));
                    break;
                }
                assert!(s.rx.start <= s.rx.end && s.rx.end <= s.rx.buf.len());
                assert!(s.tx.start <= s.tx.end && s.tx.end <= s.tx.buf.len());
            }
        }
    }
}
