//! The workloads, one function each, mirroring `client.mjs` (see the shared kit's README for what
//! each measures and why).

use std::future::IntoFuture;
use std::time::Instant;

use futures_util::future::join_all;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Map, Value as Json};
use tether::{Bytes, RpcPromise, Stub, Value};
use tokio_tungstenite::tungstenite::Message;

use super::allocs::{per_call, reading_overhead, AllocMark};
use super::measure::{latency_summary, round, run_for, CpuWindow, Run};
use super::socket::{connect_socket, RpcConnection};
use super::Options;

type Outcome = Result<Json, String>;

pub(super) async fn run(o: &Options) -> Outcome {
    match o.workload.as_str() {
        "seq" => seq(o).await,
        "concurrent" => concurrent(o).await,
        "pipeline" => pipeline(o).await,
        "stubs" => stubs(o).await,
        "payload" => payload(o).await,
        "batch" => batch(o).await,
        "raw-seq" => raw(o, 1).await,
        "raw-concurrent" => raw(o, o.concurrency).await,
        "soak" => super::soak::soak(o).await,
        "churn" => super::soak::churn(o).await,
        "allocs" => super::allocs::run(o).await,
        other => Err(format!("unknown workload {other}")),
    }
}

/// Merges JSON objects into one, in order.
fn merge(parts: impl IntoIterator<Item = Json>) -> Json {
    let mut out = Map::new();
    for part in parts {
        if let Json::Object(map) = part {
            out.extend(map);
        }
    }
    Json::Object(out)
}

fn error_text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// `calls`, `elapsed_s`, `calls_per_s`, latency percentiles, `errors` (and the first error).
fn calls_summary(run: &Run) -> Json {
    let mut out = json!({
        "calls": run.count,
        "elapsed_s": round(run.elapsed, 3),
        "calls_per_s": run.rate().round(),
    });
    if let Json::Object(map) = &mut out {
        map.extend(latency_summary(&run.latencies_ms));
    }
    out
}

fn errors(run: &Run) -> Json {
    json!({ "errors": run.errors, "first_error": run.first_error })
}

async fn seq(o: &Options) -> Outcome {
    let conn = RpcConnection::open(&o.url_with_scheme("ws")).await?;
    let api = &conn.api;
    let call = |i: u64| async move {
        let got = api
            .call("echo", vec![Value::from(i)])
            .await
            .map_err(error_text)?;
        if got.as_f64() == Some(i as f64) {
            Ok(())
        } else {
            Err(format!("echo({i}) returned {got:?}"))
        }
    };
    run_for(o.warmup, 1, call).await;
    let overhead = reading_overhead(api).await;
    let a0 = AllocMark::before(api).await;
    let f0 = conn.frames.snapshot();
    let cpu = CpuWindow::start(o.server_pid);
    let r = run_for(o.duration, 1, call).await;
    let cpu = cpu.finish();
    let f1 = conn.frames.snapshot();
    let a1 = AllocMark::after(api).await;
    conn.close().await;
    Ok(merge([
        calls_summary(&r),
        Json::Object(cpu),
        errors(&r),
        json!({ "per_call": f1.delta_per(&f0, r.count as f64) }),
        Json::Object(per_call(&a0, &a1, overhead, r.count)),
    ]))
}

