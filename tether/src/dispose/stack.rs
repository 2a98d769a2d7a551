//! [`DisposableStack`]: synchronous cleanups, run newest first.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::error::{finish_scope, report, Failures};
use super::{Disposable, DisposeError, IntoDisposeResult};

/// One registered cleanup, already bound to its resource.
pub(crate) type SyncCleanup = Box<dyn FnOnce() -> Result<(), DisposeError> + Send>;

/// Runs `cleanup`, turning a panic into [`DisposeError::Panicked`].
pub(crate) fn run_sync(cleanup: SyncCleanup) -> Result<(), DisposeError> {
    match catch_unwind(AssertUnwindSafe(cleanup)) {
        Ok(outcome) => outcome,
        Err(panic) => Err(DisposeError::from_panic(panic)),
    }
}

/// A stack of synchronous cleanups: JavaScript's `DisposableStack`.
///
/// Register resources with [`use_resource`](Self::use_resource), closures with
/// [`defer`](Self::defer) and values plus their cleanup with [`adopt`](Self::adopt);
/// [`dispose`](Self::dispose) runs them all, newest first. Every cleanup runs even if an earlier
/// one fails or panics; the failures come back as one [`DisposeError`], newest on top.
///
/// After `dispose` (or [`move_`](Self::move_)) the stack is disposed: registering anything is an
/// error ([`DisposeError::AlreadyDisposed`]) and the value or closure passed in is dropped
/// without being run, as JavaScript throws before touching it. Calling `dispose` again is
/// allowed and does nothing, as in JavaScript.
///
/// Dropping a stack that still holds cleanups disposes it; failures then go to tether's
/// uncaught-error hook ([`set_uncaught_error_hook`](crate::set_uncaught_error_hook)), since
/// `drop` cannot return them.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use tether::dispose::DisposableStack;
///
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let mut stack = DisposableStack::new();
/// for name in ["first", "second"] {
///     let log = log.clone();
///     stack.defer(move || log.lock().unwrap().push(name))?;
/// }
/// stack.dispose()?;
/// assert_eq!(*log.lock().unwrap(), ["second", "first"]);
/// assert!(stack.defer(|| ()).is_err()); // disposed
/// # Ok::<(), tether::dispose::DisposeError>(())
/// ```
#[derive(Default)]
pub struct DisposableStack {
    cleanups: Vec<SyncCleanup>,
    disposed: bool,
}

impl DisposableStack {
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

    /// Takes ownership of `resource` and disposes it with the stack (JavaScript's `use`, a Rust
    /// keyword). The stack owns the resource from now on: keep a handle (a clone of an `Arc`, a
    /// stub duplicate) if you still need to reach it.
    pub fn use_resource<R>(&mut self, resource: R) -> Result<(), DisposeError>
    where
        R: Disposable + Send + 'static,
    {
        let mut resource = resource;
        self.push(Box::new(move || resource.dispose()))
    }

    /// Runs `on_dispose` when the stack is disposed. It may return `()` or a `Result`.
    pub fn defer<F, O>(&mut self, on_dispose: F) -> Result<(), DisposeError>
    where
        F: FnOnce() -> O + Send + 'static,
        O: IntoDisposeResult,
    {
        self.push(Box::new(move || on_dispose().into_dispose_result()))
    }

    /// Takes ownership of `value` and passes it to `on_dispose` when the stack is disposed: for
    /// values that do not implement [`Disposable`].
    pub fn adopt<T, F, O>(&mut self, value: T, on_dispose: F) -> Result<(), DisposeError>
    where
        T: Send + 'static,
        F: FnOnce(T) -> O + Send + 'static,
        O: IntoDisposeResult,
    {
        self.push(Box::new(move || on_dispose(value).into_dispose_result()))
    }

    /// Moves every cleanup to a new stack and marks this one disposed, without running anything
    /// (JavaScript's `move`, a Rust keyword). See the use-and-move manoeuvre in the
    /// [module docs](super).
    pub fn move_(&mut self) -> Result<DisposableStack, DisposeError> {
        self.check()?;
        self.disposed = true;
        Ok(DisposableStack {
            cleanups: std::mem::take(&mut self.cleanups),
            disposed: false,
        })
    }

