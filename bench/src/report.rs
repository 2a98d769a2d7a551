//! The report: turns a run's results directory (written by `bench/run.sh`) into
//! `BENCHMARKS.md`. Every figure comes from the JSON lines and profile files in that directory;
//! nothing is typed in by hand.
//!
//! Files read (all optional except the first two):
//!
//! | file | what |
//! | --- | --- |
//! | `capnweb-node.jsonl` | the shared Node driver against the reference server (`server.mjs`) |
//! | `tether-node.jsonl` | the shared Node driver against the tether server (typed API) |
//! | `tether-dynamic-node.jsonl` | the same against the tether server on the dynamic API (`--api=dynamic`), the baseline of the typed one |
//! | `tether-rust.jsonl` | the Rust driver against the tether server |
//! | `tether-multi-node.jsonl` | the Node driver against the tether server on the multi-thread runtime |
//! | `raw-small-buffer-rust.jsonl` | the Rust driver against the raw echo with an 8 KiB read buffer |
//! | `raw-small-buffer-node.jsonl` | the Node driver against the same |
//! | `machine.txt` | `key: value` lines: machine and settings |
//! | `commands.txt` | the commands run, one per line |
//! | `perf-self.txt`, `perf-children.txt`, `perf-dso.txt` | `perf report` outputs |
//! | `callgrind-self.txt` | `callgrind_annotate` output |
//! | `soak.jsonl` | `bench/soak.sh`: the Rust driver's `soak`, `churn` (capnweb and tether) and `allocs` (tether) runs, labelled `capnweb` / `tether` |
//! | `soak-machine.txt`, `soak-commands.txt` | the same run's settings and commands (`bench/run.sh` keeps these three files) |

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use serde_json::Value as Json;

mod soak;

/// The runs of one results file.
#[derive(Debug, Default)]
pub struct Column {
    /// Lines that parsed.
    pub rows: Vec<Json>,
}

/// Median and range of one figure over repetitions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stat {
    /// Median (mean of the middle two for an even count).
    pub median: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Number of values.
    pub n: usize,
}

impl Stat {
    /// The statistics of `values`; `None` when empty.
    pub fn of(values: &[f64]) -> Option<Stat> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Stat {
            median,
            min: v[0],
            max: v[n - 1],
            n,
        })
    }
}

/// Follows a dotted path into a JSON value.
fn at<'a>(value: &'a Json, path: &str) -> Option<&'a Json> {
    path.split('.').try_fold(value, |v, key| v.get(key))
}

/// How a figure is read from a run's `result`.
#[derive(Clone, Copy)]
enum Get {
    /// A number at a dotted path.
    Path(&'static str),
    /// Computed from the result.
    Derived(fn(&Json) -> Option<f64>),
    /// Server CPU time per call, µs ([`server_us_per_call`]), of the sub-result at a dotted
    /// path (`""`: the result itself).
    ServerCpuPerCall(&'static str),
}

impl Get {
    fn read(self, result: &Json) -> Option<f64> {
        match self {
            Get::Path(path) => at(result, path).and_then(Json::as_f64),
            Get::Derived(f) => f(result),
            Get::ServerCpuPerCall("") => server_us_per_call(result),
            Get::ServerCpuPerCall(path) => at(result, path).and_then(server_us_per_call),
        }
    }
}

impl Column {
    /// Loads a JSON-lines file; a missing file gives an empty column.
    pub fn load(path: &Path) -> Column {
        let text = fs::read_to_string(path).unwrap_or_default();
        let rows = text
            .lines()
            .filter(|l| l.trim_start().starts_with('{'))
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        Column { rows }
    }

    fn results<'a>(&'a self, workload: &'a str) -> impl Iterator<Item = &'a Json> + 'a {
        self.rows
            .iter()
            .filter(move |r| r["workload"] == workload)
            .filter_map(|r| r.get("result"))
    }

    fn stat(&self, workload: &str, get: Get) -> Option<Stat> {
        let values: Vec<f64> = self.results(workload).filter_map(|r| get.read(r)).collect();
        Stat::of(&values)
    }

    fn failures(&self) -> Vec<String> {
        self.rows
            .iter()
            .filter(|r| r.get("error").is_some() || r["result"]["ok"] == Json::Bool(false))
            .map(|r| {
                let why = r
                    .get("error")
                    .map(|e| {
                        e.as_str()
                            .unwrap_or("?")
                            .lines()
                            .next()
                            .unwrap_or("")
                            .to_owned()
                    })
                    .unwrap_or_else(|| r["result"]["failures"].to_string());
                format!("{} rep {}: {why}", r["workload"], r["rep"])
            })
            .collect()
    }

    fn reps(&self) -> usize {
        let mut reps: Vec<String> = self.rows.iter().map(|r| r["rep"].to_string()).collect();
        reps.sort();
        reps.dedup();
        reps.len()
    }

    fn retried(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| r["attempt"].as_u64().unwrap_or(1) > 1)
            .count()
    }

    /// Every `other_cpu_pct` of every measured window: unrelated load.
    fn other_load(&self) -> Option<Stat> {
        fn walk(v: &Json, out: &mut Vec<f64>) {
            match v {
                Json::Object(map) => {
                    for (k, x) in map {
                        match (k.as_str(), x.as_f64()) {
                            ("other_cpu_pct", Some(n)) => out.push(n),
                            _ => walk(x, out),
                        }
                    }
                }
                Json::Array(items) => items.iter().for_each(|x| walk(x, out)),
                _ => {}
            }
        }
        let mut values = Vec::new();
        for r in &self.rows {
            if let Some(result) = r.get("result") {
                walk(result, &mut values);
            }
        }
        Stat::of(&values)
    }

    /// `(true count, runs)` of a boolean at `path`.
    fn flag(&self, workload: &str, path: &str) -> Option<(usize, usize)> {
        let flags: Vec<bool> = self
            .results(workload)
            .filter_map(|r| at(r, path).and_then(Json::as_bool))
            .collect();
        if flags.is_empty() {
            None
        } else {
            Some((flags.iter().filter(|f| **f).count(), flags.len()))
        }
    }
}

/// Server CPU time per call, µs: `server_cpu_pct / 100 / calls_per_s × 10⁶`.
fn server_us_per_call(r: &Json) -> Option<f64> {
    let cpu = r["server_cpu_pct"].as_f64()?;
    let rate = r["calls_per_s"]
        .as_f64()
        .or_else(|| r["roundtrips_per_s"].as_f64())?;
    (rate > 0.0).then(|| cpu / 100.0 / rate * 1e6)
}

/// Client CPU time per call, µs.
fn client_us_per_call(r: &Json) -> Option<f64> {
    let cpu = r["client_cpu_pct"].as_f64()?;
    let rate = r["calls_per_s"]
        .as_f64()
        .or_else(|| r["roundtrips_per_s"].as_f64())?;
    (rate > 0.0).then(|| cpu / 100.0 / rate * 1e6)
}

fn retained_mb(r: &Json) -> Option<f64> {
    Some(r["server_heap_retained_after_dispose"].as_f64()? / 1e6)
}

fn rss_live_mb(r: &Json) -> Option<f64> {
    Some(r["server_rss_live"].as_f64()? / 1e6)
}

/// Whether a bigger figure is better.
#[derive(Clone, Copy, PartialEq)]
enum Better {
    Higher,
    Lower,
    Neither,
}

struct Metric {
    title: &'static str,
    unit: &'static str,
    workload: &'static str,
    get: Get,
    decimals: usize,
    better: Better,
}

const fn m(
    title: &'static str,
    unit: &'static str,
    workload: &'static str,
    get: Get,
    decimals: usize,
    better: Better,
) -> Metric {
    Metric {
        title,
        unit,
        workload,
        get,
        decimals,
        better,
    }
}

use Better::{Higher, Lower, Neither};
use Get::{Derived, Path as P, ServerCpuPerCall as CpuPerCall};

