//! The OTA state machine. It knows nothing about sockets: the client feeds it MQTT messages,
//! acknowledgements and HTTP results, and it decides what to report, when, and what to do with
//! the image (through the host's slot and store callbacks).
//!
//! ```text
//!  state        | input                              | next         | reports / host calls
//! --------------+------------------------------------+--------------+--------------------------------------
//!  (boot)       | record Installed, running == target| Confirming   | queue done, report_version
//!  (boot)       | record Installed, running != target| Idle         | queue fail -5 (rolled back), report_version
//!  (boot)       | record Downloading                 | Idle         | kept: the re-sent offer resumes there
//!  any          | MQTT session up                    | =            | queue report_version (running)
//!  Idle         | update_firmware for the running ver| =            | queue report_version (no download)
//!  Idle         | update_firmware (valid)            | Offered      | event Offered (manual acceptance)
//!  Idle         | update_firmware (valid, auto)      | Downloading  | slot_open(size, 0)
//!               |   same image as the record         | Downloading  | slot_open(size, offset); MD5 state restored
//!  Offered      | accept / decline / defer           | Downloading / Idle / Idle (report_version later)
//!  Downloading  | update_firmware, same image        | =            | fresh URL kept for the next request
//!  Downloading  | update_firmware, other image       | Downloading  | old slot abandoned, new one opened
//!  Downloading  | HTTP head 206/200 from byte 0      | =            | progress "0"
//!  Downloading  | HTTP data                          | =            | slot_write, MD5; progress <= 1/s;
//!               |                                    |              | record every journal_interval bytes
//!  Downloading  | HTTP 3xx                           | =            | follow (at most 3, never https -> http)
//!  Downloading  | HTTP error                         | = (retry)    | backoff; 403 also re-asks for a URL
//!  Downloading  | retries exhausted / 404 / slot err | Idle         | queue fail with its result code;
//!               |                                    |              | record cleared, then slot_close(false)
//!  Downloading  | body complete, MD5 mismatch        | Idle         | the same; queue fail -4
//!  (abandoning) | record cannot be cleared           | =            | slot left open; event Error (store);
//!               |                                    |              | clear retried every 5 s (and before a
//!               |                                    |              | new image's slot_open), then close
//!  Downloading  | body complete, MD5 match           | (read-back)  | with readback_verify: slot_read all,
//!               |                                    |              | MD5 again (mismatch: fail -4), then:
//!  Downloading  | body complete, MD5 match           | Ready        | progress "100"; record Installed;
//!               |                                    |              | slot_close(true); queue burning
//!  Ready        | burning acknowledged               | =            | event ImageReady (host reboots)
//!  Confirming   | done + report_version acknowledged | Idle         | record erased; event Done
//!  any          | fail acknowledged                  | =            | event Failed
//! ```

use crate::error::Error;
use crate::hash::Md5;
use crate::journal::{ETAG_MAX, Entry, Journal, MD5_STATE_LEN, Phase, Record};
use crate::num::{Ms, backoff, ms, percent, xorshift32};
use crate::platform::{Event, EventKind, Level, Platform};
use crate::protocol::{
    self, FW_TYPE_MAX, Field, Message, Offer, ParseError, Progress, URL_MAX, VERSION_MAX,
};
use crate::slices::rotate_left_one;
use crate::text::Str;

/// The progress a request must make within `stall_timeout_ms` (the rest of the image, when
/// less is left): at the default 30 s the slowest link that completes is 1 KiB / 30 s, 34 B/s.
pub const STALL_MIN_BYTES: u32 = 1024;

/// How often clearing the record of an abandoned image is tried again when the store fails.
const CLOSE_RETRY_MS: u32 = 5000;

/// Milliseconds left of a wait of `span` that began at `since`, 0 once it is over. Every timer
/// here is such a (start, span) pair on the wrapping 32-bit clock rather than a deadline, so any
/// u32 span (a host's `defer`, the stall timeout) works.
fn left(now: Ms, since: Ms, span: u32) -> u32 {
    span.saturating_sub(now.wrapping_sub(since))
}

/// Policy knobs (see `ota_config` for ranges and defaults).
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub manual_accept: bool,
    /// After the reboot into a new image, report `done` only once the host calls `confirm`
    /// (its self-test passed). Until then the state is `Confirming` and nothing is reported.
    pub manual_confirm: bool,
    /// Largest image the slot takes; 0 = no limit.
    pub slot_size: u32,
    /// Download attempts before the update is reported as failed.
    pub max_attempts: u8,
    pub progress_interval_ms: u32,
    /// Fewer than [`STALL_MIN_BYTES`] (or the rest of the image) in this long counts as a stall:
    /// a server that stops, and one that trickles a byte at a time.
    pub stall_timeout_ms: u32,
    /// Save the resume record after at least this many new bytes (rounded to 64-byte blocks).
    pub journal_interval: u32,
    /// Before the image is declared good, read the whole slot back and check its MD5 again.
    pub readback_verify: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            manual_accept: false,
            manual_confirm: false,
            slot_size: 0,
            max_attempts: 5,
            // A margin over the cloud's 1/s: jitter must not bring two reports closer than that.
            progress_interval_ms: 1500,
            stall_timeout_ms: 30_000,
            journal_interval: 64 * 1024,
            readback_verify: false,
        }
    }
}

/// Where the update stands. The numbers are the C ABI's `OTA_STATE_*`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(i32)]
pub enum State {
    /// No update in progress.
    Idle = 0,
    /// An offer waits for the host's accept/defer/decline.
    Offered = 1,
    /// Downloading (or waiting to retry).
    Downloading = 2,
    /// The verified image was handed over; waiting for the reboot.
    Ready = 3,
    /// Running the new image; reporting `done` and the new version.
    Confirming = 4,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Version,
    Progress(u8),
    Burning,
    Done,
    Fail(Error),
}

/// In [`Outbox::find`], matches a progress report of any percent (a real one is at most 100).
const ANY_PERCENT: u8 = u8::MAX;
const ANY_PROGRESS: Kind = Kind::Progress(ANY_PERCENT);

/// A report waiting to go out. It carries its own version so a later offer cannot change it.
#[derive(Clone)]
struct Report {
    kind: Kind,
    version: Str<VERSION_MAX>,
    task_id: Option<u64>,
    fw_type: Str<FW_TYPE_MAX>,
}

impl Report {
    /// All zero bytes, so the empty outbox below is one too.
    const EMPTY: Report = Report {
        kind: Kind::Version,
        version: Str::new(),
        task_id: None,
        fw_type: Str::new(),
    };
}

const OUTBOX_LEN: usize = 6;

/// Reports in the order they must reach the cloud. Only the head is ever in flight.
struct Outbox {
    /// `items[..len]` are queued; the rest are spare.
    items: [Report; OUTBOX_LEN],
    len: usize,
}

impl Outbox {
    /// A constant rather than a constructor: an all-zero constant is written straight into the
    /// client's storage at init, where `[None; 6]` of `Option<Report>` went through two
    /// 480-byte temporaries on `ota_init`'s stack (thumbv7em).
    const EMPTY: Outbox = Outbox {
        items: [Report::EMPTY; OUTBOX_LEN],
        len: 0,
    };
    /// The head, read where it lies (index 0 of the array: no bounds check).
    fn front(&self) -> Option<&Report> {
        self.items.first().filter(|_| self.len > 0)
    }
    fn pop_front(&mut self) {
        let live = self.items.get_mut(..self.len).unwrap_or(&mut []);
        rotate_left_one(live);
        self.len = self.len.saturating_sub(1);
    }
    /// The first queued report of `kind`: `Version`, or `Progress` of that percent
    /// ([`ANY_PROGRESS`]: of any percent); the only kinds looked for.
    fn find(&mut self, kind: Kind) -> Option<&mut Report> {
        let live = self.items.get_mut(..self.len).unwrap_or(&mut []);
        live.iter_mut().find(|r| match (r.kind, kind) {
            (Kind::Version, Kind::Version) => true,
            (Kind::Progress(p), Kind::Progress(want)) => p == want || want == ANY_PERCENT,
            _ => false,
        })
    }
    fn has(&mut self, kind: Kind) -> bool {
        self.find(kind).is_some()
    }
    /// Where a new report goes: the next spare entry or, when all are taken (only a flood of
    /// offers does that), over the first progress report, the one thing safe to lose.
    fn slot(&mut self) -> Option<&mut Report> {
        if self.len < OUTBOX_LEN {
            self.len += 1;
            return self.items.get_mut(self.len - 1);
        }
        self.find(ANY_PROGRESS)
    }
}

/// `Transfer::reported_percent` before the first progress report (above any percent).
const NOT_REPORTED: u8 = u8::MAX;

struct Transfer {
    offset: u32,
    md5: Md5,
    attempts: u8,
    /// A request is on the wire.
    active: bool,
    /// Start of the current stall window and the body bytes received in it.
    window_at: Ms,
    window_bytes: u32,
    /// The next request waits `retry_ms` from `retry_from`.
    retry_from: Ms,
    retry_ms: u32,
    /// The percent last sent to the cloud and the time it went out.
    /// ([`NOT_REPORTED`] before the first.)
    reported_percent: u8,
    reported_at: Ms,
    /// The percent last given to the host's event callback.
    event_percent: u8,
    /// Bytes covered by the last saved record.
    saved_offset: u32,
    /// Read-back verification in progress: bytes read so far. The stream's digest matched by
    /// then, so `md5` is reused for the bytes read back.
    readback: Option<u32>,
    /// The server's strong ETag, sent back as If-Range on resume.
    etag: Str<ETAG_MAX>,
    /// Redirects followed for the current request (the target replaces the offer's URL).
    redirects: u8,
}

