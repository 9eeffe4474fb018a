//! The built-in TLS (cargo feature `tls`): rustls's unbuffered client over the host's plain
//! sockets, as a state machine like the other layers: TLS records in from `recv`, records out
//! through `send`, nothing blocks. One [`Session`] per open connection, boxed: rustls allocates
//! anyway while a session lives, and `ota_client` stays small. Nothing is allocated until the
//! first TLS connection (the configurations are built then and kept for reconnects).
//!
//! Trust: the MQTT broker is checked against Tencent's IoT CA (the broker's private root), the
//! firmware server against the Mozilla roots of `webpki-roots`; both also trust the anchors the
//! host passes (`ota_config.ca`). Host names are always verified. Certificate validity uses the
//! host's wall clock (`unix_time_s`); without one, or with a clock before the library's build
//! time (an RTC not yet set), the build time stands in: a certificate that expired before the
//! build is still refused, and a later expiry goes unnoticed until the host provides time.

extern crate alloc;

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::num::NonZeroUsize;
use core::ops::Range;
use core::sync::atomic::{AtomicI64, Ordering};
use core::time::Duration;

use std::sync::Mutex;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{
    ClientSessionStore, Resumption, Tls12ClientSessionValue, Tls13ClientSessionValue,
    UnbufferedClientConnection,
};
use rustls::crypto::{
    CryptoProvider, WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, TrustAnchor, UnixTime};
use rustls::time_provider::TimeProvider;
use rustls::unbuffered::{ConnectionState, EncodeError, UnbufferedStatus};
use rustls::{
    AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, NamedGroup,
    SignatureScheme,
};

use crate::error::Error;
use crate::platform::{Channel, NetError, Platform, Socket};

/// Smallest receive buffer per built-in TLS connection: one whole record of the largest size a
/// peer may send (16 KiB of plaintext + 2048 bytes of expansion + the 5-byte header). rustls
/// decrypts only whole records, and servers do send full-size ones. (`OTA_MIN_TLS_LEN` in C.)
pub const MIN_RX: usize = 16384 + 2048 + 5;

/// Plaintext bytes encrypted per record (the layers above send less: requests, MQTT packets).
const CHUNK: usize = 3584;
/// Room for one record's overhead (header, explicit nonce, tag, content type) and a TLS 1.3
/// KeyUpdate record rustls may put in front.
const RECORD_ROOM: usize = 128;
/// Steps of the state machine per call (each moves at least one record or socket chunk).
const MAX_STEPS: usize = 64;

/// Tencent's IoT CA ("Tencent Iothub", CN www.tencent.com, valid to 2032-11-23): the private
/// root of the IoT Explorer brokers, as Tencent's device SDKs ship it (certs/tencent_iot_ca.pem).
const TENCENT_IOT_CA: &[u8] = include_bytes!("../certs/tencent_iot_ca.der");
/// The same, for an anchor that borrows it (no copy on the heap).
static TENCENT_IOT_CERT: CertificateDer<'static> = CertificateDer::from_slice(TENCENT_IOT_CA);

/// The library's build time (build.rs): the floor for the certificate clock.
const BUILD_UNIX_S: i64 = match i64::from_str_radix(env!("QCLOUD_OTA_BUILD_UNIX_S"), 10) {
    Ok(t) => t,
    Err(_) => 0,
};

/// The host's wall clock as rustls sees it: set from `unix_time_s` before each step.
#[derive(Debug)]
struct HostClock(AtomicI64);

impl TimeProvider for HostClock {
    fn current_time(&self) -> Option<UnixTime> {
        let t = self.0.load(Ordering::Relaxed).max(BUILD_UNIX_S).max(0);
        Some(UnixTime::since_unix_epoch(Duration::from_secs(t as u64)))
    }
}

/// Map a rustls failure to what a firmware engineer can act on.
fn classify(e: &rustls::Error) -> Error {
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(c) => match c {
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                Error::TlsNameMismatch
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => Error::TlsExpired,
            _ => Error::TlsUntrusted,
        },
        // Alerts a server sends about the client's certificate (certificate authentication):
        // none presented, or not from a CA the broker trusts.
        E::AlertReceived(
            AlertDescription::CertificateRequired
            | AlertDescription::BadCertificate
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnknownCA,
        ) => Error::TlsClientCert,
        E::AlertReceived(_) => Error::TlsAlert,
        _ => Error::TlsHandshake,
    }
}

/// The host's extra anchors: PEM with one or more certificates, or one DER certificate.
fn extra_anchors(ca: &[u8]) -> Result<Vec<TrustAnchor<'static>>, Error> {
    let anchor = |der: &CertificateDer<'_>| {
        webpki::anchor_from_trusted_cert(der)
            .map(|a| a.to_owned())
            .map_err(|_| Error::TlsConfig)
    };
    if ca.is_empty() {
        return Ok(Vec::new());
    }
    if !is_pem(ca) {
        return Ok(alloc::vec![anchor(&CertificateDer::from(ca))?]);
    }
    let mut anchors = Vec::new();
    for cert in CertificateDer::pem_slice_iter(ca) {
        anchors.push(anchor(&cert.map_err(|_| Error::TlsConfig)?)?);
    }
    if anchors.is_empty() {
        return Err(Error::TlsConfig);
    }
    Ok(anchors)
}

/// Check the host's extra anchors at init (allocates only when there are some, and frees).
pub fn check_anchors(ca: &[u8]) -> Result<(), Error> {
    extra_anchors(ca).map(drop)
}

fn is_pem(b: &[u8]) -> bool {
    b.windows(10).any(|w| w == b"-----BEGIN")
}