async fn concurrent(o: &Options) -> Outcome {
    let conn = RpcConnection::open(&o.url_with_scheme("ws")).await?;
    let api = &conn.api;
    let call = |_| async move {
        let arg = Value::object([("a", Value::from(1)), ("b", Value::from("x"))]);
        let got = api.call("echo", vec![arg]).await.map_err(error_text)?;
        if got.get("a").as_f64() == Some(1.0) && got.get("b").as_str() == Some("x") {
            Ok(())
        } else {
            Err(format!("echo returned {got:?}"))
        }
    };
    run_for(o.warmup, o.concurrency, call).await;
    let overhead = reading_overhead(api).await;
    let a0 = AllocMark::before(api).await;
    let f0 = conn.frames.snapshot();
    let cpu = CpuWindow::start(o.server_pid);
    let r = run_for(o.duration, o.concurrency, call).await;
    let cpu = cpu.finish();
    let f1 = conn.frames.snapshot();
    let a1 = AllocMark::after(api).await;
    conn.close().await;
    Ok(merge([
        json!({ "concurrency": o.concurrency }),
        calls_summary(&r),
        Json::Object(cpu),
        errors(&r),
        json!({ "per_call": f1.delta_per(&f0, r.count as f64) }),
        Json::Object(per_call(&a0, &a1, overhead, r.count)),
    ]))
}

/// `api.makeCounter(0).increment(1)`, one await; the counter promise is dropped after.
async fn chain2(api: &Stub) -> Result<Value, String> {
    let counter = api.call("makeCounter", vec![0.into()]);
    let value = counter.call("increment", vec![1.into()]).await;
    drop(counter);
    value.map_err(error_text)
}

/// `C1 = makeCounter(0); v1 = C1.increment(1); C2 = makeCounter(v1); …; v5 = C5.increment(1)`,
/// only `v5` awaited; every intermediate dropped after.
async fn chain10_pipelined(api: &Stub) -> Result<Value, String> {
    let mut held: Vec<RpcPromise> = Vec::with_capacity(10);
    let mut start = Value::from(0);
    let mut last = None;
    for k in 0..5 {
        let counter = api.call("makeCounter", vec![start]);
        let value = counter.call("increment", vec![1.into()]);
        held.push(counter);
        if k < 4 {
            held.push(value.clone());
        }
        start = Value::Promise(value.clone());
        last = Some(value);
    }
    drop(start);
    let outcome = match last {
        Some(last) => last.await.map_err(error_text),
        None => Err("empty chain".to_owned()),
    };
    drop(held);
    outcome
}

/// The same 10 calls, each awaited.
async fn chain10_awaited(api: &Stub) -> Result<Value, String> {
    let mut held: Vec<Value> = Vec::with_capacity(5);
    let mut value = Value::from(0);
    for _ in 0..5 {
        let counter = api
            .call("makeCounter", vec![value])
            .await
            .map_err(error_text)?;
        let stub = counter.as_stub().ok_or("makeCounter gave no stub")?.clone();
        held.push(counter);
        value = stub
            .call("increment", vec![1.into()])
            .await
            .map_err(error_text)?;
    }
    drop(held);
    Ok(value)
}

