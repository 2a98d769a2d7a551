//! The peer's messages: `push`, `pull`, `resolve`, `reject`, `release`, `abort`, and the
//! importer that turns references in their expressions into hooks on our tables.
//!
//! Any malformed or hostile message ends this session only, with an `abort` carrying the error
//! (never a panic): the error types and messages are capnweb's (see `TESTTARGET.md`).

use std::sync::Arc;

use super::driver::{Core, Ending};
use super::exports::ExportTable;
use super::imports::{ImportTable, Introduced};
use super::trace;
use crate::core::copies::{self, CopyQuota};
use crate::core::error::RpcError;
use crate::core::hook::{self, Hook, Spawner};
use crate::core::link::{Command, SessionLink};
use crate::core::map::program::Program;
use crate::core::map::replay::{MapBudget, MapRuns, Mapper};
use crate::core::stream;
use crate::core::stub::{RpcPromise, Stub};
use crate::core::value::{PathKey, Value};
use crate::rt::BoxFuture;
use crate::wire::{self, Capture, Importer, Limits, Node, RawMessage};

impl Core {
    pub(super) fn handle_frame(&mut self, text: &str) {
        let outcome = match wire::parse_message(text, &self.options.limits) {
            Ok(message) => self.handle_message(message),
            Err(error) => Err(error),
        };
        if let Err(error) = outcome {
            self.end(Ending::protocol(error));
        }
    }

    fn handle_message(&mut self, message: RawMessage<'_>) -> Result<(), RpcError> {
        match message {
            RawMessage::Push(expr) => {
                let id = self.add_answer(expr)?;
                self.trace_answer(id);
            }
            RawMessage::Stream(expr) => {
                let id = self.add_answer(expr)?;
                self.trace_answer(id);
                self.exports.mark_pulled(id)?;
                if let Some(entry) = self.exports.get_mut(id) {
                    entry.auto_release = true;
                }
                self.resolve_export(id);
            }
            RawMessage::Pipe => {
                let (writer, readable) = stream::pipe(self.options.quotas.max_stream_buffer);
                self.exports.add_pipe(writer.hook, readable);
            }
            RawMessage::Pull(id) => {
                if self.exports.mark_pulled(id)? {
                    self.resolve_export(id);
                }
            }
            RawMessage::Resolve(id, expr) => {
                // Looked up before the value is evaluated, as capnweb does: an id the value
                // itself introduces is not the import being resolved.
                let known = self.imports.get_mut(id).is_some();
                let value = self.evaluate(expr)?;
                if known {
                    self.settle_import(id, Ok(value));
                }
            }
            RawMessage::Reject(id, expr) => {
                let known = self.imports.get_mut(id).is_some();
                let value = self.evaluate(expr)?;
                if known {
                    self.settle_import(id, Err(error_from_value(value)));
                }
            }
            RawMessage::Release(id, count) => {
                let released = self.exports.release(id, count)?;
                if released.is_some() {
                    self.traces.answered(id, None);
                }
                drop(released); // Outside the table borrow: may run a disposer.
            }
            RawMessage::Abort(expr) => {
                let reason = match self.evaluate(expr) {
                    Ok(value) => error_from_value(value),
                    Err(error) => error,
                };
                self.end(Ending::peer_abort(reason));
            }
        }
        Ok(())
    }

    /// Evaluates a push's (or stream's) expression into its answer, with the charge of the
    /// copies it made of results we hold (`core::copies`).
    fn add_answer(&mut self, expr: Node<'_>) -> Result<i64, RpcError> {
        let mut quota = std::mem::replace(&mut self.copies, CopyQuota::new(0));
        let (value, charge) = copies::charging(&mut quota, || self.evaluate(expr));
        self.copies = quota;
        Ok(self
            .exports
            .add_answer(Hook::from_result(Ok(value?)), charge))
    }

    /// Starts tracing answer `id` if its message was a call and calls are traced.
    fn trace_answer(&mut self, id: i64) {
        if let Some((target, member)) = self.traced_call.take() {
            self.traces.incoming(id, target, &member);
        }
    }

