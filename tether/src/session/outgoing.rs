//! Our messages to the peer, and the exporter that decides how each stub or promise inside
//! them is written: `["import", id]` for the peer's own objects, `["pipeline", id, path]` for its
//! unresolved promises, `["export", id]` for our stubs (one id per lineage), `["promise", id]`
//! for our promises (resolved unasked).

use std::sync::{Arc, Weak};

use super::driver::Core;
use super::exports::ExportTable;
use super::trace;
use crate::core::error::RpcError;
use crate::core::hook::{self, Hook, Spawner};
use crate::core::import::{ImportRef, ImportSlot};
use crate::core::link::SessionLink;
use crate::core::map::record::Recorder;
use crate::core::stream::{self, ReadableStream, Source, WritableStream};
use crate::core::stub::{RpcPromise, Stub};
use crate::core::value::{PathKey, Value};
use crate::wire::{self, EncodeOptions, Exporter, OutMessage, WireRef};

impl Core {
    /// Sends a call (or property read) on one of our imports. The result's import id is assigned
    /// only once the message is encoded, so ids stay in step with the peer.
    pub(super) fn send_push(
        &mut self,
        target: Arc<ImportSlot>,
        path: Vec<PathKey>,
        args: Option<Vec<Value>>,
        result: Arc<ImportSlot>,
        result_ref: Weak<ImportRef>,
        stream: bool,
    ) {
        if let Some(resolved) = target.resolution().cloned() {
            // The target resolved while this call was queued: deliver it to the resolution,
            // unless the target resolved to this call's own result (a promise waiting on itself,
            // which a peer can make by resolving an import to a pipeline through it): delivering
            // would chain a new call on every turn, without end.
            if matches!(&resolved, Hook::Import(import) if Arc::ptr_eq(&import.slot, &result)) {
                result.settle(Hook::Error(Arc::new(RpcError::type_error(
                    "Chaining cycle detected: a promise was resolved to a call on itself.",
                ))));
                return;
            }
            let hook = match args {
                Some(args) => resolved.call(&path, args, &Spawner::Runtime),
                None => resolved.get(&path, &Spawner::Runtime),
            };
            result.settle(hook);
            return;
        }
        if self.input_closed {
            result.settle(Hook::Error(Arc::new(RpcError::disconnected(
                "The HTTP batch client cannot be called back.",
            ))));
            return;
        }
        let Some(target_id) = target.id() else {
            result.settle(Hook::Error(Arc::new(RpcError::error(
                "Cannot call through an import whose own call failed to send.",
            ))));
            return;
        };
        let message = match (&args, stream) {
            (Some(args), true) => OutMessage::Stream {
                id: target_id,
                path: &path,
                args,
            },
            _ => OutMessage::Push {
                id: target_id,
                path: &path,
                args: args.as_deref(),
            },
        };
        match self.encode(&message) {
            Ok(text) => {
                let id = if stream {
                    self.imports.insert_stream(result, result_ref)
                } else {
                    self.imports.insert_push(result, result_ref)
                };
                if trace::calls_enabled() {
                    self.traces.outgoing(id, target_id, &trace::member(&path));
                }
                self.queue(text, true);
            }
            Err(error) => {
                result.settle(Hook::Error(Arc::new(error)));
            }
        }
    }

    /// Sends a recorded mapper to run on one of our imports.
    pub(super) fn send_remap(
        &mut self,
        target: Arc<ImportSlot>,
        path: Vec<PathKey>,
        recording: Recorder,
        result: Arc<ImportSlot>,
        result_ref: Weak<ImportRef>,
    ) {
        if let Some(resolved) = target.resolution().cloned() {
            result.settle(resolved.map(&path, recording));
            return;
        }
        let Some(target_id) = target.id() else {
            result.settle(Hook::Error(Arc::new(RpcError::error(
                "Cannot map through an import whose own call failed to send.",
            ))));
            return;
        };
        let encoded = self.encode_with(|exporter, buffer| {
            let captures: Vec<WireRef> = recording
                .captures
                .iter()
                .map(|hook| exporter.export_hook_as_stub(hook))
                .collect();
            let message = OutMessage::PushRemap {
                id: target_id,
                path: &path,
                captures: &captures,
                program: &recording.program,
            };
            wire::encode_reusing(&message, exporter, &EncodeOptions::default(), buffer)
        });
        match encoded {
            Ok(text) => {
                self.imports.insert_push(result, result_ref);
                self.queue(text, true);
            }
            Err(error) => {
                result.settle(Hook::Error(Arc::new(error)));
            }
        }
    }

