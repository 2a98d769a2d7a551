//! Run with: `cargo run -p batch-pipelining`, then open http://localhost:3000/ or run capnweb's
//! `examples/batch-pipelining/client.mjs` against it unchanged (`RPC_URL` defaults to
//! http://localhost:3000/rpc).
//!
//! Serves the API of capnweb's batch-pipelining example over HTTP batch at `/rpc` and the
//! `public/` folder on every other path, on 127.0.0.1 and, when it can, [::1] (so `localhost`
//! works whichever it resolves to first). Environment: `PORT` (default 3000; 0 picks a free
//! port), `DELAY_AUTH_MS`, `DELAY_PROFILE_MS`, `DELAY_NOTIFS_MS` (each method's artificial
//! delay, default 80, 120, 120), `PUBLIC_DIR`, `CAPNWEB_JS` (see `web::Files`).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use batch_pipelining::web::{app, Files};
use batch_pipelining::Delays;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = match std::env::var("PORT") {
        Ok(port) => port.parse().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("bad PORT {port:?}"),
            )
        })?,
        Err(_) => 3000,
    };
    let delays = Delays::from_env();
    let v4 = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    let port = v4.local_addr()?.port();
    // The same port on IPv6 loopback, if the machine has one.
    let v6 = TcpListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, port)))
        .await
        .ok();
    println!("batch-pipelining listening on http://127.0.0.1:{port}/ (RPC at /rpc)");
    println!(
        "delays: authenticate {:?}, getUserProfile {:?}, getNotifications {:?}",
        delays.auth, delays.profile, delays.notifications
    );
    let app = app(delays, Files::from_env());
    let shutdown = || async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let on_v6 = v6.map(|v6| {
        let app = app.clone();
        tokio::spawn(async move {
            axum::serve(v6, app)
                .with_graceful_shutdown(shutdown())
                .await
        })
    });
    axum::serve(v4, app)
        .with_graceful_shutdown(shutdown())
        .await?;
    if let Some(on_v6) = on_v6 {
        on_v6.abort();
    }
    Ok(())
}
