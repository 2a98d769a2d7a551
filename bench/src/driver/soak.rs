//! Long runs, bounded by counts: `soak` (a million calls on one session, memory read as it
//! goes) and `churn` (tens of thousands of short sessions). Both end by checking that the
//! server let go of everything: live Counters back to where they started, memory flat.
//!
//! **soak**: one WebSocket session, `--concurrency` loops (100: about 100 calls in flight), each
//! repeating
//!
//! 1. `makeCounter(i).increment(1)`, then the counter disposed: pipelined (one round trip, the
//!    counter never exported) on even iterations, awaited (exported as `["export", -n]`, then
//!    released) on odd ones;
//! 2. `noop(held)`, where `held` is a Counter this loop holds across iterations, passed back to
//!    the server as an argument (`["import", -n]`: the server's own export), then
//!    `held.increment(1)`, whose answer must continue `held`'s count: the server must not have
//!    let go of the Counter when it dropped the call's argument. Every 100th iteration the loop
//!    disposes `held` and makes a new one. (Not `echo(held)`: capnweb disposes a call's stub
//!    arguments when the call returns, so its `echo` of a stub answers "Attempted to use an RPC
//!    StubHook after it was disposed."; tether's returns a working stub.)
//!
//! That is 4 calls per iteration (5 when `held` is replaced), until `--calls` calls
//! (1,000,000) have completed. After every `--samples`th part of the calls (10: every 100,000)
//! the loops pause, a `noop()` flushes the releases, the run settles 200 ms, and the server's
//! `heapUsed()`, `rss()`, `/proc` RSS and `liveCounters()` are read. The held stubs are
//! disposed at the end, and the same is read again, then once more from a new session after
//! this one closed.
//!
//! **churn**: `--cycles` (50,000) cycles per transport, `--parallel` (4) at a time. A WebSocket
//! cycle connects, calls `makeCounter(i).increment(1)` (pipelined and released on even cycles;
//! awaited on odd ones, the Counter still held when the session closes, so the server must
//! dispose it at the session's end) and closes. An HTTP batch cycle POSTs
//! `add(echo(i), 1)` (the `echo` result pipelined into `add`: 2 calls, one request). The server
//! is read from a fresh session before, after the WebSocket cycles and after the HTTP ones, once
//! its live Counters are back to the first reading (waiting up to 10 s).

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{json, Map, Value as Json};
use tether::{Stub, Value};

use super::measure::{latency_summary, round, run_count, CpuWindow, Run};
use super::socket::RpcConnection;
use super::Options;

type Outcome = Result<Json, String>;

/// `--calls` for `soak` (default 1,000,000).
pub fn soak_calls(o: &Options) -> u64 {
    o.calls.unwrap_or(1_000_000).max(1)
}

/// `--cycles` for `churn` (default 50,000, per transport).
pub fn churn_cycles(o: &Options) -> u64 {
    o.cycles.unwrap_or(50_000)
}

fn error_text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The server's memory and live objects at one moment.
#[derive(Clone, Copy, Debug, Default)]
struct Memory {
    /// `heapUsed()`: live heap bytes (capnweb: V8's after a forced GC; tether: the counting
    /// allocator's live bytes).
    heap: Option<f64>,
    /// `rss()`, as the server reports it.
    rss: Option<f64>,
    /// VmRSS of the server's process from `/proc` (needs `--server-pid`).
    proc_rss: Option<u64>,
    /// `liveCounters()`.
    live: Option<f64>,
    /// The server's open file descriptors (needs `--server-pid`).
    fds: Option<usize>,
    /// `sessionsOpened()` (tether only).
    sessions: Option<f64>,
}

