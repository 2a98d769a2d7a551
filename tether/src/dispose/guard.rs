//! [`Using`], the `using` declaration as a drop guard, and closures as disposables
//! ([`DisposeFn`], [`AsyncDisposeFn`]).

use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};

use super::error::report;
use super::{AsyncDisposable, Disposable, DisposeError, IntoDisposeResult};
use crate::rt::BoxFuture;

/// Owns a [`Disposable`] and disposes it when dropped: JavaScript's `using` declaration.
///
/// Rust drops locals in reverse order of declaration, which is exactly the order `using`
/// disposes in. Reach the resource through `Deref`. A failure on drop goes to tether's
/// uncaught-error hook; call [`Using::dispose`] to receive it instead, or
/// [`Using::into_inner`] to take the resource back without disposing it (the guard's disarm).
///
/// There is no asynchronous counterpart (`await using`): Rust has no asynchronous drop. Put
/// asynchronous resources in an [`AsyncDisposableStack`](super::AsyncDisposableStack) and await
/// its `dispose`.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use tether::dispose::{DisposeFn, Using};
///
/// let log = Arc::new(Mutex::new(Vec::new()));
/// {
///     let to_log = log.clone();
///     let _first = Using::new(DisposeFn::new(move || to_log.lock().unwrap().push("first")));
///     let to_log = log.clone();
///     let _second = Using::new(DisposeFn::new(move || to_log.lock().unwrap().push("second")));
/// }
/// assert_eq!(*log.lock().unwrap(), ["second", "first"]);
/// ```
pub struct Using<R: Disposable> {
    // `None` only once disposed or disarmed.
    resource: Option<R>,
}

impl<R: Disposable> Using<R> {
    /// Guards `resource`.
    pub fn new(resource: R) -> Self {
        Self {
            resource: Some(resource),
        }
    }

    /// Disposes the resource now and returns the outcome.
    pub fn dispose(mut self) -> Result<(), DisposeError> {
        self.take().dispose()
    }

    /// Disarms the guard: hands the resource back undisposed.
    pub fn into_inner(mut self) -> R {
        self.take()
    }

    fn take(&mut self) -> R {
        match self.resource.take() {
            Some(resource) => resource,
            None => unreachable!("{EMPTIED_ONLY_BY_CONSUMING}"),
        }
    }
}

// `resource` is emptied only by `Drop` and by methods that consume the guard, so no borrow or
// second take can ever see it empty.
const EMPTIED_ONLY_BY_CONSUMING: &str = "a Using guard is emptied only when consumed";

impl<R: Disposable> Deref for Using<R> {
    type Target = R;

    fn deref(&self) -> &R {
        match &self.resource {
            Some(resource) => resource,
            None => unreachable!("{EMPTIED_ONLY_BY_CONSUMING}"),
        }
    }
}

impl<R: Disposable> DerefMut for Using<R> {
    fn deref_mut(&mut self) -> &mut R {
        match &mut self.resource {
            Some(resource) => resource,
            None => unreachable!("{EMPTIED_ONLY_BY_CONSUMING}"),
        }
    }
}

impl<R: Disposable> Drop for Using<R> {
    fn drop(&mut self) {
        if let Some(mut resource) = self.resource.take() {
            if let Err(error) = resource.dispose() {
                report(error);
            }
        }
    }
}

impl<R: Disposable + fmt::Debug> fmt::Debug for Using<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Using").field(&self.resource).finish()
    }
}

/// A closure as a [`Disposable`]: disposing calls it, the first time only. Returns `()` or a
/// `Result`.
pub struct DisposeFn<F>(Option<F>);

impl<F> DisposeFn<F> {
    /// Wraps `on_dispose`.
    pub fn new(on_dispose: F) -> Self {
        Self(Some(on_dispose))
    }
}

impl<F, O> Disposable for DisposeFn<F>
where
    F: FnOnce() -> O,
    O: IntoDisposeResult,
{
    fn dispose(&mut self) -> Result<(), DisposeError> {
        match self.0.take() {
            Some(on_dispose) => on_dispose().into_dispose_result(),
            None => Ok(()),
        }
    }
}

impl<F> fmt::Debug for DisposeFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DisposeFn")
            .field("disposed", &self.0.is_none())
            .finish()
    }
}

/// A closure returning a future as an [`AsyncDisposable`]: disposing awaits it, the first time
/// only.
pub struct AsyncDisposeFn<F>(Option<F>);

impl<F> AsyncDisposeFn<F> {
    /// Wraps `on_dispose`.
    pub fn new(on_dispose: F) -> Self {
        Self(Some(on_dispose))
    }
}

impl<F, Fut> AsyncDisposable for AsyncDisposeFn<F>
where
    F: FnOnce() -> Fut,
    Fut: Future + Send + 'static,
    Fut::Output: IntoDisposeResult,
{
    fn dispose_async(&mut self) -> BoxFuture<'_, Result<(), DisposeError>> {
        let future = self.0.take().map(|on_dispose| on_dispose());
        Box::pin(async move {
            match future {
                Some(future) => future.await.into_dispose_result(),
                None => Ok(()),
            }
        })
    }
}

impl<F> fmt::Debug for AsyncDisposeFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncDisposeFn")
            .field("disposed", &self.0.is_none())
            .finish()
    }
}