impl Transfer {
    #[inline(always)]
    fn new() -> Self {
        Transfer {
            offset: 0,
            md5: Md5::new(),
            attempts: 0,
            active: false,
            window_at: 0,
            window_bytes: 0,
            retry_from: 0,
            retry_ms: 0,
            reported_percent: NOT_REPORTED,
            reported_at: 0,
            event_percent: 0,
            saved_offset: 0,
            readback: None,
            etag: Str::new(),
            redirects: 0,
        }
    }

    /// The server sends the whole image (a `200`): the transfer starts over from byte 0, and
    /// nothing of the new stream is saved yet. `saved_offset` must follow `offset` down (a
    /// record save that fails after this must not leave it above `offset`). `event_percent`
    /// stays: the host then hears progress go back to 0.
    fn restart(&mut self) {
        self.offset = 0;
        self.saved_offset = 0;
        restart_md5(&mut self.md5);
    }
}

pub struct Engine {
    policy: Policy,
    running: Str<VERSION_MAX>,
    state: State,
    offer: Offer,
    xfer: Transfer,
    outbox: Outbox,
    /// Packet id of the outbox head while it waits for its PUBACK.
    inflight: Option<u32>,
    retransmit: bool,
    online: bool,
    /// `defer`: report the version again, `(since, span)`.
    defer: Option<(Ms, u32)>,
    last_error: Option<Error>,
    /// Running the new image, waiting for the host's `confirm`.
    awaiting_confirm: bool,
    journal: Journal,
    /// A download interrupted by a reboot, resumed when the cloud offers the same image.
    resume: Option<Record>,
    /// Jitter for retry backoff (xorshift; not for secrets).
    rng: u32,
    /// The module this client serves (`fw_type`; "" = the whole device).
    module: Str<FW_TYPE_MAX>,
    /// An abandoned slot whose record could not be cleared: it stays open (the host must not
    /// erase what the record claims) until clearing succeeds, tried again [`CLOSE_RETRY_MS`]
    /// after this attempt.
    close_tried: Option<Ms>,
}

/// A fresh digest in place (one copy of the initial state for the callers).
#[inline(never)]
fn restart_md5(md5: &mut Md5) {
    *md5 = Md5::new();
}

/// Whether `offer` is the image `(version, md5, size)` names.
fn same_image(offer: &Offer, version: &Str<VERSION_MAX>, md5: &[u8; 16], size: u32) -> bool {
    offer.version == *version && offer.md5 == *md5 && offer.file_size == size
}

impl Engine {
    /// Inline: the caller (`Client::blank_in`) then writes the engine straight into the
    /// client's storage instead of through a 1.7 KiB temporary.
    #[inline(always)]
    pub fn new(running: Str<VERSION_MAX>, policy: Policy) -> Self {
        Engine {
            policy,
            running,
            state: State::Idle,
            offer: const { Offer::new() },
            xfer: Transfer::new(),
            outbox: Outbox::EMPTY,
            inflight: None,
            retransmit: false,
            online: false,
            defer: None,
            last_error: None,
            awaiting_confirm: false,
            journal: Journal::default(),
            resume: None,
            rng: 0x4F6C_DD1D,
            module: Str::new(),
            close_tried: None,
        }
    }

    /// The version running at boot (set once, before [`Self::boot`]).
    pub fn set_running(&mut self, running: Str<VERSION_MAX>) {
        self.running = running;
    }

    /// Serve one module of the device (`fw_type`): offers for other modules are ignored and
    /// `report_version` names the module.
    pub fn set_module(&mut self, module: Str<FW_TYPE_MAX>) {
        self.module = module;
    }

    pub fn state(&self) -> State {
        self.state
    }
    pub fn last_error(&self) -> Option<Error> {
        self.last_error
    }
    /// Remember a problem outside the engine (a connection error) for `ota_get_status`.
    pub fn note_error(&mut self, e: Error) {
        self.last_error = Some(e);
    }
    pub fn running_version(&self) -> &str {
        self.running.as_str()
    }
    /// The offered or in-progress image, when there is one.
    pub fn offer(&self) -> Option<&Offer> {
        (self.state != State::Idle).then_some(&self.offer)
    }
    pub fn downloaded(&self) -> u32 {
        self.xfer.offset
    }

    /// Queue a report, filled in place with what it is about: the running version, or the
    /// current offer (the module the cloud named, or else the one this client serves).
    fn queue(&mut self, kind: Kind) {
        let Some(r) = self.outbox.slot() else { return };
        r.kind = kind;
        if matches!(kind, Kind::Version) {
            r.version.clone_from(&self.running);
            r.task_id = None;
            r.fw_type.clone_from(&self.module);
        } else {
            r.version.clone_from(&self.offer.version);
            r.task_id = self.offer.task_id;
            r.fw_type.clone_from(if self.offer.fw_type.is_empty() {
                &self.module
            } else {
                &self.offer.fw_type
            });
        }
    }

    /// Report the running version: a version report still waiting takes the latest version
    /// (the host may have called `report_version` again); one already on the wire (the head,
    /// awaiting its ack) with another version is followed by a new one, so the cloud always
    /// ends with the latest, and hears each version once.
    fn queue_version(&mut self) {
        let on_wire = usize::from(self.inflight.is_some());
        let live = self
            .outbox
            .items
            .get_mut(..self.outbox.len)
            .unwrap_or(&mut []);
        let (sent, waiting) = live.split_at_mut(on_wire.min(live.len()));
        if let Some(r) = waiting.iter_mut().find(|r| matches!(r.kind, Kind::Version)) {
            r.version.clone_from(&self.running);
        } else if !sent
            .iter()
            .any(|r| matches!(r.kind, Kind::Version) && r.version == self.running)
        {
            self.queue(Kind::Version);
        }
    }

    fn emit<P: Platform>(&self, plat: &mut P, kind: EventKind, error: Option<Error>) {
        let version = match kind {
            EventKind::Connected | EventKind::VersionReported => self.running.as_str(),
            _ => self.offer.version.as_str(),
        };
        let mut ev = Event::new(kind, version);
        ev.error = error;
        ev.file_size = self.offer.file_size;
        ev.downloaded = self.xfer.offset;
        ev.percent = percent(self.xfer.offset, self.offer.file_size);
        plat.event(&ev);
    }

    /// A problem the host hears of at once (event `Error`) and `ota_get_status` shows.
    fn error<P: Platform>(&mut self, plat: &mut P, e: Error) {
        self.last_error = Some(e);
        self.emit(plat, EventKind::Error, Some(e));
    }

    /// After power-up: read the record and decide what the cloud must hear.
    pub fn boot<P: Platform>(&mut self, plat: &mut P) {
        self.rng ^= ms(plat.now_ms());
        // Loaded and read in place (`resume`), not moved through this frame.
        self.journal = Journal::load(plat, &mut self.resume);
        let Some(rec) = &self.resume else { return };
        if rec.phase == Phase::Downloading {
            if rec.version == self.running {
                self.resume = None;
            }
            // Otherwise the cloud re-sends the offer after report_version; it resumes there.
            return;
        }
        self.offer.version.clone_from(&rec.version);
        self.offer.md5 = rec.md5;
        self.offer.file_size = rec.file_size;
        self.offer.task_id = rec.task_id;
        self.offer.fw_type.clone_from(&rec.fw_type);
        self.xfer.offset = rec.file_size;
        self.resume = None;
        // Running another version than installed: the bootloader rolled back.
        let first = if self.offer.version != self.running {
            self.last_error = Some(Error::RolledBack);
            Kind::Fail(Error::RolledBack)
        } else {
            self.state = State::Confirming;
            if self.policy.manual_confirm {
                // Nothing goes out before the self-test: not even the new version.
                self.awaiting_confirm = true;
                return;
            }
            Kind::Done
        };
        self.queue(first);
        self.queue(Kind::Version);
    }

    /// The host's self-test passed: report `done`, then the new version.
    pub fn confirm(&mut self) -> Result<(), Error> {
        if !self.awaiting_confirm {
            return Err(Error::WrongState);
        }
        self.awaiting_confirm = false;
        self.queue(Kind::Done);
        self.queue_version();
        Ok(())
    }

    /// The MQTT session is up and subscribed.
    pub fn on_online(&mut self) {
        self.online = true;
        self.inflight = None;
        self.retransmit = false;
        if !self.awaiting_confirm {
            self.queue_version();
        }
    }

    pub fn on_offline(&mut self) {
        self.online = false;
        self.inflight = None;
        self.retransmit = false;
    }

    /// The next report to publish, formatted into `out`: `(len, qos, retransmit pid)`.
    pub fn next_publish(&mut self, out: &mut [u8]) -> Option<(usize, u8, Option<u32>)> {
        if !self.online || (self.inflight.is_some() && !self.retransmit) {
            return None;
        }
        let r = self.outbox.front()?;
        let p = match r.kind {
            Kind::Version => None,
            Kind::Progress(percent) => Some(Progress::Downloading { percent }),
            Kind::Burning => Some(Progress::Burning),
            Kind::Done => Some(Progress::Done),
            Kind::Fail(e) => Some(Progress::Fail {
                code: e.result_code(),
                msg: e.result_msg(),
            }),
        };
        let (version, fw_type) = (r.version.as_str(), r.fw_type.as_str());
        let len = protocol::report(out, p.as_ref(), version, r.task_id, fw_type).ok()?;
        // Progress goes at QoS 0, every other report at QoS 1.
        let qos = u8::from(!matches!(r.kind, Kind::Progress(_)));
        Some((len, qos, self.inflight))
    }

    /// The report from [`Self::next_publish`] was queued on the session (`pid` for QoS1).
    pub fn published(&mut self, now: u64, pid: Option<u32>) {
        if pid.is_some() {
            self.inflight = pid;
            self.retransmit = false;
            return;
        }
        if let Some(Kind::Progress(p)) = self.outbox.front().map(|r| r.kind) {
            self.xfer.reported_percent = p;
            self.xfer.reported_at = ms(now);
        }
        self.outbox.pop_front();
    }

