//! The stream benchmark's Rust client (`tether-stream-driver`): tether as the client of a
//! TestTarget server (`shared/interop/TESTTARGET.md`, "Streams and Fetch API types"), one
//! transfer or latency run per process, one JSON line on stdout. `bench/streams.sh` runs it, and
//! its Node twin `bench/streams.mjs` (capnweb as the client), against both servers.
//!
//! ```text
//! tether-stream-driver URL MODE [--total=104857600] [--chunk=65536] [--interval-ms=2]
//!                      [--duration=3] [--server-pid=PID] [--label=TEXT] [--rep=N]
//! ```
//!
//! Modes:
//!
//! * `download`: `streamBytes(total, chunk)`, read to the end; every chunk's length is counted
//!   and its first and last byte checked against the pattern (byte `k` is `k % 251`), so a lost,
//!   repeated or reordered chunk fails the run without hashing every byte on the client;
//! * `upload`: `makeSink(tag)`, `total` bytes of the pattern written in `chunk`-byte chunks (made
//!   before the clock starts), `close()`, then `sinkState(tag)` must report `total` bytes, the
//!   right chunk count and the pattern's FNV (the server hashes every byte it receives);
//! * `echo-idle`: `square(i)` issued every `interval-ms` for `duration` seconds on an otherwise
//!   idle session, open loop (a call does not wait for the previous one), each latency recorded;
//! * `echo-upload`: the same `square` calls on the same session while an `upload` runs, from its
//!   first write to its close.
//!
//! Throughput is `total` bytes over the wall time from the call (download) or the first write
//! (upload) to the last chunk read (download) or to `close()` resolving (upload), in MiB/s
//! (2^20 bytes). Every line also reports the client's and (with `--server-pid`) the server's CPU
//! over that window, from `/proc` ([`crate::driver::measure::CpuWindow`]).

use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use serde_json::{json, Map, Value as Json};
use tether::{Bytes, Stub, Value};
use tokio::time::MissedTickBehavior;

use crate::driver::measure::{latency_summary, round, CpuWindow};

/// The modes of `tether-stream-driver`.
pub const MODES: [&str; 4] = ["download", "upload", "echo-idle", "echo-upload"];

/// Parsed command line.
#[derive(Clone, Debug)]
pub struct Options {
    /// The TestTarget server's WebSocket URL.
    pub url: String,
    /// One of [`MODES`].
    pub mode: String,
    /// Bytes to transfer (default 100 MiB).
    pub total: usize,
    /// Bytes per chunk (default 64 KiB).
    pub chunk: usize,
    /// Milliseconds between two `square` calls in the echo modes (default 2).
    pub interval_ms: f64,
    /// Seconds of `echo-idle` (default 3).
    pub duration: f64,
    /// The server's process id (its CPU over the window).
    pub server_pid: Option<u32>,
    /// Copied into the output line.
    pub label: Option<String>,
    /// Copied into the output line.
    pub rep: Option<u64>,
}

impl Options {
    /// Parses `URL MODE [--key=value ...]`.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut options = Options {
            url: String::new(),
            mode: String::new(),
            total: 100 << 20,
            chunk: 64 << 10,
            interval_ms: 2.0,
            duration: 3.0,
            server_pid: None,
            label: None,
            rep: None,
        };
        let mut positional = Vec::new();
        for arg in args {
            let Some(flag) = arg.strip_prefix("--") else {
                positional.push(arg);
                continue;
            };
            let (key, value) = flag.split_once('=').unwrap_or((flag, ""));
            let bad = || format!("bad value for --{key}: {value}");
            match key {
                "total" => options.total = value.parse().map_err(|_| bad())?,
                "chunk" => options.chunk = value.parse().map_err(|_| bad())?,
                "interval-ms" => options.interval_ms = value.parse().map_err(|_| bad())?,
                "duration" => options.duration = value.parse().map_err(|_| bad())?,
                "server-pid" => options.server_pid = Some(value.parse().map_err(|_| bad())?),
                "label" => options.label = Some(value.to_owned()),
                "rep" => options.rep = Some(value.parse().map_err(|_| bad())?),
                _ => return Err(format!("unknown option --{key}")),
            }
        }
        let mut positional = positional.into_iter();
        match (positional.next(), positional.next(), positional.next()) {
            (Some(url), Some(mode), None) if MODES.contains(&mode.as_str()) => {
                options.url = url;
                options.mode = mode;
            }
            (Some(_), Some(mode), None) => return Err(format!("unknown mode {mode}")),
            _ => return Err("expected URL MODE".to_owned()),
        }
        if options.chunk == 0 || options.interval_ms <= 0.0 {
            return Err("--chunk and --interval-ms must be positive".to_owned());
        }
        Ok(options)
    }
}

