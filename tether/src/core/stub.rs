//! Stubs and promises: the handles application code holds.
//!
//! Rust ownership is the lifecycle (rules L1-L7, L12):
//!
//! | JavaScript | tether |
//! | --- | --- |
//! | `stub.dup()` | [`Stub::clone`] (or [`Stub::dup`]): a new handle in the same lineage |
//! | `stub[Symbol.dispose]()` | dropping the stub (or [`Stub::dispose`], which consumes it) |
//! | passing a stub transfers it | passing a `Stub` by value moves it; the compiler enforces it |
//! | `using result = await call()` | the `Value` you get owns its stubs; dropping it releases them |
//!
//! Use after dispose cannot happen: `dispose` takes `self`, so this does not compile:
//!
//! ```compile_fail
//! # use tether::Stub;
//! # fn f(stub: Stub) {
//! stub.dispose();
//! let _ = stub.call("again", vec![]);
//! # }
//! ```
//!
//! Nothing here blocks: calls return an [`RpcPromise`] at once (the message is queued), and
//! `Drop` only queues a release for the session task.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::sync::Arc;

use crate::core::error::{RpcError, RpcResult};
use crate::core::hook::{Hook, Spawner};
use crate::core::map::record;
use crate::core::target::{FnTarget, Lineage, Target};
use crate::core::value::{PathKey, Value};
use crate::rt::BoxFuture;

/// A reference to a target, local or remote. `Clone` duplicates it; `Drop` disposes it.
#[derive(Clone)]
pub struct Stub {
    pub(crate) hook: Hook,
}

impl Stub {
    /// Wraps a target in a new local stub: one new lineage. Sending duplicates of this stub (or
    /// the stub itself) keeps one lineage, so the disposer runs once, after the last remote and
    /// local duplicate is released (rule L4).
    pub fn new(target: impl Target) -> Self {
        Self::from_arc(Arc::new(target))
    }

    /// Starts a new lineage for a shared target. Each call makes a separate lineage, so the
    /// target's disposer runs once per call of this function, when that lineage ends.
    pub fn from_arc(target: Arc<dyn Target>) -> Self {
        let lineage = Arc::new(Lineage {
            target,
            context: Default::default(),
        });
        crate::context::ContextHold::attach(&lineage);
        Stub {
            hook: Hook::Local(lineage),
        }
    }

    /// A stub for a closure, called as a function (a callback). The closure gets the arguments.
    pub fn from_fn<F, Fut>(f: F) -> Self
    where
        F: Fn(Vec<Value>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = RpcResult> + Send + 'static,
    {
        Self::new(FnTarget(f))
    }

    /// A stub on which every call fails with `error`.
    pub fn broken(error: RpcError) -> Self {
        Stub {
            hook: Hook::Error(Arc::new(error)),
        }
    }

    /// Calls method `method`. Stubs inside `args` are transferred to the callee (rule L5):
    /// clone them first to keep using them.
    pub fn call(&self, method: &str, args: Vec<Value>) -> RpcPromise {
        call_hook(&self.hook, &[name(method)], args)
    }

    /// Calls the stub itself as a function (for callbacks).
    pub fn invoke(&self, args: Vec<Value>) -> RpcPromise {
        call_hook(&self.hook, &[], args)
    }

    /// Reads property `name`, lazily: nothing is sent until the promise is awaited, called or
    /// passed along, and it can be pipelined on (`stub.get("a").get("b").call("c", ..)`).
    pub fn get(&self, name_: &str) -> RpcPromise {
        RpcPromise {
            hook: self.hook.clone(),
            path: vec![name(name_)],
        }
    }

    /// Duplicates the stub (same as `clone`): the target lives until every duplicate is gone.
    pub fn dup(&self) -> Stub {
        self.clone()
    }

    /// Disposes the stub now (same as dropping it). Consuming `self` makes double disposal and
    /// use after dispose compile errors.
    pub fn dispose(self) {}

    /// Runs `callback` if this reference breaks: its session disconnects or aborts, or (for a
    /// promise) it rejects. Never runs for a local target.
    pub fn on_broken(&self, callback: impl FnOnce(RpcError) + Send + 'static) {
        self.hook.on_broken(Box::new(callback));
    }
}

impl fmt::Debug for Stub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Stub({})", describe(&self.hook))
    }
}

