//! The link between a session task and the handles that talk to it.
//!
//! Stubs, promises and `Drop` impls never touch session tables; they send a [`Command`] down an
//! unbounded channel (so sending never blocks) and the session task, the tables' only owner,
//! carries it out in order. The link also publishes the abort reason once the session has ended,
//! so new calls fail at once with it.

use std::cell::RefCell;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use crate::core::error::{RpcError, RpcResult};
use crate::core::hook::BrokenCallback;
use crate::core::import::{ImportRef, ImportSlot};
use crate::core::map::record::Recorder;
use crate::core::value::{PathKey, Value};
use crate::rt::BoxFuture;
use crate::rt::TaskSink;

/// A request to the session task.
pub(crate) enum Command {
    /// Send `["push", ["pipeline", target, path, args?]]`; its result is import `result`.
    /// With `stream`, send `["stream", …]` instead: the result is resolved unasked and released
    /// by the peer (a stream's write, close or abort).
    Push {
        target: Arc<ImportSlot>,
        path: Vec<PathKey>,
        args: Option<Vec<Value>>,
        result: Arc<ImportSlot>,
        result_ref: Weak<ImportRef>,
        stream: bool,
    },
    /// Send `["push", ["remap", target, path, captures, instructions]]`.
    PushRemap {
        target: Arc<ImportSlot>,
        path: Vec<PathKey>,
        recording: Box<Recorder>,
        result: Arc<ImportSlot>,
        result_ref: Weak<ImportRef>,
    },
    /// Send `["pull", id]` for this import.
    Pull(Arc<ImportSlot>),
    /// The last local handle on this import is gone: release it.
    DropImport(Arc<ImportSlot>),
    /// Run this callback if the import breaks.
    OnBroken(Arc<ImportSlot>, BrokenCallback),
    /// Run this task in the session's task set.
    Spawn(BoxFuture<'static, ()>),
    /// Run this `wait_until` work in the session's background set.
    SpawnBackground(BoxFuture<'static, ()>),
    /// End the session gracefully: let in-flight calls finish (up to `grace`), then abort with
    /// `reason` (sent to the peer).
    Shutdown { reason: RpcError, grace: Duration },
    /// Export `export_id` settled: send `resolve`/`reject` if it was pulled.
    Settled {
        export_id: i64,
        result: Box<RpcResult>,
    },
}

pub(crate) struct SessionLink {
    tx: UnboundedSender<Command>,
    aborted: OnceLock<RpcError>,
}

impl SessionLink {
    pub(crate) fn new(tx: UnboundedSender<Command>) -> Arc<Self> {
        Arc::new(Self {
            tx,
            aborted: OnceLock::new(),
        })
    }

    /// Queues a command; gives it back if the session has ended.
    pub(crate) fn send(&self, command: Command) -> Result<(), Command> {
        self.tx.send(command).map_err(|e| e.0)
    }

    /// Why the session ended, once it has.
    pub(crate) fn aborted(&self) -> Option<RpcError> {
        self.aborted.get().cloned()
    }

    pub(crate) fn set_aborted(&self, reason: RpcError) {
        let _ = self.aborted.set(reason);
    }

    /// The error for using a reference whose session has ended.
    pub(crate) fn disconnected_error(&self) -> RpcError {
        self.aborted()
            .unwrap_or_else(|| RpcError::disconnected("RPC session has ended."))
    }
}

impl TaskSink for SessionLink {
    fn spawn_task(&self, task: BoxFuture<'static, ()>) {
        let Some(task) = SpawnScope::queue(self, task) else {
            return; // The session task itself started it: it joins the task set this turn.
        };
        // A closed session drops the task: cancelled with the session (rule L10).
        let _ = self.send(Command::Spawn(task));
    }

    fn spawn_background(&self, task: BoxFuture<'static, ()>) {
        if let Err(Command::SpawnBackground(task)) = self.send(Command::SpawnBackground(task)) {
            // The session has ended: background work is still allowed to finish.
            crate::rt::spawn(task);
        }
    }
}

type Queued = Vec<BoxFuture<'static, ()>>;

thread_local! {
    /// The session whose task is handling a turn on this thread, and the work it started.
    static SPAWN_SCOPE: RefCell<Option<(usize, Queued)>> = const { RefCell::new(None) };
}

/// A synchronous stretch of a session task's turn. Work the session starts during it that
/// cannot finish at once (an incoming call that awaits) is queued here and joins the session's
/// task set at the end of the turn, instead of travelling back to the session as a
/// `Command::Spawn`.
///
/// The scope is a thread-local that lives only between two `.await`s of the session task
/// (`enter` after it wakes, `finish` before it waits again), so work queued in it can only come
/// from that session on that thread; anything else still goes through the link.
pub(crate) struct SpawnScope {
    outer: Option<(usize, Queued)>,
    finished: bool,
}

impl SpawnScope {
    pub(crate) fn enter(link: &Arc<SessionLink>) -> Self {
        let key = Arc::as_ptr(link) as usize;
        let outer = SPAWN_SCOPE.with(|scope| scope.replace(Some((key, Vec::new()))));
        Self {
            outer,
            finished: false,
        }
    }

    /// Ends the scope and returns the work started in it.
    pub(crate) fn finish(mut self) -> Queued {
        self.finished = true;
        self.restore()
    }

    fn restore(&mut self) -> Queued {
        let outer = self.outer.take();
        SPAWN_SCOPE
            .with(|scope| scope.replace(outer))
            .map(|(_, queued)| queued)
            .unwrap_or_default()
    }

    /// Queues `task` if `link`'s session is in a scope on this thread; gives it back otherwise.
    fn queue(link: &SessionLink, task: BoxFuture<'static, ()>) -> Option<BoxFuture<'static, ()>> {
        let key = link as *const SessionLink as usize;
        SPAWN_SCOPE.with(|scope| match &mut *scope.borrow_mut() {
            Some((current, queued)) if *current == key => {
                queued.push(task);
                None
            }
            _ => Some(task),
        })
    }
}

impl Drop for SpawnScope {
    fn drop(&mut self) {
        if !self.finished {
            // Unwinding: the queued work is dropped (cancelled) with the turn.
            drop(self.restore());
        }
    }
}