/// Runs the mode and returns the output line: what ran, then `result` or `error`.
pub async fn run(options: &Options) -> Json {
    let mut line = Map::new();
    line.insert("mode".into(), json!(options.mode));
    line.insert("client".into(), json!("tether"));
    line.insert("url".into(), json!(options.url));
    line.insert("label".into(), json!(options.label));
    line.insert("rep".into(), json!(options.rep));
    line.insert(
        "params".into(),
        json!({
            "total": options.total,
            "chunk": options.chunk,
            "interval_ms": options.interval_ms,
            "duration_s": options.duration,
        }),
    );
    match run_mode(options).await {
        Ok(result) => line.insert("result".into(), Json::Object(result)),
        Err(error) => line.insert("error".into(), json!(error)),
    };
    Json::Object(line)
}

async fn run_mode(options: &Options) -> Result<Map<String, Json>, String> {
    let api = tether::client::websocket::connect(&options.url)
        .await
        .map_err(|e| format!("connect {}: {e}", options.url))?;
    // One call first, so the session is up before any clock starts.
    square(&api, 3).await?;
    match options.mode.as_str() {
        "download" => download(&api, options).await,
        "upload" => {
            let chunks = pattern_chunks(options.total, options.chunk);
            upload(&api, options, chunks).await
        }
        "echo-idle" => {
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let duration = Duration::from_secs_f64(options.duration);
            let window = CpuWindow::start(options.server_pid);
            let (latencies, ()) = tokio::join!(probe(&api, options.interval_ms, stopped), async {
                tokio::time::sleep(duration).await;
                let _ = stop.send(());
            });
            let mut out = echo_summary(&latencies?, options);
            out.extend(window.finish());
            Ok(out)
        }
        _ => {
            let chunks = pattern_chunks(options.total, options.chunk);
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let (latencies, transfer) =
                tokio::join!(probe(&api, options.interval_ms, stopped), async {
                    let transfer = upload(&api, options, chunks).await;
                    let _ = stop.send(());
                    transfer
                });
            let mut out = echo_summary(&latencies?, options);
            out.insert("upload".into(), Json::Object(transfer?));
            Ok(out)
        }
    }
}

/// `streamBytes(total, chunk)` read to the end, every chunk checked at both ends.
async fn download(api: &Stub, options: &Options) -> Result<Map<String, Json>, String> {
    let window = CpuWindow::start(options.server_pid);
    let started = Instant::now();
    let args = vec![options.total.into(), options.chunk.into()];
    let stream = match api.call("streamBytes", args).await {
        Ok(Value::Readable(stream)) => stream,
        Ok(other) => return Err(format!("streamBytes returned {}", other.type_name())),
        Err(error) => return Err(format!("streamBytes: {error}")),
    };
    let mut stream = std::pin::pin!(stream);
    let (mut received, mut chunks) = (0usize, 0u64);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("stream error after {received} bytes: {e}"))?;
        let Value::Bytes(bytes) = chunk else {
            return Err(format!("chunk {chunks} is a {}", chunk.type_name()));
        };
        let data = &bytes.data;
        let ends_match = match (data.first(), data.last()) {
            (Some(&first), Some(&last)) => {
                first == pattern_byte(received) && last == pattern_byte(received + data.len() - 1)
            }
            _ => false,
        };
        if !ends_match || data.len() > options.chunk {
            return Err(format!("chunk {chunks} at {received}: not the pattern"));
        }
        received += data.len();
        chunks += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    if received != options.total {
        return Err(format!("received {received} of {} bytes", options.total));
    }
    let mut out = transfer_summary(options.total, chunks, seconds);
    out.extend(window.finish());
    Ok(out)
}

