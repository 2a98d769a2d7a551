//! `tether-bench-driver URL WORKLOAD [options]`: runs one workload against a BenchApi server (or,
//! for `raw-*`, a plain WebSocket echo server) with tether as the client and prints ONE JSON
//! line on stdout. See [`tether_bench::driver`] for the workloads and options.

use std::io::Write;
use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: tether_bench::alloc::CountingAlloc = tether_bench::alloc::CountingAlloc;

fn main() -> ExitCode {
    let options = match tether_bench::driver::Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(error) => {
            eprintln!(
                "tether-bench-driver: {error}\nusage: tether-bench-driver URL WORKLOAD \
                 [--duration=S] [--warmup=S] [--concurrency=C] [--count=N] [--server-pid=PID] \
                 [--label=L] [--rep=N] [--attempt=N] [--calls=N] [--cycles=N] [--parallel=N] \
                 [--samples=N]\nworkloads: {}",
                tether_bench::driver::WORKLOADS.join(" ")
            );
            return ExitCode::from(2);
        }
    };
    // As client.mjs: a run that hangs prints an error line and exits 3.
    let limit = tether_bench::driver::watchdog(&options);
    let mut timeout_line = tether_bench::driver::header(&options);
    timeout_line.insert("error".into(), "watchdog timeout".into());
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        println!("{}", serde_json::Value::Object(timeout_line));
        std::process::exit(3);
    });
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("tether-bench-driver: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let line = runtime.block_on(tether_bench::driver::run(&options));
    let failed = line.get("error").is_some();
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
    // Leave at once: whatever is still in flight belongs to a finished measurement.
    std::process::exit(if failed { 1 } else { 0 });
}
