//! Measuring: timed call loops with per-call latencies, percentiles, and CPU use over a window
//! (this process, the server, everything else), as the shared Node driver computes them.

use std::cell::RefCell;
use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value as Json};

use crate::procfs;

/// The outcome of [`run_for`].
#[derive(Debug, Default)]
pub struct Run {
    /// Calls completed.
    pub count: u64,
    /// Wall-clock seconds from start until the last call finished.
    pub elapsed: f64,
    /// Latency of every call, in milliseconds.
    pub latencies_ms: Vec<f64>,
    /// Calls that failed or returned a wrong result.
    pub errors: u64,
    /// The first failure's message.
    pub first_error: Option<String>,
}

impl Run {
    /// Completed calls per second.
    pub fn rate(&self) -> f64 {
        if self.elapsed > 0.0 {
            self.count as f64 / self.elapsed
        } else {
            0.0
        }
    }
}

/// Runs `call` in `concurrency` loops until `seconds` have passed (no new call starts after
/// that), recording each call's latency. Loop `w` passes `w`, `w + concurrency`, ... to `call`.
/// All loops run on the current task, so `call` need not be `Send`.
pub async fn run_for<F, Fut>(seconds: f64, concurrency: usize, call: F) -> Run
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let run = RefCell::new(Run::default());
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(seconds.max(0.0));
    let step = concurrency.max(1) as u64;
    let loops = (0..step).map(|w| {
        let (call, run) = (&call, &run);
        async move {
            let mut i = w;
            while Instant::now() < end {
                let began = Instant::now();
                let outcome = call(i).await;
                let took = began.elapsed().as_secs_f64() * 1000.0;
                let mut run = run.borrow_mut();
                run.latencies_ms.push(took);
                run.count += 1;
                if let Err(message) = outcome {
                    run.errors += 1;
                    run.first_error.get_or_insert(message);
                }
                i += step;
            }
        }
    });
    futures_util::future::join_all(loops).await;
    let mut run = run.into_inner();
    run.elapsed = start.elapsed().as_secs_f64();
    run
}

