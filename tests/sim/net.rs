//! In-memory byte pipes between the device and the simulated servers: delivery delay, bandwidth,
//! and a cut point (the connection breaks after a given number of bytes in that direction).

use std::collections::VecDeque;
use std::rc::Rc;

use qcloud_ota::platform::NetError;

/// Bytes in flight: owned, or a window into the firmware image (no copy for big bodies).
enum Data {
    Owned(Vec<u8>),
    Image(Rc<Vec<u8>>, usize, usize),
}

impl Data {
    fn bytes(&self) -> &[u8] {
        match self {
            Data::Owned(v) => v,
            Data::Image(img, a, b) => &img[*a..*b],
        }
    }
}

struct Seg {
    /// Virtual time from which the bytes are readable.
    ready: u64,
    data: Data,
    pos: usize,
}

/// One direction of a connection.
#[derive(Default)]
pub struct Pipe {
    segs: VecDeque<Seg>,
    /// Bytes accepted into the pipe so far.
    pub pushed: u64,
    /// Bytes taken out so far.
    pub taken: u64,
    /// The direction breaks once this many bytes went in.
    pub cut_at: Option<u64>,
    /// After the queued bytes: end of stream (`Closed`) or reset (`Failed`).
    pub end: Option<NetError>,
    /// What the reader sees after the bytes before the cut: `Closed` or `Failed` (default).
    pub cut_as: Option<NetError>,
    last_ready: u64,
}

/// How a pipe moves bytes: fixed latency plus jitter, and bytes per ms (0 = unlimited).
#[derive(Clone, Copy, Debug)]
pub struct Link {
    pub latency: u64,
    pub jitter: u64,
    pub rate: u64,
}

impl Pipe {
    pub fn is_ended(&self) -> bool {
        self.end.is_some()
    }

    /// End the stream after what is queued (idempotent: the first reason stays).
    pub fn finish(&mut self, how: NetError) {
        if self.end.is_none() {
            self.end = Some(how);
        }
    }

    /// Break at once: what is queued but not yet readable is lost as well.
    pub fn reset(&mut self, now: u64) {
        self.segs.retain(|s| s.ready <= now);
        self.finish(NetError::Failed);
    }

    fn push_data(
        &mut self,
        now: u64,
        data: Data,
        link: Link,
        jitter: u64,
        seg_max: usize,
    ) -> usize {
        if self.end.is_some() {
            return 0;
        }
        let mut data = data;
        let len = data.bytes().len() as u64;
        let mut n = len;
        if let Some(c) = self.cut_at
            && self.pushed + len >= c
        {
            n = c.saturating_sub(self.pushed);
            self.end = Some(self.cut_as.unwrap_or(NetError::Failed));
        }
        if n < len {
            data = match data {
                Data::Owned(mut v) => {
                    v.truncate(n as usize);
                    Data::Owned(v)
                }
                Data::Image(img, a, _) => Data::Image(img, a, a + n as usize),
            };
        }
        self.pushed += n;
        if n == 0 {
            return 0;
        }
        // Split into segments so a slow link delivers progressively.
        let mut base = (now + link.latency + jitter).max(self.last_ready);
        let mut at = 0usize;
        let total = n as usize;
        while at < total {
            let k = seg_max.min(total - at);
            if link.rate > 0 {
                base += (k as u64).div_ceil(link.rate);
            }
            let part = match &data {
                Data::Owned(v) => Data::Owned(v[at..at + k].to_vec()),
                Data::Image(img, a, _) => Data::Image(img.clone(), a + at, a + at + k),
            };
            self.segs.push_back(Seg {
                ready: base,
                data: part,
                pos: 0,
            });
            at += k;
        }
        self.last_ready = base;
        total
    }

    pub fn push(&mut self, now: u64, bytes: &[u8], link: Link, jitter: u64) -> usize {
        self.push_data(now, Data::Owned(bytes.to_vec()), link, jitter, 1460)
    }

    pub fn push_image(
        &mut self,
        now: u64,
        img: &Rc<Vec<u8>>,
        a: usize,
        b: usize,
        link: Link,
        jitter: u64,
    ) -> usize {
        self.push_data(now, Data::Image(img.clone(), a, b), link, jitter, 4096)
    }

    /// Readable bytes now (up to `buf.len()`).
    pub fn read(&mut self, now: u64, buf: &mut [u8]) -> usize {
        let mut n = 0;
        while n < buf.len() {
            let Some(s) = self.segs.front_mut() else {
                break;
            };
            if s.ready > now {
                break;
            }
            let b = s.data.bytes();
            let k = (b.len() - s.pos).min(buf.len() - n);
            buf[n..n + k].copy_from_slice(&b[s.pos..s.pos + k]);
            s.pos += k;
            n += k;
            if s.pos == b.len() {
                self.segs.pop_front();
            }
        }
        self.taken += n as u64;
        n
    }

    /// Everything readable now.
    pub fn read_all(&mut self, now: u64, out: &mut Vec<u8>) -> usize {
        let mut n = 0;
        while let Some(s) = self.segs.front() {
            if s.ready > now {
                break;
            }
            let b = s.data.bytes();
            out.extend_from_slice(&b[s.pos..]);
            n += b.len() - s.pos;
            self.segs.pop_front();
        }
        self.taken += n as u64;
        n
    }

    pub fn readable(&self, now: u64) -> bool {
        self.segs.front().is_some_and(|s| s.ready <= now)
    }

    pub fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }

    /// When the next bytes become readable, if that is in the future.
    pub fn next_ready(&self, now: u64) -> Option<u64> {
        self.segs.front().map(|s| s.ready).filter(|&t| t > now)
    }

    /// The read side's view once nothing is readable: `Some(err)` at the end of the stream.
    pub fn at_end(&self) -> Option<NetError> {
        if self.segs.is_empty() { self.end } else { None }
    }
}
