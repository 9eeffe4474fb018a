//! Split an `http://` / `https://` URL into scheme, host, port and request target, borrowing from
//! the input. Tencent's C SDK keeps `host:port` as the host and always dials 80/443; we parse the
//! port, IPv6 literals and mixed-case schemes, and refuse what we cannot send safely.

use crate::slices::has_byte;

/// The URL scheme. TLS itself is the host's or the TLS layer's business, not this module's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub const fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// A parsed absolute URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Url<'a> {
    pub scheme: Scheme,
    /// Host name or IP literal; IPv6 without the brackets.
    pub host: &'a str,
    /// Explicit port, or 80/443 from the scheme.
    pub port: u16,
    /// Path and query, fragment dropped; "/" when the URL has no path. May start with `?` when the
    /// URL has a query but no path (`http://h?x`): [`super::request::write_get`] adds the `/`.
    pub path: &'a str,
}

impl Url<'_> {
    /// Whether the host is an IPv6 literal (needs brackets in `Host:`).
    pub fn host_is_ipv6(&self) -> bool {
        has_byte(self.host.as_bytes(), b':')
    }

    /// Whether the port differs from the scheme's default (then `Host:` must carry it).
    pub fn port_is_default(&self) -> bool {
        self.port == self.scheme.default_port()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlError {
    /// No `scheme://`, or a scheme other than http/https.
    Scheme,
    /// `user:pass@host`: never sent in clear, and a classic phishing disguise.
    Userinfo,
    /// Empty host, bad IPv6 literal or a character that does not belong in a host.
    Host,
    /// Empty, non-numeric, zero or out-of-range port.
    Port,
    /// Control characters or spaces in the path (they would corrupt the request line).
    Path,
    /// A relative redirect target other than an absolute path (`../x`, `x`): not supported.
    Relative,
    /// A redirect from https to http.
    Downgrade,
}

/// Parse an absolute `http://` or `https://` URL.
pub fn parse(s: &str) -> Result<Url<'_>, UrlError> {
    let sep = find(s.as_bytes(), b"://").ok_or(UrlError::Scheme)?;
    let scheme_str = s.get(..sep).ok_or(UrlError::Scheme)?;
    let scheme = if scheme_str.eq_ignore_ascii_case("http") {
        Scheme::Http
    } else if scheme_str.eq_ignore_ascii_case("https") {
        Scheme::Https
    } else {
        return Err(UrlError::Scheme);
    };
    let rest = s.get(sep + 3..).ok_or(UrlError::Scheme)?;
    parse_after_scheme(scheme, rest)
}

/// Write `url` back as text (for a redirect target that must outlive the response buffer).
pub fn write<const N: usize>(
    url: &Url<'_>,
    out: &mut crate::text::Str<N>,
) -> Result<(), crate::text::TooLong> {
    out.clear();
    out.push_str(match url.scheme {
        Scheme::Http => "http://",
        Scheme::Https => "https://",
    })?;
    if url.host_is_ipv6() {
        out.push_str("[")?;
        out.push_str(url.host)?;
        out.push_str("]")?;
    } else {
        out.push_str(url.host)?;
    }
    if !url.port_is_default() {
        let mut digits = [0u8; 5];
        let mut w = crate::text::Writer::new(&mut digits);
        w.u64(u64::from(url.port));
        out.push_str(":")?;
        out.push_str(core::str::from_utf8(w.written()).unwrap_or(""))?;
    }
    if !url.path.starts_with('/') {
        out.push_str("/")?;
    }
    out.push_str(url.path)
}

