//! Counting allocations instead of guessing them: the server's counters (tether's extra
//! `allocCount()` and `largeAllocCount()` BenchApi methods, read over the session) and this
//! driver's own (its counting global allocator), read around a measured part, give allocations
//! per call; those of at least 1 MiB, counted apart, say how many payload-sized buffers a 1 MiB
//! echo takes.
//!
//! [`AllocMark`] is one reading of both sides; [`per_call`] turns two readings into the
//! `server_allocs_per_call`, `server_large_allocs_per_call`, `client_allocs_per_call` and
//! `client_large_allocs_per_call` figures that `seq`, `concurrent` and `payload` report, and
//! [`run`] is the `allocs` workload: fixed numbers of calls, no clock.

use serde_json::{json, Map, Value as Json};
use tether::{Bytes, Stub, Value};

use super::measure::{round, run_count};
use super::socket::RpcConnection;
use super::Options;
use crate::alloc::{allocation_count, large_allocation_count};

/// One reading of the allocation counters of the server (`None` when it has no `allocCount()`,
/// e.g. capnweb's reference server) and of this process.
#[derive(Clone, Copy, Debug)]
pub struct AllocMark {
    server: Option<(f64, f64)>,
    client: (u64, u64),
}

/// The server's `allocCount()` and `largeAllocCount()`, `None` if it cannot answer them.
async fn server_counts(api: &Stub) -> Option<(f64, f64)> {
    let count = api.call("allocCount", vec![]).await.ok()?.as_f64()?;
    let large = api.call("largeAllocCount", vec![]).await.ok()?.as_f64()?;
    Some((count, large))
}

fn client_counts() -> (u64, u64) {
    (allocation_count(), large_allocation_count())
}

impl AllocMark {
    /// A reading before the measured part: the server's counters first (over the session), then
    /// this process's, so the client's delta does not include the reading calls.
    pub async fn before(api: &Stub) -> Self {
        let server = server_counts(api).await;
        Self {
            server,
            client: client_counts(),
        }
    }

    /// A reading after the measured part: this process's counters first, then the server's.
    pub async fn after(api: &Stub) -> Self {
        let client = client_counts();
        Self {
            server: server_counts(api).await,
            client,
        }
    }
}

/// The server allocations that reading the counters costs by itself: an `after` reading right
/// after a `before` one (the answer to the first read and the second read's own work), to be
/// taken off a measured delta. `(0, 0)` against a server without the counters.
pub async fn reading_overhead(api: &Stub) -> (f64, f64) {
    let a = AllocMark::before(api).await;
    let b = AllocMark::after(api).await;
    match (a.server, b.server) {
        (Some(a), Some(b)) => ((b.0 - a.0).max(0.0), (b.1 - a.1).max(0.0)),
        _ => (0.0, 0.0),
    }
}

/// Allocations per call from `before` to `after` over `calls` calls, the server's less
/// `overhead` (see [`reading_overhead`]). Server figures are `null` against a server without
/// the counters.
pub fn per_call(
    before: &AllocMark,
    after: &AllocMark,
    overhead: (f64, f64),
    calls: u64,
) -> Map<String, Json> {
    let n = calls.max(1) as f64;
    let per = |d: f64, decimals| json!(round(d.max(0.0) / n, decimals));
    let mut out = Map::new();
    match (before.server, after.server) {
        (Some(a), Some(b)) => {
            out.insert(
                "server_allocs_per_call".into(),
                per(b.0 - a.0 - overhead.0, 2),
            );
            out.insert(
                "server_large_allocs_per_call".into(),
                per(b.1 - a.1 - overhead.1, 3),
            );
        }
        _ => {
            out.insert("server_allocs_per_call".into(), Json::Null);
            out.insert("server_large_allocs_per_call".into(), Json::Null);
        }
    }
    out.insert(
        "client_allocs_per_call".into(),
        per((after.client.0 - before.client.0) as f64, 2),
    );
    out.insert(
        "client_large_allocs_per_call".into(),
        per((after.client.1 - before.client.1) as f64, 3),
    );
    out
}

/// Small-echo calls per case of the `allocs` workload (`--calls`, default 20,000); the payload
/// cases make a 400th of that (at least 5).
pub fn calls(o: &Options) -> u64 {
    o.calls.unwrap_or(20_000).max(1)
}