impl Memory {
    async fn read(api: &Stub, server_pid: Option<u32>) -> Memory {
        let number = |v: tether::RpcResult| v.ok().and_then(|v| v.as_f64());
        let pid = server_pid.map(|p| p.to_string());
        Memory {
            heap: number(api.call("heapUsed", vec![]).await),
            rss: number(api.call("rss", vec![]).await),
            live: number(api.call("liveCounters", vec![]).await),
            sessions: number(api.call("sessionsOpened", vec![]).await),
            proc_rss: pid.as_deref().and_then(crate::procfs::process_rss),
            fds: pid.as_deref().and_then(crate::procfs::open_fds),
        }
    }

    /// Reads from a fresh session, once `liveCounters()` is at most `live` (waiting up to
    /// `wait`); also returns how long it waited, ms.
    async fn read_fresh(
        url: &str,
        server_pid: Option<u32>,
        live: Option<f64>,
        wait: Duration,
    ) -> Result<(Memory, f64), String> {
        let conn = RpcConnection::open(url).await?;
        let api = &conn.api;
        api.call("noop", vec![]).await.map_err(error_text)?;
        let started = Instant::now();
        if let Some(target) = live {
            while started.elapsed() < wait {
                let now = api.call("liveCounters", vec![]).await.ok();
                if now.and_then(|v| v.as_f64()).is_some_and(|n| n <= target) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let waited = started.elapsed().as_secs_f64() * 1000.0;
        let memory = Memory::read(api, server_pid).await;
        conn.close().await;
        Ok((memory, round(waited, 1)))
    }

    fn json(&self) -> Json {
        json!({
            "heap": self.heap,
            "rss": self.rss,
            "proc_rss": self.proc_rss,
            "live_counters": self.live,
            "fds": self.fds,
            "sessions_opened": self.sessions,
        })
    }
}

/// `b - a` when both are known.
fn delta(a: Option<f64>, b: Option<f64>) -> Json {
    match (a, b) {
        (Some(a), Some(b)) => json!(b - a),
        _ => Json::Null,
    }
}

/// Least-squares slope of `y` over `x`, times `per`; `None` with fewer than two points or no
/// spread in `x`.
pub fn slope(points: &[(f64, f64)], per: f64) -> Option<f64> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx * per)
}

/// What one soak loop keeps between iterations and between parts of the run.
#[derive(Default)]
struct SoakLoop {
    /// The Counter this loop holds, and the value it should have.
    held: Option<(Stub, f64)>,
    /// Iterations done by this loop.
    iterations: u64,
}

/// Calls completed, failures and iteration latencies, shared by the loops of a soak.
#[derive(Default)]
struct Tally {
    calls: u64,
    run: Run,
}

impl Tally {
    fn call(&mut self, outcome: Result<(), String>) {
        self.calls += 1;
        if let Err(message) = outcome {
            self.run.errors += 1;
            self.run.first_error.get_or_insert(message);
        }
    }
}

/// `got` as the number `want`, or why not.
fn expect_number(what: &str, got: tether::RpcResult, want: f64) -> Result<(), String> {
    match got {
        Ok(v) if v.as_f64() == Some(want) => Ok(()),
        Ok(v) => Err(format!("{what}: expected {want}, got {v:?}")),
        Err(e) => Err(format!("{what}: {e}")),
    }
}

/// A new Counter at `start`, awaited: its stub.
async fn new_counter(api: &Stub, start: f64) -> Result<Stub, String> {
    api.call("makeCounter", vec![start.into()])
        .await
        .map_err(error_text)?
        .into_stub()
        .ok_or_else(|| "makeCounter gave no stub".to_owned())
}

