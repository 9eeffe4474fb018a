//! A scripted fake device (rumqttc + a plain std HTTP client) for the stand-in's tests.
#![allow(dead_code)]

use rumqttc::{Client, Event, MqttOptions, Packet, QoS, RecvTimeoutError};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub const PID: &str = "ABCDEFGHIJ";
pub const DN: &str = "dev001";
pub const SECRET: &str = "MTIzNDU2Nzg5MGFiY2RlZg==";

/// A device on MQTT: subscribes `$ota/update/{pid}/{dn}` (QoS1) and collects what arrives.
pub struct FakeDevice {
    pub client: Client,
    pub topic: String,
    rx: mpsc::Receiver<(String, u8, String)>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeDevice {
    pub fn connect(port: u16, pid: &str, dn: &str) -> FakeDevice {
        let mut opts = MqttOptions::new(format!("{pid}{dn}"), "127.0.0.1", port);
        opts.set_keep_alive(Duration::from_secs(30));
        opts.set_credentials(
            format!("{pid}{dn};21010406;Ab1Cd;2147483647"),
            "a96c30c7e11f8f55cb40e747e852cbcf611542c9;hmacsha1",
        );
        let (client, mut conn) = Client::new(opts, 64);
        let (tx, rx) = mpsc::channel();
        let (ack_tx, ack_rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let sub = client.clone();
        let update = format!("$ota/update/{pid}/{dn}");
        let thread = {
            let stop = stop.clone();
            let update = update.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match conn.recv_timeout(Duration::from_millis(100)) {
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => break,
                        Ok(Err(_)) => std::thread::sleep(Duration::from_millis(50)),
                        Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                            sub.try_subscribe(update.clone(), QoS::AtLeastOnce).unwrap();
                        }
                        Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => {
                            let _ = ack_tx.send(());
                        }
                        Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                            let payload = String::from_utf8_lossy(&p.payload).into_owned();
                            let _ = tx.send((p.topic.clone(), p.qos as u8, payload));
                        }
                        Ok(Ok(_)) => {}
                    }
                }
            })
        };
        ack_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("device subscription acknowledged");
        FakeDevice {
            client,
            topic: format!("$ota/report/{pid}/{dn}"),
            rx,
            stop,
            thread: Some(thread),
        }
    }

    pub fn publish(&self, qos: u8, payload: &str) {
        let qos = if qos == 0 {
            QoS::AtMostOnce
        } else {
            QoS::AtLeastOnce
        };
        self.client
            .publish(self.topic.clone(), qos, false, payload.as_bytes().to_vec())
            .unwrap();
    }

    /// The next message on `$ota/update/...`: (topic, qos, payload).
    pub fn recv(&self, timeout: Duration) -> (String, u8, String) {
        self.rx
            .recv_timeout(timeout)
            .expect("a message from the cloud")
    }

    /// True when nothing arrives within `d`.
    pub fn rx_is_empty_for(&self, d: Duration) -> bool {
        self.rx.recv_timeout(d).is_err()
    }

    pub fn report_version(&self, v: &str) {
        self.publish(
            1,
            &format!("{{\"type\": \"report_version\", \"report\":{{\"version\":\"{v}\"}}}}"),
        );
    }

    pub fn progress(&self, state: &str, percent: Option<&str>, version: &str) {
        let qos = if state == "downloading" { 0 } else { 1 };
        let payload = match percent {
            Some(p) => format!(
                "{{\"type\": \"report_progress\", \"report\": {{\"progress\": {{\"state\":\"{state}\", \"percent\":\"{p}\", \"result_code\":\"0\", \"result_msg\":\"\"}}, \"version\": \"{version}\"}}}}"
            ),
            None => format!(
                "{{\"type\": \"report_progress\", \"report\":{{\"progress\":{{\"state\":\"{state}\", \"result_code\":\"0\", \"result_msg\":\"\"}}, \"version\":\"{version}\"}}}}"
            ),
        };
        self.publish(qos, &payload);
    }
}

impl Drop for FakeDevice {
    fn drop(&mut self) {
        let _ = self.client.try_disconnect();
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A plain HTTP/1.1 client connection (keep-alive capable).
pub struct HttpConn {
    stream: TcpStream,
    buf: Vec<u8>,
    tmp: Vec<u8>,
}

impl HttpConn {
    pub fn connect(port: u16) -> HttpConn {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        HttpConn {
            stream,
            buf: Vec::new(),
            tmp: vec![0; 1 << 20],
        }
    }

    /// Sends `GET target` with extra header lines and reads the response (body by
    /// Content-Length; none for HEAD).
    pub fn request(&mut self, method: &str, target: &str, headers: &[&str]) -> Response {
        let mut req = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for h in headers {
            req.push_str(h);
            req.push_str("\r\n");
        }
        req.push_str("\r\n");
        self.stream.write_all(req.as_bytes()).unwrap();
        let end = loop {
            if let Some(p) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            self.fill();
        };
        let head = String::from_utf8(self.buf[..end - 4].to_vec()).unwrap();
        self.buf.drain(..end);
        let mut lines = head.split("\r\n");
        let status: u16 = lines.next().unwrap()[9..12].parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.to_owned(), v.trim().to_owned())
            })
            .collect();
        let len: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
            .map(|(_, v)| v.parse().unwrap())
            .unwrap_or(0);
        let len = if method == "HEAD" { 0 } else { len };
        while self.buf.len() < len {
            self.fill();
        }
        let body = self.buf.drain(..len).collect();
        Response {
            status,
            headers,
            body,
        }
    }

    pub fn get(&mut self, target: &str, headers: &[&str]) -> Response {
        self.request("GET", target, headers)
    }

    fn fill(&mut self) {
        let n = self.stream.read(&mut self.tmp).unwrap();
        assert!(n > 0, "server closed the connection");
        self.buf.extend_from_slice(&self.tmp[..n]);
    }

    /// True when the server closed the connection (read returns 0) within the timeout.
    pub fn closed_by_server(&mut self) -> bool {
        let mut tmp = [0u8; 16];
        matches!(self.stream.read(&mut tmp), Ok(0))
    }
}

/// Splits `http://127.0.0.1:PORT/target` into (port, target).
pub fn split_url(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://127.0.0.1:").expect("loopback URL");
    let slash = rest.find('/').unwrap();
    (rest[..slash].parse().unwrap(), rest[slash..].to_owned())
}

pub fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}