/// The device's TLS client credentials (certificate authentication): the certificate chain (PEM,
/// or one DER certificate) and its private key (PEM or DER; PKCS#8, PKCS#1 or SEC1), loaded by
/// the crypto provider (RSA, ECDSA P-256/P-384) and checked to match the certificate. Key bytes
/// go only to the provider, never into an error or a log line.
fn client_identity(
    provider: &CryptoProvider,
    cert: &[u8],
    key: &[u8],
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
    let certs = if is_pem(cert) {
        CertificateDer::pem_slice_iter(cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| Error::TlsConfig)?
    } else if cert.is_empty() {
        Vec::new()
    } else {
        alloc::vec![CertificateDer::from(cert.to_vec())]
    };
    let key = if is_pem(key) {
        PrivateKeyDer::from_pem_slice(key).map_err(|_| Error::TlsConfig)?
    } else {
        PrivateKeyDer::try_from(key)
            .map_err(|_| Error::TlsConfig)?
            .clone_key()
    };
    let first = certs.first().ok_or(Error::TlsConfig)?;
    // Loads the key (an unsupported type or a malformed key fails here) and compares its public
    // key with the certificate's.
    let signer = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|_| Error::TlsConfig)?;
    let certified = rustls::sign::CertifiedKey::new(alloc::vec![first.clone()], signer);
    certified.keys_match().map_err(|_| Error::TlsConfig)?;
    Ok((certs, key))
}

/// Check the device's client credentials at init (allocates while checking, and frees).
pub fn check_identity(cert: &[u8], key: &[u8]) -> Result<(), Error> {
    client_identity(&rustls::crypto::ring::default_provider(), cert, key).map(drop)
}

/// A webpki path-building failure as the rustls error [`classify`] reads.
fn pki_error(e: webpki::Error) -> rustls::Error {
    use webpki::Error as W;
    let c = match e {
        W::CertExpired { .. } | W::InvalidCertValidity => CertificateError::Expired,
        W::CertNotValidYet { .. } => CertificateError::NotValidYet,
        W::CertNotValidForName(_) => CertificateError::NotValidForName,
        W::UnknownIssuer => CertificateError::UnknownIssuer,
        W::InvalidSignatureForPublicKey => CertificateError::BadSignature,
        W::BadDer | W::BadDerTime | W::TrailingData(_) => CertificateError::BadEncoding,
        _ => CertificateError::ApplicationVerificationFailure,
    };
    rustls::Error::InvalidCertificate(c)
}