/// Every figure of the full table, in order.
const FULL: &[Metric] = &[
    m("seq echo: calls/s", "", "seq", P("calls_per_s"), 0, Higher),
    m("seq echo: p50 latency", "µs", "seq", P("p50_us"), 0, Lower),
    m("seq echo: p99 latency", "µs", "seq", P("p99_us"), 0, Lower),
    m(
        "seq echo: server CPU per call",
        "µs",
        "seq",
        CpuPerCall(""),
        2,
        Lower,
    ),
    m(
        "seq echo: server CPU",
        "%",
        "seq",
        P("server_cpu_pct"),
        0,
        Neither,
    ),
    m(
        "seq echo: client CPU",
        "%",
        "seq",
        P("client_cpu_pct"),
        0,
        Neither,
    ),
    m(
        "concurrent (100 in flight) echo {a:1,b:\"x\"}: calls/s",
        "",
        "concurrent",
        P("calls_per_s"),
        0,
        Higher,
    ),
    m(
        "concurrent: p50 latency",
        "µs",
        "concurrent",
        P("p50_us"),
        0,
        Lower,
    ),
    m(
        "concurrent: p99 latency",
        "µs",
        "concurrent",
        P("p99_us"),
        0,
        Lower,
    ),
    m(
        "concurrent: server CPU",
        "%",
        "concurrent",
        P("server_cpu_pct"),
        0,
        Neither,
    ),
    m(
        "concurrent: client CPU",
        "%",
        "concurrent",
        P("client_cpu_pct"),
        0,
        Neither,
    ),
    m(
        "concurrent: server CPU per call",
        "µs",
        "concurrent",
        Derived(server_us_per_call),
        2,
        Lower,
    ),
    m(
        "concurrent: client CPU per call",
        "µs",
        "concurrent",
        Derived(client_us_per_call),
        2,
        Lower,
    ),
    m(
        "pipeline chain2 makeCounter(0).increment(1): chains/s",
        "",
        "pipeline",
        P("chain2.chains_per_s"),
        0,
        Higher,
    ),
    m(
        "pipeline chain2: p50 latency",
        "µs",
        "pipeline",
        P("chain2.p50_us"),
        0,
        Lower,
    ),
    m(
        "pipeline chain2: server CPU per call",
        "µs",
        "pipeline",
        CpuPerCall("chain2"),
        2,
        Lower,
    ),
    m(
        "pipeline chain2: round trips / chain",
        "",
        "pipeline",
        P("chain2.round_trips_per_chain"),
        2,
        Lower,
    ),
    m(
        "pipeline chain10 (pipelined): chains/s",
        "",
        "pipeline",
        P("chain10.chains_per_s"),
        0,
        Higher,
    ),
    m(
        "pipeline chain10: p50 latency",
        "µs",
        "pipeline",
        P("chain10.p50_us"),
        0,
        Lower,
    ),
    m(
        "pipeline chain10: server CPU per call",
        "µs",
        "pipeline",
        CpuPerCall("chain10"),
        2,
        Lower,
    ),
    m(
        "pipeline chain10: round trips / chain",
        "",
        "pipeline",
        P("chain10.round_trips_per_chain"),
        2,
        Lower,
    ),
    m(
        "pipeline chain10_awaited (10 round trips): chains/s",
        "",
        "pipeline",
        P("chain10_awaited.chains_per_s"),
        0,
        Higher,
    ),
    m(
        "pipeline chain10_awaited: p50 latency",
        "µs",
        "pipeline",
        P("chain10_awaited.p50_us"),
        0,
        Lower,
    ),
    m(
        "pipeline chain10_awaited: round trips / chain",
        "",
        "pipeline",
        P("chain10_awaited.round_trips_per_chain"),
        2,
        Neither,
    ),
    m(
        "stubs: makeCounter creates/s (1000 in flight)",
        "",
        "stubs",
        P("creates_per_s"),
        0,
        Higher,
    ),
    m(
        "stubs: disposes/s (release of 100k)",
        "",
        "stubs",
        P("disposes_per_s"),
        0,
        Higher,
    ),
    m(
        "stubs: server heap bytes / live stub",
        "B",
        "stubs",
        P("server_heap_bytes_per_stub"),
        0,
        Lower,
    ),
    m(
        "stubs: server RSS bytes / live stub",
        "B",
        "stubs",
        P("server_rss_bytes_per_stub"),
        0,
        Lower,
    ),
    m(
        "stubs: server RSS with 100k live stubs",
        "MB",
        "stubs",
        Derived(rss_live_mb),
        1,
        Lower,
    ),
    m(
        "stubs: server heap still held after disposing all",
        "MB",
        "stubs",
        Derived(retained_mb),
        1,
        Neither,
    ),
    m(
        "stubs: liveCounters with 100k held",
        "",
        "stubs",
        P("live_counters_live"),
        0,
        Neither,
    ),
    m(
        "stubs: liveCounters after dispose",
        "",
        "stubs",
        P("live_counters_after_dispose"),
        0,
        Neither,
    ),
    m(
        "stubs: client heap bytes / imported stub",
        "B",
        "stubs",
        P("client_heap_bytes_per_stub"),
        0,
        Lower,
    ),
    m(
        "stubs: listOfStubs(1000) stubs/s",
        "",
        "stubs",
        P("list_stubs_per_s"),
        0,
        Higher,
    ),
    m(
        "payload echo 64 KiB string: MB/s",
        "",
        "payload",
        P("echo_str_64k.mb_per_s"),
        1,
        Higher,
    ),
    m(
        "payload echo 64 KiB string: p50",
        "ms",
        "payload",
        P("echo_str_64k.p50_ms"),
        2,
        Lower,
    ),
    m(
        "payload echo 64 KiB string: server CPU per call",
        "µs",
        "payload",
        CpuPerCall("echo_str_64k"),
        2,
        Lower,
    ),
    m(
        "payload echo 1 MiB Uint8Array: MB/s",
        "",
        "payload",
        P("echo_u8_1m.mb_per_s"),
        1,
        Higher,
    ),
    m(
        "payload echo 1 MiB Uint8Array: p50",
        "ms",
        "payload",
        P("echo_u8_1m.p50_ms"),
        2,
        Lower,
    ),
    m(
        "payload echo 1 MiB Uint8Array: server CPU per call",
        "µs",
        "payload",
        CpuPerCall("echo_u8_1m"),
        2,
        Lower,
    ),
    m(
        "payload bytes(1 MiB) download: MB/s",
        "",
        "payload",
        P("bytes_1m.mb_per_s"),
        1,
        Higher,
    ),
    m(
        "payload bytes(1 MiB): p50",
        "ms",
        "payload",
        P("bytes_1m.p50_ms"),
        2,
        Lower,
    ),
    m(
        "payload bytes(1 MiB): server CPU per call",
        "µs",
        "payload",
        CpuPerCall("bytes_1m"),
        2,
        Lower,
    ),
    m(
        "batch 100 echo in 1 HTTP POST: batches/s",
        "",
        "batch",
        P("echo100.batches_per_s"),
        0,
        Higher,
    ),
    m(
        "batch echo100: p50 latency",
        "µs",
        "batch",
        P("echo100.p50_us"),
        0,
        Lower,
    ),
    m(
        "batch echo100: server CPU per call",
        "µs",
        "batch",
        CpuPerCall("echo100"),
        2,
        Lower,
    ),
    m(
        "batch echo100: HTTP requests / batch",
        "",
        "batch",
        P("echo100.http_requests_per_batch"),
        2,
        Neither,
    ),
    m(
        "batch 100-deep add() chain in 1 POST: batches/s",
        "",
        "batch",
        P("add_chain100.batches_per_s"),
        0,
        Higher,
    ),
    m(
        "batch add_chain100: p50 latency",
        "µs",
        "batch",
        P("add_chain100.p50_us"),
        0,
        Lower,
    ),
    m(
        "batch add_chain100: server CPU per call",
        "µs",
        "batch",
        CpuPerCall("add_chain100"),
        2,
        Lower,
    ),
    m(
        "batch add_chain100: HTTP requests / batch",
        "",
        "batch",
        P("add_chain100.http_requests_per_batch"),
        2,
        Neither,
    ),
    m(
        "raw ws seq: round trips/s",
        "",
        "raw-seq",
        P("roundtrips_per_s"),
        0,
        Higher,
    ),
    m(
        "raw ws seq: p50 latency",
        "µs",
        "raw-seq",
        P("p50_us"),
        0,
        Lower,
    ),
    m(
        "raw ws seq: server CPU",
        "%",
        "raw-seq",
        P("server_cpu_pct"),
        0,
        Neither,
    ),
    m(
        "raw ws 100 in flight: round trips/s",
        "",
        "raw-concurrent",
        P("roundtrips_per_s"),
        0,
        Higher,
    ),
    m(
        "raw ws 100 in flight: p50 latency",
        "µs",
        "raw-concurrent",
        P("p50_us"),
        0,
        Lower,
    ),
    m(
        "raw ws 100 in flight: server CPU",
        "%",
        "raw-concurrent",
        P("server_cpu_pct"),
        0,
        Neither,
    ),
    m(
        "raw ws 100 in flight: server CPU per round trip",
        "µs",
        "raw-concurrent",
        Derived(server_us_per_call),
        2,
        Lower,
    ),
];

