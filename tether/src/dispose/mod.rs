//! Explicit resource management: JavaScript's `using`, `Symbol.dispose` and `DisposableStack`,
//! for Rust.
//!
//! Owns the [`Disposable`] and [`AsyncDisposable`] traits, the two stacks of cleanups
//! ([`DisposableStack`], [`AsyncDisposableStack`]), the [`Using`] guard, the aggregated error
//! [`DisposeError`], disposable timers ([`set_interval`], [`set_timeout`]) and, with the `signal`
//! feature (on by default), the shut-down-on-a-signal entry point (`run_until_signal`,
//! `ShutdownSignal`). It knows nothing of sessions or the wire and can be used without the RPC
//! part.
//!
//! Rust already has `using`: scopes and `Drop`. What it lacks is a fallible, possibly
//! asynchronous cleanup, and a stack of heterogeneous cleanups that can be built up while
//! something may fail, then handed on. That is what this module adds.
//!
//! ## From JavaScript
//!
//! | JavaScript | here |
//! | --- | --- |
//! | `[Symbol.dispose]()` | [`Disposable::dispose`] |
//! | `[Symbol.asyncDispose]()` | [`AsyncDisposable::dispose_async`] |
//! | `using x = r` | a local (plain `Drop`), or [`Using::new(r)`](Using) for a [`Disposable`] |
//! | `await using x = r` | none (no asynchronous drop): an [`AsyncDisposableStack`], disposed with `.await` |
//! | `new DisposableStack()` / `new AsyncDisposableStack()` | [`DisposableStack::new`] / [`AsyncDisposableStack::new`] |
//! | `stack.use(r)` | `use_resource(r)` (`use` is a keyword); `use_sync(r)` for a sync resource on the async stack |
//! | `stack.defer(f)` | `defer(f)`; `defer_sync(f)` on the async stack |
//! | `stack.adopt(v, f)` | `adopt(v, f)`; `adopt_sync(v, f)` on the async stack |
//! | `stack.move()` | `move_()` (`move` is a keyword) |
//! | `stack.dispose()` / `stack.disposeAsync()` | [`DisposableStack::dispose`] / [`AsyncDisposableStack::dispose`]`.await` |
//! | `stack.disposed` | `is_disposed()` |
//! | `SuppressedError` (`error`, `suppressed`) | [`DisposeError::Suppressed`] (`error`, `suppressed`) |
//! | `ReferenceError` when using a disposed stack | [`DisposeError::AlreadyDisposed`] |
//! | a disposable `setInterval` / `setTimeout` | [`set_interval`] / [`set_timeout`] |
//! | `await once(process, "SIGINT")`, then dispose | `run_until_signal(stack)` (feature `signal`) |
//!
//! Differences that come from ownership:
//!
//! * `use`, `adopt` return the resource in JavaScript; here the stack takes ownership and returns
//!   nothing. Keep a handle (a clone of an `Arc`, a channel sender) if you still need to reach it.
//! * Registering on a disposed stack fails and drops what was passed in without running it, as
//!   JavaScript throws before touching it.
//! * The closures may return `()` or a `Result` (see [`IntoDisposeResult`]).
//!
//! ## Rules
//!
//! * Cleanups run newest first; on the async stack each is awaited before the next starts.
//! * Every cleanup runs, even if earlier ones fail. A panic in a cleanup is caught and becomes
//!   [`DisposeError::Panicked`], so it does not stop the others either.
//! * Failures nest as `SuppressedError` does: the later failure wraps the earlier ones, so the
//!   newest is on top; [`DisposeError::failures`] lists them oldest first.
//! * Dropping a stack that was not disposed disposes it; failures go to tether's uncaught-error
//!   hook ([`set_uncaught_error_hook`](crate::set_uncaught_error_hook)). For the asynchronous
//!   stack, see [what drop can and cannot do](AsyncDisposableStack#dropping-without-disposing).
//!
//! ## Example: the use-and-move manoeuvre
//!
//! Open several resources; if one fails, close those already open; if all succeed, hand them on
//! in one disposable.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use tether::dispose::{DisposableStack, DisposeError};
//!
//! type Log = Arc<Mutex<Vec<String>>>;
//!
//! fn open(name: &str, log: &Log) -> Result<String, DisposeError> {
//!     if name.starts_with("missing") {
//!         return Err(DisposeError::failed(format!("{name}: not found")));
//!     }
//!     log.lock().unwrap().push(format!("open {name}"));
//!     Ok(name.to_owned())
//! }
//!
//! fn open_all(names: &[&str], log: &Log) -> Result<DisposableStack, DisposeError> {
//!     // Dropped (so disposed) if anything below fails.
//!     let mut stack = DisposableStack::new();
//!     for name in names {
//!         let file = open(name, log)?;
//!         let log = log.clone();
//!         stack.adopt(file, move |file| log.lock().unwrap().push(format!("close {file}")))?;
//!     }
//!     // Everything opened: move the cleanups out of the stack that is about to be dropped.
//!     stack.move_()
//! }
//!
//! let log = Log::default();
//! assert!(open_all(&["a", "b", "missing-c", "d"], &log).is_err());
//! assert_eq!(*log.lock().unwrap(), ["open a", "open b", "close b", "close a"]);
//!
//! log.lock().unwrap().clear();
//! let mut files = open_all(&["a", "b"], &log)?;
//! assert_eq!(*log.lock().unwrap(), ["open a", "open b"]); // nothing closed yet
//! files.dispose()?;
//! assert_eq!(*log.lock().unwrap(), ["open a", "open b", "close b", "close a"]);
//! # Ok::<(), DisposeError>(())
//! ```
//!
//! ## Example: an asynchronous stack with a failing cleanup
//!
//! ```
//! use tether::dispose::{AsyncDisposableStack, DisposeError, set_interval};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), DisposeError> {
//! let mut stack = AsyncDisposableStack::new();
//! stack.use_sync(set_interval(Duration::from_secs(60), || println!("tick")))?;
//! stack.defer(|| async { Err::<(), _>("flush failed") })?;
//! stack.defer_sync(|| Err::<(), _>("close failed"))?;
//!
//! let Err(error) = stack.dispose().await else { unreachable!() };
//! // "close failed" ran first; "flush failed" came later and wraps it.
//! assert_eq!(error.to_string(), "flush failed (after earlier failure: close failed)");
//! assert!(matches!(stack.defer_sync(|| ()), Err(DisposeError::AlreadyDisposed)));
//! # Ok(()) }
//! ```

