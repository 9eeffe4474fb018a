//! Tencent OTA JSON messages.
//!
//! Cloud → device (`$ota/update/{pid}/{dn}`): [`parse`] reads `update_firmware` and
//! `report_version_rsp`. Device → cloud (`$ota/report/{pid}/{dn}`): [`write_report_version`] and
//! [`write_report_progress`] produce the exact compact bytes.
//!
//! The JSON scanner is hand-written and strict (RFC 8259 grammar, UTF-8 input, every escape
//! decoded, nesting bounded by [`DEPTH_MAX`]), because the C SDK's raw-token parser leaves escapes
//! such as `\/` in URLs. Only top-level fields are read; any other field is skipped whatever its
//! type. Duplicate keys: the last occurrence wins, as in most JSON parsers.

use crate::slices::copy_prefix;
use crate::tables::{find, longest, text_table, word_table};
use crate::text::Writer;
pub use crate::text::{Overflow, Str, TooLong};

pub const VERSION_MAX: usize = 32;
pub const URL_MAX: usize = 512;
pub const FW_TYPE_MAX: usize = 16;
/// Deepest nesting accepted, the top-level object counting as 1. Bounds the scanner's recursion.
pub const DEPTH_MAX: usize = 16;

/// `result_code` values for `report_progress` (reference §3.5).
pub const RESULT_OK: i32 = 0;
/// Download timed out.
pub const RESULT_TIMEOUT: i32 = -1;
/// The file does not exist (HTTP 404).
pub const RESULT_NOT_FOUND: i32 = -2;
/// The signed URL expired (HTTP 403).
pub const RESULT_SIGNATURE_EXPIRED: i32 = -3;
pub const RESULT_MD5_MISMATCH: i32 = -4;
/// Flashing or applying the image failed.
pub const RESULT_UPGRADE_FAILED: i32 = -5;

/// Room for a top-level key: more than the longest in [`KEYS`]; longer keys are simply unknown.
const KEY_MAX: usize = 16;
/// Room for a `type` value: more than the longest in [`TYPES`]; longer ones are unknown.
const TYPE_MAX: usize = 24;
const _: () = assert!(longest(KEYS) <= KEY_MAX && longest(TYPES) <= TYPE_MAX);

word_table! {
    /// A top-level member we read, declared with its key; any other key is skipped.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Field in KEYS {
        Type = "type",
        Url = "url",
        Md5sum = "md5sum",
        FileSize = "file_size",
        Version = "version",
        ResultCode = "result_code",
        TaskId = "task_id",
        FwType = "fw_type",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Not UTF-8, not a JSON object, or a JSON syntax error (including a truncated message).
    NotJson,
    /// Nested deeper than [`DEPTH_MAX`].
    TooDeep,
    /// No top-level `type`.
    MissingType,
    MissingField(Field),
    /// The field has the wrong JSON type, or a number that is not an integer in range
    /// (`result_code`, `task_id`).
    WrongType(Field),
    /// The decoded string exceeds its capacity ([`URL_MAX`], [`VERSION_MAX`], [`FW_TYPE_MAX`]).
    TooLong(Field),
    /// `md5sum` is not exactly 32 hex digits (either case).
    BadMd5,
    /// `url` does not start with `http://` or `https://` (any case), has no host, or holds a byte
    /// outside printable ASCII (a space or CR/LF would corrupt the HTTP request).
    BadUrl,
    /// `file_size` is 0.
    ZeroSize,
    /// `file_size` is not an integer in `1..=u32::MAX`: too big, negative, fractional or with an
    /// exponent.
    TooLarge,
    /// `version` is empty or holds a byte outside printable ASCII, a space, `"` or `\`. (The
    /// console allows only letters, digits, `.`, `-`, `_`; this is looser so odd but harmless
    /// versions still work.) Longer than [`VERSION_MAX`] is `TooLong(Version)`.
    BadVersion,
}

impl ParseError {
    /// A short text for logs or a `result_msg`.
    pub fn as_str(self) -> &'static str {
        crate::text::nul_text(PARSE_ERROR_TEXTS, usize::from(self.nth()))
    }
}

// One blob rather than a `match` on strings, which would cost a pointer and a length per text.
text_table! {
    PARSE_ERROR_TEXTS: ParseError::nth {
        ParseError::NotJson => "not json",
        ParseError::TooDeep => "json too deep",
        ParseError::MissingType | ParseError::MissingField(Field::Type) => "missing type",
        ParseError::MissingField(Field::Url) => "missing url",
        ParseError::MissingField(Field::Md5sum) => "missing md5sum",
        ParseError::MissingField(Field::FileSize) => "missing file_size",
        ParseError::MissingField(Field::Version) => "missing version",
        ParseError::MissingField(Field::ResultCode) => "missing result_code",
        ParseError::MissingField(Field::TaskId) => "missing task_id",
        ParseError::MissingField(Field::FwType) => "missing fw_type",
        ParseError::WrongType(Field::Type) => "bad type",
        ParseError::WrongType(Field::Url) => "bad url type",
        ParseError::WrongType(Field::Md5sum) => "bad md5sum type",
        ParseError::WrongType(Field::FileSize) => "bad file_size type",
        ParseError::WrongType(Field::Version) => "bad version type",
        ParseError::WrongType(Field::ResultCode) => "bad result_code",
        ParseError::WrongType(Field::TaskId) => "bad task_id",
        ParseError::WrongType(Field::FwType) => "bad fw_type",
        ParseError::TooLong(Field::Url) => "url too long",
        ParseError::TooLong(Field::Version) => "version too long",
        ParseError::TooLong(Field::FwType) => "fw_type too long",
        ParseError::TooLong(_) => "field too long",
        ParseError::BadMd5 => "bad md5sum",
        ParseError::BadUrl => "bad url",
        ParseError::ZeroSize => "file_size is 0",
        ParseError::TooLarge => "bad file_size",
        ParseError::BadVersion => "bad version",
    }
}

/// The fields of an `update_firmware` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// Target version.
    pub version: Str<VERSION_MAX>,
    pub url: Str<URL_MAX>,
    pub md5: [u8; 16],
    pub file_size: u32,
    pub task_id: Option<u64>,
    /// Empty when absent.
    pub fw_type: Str<FW_TYPE_MAX>,
}

impl Offer {
    pub const fn new() -> Self {
        Self {
            version: Str::new(),
            url: Str::new(),
            md5: [0; 16],
            file_size: 0,
            task_id: None,
            fw_type: Str::new(),
        }
    }

    pub fn clear(&mut self) {
        self.version.clear();
        self.url.clear();
        self.md5 = [0; 16];
        self.file_size = 0;
        self.task_id = None;
        self.fw_type.clear();
    }
}

impl Default for Offer {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    ReportVersionRsp {
        result_code: i64,
    },
    /// The fields are in the `offer` passed to [`parse`].
    UpdateFirmware,
    /// Valid JSON object with a string `type` that is neither of the above.
    Other,
}

/// Parses a message from `$ota/update/{pid}/{dn}`.
///
/// `offer` is written only when the `type` is `update_firmware` (an out-parameter so the 600-byte
/// value is not moved around on an MCU stack). It is complete on `Ok(UpdateFirmware)`; after an
/// error it holds whatever was read and must not be used.
pub fn parse(payload: &[u8], offer: &mut Offer) -> Result<Message, ParseError> {
    // Scanning works on bytes; decoded strings are UTF-8 because the input is.
    if !crate::text::is_utf8(payload) {
        return Err(ParseError::NotJson);
    }
    // Pass 1: validate the whole document and find `type` (which may come last) and
    // `result_code`. Syntax errors thus take precedence over field errors.
    let mut f = Fields {
        offer: None,
        ty: [0; TYPE_MAX],
        ty_len: 0,
        ty_seen: None,
        rc: None,
        got: [None; Field::ALL.len()],
    };
    document(payload, &mut f)?;
    match f.ty_seen {
        None => Err(ParseError::MissingType),
        Some(false) => Err(ParseError::WrongType(Field::Type)),
        Some(true) => {
            // The index, not `MessageType::named`: LLVM would build the `Option` before testing
            // it again (docs/size.md).
            match find(TYPES, f.ty.get(..f.ty_len).unwrap_or(&[]), false) {
                t if t == MessageType::UpdateFirmware as usize => {
                    // Pass 2: the offer's fields; the document is already known to be valid.
                    offer.clear();
                    f.offer = Some(offer);
                    document(payload, &mut f)?;
                    // In field order: the required ones (missing or bad), then the optional ones.
                    for (got, field) in f.got.iter().zip(Field::ALL) {
                        match got {
                            None if matches!(
                                field,
                                Field::Url | Field::Md5sum | Field::FileSize | Field::Version
                            ) =>
                            {
                                return Err(ParseError::MissingField(*field));
                            }
                            Some(Err(e)) => return Err(*e),
                            _ => {}
                        }
                    }
                    Ok(Message::UpdateFirmware)
                }
                t if t == MessageType::ReportVersionRsp as usize => match f.rc {
                    None => Err(ParseError::MissingField(Field::ResultCode)),
                    Some(r) => r.map(|result_code| Message::ReportVersionRsp { result_code }),
                },
                _ => Ok(Message::Other),
            }
        }
    }
}