    /// Export `id` settled: send its resolution if the peer still wants it.
    pub(super) fn send_settled(&mut self, id: i64, result: Result<&Value, &RpcError>) {
        self.pending_pulls = self.pending_pulls.saturating_sub(1);
        self.traces.answered(id, Some(result.map(drop)));
        let Some(entry) = self.exports.get_mut(id) else {
            return; // Released meanwhile: the peer said it need not hear (rule L12).
        };
        let auto_release = entry.auto_release;
        let text = match result {
            Ok(value) => match self.encode(&OutMessage::Resolve(id, value)) {
                Ok(text) => Ok(text),
                Err(error) => self.encode(&OutMessage::Reject(id, &error)),
            },
            Err(error) => self.encode(&OutMessage::Reject(id, error)),
        };
        if let Ok(text) = text {
            self.queue(text, true);
        }
        if auto_release {
            let released = self.exports.release(id, 1);
            drop(released);
        }
    }

    /// Releases import `id` (`count` introductions). A `stream` result (count 0) is released
    /// by the peer itself: nothing is sent.
    pub(super) fn release_import(&mut self, id: i64, count: u64) {
        if count > 0 {
            self.send_plain(&OutMessage::Release(id, count));
        }
    }

    /// Sends a message that holds no stubs.
    pub(super) fn send_plain(&mut self, message: &OutMessage<'_>) {
        let options = &self.encode_options;
        if let Ok(text) =
            wire::encode_reusing(message, &mut NoExports, options, &mut self.encode_buffer)
        {
            // A release waits for no answer: it may ride with the next message (see `run`).
            let urgent = !matches!(message, OutMessage::Release(..));
            self.queue(text, urgent);
        }
    }

    /// Queues a message for this turn's write. `urgent` unless nothing waits for it.
    pub(super) fn queue(&mut self, text: String, urgent: bool) {
        self.outbox.push(text);
        self.urgent |= urgent;
    }

    /// Encodes a message, exporting the stubs in it. On failure, the exports it made are undone.
    fn encode(&mut self, message: &OutMessage<'_>) -> Result<String, RpcError> {
        let options = self.encode_options.clone();
        // capnweb turns an `["import", id]` in a resolution into a thenable that cannot be
        // awaited: give the peer's own stubs back as new exports (proxies) there instead.
        let proxy_peer_stubs = matches!(message, OutMessage::Resolve(..));
        self.encode_with(|exporter, buffer| {
            exporter.proxy_peer_stubs = proxy_peer_stubs;
            wire::encode_reusing(message, exporter, &options, buffer)
        })
    }

