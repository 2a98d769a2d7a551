//! The server: WebSocket sessions and HTTP batches on one port and one route, as capnweb's
//! Workers helper serves them.
//!
//! Owns accepting connections (TCP_NODELAY on), telling a WebSocket upgrade from a batch `POST`
//! (any other method gets 405), the response headers (e.g. CORS), and giving every connection or
//! batch a fresh main object from the application's factory. It does not look inside messages:
//! that is the session's job.
//!
//! ```no_run
//! use tether::server::{serve, ServerOptions};
//! # fn api() -> tether::Stub { tether::Stub::from_fn(|_| async { Ok(().into()) }) }
//! # async fn demo() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! serve(listener, api, ServerOptions::default()).await
//! # }
//! ```

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

use tokio::sync::Notify;

use crate::session::{RpcSession, SessionHandle, SessionOptions};
use crate::stub::Stub;
use crate::transport::http_batch::run_batch;
use crate::transport::websocket::{socket_config, WebSocketTransport};

/// Server settings.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Options for every session (limits, stack exposure).
    pub session: SessionOptions,
    /// Extra headers on every HTTP response (batch replies, 405s), e.g. CORS headers.
    pub response_headers: Vec<(String, String)>,
    /// On shutdown, how long calls in flight may run before their sessions are cut.
    pub shutdown_grace: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            session: SessionOptions::default(),
            response_headers: Vec::new(),
            shutdown_grace: Duration::from_secs(10),
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
pub async fn serve_until(
    listener: TcpListener,
    main: impl Fn() -> Stub + Send + Sync + 'static,
    options: ServerOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let grace = options.shutdown_grace;
    let shared = Arc::new(Shared {
        main: Box::new(main),
        options,
        live: Live::default(),
    });
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(shared.handle(request).await) }
            });
            // A connection error concerns that connection only.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
    drop(listener);
    shared.live.shut_down(grace).await;
    Ok(())
}

/// A server running in the background, started by [`spawn`]. Dispose it (or call
/// [`RunningServer::shutdown`]) to shut it down gracefully; dropping it leaves it running.
#[derive(Debug)]
pub struct RunningServer {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Starts [`serve_until`] in the background on the current Tokio runtime.
pub fn spawn(
    listener: TcpListener,
    main: impl Fn() -> Stub + Send + Sync + 'static,
    options: ServerOptions,
) -> RunningServer {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve_until(listener, main, options, async {
        let _ = stopped.await;
    }));
    RunningServer {
        stop: Some(stop),
        task: Some(task),
    }
}

impl RunningServer {
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

/// The sessions and batches in progress, for a graceful shutdown.
#[derive(Default)]
struct Live {
    sessions: Mutex<Vec<SessionHandle>>,
    active: AtomicUsize,
    idle: Notify,
}

/// Counts one session or batch as in progress while it lives.
struct LiveGuard(Arc<Shared>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        if self.0.live.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.live.idle.notify_waiters();
        }
    }
}

impl Live {
    fn sessions(&self) -> std::sync::MutexGuard<'_, Vec<SessionHandle>> {
        // A list of handles: nothing can be left half-updated by a panic.
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ends every session gracefully and waits (bounded) until all are gone.
    async fn shut_down(&self, grace: Duration) {
        for session in self.sessions().drain(..) {
            session.shutdown(SHUTDOWN_REASON, grace);
        }
        let all_done = async {
            loop {
                let idle = self.idle.notified();
                tokio::pin!(idle);
                idle.as_mut().enable();
                if self.active.load(Ordering::Acquire) == 0 {
                    return;
                }
                idle.await;
            }
        };
        // Sessions end within the grace period; allow for their closing handshakes too.
        let _ = tokio::time::timeout(grace + Duration::from_secs(3), all_done).await;
    }
}

type MainFactory = Box<dyn Fn() -> Stub + Send + Sync>;

struct Shared {
    main: MainFactory,
    options: ServerOptions,
    live: Live,
}

impl Shared {
    fn track(self: &Arc<Self>) -> LiveGuard {
        self.live.active.fetch_add(1, Ordering::AcqRel);
        LiveGuard(self.clone())
    }

    async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Response<Full<Bytes>> {
        if is_websocket_upgrade(&request) {
            return self.upgrade(request);
        }
        if request.method() != Method::POST {
            return self.respond(
                StatusCode::METHOD_NOT_ALLOWED,
                "This endpoint only accepts POST or WebSocket requests.",
            );
        }
        // The largest body is one message per line at the size limit; refuse absurd bodies.
        let limit = self
            .options
            .session
            .limits
            .max_message_size
            .saturating_mul(4);
        let body = match Limited::new(request.into_body(), limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) => {
                return self.respond(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!("batch refused: {e}"),
                )
            }
        };
        let Ok(text) = std::str::from_utf8(&body) else {
            return self.respond(StatusCode::BAD_REQUEST, "batch refused: body is not UTF-8");
        };
        let _live = self.track();
        match run_batch(text, (self.main)(), self.options.session.clone()).await {
            Ok(replies) => self.respond(StatusCode::OK, &replies),
            Err(error) => self.respond(StatusCode::BAD_REQUEST, &format!("batch aborted: {error}")),
        }
    }

    fn upgrade(self: Arc<Self>, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let Some(key) = request.headers().get("sec-websocket-key") else {
            return self.respond(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key");
        };
        let accept = derive_accept_key(key.as_bytes());
        let config = socket_config(&self.options.session.limits);
        let shared = self.clone();
        let live = self.track();
        tokio::spawn(async move {
            let _live = live;
            let Ok(upgraded) = hyper::upgrade::on(request).await else {
                return;
            };
            let socket = WebSocketStream::from_raw_socket(
                TokioIo::new(upgraded),
                Role::Server,
                Some(config),
            )
            .await;
            let (_client_main, driver) = RpcSession::open(
                WebSocketTransport::new(socket),
                Some((shared.main)()),
                shared.options.session.clone(),
            );
            {
                let mut sessions = shared.live.sessions();
                sessions.retain(|s| !s.is_closed());
                sessions.push(driver.handle());
            }
            let _ = driver.await;
        });
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(
            hyper::header::UPGRADE,
            HeaderValue::from_static("websocket"),
        );
        headers.insert(
            hyper::header::CONNECTION,
            HeaderValue::from_static("Upgrade"),
        );
        if let Ok(value) = HeaderValue::from_str(&accept) {
            headers.insert("sec-websocket-accept", value);
        }
        response
    }

    fn respond(&self, status: StatusCode, body: &str) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
        *response.status_mut() = status;
        for (name, value) in &self.options.response_headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::try_from(name.as_str()),
                HeaderValue::from_str(value),
            ) {
                response.headers_mut().append(name, value);
            }
        }
        response
    }
}

fn is_websocket_upgrade(request: &Request<Incoming>) -> bool {
    let has = |name: hyper::header::HeaderName, token: &str| {
        request.headers().get_all(name).iter().any(|v| {
            v.to_str()
                .map(|s| {
                    s.split(',')
                        .any(|part| part.trim().eq_ignore_ascii_case(token))
                })
                .unwrap_or(false)
        })
    };
    request.method() == Method::GET
        && has(hyper::header::UPGRADE, "websocket")
        && has(hyper::header::CONNECTION, "upgrade")
}
