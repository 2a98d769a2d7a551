//! Shutting down on a signal: [`ShutdownSignal`] and [`run_until_signal`].
//!
//! The article's server `main` awaits `once(process, "SIGINT")` (or `SIGTERM`) and lets its
//! `await using` declarations clean up. Here the resources live in an [`AsyncDisposableStack`]
//! and [`run_until_signal`] disposes it, newest first, when the signal comes.

use std::future::Future;
use std::io;

use super::error::Failures;
use super::{AsyncDisposableStack, DisposeError};

/// Listeners for the signals that ask a program to stop: `SIGINT` (Ctrl-C) and `SIGTERM` on Unix,
/// Ctrl-C on Windows.
///
/// The handlers are installed by [`listen`](Self::listen), not on the first `recv`, so a program
/// can report that it is ready only once a signal can no longer kill it. They stay installed for
/// the life of the process (Tokio never removes them): a second signal while shutting down is
/// ignored rather than killing the program halfway through its cleanups.
#[derive(Debug)]
pub struct ShutdownSignal {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(windows)]
    ctrl_c: tokio::signal::windows::CtrlC,
}

impl ShutdownSignal {
    /// Installs the handlers now.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime with its I/O driver enabled, as Tokio's signal functions do.
    pub fn listen() -> io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(windows)]
        {
            Ok(Self {
                ctrl_c: tokio::signal::windows::ctrl_c()?,
            })
        }
    }

    /// Waits for the next signal and names it: `"SIGINT"`, `"SIGTERM"` (or `"ctrl-c"` on Windows).
    pub async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => "SIGINT",
                _ = self.terminate.recv() => "SIGTERM",
            }
        }
        #[cfg(windows)]
        {
            let _ = self.ctrl_c.recv().await;
            "ctrl-c"
        }
    }
}

/// Waits for `SIGINT` or `SIGTERM`, then disposes `stack`, newest first: the article's
/// "run until a shutdown signal" `main`.
///
/// The signal handlers are installed when this function is *called* (see [`ShutdownSignal`]);
/// the returned future waits and disposes. If they cannot be installed, the stack is disposed at
/// once and the error is returned (with any disposal failure on top, as `SuppressedError`
/// nests).
///
/// ```no_run
/// use tether::dispose::{run_until_signal, AsyncDisposableStack};
///
/// #[tokio::main]
/// async fn main() -> Result<(), tether::dispose::DisposeError> {
///     let mut stack = AsyncDisposableStack::new();
///     stack.defer_sync(|| println!("closing the database"))?;
///     stack.defer(|| async { println!("stopping the server") })?;
///     let shutdown = run_until_signal(stack);
///     println!("ready");
///     shutdown.await // prints "stopping the server", then "closing the database"
/// }
/// ```
///
/// # Panics
///
/// Outside a Tokio runtime with its I/O driver enabled, as Tokio's signal functions do.
pub fn run_until_signal(
    stack: AsyncDisposableStack,
) -> impl Future<Output = Result<(), DisposeError>> + Send {
    let listener = ShutdownSignal::listen();
    let mut stack = stack;
    async move {
        let mut failures = Failures::default();
        match listener {
            Ok(mut listener) => {
                listener.recv().await;
            }
            Err(error) => failures.add(Err(error.into())),
        }
        failures.add(stack.dispose().await);
        failures.finish()
    }
}
