//! HTTP/1.1 firmware download, sans-I/O.
//!
//! - [`url`]: split an `http://` / `https://` URL into host, port and path; resolve a redirect's
//!   `Location` (never https to http).
//! - [`request`]: the GET with an inclusive `Range`.
//! - [`response`]: the response head (status, Content-Length, Content-Range, ETag, Location,
//!   Transfer-Encoding, Connection).
//! - [`body`]: the body decoder (Content-Length, chunked, until close), zero-copy.
//! - [`download`]: one request/response as a state machine over a caller-owned buffer. Redirects,
//!   retries and the 200-vs-206 decision belong to the caller, which sees every head.
pub mod body;
pub mod download;
pub mod request;
pub mod response;
pub mod url;
