//! The contract's main object, **TestTarget**: a fresh one per session.
//!
//! Per-session state is the registered callback, held as a field: when the session ends (or the
//! client releases the main stub) tether drops the main object's lineage, the disposer releases
//! the callback, and dropping the object would release it anyway. Everything server-wide lives in
//! [`crate::disposable`].

use std::sync::{Arc, Mutex};

use tether::{BoxFuture, RpcError, RpcResult, Stub, Target, Value};

use crate::counter::Counter;
use crate::disposable::{disposed_count, Disposable};
use crate::js::{self, arg, take};

/// Most elements `generateFibonacci` and `makeDisposableRepeated` hand out in one call.
const MAX_LENGTH: usize = 1 << 20;

/// The main object of one session.
#[derive(Default)]
pub(crate) struct TestTarget {
    /// The callback kept by `registerCallback` (our own reference), if any.
    callback: Mutex<Option<Stub>>,
}

impl TestTarget {
    /// A new main object, as a stub: one per session.
    pub(crate) fn stub() -> Stub {
        Stub::new(TestTarget::default())
    }

    /// Replaces the registered callback, returning the previous one. The caller drops it (which
    /// releases it) after the lock is gone.
    fn swap_callback(&self, callback: Option<Stub>) -> Option<Stub> {
        let mut slot = self
            .callback
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        std::mem::replace(&mut *slot, callback)
    }

    fn callback(&self) -> Option<Stub> {
        self.callback
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }

    async fn dispatch(&self, method: &str, mut args: Vec<Value>) -> RpcResult {
        match method {
            "square" => match arg(&args, 0) {
                Value::BigInt(i) => Ok(Value::BigInt(i * i)),
                other => {
                    let i = js::to_number(other)?;
                    Ok(Value::Number(i * i))
                }
            },
            "callSquare" => {
                let this = take(&mut args, 0);
                let i = take(&mut args, 1);
                let result = js::call_member(this, "square", vec![i]).await?;
                Ok(Value::object([("result", result)]))
            }
            "callFunction" => {
                let func = take(&mut args, 0);
                let i = take(&mut args, 1);
                let result = js::invoke(func, vec![i]).await?;
                Ok(Value::object([("result", result)]))
            }
            "throwError" => Err(RpcError::range_error("test error")),
            "makeCounter" => {
                let start = js::to_number(arg(&args, 0))?;
                Ok(Stub::new(Counter::new(start)).into())
            }
            "incrementCounter" => {
                let counter = take(&mut args, 0);
                let amount = match take(&mut args, 1) {
                    Value::Undefined => Value::Number(1.0),
                    amount => amount,
                };
                js::call_member(counter, "increment", vec![amount]).await
            }
            "generateFibonacci" => {
                let length = js::length(arg(&args, 0), 0, MAX_LENGTH)?;
                let (mut a, mut b) = (0.0_f64, 1.0_f64);
                let mut sequence = Vec::with_capacity(length);
                for _ in 0..length {
                    sequence.push(Value::Number(a));
                    (a, b) = (b, a + b);
                }
                Ok(Value::Array(sequence))
            }
            "returnNull" => Ok(Value::Null),
            "returnUndefined" => Ok(Value::Undefined),
            // Returned unchanged: a stub argument is owned by the call and simply moves into the
            // result.
            "returnNumber" | "echo" => Ok(take(&mut args, 0)),
            "makeDisposable" => {
                let tag = js::tag(arg(&args, 0))?;
                Ok(Stub::new(Disposable::new(tag)).into())
            }
            // One target, one new lineage per slot: each slot is a separate hand-out, so the
            // disposer runs once per slot.
            "makeDisposableRepeated" => {
                let tag = js::tag(arg(&args, 0))?;
                let n = js::length(arg(&args, 1), 3, MAX_LENGTH)?;
                let target: Arc<dyn Target> = Arc::new(Disposable::new(tag));
                Ok(Value::array(
                    (0..n).map(|_| Stub::from_arc(target.clone()).into()),
                ))
            }
            "disposedCount" => {
                let tag = js::tag(arg(&args, 0))?;
                Ok(Value::from(disposed_count(&tag)))
            }
            "registerCallback" => {
                // A previously registered callback is released first, as the reference does.
                drop(self.swap_callback(None));
                let callback = match take(&mut args, 0) {
                    Value::Stub(stub) => stub,
                    Value::Promise(promise) => promise.to_stub(),
                    other => {
                        return Err(RpcError::type_error(format!(
                            "registerCallback expects a function, got {}",
                            other.type_name()
                        )))
                    }
                };
                drop(self.swap_callback(Some(callback)));
                Ok(Value::Undefined)
            }
            "fireCallback" => {
                let callback = self
                    .callback()
                    .ok_or_else(|| RpcError::error("no callback registered"))?;
                let x = take(&mut args, 0);
                callback.invoke(vec![x]).await
            }
            "releaseCallback" => Ok(Value::Bool(self.swap_callback(None).is_some())),
            _ => Err(RpcError::not_a_function(method)),
        }
    }
}

impl Target for TestTarget {
    fn call<'a>(&'a self, method: &'a str, args: Vec<Value>) -> BoxFuture<'a, RpcResult> {
        Box::pin(self.dispatch(method, args))
    }

    /// The session is over (or the client released the main stub): release the callback now,
    /// even if an in-flight call still holds the object.
    fn dispose(self: Arc<Self>) -> Option<BoxFuture<'static, RpcResult<()>>> {
        drop(self.swap_callback(None));
        None
    }
}
