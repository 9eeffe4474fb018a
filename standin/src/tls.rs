//! TLS for the test bench: a test CA generated at run time with its server certificates, rustls
//! server configurations, and [`TlsFront`], a TLS-terminating front for a plain TCP service (the
//! embedded broker of the demo) that also records the raw bytes each client sent first, so a
//! test can prove nothing went out in clear.

use crate::Error;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The server certificates of the test PKI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leaf {
    /// Valid now, for `localhost` and `127.0.0.1`, signed by the test CA.
    Localhost,
    /// Valid now, signed by the test CA, but only for `wrong.example`.
    WrongName,
    /// For `localhost` and `127.0.0.1`, signed by the test CA, expired in 2021.
    Expired,
    /// Valid now for `localhost` and `127.0.0.1`, signed by another CA nobody trusts.
    UnknownCa,
}

impl Leaf {
    pub const ALL: [Leaf; 4] = [
        Leaf::Localhost,
        Leaf::WrongName,
        Leaf::Expired,
        Leaf::UnknownCa,
    ];

    fn name(self) -> &'static str {
        match self {
            Leaf::Localhost => "localhost",
            Leaf::WrongName => "wrong-name",
            Leaf::Expired => "expired",
            Leaf::UnknownCa => "unknown-ca",
        }
    }
}

/// The device certificates of the test PKI (certificate authentication: TLS client
/// credentials the broker checks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// RSA 2048, signed by the test CA.
    Rsa,
    /// ECDSA P-256, signed by the test CA.
    Ecdsa,
    /// ECDSA P-256, signed by a foreign CA the broker does not trust.
    Foreign,
}

impl Device {
    pub const ALL: [Device; 3] = [Device::Rsa, Device::Ecdsa, Device::Foreign];

    fn name(self) -> &'static str {
        match self {
            Device::Rsa => "device-rsa",
            Device::Ecdsa => "device-ecdsa",
            Device::Foreign => "device-foreign",
        }
    }
}

/// A test CA (`DIR/ca.pem`) and its leaves (`DIR/<leaf>.crt`, `DIR/<leaf>.key`), and the
/// device certificates (`DIR/device-*.crt`, `.key`, and `.der` / `.key.der`).
pub struct TestPki {
    dir: PathBuf,
    leaves: Vec<(Leaf, CertificateDer<'static>, Vec<u8>)>,
}

fn err(what: &str) -> impl Fn(rcgen::Error) -> Error + '_ {
    move |e| Error::new(format!("test PKI, {what}: {e}"))
}

fn new_ca(cn: &str) -> Result<(rcgen::Certificate, Issuer<'static, KeyPair>), Error> {
    let mut p = CertificateParams::new(Vec::<String>::new()).map_err(err("CA"))?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, cn);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = date_time_ymd(2020, 1, 1);
    p.not_after = date_time_ymd(2099, 1, 1);
    let key = KeyPair::generate().map_err(err("CA key"))?;
    let cert = p.self_signed(&key).map_err(err("CA"))?;
    Ok((cert, Issuer::new(p, key)))
}

fn new_leaf(
    names: &[&str],
    valid: (i32, i32),
    issuer: &Issuer<'static, KeyPair>,
) -> Result<(CertificateDer<'static>, String, KeyPair), Error> {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut p = CertificateParams::new(names.clone()).map_err(err("leaf"))?;
    p.distinguished_name
        .push(DnType::CommonName, names[0].as_str());
    p.use_authority_key_identifier_extension = true;
    p.key_usages.push(KeyUsagePurpose::DigitalSignature);
    p.extended_key_usages
        .push(ExtendedKeyUsagePurpose::ServerAuth);
    p.not_before = date_time_ymd(valid.0, 1, 1);
    p.not_after = date_time_ymd(valid.1, 1, 1);
    let key = KeyPair::generate().map_err(err("leaf key"))?;
    let cert = p.signed_by(&key, issuer).map_err(err("leaf"))?;
    Ok((cert.der().clone(), cert.pem(), key))
}

