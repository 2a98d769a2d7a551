//! JavaScript-flavoured helpers for the contract's methods.
//!
//! The contract is written in JavaScript terms (default parameters, `counter.increment(i)` on
//! whatever the client passed, `i * i` on a number). These helpers give the Rust methods the same
//! behaviour for the inputs the contract cares about: argument access with `undefined` for a
//! missing argument, number coercion, and calling a member of (or invoking) a received value,
//! which may be a stub or a plain object whose member is a stub.

use tether::{RpcError, RpcResult, Value};

/// Takes argument `index` out of `args`; `undefined` when it was not passed.
pub(crate) fn take(args: &mut [Value], index: usize) -> Value {
    args.get_mut(index).map(std::mem::take).unwrap_or_default()
}

/// Argument `index`, or `undefined` when it was not passed.
pub(crate) fn arg(args: &[Value], index: usize) -> &Value {
    static UNDEFINED: Value = Value::Undefined;
    args.get(index).unwrap_or(&UNDEFINED)
}

/// JavaScript's `Number(value)` for the values a number parameter can reasonably receive.
/// A `bigint` cannot be mixed with numbers: `TypeError`, as in JavaScript.
pub(crate) fn to_number(value: &Value) -> RpcResult<f64> {
    Ok(match value {
        Value::Number(n) | Value::Date(n) => *n,
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::String(s) => {
            let s = s.trim();
            if s.is_empty() {
                0.0
            } else {
                s.parse().unwrap_or(f64::NAN)
            }
        }
        Value::BigInt(_) => {
            return Err(RpcError::type_error(
                "Cannot mix BigInt and other types, use explicit conversions",
            ))
        }
        _ => f64::NAN,
    })
}

/// A string parameter with default `""` (for `undefined`). Other types are refused: the tags this
/// server counts by are strings.
pub(crate) fn tag(value: &Value) -> RpcResult<String> {
    match value {
        Value::Undefined => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        other => Err(RpcError::type_error(format!(
            "tag must be a string, got {}",
            other.type_name()
        ))),
    }
}

/// A count parameter: `undefined` is `default`; otherwise JavaScript's `ToLength` (truncated,
/// `NaN` and negatives are 0), refused with a `RangeError` above `max`.
pub(crate) fn length(value: &Value, default: usize, max: usize) -> RpcResult<usize> {
    if value.is_undefined() {
        return Ok(default);
    }
    let n = to_number(value)?;
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
pub(crate) async fn invoke(f: Value, args: Vec<Value>) -> RpcResult {
    match f {
        Value::Stub(stub) => stub.invoke(args).await,
        Value::Promise(promise) => promise.invoke(args).await,
        other => Err(RpcError::type_error(format!(
            "{} is not a function",
            other.type_name()
        ))),
    }
}
