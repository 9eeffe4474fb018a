//! The firmware HTTP server: plays COS. HTTP/1.1 on 127.0.0.1, one thread per connection,
//! images served from memory. Range (`a-b`, `a-`, `-n`) → 206, none → 200, unsatisfiable → 416,
//! strong `ETag` (quoted MD5 of the image, as COS gives for simple uploads), `If-Range`,
//! keep-alive and `Connection: close`, 404 for unknown paths. Every request is logged.
//! Fault injection ([`Faults`]) per image: error statuses, redirects, ignored ranges, wrong
//! lengths, chunked bodies, stalls, dropped connections and a replaced object.
//! With a TLS configuration it serves HTTPS (rustls); either way it records the first raw bytes
//! of every connection, so a test can tell a TLS handshake (0x16) from a request sent in clear.

use crate::checker::{offer_query, offer_token};
use crate::cloud::Faults;
use crate::files::md5_hex;
use crate::report::HttpLog;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// Largest request head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Idle time after which a keep-alive connection is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// One version of an image's object.
pub(crate) struct Object {
    pub data: Arc<[u8]>,
    /// Quoted, as sent in the `ETag` header.
    pub etag: String,
    /// MD5 of `data`, lowercase hex.
    pub md5: String,
}

impl Object {
    fn new(data: Arc<[u8]>) -> Object {
        let md5 = md5_hex(&data);
        Object {
            data,
            etag: format!("\"{md5}\""),
            md5,
        }
    }
}

/// One image the server serves, shared with the OTA model (which reads the current MD5 and
/// records its offers here).
pub(crate) struct ServedFile {
    /// `product_id/device_name`.
    pub device: String,
    pub faults: Faults,
    /// Some fault acts on the server (the fast path skips all fault handling otherwise).
    active: bool,
    object: Mutex<Arc<Object>>,
    state: Mutex<FaultState>,
}

/// What the faults have done so far.
#[derive(Default)]
struct FaultState {
    /// `drop_at` offsets not fired yet, ascending.
    drops: Vec<u64>,
    stall: Option<(u64, Duration)>,
    trickle: Option<(u64, Duration)>,
    server_errors: usize,
    redirects: usize,
    insecure_redirects: usize,
    wrong_length_done: bool,
    change_at: Option<u64>,
    /// ETags of replaced objects.
    old_etags: Vec<String>,
    /// Offer tokens of this device, in order.
    offers: Vec<u64>,
    /// Redirect tokens and the offer each stands for.
    aliases: Vec<(u64, Option<u64>)>,
}

/// Tokens (`t=`) of redirect URLs; far from the offers' range.
static NEXT_ALIAS: AtomicU64 = AtomicU64::new(3_000_000_000);

impl ServedFile {
    pub fn new(device: String, data: Arc<[u8]>, faults: Faults) -> ServedFile {
        let mut drops = faults.drop_at.clone();
        drops.sort_unstable();
        drops.dedup();
        let state = FaultState {
            drops,
            stall: faults.stall_at,
            trickle: faults.trickle_at,
            change_at: faults.change_object_at,
            ..FaultState::default()
        };
        ServedFile {
            device,
            active: !faults.serves_clean(),
            faults,
            object: Mutex::new(Arc::new(Object::new(data))),
            state: Mutex::new(state),
        }
    }

    /// The object as it is now.
    pub fn current(&self) -> Arc<Object> {
        lock(&self.object).clone()
    }

    /// The OTA model offered a URL with token `t`.
    pub fn record_offer(&self, t: u64) {
        lock(&self.state).offers.push(t);
    }

    /// Replaces the object by a new upload: every byte XORed with 0xA5.
    fn replace_object(&self) -> Arc<Object> {
        let mut cur = lock(&self.object);
        let data: Arc<[u8]> = cur
            .data
            .iter()
            .map(|b| b ^ 0xA5)
            .collect::<Vec<u8>>()
            .into();
        let new = Arc::new(Object::new(data));
        let old = std::mem::replace(&mut *cur, new.clone());
        drop(cur);
        lock(&self.state).old_etags.push(old.etag.clone());
        new
    }
}

