//! `tether-testtarget`: tether serving the Cap'n Web **TestTarget** contract
//! (`shared/interop/TESTTARGET.md`), the server the JavaScript interop suite in `interop/tests`
//! checks black-box.
//!
//! Usage: `tether-testtarget PORT` (normally through `interop/serve-testtarget PORT`, which builds
//! it first). Serves WebSocket sessions and HTTP batch POSTs on every path of `127.0.0.1:PORT`,
//! each session with a fresh main object (the typed interface [`test_target::TestTarget`], served
//! by [`test_target::main_stub`]), prints `listening PORT` on stdout once it accepts connections
//! (`PORT` 0 picks a free port and prints it). On SIGTERM or SIGINT it shuts down gracefully:
//! it stops accepting, lets calls in flight finish (up to 2 s), ends every session with an abort
//! carrying `Server is shutting down.` (WebSocket close code 3000; every export released, so
//! disposers run), and exits with status 0. Diagnostics go to stderr only.
//!
//! It accepts the WebSocket subprotocol `tether-test` (a client offering it among others gets it;
//! one offering only others gets none, and fails its handshake), for `interop/tests/tether.test.mjs`.
//!
//! With `TESTTARGET_TLS_DIR` set, it serves TLS (`wss://`, `https://`) with a certificate for
//! `127.0.0.1` from a certificate authority made at start, and writes that CA to
//! `$TESTTARGET_TLS_DIR/ca.pem` before printing `listening PORT`, for clients to trust.

mod counter;
mod disposable;
mod js;
mod streams;
mod test_target;
#[cfg(test)]
mod tests;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use tokio::net::TcpListener;

fn main() -> ExitCode {
    let mut argv = std::env::args().skip(1);
    let port = match (argv.next().map(|p| p.parse::<u16>()), argv.next()) {
        (Some(Ok(port)), None) => port,
        _ => {
            eprintln!("usage: tether-testtarget PORT");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("tether-testtarget: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(port));
    // Sessions still open are dropped with the runtime; do not wait for stragglers.
    runtime.shutdown_timeout(Duration::from_millis(500));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tether-testtarget: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Serves until SIGTERM or SIGINT, then shuts down gracefully (`Ok`); `Err` if the listener fails.
async fn run(port: u16) -> std::io::Result<()> {
    let mut shutdown = tether::dispose::ShutdownSignal::listen()?;
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let port = listener.local_addr()?.port();
    let mut options = tether::server::ServerOptions {
        shutdown_grace: Duration::from_secs(2),
        subprotocols: vec!["tether-test".into()],
        ..Default::default()
    };
    if let Some(dir) = std::env::var_os("TESTTARGET_TLS_DIR") {
        let ca = tether_interop_tests::tls::TestCa::new();
        ca.write_to(std::path::Path::new(&dir))?;
        options.tls = Some(ca.server_config());
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening {port}")?;
    stdout.flush()?;
    drop(stdout);
    let signalled = async move {
        shutdown.recv().await;
    };
    tether::server::serve_until(listener, test_target::main_stub, options, signalled).await
}
