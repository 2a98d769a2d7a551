//! The server: WebSocket sessions and HTTP batches on one port and one route, as capnweb's
//! Workers helper serves them.
//!
//! Owns accepting connections (TCP_NODELAY on), telling a WebSocket upgrade from a batch `POST`
//! (any other method gets 405), the response headers (e.g. CORS), the server-level limits
//! (connections, timeouts, batch sizes), and giving every connection or batch a fresh main object
//! from the application's factory. It does not look inside messages: that is the session's job.
//!
//! Layout: this file (options, the accept loop, [`RunningServer`]), `request` (one HTTP request:
//! upgrade or batch), `body` (reading a batch body within its limits), `live` (what is in
//! progress, for a graceful shutdown).
//!
//! ```no_run
//! use tether::server::{serve, ServerOptions};
//! # fn api() -> tether::Stub { tether::Stub::from_fn(|_| async { Ok(().into()) }) }
//! # async fn demo() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! serve(listener, api, ServerOptions::default()).await
//! # }
//! ```
//!
//! # Limits a server facing browsers relies on
//!
//! Any browser can be hostile, so the defaults are meant to be safe for untrusted peers:
//!
//! | option | default | what it guards |
//! | --- | --- | --- |
//! | [`ServerOptions::max_connections`] | 10,000 | descriptors and memory per connection; at the limit new connections wait in the listen backlog |
//! | [`ServerOptions::header_read_timeout`] | 10 s | slowloris: a request head (or the next one on a kept-alive connection) that does not arrive in time closes the connection |
//! | [`ServerOptions::body_read_timeout`] | 30 s | a batch body sent slowly: 408 |
//! | [`ServerOptions::max_batch_body`] | 64 MiB | one huge batch: 413 before it is read |
//! | [`ServerOptions::max_batch_messages`] | 10,000 | a batch of very many tiny messages: 413 |
//! | [`ServerOptions::max_buffered_batch_bytes`] | 256 MiB | many large batches at once: readers wait for room, bounded by the body timeout |
//! | [`ServerOptions::upgrade_timeout`] | 10 s | a WebSocket upgrade that never completes |
//! | [`ServerOptions::keepalive`] | ping after 30 s of silence, drop 30 s later | a dead peer (gone without a reset) holding its session forever |
//! | [`ServerOptions::max_decoding_bytes`] | 256 MiB | many large frames decoded at once: frames of 64 KiB or more wait for room |
//!
//! An error from `accept` (descriptors or memory exhausted) never ends the server: it waits a
//! moment, longer while the error persists, and goes on.

mod batch;
mod body;
mod live;
mod request;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use batch::run_batch;

use crate::core::stub::Stub;
use crate::session::SessionOptions;
#[cfg(doc)]
use crate::transport::websocket::DecodeBudget;
use crate::transport::websocket::Keepalive;

/// Server settings. Start from [`ServerOptions::default`], whose limits suit a server facing
/// untrusted browsers (see the [module docs](self)).
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Options for every session (limits, stack exposure).
    pub session: SessionOptions,
    /// Extra headers on every HTTP response (batch replies, 405s), e.g. CORS headers.
    pub response_headers: Vec<(String, String)>,
    /// On shutdown, how long calls in flight may run before their sessions are cut.
    pub shutdown_grace: Duration,
    /// Connections served at once (a WebSocket session counts until it ends). At the limit the
    /// server stops accepting: new connections wait in the kernel's listen backlog (which refuses
    /// them once it is full) until a connection ends.
    pub max_connections: usize,
    /// How long a client may take to send a request head, including the wait for the next
    /// request on a kept-alive connection; then the connection is closed. `None` disables it.
    pub header_read_timeout: Option<Duration>,
    /// How long a client may take to send a batch body; then it gets 408.
    pub body_read_timeout: Duration,
    /// The largest batch body in bytes; a larger one gets 413 (refused from its
    /// `Content-Length` before reading, or as soon as it grows past the limit).
    pub max_batch_body: usize,
    /// The most messages one batch may hold; more get 413 and nothing runs.
    pub max_batch_messages: usize,
    /// Batch body bytes buffered at once across the whole server. A body that does not fit waits
    /// for room (within [`ServerOptions::body_read_timeout`]), so many large batches at once cannot
    /// exhaust memory.
    pub max_buffered_batch_bytes: usize,
    /// How long a WebSocket upgrade may take after its request head arrived.
    pub upgrade_timeout: Duration,
    /// WebSocket pings while a peer is silent, and how long it has to answer before its
    /// session ends (a dead peer would otherwise hold its session forever). `None`: no pings.
    pub keepalive: Option<Keepalive>,
    /// Bytes of WebSocket frames being decoded at once across the whole server: a frame of
    /// 64 KiB or more waits for room before its session parses it (see [`DecodeBudget`]), so
    /// many sessions sending large frames at once cannot exhaust memory together.
    pub max_decoding_bytes: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            session: SessionOptions::default(),
            response_headers: Vec::new(),
            shutdown_grace: Duration::from_secs(10),
            max_connections: 10_000,
            header_read_timeout: Some(Duration::from_secs(10)),
            body_read_timeout: Duration::from_secs(30),
            max_batch_body: 64 * 1024 * 1024,
            max_batch_messages: 10_000,
            max_buffered_batch_bytes: 256 * 1024 * 1024,
            upgrade_timeout: Duration::from_secs(10),
            keepalive: Some(Keepalive::default()),
            max_decoding_bytes: 256 * 1024 * 1024,
        }
    }
}

/// The abort reason sessions get when the server shuts down.
pub const SHUTDOWN_REASON: &str = "Server is shutting down.";

