//! Deterministic simulation of a device updating through the library: one thread, virtual time,
//! everything random drawn from a seeded SplitMix64.
#![allow(dead_code)]

pub mod host;
pub mod json;
pub mod net;
pub mod rng;
pub mod run;
pub mod world;
