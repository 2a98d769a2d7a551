//! The contract's **Counter**: a pass-by-reference object with a method and a getter.
//!
//! `increment(amount = 1)` adds `amount` (a missing or `undefined` amount is 1) and returns the
//! new value; `value` is a property. Calling `value()` as a method falls through to
//! [`RpcError::not_a_function`], a `TypeError`, as the contract requires.

use std::sync::Mutex;

use tether::{BoxFuture, RpcError, RpcResult, Target, Value};

use crate::js;

/// A counter holding a JavaScript number.
pub(crate) struct Counter {
    value: Mutex<f64>,
}

impl Counter {
    /// A counter starting at `start`.
    pub(crate) fn new(start: f64) -> Self {
        Self {
            value: Mutex::new(start),
        }
    }

    fn current(&self) -> f64 {
        *self
            .value
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

impl Target for Counter {
    fn call<'a>(&'a self, method: &'a str, args: Vec<Value>) -> BoxFuture<'a, RpcResult> {
        Box::pin(async move {
            match method {
                "increment" => {
                    let amount = match js::arg(&args, 0) {
                        Value::Undefined => 1.0,
                        other => js::to_number(other)?,
                    };
                    let mut value = self
                        .value
                        .lock()
                        .unwrap_or_else(|poison| poison.into_inner());
                    *value += amount;
                    Ok(Value::Number(*value))
                }
                _ => Err(RpcError::not_a_function(method)),
            }
        })
    }

    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, RpcResult> {
        Box::pin(async move {
            Ok(match name {
                "value" => Value::Number(self.current()),
                _ => Value::Undefined,
            })
        })
    }
}
