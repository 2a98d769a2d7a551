//! [`Endpoint`]: the server as a `tower` [`Service`](tower_service::Service), the one
//! implementation behind [`serve`](super::serve), [`spawn`](super::spawn) and the `axum` route.
//!
//! Owns the public face of one Cap'n Web route: how the application's factory is called (with the
//! request's [`Parts`], able to [`Refusal`] it), the peer address a server inserts
//! ([`PeerAddr`]), and the counts and graceful shutdown of everything the route started. What one
//! request does (upgrade, batch, CORS, 405) is `request`'s job; accepting connections is
//! `accept`'s. It never reads messages.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::request::Parts;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::{Body, Bytes};
use tokio::net::TcpListener;

use super::request::Shared;
use super::{RunningServer, ServerOptions, ServerStats};
use crate::core::stub::Stub;

/// Makes the main object of a session (or batch) from the request that opens it.
pub(super) type Factory = Box<dyn Fn(&Parts) -> Result<Stub, Refusal> + Send + Sync>;

/// A Cap'n Web endpoint: WebSocket sessions and HTTP batches on whatever route it is mounted at.
///
/// It is a `tower` [`Service`](tower_service::Service) for `http::Request<B>` with any body `B`
/// hyper or axum produces, so it mounts in a router (with the `axum` feature see
/// `tether::axum`) or serves a listener itself ([`Endpoint::serve`]). On its route:
///
/// * a WebSocket upgrade (`GET` with `Upgrade: websocket`) becomes one session;
/// * a `POST` is one HTTP batch;
/// * with [`ServerOptions::cors`] set, an `OPTIONS` preflight from an allowed origin gets `204`
///   and the `Access-Control-*` headers; with an allow-list, a batch or upgrade from a page of
///   another origin gets `403`;
/// * anything else gets `405`.
///
/// Each session or batch gets its main object from the factory, which sees the request's head
/// (headers, URI, extensions such as [`PeerAddr`] or what an auth middleware inserted) and may
/// refuse it with a status: nothing runs then, and a WebSocket is never upgraded.
///
/// The batch limits of [`ServerOptions`] (`max_batch_body`, `max_batch_messages`,
/// `max_buffered_batch_bytes` for everything this endpoint and its clones serve, the timeouts)
/// always apply. The connection limits (`max_connections`, `header_read_timeout`) apply when the
/// endpoint serves a listener itself; in a router they are the HTTP server's business.
///
/// ```
/// use tether::server::{http, Endpoint, Refusal, ServerOptions};
/// use tether::Stub;
/// # fn api_for(user: &str) -> Stub { tether::Stub::from_fn(|_| async { Ok(().into()) }) }
///
/// let endpoint = Endpoint::from_request(
///     |request: &http::request::Parts| {
///         let user = request
///             .headers
///             .get("x-user")
///             .and_then(|v| v.to_str().ok())
///             .ok_or_else(|| Refusal::new(http::StatusCode::UNAUTHORIZED, "who are you?"))?;
///         Ok(api_for(user))
///     },
///     ServerOptions::default(),
/// );
/// # drop(endpoint);
/// ```
#[derive(Clone)]
pub struct Endpoint {
    pub(super) shared: Arc<Shared>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint whose every session and batch gets a fresh main object from `main`.
    pub fn new(main: impl Fn() -> Stub + Send + Sync + 'static, options: ServerOptions) -> Self {
        Self::from_request(move |_: &Parts| Ok(main()), options)
    }

    /// An endpoint whose main objects are made from the request opening each session or batch;
    /// `factory` may refuse it (the client gets the refusal's status and text, nothing runs).
    pub fn from_request(
        factory: impl Fn(&Parts) -> Result<Stub, Refusal> + Send + Sync + 'static,
        options: ServerOptions,
    ) -> Self {
        Self {
            shared: Arc::new(Shared::new(Box::new(factory), options)),
        }
    }

    /// Counts of what this endpoint (and its clones) serve: sessions and batches open and in
    /// total, and connections when it serves a listener itself.
    pub fn stats(&self) -> ServerStats {
        self.shared.live.stats()
    }

    /// Shuts down gracefully what this endpoint started: new sessions and batches get `503`,
    /// calls in flight may run for up to [`ServerOptions::shutdown_grace`], then every session
    /// ends with an abort carrying [`SHUTDOWN_REASON`](super::SHUTDOWN_REASON). Returns when all
    /// are gone (or the grace period and a short allowance for closing handshakes are over).
    ///
    /// In a router, call it when the HTTP server has stopped (WebSocket sessions outlive the
    /// HTTP connection they were upgraded from).
    pub async fn shutdown(&self) {
        self.shared
            .live
            .shut_down(self.shared.options.shutdown_grace)
            .await;
    }

    /// Serves this endpoint on `listener`, on every path, until the server fails (see
    /// [`super::serve`]).
    pub async fn serve(self, listener: TcpListener) -> std::io::Result<()> {
        self.serve_until(listener, std::future::pending()).await
    }

    /// [`Endpoint::serve`] until `shutdown` completes, then shut down gracefully (see
    /// [`super::serve_until`]).
    pub async fn serve_until(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        super::accept::serve(listener, self, shutdown).await
    }

    /// Starts [`Endpoint::serve_until`] in the background on the current Tokio runtime.
    pub fn spawn(self, listener: TcpListener) -> RunningServer {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let live = self.shared.live.clone();
        let task = tokio::spawn(self.serve_until(listener, async {
            let _ = stopped.await;
        }));
        RunningServer {
            stop: Some(stop),
            task: Some(task),
            live,
        }
    }
}

/// The response body of an [`Endpoint`]: the batch replies or a short text.
pub type ResponseBody = Full<Bytes>;

impl<B> tower_service::Service<Request<B>> for Endpoint
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: fmt::Display + Send,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let shared = self.shared.clone();
        Box::pin(async move { Ok(shared.handle(request).await) })
    }
}

/// Why a factory refused a session or batch: the HTTP status and a short text for the client,
/// plus any headers (e.g. `WWW-Authenticate`).
#[derive(Clone, Debug)]
pub struct Refusal {
    pub(super) status: StatusCode,
    pub(super) message: String,
    pub(super) headers: Vec<(HeaderName, HeaderValue)>,
}

impl Refusal {
    /// A refusal with `status` and `message` as the response body.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    /// Adds a header to the response.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The status the client gets.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The text the client gets.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The refusal as a response (without the endpoint's extra headers).
    pub(crate) fn into_http(self) -> Response<ResponseBody> {
        let mut response = Response::new(Full::new(Bytes::from(self.message)));
        *response.status_mut() = self.status;
        for (name, value) in self.headers {
            response.headers_mut().append(name, value);
        }
        response
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

impl std::error::Error for Refusal {}

/// The address of the peer, in a request's extensions when an [`Endpoint`] serves a listener
/// itself. Read it with [`peer_addr`], which also knows axum's `ConnectInfo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// The peer's address, if the server that accepted the connection put it in the request's
/// extensions: tether's own server always does ([`PeerAddr`]); with the `axum` feature, axum's
/// `ConnectInfo<SocketAddr>` (from `into_make_service_with_connect_info`) counts too.
pub fn peer_addr(request: &Parts) -> Option<SocketAddr> {
    if let Some(PeerAddr(addr)) = request.extensions.get::<PeerAddr>() {
        return Some(*addr);
    }
    #[cfg(feature = "axum")]
    if let Some(info) = request
        .extensions
        .get::<::axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(info.0);
    }
    None
}