/// Where the server reports what it does (the cloud's shared state).
pub(crate) trait HttpSink: Send + Sync {
    /// Time since the cloud started.
    fn clock(&self) -> Duration;
    /// A response is about to be written; returns a handle for [`HttpSink::sent`].
    fn begin(&self, log: HttpLog) -> usize;
    /// `bytes` body bytes of response `idx` were written.
    fn sent(&self, idx: usize, bytes: u64);
    /// Appends a fault note to response `idx` (after [`HttpSink::begin`]).
    fn note(&self, idx: usize, note: &str);
    /// A connection opened; `first` is what the client sent first, raw (up to 16 bytes).
    fn connection(&self, first: Vec<u8>);
}

/// A connection as the server writes to it: plain TCP, or TLS over it.
trait Wire: Read + Write {
    /// Done sending: half-close (after a TLS close_notify alert, over TLS).
    fn close_write(&mut self);
}

impl Wire for TcpStream {
    fn close_write(&mut self) {
        let _ = self.shutdown(Shutdown::Write);
    }
}

impl Wire for StreamOwned<ServerConnection, TcpStream> {
    fn close_write(&mut self) {
        self.conn.send_close_notify();
        let _ = self.flush();
        let _ = self.sock.shutdown(Shutdown::Write);
    }
}

pub(crate) struct HttpServer {
    port: u16,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    live: Arc<Mutex<HashMap<u64, TcpStream>>>,
}

