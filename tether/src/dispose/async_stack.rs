//! [`AsyncDisposableStack`]: asynchronous and synchronous cleanups, awaited newest first.

use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::task::{Context, Poll, Waker};

use futures_util::FutureExt;

use super::error::{finish_scope, report, Failures};
use super::stack::run_sync;
use super::{AsyncDisposable, Disposable, DisposeError, IntoDisposeResult};
use crate::rt::BoxFuture;

/// One registered cleanup. Synchronous ones are wrapped in a future that is ready at once.
type Cleanup = BoxFuture<'static, Result<(), DisposeError>>;

/// A stack of asynchronous (and synchronous) cleanups: JavaScript's `AsyncDisposableStack`.
///
/// The same rules as [`DisposableStack`](super::DisposableStack): cleanups run newest first, one
/// after the other (each is awaited before the next starts); every one runs even if an earlier
/// one fails or panics; failures nest newest on top; registering on a disposed stack is
/// [`DisposeError::AlreadyDisposed`]; disposing twice does nothing. Synchronous resources and
/// closures go in with [`use_sync`](Self::use_sync), [`defer_sync`](Self::defer_sync) and
/// [`adopt_sync`](Self::adopt_sync), as JavaScript's async stack accepts `Symbol.dispose`.
///
/// # Cancellation
///
/// Dropping the future of [`dispose`](Self::dispose) cancels the cleanup in progress; those not
/// yet started stay in the stack and run on the next `dispose` or when the stack is dropped.
///
/// # Dropping without disposing
///
/// Rust has no asynchronous drop, so a dropped stack cannot wait for its cleanups. Instead, `drop`
/// runs them newest first, right away, for as long as each finishes without waiting (every
/// synchronous cleanup, and asynchronous ones that are ready at once). At the first one that has
/// to wait, the rest, in order, moves to a task spawned on the current Tokio runtime: order is
/// kept even though older synchronous cleanups then run later. Outside a runtime nothing can wait,
/// so each cleanup that would is dropped unfinished and reported as [`DisposeError::NoRuntime`],
/// and the following ones still run. Failures go to tether's uncaught-error hook
/// ([`set_uncaught_error_hook`](crate::set_uncaught_error_hook)). A task spawned while the runtime
/// shuts down never runs: dispose explicitly (or use
/// `run_until_signal`) when completion matters.
#[derive(Default)]
pub struct AsyncDisposableStack {
    cleanups: Vec<Cleanup>,
    disposed: bool,
}

impl AsyncDisposableStack {
    /// An empty stack.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the stack was disposed or moved from (JavaScript's `disposed`).
    pub fn is_disposed(&self) -> bool {
        self.disposed
    }

    /// How many cleanups are waiting.
    pub fn len(&self) -> usize {
        self.cleanups.len()
    }

    /// Whether no cleanup is waiting.
    pub fn is_empty(&self) -> bool {
        self.cleanups.is_empty()
    }

    /// Takes ownership of `resource` and disposes it asynchronously with the stack (JavaScript's
    /// `use`). Keep a handle if you still need to reach it.
    pub fn use_resource<R>(&mut self, resource: R) -> Result<(), DisposeError>
    where
        R: AsyncDisposable + Send + 'static,
    {
        let mut resource = resource;
        self.push(Box::pin(async move { resource.dispose_async().await }))
    }

    /// Takes ownership of a synchronous `resource` and disposes it with the stack.
    pub fn use_sync<R>(&mut self, resource: R) -> Result<(), DisposeError>
    where
        R: Disposable + Send + 'static,
    {
        let mut resource = resource;
        self.push_sync(Box::new(move || resource.dispose()))
    }

    /// Runs the future made by `on_dispose` when the stack is disposed. It may output `()` or a
    /// `Result`.
    pub fn defer<F, Fut>(&mut self, on_dispose: F) -> Result<(), DisposeError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoDisposeResult,
    {
        self.push(Box::pin(
            async move { on_dispose().await.into_dispose_result() },
        ))
    }

    /// Runs the synchronous `on_dispose` when the stack is disposed.
    pub fn defer_sync<F, O>(&mut self, on_dispose: F) -> Result<(), DisposeError>
    where
        F: FnOnce() -> O + Send + 'static,
        O: IntoDisposeResult,
    {
        self.push_sync(Box::new(move || on_dispose().into_dispose_result()))
    }

    /// Takes ownership of `value` and awaits `on_dispose(value)` when the stack is disposed.
    pub fn adopt<T, F, Fut>(&mut self, value: T, on_dispose: F) -> Result<(), DisposeError>
    where
        T: Send + 'static,
        F: FnOnce(T) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoDisposeResult,
    {
        self.push(Box::pin(async move {
            on_dispose(value).await.into_dispose_result()
        }))
    }

