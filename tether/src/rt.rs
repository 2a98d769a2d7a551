//! The runtime layer: spawning work, the boxed-future type, and the process-wide hook for errors
//! nobody can receive. Everything else in tether builds on it; it depends on nothing in tether.
//!
//! Owns: [`BoxFuture`], [`TaskSink`] (where a session runs the work it starts), spawning on the
//! Tokio runtime (or, outside one, a last-resort poll), the poll-once-then-spawn start that keeps
//! calls in order, and the storage of the uncaught-error hook (its typed setter,
//! [`set_uncaught_error_hook`](crate::set_uncaught_error_hook), lives with the error type).

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll, Waker};

/// A boxed, sendable future, as returned by [`Target`](crate::Target) methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Something that runs futures to completion (implemented by a session).
pub(crate) trait TaskSink: Send + Sync {
    /// Runs `task`; if the sink is closed, the task is dropped (cancelled).
    fn spawn_task(&self, task: BoxFuture<'static, ()>);
    /// Runs `task` as background work (`wait_until`): it may outlive the session for a while.
    fn spawn_background(&self, task: BoxFuture<'static, ()>);
}

/// Spawns `task` on the current Tokio runtime (or, outside one, polls it once and reports).
pub(crate) fn spawn(task: BoxFuture<'static, ()>) {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn(task);
        }
        Err(_) => run_detached(task),
    }
}

/// Polls `task` once right here; if it is not finished, hands it to `rest`.
///
/// Polling with a no-op waker is sound: a future that returns `Pending` is handed on, and
/// whoever runs it polls it again with a real waker, which re-registers interest. A panic in
/// that first poll goes to the uncaught-error hook.
pub(crate) fn start(mut task: BoxFuture<'static, ()>, rest: impl FnOnce(BoxFuture<'static, ()>)) {
    if let Some(Poll::Pending) = poll_once(&mut task, "task") {
        rest(task);
    }
}

/// Polls `future` once right here, with the same no-op waker as [`start`] (whoever polls a
/// pending future next must use a real waker). A panic goes to the uncaught-error hook, naming
/// `context`, and gives `None`.
pub(crate) fn poll_once<T>(future: &mut BoxFuture<'static, T>, context: &str) -> Option<Poll<T>> {
    let mut cx = Context::from_waker(Waker::noop());
    match std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut cx))) {
        Ok(poll) => Some(poll),
        Err(panic) => {
            report_uncaught(&Panicked::new(context, panic.as_ref()));
            None
        }
    }
}

/// Last resort outside any Tokio runtime: poll once; what cannot finish is reported and dropped.
pub(crate) fn run_detached(mut task: BoxFuture<'static, ()>) {
    let mut cx = Context::from_waker(Waker::noop());
    if task.as_mut().poll(&mut cx).is_pending() {
        report_uncaught(&NoRuntime);
    }
}

/// The uncaught-error hook, as stored: it sees every error as a `dyn Error`.
pub(crate) type UncaughtHook = Arc<dyn Fn(&(dyn Error + 'static)) + Send + Sync>;
static UNCAUGHT_HOOK: RwLock<Option<UncaughtHook>> = RwLock::new(None);

/// Installs the hook for errors nobody can receive.
pub(crate) fn set_uncaught_hook(hook: UncaughtHook) {
    let mut slot = UNCAUGHT_HOOK
        .write()
        .unwrap_or_else(|poison| poison.into_inner());
    *slot = Some(hook);
}

/// Sends `error` to the uncaught-error hook (by default, standard error).
pub(crate) fn report_uncaught(error: &(dyn Error + 'static)) {
    let hook = UNCAUGHT_HOOK
        .read()
        .unwrap_or_else(|poison| poison.into_inner())
        .clone();
    match hook {
        Some(hook) => hook(error),
        None => eprintln!("tether: uncaught error: {error}"),
    }
}

/// A caught panic, naming where it happened.
#[derive(Debug)]
pub(crate) struct Panicked {
    context: String,
    detail: String,
}

impl Panicked {
    pub(crate) fn new(context: &str, panic: &(dyn std::any::Any + Send)) -> Self {
        let detail = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        Self {
            context: context.to_owned(),
            detail,
        }
    }
}

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} panicked: {}", self.context, self.detail)
    }
}

impl Error for Panicked {}

/// Work that needed a Tokio runtime found none.
#[derive(Debug)]
struct NoRuntime;

impl fmt::Display for NoRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tether: work needed a Tokio runtime but none was running; it was dropped")
    }
}

impl Error for NoRuntime {}
