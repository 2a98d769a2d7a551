//! [`DisposeError`]: what a failed cleanup reports, and how failures are aggregated.

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// Why disposal (or a use of a stack) failed.
///
/// Several failures in one disposal nest as JavaScript's `SuppressedError` does: each new failure
/// becomes the [`error`](DisposeError::Suppressed::error) of a `Suppressed` whose
/// [`suppressed`](DisposeError::Suppressed::suppressed) is everything that failed before it.
/// Three failing cleanups `a`, `b`, `c` (disposed in that order) give
/// `Suppressed { error: c, suppressed: Suppressed { error: b, suppressed: a } }`;
/// [`DisposeError::failures`] lists them back in the order they happened.
///
/// This is a local error; [`RpcError::from`](crate::RpcError) turns it into a JavaScript-shaped error (a
/// `SuppressedError` with `error` and `suppressed` properties) when it must cross the wire.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum DisposeError {
    /// A cleanup returned an error.
    Failed(Arc<dyn Error + Send + Sync>),
    /// A cleanup panicked; the panic was caught so that the later cleanups still ran. Holds the
    /// panic message.
    Panicked(String),
    /// A stack was used after it was disposed (JavaScript throws a `ReferenceError`).
    AlreadyDisposed,
    /// An asynchronous cleanup could not run: its stack was dropped outside a Tokio runtime.
    NoRuntime,
    /// A failure that happened after others (JavaScript's `SuppressedError`).
    Suppressed {
        /// The newest failure.
        error: Box<DisposeError>,
        /// Everything that failed before it (itself possibly a `Suppressed`).
        suppressed: Box<DisposeError>,
    },
}

impl DisposeError {
    /// A cleanup failure from any error (or a message: `&str` and `String` convert too).
    pub fn failed(error: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Self::Failed(Arc::from(error.into()))
    }

    /// `self`, having happened after `earlier`: the `SuppressedError` of the two.
    pub fn suppressing(self, earlier: DisposeError) -> Self {
        Self::Suppressed {
            error: Box::new(self),
            suppressed: Box::new(earlier),
        }
    }

    /// The individual failures (never a `Suppressed`), oldest first.
    pub fn failures(&self) -> Vec<&DisposeError> {
        fn collect<'a>(error: &'a DisposeError, out: &mut Vec<&'a DisposeError>) {
            match error {
                DisposeError::Suppressed { error, suppressed } => {
                    collect(suppressed, out);
                    collect(error, out);
                }
                leaf => out.push(leaf),
            }
        }
        let mut out = Vec::new();
        collect(self, &mut out);
        out
    }

    /// A caught panic, with its message.
    pub(crate) fn from_panic(panic: Box<dyn Any + Send>) -> Self {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        Self::Panicked(message)
    }
}

impl fmt::Display for DisposeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed(error) => write!(f, "{error}"),
            Self::Panicked(message) => write!(f, "cleanup panicked: {message}"),
            Self::AlreadyDisposed => f.write_str("the stack is already disposed"),
            Self::NoRuntime => {
                f.write_str("an asynchronous cleanup was dropped: no Tokio runtime to run it")
            }
            Self::Suppressed { error, suppressed } => {
                write!(f, "{error} (after earlier failure: {suppressed})")
            }
        }
    }
}

impl Error for DisposeError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            // Transparent: `Display` already shows the inner error.
            Self::Failed(error) => error.source(),
            _ => None,
        }
    }
}

impl From<std::io::Error> for DisposeError {
    fn from(error: std::io::Error) -> Self {
        Self::failed(error)
    }
}

impl From<Box<dyn Error + Send + Sync>> for DisposeError {
    fn from(error: Box<dyn Error + Send + Sync>) -> Self {
        Self::Failed(Arc::from(error))
    }
}

impl From<&str> for DisposeError {
    fn from(message: &str) -> Self {
        Self::failed(message)
    }
}

impl From<String> for DisposeError {
    fn from(message: String) -> Self {
        Self::failed(message)
    }
}

/// Collects the outcomes of a disposal run, newest failure on top.
#[derive(Default)]
pub(crate) struct Failures(Option<DisposeError>);

impl Failures {
    pub(crate) fn add(&mut self, outcome: Result<(), DisposeError>) {
        if let Err(error) = outcome {
            self.0 = Some(match self.0.take() {
                Some(earlier) => error.suppressing(earlier),
                None => error,
            });
        }
    }

    pub(crate) fn finish(self) -> Result<(), DisposeError> {
        match self.0 {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

/// The outcome of a block followed by its stack's disposal, aggregated as `using` does.
pub(crate) fn finish_scope<T, E: Into<DisposeError>>(
    outcome: Result<T, E>,
    disposal: Result<(), DisposeError>,
) -> Result<T, DisposeError> {
    match (outcome, disposal) {
        (Ok(value), Ok(())) => Ok(value),
        (Ok(_), Err(disposal)) => Err(disposal),
        (Err(error), Ok(())) => Err(error.into()),
        (Err(error), Err(disposal)) => Err(disposal.suppressing(error.into())),
    }
}

/// Hands a failure nobody can receive (disposal on drop) to tether's uncaught-error hook.
pub(crate) fn report(error: DisposeError) {
    crate::rt::report_uncaught(&error);
}
