//! A remote reference: one entry of a session's import table, seen from application code.
//!
//! All local duplicates of one import share one `Arc<ImportRef>` (cloning it is `dup`). When
//! the last one is dropped, `Drop` only enqueues a message for the session task, which sends
//! `release` with the entry's full remote refcount (rules L1, L2, L12); it never blocks. The id
//! lives in an [`ImportSlot`] because the session task assigns it when it sends the `push`.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::Notify;

use super::hook::{run_callback, BrokenCallback, Hook, Spawner};
use super::map::record::Recorder;
use crate::core::error::RpcResult;
use crate::core::link::{Command, SessionLink};
use crate::core::stub::Stub;
use crate::core::value::{PathKey, Value};

const UNASSIGNED: i64 = i64::MIN;

/// The state of one import shared between its handles and the session task.
pub(crate) struct ImportSlot {
    id: AtomicI64,
    /// What the import resolved to (promises), or the error that broke it.
    resolution: OnceLock<Hook>,
    notify: Notify,
    pulled: AtomicBool,
    /// True for promises (push results, `["promise", id]`), false for stubs.
    pub(crate) promise: bool,
}

impl ImportSlot {
    pub(crate) fn new(id: Option<i64>, promise: bool) -> Arc<Self> {
        Arc::new(Self {
            id: AtomicI64::new(id.unwrap_or(UNASSIGNED)),
            resolution: OnceLock::new(),
            notify: Notify::new(),
            pulled: AtomicBool::new(false),
            promise,
        })
    }

    /// The import id, once the session has assigned it.
    pub(crate) fn id(&self) -> Option<i64> {
        match self.id.load(Ordering::Acquire) {
            UNASSIGNED => None,
            id => Some(id),
        }
    }

    pub(crate) fn set_id(&self, id: i64) {
        self.id.store(id, Ordering::Release);
    }

    /// Marks the import as already pulled (the peer resolves `["promise", id]` unasked).
    pub(crate) fn mark_pulled(&self) {
        self.pulled.store(true, Ordering::Release);
    }

    pub(crate) fn resolution(&self) -> Option<&Hook> {
        self.resolution.get()
    }

    /// Settles the import; later settlements are ignored. Returns whether this one took.
    pub(crate) fn settle(&self, hook: Hook) -> bool {
        let took = self.resolution.set(hook).is_ok();
        if took {
            self.notify.notify_waiters();
        }
        took
    }
}

/// A handle on an import entry. See the module docs.
pub(crate) struct ImportRef {
    pub(crate) link: Arc<SessionLink>,
    pub(crate) slot: Arc<ImportSlot>,
}

impl ImportRef {
    /// Calls (`args` given) or reads (`args` absent) the member at `path`: sent at once as a
    /// `push` naming this import, so it pipelines (rule P1).
    pub(crate) fn send(
        self: &Arc<Self>,
        path: &[PathKey],
        args: Option<Vec<Value>>,
        spawner: &Spawner,
    ) -> Hook {
        if let Some(resolved) = self.slot.resolution() {
            return match args {
                Some(args) => resolved.call(path, args, spawner),
                None => resolved.get(path, spawner),
            };
        }
        self.push(path, args, false)
    }

    /// A stream operation (`write`, `close`, `abort`) on this import: sent as `["stream", …]`,
    /// whose result the peer sends unasked and releases itself. Not pipelinable.
    pub(crate) fn send_stream(self: &Arc<Self>, path: &[PathKey], args: Vec<Value>) -> Hook {
        if let Some(resolved) = self.slot.resolution() {
            return resolved.call(path, args, &Spawner::Runtime);
        }
        self.push(path, Some(args), true)
    }

    fn push(self: &Arc<Self>, path: &[PathKey], args: Option<Vec<Value>>, stream: bool) -> Hook {
        if let Some(error) = self.link.aborted() {
            return Hook::Error(Arc::new(error));
        }
        let result = Arc::new(ImportRef {
            link: self.link.clone(),
            slot: ImportSlot::new(None, true),
        });
        if stream {
            result.slot.mark_pulled();
        }
        let command = Command::Push {
            target: self.slot.clone(),
            path: path.to_vec(),
            args,
            result: result.slot.clone(),
            result_ref: Arc::downgrade(&result),
            stream,
        };
        match self.link.send(command) {
            Ok(()) => Hook::Import(result),
            Err(_) => Hook::Error(Arc::new(self.link.disconnected_error())),
        }
    }

    /// Sends a recorded mapper to run on the value at `path` of this import (one `remap`).
    pub(crate) fn send_remap(self: &Arc<Self>, path: &[PathKey], recording: Recorder) -> Hook {
        if let Some(error) = self.link.aborted() {
            return Hook::Error(Arc::new(error));
        }
        let result = Arc::new(ImportRef {
            link: self.link.clone(),
            slot: ImportSlot::new(None, true),
        });
        let command = Command::PushRemap {
            target: self.slot.clone(),
            path: path.to_vec(),
            recording: Box::new(recording),
            result: result.slot.clone(),
            result_ref: Arc::downgrade(&result),
        };
        match self.link.send(command) {
            Ok(()) => Hook::Import(result),
            Err(_) => Hook::Error(Arc::new(self.link.disconnected_error())),
        }
    }

    /// Waits for the resolution (sending `pull` once), then for its final value.
    pub(crate) async fn resolve(self: Arc<Self>) -> RpcResult {
        if !self.slot.promise && self.slot.resolution().is_none() {
            return Ok(Value::Stub(Stub {
                hook: Hook::Import(self),
            }));
        }
        if !self.slot.pulled.swap(true, Ordering::AcqRel)
            && self.link.send(Command::Pull(self.slot.clone())).is_err()
        {
            return Err(self.link.disconnected_error());
        }
        loop {
            let notified = self.slot.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.slot.resolution().is_some() {
                break;
            }
            if let Some(error) = self.link.aborted() {
                return Err(error);
            }
            notified.await;
        }
        // The last handle on a settled import takes its resolution rather than sharing it, so
        // a settled value reaches the caller without a copy.
        let mut this = self;
        let taken = Arc::get_mut(&mut this)
            .and_then(|import| Arc::get_mut(&mut import.slot))
            .and_then(|slot| slot.resolution.take());
        let resolution = match taken {
            Some(hook) => hook,
            None => match this.slot.resolution() {
                Some(hook) => hook.clone(),
                None => return Err(this.link.disconnected_error()),
            },
        };
        drop(this);
        resolution.resolve().await
    }

    pub(crate) fn on_broken(&self, callback: BrokenCallback) {
        if let Some(resolved) = self.slot.resolution() {
            return resolved.on_broken(callback);
        }
        if let Err(Command::OnBroken(_, callback)) = self
            .link
            .send(Command::OnBroken(self.slot.clone(), callback))
        {
            run_callback(callback, self.link.disconnected_error());
        }
    }
}

impl Drop for ImportRef {
    fn drop(&mut self) {
        // Never blocks: the session task does the bookkeeping. If the session is gone, there is
        // nothing left to release.
        let _ = self.link.send(Command::DropImport(self.slot.clone()));
    }
}
