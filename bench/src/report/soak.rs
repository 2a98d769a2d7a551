//! The sections made from `bench/soak.sh`'s results (`soak.jsonl`, `soak-machine.txt`,
//! `soak-commands.txt`): "Soak and churn", capnweb's server and tether's side by side, and
//! "Allocations per call, counted", the `allocs` workload against the tether server. Both are
//! left out when `soak.jsonl` is missing.

use std::fmt::Write as _;

use serde_json::Value as Json;

use super::{cell, ratio, Column, Inputs, Stat};

/// The rows of `col` with this `label` (`capnweb` or `tether`, as `soak.sh` gives them).
fn labelled(col: &Column, label: &str) -> Column {
    Column {
        rows: col
            .rows
            .iter()
            .filter(|r| r["label"] == label)
            .cloned()
            .collect(),
    }
}

/// The figure at `path` of a result: a number at that dotted path, or, for
/// `server_us_per:SUB`, the server's CPU time per call (or per cycle) in µs of the sub-result
/// `SUB` (`""`: the result itself), from its `server_cpu_pct` and `calls_per_s` (or
/// `cycles_per_s`).
fn value(result: &Json, path: &str) -> Option<f64> {
    let Some(sub) = path.strip_prefix("server_us_per:") else {
        return super::at(result, path).and_then(Json::as_f64);
    };
    let r = if sub.is_empty() {
        result
    } else {
        super::at(result, sub)?
    };
    let cpu = r["server_cpu_pct"].as_f64()?;
    let rate = r["calls_per_s"]
        .as_f64()
        .or_else(|| r["cycles_per_s"].as_f64())?;
    (rate > 0.0).then(|| cpu / 100.0 / rate * 1e6)
}

/// The figure at `path` (see [`value`]) of `workload`'s results, scaled by `scale`.
fn stat(col: &Column, workload: &str, path: &str, scale: f64) -> Option<Stat> {
    let values: Vec<f64> = col
        .results(workload)
        .filter_map(|r| value(r, path))
        .map(|x| x * scale)
        .collect();
    Stat::of(&values)
}

/// One row of a capnweb / tether table: `title | unit | capnweb | tether | ratio`.
#[allow(clippy::too_many_arguments)]
fn row(
    o: &mut String,
    title: &str,
    unit: &str,
    pair: (&Column, &Column),
    workload: &str,
    path: &str,
    scale: f64,
    decimals: usize,
    with_ratio: bool,
) {
    let (a, b) = (
        stat(pair.0, workload, path, scale),
        stat(pair.1, workload, path, scale),
    );
    if a.is_none() && b.is_none() {
        return;
    }
    let r = if with_ratio {
        ratio(b, a)
    } else {
        String::new()
    };
    let _ = writeln!(
        o,
        "| {title} | {unit} | {} | {} | {r} |",
        cell(a, decimals),
        cell(b, decimals)
    );
}

fn setting<'a>(inputs: &'a Inputs, key: &str) -> &'a str {
    inputs
        .soak_machine
        .iter()
        .find(|(k, _)| k == key)
        .map_or("?", |(_, v)| v.as_str())
}

/// Whether every value at `path` of `workload`'s results in `col` is `want` (`None`: no value).
fn all_equal(col: &Column, workload: &str, path: &str, want: f64) -> Option<bool> {
    let values: Vec<f64> = col
        .results(workload)
        .filter_map(|r| super::at(r, path).and_then(Json::as_f64))
        .collect();
    (!values.is_empty()).then(|| values.iter().all(|v| *v == want))
}

