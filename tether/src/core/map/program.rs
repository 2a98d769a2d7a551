//! The mapper program: what a `map()` closure does, in a form of its own (rule P5).
//!
//! A [`Program`] is a list of instructions, each an [`Expr`]. They run in order on one input;
//! the last one's value is the result. Expressions refer to the mapper's own table: negative ids
//! are the captures (`-1` is the first), `0` is the input, `i > 0` is the result of instruction
//! `i`. Recording (`record`) produces a program, replay (`replay`) interprets it, and the wire
//! codec decodes a peer's `remap` into one (once per message) and encodes a recorded one (once
//! per send).
//!
//! This module owns the types only. It must not know the wire text: the codec maps these types
//! to and from Cap'n Web's expression format (`["pipeline", id, path, args?]`, `["remap", …]`).

use std::sync::Arc;

use crate::core::error::RpcError;
use crate::core::value::{PathKey, Value};

/// A mapper: instructions run in order; the last one's value is the result.
#[derive(Debug, Default)]
pub(crate) struct Program {
    pub(crate) instructions: Vec<Expr>,
}

/// One expression of a mapper.
#[derive(Debug)]
pub(crate) enum Expr {
    /// A value holding no references (no stubs, no promises): evaluated by cloning it.
    Value(Value),
    /// An array some of whose elements hold references.
    Array(Vec<Expr>),
    /// An object some of whose values hold references, keys in order. Keys naming
    /// `Object.prototype` members are evaluated, then left out, as the wire's evaluator does.
    Object(Vec<(String, Expr)>),
    /// An error some of whose properties hold references.
    Error(Box<ErrorExpr>),
    /// A call or property read on an entry of the mapper's table.
    Ref(Box<Ref>),
    /// A nested `map()` on an entry of the mapper's table.
    Remap(Box<Remap>),
    /// An expression the peer sent malformed: evaluating it fails with this error, at this
    /// point (so whatever came before it in the instruction still runs, as it would have when
    /// the instruction was evaluated from its text).
    Fail(RpcError),
}

/// `["pipeline" | "import", id, path, args?]` inside a mapper.
#[derive(Debug)]
pub(crate) struct Ref {
    /// The mapper-table id (see the module docs).
    pub(crate) id: i64,
    pub(crate) path: Vec<PathKey>,
    /// Call arguments; `None` reads the property at `path`.
    pub(crate) args: Option<Vec<Expr>>,
    /// `pipeline` (a promise) rather than `import` (a stub).
    pub(crate) promise: bool,
}

/// `["error", name, message, stack?, props]` whose properties hold references.
#[derive(Debug)]
pub(crate) struct ErrorExpr {
    pub(crate) name: String,
    pub(crate) message: String,
    pub(crate) stack: Option<String>,
    pub(crate) props: Vec<(String, Expr)>,
}

/// `["remap", id, path, captures, instructions]`: a nested map on a table entry.
#[derive(Debug)]
pub(crate) struct Remap {
    /// The mapper-table id of the subject.
    pub(crate) id: i64,
    pub(crate) path: Vec<PathKey>,
    /// The nested mapper's captures, named in the enclosing table.
    pub(crate) captures: Vec<Capture>,
    /// Shared by every run of the enclosing mapper.
    pub(crate) program: Arc<Program>,
}

/// A capture of a `remap`, as the sender names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Capture {
    /// `["import", id]`: an entry the sender imports from us. At the top of a message, one of
    /// our exports; inside a mapper, an entry of the enclosing mapper's table.
    Import(i64),
    /// `["export", id]`: a stub the sender exports. At the top of a message, a new import;
    /// inside a mapper, an error (a mapper cannot refer to exports).
    Export(i64),
}
