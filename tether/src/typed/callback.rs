//! [`Callback`]: a function stub with typed arguments and result — what a JavaScript function
//! becomes in a typed interface, and how a Rust closure is handed to one.
//!
//! The arguments are a tuple ([`Args`]: `()`, `(T,)`, `(T, U)`, ... up to six), checked one by one
//! like a method's parameters, so a peer calling a Rust callback with a wrong argument gets a
//! `TypeError` naming it and the closure does not run.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::dispatch::{encode_result, Params};
use super::promise::TypedPromise;
use super::ser::to_value;
use crate::core::error::RpcResult;
use crate::core::stub::Stub;
use crate::core::value::Value;

/// What a [`Callback`] is called with and as; a call's error messages call it this.
const NAME: &str = "callback";

/// A stub for a function taking `A` (a tuple of argument types) and resolving to `R`.
///
/// Like any stub, `Clone` duplicates it and dropping it releases it. As a parameter of a typed
/// interface it accepts a function (a stub or a promise of one) and rejects data with a
/// `TypeError`.
///
/// ```
/// use tether::typed::Callback;
/// use tether::{transport::memory, RpcResult, RpcSession, SessionOptions};
///
/// #[tether::interface]
/// pub trait Twice {
///     /// `f(f(x))`.
///     async fn twice(&self, f: Callback<(f64,), f64>, x: f64) -> RpcResult<f64>;
/// }
///
/// struct Server;
///
/// impl Twice for Server {
///     async fn twice(&self, f: Callback<(f64,), f64>, x: f64) -> RpcResult<f64> {
///         let once = f.call((x,)).await?;
///         f.call((once,)).await
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> RpcResult<()> {
/// let (client_end, server_end) = memory::pair();
/// let (_, _server) =
///     RpcSession::spawn(server_end, Some(TwiceClient::serve(Server).into()), SessionOptions::default());
/// let (main, _client) = RpcSession::spawn(client_end, None, SessionOptions::default());
/// let api = TwiceClient::from(main);
///
/// let add_one = Callback::new(|(x,): (f64,)| async move { Ok(x + 1.0) });
/// assert_eq!(api.twice(add_one, 5.0).await?, 7.0);
/// # Ok(()) }
/// ```
pub struct Callback<A, R> {
    stub: Stub,
    types: PhantomData<fn(A) -> R>,
}

impl<A: Args, R: Serialize + 'static> Callback<A, R> {
    /// A function served here: `f` runs for each call, with the arguments checked first.
    pub fn new<F, Fut>(f: F) -> Self
    where
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = RpcResult<R>> + Send + 'static,
    {
        Self::from_stub(Stub::from_fn(move |args| {
            let call = A::from_values(args).map(&f);
            async move { encode_result(NAME, call?.await?) }
        }))
    }
}

impl<A: Args, R> Callback<A, R> {
    /// Calls the function with `args` (a tuple: `f.call((x,))`).
    pub fn call(&self, args: A) -> TypedPromise<R> {
        match args.into_values() {
            Ok(values) => TypedPromise::new(self.stub.invoke(values), NAME),
            Err(error) => TypedPromise::rejected(error),
        }
    }
}

impl<A, R> Callback<A, R> {
    /// Uses `stub` as a function of this type. Nothing is checked until it is called.
    pub fn from_stub(stub: Stub) -> Self {
        Self {
            stub,
            types: PhantomData,
        }
    }

    /// The untyped stub.
    pub fn stub(&self) -> &Stub {
        &self.stub
    }

    /// Unwraps the untyped stub.
    pub fn into_stub(self) -> Stub {
        self.stub
    }
}

impl<A, R> Clone for Callback<A, R> {
    /// A duplicate (rule L3): the function lives until every duplicate is dropped.
    fn clone(&self) -> Self {
        Self::from_stub(self.stub.clone())
    }
}

impl<A, R> fmt::Debug for Callback<A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Callback<{}, {}>({:?})",
            std::any::type_name::<A>(),
            std::any::type_name::<R>(),
            self.stub
        )
    }
}

impl<A, R> From<Callback<A, R>> for Value {
    fn from(callback: Callback<A, R>) -> Self {
        Value::Stub(callback.stub)
    }
}

impl<A, R> Serialize for Callback<A, R> {
    /// Passes the function by reference, as a [`Stub`].
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.stub.serialize(serializer)
    }
}

impl<'de, A, R> Deserialize<'de> for Callback<A, R> {
    /// Accepts a stub (or a promise of one); data is refused.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Stub::deserialize(deserializer).map(Self::from_stub)
    }
}

/// The arguments of a [`Callback`]: a tuple of serde types, `()` to `(A, B, C, D, E, F)`.
pub trait Args: Sized + Send + 'static {
    /// The arguments as values, in order.
    fn into_values(self) -> RpcResult<Vec<Value>>;
    /// The arguments from the values a peer sent, each checked: a wrong one is a `TypeError`
    /// naming its position (`callback: parameter '#0' must be a number, got string`); a
    /// missing one is `undefined` (accepted by an `Option`); extra ones are ignored, as in
    /// JavaScript.
    fn from_values(values: Vec<Value>) -> RpcResult<Self>;
}

macro_rules! tuple_args {
    ($($name:ident $index:tt),*) => {
        impl<$($name: Serialize + DeserializeOwned + Send + 'static),*> Args for ($($name,)*) {
            fn into_values(self) -> RpcResult<Vec<Value>> {
                Ok(vec![$(to_value(&self.$index).map_err(|e| {
                    e.to_rpc_error(concat!("callback: argument ", stringify!($index)))
                })?),*])
            }

            #[allow(unused_mut, unused_variables)]
            fn from_values(values: Vec<Value>) -> RpcResult<Self> {
                let mut params = Params::new(NAME, values);
                Ok(($(params.take::<$name>(concat!("#", stringify!($index)))?,)*))
            }
        }
    };
}

tuple_args!();
tuple_args!(A 0);
tuple_args!(A 0, B 1);
tuple_args!(A 0, B 1, C 2);
tuple_args!(A 0, B 1, C 2, D 3);
tuple_args!(A 0, B 1, C 2, D 3, E 4);
tuple_args!(A 0, B 1, C 2, D 3, E 4, F 5);
