//! The server: WebSocket sessions and HTTP batches on one route, as capnweb's Workers helper
//! serves them.
//!
//! Owns serving Cap'n Web over HTTP: the [`Endpoint`] (a `tower` service: telling a WebSocket
//! upgrade from a batch `POST`, 405 for anything else, CORS, asking the application's factory for
//! each session's main object, which sees the request and may refuse it), the accept loop of a
//! server that owns its listener, the server-level limits (connections, timeouts, batch sizes),
//! the counts and the graceful shutdown. It does not look inside messages: that is the session's
//! job.
//!
//! Layout: this file (options, [`serve`]/[`serve_until`]/[`spawn`], [`RunningServer`]),
//! `endpoint` ([`Endpoint`], [`Refusal`], [`PeerAddr`]), `request` (one HTTP request: upgrade,
//! batch, preflight or 405), `cors` ([`Cors`]), `body` (reading a batch body within its limits),
//! `accept` (the accept loop: connections under the limit), `live` (what is in progress, for the
//! counts and a graceful shutdown).
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
//! To see the request (authentication, the peer address) or refuse it, build the [`Endpoint`]
//! with [`Endpoint::from_request`]; to mount it in an existing HTTP application, it is a `tower`
//! service (with the `axum` feature, see `tether::axum`).
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
//! | [`ServerOptions::max_decoding_bytes`] | 256 MiB | many large frames decoded at once: frames of 64 KiB or more wait for room, charged their size plus 96 bytes per value they may hold |
//!
//! An error from `accept` (descriptors or memory exhausted) never ends the server: it waits a
//! moment, longer while the error persists, and goes on.

mod accept;
mod batch;
mod body;
mod cors;
mod endpoint;
mod live;
mod request;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

pub use batch::run_batch;
pub use cors::Cors;
pub use endpoint::{peer_addr, Endpoint, PeerAddr, Refusal, ResponseBody};
/// The `http` crate, whose request [`Parts`](http::request::Parts) a factory receives.
pub use http;

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
    /// Extra headers on every HTTP response (batch replies, refusals, 405s).
    pub response_headers: Vec<(String, String)>,
    /// CORS for browser pages of other origins: preflights answered, responses readable, and,
    /// with an allow-list, batches and WebSocket upgrades from pages of other origins refused
    /// with 403 (see [`Cors`]). `None` (the default): an `OPTIONS` request gets 405 like any
    /// other method, no CORS header is added and no `Origin` is checked (put `tower-http`'s
    /// `CorsLayer` in front instead, or none for same-origin pages).
    pub cors: Option<Cors>,
    /// WebSocket subprotocols this server accepts. When a client offers some in
    /// `Sec-WebSocket-Protocol` (`new WebSocket(url, ["v1"])`), the upgrade answers with the
    /// first one it offers that is in this list. If none is, the answer names none, which
    /// browsers and tether's client treat as a failed handshake (RFC 6455); the factory may
    /// refuse such a request itself (it sees the header). Cap'n Web uses no subprotocol; empty by
    /// default.
    ///
    /// ```
    /// let options = tether::server::ServerOptions {
    ///     subprotocols: vec!["capnweb.v1".into()],
    ///     ..Default::default()
    /// };
    /// # drop(options);
    /// ```
    pub subprotocols: Vec<String>,
    /// On shutdown, how long calls in flight may run before their sessions are cut.
    pub shutdown_grace: Duration,
    /// Connections served at once (a WebSocket session counts until it ends). At the limit the
    /// server stops accepting: new connections wait in the kernel's listen backlog (which refuses
    /// them once it is full) until a connection ends. Only when tether accepts the connections
    /// (not in a router).
    pub max_connections: usize,
    /// How long a client may take to send a request head, including the wait for the next
    /// request on a kept-alive connection; then the connection is closed. `None` disables it.
    /// Only when tether accepts the connections (not in a router). A new connection has this
    /// long to send its first byte, and then this long for the rest of its first head (the
    /// connection is served only once its first byte is in, so that a burst of connections does
    /// not hold HTTP buffers while their requests are on their way).
    pub header_read_timeout: Option<Duration>,
    /// How long a client may take to send a batch body; then it gets 408.
    pub body_read_timeout: Duration,
    /// The largest batch body in bytes; a larger one gets 413 (refused from its
    /// `Content-Length` before reading, or as soon as it grows past the limit).
    pub max_batch_body: usize,
    /// The most messages one batch may hold; more get 413 and nothing runs.
    pub max_batch_messages: usize,
    /// Batch body bytes buffered at once across the whole server (one [`Endpoint`] and its
    /// clones). A body that does not fit waits for room (within
    /// [`ServerOptions::body_read_timeout`]), so many large batches at once cannot exhaust memory.
    pub max_buffered_batch_bytes: usize,
    /// How long a WebSocket upgrade may take after its request head arrived.
    pub upgrade_timeout: Duration,
    /// WebSocket pings while a peer is silent, and how long it has to answer before its
    /// session ends (a dead peer would otherwise hold its session forever). `None`: no pings.
    pub keepalive: Option<Keepalive>,
    /// Memory that decoding WebSocket frames may take at once across the whole server: a frame
    /// of 64 KiB or more is charged its size plus 96 bytes per value it may hold and waits for
    /// that room before its session parses it (see [`DecodeBudget`]), so many sessions sending
    /// large frames at once cannot exhaust memory together.
    pub max_decoding_bytes: usize,
    /// Terminates TLS with this configuration (feature `tls`): `wss://` and `https://` on the
    /// listener. The handshake is bounded by [`ServerOptions::header_read_timeout`]. Serves
    /// HTTP/1.1 only: leave the configuration's ALPN protocols empty or `http/1.1`. Only when
    /// tether accepts the connections (in a router, TLS is the HTTP server's business).
    ///
    /// ```no_run
    /// # fn demo(certs: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// #         key: rustls::pki_types::PrivateKeyDer<'static>) -> Result<(), rustls::Error> {
    /// use std::sync::Arc;
    /// let provider = Arc::new(rustls::crypto::ring::default_provider());
    /// let tls = rustls::ServerConfig::builder_with_provider(provider)
    ///     .with_safe_default_protocol_versions()?
    ///     .with_no_client_auth()
    ///     .with_single_cert(certs, key)?;
    /// let options = tether::server::ServerOptions {
    ///     tls: Some(Arc::new(tls)),
    ///     ..Default::default()
    /// };
    /// # drop(options); Ok(()) }
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            session: SessionOptions::default(),
            response_headers: Vec::new(),
            cors: None,
            subprotocols: Vec::new(),
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
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

/// The abort reason sessions get when the server shuts down.
pub const SHUTDOWN_REASON: &str = "Server is shutting down.";

/// Serves Cap'n Web on `listener` until it fails: WebSocket upgrades and HTTP batch `POST`s on
/// every path. `main` makes the main object for each new session. The same as
/// [`Endpoint::new`]`(main, options)`[`.serve(listener)`](Endpoint::serve); use an [`Endpoint`]
/// to see the request or to mount it in a router.
pub async fn serve(
    listener: TcpListener,
    main: impl Fn() -> Stub + Send + Sync + 'static,
    options: ServerOptions,
) -> std::io::Result<()> {
    Endpoint::new(main, options).serve(listener).await
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
    Endpoint::new(main, options)
        .serve_until(listener, shutdown)
        .await
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
    Endpoint::new(main, options).spawn(listener)
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