    /// The packet id (or host token) of the report waiting for its acknowledgement, unless it
    /// is already due to go again.
    pub fn awaiting_ack(&self) -> Option<u32> {
        self.inflight.filter(|_| !self.retransmit)
    }

    pub fn on_ack_timeout(&mut self, pid: u32) {
        if self.inflight == Some(pid) {
            self.retransmit = true;
        }
    }

    pub fn on_acked<P: Platform>(&mut self, pid: u32, plat: &mut P) {
        if self.inflight != Some(pid) {
            return;
        }
        self.inflight = None;
        let Some(done) = self.outbox.front() else {
            return;
        };
        match done.kind {
            Kind::Burning if self.state == State::Ready => {
                self.emit(plat, EventKind::ImageReady, None)
            }
            Kind::Done => {
                // The cloud has `done`; the record has served its purpose.
                let _ = self.journal.clear(plat);
            }
            Kind::Version if self.state == State::Confirming => {
                self.state = State::Idle;
                self.emit(plat, EventKind::Done, None);
            }
            Kind::Fail(e) => {
                let mut ev = Event::new(EventKind::Failed, done.version.as_str());
                ev.error = Some(e);
                ev.result_code = e.result_code();
                if e == Error::RolledBack {
                    let _ = self.journal.clear(plat);
                }
                plat.event(&ev);
            }
            _ => {}
        }
        self.outbox.pop_front();
    }

    /// A message arrived on `$ota/update/{pid}/{dn}`.
    /// The parsed offer stays in this frame and is only borrowed below: passed by value it was
    /// a second 600-byte copy on the deepest `ota_poll` path.
    pub fn on_message<P: Platform>(&mut self, now: u64, payload: &[u8], plat: &mut P) {
        let mut incoming = Offer::new();
        match protocol::parse(payload, &mut incoming) {
            Ok(Message::ReportVersionRsp { result_code: 0 }) => {
                self.emit(plat, EventKind::VersionReported, None)
            }
            Ok(Message::ReportVersionRsp { .. }) => self.error(plat, Error::VersionRejected),
            Ok(Message::UpdateFirmware) => self.on_offer(ms(now), &incoming, plat),
            Ok(Message::Other) => {}
            Err(e) => self.on_bad_message(e, &incoming, plat),
        }
    }

    /// A malformed message. When it is an `update_firmware` whose version could still be read,
    /// and no update is under way, the cloud hears `fail` -5 for that version: the device cannot
    /// act on the command. Anything else is only reported to the host.
    fn on_bad_message<P: Platform>(&mut self, e: ParseError, incoming: &Offer, plat: &mut P) {
        if crate::platform::LOG {
            plat.log(Level::Warn, e.as_str());
        }
        let version_unusable = matches!(
            e,
            ParseError::BadVersion
                | ParseError::TooLong(Field::Version)
                | ParseError::WrongType(Field::Version)
                | ParseError::MissingField(Field::Version)
        );
        let idle = matches!(self.state, State::Idle | State::Offered);
        if idle && !version_unusable && !incoming.version.is_empty() {
            self.offer.clone_from(incoming);
            self.state = State::Offered;
            return self.fail(plat, Error::BadMessage);
        }
        self.error(plat, Error::BadMessage);
    }

    fn on_offer<P: Platform>(&mut self, now: Ms, offer: &Offer, plat: &mut P) {
        if !self.module.is_empty() && !offer.fw_type.is_empty() && offer.fw_type != self.module {
            // Another module of the same device: its own client answers it.
            return;
        }
        if offer.version == self.running && matches!(self.state, State::Idle | State::Offered) {
            // A stale offer (a retried task crossing our `done`): we already run that version.
            // Saying so is the truth the cloud needs; downloading it again is not.
            plat.log(Level::Info, "offer is the running version: reported");
            self.queue_version();
            return;
        }
        match self.state {
            State::Downloading
                if same_image(
                    offer,
                    &self.offer.version,
                    &self.offer.md5,
                    self.offer.file_size,
                ) =>
            {
                // The cloud re-sent the task (after report_version): keep going with the fresh URL.
                self.offer.url.clone_from(&offer.url);
                if !self.xfer.active {
                    self.xfer.retry_ms = 0;
                }
                return;
            }
            State::Downloading => {
                plat.log(Level::Info, "another image offered: download abandoned");
                self.abandon_slot(now, plat);
            }
            State::Ready | State::Confirming => return,
            State::Idle | State::Offered => {}
        }
        self.offer.clone_from(offer);
        self.state = State::Offered;
        self.defer = None;
        if self.policy.slot_size != 0 && self.offer.file_size > self.policy.slot_size {
            return self.fail(plat, Error::ImageTooLarge);
        }
        self.emit(plat, EventKind::Offered, None);
        if !self.policy.manual_accept {
            self.start_download(plat);
        }
    }

    pub fn accept<P: Platform>(&mut self, _now: u64, plat: &mut P) -> Result<(), Error> {
        if self.state != State::Offered {
            return Err(Error::WrongState);
        }
        self.start_download(plat);
        Ok(())
    }

    pub fn decline<P: Platform>(&mut self, plat: &mut P) -> Result<(), Error> {
        if self.state != State::Offered {
            return Err(Error::WrongState);
        }
        self.fail(plat, Error::Declined);
        Ok(())
    }

    /// Drop the offer for now and ask the cloud again after `delay_ms`.
    pub fn defer(&mut self, now: u64, delay_ms: u32) -> Result<(), Error> {
        if self.state != State::Offered {
            return Err(Error::WrongState);
        }
        self.state = State::Idle;
        self.defer = Some((ms(now), delay_ms));
        Ok(())
    }

    /// The host reports its running version (again).
    pub fn report_version(&mut self, version: Str<VERSION_MAX>) {
        self.running = version;
        if !self.awaiting_confirm {
            self.queue_version();
        }
    }

    /// Open the slot for the offer, where the record says it stands when the record is for this
    /// image, else from byte 0. The first request is due at once.
    fn start_download<P: Platform>(&mut self, plat: &mut P) {
        self.xfer = Transfer::new();
        self.state = State::Downloading;
        let size = self.offer.file_size;
        // The record is read where it lies and dropped after: no record-sized temporary.
        let resume = self
            .resume
            .as_ref()
            .filter(|r| same_image(&self.offer, &r.version, &r.md5, r.file_size));
        if let Some(r) = resume {
            self.xfer.offset = r.offset;
            self.xfer.saved_offset = r.offset;
            self.xfer.md5 = Md5::restore(&r.md5_state);
            self.xfer.etag.clone_from(&r.etag);
            self.xfer.event_percent = percent(r.offset, size);
            plat.log(Level::Info, "resuming where the record says");
        } else {
            self.resume = None; // another image: the record is stale
            if let Err(e) = self.before_erase(plat) {
                return self.fail(plat, e);
            }
            self.close_abandoned(plat);
        }
        self.resume = None;
        if plat.slot_open(size, self.xfer.offset).is_err() {
            return self.fail(plat, Error::Slot);
        }
        self.emit(plat, EventKind::DownloadStarted, None);
        if self.xfer.offset == size {
            // The power went after the last byte was recorded: nothing left to fetch.
            self.verify(plat);
        }
    }

    /// Give the slot up. The record goes first: the host may erase the slot on `slot_close(false)`,
    /// and a record must never claim bytes the slot no longer holds. When the record cannot be
    /// cleared the slot is left open, still matching it, and clearing is tried again (`poll`).
    fn abandon_slot<P: Platform>(&mut self, now: Ms, plat: &mut P) {
        if self.journal.clear(plat).is_ok() {
            self.close_tried = None; // an earlier pending close is this one
            let _ = plat.slot_close(false);
            return;
        }
        if self.close_tried.is_none() {
            self.error(plat, Error::Store);
        }
        self.close_tried = Some(now);
    }

    /// The record no longer claims the abandoned slot's bytes: it may be closed (and erased).
    fn close_abandoned<P: Platform>(&mut self, plat: &mut P) {
        if self.close_tried.take().is_some() {
            let _ = plat.slot_close(false);
        }
    }

    /// The record is rewritten to offset 0 (or erased) before the slot is: a record must never
    /// claim bytes the slot no longer holds, or a resume would trust them.
    fn before_erase<P: Platform>(&mut self, plat: &mut P) -> Result<(), Error> {
        if self.save_journal(plat) || self.journal.clear(plat).is_ok() {
            Ok(())
        } else {
            Err(Error::Store)
        }
    }

    /// Record the offered image at `phase` with `offset` bytes in the slot and the MD5 state to
    /// resume from (`None` once installed).
    fn save_record<P: Platform>(
        &mut self,
        plat: &mut P,
        phase: Phase,
        offset: u32,
        md5_state: Option<&[u8; MD5_STATE_LEN]>,
    ) -> bool {
        let o = &self.offer;
        let rec = Entry {
            phase,
            version: &o.version,
            md5: &o.md5,
            file_size: o.file_size,
            offset,
            task_id: o.task_id,
            fw_type: &o.fw_type,
            etag: &self.xfer.etag,
            md5_state,
        };
        self.journal.save(plat, &rec).is_ok()
    }

    /// Record how far the slot is durably written: up to the last 64-byte MD5 block, whose
    /// state is saved (the bytes after it are downloaded again on resume, at most 63).
    fn save_journal<P: Platform>(&mut self, plat: &mut P) -> bool {
        let (md5_state, pending) = self.xfer.md5.save();
        let Some(offset) = self.xfer.offset.checked_sub(pending as u32) else {
            return false;
        };
        if self.save_record(plat, Phase::Downloading, offset, Some(&md5_state)) {
            self.xfer.saved_offset = offset;
            return true;
        }
        // Not fatal: the download goes on, a power cut would only cost a restart from 0.
        self.emit(plat, EventKind::Error, Some(Error::Store));
        false
    }

