//! Frame parsing: one text frame to a [`RawMessage`], in one pass.
//!
//! Owns the receive-side checks that happen before any expression is evaluated, in capnweb's
//! order: the size limit (in UTF-16 code units), a cheap non-recursive pre-scan of nesting (so a
//! hostile `[[[[…` cannot exhaust the stack) and of the number of values (ours, not capnweb's:
//! so a frame cannot make far more memory than its size, see [`Limits::max_values`]), JSON
//! syntax (`SyntaxError`), and the top-level message shape (`Error: bad RPC message: …`),
//! following capnweb 0.12's `readLoop`.
//!
//! The frame is parsed once, by serde_json, straight into the message: the tag and ids are
//! read in place and the expression becomes a [`Node`] tree that borrows its strings from the
//! frame. Every element is parsed as a value, ignored ones included, so what is a syntax error
//! does not depend on the shape; only a refused shape parses the frame a second time, to quote
//! it.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::node::{as_id, stringify, Node};
use super::{Limits, RawMessage};
use crate::core::error::RpcError;

pub(super) fn parse_message<'a>(
    text: &'a str,
    limits: &Limits,
) -> Result<RawMessage<'a>, RpcError> {
    check_size(text, limits.max_message_size)?;
    check_shape(text, limits)?;
    match parse_json::<Parsed<'a>>(text)? {
        Parsed::Message(message) => Ok(message),
        Parsed::Refused => Err(bad_message(&parse_json::<Node<'a>>(text)?)),
    }
}

/// Length of `text` in UTF-16 code units, as JavaScript's `string.length` counts it.
pub(super) fn utf16_len(text: &str) -> usize {
    // Every char starts with a non-continuation byte; 4-byte chars are surrogate pairs.
    text.bytes()
        .map(|b| usize::from((b & 0xC0) != 0x80) + usize::from(b >= 0xF0))
        .sum()
}

fn check_size(text: &str, max: usize) -> Result<(), RpcError> {
    // UTF-16 length never exceeds UTF-8 length, so the common case costs nothing.
    if text.len() <= max || utf16_len(text) <= max {
        return Ok(());
    }
    Err(RpcError::protocol(
        "TypeError",
        format!("Incoming message exceeds maximum size of {max} UTF-16 code units."),
    ))
}

/// The error evaluation reports when an expression nests too deeply.
#[cold]
#[inline(never)]
pub(super) fn depth_error(max_depth: usize) -> RpcError {
    RpcError::protocol(
        "TypeError",
        format!("Deserialization exceeded maximum allowed message depth of {max_depth}."),
    )
}

/// Rejects, without recursion and before anything is built, JSON nesting deeper than any
/// expression within `max_depth` could need and frames holding more than `max_values` JSON
/// values. An array value `[[…]]` takes two JSON levels per value level, so the nesting bound is
/// `2 * max_depth + 8`; the exact per-level check happens in `evaluate`.
///
/// Values are counted from above: every value starts at its own byte, so a frame is never
/// scanned when it is no longer than `max_values`; otherwise there are `1 + commas + opening
/// brackets - empty containers` outside strings (a container of `k > 0` values holds `k - 1`
/// commas). The string-aware scan, which counts exactly, runs only when counting brackets and
/// commas everywhere (a loop the compiler vectorizes, an upper bound) does not settle both
/// checks already.
fn check_shape(text: &str, limits: &Limits) -> Result<(), RpcError> {
    let bound = limits.max_depth.saturating_mul(2).saturating_add(8);
    let bytes = text.as_bytes();
    let count_values = bytes.len() > limits.max_values;
    if bytes.len() <= bound && !count_values {
        return Ok(()); // too short to nest deeper than the bound or hold too many values
    }
    let (opening, commas) = count_structure(bytes);
    let nesting_settled = opening <= bound;
    let values_settled = !count_values || 1 + opening + commas <= limits.max_values;
    if nesting_settled && values_settled {
        return Ok(());
    }
    // `values` counts the message, then each container's first element at its opening bracket
    // (taken back if the container closes empty) and every later one at its comma.
    let (mut depth, mut values) = (0usize, 1usize);
    let mut previous = 0u8; // the last byte outside strings that is not whitespace
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        i += 1;
        match b {
            b'"' => i = string_end(bytes, i),
            b'[' | b'{' => {
                depth += 1;
                values += 1;
                if depth > bound {
                    return Err(depth_error(limits.max_depth));
                }
            }
            b',' => values += 1,
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                if matches!(previous, b'[' | b'{') {
                    values -= 1;
                }
            }
            b if is_json_whitespace(b) => continue,
            _ => {}
        }
        previous = b;
    }
    if !values_settled && values > limits.max_values {
        return Err(values_error(limits.max_values));
    }
    Ok(())
}