word_table! {
    /// The `type`s we handle.
    #[derive(Clone, Copy)]
    enum MessageType in TYPES {
        UpdateFirmware = "update_firmware",
        ReportVersionRsp = "report_version_rsp",
    }
}

/// Per-field outcome: `None` = absent. Errors are kept, not returned at once, so a later
/// duplicate key can replace them (last wins) and so the report order is fixed.
type Got = Option<Result<(), ParseError>>;

/// What the passes collect. Pass 1 (`offer` is `None`) reads `type` and `result_code`; pass 2
/// reads the `update_firmware` fields into the offer.
struct Fields<'o> {
    offer: Option<&'o mut Offer>,
    /// Too long for `ty` leaves it empty: an unknown type, hence `Other`.
    ty: [u8; TYPE_MAX],
    ty_len: usize,
    /// `Some(is_string)` once seen.
    ty_seen: Option<bool>,
    rc: Option<Result<i64, ParseError>>,
    /// Pass 2's outcome per field, indexed by `Field as usize` (the order of `Field::ALL`).
    got: [Got; Field::ALL.len()],
}

impl Fields<'_> {
    /// Reads the value of the top-level member `key` (the scanner is on it).
    #[inline(never)]
    fn member(&mut self, key: Option<&[u8]>, s: &mut Scan<'_>, depth: usize) -> SR<()> {
        let field = key.and_then(Field::named);
        // Where a string value is decoded to; nowhere (overflow, ignored) for skipped members.
        let mut tmp = [0u8; 32];
        let mut tmp_len = 0;
        let (out, len): (&mut [u8], &mut usize) = match (field, self.offer.as_deref_mut()) {
            (Some(Field::Type), None) => (&mut self.ty, &mut self.ty_len),
            (Some(Field::Md5sum), Some(_)) => (&mut tmp, &mut tmp_len),
            // Integers as strings: 24 bytes hold any u64 or i64 with room to spare.
            (Some(Field::ResultCode), None) | (Some(Field::TaskId), Some(_)) => {
                (tmp.get_mut(..24).unwrap_or(&mut []), &mut tmp_len)
            }
            (Some(Field::Url), Some(o)) => o.url.parts_mut(),
            (Some(Field::Version), Some(o)) => o.version.parts_mut(),
            (Some(Field::FwType), Some(o)) => o.fw_type.parts_mut(),
            _ => (&mut [], &mut tmp_len),
        };
        let v = s.value(depth, out)?;
        *len = match v {
            Val::Str(Some(n)) => n,
            _ => 0,
        };
        let Some(field) = field else {
            return Ok(());
        };
        let text = tmp.get(..tmp_len).unwrap_or(&[]);
        let int = match v {
            Val::Str(Some(_)) => int(text),
            Val::Int(t) => t.and_then(int),
            _ => None,
        };
        use Field::*;
        let Some(o) = self.offer.as_deref_mut() else {
            match field {
                Type => self.ty_seen = Some(matches!(v, Val::Str(_))),
                ResultCode => {
                    let rc = int.and_then(|(neg, m)| match neg {
                        true => 0i64.checked_sub_unsigned(m),
                        false => i64::try_from(m).ok(),
                    });
                    self.rc = Some(rc.ok_or(ParseError::WrongType(ResultCode)));
                }
                _ => {}
            }
            return Ok(());
        };
        let got = match (field, v) {
            (Type | ResultCode, _) => return Ok(()),
            // Absent (`fw_type` is already empty).
            (TaskId | FwType, Val::Null) => {
                if field == TaskId {
                    o.task_id = None;
                }
                None
            }
            (Md5sum, Val::Str(_)) => Some(md5_hex(text, &mut o.md5)),
            (Url | Version | FwType, Val::Str(None)) => Some(Err(ParseError::TooLong(field))),
            (Url, Val::Str(_)) => Some(check_url(o.url.as_bytes())),
            (Version, Val::Str(_)) => Some(check_version(o.version.as_bytes())),
            (FwType, Val::Str(_)) => Some(Ok(())),
            (FileSize, Val::Int(_)) => Some(file_size(int, &mut o.file_size)),
            (TaskId, Val::Str(_) | Val::Int(_)) => {
                o.task_id = int.filter(|(neg, _)| !neg).map(|(_, m)| m);
                Some(o.task_id.map(|_| ()).ok_or(ParseError::WrongType(TaskId)))
            }
            _ => Some(Err(ParseError::WrongType(field))),
        };
        if let Some(g) = self.got.get_mut(field as usize) {
            *g = got;
        }
        Ok(())
    }
}

fn check_url(u: &[u8]) -> Result<(), ParseError> {
    let rest = strip_prefix_ci(u, b"https://")
        .or_else(|| strip_prefix_ci(u, b"http://"))
        .ok_or(ParseError::BadUrl)?;
    let has_host = rest.first().is_some_and(|&c| c != b'/');
    if has_host && u.iter().all(|&c| (0x21..0x7f).contains(&c)) {
        Ok(())
    } else {
        Err(ParseError::BadUrl)
    }
}

fn strip_prefix_ci<'b>(s: &'b [u8], prefix: &[u8]) -> Option<&'b [u8]> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

fn check_version(v: &[u8]) -> Result<(), ParseError> {
    let ok = |c: &u8| (0x21..0x7f).contains(c) && *c != b'"' && *c != b'\\';
    if !v.is_empty() && v.iter().all(ok) {
        Ok(())
    } else {
        Err(ParseError::BadVersion)
    }
}

/// Exactly 32 hex digits, either case, into `out` (zeroed when they are not).
fn md5_hex(hex: &[u8], out: &mut [u8; 16]) -> Result<(), ParseError> {
    *out = [0; 16];
    if hex.len() != 32 {
        return Err(ParseError::BadMd5);
    }
    for (i, &c) in hex.iter().enumerate() {
        let (Some(d), Some(o)) = (hex_digit(c), out.get_mut(i / 2)) else {
            *out = [0; 16];
            return Err(ParseError::BadMd5);
        };
        *o = (*o << 4) | d as u8;
    }
    Ok(())
}

fn hex_digit(c: u8) -> Option<u32> {
    // `c | 0x20` is lowercase for letters; only `A`-`F` and `a`-`f` land in `a`-`f`.
    let v = match (c, c | 0x20) {
        (b'0'..=b'9', _) => c - b'0',
        (_, l @ b'a'..=b'f') => l - b'a' + 10,
        _ => return None,
    };
    Some(u32::from(v))
}

/// An integer in `1..=u32::MAX` (`n` is `None` for a fraction, an exponent or a u64 overflow).
fn file_size(n: Option<(bool, u64)>, out: &mut u32) -> Result<(), ParseError> {
    *out = 0;
    match n.filter(|(neg, _)| !neg).map(|(_, m)| u32::try_from(m)) {
        Some(Ok(0)) => Err(ParseError::ZeroSize),
        Some(Ok(v)) => {
            *out = v;
            Ok(())
        }
        _ => Err(ParseError::TooLarge),
    }
}

/// `-?[0-9]+` as (negative, magnitude), `None` if it does not fit a u64. Numbers and strings
/// share it: `task_id` and `result_code` may be either (Explorer-C compares the raw token with
/// "0", so both `0` and `"0"` work there; the 2025 schema is unclear on `task_id`'s type, §12).
fn int(t: &[u8]) -> Option<(bool, u64)> {
    let (neg, digits) = match t.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, t),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v = 0u64;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    Some((neg, v))
}

// ---- JSON scanner ----

/// Scanner errors are [`ParseError::NotJson`] and [`ParseError::TooDeep`].
type SR<T> = Result<T, ParseError>;

