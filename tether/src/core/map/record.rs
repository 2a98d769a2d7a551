//! `map()` on the calling side: recording a mapper closure as a [`Program`] (rule P5).
//!
//! [`RpcPromise::map`](crate::RpcPromise::map) runs the closure once, on a placeholder. While it
//! runs, a thread-local recorder is active: calls on the placeholder (and on anything derived
//! from it) and on any other stub become instructions instead of messages, and the stubs they
//! use become captures. The closure is synchronous, so the thread-local cannot leak across an
//! `.await`. The recording is then sent as one `remap` (or replayed locally if the subject is
//! local), so `list.map(|x| api.call("lookup", vec![x.into()]))` costs one round trip.
//!
//! Values the mapper passes or returns are moved into the program; stubs and promises inside
//! them become table references. A value that could not be sent (nesting 256 levels deep) fails
//! the recording, wherever it would run. This module must not know the wire text.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, MutexGuard};

use super::program::{ErrorExpr, Expr, Program, Ref};
use crate::core::error::RpcError;
use crate::core::hook::Hook;
use crate::core::limits::{serialize_depth_error, MAX_SERIALIZE_DEPTH};
use crate::core::stub::RpcPromise;
use crate::core::value::{PathKey, Value};

/// A mapper being recorded.
#[derive(Default)]
pub(crate) struct Recorder {
    /// Stubs the mapper uses from outside (`-1` is the first).
    pub(crate) captures: Vec<Hook>,
    /// The instructions so far; instruction `i` is referenced as `i + 1`.
    pub(crate) program: Program,
    /// The first error met while recording (reported when the map is sent).
    pub(crate) error: Option<RpcError>,
}

/// A placeholder inside a mapper: the input (index 0) or an instruction's result.
pub(crate) struct MapVar {
    recorder: Arc<Mutex<Recorder>>,
    index: i64,
}

thread_local! {
    static ACTIVE: RefCell<Option<Arc<Mutex<Recorder>>>> = const { RefCell::new(None) };
}

fn lock(recorder: &Mutex<Recorder>) -> MutexGuard<'_, Recorder> {
    recorder.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// The recorder of the mapper running on this thread, if any.
pub(crate) fn active() -> Option<Arc<Mutex<Recorder>>> {
    ACTIVE.with(|a| a.borrow().clone())
}

/// Runs `mapper` on a placeholder with a recorder active; returns the finished recording.
pub(crate) fn record(mapper: impl FnOnce(RpcPromise) -> Value) -> Result<Recorder, RpcError> {
    let recorder = Arc::new(Mutex::new(Recorder::default()));
    let outer = ACTIVE.with(|a| a.replace(Some(recorder.clone())));
    if outer.is_some() {
        ACTIVE.with(|a| *a.borrow_mut() = outer);
        return Err(RpcError::error(
            "Nested map() calls inside a mapper are not supported yet.",
        ));
    }
    let input = RpcPromise::from_hook(Hook::MapVar(Arc::new(MapVar {
        recorder: recorder.clone(),
        index: 0,
    })));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| mapper(input)));
    ACTIVE.with(|a| *a.borrow_mut() = None);
    let result = match result {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    let mut guard = lock(&recorder);
    if let Some(error) = guard.error.take() {
        return Err(error);
    }
    let last = guard.expr(result, 0)?;
    guard.program.instructions.push(last);
    Ok(std::mem::take(&mut *guard))
}

impl MapVar {
    pub(crate) fn record_call(
        &self,
        path: &[PathKey],
        args: Option<Vec<Value>>,
        hook: &Hook,
    ) -> Hook {
        record_on(&self.recorder, hook, path, args)
    }
}

/// Records a call (`args` given) or property read on `hook` into `recorder`.
pub(crate) fn record_on(
    recorder: &Arc<Mutex<Recorder>>,
    hook: &Hook,
    path: &[PathKey],
    args: Option<Vec<Value>>,
) -> Hook {
    let mut guard = lock(recorder);
    let subject = guard.reference(hook);
    let args = args.map(|args| {
        args.into_iter()
            .map(|arg| guard.expr(arg, 1))
            .collect::<Result<Vec<_>, _>>()
    });
    match args.transpose() {
        Ok(args) => guard.program.instructions.push(Expr::Ref(Box::new(Ref {
            id: subject,
            path: path.to_vec(),
            args,
            promise: true,
        }))),
        Err(error) => {
            guard.error.get_or_insert(error);
        }
    }
    let index = guard.program.instructions.len() as i64;
    Hook::MapVar(Arc::new(MapVar {
        recorder: recorder.clone(),
        index,
    }))
}

