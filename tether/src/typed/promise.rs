//! [`TypedPromise`]: an [`RpcPromise`] that knows the Rust type it resolves to.
//!
//! Awaiting it converts the result (a wrong shape is a `TypeError` naming the method). When the
//! type is a typed client ([`Client`]), the promise dereferences to that client built on the
//! unresolved result, so its methods are callable before the result arrives:
//! `calc.make_counter(Some(5)).increment(1).await?` sends both calls at once (one round trip).

use std::fmt;
use std::future::IntoFuture;
use std::ops::Deref;
use std::sync::OnceLock;

use serde::de::DeserializeOwned;

use super::de::from_value;
use super::Client;
use crate::core::error::{RpcError, RpcResult};
use crate::core::stub::RpcPromise;
use crate::core::value::Value;
use crate::rt::BoxFuture;

/// The pending result of a typed call: awaitable as a `T`, pipelinable when `T` is a typed
/// client. Dropping it unawaited tells the peer it need not send the result (rule L12).
pub struct TypedPromise<T> {
    promise: RpcPromise,
    /// What the promise is the result of (a JavaScript member name), for error messages.
    what: &'static str,
    /// The client built on the unresolved result, when `T` is one (see `Deref`).
    pipelined: OnceLock<T>,
}

impl<T> TypedPromise<T> {
    /// Wraps an untyped promise for the result of `what` (a member name, used in errors).
    pub fn new(promise: RpcPromise, what: &'static str) -> Self {
        Self {
            promise,
            what,
            pipelined: OnceLock::new(),
        }
    }

    /// A promise that is already rejected with `error`.
    pub fn rejected(error: RpcError) -> Self {
        Self::new(RpcPromise::rejected(error), "")
    }

    /// The untyped promise, e.g. to read a property or to pass it as an argument.
    pub fn untyped(&self) -> &RpcPromise {
        &self.promise
    }

    /// Unwraps the untyped promise.
    pub fn into_untyped(self) -> RpcPromise {
        self.promise
    }
}

impl<T> TypedPromise<Vec<T>> {
    /// Maps each element of the promised list with `mapper`, where the list is (rule P5 of
    /// [`RpcPromise::map`]): the mapper runs once, here, on a placeholder for an element, to
    /// record the calls it makes; the recording runs on each element where the list is, so a
    /// remote list and remote calls per element cost one round trip.
    ///
    /// Pass the placeholder to typed methods through `{Trait}Client::with_promises()`, whose
    /// arguments may be promises ([`IntoArg`](super::IntoArg)). The mapper must only make calls
    /// and return one of their results; an error in a recorded call rejects the whole map.
    pub fn map<U>(
        &self,
        mapper: impl FnOnce(TypedPromise<T>) -> TypedPromise<U>,
    ) -> TypedPromise<Vec<U>> {
        self.map_with(mapper)
    }
}

impl<T> TypedPromise<Option<T>> {
    /// Maps the promised value with `mapper` when it is `Some` (recorded as for
    /// [`TypedPromise::<Vec<T>>::map`](TypedPromise::map)); `None` stays `None` and the
    /// recording does not run.
    pub fn map<U>(
        &self,
        mapper: impl FnOnce(TypedPromise<T>) -> TypedPromise<U>,
    ) -> TypedPromise<Option<U>> {
        self.map_with(mapper)
    }
}

impl<C> TypedPromise<C> {
    /// Records `mapper` on an element placeholder with [`RpcPromise::map`].
    fn map_with<T, U, R>(
        &self,
        mapper: impl FnOnce(TypedPromise<T>) -> TypedPromise<U>,
    ) -> TypedPromise<R> {
        let what = self.what;
        let mut failed = None;
        let mapped = self.promise.map(|element| {
            let result = mapper(TypedPromise::new(element, what)).into_untyped();
            // A call the mapper could not even make (an argument that does not encode).
            if let Some(error) = result.failed_at_once() {
                failed = Some(error);
            }
            Value::Promise(result)
        });
        match failed {
            Some(error) => TypedPromise::rejected(error),
            None => TypedPromise::new(mapped, what),
        }
    }
}

impl<T: DeserializeOwned + Send + 'static> IntoFuture for TypedPromise<T> {
    type Output = RpcResult<T>;
    type IntoFuture = BoxFuture<'static, RpcResult<T>>;

    /// Waits for the result and converts it to `T`.
    fn into_future(self) -> Self::IntoFuture {
        let what = self.what;
        let promise = self.promise;
        Box::pin(async move {
            let value = promise.await?;
            from_value(value).map_err(|e| e.to_rpc_error(&format!("{what}: result")))
        })
    }
}

impl<T: Client> Deref for TypedPromise<T> {
    type Target = T;

    /// The typed client for the promised result, usable before it resolves (pipelining).
    fn deref(&self) -> &T {
        self.pipelined
            .get_or_init(|| T::from_stub(self.promise.to_stub()))
    }
}

impl<T> Clone for TypedPromise<T> {
    fn clone(&self) -> Self {
        Self::new(self.promise.clone(), self.what)
    }
}

impl<T> fmt::Debug for TypedPromise<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TypedPromise<{}>({:?})",
            std::any::type_name::<T>(),
            self.promise
        )
    }
}

impl<T> From<TypedPromise<T>> for RpcPromise {
    fn from(promise: TypedPromise<T>) -> Self {
        promise.promise
    }
}

impl<T> From<TypedPromise<T>> for Value {
    /// The promise as an argument of another call: the peer substitutes the result (pipelining).
    fn from(promise: TypedPromise<T>) -> Self {
        Value::Promise(promise.promise)
    }
}