const BAD: ParseError = ParseError::NotJson;

/// A value as the members need it.
#[derive(Clone, Copy)]
enum Val<'a> {
    /// A string, decoded into the caller's buffer: its length, `None` if it did not fit.
    Str(Option<usize>),
    /// A number: its text if it is an integer (`None` for a fraction or an exponent).
    Int(Option<&'a [u8]>),
    Null,
    /// `true`, `false`, an object or an array.
    Other,
}

/// Scans a complete document, which must be one object (with surrounding whitespace only),
/// handing each top-level member to `f`.
fn document(text: &[u8], f: &mut Fields<'_>) -> SR<()> {
    let mut s = Scan { s: text, pos: 0 };
    if s.ws() != b'{' {
        return Err(BAD);
    }
    s.container(1, Some(f))?;
    s.ws();
    if s.pos == text.len() {
        Ok(())
    } else {
        Err(BAD)
    }
}

/// (letter, character) for JSON's one-letter escapes; the writer uses all but the last (`/` is
/// written as it is).
const ESCAPES: [[u8; 2]; 8] = [
    [b'"', b'"'],
    [b'\\', b'\\'],
    [b'b', 8],
    [b'f', 0xc],
    [b'n', b'\n'],
    [b'r', b'\r'],
    [b't', b'\t'],
    [b'/', b'/'],
];

