//! The Rust driver: the workloads of the shared Node driver (`shared/bench/client.mjs`) written
//! against tether's client, printing one JSON line per workload with the same keys where they
//! apply, so its figures sit next to the Node driver's.
//!
//! ```text
//! tether-bench-driver URL WORKLOAD [--duration=5] [--warmup=1] [--concurrency=100]
//!                     [--count=100000] [--server-pid=PID] [--label=TEXT] [--rep=N] [--attempt=N]
//!                     [--calls=N] [--cycles=N] [--parallel=N] [--samples=N]
//! ```
//!
//! Workloads: `seq`, `concurrent`, `pipeline`, `stubs`, `payload`, `batch` (a BenchApi server)
//! and `raw-seq`, `raw-concurrent` (a plain WebSocket echo server), as in the shared kit; and
//! three of this driver's own, bounded by counts rather than by time:
//!
//! * `soak` (`--calls`, default 1,000,000; `--samples`, default 10; `--concurrency` loops): one
//!   WebSocket session, stubs created, called, passed back as arguments and disposed, the
//!   server's memory and live Counters read after every tenth of the calls ([`soak`]);
//! * `churn` (`--cycles`, default 50,000; `--parallel`, default 4): fresh sessions connected,
//!   called and closed, over WebSocket and then over HTTP batch ([`soak`]);
//! * `allocs` (`--calls`, default 20,000): echo calls counted by the server's and this driver's
//!   counting allocators, allocations per call and 1 MiB allocations per 1 MiB payload
//!   ([`allocs`]).
//!
//! `URL`'s scheme is swapped as needed: `ws://` for WebSocket workloads, `http://` for `batch`.
//!
//! Against a tether server, `seq`, `concurrent` and `payload` also report the server's
//! allocations per call (`server_allocs_per_call`, from its extra `allocCount()` and
//! `largeAllocCount()` methods; `null` against a server without them) and the driver's own
//! (`client_allocs_per_call`).
//!
//! Differences from the Node driver, by necessity: the client is tether on a current-thread
//! Tokio runtime (so `client_*` figures are tether's client, not capnweb's);
//! `client_heap_bytes_per_stub` comes from the driver's own counting allocator (exact live
//! bytes, no GC); and `batch` cannot see tether's HTTP client's requests, so
//! `http_requests_per_batch` is the number of sessions the server opened per batch, read from
//! the tether server's extra `sessionsOpened()` method (`null` against a server without it).

pub mod allocs;
pub mod measure;
pub mod soak;
pub mod socket;
mod workloads;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value as Json};

/// Parsed command line.
#[derive(Clone, Debug)]
pub struct Options {
    /// The server's base URL (`ws://…` or `http://…`).
    pub url: String,
    /// Which workload to run.
    pub workload: String,
    /// Measured seconds per (sub-)workload.
    pub duration: f64,
    /// Warm-up seconds before each measurement.
    pub warmup: f64,
    /// Calls in flight for `concurrent` and `raw-concurrent`.
    pub concurrency: usize,
    /// Counters created by `stubs`.
    pub count: u64,
    /// The server's process id (server CPU %, `/proc` RSS, unrelated load).
    pub server_pid: Option<u32>,
    /// Copied into the output line.
    pub label: Option<String>,
    /// Repetition number, copied into the output line.
    pub rep: Option<u64>,
    /// Attempt number, copied into the output line.
    pub attempt: Option<u64>,
    /// Calls made by `soak` (default 1,000,000) or per small-echo case of `allocs` (default
    /// 20,000).
    pub calls: Option<u64>,
    /// Connect / call / close cycles of `churn`, per transport (default 50,000).
    pub cycles: Option<u64>,
    /// Cycles in progress at once in `churn` (default 4).
    pub parallel: Option<usize>,
    /// Memory readings `soak` takes over its run (default 10).
    pub samples: Option<u64>,
}

impl Options {
    /// Parses `URL WORKLOAD [--key=value ...]`.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut positional = Vec::new();
        let mut options = Options {
            url: String::new(),
            workload: String::new(),
            duration: 5.0,
            warmup: 1.0,
            concurrency: 100,
            count: 100_000,
            server_pid: None,
            label: None,
            rep: None,
            attempt: None,
            calls: None,
            cycles: None,
            parallel: None,
            samples: None,
        };
        for arg in args {
            let Some(flag) = arg.strip_prefix("--") else {
                positional.push(arg);
                continue;
            };
            let (key, value) = flag.split_once('=').unwrap_or((flag, "true"));
            let bad = || format!("bad value for --{key}: {value}");
            match key {
                "duration" => options.duration = value.parse().map_err(|_| bad())?,
                "warmup" => options.warmup = value.parse().map_err(|_| bad())?,
                "concurrency" => options.concurrency = value.parse().map_err(|_| bad())?,
                "count" => options.count = value.parse().map_err(|_| bad())?,
                "server-pid" => options.server_pid = Some(value.parse().map_err(|_| bad())?),
                "label" => options.label = Some(value.to_owned()),
                "rep" => options.rep = Some(value.parse().map_err(|_| bad())?),
                "attempt" => options.attempt = Some(value.parse().map_err(|_| bad())?),
                "calls" => options.calls = Some(value.parse().map_err(|_| bad())?),
                "cycles" => options.cycles = Some(value.parse().map_err(|_| bad())?),
                "parallel" => options.parallel = Some(value.parse().map_err(|_| bad())?),
                "samples" => options.samples = Some(value.parse().map_err(|_| bad())?),
                _ => return Err(format!("unknown option --{key}")),
            }
        }
        let mut positional = positional.into_iter();
        match (positional.next(), positional.next(), positional.next()) {
            (Some(url), Some(workload), None) => {
                options.url = url;
                options.workload = workload;
                Ok(options)
            }
            _ => Err("expected URL WORKLOAD".to_owned()),
        }
    }

    /// The base URL with scheme `ws` or `http`.
    pub fn url_with_scheme(&self, scheme: &str) -> String {
        let rest = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, rest)| rest);
        let rest = if rest.contains('/') {
            rest.to_owned()
        } else {
            format!("{rest}/")
        };
        format!("{scheme}://{rest}")
    }
}