async fn pipeline(o: &Options) -> Outcome {
    let conn = RpcConnection::open(&o.url_with_scheme("ws")).await?;
    let (api, frames) = (&conn.api, &conn.frames);
    let mut out = Map::new();
    let mut one_round = Map::new();
    for (name, calls) in [("chain2", 2u32), ("chain10", 10), ("chain10_awaited", 10)] {
        let expect = if name == "chain2" { 1.0 } else { 5.0 };
        let rounds = std::cell::RefCell::new((0u64, 0u64)); // (sum, max)
        let one = |_| async {
            frames.start_round();
            let before = frames.rounds();
            let got = match name {
                "chain2" => chain2(api).await,
                "chain10" => chain10_pipelined(api).await,
                _ => chain10_awaited(api).await,
            }?;
            let took = frames.rounds() - before;
            let mut r = rounds.borrow_mut();
            r.0 += took;
            r.1 = r.1.max(took);
            if got.as_f64() == Some(expect) {
                Ok(())
            } else {
                Err(format!("{name} returned {got:?}"))
            }
        };
        run_for(o.warmup, 1, one).await;
        *rounds.borrow_mut() = (0, 0);
        // Flush the releases of the warm-up.
        api.call("noop", vec![]).await.map_err(error_text)?;
        let f0 = frames.snapshot();
        let cpu = CpuWindow::start(o.server_pid);
        let r = run_for(o.duration, 1, one).await;
        let cpu = cpu.finish();
        api.call("noop", vec![]).await.map_err(error_text)?;
        let f1 = frames.snapshot();
        let (sum, max) = *rounds.borrow();
        let n = r.count.max(1) as f64;
        let mut entry = json!({
            "calls_per_chain": calls,
            "chains": r.count,
            "chains_per_s": r.rate().round(),
            "calls_per_s": (r.rate() * f64::from(calls)).round(),
        });
        if let Json::Object(map) = &mut entry {
            map.extend(latency_summary(&r.latencies_ms));
            map.extend(cpu);
            map.insert(
                "round_trips_per_chain".into(),
                json!(round(sum as f64 / n, 3)),
            );
            map.insert("max_round_trips_per_chain".into(), json!(max));
            map.insert("errors".into(), json!(r.errors));
            map.insert("first_error".into(), json!(r.first_error));
            map.insert("per_chain".into(), f1.delta_per(&f0, n));
        }
        one_round.insert(format!("{name}_one_round_trip"), json!(max == 1));
        out.insert(name.into(), entry);
    }
    conn.close().await;
    out.insert(
        "chain2_one_round_trip".into(),
        one_round["chain2_one_round_trip"].clone(),
    );
    out.insert(
        "chain10_one_round_trip".into(),
        one_round["chain10_one_round_trip"].clone(),
    );
    Ok(Json::Object(out))
}

/// One reading of the server's (and this client's) memory and live counters.
struct Reading {
    heap: Option<f64>,
    rss: Option<f64>,
    live: Option<f64>,
    proc_rss: Option<u64>,
    client_heap: usize,
}

async fn read_memory(api: &Stub, server_pid: Option<u32>) -> Reading {
    let number = |v: tether::RpcResult| v.ok().and_then(|v| v.as_f64());
    Reading {
        heap: number(api.call("heapUsed", vec![]).await),
        rss: number(api.call("rss", vec![]).await),
        live: number(api.call("liveCounters", vec![]).await),
        proc_rss: server_pid.and_then(|p| crate::procfs::process_rss(&p.to_string())),
        client_heap: crate::alloc::allocated_bytes(),
    }
}