fn metric(title: &str) -> Option<&'static Metric> {
    FULL.iter().find(|x| x.title == title)
}

/// `1234`, `12.5`: a number with `decimals` places, grouped by no separator.
fn num(x: f64, decimals: usize) -> String {
    format!("{x:.decimals$}")
}

/// `median (min–max)` when there are several values.
fn cell(stat: Option<Stat>, decimals: usize) -> String {
    match stat {
        None => "–".to_owned(),
        Some(s) if s.n < 2 => num(s.median, decimals),
        Some(s) => format!(
            "{} ({}–{})",
            num(s.median, decimals),
            num(s.min, decimals),
            num(s.max, decimals)
        ),
    }
}

/// `a ÷ b` of medians, e.g. `0.45×`.
fn ratio(a: Option<Stat>, b: Option<Stat>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b.median != 0.0 => {
            let r = a.median / b.median;
            if r >= 10.0 {
                format!("{r:.1}×")
            } else {
                format!("{r:.2}×")
            }
        }
        _ => "–".to_owned(),
    }
}

fn percent(a: Option<Stat>, b: Option<Stat>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b.median != 0.0 => format!("{:.0} %", 100.0 * a.median / b.median),
        _ => "–".to_owned(),
    }
}

fn arrow(better: Better) -> &'static str {
    match better {
        Higher => " ↑",
        Lower => " ↓",
        Neither => "",
    }
}

/// Everything the report is made from.
pub struct Inputs {
    /// Node driver → capnweb reference server.
    pub capnweb: Column,
    /// Node driver → tether server (typed API).
    pub tether: Column,
    /// Node driver → tether server on the dynamic API, the typed API's baseline.
    pub dynamic: Column,
    /// Rust driver → tether server.
    pub rust: Column,
    /// Node driver → tether server, multi-thread runtime.
    pub multi: Column,
    /// Rust driver → raw echo with a small read buffer.
    pub small_buffer: Column,
    /// Node driver → raw echo with a small read buffer.
    pub small_buffer_node: Column,
    /// `machine.txt` as ordered key/value pairs.
    pub machine: Vec<(String, String)>,
    /// `commands.txt`.
    pub commands: String,
    /// Profile outputs by file name.
    pub profiles: BTreeMap<String, String>,
    /// `bench/soak.sh`'s runs (`soak.jsonl`): soak and churn against both servers, allocs.
    pub soak: Column,
    /// `soak-machine.txt` as ordered key/value pairs.
    pub soak_machine: Vec<(String, String)>,
    /// `soak-commands.txt`.
    pub soak_commands: String,
}

impl Inputs {
    /// Reads a results directory.
    pub fn read(dir: &Path) -> Inputs {
        let text = |name: &str| fs::read_to_string(dir.join(name)).unwrap_or_default();
        let pairs = |name: &str| {
            text(name)
                .lines()
                .filter_map(|l| l.split_once(": "))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect()
        };
        let machine = pairs("machine.txt");
        let mut profiles = BTreeMap::new();
        for name in [
            "perf-self.txt",
            "perf-children.txt",
            "perf-dso.txt",
            "callgrind-self.txt",
            "callgrind-inclusive.txt",
        ] {
            let t = text(name);
            if !t.trim().is_empty() {
                profiles.insert(name.to_owned(), t);
            }
        }
        Inputs {
            capnweb: Column::load(&dir.join("capnweb-node.jsonl")),
            tether: Column::load(&dir.join("tether-node.jsonl")),
            dynamic: Column::load(&dir.join("tether-dynamic-node.jsonl")),
            rust: Column::load(&dir.join("tether-rust.jsonl")),
            multi: Column::load(&dir.join("tether-multi-node.jsonl")),
            small_buffer: Column::load(&dir.join("raw-small-buffer-rust.jsonl")),
            small_buffer_node: Column::load(&dir.join("raw-small-buffer-node.jsonl")),
            machine,
            commands: text("commands.txt"),
            profiles,
            soak: Column::load(&dir.join("soak.jsonl")),
            soak_machine: pairs("soak-machine.txt"),
            soak_commands: text("soak-commands.txt"),
        }
    }

    fn setting(&self, key: &str) -> &str {
        self.machine
            .iter()
            .find(|(k, _)| k == key)
            .map_or("?", |(_, v)| v.as_str())
    }
}

