//! Allocations per call, counted (issue 10): a regression guard for the hot path, not a
//! benchmark. Counts are exact and do not depend on the machine's speed, so a bound can be
//! asserted: every allocation the client and the server sessions make for one echo call over
//! the in-process transport, both sides together. `bench/` reports the server's share alone
//! over a real WebSocket (`allocs` workload).
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use tether::transport::memory::pair;
use tether::{BoxFuture, RpcResult, RpcSession, SessionOptions, Stub, Target, Value};
use tether_bench::alloc::{allocation_count, CountingAlloc};

#[global_allocator]
static ALLOCATOR: CountingAlloc = CountingAlloc;

struct Echo;

impl Target for Echo {
    fn call<'a>(&'a self, _method: &'a str, mut args: Vec<Value>) -> BoxFuture<'a, RpcResult> {
        Box::pin(async move { Ok(args.pop().unwrap_or(Value::Undefined)) })
    }
}

/// Allocations per sequential `echo(i)` call, both sessions together.
async fn allocations_per_echo(calls: u32) -> f64 {
    let (a, b) = pair();
    let (api, _client) = RpcSession::spawn(a, None, SessionOptions::default());
    let (_, _server) = RpcSession::spawn(b, Some(Stub::new(Echo)), SessionOptions::default());
    for i in 0..100 {
        api.call("echo", vec![i.into()]).await.unwrap(); // warm-up: tables and buffers grow
    }
    let before = allocation_count();
    for i in 0..calls {
        let echoed = api.call("echo", vec![i.into()]).await.unwrap();
        assert_eq!(echoed.as_f64(), Some(f64::from(i)));
    }
    let after = allocation_count();
    (after - before) as f64 / f64::from(calls)
}

#[tokio::test(flavor = "current_thread")]
async fn an_echo_call_costs_few_allocations_on_both_sides() {
    let per_call = allocations_per_echo(2_000).await;
    // Measured: 20.0 (client and server sessions, the caller's promise, the in-process channel)
    // at 7f45778; 29.0 at d1ab1ba, before this round of hot-path work. The bound leaves room
    // for an allocation or two, not for a return to the old path.
    assert!(per_call <= 23.0, "{per_call:.2} allocations per echo call");
}