/// The pending result of a call, or a property read: awaitable, and usable as a stub before it
/// resolves (promise pipelining). `Clone` duplicates it; dropping one that was never awaited tells
/// the peer it need not send the result (rule L12).
#[derive(Clone)]
pub struct RpcPromise {
    pub(crate) hook: Hook,
    pub(crate) path: Vec<PathKey>,
}

impl RpcPromise {
    /// Calls method `method` on the promised value, without waiting for it (rule P1).
    pub fn call(&self, method: &str, args: Vec<Value>) -> RpcPromise {
        let mut path = self.path.clone();
        path.push(name(method));
        call_hook(&self.hook, &path, args)
    }

    /// Calls the promised value itself as a function.
    pub fn invoke(&self, args: Vec<Value>) -> RpcPromise {
        call_hook(&self.hook, &self.path, args)
    }

    /// Property `name` of the promised value, lazily.
    pub fn get(&self, name_: &str) -> RpcPromise {
        let mut path = self.path.clone();
        path.push(name(name_));
        RpcPromise {
            hook: self.hook.clone(),
            path,
        }
    }

    /// Element `index` of the promised array, lazily.
    pub fn index(&self, index: u64) -> RpcPromise {
        let mut path = self.path.clone();
        path.push(PathKey::Index(index));
        RpcPromise {
            hook: self.hook.clone(),
            path,
        }
    }

    /// Maps the promised value with `mapper` (rule P5): on each element of an array, not at all on
    /// `null`/`undefined`, once on anything else. The closure runs once, here, on a placeholder,
    /// to record what it does; the recording runs where the value is, so mapping a remote list
    /// with remote calls costs one round trip. The closure must only make calls and property
    /// reads (on the placeholder or on other stubs) and build a result from them.
    ///
    /// ```
    /// # use tether::{RpcPromise, Stub, Value};
    /// # async fn demo(api: Stub) -> tether::RpcResult<()> {
    /// let ids = api.call("listIds", vec![]);
    /// let names = ids.map(|id| api.call("nameOf", vec![id.into()]).into());
    /// let names = names.await?; // one round trip for the list and every lookup
    /// # Ok(()) }
    /// ```
    pub fn map(&self, mapper: impl FnOnce(RpcPromise) -> Value) -> RpcPromise {
        match record::record(mapper) {
            Ok(recording) => RpcPromise::from_hook(self.hook.map(&self.path, recording)),
            Err(error) => RpcPromise::rejected(error),
        }
    }

    /// A promise for the outcome of a local future (rule P6): callers can pipeline on it before
    /// the future has finished. The future is spawned on the current Tokio runtime.
    pub fn from_future(future: impl Future<Output = RpcResult> + Send + 'static) -> RpcPromise {
        let cell = crate::core::promise::PromiseCell::new();
        let settle = crate::core::promise::SettleGuard::new(cell.clone());
        crate::core::hook::start(
            Box::pin(async move {
                let result = future.await;
                settle.settle(Hook::from_result(result));
            }),
            &Spawner::Runtime,
        );
        RpcPromise::from_hook(Hook::Promise(cell))
    }

    /// An already-resolved promise.
    pub fn resolved(value: Value) -> RpcPromise {
        RpcPromise::from_hook(Hook::from_result(Ok(value)))
    }

    /// An already-rejected promise.
    pub fn rejected(error: RpcError) -> RpcPromise {
        RpcPromise::from_hook(Hook::Error(Arc::new(error)))
    }

