//! HTTP/1.1 firmware download, sans-I/O.
//!
//! - [`url`]: split an `http://` / `https://` URL into host, port and path.
//! - [`request`]: the GET with an inclusive `Range`.
//! - [`response`]: the response head (status, Content-Length, Content-Range, ETag, Location,
//!   Transfer-Encoding, Connection).
//! - [`body`]: the body decoder (Content-Length, chunked, until close), zero-copy.
//! - [`download`]: one range download as a state machine over a caller-owned buffer.
pub mod body;
pub mod download;
pub mod request;
pub mod response;
pub mod url;