impl Recorder {
    /// The mapper-table id for `hook`: a placeholder's own index, or a capture.
    fn reference(&mut self, hook: &Hook) -> i64 {
        if let Hook::MapVar(var) = hook {
            return var.index;
        }
        let position = self.captures.iter().position(|c| same_reference(c, hook));
        let position = position.unwrap_or_else(|| {
            self.captures.push(hook.clone());
            self.captures.len() - 1
        });
        -(position as i64) - 1
    }
}

fn same_reference(a: &Hook, b: &Hook) -> bool {
    match (a, b) {
        (Hook::Local(x), Hook::Local(y)) => Arc::ptr_eq(x, y),
        (Hook::Import(x), Hook::Import(y)) => Arc::ptr_eq(&x.slot, &y.slot),
        (Hook::Promise(x), Hook::Promise(y)) => Arc::ptr_eq(x, y),
        _ => false,
    }
}

impl Recorder {
    /// `value` as an expression at `depth`, its stubs and promises turned into references.
    /// Fails where sending it would: at [`MAX_SERIALIZE_DEPTH`] levels (an error property that
    /// deep is left out instead, as the encoder leaves it out).
    fn expr(&mut self, value: Value, depth: usize) -> Result<Expr, RpcError> {
        if !holds_refs(&value, depth)? {
            return Ok(Expr::Value(value));
        }
        Ok(match value {
            Value::Array(items) => Expr::Array(
                items
                    .into_iter()
                    .map(|item| self.expr(item, depth + 1))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(object) => Expr::Object(
                object
                    .into_iter()
                    .map(|(key, item)| Ok((key, self.expr(item, depth + 1)?)))
                    .collect::<Result<_, RpcError>>()?,
            ),
            Value::Error(error) => {
                let error = *error;
                let mut props = Vec::with_capacity(error.props.len());
                for (key, item) in error.props {
                    if let Ok(item) = self.expr(item, depth + 1) {
                        props.push((key, item));
                    }
                }
                Expr::Error(Box::new(ErrorExpr {
                    name: error.name,
                    message: error.message,
                    stack: error.stack,
                    props,
                }))
            }
            Value::Stub(stub) => Expr::Ref(Box::new(Ref {
                id: self.reference(&stub.hook),
                path: Vec::new(),
                args: None,
                promise: false,
            })),
            Value::Promise(promise) => Expr::Ref(Box::new(Ref {
                id: self.reference(&promise.hook),
                path: promise.path.clone(),
                args: None,
                promise: true,
            })),
            other => Expr::Value(other),
        })
    }
}

/// Whether `value` (at `depth`) holds a stub or promise. Fails on nesting the encoder refuses;
/// an error property it would leave out counts as holding none.
fn holds_refs(value: &Value, depth: usize) -> Result<bool, RpcError> {
    if depth >= MAX_SERIALIZE_DEPTH {
        return Err(serialize_depth_error());
    }
    let mut found = false;
    match value {
        Value::Stub(_) | Value::Promise(_) => found = true,
        Value::Array(items) => {
            for item in items {
                found |= holds_refs(item, depth + 1)?;
            }
        }
        Value::Object(object) => {
            for (_, item) in object.iter() {
                found |= holds_refs(item, depth + 1)?;
            }
        }
        Value::Error(error) => {
            found = error
                .props
                .iter()
                .any(|(_, item)| matches!(holds_refs(item, depth + 1), Ok(true)));
        }
        _ => {}
    }
    Ok(found)
}

/// The error for using a placeholder outside its mapper.
pub(crate) fn misuse() -> RpcError {
    RpcError::error(
        "A map() placeholder was used outside its mapper function; mappers must have no side effects.",
    )
}
