//! Run with: `cargo run -p tether-demo`, then open http://127.0.0.1:8080/
//!
//! A web page using the real capnweb client (from npm, embedded at build time) against a tether
//! server, both on one port: a pipelined chain and its round trips, a remote counter whose
//! server-side disposer calls the page back, a callback the server calls, `map()` over a list in
//! one round trip, and a live log of every frame. `--addr HOST:PORT` or the `PORT` environment
//! variable picks another address (`0`: a free port).

use std::net::SocketAddr;

use tether_demo::web::{app, endpoint, CAPNWEB_MISSING};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = match address(std::env::args().skip(1)) {
        Ok(addr) => addr,
        Err(message) => {
            eprintln!("{message}\nusage: tether-demo [--addr HOST:PORT]");
            std::process::exit(2);
        }
    };
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!(
        "tether demo listening on http://{}/ (open it in a browser)",
        listener.local_addr()?
    );
    if CAPNWEB_MISSING {
        println!(
            "warning: capnweb was not installed when this was built; run `npm ci` in interop/ \
             and run the demo again"
        );
    }
    let rpc = endpoint();
    axum::serve(listener, app(rpc.clone()))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    // WebSocket sessions outlive the HTTP connections axum waits for: end them too.
    rpc.shutdown().await;
    Ok(())
}

fn address(mut args: impl Iterator<Item = String>) -> Result<SocketAddr, String> {
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".into());
    let mut addr = format!("127.0.0.1:{port}");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().ok_or("--addr needs HOST:PORT")?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    addr.parse()
        .map_err(|e| format!("bad address {addr:?}: {e}"))
}
