//! The wire codec: Cap'n Web messages and expressions to and from JSON text.
//!
//! Owns: parsing a frame into a [`RawMessage`] (with every malformed-input check and the exact
//! error type and message capnweb uses), evaluating an expression into a [`Value`] through an
//! [`Importer`], decoding the instructions of a peer's `remap` into the mapper form
//! ([`Program`], once per message), and encoding outgoing messages (a recorded [`Program`]
//! included) through an [`Exporter`]. It must not touch session tables itself: every reference
//! (`import`, `pipeline`, `export`, `promise`, `remap`) is handed to the importer/exporter,
//! which the session implements.
//!
//! A frame is parsed once, into the message and a [`Node`] tree borrowing from the frame's text;
//! evaluation then moves out of that tree.
//!
//! Submodules: `parse` (frames and message shapes), `node` (the parsed tree), `evaluate`
//! (expressions to values, and the acceptance rules of every special form), `program` (mapper
//! instructions to a [`Program`]), `encode` (values, programs and messages to text), `json`
//! (JavaScript-style number and string writers), and, with the hidden `bench-internals`
//! feature only, `bench` (entry points for the parse micro-benchmark in `bench/parse`).

#[cfg(feature = "bench-internals")]
pub mod bench;
mod encode;
mod evaluate;
mod json;
mod node;
mod parse;
mod program;
#[cfg(test)]
mod tests;

use crate::core::error::RpcError;
pub(crate) use crate::core::map::program::Capture;
use crate::core::map::program::Program;
use crate::core::stream::ReadableStream;
use crate::core::stub::{RpcPromise, Stub};
use crate::core::value::{PathKey, Value};
use crate::rt::BoxFuture;

pub(crate) use crate::core::Limits;

pub(crate) use node::Node;
#[cfg(feature = "net")]
pub(crate) use parse::decoding_cost;

