//! Hooks: what a stub or promise points at, and the operations every kind supports.
//!
//! A [`Hook`] is one of five kinds, each with its own rules:
//!
//! | kind | file | meaning |
//! | --- | --- | --- |
//! | `Local` | `crate::core::target` | a target in this process; the `Arc<Lineage>` is the lineage |
//! | `Import` | [`import`](super::import) | an entry of a session's import table (a remote stub or promise) |
//! | `Promise` | [`promise`] | a local pending result that queues calls until it resolves |
//! | `Value` | here | a settled result: calls follow property paths into it |
//! | `Error` | here | a broken reference: every use yields the error |
//!
//! Cloning a hook duplicates the reference (same lineage, same import entry); dropping it
//! releases. Operations never block: a call on a pending hook returns a new pending hook at once
//! (promise pipelining), and starting a call on a local target polls its future once in place (so
//! calls on one target start in the order they were made, rule P4) and spawns the rest.
//!
//! This module must not touch session tables: imports talk to their session only by message.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::Poll;

use futures_util::FutureExt;

use super::import::ImportRef;
use super::map::record;
use super::map::replay as map;
use super::promise::{self, PromiseCell};
use crate::context::CallContext;
use crate::core::copies;
use crate::core::error::{ErrorKind, RpcError, RpcResult};
use crate::core::stub::{RpcPromise, Stub};
use crate::core::target::{panic_error, report_uncaught, Lineage, Target};
use crate::core::value::{Name, PathKey, Value};
use crate::rt::{BoxFuture, TaskSink};

/// A callback run when a reference breaks.
pub(crate) type BrokenCallback = Box<dyn FnOnce(RpcError) + Send + 'static>;

/// What a stub or promise refers to. See the module docs.
#[derive(Clone)]
pub(crate) enum Hook {
    Local(Arc<Lineage>),
    Import(Arc<ImportRef>),
    Promise(Arc<PromiseCell>),
    Value(Arc<Value>),
    Error(Arc<RpcError>),
    /// A placeholder inside a `map()` closure being recorded.
    MapVar(Arc<record::MapVar>),
}

/// Where the unfinished part of a call runs. Calls that arrive through a session run in that
/// session's task set, so they are cancelled when it ends (rule L10); calls made by application
/// code run on the Tokio runtime.
#[derive(Clone)]
pub(crate) enum Spawner {
    Runtime,
    Session(Arc<dyn TaskSink>),
}

impl Spawner {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        match self {
            Spawner::Runtime => crate::rt::spawn(task),
            Spawner::Session(sink) => sink.spawn_task(task),
        }
    }
}

/// Polls `task` once right here, then hands what is left to `spawner` (see [`crate::rt::start`]).
pub(crate) fn start(task: BoxFuture<'static, ()>, spawner: &Spawner) {
    crate::rt::start(task, |rest| spawner.spawn(rest));
}

impl Hook {
    /// Turns a call's outcome into a hook. A returned promise is adopted, not nested.
    pub(crate) fn from_result(result: RpcResult) -> Hook {
        match result {
            Ok(Value::Promise(p)) if p.path.is_empty() => p.hook,
            Ok(Value::Promise(p)) => p.hook.get(&p.path, &Spawner::Runtime),
            Ok(value) => Hook::Value(Arc::new(value)),
            Err(error) => Hook::Error(Arc::new(error)),
        }
    }

    /// Calls the member at `path` (an empty path calls the target itself as a function).
    pub(crate) fn call(&self, path: &[PathKey], args: Vec<Value>, spawner: &Spawner) -> Hook {
        match self {
            Hook::Local(lineage) => local_call(lineage, path, args, spawner),
            Hook::Import(import) => import.send(path, Some(args), spawner),
            Hook::Promise(cell) => cell.call(path, args, spawner),
            Hook::Value(value) => match follow(value, path) {
                Followed::Hook(hook, rest) => hook.call(&rest, args, spawner),
                Followed::Value(_) => Hook::Error(Arc::new(RpcError::not_a_function(&join(path)))),
            },
            Hook::Error(error) => Hook::Error(error.clone()),
            Hook::MapVar(var) => var.record_call(path, Some(args), self),
        }
    }