    /// End the update: tell the cloud why, and forget the image.
    fn fail<P: Platform>(&mut self, plat: &mut P, e: Error) {
        if self.state == State::Downloading {
            let now = ms(plat.now_ms());
            self.abandon_slot(now, plat);
        } else {
            let _ = self.journal.clear(plat);
        }
        self.state = State::Idle;
        self.xfer.active = false;
        self.resume = None;
        self.queue(Kind::Fail(e));
        self.error(plat, e);
    }

    // ---- download, driven by the client ----

    /// A request should be started now: `(url, first byte, last byte, If-Range ETag)`.
    pub fn download_due(&self, now: u64) -> Option<(&str, u32, u32, Option<&str>)> {
        let x = &self.xfer;
        let waiting =
            x.active || x.readback.is_some() || left(ms(now), x.retry_from, x.retry_ms) > 0;
        if self.state != State::Downloading || waiting || x.offset >= self.offer.file_size {
            return None;
        }
        let last = self.offer.file_size.checked_sub(1)?;
        let if_range = (x.offset > 0 && !x.etag.is_empty()).then_some(x.etag.as_str());
        Some((self.offer.url.as_str(), x.offset, last, if_range))
    }

    pub fn download_started(&mut self, now: u64) {
        self.xfer.active = true;
        self.xfer.window_at = ms(now);
        self.xfer.window_bytes = 0;
    }

    /// Check the response head against what was asked for.
    pub fn on_head<P: Platform>(
        &mut self,
        head: &crate::http::response::Head<'_>,
        plat: &mut P,
    ) -> Result<(), Error> {
        let size = self.offer.file_size;
        let x = &mut self.xfer;
        // Where the body starts: a 200 is the whole image (also when Range was ignored).
        let from = match head.status {
            200 => 0,
            206 => x.offset,
            301 | 302 | 303 | 307 | 308 => return self.follow(head.location),
            403 => return Err(Error::HttpForbidden),
            404 => return Err(Error::HttpNotFound),
            _ => return Err(Error::HttpStatus),
        };
        // Only a strong ETag may go into If-Range; one too long to keep is not used.
        x.etag.clear();
        if let Some(e) = head.etag.filter(|e| !e.starts_with("W/")) {
            let _ = x.etag.push_str(e);
        }
        // A 206 holds exactly the rest of the image, from where the slot stands (the one check
        // of the range: the downloader leaves it to us); a Content-Length must agree.
        let range_ok = head.status == 200
            || head.content_range.is_some_and(|cr| {
                cr.start == from && cr.end == size - 1 && cr.total.is_none_or(|t| t == size)
            });
        if !range_ok
            || head
                .content_length
                .is_some_and(|n| n != u64::from(size - from))
        {
            return Err(Error::HttpProtocol);
        }
        if from != x.offset {
            // The server ignored Range: start over from byte 0, never splice.
            plat.log(Level::Warn, "Range ignored: restart from 0");
            x.restart();
            self.before_erase(plat)?;
            plat.slot_open(size, 0).map_err(|_| Error::Slot)?;
        }
        if from == 0 {
            // Bytes from the start are coming: progress starts at "0", as Tencent's SDKs send
            // it with the first chunk (a resume does not repeat it).
            self.xfer.reported_percent = NOT_REPORTED;
            if !self.outbox.has(Kind::Progress(0)) {
                self.queue(Kind::Progress(0));
            }
        }
        Ok(())
    }

    /// Take a redirect's target as the URL of the next request. `Err(Redirected)` tells the
    /// client to end this request and start the next one at once.
    fn follow(&mut self, location: Option<&str>) -> Result<(), Error> {
        const MAX_REDIRECTS: u8 = 3;
        if self.xfer.redirects >= MAX_REDIRECTS {
            return Err(Error::HttpStatus);
        }
        let mut next = Str::<URL_MAX>::new();
        {
            let base =
                crate::http::url::parse(self.offer.url.as_str()).map_err(|_| Error::BadUrl)?;
            let target = crate::http::url::resolve(&base, location.ok_or(Error::HttpProtocol)?)
                .map_err(|e| match e {
                    crate::http::url::UrlError::Downgrade => Error::TlsDowngrade,
                    _ => Error::BadUrl,
                })?;
            crate::http::url::write(&target, &mut next).map_err(|_| Error::BadUrl)?;
        }
        // The cloud's URL is replaced: a re-sent offer brings a fresh one if this one goes stale.
        self.offer.url = next;
        self.xfer.redirects += 1;
        Err(Error::Redirected)
    }

    /// Body bytes: into the slot and the digest.
    pub fn on_data<P: Platform>(
        &mut self,
        now: u64,
        data: &[u8],
        plat: &mut P,
    ) -> Result<(), Error> {
        let x = &mut self.xfer;
        let end = u32::try_from(data.len())
            .ok()
            .and_then(|n| x.offset.checked_add(n))
            .filter(|&e| e <= self.offer.file_size)
            .ok_or(Error::HttpProtocol)?;
        let start = x.offset;
        plat.slot_write(start, data).map_err(|_| Error::Slot)?;
        x.md5.update(data);
        x.offset = end;
        // A new stall window once enough came in: a trickle never gets there.
        x.window_bytes = x.window_bytes.saturating_add(end - start);
        if x.window_bytes >= STALL_MIN_BYTES || end == self.offer.file_size {
            x.window_at = ms(now);
            x.window_bytes = 0;
        }
        let p = percent(end, self.offer.file_size);
        // saved_offset <= offset always (`Transfer::restart`): a debug build's overflow check
        // (the simulation) catches any path that breaks it.
        let journal_due = end - x.saved_offset >= self.policy.journal_interval.max(64);
        if p != x.event_percent {
            x.event_percent = p;
            self.emit(plat, EventKind::Progress, None);
        }
        if journal_due {
            self.save_journal(plat);
        }
        Ok(())
    }

    /// The response body ended cleanly.
    pub fn on_body_done<P: Platform>(&mut self, now: u64, plat: &mut P) {
        self.xfer.active = false;
        self.xfer.redirects = 0;
        if self.xfer.offset != self.offer.file_size {
            return self.on_download_error(now, Error::HttpProtocol, plat);
        }
        self.verify(plat);
    }

    /// Check the digest of the stream or, once `work` has read the slot back (`readback` is
    /// `Some(size)`), of the slot.
    fn verify<P: Platform>(&mut self, plat: &mut P) {
        let read_back = self.xfer.readback.take().is_some();
        if self.xfer.md5.finish() != self.offer.md5 {
            if read_back {
                plat.log(Level::Error, "slot read-back: MD5 mismatch");
            }
            return self.fail(plat, Error::Md5Mismatch);
        }
        if crate::client::READBACK && self.policy.readback_verify && !read_back {
            // The stream was right; now prove the flash holds it (see `work`).
            restart_md5(&mut self.xfer.md5);
            self.xfer.readback = Some(0);
            return;
        }
        self.install(plat);
    }

    /// [`Self::work`] has something to do.
    pub fn has_work(&self) -> bool {
        crate::client::READBACK && self.xfer.readback.is_some()
    }

    /// Background work between polls: the read-back verification, a slice per call so `poll`
    /// never blocks for long, read through `buf` (the idle HTTP buffer). Returns `true` while
    /// more is to do.
    pub fn work<P: Platform>(&mut self, plat: &mut P, buf: &mut [u8]) -> bool {
        const SLICE: u32 = 64 * 1024;
        if buf.is_empty() {
            return false;
        }
        let Some(mut offset) = self.xfer.readback.take() else {
            return false;
        };
        let size = self.offer.file_size;
        let end = offset.saturating_add(SLICE).min(size);
        while offset < end {
            let n = (end - offset).min(u32::try_from(buf.len()).unwrap_or(u32::MAX));
            let chunk = buf.get_mut(..n as usize).unwrap_or(&mut []);
            match plat.slot_read(offset, chunk) {
                // No read-back on this host: the stream's MD5 has to do.
                None => {
                    self.install(plat);
                    return false;
                }
                Some(Err(_)) => {
                    self.fail(plat, Error::Slot);
                    return false;
                }
                Some(Ok(())) => self.xfer.md5.update(&*chunk),
            }
            offset += n;
        }
        self.xfer.readback = Some(offset);
        if offset < size {
            return true;
        }
        self.verify(plat);
        false
    }

    /// Hand the verified image over: record first, then the bootable slot.
    fn install<P: Platform>(&mut self, plat: &mut P) {
        if self.xfer.reported_percent != 100 {
            self.queue(Kind::Progress(100));
        }
        // The record goes first: a power cut after it but before the slot is bootable is reported
        // as a failed upgrade, never as a silent success.
        let size = self.offer.file_size;
        if !self.save_record(plat, Phase::Installed, size, None) {
            return self.fail(plat, Error::Store);
        }
        if plat.slot_close(true).is_err() {
            let _ = self.journal.clear(plat);
            self.state = State::Idle; // the slot is already closed
            return self.fail(plat, Error::Slot);
        }
        self.state = State::Ready;
        self.queue(Kind::Burning);
    }

    /// The request failed (`Error::NetIo` for a dropped link); retry with backoff or give up.
    pub fn on_download_error<P: Platform>(&mut self, now: u64, e: Error, plat: &mut P) {
        if self.state != State::Downloading {
            return;
        }
        let x = &mut self.xfer;
        x.active = false;
        x.retry_ms = 0;
        if e == Error::Redirected {
            return;
        }
        x.redirects = 0;
        x.attempts = x.attempts.saturating_add(1);
        if matches!(e, Error::HttpNotFound | Error::Slot | Error::Store)
            || x.attempts >= self.policy.max_attempts
        {
            return self.fail(plat, e);
        }
        self.rng = xorshift32(self.rng);
        x.retry_from = ms(now);
        // 1 s after the first attempt, doubled per attempt up to 32 s, with jitter.
        x.retry_ms = backoff(500, u32::from(x.attempts), self.rng);
        if e == Error::HttpForbidden {
            // The signed URL expired: report the version so the cloud re-sends a fresh one.
            self.queue_version();
        }
        self.error(plat, e);
    }