async fn stubs(o: &Options) -> Outcome {
    const WINDOW: u64 = 1000;
    const LIST: usize = 1000;
    const LISTS: usize = 20;
    let conn = RpcConnection::open(&o.url_with_scheme("ws")).await?;
    let api = &conn.api;
    let n = o.count;
    api.call("noop", vec![]).await.map_err(error_text)?;
    let m0 = read_memory(api, o.server_pid).await;

    let f0 = conn.frames.snapshot();
    let cpu = CpuWindow::start(o.server_pid);
    let mut held: Vec<Stub> = Vec::with_capacity(n as usize);
    let created = Instant::now();
    let mut base = 0;
    while base < n {
        let end = n.min(base + WINDOW);
        let calls = (base..end).map(|i| api.call("makeCounter", vec![i.into()]).into_future());
        for got in join_all(calls).await {
            let stub = got
                .map_err(error_text)?
                .into_stub()
                .ok_or("makeCounter gave no stub")?;
            held.push(stub);
        }
        base = end;
    }
    let create_s = created.elapsed().as_secs_f64();
    let f1 = conn.frames.snapshot();
    let probe = match held.last() {
        Some(last) => last.call("increment", vec![1.into()]).await.ok(),
        None => None,
    };
    let m1 = read_memory(api, o.server_pid).await;

    let disposed = Instant::now();
    for stub in held.drain(..) {
        drop(stub);
    }
    // Messages are processed in order: once noop() answers, every release has been handled.
    api.call("noop", vec![]).await.map_err(error_text)?;
    let dispose_s = disposed.elapsed().as_secs_f64();
    drop(held);
    let m2 = read_memory(api, o.server_pid).await;

    let listed = Instant::now();
    for _ in 0..LISTS {
        let list = api
            .call("listOfStubs", vec![LIST.into()])
            .await
            .map_err(error_text)?;
        if list.as_array().map(<[Value]>::len) != Some(LIST) {
            return Err("listOfStubs returned the wrong length".into());
        }
        drop(list);
    }
    api.call("noop", vec![]).await.map_err(error_text)?;
    let list_s = listed.elapsed().as_secs_f64();
    let cpu = cpu.finish();
    let m3 = read_memory(api, o.server_pid).await;
    conn.close().await;

    let per = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => json!(((b - a) / n as f64).round()),
        _ => Json::Null,
    };
    let mut out = json!({
        "count": n,
        "create_s": round(create_s, 3),
        "creates_per_s": (n as f64 / create_s).round(),
        "dispose_s": round(dispose_s, 3),
        "disposes_per_s": (n as f64 / dispose_s).round(),
        "probe_ok": probe.and_then(|v| v.as_f64()) == Some(n as f64),
        "server_rss_before": m0.rss, "server_rss_live": m1.rss, "server_rss_after_dispose": m2.rss,
        "server_heap_before": m0.heap, "server_heap_live": m1.heap,
        "server_heap_after_dispose": m2.heap,
        "server_proc_rss_before": m0.proc_rss, "server_proc_rss_live": m1.proc_rss,
        "server_proc_rss_after_dispose": m2.proc_rss,
        "live_counters_before": m0.live, "live_counters_live": m1.live,
        "live_counters_after_dispose": m2.live,
        "server_rss_bytes_per_stub": per(m0.rss, m1.rss),
        "server_heap_bytes_per_stub": per(m0.heap, m1.heap),
        "server_heap_retained_after_dispose": match (m0.heap, m2.heap) {
            (Some(a), Some(b)) => json!(b - a),
            _ => Json::Null,
        },
        "client_heap_bytes_per_stub":
            per(Some(m0.client_heap as f64), Some(m1.client_heap as f64)),
        "create_frames_per_stub": f1.delta_per(&f0, n as f64),
        "list_stubs_per_s": ((LIST * LISTS) as f64 / list_s).round(),
        "live_counters_after_lists": m3.live,
    });
    if let Json::Object(map) = &mut out {
        map.extend(cpu);
    }
    Ok(out)
}

