//! The BenchApi contract (`shared/bench/README.md`) as tether targets: [`BenchApi`], the main
//! object of every session, and [`Counter`], the object it hands out by reference.
//!
//! Values follow JavaScript where the contract does: `add` is JavaScript's `+` (numbers add,
//! strings concatenate), `makeCounter(start)` is `Number(start) || 0`, and `increment()` adds
//! one by default. [`live_counters`] is process-wide and drops when a Counter's disposer runs
//! (its last stub released, or its session ended), as the reference's `[Symbol.dispose]` does.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use tether::{BoxFuture, Bytes, RpcError, RpcResult, Stub, Target, Value};

/// Counters created and not yet disposed, process-wide (signed, so a bug shows as negative).
static LIVE_COUNTERS: AtomicI64 = AtomicI64::new(0);
/// Sessions (WebSocket connections and HTTP batches) that got a main object.
static SESSIONS_OPENED: AtomicU64 = AtomicU64::new(0);
/// How the server's runtime is set up, for `serverInfo()`.
static RUNTIME_FLAVOR: OnceLock<String> = OnceLock::new();

/// The largest `bytes(n)` / `listOfStubs(n)` served (a bound against mistakes, far above the
/// workloads' 1 MiB and 1000).
const MAX_N: f64 = (1u64 << 30) as f64;

/// Counters alive in this process.
pub fn live_counters() -> i64 {
    LIVE_COUNTERS.load(Ordering::Relaxed)
}

/// Records how the runtime runs (e.g. `"current_thread"`), reported by `serverInfo()`.
pub fn set_runtime_flavor(flavor: &str) {
    let _ = RUNTIME_FLAVOR.set(flavor.to_owned());
}

/// A fresh main object for a new session: the server's main factory.
pub fn main_stub() -> Stub {
    SESSIONS_OPENED.fetch_add(1, Ordering::Relaxed);
    Stub::new(BenchApi)
}

/// The main object of a session.
#[derive(Debug, Default)]
pub struct BenchApi;

impl Target for BenchApi {
    fn call<'a>(&'a self, method: &'a str, args: Vec<Value>) -> BoxFuture<'a, RpcResult> {
        Box::pin(std::future::ready(bench_call(method, args)))
    }
}

fn bench_call(method: &str, args: Vec<Value>) -> RpcResult {
    let arg = |i: usize| args.get(i).unwrap_or(&Value::Undefined);
    match method {
        "echo" => Ok(args.into_iter().next().unwrap_or_default()),
        "add" => Ok(js_add(arg(0), arg(1))),
        "makeCounter" => {
            let start = or_zero(to_number(arg(0)));
            Ok(Counter::stub(start).into())
        }
        "noop" => Ok(Value::Undefined),
        "bytes" => {
            let n = count(arg(0))?;
            Ok(Bytes::new((0..n).map(|i| (i & 0xff) as u8).collect::<Vec<u8>>()).into())
        }
        "listOfStubs" => {
            let n = count(arg(0))?;
            Ok(Value::array((0..n).map(|i| Counter::stub(i as f64).into())))
        }
        "rss" => Ok(crate::procfs::self_rss_statm().map_or(Value::Null, Value::from)),
        "heapUsed" => Ok(crate::alloc::allocated_bytes().into()),
        "liveCounters" => Ok(live_counters().into()),
        "sessionsOpened" => Ok(SESSIONS_OPENED.load(Ordering::Relaxed).into()),
        "serverInfo" => Ok(server_info()),
        _ => Err(RpcError::not_a_function(method)),
    }
}

fn server_info() -> Value {
    let flavor = RUNTIME_FLAVOR.get().map_or("unknown", String::as_str);
    Value::object([
        ("impl", Value::from("tether")),
        ("runtime", "rust/tokio".into()),
        ("flavor", flavor.into()),
        ("tether", "0.1.0 (workspace)".into()),
        (
            "heapUsed",
            "bytes live in the counting global allocator".into(),
        ),
        ("pid", std::process::id().into()),
        (
            "sizes",
            Value::object([
                ("Stub", std::mem::size_of::<Stub>()),
                ("RpcError", std::mem::size_of::<RpcError>()),
                ("Value", std::mem::size_of::<Value>()),
            ]),
        ),
    ])
}