impl HttpServer {
    /// Serves on 127.0.0.1:`port` (0: any free port); HTTPS with `tls`.
    pub fn start(
        port: u16,
        files: HashMap<String, Arc<ServedFile>>,
        sink: Arc<dyn HttpSink>,
        tls: Option<Arc<ServerConfig>>,
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
                .spawn(move || accept_loop(listener, port, files, sink, stop, live, tls))?
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
    port: u16,
    files: Arc<HashMap<String, Arc<ServedFile>>>,
    sink: Arc<dyn HttpSink>,
    stop: Arc<AtomicBool>,
    live: Arc<Mutex<HashMap<u64, TcpStream>>>,
    tls: Option<Arc<ServerConfig>>,
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
        let stop2 = stop.clone();
        let tls = tls.clone();
        let spawned = std::thread::Builder::new()
            .name("standin-http-conn".into())
            .spawn(move || {
                let ctx = Ctx {
                    conn: id,
                    port,
                    scheme: if tls.is_some() { "https" } else { "http" },
                    sink: &*sink,
                    stop: &stop2,
                };
                let _ = open_connection(stream, tls, &ctx, &files);
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

/// What a connection thread needs besides the files.
struct Ctx<'a> {
    conn: u64,
    /// The server's port and scheme (for redirect URLs).
    port: u16,
    scheme: &'static str,
    sink: &'a dyn HttpSink,
    /// Set when the server stops (ends stalls early).
    stop: &'a AtomicBool,
}

/// Records what the client sent first, then serves plain HTTP or HTTPS.
fn open_connection(
    stream: TcpStream,
    tls: Option<Arc<ServerConfig>>,
    ctx: &Ctx<'_>,
    files: &HashMap<String, Arc<ServedFile>>,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    let mut first = [0u8; 16];
    let n = stream.peek(&mut first)?;
    if n == 0 {
        return Ok(());
    }
    ctx.sink.connection(first[..n].to_vec());
    match tls {
        Some(cfg) => {
            let conn = ServerConnection::new(cfg).map_err(io::Error::other)?;
            serve_connection(&mut StreamOwned::new(conn, stream), ctx, files)
        }
        None => {
            let mut stream = stream;
            serve_connection(&mut stream, ctx, files)
        }
    }
}

fn serve_connection(
    stream: &mut dyn Wire,
    ctx: &Ctx<'_>,
    files: &HashMap<String, Arc<ServedFile>>,
) -> io::Result<()> {
    let (conn, sink) = (ctx.conn, ctx.sink);
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut tmp = [0u8; 4096];
    loop {
        // Read one request head.
        let head_end = loop {
            if let Some(end) = find_head_end(&buf) {
                break end;
            }
            if buf.len() > MAX_HEAD {
                simple(stream, 431, "Request Header Fields Too Large", false)?;
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
            simple(stream, 400, "Bad Request", false)?;
            return Ok(());
        };
        buf.drain(..head_end);
        // Discard a request body, if any (GET should have none).
        if let Some(len) = req.header("Content-Length") {
            let Ok(mut len) = len.parse::<usize>() else {
                simple(stream, 400, "Bad Request", false)?;
                return Ok(());
            };
            if len > 1 << 20 {
                simple(stream, 413, "Content Too Large", false)?;
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
            simple(stream, 501, "Not Implemented", false)?;
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
            fault: None,
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
            if !respond_image(stream, ctx, file, log, keep_alive, head_only)? {
                // A fault cut the body or lied about its length: close after what was sent
                // (over TLS: a close_notify alert mid-body, then the end of the stream).
                stream.close_write();
                return Ok(());
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
            stream.close_write();
            return Ok(());
        }
    }
}

/// What happens to a request for an image before any body is planned.
enum Gate {
    Serve,
    /// An error status with a COS-style XML body: (status, reason, code, message).
    Error(u16, &'static str, &'static str, &'static str),
    /// 302 to this absolute URL.
    Redirect(String),
}

/// Body faults of one response; offsets relative to the body.
#[derive(Default)]
struct BodyFaults {
    /// Stop before this body byte and close.
    cut: Option<u64>,
    /// Pause before this body byte.
    stall: Option<(u64, Duration)>,
    /// From this body byte on, one byte per duration.
    trickle: Option<(u64, Duration)>,
    /// Chunked transfer coding with chunk sizes from this seed.
    chunk_seed: Option<u64>,
    /// Declared Content-Length (wrong on purpose); the connection closes after the body.
    declared: Option<u64>,
}

/// Answers one GET/HEAD of a known image. Returns whether the connection stays usable.
fn respond_image(
    stream: &mut dyn Wire,
    ctx: &Ctx<'_>,
    file: &ServedFile,
    mut log: HttpLog,
    keep_alive: bool,
    head_only: bool,
) -> io::Result<bool> {
    let obj = file.current();
    let total = obj.data.len() as u64;
    let f = &file.faults;
    let mut notes: Vec<String> = Vec::new();
    let mut gate = Gate::Serve;
    let mut body_faults = BodyFaults::default();
    let plan = if file.active {
        let mut st = lock(&file.state);
        if let Some(t) = log.offer
            && let Some(&(_, origin)) = st.aliases.iter().find(|(a, _)| *a == t)
        {
            log.offer = origin;
        }
        let expired = log
            .offer
            .and_then(|t| st.offers.iter().position(|&o| o == t))
            .filter(|&i| i < f.forbidden_first);
        if f.not_found {
            notes.push("404: not_found".into());
            gate = Gate::Error(
                404,
                "Not Found",
                "NoSuchKey",
                "The specified key does not exist.",
            );
        } else if let Some(i) = expired {
            notes.push(format!("403: URL of offer #{} expired", i + 1));
            gate = Gate::Error(403, "Forbidden", "AccessDenied", "Request has expired");
        } else if st.insecure_redirects < f.insecure_redirect_first {
            st.insecure_redirects += 1;
            let (pid, dn) = file.device.split_once('/').unwrap_or((&file.device, ""));
            notes.push(format!(
                "302: redirect {}/{} to plain http",
                st.insecure_redirects, f.insecure_redirect_first
            ));
            gate = Gate::Redirect(format!(
                "http://127.0.0.1:{}{}?{}",
                ctx.port,
                log.path,
                offer_query(pid, dn, NEXT_ALIAS.fetch_add(1, Ordering::Relaxed))
            ));
        } else if st.redirects < f.redirect_first {
            st.redirects += 1;
            let alias = NEXT_ALIAS.fetch_add(1, Ordering::Relaxed);
            st.aliases.push((alias, log.offer));
            let (pid, dn) = file.device.split_once('/').unwrap_or((&file.device, ""));
            notes.push(format!(
                "302: redirect {}/{} to t={alias}",
                st.redirects, f.redirect_first
            ));
            gate = Gate::Redirect(format!(
                "{}://127.0.0.1:{}{}?{}",
                ctx.scheme,
                ctx.port,
                log.path,
                offer_query(pid, dn, alias)
            ));
        } else if st.server_errors < f.server_error_first {
            st.server_errors += 1;
            notes.push(format!(
                "500: server error {}/{}",
                st.server_errors, f.server_error_first
            ));
            gate = Gate::Error(
                500,
                "Internal Server Error",
                "InternalError",
                "We encountered an internal error. Please try again.",
            );
        }
        let serve = matches!(gate, Gate::Serve);
        if serve
            && let Some(ir) = log.if_range.as_deref()
            && st.old_etags.iter().any(|e| e == ir.trim())
        {
            notes.push("If-Range has a replaced ETag".into());
        }
        let plan = if f.ignore_range {
            if serve && log.range.is_some() {
                notes.push("ignore_range".into());
            }
            RangePlan::Full
        } else {
            plan_range(
                log.range.as_deref(),
                log.if_range.as_deref(),
                &obj.etag,
                total,
            )
        };
        if serve && !head_only {
            let span = match plan {
                RangePlan::Full => Some((0, total)),
                RangePlan::Partial(a, b) => Some((a, b + 1)),
                RangePlan::Unsatisfiable => None,
            };
            if let Some((a, b)) = span.filter(|(a, b)| a < b) {
                let len = b - a;
                if let Some(d) = f.wrong_content_length
                    && !st.wrong_length_done
                {
                    st.wrong_length_done = true;
                    let declared = (len as i64).saturating_add(d).max(0) as u64;
                    notes.push(format!(
                        "wrong Content-Length: declared {declared}, body {len}"
                    ));
                    body_faults.declared = Some(declared);
                } else if f.chunked {
                    notes.push("chunked".into());
                    body_faults.chunk_seed = Some(a);
                }
                if let Some(i) = st.drops.iter().position(|&n| a <= n && n < b) {
                    let n = st.drops.remove(i);
                    body_faults.cut = Some(n - a);
                    notes.push(format!(
                        "drop at {n} (cut after {} of {len} body bytes)",
                        n - a
                    ));
                }
                if let Some((n, d)) = st.stall
                    && a <= n
                    && n < b
                    && body_faults.cut.is_none_or(|c| n - a < c)
                {
                    st.stall = None;
                    body_faults.stall = Some((n - a, d));
                    notes.push(format!("stall {} ms at {n}", d.as_millis()));
                }
                if let Some((n, d)) = st.trickle
                    && a <= n
                    && n < b
                    && body_faults.chunk_seed.is_none()
                    && body_faults.cut.is_none_or(|c| n - a < c)
                {
                    st.trickle = None;
                    body_faults.trickle = Some((n - a, d));
                    notes.push(format!("trickle 1 byte per {} ms from {n}", d.as_millis()));
                }
            }
        } else if serve && f.chunked && plan != RangePlan::Unsatisfiable {
            notes.push("chunked".into());
            body_faults.chunk_seed = Some(0);
        }
        plan
    } else {
        plan_range(
            log.range.as_deref(),
            log.if_range.as_deref(),
            &obj.etag,
            total,
        )
    };
    if !notes.is_empty() {
        log.fault = Some(notes.join("; "));
    }

    let connection = conn_header(keep_alive);
    match gate {
        Gate::Serve => {}
        Gate::Error(status, reason, code, message) => {
            log.status = status;
            ctx.sink.begin(log.clone());
            let body = format!(
                "<?xml version='1.0' encoding='utf-8' ?>\n<Error>\n\t<Code>{code}</Code>\n\t<Message>{message}</Message>\n\t<Resource>{}</Resource>\n</Error>\n",
                log.path
            );
            let status_line = format!("{status} {reason}");
            let reply = (status_line.as_str(), "", "application/xml");
            small_reply(stream, reply, &body, connection, head_only)?;
            return Ok(true);
        }
        Gate::Redirect(location) => {
            log.status = 302;
            ctx.sink.begin(log);
            let body = format!("moved to {location}\n");
            let extra = format!("Location: {location}\r\n");
            small_reply(
                stream,
                ("302 Found", &extra, "text/plain"),
                &body,
                connection,
                head_only,
            )?;
            return Ok(true);
        }
    }

    let common = format!(
        "Accept-Ranges: bytes\r\nETag: {}\r\nContent-Type: application/octet-stream\r\nServer: qcloud-ota-standin\r\nConnection: {connection}\r\n",
        obj.etag
    );
    let length = |n: u64| match (body_faults.declared, body_faults.chunk_seed) {
        (Some(d), _) => format!("Content-Length: {d}\r\n"),
        (None, Some(_)) => "Transfer-Encoding: chunked\r\n".to_owned(),
        (None, None) => format!("Content-Length: {n}\r\n"),
    };
    let (status, head, body) = match plan {
        RangePlan::Full => (
            200,
            format!("HTTP/1.1 200 OK\r\n{common}{}\r\n", length(total)),
            Some((0, total)),
        ),
        RangePlan::Partial(a, b) => (
            206,
            format!(
                "HTTP/1.1 206 Partial Content\r\n{common}Content-Range: bytes {a}-{b}/{total}\r\n{}\r\n",
                length(b - a + 1)
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
    let idx = ctx.sink.begin(log);
    stream.write_all(head.as_bytes())?;
    let Some((a, b)) = body.filter(|_| !head_only) else {
        return Ok(true);
    };
    let data = &obj.data[a as usize..b as usize];
    let mut w = BodyWriter {
        stream,
        sent: 0,
        stall: body_faults.stall,
        trickle: body_faults.trickle,
        stop: ctx.stop,
        rate: f.rate_limit,
    };
    let result = match body_faults.chunk_seed {
        Some(seed) => w.chunked(data, body_faults.cut, seed),
        None => w.payload(&data[..body_faults.cut.map_or(data.len(), |c| c as usize)]),
    };
    let sent = w.sent;
    ctx.sink.sent(idx, sent);
    if let Some(n) = f.change_object_at
        && a <= n
        && n < a + sent
    {
        let mut st = lock(&file.state);
        if st.change_at.take().is_some() {
            drop(st);
            let new = file.replace_object();
            ctx.sink.note(
                idx,
                &format!("object replaced after byte {n} (new ETag {})", new.etag),
            );
        }
    }
    result?;
    Ok(body_faults.cut.is_none() && body_faults.declared.is_none())
}

/// Writes a response body, counting payload bytes and pausing once where a stall says.
struct BodyWriter<'a> {
    stream: &'a mut dyn Wire,
    /// Payload bytes written so far.
    sent: u64,
    /// Pause before this payload byte.
    stall: Option<(u64, Duration)>,
    /// From this payload byte on, one byte per duration.
    trickle: Option<(u64, Duration)>,
    stop: &'a AtomicBool,
    /// Bytes per second at most (a slow link), if set.
    rate: Option<u64>,
}

impl BodyWriter<'_> {
    /// The next payload bytes.
    fn payload(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        if let Some((at, d)) = self.stall
            && at >= self.sent
            && at < self.sent + bytes.len() as u64
        {
            let k = (at - self.sent) as usize;
            self.raw(&bytes[..k])?;
            self.stall = None;
            pause(d, self.stop);
            bytes = &bytes[k..];
        }
        if let Some((at, d)) = self.trickle
            && at >= self.sent
            && at < self.sent + bytes.len() as u64
        {
            let k = (at - self.sent) as usize;
            self.raw(&bytes[..k])?;
            self.trickle = None;
            // Until the client gives up (the write fails) or the server stops.
            for byte in bytes[k..].chunks(1) {
                if self.stop.load(Ordering::Relaxed) {
                    return Err(io::ErrorKind::ConnectionAborted.into());
                }
                pause(d, self.stop);
                self.raw(byte)?;
                self.stream.flush()?;
            }
            return Ok(());
        }
        self.raw(bytes)
    }

    fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut off = 0;
        while off < bytes.len() {
            // A slow link: slices of 1/50 s worth of bytes, each followed by a 20 ms pause.
            let end = match self.rate {
                Some(rate) => {
                    if off > 0 {
                        pause(Duration::from_millis(20), self.stop);
                    }
                    bytes.len().min(off + (rate / 50).max(1) as usize)
                }
                None => bytes.len(),
            };
            match self.stream.write(&bytes[off..end]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    off += n;
                    self.sent += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// `data` in the chunked coding, stopping before body byte `cut` (even inside a chunk).
    fn chunked(&mut self, data: &[u8], cut: Option<u64>, seed: u64) -> io::Result<()> {
        let end = cut.map_or(data.len(), |c| c as usize);
        let mut rng = seed ^ 0x9e37_79b9_7f4a_7c15;
        let mut pos = 0;
        while pos < data.len() {
            let n = chunk_size(&mut rng).min(data.len() - pos);
            self.stream.write_all(format!("{n:x}\r\n").as_bytes())?;
            let upto = (pos + n).min(end);
            self.payload(&data[pos..upto])?;
            if upto < pos + n {
                return Ok(());
            }
            self.stream.write_all(b"\r\n")?;
            pos += n;
            if pos >= end && cut.is_some() {
                return Ok(());
            }
        }
        self.stream.write_all(b"0\r\n\r\n")
    }
}

/// Chunk sizes: a quarter 1..=16 bytes, half up to 4 KiB, a quarter up to 64 KiB.
fn chunk_size(rng: &mut u64) -> usize {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    let r = *rng;
    let max = match r & 3 {
        0 => 16,
        1 | 2 => 4096,
        _ => 65536,
    };
    1 + ((r >> 8) % max) as usize
}

/// Sleeps `d`, waking early when the server stops.
fn pause(d: Duration, stop: &AtomicBool) {
    let deadline = std::time::Instant::now() + d;
    while !stop.load(Ordering::SeqCst) {
        let now = std::time::Instant::now();
        if now >= deadline {
            return;
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(20)));
    }
}

fn conn_header(keep_alive: bool) -> &'static str {
    if keep_alive { "keep-alive" } else { "close" }
}

/// An error page or a redirect: `(status line, extra header lines, content type)` and a short
/// text body (its head alone for HEAD).
fn small_reply(
    stream: &mut dyn Wire,
    (status_line, extra, content_type): (&str, &str, &str),
    body: &str,
    connection: &str,
    head_only: bool,
) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status_line}\r\n{extra}Content-Type: {content_type}\r\nServer: qcloud-ota-standin\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    if !head_only {
        stream.write_all(body.as_bytes())?;
    }
    Ok(())
}

fn simple(stream: &mut dyn Wire, code: u16, reason: &str, keep_alive: bool) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Length: 0\r\nConnection: {}\r\n\r\n",
        conn_header(keep_alive)
    );
    stream.write_all(head.as_bytes())?;
    if !keep_alive {
        stream.close_write();
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
