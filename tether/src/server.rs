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
use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

use crate::session::{RpcSession, SessionOptions};
use crate::stub::Stub;
use crate::transport::http_batch::run_batch;
use crate::transport::websocket::{socket_config, WebSocketTransport};

/// Server settings.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// Options for every session (limits, stack exposure).
    pub session: SessionOptions,
    /// Extra headers on every HTTP response (batch replies, 405s), e.g. CORS headers.
    pub response_headers: Vec<(String, String)>,
}

/// Serves Cap'n Web on `listener` until it fails: WebSocket upgrades and HTTP batch `POST`s on
/// every path. `main` makes the main object for each new session.
pub async fn serve(
    listener: TcpListener,
    main: impl Fn() -> Stub + Send + Sync + 'static,
    options: ServerOptions,
) -> std::io::Result<()> {
    let shared = Arc::new(Shared {
        main: Box::new(main),
        options,
    });
    loop {
        let (stream, _peer) = listener.accept().await?;
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
}

type MainFactory = Box<dyn Fn() -> Stub + Send + Sync>;

struct Shared {
    main: MainFactory,
    options: ServerOptions,
}

impl Shared {
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
        tokio::spawn(async move {
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