/// The server certificate check of one channel: webpki's chain and name checks (what rustls's
/// `WebPkiServerVerifier` does) against anchors that are mostly borrowed. rustls's verifier
/// wants a `RootCertStore`, a `Vec` of every anchor (the ~150 Mozilla roots cost 17 KiB of
/// heap); here the Mozilla roots stay in `webpki-roots`'s static table.
#[derive(Debug)]
struct Anchors {
    /// Static roots (the Mozilla set for HTTPS; empty for MQTT).
    roots: &'static [TrustAnchor<'static>],
    /// Tencent's IoT CA, borrowed from the binary (MQTT).
    tencent: Option<TrustAnchor<'static>>,
    /// The host's anchors (both channels share them).
    extra: Arc<[TrustAnchor<'static>]>,
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Anchors {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = webpki::EndEntityCert::try_from(end_entity).map_err(pki_error)?;
        // The first failure that is not "unknown issuer" says most (e.g. expired).
        let mut err = webpki::Error::UnknownIssuer;
        for set in [self.roots, self.tencent.as_slice(), &self.extra] {
            if set.is_empty() {
                continue;
            }
            let path = cert.verify_for_usage(
                self.algs.all,
                set,
                intermediates,
                now,
                webpki::KeyUsage::server_auth(),
                None,
                None,
            );
            match path {
                Ok(_) => {
                    cert.verify_is_valid_for_subject_name(server_name)
                        .map_err(pki_error)?;
                    return Ok(ServerCertVerified::assertion());
                }
                Err(webpki::Error::UnknownIssuer) => {}
                Err(e) => err = e,
            }
        }
        Err(pki_error(err))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// `need` bytes of room in `tx` after its first `end` bytes (records waiting for the socket).
fn room(tx: &mut Vec<u8>, end: usize, need: usize) -> &mut [u8] {
    tx.resize(end + need, 0);
    tx.get_mut(end..).unwrap_or(&mut [])
}

/// What a channel remembers to resume its session after a reconnect: the newest ticket (TLS 1.3)
/// or session (TLS 1.2) of its last server, and the key-exchange group that server chose. A
/// channel talks to one server at a time; rustls's memory cache keeps up to 8 tickets per server
/// (each with a copy of the server's certificates) in a table (6.9 KiB for the two channels
/// of tests/tls_heap.rs, against 1.8 KiB here).
#[derive(Debug, Default)]
struct LastSession(Mutex<Remembered>);

#[derive(Debug, Default)]
struct Remembered {
    kx: Option<NamedGroup>,
    session: Option<(ServerName<'static>, Resumable)>,
}

#[derive(Debug)]
enum Resumable {
    Tls12(Tls12ClientSessionValue),
    Tls13(Tls13ClientSessionValue),
}

impl LastSession {
    /// Run `f` on the remembered state (a poisoned lock counts as nothing remembered).
    fn with<R>(&self, f: impl FnOnce(&mut Remembered) -> Option<R>) -> Option<R> {
        self.0.lock().ok().and_then(|mut r| f(&mut r))
    }

    fn put(&self, name: ServerName<'static>, value: Resumable) {
        self.with(|r| r.session.replace((name, value)));
    }
}

impl ClientSessionStore for LastSession {
    fn set_kx_hint(&self, _: ServerName<'static>, group: NamedGroup) {
        self.with(|r| r.kx.replace(group));
    }

    fn kx_hint(&self, _: &ServerName<'_>) -> Option<NamedGroup> {
        self.with(|r| r.kx)
    }

    fn set_tls12_session(&self, name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.put(name, Resumable::Tls12(value));
    }

    fn tls12_session(&self, name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.with(|r| match &r.session {
            Some((n, Resumable::Tls12(v))) if n == name => Some(v.clone()),
            _ => None,
        })
    }

    fn remove_tls12_session(&self, name: &ServerName<'static>) {
        self.with(|r| match &r.session {
            Some((n, Resumable::Tls12(_))) if n == name => r.session.take(),
            _ => None,
        });
    }

    fn insert_tls13_ticket(&self, name: ServerName<'static>, value: Tls13ClientSessionValue) {
        self.put(name, Resumable::Tls13(value));
    }

    fn take_tls13_ticket(&self, name: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        self.with(|r| match r.session.take() {
            Some((n, Resumable::Tls13(v))) if n == *name => Some(v),
            other => {
                r.session = other;
                None
            }
        })
    }
}

/// One TLS connection over a host socket.
pub struct Session {
    conn: UnbufferedClientConnection,
    clock: Arc<HostClock>,
    /// Received TLS bytes waiting in the caller's receive buffer.
    rx_used: usize,
    /// Outgoing records waiting for the socket: allocated to fit while there are some.
    tx: Vec<u8>,
    tx_start: usize,
    tx_end: usize,
    /// Decrypted bytes the layer above has not taken yet: at the tail of the receive buffer,
    /// behind the records still to decrypt (the rest of a record, never on the heap).
    spill: Range<usize>,
    /// The peer closed (close_notify or end of stream).
    eof: bool,
    error: Option<Error>,
}

enum Next {
    Again,
    /// rustls holds a decrypted record of this many bytes.
    Take(usize),
    Read,
    Done,
    Fail(Error),
}

impl Session {
    fn fail(&mut self, e: Error) -> NetError {
        self.error.get_or_insert(e);
        NetError::Failed
    }

    /// Take the decrypted record rustls holds (`len` bytes, its ciphertext already discarded):
    /// into `into` as far as it has room, the rest to the tail of `rx`. That always fits: the
    /// record's ciphertext was longer than its plaintext and is gone from `rx`. Returns the bytes
    /// delivered into `into`.
    fn take(&mut self, rx: &mut [u8], into: &mut [u8], len: usize) -> Result<usize, Error> {
        let used = self.rx_used.min(rx.len());
        let start = rx
            .len()
            .checked_sub(len.saturating_sub(into.len()))
            .filter(|&s| s >= used)
            .ok_or(Error::BufferTooSmall)?;
        let (incoming, tail) = rx.split_at_mut(start);
        let incoming = incoming.get_mut(..used).unwrap_or(&mut []);
        // rustls hands out the record it holds before it looks at new input: nothing is
        // decrypted or discarded here.
        let UnbufferedStatus { state, .. } = self.conn.process_tls_records(incoming);
        let Ok(ConnectionState::ReadTraffic(mut r)) = state else {
            return Err(Error::TlsHandshake);
        };
        let payload = match r.next_record() {
            Some(Ok(rec)) => rec.payload,
            Some(Err(e)) => return Err(classify(&e)),
            None => return Ok(0),
        };
        let k = payload.len().min(into.len());
        let rest = payload.get(k..).unwrap_or(&[]);
        let at = tail
            .len()
            .checked_sub(rest.len())
            .ok_or(Error::BufferTooSmall)?;
        if let (Some(d), Some(p)) = (into.get_mut(..k), payload.get(..k)) {
            d.copy_from_slice(p);
        }
        if let Some(d) = tail.get_mut(at..) {
            d.copy_from_slice(rest);
        }
        self.spill = if rest.is_empty() {
            0..0
        } else {
            start + at..start + tail.len()
        };
        Ok(k)
    }

    /// Move TLS records both ways until the socket would block; encrypt up to one chunk of
    /// `out` once the handshake is done; a decrypted record goes to `into` as far as it has
    /// room (only called with the spill drained, so the order holds), the rest to the spill.
    /// Returns how many bytes of `out` were taken and how many were delivered into `into`.
    fn pump<P: Platform>(
        &mut self,
        plat: &mut P,
        sock: Socket,
        rx: &mut [u8],
        out: &[u8],
        into: &mut [u8],
    ) -> Result<(usize, usize), NetError> {
        if self.error.is_some() {
            return Err(NetError::Failed);
        }
        self.clock
            .0
            .store(plat.unix_time_s().unwrap_or(0), Ordering::Relaxed);
        let (mut taken, mut delivered) = (0, 0);
        for _ in 0..MAX_STEPS {
            while self.tx_start < self.tx_end {
                let pending = self.tx.get(self.tx_start..self.tx_end).unwrap_or(&[]);
                match plat.send(sock, pending) {
                    Ok(n) => self.tx_start += n,
                    Err(NetError::WouldBlock) => return Ok((taken, delivered)),
                    Err(_) => return Err(self.fail(Error::NetIo)),
                }
            }
            if self.tx_end > 0 {
                self.tx = Vec::new();
                self.tx_start = 0;
                self.tx_end = 0;
            }
            if taken > 0 {
                // A send: its record is out; reading on would only park records on the heap.
                return Ok((taken, delivered));
            }
            // While a spill waits, rustls gets no records: a second one would have no room.
            let used = if self.spill.is_empty() {
                self.rx_used.min(rx.len())
            } else {
                0
            };
            let incoming = rx.get_mut(..used).unwrap_or(&mut []);
            let UnbufferedStatus { discard, state } = self.conn.process_tls_records(incoming);
            let next = match state {
                Err(e) => Next::Fail(classify(&e)),
                // The record stays in rustls until its ciphertext is discarded from `rx`.
                Ok(ConnectionState::ReadTraffic(r)) => {
                    Next::Take(r.peek_len().map_or(0, NonZeroUsize::get))
                }
                Ok(ConnectionState::EncodeTlsData(mut e)) => {
                    let mut encoded = e.encode(&mut []);
                    if let Err(EncodeError::InsufficientSize(s)) = encoded {
                        encoded = e.encode(room(&mut self.tx, self.tx_end, s.required_size));
                    }
                    match encoded {
                        Ok(n) => {
                            self.tx_end += n;
                            Next::Again
                        }
                        Err(_) => Next::Fail(Error::TlsHandshake),
                    }
                }
                Ok(ConnectionState::TransmitTlsData(t)) => {
                    t.done(); // sent at the top of the next step
                    Next::Again
                }
                Ok(ConnectionState::WriteTraffic(mut w)) if taken == 0 && !out.is_empty() => {
                    let n = out.len().min(CHUNK);
                    match w.encrypt(
                        out.get(..n).unwrap_or(&[]),
                        room(&mut self.tx, self.tx_end, n + RECORD_ROOM),
                    ) {
                        Ok(k) => {
                            self.tx_end += k;
                            taken = n;
                            Next::Again
                        }
                        Err(_) => Next::Fail(Error::TlsHandshake),
                    }
                }
                Ok(ConnectionState::PeerClosed | ConnectionState::Closed) => {
                    self.eof = true;
                    Next::Done
                }
                Ok(_) => Next::Read,
            };
            let discard = discard.min(used);
            if discard > 0 {
                rx.copy_within(discard..used, 0);
                self.rx_used = used - discard;
            }
            match next {
                Next::Again => {}
                Next::Take(len) => {
                    let room = into.get_mut(delivered..).unwrap_or(&mut []);
                    delivered += self.take(rx, room, len).map_err(|e| self.fail(e))?;
                    // A receive returns with its record (a send goes on to encrypt).
                    if out.is_empty() && (delivered > 0 || !self.spill.is_empty()) {
                        return Ok((taken, delivered));
                    }
                }
                Next::Done => return Ok((taken, delivered)),
                Next::Fail(e) => return Err(self.fail(e)),
                Next::Read => {
                    // Hand over what was decrypted before reading more (the spill needs room).
                    if !self.spill.is_empty() || delivered > 0 || self.eof {
                        return Ok((taken, delivered));
                    }
                    let Some(space) = rx.get_mut(self.rx_used..).filter(|s| !s.is_empty()) else {
                        // A record larger than the buffer: the host's buffer is too small.
                        return Err(self.fail(Error::BufferTooSmall));
                    };
                    match plat.recv(sock, space) {
                        Ok(n) => self.rx_used += n,
                        Err(NetError::WouldBlock) => return Ok((taken, delivered)),
                        Err(NetError::Closed) => {
                            self.eof = true;
                            return Ok((taken, delivered));
                        }
                        Err(NetError::Failed) => return Err(self.fail(Error::NetIo)),
                    }
                }
            }
        }
        Ok((taken, delivered))
    }

    pub fn send<P: Platform>(
        &mut self,
        plat: &mut P,
        sock: Socket,
        rx: &mut [u8],
        buf: &[u8],
    ) -> Result<usize, NetError> {
        match self.pump(plat, sock, rx, buf, &mut [])?.0 {
            0 if self.eof => Err(self.fail(Error::NetIo)),
            0 => Err(NetError::WouldBlock),
            n => Ok(n),
        }
    }

    pub fn recv<P: Platform>(
        &mut self,
        plat: &mut P,
        sock: Socket,
        rx: &mut [u8],
        buf: &mut [u8],
    ) -> Result<usize, NetError> {
        if self.spill.is_empty() {
            match self.pump(plat, sock, rx, &[], buf)? {
                (_, 0) => {}
                (_, n) => return Ok(n),
            }
        }
        let left = rx.get(self.spill.clone()).unwrap_or(&[]);
        let n = left.len().min(buf.len());
        if n > 0 {
            if let (Some(dst), Some(src)) = (buf.get_mut(..n), left.get(..n)) {
                dst.copy_from_slice(src);
            }
            self.spill.start += n;
            if self.spill.is_empty() {
                self.spill = 0..0;
            }
            return Ok(n);
        }
        if self.eof {
            return Err(NetError::Closed);
        }
        Err(NetError::WouldBlock)
    }

    pub fn error(&self) -> Option<Error> {
        self.error
    }

    /// Decrypted bytes, or a whole record in `rx`, wait to be processed (and nothing waits for
    /// the socket to take output first: then its writability wakes the host).
    fn pending(&self, rx: &[u8]) -> bool {
        if !self.spill.is_empty() {
            return true;
        }
        if self.error.is_some() || self.eof || self.tx_start < self.tx_end {
            return false;
        }
        let head = rx.get(..self.rx_used.min(rx.len())).unwrap_or(&[]);
        // A whole record: the 5-byte header and the length it announces.
        match head.get(3..5) {
            Some(&[hi, lo]) => 5 + usize::from(u16::from_be_bytes([hi, lo])) <= head.len(),
            _ => false,
        }
    }
}

/// The built-in TLS of one client: the host's buffers and anchors, the configurations (built on
/// first use), and the open sessions.
pub struct Tls<'b> {
    ca: &'b [u8],
    /// Certificate authentication: the device's certificate and key for the broker.
    client: Option<(&'b [u8], &'b [u8])>,
    mqtt_rx: &'b mut [u8],
    http_rx: &'b mut [u8],
    /// What both configurations share, built with the first.
    shared: Option<Shared>,
    configs: [Option<Arc<ClientConfig>>; 2],
    sessions: [Option<Box<Session>>; 2],
    /// Why the last session of each channel failed (kept after it is closed).
    errors: [Option<Error>; 2],
}

struct Shared {
    clock: Arc<HostClock>,
    provider: Arc<CryptoProvider>,
    extra: Arc<[TrustAnchor<'static>]>,
}

fn index(ch: Channel) -> usize {
    match ch {
        Channel::Mqtt => 0,
        Channel::Http => 1,
    }
}

impl<'b> Tls<'b> {
    /// `buf` is split: the first [`MIN_RX`] bytes for MQTT when `mqtt` (the broker link uses the
    /// built-in TLS), the rest for HTTPS. `client`: the device's certificate and key, which
    /// the broker's sessions present (certificate authentication).
    pub fn new(
        buf: &'b mut [u8],
        ca: &'b [u8],
        mqtt: bool,
        client: Option<(&'b [u8], &'b [u8])>,
    ) -> Result<Self, Error> {
        let need = if mqtt { 2 * MIN_RX } else { 0 };
        if buf.len() < need {
            return Err(Error::BufferTooSmall);
        }
        check_anchors(ca)?;
        if let Some((cert, key)) = client {
            check_identity(cert, key)?;
        }
        let (mqtt_rx, http_rx) = buf.split_at_mut(if mqtt { MIN_RX } else { 0 });
        Ok(Tls {
            ca,
            client,
            mqtt_rx,
            http_rx,
            shared: None,
            configs: [None, None],
            sessions: [None, None],
            errors: [None, None],
        })
    }

    fn config(&mut self, ch: Channel) -> Result<Arc<ClientConfig>, Error> {
        let i = index(ch);
        if let Some(c) = self.configs.get(i).and_then(Option::as_ref) {
            return Ok(c.clone());
        }
        let shared = match &mut self.shared {
            Some(s) => s,
            none => none.insert(Shared {
                clock: Arc::new(HostClock(AtomicI64::new(0))),
                provider: Arc::new(rustls::crypto::ring::default_provider()),
                extra: extra_anchors(self.ca)?.into(),
            }),
        };
        let (roots, tencent) = match ch {
            Channel::Mqtt => {
                let tencent = webpki::anchor_from_trusted_cert(&TENCENT_IOT_CERT)
                    .map_err(|_| Error::TlsConfig)?;
                (&[][..], Some(tencent))
            }
            Channel::Http => (webpki_roots::TLS_SERVER_ROOTS, None),
        };
        let verifier = Arc::new(Anchors {
            roots,
            tencent,
            extra: shared.extra.clone(),
            algs: shared.provider.signature_verification_algorithms,
        });
        let builder =
            ClientConfig::builder_with_details(shared.provider.clone(), shared.clock.clone())
                .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
                .map_err(|_| Error::TlsConfig)?
                .dangerous() // a full check all the same: Anchors is webpki's, over other anchors
                .with_custom_certificate_verifier(verifier);
        let mut cfg = match (ch, self.client) {
            (Channel::Mqtt, Some((cert, key))) => {
                let (certs, key) = client_identity(&shared.provider, cert, key)?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|_| Error::TlsConfig)?
            }
            _ => builder.with_no_client_auth(),
        };
        cfg.resumption = Resumption::store(Arc::new(LastSession::default()));
        let cfg = Arc::new(cfg);
        if let Some(slot) = self.configs.get_mut(i) {
            *slot = Some(cfg.clone());
        }
        Ok(cfg)
    }

    /// Start a TLS session for `host` on a plain socket the host just opened.
    pub fn open(&mut self, ch: Channel, host: &str) -> Result<(), Error> {
        let i = index(ch);
        if let Some(e) = self.errors.get_mut(i) {
            *e = None;
        }
        let rx_len = match ch {
            Channel::Mqtt => self.mqtt_rx.len(),
            Channel::Http => self.http_rx.len(),
        };
        if rx_len < MIN_RX {
            return Err(Error::TlsConfig);
        }
        let cfg = self.config(ch)?;
        let clock = self.shared.as_ref().ok_or(Error::TlsConfig)?.clock.clone();
        let name = ServerName::try_from(host)
            .map_err(|_| Error::TlsNameMismatch)?
            .to_owned();
        let conn = UnbufferedClientConnection::new(cfg, name).map_err(|e| classify(&e))?;
        let session = Box::new(Session {
            conn,
            clock,
            rx_used: 0,
            tx: Vec::new(),
            tx_start: 0,
            tx_end: 0,
            spill: 0..0,
            eof: false,
            error: None,
        });
        if let Some(s) = self.sessions.get_mut(i) {
            *s = Some(session);
        }
        Ok(())
    }

    pub fn is_open(&self, ch: Channel) -> bool {
        self.sessions.get(index(ch)).is_some_and(Option::is_some)
    }

    /// The session and its receive buffer.
    fn parts(&mut self, ch: Channel) -> Option<(&mut Session, &mut [u8])> {
        let (session, rx) = match ch {
            Channel::Mqtt => (self.sessions.get_mut(0)?, &mut *self.mqtt_rx),
            Channel::Http => (self.sessions.get_mut(1)?, &mut *self.http_rx),
        };
        Some((session.as_deref_mut()?, rx))
    }

    pub fn send<P: Platform>(
        &mut self,
        plat: &mut P,
        ch: Channel,
        sock: Socket,
        buf: &[u8],
    ) -> Result<usize, NetError> {
        let (s, rx) = self.parts(ch).ok_or(NetError::Failed)?;
        s.send(plat, sock, rx, buf)
    }

    pub fn recv<P: Platform>(
        &mut self,
        plat: &mut P,
        ch: Channel,
        sock: Socket,
        buf: &mut [u8],
    ) -> Result<usize, NetError> {
        let (s, rx) = self.parts(ch).ok_or(NetError::Failed)?;
        s.recv(plat, sock, rx, buf)
    }

    /// See [`Session::pending`].
    pub fn pending(&self, ch: Channel) -> bool {
        let (session, rx) = match ch {
            Channel::Mqtt => (self.sessions.first(), &*self.mqtt_rx),
            Channel::Http => (self.sessions.get(1), &*self.http_rx),
        };
        session
            .and_then(Option::as_deref)
            .is_some_and(|s| s.pending(rx))
    }

    /// End the session (the socket is the caller's to close); its error stays readable.
    pub fn close(&mut self, ch: Channel) {
        let i = index(ch);
        let err = self
            .sessions
            .get_mut(i)
            .and_then(Option::take)
            .and_then(|s| s.error());
        if let Some(e) = self.errors.get_mut(i) {
            *e = err;
        }
    }

    /// Why the channel's session failed (open or just closed), if TLS was the reason.
    pub fn error(&self, ch: Channel) -> Option<Error> {
        let i = index(ch);
        self.sessions
            .get(i)
            .and_then(Option::as_ref)
            .and_then(|s| s.error())
            .or_else(|| self.errors.get(i).copied().flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::HostError;
    use qcloud_ota_standin::{Leaf, TestPki};
    use rustls::{RootCertStore, ServerConnection};
    use std::io::{Read, Write};
    use std::vec;

    /// A host whose one socket leads to an in-memory rustls server.
    struct Pipe {
        server: ServerConnection,
        to_client: Vec<u8>,
        /// Plaintext the server received.
        received: Vec<u8>,
        /// Raw bytes the client sent.
        wire: Vec<u8>,
    }

    impl Pipe {
        fn new(leaf: Leaf, pki: &TestPki, client_auth: bool) -> Pipe {
            let cfg = if client_auth {
                let mut roots = RootCertStore::empty();
                let ca = std::fs::read(pki.ca_path()).unwrap();
                roots.add_parsable_certificates(CertificateDer::pem_slice_iter(&ca).flatten());
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider.clone(),
                )
                .build()
                .unwrap();
                let key = std::fs::read(pki.key_path(leaf)).unwrap();
                let cert = std::fs::read(pki.cert_path(leaf)).unwrap();
                let certs = CertificateDer::pem_slice_iter(&cert).flatten().collect();
                let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(&key).unwrap();
                Arc::new(
                    rustls::ServerConfig::builder_with_provider(provider)
                        .with_safe_default_protocol_versions()
                        .unwrap()
                        .with_client_cert_verifier(verifier)
                        .with_single_cert(certs, key)
                        .unwrap(),
                )
            } else {
                pki.server_config(leaf).unwrap()
            };
            Pipe::to(cfg)
        }

        /// A fresh connection to a server of `cfg` (its session store resumes across them).
        fn to(cfg: Arc<rustls::ServerConfig>) -> Pipe {
            Pipe {
                server: ServerConnection::new(cfg).unwrap(),
                to_client: Vec::new(),
                received: Vec::new(),
                wire: Vec::new(),
            }
        }

        fn flush_server(&mut self) {
            while self.server.wants_write() {
                self.server.write_tls(&mut self.to_client).unwrap();
            }
        }
    }

    impl Platform for Pipe {
        fn now_ms(&mut self) -> u64 {
            0
        }
        fn unix_time_s(&mut self) -> Option<i64> {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            Some(now.unwrap().as_secs() as i64)
        }
        fn connect(&mut self, _: Channel, _: &str, _: u16, _: u32) -> Result<Socket, NetError> {
            Ok(Socket(0))
        }
        fn send(&mut self, _: Socket, buf: &[u8]) -> Result<usize, NetError> {
            self.wire.extend_from_slice(buf);
            // After a failure the server refuses more input; the client hears the alert.
            let _ = self.server.read_tls(&mut &buf[..]);
            let _ = self.server.process_new_packets();
            let mut plain = [0u8; 4096];
            while let Ok(n @ 1..) = self.server.reader().read(&mut plain) {
                self.received.extend_from_slice(&plain[..n]);
            }
            self.flush_server();
            Ok(buf.len())
        }
        fn recv(&mut self, _: Socket, buf: &mut [u8]) -> Result<usize, NetError> {
            if self.to_client.is_empty() {
                return Err(NetError::WouldBlock);
            }
            let n = buf.len().min(self.to_client.len());
            buf[..n].copy_from_slice(&self.to_client[..n]);
            self.to_client.drain(..n);
            Ok(n)
        }
        fn close(&mut self, _: Socket) {}
        fn slot_open(&mut self, _: u32, _: u32) -> Result<(), HostError> {
            Ok(())
        }
        fn slot_write(&mut self, _: u32, _: &[u8]) -> Result<(), HostError> {
            Ok(())
        }
        fn slot_close(&mut self, _: bool) -> Result<(), HostError> {
            Ok(())
        }
        fn store_load(&mut self, _: u8, _: &mut [u8]) -> usize {
            0
        }
        fn store_save(&mut self, _: u8, _: &[u8]) -> Result<(), HostError> {
            Ok(())
        }
    }

    /// A test PKI in a directory removed when the guard goes.
    struct Pki(TestPki, std::path::PathBuf);
    impl Drop for Pki {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.1);
        }
    }
    impl core::ops::Deref for Pki {
        type Target = TestPki;
        fn deref(&self) -> &TestPki {
            &self.0
        }
    }

    fn pki(name: &str) -> Pki {
        let dir = std::env::temp_dir().join(std::format!(
            "qcloud-ota-tls-unit-{name}-{}",
            std::process::id()
        ));
        Pki(TestPki::generate(&dir).unwrap(), dir)
    }

    /// Send `msg` through the session, pumping the server, until it is all taken or `Err`.
    fn send_all(t: &mut Tls<'_>, p: &mut Pipe, msg: &[u8]) -> Result<(), NetError> {
        let mut off = 0;
        for _ in 0..100 {
            if off == msg.len() {
                return Ok(());
            }
            match t.send(p, Channel::Http, Socket(0), &msg[off..]) {
                Ok(n) => off += n,
                Err(NetError::WouldBlock) => {}
                Err(e) => return Err(e),
            }
        }
        panic!("send did not finish");
    }

    /// Receive until the session ends (or nothing more comes): the bytes, and how it ended.
    fn recv_all(t: &mut Tls<'_>, p: &mut Pipe) -> (Vec<u8>, NetError) {
        let mut out = Vec::new();
        let mut buf = [0u8; 700]; // smaller than a record: the rest waits in the session
        for _ in 0..1000 {
            match t.recv(p, Channel::Http, Socket(0), &mut buf) {
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => {
                    if e != NetError::WouldBlock || !out.is_empty() {
                        return (out, e);
                    }
                }
            }
        }
        (out, NetError::WouldBlock)
    }

    #[test]
    fn a_session_handshakes_and_moves_bytes_both_ways_over_the_hosts_socket() {
        let pki = pki("ok");
        let ca = std::fs::read(pki.ca_path()).unwrap();
        let mut p = Pipe::new(Leaf::Localhost, &pki, false);
        let mut buf = vec![0u8; MIN_RX];
        let mut t = Tls::new(&mut buf, &ca, false, None).unwrap();
        t.open(Channel::Http, "localhost").unwrap();
        let request = vec![b'r'; 10_000]; // several records
        send_all(&mut t, &mut p, &request).unwrap();
        assert_eq!(p.received, request);
        assert_eq!(p.wire.first(), Some(&0x16), "a handshake first");
        assert!(
            !p.wire.windows(16).any(|w| w == &request[..16]),
            "never in clear"
        );
        let answer: Vec<u8> = (0..40_000u32).map(|i| i as u8).collect();
        p.server.writer().write_all(&answer).unwrap();
        p.server.send_close_notify();
        p.flush_server();
        assert!(
            !t.pending(Channel::Http),
            "nothing read from the socket yet"
        );
        let mut first = [0u8; 700];
        let n = t
            .recv(&mut p, Channel::Http, Socket(0), &mut first)
            .unwrap();
        assert!(
            t.pending(Channel::Http),
            "the rest of the record waits in the library"
        );
        let (rest, end) = recv_all(&mut t, &mut p);
        let got = [&first[..n], &rest[..]].concat();
        assert_eq!(end, NetError::Closed, "close_notify ends the stream");
        assert!(!t.pending(Channel::Http));
        assert!(got == answer, "{} of {} bytes", got.len(), answer.len());
        assert_eq!(t.error(Channel::Http), None);
    }

    #[test]
    fn a_reconnect_resumes_the_last_session_over_tls13_and_tls12() {
        use rustls::HandshakeKind::{Full, Resumed};
        let pki = pki("resume");
        let ca = std::fs::read(pki.ca_path()).unwrap();
        let key = std::fs::read(pki.key_path(Leaf::Localhost)).unwrap();
        let cert = std::fs::read(pki.cert_path(Leaf::Localhost)).unwrap();
        let mut buf = vec![0u8; MIN_RX];
        let mut t = Tls::new(&mut buf, &ca, false, None).unwrap();
        let server = |version: &'static rustls::SupportedProtocolVersion| {
            let certs = CertificateDer::pem_slice_iter(&cert).flatten().collect();
            let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(&key).unwrap();
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let cfg = rustls::ServerConfig::builder_with_provider(provider)
                .with_protocol_versions(&[version])
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .unwrap();
            Arc::new(cfg)
        };
        // Each server config remembers its own sessions; the client its last one.
        let tls13 = server(&rustls::version::TLS13);
        let tls12 = server(&rustls::version::TLS12);
        for (server, kind) in [
            (&tls13, Full),
            (&tls13, Resumed),
            (&tls12, Full),
            (&tls12, Resumed),
        ] {
            let mut p = Pipe::to(server.clone());
            t.open(Channel::Http, "localhost").unwrap();
            send_all(&mut t, &mut p, b"ping").unwrap();
            // The answer comes after the server's tickets: the client has taken them. Full
            // records read in small pieces: their rest waits at the tail of the buffer.
            let answer: Vec<u8> = (0..40_000u32).map(|i| (i * 7) as u8).collect();
            p.server.writer().write_all(&answer).unwrap();
            p.flush_server();
            assert!(recv_all(&mut t, &mut p).0 == answer);
            assert_eq!(p.server.handshake_kind(), Some(kind));
            t.close(Channel::Http);
        }
    }

    #[test]
    fn a_wrong_name_fails_before_any_application_data() {
        let pki = pki("name");
        let ca = std::fs::read(pki.ca_path()).unwrap();
        let mut p = Pipe::new(Leaf::WrongName, &pki, false);
        let mut buf = vec![0u8; MIN_RX];
        let mut t = Tls::new(&mut buf, &ca, false, None).unwrap();
        t.open(Channel::Http, "localhost").unwrap();
        assert_eq!(
            send_all(&mut t, &mut p, b"GET / HTTP/1.1\r\n"),
            Err(NetError::Failed)
        );
        assert_eq!(t.error(Channel::Http), Some(Error::TlsNameMismatch));
        assert!(p.received.is_empty());
        t.close(Channel::Http);
        assert_eq!(
            t.error(Channel::Http),
            Some(Error::TlsNameMismatch),
            "kept after close"
        );
    }

    #[test]
    fn a_fatal_alert_from_the_server_is_reported_as_such() {
        // The server wants a client certificate the device does not have: TLS 1.3 lets the
        // client finish, then the server ends the session with a certificate_required alert,
        // which says what is missing.
        let pki = pki("alert");
        let ca = std::fs::read(pki.ca_path()).unwrap();
        let mut p = Pipe::new(Leaf::Localhost, &pki, true);
        let mut buf = vec![0u8; MIN_RX];
        let mut t = Tls::new(&mut buf, &ca, false, None).unwrap();
        t.open(Channel::Http, "localhost").unwrap();
        // The alert may arrive while the request is still going out, or after.
        let end = match send_all(&mut t, &mut p, b"hello") {
            Err(e) => e,
            Ok(()) => recv_all(&mut t, &mut p).1,
        };
        assert_eq!(end, NetError::Failed);
        assert_eq!(t.error(Channel::Http), Some(Error::TlsClientCert));
        assert!(p.received.is_empty(), "the server took nothing");
    }

    /// Open the MQTT channel (the one certificate authentication uses) and send `msg`.
    fn mqtt_send(t: &mut Tls<'_>, p: &mut Pipe, msg: &[u8]) -> Result<(), NetError> {
        t.open(Channel::Mqtt, "localhost").unwrap();
        let mut off = 0;
        for _ in 0..100 {
            match t.send(p, Channel::Mqtt, Socket(0), &msg[off..]) {
                Ok(n) => off += n,
                Err(NetError::WouldBlock) => {}
                Err(e) => return Err(e),
            }
            if off == msg.len() {
                // TLS 1.3: the server's verdict on the client certificate comes after.
                let mut buf = [0u8; 64];
                for _ in 0..10 {
                    match t.recv(p, Channel::Mqtt, Socket(0), &mut buf) {
                        Err(NetError::WouldBlock) => {}
                        Err(e) => return Err(e),
                        Ok(_) => {}
                    }
                }
                return Ok(());
            }
        }
        panic!("send did not finish");
    }

    #[test]
    fn a_device_certificate_authenticates_the_broker_session_and_a_foreign_one_is_refused() {
        use qcloud_ota_standin::Device;
        let pki = pki("client");
        let ca = std::fs::read(pki.ca_path()).unwrap();
        for (device, der) in [
            (Device::Rsa, false),
            (Device::Ecdsa, true),
            (Device::Foreign, false),
        ] {
            let cert = std::fs::read(pki.device_cert_path(device, der)).unwrap();
            let key = std::fs::read(pki.device_key_path(device, der)).unwrap();
            let mut p = Pipe::new(Leaf::Localhost, &pki, true);
            let mut buf = vec![0u8; 2 * MIN_RX];
            let mut t = Tls::new(&mut buf, &ca, true, Some((&cert, &key))).unwrap();
            let sent = mqtt_send(&mut t, &mut p, b"MQTT CONNECT");
            if device == Device::Foreign {
                assert_eq!(sent, Err(NetError::Failed));
                assert_eq!(t.error(Channel::Mqtt), Some(Error::TlsClientCert));
                assert!(p.received.is_empty());
            } else {
                assert_eq!(sent, Ok(()), "{device:?}");
                assert_eq!(p.received, b"MQTT CONNECT");
                let presented = p.server.peer_certificates().unwrap();
                assert_eq!(presented.len(), 1);
                assert_eq!(t.error(Channel::Mqtt), None);
            }
        }
    }

    #[test]
    fn client_credentials_are_pem_or_der_rsa_or_ecdsa_and_must_match() {
        use qcloud_ota_standin::Device;
        let pki = pki("identity");
        let read = |d, der, key: bool| {
            std::fs::read(match key {
                false => pki.device_cert_path(d, der),
                true => pki.device_key_path(d, der),
            })
            .unwrap()
        };
        for d in Device::ALL {
            for der in [false, true] {
                assert_eq!(
                    check_identity(&read(d, der, false), &read(d, der, true)),
                    Ok(())
                );
            }
        }
        let (rsa, ec) = (Device::Rsa, Device::Ecdsa);
        let mismatched = check_identity(&read(rsa, false, false), &read(ec, false, true));
        assert_eq!(
            mismatched,
            Err(Error::TlsConfig),
            "another certificate's key"
        );
        assert_eq!(
            check_identity(b"", &read(ec, true, true)),
            Err(Error::TlsConfig)
        );
        assert_eq!(
            check_identity(&read(ec, true, false), b""),
            Err(Error::TlsConfig)
        );
        assert_eq!(
            check_identity(&read(ec, true, false), b"junk"),
            Err(Error::TlsConfig)
        );
        assert_eq!(
            check_identity(
                b"-----BEGIN CERTIFICATE-----\nnope\n",
                &read(ec, false, true)
            ),
            Err(Error::TlsConfig)
        );
        // Refused at set-up, before any connection.
        let mut buf = vec![0u8; 2 * MIN_RX];
        let (cert, key) = (read(rsa, false, false), read(ec, false, true));
        assert!(matches!(
            Tls::new(&mut buf, b"", true, Some((&cert, &key))),
            Err(Error::TlsConfig)
        ));
    }

    const CA_PEM: &[u8] = include_bytes!("../certs/tencent_iot_ca.pem");

    #[test]
    fn anchors_are_pem_der_or_refused() {
        assert_eq!(check_anchors(b""), Ok(()));
        assert_eq!(check_anchors(CA_PEM), Ok(()));
        assert_eq!(check_anchors(TENCENT_IOT_CA), Ok(()));
        let mut two = CA_PEM.to_vec();
        two.extend_from_slice(CA_PEM);
        assert_eq!(check_anchors(&two), Ok(()));
        assert_eq!(check_anchors(b"not a certificate"), Err(Error::TlsConfig));
        assert_eq!(check_anchors(&[0x30, 0x82, 0x01]), Err(Error::TlsConfig));
    }

    #[test]
    fn failures_map_to_actionable_errors() {
        use rustls::Error as E;
        let cert = |c| classify(&E::InvalidCertificate(c));
        assert_eq!(cert(CertificateError::UnknownIssuer), Error::TlsUntrusted);
        assert_eq!(cert(CertificateError::BadSignature), Error::TlsUntrusted);
        assert_eq!(
            cert(CertificateError::NotValidForName),
            Error::TlsNameMismatch
        );
        assert_eq!(cert(CertificateError::Expired), Error::TlsExpired);
        assert_eq!(cert(CertificateError::NotValidYet), Error::TlsExpired);
        let alert = E::AlertReceived(rustls::AlertDescription::HandshakeFailure);
        assert_eq!(classify(&alert), Error::TlsAlert);
        for a in [
            AlertDescription::CertificateRequired,
            AlertDescription::UnknownCA,
        ] {
            assert_eq!(classify(&E::AlertReceived(a)), Error::TlsClientCert);
        }
        assert_eq!(classify(&E::DecryptError), Error::TlsHandshake);
    }

    #[test]
    fn the_clock_never_goes_before_the_build() {
        let c = HostClock(AtomicI64::new(0));
        let t = c.current_time().unwrap().as_secs();
        assert_eq!(t, BUILD_UNIX_S as u64);
        c.0.store(BUILD_UNIX_S + 1000, Ordering::Relaxed);
        assert_eq!(
            c.current_time().unwrap().as_secs(),
            BUILD_UNIX_S as u64 + 1000
        );
        const { assert!(BUILD_UNIX_S > 1_700_000_000, "build.rs sets the build time") };
    }

    #[test]
    fn buffers_below_the_minimum_are_refused() {
        let mut small = [0u8; MIN_RX];
        assert!(matches!(
            Tls::new(&mut small, b"", true, None),
            Err(Error::BufferTooSmall)
        ));
        let mut t = Tls::new(&mut small, b"", false, None).unwrap();
        assert_eq!(t.open(Channel::Mqtt, "x.example"), Err(Error::TlsConfig));
    }
}
