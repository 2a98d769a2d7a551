//! JavaScript-flavoured helpers for the contract's methods that the typed parameters do not cover.
//!
//! The contract is written in JavaScript terms: `counter.increment(i)` on whatever the client
//! passed (a stub, or a plain object whose `increment` member is a stub), and counts that follow
//! `ToLength`. Numbers, strings and stubs are checked by the typed interface at the boundary;
//! these helpers handle what stays untyped.

use tether::{RpcError, RpcResult, Value};

/// A count parameter: `None` is `default`; otherwise JavaScript's `ToLength` (truncated, `NaN`
/// and negatives are 0), refused with a `RangeError` above `max`.
pub(crate) fn length(value: Option<f64>, default: usize, max: usize) -> RpcResult<usize> {
    let Some(n) = value else {
        return Ok(default);
    };
    if n.is_nan() || n <= 0.0 {
        return Ok(0);
    }
    if n > max as f64 {
        return Err(RpcError::range_error(format!(
            "Invalid array length: {n} (this server allows at most {max})"
        )));
    }
    Ok(n as usize)
}

/// `target.name(...args)`: `target` is a stub (or promise), or a plain object whose member `name`
/// is a stub (a client object holding functions is passed by value, its functions as stubs).
pub(crate) async fn call_member(target: Value, name: &str, args: Vec<Value>) -> RpcResult {
    match target {
        Value::Stub(stub) => stub.call(name, args).await,
        Value::Promise(promise) => promise.call(name, args).await,
        Value::Object(mut object) => match object.remove(name) {
            Some(member) => invoke(member, args).await,
            None => Err(RpcError::not_a_function(name)),
        },
        Value::Undefined | Value::Null => Err(RpcError::type_error(format!(
            "Cannot read properties of {} (reading '{name}')",
            target.type_name()
        ))),
        _ => Err(RpcError::not_a_function(name)),
    }
}

/// `f(...args)`: `f` must be a stub (a client function or target) or a promise for one.
async fn invoke(f: Value, args: Vec<Value>) -> RpcResult {
    match f {
        Value::Stub(stub) => stub.invoke(args).await,
        Value::Promise(promise) => promise.invoke(args).await,
        other => Err(RpcError::type_error(format!(
            "{} is not a function",
            other.type_name()
        ))),
    }
}
