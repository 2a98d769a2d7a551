//! Frame parsing: one text frame to a [`RawMessage`].
//!
//! Owns the receive-side checks that happen before any expression is evaluated, in capnweb's
//! order: the size limit (in UTF-16 code units), a cheap non-recursive nesting pre-scan (so a
//! hostile `[[[[…` cannot exhaust the stack), JSON syntax (`SyntaxError`), and the top-level
//! message shape (`Error: bad RPC message: …`), following capnweb 0.12's `readLoop`.

use serde_json::Value as Json;

use super::json::{as_id, stringify};
use super::{Limits, RawMessage};
use crate::core::error::RpcError;

pub(super) fn parse_message(text: &str, limits: &Limits) -> Result<RawMessage, RpcError> {
    check_size(text, limits.max_message_size)?;
    check_nesting(text, limits)?;
    let json = parse_json(text)?;
    match json {
        Json::Array(mut items) => match shape(&mut items) {
            Some(message) => Ok(message),
            None => Err(bad_message(&Json::Array(items))),
        },
        other => Err(bad_message(&other)),
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
/// recursion. An array value `[[…]]` takes two JSON levels per value level, so the bound is
/// `2 * max_depth + 8`; the exact per-level check happens in `evaluate`.
fn check_nesting(text: &str, limits: &Limits) -> Result<(), RpcError> {
    let bound = limits.max_depth.saturating_mul(2).saturating_add(8);
    let bytes = text.as_bytes();
    if bytes.len() <= bound {
        return Ok(()); // too short to nest deeper than the bound
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

/// `JSON.parse`: exactly one JSON value, optionally surrounded by whitespace.
fn parse_json(text: &str) -> Result<Json, RpcError> {
    let mut de = serde_json::Deserializer::from_str(text);
    // Safe: `check_nesting` has bounded the nesting depth already.
    de.disable_recursion_limit();
    let mut stream = de.into_iter::<Json>();
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
fn bad_message(message: &Json) -> RpcError {
    RpcError::protocol("Error", format!("bad RPC message: {}", stringify(message)))
}

/// A refcount: a non-negative integer.
fn as_refcount(value: &Json) -> Option<u64> {
    as_id(value).and_then(|n| u64::try_from(n).ok())
}

/// capnweb's acceptance rules for a top-level array. Returns `None` (leaving `items` intact, for
/// the error message) when the message is malformed; only takes parts out once it is accepted.
fn shape(items: &mut [Json]) -> Option<RawMessage> {
    let tag = items.first()?.as_str()?;
    let message = match tag {
        "push" | "stream" => {
            let push = tag == "push";
            let expr = std::mem::take(items.get_mut(1)?);
            if push {
                RawMessage::Push(expr)
            } else {
                RawMessage::Stream(expr)
            }
        }
        "pull" => RawMessage::Pull(as_id(items.get(1)?)?),
        "resolve" | "reject" => {
            let id = as_id(items.get(1)?)?;
            let resolve = tag == "resolve";
            let expr = std::mem::take(items.get_mut(2)?);
            if resolve {
                RawMessage::Resolve(id, expr)
            } else {
                RawMessage::Reject(id, expr)
            }
        }
        "release" => {
            let id = as_id(items.get(1)?)?;
            let refcount = as_refcount(items.get(2)?)?;
            RawMessage::Release(id, refcount)
        }
        "abort" => match items.get_mut(1) {
            Some(expr) => RawMessage::Abort(std::mem::take(expr)),
            // capnweb evaluates the missing element as `undefined`.
            None => RawMessage::Abort(Json::Array(vec![Json::from("undefined")])),
        },
        "pipe" => RawMessage::Pipe,
        _ => return None,
    };
    Some(message)
}