    /// Treats the promised value as a stub (capnweb's promise-as-stub), e.g. to pass it on.
    pub fn to_stub(&self) -> Stub {
        Stub {
            hook: self.hook.get(&self.path, &Spawner::Runtime),
        }
    }

    /// The error, if this promise is already known to have failed (e.g. a call whose arguments
    /// could not even be sent).
    pub(crate) fn failed_at_once(&self) -> Option<RpcError> {
        match &self.hook {
            Hook::Error(error) => Some((**error).clone()),
            _ => None,
        }
    }

    /// Duplicates the promise (same as `clone`).
    pub fn dup(&self) -> RpcPromise {
        self.clone()
    }

    /// Disposes the promise (same as dropping it).
    pub fn dispose(self) {}

    /// Runs `callback` if the promise rejects or its session breaks.
    pub fn on_broken(&self, callback: impl FnOnce(RpcError) + Send + 'static) {
        if self.path.is_empty() {
            self.hook.on_broken(Box::new(callback));
        } else {
            let hook = self.hook.get(&self.path, &Spawner::Runtime);
            hook.on_broken(Box::new(callback));
        }
    }
}

impl IntoFuture for RpcPromise {
    type Output = RpcResult;
    type IntoFuture = BoxFuture<'static, RpcResult>;

    /// Waits for the value. Promises inside it are resolved first; stubs inside it belong to the
    /// caller (drop the value to release them, rule L7).
    fn into_future(self) -> Self::IntoFuture {
        let hook = if self.path.is_empty() {
            self.hook
        } else {
            self.hook.get(&self.path, &Spawner::Runtime)
        };
        hook.resolve()
    }
}

impl fmt::Debug for RpcPromise {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RpcPromise({}, path {:?})",
            describe(&self.hook),
            self.path
        )
    }
}

/// Makes a call, or records it when a `map()` closure is running on this thread.
fn call_hook(hook: &Hook, path: &[PathKey], args: Vec<Value>) -> RpcPromise {
    if let Some(recorder) = record::active() {
        if !matches!(hook, Hook::MapVar(_)) {
            return RpcPromise::from_hook(record::record_on(&recorder, hook, path, Some(args)));
        }
    }
    RpcPromise::from_hook(hook.call(path, args, &Spawner::Runtime))
}

fn name(s: &str) -> PathKey {
    PathKey::Name(s.into())
}

fn describe(hook: &Hook) -> String {
    match hook {
        Hook::Local(_) => "local".to_owned(),
        Hook::Import(i) => match i.slot.id() {
            Some(id) => format!("import {id}"),
            None => "import (pending)".to_owned(),
        },
        Hook::Promise(_) => "pending".to_owned(),
        Hook::Value(v) => format!("value {}", v.type_name()),
        Hook::Error(e) => format!("broken: {e}"),
        Hook::MapVar(_) => "map placeholder".to_owned(),
    }
}

/// Disposing through the trait (e.g. from a [`DisposableStack`](crate::dispose::DisposableStack))
/// releases the reference at once; later use of this handle fails with a `Disposed` error.
impl crate::dispose::Disposable for Stub {
    fn dispose(&mut self) -> Result<(), crate::dispose::DisposeError> {
        self.hook = Hook::Error(Arc::new(disposed()));
        Ok(())
    }
}

/// Disposing through the trait releases the promise at once (rule L12 if it was never awaited).
impl crate::dispose::Disposable for RpcPromise {
    fn dispose(&mut self) -> Result<(), crate::dispose::DisposeError> {
        self.hook = Hook::Error(Arc::new(disposed()));
        self.path.clear();
        Ok(())
    }
}

fn disposed() -> RpcError {
    RpcError::error("Attempted to use RPC stub after it has been disposed.")
        .with_kind(crate::ErrorKind::Disposed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Stub>();
        check::<RpcPromise>();
        check::<Value>();
    }
}
