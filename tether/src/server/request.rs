//! One HTTP request: a WebSocket upgrade becomes a session, a `POST` becomes a batch, anything
//! else gets 405.
//!
//! Owns the per-request checks (upgrade headers, batch limits) and the response headers. It does
//! not look inside messages: the session does.

use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::batch::run_batch;
use super::body::BodyLimits;
use super::live::{ConnectionGuard, Live};
use super::ServerOptions;
use crate::core::stub::Stub;
use crate::session::RpcSession;
use crate::transport::websocket::{accept_upgraded, DecodeBudget, ServerSocket};

pub(super) type MainFactory = Box<dyn Fn() -> Stub + Send + Sync>;

/// What every request of one server shares.
pub(super) struct Shared {
    main: MainFactory,
    pub(super) options: ServerOptions,
    pub(super) live: Arc<Live>,
    body: BodyLimits,
    socket: ServerSocket,
}

impl Shared {
    pub(super) fn new(main: MainFactory, options: ServerOptions, live: Arc<Live>) -> Self {
        let budget = options.max_buffered_batch_bytes.max(1);
        let body = BodyLimits {
            // A body larger than the whole budget could never be buffered.
            max_bytes: options.max_batch_body.min(budget),
            timeout: options.body_read_timeout,
            budget: Arc::new(Semaphore::new(budget.min(Semaphore::MAX_PERMITS))),
        };
        let socket = ServerSocket {
            max_message_size: options.session.limits.max_message_size,
            keepalive: options.keepalive,
            budget: DecodeBudget::new(options.max_decoding_bytes),
        };
        Self {
            main,
            options,
            live,
            body,
            socket,
        }
    }

    /// Answers one request. `connection` is the connection's place under the server's
    /// connection limit; an upgraded WebSocket keeps it until its session ends.
    pub(super) async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
        connection: Arc<(OwnedSemaphorePermit, ConnectionGuard)>,
    ) -> Response<Full<Bytes>> {
        if is_websocket_upgrade(&request) {
            return self.upgrade(request, connection);
        }
        if request.method() != Method::POST {
            return self.respond(
                StatusCode::METHOD_NOT_ALLOWED,
                "This endpoint only accepts POST or WebSocket requests.",
            );
        }
        let content_length = request
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let body = match self.body.read(request.into_body(), content_length).await {
            Ok(body) => body,
            Err((status, reason)) => return self.respond(status, &reason),
        };
        let Ok(text) = std::str::from_utf8(&body.bytes) else {
            return self.respond(StatusCode::BAD_REQUEST, "batch refused: body is not UTF-8");
        };
        let messages = text.split('\n').filter(|line| !line.is_empty()).count();
        if messages > self.options.max_batch_messages {
            return self.respond(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!(
                    "batch refused: {messages} messages, the limit is {}",
                    self.options.max_batch_messages
                ),
            );
        }
        let _live = self.live.track();
        match run_batch(text, (self.main)(), self.options.session.clone()).await {
            Ok(replies) => self.respond(StatusCode::OK, &replies),
            Err(error) => self.respond(StatusCode::BAD_REQUEST, &format!("batch aborted: {error}")),
        }
    }

    fn upgrade(
        self: Arc<Self>,
        mut request: Request<Incoming>,
        connection: Arc<(OwnedSemaphorePermit, ConnectionGuard)>,
    ) -> Response<Full<Bytes>> {
        let Some(key) = request.headers().get("sec-websocket-key") else {
            return self.respond(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key");
        };
        let accept = derive_accept_key(key.as_bytes());
        let shared = self.clone();
        let live = self.live.track();
        // Taken out here, so the task (alive as long as the session) does not keep the request.
        let on_upgrade = hyper::upgrade::on(&mut request);
        drop(request);
        tokio::spawn(async move {
            let _live = live;
            let _connection = connection;
            let upgraded = tokio::time::timeout(shared.options.upgrade_timeout, on_upgrade);
            let Ok(Ok(upgraded)) = upgraded.await else {
                return;
            };
            // Boxed: its state is needed only until the session starts, and would otherwise
            // make this task (which lives as long as the session) larger.
            let transport = Box::pin(accept_upgraded(TokioIo::new(upgraded), &shared.socket)).await;
            let (_client_main, driver) = RpcSession::open(
                transport,
                Some((shared.main)()),
                shared.options.session.clone(),
            );
            shared.live.add_session(driver.handle());
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