/// Writes the whole report.
pub fn render(inputs: &Inputs) -> String {
    let mut out = String::new();
    let o = &mut out;
    let cap = &inputs.capnweb;
    let tn = &inputs.tether;
    let tr = &inputs.rust;
    let s = |col: &Column, title: &str| metric(title).and_then(|x| col.stat(x.workload, x.get));

    let _ = writeln!(o, "# Benchmarks: tether vs capnweb\n");
    let _ = writeln!(
        o,
        "Generated by `bench/run.sh` on {} from the raw results in `bench/results/` \
         (`tether-bench-report`); do not edit by hand, run the script again. The workloads and \
         the BenchApi contract are those of the shared benchmark kit (`shared/bench/README.md`).\n",
        inputs.setting("date")
    );

    // ---- headline
    let _ = writeln!(o, "## Headline\n");
    let _ = writeln!(
        o,
        "Same machine, same run, same client (the shared Node driver, capnweb 0.12.0 as the \
         client), only the server changes. Medians over {} repetitions (min–max). ↑ higher is \
         better, ↓ lower is better; the ratio is tether ÷ capnweb.\n",
        inputs.setting("reps")
    );
    let _ = writeln!(
        o,
        "| measure | unit | capnweb (Node) | tether | tether ÷ capnweb |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|");
    let headline = [
        "concurrent: server CPU per call",
        "concurrent: client CPU per call",
        "concurrent (100 in flight) echo {a:1,b:\"x\"}: calls/s",
        "concurrent: p50 latency",
        "seq echo: calls/s",
        "seq echo: p50 latency",
        "stubs: server heap bytes / live stub",
        "stubs: server RSS bytes / live stub",
        "pipeline chain2: p50 latency",
        "pipeline chain10: p50 latency",
        "pipeline chain10_awaited: p50 latency",
        "payload echo 64 KiB string: MB/s",
        "payload echo 1 MiB Uint8Array: MB/s",
        "payload bytes(1 MiB) download: MB/s",
        "batch 100 echo in 1 HTTP POST: batches/s",
        "batch 100-deep add() chain in 1 POST: batches/s",
    ];
    for title in headline {
        let Some(x) = metric(title) else { continue };
        let (a, b) = (cap.stat(x.workload, x.get), tn.stat(x.workload, x.get));
        let _ = writeln!(
            o,
            "| {} | {}{} | {} | {} | {} |",
            x.title,
            x.unit,
            arrow(x.better),
            cell(a, x.decimals),
            cell(b, x.decimals),
            ratio(b, a)
        );
    }
    let raw_cap = s(cap, "raw ws seq: round trips/s");
    let raw_tn = s(tn, "raw ws seq: round trips/s");
    let _ = writeln!(
        o,
        "| seq calls/s as a fraction of raw WebSocket echo round trips/s (each with its own \
         language's echo server: `ws` for capnweb, `tether-raw-echo` for tether) | % ↑ | {} | {} | |",
        percent(s(cap, "seq echo: calls/s"), raw_cap),
        percent(s(tn, "seq echo: calls/s"), raw_tn),
    );
    for (name, path) in [
        ("chain2", "chain2_one_round_trip"),
        ("chain10", "chain10_one_round_trip"),
    ] {
        let show = |col: &Column| match col.flag("pipeline", path) {
            Some((yes, n)) if yes == n => format!("yes ({yes}/{n} runs)"),
            Some((yes, n)) => format!("**no** ({yes}/{n} runs)"),
            None => "–".to_owned(),
        };
        let _ = writeln!(
            o,
            "| pipelined {name} takes one round trip | | {} | {} | |",
            show(cap),
            show(tn)
        );
    }
    let _ = writeln!(o);
    headline_notes(o, inputs);
    typed_vs_dynamic_section(o, inputs);

    // ---- Rust driver
    let _ = writeln!(o, "## tether's own client: the Rust driver\n");
    let _ = writeln!(
        o,
        "`tether-bench-driver` runs the same workloads with tether as the client (Tokio \
         current-thread runtime, pinned to CPU 1) against the tether server and against \
         `tether-raw-echo`, a plain WebSocket echo server on the same WebSocket library \
         (tokio-tungstenite with its default buffers, TCP_NODELAY): the transport's limit. The \
         driver's sockets also keep tungstenite's default buffers, whatever tether's own \
         `connect()` configures. Medians \
         over {} repetitions.\n",
        inputs.setting("reps")
    );
    let _ = writeln!(o, "| measure | tether RPC | raw echo | tether ÷ raw |");
    let _ = writeln!(o, "|---|---|---|---|");
    let pairs = [
        (
            "sequential round trips/s ↑",
            "seq echo: calls/s",
            "raw ws seq: round trips/s",
            0,
        ),
        (
            "sequential p50 latency, µs ↓",
            "seq echo: p50 latency",
            "raw ws seq: p50 latency",
            0,
        ),
        (
            "100 in flight: round trips/s ↑",
            "concurrent (100 in flight) echo {a:1,b:\"x\"}: calls/s",
            "raw ws 100 in flight: round trips/s",
            0,
        ),
        (
            "100 in flight: p50 latency, µs ↓",
            "concurrent: p50 latency",
            "raw ws 100 in flight: p50 latency",
            0,
        ),
        (
            "100 in flight: server CPU per round trip, µs ↓",
            "concurrent: server CPU per call",
            "raw ws 100 in flight: server CPU per round trip",
            2,
        ),
    ];
    for (label, a, b, decimals) in pairs {
        let (x, y) = (s(tr, a), s(tr, b));
        let _ = writeln!(
            o,
            "| {label} | {} | {} | {} |",
            cell(x, decimals),
            cell(y, decimals),
            ratio(x, y)
        );
    }
    // Allocation counts (the server's `allocCount()`), in results that have them.
    for (label, workload, path, decimals) in [
        (
            "sequential: server allocations per call ↓",
            "seq",
            "server_allocs_per_call",
            1,
        ),
        (
            "sequential: driver allocations per call ↓",
            "seq",
            "client_allocs_per_call",
            1,
        ),
        (
            "100 in flight: server allocations per call ↓",
            "concurrent",
            "server_allocs_per_call",
            1,
        ),
        (
            "100 in flight: driver allocations per call ↓",
            "concurrent",
            "client_allocs_per_call",
            1,
        ),
        (
            "echo 1 MiB Uint8Array: server allocations ≥ 1 MiB per call ↓",
            "payload",
            "echo_u8_1m.server_large_allocs_per_call",
            2,
        ),
    ] {
        if let Some(x) = tr.stat(workload, Get::Path(path)) {
            let _ = writeln!(o, "| {label} | {} | – | |", cell(Some(x), decimals));
        }
    }
    let _ = writeln!(o);
    let small = &inputs.small_buffer;
    let small_node = &inputs.small_buffer_node;
    if !small.rows.is_empty() || !small_node.rows.is_empty() {
        let _ = writeln!(
            o,
            "The raw echo server once more, started with an 8 KiB WebSocket read buffer instead \
             of tungstenite's 128 KiB default (see \"Where the time goes\"), with each driver:\n"
        );
        let _ = writeln!(
            o,
            "| driver | measure | 128 KiB (default) | 8 KiB | 8 KiB ÷ 128 KiB |"
        );
        let _ = writeln!(o, "|---|---|---|---|---|");
        for (driver, default, eight) in [("Rust", tr, small), ("Node", tn, small_node)] {
            if eight.rows.is_empty() {
                continue;
            }
            for (label, title, decimals) in [
                ("sequential round trips/s ↑", "raw ws seq: round trips/s", 0),
                (
                    "100 in flight: round trips/s ↑",
                    "raw ws 100 in flight: round trips/s",
                    0,
                ),
                (
                    "100 in flight: server CPU per round trip, µs ↓",
                    "raw ws 100 in flight: server CPU per round trip",
                    2,
                ),
            ] {
                let (a, b) = (s(default, title), s(eight, title));
                let _ = writeln!(
                    o,
                    "| {driver} | {label} | {} | {} | {} |",
                    cell(a, decimals),
                    cell(b, decimals),
                    ratio(b, a)
                );
            }
        }
        let _ = writeln!(o);
    }

    soak::soak_section(o, inputs);
    soak::allocs_section(o, inputs);

    // ---- runtime choice
    if !inputs.multi.rows.is_empty() {
        let _ = writeln!(o, "## Runtime: current-thread vs multi-thread\n");
        let _ = writeln!(
            o,
            "The server gets one pinned CPU. Tokio's multi-thread runtime then has one worker \
             (it sizes itself to the CPUs the process may use). Measured in the same run with \
             the Node driver ({} repetition(s) of the multi-thread server, medians):\n",
            inputs.multi.reps()
        );
        let _ = writeln!(
            o,
            "| measure | unit | current-thread (used) | multi-thread, 1 worker | multi ÷ current |"
        );
        let _ = writeln!(o, "|---|---|---|---|---|");
        for title in [
            "seq echo: calls/s",
            "seq echo: p50 latency",
            "concurrent (100 in flight) echo {a:1,b:\"x\"}: calls/s",
            "concurrent: server CPU per call",
            "concurrent: p50 latency",
            "pipeline chain2: p50 latency",
            "pipeline chain10: p50 latency",
        ] {
            let Some(x) = metric(title) else { continue };
            let (a, b) = (
                tn.stat(x.workload, x.get),
                inputs.multi.stat(x.workload, x.get),
            );
            let _ = writeln!(
                o,
                "| {} | {}{} | {} | {} | {} |",
                x.title,
                x.unit,
                arrow(x.better),
                cell(a, x.decimals),
                cell(b, x.decimals),
                ratio(b, a)
            );
        }
        let _ = writeln!(o);
        let cur = s(tn, "concurrent: server CPU per call");
        let mul = s(&inputs.multi, "concurrent: server CPU per call");
        if let (Some(c), Some(mu)) = (cur, mul) {
            let change = mu.median / c.median - 1.0;
            let verdict = if change.abs() <= 0.1 {
                format!(
                    "Server CPU per call differs by {:+.0} % (multi vs current), within this \
                     machine's run-to-run noise: `tether-bench-server` keeps the current-thread \
                     runtime, which does the same work with no worker thread and no cross-thread \
                     wake-ups (`--runtime=multi` switches).",
                    change * 100.0
                )
            } else if change < 0.0 {
                format!(
                    "In this run the multi-thread runtime used {:.0} % less server CPU per call. \
                     `tether-bench-server` defaults to current-thread (`--runtime=multi` \
                     switches); if this holds over more repetitions, switch the default.",
                    -change * 100.0
                )
            } else {
                format!(
                    "The multi-thread runtime used {:.0} % more server CPU per call in this run \
                     (one repetition: compare with the current-thread range above before reading \
                     much into it), so `tether-bench-server` keeps the current-thread runtime \
                     (`--runtime=multi` switches).",
                    change * 100.0
                )
            };
            let _ = writeln!(o, "{verdict}\n");
        }
    }

    // ---- full table
    let _ = writeln!(o, "## All figures\n");
    let _ = writeln!(
        o,
        "Medians (min–max) over repetitions. Columns: the shared Node driver against capnweb \
         and against tether (same client, ratio = tether ÷ capnweb), and the Rust driver \
         against tether. Raw rows: the Node driver's raw runs used the `ws` echo server \
         (`raw-ws-server.mjs`) in the capnweb column and `tether-raw-echo` in the tether \
         columns.\n"
    );
    let _ = writeln!(o, "| metric | unit | capnweb (Node driver) | tether (Node driver) | tether ÷ capnweb | tether (Rust driver) |");
    let _ = writeln!(o, "|---|---|---|---|---|---|");
    for x in FULL {
        let (a, b, c) = (
            cap.stat(x.workload, x.get),
            tn.stat(x.workload, x.get),
            tr.stat(x.workload, x.get),
        );
        if a.is_none() && b.is_none() && c.is_none() {
            continue;
        }
        let r = if x.better == Neither {
            String::new()
        } else {
            ratio(b, a)
        };
        let _ = writeln!(
            o,
            "| {} | {}{} | {} | {} | {} | {} |",
            x.title,
            x.unit,
            arrow(x.better),
            cell(a, x.decimals),
            cell(b, x.decimals),
            r,
            cell(c, x.decimals)
        );
    }
    for (title, a, b) in [
        (
            "seq calls/s ÷ raw seq round trips/s",
            "seq echo: calls/s",
            "raw ws seq: round trips/s",
        ),
        (
            "concurrent calls/s ÷ raw 100-in-flight round trips/s",
            "concurrent (100 in flight) echo {a:1,b:\"x\"}: calls/s",
            "raw ws 100 in flight: round trips/s",
        ),
    ] {
        let _ = writeln!(
            o,
            "| {title} | % | {} | {} | | {} |",
            percent(s(cap, a), s(cap, b)),
            percent(s(tn, a), s(tn, b)),
            percent(s(tr, a), s(tr, b))
        );
    }
    let load = |c: &Column| match c.other_load() {
        Some(st) => format!("{:.0} / {:.0}", st.median, st.max),
        None => "–".to_owned(),
    };
    let _ = writeln!(
        o,
        "| unrelated CPU load in measured windows, median / max | % of a core | {} | {} | | {} |",
        load(cap),
        load(tn),
        load(tr)
    );
    let _ = writeln!(o);
    for (name, col) in [
        ("capnweb (Node driver)", cap),
        ("tether (Node driver)", tn),
        ("tether dynamic API (Node driver)", &inputs.dynamic),
        ("tether (Rust driver)", tr),
        ("tether multi-thread (Node driver)", &inputs.multi),
        ("raw echo 8 KiB buffer (Rust driver)", small),
        (
            "raw echo 8 KiB buffer (Node driver)",
            &inputs.small_buffer_node,
        ),
    ] {
        if col.rows.is_empty() {
            continue;
        }
        let failures = col.failures();
        let _ = writeln!(
            o,
            "* {name}: {} runs, {} repetition(s), {} retried for unrelated load, {} failed{}",
            col.rows.len(),
            col.reps(),
            col.retried(),
            failures.len(),
            if failures.is_empty() { "." } else { ":" }
        );
        for f in failures {
            let _ = writeln!(o, "  * {f}");
        }
    }
    let _ = writeln!(o);

    profile_section(o, inputs);
    findings_section(o, inputs);
    method_section(o, inputs);
    out
}