    /// Reads the property at `path`, lazily and pipelinably. An empty path is a duplicate.
    pub(crate) fn get(&self, path: &[PathKey], spawner: &Spawner) -> Hook {
        if path.is_empty() {
            return self.clone();
        }
        match self {
            Hook::Local(lineage) => local_get(&lineage.target, path, spawner),
            Hook::Import(import) => import.send(path, None, spawner),
            Hook::Promise(cell) => cell.get(path, spawner),
            Hook::Value(value) => match follow(value, path) {
                Followed::Hook(hook, rest) => hook.get(&rest, spawner),
                Followed::Value(found) => match copies::charge(found) {
                    Ok(()) => Hook::Value(Arc::new(found.clone())),
                    Err(refused) => Hook::Error(Arc::new(refused)),
                },
            },
            Hook::Error(error) => Hook::Error(error.clone()),
            Hook::MapVar(var) => var.record_call(path, None, self),
        }
    }

    /// What a peer's `["import" | "pipeline", id, path, args?]` naming this hook evaluates to:
    /// a call (`args` given) or property read, as a promise (`pipeline`) or a stub (`import`).
    pub(crate) fn reference(
        &self,
        path: &[PathKey],
        args: Option<Vec<Value>>,
        promise: bool,
        spawner: &Spawner,
    ) -> Value {
        let result = match args {
            Some(args) => self.call(path, args, spawner),
            None => self.get(path, spawner),
        };
        if promise {
            Value::Promise(RpcPromise::from_hook(result))
        } else {
            Value::Stub(Stub { hook: result })
        }
    }

    /// Maps the value at `path` with a recorded mapper (rule P5): sent as one `remap` when the
    /// value is remote, replayed here otherwise.
    pub(crate) fn map(&self, path: &[PathKey], recording: record::Recorder) -> Hook {
        if let Hook::Import(import) = self {
            if import.slot.resolution().is_none() {
                return import.send_remap(path, recording);
            }
        }
        map::Mapper::local(recording).map(self, path)
    }

    /// Waits for the final value, with every promise inside replaced by its resolution.
    /// The value owns its own duplicates of any stubs (rule L7).
    pub(crate) fn resolve(self) -> BoxFuture<'static, RpcResult> {
        match self {
            Hook::Local(_) => Box::pin(std::future::ready(Ok(Value::Stub(Stub { hook: self })))),
            Hook::Import(import) => Box::pin(import.resolve()),
            Hook::Promise(cell) => Box::pin(cell.resolve()),
            Hook::Value(value) => {
                let value = match Arc::try_unwrap(value) {
                    Ok(value) => value,
                    Err(shared) => match copies::charge(&shared) {
                        Ok(()) => (*shared).clone(),
                        Err(refused) => return Box::pin(std::future::ready(Err(refused))),
                    },
                };
                substitute(value)
            }
            Hook::Error(error) => Box::pin(std::future::ready(Err((*error).clone()))),
            Hook::MapVar(_) => Box::pin(std::future::ready(Err(record::misuse()))),
        }
    }

    /// Registers `callback` to run if this reference breaks (disconnect, rejection).
    pub(crate) fn on_broken(&self, callback: BrokenCallback) {
        match self {
            Hook::Local(_) => {}
            Hook::Import(import) => import.on_broken(callback),
            Hook::Promise(cell) => cell.on_broken(callback),
            Hook::Value(value) => match &**value {
                Value::Stub(stub) => stub.hook.on_broken(callback),
                Value::Promise(p) => p.hook.on_broken(callback),
                _ => {}
            },
            Hook::Error(error) => run_callback(callback, (**error).clone()),
            Hook::MapVar(_) => {}
        }
    }
}

/// Runs a broken-callback, sending a panic to the uncaught-error hook.
pub(crate) fn run_callback(callback: BrokenCallback, error: RpcError) {
    if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(|| callback(error))) {
        report_uncaught(&panic_error("on_broken callback", panic.as_ref()));
    }
}