/// `Math.max(0, Math.floor(Number(n) || 0))`, bounded by [`MAX_N`].
fn count(n: &Value) -> RpcResult<usize> {
    let n = or_zero(to_number(n)).floor().max(0.0);
    if n > MAX_N {
        return Err(RpcError::range_error(format!("{n} is too large")));
    }
    Ok(n as usize)
}

/// A counter handed out by reference (`["export", -n]` on the wire).
#[derive(Debug)]
pub struct Counter {
    /// The value, as `f64` bits.
    value: AtomicU64,
    disposed: AtomicBool,
}

impl Counter {
    /// A new counter at `start`, counted in [`live_counters`] until disposed.
    pub fn new(start: f64) -> Self {
        LIVE_COUNTERS.fetch_add(1, Ordering::Relaxed);
        Self {
            value: AtomicU64::new(start.to_bits()),
            disposed: AtomicBool::new(false),
        }
    }

    /// A stub on a new counter: one lineage, so the disposer runs once, when the last reference
    /// goes.
    pub fn stub(start: f64) -> Stub {
        Stub::new(Self::new(start))
    }

    fn add(&self, by: f64) -> f64 {
        let mut current = self.value.load(Ordering::Relaxed);
        loop {
            let next = f64::from_bits(current) + by;
            match self.value.compare_exchange_weak(
                current,
                next.to_bits(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return next,
                Err(actual) => current = actual,
            }
        }
    }
}

impl Target for Counter {
    fn call<'a>(&'a self, method: &'a str, args: Vec<Value>) -> BoxFuture<'a, RpcResult> {
        let result = match method {
            "increment" => {
                let by = match args.first() {
                    None | Some(Value::Undefined) => 1.0,
                    Some(by) => to_number(by),
                };
                Ok(self.add(by).into())
            }
            _ => Err(RpcError::not_a_function(method)),
        };
        Box::pin(std::future::ready(result))
    }

    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, RpcResult> {
        let value = match name {
            "value" => f64::from_bits(self.value.load(Ordering::Relaxed)).into(),
            _ => Value::Undefined,
        };
        Box::pin(std::future::ready(Ok(value)))
    }

    /// Disposal is synchronous (as the reference's `[Symbol.dispose]`): count it here and
    /// return no future, so no task is spawned for it.
    fn dispose(self: Arc<Self>) -> Option<BoxFuture<'static, RpcResult<()>>> {
        if !self.disposed.swap(true, Ordering::Relaxed) {
            LIVE_COUNTERS.fetch_sub(1, Ordering::Relaxed);
        }
        None
    }
}

/// `x || 0` for a number: `NaN` and `-0` become `0`.
fn or_zero(x: f64) -> f64 {
    if x.is_nan() || x == 0.0 {
        0.0
    } else {
        x
    }
}

/// JavaScript's `Number(v)` for the values a JSON peer sends.
pub fn to_number(v: &Value) -> f64 {
    match v {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) | Value::Date(n) => *n,
        Value::String(s) => {
            let s = s.trim();
            match s {
                "" => 0.0,
                "Infinity" | "+Infinity" => f64::INFINITY,
                "-Infinity" => f64::NEG_INFINITY,
                _ if s.contains(['i', 'I', 'n', 'N']) => f64::NAN,
                _ => s.parse().unwrap_or(f64::NAN),
            }
        }
        Value::Array(a) if a.is_empty() => 0.0,
        Value::Array(a) if a.len() == 1 => to_number(&Value::String(to_js_string(&a[0]))),
        _ => f64::NAN,
    }
}