/// Sentences computed from the headline figures.
fn headline_notes(o: &mut String, inputs: &Inputs) {
    let (cap, tn) = (&inputs.capnweb, &inputs.tether);
    let Some(x) = metric("concurrent: server CPU per call") else {
        return;
    };
    if let (Some(a), Some(b)) = (cap.stat(x.workload, x.get), tn.stat(x.workload, x.get)) {
        let _ = writeln!(
            o,
            "* **Server CPU per call** with 100 calls in flight on one connection: tether {:.1} µs, \
             capnweb {:.1} µs (ratio {:.2}). This is the fairest throughput figure: in this \
             workload the Node client is the bottleneck (its CPU is in the full table), so calls/s \
             is capped by the client for both servers and a cheaper server shows up as idle CPU \
             rather than as more calls.",
            b.median,
            a.median,
            b.median / a.median
        );
    }
    let seq = metric("seq echo: p50 latency");
    if let Some(x) = seq {
        if let (Some(a), Some(b)) = (cap.stat(x.workload, x.get), tn.stat(x.workload, x.get)) {
            let _ = writeln!(
                o,
                "* **Sequential latency** (one call at a time, p50): tether {:.0} µs vs capnweb \
                 {:.0} µs. Much of each round trip is the Node client and the loopback TCP stack, \
                 shared by both.",
                b.median, a.median
            );
        }
    }
    let _ = writeln!(
        o,
        "* **Bytes per live stub** is the growth of the server's heap per exported Counter, \
         with 100 000 held: capnweb's is V8's `heapUsed` after a forced GC; tether's is the \
         exact count of live bytes in a counting global allocator (no GC)."
    );
    let rss: Vec<String> = tn
        .rows
        .iter()
        .filter(|r| r["workload"] == "stubs")
        .filter_map(|r| {
            Some((
                r["rep"].as_u64()?,
                r["result"]["server_rss_bytes_per_stub"].as_f64()?,
            ))
        })
        .map(|(rep, b)| format!("rep {rep}: {b:.0} B"))
        .collect();
    if !rss.is_empty() {
        let _ = writeln!(
            o,
            "* **RSS per stub** is noisy for tether: glibc's allocator keeps freed memory \
             resident, so once a first `stubs` run has grown the heap, later runs reuse those \
             pages and RSS hardly moves ({}). The heap figure is the one to compare.",
            rss.join(", ")
        );
    }
    let _ = writeln!(o);
}

/// The figures of the typed-vs-dynamic comparison, by title in [`FULL`]: per workload, its
/// throughput, latency and server CPU per call (memory for `stubs`).
const TYPED_VS_DYNAMIC: &[&str] = &[
    "seq echo: calls/s",
    "seq echo: p50 latency",
    "seq echo: server CPU per call",
    "concurrent (100 in flight) echo {a:1,b:\"x\"}: calls/s",
    "concurrent: p50 latency",
    "concurrent: server CPU per call",
    "pipeline chain2 makeCounter(0).increment(1): chains/s",
    "pipeline chain2: p50 latency",
    "pipeline chain2: server CPU per call",
    "pipeline chain10 (pipelined): chains/s",
    "pipeline chain10: p50 latency",
    "pipeline chain10: server CPU per call",
    "stubs: makeCounter creates/s (1000 in flight)",
    "stubs: disposes/s (release of 100k)",
    "stubs: server heap bytes / live stub",
    "stubs: listOfStubs(1000) stubs/s",
    "payload echo 64 KiB string: MB/s",
    "payload echo 64 KiB string: p50",
    "payload echo 64 KiB string: server CPU per call",
    "payload echo 1 MiB Uint8Array: MB/s",
    "payload echo 1 MiB Uint8Array: p50",
    "payload echo 1 MiB Uint8Array: server CPU per call",
    "payload bytes(1 MiB) download: MB/s",
    "payload bytes(1 MiB): p50",
    "payload bytes(1 MiB): server CPU per call",
    "batch 100 echo in 1 HTTP POST: batches/s",
    "batch echo100: p50 latency",
    "batch echo100: server CPU per call",
    "batch 100-deep add() chain in 1 POST: batches/s",
    "batch add_chain100: p50 latency",
    "batch add_chain100: server CPU per call",
];

/// `(max − min) ÷ median` of a figure over repetitions, when there are several.
fn spread(stat: Option<Stat>) -> Option<f64> {
    match stat {
        Some(s) if s.n >= 2 && s.median != 0.0 => Some((s.max - s.min) / s.median.abs()),
        _ => None,
    }
}

/// How the typed server's figure compares with the dynamic one's, over repetitions.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Verdict {
    /// Fewer than two repetitions on a side: no spread to compare with.
    Undecided,
    /// The two min–max ranges overlap: no measurable difference.
    WithinSpread,
    /// The ranges do not overlap and the typed server is better.
    TypedBetter,
    /// The ranges do not overlap and the typed server is worse: a measurable slowdown.
    TypedWorse,
}

impl Verdict {
    fn of(dynamic: Stat, typed: Stat, better: Better) -> Verdict {
        if dynamic.n < 2 || typed.n < 2 {
            Verdict::Undecided
        } else if typed.min <= dynamic.max && dynamic.min <= typed.max {
            Verdict::WithinSpread
        } else if (typed.median > dynamic.median) == (better == Higher) {
            Verdict::TypedBetter
        } else {
            Verdict::TypedWorse
        }
    }

    fn text(self) -> &'static str {
        match self {
            Verdict::Undecided => "– (1 repetition)",
            Verdict::WithinSpread => "within spread",
            Verdict::TypedBetter => "typed better",
            Verdict::TypedWorse => "**typed worse**",
        }
    }
}