/// The error for a frame holding more than [`Limits::max_values`] JSON values.
#[cold]
fn values_error(max: usize) -> RpcError {
    RpcError::protocol(
        "RangeError",
        format!("Incoming message holds more than {max} values (Limits::max_values)."),
    )
}

/// Memory one value may take while a frame is decoded, at most: its parsed node and its
/// evaluated [`Value`](crate::Value) with their allocations, and its share of the reply an echo
/// makes of it. Measured at 72 to 88 bytes (BENCHMARKS.md, "Input amplification"); rounded up.
#[cfg(feature = "net")]
const DECODED_VALUE_COST: usize = 96;

/// An upper bound of the memory decoding `text` may take: its size, plus
/// [`DECODED_VALUE_COST`] for every value it may hold (counted from above, strings included).
/// One vectorized pass; what a server's [decode budget](crate::transport::websocket::DecodeBudget)
/// charges a large frame.
#[cfg(feature = "net")]
pub(crate) fn decoding_cost(text: &str) -> usize {
    let (opening, commas) = count_structure(text.as_bytes());
    let values = 1 + opening + commas;
    text.len()
        .saturating_add(values.saturating_mul(DECODED_VALUE_COST))
}

/// The number of `[` and `{` bytes, and of `,` bytes, in `bytes`. Counted per 64-byte block
/// into `u8`s (at most 64 per block), a shape the compiler turns into vector compares.
fn count_structure(bytes: &[u8]) -> (usize, usize) {
    let mut blocks = bytes.chunks_exact(64);
    let (mut opening, mut commas) = (0usize, 0usize);
    for block in &mut blocks {
        let (mut o, mut c) = (0u8, 0u8);
        for &b in block {
            o += u8::from(b == b'[') | u8::from(b == b'{');
            c += u8::from(b == b',');
        }
        opening += usize::from(o);
        commas += usize::from(c);
    }
    for &b in blocks.remainder() {
        opening += usize::from(b == b'[' || b == b'{');
        commas += usize::from(b == b',');
    }
    (opening, commas)
}

/// Index just past the `"` closing a string whose contents start at `i` (or the end of input).
fn string_end(bytes: &[u8], mut i: usize) -> usize {
    loop {
        // Skip eight bytes at a time while they hold neither `"` nor `\`.
        while let Some(chunk) = bytes.get(i..i + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            let word = u64::from_le_bytes(word);
            if has_byte(word, b'"') || has_byte(word, b'\\') {
                break;
            }
            i += 8;
        }
        match bytes.get(i) {
            None => return i,
            Some(b'"') => return i + 1,
            Some(b'\\') => i += 2,
            Some(_) => i += 1,
        }
    }
}

/// True when some byte of `word` equals `b` (the classic SWAR zero-byte test).
fn has_byte(word: u64, b: u8) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let x = word ^ (ONES * u64::from(b));
    (x.wrapping_sub(ONES) & !x & HIGHS) != 0
}

fn is_json_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// `JSON.parse`: exactly one JSON value, optionally surrounded by whitespace, read as `T`.
fn parse_json<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, RpcError> {
    let mut de = serde_json::Deserializer::from_str(text);
    // Safe: `check_shape` has bounded the nesting depth already.
    de.disable_recursion_limit();
    let mut stream = de.into_iter::<T>();
    let value = match stream.next() {
        Some(Ok(value)) => value,
        Some(Err(e)) => return Err(syntax_error(&e)),
        None => {
            return Err(RpcError::protocol(
                "SyntaxError",
                "Unexpected end of JSON input",
            ))
        }
    };
    let rest = text
        .as_bytes()
        .get(stream.byte_offset()..)
        .unwrap_or_default();
    if let Some(pos) = rest.iter().position(|b| !is_json_whitespace(*b)) {
        return Err(RpcError::protocol(
            "SyntaxError",
            format!(
                "Unexpected non-whitespace character after JSON at position {}",
                stream.byte_offset() + pos
            ),
        ));
    }
    Ok(value)
}