async fn payload(o: &Options) -> Outcome {
    const MIB: usize = 1024 * 1024;
    let conn = RpcConnection::open(&o.url_with_scheme("ws")).await?;
    let api = &conn.api;
    let text = "x".repeat(64 * 1024);
    let data: Vec<u8> = (0..MIB).map(|i| ((i * 7) & 0xff) as u8).collect();
    let mut out = Map::new();
    let overhead = reading_overhead(api).await;
    for (name, size) in [
        ("echo_str_64k", text.len()),
        ("echo_u8_1m", data.len()),
        ("bytes_1m", MIB),
    ] {
        let (text, data) = (&text, &data);
        let call = |_| async move {
            match name {
                "echo_str_64k" => {
                    let got = api
                        .call("echo", vec![Value::String(text.clone())])
                        .await
                        .map_err(error_text)?;
                    match got.as_str() {
                        Some(s) if s.len() == text.len() => Ok(()),
                        _ => Err("bad echo length".to_owned()),
                    }
                }
                "echo_u8_1m" => {
                    let got = api
                        .call("echo", vec![Bytes::new(data.clone()).into()])
                        .await
                        .map_err(error_text)?;
                    match got {
                        Value::Bytes(b)
                            if b.data.len() == data.len() && b.data[12345] == data[12345] =>
                        {
                            Ok(())
                        }
                        _ => Err("bad echo bytes".to_owned()),
                    }
                }
                _ => {
                    let got = api
                        .call("bytes", vec![MIB.into()])
                        .await
                        .map_err(error_text)?;
                    match got {
                        Value::Bytes(b)
                            if b.data.len() == MIB && b.data[300] == (300 & 0xff) as u8 =>
                        {
                            Ok(())
                        }
                        _ => Err("bad bytes()".to_owned()),
                    }
                }
            }
        };
        run_for(o.warmup, 1, call).await;
        let a0 = AllocMark::before(api).await;
        let f0 = conn.frames.snapshot();
        let cpu = CpuWindow::start(o.server_pid);
        let r = run_for(o.duration, 1, call).await;
        let cpu = cpu.finish();
        let f1 = conn.frames.snapshot();
        let a1 = AllocMark::after(api).await;
        let lat = latency_summary(&r.latencies_ms);
        let ms = |key: &str| {
            lat.get(key)
                .and_then(Json::as_f64)
                .map(|us| round(us / 1000.0, 3))
        };
        let calls = r.count.max(1) as f64;
        let mut entry = json!({
            "payload_bytes": size,
            "calls": r.count,
            "calls_per_s": round(r.rate(), 1),
            "mb_per_s": round(size as f64 * r.rate() / 1e6, 1),
            "p50_ms": ms("p50_us"),
            "p99_ms": ms("p99_us"),
        });
        if let Json::Object(map) = &mut entry {
            map.extend(cpu);
            map.insert(
                "c2s_bytes_per_call".into(),
                json!(((f1.c2s_bytes - f0.c2s_bytes) as f64 / calls).round()),
            );
            map.insert(
                "s2c_bytes_per_call".into(),
                json!(((f1.s2c_bytes - f0.s2c_bytes) as f64 / calls).round()),
            );
            map.insert("errors".into(), json!(r.errors));
            map.insert("first_error".into(), json!(r.first_error));
            map.extend(per_call(&a0, &a1, overhead, r.count));
        }
        out.insert(name.into(), entry);
    }
    conn.close().await;
    Ok(Json::Object(out))
}

async fn batch(o: &Options) -> Outcome {
    const N: u64 = 100;
    let url = o.url_with_scheme("http");
    // Sessions the server opened, read over a WebSocket session that stays open throughout:
    // each batch POST is one session, so the delta per batch is the requests per batch.
    let control = RpcConnection::open(&o.url_with_scheme("ws")).await?;
    let sessions = || async {
        control
            .api
            .call("sessionsOpened", vec![])
            .await
            .ok()
            .and_then(|v| v.as_f64())
    };
    let url = url.as_str();
    let echo100 = |_| async move {
        let api = tether::client::http_batch::connect(url).map_err(error_text)?;
        let calls: Vec<_> = (0..N)
            .map(|i| api.call("echo", vec![i.into()]).into_future())
            .collect();
        let results = join_all(calls).await;
        drop(api);
        for (i, got) in results.into_iter().enumerate() {
            let got = got.map_err(error_text)?;
            if got.as_f64() != Some(i as f64) {
                return Err(format!("batch echo({i}) returned {got:?}"));
            }
        }
        Ok(())
    };
    let add_chain100 = |_| async move {
        let api = tether::client::http_batch::connect(url).map_err(error_text)?;
        let mut p = api.call("add", vec![0.into(), 1.into()]);
        for _ in 1..N {
            p = api.call("add", vec![Value::Promise(p), 1.into()]);
        }
        let got = p.await.map_err(error_text)?;
        drop(api);
        if got.as_f64() == Some(N as f64) {
            Ok(())
        } else {
            Err(format!("add chain returned {got:?}"))
        }
    };
    let mut out = Map::new();
    out.insert("calls_per_batch".into(), json!(N));
    for name in ["echo100", "add_chain100"] {
        let one = |i| async move {
            if name == "echo100" {
                echo100(i).await
            } else {
                add_chain100(i).await
            }
        };
        run_for(o.warmup, 1, one).await;
        let s0 = sessions().await;
        let cpu = CpuWindow::start(o.server_pid);
        let r = run_for(o.duration, 1, one).await;
        let cpu = cpu.finish();
        let s1 = sessions().await;
        let requests = match (s0, s1) {
            (Some(a), Some(b)) => json!(round((b - a) / r.count.max(1) as f64, 3)),
            _ => Json::Null,
        };
        let mut entry = json!({
            "batches": r.count,
            "batches_per_s": r.rate().round(),
            "calls_per_s": (r.rate() * N as f64).round(),
        });
        if let Json::Object(map) = &mut entry {
            map.extend(latency_summary(&r.latencies_ms));
            map.extend(cpu);
            map.insert("http_requests_per_batch".into(), requests);
            map.insert("errors".into(), json!(r.errors));
            map.insert("first_error".into(), json!(r.first_error));
        }
        out.insert(name.into(), entry);
    }
    control.close().await;
    Ok(Json::Object(out))
}