/// Resolve a `Location` header against the URL it came from. Absolute URLs, scheme-relative
/// (`//host/p`) and absolute-path (`/p`) references are supported; https to http is refused.
pub fn resolve<'a>(base: &Url<'a>, location: &'a str) -> Result<Url<'a>, UrlError> {
    let b = location.as_bytes();
    let blank = |c: &u8| *c == b' ' || *c == b'\t';
    let start = b.iter().position(|c| !blank(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !blank(c)).map_or(start, |i| i + 1);
    let loc = location.get(start..end).unwrap_or("");
    let target = if let Some(rest) = loc.strip_prefix("//") {
        parse_after_scheme(base.scheme, rest)?
    } else if loc.starts_with('/') {
        let path = parse_path(loc)?;
        Url { path, ..*base }
    } else if find(loc.as_bytes(), b"://").is_some() {
        parse(loc)?
    } else {
        return Err(UrlError::Relative);
    };
    if base.scheme == Scheme::Https && target.scheme == Scheme::Http {
        return Err(UrlError::Downgrade);
    }
    Ok(target)
}

fn parse_after_scheme(scheme: Scheme, rest: &str) -> Result<Url<'_>, UrlError> {
    let bytes = rest.as_bytes();
    let auth_end = bytes
        .iter()
        .position(|&b| b == b'/' || b == b'?' || b == b'#')
        .unwrap_or(bytes.len());
    let authority = rest.get(..auth_end).ok_or(UrlError::Host)?;
    let tail = rest.get(auth_end..).ok_or(UrlError::Host)?;
    if has_byte(authority.as_bytes(), b'@') {
        return Err(UrlError::Userinfo);
    }
    let (host, port_str) = if let Some(v6) = authority.strip_prefix('[') {
        let close = v6.bytes().position(|b| b == b']').ok_or(UrlError::Host)?;
        let host = v6.get(..close).ok_or(UrlError::Host)?;
        let after = v6.get(close + 1..).ok_or(UrlError::Host)?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(UrlError::Host),
        };
        let ok = !host.is_empty()
            && has_byte(host.as_bytes(), b':')
            && host
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if !ok {
            return Err(UrlError::Host);
        }
        (host, port)
    } else {
        let (host, port) = match authority.bytes().position(|b| b == b':') {
            Some(i) => (
                authority.get(..i).ok_or(UrlError::Host)?,
                Some(authority.get(i + 1..).ok_or(UrlError::Port)?),
            ),
            None => (authority, None),
        };
        if host.is_empty() || !host.bytes().all(is_host_byte) {
            return Err(UrlError::Host);
        }
        (host, port)
    };
    let port = match port_str {
        Some(p) => parse_port(p)?,
        None => scheme.default_port(),
    };
    let path = parse_path(tail)?;
    Ok(Url {
        scheme,
        host,
        port,
        path,
    })
}

/// Path + query with the fragment cut off; "/" when empty.
fn parse_path(tail: &str) -> Result<&str, UrlError> {
    let end = tail.bytes().position(|b| b == b'#').unwrap_or(tail.len());
    let path = tail.get(..end).ok_or(UrlError::Path)?;
    if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(UrlError::Path);
    }
    Ok(if path.is_empty() { "/" } else { path })
}

fn parse_port(p: &str) -> Result<u16, UrlError> {
    if p.is_empty() || p.len() > 5 {
        return Err(UrlError::Port);
    }
    let mut v: u32 = 0;
    for b in p.bytes() {
        if !b.is_ascii_digit() {
            return Err(UrlError::Port);
        }
        v = v * 10 + u32::from(b - b'0');
    }
    match u16::try_from(v) {
        Ok(0) | Err(_) => Err(UrlError::Port),
        Ok(port) => Ok(port),
    }
}