/// "Soak and churn": see the module docs.
pub(super) fn soak_section(o: &mut String, inputs: &Inputs) {
    let cap = labelled(&inputs.soak, "capnweb");
    let tet = labelled(&inputs.soak, "tether");
    if cap.rows.is_empty() && tet.rows.is_empty() {
        return;
    }
    let pair = (&cap, &tet);
    let _ = writeln!(o, "## Soak and churn\n");
    let _ = writeln!(
        o,
        "Measured by `bench/soak.sh` on {} at commit {} (not by `bench/run.sh`: a separate run, \
         on its own servers), with the Rust driver (`tether-bench-driver`, tether as the client) \
         against capnweb's reference server (`server.mjs`, Node {}) and the typed \
         `tether-bench-server`, one after the other, servers pinned to CPU {} and the driver to \
         CPU {} (`taskset`). The ratio is tether ÷ capnweb. Heap is each server's `heapUsed()` \
         (capnweb: V8's after a forced GC; tether: the bytes live in its counting allocator), \
         RSS the server process's VmRSS from `/proc`, live Counters its `liveCounters()`.\n",
        setting(inputs, "date"),
        setting(inputs, "commit"),
        setting(inputs, "node"),
        setting(inputs, "server cpus"),
        setting(inputs, "client cpus"),
    );
    let _ = writeln!(
        o,
        "**Soak**: {} calls on ONE WebSocket session from {} loops (so about {} calls in \
         flight). Each loop repeats `makeCounter(i).increment(1)` then disposes the Counter \
         (pipelined on even iterations, awaited and released on odd ones), then passes a Counter \
         it holds across iterations back to the server as an argument (`noop(held)`) and calls \
         `held.increment(1)`, whose answer must continue the held Counter's count; every 100th \
         iteration it disposes the held Counter and makes a new one. The server's memory and \
         live Counters are read {} times, evenly spaced in calls (loops paused, a `noop()` \
         flush, 200 ms settle; \"middle\" is the reading at half the calls); \"end\" is read the \
         same way after the held Counters are disposed, and \"after close\" from a new session \
         once the soak's session closed. The slope is a least-squares fit over the readings \
         after the first (whose part of the run includes the session's tables growing to their \
         working size).\n",
        setting(inputs, "soak calls"),
        setting(inputs, "concurrency"),
        setting(inputs, "concurrency"),
        setting(inputs, "soak samples"),
    );
    let _ = writeln!(
        o,
        "| soak | unit | capnweb (Node) | tether | tether ÷ capnweb |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|");
    let mb = 1e-6;
    for (title, unit, path, scale, decimals, with_ratio) in [
        ("calls made", "", "calls", 1.0, 0, false),
        ("calls per second ↑", "/s", "calls_per_s", 1.0, 0, true),
        (
            "iteration (4 calls in turn) p50 latency ↓",
            "ms",
            "iteration_latency.p50_us",
            1e-3,
            2,
            true,
        ),
        (
            "iteration p99 latency ↓",
            "ms",
            "iteration_latency.p99_us",
            1e-3,
            2,
            true,
        ),
        ("errors (must be 0)", "", "errors", 1.0, 0, false),
        ("server heap at start", "MB", "start.heap", mb, 3, true),
        (
            "server heap in the middle",
            "MB",
            "middle.heap",
            mb,
            3,
            true,
        ),
        ("server heap at the end", "MB", "end.heap", mb, 3, true),
        (
            "server heap after the session closed",
            "MB",
            "after_close.heap",
            mb,
            3,
            true,
        ),
        (
            "server heap slope over the run ↓",
            "B per 100k calls",
            "heap_slope_bytes_per_100k_calls",
            1.0,
            0,
            false,
        ),
        (
            "server heap end − start",
            "kB",
            "heap_end_minus_start",
            1e-3,
            1,
            false,
        ),
        ("server RSS at start", "MB", "start.proc_rss", mb, 1, true),
        (
            "server RSS in the middle",
            "MB",
            "middle.proc_rss",
            mb,
            1,
            true,
        ),
        ("server RSS at the end", "MB", "end.proc_rss", mb, 1, true),
        (
            "server RSS slope over the run ↓",
            "kB per 100k calls",
            "rss_slope_bytes_per_100k_calls",
            1e-3,
            1,
            false,
        ),
        (
            "live Counters in the middle (the held ones)",
            "",
            "middle.live_counters",
            1.0,
            0,
            false,
        ),
        (
            "live Counters at the end (must be 0)",
            "",
            "live_counters_end",
            1.0,
            0,
            false,
        ),
        (
            "live Counters after the session closed",
            "",
            "live_counters_after_close",
            1.0,
            0,
            false,
        ),
        (
            "server CPU per call ↓",
            "µs",
            "server_us_per:",
            1.0,
            1,
            true,
        ),
        ("server CPU", "% of a core", "server_cpu_pct", 1.0, 0, false),
        (
            "unrelated CPU load",
            "% of a core",
            "other_cpu_pct",
            1.0,
            0,
            false,
        ),
    ] {
        row(
            o, title, unit, pair, "soak", path, scale, decimals, with_ratio,
        );
    }
    let _ = writeln!(o);

    let _ = writeln!(
        o,
        "**Churn**: {} connect / call / close cycles per transport, {} at a time. A WebSocket \
         cycle opens a fresh session, calls `makeCounter(i).increment(1)` (pipelined and \
         released on even cycles; awaited on odd ones and still held when the session closes, \
         so the server must dispose it at the session's end) and closes the socket. An HTTP \
         batch cycle POSTs `add(echo(i), 1)` (2 calls, the first pipelined into the second) on \
         a new connection. The server is read from a fresh session before, and after each \
         transport once its live Counters are back to the first reading.\n",
        setting(inputs, "churn cycles"),
        setting(inputs, "parallel"),
    );
    let _ = writeln!(
        o,
        "| churn | unit | capnweb (Node) | tether | tether ÷ capnweb |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|");
    for (title, unit, path, scale, decimals, with_ratio) in [
        (
            "WebSocket: cycles per second ↑",
            "/s",
            "websocket.cycles_per_s",
            1.0,
            0,
            true,
        ),
        (
            "WebSocket: cycle p50 latency ↓",
            "µs",
            "websocket.p50_us",
            1.0,
            0,
            true,
        ),
        (
            "WebSocket: cycle p99 latency ↓",
            "µs",
            "websocket.p99_us",
            1.0,
            0,
            true,
        ),
        (
            "WebSocket: errors (must be 0)",
            "",
            "websocket.errors",
            1.0,
            0,
            false,
        ),
        (
            "HTTP batch: cycles per second ↑",
            "/s",
            "http_batch.cycles_per_s",
            1.0,
            0,
            true,
        ),
        (
            "HTTP batch: cycle p50 latency ↓",
            "µs",
            "http_batch.p50_us",
            1.0,
            0,
            true,
        ),
        (
            "HTTP batch: errors (must be 0)",
            "",
            "http_batch.errors",
            1.0,
            0,
            false,
        ),
        ("server heap before", "MB", "before.heap", mb, 3, true),
        (
            "server heap after the WebSocket cycles",
            "MB",
            "after_websocket.heap",
            mb,
            3,
            true,
        ),
        (
            "server heap after the HTTP cycles",
            "MB",
            "after_http_batch.heap",
            mb,
            3,
            true,
        ),
        ("server RSS before", "MB", "before.proc_rss", mb, 1, true),
        (
            "server RSS after",
            "MB",
            "after_http_batch.proc_rss",
            mb,
            1,
            true,
        ),
        (
            "server open file descriptors, after − before",
            "",
            "fds_after_minus_before",
            1.0,
            0,
            false,
        ),
        (
            "live Counters at the end (must be 0)",
            "",
            "live_counters_end",
            1.0,
            0,
            false,
        ),
        (
            "WebSocket: server CPU per cycle ↓",
            "µs",
            "server_us_per:websocket",
            1.0,
            0,
            true,
        ),
        (
            "HTTP batch: server CPU per cycle ↓",
            "µs",
            "server_us_per:http_batch",
            1.0,
            0,
            true,
        ),
        (
            "WebSocket: server CPU",
            "% of a core",
            "websocket.server_cpu_pct",
            1.0,
            0,
            false,
        ),
        (
            "HTTP batch: server CPU",
            "% of a core",
            "http_batch.server_cpu_pct",
            1.0,
            0,
            false,
        ),
        (
            "unrelated CPU load, WebSocket cycles",
            "% of a core",
            "websocket.other_cpu_pct",
            1.0,
            0,
            false,
        ),
        (
            "unrelated CPU load, HTTP cycles",
            "% of a core",
            "http_batch.other_cpu_pct",
            1.0,
            0,
            false,
        ),
    ] {
        row(
            o, title, unit, pair, "churn", path, scale, decimals, with_ratio,
        );
    }
    let _ = writeln!(o);

    // Verdicts, computed.
    let mut checks = Vec::new();
    for (name, col) in [("capnweb", &cap), ("tether", &tet)] {
        let zero = |workload, path| all_equal(col, workload, path, 0.0);
        let verdict = |x: Option<bool>| match x {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "not measured",
        };
        checks.push(format!(
            "{name}: soak without errors: {}; live Counters 0 after the soak: {}; churn \
             without errors: {}; live Counters 0 after the churn: {}",
            verdict(zero("soak", "errors")),
            verdict(zero("soak", "live_counters_end")),
            verdict(zero("churn", "errors")),
            verdict(zero("churn", "live_counters_end")),
        ));
    }
    for c in checks {
        let _ = writeln!(o, "* {c}.");
    }
    let load = [cap.other_load(), tet.other_load()]
        .into_iter()
        .flatten()
        .map(|s| s.max)
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
    if let Some(max) = load.filter(|m| *m > 25.0) {
        let _ = writeln!(
            o,
            "* **Disturbed run**: unrelated processes used up to {max:.0} % of a core while these \
             ran (100 = one of the machine's 2 cores), so the rates and latencies above are those \
             of a busy machine, not comparable with the other sections' (server CPU per call \
             depends on it less). The memory figures, the live Counters, the error counts and \
             the allocation counts do not depend on it."
        );
    }
    let failures: Vec<String> = [&cap, &tet].iter().flat_map(|c| c.failures()).collect();
    for f in failures {
        let _ = writeln!(o, "* failed run: {f}");
    }
    let _ = writeln!(o);
    if !inputs.soak_commands.trim().is_empty() {
        let _ = writeln!(
            o,
            "Commands, as run by `bench/soak.sh`:\n\n```sh\n{}\n```\n",
            inputs.soak_commands.trim_end()
        );
    }
}