/// Serves Cap'n Web on `listener` until it fails: WebSocket upgrades and HTTP batch `POST`s on
/// every path. `main` makes the main object for each new session.
pub async fn serve(
    listener: TcpListener,
    main: impl Fn() -> Stub + Send + Sync + 'static,
    options: ServerOptions,
) -> std::io::Result<()> {
    serve_until(listener, main, options, std::future::pending()).await
}

/// [`serve`] until `shutdown` completes, then shut down gracefully: stop accepting, let calls in
/// flight finish for up to [`ServerOptions::shutdown_grace`], then end every session with an
/// abort carrying [`SHUTDOWN_REASON`] (every export released, disposers run) and return.
///
/// Errors from `accept` do not end it (see the [module docs](self)), so today it only returns
/// `Ok`; the `Result` leaves room for setup errors.
pub async fn serve_until(
    listener: TcpListener,
    main: impl Fn() -> Stub + Send + Sync + 'static,
    options: ServerOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    serve_with(listener, Box::new(main), options, Arc::default(), shutdown).await
}

async fn serve_with(
    listener: TcpListener,
    main: request::MainFactory,
    options: ServerOptions,
    live: Arc<live::Live>,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let grace = options.shutdown_grace;
    let connections = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let shared = Arc::new(request::Shared::new(main, options, live));
    let mut backoff = Backoff::default();
    tokio::pin!(shutdown);
    loop {
        // At the connection limit, wait for one to end before accepting (the backlog queues).
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // Never closed; nothing sensible to serve without it.
            },
            () = &mut shutdown => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => {
                backoff.reset();
                stream
            }
            Err(error) => {
                if let Some(pause) = backoff.after(&error) {
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        () = &mut shutdown => break,
                    }
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let header_timeout = shared.options.header_read_timeout;
        let counted = shared.live.connection();
        tokio::spawn(async move {
            // Held by this connection and, after an upgrade, by its WebSocket session.
            let permit = Arc::new((permit, counted));
            let service = hyper::service::service_fn(move |request| {
                let shared = shared.clone();
                let permit = permit.clone();
                async move { Ok::<_, Infallible>(shared.handle(request, permit).await) }
            });
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            // A connection error concerns that connection only.
            let _ = http
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
    drop(listener);
    shared.live.shut_down(grace).await;
    Ok(())
}

/// How long to pause after a failed `accept`.
///
/// Errors that concern one connection (reset or aborted before it was accepted) are retried at
/// once. Anything else, above all running out of descriptors (`EMFILE`, `ENFILE`) or memory,
/// would fail again immediately: pause, doubling from 10 ms up to 1 s while it persists, so the
/// server neither spins nor exits, and accepts again as soon as resources are back.
#[derive(Debug, Default)]
struct Backoff {
    pause: Option<Duration>,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    fn reset(&mut self) {
        self.pause = None;
    }

    fn after(&mut self, error: &std::io::Error) -> Option<Duration> {
        use std::io::ErrorKind::*;
        if matches!(
            error.kind(),
            ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
        ) {
            return None;
        }
        let pause = self.pause.map_or(Self::FIRST, |p| (p * 2).min(Self::MAX));
        self.pause = Some(pause);
        Some(pause)
    }
}

/// Server-wide counts, from [`RunningServer::stats`], for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerStats {
    /// Connections open now (a WebSocket counts until its session ends).
    pub connections_open: u64,
    /// Connections accepted since the server started.
    pub connections_total: u64,
    /// WebSocket sessions and HTTP batches running now.
    pub sessions_open: u64,
    /// WebSocket sessions and HTTP batches started since the server started.
    pub sessions_total: u64,
}

/// A server running in the background, started by [`spawn`]. Dispose it (or call
/// [`RunningServer::shutdown`]) to shut it down gracefully; dropping it leaves it running.
pub struct RunningServer {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    live: Arc<live::Live>,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("stats", &self.stats())
            .finish()
    }
}

/// Starts [`serve_until`] in the background on the current Tokio runtime.
pub fn spawn(
    listener: TcpListener,
    main: impl Fn() -> Stub + Send + Sync + 'static,
    options: ServerOptions,
) -> RunningServer {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let live = Arc::new(live::Live::default());
    let task = tokio::spawn(serve_with(
        listener,
        Box::new(main),
        options,
        live.clone(),
        async {
            let _ = stopped.await;
        },
    ));
    RunningServer {
        stop: Some(stop),
        task: Some(task),
        live,
    }
}

impl RunningServer {
    /// Server-wide counts now: connections and sessions open and in total.
    pub fn stats(&self) -> ServerStats {
        self.live.stats()
    }

    /// Shuts the server down gracefully (see [`serve_until`]) and waits until it has.
    pub async fn shutdown(&mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.unwrap_or_else(|e| Err(std::io::Error::other(e))),
            None => Ok(()),
        }
    }
}

impl crate::dispose::AsyncDisposable for RunningServer {
    fn dispose_async(&mut self) -> crate::BoxFuture<'_, Result<(), crate::dispose::DisposeError>> {
        Box::pin(async move { self.shutdown().await.map_err(Into::into) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_errors_of_one_connection_retry_at_once_resource_errors_back_off() {
        let mut backoff = Backoff::default();
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionAborted);
        assert_eq!(backoff.after(&reset), None);
        let emfile = std::io::Error::from_raw_os_error(24); // EMFILE
        assert_eq!(backoff.after(&emfile), Some(Backoff::FIRST));
        assert_eq!(backoff.after(&emfile), Some(Backoff::FIRST * 2));
        for _ in 0..20 {
            backoff.after(&emfile);
        }
        assert_eq!(backoff.after(&emfile), Some(Backoff::MAX));
        backoff.reset();
        assert_eq!(backoff.after(&emfile), Some(Backoff::FIRST));
    }
}