/// JavaScript's `a + b`: string concatenation if either side is (or converts to) a string,
/// else numeric addition.
pub fn js_add(a: &Value, b: &Value) -> Value {
    let stringy = |v: &Value| {
        matches!(
            v,
            Value::String(_) | Value::Array(_) | Value::Object(_) | Value::Date(_)
        )
    };
    match (a, b) {
        (Value::BigInt(x), Value::BigInt(y)) => Value::BigInt(x + y),
        _ if stringy(a) || stringy(b) => {
            Value::String(format!("{}{}", to_js_string(a), to_js_string(b)))
        }
        _ => Value::Number(to_number(a) + to_number(b)),
    }
}

/// JavaScript's `String(v)` for plain data (objects become `[object Object]`).
pub fn to_js_string(v: &Value) -> String {
    match v {
        Value::Undefined => "undefined".to_owned(),
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => js_number(*n),
        Value::String(s) => s.clone(),
        Value::BigInt(b) => b.to_string(),
        Value::Array(items) => items
            .iter()
            .map(|x| {
                if x.is_nullish() {
                    String::new()
                } else {
                    to_js_string(x)
                }
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Date(ms) => format!("Date({})", js_number(*ms)),
        Value::Error(e) => e.to_string(),
        _ => "[object Object]".to_owned(),
    }
}

/// JavaScript's `Number.prototype.toString()`: shortest round-trip digits, exponent form
/// from 1e21 up and below 1e-6.
pub fn js_number(n: f64) -> String {
    if n.is_nan() {
        return "NaN".to_owned();
    }
    if n.is_infinite() {
        return if n > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if n == 0.0 {
        return "0".to_owned();
    }
    // `{:e}` gives the shortest round-trip digits: "-1.2345e-7" -> sign, digits, exponent.
    let sci = format!("{:e}", n.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let e: i32 = exponent.parse().unwrap_or(0);
    let k = digits.len() as i32;
    let sign = if n < 0.0 { "-" } else { "" };
    let body = if (-7 < e) && (e < 21) {
        if e >= k - 1 {
            format!("{digits}{}", "0".repeat((e - k + 1) as usize))
        } else if e >= 0 {
            let split = (e + 1) as usize;
            format!("{}.{}", &digits[..split], &digits[split..])
        } else {
            format!("0.{}{digits}", "0".repeat((-e - 1) as usize))
        }
    } else {
        let tail = if k > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits.clone()
        };
        format!("{tail}e{}{}", if e >= 0 { "+" } else { "-" }, e.abs())
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_javascript_does() {
        let cases = [
            (1.0, "1"),
            (-1.5, "-1.5"),
            (0.1, "0.1"),
            (123456.789, "123456.789"),
            (1e21, "1e+21"),
            (1.5e21, "1.5e+21"),
            (1e20, "100000000000000000000"),
            (1e-7, "1e-7"),
            (1.25e-7, "1.25e-7"),
            (0.000001, "0.000001"),
            (f64::NAN, "NaN"),
            (-0.0, "0"),
        ];
        for (n, text) in cases {
            assert_eq!(js_number(n), text, "{n}");
        }
    }

    #[test]
    fn add_is_javascript_plus() {
        let n = |x: f64| Value::from(x);
        let s = |x: &str| Value::from(x);
        assert!(js_add(&n(2.0), &n(3.0)).data_eq(&n(5.0)));
        assert!(js_add(&s("a"), &s("b")).data_eq(&s("ab")));
        assert!(js_add(&n(1.0), &s("x")).data_eq(&s("1x")));
        assert!(js_add(&s("x"), &Value::Null).data_eq(&s("xnull")));
        assert!(js_add(&Value::Bool(true), &n(1.0)).data_eq(&n(2.0)));
    }

    #[test]
    fn start_values_follow_number_or_zero() {
        assert_eq!(or_zero(to_number(&Value::Undefined)), 0.0);
        assert_eq!(or_zero(to_number(&"12".into())), 12.0);
        assert_eq!(or_zero(to_number(&"abc".into())), 0.0);
        assert_eq!(or_zero(to_number(&7.into())), 7.0);
    }
}
