//! The contract with the typed API: [`BenchApi`] and [`Counter`] declared as
//! `#[tether::interface]` traits, served by [`BenchApiImpl`] and [`CounterImpl`]. This is what
//! `tether-bench-server` serves by default (`--api=typed`).
//!
//! Where the contract takes any JavaScript value and converts it the JavaScript way (`add`'s
//! operands, `makeCounter`'s start, `bytes`' and `listOfStubs`' counts, `increment`'s amount)
//! the parameter is a [`Value`], so a string or `null` is converted as the reference server
//! does instead of being refused at the boundary; it is lent (`&Value`), since only `echo`
//! keeps its argument (and moves it into the result). Every member is a plain `fn`: none waits
//! for anything. What each method does is in the parent module, shared with
//! [`dynamic`](super::dynamic).

use tether::{RpcError, Stub, Value};

use super::js::js_add;
use super::{count, counter_start, pattern_bytes, server_info, Api, CounterState};

/// The main object of a session (JavaScript names in camelCase: `makeCounter`, `listOfStubs`,
/// `heapUsed`, ...).
#[tether::interface]
pub trait BenchApi {
    /// `x` unchanged.
    fn echo(&self, x: Value) -> Value;
    /// JavaScript's `a + b`: numbers (and bigints) add, strings concatenate.
    fn add(&self, a: &Value, b: &Value) -> Value;
    /// A new Counter at `Number(start) || 0`.
    fn make_counter(&self, start: &Value) -> CounterClient;
    /// `undefined`.
    fn noop(&self);
    /// A `Uint8Array` of `n` bytes, byte `i` being `i & 0xff`.
    fn bytes(&self, n: &Value) -> Result<Value, RpcError>;
    /// `n` new Counters, element `i` starting at `i`.
    fn list_of_stubs(&self, n: &Value) -> Result<Vec<CounterClient>, RpcError>;
    /// The server's resident set size, bytes (`null` if unknown).
    fn rss(&self) -> Option<u64>;
    /// Bytes live in the server's heap.
    fn heap_used(&self) -> usize;
    /// Allocation calls so far (tether only, beyond the contract).
    fn alloc_count(&self) -> u64;
    /// Allocation calls of at least 1 MiB so far (tether only, beyond the contract).
    fn large_alloc_count(&self) -> u64;
    /// Counters created and not yet disposed, process-wide.
    fn live_counters(&self) -> i64;
    /// Sessions opened, process-wide.
    fn sessions_opened(&self) -> u64;
    /// `{impl, runtime, flavor, api, ...}`.
    fn server_info(&self) -> Value;
}

/// The contract's Counter: a method, a property and a disposer.
#[tether::interface]
pub trait Counter {
    /// Adds `Number(amount)` (1 when `amount` is missing or `undefined`) and returns the new
    /// value.
    fn increment(&self, amount: &Value) -> f64;
    /// The current value, as a property.
    #[getter]
    fn value(&self) -> f64;
    /// The last stub is gone (released, or its session ended): uncount the Counter.
    #[dispose]
    fn dispose(&self);
}

/// A fresh main object for a new session: the server's main factory.
pub fn main_stub() -> Stub {
    super::session_opened();
    BenchApiClient::serve(BenchApiImpl).into()
}

/// The main object of a session: stateless, everything it reports is process-wide.
#[derive(Debug, Default)]
pub struct BenchApiImpl;

impl BenchApi for BenchApiImpl {
    fn echo(&self, x: Value) -> Value {
        x
    }

    fn add(&self, a: &Value, b: &Value) -> Value {
        js_add(a, b)
    }

    fn make_counter(&self, start: &Value) -> CounterClient {
        CounterImpl::serve(counter_start(start))
    }

    fn noop(&self) {}

    fn bytes(&self, n: &Value) -> Result<Value, RpcError> {
        pattern_bytes(n)
    }

    fn list_of_stubs(&self, n: &Value) -> Result<Vec<CounterClient>, RpcError> {
        Ok((0..count(n)?)
            .map(|i| CounterImpl::serve(i as f64))
            .collect())
    }

    fn rss(&self) -> Option<u64> {
        super::rss()
    }

    fn heap_used(&self) -> usize {
        super::heap_used()
    }

    fn alloc_count(&self) -> u64 {
        super::alloc_count()
    }

    fn large_alloc_count(&self) -> u64 {
        super::large_alloc_count()
    }

    fn live_counters(&self) -> i64 {
        super::live_counters()
    }

    fn sessions_opened(&self) -> u64 {
        super::sessions_opened()
    }

    fn server_info(&self) -> Value {
        server_info(Api::Typed)
    }
}

/// A Counter handed out by reference (`["export", -n]` on the wire).
#[derive(Debug)]
pub struct CounterImpl(CounterState);

impl CounterImpl {
    /// A new counter at `start`, served: one lineage, so the disposer runs once, when its last
    /// stub goes.
    pub fn serve(start: f64) -> CounterClient {
        CounterClient::serve(Self(CounterState::new(start)))
    }
}

impl Counter for CounterImpl {
    fn increment(&self, amount: &Value) -> f64 {
        self.0.increment(amount)
    }

    fn value(&self) -> f64 {
        self.0.value()
    }

    fn dispose(&self) {
        self.0.dispose();
    }
}