    /// Runs `write` with an exporter and the session's encode buffer; on failure, the exports
    /// it made are undone.
    fn encode_with(
        &mut self,
        write: impl FnOnce(&mut Exporting<'_>, &mut String) -> Result<String, RpcError>,
    ) -> Result<String, RpcError> {
        let mut buffer = std::mem::take(&mut self.encode_buffer);
        let mut exporter = Exporting {
            exports: &mut self.exports,
            link: &self.link,
            introduced: Vec::new(),
            to_resolve: Vec::new(),
            proxy_peer_stubs: false,
            next_pipe_id: self.imports.next_push_id(),
            pipes: Vec::new(),
        };
        let encoded = write(&mut exporter, &mut buffer);
        let Exporting {
            introduced,
            to_resolve,
            pipes,
            ..
        } = exporter;
        self.encode_buffer = buffer;
        match encoded {
            Ok(text) => {
                for source in pipes {
                    self.open_pipe(source);
                }
                for id in to_resolve {
                    self.start_resolving(id);
                }
                Ok(text)
            }
            Err(error) => {
                let undone: Vec<_> = introduced
                    .into_iter()
                    .filter_map(|id| self.exports.release(id, 1).ok().flatten())
                    .collect();
                drop(undone);
                Err(error)
            }
        }
    }
}

impl Core {
    /// Sends `["pipe"]` (before the message naming its readable end) and starts pumping
    /// `source` into the new import, as a writable stream with flow control. The pump runs in
    /// the session's task set: it ends with the session.
    fn open_pipe(&mut self, source: Source) {
        let handle = Arc::new(ImportRef {
            link: self.link.clone(),
            slot: ImportSlot::new(None, false),
        });
        self.imports
            .insert_push(handle.slot.clone(), Arc::downgrade(&handle));
        self.send_plain(&OutMessage::Pipe);
        let writable = WritableStream::from_stub(Stub {
            hook: Hook::Import(handle),
        });
        hook::start(
            Box::pin(stream::pump(source, writable)),
            &Spawner::Session(self.link.clone()),
        );
    }
}

/// An exporter for messages that cannot hold stubs.
pub(super) struct NoExports;

impl Exporter for NoExports {
    fn export_stub(&mut self, _: &Stub) -> Result<WireRef, RpcError> {
        Err(RpcError::type_error(
            "Can't serialize RPC stubs in this context.",
        ))
    }
    fn export_promise(&mut self, _: &RpcPromise) -> Result<WireRef, RpcError> {
        Err(RpcError::type_error(
            "Can't serialize RPC stubs in this context.",
        ))
    }
    fn pipe(&mut self, _: &ReadableStream) -> Result<i64, RpcError> {
        Err(RpcError::type_error(
            "Can't serialize ReadableStream in this context.",
        ))
    }
}

pub(super) struct Exporting<'a> {
    exports: &'a mut ExportTable,
    link: &'a Arc<SessionLink>,
    /// Ids introduced by this message, to undo if encoding fails.
    introduced: Vec<i64>,
    /// Promise exports whose resolution must be sent once the message is out.
    to_resolve: Vec<i64>,
    /// Export the peer's own stubs as proxies instead of naming them with `["import", id]`.
    proxy_peer_stubs: bool,
    /// The import id the next pipe of this message gets (pipes are sent before it).
    next_pipe_id: i64,
    /// Streams to pump into the pipes this message makes, in id order.
    pipes: Vec<Source>,
}

impl Exporting<'_> {
    /// The import id, if `hook` is an unresolved import of this very session.
    fn own_import(&self, hook: &Hook) -> Option<(i64, bool)> {
        match hook {
            Hook::Import(import) if Arc::ptr_eq(&import.link, self.link) => {
                let id = import.slot.id()?;
                Some((id, import.slot.promise))
            }
            _ => None,
        }
    }

    pub(super) fn export_hook_as_stub(&mut self, hook: &Hook) -> WireRef {
        if let Hook::Import(import) = hook {
            if let Some(resolved) = import.slot.resolution().cloned() {
                return self.export_hook_as_stub(&resolved);
            }
        }
        if let Hook::Value(value) = hook {
            if let Value::Stub(stub) = &**value {
                return self.export_hook_as_stub(&stub.hook);
            }
        }
        if let Some((id, _)) = self.own_import(hook).filter(|_| !self.proxy_peer_stubs) {
            return WireRef::Import(id);
        }
        let id = self.exports.export_stub(hook.clone());
        self.introduced.push(id);
        WireRef::Export(id)
    }
}

impl Exporter for Exporting<'_> {
    fn export_stub(&mut self, stub: &Stub) -> Result<WireRef, RpcError> {
        Ok(self.export_hook_as_stub(&stub.hook))
    }

    fn export_promise(&mut self, promise: &RpcPromise) -> Result<WireRef, RpcError> {
        let unresolved = match &promise.hook {
            Hook::Import(import) => import.slot.resolution().is_none(),
            _ => false,
        };
        if unresolved {
            if let Some((id, _)) = self.own_import(&promise.hook) {
                return Ok(WireRef::Pipeline(id, promise.path.clone()));
            }
        }
        let hook = promise.hook.get(&promise.path, &Spawner::Runtime);
        let id = self.exports.export_promise(hook);
        self.introduced.push(id);
        self.to_resolve.push(id);
        Ok(WireRef::Promise(id))
    }

    fn pipe(&mut self, stream: &ReadableStream) -> Result<i64, RpcError> {
        let source = stream.take_source().ok_or_else(|| {
            RpcError::type_error("This ReadableStream was already read or sent by another holder.")
        })?;
        let id = self.next_pipe_id + self.pipes.len() as i64;
        self.pipes.push(source);
        Ok(id)
    }
}