/// "Allocations per call, counted": see the module docs.
pub(super) fn allocs_section(o: &mut String, inputs: &Inputs) {
    let tet = labelled(&inputs.soak, "tether");
    if tet.results("allocs").next().is_none() {
        return;
    }
    let _ = writeln!(o, "## Allocations per call, counted\n");
    let _ = writeln!(
        o,
        "The `allocs` workload of the Rust driver against the typed `tether-bench-server`, in \
         the same `bench/soak.sh` run: a fixed number of calls of each kind, one session, after a \
         warm-up. The server counts every allocation call of its global allocator \
         (`bench/src/alloc.rs`: `alloc`, `alloc_zeroed` and `realloc`; those of at least 1 MiB \
         apart) and answers `allocCount()` / `largeAllocCount()` (tether-only BenchApi methods); \
         the driver reads them around the calls, less what reading them costs by itself, and \
         reads its own allocator the same way. Exact counts, not estimates: \
         the same calls give the same figures on every run (up to the amortised growth of a \
         table now and then).\n"
    );
    let _ = writeln!(
        o,
        "| calls | server allocations per call | server allocations ≥ 1 MiB per call | driver allocations per call | driver allocations ≥ 1 MiB per call |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|");
    for (title, case) in [
        ("`echo(i)`, one call at a time", "echo_seq"),
        ("`echo({a:1,b:\"x\"})`, 100 in flight", "echo_concurrent"),
        ("`echo` of a 64 KiB string", "echo_str_64k"),
        ("`echo` of a 1 MiB `Uint8Array`", "echo_u8_1m"),
        ("`bytes(1048576)` (1 MiB download)", "bytes_1m"),
    ] {
        let get = |key: &str, decimals| {
            let path = format!("{case}.{key}");
            let values: Vec<f64> = tet
                .results("allocs")
                .filter_map(|r| super::at(r, &path).and_then(Json::as_f64))
                .collect();
            cell(Stat::of(&values), decimals)
        };
        let calls = tet
            .results("allocs")
            .filter_map(|r| super::at(r, &format!("{case}.calls")).and_then(Json::as_f64))
            .next()
            .map_or_else(|| "?".to_owned(), |n| format!("{n:.0}"));
        let _ = writeln!(
            o,
            "| {title} ({calls} calls) | {} | {} | {} | {} |",
            get("server_allocs_per_call", 1),
            get("server_large_allocs_per_call", 2),
            get("client_allocs_per_call", 1),
            get("client_large_allocs_per_call", 2),
        );
    }
    let _ = writeln!(o);
    let large = |case: &str, who: &str| {
        let path = format!("{case}.{who}_large_allocs_per_call");
        let values: Vec<f64> = tet
            .results("allocs")
            .filter_map(|r| super::at(r, &path).and_then(Json::as_f64))
            .collect();
        Stat::of(&values).map(|s| s.median)
    };
    if let Some(n) = large("echo_u8_1m", "server") {
        let _ = writeln!(
            o,
            "* **Payload copies.** Echoing a 1 MiB `Uint8Array` makes the server allocate {n:.0} \
             blocks of at least 1 MiB per call, a 1 MiB download (`bytes(1048576)`, nothing \
             large coming in) {}: each is a buffer that can hold the whole payload (its bytes, or \
             its 1.4 MB base64 text in a frame or a string). A block grown past 1 MiB by \
             `realloc` counts once per step at or above 1 MiB. The driver's figure for the echo \
             includes the workload's own copy of its argument (`data.clone()` per call).",
            large("bytes_1m", "server").map_or_else(|| "?".to_owned(), |x| format!("{x:.0}"))
        );
    }
    let _ = writeln!(o);
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    fn line(label: &str, workload: &str, result: Json) -> Json {
        json!({"workload": workload, "label": label, "rep": 1, "attempt": 1, "result": result})
    }

    fn inputs(rows: Vec<Json>) -> Inputs {
        Inputs {
            capnweb: Column::default(),
            tether: Column::default(),
            dynamic: Column::default(),
            rust: Column::default(),
            multi: Column::default(),
            small_buffer: Column::default(),
            small_buffer_node: Column::default(),
            machine: Vec::new(),
            commands: String::new(),
            profiles: BTreeMap::new(),
            soak: Column { rows },
            soak_machine: vec![
                ("soak calls".into(), "1000".into()),
                ("date".into(), "2026-12-01T00:00Z".into()),
            ],
            soak_commands: "tether-bench-driver URL soak".into(),
        }
    }

    fn soak(calls_per_s: f64, live_end: f64) -> Json {
        json!({"calls": 1000, "calls_per_s": calls_per_s, "errors": 0,
               "start": {"heap": 1_000_000}, "end": {"heap": 2_000_000},
               "live_counters_end": live_end})
    }

    #[test]
    fn soak_and_churn_sit_side_by_side() {
        let rows = vec![
            line("capnweb", "soak", soak(10000.0, 0.0)),
            line("tether", "soak", soak(30000.0, 2.0)),
            line(
                "tether",
                "churn",
                json!({"websocket": {"cycles_per_s": 3000, "server_cpu_pct": 300, "errors": 0}, "errors": 0,
                       "live_counters_end": 0}),
            ),
        ];
        let mut text = String::new();
        soak_section(&mut text, &inputs(rows));
        assert!(text.contains("## Soak and churn"), "{text}");
        assert!(text.contains("**Soak**: 1000 calls"), "{text}");
        assert!(
            text.contains("| calls per second ↑ | /s | 10000 | 30000 | 3.00× |"),
            "{text}"
        );
        assert!(
            text.contains("| server heap at the end | MB | 2.000 | 2.000 | 1.00× |"),
            "{text}"
        );
        assert!(
            text.contains("| WebSocket: cycles per second ↑ | /s | – | 3000 | – |"),
            "{text}"
        );
        assert!(
            text.contains(
                "tether: soak without errors: yes; live Counters 0 after the soak: **no**"
            ),
            "{text}"
        );
        assert!(
            text.contains("capnweb: soak without errors: yes; live Counters 0 after the soak: yes; churn without errors: not measured"),
            "{text}"
        );
        assert!(
            text.contains("```sh\ntether-bench-driver URL soak\n```"),
            "{text}"
        );
    }

    #[test]
    fn allocations_are_tabled_from_the_allocs_run() {
        let case = |n: f64, large: f64| {
            json!({"server_allocs_per_call": n, "server_large_allocs_per_call": large,
                   "client_allocs_per_call": 20, "client_large_allocs_per_call": large,
                   "calls": 100})
        };
        let rows = vec![line(
            "tether",
            "allocs",
            json!({"echo_seq": case(30.0, 0.0), "echo_u8_1m": case(47.0, 6.0),
                   "bytes_1m": case(44.0, 4.0)}),
        )];
        let mut text = String::new();
        allocs_section(&mut text, &inputs(rows));
        assert!(
            text.contains(
                "| `echo(i)`, one call at a time (100 calls) | 30.0 | 0.00 | 20.0 | 0.00 |"
            ),
            "{text}"
        );
        assert!(
            text.contains("allocate 6 blocks of at least 1 MiB per call"),
            "{text}"
        );
        assert!(
            text.contains("(`bytes(1048576)`, nothing large coming in) 4"),
            "{text}"
        );
        // Nothing to show without an allocs run, nor without soak.jsonl.
        let mut empty = String::new();
        allocs_section(&mut empty, &inputs(Vec::new()));
        soak_section(&mut empty, &inputs(Vec::new()));
        assert!(empty.is_empty(), "{empty}");
    }
}
