//! A local pending result: queues calls, property reads and broken-callbacks until it resolves,
//! then forwards them, in order, to the hook it resolved to (rules P1, P3, P4, P6).
//!
//! The cell's small std mutex guards only this cell's state. It is never held across `.await`,
//! while running callbacks, or while dropping values (which may release stubs).

use std::mem;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use super::copies::{self, Charge};
use super::hook::{canceled, substitution_charge, BrokenCallback, Hook, Spawner};
use crate::core::error::RpcResult;
use crate::core::value::{PathKey, Value};

pub(crate) struct PromiseCell {
    state: Mutex<State>,
    notify: Notify,
}

enum State {
    Pending(Vec<Waiting>),
    Resolved(Hook),
}

/// An operation made on the promise before it resolved, with the charge of the peer's push
/// that made it (`core::copies`) when going on with it may copy a value we hold: every read,
/// and a call whose arguments hold promises.
enum Waiting {
    Call {
        path: Vec<PathKey>,
        args: Vec<Value>,
        result: Arc<PromiseCell>,
        spawner: Spawner,
        charge: Option<Arc<Charge>>,
    },
    Get {
        path: Vec<PathKey>,
        result: Arc<PromiseCell>,
        spawner: Spawner,
        charge: Option<Arc<Charge>>,
    },
    OnBroken(BrokenCallback),
}

impl PromiseCell {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State::Pending(Vec::new())),
            notify: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state half-written (every update is
        // a single assignment), so a poisoned lock is safe to keep using.
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// The hook this promise resolved to, if it has.
    pub(crate) fn resolution(&self) -> Option<Hook> {
        match &*self.lock() {
            State::Resolved(hook) => Some(hook.clone()),
            State::Pending(_) => None,
        }
    }

    /// Resolves the promise to `hook` and forwards everything that waited, in order.
    /// Resolving twice keeps the first resolution.
    pub(crate) fn resolve_with(&self, hook: Hook) {
        let waiting = {
            let mut state = self.lock();
            match &mut *state {
                State::Resolved(_) => None,
                State::Pending(waiting) => {
                    let waiting = mem::take(waiting);
                    *state = State::Resolved(hook.clone());
                    Some(waiting)
                }
            }
        };
        let Some(waiting) = waiting else {
            return; // `hook` is dropped here, outside the lock.
        };
        self.notify.notify_waiters();
        for op in waiting {
            match op {
                Waiting::Call {
                    path,
                    args,
                    result,
                    spawner,
                    charge,
                } => {
                    let called =
                        copies::charged(charge.as_ref(), || hook.call(&path, args, &spawner));
                    result.resolve_with(called);
                }
                Waiting::Get {
                    path,
                    result,
                    spawner,
                    charge,
                } => {
                    let got = copies::charged(charge.as_ref(), || hook.get(&path, &spawner));
                    result.resolve_with(got);
                }
                Waiting::OnBroken(callback) => hook.on_broken(callback),
            }
        }
    }

    pub(crate) fn call(&self, path: &[PathKey], args: Vec<Value>, spawner: &Spawner) -> Hook {
        let mut state = self.lock();
        match &mut *state {
            State::Resolved(hook) => {
                let hook = hook.clone();
                drop(state);
                hook.call(path, args, spawner)
            }
            State::Pending(waiting) => {
                let result = PromiseCell::new();
                let charge = substitution_charge(&args);
                waiting.push(Waiting::Call {
                    path: path.to_vec(),
                    args,
                    result: result.clone(),
                    spawner: spawner.clone(),
                    charge,
                });
                Hook::Promise(result)
            }
        }
    }

    pub(crate) fn get(&self, path: &[PathKey], spawner: &Spawner) -> Hook {
        let mut state = self.lock();
        match &mut *state {
            State::Resolved(hook) => {
                let hook = hook.clone();
                drop(state);
                hook.get(path, spawner)
            }
            State::Pending(waiting) => {
                let result = PromiseCell::new();
                waiting.push(Waiting::Get {
                    path: path.to_vec(),
                    result: result.clone(),
                    spawner: spawner.clone(),
                    charge: copies::current(),
                });
                Hook::Promise(result)
            }
        }
    }

    pub(crate) fn on_broken(&self, callback: BrokenCallback) {
        let mut state = self.lock();
        match &mut *state {
            State::Resolved(hook) => {
                let hook = hook.clone();
                drop(state);
                hook.on_broken(callback);
            }
            State::Pending(waiting) => waiting.push(Waiting::OnBroken(callback)),
        }
    }

    /// Waits for the resolution, then for its final value.
    pub(crate) async fn resolve(self: Arc<Self>) -> RpcResult {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(hook) = self.resolution() {
                return hook.resolve().await;
            }
            notified.await;
        }
    }
}

/// Resolves a cell when the work feeding it finishes, or with a cancellation error if that work
/// is dropped first (e.g. its session ended and cancelled the handler).
pub(crate) struct SettleGuard(Option<Arc<PromiseCell>>);

impl SettleGuard {
    pub(crate) fn new(cell: Arc<PromiseCell>) -> Self {
        Self(Some(cell))
    }

    pub(crate) fn settle(mut self, hook: Hook) {
        if let Some(cell) = self.0.take() {
            cell.resolve_with(hook);
        }
    }
}

impl Drop for SettleGuard {
    fn drop(&mut self) {
        if let Some(cell) = self.0.take() {
            cell.resolve_with(Hook::Error(Arc::new(canceled())));
        }
    }
}