    fn evaluate(&mut self, expr: Node<'_>) -> Result<Value, RpcError> {
        self.traced_call = None;
        let mut refs = Refs {
            traced_call: trace::calls_enabled().then_some(&mut self.traced_call),
            imports: &mut self.imports,
            exports: &mut self.exports,
            link: &self.link,
            limits: &self.options.limits,
            budget: None,
            calls_left: &mut self.calls_left,
            max_calls: self.options.quotas.max_calls_in_flight,
            map_runs: &self.map_runs,
        };
        wire::evaluate(expr, &mut refs, &self.options.limits)
    }

    /// A promise we imported settled: hand the result to its handles and release the entry
    /// (its resolution replaces it). Unknown or released ids are ignored, as capnweb does.
    ///
    /// A value holding a stub or promise of the very import it resolves would be a reference
    /// cycle (the slot holding itself, never released): it is refused, as JavaScript refuses a
    /// promise resolved to itself, and what it holds is released.
    fn settle_import(&mut self, id: i64, outcome: Result<Value, RpcError>) {
        let Some(entry) = self.imports.remove(id) else {
            return;
        };
        self.traces.settled(id, Some(outcome.as_ref().map(drop)));
        let resolution = match outcome {
            Ok(value) if holds_slot(&value, &entry.slot) => {
                drop(value);
                Hook::Error(Arc::new(RpcError::type_error(format!(
                    "Chaining cycle detected: import {id} was resolved to a value holding itself."
                ))))
            }
            Ok(value) => Hook::from_result(Ok(value)),
            Err(error) => Hook::Error(Arc::new(error)),
        };
        self.release_import(id, entry.remote_refcount);
        entry.slot.settle(resolution.clone());
        for callback in entry.on_broken {
            resolution.on_broken(callback);
        }
    }

    /// The peer wants export `id`'s resolution: send it now if the answer is already settled
    /// (encoded straight from the value the export holds: no task, no command, no copy), or
    /// start waiting for it.
    pub(super) fn resolve_export(&mut self, id: i64) {
        let settled = match self.exports.hook(id) {
            Some(Hook::Value(value)) if !hook::contains_promise(value) => {
                Hook::Value(value.clone())
            }
            Some(Hook::Error(error)) => Hook::Error(error.clone()),
            Some(_) => return self.start_resolving(id),
            None => return,
        };
        self.pending_pulls += 1;
        match &settled {
            Hook::Value(value) => self.send_settled(id, Ok(value)),
            Hook::Error(error) => self.send_settled(id, Err(error)),
            _ => {}
        }
    }

    /// Starts waiting for export `id` to settle; the outcome comes back as `Command::Settled`.
    pub(super) fn start_resolving(&mut self, id: i64) {
        let Some(hook) = self.exports.hook(id).cloned() else {
            return;
        };
        self.pending_pulls += 1;
        let link = self.link.clone();
        hook::start(
            Box::pin(async move {
                let result = hook.resolve().await;
                let _ = link.send(Command::Settled {
                    export_id: id,
                    result: Box::new(result),
                });
            }),
            &Spawner::Session(self.link.clone()),
        );
    }
}

/// Whether `value` holds a stub or promise of `slot` itself.
fn holds_slot(value: &Value, slot: &Arc<crate::core::import::ImportSlot>) -> bool {
    let is_slot =
        |hook: &Hook| matches!(hook, Hook::Import(import) if Arc::ptr_eq(&import.slot, slot));
    match value {
        Value::Stub(stub) => is_slot(&stub.hook),
        Value::Promise(promise) => is_slot(&promise.hook),
        Value::Array(items) => items.iter().any(|v| holds_slot(v, slot)),
        Value::Object(object) => object.iter().any(|(_, v)| holds_slot(v, slot)),
        _ => false,
    }
}

/// Converts a rejection value to an error (JavaScript may throw anything).
pub(super) fn error_from_value(value: Value) -> RpcError {
    match value {
        Value::Error(error) => *error,
        other => RpcError::error(format!(
            "Rejected with a non-Error value ({})",
            other.type_name()
        ))
        .with_prop("value", other),
    }
}