fn syntax_error(e: &serde_json::Error) -> RpcError {
    if e.is_eof() {
        RpcError::protocol("SyntaxError", "Unexpected end of JSON input")
    } else {
        RpcError::protocol("SyntaxError", format!("Invalid JSON: {e}"))
    }
}

/// `Error: bad RPC message: <JSON.stringify(message)>`.
fn bad_message(message: &Node<'_>) -> RpcError {
    RpcError::protocol("Error", format!("bad RPC message: {}", stringify(message)))
}

/// A frame as the message visitor reads it.
pub(super) enum Parsed<'a> {
    Message(RawMessage<'a>),
    /// Valid JSON that capnweb would refuse as a message.
    Refused,
}

impl<'de> Deserialize<'de> for Parsed<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MessageVisitor)
    }
}

/// capnweb's acceptance rules for a top-level message: an array whose first element is a known
/// tag and whose next elements have the tag's types. Extra elements are parsed (so their syntax
/// is checked) and ignored.
struct MessageVisitor;

/// The message `tag` from the elements after it, or `None` when they do not fit.
fn message<'de, A: SeqAccess<'de>>(
    tag: &str,
    seq: &mut A,
) -> Result<Option<RawMessage<'de>>, A::Error> {
    let mut next = || seq.next_element::<Node<'de>>();
    let as_int = |node: Option<Node<'_>>| node.as_ref().and_then(as_id);
    Ok(match tag {
        "push" => next()?.map(RawMessage::Push),
        "stream" => next()?.map(RawMessage::Stream),
        "pull" => as_int(next()?).map(RawMessage::Pull),
        "resolve" | "reject" => {
            let Some(id) = as_int(next()?) else {
                return Ok(None);
            };
            let expr = next()?;
            match tag {
                "resolve" => expr.map(|expr| RawMessage::Resolve(id, expr)),
                _ => expr.map(|expr| RawMessage::Reject(id, expr)),
            }
        }
        "release" => {
            let Some(id) = as_int(next()?) else {
                return Ok(None);
            };
            // A refcount: a non-negative integer.
            let refcount = as_int(next()?).and_then(|n| u64::try_from(n).ok());
            refcount.map(|refcount| RawMessage::Release(id, refcount))
        }
        "abort" => Some(RawMessage::Abort(next()?.unwrap_or_else(|| {
            // capnweb evaluates the missing element as `undefined`.
            Node::Array(vec![Node::String("undefined".into())])
        }))),
        "pipe" => Some(RawMessage::Pipe),
        _ => None,
    })
}

impl<'de> Visitor<'de> for MessageVisitor {
    type Value = Parsed<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Parsed<'de>, A::Error> {
        let parsed = match seq.next_element::<Node<'de>>()? {
            Some(Node::String(tag)) => match message(&tag, &mut seq)? {
                Some(message) => Parsed::Message(message),
                None => Parsed::Refused,
            },
            _ => Parsed::Refused,
        };
        while seq.next_element::<Node<'de>>()?.is_some() {}
        Ok(parsed)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parsed<'de>, A::Error> {
        while map.next_entry::<Node<'de>, Node<'de>>()?.is_some() {}
        Ok(Parsed::Refused)
    }

    fn visit_unit<E>(self) -> Result<Parsed<'de>, E> {
        Ok(Parsed::Refused)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Parsed<'de>, E> {
        Ok(Parsed::Refused)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Parsed<'de>, E> {
        Ok(Parsed::Refused)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Parsed<'de>, E> {
        Ok(Parsed::Refused)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Parsed<'de>, E> {
        Ok(Parsed::Refused)
    }

    fn visit_str<E>(self, _: &str) -> Result<Parsed<'de>, E> {
        Ok(Parsed::Refused)
    }
}