/// An RSA 2048 key: ring (rcgen's backend) cannot generate RSA keys, so OpenSSL's command line
/// does (the C demos need OpenSSL anyway).
fn rsa_2048(dir: &Path) -> Result<KeyPair, Error> {
    let file = dir.join("rsa-keygen.pem");
    let out = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&file)
        .stderr(std::process::Stdio::piped())
        .output()
        .map_err(|e| Error::new(format!("openssl genpkey (RSA test key): {e}")))?;
    if !out.status.success() {
        return Err(Error::new(format!(
            "openssl genpkey: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let pem = std::fs::read_to_string(&file).map_err(|e| Error::new(e.to_string()))?;
    let _ = std::fs::remove_file(&file);
    KeyPair::from_pem(&pem).map_err(err("RSA key"))
}

/// A TLS client certificate for a test device (the broker checks only its CA, not its name).
fn new_device(key: KeyPair, issuer: &Issuer<'static, KeyPair>) -> Result<(String, KeyPair), Error> {
    let mut p = CertificateParams::new(Vec::<String>::new()).map_err(err("device"))?;
    p.distinguished_name
        .push(DnType::CommonName, "E2ECERT001device");
    p.use_authority_key_identifier_extension = true;
    p.key_usages.push(KeyUsagePurpose::DigitalSignature);
    p.extended_key_usages
        .push(ExtendedKeyUsagePurpose::ClientAuth);
    p.not_before = date_time_ymd(2020, 1, 1);
    p.not_after = date_time_ymd(2099, 1, 1);
    let cert = p.signed_by(&key, issuer).map_err(err("device"))?;
    Ok((cert.pem(), key))
}

impl TestPki {
    /// Generates the CA and every [`Leaf`] into `dir` (created if missing).
    pub fn generate(dir: &Path) -> Result<TestPki, Error> {
        let io = |e: io::Error| Error::new(format!("{}: {e}", dir.display()));
        std::fs::create_dir_all(dir).map_err(io)?;
        let (ca, issuer) = new_ca("qcloud-ota test CA")?;
        let (_, other) = new_ca("an unknown CA")?;
        let (_, foreign) = new_ca("a foreign device CA")?;
        std::fs::write(dir.join("ca.pem"), ca.pem()).map_err(io)?;
        let here = ["localhost", "127.0.0.1"];
        let mut leaves = Vec::new();
        for leaf in Leaf::ALL {
            let (der, pem, key) = match leaf {
                Leaf::Localhost => new_leaf(&here, (2020, 2099), &issuer)?,
                Leaf::WrongName => new_leaf(&["wrong.example"], (2020, 2099), &issuer)?,
                Leaf::Expired => new_leaf(&here, (2020, 2021), &issuer)?,
                Leaf::UnknownCa => new_leaf(&here, (2020, 2099), &other)?,
            };
            std::fs::write(dir.join(format!("{}.crt", leaf.name())), pem).map_err(io)?;
            let key_file = dir.join(format!("{}.key", leaf.name()));
            std::fs::write(key_file, key.serialize_pem()).map_err(io)?;
            leaves.push((leaf, der, key.serialize_der()));
        }
        for device in Device::ALL {
            let (pem, key) = match device {
                Device::Rsa => new_device(rsa_2048(dir)?, &issuer)?,
                Device::Ecdsa => new_device(KeyPair::generate().map_err(err("key"))?, &issuer)?,
                Device::Foreign => new_device(KeyPair::generate().map_err(err("key"))?, &foreign)?,
            };
            let file = |ext: &str| dir.join(format!("{}.{ext}", device.name()));
            let der = rustls::pki_types::pem::PemObject::from_pem_slice(pem.as_bytes())
                .map(|c: CertificateDer<'_>| c.to_vec())
                .map_err(|e| Error::new(format!("device certificate: {e}")))?;
            std::fs::write(file("crt"), &pem).map_err(io)?;
            std::fs::write(file("der"), der).map_err(io)?;
            std::fs::write(file("key"), key.serialize_pem()).map_err(io)?;
            std::fs::write(file("key.der"), key.serialize_der()).map_err(io)?;
        }
        Ok(TestPki {
            dir: dir.to_path_buf(),
            leaves,
        })
    }

    /// The test CA certificate (PEM): the anchor devices are given with `--ca`.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    pub fn cert_path(&self, leaf: Leaf) -> PathBuf {
        self.dir.join(format!("{}.crt", leaf.name()))
    }

    pub fn key_path(&self, leaf: Leaf) -> PathBuf {
        self.dir.join(format!("{}.key", leaf.name()))
    }

    /// A device certificate, PEM (`der`: DER).
    pub fn device_cert_path(&self, device: Device, der: bool) -> PathBuf {
        let ext = if der { "der" } else { "crt" };
        self.dir.join(format!("{}.{ext}", device.name()))
    }

    /// A device certificate's private key, PEM (PKCS#8) (`der`: DER).
    pub fn device_key_path(&self, device: Device, der: bool) -> PathBuf {
        let ext = if der { "key.der" } else { "key" };
        self.dir.join(format!("{}.{ext}", device.name()))
    }

    /// A rustls server configuration presenting `leaf` (TLS 1.2 and 1.3).
    pub fn server_config(&self, leaf: Leaf) -> Result<Arc<ServerConfig>, Error> {
        let (_, der, key) = self
            .leaves
            .iter()
            .find(|(l, ..)| *l == leaf)
            .ok_or_else(|| Error::new("unknown leaf"))?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.clone()));
        let cfg =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| Error::new(format!("TLS versions: {e}")))?
                .with_no_client_auth()
                .with_single_cert(vec![der.clone()], key)
                .map_err(|e| Error::new(format!("server certificate: {e}")))?;
        Ok(Arc::new(cfg))
    }
}

