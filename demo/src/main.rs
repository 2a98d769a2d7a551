//! Run with: `cargo run -p tether-demo`, then open http://127.0.0.1:8080/
//!
//! A web page using the real capnweb client (from npm, embedded at build time) against a tether
//! server, both on one port: a pipelined chain and its round trips, a remote counter whose
//! server-side disposer calls the page back, a callback the server calls, `map()` over a list in
//! one round trip, and a live log of every frame. See [`USAGE`] for the options (`--help`).

use std::net::SocketAddr;

use tether::server::Cors;
use tether_demo::web::{app, endpoint, CAPNWEB_MISSING};

/// What `--help` prints.
const USAGE: &str = "\
usage: tether-demo [--addr HOST:PORT] [--cors-origin ORIGIN]...

  --addr HOST:PORT      where to listen (default 127.0.0.1:$PORT, PORT defaulting to 8080;
                        port 0: a free one)
  --cors-origin ORIGIN  let pages of ORIGIN (scheme://host[:port], e.g. http://localhost:3000)
                        call /rpc from their own origin, over HTTP batch (CORS) and WebSocket;
                        repeatable; `*` for any origin. With a list, batches and WebSockets
                        from pages of unlisted origins are refused with 403 (the demo's own
                        page is always served). Without it, no CORS: pages of other origins
                        cannot read batch answers (their WebSockets are not checked).
  --help                this text";

/// The command line, parsed.
struct Args {
    addr: SocketAddr,
    /// The CORS settings, and the origins they allow for the startup line.
    cors: Option<(Cors, String)>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = match parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return Ok(());
        }
        Err(message) => {
            eprintln!("{message}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    println!(
        "tether demo listening on http://{}/ (open it in a browser)",
        listener.local_addr()?
    );
    if let Some((_, origins)) = &args.cors {
        println!("CORS: pages of {origins} may call /rpc");
    }
    if CAPNWEB_MISSING {
        println!(
            "warning: capnweb was not installed when this was built; run `npm ci` in interop/ \
             and run the demo again"
        );
    }
    let rpc = endpoint(args.cors.map(|(cors, _)| cors));
    axum::serve(listener, app(rpc.clone()))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    // WebSocket sessions outlive the HTTP connections axum waits for: end them too.
    rpc.shutdown().await;
    Ok(())
}

/// The arguments, or `None` for `--help`.
fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".into());
    let mut addr = format!("127.0.0.1:{port}");
    let mut origins = Vec::new();
    let mut any = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().ok_or("--addr needs HOST:PORT")?,
            "--cors-origin" => match args.next().ok_or("--cors-origin needs an ORIGIN")? {
                star if star == "*" => any = true,
                origin if origin.contains("://") && !origin.ends_with('/') => origins.push(origin),
                origin => {
                    return Err(format!(
                        "bad --cors-origin {origin:?}: expected scheme://host[:port] (no path), \
                         or *"
                    ))
                }
            },
            "--help" | "-h" => return Ok(None),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let addr = addr
        .parse()
        .map_err(|e| format!("bad address {addr:?}: {e}"))?;
    let cors = if any {
        Some((Cors::any_origin(), "any origin".to_owned()))
    } else if origins.is_empty() {
        None
    } else {
        let listed = origins.join(", ");
        Some((Cors::origins(origins), listed))
    };
    Ok(Some(Args { addr, cors }))
}