/// One soak iteration of a loop (see the module docs), `i` its global index.
async fn soak_iteration(
    api: &Stub,
    state: &mut SoakLoop,
    i: u64,
    tally: &std::cell::RefCell<Tally>,
) {
    const REPLACE_EVERY: u64 = 100;
    let start = i as f64;
    // 1. makeCounter(i).increment(1), then disposed.
    if i % 2 == 0 {
        let counter = api.call("makeCounter", vec![start.into()]);
        let got = counter.call("increment", vec![1.into()]).await;
        drop(counter);
        let mut t = tally.borrow_mut();
        t.call(Ok(()));
        t.call(expect_number("pipelined increment", got, start + 1.0));
    } else {
        let counter = new_counter(api, start).await;
        let ok = counter.is_ok();
        tally
            .borrow_mut()
            .call(counter.as_ref().map(|_| ()).map_err(Clone::clone));
        if let (true, Ok(counter)) = (ok, counter) {
            let got = counter.call("increment", vec![1.into()]).await;
            drop(counter);
            tally
                .borrow_mut()
                .call(expect_number("increment", got, start + 1.0));
        }
    }
    // 2. The held Counter, passed back as an argument and called through what came back.
    if state.held.is_none() || state.iterations % REPLACE_EVERY == REPLACE_EVERY - 1 {
        state.held = None; // disposed
        let made = new_counter(api, 0.0).await;
        let outcome = made.as_ref().map(|_| ()).map_err(Clone::clone);
        tally.borrow_mut().call(outcome);
        state.held = made.ok().map(|stub| (stub, 0.0));
    }
    if let Some((held, value)) = &mut state.held {
        let passed = api.call("noop", vec![Value::Stub(held.clone())]).await;
        let passed = match passed {
            Ok(v) if v.is_undefined() => Ok(()),
            Ok(v) => Err(format!("noop(stub) returned {v:?}")),
            Err(e) => Err(format!("noop(stub): {e}")),
        };
        tally.borrow_mut().call(passed);
        let got = held.call("increment", vec![1.into()]).await;
        *value += 1.0;
        let outcome = expect_number("increment after noop(stub)", got, *value);
        if outcome.is_err() {
            // Start over with a new Counter, so that one failure is counted once.
            state.held = None;
        }
        tally.borrow_mut().call(outcome);
    }
    state.iterations += 1;
}