    /// Takes ownership of `value` and calls the synchronous `on_dispose(value)` when the stack is
    /// disposed.
    pub fn adopt_sync<T, F, O>(&mut self, value: T, on_dispose: F) -> Result<(), DisposeError>
    where
        T: Send + 'static,
        F: FnOnce(T) -> O + Send + 'static,
        O: IntoDisposeResult,
    {
        self.push_sync(Box::new(move || on_dispose(value).into_dispose_result()))
    }

    /// Moves every cleanup to a new stack and marks this one disposed, without running anything
    /// (JavaScript's `move`).
    pub fn move_(&mut self) -> Result<AsyncDisposableStack, DisposeError> {
        self.check()?;
        self.disposed = true;
        Ok(AsyncDisposableStack {
            cleanups: std::mem::take(&mut self.cleanups),
            disposed: false,
        })
    }

    /// Runs every cleanup, newest first, awaiting each, and marks the stack disposed
    /// (JavaScript's `disposeAsync`). Disposing a disposed stack does nothing.
    pub async fn dispose(&mut self) -> Result<(), DisposeError> {
        self.disposed = true;
        let mut failures = Failures::default();
        // Pop one at a time, so a cancelled dispose leaves the cleanups not yet started in place.
        while let Some(cleanup) = self.cleanups.pop() {
            failures.add(guarded(cleanup).await);
        }
        failures.finish()
    }

    /// Ends an `await using` block whose result is `outcome`: disposes the stack, then returns
    /// `outcome`. If both failed, the disposal failure wraps the block's, as JavaScript's
    /// `SuppressedError` does. Typical after building resources that end with
    /// [`move_`](Self::move_) on success: then there is nothing left to dispose.
    pub async fn dispose_with<T, E>(&mut self, outcome: Result<T, E>) -> Result<T, DisposeError>
    where
        E: Into<DisposeError>,
    {
        let disposal = self.dispose().await;
        finish_scope(outcome, disposal)
    }

    fn check(&self) -> Result<(), DisposeError> {
        if self.disposed {
            Err(DisposeError::AlreadyDisposed)
        } else {
            Ok(())
        }
    }

    fn push(&mut self, cleanup: Cleanup) -> Result<(), DisposeError> {
        self.check()?;
        self.cleanups.push(cleanup);
        Ok(())
    }

    fn push_sync(
        &mut self,
        cleanup: Box<dyn FnOnce() -> Result<(), DisposeError> + Send>,
    ) -> Result<(), DisposeError> {
        // `run_sync` catches a panic itself; the future around it is ready on its first poll.
        self.push(Box::pin(async move { run_sync(cleanup) }))
    }
}

/// Awaits `cleanup`, turning a panic into [`DisposeError::Panicked`].
async fn guarded(cleanup: Cleanup) -> Result<(), DisposeError> {
    match AssertUnwindSafe(cleanup).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(panic) => Err(DisposeError::from_panic(panic)),
    }
}

/// Polls `cleanup` once, right here, with a waker that does nothing; a panic is caught.
///
/// Sound for any future: one that returns `Pending` is then either dropped or spawned, and a
/// spawned task polls it again with a real waker, which registers interest afresh.
fn poll_once(cleanup: &mut Cleanup) -> Poll<Result<(), DisposeError>> {
    let mut cx = Context::from_waker(Waker::noop());
    match catch_unwind(AssertUnwindSafe(|| cleanup.as_mut().poll(&mut cx))) {
        Ok(poll) => poll,
        Err(panic) => Poll::Ready(Err(DisposeError::from_panic(panic))),
    }
}

impl AsyncDisposable for AsyncDisposableStack {
    fn dispose_async(&mut self) -> BoxFuture<'_, Result<(), DisposeError>> {
        Box::pin(self.dispose())
    }
}

impl Drop for AsyncDisposableStack {
    fn drop(&mut self) {
        self.disposed = true;
        let mut failures = Failures::default();
        while let Some(mut cleanup) = self.cleanups.pop() {
            match poll_once(&mut cleanup) {
                Poll::Ready(outcome) => failures.add(outcome),
                Poll::Pending => match tokio::runtime::Handle::try_current() {
                    Err(_) => failures.add(Err(DisposeError::NoRuntime)),
                    Ok(runtime) => {
                        // Take, then hand over: the rest keeps its order in one task.
                        let mut rest = std::mem::take(&mut self.cleanups);
                        runtime.spawn(async move {
                            failures.add(guarded(cleanup).await);
                            while let Some(next) = rest.pop() {
                                failures.add(guarded(next).await);
                            }
                            if let Err(error) = failures.finish() {
                                report(error);
                            }
                        });
                        return;
                    }
                },
            }
        }
        if let Err(error) = failures.finish() {
            report(error);
        }
    }
}

impl fmt::Debug for AsyncDisposableStack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncDisposableStack")
            .field("pending", &self.cleanups.len())
            .field("disposed", &self.disposed)
            .finish()
    }
}