mod async_stack;
mod error;
mod guard;
#[cfg(all(feature = "signal", any(unix, windows)))]
mod signal;
mod stack;
mod timers;

pub use async_stack::AsyncDisposableStack;
pub use error::DisposeError;
pub use guard::{AsyncDisposeFn, DisposeFn, Using};
#[cfg(all(feature = "signal", any(unix, windows)))]
pub use signal::{run_until_signal, ShutdownSignal};
pub use stack::DisposableStack;
pub use timers::{set_interval, set_timeout, Interval, Timeout};

use crate::rt::BoxFuture;

/// A resource with a synchronous cleanup: JavaScript's `Symbol.dispose`.
///
/// Stacks call `dispose` once and then drop the resource. Called directly, a second call should
/// do nothing (as for [`Option`] and [`DisposeFn`]) or fail; it must not clean up twice.
///
/// ```
/// use tether::dispose::{Disposable, DisposeError, DisposableStack};
///
/// struct Connection { open: bool }
///
/// impl Disposable for Connection {
///     fn dispose(&mut self) -> Result<(), DisposeError> {
///         self.open = false; // flush, close the socket...
///         Ok(())
///     }
/// }
///
/// let mut stack = DisposableStack::new();
/// stack.use_resource(Connection { open: true })?;
/// stack.dispose()?;
/// # Ok::<(), DisposeError>(())
/// ```
pub trait Disposable {
    /// Releases the resource.
    fn dispose(&mut self) -> Result<(), DisposeError>;
}

/// A resource with an asynchronous cleanup: JavaScript's `Symbol.asyncDispose`.
///
/// The same contract as [`Disposable`]; the returned future does the work and may borrow `self`.
///
/// ```
/// use tether::dispose::{AsyncDisposable, DisposeError};
/// use tether::BoxFuture;
///
/// struct Client { tx: tokio::sync::mpsc::Sender<&'static str> }
///
/// impl AsyncDisposable for Client {
///     fn dispose_async(&mut self) -> BoxFuture<'_, Result<(), DisposeError>> {
///         Box::pin(async move {
///             self.tx.send("bye").await.map_err(|_| DisposeError::failed("peer gone"))
///         })
///     }
/// }
/// ```
pub trait AsyncDisposable {
    /// Releases the resource; done when the future completes.
    fn dispose_async(&mut self) -> BoxFuture<'_, Result<(), DisposeError>>;
}

/// What a cleanup closure may return: `()`, or a `Result<(), E>` whose error converts to a
/// [`DisposeError`] (such as [`RpcError`](crate::RpcError), [`std::io::Error`], a boxed error,
/// `&str` or `String`).
pub trait IntoDisposeResult {
    /// The outcome as a `Result`.
    fn into_dispose_result(self) -> Result<(), DisposeError>;
}

impl IntoDisposeResult for () {
    fn into_dispose_result(self) -> Result<(), DisposeError> {
        Ok(())
    }
}

impl<E: Into<DisposeError>> IntoDisposeResult for Result<(), E> {
    fn into_dispose_result(self) -> Result<(), DisposeError> {
        self.map_err(Into::into)
    }
}

impl<T: Disposable + ?Sized> Disposable for Box<T> {
    fn dispose(&mut self) -> Result<(), DisposeError> {
        (**self).dispose()
    }
}

/// Disposes the value, if any, and leaves `None`: disposing twice does nothing.
impl<T: Disposable> Disposable for Option<T> {
    fn dispose(&mut self) -> Result<(), DisposeError> {
        match self.take() {
            Some(mut resource) => resource.dispose(),
            None => Ok(()),
        }
    }
}

/// Aborts the task (dropping a `JoinHandle` only detaches it).
impl<T> Disposable for tokio::task::JoinHandle<T> {
    fn dispose(&mut self) -> Result<(), DisposeError> {
        self.abort();
        Ok(())
    }
}

/// Aborts the task.
impl Disposable for tokio::task::AbortHandle {
    fn dispose(&mut self) -> Result<(), DisposeError> {
        self.abort();
        Ok(())
    }
}

impl<T: AsyncDisposable + ?Sized> AsyncDisposable for Box<T> {
    fn dispose_async(&mut self) -> BoxFuture<'_, Result<(), DisposeError>> {
        (**self).dispose_async()
    }
}

/// Disposes the value, if any, and leaves `None`: disposing twice does nothing.
impl<T: AsyncDisposable + Send> AsyncDisposable for Option<T> {
    fn dispose_async(&mut self) -> BoxFuture<'_, Result<(), DisposeError>> {
        let taken = self.take();
        Box::pin(async move {
            match taken {
                Some(mut resource) => resource.dispose_async().await,
                None => Ok(()),
            }
        })
    }
}
