//! `tether-stream-driver URL MODE [options]`: one stream transfer or latency run with tether as
//! the client of a TestTarget server, ONE JSON line on stdout. See [`tether_bench::streams`].

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let options = match tether_bench::streams::Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(error) => {
            eprintln!(
                "tether-stream-driver: {error}\nusage: tether-stream-driver URL MODE \
                 [--total=BYTES] [--chunk=BYTES] [--interval-ms=MS] [--duration=S] \
                 [--server-pid=PID] [--label=L] [--rep=N]\nmodes: {}",
                tether_bench::streams::MODES.join(" ")
            );
            return ExitCode::from(2);
        }
    };
    // A run that hangs prints an error line and exits 3 (as the other drivers do).
    let label = options.label.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(180));
        println!(
            "{}",
            serde_json::json!({"label": label, "error": "watchdog timeout"})
        );
        std::process::exit(3);
    });
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("tether-stream-driver: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let line = runtime.block_on(tether_bench::streams::run(&options));
    let failed = line.get("error").is_some();
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
    std::process::exit(if failed { 1 } else { 0 });
}