/// RFC 3986 reg-name characters (unreserved, pct-encoded, sub-delims): nothing that could break
/// the `Host:` line.
fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || has_byte(b"-._~%!$&'()*+,;=", b)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_round_trips() {
        for u in [
            "http://h/a?b=c&d",
            "https://[::1]:8443/x",
            "http://10.0.0.1:8080/fw.bin?sign=a%26b",
            "https://h/",
        ] {
            let mut s = crate::text::Str::<128>::new();
            write(&parse(u).unwrap(), &mut s).unwrap();
            assert_eq!(s.as_str(), u);
        }
        let mut s = crate::text::Str::<128>::new();
        write(&parse("http://h?q=1").unwrap(), &mut s).unwrap();
        assert_eq!(s.as_str(), "http://h/?q=1");
    }

    fn u(s: &str) -> Url<'_> {
        parse(s).unwrap()
    }

    #[test]
    fn basic_and_default_ports() {
        let a = u("http://example.com/fw.bin");
        assert_eq!(a.scheme, Scheme::Http);
        assert_eq!((a.host, a.port, a.path), ("example.com", 80, "/fw.bin"));
        let b = u("https://cos.ap-guangzhou.myqcloud.com");
        assert_eq!(b.scheme, Scheme::Https);
        assert_eq!(
            (b.host, b.port, b.path),
            ("cos.ap-guangzhou.myqcloud.com", 443, "/")
        );
        assert!(b.port_is_default());
    }

    #[test]
    fn explicit_ports() {
        let a = u("http://127.0.0.1:8080/a/b");
        assert_eq!((a.host, a.port, a.path), ("127.0.0.1", 8080, "/a/b"));
        assert!(!a.port_is_default());
        assert_eq!(u("https://h:65535").port, 65535);
        assert_eq!(u("http://h:1/").port, 1);
        assert_eq!(u("http://h:00080/").port, 80);
    }

    #[test]
    fn ipv6() {
        let a = u("http://[::1]:8080/x");
        assert_eq!((a.host, a.port, a.path), ("::1", 8080, "/x"));
        assert!(a.host_is_ipv6());
        let b = u("https://[2001:db8::1]/");
        assert_eq!((b.host, b.port), ("2001:db8::1", 443));
        let c = u("http://[::ffff:10.0.0.1]");
        assert_eq!(c.host, "::ffff:10.0.0.1");
        assert!(!u("http://h/").host_is_ipv6());
    }

    #[test]
    fn query_fragment_and_case() {
        let a = u("HTTPS://Host.Example/p/fw%20v2.bin?sign=a%2Fb&t=1700000000&x=y#frag");
        assert_eq!(a.scheme, Scheme::Https);
        assert_eq!(a.host, "Host.Example");
        assert_eq!(a.path, "/p/fw%20v2.bin?sign=a%2Fb&t=1700000000&x=y");
        assert_eq!(u("HtTp://h#only").path, "/");
        assert_eq!(u("http://h?q=1").path, "?q=1");
        assert_eq!(u("http://h:81?q=1").port, 81);
    }

    #[test]
    fn rejects() {
        let bad: &[(&str, UrlError)] = &[
            ("", UrlError::Scheme),
            ("example.com/fw", UrlError::Scheme),
            ("ftp://h/x", UrlError::Scheme),
            ("httpx://h/", UrlError::Scheme),
            ("http:/h/", UrlError::Scheme),
            ("http://", UrlError::Host),
            ("http:///path", UrlError::Host),
            ("http://:80/", UrlError::Host),
            ("http://user:pw@h/", UrlError::Userinfo),
            ("http://@h/", UrlError::Userinfo),
            ("http://h:/", UrlError::Port),
            ("http://h:0/", UrlError::Port),
            ("http://h:65536/", UrlError::Port),
            ("http://h:123456/", UrlError::Port),
            ("http://h:8a/", UrlError::Port),
            ("http://h:-1/", UrlError::Port),
            ("http://h:80:81/", UrlError::Port),
            ("http://[::1/", UrlError::Host),
            ("http://[]/", UrlError::Host),
            ("http://[::1]x/", UrlError::Host),
            ("http://[fe80::1%eth0]/", UrlError::Host),
            ("http://[1.2.3.4]/", UrlError::Host),
            ("http://h\r\nX: y/", UrlError::Host),
            ("http://h o/", UrlError::Host),
            ("http://h/a b", UrlError::Path),
            ("http://h/a\r\nInjected: 1", UrlError::Path),
            ("http://h/\x7f", UrlError::Path),
        ];
        for (s, e) in bad {
            assert_eq!(parse(s), Err(*e), "{s:?}");
        }
    }

    #[test]
    fn redirects() {
        let base = u("https://a.example:8443/old?x=1");
        let r = resolve(&base, "/new/path?y=2").unwrap();
        assert_eq!(
            (r.scheme, r.host, r.port, r.path),
            (Scheme::Https, "a.example", 8443, "/new/path?y=2")
        );
        let r = resolve(&base, "//b.example/z").unwrap();
        assert_eq!(
            (r.scheme, r.host, r.port, r.path),
            (Scheme::Https, "b.example", 443, "/z")
        );
        let r = resolve(&base, "https://c.example/q").unwrap();
        assert_eq!((r.host, r.path), ("c.example", "/q"));
        assert_eq!(
            resolve(&base, "http://c.example/q"),
            Err(UrlError::Downgrade)
        );
        assert_eq!(resolve(&base, "rel/x"), Err(UrlError::Relative));
        assert_eq!(resolve(&base, ""), Err(UrlError::Relative));
        let plain = u("http://a/");
        assert_eq!(resolve(&plain, "https://b/").unwrap().scheme, Scheme::Https);
        assert_eq!(resolve(&plain, "/x y"), Err(UrlError::Path));
    }

    #[test]
    fn never_panics_on_odd_input() {
        let mut x: u32 = 0x1234_5678;
        let alphabet = b"htps:/[]@?#%:0123456789abcdefHTTP. \r\x7f";
        for _ in 0..20_000 {
            let mut s = std::string::String::new();
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let len = (x % 24) as usize;
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                s.push(alphabet[(x as usize) % alphabet.len()] as char);
            }
            let _ = parse(&s);
            let _ = parse(&(std::string::String::from("http://") + &s));
        }
    }
}
