//! Errors: the one error type that crosses the wire, and what callers can do about it.
//!
//! [`RpcError`] is a JavaScript `Error` in Rust clothing: a type name (`TypeError`,
//! `RangeError`, ...), a message, an optional stack (redacted by default when sent) and extra
//! properties (including `cause`). Every failed call, broken stub and aborted session surfaces as
//! one; [`RpcError::kind`] says which of those it was, so callers can react (retry after a
//! disconnect, give up on a failed call) without parsing messages.

use std::fmt;

use crate::dispose::DisposeError;

use crate::core::value::{Object, Value};

/// What kind of failure an [`RpcError`] reports. Not sent on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The call reached its target, which threw (or the peer rejected it).
    #[default]
    Failed,
    /// The session ended (disconnect or abort) before or while the call ran.
    Disconnected,
    /// The stub or promise was used after it was disposed.
    Disposed,
    /// The peer sent something that breaks the protocol; the session was aborted.
    Protocol,
    /// A call was cancelled because its result was dropped or its promise was disposed.
    Canceled,
}

/// An error value, as JavaScript's `Error` and its subclasses.
#[derive(Clone, Debug)]
pub struct RpcError {
    /// The JavaScript error class name, e.g. `"TypeError"`.
    pub name: String,
    /// The message.
    pub message: String,
    /// The stack trace, if the sender chose to include one.
    pub stack: Option<String>,
    /// Extra own properties of the error (e.g. `cause`, `code`).
    pub props: Object,
    kind: ErrorKind,
}

impl RpcError {
    /// An error with a JavaScript class name and a message.
    pub fn new(name: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            message: message.into(),
            stack: None,
            props: Object::new(),
            kind: ErrorKind::Failed,
        }
    }

    /// A plain `Error`.
    pub fn error(message: impl Into<String>) -> Self {
        Self::new("Error", message)
    }

    /// A `TypeError`.
    pub fn type_error(message: impl Into<String>) -> Self {
        Self::new("TypeError", message)
    }

    /// A `RangeError`.
    pub fn range_error(message: impl Into<String>) -> Self {
        Self::new("RangeError", message)
    }

    /// The error capnweb raises for calling something that is not a method:
    /// `TypeError: 'name' is not a function.`
    pub fn not_a_function(name: &str) -> Self {
        Self::type_error(format!("'{name}' is not a function."))
    }

    /// Sets the `cause` property.
    pub fn with_cause(mut self, cause: impl Into<Value>) -> Self {
        self.props.insert("cause", cause);
        self
    }

    /// Sets an extra property.
    pub fn with_prop(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.props.insert(key, value);
        self
    }

    /// Sets the kind.
    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The `cause` property, if any.
    pub fn cause(&self) -> Option<&Value> {
        self.props.get("cause")
    }

    pub(crate) fn disconnected(message: impl Into<String>) -> Self {
        Self::error(message).with_kind(ErrorKind::Disconnected)
    }

    pub(crate) fn protocol(name: &str, message: impl Into<String>) -> Self {
        Self::new(name, message).with_kind(ErrorKind::Protocol)
    }

    /// capnweb's error for a reference to an export that does not exist.
    pub(crate) fn no_such_entry(id: i64) -> Self {
        Self::protocol("Error", format!("no such entry on exports table: {id}"))
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

impl std::error::Error for RpcError {}

impl PartialEq for RpcError {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.message == other.message
    }
}

/// The result of a call.
pub type RpcResult<T = Value> = Result<T, RpcError>;

impl From<RpcError> for DisposeError {
    fn from(error: RpcError) -> Self {
        Self::failed(error)
    }
}

/// The JavaScript shape: a wrapped `RpcError` comes back as itself, a use after dispose is a
/// `ReferenceError` of kind [`ErrorKind::Disposed`], and an aggregate is a `SuppressedError`
/// whose `error` and `suppressed` properties hold the converted parts.
impl From<DisposeError> for RpcError {
    fn from(error: DisposeError) -> Self {
        match error {
            DisposeError::Failed(inner) => match inner.downcast_ref::<RpcError>() {
                Some(rpc) => rpc.clone(),
                None => RpcError::error(inner.to_string()),
            },
            DisposeError::AlreadyDisposed => {
                RpcError::new("ReferenceError", error.to_string()).with_kind(ErrorKind::Disposed)
            }
            DisposeError::Panicked(_) | DisposeError::NoRuntime => {
                RpcError::error(error.to_string())
            }
            DisposeError::Suppressed { error, suppressed } => RpcError::new(
                "SuppressedError",
                "An error was suppressed during disposal.",
            )
            .with_prop("error", Value::from(RpcError::from(*error)))
            .with_prop("suppressed", Value::from(RpcError::from(*suppressed))),
        }
    }
}
