//! The firmware HTTP server: plays COS. HTTP/1.1 on 127.0.0.1, one thread per connection,
//! images served from memory. Range (`a-b`, `a-`, `-n`) → 206, none → 200, unsatisfiable → 416,
//! strong `ETag` (quoted MD5 of the image, as COS gives for simple uploads), `If-Range`,
//! keep-alive and `Connection: close`, 404 for unknown paths. Every request is logged.

use crate::checker::offer_token;
use crate::cloud::Faults;
use crate::report::HttpLog;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Largest request head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Idle time after which a keep-alive connection is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// One image the server serves.
pub(crate) struct ServedFile {
    pub data: Arc<[u8]>,
    /// Quoted, as sent in the `ETag` header.
    pub etag: String,
    /// `product_id/device_name`.
    pub device: String,
    /// Faults to inject when serving this image (none implemented yet).
    #[allow(dead_code)]
    pub faults: Faults,
}

/// Where the server reports what it does (the cloud's shared state).
pub(crate) trait HttpSink: Send + Sync {
    /// Time since the cloud started.
    fn clock(&self) -> Duration;
    /// A response is about to be written; returns a handle for [`HttpSink::sent`].
    fn begin(&self, log: HttpLog) -> usize;
    /// `bytes` body bytes of response `idx` were written.
    fn sent(&self, idx: usize, bytes: u64);
}

pub(crate) struct HttpServer {
    port: u16,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    live: Arc<Mutex<HashMap<u64, TcpStream>>>,
}

impl HttpServer {
    pub fn start(
        port: u16,
        files: HashMap<String, ServedFile>,
        sink: Arc<dyn HttpSink>,
    ) -> io::Result<HttpServer> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let live: Arc<Mutex<HashMap<u64, TcpStream>>> = Arc::default();
        let files = Arc::new(files);
        let accept = {
            let stop = stop.clone();
            let live = live.clone();
            std::thread::Builder::new()
                .name("standin-http".into())
                .spawn(move || accept_loop(listener, files, sink, stop, live))?
        };
        Ok(HttpServer {
            port,
            stop,
            accept: Some(accept),
            live,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops accepting, closes every open connection, joins the accept thread.
    pub fn stop(&mut self) {
        if self.stop.swap(true, Ordering::SeqCst) {
            return;
        }
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], self.port)),
            Duration::from_secs(1),
        );
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        for (_, s) in lock(&self.live).drain() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn accept_loop(
    listener: TcpListener,
    files: Arc<HashMap<String, ServedFile>>,
    sink: Arc<dyn HttpSink>,
    stop: Arc<AtomicBool>,
    live: Arc<Mutex<HashMap<u64, TcpStream>>>,
) {
    static CONN_IDS: AtomicU64 = AtomicU64::new(1);
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let id = CONN_IDS.fetch_add(1, Ordering::Relaxed);
        if let Ok(clone) = stream.try_clone() {
            lock(&live).insert(id, clone);
        }
        let files = files.clone();
        let sink = sink.clone();
        let live2 = live.clone();
        let spawned = std::thread::Builder::new()
            .name("standin-http-conn".into())
            .spawn(move || {
                let _ = serve_connection(stream, id, &files, &*sink);
                lock(&live2).remove(&id);
            });
        if spawned.is_err() {
            lock(&live).remove(&id);
        }
    }
}

/// The parsed request head.
struct Request {
    method: String,
    target: String,
    version: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn keep_alive(&self) -> bool {
        let tokens = |v: &str, t: &str| v.split(',').any(|x| x.trim().eq_ignore_ascii_case(t));
        let conn = self.header("Connection").unwrap_or("");
        if tokens(conn, "close") {
            return false;
        }
        if self.version == "HTTP/1.0" {
            return tokens(conn, "keep-alive");
        }
        true
    }
}

fn parse_head(head: &str) -> Option<Request> {
    let mut lines = head.split("\r\n");
    let mut parts = lines.next()?.split(' ');
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let version = parts.next()?.to_owned();
    if parts.next().is_some() || !version.starts_with("HTTP/1.") || method.is_empty() {
        return None;
    }
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let (n, v) = line.split_once(':')?;
        if n.is_empty() || n.contains(' ') {
            return None;
        }
        headers.push((n.to_owned(), v.trim().to_owned()));
    }
    Some(Request {
        method,
        target,
        version,
        headers,
    })
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// What to send for a GET of an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangePlan {
    /// 200 with the whole image.
    Full,
    /// 206 with bytes `start..=end`.
    Partial(u64, u64),
    /// 416.
    Unsatisfiable,
}