/// How many raw bytes of each connection [`TlsFront`] keeps.
const RECORDED: usize = 64;

/// A TLS server in front of a plain TCP service on 127.0.0.1 (or of nothing: then it only
/// completes handshakes). One thread per connection; stopped on drop.
pub struct TlsFront {
    port: u16,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    first_bytes: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl TlsFront {
    /// Listens on a free 127.0.0.1 port (or `port`) with `config`; forwards the decrypted
    /// stream to `backend`.
    pub fn start(
        config: Arc<ServerConfig>,
        port: u16,
        backend: Option<SocketAddr>,
    ) -> Result<TlsFront, Error> {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .map_err(|e| Error::new(format!("TLS front on port {port}: {e}")))?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::new(e.to_string()))?
            .port();
        let stop = Arc::new(AtomicBool::new(false));
        let first_bytes: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let accept = {
            let (stop, first_bytes) = (stop.clone(), first_bytes.clone());
            std::thread::Builder::new()
                .name("standin-tls-front".into())
                .spawn(move || {
                    for stream in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(stream) = stream else { continue };
                        let (cfg, stop, rec) = (config.clone(), stop.clone(), first_bytes.clone());
                        let _ = std::thread::Builder::new()
                            .name("standin-tls-conn".into())
                            .spawn(move || {
                                let _ = relay(stream, cfg, backend, &stop, &rec);
                            });
                    }
                })
                .map_err(|e| Error::new(format!("cannot spawn the TLS front: {e}")))?
        };
        Ok(TlsFront {
            port,
            stop,
            accept: Some(accept),
            first_bytes,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The first bytes (up to 64) each client sent, raw, one entry per connection.
    pub fn first_bytes(&self) -> Vec<Vec<u8>> {
        self.first_bytes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn stop(&mut self) {
        if self.stop.swap(true, Ordering::SeqCst) {
            return;
        }
        let _ = TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], self.port)),
            Duration::from_secs(1),
        );
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.stop();
    }
}

fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// One connection: TLS on `tcp`, plain bytes to and from `backend`. Short read timeouts on both
/// sides let one thread serve both directions.
fn relay(
    mut tcp: TcpStream,
    cfg: Arc<ServerConfig>,
    backend: Option<SocketAddr>,
    stop: &AtomicBool,
    record: &Mutex<Vec<Vec<u8>>>,
) -> io::Result<()> {
    let tick = Some(Duration::from_millis(5));
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(tick)?;
    let mut conn = rustls::ServerConnection::new(cfg).map_err(io::Error::other)?;
    let mut back = match backend {
        Some(a) => {
            let b = TcpStream::connect(a)?;
            b.set_nodelay(true)?;
            b.set_read_timeout(tick)?;
            Some(b)
        }
        None => None,
    };
    let mut slot: Option<usize> = None;
    let mut buf = vec![0u8; 32 * 1024];
    while !stop.load(Ordering::SeqCst) {
        match tcp.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let mut rec = record.lock().unwrap_or_else(|e| e.into_inner());
                let i = *slot.get_or_insert_with(|| {
                    rec.push(Vec::new());
                    rec.len() - 1
                });
                let first = &mut rec[i];
                let k = n.min(RECORDED.saturating_sub(first.len()));
                first.extend_from_slice(&buf[..k]);
                drop(rec);
                // rustls takes at most what its deframer has room for: feed the read in as
                // many parts as it takes, draining the plaintext after each.
                let mut rest = &buf[..n];
                while !rest.is_empty() {
                    conn.read_tls(&mut rest)?;
                    if let Err(e) = conn.process_new_packets() {
                        // Send the alert that says why, then give up.
                        let _ = conn.write_tls(&mut tcp);
                        return Err(io::Error::other(e));
                    }
                    let mut plain = [0u8; 16 * 1024];
                    loop {
                        match conn.reader().read(&mut plain) {
                            Ok(0) => return Ok(()),
                            Ok(k) => {
                                if let Some(b) = back.as_mut() {
                                    b.write_all(&plain[..k])?;
                                }
                            }
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(e) => return Err(e),
                        }
                    }
                }
            }
            Err(e) if would_block(&e) => {}
            Err(e) => return Err(e),
        }
        if !conn.is_handshaking()
            && let Some(b) = back.as_mut()
        {
            match b.read(&mut buf) {
                Ok(0) => {
                    conn.send_close_notify();
                    let _ = conn.write_tls(&mut tcp);
                    break;
                }
                Ok(n) => conn.writer().write_all(&buf[..n])?,
                Err(e) if would_block(&e) => {}
                Err(e) => return Err(e),
            }
        }
        while conn.wants_write() {
            conn.write_tls(&mut tcp)?;
        }
    }
    let _ = tcp.shutdown(Shutdown::Both);
    Ok(())
}
