//! [`IntoArg`]: what a typed client method accepts for a parameter of type `T` — a `T`, or a
//! [`TypedPromise`] of one (sent as a promise: the peer substitutes the result, so the two calls
//! cost one round trip; inside a [`map`](TypedPromise::map) mapper, the element placeholder).

use super::promise::TypedPromise;
use crate::core::stub::RpcPromise;

/// An argument of a typed client method for a parameter of type `T`: the value itself, or a
/// promise of it. Built by [`IntoArg::into_arg`].
#[derive(Debug)]
pub enum Arg<T> {
    /// The value, serialized when the call is made.
    Value(T),
    /// A pending result, sent as a promise (pipelining).
    Promise(RpcPromise),
}

/// What a typed client method accepts for a parameter of type `T`: a `T`, a
/// [`TypedPromise<T>`] (or a reference to one) and, for an `Option<T>` parameter, a
/// `TypedPromise<T>`.
///
/// A promise argument is pipelined: `api.name_of(api.first_id())` sends both calls at once, and
/// inside a [`map`](TypedPromise::map) mapper the element placeholder is passed this way.
pub trait IntoArg<T> {
    /// The argument.
    fn into_arg(self) -> Arg<T>;
}

impl<T> IntoArg<T> for T {
    fn into_arg(self) -> Arg<T> {
        Arg::Value(self)
    }
}

impl<T> IntoArg<T> for TypedPromise<T> {
    fn into_arg(self) -> Arg<T> {
        Arg::Promise(self.into_untyped())
    }
}

impl<T> IntoArg<T> for &TypedPromise<T> {
    fn into_arg(self) -> Arg<T> {
        Arg::Promise(self.untyped().clone())
    }
}

impl<T> IntoArg<Option<T>> for TypedPromise<T> {
    fn into_arg(self) -> Arg<Option<T>> {
        Arg::Promise(self.into_untyped())
    }
}

impl<T> IntoArg<Option<T>> for &TypedPromise<T> {
    fn into_arg(self) -> Arg<Option<T>> {
        Arg::Promise(self.untyped().clone())
    }
}