/// Decides the response to `Range`/`If-Range` for an image of `total` bytes with `etag`
/// (RFC 9110 §14): an `If-Range` other than the current strong ETag, an unknown unit, several
/// ranges or a syntactically invalid range make the server ignore `Range` (200); a first byte at
/// or past the end, or an empty suffix, is unsatisfiable (416); a last byte past the end is
/// clamped (Tencent's SDKs ask for `bytes=off-file_size`, one past the end).
pub fn plan_range(
    range: Option<&str>,
    if_range: Option<&str>,
    etag: &str,
    total: u64,
) -> RangePlan {
    let Some(range) = range else {
        return RangePlan::Full;
    };
    if let Some(ir) = if_range
        && ir.trim() != etag
    {
        return RangePlan::Full;
    }
    let range = range.trim();
    let Some((unit, spec)) = range.split_once('=') else {
        return RangePlan::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return RangePlan::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangePlan::Full;
    };
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        // Suffix: the last n bytes.
        let Some(n) = num(b) else {
            return RangePlan::Full;
        };
        if n == 0 || total == 0 {
            return RangePlan::Unsatisfiable;
        }
        return RangePlan::Partial(total - n.min(total), total - 1);
    }
    let Some(start) = num(a) else {
        return RangePlan::Full;
    };
    let end = if b.is_empty() {
        None
    } else {
        match num(b) {
            Some(e) if e >= start => Some(e),
            _ => return RangePlan::Full,
        }
    };
    if start >= total {
        return RangePlan::Unsatisfiable;
    }
    let end = end.map_or(total - 1, |e| e.min(total - 1));
    RangePlan::Partial(start, end)
}

fn serve_connection(
    mut stream: TcpStream,
    conn: u64,
    files: &HashMap<String, ServedFile>,
    sink: &dyn HttpSink,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut tmp = [0u8; 4096];
    loop {
        // Read one request head.
        let head_end = loop {
            if let Some(end) = find_head_end(&buf) {
                break end;
            }
            if buf.len() > MAX_HEAD {
                simple(&mut stream, 431, "Request Header Fields Too Large", false)?;
                return Ok(());
            }
            let n = stream.read(&mut tmp)?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&tmp[..n]);
        };
        let at = sink.clock();
        let Some(req) = std::str::from_utf8(&buf[..head_end - 4])
            .ok()
            .and_then(parse_head)
        else {
            simple(&mut stream, 400, "Bad Request", false)?;
            return Ok(());
        };
        buf.drain(..head_end);
        // Discard a request body, if any (GET should have none).
        if let Some(len) = req.header("Content-Length") {
            let Ok(mut len) = len.parse::<usize>() else {
                simple(&mut stream, 400, "Bad Request", false)?;
                return Ok(());
            };
            if len > 1 << 20 {
                simple(&mut stream, 413, "Content Too Large", false)?;
                return Ok(());
            }
            let have = len.min(buf.len());
            buf.drain(..have);
            len -= have;
            while len > 0 {
                let n = stream.read(&mut tmp[..len.min(4096)])?;
                if n == 0 {
                    return Ok(());
                }
                len -= n;
            }
        }
        if req.header("Transfer-Encoding").is_some() {
            simple(&mut stream, 501, "Not Implemented", false)?;
            return Ok(());
        }

        let keep_alive = req.keep_alive();
        let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
        let file = files.get(path);
        let mut log = HttpLog {
            at,
            conn,
            method: req.method.clone(),
            target: req.target.clone(),
            path: path.to_owned(),
            range: req.header("Range").map(str::to_owned),
            if_range: req.header("If-Range").map(str::to_owned),
            host: req.header("Host").map(str::to_owned),
            status: 0,
            start: None,
            content_length: 0,
            bytes_sent: 0,
            device: file.map(|f| f.device.clone()),
            offer: offer_token(query),
        };
        let head_only = req.method == "HEAD";
        if req.method != "GET" && !head_only {
            log.status = 405;
            sink.begin(log);
            let body = "method not allowed\n";
            let head = format!(
                "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n{body}",
                body.len(),
                conn_header(keep_alive)
            );
            stream.write_all(head.as_bytes())?;
        } else if let Some(file) = file {
            // Fault injection goes here: `file.faults` decides to drop, stall or corrupt.
            let total = file.data.len() as u64;
            let plan = plan_range(
                log.range.as_deref(),
                log.if_range.as_deref(),
                &file.etag,
                total,
            );
            let common = format!(
                "Accept-Ranges: bytes\r\nETag: {}\r\nContent-Type: application/octet-stream\r\nServer: qcloud-ota-standin\r\nConnection: {}\r\n",
                file.etag,
                conn_header(keep_alive)
            );
            let (status, head, body) = match plan {
                RangePlan::Full => (
                    200,
                    format!("HTTP/1.1 200 OK\r\n{common}Content-Length: {total}\r\n\r\n"),
                    Some((0, total)),
                ),
                RangePlan::Partial(a, b) => (
                    206,
                    format!(
                        "HTTP/1.1 206 Partial Content\r\n{common}Content-Range: bytes {a}-{b}/{total}\r\nContent-Length: {}\r\n\r\n",
                        b - a + 1
                    ),
                    Some((a, b + 1)),
                ),
                RangePlan::Unsatisfiable => (
                    416,
                    format!(
                        "HTTP/1.1 416 Range Not Satisfiable\r\n{common}Content-Range: bytes */{total}\r\nContent-Length: 0\r\n\r\n"
                    ),
                    None,
                ),
            };
            log.status = status;
            if let Some((a, b)) = body {
                log.start = Some(a);
                log.content_length = b - a;
            }
            let idx = sink.begin(log);
            stream.write_all(head.as_bytes())?;
            if let (Some((a, b)), false) = (body, head_only) {
                let data = &file.data[a as usize..b as usize];
                let mut off = 0;
                let mut result = Ok(());
                while off < data.len() {
                    match stream.write(&data[off..]) {
                        Ok(0) => {
                            result = Err(io::ErrorKind::WriteZero.into());
                            break;
                        }
                        Ok(n) => off += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
                sink.sent(idx, off as u64);
                result?;
            }
        } else {
            log.status = 404;
            sink.begin(log);
            let body = "not found\n";
            let head = format!(
                "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
                body.len(),
                conn_header(keep_alive)
            );
            stream.write_all(head.as_bytes())?;
            if !head_only {
                stream.write_all(body.as_bytes())?;
            }
        }
        if !keep_alive {
            let _ = stream.shutdown(Shutdown::Write);
            return Ok(());
        }
    }
}

fn conn_header(keep_alive: bool) -> &'static str {
    if keep_alive { "keep-alive" } else { "close" }
}

