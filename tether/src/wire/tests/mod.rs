//! Unit tests of the wire codec, with a recording [`Importer`] and a fixed [`Exporter`].
//!
//! Literal wire strings come from the protocol page, the observed reference frames in
//! `shared/bench/README.md` and the malformed-input table in `shared/interop/TESTTARGET.md`.

#![allow(clippy::unwrap_used)]

mod encode;
mod evaluate;
mod fetch;
mod lazy;
mod parse;
mod program;
mod roundtrip;

use super::*;
use crate::core::map::program::{Expr, Program};
use crate::core::value::Value;

/// What the importer was asked to do.
#[derive(Debug)]
enum Call {
    Reference {
        id: i64,
        path: Vec<PathKey>,
        args: Option<Vec<Value>>,
        promise: bool,
    },
    ImportStub(i64),
    ImportPromise(i64),
    Remap {
        id: i64,
        path: Vec<PathKey>,
        captures: Vec<Capture>,
        program: Program,
    },
    Readable(i64),
    Pending,
}

/// Records every request; answers with placeholder values. Id 999 names no entry.
#[derive(Default)]
struct RecordingImporter {
    calls: Vec<Call>,
    stubs: bool,
}

impl RecordingImporter {
    fn with_stubs() -> Self {
        Self {
            calls: Vec::new(),
            stubs: true,
        }
    }

    fn placeholder(&self, label: String) -> Value {
        if self.stubs {
            Value::Stub(Stub::broken(RpcError::error(label)))
        } else {
            Value::String(label)
        }
    }
}

fn no_such_entry(id: i64) -> RpcError {
    RpcError::error(format!("no such entry on exports table: {id}"))
}

impl Importer for RecordingImporter {
    fn reference(
        &mut self,
        id: i64,
        path: &[PathKey],
        args: Option<Vec<Value>>,
        promise: bool,
    ) -> Result<Value, RpcError> {
        let path = path.to_vec();
        if id == 999 {
            return Err(no_such_entry(id));
        }
        let label = format!("{}:{id}", if promise { "pipeline" } else { "import" });
        self.calls.push(Call::Reference {
            id,
            path,
            args,
            promise,
        });
        Ok(self.placeholder(label))
    }

    fn import_stub(&mut self, id: i64) -> Result<Value, RpcError> {
        self.calls.push(Call::ImportStub(id));
        Ok(self.placeholder(format!("export:{id}")))
    }

    fn import_promise(&mut self, id: i64) -> Result<Value, RpcError> {
        self.calls.push(Call::ImportPromise(id));
        Ok(self.placeholder(format!("promise:{id}")))
    }

    fn remap(
        &mut self,
        id: i64,
        path: Vec<PathKey>,
        captures: Vec<Capture>,
        program: Program,
    ) -> Result<Value, RpcError> {
        if id == 999 {
            return Err(no_such_entry(id));
        }
        self.calls.push(Call::Remap {
            id,
            path,
            captures,
            program,
        });
        Ok(self.placeholder(format!("remap:{id}")))
    }

    fn readable(&mut self, id: i64) -> Result<Value, RpcError> {
        if id == 999 {
            return Err(no_such_entry(id));
        }
        self.calls.push(Call::Readable(id));
        let chunk = Value::String(format!("pipe:{id}"));
        Ok(Value::Readable(
            crate::core::stream::ReadableStream::from_chunks([chunk]),
        ))
    }

    fn pending(&mut self, work: crate::rt::BoxFuture<'static, Result<Value, RpcError>>) -> Value {
        drop(work);
        self.calls.push(Call::Pending);
        Value::String("pending".into())
    }
}

/// Answers every export request with the next of a fixed list of references (cycling).
struct FixedExporter {
    refs: Vec<WireRef>,
    next: usize,
    fail: bool,
}

impl FixedExporter {
    fn new(refs: Vec<WireRef>) -> Self {
        Self {
            refs,
            next: 0,
            fail: false,
        }
    }

    fn take(&mut self) -> Result<WireRef, RpcError> {
        if self.fail || self.refs.is_empty() {
            return Err(RpcError::error("export refused"));
        }
        let r = self.refs[self.next % self.refs.len()].clone();
        self.next += 1;
        Ok(r)
    }
}

impl Exporter for FixedExporter {
    fn export_stub(&mut self, _stub: &Stub) -> Result<WireRef, RpcError> {
        self.take()
    }

    fn export_promise(&mut self, _promise: &RpcPromise) -> Result<WireRef, RpcError> {
        self.take()
    }

    /// Pipes are numbered 1, 2, … in the order they are made.
    fn pipe(&mut self, stream: &crate::core::stream::ReadableStream) -> Result<i64, RpcError> {
        if self.fail || stream.take_source().is_none() {
            return Err(RpcError::error("pipe refused"));
        }
        self.next += 1;
        Ok(self.next as i64)
    }
}

fn limits() -> Limits {
    Limits::default()
}

/// Parses `["resolve", 1, <expr>]` and evaluates the expression.
fn eval_text(expr: &str) -> Result<Value, RpcError> {
    eval_with(expr, &mut RecordingImporter::default(), &limits())
}

fn eval_with(expr: &str, importer: &mut RecordingImporter, l: &Limits) -> Result<Value, RpcError> {
    match parse_message(&format!("[\"resolve\",1,{expr}]"), l)? {
        RawMessage::Resolve(1, json) => evaluate(json, importer, l),
        other => panic!("unexpected message {other:?}"),
    }
}

/// Element `i` of an array node (tests only: a missing element is a failed test).
impl std::ops::Index<usize> for Node<'_> {
    type Output = Self;
    fn index(&self, i: usize) -> &Self {
        match self {
            Node::Array(items) => &items[i],
            other => panic!("not an array: {other}"),
        }
    }
}

impl PartialEq<&str> for Node<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

/// Encodes a value as the expression of a resolve message and returns the expression text.
fn encode_value(value: &Value) -> String {
    encode_value_with(
        value,
        &mut FixedExporter::new(vec![WireRef::Export(-1)]),
        false,
    )
    .unwrap()
}

fn encode_value_with(
    value: &Value,
    exporter: &mut FixedExporter,
    expose_stacks: bool,
) -> Result<String, RpcError> {
    let options = EncodeOptions { expose_stacks };
    let text = encode(&OutMessage::Resolve(1, value), exporter, &options)?;
    let inner = text
        .strip_prefix("[\"resolve\",1,")
        .and_then(|t| t.strip_suffix(']'))
        .unwrap();
    Ok(inner.to_owned())
}

/// Asserts an error's JavaScript type and message.
#[track_caller]
fn assert_err(result: Result<impl std::fmt::Debug, RpcError>, name: &str, message: &str) {
    match result {
        Ok(v) => panic!("expected {name}: {message}, got {v:?}"),
        Err(e) => {
            assert_eq!(e.name, name, "error type (message: {})", e.message);
            assert_eq!(e.message, message);
        }
    }
}

/// `levels` nested array values written with the `[[…]]` escape, innermost empty.
fn nested_arrays(levels: usize) -> String {
    let mut s = String::with_capacity(levels * 4);
    for _ in 0..levels {
        s.push_str("[[");
    }
    for _ in 0..levels {
        s.push_str("]]");
    }
    s
}

/// `levels` nested objects `{"a":{"a":…1}}`.
fn nested_objects(levels: usize) -> String {
    let mut s = String::with_capacity(levels * 6);
    for _ in 0..levels {
        s.push_str("{\"a\":");
    }
    s.push('1');
    for _ in 0..levels {
        s.push('}');
    }
    s
}
