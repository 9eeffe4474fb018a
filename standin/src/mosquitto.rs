//! A private mosquitto for tests: generated config on a free 127.0.0.1 port (and optionally a
//! TLS listener next to it for the device, the plain one staying the cloud side's), stopped by
//! PID. Its log also goes to `$SYS/broker/log/...`, where the stand-in sees gateways connect.

use crate::Error;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A running mosquitto. Dropping it kills the process and removes its directory.
pub struct Mosquitto {
    child: Child,
    port: u16,
    tls_port: Option<u16>,
    cert_port: Option<u16>,
    dir: PathBuf,
}

/// The TLS listeners: the server certificate and key (PEM), and for certificate authentication
/// the CA whose device certificates a third listener requires.
#[derive(Clone, Copy)]
struct TlsFiles<'a> {
    cert: &'a Path,
    key: &'a Path,
    client_ca: Option<&'a Path>,
}

/// Finds the mosquitto binary: `$PATH` first, then the sbin directories Debian installs it in
/// (which a non-root `$PATH` may lack).
pub fn find_mosquitto() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.push("/usr/sbin".into());
    dirs.push("/usr/local/sbin".into());
    dirs.into_iter()
        .map(|d| d.join("mosquitto"))
        .find(|p| p.is_file())
}

impl Mosquitto {
    /// Starts mosquitto on a free port. Fails (never skips) when mosquitto is not installed.
    pub fn start() -> Result<Mosquitto, Error> {
        Self::start_with(None)
    }

    /// Starts mosquitto with a plain listener and a TLS listener presenting `cert`/`key` (PEM).
    pub fn start_tls(cert: &Path, key: &Path) -> Result<Mosquitto, Error> {
        Self::start_with(Some(TlsFiles {
            cert,
            key,
            client_ca: None,
        }))
    }

    /// As [`Mosquitto::start_tls`], plus a third listener for certificate authentication
    /// ([`Mosquitto::cert_port`]): `require_certificate`, device certificates checked against
    /// `client_ca` (PEM).
    pub fn start_tls_cert_auth(
        cert: &Path,
        key: &Path,
        client_ca: &Path,
    ) -> Result<Mosquitto, Error> {
        Self::start_with(Some(TlsFiles {
            cert,
            key,
            client_ca: Some(client_ca),
        }))
    }

    fn start_with(tls: Option<TlsFiles<'_>>) -> Result<Mosquitto, Error> {
        let bin = find_mosquitto().ok_or_else(|| {
            Error::new("mosquitto not found on PATH (nor in /usr/sbin): install it (apt-get install mosquitto)")
        })?;
        let mut last = String::new();
        for _ in 0..5 {
            match Self::try_start(&bin, tls) {
                Ok(m) => return Ok(m),
                Err(e) => last = e.to_string(),
            }
        }
        Err(Error::new(format!("mosquitto did not start: {last}")))
    }

    fn try_start(bin: &Path, tls: Option<TlsFiles<'_>>) -> Result<Mosquitto, Error> {
        static N: AtomicU32 = AtomicU32::new(0);
        let free_port = || {
            TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .map_err(|e| Error::new(format!("no free port: {e}")))
        };
        let port = free_port()?;
        let tls_port = match tls {
            Some(_) => Some(free_port()?),
            None => None,
        };
        let cert_port = match tls.and_then(|t| t.client_ca) {
            Some(_) => Some(free_port()?),
            None => None,
        };
        let mut tls_listener = match (tls, tls_port) {
            (Some(t), Some(p)) => format!(
                "listener {p} 127.0.0.1\ncertfile {}\nkeyfile {}\n",
                t.cert.display(),
                t.key.display()
            ),
            _ => String::new(),
        };
        if let (Some(t), Some(ca), Some(p)) = (tls, tls.and_then(|t| t.client_ca), cert_port) {
            // The device's certificate is its credential: no certificate, or one from another
            // CA, and the handshake fails.
            tls_listener.push_str(&format!(
                "listener {p} 127.0.0.1\ncertfile {}\nkeyfile {}\ncafile {}\nrequire_certificate true\n",
                t.cert.display(),
                t.key.display(),
                ca.display()
            ));
        }
        let dir = std::env::temp_dir().join(format!(
            "qcloud-ota-standin-mosquitto-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| Error::new(format!("{}: {e}", dir.display())))?;
        // Started as root, mosquitto drops to its own user, and when it cannot open its log
        // file it logs nowhere, not even to `$SYS/broker/log` (which the stand-in reads).
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))
                .map_err(|e| Error::new(format!("{}: {e}", dir.display())))?;
        }
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "per_listener_settings false\nallow_anonymous true\npersistence false\nlog_dest file {}\nlog_dest topic\nlog_type error\nlog_type warning\nlog_type notice\nlistener {port} 127.0.0.1\n{tls_listener}",
                dir.join("mosquitto.log").display()
            ),
        )
        .map_err(|e| Error::new(format!("{}: {e}", conf.display())))?;
        let child = Command::new(bin)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Error::new(format!("{}: {e}", bin.display())))?;
        let mut m = Mosquitto {
            child,
            port,
            tls_port,
            cert_port,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        let up = |p: u16| {
            TcpStream::connect_timeout(
                &SocketAddr::from(([127, 0, 0, 1], p)),
                Duration::from_millis(200),
            )
            .is_ok()
        };
        loop {
            if up(port) && tls_port.is_none_or(up) && cert_port.is_none_or(up) {
                return Ok(m);
            }
            if let Ok(Some(status)) = m.child.try_wait() {
                return Err(Error::new(format!(
                    "mosquitto exited with {status}: {}",
                    m.log().trim()
                )));
            }
            if Instant::now() > deadline {
                return Err(Error::new("mosquitto did not listen within 5 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The TLS listener's port ([`Mosquitto::start_tls`]).
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// The certificate-authentication listener's port ([`Mosquitto::start_tls_cert_auth`]).
    pub fn cert_port(&self) -> Option<u16> {
        self.cert_port
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// mosquitto's own log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
