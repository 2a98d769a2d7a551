//! Targets: the objects a program exposes by reference, and what happens when their last stub goes.
//!
//! Owns the [`Target`] trait (dispatch by member name, optional asynchronous disposer), closures as
//! targets ([`Stub::from_fn`](crate::Stub::from_fn)), the lineage that runs a disposer exactly
//! once, and the process-wide uncaught-error hook that receives disposer failures (rule L8).
//! It knows nothing of sessions or the wire.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;

use crate::core::error::{RpcError, RpcResult};
use crate::core::value::Value;
use crate::rt::BoxFuture;

/// An object whose members can be called remotely: the Rust side of capnweb's `RpcTarget`.
///
/// Only what the implementation chooses to answer is reachable: a peer holding a stub can call
/// the methods `call` recognises and read the properties `get` recognises, nothing else.
///
/// * Unknown methods should fail with [`RpcError::not_a_function`], as capnweb does
///   (`TypeError: 'name' is not a function.`); calling a getter as a method likewise.
/// * Unknown properties read as `undefined` (the default `get`).
/// * `method` is `""` when the target itself is called as a function (a callback).
///
/// ```
/// use tether::{RpcError, Target, Value, BoxFuture};
///
/// struct Greeter;
///
/// impl Target for Greeter {
///     fn call<'a>(&'a self, method: &'a str, args: Vec<Value>) -> BoxFuture<'a, tether::RpcResult> {
///         Box::pin(async move {
///             match method {
///                 "greet" => Ok(format!("hello, {}", args[0].as_str().unwrap_or("?")).into()),
///                 _ => Err(RpcError::not_a_function(method)),
///             }
///         })
///     }
/// }
/// ```
pub trait Target: Send + Sync + 'static {
    /// Calls method `method` with `args`. Stubs in `args` are owned by the call: they are released
    /// when the call returns unless the method keeps them (rule L6).
    fn call<'a>(&'a self, method: &'a str, args: Vec<Value>) -> BoxFuture<'a, RpcResult>;

    /// Reads property `name` (a getter). Unknown properties are `undefined`.
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, RpcResult> {
        let _ = name;
        Box::pin(async { Ok(Value::Undefined) })
    }

    /// The disposer: called once per lineage after its last stub is released (rule L1, L3, L4).
    /// It runs on the runtime in the background; the releasing side never waits for it, and a
    /// failure (an `Err` or a panic) goes to the uncaught-error hook, never to the peer (L8).
    fn dispose(self: Arc<Self>) -> Option<BoxFuture<'static, RpcResult<()>>> {
        None
    }
}

/// A closure called as a function: what a JavaScript callback becomes.
pub(crate) struct FnTarget<F>(pub(crate) F);

impl<F, Fut> Target for FnTarget<F>
where
    F: Fn(Vec<Value>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = RpcResult> + Send + 'static,
{
    fn call<'a>(&'a self, method: &'a str, args: Vec<Value>) -> BoxFuture<'a, RpcResult> {
        if method.is_empty() {
            Box::pin((self.0)(args))
        } else {
            Box::pin(async move { Err(RpcError::not_a_function(method)) })
        }
    }
}

/// One lineage of a target: a stub and all its duplicates share one `Arc<Lineage>`. When the
/// last reference goes, the target's disposer runs (once for this lineage).
pub(crate) struct Lineage {
    pub(crate) target: Arc<dyn Target>,
    /// The execution context that created this lineage, kept alive until it ends (rule L9).
    pub(crate) context: crate::context::ContextHold,
}

impl crate::context::HoldsContext for Lineage {
    fn hold(&self) -> &crate::context::ContextHold {
        &self.context
    }
}

impl Drop for Lineage {
    fn drop(&mut self) {
        let Some(disposal) = self.target.clone().dispose() else {
            return;
        };
        let guarded = async move {
            report_disposal(AssertUnwindSafe(disposal).catch_unwind().await);
        };
        crate::rt::spawn(Box::pin(guarded));
    }
}

/// Installs the process-wide hook for errors nobody can receive: failing or panicking disposers
/// and callbacks (rule L8). The default prints to standard error.
pub fn set_uncaught_error_hook(hook: impl Fn(&RpcError) + Send + Sync + 'static) {
    crate::rt::set_uncaught_hook(Arc::new(
        move |error: &(dyn std::error::Error + 'static)| {
            if let Some(rpc) = error.downcast_ref::<RpcError>() {
                return hook(rpc);
            }
            let converted = match error.downcast_ref::<crate::dispose::DisposeError>() {
                Some(dispose) => RpcError::from(dispose.clone()),
                None => RpcError::error(error.to_string()),
            };
            hook(&converted);
        },
    ));
}

/// Sends `error` to the uncaught-error hook.
pub(crate) fn report_uncaught(error: &RpcError) {
    crate::rt::report_uncaught(error);
}

/// Sends a disposer's failure (an `Err`, or a caught panic) to the uncaught-error hook (rule L8).
pub(crate) fn report_disposal(outcome: std::thread::Result<RpcResult<()>>) {
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(error)) => report_uncaught(&error),
        Err(panic) => report_uncaught(&panic_error("disposer", panic.as_ref())),
    }
}

/// Turns a panic payload into an error naming where it happened.
pub(crate) fn panic_error(context: &str, panic: &(dyn std::any::Any + Send)) -> RpcError {
    RpcError::error(crate::rt::Panicked::new(context, panic).to_string())
}