/// The importer for one evaluation: references to our exports become hooks on them; the peer's
/// introductions become imports.
struct Refs<'a> {
    imports: &'a mut ImportTable,
    exports: &'a mut ExportTable,
    link: &'a Arc<SessionLink>,
    limits: &'a Limits,
    /// Shared by every `map()` in this message; made when the first `remap` is met.
    budget: Option<MapBudget>,
    /// Calls this session may still start before the quota of calls in flight refuses them.
    calls_left: &'a mut usize,
    max_calls: usize,
    /// The session's count of map callback runs.
    map_runs: &'a MapRuns,
    /// Where to note each call met (target id, member), when calls are traced.
    traced_call: Option<&'a mut Option<(i64, String)>>,
}

impl Importer for Refs<'_> {
    fn reference(
        &mut self,
        id: i64,
        path: &[PathKey],
        args: Option<Vec<Value>>,
        promise: bool,
    ) -> Result<Value, RpcError> {
        let hook = self
            .exports
            .hook(id)
            .ok_or_else(|| RpcError::no_such_entry(id))?;
        if args.is_some() {
            if *self.calls_left == 0 {
                // Refused, not queued: the arguments (and any stubs in them) are released now.
                drop(args);
                trace::call_refused(id, self.max_calls);
                let refused = RpcError::range_error(format!(
                    "Too many calls in flight on this session (the quota is {}); call refused.",
                    self.max_calls
                ));
                return Ok(if promise {
                    Value::Promise(RpcPromise::rejected(refused))
                } else {
                    Value::Stub(Stub::broken(refused))
                });
            }
            *self.calls_left -= 1;
            if let Some(slot) = self.traced_call.as_deref_mut() {
                *slot = Some((id, trace::member(path)));
            }
        }
        let spawner = Spawner::Session(self.link.clone());
        Ok(hook.reference(path, args, promise, &spawner))
    }

    fn import_stub(&mut self, id: i64) -> Result<Value, RpcError> {
        Ok(match self.imports.introduce(id, false, self.link) {
            Introduced::Handle(handle) => Value::Stub(Stub {
                hook: Hook::Import(handle),
            }),
            Introduced::Reused => Value::Stub(Stub::broken(RpcError::error(
                "Bug in RPC system: The peer reused an export ID.",
            ))),
        })
    }

    fn import_promise(&mut self, id: i64) -> Result<Value, RpcError> {
        Ok(match self.imports.introduce(id, true, self.link) {
            Introduced::Handle(handle) => {
                Value::Promise(RpcPromise::from_hook(Hook::Import(handle)))
            }
            Introduced::Reused => Value::Promise(RpcPromise::rejected(RpcError::error(
                "Bug in RPC system: The peer sent a promise reusing an existing export ID.",
            ))),
        })
    }

    fn remap(
        &mut self,
        id: i64,
        path: Vec<PathKey>,
        captures: Vec<Capture>,
        program: Program,
    ) -> Result<Value, RpcError> {
        let subject = self
            .exports
            .hook(id)
            .cloned()
            .ok_or_else(|| RpcError::no_such_entry(id))?;
        let mut hooks = Vec::with_capacity(captures.len());
        for capture in captures {
            hooks.push(match capture {
                Capture::Import(i) => self
                    .exports
                    .hook(i)
                    .cloned()
                    .ok_or_else(|| RpcError::no_such_entry(i))?,
                Capture::Export(i) => match self.import_stub(i)? {
                    Value::Stub(stub) => stub.hook,
                    _ => Hook::Error(Arc::new(RpcError::error("capture could not be imported"))),
                },
            });
        }
        let limit = self.limits.max_map_instructions;
        let runs = self.map_runs;
        let budget = self
            .budget
            .get_or_insert_with(|| MapBudget::new(limit).counting(runs.clone()));
        let mapper = Mapper {
            captures: hooks,
            program: Arc::new(program),
            limits: self.limits.clone(),
            budget: budget.clone(),
            spawner: Spawner::Session(self.link.clone()),
        };
        Ok(Value::Promise(RpcPromise::from_hook(
            mapper.map(&subject, &path),
        )))
    }

    fn readable(&mut self, id: i64) -> Result<Value, RpcError> {
        self.exports.take_pipe_readable(id).map(Value::Readable)
    }

    fn pending(&mut self, work: BoxFuture<'static, Result<Value, RpcError>>) -> Value {
        let spawner = Spawner::Session(self.link.clone());
        Value::Promise(RpcPromise::from_hook(hook::run_on_cell(&spawner, work)))
    }
}