/// The raw sockets' two halves.
type RawSink = futures_util::stream::SplitSink<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    Message,
>;
type RawStream = futures_util::stream::SplitStream<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
>;

const RAW_MESSAGE: &str = r#"{"a":1,"b":"x"}"#;

/// Plain WebSocket echo: `concurrency` messages in flight, answered in order.
async fn raw(o: &Options, concurrency: usize) -> Outcome {
    let socket = connect_socket(&o.url_with_scheme("ws")).await?;
    let (mut sink, mut stream) = socket.split();
    raw_phase(&mut sink, &mut stream, o.warmup, concurrency).await?;
    let cpu = CpuWindow::start(o.server_pid);
    let r = raw_phase(&mut sink, &mut stream, o.duration, concurrency).await?;
    let cpu = cpu.finish();
    let _ = sink.close().await;
    let mut out = json!({
        "concurrency": concurrency,
        "messages": r.count,
        "elapsed_s": round(r.elapsed, 3),
        "roundtrips_per_s": r.rate().round(),
    });
    if let Json::Object(map) = &mut out {
        map.extend(latency_summary(&r.latencies_ms));
        map.extend(cpu);
        map.insert("errors".into(), json!(r.errors));
        map.insert("message_bytes".into(), json!(RAW_MESSAGE.len()));
    }
    Ok(out)
}

/// Keeps `concurrency` echo messages in flight for `seconds`, then waits for the stragglers.
/// The server answers in order, so replies match sends first in, first out.
async fn raw_phase(
    sink: &mut RawSink,
    stream: &mut RawStream,
    seconds: f64,
    concurrency: usize,
) -> Result<Run, String> {
    let mut run = Run::default();
    let start = Instant::now();
    let end = start + std::time::Duration::from_secs_f64(seconds.max(0.0));
    let mut in_flight = std::collections::VecDeque::with_capacity(concurrency);
    for _ in 0..concurrency.max(1) {
        in_flight.push_back(Instant::now());
        sink.send(Message::text(RAW_MESSAGE))
            .await
            .map_err(error_text)?;
    }
    while let Some(sent) = in_flight.pop_front() {
        let text = loop {
            match stream.next().await {
                Some(Ok(Message::Text(text))) => break text,
                Some(Ok(Message::Close(_))) | None => return Err("socket closed".to_owned()),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(error_text(e)),
            }
        };
        let value: Json = serde_json::from_str(text.as_str()).map_err(error_text)?;
        if value["a"] != json!(1) || value["b"] != json!("x") {
            run.errors += 1;
        }
        run.latencies_ms.push(sent.elapsed().as_secs_f64() * 1000.0);
        run.count += 1;
        if Instant::now() < end {
            in_flight.push_back(Instant::now());
            sink.send(Message::text(RAW_MESSAGE))
                .await
                .map_err(error_text)?;
        }
    }
    run.elapsed = start.elapsed().as_secs_f64();
    Ok(run)
}