/// The `soak` workload. See the module docs.
pub async fn soak(o: &Options) -> Outcome {
    let total = soak_calls(o);
    let parts = o.samples.unwrap_or(10).clamp(2, 1000);
    let loops = o.concurrency.max(1);
    let url = o.url_with_scheme("ws");
    let conn = RpcConnection::open(&url).await?;
    let api = &conn.api;
    let settle = || async {
        api.call("noop", vec![]).await.map_err(error_text)?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        api.call("noop", vec![]).await.map_err(error_text)
    };
    settle().await?;
    let start = Memory::read(api, o.server_pid).await;
    let client_start = crate::alloc::allocated_bytes();

    let tally = std::cell::RefCell::new(Tally::default());
    let next = std::cell::Cell::new(0u64);
    let mut states: Vec<SoakLoop> = (0..loops).map(|_| SoakLoop::default()).collect();
    let mut samples = Vec::new();
    let mut busy = 0.0;
    let cpu = CpuWindow::start(o.server_pid);
    for part in 1..=parts {
        let target = total * part / parts;
        let began = Instant::now();
        let (tally, next) = (&tally, &next);
        states = join_all(states.into_iter().map(|mut state| async move {
            while tally.borrow().calls < target {
                let i = next.get();
                next.set(i + 1);
                let t0 = Instant::now();
                soak_iteration(api, &mut state, i, tally).await;
                let took = t0.elapsed().as_secs_f64() * 1000.0;
                tally.borrow_mut().run.latencies_ms.push(took);
            }
            state
        }))
        .await;
        busy += began.elapsed().as_secs_f64();
        settle().await?;
        let m = Memory::read(api, o.server_pid).await;
        let calls = tally.borrow().calls;
        samples.push((calls, round(busy, 3), m));
    }
    let cpu = cpu.finish();
    let iterations = next.get();
    // Dispose the held Counters, flush, settle: the end reading.
    drop(states);
    settle().await?;
    let end = Memory::read(api, o.server_pid).await;
    let client_end = crate::alloc::allocated_bytes();
    conn.close().await;
    let (after_close, waited) =
        Memory::read_fresh(&url, o.server_pid, start.live, Duration::from_secs(10)).await?;

    let tally = tally.into_inner();
    let calls = tally.calls;
    let middle = samples
        .get((samples.len() - 1) / 2)
        .map_or(Memory::default(), |s| s.2);
    // Slopes over the readings after the first part (which includes the warm-up growth of the
    // session's tables), per 100,000 calls.
    let points = |f: fn(&Memory) -> Option<f64>| -> Vec<(f64, f64)> {
        samples
            .iter()
            .skip(1)
            .filter_map(|(c, _, m)| f(m).map(|y| (*c as f64, y)))
            .collect()
    };
    let heap_slope = slope(&points(|m| m.heap), 100_000.0).map(|x| x.round());
    let rss_slope = slope(
        &points(|m| m.proc_rss.map(|x| x as f64).or(m.rss)),
        100_000.0,
    )
    .map(|x| x.round());
    let mut out = json!({
        "calls": calls,
        "iterations": iterations,
        "concurrency": loops,
        "busy_s": round(busy, 3),
        "calls_per_s": (calls as f64 / busy.max(1e-9)).round(),
        "errors": tally.run.errors,
        "first_error": tally.run.first_error,
        "iteration_latency": Json::Object(latency_summary(&tally.run.latencies_ms)),
        "start": start.json(),
        "middle": middle.json(),
        "end": end.json(),
        "after_close": after_close.json(),
        "after_close_wait_ms": waited,
        "heap_slope_bytes_per_100k_calls": heap_slope,
        "rss_slope_bytes_per_100k_calls": rss_slope,
        "heap_end_minus_start": delta(start.heap, end.heap),
        "rss_end_minus_start": delta(
            start.proc_rss.map(|x| x as f64).or(start.rss),
            end.proc_rss.map(|x| x as f64).or(end.rss)
        ),
        "live_counters_end": end.live,
        "live_counters_after_close": after_close.live,
        "client_heap_growth": client_end as f64 - client_start as f64,
        "samples": samples.iter().map(|(c, s, m)| {
            let mut j = m.json();
            if let Json::Object(map) = &mut j {
                map.insert("calls".into(), json!(c));
                map.insert("busy_s".into(), json!(s));
            }
            j
        }).collect::<Vec<_>>(),
    });
    if let Json::Object(map) = &mut out {
        map.extend(cpu);
    }
    Ok(out)
}

/// One WebSocket churn cycle: connect, `makeCounter(i).increment(1)`, close (see the module
/// docs).
async fn ws_cycle(url: &str, i: u64) -> Result<(), String> {
    let conn = RpcConnection::open(url).await?;
    let start = i as f64;
    let outcome = if i % 2 == 0 {
        let counter = conn.api.call("makeCounter", vec![start.into()]);
        let got = counter.call("increment", vec![1.into()]).await;
        drop(counter);
        conn.close().await;
        got
    } else {
        // Held when the session closes: the server disposes it then.
        let counter = match new_counter(&conn.api, start).await {
            Ok(counter) => counter,
            Err(e) => {
                conn.close().await;
                return Err(e);
            }
        };
        let got = counter.call("increment", vec![1.into()]).await;
        conn.close().await;
        drop(counter);
        got
    };
    expect_number("increment", outcome, start + 1.0)
}

/// One HTTP batch churn cycle: `add(echo(i), 1)` in one POST.
async fn http_cycle(url: &str, i: u64) -> Result<(), String> {
    let api = tether::client::http_batch::connect(url).map_err(error_text)?;
    let echoed = api.call("echo", vec![i.into()]);
    let got = api
        .call("add", vec![Value::Promise(echoed), 1.into()])
        .await;
    drop(api);
    expect_number("add(echo(i), 1)", got, i as f64 + 1.0)
}

