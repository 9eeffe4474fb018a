//! MQTT 3.1.1, the subset Tencent IoT Explorer speaks: CONNECT/CONNACK, SUBSCRIBE/SUBACK,
//! PUBLISH QoS0/1, PUBACK, PINGREQ/PINGRESP, DISCONNECT (no will, no retain, no QoS2).
//!
//! - [`codec`]: encode client packets into a caller buffer (`encode`), decode any packet from a
//!   byte slice (`decode`, a broker's full view) or what a broker sends (`decode_incoming`, the
//!   flat record the session reads with); zero-copy: topic and payload borrow the input.
//! - [`session`]: the client session as a sans-I/O state machine over caller-owned rx/tx
//!   buffers with injected time.
pub mod codec;
pub mod session;

pub use codec::{DecodeError, EncodeError, Incoming, Packet};
pub use session::{Session, SessionConfig, SessionError, SessionEvent};