/// A parsed top-level message whose expressions are not evaluated yet; they borrow from the
/// frame's text.
#[derive(Debug)]
pub(crate) enum RawMessage<'a> {
    Push(Node<'a>),
    Stream(Node<'a>),
    Pull(i64),
    Resolve(i64, Node<'a>),
    Reject(i64, Node<'a>),
    Release(i64, u64),
    Abort(Node<'a>),
    Pipe,
}

/// Parses one frame. Errors carry capnweb's error type and message (see TESTTARGET.md), all with
/// [`ErrorKind::Protocol`](crate::core::error::ErrorKind::Protocol): over-size `TypeError`, over-deep
/// `TypeError`, invalid JSON `SyntaxError`, and `Error: bad RPC message: <JSON>` for a shape
/// capnweb would refuse. A missing `abort` expression is given as `["undefined"]`.
pub(crate) fn parse_message<'a>(
    text: &'a str,
    limits: &Limits,
) -> Result<RawMessage<'a>, RpcError> {
    parse::parse_message(text, limits)
}

/// Turns references inside an expression into values. Implemented by the session.
pub(crate) trait Importer {
    /// `["import" | "pipeline", id, path?, args?]`. `promise` is true for `pipeline`.
    fn reference(
        &mut self,
        id: i64,
        path: &[PathKey],
        args: Option<Vec<Value>>,
        promise: bool,
    ) -> Result<Value, RpcError>;
    /// `["export", id]`: the peer introduces a stub.
    fn import_stub(&mut self, id: i64) -> Result<Value, RpcError>;
    /// `["promise", id]`: the peer introduces a promise.
    fn import_promise(&mut self, id: i64) -> Result<Value, RpcError>;
    /// `["remap", id, path, captures, instructions]`, the instructions decoded once.
    fn remap(
        &mut self,
        id: i64,
        path: Vec<PathKey>,
        captures: Vec<Capture>,
        program: Program,
    ) -> Result<Value, RpcError>;
    /// `["readable", id]`: the readable end of the pipe the peer made with `["pipe"]` (usable
    /// once).
    fn readable(&mut self, id: i64) -> Result<Value, RpcError>;
    /// A value that needs asynchronous work before delivery (a `Blob`'s bytes): becomes a
    /// promise, substituted before application code sees it.
    fn pending(&mut self, work: BoxFuture<'static, Result<Value, RpcError>>) -> Value;
}

/// Evaluates an expression, moving out of it. `depth` limit and bigint limit apply; dangerous
/// keys are stripped. On error, whatever was already built (including stubs the importer made)
/// is dropped; the importer's own errors are passed through unchanged.
pub(crate) fn evaluate(
    expr: Node<'_>,
    importer: &mut dyn Importer,
    limits: &Limits,
) -> Result<Value, RpcError> {
    evaluate::evaluate(expr, importer, limits)
}

/// How a stub or promise is written inside an outgoing message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum WireRef {
    /// `["import", id]`
    Import(i64),
    /// `["pipeline", id]` or `["pipeline", id, path]`
    Pipeline(i64, Vec<PathKey>),
    /// `["export", id]`
    Export(i64),
    /// `["promise", id]`
    Promise(i64),
}

/// Decides how stubs and promises in outgoing values are referenced. Implemented by the session.
pub(crate) trait Exporter {
    fn export_stub(&mut self, stub: &Stub) -> Result<WireRef, RpcError>;
    fn export_promise(&mut self, promise: &RpcPromise) -> Result<WireRef, RpcError>;
    /// A readable stream inside the message: make a pipe on the peer (a `["pipe"]` sent before
    /// this message) and pump the stream into it; returns the pipe's import id.
    fn pipe(&mut self, stream: &ReadableStream) -> Result<i64, RpcError>;
}

/// Options for encoding.
#[derive(Clone, Debug, Default)]
pub(crate) struct EncodeOptions {
    /// Include error stacks (redacted by default).
    pub expose_stacks: bool,
}

/// An outgoing message.
#[derive(Debug)]
pub(crate) enum OutMessage<'a> {
    /// `["push", ["pipeline", id, path, args?]]`
    Push {
        id: i64,
        path: &'a [PathKey],
        args: Option<&'a [Value]>,
    },
    /// `["push", ["remap", id, path, captures, instructions]]`, the instructions encoded from
    /// a recorded program (whose table references are written as they are).
    PushRemap {
        id: i64,
        path: &'a [PathKey],
        captures: &'a [WireRef],
        program: &'a Program,
    },
    /// `["stream", ["pipeline", id, path, args]]`: a stream operation, resolved unasked.
    Stream {
        id: i64,
        path: &'a [PathKey],
        args: &'a [Value],
    },
    /// `["pipe"]`
    Pipe,
    Pull(i64),
    Resolve(i64, &'a Value),
    Reject(i64, &'a RpcError),
    Release(i64, u64),
    Abort(&'a RpcError),
}

/// Encodes one message as a single line of JSON text. Fails only when the value nests deeper than
/// capnweb's fixed limit of 256 or the exporter fails; exports made before the failure are not
/// undone here. Error properties that cannot be encoded are dropped, as capnweb does, and
/// `reject`/`abort` never carry stubs.
pub(crate) fn encode(
    msg: &OutMessage<'_>,
    exporter: &mut dyn Exporter,
    options: &EncodeOptions,
) -> Result<String, RpcError> {
    encode::encode(msg, exporter, options, String::with_capacity(64))
}

/// Messages up to this size are encoded in a session's reused buffer and copied out at their
/// exact size (see [`encode_reusing`]); larger ones take the buffer with them.
const REUSED_BUFFER: usize = 16 * 1024;

/// [`encode()`] through `buffer`, a session's scratch space, so a message costs one allocation of
/// exactly its size: no growth steps while it is written, and a text whose capacity is its
/// length, which a WebSocket frame then holds without another allocation. A message larger
/// than [`REUSED_BUFFER`] leaves in the buffer itself, so a session never keeps a large one.
pub(crate) fn encode_reusing(
    msg: &OutMessage<'_>,
    exporter: &mut dyn Exporter,
    options: &EncodeOptions,
    buffer: &mut String,
) -> Result<String, RpcError> {
    buffer.clear();
    let mut out = encode::encode(msg, exporter, options, std::mem::take(buffer))?;
    if out.len() > REUSED_BUFFER {
        return Ok(out);
    }
    let text = out.as_str().to_owned();
    out.clear();
    *buffer = out;
    Ok(text)
}