    /// The download made too little progress for too long (see [`STALL_MIN_BYTES`]).
    pub fn download_stalled(&self, now: u64) -> bool {
        let x = &self.xfer;
        x.active && left(ms(now), x.window_at, self.policy.stall_timeout_ms) == 0
    }

    /// Timers: throttled progress reports, deferred re-requests and clearing the record of an
    /// abandoned slot.
    pub fn poll<P: Platform>(&mut self, now: u64, plat: &mut P) {
        let now = ms(now);
        if self
            .close_tried
            .is_some_and(|t| left(now, t, CLOSE_RETRY_MS) == 0)
        {
            match self.journal.clear(plat) {
                Ok(()) => self.close_abandoned(plat),
                Err(_) => self.close_tried = Some(now),
            }
        }
        if self.defer.is_some_and(|(t, span)| left(now, t, span) == 0) {
            self.defer = None;
            self.queue_version();
        }
        let x = &self.xfer;
        let p = percent(x.offset, self.offer.file_size);
        let progress_due = x.reported_percent < p // never true before the first report
            && p < 100 // 100 goes out with the verification, in order
            && left(now, x.reported_at, self.policy.progress_interval_ms) == 0;
        if self.state == State::Downloading && progress_due && !self.outbox.has(ANY_PROGRESS) {
            self.queue(Kind::Progress(p));
        }
    }

    /// The earliest time after `now` the engine has timer work (call after [`Self::poll`]).
    pub fn poll_at(&self, now: u64) -> Option<u64> {
        let t = ms(now);
        let mut wait: Option<u32> = None;
        let mut consider = |since: Ms, span: u32| {
            let l = left(t, since, span);
            wait = Some(wait.map_or(l, |w| w.min(l)));
        };
        if let Some((since, span)) = self.defer {
            consider(since, span);
        }
        if let Some(since) = self.close_tried {
            consider(since, CLOSE_RETRY_MS);
        }
        if self.state == State::Downloading {
            let x = &self.xfer;
            let report_in = left(t, x.reported_at, self.policy.progress_interval_ms);
            if !x.active {
                consider(x.retry_from, x.retry_ms);
            } else {
                consider(x.window_at, self.policy.stall_timeout_ms);
                if x.reported_percent != NOT_REPORTED && report_in > 0 {
                    consider(x.reported_at, self.policy.progress_interval_ms);
                }
            }
        }
        wait.map(|w| now + u64::from(w))
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::String;
    use std::vec::Vec;

    use super::*;
    use crate::http::response::{ContentRange, Head};
    use crate::platform::mock::Mock;

    const IMAGE: &[u8] = b"firmware image bytes, 32 of them";

    fn md5_hex(data: &[u8]) -> String {
        let mut md5 = Md5::new();
        md5.update(data);
        md5.finish()
            .iter()
            .map(|b| std::format!("{b:02x}"))
            .collect()
    }

    fn offer_json(version: &str, data: &[u8]) -> String {
        std::format!(
            r#"{{"file_size":{},"md5sum":"{}","type":"update_firmware","url":"http:\/\/127.0.0.1:8080\/fw.bin?sign=a\u0026b","version":"{version}"}}"#,
            data.len(),
            md5_hex(data)
        )
    }

    fn engine(policy: Policy) -> Engine {
        let mut e = Engine::new(Str::try_from_str("1.0.0").unwrap(), policy);
        e.on_online();
        e
    }

    /// Publish everything queued; QoS1 reports are acknowledged at once. Returns the payloads.
    fn drain(e: &mut Engine, p: &mut Mock, now: u64) -> Vec<String> {
        let mut out = Vec::new();
        let mut pid = 1;
        let mut buf = [0u8; 384];
        while let Some((n, qos, _)) = e.next_publish(&mut buf) {
            out.push(String::from_utf8(buf[..n].to_vec()).unwrap());
            if qos == 1 {
                e.published(now, Some(pid));
                e.on_acked(pid, p);
                pid += 1;
            } else {
                e.published(now, None);
            }
        }
        out
    }

    fn head(status: u16, range: Option<(u32, u32, u32)>) -> Head<'static> {
        Head {
            status,
            content_length: None,
            chunked: false,
            content_range: range.map(|(start, end, t)| ContentRange {
                start,
                end,
                total: Some(t),
            }),
            etag: None,
            location: None,
            close: false,
        }
    }

    fn download(e: &mut Engine, p: &mut Mock, data: &[u8], now: u64) {
        let (url, first, last, _) = e.download_due(now).expect("download due");
        assert_eq!(url, "http://127.0.0.1:8080/fw.bin?sign=a&b");
        e.download_started(now);
        let h = head(206, Some((first, last, data.len() as u32)));
        e.on_head(&h, p).unwrap();
        for chunk in data[first as usize..].chunks(7) {
            e.on_data(now, chunk, p).unwrap();
        }
        e.on_body_done(now, p);
    }

    fn kinds(p: &Mock) -> Vec<EventKind> {
        p.events.iter().map(|e| e.0).collect()
    }