/// Cursor over a UTF-8 document.
struct Scan<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Scan<'a> {
    /// The byte at the cursor; 0 at the end (a NUL is invalid wherever the scanner looks).
    fn peek(&self) -> u8 {
        self.s.get(self.pos).copied().unwrap_or(0)
    }

    /// Skips whitespace; returns the next byte.
    fn ws(&mut self) -> u8 {
        while matches!(self.peek(), b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        self.peek()
    }

    /// Takes `c` after optional whitespace.
    fn eat(&mut self, c: u8) -> bool {
        let hit = self.ws() == c;
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn expect(&mut self, c: u8) -> SR<()> {
        if self.eat(c) { Ok(()) } else { Err(BAD) }
    }

    /// Skips digits; returns how many.
    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.peek().is_ascii_digit() {
            self.pos += 1;
        }
        self.pos - start
    }

    /// One value inside a container at `depth`; a string is decoded into `out`.
    fn value(&mut self, depth: usize, out: &mut [u8]) -> SR<Val<'a>> {
        let c = self.ws();
        let word: &[u8] = match c {
            b'"' => return Ok(Val::Str(self.string(out)?)),
            b'{' | b'[' => {
                self.container(depth + 1, None)?;
                return Ok(Val::Other);
            }
            b'-' | b'0'..=b'9' => return self.number().map(Val::Int),
            b't' => b"true",
            b'f' => b"false",
            b'n' => b"null",
            _ => return Err(BAD),
        };
        if !self
            .s
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(word))
        {
            return Err(BAD);
        }
        self.pos += word.len();
        Ok(if c == b'n' { Val::Null } else { Val::Other })
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`: its text if it is an integer.
    fn number(&mut self) -> SR<Option<&'a [u8]>> {
        let start = self.pos;
        if self.peek() == b'-' {
            self.pos += 1;
        }
        let lead_zero = self.peek() == b'0';
        match self.digits() {
            0 => return Err(BAD),
            1 => {}
            _ if lead_zero => return Err(BAD),
            _ => {}
        }
        let text = self.s.get(start..self.pos).unwrap_or(&[]);
        let mut integer = true;
        if self.peek() == b'.' {
            self.pos += 1;
            integer = false;
            if self.digits() == 0 {
                return Err(BAD);
            }
        }
        if matches!(self.peek(), b'e' | b'E') {
            self.pos += 1;
            integer = false;
            if matches!(self.peek(), b'+' | b'-') {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(BAD);
            }
        }
        Ok(integer.then_some(text))
    }

    /// The string at the cursor (on its opening quote), decoded into `out`: its length, or
    /// `None` if it did not fit (the rest is still checked).
    fn string(&mut self, out: &mut [u8]) -> SR<Option<usize>> {
        self.pos += 1;
        let (mut n, mut fits) = (0, true);
        loop {
            let c = self.peek();
            self.pos += 1;
            let mut piece = [c, 0, 0, 0];
            let len = match c {
                b'"' => return Ok(fits.then_some(n)),
                b'\\' => utf8_encode(self.escape()?, &mut piece),
                // Unescaped control character, or the input ended.
                0..0x20 => return Err(BAD),
                // Multi-byte characters are copied byte by byte: the input is UTF-8 and a
                // string that does not fit is dropped whole.
                _ => 1,
            };
            match out.get_mut(n..n + len) {
                Some(dst) => {
                    copy_prefix(dst, &piece);
                    n += len;
                }
                None => fits = false,
            }
        }
    }

    /// The escape after a backslash: its code point (never a surrogate).
    fn escape(&mut self) -> SR<u32> {
        let c = self.peek();
        self.pos += 1;
        let cp = match c {
            b'u' => {
                let hi = self.hex4()?;
                if (0xD800..0xDC00).contains(&hi) {
                    // A high surrogate must be followed by an escaped low one.
                    if self.peek() != b'\\' {
                        return Err(BAD);
                    }
                    self.pos += 1;
                    if self.peek() != b'u' {
                        return Err(BAD);
                    }
                    self.pos += 1;
                    let lo = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return Err(BAD);
                    }
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else if (0xDC00..0xE000).contains(&hi) {
                    // A lone low surrogate has no character.
                    return Err(BAD);
                } else {
                    hi
                }
            }
            _ => match ESCAPES.iter().find(|e| e[0] == c) {
                Some(&[_, v]) => u32::from(v),
                None => return Err(BAD),
            },
        };
        Ok(cp)
    }

    fn hex4(&mut self) -> SR<u32> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = hex_digit(self.peek()).ok_or(BAD)?;
            self.pos += 1;
            v = (v << 4) | d;
        }
        Ok(v)
    }

    /// The object or array at the cursor, whose members are at `depth`. The members of the
    /// top-level object go to `f`; everything else is validated and skipped.
    fn container(&mut self, depth: usize, mut f: Option<&mut Fields<'_>>) -> SR<()> {
        if depth > DEPTH_MAX {
            return Err(ParseError::TooDeep);
        }
        let close = if self.peek() == b'{' { b'}' } else { b']' };
        self.pos += 1;
        if self.eat(close) {
            return Ok(());
        }
        loop {
            // Keys longer than any we know do not fit and match none.
            let mut key = [0u8; KEY_MAX];
            let mut len = None;
            if close == b'}' {
                if self.ws() != b'"' {
                    return Err(BAD);
                }
                len = self.string(&mut key)?;
                self.expect(b':')?;
            }
            match f.as_deref_mut() {
                Some(f) => f.member(len.and_then(|n| key.get(..n)), self, depth)?,
                None => {
                    self.value(depth, &mut [])?;
                }
            }
            if !self.eat(b',') {
                return self.expect(close);
            }
        }
    }
}

/// Writes code point `cp` (below 0x110000, not a surrogate) as UTF-8 into `out`; returns its
/// length. A plain loop: `char::encode_utf8` costs more flash.
fn utf8_encode(mut cp: u32, out: &mut [u8; 4]) -> usize {
    let n = match cp {
        0..0x80 => 1,
        0x80..0x800 => 2,
        0x800..0x1_0000 => 3,
        _ => 4,
    };
    // Continuation bytes from the last, then the lead byte with its length marker.
    let mut i = n;
    while i > 1 {
        i -= 1;
        if let Some(o) = out.get_mut(i) {
            *o = 0x80 | (cp & 0x3f) as u8;
        }
        cp >>= 6;
    }
    out[0] = if n == 1 {
        cp as u8
    } else {
        (0xff00u32 >> n) as u8 | cp as u8
    };
    n
}

// ---- Formatting ----

/// Appends `s` as a JSON string literal.
fn json_string(w: &mut Writer<'_>, s: &str) {
    w.byte(b'"');
    for &c in s.as_bytes() {
        let written = ESCAPES
            .split_last()
            .map_or(&[][..], |(_solidus, rest)| rest);
        let short = written.iter().find(|e| e[1] == c);
        if c >= 0x20 && short.is_none() {
            w.byte(c);
            continue;
        }
        w.byte(b'\\');
        match short {
            Some(&[letter, _]) => w.byte(letter),
            None => {
                w.str("u00");
                w.hex_lower(&[c]);
            }
        }
    }
    w.byte(b'"');
}

/// `{"type":"report_version","report":{"version":"1.0.0"[,"fw_type":"mcu"]}}`; `fw_type` is
/// omitted when empty.
pub fn write_report_version(
    out: &mut [u8],
    version: &str,
    fw_type: &str,
) -> Result<usize, Overflow> {
    report(out, None, version, None, fw_type)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress<'a> {
    /// `percent` above 100 is sent as 100.
    Downloading {
        percent: u8,
    },
    Burning,
    Done,
    /// `code` is one of the `RESULT_*` constants.
    Fail {
        code: i32,
        msg: &'a str,
    },
}

/// `{"type":"report_progress","report":{"progress":{"state":"downloading","percent":"10",
/// "result_code":"0","result_msg":""},"version":"2.0.0"[,"task_id":123][,"fw_type":"mcu"]}}`
/// (one line). `percent`, `result_code` and `result_msg` are JSON strings, as in every SDK;
/// `version` is the target version; `fw_type` is omitted when empty.
pub fn write_report_progress(
    out: &mut [u8],
    p: &Progress<'_>,
    version: &str,
    task_id: Option<u64>,
    fw_type: &str,
) -> Result<usize, Overflow> {
    report(out, Some(p), version, task_id, fw_type)
}

/// Both reports: `report_progress` when `p` is given, else `report_version` (which carries no
/// `task_id`: pass `None`).
pub fn report(
    out: &mut [u8],
    p: Option<&Progress<'_>>,
    version: &str,
    task_id: Option<u64>,
    fw_type: &str,
) -> Result<usize, Overflow> {
    let mut w = Writer::new(out);
    w.str("{\"type\":\"report_");
    match p {
        None => w.str("version\",\"report\":{\"version\":"),
        Some(p) => {
            w.str("progress\",\"report\":{\"progress\":{\"state\":\"");
            let (state, code, msg) = match *p {
                Progress::Downloading { percent } => {
                    w.str("downloading\",\"percent\":\"");
                    w.u64(u64::from(percent.min(100)));
                    ("", RESULT_OK, "")
                }
                Progress::Burning => ("burning", RESULT_OK, ""),
                Progress::Done => ("done", RESULT_OK, ""),
                Progress::Fail { code, msg } => ("fail", code, msg),
            };
            w.str(state);
            w.str("\",\"result_code\":\"");
            w.i64(i64::from(code));
            w.str("\",\"result_msg\":");
            json_string(&mut w, msg);
            w.str("},\"version\":");
        }
    }
    json_string(&mut w, version);
    if let Some(id) = task_id {
        w.str(",\"task_id\":");
        w.u64(id);
    }
    if !fw_type.is_empty() {
        w.str(",\"fw_type\":");
        json_string(&mut w, fw_type);
    }
    w.str("}}");
    w.finish()
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::String;
    use std::vec::Vec;

    const MD5: &str = "a15d5deaf37bf6698cf9a21ec672166d";
    const MD5_BYTES: [u8; 16] = [
        0xa1, 0x5d, 0x5d, 0xea, 0xf3, 0x7b, 0xf6, 0x69, 0x8c, 0xf9, 0xa2, 0x1e, 0xc6, 0x72, 0x16,
        0x6d,
    ];

    fn p(msg: &str) -> Result<Message, ParseError> {
        let mut o = Offer::new();
        parse(msg.as_bytes(), &mut o)
    }

    fn offer(msg: &str) -> Offer {
        let mut o = Offer::new();
        assert_eq!(
            parse(msg.as_bytes(), &mut o),
            Ok(Message::UpdateFirmware),
            "{msg}"
        );
        o
    }

    /// A minimal valid update_firmware with `extra` members appended.
    fn uf(extra: &str) -> String {
        std::format!(
            r#"{{"type":"update_firmware","url":"https://h/f","md5sum":"{MD5}","file_size":10,"version":"1.0"{extra}}}"#
        )
    }

    /// update_firmware with one field replaced (or removed when `value` is None).
    fn uf_with(field: &str, value: Option<&str>) -> String {
        let mut members = std::vec![
            ("type", "\"update_firmware\"".to_string()),
            ("url", "\"https://h/f\"".to_string()),
            ("md5sum", std::format!("\"{MD5}\"")),
            ("file_size", "10".to_string()),
            ("version", "\"1.0\"".to_string()),
        ];
        match value {
            Some(v) => match members.iter_mut().find(|(k, _)| *k == field) {
                Some(m) => m.1 = v.to_string(),
                None => members.push((field, v.to_string())),
            },
            None => members.retain(|(k, _)| *k != field),
        }
        let body: Vec<String> = members
            .iter()
            .map(|(k, v)| std::format!("\"{k}\":{v}"))
            .collect();
        std::format!("{{{}}}", body.join(","))
    }

    // ---- documented messages ----

    #[test]
    fn report_version_rsp_documented() {
        let m = r#"{"result_code":0,"result_msg":"success","type":"report_version_rsp","version":"1.0.0"}"#;
        assert_eq!(m.len(), 86);
        assert_eq!(p(m), Ok(Message::ReportVersionRsp { result_code: 0 }));
        // 2025 doc adds fw_type.
        let m = r#"{"result_code":0,"result_msg":"success","type":"report_version_rsp","version":"1.0.0","fw_type":"mcu"}"#;
        assert_eq!(p(m), Ok(Message::ReportVersionRsp { result_code: 0 }));
        // The offer is left alone for anything but update_firmware.
        let mut o = offer(&uf(""));
        let before = o.clone();
        assert!(parse(m.as_bytes(), &mut o).is_ok());
        assert_eq!(o, before);
    }

    #[test]
    fn result_code_forms() {
        let rsp = |rc: &str| {
            p(&std::format!(
                r#"{{"type":"report_version_rsp","result_code":{rc}}}"#
            ))
        };
        let ok = |c| Ok(Message::ReportVersionRsp { result_code: c });
        assert_eq!(rsp("0"), ok(0));
        assert_eq!(rsp("\"0\""), ok(0));
        assert_eq!(rsp("-1"), ok(-1));
        assert_eq!(rsp("\"-11\""), ok(-11));
        assert_eq!(rsp("404"), ok(404));
        assert_eq!(rsp("-9223372036854775808"), ok(i64::MIN));
        assert_eq!(rsp("\"9223372036854775807\""), ok(i64::MAX));
        let bad = Err(ParseError::WrongType(Field::ResultCode));
        for v in [
            "9223372036854775808",
            "-9223372036854775809",
            "0.0",
            "1e2",
            "\"\"",
            "\"-\"",
            "\" 0\"",
            "\"0 \"",
            "\"+1\"",
            "\"0x1\"",
            "\"12345678901234567890123456789\"",
            "true",
            "null",
            "{}",
            "[0]",
        ] {
            assert_eq!(rsp(v), bad, "{v}");
        }
        assert_eq!(
            p(r#"{"type":"report_version_rsp","result_msg":"success"}"#),
            Err(ParseError::MissingField(Field::ResultCode))
        );
    }

    #[test]
    fn update_firmware_documented_explorer_2024() {
        let m = r#"{
    "file_size": 1501696,
    "md5sum": "a15d5deaf37bf6698cf9a21ec672166d",
    "type": "update_firmware",
    "url": "http://download_url.com",
    "user_defined": "{\"time\":\"2024-05-16\",\"info\":\"ota test\"}",
    "version": "v1.0.1"
}"#;
        let o = offer(m);
        assert_eq!(o.file_size, 1501696);
        assert_eq!(o.md5, MD5_BYTES);
        assert_eq!(o.url, "http://download_url.com");
        assert_eq!(o.version, "v1.0.1");
        assert_eq!(o.task_id, None);
        assert!(o.fw_type.is_empty());
    }

    #[test]
    fn update_firmware_documented_2025() {
        // The doc masks the md5 with '*', which is rightly rejected...
        let m = r#"{"file_size":708482,"md5sum":"36eb5951179db14a63****a37a9322a2","type":"update_firmware",
 "url":"https://ota-1255858890.cos.ap-guangzhou.myqcloud.com","version":"0.2",
 "task_id":123456,"fw_type":"mcu"}"#;
        assert_eq!(p(m), Err(ParseError::BadMd5));
        // ...and with real hex digits it parses.
        let m = m.replace("****", "0F9e");
        let o = offer(&m);
        assert_eq!(o.file_size, 708482);
        assert_eq!(o.md5[8..11], [0x63, 0x0f, 0x9e]);
        assert_eq!(
            o.url,
            "https://ota-1255858890.cos.ap-guangzhou.myqcloud.com"
        );
        assert_eq!(o.version, "0.2");
        assert_eq!(o.task_id, Some(123456));
        assert_eq!(o.fw_type, "mcu");
    }

    /// The shape of a real ~455-byte message: a signed COS URL with a long query string.
    const REAL: &str = r#"{"file_size":175436,"md5sum":"ad4615b866c13afb8a2b5e4fb4d5e4b2","type":"update_firmware","url":"https://ota-1255858890.cos.ap-guangzhou.myqcloud.com/100012345678_ABCDEFGHIJ_1.3.0?sign=q-sign-algorithm%3Dsha1%26q-ak%3DAKIDabcdefghijklmnopqrstuvwxyz012345%26q-sign-time%3D1700000000%3B1700086400%26q-key-time%3D1700000000%3B1700086400%26q-header-list%3D%26q-url-param-list%3D%26q-signature%3D0123456789abcdef0123456789abcdef01234567","version":"1.3.0"}"#;

    #[test]
    fn update_firmware_real_shape() {
        assert!((440..=480).contains(&REAL.len()), "{}", REAL.len());
        let o = offer(REAL);
        assert_eq!(o.file_size, 175436);
        assert!(o.url.as_str().starts_with("https://ota-1255858890.cos."));
        assert!(o.url.as_str().ends_with("01234567"));
        assert_eq!(o.version, "1.3.0");
    }

    #[test]
    fn other_and_type_errors() {
        assert_eq!(
            p(r#"{"type":"report_progress_rsp","result_code":0}"#),
            Ok(Message::Other)
        );
        assert_eq!(p(r#"{"type":""}"#), Ok(Message::Other));
        assert_eq!(
            p(r#"{"type":"update_firmware_but_much_longer_than_any_type"}"#),
            Ok(Message::Other)
        );
        // An Other type does not need the update_firmware fields nor a result_code.
        assert_eq!(p(r#"{"type":"x","url":5}"#), Ok(Message::Other));
        assert_eq!(p(r#"{}"#), Err(ParseError::MissingType));
        assert_eq!(
            p(r#"{"TYPE":"update_firmware"}"#),
            Err(ParseError::MissingType)
        );
        assert_eq!(
            p(r#"{"x":{"type":"update_firmware"}}"#),
            Err(ParseError::MissingType)
        );
        for v in ["1", "null", "true", "{}", "[\"update_firmware\"]"] {
            assert_eq!(
                p(&std::format!(r#"{{"type":{v}}}"#)),
                Err(ParseError::WrongType(Field::Type))
            );
        }
        // Escapes in keys and values are decoded before matching.
        assert_eq!(
            p(r#"{"\u0074ype":"report_version\u005frsp","result\u005Fcode":"0"}"#),
            Ok(Message::ReportVersionRsp { result_code: 0 })
        );
    }

    // ---- strings and escapes ----

    #[test]
    fn escapes_decoded() {
        let o = offer(&uf_with("url", Some(r#""https:\/\/host\/a?x=1\u0026y=2""#)));
        assert_eq!(o.url, "https://host/a?x=1&y=2");
        let o = offer(&uf(r#","fw_type":"\"\\\/\b\f\n\r\tA\u00e9""#));
        assert_eq!(o.fw_type, "\"\\/\u{8}\u{c}\n\r\tAé");
        let o = offer(&uf(r#","fw_type":"\u00E9\u4e2d\uFFFF\u0000""#));
        assert_eq!(o.fw_type, "é中\u{ffff}\0");
        // Raw UTF-8 passes through.
        let o = offer(&uf(r#","fw_type":"模块""#));
        assert_eq!(o.fw_type, "模块");
    }

    #[test]
    fn digits_agree_with_core() {
        for c in 0..=255u8 {
            assert_eq!(hex_digit(c), (c as char).to_digit(16), "{c}");
            let n = [c];
            let want = (c as char).to_digit(10).map(|d| (false, u64::from(d)));
            assert_eq!(int(&n), want, "{c}");
        }
        assert_eq!(int(b"18446744073709551615"), Some((false, u64::MAX)));
        assert_eq!(int(b"18446744073709551616"), None);
        assert_eq!(int(b"-"), None);
    }

    #[test]
    fn utf8_encode_agrees_with_core() {
        for c in (0..=0x10_ffff).filter_map(char::from_u32) {
            let mut want = [0u8; 4];
            let want = c.encode_utf8(&mut want).as_bytes();
            let mut got = [0u8; 4];
            let n = utf8_encode(u32::from(c), &mut got);
            assert_eq!(&got[..n], want, "{c:?}");
        }
    }

    #[test]
    fn surrogate_pairs() {
        let o = offer(&uf(r#","fw_type":"\ud83d\ude00\uD834\uDD1E""#));
        assert_eq!(o.fw_type, "😀𝄞");
        assert_eq!(o.fw_type.len(), 8);
        for bad in [
            r#""\ud83d""#,       // lone high
            r#""\ude00""#,       // lone low
            r#""\ude00\ud83d""#, // reversed
            r#""\ud83dx""#,      // high then a plain char
            r#""\ud83d\n""#,     // high then another escape
            r#""\ud83d\ud83d""#, // high then high
            r#""\ud83d\u0041""#, // high then BMP
            r#""\u12""#,         // short
            r#""\u12g4""#,       // not hex
        ] {
            assert_eq!(
                p(&uf(&std::format!(",\"user_defined\":{bad}"))),
                Err(ParseError::NotJson),
                "{bad}"
            );
            assert_eq!(
                p(&uf(&std::format!(",\"fw_type\":{bad}"))),
                Err(ParseError::NotJson),
                "{bad}"
            );
        }
    }

    // ---- every ParseError ----

    #[test]
    fn not_json() {
        let cases: &[&[u8]] = &[
            b"",
            b"   ",
            b"null",
            b"[]",
            b"\"type\"",
            b"{",
            b"}",
            b"{\"type\":\"x\"",
            b"{\"type\":\"x\"}}",
            b"{\"type\":\"x\"} x",
            b"{\"type\":\"x\"}{}",
            b"{\"type\":\"x\",}",
            b"{,\"type\":\"x\"}",
            b"{\"type\" \"x\"}",
            b"{\"type\":}",
            b"{type:\"x\"}",
            b"{'type':'x'}",
            b"{\"type\":\"x\",\"a\":01}",
            b"{\"type\":\"x\",\"a\":+1}",
            b"{\"type\":\"x\",\"a\":1.}",
            b"{\"type\":\"x\",\"a\":.5}",
            b"{\"type\":\"x\",\"a\":1e}",
            b"{\"type\":\"x\",\"a\":-}",
            b"{\"type\":\"x\",\"a\":NaN}",
            b"{\"type\":\"x\",\"a\":tru}",
            b"{\"type\":\"x\",\"a\":nul}",
            b"{\"type\":\"x\",\"a\":True}",
            b"{\"type\":\"x\",\"a\":[1,]}",
            b"{\"type\":\"x\",\"a\":[1 2]}",
            b"{\"type\":\"x\",\"a\":{\"b\"}}",
            b"{\"type\":\"x\",\"a\":{\"b\":1]}",
            b"{\"type\":\"x\",\"a\":\"\\x\"}",
            b"{\"type\":\"x\",\"a\":\"\\'\"}",
            b"{\"type\":\"x\",\"a\":\"line\nbreak\"}",
            b"{\"type\":\"x\",\"a\":\"tab\there\"}",
            b"{\"type\":\"x\",\"a\":\"\x7f ok but\xff\"}",
            b"\xef\xbb\xbf{\"type\":\"x\"}",
            b"{\"type\":\"x\"}\0",
            b"{\"type\":\"x\"\x0b}",
        ];
        for c in cases {
            let mut o = Offer::new();
            assert_eq!(
                parse(c, &mut o),
                Err(ParseError::NotJson),
                "{}",
                String::from_utf8_lossy(c)
            );
        }
        // Syntax errors win over field errors, wherever they are.
        assert_eq!(
            p(&(uf_with("url", Some("1")) + " x")),
            Err(ParseError::NotJson)
        );
    }

    #[test]
    fn nesting_bound() {
        let nest = |n: usize, open: &str, close: &str| {
            let inner = std::format!("{}1{}", open.repeat(n), close.repeat(n));
            uf(&std::format!(",\"user_defined\":{inner}"))
        };
        // The top-level object is depth 1, so 15 more levels are allowed.
        assert_eq!(p(&nest(15, "[", "]")), Ok(Message::UpdateFirmware));
        assert_eq!(p(&nest(16, "[", "]")), Err(ParseError::TooDeep));
        assert_eq!(p(&nest(15, "{\"a\":", "}")), Ok(Message::UpdateFirmware));
        assert_eq!(p(&nest(16, "{\"a\":", "}")), Err(ParseError::TooDeep));
        // Mixed arrays and objects: 1 + 7 pairs = 15 levels pass, 1 + 8 pairs = 17 do not.
        let mixed = |n| nest(n, "[{\"a\":", "}]");
        assert_eq!(p(&mixed(7)), Ok(Message::UpdateFirmware));
        assert_eq!(p(&mixed(8)), Err(ParseError::TooDeep));
        // Deep garbage ends quickly and without exhausting the stack.
        let deep = "[".repeat(100_000);
        assert_eq!(p(&std::format!("{{\"a\":{deep}")), Err(ParseError::TooDeep));
        assert_eq!(p(&"{\"a\":".repeat(100_000)), Err(ParseError::TooDeep));
    }

    #[test]
    fn missing_fields() {
        for (k, f) in [
            ("url", Field::Url),
            ("md5sum", Field::Md5sum),
            ("file_size", Field::FileSize),
            ("version", Field::Version),
        ] {
            assert_eq!(
                p(&uf_with(k, None)),
                Err(ParseError::MissingField(f)),
                "{k}"
            );
        }
        // Reported in field order when several are wrong.
        assert_eq!(
            p(r#"{"type":"update_firmware","version":"","file_size":0}"#),
            Err(ParseError::MissingField(Field::Url))
        );
        assert_eq!(
            p(&uf_with("md5sum", Some("\"zz\"")).replace("\"file_size\":10", "\"file_size\":0")),
            Err(ParseError::BadMd5)
        );
        // A bad earlier field wins over a missing later one.
        assert_eq!(
            p(r#"{"type":"update_firmware","url":"ftp://h","file_size":1,"version":"1"}"#),
            Err(ParseError::BadUrl)
        );
    }

    #[test]
    fn wrong_types() {
        for (k, f) in [
            ("url", Field::Url),
            ("md5sum", Field::Md5sum),
            ("file_size", Field::FileSize),
            ("version", Field::Version),
            ("task_id", Field::TaskId),
            ("fw_type", Field::FwType),
        ] {
            let vals: &[&str] = match f {
                Field::FileSize => &["\"10\"", "true", "null", "[10]", "{}"],
                Field::TaskId => &[
                    "\"12x\"",
                    "\"\"",
                    "\"-1\"",
                    "true",
                    "[1]",
                    "{}",
                    "-1",
                    "1.5",
                    "1e3",
                    "18446744073709551616",
                ],
                Field::FwType => &["1", "true", "[\"mcu\"]", "{}"],
                _ => &["1", "true", "null", "[\"a\"]", "{\"a\":\"b\"}"],
            };
            for v in vals {
                assert_eq!(
                    p(&uf_with(k, Some(v))),
                    Err(ParseError::WrongType(f)),
                    "{k}={v}"
                );
            }
        }
    }

    #[test]
    fn optional_fields() {
        // task_id: number or digit string; null = absent.
        assert_eq!(offer(&uf(",\"task_id\":0")).task_id, Some(0));
        assert_eq!(
            offer(&uf(",\"task_id\":18446744073709551615")).task_id,
            Some(u64::MAX)
        );
        assert_eq!(offer(&uf(",\"task_id\":\"42\"")).task_id, Some(42));
        // A digit string is read as digits (leading zeros too), up to 24 bytes.
        assert_eq!(offer(&uf(",\"task_id\":\"007\"")).task_id, Some(7));
        let zeros = std::format!(",\"task_id\":\"{}7\"", "0".repeat(23));
        assert_eq!(offer(&uf(&zeros)).task_id, Some(7));
        let zeros = std::format!(",\"task_id\":\"{}7\"", "0".repeat(24));
        assert_eq!(p(&uf(&zeros)), Err(ParseError::WrongType(Field::TaskId)));
        assert_eq!(offer(&uf(",\"task_id\":null")).task_id, None);
        // fw_type: null or "" = absent; up to 16 bytes.
        assert!(offer(&uf(",\"fw_type\":null")).fw_type.is_empty());
        assert!(offer(&uf(",\"fw_type\":\"\"")).fw_type.is_empty());
        assert_eq!(
            offer(&uf(",\"fw_type\":\"0123456789abcdef\"")).fw_type,
            "0123456789abcdef"
        );
        assert_eq!(
            p(&uf(",\"fw_type\":\"0123456789abcdefg\"")),
            Err(ParseError::TooLong(Field::FwType))
        );
        // user_defined and unknown fields: any type, skipped.
        for v in [
            "\"{\\\"k\\\":\\\"v\\\"}\"",
            "{\"key1\":\"value1\",\"key2\":\"支持中文\"}",
            "[1,2,{\"a\":[]}]",
            "-1.5e-3",
            "0",
            "true",
            "false",
            "null",
            "\"\"",
            "{}",
            "[]",
        ] {
            offer(&uf(&std::format!(",\"user_defined\":{v},\"zzz\":{v}")));
        }
        // Unknown keys longer than any known key are skipped too.
        offer(&uf(",\"a_very_long_unknown_key_name_indeed\":{\"url\":1}"));
    }

    #[test]
    fn too_long() {
        let url = std::format!("\"https://h/{}\"", "a".repeat(URL_MAX - 10));
        assert_eq!(offer(&uf_with("url", Some(&url))).url.len(), URL_MAX);
        let url = std::format!("\"https://h/{}\"", "a".repeat(URL_MAX - 9));
        assert_eq!(
            p(&uf_with("url", Some(&url))),
            Err(ParseError::TooLong(Field::Url))
        );
        // Escapes count by decoded length.
        let url = std::format!("\"https://h/{}\"", "\\/".repeat(URL_MAX - 10));
        assert_eq!(offer(&uf_with("url", Some(&url))).url.len(), URL_MAX);

        let v = std::format!("\"{}\"", "9".repeat(VERSION_MAX));
        assert_eq!(
            offer(&uf_with("version", Some(&v))).version.len(),
            VERSION_MAX
        );
        let v = std::format!("\"{}\"", "9".repeat(VERSION_MAX + 1));
        assert_eq!(
            p(&uf_with("version", Some(&v))),
            Err(ParseError::TooLong(Field::Version))
        );
    }

    #[test]
    fn md5sum() {
        let o = offer(&uf_with(
            "md5sum",
            Some("\"A15D5DEAF37BF6698CF9A21EC672166D\""),
        ));
        assert_eq!(o.md5, MD5_BYTES);
        let o = offer(&uf_with(
            "md5sum",
            Some("\"a15D5deaf37bf6698cf9a21ec672166D\""),
        ));
        assert_eq!(o.md5, MD5_BYTES);
        for bad in [
            "\"\"",
            "\"a15d5deaf37bf6698cf9a21ec672166\"",
            "\"a15d5deaf37bf6698cf9a21ec672166d0\"",
            "\"a15d5deaf37bf6698cf9a21ec672166da15d5deaf37bf6698cf9a21ec672166d\"",
            "\"g15d5deaf37bf6698cf9a21ec672166d\"",
            "\"a15d5deaf37bf6698cf9a21ec672166 \"",
            "\"0xa15d5deaf37bf6698cf9a21ec67216\"",
            "\"a15d5deaf37bf6698cf9a21ec67216é\"",
        ] {
            assert_eq!(
                p(&uf_with("md5sum", Some(bad))),
                Err(ParseError::BadMd5),
                "{bad}"
            );
        }
    }

    #[test]
    fn url_checks() {
        for good in [
            "http://h",
            "HTTPS://h/x",
            "hTtP://1.2.3.4:8080/a?b=c#d",
            "https://h/%20",
        ] {
            assert_eq!(
                offer(&uf_with("url", Some(&std::format!("\"{good}\"")))).url,
                good
            );
        }
        for bad in [
            "",
            "h/x",
            "ftp://h/x",
            "//h/x",
            "http://",
            "https://",
            "http:///x",
            "http:/h",
            " https://h/x",
            "https://h/a b",
            "https://h/a\\r\\nHost: evil",
            "https://h/\\u0000",
            "https://h/é",
            "https://h/\\u007f",
        ] {
            assert_eq!(
                p(&uf_with("url", Some(&std::format!("\"{bad}\"")))),
                Err(ParseError::BadUrl),
                "{bad}"
            );
        }
    }

    #[test]
    fn file_size() {
        assert_eq!(offer(&uf_with("file_size", Some("1"))).file_size, 1);
        assert_eq!(
            offer(&uf_with("file_size", Some("4294967295"))).file_size,
            u32::MAX
        );
        assert_eq!(
            p(&uf_with("file_size", Some("0"))),
            Err(ParseError::ZeroSize)
        );
        for bad in [
            "4294967296",
            "99999999999999999999999",
            "-1",
            "-0",
            "1.0",
            "1e3",
            "1E+3",
            "0.5",
        ] {
            assert_eq!(
                p(&uf_with("file_size", Some(bad))),
                Err(ParseError::TooLarge),
                "{bad}"
            );
        }
    }

    #[test]
    fn version_checks() {
        for good in [
            "1",
            "v1.0.1",
            "1.0.0-rc_1+build",
            "~!#$%&'()*+,-./:;<=>?@[]^_`{|}",
        ] {
            let v = std::format!("\"{good}\"");
            assert_eq!(offer(&uf_with("version", Some(&v))).version, good);
        }
        for bad in [
            "", "1 0", " 1", "1\\t", "1\\\"", "1\\\\", "é", "1\\u0000", "1\\u007f",
        ] {
            let v = std::format!("\"{bad}\"");
            assert_eq!(
                p(&uf_with("version", Some(&v))),
                Err(ParseError::BadVersion),
                "{bad}"
            );
        }
    }

    // ---- structure ----

    #[test]
    fn fields_in_any_order() {
        let members = [
            "\"type\":\"update_firmware\"".to_string(),
            "\"url\":\"https://h/f\"".to_string(),
            std::format!("\"md5sum\":\"{MD5}\""),
            "\"file_size\":10".to_string(),
            "\"version\":\"1.0\"".to_string(),
            "\"task_id\":7".to_string(),
            "\"user_defined\":{\"a\":[1]}".to_string(),
        ];
        // Heap's algorithm over all 5040 orders.
        let mut idx: Vec<usize> = (0..members.len()).collect();
        let mut c = std::vec![0usize; idx.len()];
        let mut count = 0;
        let mut check = |idx: &[usize]| {
            let body: Vec<&str> = idx.iter().map(|&i| members[i].as_str()).collect();
            let o = offer(&std::format!("{{{}}}", body.join(",")));
            assert_eq!((o.file_size, o.task_id, o.md5), (10, Some(7), MD5_BYTES));
            assert_eq!((o.url.as_str(), o.version.as_str()), ("https://h/f", "1.0"));
            count += 1;
        };
        check(&idx);
        let mut i = 0;
        while i < idx.len() {
            if c[i] < i {
                if i % 2 == 0 {
                    idx.swap(0, i);
                } else {
                    idx.swap(c[i], i);
                }
                check(&idx);
                c[i] += 1;
                i = 0;
            } else {
                c[i] = 0;
                i += 1;
            }
        }
        assert_eq!(count, 5040);
    }

    #[test]
    fn whitespace_everywhere() {
        let ws = " \t\r\n ";
        let m = std::format!(
            "{ws}{{{ws}\"type\"{ws}:{ws}\"update_firmware\"{ws},{ws}\"url\"{ws}:{ws}\"https://h/f\"{ws},{ws}\"md5sum\"{ws}:{ws}\"{MD5}\"{ws},{ws}\"file_size\"{ws}:{ws}10{ws},{ws}\"version\"{ws}:{ws}\"1.0\"{ws},{ws}\"task_id\"{ws}:{ws}5{ws},{ws}\"user_defined\"{ws}:{ws}[{ws}1{ws},{ws}{{{ws}\"a\"{ws}:{ws}null{ws}}}{ws},{ws}[{ws}]{ws},{ws}{{{ws}}}{ws}]{ws}}}{ws}"
        );
        let o = offer(&m);
        assert_eq!((o.file_size, o.task_id), (10, Some(5)));
        // Other whitespace is not JSON whitespace.
        assert_eq!(p(&m.replace('\t', "\u{a0}")), Err(ParseError::NotJson));
    }

    #[test]
    fn duplicate_keys_last_wins() {
        let o = offer(&uf(",\"version\":\"2.0\",\"task_id\":1,\"task_id\":2"));
        assert_eq!((o.version.as_str(), o.task_id), ("2.0", Some(2)));
        // A bad earlier value is replaced by a good later one, and the other way round.
        assert_eq!(
            offer(&uf_with("url", Some("5,\"url\":\"http://x\""))).url,
            "http://x"
        );
        assert_eq!(p(&uf(",\"url\":5")), Err(ParseError::WrongType(Field::Url)));
        assert_eq!(offer(&uf(",\"task_id\":null")).task_id, None);
        assert_eq!(
            offer(&uf(",\"fw_type\":\"mcu\",\"fw_type\":null")).fw_type,
            ""
        );
        assert_eq!(
            p(r#"{"type":"x","type":"report_version_rsp","result_code":"1","result_code":2}"#),
            Ok(Message::ReportVersionRsp { result_code: 2 })
        );
        assert_eq!(
            p(r#"{"type":"report_version_rsp","type":5,"result_code":0}"#),
            Err(ParseError::WrongType(Field::Type))
        );
    }

    #[test]
    fn truncation_never_parses() {
        let msgs = [
            REAL.to_string(),
            uf(",\"task_id\":123,\"fw_type\":\"m\\u00e9\\ud83d\\ude00\",\"user_defined\":{\"a\":[1,2.5e3,true,false,null]}"),
            r#"{"result_code":0,"result_msg":"success","type":"report_version_rsp","version":"1.0.0"}"#
                .to_string(),
        ];
        for m in &msgs {
            let b = m.as_bytes();
            let mut o = Offer::new();
            assert!(parse(b, &mut o).is_ok());
            for n in 0..b.len() {
                assert!(
                    parse(&b[..n], &mut o).is_err(),
                    "{n}: {}",
                    String::from_utf8_lossy(&b[..n])
                );
            }
        }
    }

    #[test]
    fn mutations_never_panic() {
        // A cheap deterministic fuzz: flip, insert and delete bytes of valid messages.
        let seeds = [
            REAL.to_string(),
            uf(
                ",\"task_id\":\"9\",\"fw_type\":\"\\ud83d\\ude00\",\"user_defined\":[{\"a\":\"\\u0026\"}]",
            ),
        ];
        let mut x: u64 = 0x1234_5678_9abc_def1;
        let mut rnd = move || {
            x = crate::num::xorshift64(x);
            x
        };
        const BYTES: &[u8] = b"{}[]\":,\\/ u0123456789abcdefABCDEF-+.eEtrufalsn\xc3\xa9\xff\x00\n";
        let mut o = Offer::new();
        for seed in &seeds {
            for _ in 0..20_000 {
                let mut m = seed.as_bytes().to_vec();
                for _ in 0..(rnd() % 4 + 1) {
                    let at = (rnd() as usize) % (m.len() + 1);
                    let b = BYTES[(rnd() as usize) % BYTES.len()];
                    match rnd() % 3 {
                        0 if at < m.len() => m[at] = b,
                        1 => m.insert(at, b),
                        _ if at < m.len() => {
                            m.remove(at);
                        }
                        _ => {}
                    }
                }
                if let Ok(Message::UpdateFirmware) = parse(&m, &mut o) {
                    // Whatever got through satisfies the checks.
                    assert!(check_url(o.url.as_bytes()).is_ok());
                    assert!(check_version(o.version.as_bytes()).is_ok());
                    assert!(o.file_size > 0);
                }
            }
        }
    }

    // ---- formatting ----

    fn rv(version: &str, fw: &str) -> String {
        let mut buf = [0u8; 256];
        let n = write_report_version(&mut buf, version, fw).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    fn rp(prog: Progress<'_>, version: &str, task: Option<u64>, fw: &str) -> String {
        let mut buf = [0u8; 256];
        let n = write_report_progress(&mut buf, &prog, version, task, fw).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn report_version_bytes() {
        assert_eq!(
            rv("1.0.0", ""),
            r#"{"type":"report_version","report":{"version":"1.0.0"}}"#
        );
        assert_eq!(
            rv("1.0.0", "mcu"),
            r#"{"type":"report_version","report":{"version":"1.0.0","fw_type":"mcu"}}"#
        );
        assert_eq!(
            rv("a\"b\\c\n\u{1}é", "m\tx"),
            r#"{"type":"report_version","report":{"version":"a\"b\\c\n\u0001é","fw_type":"m\tx"}}"#
        );
    }

    #[test]
    fn report_progress_bytes() {
        let cases: &[(Progress<'_>, Option<u64>, &str, &str)] = &[
            (
                Progress::Downloading { percent: 10 },
                None,
                "",
                r#"{"type":"report_progress","report":{"progress":{"state":"downloading","percent":"10","result_code":"0","result_msg":""},"version":"2.0.0"}}"#,
            ),
            (
                Progress::Downloading { percent: 0 },
                None,
                "",
                r#"{"type":"report_progress","report":{"progress":{"state":"downloading","percent":"0","result_code":"0","result_msg":""},"version":"2.0.0"}}"#,
            ),
            (
                Progress::Downloading { percent: 255 },
                None,
                "",
                r#"{"type":"report_progress","report":{"progress":{"state":"downloading","percent":"100","result_code":"0","result_msg":""},"version":"2.0.0"}}"#,
            ),
            (
                Progress::Burning,
                None,
                "",
                r#"{"type":"report_progress","report":{"progress":{"state":"burning","result_code":"0","result_msg":""},"version":"2.0.0"}}"#,
            ),
            (
                Progress::Done,
                None,
                "",
                r#"{"type":"report_progress","report":{"progress":{"state":"done","result_code":"0","result_msg":""},"version":"2.0.0"}}"#,
            ),
            (
                Progress::Fail {
                    code: RESULT_MD5_MISMATCH,
                    msg: "md5 mismatch",
                },
                None,
                "",
                r#"{"type":"report_progress","report":{"progress":{"state":"fail","result_code":"-4","result_msg":"md5 mismatch"},"version":"2.0.0"}}"#,
            ),
            (
                Progress::Fail {
                    code: RESULT_TIMEOUT,
                    msg: "time_out",
                },
                Some(123),
                "mcu",
                r#"{"type":"report_progress","report":{"progress":{"state":"fail","result_code":"-1","result_msg":"time_out"},"version":"2.0.0","task_id":123,"fw_type":"mcu"}}"#,
            ),
            (
                Progress::Downloading { percent: 55 },
                Some(u64::MAX),
                "",
                r#"{"type":"report_progress","report":{"progress":{"state":"downloading","percent":"55","result_code":"0","result_msg":""},"version":"2.0.0","task_id":18446744073709551615}}"#,
            ),
            (
                Progress::Done,
                None,
                "module",
                r#"{"type":"report_progress","report":{"progress":{"state":"done","result_code":"0","result_msg":""},"version":"2.0.0","fw_type":"module"}}"#,
            ),
            (
                Progress::Fail {
                    code: i32::MIN,
                    msg: "\"quoted\"\\\r\u{8}\u{c}\u{1f}",
                },
                None,
                "",
                r#"{"type":"report_progress","report":{"progress":{"state":"fail","result_code":"-2147483648","result_msg":"\"quoted\"\\\r\b\f\u001f"},"version":"2.0.0"}}"#,
            ),
        ];
        for &(prog, task, fw, want) in cases {
            assert_eq!(rp(prog, "2.0.0", task, fw), want);
        }
        assert_eq!(
            (
                RESULT_OK,
                RESULT_TIMEOUT,
                RESULT_NOT_FOUND,
                RESULT_SIGNATURE_EXPIRED,
                RESULT_MD5_MISMATCH,
                RESULT_UPGRADE_FAILED
            ),
            (0, -1, -2, -3, -4, -5)
        );
    }

    #[test]
    fn reports_overflow_exactly() {
        let want = rp(
            Progress::Fail {
                code: -5,
                msg: "a\"b",
            },
            "1.0",
            Some(9),
            "mcu",
        );
        for n in 0..want.len() {
            let mut buf = std::vec![0u8; n];
            assert_eq!(
                write_report_progress(
                    &mut buf,
                    &Progress::Fail {
                        code: -5,
                        msg: "a\"b"
                    },
                    "1.0",
                    Some(9),
                    "mcu"
                ),
                Err(Overflow),
                "{n}"
            );
        }
        let mut buf = std::vec![0u8; want.len()];
        assert_eq!(
            write_report_progress(
                &mut buf,
                &Progress::Fail {
                    code: -5,
                    msg: "a\"b"
                },
                "1.0",
                Some(9),
                "mcu"
            ),
            Ok(want.len())
        );
        let want = rv("1.0", "mcu");
        for n in 0..want.len() {
            let mut buf = std::vec![0u8; n];
            assert_eq!(write_report_version(&mut buf, "1.0", "mcu"), Err(Overflow));
        }
    }

    #[test]
    fn reports_parse_back() {
        // Our own output is valid JSON to our own scanner.
        let mut buf = [0u8; 256];
        let n = write_report_progress(
            &mut buf,
            &Progress::Fail {
                code: -3,
                msg: "\u{1}\"\\é😀",
            },
            "1",
            Some(1),
            "\n",
        )
        .unwrap();
        assert_eq!(
            p(core::str::from_utf8(&buf[..n]).unwrap()),
            Ok(Message::Other)
        );
        let n = write_report_version(&mut buf, "\u{0}", "\"").unwrap();
        assert_eq!(
            p(core::str::from_utf8(&buf[..n]).unwrap()),
            Ok(Message::Other)
        );
    }

    #[test]
    fn error_texts() {
        use Field::*;
        use ParseError::*;
        let fields = [
            Type, Url, Md5sum, FileSize, Version, ResultCode, TaskId, FwType,
        ];
        let missing = [
            "missing type",
            "missing url",
            "missing md5sum",
            "missing file_size",
            "missing version",
            "missing result_code",
            "missing task_id",
            "missing fw_type",
        ];
        let wrong = [
            "bad type",
            "bad url type",
            "bad md5sum type",
            "bad file_size type",
            "bad version type",
            "bad result_code",
            "bad task_id",
            "bad fw_type",
        ];
        let long = [
            "field too long",
            "url too long",
            "field too long",
            "field too long",
            "version too long",
            "field too long",
            "field too long",
            "fw_type too long",
        ];
        for (i, f) in fields.into_iter().enumerate() {
            assert_eq!(MissingField(f).as_str(), missing[i]);
            assert_eq!(WrongType(f).as_str(), wrong[i]);
            assert_eq!(TooLong(f).as_str(), long[i]);
        }
        let rest = [
            (NotJson, "not json"),
            (TooDeep, "json too deep"),
            (MissingType, "missing type"),
            (BadMd5, "bad md5sum"),
            (BadUrl, "bad url"),
            (ZeroSize, "file_size is 0"),
            (TooLarge, "bad file_size"),
            (BadVersion, "bad version"),
        ];
        for (e, text) in rest {
            assert_eq!(e.as_str(), text);
        }
        assert_eq!(
            PARSE_ERROR_TEXTS.bytes().filter(|&b| b == 0).count(),
            27,
            "every entry reachable"
        );
    }

    #[test]
    fn keys_and_types_name_their_variants() {
        use Field::*;
        let keys = [
            (Type, "type"),
            (Url, "url"),
            (Md5sum, "md5sum"),
            (FileSize, "file_size"),
            (Version, "version"),
            (ResultCode, "result_code"),
            (TaskId, "task_id"),
            (FwType, "fw_type"),
        ];
        assert_eq!(Field::ALL.len(), keys.len());
        for (i, (f, key)) in keys.into_iter().enumerate() {
            assert_eq!((Field::ALL[i], f as usize), (f, i));
            assert_eq!(Field::named(key.as_bytes()), Some(f), "{key}");
            // Keys are exact: JSON is case-sensitive.
            assert_eq!(Field::named(key.to_uppercase().as_bytes()), None, "{key}");
        }
        assert_eq!(Field::named(b"user_defined"), None);
        for (t, ty) in [
            (MessageType::UpdateFirmware, "update_firmware"),
            (MessageType::ReportVersionRsp, "report_version_rsp"),
        ] {
            assert_eq!(find(TYPES, ty.as_bytes(), false), t as usize);
        }
        assert_eq!(
            find(TYPES, b"report_version", false),
            MessageType::ALL.len()
        );
    }
}
