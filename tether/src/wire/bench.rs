//! Not part of the API (feature `bench-internals`): the codec's entry points for the parse
//! micro-benchmark in `bench/parse`, which compares JSON parsers on the bench's frames.
//!
//! Evaluation runs against an importer that answers every reference with `null` (dropping call
//! arguments and mapper programs once built), so what is measured is text to message model.

use serde::Deserialize as _;

use super::{Capture, Importer, RawMessage};
use crate::core::error::RpcError;
use crate::core::map::program::Program;
use crate::core::value::{PathKey, Value};
use crate::core::Limits;
use crate::rt::BoxFuture;

/// Answers every reference with `null`; counts the references.
#[derive(Default)]
struct NullImporter(usize);

impl Importer for NullImporter {
    fn reference(
        &mut self,
        _: i64,
        _: &[PathKey],
        _: Option<Vec<Value>>,
        _: bool,
    ) -> Result<Value, RpcError> {
        self.0 += 1;
        Ok(Value::Null)
    }
    fn import_stub(&mut self, _: i64) -> Result<Value, RpcError> {
        self.0 += 1;
        Ok(Value::Null)
    }
    fn import_promise(&mut self, _: i64) -> Result<Value, RpcError> {
        self.0 += 1;
        Ok(Value::Null)
    }
    fn remap(
        &mut self,
        _: i64,
        _: Vec<PathKey>,
        _: Vec<Capture>,
        program: Program,
    ) -> Result<Value, RpcError> {
        self.0 += program.instructions.len();
        Ok(Value::Null)
    }
    fn readable(&mut self, _: i64) -> Result<Value, RpcError> {
        self.0 += 1;
        Ok(Value::Null)
    }
    fn pending(&mut self, work: BoxFuture<'static, Result<Value, RpcError>>) -> Value {
        // Never run: only the parse is measured.
        drop(work);
        self.0 += 1;
        Value::Null
    }
}

/// Parses one frame with every check and evaluates its expression, as a session does. Returns
/// the number of references met (something for the benchmark to keep).
pub fn parse_frame(text: &str) -> Result<usize, RpcError> {
    let limits = Limits::default();
    evaluate_message(super::parse_message(text, &limits)?, &limits)
}

/// Parses one frame with `deserializer` into the message model (no size or nesting checks, no
/// trailing-text check) and evaluates it: the same tree and evaluation, another JSON parser.
pub fn parse_with<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<usize, String> {
    let limits = Limits::default();
    match super::parse::Parsed::deserialize(deserializer).map_err(|e| e.to_string())? {
        super::parse::Parsed::Message(message) => {
            evaluate_message(message, &limits).map_err(|e| e.message)
        }
        super::parse::Parsed::Refused => Err("refused".to_owned()),
    }
}

fn evaluate_message(message: RawMessage<'_>, limits: &Limits) -> Result<usize, RpcError> {
    let mut importer = NullImporter::default();
    let expr = match message {
        RawMessage::Push(expr)
        | RawMessage::Stream(expr)
        | RawMessage::Resolve(_, expr)
        | RawMessage::Reject(_, expr)
        | RawMessage::Abort(expr) => expr,
        _ => return Ok(0),
    };
    let value = super::evaluate(expr, &mut importer, limits)?;
    drop(value);
    Ok(importer.0)
}