    #[test]
    fn full_update_then_confirmation_after_reboot() {
        let mut p = Mock::default();
        let mut e = engine(Policy::default());
        assert_eq!(
            drain(&mut e, &mut p, 0),
            [r#"{"type":"report_version","report":{"version":"1.0.0"}}"#]
        );
        e.on_message(0, offer_json("2.0.0", IMAGE).as_bytes(), &mut p);
        assert_eq!(e.state(), State::Downloading);
        download(&mut e, &mut p, IMAGE, 0);
        assert_eq!(p.slot, IMAGE);
        assert_eq!(p.bootable, Some(true));
        let sent = drain(&mut e, &mut p, 0);
        assert_eq!(sent.len(), 3, "{sent:?}");
        assert!(sent[0].contains(r#""state":"downloading","percent":"0""#));
        assert!(sent[1].contains(r#""percent":"100""#));
        assert_eq!(
            sent[2],
            r#"{"type":"report_progress","report":{"progress":{"state":"burning","result_code":"0","result_msg":""},"version":"2.0.0"}}"#
        );
        assert_eq!(e.state(), State::Ready);
        assert!(kinds(&p).contains(&EventKind::ImageReady));

        // The reboot: a new engine on the new version finds the record.
        let mut e = Engine::new(Str::try_from_str("2.0.0").unwrap(), Policy::default());
        e.boot(&mut p);
        assert_eq!(e.state(), State::Confirming);
        e.on_online();
        let sent = drain(&mut e, &mut p, 0);
        assert!(sent[0].contains(r#""state":"done""#) && sent[0].contains(r#""version":"2.0.0""#));
        assert_eq!(
            sent[1],
            r#"{"type":"report_version","report":{"version":"2.0.0"}}"#
        );
        assert_eq!(sent.len(), 2);
        assert_eq!(e.state(), State::Idle);
        assert_eq!(kinds(&p).last(), Some(&EventKind::Done));
        assert!(
            p.record.iter().all(Vec::is_empty),
            "record erased once the cloud has done"
        );
    }

    #[test]
    fn manual_confirm_holds_done_until_the_self_test_passed() {
        let mut p = Mock::default();
        let mut e = engine(Policy::default());
        e.on_message(0, offer_json("2.0.0", IMAGE).as_bytes(), &mut p);
        download(&mut e, &mut p, IMAGE, 0);
        let policy = Policy {
            manual_confirm: true,
            ..Policy::default()
        };
        let mut e = Engine::new(Str::try_from_str("2.0.0").unwrap(), policy);
        e.boot(&mut p);
        e.on_online();
        assert!(
            drain(&mut e, &mut p, 0).is_empty(),
            "nothing before the confirmation"
        );
        assert_eq!(e.state(), State::Confirming);
        e.confirm().unwrap();
        assert_eq!(e.confirm(), Err(Error::WrongState));
        let sent = drain(&mut e, &mut p, 0);
        assert!(sent[0].contains(r#""state":"done""#), "{sent:?}");
        assert!(sent[1].contains("report_version"));
        assert_eq!(e.state(), State::Idle);
    }

    #[test]
    fn rollback_is_reported_as_fail_5() {
        let mut p = Mock::default();
        let mut e = engine(Policy::default());
        e.on_message(0, offer_json("2.0.0", IMAGE).as_bytes(), &mut p);
        download(&mut e, &mut p, IMAGE, 0);
        let mut e = Engine::new(Str::try_from_str("1.0.0").unwrap(), Policy::default());
        e.boot(&mut p);
        e.on_online();
        let sent = drain(&mut e, &mut p, 0);
        assert!(
            sent[0].contains(r#""state":"fail","result_code":"-5""#),
            "{sent:?}"
        );
        assert!(sent[0].contains(r#""version":"2.0.0""#));
        assert!(sent[1].contains(r#""version":"1.0.0""#));
        assert_eq!(
            p.events.last(),
            Some(&(EventKind::Failed, Some(Error::RolledBack), -5))
        );
        assert!(p.record.iter().all(Vec::is_empty));
    }

    #[test]
    fn md5_mismatch_fails_with_4_and_is_never_bootable() {
        let mut p = Mock::default();
        let mut e = engine(Policy::default());
        drain(&mut e, &mut p, 0);
        e.on_message(0, offer_json("2.0.0", IMAGE).as_bytes(), &mut p);
        let mut bad = IMAGE.to_vec();
        bad[5] ^= 1;
        download(&mut e, &mut p, &bad, 0);
        assert_eq!(p.bootable, Some(false));
        assert!(p.record.iter().all(Vec::is_empty));
        let sent = drain(&mut e, &mut p, 0);
        assert!(
            sent.last()
                .unwrap()
                .contains(r#""state":"fail","result_code":"-4","result_msg":"md5 mismatch""#)
        );
        assert_eq!(
            p.events.last(),
            Some(&(EventKind::Failed, Some(Error::Md5Mismatch), -4))
        );
        assert_eq!(e.state(), State::Idle);
    }

    #[test]
    fn not_found_fails_at_once_with_2() {
        let mut p = Mock::default();
        let mut e = engine(Policy::default());
        e.on_message(0, offer_json("2.0.0", IMAGE).as_bytes(), &mut p);
        e.download_started(0);
        let err = e.on_head(&head(404, None), &mut p).unwrap_err();
        e.on_download_error(0, err, &mut p);
        assert_eq!(e.state(), State::Idle);
        let sent = drain(&mut e, &mut p, 0);
        assert!(
            sent.last().unwrap().contains(r#""result_code":"-2""#),
            "{sent:?}"
        );
    }

    #[test]
    fn forbidden_asks_for_a_fresh_url_then_gives_up_with_3() {
        let mut p = Mock::default();
        let mut e = engine(Policy {
            max_attempts: 3,
            ..Policy::default()
        });
        drain(&mut e, &mut p, 0);
        e.on_message(0, offer_json("2.0.0", IMAGE).as_bytes(), &mut p);
        drain(&mut e, &mut p, 0);
        let mut now = 0;
        for attempt in 1..=3 {
            let (_, first, _, _) = e.download_due(now).expect("retry due");
            assert_eq!(first, 0);
            e.download_started(now);
            let err = e.on_head(&head(403, None), &mut p).unwrap_err();
            e.on_download_error(now, err, &mut p);
            let sent = drain(&mut e, &mut p, now);
            if attempt < 3 {
                assert_eq!(
                    sent.len(),
                    1,
                    "report_version re-asks for the URL: {sent:?}"
                );
                assert!(sent[0].contains("report_version"));
                assert!(e.download_due(now).is_none(), "backoff");
                now = e.poll_at(now).unwrap();
            } else {
                assert!(
                    sent[0].contains(r#""state":"fail","result_code":"-3""#),
                    "{sent:?}"
                );
            }
        }
        assert_eq!(e.state(), State::Idle);
    }

    #[test]
    fn resumes_after_a_dropped_link_and_restarts_when_range_is_ignored() {
        let mut p = Mock::default();
        let mut e = engine(Policy::default());
        e.on_message(0, offer_json("2.0.0", IMAGE).as_bytes(), &mut p);
        e.download_started(0);
        e.on_head(&head(206, Some((0, 31, 32))), &mut p).unwrap();
        e.on_data(0, &IMAGE[..10], &mut p).unwrap();
        e.on_download_error(0, Error::NetIo, &mut p);
        let retry = e.poll_at(0).unwrap();
        assert!(
            (1000..=1250).contains(&retry),
            "1 s backoff plus jitter: {retry}"
        );
        let (_, first, last, _) = e.download_due(retry).unwrap();
        assert_eq!((first, last), (10, 31), "resume from the last byte written");
        e.download_started(retry);
        // A 200 to a range request: start over from byte 0, never splice.
        let mut full = head(200, None);
        full.content_length = Some(32);
        e.on_head(&full, &mut p).unwrap();
        assert_eq!(p.opened.last(), Some(&(32, 0)));
        e.on_data(1000, IMAGE, &mut p).unwrap();
        e.on_body_done(1000, &mut p);
        assert_eq!(p.slot, IMAGE);
        assert_eq!(e.state(), State::Ready);
    }

    #[test]
    fn wrong_content_range_and_long_bodies_are_errors() {
        let mut p = Mock::default();
        let mut e = engine(Policy::default());
        e.on_message(0, offer_json("2.0.0", IMAGE).as_bytes(), &mut p);
        e.download_started(0);
        assert_eq!(
            e.on_head(&head(206, Some((5, 31, 32))), &mut p),
            Err(Error::HttpProtocol)
        );
        assert_eq!(
            e.on_head(&head(206, Some((0, 31, 33))), &mut p),
            Err(Error::HttpProtocol)
        );
        assert_eq!(
            e.on_head(&head(206, None), &mut p),
            Err(Error::HttpProtocol)
        );
        assert_eq!(e.on_head(&head(500, None), &mut p), Err(Error::HttpStatus));
        e.on_head(&head(206, Some((0, 31, 32))), &mut p).unwrap();
        e.on_data(0, IMAGE, &mut p).unwrap();
        assert_eq!(e.on_data(0, b"x", &mut p), Err(Error::HttpProtocol));
    }

    /// The only check that a 206 answers the Range asked for (the downloader delivers any 206):
    /// the rest of the image from where the slot stands, with a Content-Length that agrees.
    #[test]
    fn a_206_must_hold_the_rest_of_the_image() {
        let mut p = Mock::default();
        let mut e = engine(Policy::default());
        e.on_message(0, offer_json("2.0.0", IMAGE).as_bytes(), &mut p);
        e.download_started(0);
        e.on_head(&head(206, Some((0, 31, 32))), &mut p).unwrap();
        e.on_data(0, &IMAGE[..10], &mut p).unwrap();
        e.on_download_error(0, Error::NetIo, &mut p);
        let retry = e.poll_at(0).unwrap();
        assert_eq!(e.download_due(retry).unwrap().1, 10);
        e.download_started(retry);
        let wrong = [
            "Content-Range: bytes 0-21/32\r\nContent-Length: 22", // start moved
            "Content-Range: bytes 10-30/32\r\nContent-Length: 21", // end short of the image
            "Content-Range: bytes 10-31/33\r\nContent-Length: 22", // another object size
            "Content-Range: bytes 10-31/32\r\nContent-Length: 23", // length contradicts it
            "Content-Range: bytes 10-31/*\r\nContent-Length: 21",
            "Content-Length: 22", // no Content-Range
            "Content-Type: multipart/byteranges; boundary=x",
        ];
        for fields in wrong {
            let raw = std::format!("HTTP/1.1 206 P\r\n{fields}\r\n\r\n");
            let (h, _) = crate::http::response::parse_head(raw.as_bytes())
                .unwrap()
                .unwrap();
            assert_eq!(e.on_head(&h, &mut p), Err(Error::HttpProtocol), "{fields}");
        }
        let raw = "HTTP/1.1 200 OK\r\nContent-Length: 31\r\n\r\n";
        let (h, _) = crate::http::response::parse_head(raw.as_bytes())
            .unwrap()
            .unwrap();
        assert_eq!(e.on_head(&h, &mut p), Err(Error::HttpProtocol), "short 200");
        assert_eq!(p.opened.len(), 1, "nothing restarted");
        for fields in [
            "Content-Range: bytes 10-31/32\r\nContent-Length: 22",
            "Content-Range: bytes 10-31/*",
        ] {
            let raw = std::format!("HTTP/1.1 206 P\r\n{fields}\r\n\r\n");
            let (h, _) = crate::http::response::parse_head(raw.as_bytes())
                .unwrap()
                .unwrap();
            assert_eq!(e.on_head(&h, &mut p), Ok(()), "{fields}");
        }
        e.on_data(0, &IMAGE[10..], &mut p).unwrap();
        e.on_body_done(0, &mut p);
        assert_eq!(e.state(), State::Ready);
    }

    #[test]
    fn progress_is_throttled_to_one_report_a_second() {
        let mut p = Mock::default();
        let image: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let mut e = engine(Policy {
            progress_interval_ms: 1000,
            ..Policy::default()
        });
        drain(&mut e, &mut p, 0);
        e.on_message(0, offer_json("2.0.0", &image).as_bytes(), &mut p);
        e.download_started(0);
        e.on_head(&head(206, Some((0, 9999, 10_000))), &mut p)
            .unwrap();
        let mut reports = Vec::new();
        for (i, chunk) in image.chunks(100).enumerate() {
            let now = i as u64 * 50; // 100 chunks over 5 s
            e.on_data(now, chunk, &mut p).unwrap();
            e.poll(now, &mut p);
            for r in drain(&mut e, &mut p, now) {
                reports.push((now, r));
            }
        }
        let times: Vec<u64> = reports.iter().map(|r| r.0).collect();
        assert!(reports.len() >= 5 && reports.len() <= 7, "{times:?}");
        for w in times.windows(2) {
            assert!(w[1] - w[0] >= 1000, "{times:?}");
        }
        assert_eq!(
            p.events
                .iter()
                .filter(|e| e.0 == EventKind::Progress)
                .count(),
            100
        );
    }

    #[test]
    fn manual_accept_decline_defer() {
        let mut p = Mock::default();
        let policy = Policy {
            manual_accept: true,
            ..Policy::default()
        };
        let mut e = engine(policy);
        drain(&mut e, &mut p, 0);
        e.on_message(0, offer_json("2.0.0", IMAGE).as_bytes(), &mut p);
        assert_eq!(e.state(), State::Offered);
        assert!(p.opened.is_empty());
        e.defer(0, 5000).unwrap();
        assert_eq!(e.state(), State::Idle);
        e.poll(4999, &mut p);
        assert!(drain(&mut e, &mut p, 4999).is_empty());
        e.poll(5000, &mut p);
        assert_eq!(
            drain(&mut e, &mut p, 5000).len(),
            1,
            "report_version again after the deferral"
        );
        e.on_message(5000, offer_json("2.0.0", IMAGE).as_bytes(), &mut p);
        e.decline(&mut p).unwrap();
        let sent = drain(&mut e, &mut p, 5000);
        assert!(
            sent[0]
                .contains(r#""state":"fail","result_code":"-5","result_msg":"declined by device""#)
        );
        e.on_message(5000, offer_json("2.0.0", IMAGE).as_bytes(), &mut p);
        e.accept(5000, &mut p).unwrap();
        assert_eq!(e.state(), State::Downloading);
        assert_eq!(e.accept(5000, &mut p), Err(Error::WrongState));
    }

    #[test]
    fn oversized_image_is_refused_before_download() {
        let mut p = Mock::default();
        let mut e = engine(Policy {
            slot_size: 16,
            ..Policy::default()
        });
        e.on_message(0, offer_json("2.0.0", IMAGE).as_bytes(), &mut p);
        assert!(p.opened.is_empty());
        assert_eq!(e.state(), State::Idle);
        assert_eq!(e.last_error(), Some(Error::ImageTooLarge));
    }

    #[test]
    fn the_same_offer_again_only_refreshes_the_url() {
        let mut p = Mock::default();
        let mut e = engine(Policy::default());
        e.on_message(0, offer_json("2.0.0", IMAGE).as_bytes(), &mut p);
        e.download_started(0);
        e.on_head(&head(206, Some((0, 31, 32))), &mut p).unwrap();
        e.on_data(0, &IMAGE[..8], &mut p).unwrap();
        let again = offer_json("2.0.0", IMAGE).replace("sign=a", "sign=fresh");
        e.on_message(0, again.as_bytes(), &mut p);
        assert_eq!(p.opened.len(), 1, "no restart");
        assert_eq!(e.downloaded(), 8);
        assert!(e.offer().unwrap().url.as_str().contains("sign=fresh"));
    }

    #[test]
    fn a_trickle_counts_as_a_stall_a_slow_link_does_not() {
        let image = big_image();
        let size = image.len() as u32;
        let policy = Policy::default(); // 30 s
        // A byte every 9 s: each one is well within the stall timeout of the one before.
        let mut p = Mock::default();
        let mut e = engine(policy);
        e.on_message(0, offer_json("2.0.0", &image).as_bytes(), &mut p);
        e.download_started(0);
        e.on_head(&head(206, Some((0, size - 1, size))), &mut p)
            .unwrap();
        let mut now = 0;
        for i in 0..3 {
            now += 9_000;
            assert!(!e.download_stalled(now));
            e.on_data(now, &image[i..i + 1], &mut p).unwrap();
        }
        assert!(!e.download_stalled(29_999));
        assert!(e.download_stalled(30_000), "3 bytes in 30 s is a stall");
        assert_eq!(e.poll_at(now), Some(30_000), "the client is woken for it");
        e.on_download_error(30_000, Error::DownloadTimeout, &mut p);
        assert_eq!(e.state(), State::Downloading, "retried like any stall");
        assert_eq!(e.downloaded(), 3, "resumed from where the slot stands");

        // 1 KiB/s (a poor cellular link) in 128-byte pieces completes.
        let mut p = Mock::default();
        let mut e = engine(policy);
        e.on_message(0, offer_json("2.0.0", &image).as_bytes(), &mut p);
        e.download_started(0);
        e.on_head(&head(206, Some((0, size - 1, size))), &mut p)
            .unwrap();
        let mut now = 0;
        for chunk in image.chunks(128) {
            now += 125;
            assert!(!e.download_stalled(now), "at {now} ms");
            e.on_data(now, chunk, &mut p).unwrap();
        }
        e.on_body_done(now, &mut p);
        assert_eq!(e.state(), State::Ready);

        // The last few bytes: less than 1 KiB is left, so they are all the window asks for.
        let tail = &image[..1100];
        let mut p = Mock::default();
        let mut e = engine(policy);
        e.on_message(0, offer_json("2.0.0", tail).as_bytes(), &mut p);
        e.download_started(0);
        e.on_head(&head(206, Some((0, 1099, 1100))), &mut p)
            .unwrap();
        e.on_data(20_000, &tail[..1024], &mut p).unwrap();
        e.on_data(45_000, &tail[1024..1099], &mut p).unwrap();
        assert!(
            e.download_stalled(50_000),
            "75 of the last 76 bytes is not enough"
        );
        assert!(!e.download_stalled(49_999));
        e.on_data(49_999, &tail[1099..], &mut p).unwrap();
        assert!(!e.download_stalled(79_998));
    }

    fn big_image() -> Vec<u8> {
        (0..100_000u32).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    /// Download 2.0.0 (served with `etag`) up to `upto` bytes with a 4 KiB journal interval, then
    /// cut the power: a new engine on 1.0.0 boots over the same slot and record.
    fn interrupted(image: &[u8], upto: usize, etag: Option<&'static str>, p: &mut Mock) -> Engine {
        let policy = Policy {
            journal_interval: 4096,
            ..Policy::default()
        };
        let mut e = engine(policy);
        e.on_message(0, offer_json("2.0.0", image).as_bytes(), p);
        e.download_started(0);
        let mut h = head(206, Some((0, 99_999, 100_000)));
        h.etag = etag;
        e.on_head(&h, p).unwrap();
        e.on_data(0, &image[..upto], p).unwrap();
        let mut e = Engine::new(Str::try_from_str("1.0.0").unwrap(), policy);
        e.boot(p);
        e.on_online();
        e
    }

    #[test]
    fn a_power_cut_resumes_from_the_record_without_rereading_the_slot() {
        let image = big_image();
        let mut p = Mock::default();
        let mut e = interrupted(&image, 50_001, Some("\"abc\""), &mut p);
        drain(&mut e, &mut p, 0);
        e.on_message(0, offer_json("2.0.0", &image).as_bytes(), &mut p);
        let (_, first, _, if_range) = e.download_due(0).unwrap();
        assert!(
            first > 40_000 && first <= 50_001 && first % 64 == 0,
            "resumes at {first}"
        );
        assert_eq!(if_range, Some("\"abc\""));
        assert_eq!(p.opened.last(), Some(&(100_000, first)));
        e.download_started(0);
        e.on_head(&head(206, Some((first, 99_999, 100_000))), &mut p)
            .unwrap();
        e.on_data(0, &image[first as usize..], &mut p).unwrap();
        e.on_body_done(0, &mut p);
        assert_eq!(p.slot, image);
        assert_eq!(
            e.state(),
            State::Ready,
            "MD5 from the restored state matches"
        );
        let sent = drain(&mut e, &mut p, 0);
        assert!(
            !sent.iter().any(|m| m.contains(r#""percent":"0""#)),
            "no 0 % on a resume: {sent:?}"
        );
    }

    /// A resumed download restarted by a `200` while the offset-0 record save tears and the
    /// clear succeeds: the transfer's saved offset must follow it back to 0 (it stayed at the
    /// resumed offset: `on_data` overflowed in debug builds, saved on every chunk in release).
    #[test]
    fn a_restart_after_a_torn_save_keeps_saving_at_the_interval() {
        let image = big_image();
        let mut p = Mock::default();
        let mut e = interrupted(&image, 50_001, Some("\"abc\""), &mut p);
        e.on_message(0, offer_json("2.0.0", &image).as_bytes(), &mut p);
        let (_, first, _, _) = e.download_due(0).unwrap();
        assert!(first > 40_000, "resumes at {first}");
        e.download_started(0);
        p.tear = Some(10); // the record at offset 0 is torn; the clear after it succeeds
        let mut full = head(200, None);
        full.content_length = Some(100_000);
        e.on_head(&full, &mut p).unwrap();
        assert_eq!(p.opened.last(), Some(&(100_000, 0)));
        let mut rec = None;
        Journal::load(&mut p, &mut rec);
        assert_eq!(
            rec, None,
            "the clear erased the record that claimed {first} bytes"
        );
        let saves = |p: &Mock| p.record.iter().filter(|r| !r.is_empty()).count();
        for (i, chunk) in image.chunks(1000).enumerate().take(10) {
            e.on_data(0, chunk, &mut p).unwrap();
            let mut rec = None;
            Journal::load(&mut p, &mut rec);
            // 4 KiB interval: nothing saved before 4096 bytes, then a record at most that far.
            let done = (i + 1) * 1000;
            match rec {
                None => assert!(done < 4096 && saves(&p) == 0, "no record after {done}"),
                Some(r) => assert!(r.offset as usize <= done && r.offset >= 4096 - 63),
            }
        }
        e.on_data(0, &image[10_000..], &mut p).unwrap();
        e.on_body_done(0, &mut p);
        assert_eq!(p.slot, image);
        assert_eq!(e.state(), State::Ready);
    }

    #[test]
    fn a_record_for_another_image_is_not_resumed() {
        let image = big_image();
        let mut p = Mock::default();
        let mut e = interrupted(&image, 30_000, None, &mut p);
        e.on_message(0, offer_json("3.0.0", &image).as_bytes(), &mut p);
        assert_eq!(e.download_due(0).unwrap().1, 0);
        assert_eq!(p.opened.last(), Some(&(100_000, 0)));
    }

    #[test]
    fn an_abandoned_slot_stays_open_until_its_record_is_cleared() {
        let image = big_image();
        let mut p = Mock::default();
        let policy = Policy {
            journal_interval: 4096,
            ..Policy::default()
        };
        let mut e = engine(policy);
        e.on_message(0, offer_json("2.0.0", &image).as_bytes(), &mut p);
        e.download_started(0);
        e.on_head(&head(206, Some((0, 99_999, 100_000))), &mut p)
            .unwrap();
        e.on_data(0, &image[..30_000], &mut p).unwrap();
        // The store wears out; then the object is gone: the update is abandoned.
        p.store_fails = true;
        e.on_download_error(0, Error::HttpNotFound, &mut p);
        assert_eq!(e.state(), State::Idle);
        assert_eq!(
            p.bootable, None,
            "not closed: the host could erase what the record claims"
        );
        assert!(
            p.events.iter().any(|ev| ev.1 == Some(Error::Store)),
            "the host hears of the store"
        );
        let mut rec = None;
        Journal::load(&mut p, &mut rec);
        assert_eq!(
            rec.map(|r| r.offset),
            Some(29_952),
            "the record still claims its bytes"
        );
        assert_eq!(p.slot.len(), 30_000, "and the slot still holds them");
        assert_eq!(e.poll_at(0), Some(u64::from(CLOSE_RETRY_MS)));
        e.poll(u64::from(CLOSE_RETRY_MS), &mut p);
        assert_eq!(p.bootable, None, "the store still fails");

        p.store_fails = false;
        e.poll(2 * u64::from(CLOSE_RETRY_MS), &mut p);
        assert!(p.record.iter().all(Vec::is_empty), "record cleared first");
        assert_eq!(p.bootable, Some(false), "then the slot is given up");
        assert_eq!(e.poll_at(2 * u64::from(CLOSE_RETRY_MS)), None);

        // A new image while the close is pending: the record is rewritten for it first.
        let mut p = Mock::default();
        let mut e = engine(policy);
        e.on_message(0, offer_json("2.0.0", &image).as_bytes(), &mut p);
        e.download_started(0);
        e.on_head(&head(206, Some((0, 99_999, 100_000))), &mut p)
            .unwrap();
        e.on_data(0, &image[..30_000], &mut p).unwrap();
        p.store_fails = true;
        e.on_message(0, offer_json("3.0.0", &image).as_bytes(), &mut p);
        assert_eq!(e.state(), State::Idle, "no record for the new image: fail");
        assert_eq!(p.bootable, None);
        p.store_fails = false;
        e.on_message(0, offer_json("3.0.0", &image).as_bytes(), &mut p);
        assert_eq!(e.state(), State::Downloading);
        assert_eq!(
            p.bootable,
            Some(false),
            "closed once the record no longer claims it"
        );
        assert_eq!(p.opened.last(), Some(&(100_000, 0)));
        let mut rec = None;
        Journal::load(&mut p, &mut rec);
        let rec = rec.unwrap();
        assert_eq!((rec.version.as_str(), rec.offset), ("3.0.0", 0));
    }

    #[test]
    fn redirects_are_followed_three_times_at_most() {
        let mut p = Mock::default();
        let mut e = engine(Policy::default());
        e.on_message(0, offer_json("2.0.0", IMAGE).as_bytes(), &mut p);
        for hop in 1..=4 {
            e.download_started(0);
            let mut h = head(302, None);
            let target = std::format!("/moved/{hop}?x=1");
            h.location = Some(std::boxed::Box::leak(target.into_boxed_str()));
            let r = e.on_head(&h, &mut p);
            if hop <= 3 {
                assert_eq!(r, Err(Error::Redirected));
                e.on_download_error(0, Error::Redirected, &mut p);
                let (url, ..) = e.download_due(0).expect("next hop at once");
                assert_eq!(url, std::format!("http://127.0.0.1:8080/moved/{hop}?x=1"));
            } else {
                assert_eq!(r, Err(Error::HttpStatus), "the fourth redirect is an error");
            }
        }
        let mut h = head(302, None);
        h.location = Some("http://elsewhere/fw.bin");
        let mut e2 = engine(Policy::default());
        let https = offer_json("2.0.0", IMAGE).replace("http:", "https:");
        e2.on_message(0, https.as_bytes(), &mut p);
        e2.download_started(0);
        assert_eq!(
            e2.on_head(&h, &mut p),
            Err(Error::TlsDowngrade),
            "never https -> http"
        );
    }

    #[test]
    fn malformed_offers_get_a_defined_report() {
        let good = offer_json("2.0.0", IMAGE);
        let cases: [(&str, String, bool); 7] = [
            ("not JSON", "{\"type\":\"update_firmware\",".into(), false),
            (
                "md5sum not 32 hex digits",
                good.replace("\"md5sum\":\"", "\"md5sum\":\"zz"),
                true,
            ),
            (
                "url not http(s)",
                good.replace("http:\\/\\/", "ftp:\\/\\/"),
                true,
            ),
            (
                "file_size 0",
                good.replace(
                    &std::format!("\"file_size\":{}", IMAGE.len()),
                    "\"file_size\":0",
                ),
                true,
            ),
            (
                "file_size a string",
                good.replace(
                    &std::format!("\"file_size\":{}", IMAGE.len()),
                    "\"file_size\":\"32\"",
                ),
                true,
            ),
            (
                "version over 32 bytes",
                good.replace(
                    "\"version\":\"2.0.0\"",
                    &std::format!("\"version\":\"{}\"", "9".repeat(33)),
                ),
                false,
            ),
            ("missing url", good.replace("\"url\"", "\"uri\""), true),
        ];
        for (what, msg, reported) in cases {
            let mut p = Mock::default();
            let mut e = engine(Policy::default());
            drain(&mut e, &mut p, 0);
            e.on_message(0, msg.as_bytes(), &mut p);
            assert!(p.opened.is_empty(), "{what}: no download");
            assert_eq!(e.state(), State::Idle, "{what}");
            assert_eq!(e.last_error(), Some(Error::BadMessage), "{what}");
            let sent = drain(&mut e, &mut p, 0);
            if reported {
                assert_eq!(sent.len(), 1, "{what}: {sent:?}");
                assert!(sent[0].contains(r#""state":"fail","result_code":"-5","result_msg":"bad update_firmware message"},"version":"2.0.0""#), "{what}: {sent:?}");
            } else {
                assert!(
                    sent.is_empty(),
                    "{what}: nothing to report against: {sent:?}"
                );
            }
        }
    }

    #[test]
    fn readback_verification_catches_a_flash_that_lies() {
        let image = big_image();
        for flip in [None, Some(77_777)] {
            let mut p = Mock {
                flip,
                ..Mock::default()
            };
            let policy = Policy {
                readback_verify: true,
                ..Policy::default()
            };
            let mut e = engine(policy);
            e.on_message(0, offer_json("2.0.0", &image).as_bytes(), &mut p);
            e.download_started(0);
            e.on_head(&head(206, Some((0, 99_999, 100_000))), &mut p)
                .unwrap();
            e.on_data(0, &image, &mut p).unwrap();
            e.on_body_done(0, &mut p);
            assert_eq!(p.bootable, None, "nothing handed over before the read-back");
            assert!(e.download_due(0).is_none());
            let mut slices = 0;
            let mut scratch = [0u8; 1000];
            while e.work(&mut p, &mut scratch) {
                slices += 1;
            }
            assert_eq!(slices, 1, "100 kB in 64 KiB slices");
            match flip {
                None => {
                    assert_eq!(p.bootable, Some(true));
                    assert_eq!(e.state(), State::Ready);
                }
                Some(_) => {
                    assert_eq!(
                        p.bootable,
                        Some(false),
                        "a flash that lies is never bootable"
                    );
                    assert_eq!(e.last_error(), Some(Error::Md5Mismatch));
                }
            }
        }
    }

    #[test]
    fn a_module_client_ignores_offers_for_other_modules() {
        let mut p = Mock::default();
        let mut e = Engine::new(Str::try_from_str("1.0.0").unwrap(), Policy::default());
        e.set_module(Str::try_from_str("mcu").unwrap());
        e.on_online();
        let sent = drain(&mut e, &mut p, 0);
        assert_eq!(
            sent,
            [r#"{"type":"report_version","report":{"version":"1.0.0","fw_type":"mcu"}}"#]
        );
        let other = offer_json("2.0.0", IMAGE)
            .replace(r#""type""#, r#""fw_type":"module","task_id":42,"type""#);
        e.on_message(0, other.as_bytes(), &mut p);
        assert_eq!(e.state(), State::Idle, "another module's offer");
        assert!(p.opened.is_empty());
        let mine = other.replace(r#""fw_type":"module""#, r#""fw_type":"mcu""#);
        e.on_message(0, mine.as_bytes(), &mut p);
        assert_eq!(e.state(), State::Downloading);
        e.download_started(0);
        e.on_head(&head(206, Some((0, 31, 32))), &mut p).unwrap();
        let sent = drain(&mut e, &mut p, 0);
        assert!(
            sent[0].ends_with(r#""version":"2.0.0","task_id":42,"fw_type":"mcu"}}"#),
            "{sent:?}"
        );
    }

    #[test]
    fn an_offer_for_the_running_version_is_answered_with_the_version() {
        let mut p = Mock::default();
        let mut e = engine(Policy::default());
        drain(&mut e, &mut p, 0);
        e.on_message(0, offer_json("1.0.0", IMAGE).as_bytes(), &mut p);
        assert_eq!(e.state(), State::Idle);
        assert!(p.opened.is_empty(), "nothing downloaded");
        assert_eq!(
            drain(&mut e, &mut p, 0),
            [r#"{"type":"report_version","report":{"version":"1.0.0"}}"#]
        );
    }
    /// `report_version` while a version report waits or is on the wire: the cloud ends up told
    /// the latest version, once per change.
    #[test]
    fn a_new_running_version_replaces_a_waiting_report_and_follows_one_on_the_wire() {
        let mut p = Mock::default();
        let mut e = engine(Policy::default());
        // Waiting (not yet published): the queued report takes the new version.
        e.report_version(Str::try_from_str("1.0.1").unwrap());
        let sent = drain(&mut e, &mut p, 0);
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert!(sent[0].contains(r#""version":"1.0.1""#), "{sent:?}");
        // On the wire: 1.0.2 goes out; the same version again before the ack adds nothing.
        let mut buf = [0u8; 384];
        let mut publish = |e: &mut Engine, version: &str, pid: u32| {
            e.report_version(Str::try_from_str(version).unwrap());
            let (n, qos, _) = e.next_publish(&mut buf).unwrap();
            assert!(std::str::from_utf8(&buf[..n]).unwrap().contains(version));
            assert_eq!(qos, 1);
            e.published(0, Some(pid));
        };
        publish(&mut e, "1.0.2", 7);
        e.report_version(Str::try_from_str("1.0.2").unwrap());
        e.on_acked(7, &mut p);
        assert!(drain(&mut e, &mut p, 0).is_empty(), "1.0.2 was told once");
        // 1.0.4 arrives while 1.0.3 is on the wire: it follows once 1.0.3 is acknowledged.
        publish(&mut e, "1.0.3", 8);
        e.report_version(Str::try_from_str("1.0.4").unwrap());
        e.on_acked(8, &mut p);
        let sent = drain(&mut e, &mut p, 0);
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert!(sent[0].contains(r#""version":"1.0.4""#), "{sent:?}");
    }
}
