//! (Being written: see the helper brief.)
