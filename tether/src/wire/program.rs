//! A peer's mapper: the instructions of a `remap`, decoded once into a [`Program`].
//!
//! Owns the translation of mapper instructions from the wire's expression format into the
//! mapper form. It runs when the `remap` expression is evaluated, once per message, not once
//! per mapped element. The forms are those of `evaluate` (it shares [`classify`]), with two
//! differences that keep the meaning the instructions had when they were evaluated from their
//! text on every run: a reference names the mapper's table, not the session's, and a malformed
//! part does not fail the message but becomes [`Expr::Fail`] at its place, so it rejects the
//! map when (and only if) a run reaches it. References to exports are such failures.
//!
//! Subtrees without references become [`Expr::Value`]s, which a run clones.

use std::borrow::Cow;
use std::sync::Arc;

use super::evaluate::{classify, unknown_special, Form};
use super::node::{force, Node};
use super::parse::depth_error;
use super::Limits;
use crate::core::error::RpcError;
use crate::core::map::program::{ErrorExpr, Expr, Program, Ref, Remap};
use crate::core::value::{is_prototype_key, Object, Value};

/// Decodes a mapper's instructions; each starts at depth 0, as each was evaluated on its own.
pub(super) fn decode_program(instructions: Vec<Node<'_>>, limits: &Limits) -> Program {
    Program {
        instructions: instructions
            .into_iter()
            .map(|instruction| decode(instruction, 0, limits))
            .collect(),
    }
}

fn exports_error() -> RpcError {
    RpcError::error("A mapper function cannot refer to exports.")
}

/// One expression at `depth` (the evaluator's depth rules).
fn decode(expr: Node<'_>, depth: usize, limits: &Limits) -> Expr {
    if depth >= limits.max_depth {
        return Expr::Fail(depth_error(limits.max_depth));
    }
    match expr {
        Node::Null => Expr::Value(Value::Null),
        Node::Bool(b) => Expr::Value(Value::Bool(b)),
        Node::Number(n) => Expr::Value(Value::Number(n)),
        Node::String(s) => Expr::Value(Value::String(s.into_owned())),
        Node::Object(map) => object(map, depth, limits),
        raw @ Node::Raw(..) => decode(force(raw), depth, limits),
        Node::Array(mut items) => {
            if let [Node::Array(inner)] = items.as_mut_slice() {
                return array(std::mem::take(inner), depth, limits);
            }
            match classify(&mut items, limits) {
                Ok(Some(form)) => special(form, depth, limits),
                Ok(None) => Expr::Fail(unknown_special(&items)),
                Err(error) => Expr::Fail(error),
            }
        }
    }
}

/// Elements one level below `depth`, as an array value or a call's arguments.
fn elements(items: Vec<Node<'_>>, depth: usize, limits: &Limits) -> Vec<Expr> {
    items
        .into_iter()
        .map(|item| decode(item, depth + 1, limits))
        .collect()
}

/// An array value: a plain value when no element holds a reference or fails.
fn array(items: Vec<Node<'_>>, depth: usize, limits: &Limits) -> Expr {
    let items = elements(items, depth, limits);
    if items.iter().all(|item| matches!(item, Expr::Value(_))) {
        let values = items.into_iter().filter_map(into_value).collect();
        return Expr::Value(Value::Array(values));
    }
    Expr::Array(items)
}

/// Object entries one level below `depth`. A prototype key whose value is plain can go at
/// once (evaluating it could neither fail nor have an effect); others are kept for the run to
/// evaluate and then drop.
fn entries(
    map: Vec<(Cow<'_, str>, Node<'_>)>,
    depth: usize,
    limits: &Limits,
) -> Vec<(String, Expr)> {
    let mut entries = Vec::with_capacity(map.len());
    for (key, item) in map {
        let item = decode(item, depth + 1, limits);
        if !(is_prototype_key(&key) && matches!(item, Expr::Value(_))) {
            entries.push((key.into_owned(), item));
        }
    }
    entries
}

fn object(map: Vec<(Cow<'_, str>, Node<'_>)>, depth: usize, limits: &Limits) -> Expr {
    let entries = entries(map, depth, limits);
    if entries
        .iter()
        .all(|(_, item)| matches!(item, Expr::Value(_)))
    {
        let values = entries
            .into_iter()
            .filter_map(|(key, item)| Some((key, into_value(item)?)))
            .collect();
        return Expr::Value(Value::Object(Object::from_unique(values)));
    }
    Expr::Object(entries)
}

fn into_value(expr: Expr) -> Option<Value> {
    match expr {
        Expr::Value(value) => Some(value),
        _ => None,
    }
}

fn special(form: Form<'_>, depth: usize, limits: &Limits) -> Expr {
    match form {
        Form::Literal(value) => Expr::Value(value),
        Form::Error { mut error, props } => {
            let props = entries(props, depth, limits);
            if props.iter().all(|(_, item)| matches!(item, Expr::Value(_))) {
                for (key, item) in props {
                    if let Some(value) = into_value(item) {
                        error.props.insert(key, value);
                    }
                }
                return Expr::Value(Value::Error(Box::new(error)));
            }
            Expr::Error(Box::new(ErrorExpr {
                name: error.name,
                message: error.message,
                stack: error.stack,
                props,
            }))
        }
        Form::Reference {
            id,
            path,
            args,
            promise,
        } => Expr::Ref(Box::new(Ref {
            id,
            path: path.into_vec(),
            args: args.map(|args| elements(args, depth, limits)),
            promise,
        })),
        Form::Introduce { .. } => Expr::Fail(exports_error()),
        Form::Readable(_)
        | Form::Writable(_)
        | Form::Blob { .. }
        | Form::Request { .. }
        | Form::Response { .. } => Expr::Fail(RpcError::protocol(
            "TypeError",
            "Streams, requests, responses and blobs cannot be used inside map().",
        )),
        Form::Remap {
            id,
            path,
            captures,
            instructions,
        } => Expr::Remap(Box::new(Remap {
            id,
            path: path.into_vec(),
            captures,
            program: Arc::new(decode_program(instructions, limits)),
        })),
    }
}
