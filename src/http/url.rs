//! Split an `http://` / `https://` URL into scheme, host, port and request target, borrowing from
//! the input. Tencent's C SDK keeps `host:port` as the host and always dials 80/443; we parse the
//! port, IPv6 literals and mixed-case schemes, and refuse what we cannot send safely.

use crate::num::{decimal, parse_u64};
use crate::slices::has_byte;
use crate::text::{Str, TooLong};

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

/// Parse an absolute `http://` or `https://` URL (scheme in any case).
pub fn parse(s: &str) -> Result<Url<'_>, UrlError> {
    let https = matches!(s.as_bytes().get(4), Some(b's' | b'S'));
    let (scheme, prefix) = if https {
        (Scheme::Https, "https://")
    } else {
        (Scheme::Http, "http://")
    };
    match (s.as_bytes().get(..prefix.len()), s.get(prefix.len()..)) {
        (Some(p), Some(rest)) if p.eq_ignore_ascii_case(prefix.as_bytes()) => {
            parse_after_scheme(scheme, rest)
        }
        _ => Err(UrlError::Scheme),
    }
}

/// The URL as text, in parts: scheme, `[`, host, `]`, `:`, port, `/`, path. The brackets are
/// only there around an IPv6 literal, the colon and port only for a port other than the scheme's
/// default, the slash only before a bare query (`http://h?x`). `digits` holds the port's.
/// Parts 1 to 5 are also the `Host:` header, 6 and 7 the request target.
pub(crate) fn parts<'a>(url: &Url<'a>, digits: &'a mut [u8; 20]) -> [&'a [u8]; 8] {
    let v6 = usize::from(url.host_is_ipv6());
    let port: &[u8] = if url.port_is_default() {
        &[]
    } else {
        decimal(digits, u64::from(url.port))
    };
    let slash = usize::from(!matches!(url.path.as_bytes().first(), Some(b'/')));
    let cut = |s: &'static [u8], n: usize| s.get(..n).unwrap_or_default();
    [
        match url.scheme {
            Scheme::Http => b"http://",
            Scheme::Https => b"https://",
        },
        cut(b"[", v6),
        url.host.as_bytes(),
        cut(b"]", v6),
        cut(b":", usize::from(!port.is_empty())),
        port,
        cut(b"/", slash),
        url.path.as_bytes(),
    ]
}

/// Write `url` back as text (for a redirect target that must outlive the response buffer).
pub fn write<const N: usize>(url: &Url<'_>, out: &mut Str<N>) -> Result<(), TooLong> {
    out.clear();
    for part in &parts(url, &mut [0; 20]) {
        out.push_str(crate::text::str_from_utf8(part).unwrap_or_default())?;
    }
    Ok(())
}

/// Resolve a `Location` header (trimmed, as the head parser gives it) against the URL it came
/// from. Absolute URLs, scheme-relative (`//host/p`) and absolute-path (`/p`) references are
/// supported; https to http is refused.
pub fn resolve<'a>(base: &Url<'a>, location: &'a str) -> Result<Url<'a>, UrlError> {
    let target = if let Some(rest) = location.strip_prefix("//") {
        parse_after_scheme(base.scheme, rest)?
    } else if matches!(location.as_bytes().first(), Some(b'/')) {
        Url {
            path: parse_path(location)?,
            ..*base
        }
    } else if has_byte(location.as_bytes(), b':') {
        parse(location)?
    } else {
        return Err(UrlError::Relative);
    };
    if base.scheme == Scheme::Https && target.scheme == Scheme::Http {
        return Err(UrlError::Downgrade);
    }
    Ok(target)
}

/// `host[:port]` or `[v6][:port]`, then the path.
fn parse_after_scheme(scheme: Scheme, rest: &str) -> Result<Url<'_>, UrlError> {
    let b = rest.as_bytes();
    let auth_end = b
        .iter()
        .position(|&c| c == b'/' || c == b'?' || c == b'#')
        .unwrap_or(b.len());
    let authority = b.get(..auth_end).unwrap_or_default();
    if has_byte(authority, b'@') {
        return Err(UrlError::Userinfo);
    }
    // The host is `b[start..end]`; the port (if any) follows the colon at `end + v6`.
    let v6 = matches!(authority.first(), Some(b'['));
    let start = usize::from(v6);
    let end = authority
        .iter()
        .position(|&c| c == if v6 { b']' } else { b':' })
        .unwrap_or(if v6 { 0 } else { auth_end });
    let host = authority.get(start..end).unwrap_or_default();
    let host_ok = host.iter().all(|&c| {
        if v6 {
            c.is_ascii_hexdigit() || c == b':' || c == b'.'
        } else {
            // RFC 3986 reg-name (unreserved, pct-encoded, sub-delims): nothing that could
            // break the `Host:` line.
            c.is_ascii_alphanumeric() || has_byte(b"-._~%!$&'()*+,;=", c)
        }
    });
    if host.is_empty() || !host_ok || (v6 && !has_byte(host, b':')) {
        return Err(UrlError::Host);
    }
    let after = end + usize::from(v6);
    let port = match authority.get(after..) {
        Some([]) | None => scheme.default_port(),
        Some([b':', digits @ ..]) => parse_port(digits)?,
        // Something other than a colon after `]`.
        Some(_) => return Err(UrlError::Host),
    };
    Ok(Url {
        scheme,
        host: rest.get(start..end).unwrap_or_default(),
        port,
        path: parse_path(rest.get(auth_end..).unwrap_or_default())?,
    })
}

/// Path + query with the fragment cut off; "/" when empty.
fn parse_path(tail: &str) -> Result<&str, UrlError> {
    let mut end = 0;
    for &b in tail.as_bytes() {
        if b == b'#' {
            break;
        }
        if b <= b' ' || b == 0x7f {
            return Err(UrlError::Path);
        }
        end += 1;
    }
    Ok(match tail.get(..end) {
        Some("") | None => "/",
        Some(path) => path,
    })
}

/// 1 to 65535, at most five digits.
fn parse_port(p: &[u8]) -> Result<u16, UrlError> {
    parse_u64(p)
        .filter(|_| p.len() <= 5)
        .and_then(|v| u16::try_from(v).ok())
        .filter(|&v| v != 0)
        .ok_or(UrlError::Port)
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
            x = crate::num::xorshift32(x);
            let len = (x % 24) as usize;
            for _ in 0..len {
                x = crate::num::xorshift32(x);
                s.push(alphabet[(x as usize) % alphabet.len()] as char);
            }
            let _ = parse(&s);
            let _ = parse(&(std::string::String::from("http://") + &s));
        }
    }
}
