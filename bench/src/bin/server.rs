//! `tether-bench-server`: the BenchApi contract (`shared/bench/README.md`) served by tether.
//!
//! Usage: `tether-bench-server PORT [--runtime=current|multi] [--api=typed|dynamic]` (normally
//! through `interop/serve-bench PORT`, which builds it first). Serves WebSocket sessions and HTTP
//! batch POSTs on every path of `127.0.0.1:PORT` (`0` picks a free port), each session with a
//! fresh BenchApi, prints `listening PORT` on stdout once it accepts connections, and exits with
//! status 0 on SIGTERM or SIGINT.
//!
//! API: the contract declared with `#[tether::interface]` by default
//! (`tether_bench::api::typed`); `--api=dynamic` (or `TETHER_BENCH_API=dynamic`) serves the
//! hand-written `tether::Target` implementation instead (`tether_bench::api::dynamic`), the
//! baseline `bench/run.sh` measures it against. `serverInfo().api` says which.
//!
//! Runtime: Tokio's current-thread runtime by default. The benchmark gives the server one pinned
//! CPU; measured there, the current-thread runtime was faster than the multi-thread one with its
//! one worker (which pays for cross-thread wake-ups and work stealing bookkeeping it cannot use):
//! see `BENCHMARKS.md`. `--runtime=multi` (or `TETHER_BENCH_RUNTIME=multi`) selects the
//! multi-thread runtime, with one worker per CPU the process may run on.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use tether_bench::api::Api;
use tokio::net::TcpListener;

#[global_allocator]
static ALLOCATOR: tether_bench::alloc::CountingAlloc = tether_bench::alloc::CountingAlloc;

fn main() -> ExitCode {
    let mut port = None;
    let mut flavor = std::env::var("TETHER_BENCH_RUNTIME").unwrap_or_else(|_| "current".into());
    let mut api = std::env::var("TETHER_BENCH_API").unwrap_or_else(|_| Api::default().to_string());
    for arg in std::env::args().skip(1) {
        if let Some(value) = arg.strip_prefix("--runtime=") {
            flavor = value.to_owned();
        } else if let Some(value) = arg.strip_prefix("--api=") {
            api = value.to_owned();
        } else if let (None, Ok(p)) = (port, arg.parse::<u16>()) {
            port = Some(p);
        } else {
            return usage();
        }
    }
    let Some(port) = port else { return usage() };
    let api = match api.parse::<Api>() {
        Ok(api) => api,
        Err(error) => {
            eprintln!("tether-bench-server: {error}");
            return usage();
        }
    };
    let built = match flavor.as_str() {
        "current" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        "multi" => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
        _ => return usage(),
    };
    let runtime = match built {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("tether-bench-server: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let workers = runtime.metrics().num_workers();
    tether_bench::api::set_runtime_flavor(&format!("{flavor}_thread ({workers} worker(s))"));
    let outcome = runtime.block_on(run(port, api));
    // Sessions still open are dropped with the runtime; do not wait for stragglers.
    runtime.shutdown_timeout(Duration::from_millis(500));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tether-bench-server: {error}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: tether-bench-server PORT [--runtime=current|multi] [--api=typed|dynamic]");
    ExitCode::from(2)
}

/// Serves until SIGTERM or SIGINT (`Ok`), or until the listener fails (`Err`).
async fn run(port: u16, api: Api) -> std::io::Result<()> {
    let mut shutdown = tether::dispose::ShutdownSignal::listen()?;
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let port = listener.local_addr()?.port();
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening {port}")?;
    stdout.flush()?;
    drop(stdout);

    // The `stubs` workload holds 100,000 counters on one session, the default quota of
    // exports for an untrusted peer: a benchmark client is trusted, so give it room.
    let mut options = tether::server::ServerOptions::default();
    options.session.quotas.max_exports = 1_000_000;
    options.session.quotas.max_unpulled_pushes = 1_000_000;
    let server = tether::server::serve(listener, move || api.main_stub(), options);
    tokio::select! {
        served = server => served,
        _ = shutdown.recv() => Ok(()),
    }
}
