//! MQTT client session. (Being written: see the helper brief.)
pub struct Session;
pub enum SessionEvent {}