/// The typed server (`tether-node.jsonl`) against the dynamic-API baseline
/// (`tether-dynamic-node.jsonl`), both measured in the same run.
fn typed_vs_dynamic_section(o: &mut String, inputs: &Inputs) {
    let (dynamic, typed) = (&inputs.dynamic, &inputs.tether);
    let _ = writeln!(o, "## Typed API vs dynamic API (same run)\n");
    if dynamic.rows.is_empty() {
        let _ = writeln!(
            o,
            "No results for the dynamic-API baseline in this run (`tether-dynamic-node.jsonl` \
             is missing: these results predate it). Run `bench/run.sh` again to compare the \
             typed server with it.\n"
        );
        return;
    }
    let _ = writeln!(
        o,
        "The tether server of the other sections serves the BenchApi declared with \
         `#[tether::interface]` (`bench/src/api/typed.rs`). A second `tether-bench-server \
         --api=dynamic` serves the same contract through a hand-written `tether::Target` with a \
         `match` on the method name (`bench/src/api/dynamic.rs`); both share everything but \
         the dispatch. The Node driver ran against both in each of {} repetition(s), back to \
         back in alternating order, so both saw the same machine state. Medians (min–max); the \
         ratio is typed ÷ dynamic; the spread of a column is (max − min) ÷ median over its \
         repetitions.\n",
        dynamic.reps().min(typed.reps())
    );
    let _ = writeln!(
        o,
        "| measure | unit | dynamic (baseline) | typed | typed ÷ dynamic | spread dynamic / typed | verdict |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|");
    let pct = |x: Option<f64>| x.map_or("–".to_owned(), |x| format!("{:.1} %", x * 100.0));
    let mut spreads: Vec<(f64, &str)> = Vec::new();
    let mut verdicts: Vec<(Verdict, &Metric, f64)> = Vec::new();
    for title in TYPED_VS_DYNAMIC {
        let Some(x) = metric(title) else { continue };
        let (a, b) = (
            dynamic.stat(x.workload, x.get),
            typed.stat(x.workload, x.get),
        );
        if a.is_none() && b.is_none() {
            continue;
        }
        let verdict = match (a, b) {
            (Some(a), Some(b)) => {
                let v = Verdict::of(a, b, x.better);
                if b.median != 0.0 && a.median != 0.0 {
                    verdicts.push((v, x, b.median / a.median));
                }
                v.text()
            }
            _ => "–",
        };
        spreads.extend(
            [spread(a), spread(b)]
                .into_iter()
                .flatten()
                .map(|sp| (sp, x.title)),
        );
        let _ = writeln!(
            o,
            "| {} | {}{} | {} | {} | {} | {} / {} | {verdict} |",
            x.title,
            x.unit,
            arrow(x.better),
            cell(a, x.decimals),
            cell(b, x.decimals),
            ratio(b, a),
            pct(spread(a)),
            pct(spread(b)),
        );
    }
    let smoke = |col: &Column| match col.flag("smoke", "ok") {
        Some((yes, n)) if yes == n => format!("passed ({yes}/{n} runs)"),
        Some((yes, n)) => format!("**failed** in {} of {n} runs", n - yes),
        None => "not run".to_owned(),
    };
    let _ = writeln!(
        o,
        "| smoke (the kit's contract check) | | {} | {} | | | |\n",
        smoke(dynamic),
        smoke(typed)
    );

    // What "no measurable slowdown" means, with this run's spread.
    spreads.sort_by(|x, y| x.0.total_cmp(&y.0));
    let Some(&(widest, widest_title)) = spreads.last() else {
        let _ = writeln!(
            o,
            "With one repetition per server there is no run-to-run spread to compare a \
             difference with, so this run cannot tell a slowdown from noise: run with `REPS` \
             of 2 or more (the default is 3).\n"
        );
        return;
    };
    let median_spread = spreads[spreads.len() / 2].0;
    let _ = writeln!(
        o,
        "**What \"no measurable slowdown\" means here.** The same server's figure varies from \
         one repetition to the next: by {:.1} % for the median figure above, and up to {:.1} % \
         ({widest_title}). A difference between the two servers smaller than its figures' \
         spread cannot be told from that noise. So a figure shows a measurable slowdown only \
         when the typed server's min–max range lies entirely on the worse side of the dynamic \
         server's (\"typed worse\"); overlapping ranges are \"within spread\".\n",
        median_spread * 100.0,
        widest * 100.0,
    );
    let count = |v: Verdict| verdicts.iter().filter(|(w, _, _)| *w == v).count();
    let listed = |v: Verdict| {
        verdicts
            .iter()
            .filter(|(w, _, _)| *w == v)
            .map(|(_, x, r)| format!("{} ({r:.2}×)", x.title))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let (within, better, worse, undecided) = (
        count(Verdict::WithinSpread),
        count(Verdict::TypedBetter),
        count(Verdict::TypedWorse),
        count(Verdict::Undecided),
    );
    let mut summary = format!(
        "Of {} figures, {within} are within the spread, {better} better with the typed server, \
         {worse} worse{}.",
        verdicts.len(),
        if undecided > 0 {
            format!(", {undecided} undecided (one repetition)")
        } else {
            String::new()
        }
    );
    if better > 0 {
        let _ = write!(summary, " Better: {}.", listed(Verdict::TypedBetter));
    }
    if worse > 0 {
        let _ = write!(summary, " Worse: {}.", listed(Verdict::TypedWorse));
    } else if within + better == verdicts.len() {
        summary.push_str(" No measurable slowdown in this run.");
    }
    let _ = writeln!(o, "{summary}\n");
}

/// One profile line: percentage and the rest.
fn percent_lines(text: &str) -> Vec<(f64, String)> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let t = l.trim_start();
            let (p, rest) = t.split_once('%')?;
            let p: f64 = p.trim().parse().ok()?;
            Some((p, rest.trim().to_owned()))
        })
        .collect()
}

/// The crate (or kernel / libc) a symbol belongs to.
fn owner(dso: &str, symbol: &str) -> String {
    if dso.contains("kernel") {
        return "kernel (syscalls, loopback TCP, scheduling)".to_owned();
    }
    if dso.starts_with("libc") {
        let what = if symbol.contains("memset") {
            "libc memset"
        } else if symbol.contains("memcpy") || symbol.contains("memmove") {
            "libc memcpy/memmove"
        } else if ["malloc", "free", "realloc", "calloc", "_int_", "cfree"]
            .iter()
            .any(|k| symbol.contains(k))
        {
            "libc malloc/free"
        } else {
            "libc (other)"
        };
        return what.to_owned();
    }
    if symbol.starts_with("0x") {
        return format!("{dso} (unresolved addresses)");
    }
    if dso.starts_with('[') {
        return dso.trim_matches(|c| c == '[' || c == ']').to_owned();
    }
    // `<tether::x::Y as Trait>::f` belongs to `tether`; `tokio::x::f` to `tokio`.
    let s = symbol
        .trim_start_matches('<')
        .trim_start_matches('&')
        .trim_start_matches("mut ");
    let krate = s.split("::").next().unwrap_or(s);
    match krate {
        "core" | "alloc" | "std" => "Rust std (core/alloc/std)".to_owned(),
        k if k.is_empty() || k.contains(' ') || k.starts_with("0x") => "other".to_owned(),
        k => k.to_owned(),
    }
}

