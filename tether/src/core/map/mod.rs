//! `map()` (rule P5): the mapper program (`program`), recording one on the calling side
//! (`record`) and replaying one on the side that holds the value (`replay`).
//!
//! None of it knows the wire text: the wire codec decodes a peer's `remap` into a
//! [`program::Program`] and encodes a recorded one.

pub(crate) mod program;
pub(crate) mod record;
pub(crate) mod replay;
