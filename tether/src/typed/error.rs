//! The error of the serde bridge: what was expected, what was found, and where.
//!
//! [`ConvertError`] is what [`to_value`](super::to_value) and [`from_value`](super::from_value)
//! return. It keeps the path inside the value (`.point.x`, `[2]`) apart from the message, so the
//! server adapter can say which parameter was wrong
//! (`makeCounter: parameter 'start' must be an integer, got string`) and the client can say which
//! result was.

use std::fmt;

use crate::core::error::RpcError;

/// A value that could not be converted between a Rust type and a [`Value`](crate::Value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvertError {
    /// Path segments from the outside in, each rendered (`.name` or `[index]`).
    path: Vec<String>,
    problem: Problem,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Problem {
    /// The value had the wrong type or was out of range.
    Mismatch { expected: String, found: String },
    /// Anything else (a missing field, an unknown variant, a custom message).
    Other(String),
}

impl ConvertError {
    /// A value of the wrong type (or out of range): "must be `expected`, got `found`".
    pub fn mismatch(expected: impl Into<String>, found: impl Into<String>) -> Self {
        Self {
            path: Vec::new(),
            problem: Problem::Mismatch {
                expected: expected.into(),
                found: found.into(),
            },
        }
    }

    /// Any other problem, described by `message`.
    pub fn other(message: impl Into<String>) -> Self {
        Self {
            path: Vec::new(),
            problem: Problem::Other(message.into()),
        }
    }

    /// The same error, found inside field `key` of an object.
    pub(crate) fn in_field(mut self, key: &str) -> Self {
        self.path.insert(0, format!(".{key}"));
        self
    }

    /// The same error, found inside element `index` of an array.
    pub(crate) fn in_element(mut self, index: usize) -> Self {
        self.path.insert(0, format!("[{index}]"));
        self
    }

    /// Where in the value the problem is, e.g. `.points[2].x`; empty for the value itself.
    pub fn path(&self) -> String {
        self.path.concat()
    }

    /// The error as the `TypeError` a server sends for a bad parameter: names the method, the
    /// parameter and, for nested values, the path inside it.
    pub fn parameter_error(&self, method: &str, parameter: &str) -> RpcError {
        let subject = format!("{method}: parameter '{parameter}{}'", self.path());
        RpcError::type_error(self.describe(&subject))
    }

    /// The error as a `TypeError` about `what` (e.g. "square: result").
    pub fn to_rpc_error(&self, what: &str) -> RpcError {
        let subject = if self.path.is_empty() {
            what.to_owned()
        } else {
            format!("{what} at '{}'", self.path())
        };
        RpcError::type_error(self.describe(&subject))
    }

    fn describe(&self, subject: &str) -> String {
        match &self.problem {
            Problem::Mismatch { expected, found } => {
                format!("{subject} must be {expected}, got {found}")
            }
            Problem::Other(message) => format!("{subject}: {message}"),
        }
    }
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let subject = if self.path.is_empty() {
            "value".to_owned()
        } else {
            format!("value at '{}'", self.path())
        };
        f.write_str(&self.describe(&subject))
    }
}

impl std::error::Error for ConvertError {}

impl From<ConvertError> for RpcError {
    /// A `TypeError` carrying the error's description.
    fn from(error: ConvertError) -> Self {
        RpcError::type_error(error.to_string())
    }
}

impl serde::ser::Error for ConvertError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::other(msg.to_string())
    }
}

impl serde::de::Error for ConvertError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::other(msg.to_string())
    }

    fn invalid_type(unexp: serde::de::Unexpected<'_>, exp: &dyn serde::de::Expected) -> Self {
        Self::mismatch(exp.to_string(), unexp.to_string())
    }

    fn invalid_value(unexp: serde::de::Unexpected<'_>, exp: &dyn serde::de::Expected) -> Self {
        Self::mismatch(exp.to_string(), unexp.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_parameter_and_the_path() {
        let error = ConvertError::mismatch("an integer", "string");
        assert_eq!(
            error.parameter_error("makeCounter", "start").message,
            "makeCounter: parameter 'start' must be an integer, got string"
        );
        let nested = ConvertError::mismatch("a number", "string")
            .in_field("x")
            .in_element(2);
        assert_eq!(nested.path(), "[2].x");
        assert_eq!(
            nested.to_string(),
            "value at '[2].x' must be a number, got string"
        );
        let other = ConvertError::other("missing field `x`").in_field("p");
        assert_eq!(
            other.parameter_error("draw", "shape").message,
            "draw: parameter 'shape.p': missing field `x`"
        );
    }
}