fn profile_section(o: &mut String, inputs: &Inputs) {
    let _ = writeln!(o, "## Where the time goes\n");
    let Some(self_text) = inputs.profiles.get("perf-self.txt") else {
        if let Some(cg) = inputs.profiles.get("callgrind-self.txt") {
            let _ = writeln!(o, "`perf` was not usable here; callgrind's flat profile of the tether server under the concurrent workload:\n\n```text\n{}\n```\n", cg.trim_end());
        } else {
            let _ = writeln!(o, "No profile was recorded in this run.\n");
        }
        return;
    };
    let _ = writeln!(
        o,
        "The tether server (current-thread runtime, pinned to CPU 0) profiled while the Node \
         driver ran the `concurrent` workload (100 `echo({{a:1,b:\"x\"}})` calls in flight): \
         {}. The VM exposes no hardware counters (`perf stat -e instructions` reports \
         \"not supported\"), so samples come from the `cpu-clock` software timer; they cover \
         the server's user and kernel time (its system calls and the loopback TCP work done \
         in its context).\n",
        inputs.setting("profile")
    );
    // Flat profile: "pct ;dso ;[x] symbol".
    let mut rows: Vec<(f64, String, String)> = Vec::new();
    for (p, rest) in percent_lines(self_text) {
        let parts: Vec<&str> = rest.splitn(3, ';').map(str::trim).collect();
        if let [_, dso, sym] = parts.as_slice() {
            let sym = sym
                .trim_start_matches("[k]")
                .trim_start_matches("[.]")
                .trim()
                .to_owned();
            rows.push((p, dso.to_string(), sym));
        }
    }
    let mut by_owner: BTreeMap<String, f64> = BTreeMap::new();
    for (p, dso, sym) in &rows {
        *by_owner.entry(owner(dso, sym)).or_default() += p;
    }
    let mut owners: Vec<(String, f64)> = by_owner.into_iter().collect();
    owners.sort_by(|a, b| b.1.total_cmp(&a.1));
    let share = |name: &str| {
        owners
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map_or(0.0, |(_, p)| *p)
    };
    let kernel: f64 = owners
        .iter()
        .filter(|(n, _)| n.starts_with("kernel"))
        .map(|(_, p)| p)
        .sum();
    let libc: f64 = owners
        .iter()
        .filter(|(n, _)| n.starts_with("libc"))
        .map(|(_, p)| p)
        .sum();
    let _ = writeln!(
        o,
        "In short: {kernel:.0} % of the server's samples are in the kernel (send and receive \
         system calls, loopback TCP, scheduling), {:.0} % in libc's `memset`, {:.0} % in the \
         rest of libc (mostly malloc/free), and the remaining {:.0} % elsewhere, nearly all user-space Rust \
         (tether {:.0} %, Tokio {:.0} %, serde_json {:.0} %, tungstenite {:.0} %, …), by self \
         time.\n",
        share("libc memset"),
        libc - share("libc memset"),
        (100.0 - kernel - libc).max(0.0),
        share("tether"),
        share("tokio"),
        share("serde_json"),
        share("tungstenite") + share("tokio_tungstenite"),
    );
    let _ = writeln!(
        o,
        "Self time by owner (sum of the samples' innermost function):\n"
    );
    let _ = writeln!(o, "| owner | share of server CPU samples |");
    let _ = writeln!(o, "|---|---|");
    for (name, p) in owners.iter().filter(|(_, p)| *p >= 0.5) {
        let _ = writeln!(o, "| {name} | {p:.1} % |");
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "Top functions by self time:\n");
    let _ = writeln!(o, "| self | where | function |");
    let _ = writeln!(o, "|---|---|---|");
    for (p, dso, sym) in rows.iter().take(20) {
        let sym: String = sym.chars().take(120).collect();
        let _ = writeln!(o, "| {p:.1} % | {dso} | `{}` |", sym.replace('|', "\\|"));
    }
    let _ = writeln!(o);

    if let Some(children) = inputs.profiles.get("perf-children.txt") {
        // "children% self% [x] symbol": inclusive share of chosen stages.
        let incl: Vec<(f64, String)> = percent_lines(children)
            .into_iter()
            .filter_map(|(p, rest)| {
                let (_, sym) = rest.split_once(']')?;
                Some((p, sym.trim().to_owned()))
            })
            .collect();
        let find = |needle: &str| {
            incl.iter()
                .filter(|(_, s)| s.contains(needle))
                .map(|(p, _)| *p)
                .fold(None, |m: Option<f64>, p| Some(m.map_or(p, |m| m.max(p))))
        };
        let stages = [
            ("writing frames: `WebSocketTransport::poll_flush` → `write(2)` (one flush per outgoing message)", "WebSocketTransport<S> as futures_sink::Sink<alloc::string::String>>::poll_flush"),
            ("…of which the `write` system call", "AllowStd<S> as std::io::Write>::write"),
            ("reading frames: `WebSocketTransport::poll_next` (tungstenite read, incl. `read(2)`)", "WebSocketTransport<S> as futures_core::stream::Stream>::poll_next"),
            ("…of which zero-filling tungstenite's read buffer (`BytesMut::resize` in `FrameCodec::read_in`)", "bytes::bytes_mut::BytesMut::resize"),
            ("handling a message: `Core::handle_frame` (parse, evaluate, dispatch)", "Core>::handle_frame"),
            ("…parsing JSON: `wire::parse_message` (serde_json `Value`)", "tether::wire::parse::parse_message"),
            ("…evaluating expressions: `wire::evaluate`", "tether::wire::evaluate::Evaluator::eval"),
            ("…starting the call: `hook::start` (BenchApi::echo itself is trivial)", "tether::hook::start"),
            ("encoding results: `wire::encode`", "tether::wire::encode"),
            ("session commands (`handle_command`: resolve, release)", "handle_command"),
            ("waiting for events: `epoll_wait`", "epoll_wait"),
        ];
        let _ = writeln!(o, "Inclusive time of the main stages (sampled call stacks, DWARF unwinding; stages nest, so shares do not add up):\n");
        let _ = writeln!(o, "| stage | inclusive share |");
        let _ = writeln!(o, "|---|---|");
        for (label, needle) in stages {
            if let Some(p) = find(needle) {
                let _ = writeln!(o, "| {label} | {p:.1} % |");
            }
        }
        let _ = writeln!(o);
    }
    if let Some(cg) = inputs.profiles.get("callgrind-self.txt") {
        let rows = callgrind_rows(cg);
        if !rows.is_empty() {
            let _ = writeln!(
                o,
                "Callgrind (user-space instructions only, no kernel; a separate, shorter run of \
                 the same workload under valgrind), top functions by instructions executed:\n"
            );
            let _ = writeln!(o, "| instructions | function | object |");
            let _ = writeln!(o, "|---|---|---|");
            for (pct, function, object) in rows.iter().take(15) {
                let function: String = function.chars().take(110).collect();
                let _ = writeln!(
                    o,
                    "| {pct:.1} % | `{}` | {object} |",
                    function.replace('|', "\\|")
                );
            }
            let _ = writeln!(o);
        }
    }
}

/// `(share, function, object file name)` from `callgrind_annotate` lines such as
/// `1,234 ( 9.01%)  ./malloc/malloc.c:_int_free [/usr/lib/x86_64-linux-gnu/libc.so.6]`.
fn callgrind_rows(text: &str) -> Vec<(f64, String, String)> {
    text.lines()
        .filter_map(|line| {
            let (_, rest) = line.split_once('(')?;
            let (pct, rest) = rest.split_once("%)")?;
            let pct: f64 = pct.trim().parse().ok()?;
            let rest = rest.trim();
            if rest.starts_with("PROGRAM TOTALS") || rest.is_empty() {
                return None;
            }
            let (location, object) = match rest.rsplit_once(" [") {
                Some((l, o)) => (l, o.trim_end_matches(']')),
                None => (rest, ""),
            };
            let function = location.split_once(':').map_or(location, |(_, f)| f);
            let object = object.rsplit('/').next().unwrap_or(object);
            Some((pct, function.to_owned(), object.to_owned()))
        })
        .collect()
}

/// The largest inclusive share in `perf-children.txt` of a symbol containing `needle`.
fn inclusive_share(inputs: &Inputs, needle: &str) -> Option<f64> {
    let children = inputs.profiles.get("perf-children.txt")?;
    percent_lines(children)
        .into_iter()
        .filter(|(_, rest)| rest.contains(needle))
        .map(|(p, _)| p)
        .fold(None, |m: Option<f64>, p| Some(m.map_or(p, |m| m.max(p))))
}