/// `makeSink(tag)`, `chunks` written and closed, then `sinkState(tag)` checked.
async fn upload(
    api: &Stub,
    options: &Options,
    chunks: Vec<Vec<u8>>,
) -> Result<Map<String, Json>, String> {
    let tag = format!("bench-{}-{}", std::process::id(), options.rep.unwrap_or(0));
    let mut sink = match api.call("makeSink", vec![tag.as_str().into()]).await {
        Ok(Value::Writable(sink)) => sink,
        Ok(other) => return Err(format!("makeSink returned {}", other.type_name())),
        Err(error) => return Err(format!("makeSink: {error}")),
    };
    let count = chunks.len();
    let expected_fnv = chunks.iter().fold(FNV_OFFSET, |h, c| fnv(h, c));
    let window = CpuWindow::start(options.server_pid);
    let started = Instant::now();
    for chunk in chunks {
        sink.write(Value::Bytes(Bytes::new(chunk)))
            .await
            .map_err(|e| format!("write: {e}"))?;
    }
    sink.close().await.map_err(|e| format!("close: {e}"))?;
    let seconds = started.elapsed().as_secs_f64();
    let mut out = transfer_summary(options.total, count as u64, seconds);
    out.extend(window.finish());
    let state = api
        .call("sinkState", vec![tag.as_str().into()])
        .await
        .map_err(|e| format!("sinkState: {e}"))?;
    let bytes = state.get("bytes").as_f64();
    let fnv_hex = state.get("fnv").as_str().map(str::to_owned);
    if bytes != Some(options.total as f64)
        || state.get("count").as_f64() != Some(count as f64)
        || fnv_hex.as_deref() != Some(format!("{expected_fnv:08x}").as_str())
        || state.get("closed").as_bool() != Some(true)
    {
        return Err(format!("sinkState: {state:?}"));
    }
    out.insert("sink_bytes".into(), json!(bytes));
    out.insert("sink_fnv".into(), json!(fnv_hex));
    Ok(out)
}

/// `square(i)` every `interval_ms`, open loop, until `stop` fires; then waits for the calls in
/// flight. Latencies in milliseconds, in the order the calls were made.
async fn probe(
    api: &Stub,
    interval_ms: f64,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> Result<Vec<f64>, String> {
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(interval_ms / 1000.0));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut in_flight = FuturesUnordered::new();
    let mut latencies = Vec::new();
    let mut i = 0i64;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = ticks.tick() => {
                i += 1;
                let n = i % 1000;
                in_flight.push(async move {
                    let started = Instant::now();
                    square(api, n).await.map(|()| started.elapsed().as_secs_f64() * 1000.0)
                });
            }
            Some(latency) = in_flight.next(), if !in_flight.is_empty() => latencies.push(latency?),
        }
    }
    while let Some(latency) = in_flight.next().await {
        latencies.push(latency?);
    }
    Ok(latencies)
}

async fn square(api: &Stub, n: i64) -> Result<(), String> {
    let answer = api
        .call("square", vec![n.into()])
        .await
        .map_err(|e| format!("square({n}): {e}"))?;
    if answer.as_f64() != Some((n * n) as f64) {
        return Err(format!("square({n}) = {answer:?}"));
    }
    Ok(())
}

fn transfer_summary(total: usize, chunks: u64, seconds: f64) -> Map<String, Json> {
    let mut out = Map::new();
    out.insert("bytes".into(), json!(total));
    out.insert("chunks".into(), json!(chunks));
    out.insert("seconds".into(), json!(round(seconds, 4)));
    out.insert(
        "mib_per_s".into(),
        json!(round(total as f64 / f64::from(1 << 20) / seconds, 1)),
    );
    out
}

fn echo_summary(latencies_ms: &[f64], options: &Options) -> Map<String, Json> {
    let mut out = latency_summary(latencies_ms);
    out.insert("calls".into(), json!(latencies_ms.len()));
    out.insert("interval_ms".into(), json!(options.interval_ms));
    out
}

const FNV_OFFSET: u32 = 0x811c_9dc5;

/// FNV-1a, 32 bits, one step per byte, from `hash`.
fn fnv(hash: u32, bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .fold(hash, |h, &b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// Byte `k` of the pattern.
fn pattern_byte(k: usize) -> u8 {
    (k % 251) as u8
}

/// The pattern of `total` bytes in chunks of `chunk` bytes (the last may be shorter).
fn pattern_chunks(total: usize, chunk: usize) -> Vec<Vec<u8>> {
    (0..total)
        .step_by(chunk)
        .map(|offset| {
            (offset..total.min(offset + chunk))
                .map(pattern_byte)
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_with_defaults() {
        let o = Options::parse(["ws://127.0.0.1:9/", "upload", "--total=10"].map(String::from))
            .expect("parses");
        assert_eq!((o.total, o.chunk, o.mode.as_str()), (10, 65536, "upload"));
        assert!(Options::parse(["ws://x/", "nope"].map(String::from)).is_err());
        assert!(Options::parse(["ws://x/", "download", "--chunk=0"].map(String::from)).is_err());
    }

    #[test]
    fn pattern_chunks_cover_the_total_in_order() {
        let chunks = pattern_chunks(600, 256);
        assert_eq!(
            chunks.iter().map(Vec::len).collect::<Vec<_>>(),
            [256, 256, 88]
        );
        assert_eq!(chunks[1][0], (256 % 251) as u8);
        assert_eq!(fnv(FNV_OFFSET, &[]), FNV_OFFSET);
    }
}