/// The figures of one transport's cycles.
fn cycles_summary(r: &Run, cpu: Map<String, Json>) -> Json {
    let mut out = json!({
        "cycles": r.count,
        "elapsed_s": round(r.elapsed, 3),
        "cycles_per_s": r.rate().round(),
        "calls_per_cycle": 2,
        "errors": r.errors,
        "first_error": r.first_error,
    });
    if let Json::Object(map) = &mut out {
        map.extend(latency_summary(&r.latencies_ms));
        map.extend(cpu);
    }
    out
}

/// The `churn` workload. See the module docs.
pub async fn churn(o: &Options) -> Outcome {
    let cycles = churn_cycles(o);
    let parallel = o.parallel.unwrap_or(4).max(1);
    let ws = o.url_with_scheme("ws");
    let http = o.url_with_scheme("http");
    let wait = Duration::from_secs(10);
    let (before, _) = Memory::read_fresh(&ws, o.server_pid, None, wait).await?;

    let cpu = CpuWindow::start(o.server_pid);
    let ws_run = run_count(cycles, parallel, |i| ws_cycle(&ws, i)).await;
    let ws_cpu = cpu.finish();
    let (after_ws, ws_wait) = Memory::read_fresh(&ws, o.server_pid, before.live, wait).await?;

    let cpu = CpuWindow::start(o.server_pid);
    let http_run = run_count(cycles, parallel, |i| http_cycle(&http, i)).await;
    let http_cpu = cpu.finish();
    let (after_http, http_wait) = Memory::read_fresh(&ws, o.server_pid, before.live, wait).await?;

    let sessions = |a: &Memory, b: &Memory| match (a.sessions, b.sessions) {
        // Less the reading session of `b`.
        (Some(x), Some(y)) => json!(y - x - 1.0),
        _ => Json::Null,
    };
    let mut websocket = cycles_summary(&ws_run, ws_cpu);
    let mut http_batch = cycles_summary(&http_run, http_cpu);
    if let Json::Object(map) = &mut websocket {
        map.insert("sessions_opened".into(), sessions(&before, &after_ws));
        map.insert("settle_wait_ms".into(), json!(ws_wait));
    }
    if let Json::Object(map) = &mut http_batch {
        map.insert("sessions_opened".into(), sessions(&after_ws, &after_http));
        map.insert("settle_wait_ms".into(), json!(http_wait));
    }
    Ok(json!({
        "cycles": cycles,
        "parallel": parallel,
        "websocket": websocket,
        "http_batch": http_batch,
        "errors": ws_run.errors + http_run.errors,
        "before": before.json(),
        "after_websocket": after_ws.json(),
        "after_http_batch": after_http.json(),
        "heap_after_minus_before": delta(before.heap, after_http.heap),
        "rss_after_minus_before": delta(
            before.proc_rss.map(|x| x as f64).or(before.rss),
            after_http.proc_rss.map(|x| x as f64).or(after_http.rss)
        ),
        "fds_after_minus_before": match (before.fds, after_http.fds) {
            (Some(a), Some(b)) => json!(b as f64 - a as f64),
            _ => Json::Null,
        },
        "live_counters_end": after_http.live,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slopes_are_least_squares() {
        let line: Vec<(f64, f64)> = (0..5)
            .map(|i| (f64::from(i), 3.0 * f64::from(i) + 1.0))
            .collect();
        assert_eq!(slope(&line, 1.0), Some(3.0));
        assert_eq!(slope(&line, 10.0), Some(30.0));
        let flat = [(1.0, 5.0), (2.0, 7.0), (3.0, 5.0), (4.0, 7.0)];
        assert!((slope(&flat, 1.0).unwrap_or(f64::NAN) - 0.4).abs() < 1e-12);
        assert_eq!(slope(&[(1.0, 1.0)], 1.0), None);
        assert_eq!(slope(&[(1.0, 1.0), (1.0, 2.0)], 1.0), None);
    }
}