/// Runs `call` `n` times in all, from `concurrency` loops (each starts its next call when its
/// previous one finished, until `n` calls have started), recording each call's latency. Call
/// `i` gets `i` (0 to `n - 1`). All loops run on the current task.
pub async fn run_count<F, Fut>(n: u64, concurrency: usize, call: F) -> Run
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let run = RefCell::new(Run::default());
    let next = std::cell::Cell::new(0u64);
    let start = Instant::now();
    let loops = (0..concurrency.max(1)).map(|_| {
        let (call, run, next) = (&call, &run, &next);
        async move {
            loop {
                let i = next.get();
                if i >= n {
                    break;
                }
                next.set(i + 1);
                let began = Instant::now();
                let outcome = call(i).await;
                let took = began.elapsed().as_secs_f64() * 1000.0;
                let mut run = run.borrow_mut();
                run.latencies_ms.push(took);
                run.count += 1;
                if let Err(message) = outcome {
                    run.errors += 1;
                    run.first_error.get_or_insert(message);
                }
            }
        }
    });
    futures_util::future::join_all(loops).await;
    let mut run = run.into_inner();
    run.elapsed = start.elapsed().as_secs_f64();
    run
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Rounds to `decimals` places.
pub fn round(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

/// `p50_us`, `p99_us`, `mean_us`, `max_us` of latencies in milliseconds.
pub fn latency_summary(latencies_ms: &[f64]) -> Map<String, Json> {
    let mut sorted = latencies_ms.to_vec();
    sorted.sort_by(f64::total_cmp);
    let us = |x: Option<f64>| x.map(|ms| round(ms * 1000.0, 1));
    let mean = if sorted.is_empty() {
        None
    } else {
        Some(sorted.iter().sum::<f64>() / sorted.len() as f64)
    };
    let mut out = Map::new();
    out.insert("p50_us".into(), json!(us(percentile(&sorted, 0.5))));
    out.insert("p99_us".into(), json!(us(percentile(&sorted, 0.99))));
    out.insert("mean_us".into(), json!(us(mean)));
    out.insert("max_us".into(), json!(us(sorted.last().copied())));
    out
}

/// CPU use over a measured window. See [`CpuWindow::finish`].
#[derive(Debug)]
pub struct CpuWindow {
    started: Instant,
    client: Option<f64>,
    server: Option<f64>,
    machine: Option<procfs::MachineTimes>,
    server_pid: Option<u32>,
}

impl CpuWindow {
    /// Starts a window; `server_pid` adds the server's CPU and the unrelated-load estimate.
    pub fn start(server_pid: Option<u32>) -> Self {
        Self {
            started: Instant::now(),
            client: procfs::process_cpu_seconds("self"),
            server: server_pid.and_then(|pid| procfs::process_cpu_seconds(&pid.to_string())),
            machine: procfs::machine_times(),
            server_pid,
        }
    }

    /// `client_cpu_pct`, `server_cpu_pct`, `irq_cpu_pct`, `steal_cpu_pct`, `other_cpu_pct`
    /// (100 = one core), as `client.mjs` reports them. `other_cpu_pct` is the CPU used by
    /// unrelated processes (machine total less client and server), `null` without a server pid.
    pub fn finish(&self) -> Map<String, Json> {
        let wall = self.started.elapsed().as_secs_f64();
        let pct = |seconds: f64| seconds / wall * 100.0;
        let client_now = procfs::process_cpu_seconds("self");
        let server_now = self
            .server_pid
            .and_then(|pid| procfs::process_cpu_seconds(&pid.to_string()));
        let machine_now = procfs::machine_times();
        let client = match (self.client, client_now) {
            (Some(a), Some(b)) => Some(pct(b - a)),
            _ => None,
        };
        let server = match (self.server, server_now) {
            (Some(a), Some(b)) => Some(pct(b - a)),
            _ => None,
        };
        let machine = match (self.machine, machine_now) {
            (Some(a), Some(b)) => Some((a, b)),
            _ => None,
        };
        let other = match (machine, client, server) {
            (Some((a, b)), Some(c), Some(s)) => {
                Some((pct(b.process - a.process) - c - s).round().max(0.0))
            }
            _ => None,
        };
        let mut out = Map::new();
        out.insert("client_cpu_pct".into(), json!(client.map(f64::round)));
        out.insert("server_cpu_pct".into(), json!(server.map(f64::round)));
        out.insert(
            "irq_cpu_pct".into(),
            json!(machine.map(|(a, b)| pct(b.irq - a.irq).round())),
        );
        out.insert(
            "steal_cpu_pct".into(),
            json!(machine.map(|(a, b)| pct(b.steal - a.steal).round())),
        );
        out.insert("other_cpu_pct".into(), json!(other));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), Some(50.0));
        assert_eq!(percentile(&v, 0.99), Some(99.0));
        assert_eq!(percentile(&[3.0], 0.99), Some(3.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn run_for_runs_loops_until_time_is_up() {
        let run = run_for(0.05, 4, |i| async move {
            tokio::task::yield_now().await;
            if i == 2 {
                Err("two".to_owned())
            } else {
                Ok(())
            }
        })
        .await;
        assert!(run.count > 4);
        assert_eq!(run.errors, 1);
        assert_eq!(run.first_error.as_deref(), Some("two"));
        assert_eq!(run.latencies_ms.len() as u64, run.count);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn run_count_makes_exactly_n_calls() {
        let seen = RefCell::new(Vec::new());
        let run = run_count(25, 4, |i| {
            let seen = &seen;
            async move {
                tokio::task::yield_now().await;
                seen.borrow_mut().push(i);
                if i == 3 {
                    Err("three".to_owned())
                } else {
                    Ok(())
                }
            }
        })
        .await;
        assert_eq!(run.count, 25);
        assert_eq!(run.errors, 1);
        let mut seen = seen.into_inner();
        seen.sort_unstable();
        assert_eq!(seen, (0..25).collect::<Vec<u64>>());
        assert_eq!(run_count(0, 4, |_| async { Ok(()) }).await.count, 0);
    }
}
