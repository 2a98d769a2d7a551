//! The same contract with the dynamic API, kept as the baseline the benchmark compares the typed
//! server with: [`BenchApi`] and [`Counter`] implement `tether::Target` by hand, with a `match`
//! on the method name. `tether-bench-server --api=dynamic` serves it.
//!
//! Only the dispatch lives here; what each method does is in the parent module, shared with
//! [`typed`](super::typed).

use std::sync::Arc;

use tether::{BoxFuture, RpcError, RpcResult, Stub, Target, Value};

use super::js::js_add;
use super::{count, counter_start, pattern_bytes, server_info, Api, CounterState};

/// A fresh main object for a new session: the server's main factory.
pub fn main_stub() -> Stub {
    super::session_opened();
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
        "makeCounter" => Ok(Counter::stub(counter_start(arg(0))).into()),
        "noop" => Ok(Value::Undefined),
        "bytes" => pattern_bytes(arg(0)),
        "listOfStubs" => {
            let n = count(arg(0))?;
            Ok(Value::array((0..n).map(|i| Counter::stub(i as f64).into())))
        }
        "rss" => Ok(super::rss().map_or(Value::Null, Value::from)),
        "heapUsed" => Ok(super::heap_used().into()),
        "allocCount" => Ok(super::alloc_count().into()),
        "largeAllocCount" => Ok(super::large_alloc_count().into()),
        "liveCounters" => Ok(super::live_counters().into()),
        "sessionsOpened" => Ok(super::sessions_opened().into()),
        "serverInfo" => Ok(server_info(Api::Dynamic)),
        _ => Err(RpcError::not_a_function(method)),
    }
}

/// A counter handed out by reference (`["export", -n]` on the wire).
#[derive(Debug)]
pub struct Counter(CounterState);

impl Counter {
    /// A stub on a new counter at `start`: one lineage, so the disposer runs once, when the last
    /// reference goes.
    pub fn stub(start: f64) -> Stub {
        Stub::new(Self(CounterState::new(start)))
    }
}

impl Target for Counter {
    fn call<'a>(&'a self, method: &'a str, args: Vec<Value>) -> BoxFuture<'a, RpcResult> {
        let result = match method {
            "increment" => {
                let by = args.first().unwrap_or(&Value::Undefined);
                Ok(self.0.increment(by).into())
            }
            _ => Err(RpcError::not_a_function(method)),
        };
        Box::pin(std::future::ready(result))
    }

    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, RpcResult> {
        let value = match name {
            "value" => self.0.value().into(),
            _ => Value::Undefined,
        };
        Box::pin(std::future::ready(Ok(value)))
    }

    /// Disposal is synchronous (as the reference's `[Symbol.dispose]`): count it here and
    /// return no future, so no task is spawned for it.
    fn dispose(self: Arc<Self>) -> Option<BoxFuture<'static, RpcResult<()>>> {
        self.0.dispose();
        None
    }
}