    /// Runs every cleanup, newest first, and marks the stack disposed. Disposing a disposed stack
    /// does nothing.
    pub fn dispose(&mut self) -> Result<(), DisposeError> {
        self.disposed = true;
        let mut failures = Failures::default();
        // Pop one at a time: the stack is never borrowed while a cleanup runs.
        while let Some(cleanup) = self.cleanups.pop() {
            failures.add(run_sync(cleanup));
        }
        failures.finish()
    }

    /// Ends a `using` block whose result is `outcome`: disposes the stack, then returns
    /// `outcome`. If both failed, the disposal failure wraps the block's, as JavaScript's
    /// `SuppressedError` does. Unlike dropping the stack, this hands disposal failures back.
    pub fn dispose_with<T, E>(&mut self, outcome: Result<T, E>) -> Result<T, DisposeError>
    where
        E: Into<DisposeError>,
    {
        let disposal = self.dispose();
        finish_scope(outcome, disposal)
    }

    fn check(&self) -> Result<(), DisposeError> {
        if self.disposed {
            Err(DisposeError::AlreadyDisposed)
        } else {
            Ok(())
        }
    }

    fn push(&mut self, cleanup: SyncCleanup) -> Result<(), DisposeError> {
        self.check()?;
        self.cleanups.push(cleanup);
        Ok(())
    }
}

impl Disposable for DisposableStack {
    fn dispose(&mut self) -> Result<(), DisposeError> {
        DisposableStack::dispose(self)
    }
}

impl Drop for DisposableStack {
    fn drop(&mut self) {
        if let Err(error) = self.dispose() {
            report(error);
        }
    }
}

impl fmt::Debug for DisposableStack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DisposableStack")
            .field("pending", &self.cleanups.len())
            .field("disposed", &self.disposed)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    fn logger() -> (Arc<Mutex<Vec<String>>>, impl Fn(&str) -> SyncCleanup) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let make = {
            let log = log.clone();
            move |name: &str| -> SyncCleanup {
                let (log, name) = (log.clone(), name.to_owned());
                Box::new(move || {
                    log.lock().map_err(|_| "poisoned")?.push(name);
                    Ok(())
                })
            }
        };
        (log, make)
    }

    #[test]
    fn disposes_newest_first_and_only_once() {
        let (log, make) = logger();
        let mut stack = DisposableStack::new();
        for name in ["a", "b", "c"] {
            let cleanup = make(name);
            assert!(stack.defer(cleanup).is_ok());
        }
        assert_eq!(stack.len(), 3);
        assert!(stack.dispose().is_ok());
        assert!(stack.dispose().is_ok(), "a second dispose is a no-op");
        assert_eq!(*log.lock().expect("log"), ["c", "b", "a"]);
        assert!(stack.is_disposed() && stack.is_empty());
    }

    #[test]
    fn move_leaves_the_original_disposed_and_empty() {
        let (log, make) = logger();
        let mut stack = DisposableStack::new();
        assert!(stack.defer(make("x")).is_ok());
        let mut moved = match stack.move_() {
            Ok(moved) => moved,
            Err(error) => panic!("move failed: {error}"),
        };
        drop(stack);
        assert!(log.lock().expect("log").is_empty());
        assert!(moved.dispose().is_ok());
        assert_eq!(*log.lock().expect("log"), ["x"]);
    }

    #[test]
    fn failures_nest_newest_on_top() {
        let mut stack = DisposableStack::new();
        for name in ["a", "b"] {
            assert!(stack.defer(move || Err(name)).is_ok());
        }
        let Err(error) = stack.dispose() else {
            panic!("expected failures");
        };
        assert_eq!(error.to_string(), "a (after earlier failure: b)");
        let leaves: Vec<String> = error.failures().iter().map(|e| e.to_string()).collect();
        assert_eq!(leaves, ["b", "a"]);
    }
}
