//! Execution contexts (rule L9): the span of one incoming call, and what it owns.
//!
//! Every call that arrives from a peer runs inside a [`CallContext`], available to the handler
//! through [`CallContext::current`]. The context ends when the handler has returned *and* every
//! stub created during the call (and so possibly passed out in the result) has been released,
//! with the calls made through them returned. When it ends, the cleanups registered with
//! [`CallContext::defer`] run, newest first. If the peer disconnects, the handler's future is
//! dropped at once and the session releases what it exported, so the context ends then.
//!
//! What Rust already does for free: stubs the handler obtained during the call and did not keep
//! are dropped, and so released, when it returns.
//!
//! [`CallContext::wait_until`] keeps work running past the response: the session (and a server
//! shutting down) waits for it, up to [`SessionOptions::wait_until_grace`](crate::SessionOptions),
//! before cancelling it.
//!
//! ```
//! use tether::context::CallContext;
//! # async fn handler() {
//! if let Some(ctx) = CallContext::current() {
//!     ctx.defer(|| println!("the call's context ended"));
//!     ctx.wait_until(async { /* write an audit log after the response */ });
//! }
//! # }
//! ```

use std::cell::{OnceCell, RefCell};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::rt::TaskSink;
use crate::rt::{report_uncaught, Panicked};

tokio::task_local! {
    static CURRENT: Slot;
}

/// Where the running call's context lives. Most calls never ask for theirs, so it is made on
/// first use: a call that needs none costs no allocation, and a stub it creates holds nothing
/// until then.
struct Slot {
    background: Arc<dyn TaskSink>,
    context: OnceCell<CallContext>,
    /// What was created in this call before its context existed (stubs' lineages): if the
    /// context is made later in the call, each that is still alive keeps it.
    holders: RefCell<Vec<Weak<dyn HoldsContext>>>,
}

/// Something created during a call that keeps the call's context while it lives.
pub(crate) trait HoldsContext: Send + Sync {
    /// Where it keeps the context.
    fn hold(&self) -> &ContextHold;
}

/// Where something created during a call keeps that call's context (rule L9: the context lasts
/// while it does). Filled at once if the context exists, or when it is made later in the same
/// call; a context nobody asked for by the end of the call can never be observed, so it is
/// never made.
#[derive(Default)]
pub(crate) struct ContextHold(OnceLock<CallContext>);

impl ContextHold {
    /// Makes `holder`, just created, keep the running call's context: at once if it exists,
    /// else if it is made later in this call. Outside an incoming call, nothing.
    pub(crate) fn attach<H: HoldsContext + 'static>(holder: &Arc<H>) {
        let _ = CURRENT.try_with(|slot| match slot.context.get() {
            Some(context) => {
                let _ = holder.hold().0.set(context.clone());
            }
            None => {
                let weak: Weak<H> = Arc::downgrade(holder);
                slot.holders
                    .borrow_mut()
                    .push(weak as Weak<dyn HoldsContext>);
            }
        });
    }
}

/// The execution context of one incoming call. Cloning shares it.
#[derive(Clone)]
pub struct CallContext {
    inner: Arc<Inner>,
}

type Cleanup = Box<dyn FnOnce() + Send>;

struct Inner {
    cleanups: Mutex<Vec<Cleanup>>,
    background: Arc<dyn TaskSink>,
}

impl CallContext {
    fn new(background: Arc<dyn TaskSink>) -> Self {
        Self {
            inner: Arc::new(Inner {
                cleanups: Mutex::new(Vec::new()),
                background,
            }),
        }
    }

    /// The context of the incoming call this task is handling, if any.
    pub fn current() -> Option<CallContext> {
        CURRENT
            .try_with(|slot| {
                if let Some(context) = slot.context.get() {
                    return context.clone();
                }
                let context = slot
                    .context
                    .get_or_init(|| CallContext::new(slot.background.clone()));
                for holder in slot.holders.take() {
                    if let Some(holder) = holder.upgrade() {
                        let _ = holder.hold().0.set(context.clone());
                    }
                }
                context.clone()
            })
            .ok()
    }

    /// Runs `future` as a new incoming call, in a context of its own (what `current` returns
    /// there), whose background work goes to `background`.
    pub(crate) fn scope<F: Future>(
        background: Arc<dyn TaskSink>,
        future: F,
    ) -> impl Future<Output = F::Output> {
        let slot = Slot {
            background,
            context: OnceCell::new(),
            holders: RefCell::new(Vec::new()),
        };
        CURRENT.scope(slot, future)
    }

    /// Keeps `work` running after the call has returned, and the context open until it is done
    /// (its cleanups run after it). The session waits for it when it ends (and a server shutting
    /// down waits for the session), up to a deadline, then cancels it.
    pub fn wait_until(&self, work: impl Future<Output = ()> + Send + 'static) {
        let context = self.clone();
        self.inner.background.spawn_background(Box::pin(async move {
            work.await;
            drop(context);
        }));
    }

    /// Registers `cleanup` to run when the context ends (newest first). A panicking cleanup is
    /// reported to the uncaught-error hook; the others still run.
    pub fn defer(&self, cleanup: impl FnOnce() + Send + 'static) {
        lock(&self.inner.cleanups).push(Box::new(cleanup));
    }
}

impl std::fmt::Debug for CallContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallContext")
    }
}

fn lock(cleanups: &Mutex<Vec<Cleanup>>) -> std::sync::MutexGuard<'_, Vec<Cleanup>> {
    // A list of closures: a panic elsewhere cannot leave it half-written.
    cleanups.lock().unwrap_or_else(|poison| poison.into_inner())
}

impl Drop for Inner {
    fn drop(&mut self) {
        let cleanups = std::mem::take(&mut *lock(&self.cleanups));
        for cleanup in cleanups.into_iter().rev() {
            if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(cleanup)) {
                report_uncaught(&Panicked::new("context cleanup", panic.as_ref()));
            }
        }
    }
}
