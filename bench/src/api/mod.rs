//! The BenchApi contract (`shared/bench/README.md`) served by tether, twice: [`typed`] declares
//! it with `#[tether::interface]` (what `tether-bench-server` serves by default), [`dynamic`]
//! implements `tether::Target` by hand (the baseline the benchmark compares it with). [`Api`]
//! picks one.
//!
//! This module owns what the contract means, shared by both: the process-wide counts
//! ([`live_counters`], [`sessions_opened`], [`alloc_count`]), `serverInfo()` ([`server_info`]), a Counter's state
//! ([`CounterState`]) and the argument conversions of `makeCounter`, `bytes` and `listOfStubs`.
//! [`js`] holds the JavaScript value semantics they follow. The two implementations only
//! dispatch to these, so they answer alike (`bench/tests/api.rs` checks it).

pub mod dynamic;
pub mod js;
pub mod typed;

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::OnceLock;

use tether::{Bytes, RpcError, RpcResult, Stub, Value};

use self::js::{or_zero, to_number};

/// Counters created and not yet disposed, process-wide (signed, so a bug shows as negative).
static LIVE_COUNTERS: AtomicI64 = AtomicI64::new(0);
/// Sessions (WebSocket connections and HTTP batches) that got a main object.
static SESSIONS_OPENED: AtomicU64 = AtomicU64::new(0);
/// How the server's runtime is set up, for `serverInfo()`.
static RUNTIME_FLAVOR: OnceLock<String> = OnceLock::new();

/// The largest `bytes(n)` / `listOfStubs(n)` served (a bound against mistakes, far above the
/// workloads' 1 MiB and 1000).
const MAX_N: f64 = (1u64 << 30) as f64;

/// Which implementation of the contract a server uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Api {
    /// [`typed`]: `#[tether::interface]` traits.
    #[default]
    Typed,
    /// [`dynamic`]: `tether::Target` with a `match` on the method name.
    Dynamic,
}

impl Api {
    /// The name used on the command line and in `serverInfo().api`.
    pub fn name(self) -> &'static str {
        match self {
            Api::Typed => "typed",
            Api::Dynamic => "dynamic",
        }
    }

    /// A fresh main object for a new session: the server's main factory.
    pub fn main_stub(self) -> Stub {
        match self {
            Api::Typed => typed::main_stub(),
            Api::Dynamic => dynamic::main_stub(),
        }
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Api {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "typed" => Ok(Api::Typed),
            "dynamic" => Ok(Api::Dynamic),
            other => Err(format!("unknown api {other:?} (typed or dynamic)")),
        }
    }
}

/// Counters alive in this process.
pub fn live_counters() -> i64 {
    LIVE_COUNTERS.load(Ordering::Relaxed)
}

/// Sessions opened in this process (main objects handed out).
pub fn sessions_opened() -> u64 {
    SESSIONS_OPENED.load(Ordering::Relaxed)
}

/// Counts a session: each implementation's main factory calls it.
fn session_opened() {
    SESSIONS_OPENED.fetch_add(1, Ordering::Relaxed);
}

/// Records how the runtime runs (e.g. `"current_thread"`), reported by `serverInfo()`.
pub fn set_runtime_flavor(flavor: &str) {
    let _ = RUNTIME_FLAVOR.set(flavor.to_owned());
}

