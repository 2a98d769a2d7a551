//! [`Limits`]: what one incoming message may cost (size, values, depth, bigint length, map
//! work), and
//! the fixed depth limit of what we send.

use crate::core::error::RpcError;

/// capnweb's fixed serialization depth limit: a value nesting this deep cannot be sent.
pub(crate) const MAX_SERIALIZE_DEPTH: usize = 256;

/// The error for a value nesting [`MAX_SERIALIZE_DEPTH`] levels or more.
#[cold]
pub(crate) fn serialize_depth_error() -> RpcError {
    RpcError::error(
        "Serialization exceeded maximum allowed depth. (Does the message contain cycles?)",
    )
}

/// The error for a received bigint longer than [`Limits::max_bigint_digits`] (`max`).
#[cold]
pub(crate) fn bigint_length_error(max: usize) -> RpcError {
    RpcError::protocol(
        "TypeError",
        format!("Deserialized bigint exceeds maximum length of {max} digits."),
    )
}

/// Receive-side limits. Defaults match capnweb 0.12, except `max_values`, which capnweb does not
/// have.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Maximum message size in UTF-16 code units (as JavaScript counts string length).
    pub max_message_size: usize,
    /// Maximum number of JSON values one message may hold: every array element, object entry
    /// value and the message itself count. A value takes 32 to 48 bytes of memory while it is
    /// parsed and as much again once evaluated, however little text it took (`0,` is two
    /// bytes, the wire's one-element array `[[0]]` four), so this, not the size, is what bounds
    /// the memory one message can make a session allocate: about 100 bytes per value at most,
    /// plus its strings and bytes. Checked before parsing (frames of more bytes than this are
    /// scanned once); a message over it ends the session with a `RangeError`.
    pub max_values: usize,
    /// Maximum nesting depth of an expression. Parsing and evaluation recurse once per level
    /// (frames nesting deeper than about twice this are refused before parsing), so values far
    /// above the default need a correspondingly larger thread stack.
    pub max_depth: usize,
    /// Maximum length of a bigint's decimal string (the `-` counts).
    pub max_bigint_digits: usize,
    /// Maximum number of mapper instructions one message may run, across every element and
    /// nested `map()` (bounds the work a hostile `remap` can fan out to).
    pub max_map_instructions: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_size: 32 * 1024 * 1024,
            max_values: 1 << 20,
            max_depth: 256,
            max_bigint_digits: 16384,
            max_map_instructions: 1_000_000,
        }
    }
}