fn simple(stream: &mut TcpStream, code: u16, reason: &str, keep_alive: bool) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Length: 0\r\nConnection: {}\r\n\r\n",
        conn_header(keep_alive)
    );
    stream.write_all(head.as_bytes())?;
    if !keep_alive {
        let _ = stream.shutdown(Shutdown::Write);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::RangePlan::*;
    use super::*;

    const E: &str = "\"abc\"";

    #[test]
    fn ranges() {
        let p = |r: &str| plan_range(Some(r), None, E, 100);
        assert_eq!(plan_range(None, None, E, 100), Full);
        assert_eq!(p("bytes=0-9"), Partial(0, 9));
        assert_eq!(p("bytes=10-"), Partial(10, 99));
        assert_eq!(p("bytes=-10"), Partial(90, 99));
        assert_eq!(p("bytes=-1000"), Partial(0, 99));
        assert_eq!(p("bytes=0-100"), Partial(0, 99)); // Tencent's one-past-the-end
        assert_eq!(p("bytes=99-99"), Partial(99, 99));
        assert_eq!(p("bytes=100-"), Unsatisfiable);
        assert_eq!(p("bytes=100-200"), Unsatisfiable);
        assert_eq!(p("bytes=-0"), Unsatisfiable);
        assert_eq!(p("bytes=9-0"), Full);
        assert_eq!(p("bytes=0-1,5-6"), Full);
        assert_eq!(p("items=0-1"), Full);
        assert_eq!(p("bytes=x-1"), Full);
        assert_eq!(plan_range(Some("bytes=0-"), None, E, 0), Unsatisfiable);
        assert_eq!(
            plan_range(Some("bytes=5-"), Some(E), E, 100),
            Partial(5, 99)
        );
        assert_eq!(plan_range(Some("bytes=5-"), Some("\"old\""), E, 100), Full);
    }

    #[test]
    fn heads() {
        let r =
            parse_head("GET /a?b HTTP/1.1\r\nHost: x\r\nRange:  bytes=0-1 \r\nConnection: close")
                .unwrap();
        assert_eq!(r.target, "/a?b");
        assert_eq!(r.header("range"), Some("bytes=0-1"));
        assert!(!r.keep_alive());
        let r = parse_head("GET / HTTP/1.0\r\nHost: x").unwrap();
        assert!(!r.keep_alive());
        let r = parse_head("GET / HTTP/1.1\r\nHost: x").unwrap();
        assert!(r.keep_alive());
        assert!(parse_head("GET /\r\n").is_none());
        assert!(parse_head("GET / HTTP/1.1\r\nbad header").is_none());
    }
}