/// What the figures say about tether itself: costs a change in tether could remove.
fn findings_section(o: &mut String, inputs: &Inputs) {
    let _ = writeln!(
        o,
        "## What this points at in tether
"
    );
    let zeroing = inclusive_share(inputs, "bytes::bytes_mut::BytesMut::resize");
    let writing = inclusive_share(
        inputs,
        "WebSocketTransport<S> as futures_sink::Sink<alloc::string::String>>::poll_flush",
    );
    if let Some(z) = zeroing {
        let _ = writeln!(
            o,
            "* **Read-buffer zeroing: {z:.1} % of the server's CPU** in the profile. tungstenite \
             zero-fills the free part of its read buffer (up to `read_buffer_size`) before every \
             `read` (`FrameCodec::read_in` → `BytesMut::resize`), including reads that then find \
             nothing. tether sets that size in `transport::websocket::socket_config`; this share \
             is what remains at its current setting (smaller than tungstenite's 128 KiB default \
             for this very reason). The raw echo comparison above (128 KiB vs 8 KiB, same server \
             code) shows what the buffer size changes for plain frames with each client."
        );
    }
    if let Some(w) = writing {
        let _ = writeln!(
            o,
            "* **One `write(2)` per outgoing message: {w:.1} % of the server's CPU** is spent under \
             `WebSocketTransport::poll_flush`, i.e. in the `sendto` system call and the loopback \
             TCP transmit path. The session task flushes after every turn of its loop, so each \
             `resolve` becomes its own TCP segment even when many are ready at once (100 calls \
             in flight). Feeding every ready message before one flush would keep frames \
             separate (no change on the wire format, no delay: flush as soon as nothing more \
             is ready) and cut system calls and segments, on the server and on the client, \
             which then reads fewer, fuller segments."
        );
    }
    // Sizes as the measured server binary reports them (serverInfo(), recorded by `smoke`).
    let size = |name: &str| {
        inputs
            .tether
            .results("smoke")
            .find_map(|r| r["server_info"]["sizes"][name].as_u64())
    };
    let (Some(stub), Some(error)) = (size("Stub"), size("RpcError")) else {
        let _ = writeln!(o);
        return;
    };
    let retained = inputs
        .tether
        .stat("stubs", Get::Derived(retained_mb))
        .map(|s| s.median);
    let per_stub = inputs
        .tether
        .stat("stubs", Get::Path("server_heap_bytes_per_stub"))
        .map(|s| s.median);
    let inline = if stub >= error {
        " The stub is as large as the error because a hook holds `Hook::Error(RpcError)` \
         inline: every hook (each stub, and each entry of a session's export table) pays for an \
         error it almost never holds; boxing the error would shrink a hook to 16 bytes."
    } else {
        ""
    };
    let _ = writeln!(
        o,
        "* **Per-stub memory.** `size_of::<tether::Stub>()` is {stub} bytes, \
         `size_of::<RpcError>()` {error} (as the measured server reports them in \
         `serverInfo().sizes`).{inline}{}{}",
        per_stub.map_or(String::new(), |b| format!(
            " Measured: {b:.0} bytes of server heap per live exported Counter."
        )),
        retained.map_or(String::new(), |mb| format!(
            " After all 100 000 Counters are released, {mb:.1} MB stay allocated until the \
             session ends: the export table's hash maps keep their grown capacity (they never \
             shrink); nothing leaks (`liveCounters()` is back to 0, and the next session starts \
             from the same heap as before)."
        )),
    );
    let _ = writeln!(o);
}

fn method_section(o: &mut String, inputs: &Inputs) {
    let _ = writeln!(o, "## Machine and method\n");
    let _ = writeln!(o, "| | |");
    let _ = writeln!(o, "|---|---|");
    for (k, v) in &inputs.machine {
        let _ = writeln!(o, "| {k} | {v} |");
    }
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "Servers (capnweb's `server.mjs`, the two `tether-bench-server`s, typed and \
         `--api=dynamic`, and the two raw echo servers) \
         run pinned to CPU 0, every driver to CPU 1 (`taskset`), as the shared kit does. \
         Repetitions are interleaved (capnweb, the typed and the dynamic tether server in \
         alternating order, Rust driver; then again), every server stays up for the whole run, \
         and each workload opens a fresh session. Before each run \
         the scripts wait (briefly) for a quiet machine and repeat a run in which unrelated \
         processes used more than a quarter of a core, keeping the least disturbed attempt; \
         `other_cpu_pct` in every result records what remained.\n"
    );
    let _ = writeln!(
        o,
        "Commands, as run:\n\n```sh\n{}\n```\n",
        inputs.commands.trim_end()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_ranges() {
        let st = Stat::of(&[3.0, 1.0, 2.0, 10.0]).expect("values");
        assert_eq!((st.median, st.min, st.max, st.n), (2.5, 1.0, 10.0, 4));
        assert_eq!(cell(Some(st), 1), "2.5 (1.0–10.0)");
        assert_eq!(Stat::of(&[]), None);
        assert_eq!(ratio(Stat::of(&[1.0]), Stat::of(&[4.0])), "0.25×");
    }

    #[test]
    fn owners_group_symbols_by_crate() {
        assert_eq!(
            owner("tether-bench-server", "tether::hook::start"),
            "tether"
        );
        assert_eq!(
            owner(
                "x",
                "<tokio_tungstenite::WebSocketStream<T> as Stream>::poll_next"
            ),
            "tokio_tungstenite"
        );
        assert_eq!(
            owner("libc.so.6", "__memset_avx2_unaligned_erms"),
            "libc memset"
        );
        assert!(owner("[kernel.kallsyms]", "tcp_ack").starts_with("kernel"));
    }

    /// A `concurrent` result line of repetition `rep`.
    fn concurrent(rep: u64, calls_per_s: f64, server_cpu_pct: f64) -> Json {
        serde_json::json!({"workload": "concurrent", "rep": rep, "attempt": 1, "result": {
            "calls_per_s": calls_per_s, "server_cpu_pct": server_cpu_pct, "p50_us": 4000,
            "other_cpu_pct": 0}})
    }

    fn inputs(tether: Vec<Json>, dynamic: Vec<Json>) -> Inputs {
        Inputs {
            capnweb: Column::default(),
            tether: Column { rows: tether },
            dynamic: Column { rows: dynamic },
            rust: Column::default(),
            multi: Column::default(),
            small_buffer: Column::default(),
            small_buffer_node: Column::default(),
            machine: vec![("reps".into(), "2".into())],
            commands: String::new(),
            profiles: BTreeMap::new(),
            soak: Column::default(),
            soak_machine: Vec::new(),
            soak_commands: String::new(),
        }
    }

    #[test]
    fn typed_and_dynamic_compare_within_the_spread() {
        let typed = vec![concurrent(1, 20000.0, 50.0), concurrent(2, 21000.0, 50.0)];
        let dynamic = vec![concurrent(1, 20500.0, 50.0), concurrent(2, 22000.0, 50.0)];
        let mut text = String::new();
        typed_vs_dynamic_section(&mut text, &inputs(typed, dynamic));
        assert!(
            text.contains(
                "| concurrent (100 in flight) echo {a:1,b:\"x\"}: calls/s |  ↑ | 21250 \
                 (20500–22000) | 20500 (20000–21000) | 0.96× | 7.1 % / 4.9 % | within spread |"
            ),
            "{text}"
        );
        assert!(
            text.contains("No measurable slowdown in this run."),
            "{text}"
        );
    }

    #[test]
    fn a_slower_typed_server_is_reported() {
        let typed = vec![concurrent(1, 10000.0, 50.0), concurrent(2, 10100.0, 50.0)];
        let dynamic = vec![concurrent(1, 20000.0, 50.0), concurrent(2, 20100.0, 50.0)];
        let mut text = String::new();
        typed_vs_dynamic_section(&mut text, &inputs(typed, dynamic));
        assert!(text.contains("| **typed worse** |"), "{text}");
        assert!(text.contains("Worse: concurrent (100 in flight)"), "{text}");
        assert!(!text.contains("No measurable slowdown"), "{text}");
    }

    #[test]
    fn old_results_without_the_dynamic_baseline_say_so() {
        let text = render(&inputs(vec![concurrent(1, 20000.0, 50.0)], Vec::new()));
        assert!(text.contains("## Typed API vs dynamic API (same run)"));
        assert!(
            text.contains("`tether-dynamic-node.jsonl` is missing"),
            "{text}"
        );
    }

    #[test]
    fn renders_from_result_lines() {
        let line = |w: &str, result: Json| serde_json::json!({"workload": w, "rep": 1, "attempt": 1, "result": result});
        let capnweb = Column {
            rows: vec![line(
                "concurrent",
                serde_json::json!({"calls_per_s": 25000, "server_cpu_pct": 98, "other_cpu_pct": 0}),
            )],
        };
        let tether = Column {
            rows: vec![line(
                "concurrent",
                serde_json::json!({"calls_per_s": 25000, "server_cpu_pct": 49, "other_cpu_pct": 3}),
            )],
        };
        let inputs = Inputs {
            capnweb,
            tether,
            dynamic: Column::default(),
            rust: Column::default(),
            multi: Column::default(),
            small_buffer: Column::default(),
            small_buffer_node: Column::default(),
            machine: vec![("reps".into(), "1".into())],
            commands: "run".into(),
            profiles: BTreeMap::new(),
            soak: Column::default(),
            soak_machine: Vec::new(),
            soak_commands: String::new(),
        };
        let text = render(&inputs);
        assert!(
            text.contains("| concurrent: server CPU per call | µs ↓ | 39.20 | 19.60 | 0.50× |"),
            "{text}"
        );
        assert!(text.contains("| unrelated CPU load in measured windows, median / max | % of a core | 0 / 0 | 3 / 3 |"));
    }
}