/// `serverInfo()`: what the server is, for the record (the kit's `smoke` workload keeps it).
pub fn server_info(api: Api) -> Value {
    let flavor = RUNTIME_FLAVOR.get().map_or("unknown", String::as_str);
    Value::object([
        ("impl", Value::from("tether")),
        ("runtime", "rust/tokio".into()),
        ("flavor", flavor.into()),
        ("api", api.name().into()),
        ("tether", "0.1.0 (workspace)".into()),
        (
            "heapUsed",
            "bytes live in the counting global allocator".into(),
        ),
        (
            "allocCount",
            "allocation calls so far (allocCount(), largeAllocCount() for those >= 1 MiB)".into(),
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

/// `makeCounter(start)`'s start value: `Number(start) || 0`.
pub fn counter_start(start: &Value) -> f64 {
    or_zero(to_number(start))
}

/// The `n` of `bytes(n)` and `listOfStubs(n)`: `Math.max(0, Math.floor(Number(n) || 0))`,
/// bounded by `MAX_N`.
pub fn count(n: &Value) -> RpcResult<usize> {
    let n = or_zero(to_number(n)).floor().max(0.0);
    if n > MAX_N {
        return Err(RpcError::range_error(format!("{n} is too large")));
    }
    Ok(n as usize)
}

/// `bytes(n)`: a `Uint8Array` of `count(n)` bytes, byte `i` being `i & 0xff`.
pub fn pattern_bytes(n: &Value) -> RpcResult<Value> {
    let n = count(n)?;
    Ok(Bytes::new((0..n).map(|i| (i & 0xff) as u8).collect::<Vec<u8>>()).into())
}

/// `rss()`: this process's resident set size, bytes (`None` if `/proc` cannot tell).
pub fn rss() -> Option<u64> {
    crate::procfs::self_rss_statm()
}

/// `heapUsed()`: bytes live in the counting global allocator.
pub fn heap_used() -> usize {
    crate::alloc::allocated_bytes()
}

/// `allocCount()` (tether only, beyond the contract): allocation calls made by the counting
/// global allocator since the server started (see [`crate::alloc::allocation_count`]).
pub fn alloc_count() -> u64 {
    crate::alloc::allocation_count()
}

/// `largeAllocCount()` (tether only, beyond the contract): the allocation calls of at least
/// 1 MiB among them (see [`crate::alloc::large_allocation_count`]).
pub fn large_alloc_count() -> u64 {
    crate::alloc::large_allocation_count()
}

/// A Counter's state, whichever implementation serves it: the value (a JavaScript number) and
/// whether it was disposed. Creating one counts it in [`live_counters`];
/// [`CounterState::dispose`] uncounts it, once.
#[derive(Debug)]
pub struct CounterState {
    /// The value, as `f64` bits.
    value: AtomicU64,
    disposed: AtomicBool,
}

impl CounterState {
    /// A new counter at `start`, counted in [`live_counters`] until disposed.
    pub fn new(start: f64) -> Self {
        LIVE_COUNTERS.fetch_add(1, Ordering::Relaxed);
        Self {
            value: AtomicU64::new(start.to_bits()),
            disposed: AtomicBool::new(false),
        }
    }

    /// `increment(by = 1)`: adds `Number(by)` (1 when `by` is missing or `undefined`; `null` is
    /// 0, as JavaScript's default parameters go) and returns the new value.
    pub fn increment(&self, by: &Value) -> f64 {
        let by = match by {
            Value::Undefined => 1.0,
            by => to_number(by),
        };
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

    /// The `value` property.
    pub fn value(&self) -> f64 {
        f64::from_bits(self.value.load(Ordering::Relaxed))
    }

    /// The disposer: uncounts the counter from [`live_counters`] the first time only.
    pub fn dispose(&self) {
        if !self.disposed.swap(true, Ordering::Relaxed) {
            LIVE_COUNTERS.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_values_follow_number_or_zero() {
        assert_eq!(counter_start(&Value::Undefined), 0.0);
        assert_eq!(counter_start(&"12".into()), 12.0);
        assert_eq!(counter_start(&"abc".into()), 0.0);
        assert_eq!(counter_start(&7.into()), 7.0);
    }

    #[test]
    fn counts_floor_and_clamp() {
        assert_eq!(count(&2.7.into()).ok(), Some(2));
        assert_eq!(count(&(-3).into()).ok(), Some(0));
        assert_eq!(count(&"4".into()).ok(), Some(4));
        assert_eq!(count(&Value::Null).ok(), Some(0));
        assert!(count(&1e12.into()).is_err());
    }

    #[test]
    fn increments_default_to_one_and_dispose_counts_once() {
        let before = live_counters();
        let counter = CounterState::new(1.0);
        assert_eq!(counter.increment(&Value::Undefined), 2.0);
        assert_eq!(counter.increment(&Value::Null), 2.0);
        assert_eq!(counter.increment(&"3".into()), 5.0);
        assert_eq!(counter.value(), 5.0);
        counter.dispose();
        counter.dispose();
        // Other tests create counters in parallel: only check this one is gone.
        assert!(live_counters() <= before);
    }

    #[test]
    fn api_names_round_trip() {
        for api in [Api::Typed, Api::Dynamic] {
            assert_eq!(api.name().parse::<Api>(), Ok(api));
        }
        assert!("other".parse::<Api>().is_err());
    }
}
