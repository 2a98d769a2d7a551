//! Frame parsing: one text frame to a [`RawMessage`], in one pass.
//!
//! Owns the receive-side checks that happen before any expression is evaluated, in capnweb's
//! order: the size limit (in UTF-16 code units), a cheap non-recursive nesting pre-scan (so a
//! hostile `[[[[…` cannot exhaust the stack), JSON syntax (`SyntaxError`), and the top-level
//! message shape (`Error: bad RPC message: …`), following capnweb 0.12's `readLoop`.
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
    check_nesting(text, limits)?;
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

/// Rejects JSON nesting deeper than any expression within `max_depth` could need, without
/// recursion, and without the string-aware scan when the frame has too few brackets to nest
/// that deep. An array value `[[…]]` takes two JSON levels per value level, so the bound is
/// `2 * max_depth + 8`; the exact per-level check happens in `evaluate`.
fn check_nesting(text: &str, limits: &Limits) -> Result<(), RpcError> {
    let bound = limits.max_depth.saturating_mul(2).saturating_add(8);
    let bytes = text.as_bytes();
    if bytes.len() <= bound {
        return Ok(()); // too short to nest deeper than the bound
    }
    // Nesting never exceeds the number of opening brackets; counting them (strings included)
    // is a loop the compiler vectorizes, so large payloads skip the string-aware scan.
    if count_opening(bytes) <= bound {
        return Ok(());
    }
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        i += 1;
        match b {
            b'"' => i = string_end(bytes, i),
            b'[' | b'{' => {
                depth += 1;
                if depth > bound {
                    return Err(depth_error(limits.max_depth));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// The number of `[` and `{` bytes in `bytes`. Counted per 64-byte block into a `u8` (at most
/// 64 per block), a shape the compiler turns into vector compares.
fn count_opening(bytes: &[u8]) -> usize {
    let mut blocks = bytes.chunks_exact(64);
    let mut total = 0usize;
    for block in &mut blocks {
        let mut n = 0u8;
        for &b in block {
            n += u8::from(b == b'[') | u8::from(b == b'{');
        }
        total += usize::from(n);
    }
    total
        + blocks
            .remainder()
            .iter()
            .filter(|&&b| b == b'[' || b == b'{')
            .count()
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
    // Safe: `check_nesting` has bounded the nesting depth already.
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
