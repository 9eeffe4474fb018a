//! A private mosquitto for tests: generated config on a free 127.0.0.1 port, stopped by PID.

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
    dir: PathBuf,
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
        let bin = find_mosquitto().ok_or_else(|| {
            Error::new("mosquitto not found on PATH (nor in /usr/sbin): install it (apt-get install mosquitto)")
        })?;
        let mut last = String::new();
        for _ in 0..5 {
            match Self::try_start(&bin) {
                Ok(m) => return Ok(m),
                Err(e) => last = e.to_string(),
            }
        }
        Err(Error::new(format!("mosquitto did not start: {last}")))
    }

    fn try_start(bin: &Path) -> Result<Mosquitto, Error> {
        static N: AtomicU32 = AtomicU32::new(0);
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| Error::new(format!("no free port: {e}")))?
            .port();
        let dir = std::env::temp_dir().join(format!(
            "qcloud-ota-standin-mosquitto-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| Error::new(format!("{}: {e}", dir.display())))?;
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest file {}\nlog_type error\nlog_type warning\nlog_type notice\n",
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
        let mut m = Mosquitto { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(5);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
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
