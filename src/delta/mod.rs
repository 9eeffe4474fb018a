//! Delta updates (cargo feature `delta`): a patch from the running image to the next one instead
//! of the image. The file is our safety [`header`] followed by an unmodified detools *sequential*
//! patch compressed with heatshrink 8/7 ([`patch`] over [`heatshrink`]); [`checkpoint`] holds
//! the few bytes that let an interrupted apply resume. Layout, tool and figures: docs/delta.md.
//!
//! Every part is a state machine over bytes: no allocation, no panic on any input, every length
//! checked against the sizes the header announced.

pub mod checkpoint;
pub mod header;
pub mod heatshrink;
pub mod patch;

pub use checkpoint::Checkpoint;
pub use header::Header;
pub use patch::{Error, IoError, Patch, PatchIo};