/// The workloads this driver knows.
pub const WORKLOADS: [&str; 11] = [
    "seq",
    "concurrent",
    "pipeline",
    "stubs",
    "payload",
    "batch",
    "raw-seq",
    "raw-concurrent",
    "soak",
    "churn",
    "allocs",
];

/// Runs the workload and returns the whole output line: the header plus `result` or `error`.
pub async fn run(options: &Options) -> Json {
    let mut line = header(options);
    let outcome = if WORKLOADS.contains(&options.workload.as_str()) {
        workloads::run(options).await
    } else {
        Err(format!("unknown workload {}", options.workload))
    };
    match outcome {
        Ok(result) => line.insert("result".into(), result),
        Err(error) => line.insert("error".into(), Json::String(error)),
    };
    let mut line = Json::Object(line);
    integers_as_integers(&mut line);
    line
}

/// Writes whole floating-point numbers as integers (`3`, not `3.0`), as JavaScript prints them.
fn integers_as_integers(value: &mut Json) {
    match value {
        Json::Number(n) => {
            if let Some(x) = n.as_f64().filter(|x| x.fract() == 0.0 && x.abs() < 9.0e15) {
                if n.is_f64() {
                    *value = json!(x as i64);
                }
            }
        }
        Json::Array(items) => items.iter_mut().for_each(integers_as_integers),
        Json::Object(map) => map.values_mut().for_each(integers_as_integers),
        _ => {}
    }
}

/// Seconds after which a run is abandoned (as `client.mjs`'s watchdog). The count-bound
/// workloads get time for their counts at a rate far below any measured one (1,000 calls/s for
/// `soak` and `allocs`, 50 cycles/s for `churn`).
pub fn watchdog(options: &Options) -> Duration {
    let timed = options.duration * 4.0 + options.warmup * 4.0 + 120.0;
    let counted = match options.workload.as_str() {
        "soak" => soak::soak_calls(options) as f64 / 1000.0,
        "allocs" => allocs::calls(options) as f64 * 4.0 / 1000.0,
        "churn" => 2.0 * soak::churn_cycles(options) as f64 / 50.0,
        _ => 0.0,
    };
    Duration::from_secs_f64(timed + counted)
}

/// The fields every output line starts with.
pub fn header(options: &Options) -> Map<String, Json> {
    let url = if options.workload == "batch" {
        options.url_with_scheme("http")
    } else {
        options.url_with_scheme("ws")
    };
    let pid = options.server_pid.map(|p| p.to_string());
    let mut h = Map::new();
    h.insert("workload".into(), json!(options.workload));
    h.insert("url".into(), json!(url));
    h.insert("label".into(), json!(options.label));
    h.insert("rep".into(), json!(options.rep));
    h.insert("attempt".into(), json!(options.attempt));
    h.insert("time".into(), json!(iso_time(SystemTime::now())));
    h.insert(
        "client".into(),
        json!({
            "impl": "tether-bench-driver",
            "runtime": "rust/tokio current_thread",
            "cpus": crate::procfs::cpus_allowed("self"),
        }),
    );
    h.insert(
        "server_cpus".into(),
        json!(pid.and_then(|p| crate::procfs::cpus_allowed(&p))),
    );
    h.insert(
        "params".into(),
        json!({
            "duration_s": options.duration,
            "warmup_s": options.warmup,
            "concurrency": options.concurrency,
            "count": options.count,
        }),
    );
    if let Some(Json::Object(params)) = h.get_mut("params") {
        for (key, value) in [
            ("calls", options.calls.map(|x| x as usize)),
            ("cycles", options.cycles.map(|x| x as usize)),
            ("parallel", options.parallel),
            ("samples", options.samples.map(|x| x as usize)),
        ] {
            if let Some(value) = value {
                params.insert(key.into(), json!(value));
            }
        }
    }
    h
}

/// `2026-11-22T03:26:06.701Z`.
pub fn iso_time(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_like_the_node_driver() {
        let args = [
            "ws://127.0.0.1:9/",
            "seq",
            "--duration=2",
            "--server-pid=42",
        ];
        let o = Options::parse(args.map(String::from)).expect("parses");
        assert_eq!(o.workload, "seq");
        assert_eq!(o.duration, 2.0);
        assert_eq!(o.server_pid, Some(42));
        assert_eq!(o.url_with_scheme("http"), "http://127.0.0.1:9/");
        let bare = Options::parse(["127.0.0.1:9", "batch"].map(String::from)).expect("parses");
        assert_eq!(bare.url_with_scheme("ws"), "ws://127.0.0.1:9/");
        assert!(Options::parse(["x"].map(String::from)).is_err());
        assert!(Options::parse(["x", "seq", "--nope=1"].map(String::from)).is_err());
    }

    #[test]
    fn iso_time_formats_utc() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_318_366_701);
        assert_eq!(iso_time(t), "2026-11-22T03:32:46.701Z");
        assert_eq!(iso_time(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }
}