/// Names JavaScript peers treat as dangerous: never reachable as members (SYSTEM.md §8).
pub(crate) fn is_forbidden_name(name: &str) -> bool {
    matches!(
        name,
        "constructor"
            | "__proto__"
            | "__defineGetter__"
            | "__defineSetter__"
            | "__lookupGetter__"
            | "__lookupSetter__"
            | "hasOwnProperty"
            | "isPrototypeOf"
            | "propertyIsEnumerable"
            | "toLocaleString"
            | "toString"
            | "valueOf"
            | "toJSON"
    )
}

fn join(path: &[PathKey]) -> String {
    path.iter()
        .map(PathKey::as_display)
        .collect::<Vec<_>>()
        .join(".")
}

fn local_call(lineage: &Arc<Lineage>, path: &[PathKey], args: Vec<Value>, sp: &Spawner) -> Hook {
    match path {
        [] => start_call(lineage.clone(), Name::from(""), args, sp),
        [PathKey::Name(method)] if !is_forbidden_name(method) => {
            start_call(lineage.clone(), method.clone(), args, sp)
        }
        [last] => Hook::Error(Arc::new(RpcError::not_a_function(&last.as_display()))),
        [first, rest @ ..] => {
            local_get(&lineage.target, std::slice::from_ref(first), sp).call(rest, args, sp)
        }
    }
}

fn local_get(target: &Arc<dyn Target>, path: &[PathKey], sp: &Spawner) -> Hook {
    let (first, rest) = match path.split_first() {
        Some(split) => split,
        None => return Hook::Error(Arc::new(RpcError::error("empty property path"))),
    };
    let hook = match first {
        PathKey::Name(name) if !is_forbidden_name(name) => {
            start_get(target.clone(), name.clone(), sp)
        }
        _ => Hook::Value(Arc::new(Value::Undefined)),
    };
    hook.get(rest, sp)
}

/// Starts `target.call(method, args)` once its promise arguments have resolved (rule P2). A call
/// from a peer runs in a new execution context (rule L9); the lineage is held until the call
/// returns, so a context that created the target lasts at least that long.
fn start_call(lineage: Arc<Lineage>, method: Name, args: Vec<Value>, sp: &Spawner) -> Hook {
    // Substituting may copy results the peer's push refers to: charged to that push.
    let has_promises = args.iter().any(contains_promise);
    let charge = has_promises.then(copies::current).flatten();
    let work = async move {
        let args = if has_promises {
            let substituted = substitute(Value::Array(args));
            let substituted = match charge {
                Some(charge) => copies::within(charge, substituted).await?,
                None => substituted.await?,
            };
            match substituted {
                Value::Array(args) => args,
                _ => {
                    let lost = "argument substitution lost the argument list";
                    return Err(RpcError::error(lost));
                }
            }
        } else {
            args
        };
        guard_panics(&method, lineage.target.call(&method, args)).await
    };
    match sp {
        Spawner::Session(sink) => run_on_cell(sp, CallContext::scope(sink.clone(), work)),
        Spawner::Runtime => run_on_cell(sp, work),
    }
}

fn start_get(target: Arc<dyn Target>, name: Name, sp: &Spawner) -> Hook {
    run_on_cell(
        sp,
        async move { guard_panics(&name, target.get(&name)).await },
    )
}

/// Runs a target's future, turning a panic into an error for the caller and a report for the
/// uncaught-error hook.
async fn guard_panics(member: &str, fut: BoxFuture<'_, RpcResult>) -> RpcResult {
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            report_uncaught(&panic_error(&format!("method '{member}'"), panic.as_ref()));
            Err(RpcError::error(format!("Internal error in '{member}'.")))
        }
    }
}

/// Runs `work` (first poll in place) and returns a hook for its outcome: the outcome itself if
/// it finished at once (no promise cell, no task), else a pending promise that the rest of the
/// work, spawned, settles.
pub(crate) fn run_on_cell(
    sp: &Spawner,
    work: impl std::future::Future<Output = RpcResult> + Send + 'static,
) -> Hook {
    let mut work: BoxFuture<'static, RpcResult> = Box::pin(work);
    match crate::rt::poll_once(&mut work, "call") {
        Some(Poll::Ready(result)) => Hook::from_result(result),
        Some(Poll::Pending) => {
            let cell = PromiseCell::new();
            let settle = promise::SettleGuard::new(cell.clone());
            sp.spawn(Box::pin(async move {
                settle.settle(Hook::from_result(work.await));
            }));
            // Spawning polls nothing here, but a sink that is closed drops the task at once,
            // which settles the cell (cancelled) before this returns.
            cell.resolution().unwrap_or(Hook::Promise(cell))
        }
        None => Hook::Error(Arc::new(canceled())), // It panicked; the hook has been told.
    }
}