/// One case of the `allocs` workload: `n` calls of `call` with `concurrency` in flight, after
/// `warmup` calls the same way, counted on both sides.
async fn case<F, Fut>(
    api: &Stub,
    n: u64,
    warmup: u64,
    concurrency: usize,
    overhead: (f64, f64),
    call: F,
) -> Json
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    run_count(warmup, concurrency, &call).await;
    // The warm-up's releases are processed before the first reading (messages are in order).
    let before = AllocMark::before(api).await;
    let r = run_count(n, concurrency, &call).await;
    let after = AllocMark::after(api).await;
    let mut out = per_call(&before, &after, overhead, r.count);
    out.insert("calls".into(), json!(r.count));
    out.insert("concurrency".into(), json!(concurrency));
    out.insert("errors".into(), json!(r.errors));
    out.insert("first_error".into(), json!(r.first_error));
    Json::Object(out)
}

/// The `allocs` workload: echo calls of each kind the timed workloads make, a fixed number of
/// each, and the allocations they cost per call on the server and in this driver.
pub async fn run(o: &Options) -> Result<Json, String> {
    const MIB: usize = 1024 * 1024;
    let conn = RpcConnection::open(&o.url_with_scheme("ws")).await?;
    let api = &conn.api;
    let n = calls(o);
    let few = (n / 400).max(5);
    api.call("noop", vec![]).await.map_err(|e| e.to_string())?;
    let overhead = reading_overhead(api).await;

    let seq = |i: u64| async move {
        let got = api
            .call("echo", vec![Value::from(i)])
            .await
            .map_err(|e| e.to_string())?;
        if got.as_f64() == Some(i as f64) {
            Ok(())
        } else {
            Err(format!("echo({i}) returned {got:?}"))
        }
    };
    let small = |_| async move {
        let arg = Value::object([("a", Value::from(1)), ("b", Value::from("x"))]);
        let got = api
            .call("echo", vec![arg])
            .await
            .map_err(|e| e.to_string())?;
        if got.get("a").as_f64() == Some(1.0) && got.get("b").as_str() == Some("x") {
            Ok(())
        } else {
            Err(format!("echo returned {got:?}"))
        }
    };
    let text = "x".repeat(64 * 1024);
    let text = &text;
    let string = |_| async move {
        let got = api
            .call("echo", vec![Value::String(text.clone())])
            .await
            .map_err(|e| e.to_string())?;
        match got.as_str() {
            Some(s) if s.len() == text.len() => Ok(()),
            _ => Err("bad echo length".to_owned()),
        }
    };
    let data: Vec<u8> = (0..MIB).map(|i| ((i * 7) & 0xff) as u8).collect();
    let data = &data;
    let bytes = |_| async move {
        let got = api
            .call("echo", vec![Bytes::new(data.clone()).into()])
            .await
            .map_err(|e| e.to_string())?;
        match got {
            Value::Bytes(b) if b.data.len() == MIB && b.data[12345] == data[12345] => Ok(()),
            _ => Err("bad echo bytes".to_owned()),
        }
    };
    let download = |_| async move {
        let got = api
            .call("bytes", vec![MIB.into()])
            .await
            .map_err(|e| e.to_string())?;
        match got {
            Value::Bytes(b) if b.data.len() == MIB && b.data[300] == (300 & 0xff) as u8 => Ok(()),
            _ => Err("bad bytes()".to_owned()),
        }
    };

    let mut out = Map::new();
    out.insert(
        "echo_seq".into(),
        case(api, n, n / 10, 1, overhead, seq).await,
    );
    out.insert(
        "echo_concurrent".into(),
        case(api, n, n / 10, o.concurrency, overhead, small).await,
    );
    out.insert(
        "echo_str_64k".into(),
        case(api, few * 4, few, 1, overhead, string).await,
    );
    out.insert(
        "echo_u8_1m".into(),
        case(api, few, few / 5 + 1, 1, overhead, bytes).await,
    );
    out.insert(
        "bytes_1m".into(),
        case(api, few, few / 5 + 1, 1, overhead, download).await,
    );
    out.insert(
        "reading_overhead".into(),
        json!({ "server_allocs": overhead.0, "server_large_allocs": overhead.1 }),
    );
    out.insert(
        "large_allocation_bytes".into(),
        json!(crate::alloc::LARGE_ALLOCATION),
    );
    conn.close().await;
    Ok(Json::Object(out))
}