/// The outcome of following a property path into a value.
enum Followed<'a> {
    /// The path reached a reference; the rest of the path applies to it.
    Hook(Hook, Vec<PathKey>),
    /// The path ended on plain data (`undefined` where it led nowhere), not copied yet.
    Value(&'a Value),
}

const UNDEFINED: &Value = &Value::Undefined;

fn follow<'a>(value: &'a Value, path: &[PathKey]) -> Followed<'a> {
    let mut current = value;
    for (i, key) in path.iter().enumerate() {
        current = match (current, key) {
            (Value::Stub(stub), _) => return Followed::Hook(stub.hook.clone(), path[i..].to_vec()),
            (Value::Promise(p), _) => {
                let mut rest = p.path.clone();
                rest.extend_from_slice(&path[i..]);
                return Followed::Hook(p.hook.clone(), rest);
            }
            (_, PathKey::Name(name)) if is_forbidden_name(name) => {
                return Followed::Value(UNDEFINED)
            }
            (Value::Object(object), PathKey::Name(name)) => match object.get(name) {
                Some(v) => v,
                None => return Followed::Value(UNDEFINED),
            },
            (Value::Object(object), PathKey::Index(index)) => {
                match object.get(&index.to_string()) {
                    Some(v) => v,
                    None => return Followed::Value(UNDEFINED),
                }
            }
            (Value::Array(items), PathKey::Index(index)) => {
                match usize::try_from(*index).ok().and_then(|i| items.get(i)) {
                    Some(v) => v,
                    None => return Followed::Value(UNDEFINED),
                }
            }
            _ => return Followed::Value(UNDEFINED),
        };
    }
    match current {
        Value::Stub(stub) => Followed::Hook(stub.hook.clone(), Vec::new()),
        Value::Promise(p) => Followed::Hook(p.hook.clone(), p.path.clone()),
        other => Followed::Value(other),
    }
}

/// Substituting promises in `args` may copy results a peer's push refers to: the charge of
/// that push (`core::copies`), if one is being evaluated and `args` hold promises.
pub(crate) fn substitution_charge(args: &[Value]) -> Option<Arc<copies::Charge>> {
    args.iter()
        .any(contains_promise)
        .then(copies::current)
        .flatten()
}

pub(crate) fn contains_promise(value: &Value) -> bool {
    match value {
        Value::Promise(_) => true,
        Value::Array(items) => items.iter().any(contains_promise),
        Value::Object(object) => object.iter().any(|(_, v)| contains_promise(v)),
        _ => false,
    }
}

/// Replaces every promise inside `value` by its resolution (rule P2: the receiver substitutes
/// before delivery). A rejected promise makes the whole substitution fail with its error.
pub(crate) fn substitute(value: Value) -> BoxFuture<'static, RpcResult> {
    if !contains_promise(&value) {
        return Box::pin(std::future::ready(Ok(value)));
    }
    Box::pin(async move {
        match value {
            Value::Promise(p) => {
                let resolved = p.await?;
                substitute(resolved).await
            }
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(substitute(item).await?);
                }
                Ok(Value::Array(out))
            }
            Value::Object(object) => {
                let mut out = crate::core::value::Object::new();
                for (k, v) in object {
                    out.insert(k, substitute(v).await?);
                }
                Ok(Value::Object(out))
            }
            other => Ok(other),
        }
    })
}

impl RpcPromise {
    pub(crate) fn from_hook(hook: Hook) -> Self {
        RpcPromise {
            hook,
            path: Vec::new(),
        }
    }
}

/// The error given to calls cancelled because their result or session went away.
pub(crate) fn canceled() -> RpcError {
    RpcError::error("RPC call was canceled.").with_kind(ErrorKind::Canceled)
}
