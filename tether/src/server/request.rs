//! One HTTP request: a WebSocket upgrade becomes a session, a `POST` becomes a batch, a CORS
//! preflight is answered, anything else gets 405.
//!
//! Owns the per-request checks (upgrade headers, the `Origin` an allow-list refuses, batch
//! limits), when the factory is asked for the main object (before anything is read or upgraded),
//! the subprotocol an upgrade answers with, and the response headers. It does not
//! look inside messages: the session does.

use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::{Body, Bytes};
use hyper_util::rt::TokioIo;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::accept::ConnectionSlot;
use super::batch;
use super::body::BodyLimits;
use super::endpoint::{Factory, ResponseBody};
use super::live::Live;
use super::ServerOptions;
use crate::session::RpcSession;
use crate::transport::websocket::{accept_upgraded, DecodeBudget, ServerSocket};

/// What every request of one endpoint (and its clones) shares.
pub(crate) struct Shared {
    factory: Factory,
    pub(super) options: ServerOptions,
    pub(super) live: Arc<Live>,
    body: BodyLimits,
    socket: ServerSocket,
}

/// How the responses to one request are dressed: the endpoint's extra headers and, for an
/// allowed origin, `Access-Control-Allow-Origin`.
struct Dress<'a> {
    options: &'a ServerOptions,
    allow_origin: Option<HeaderValue>,
}

impl Dress<'_> {
    fn respond(&self, status: StatusCode, body: &str) -> Response<ResponseBody> {
        let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
        *response.status_mut() = status;
        self.apply(response.headers_mut());
        response
    }

    fn apply(&self, headers: &mut HeaderMap) {
        for (name, value) in &self.options.response_headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::try_from(name.as_str()),
                HeaderValue::from_str(value),
            ) {
                headers.append(name, value);
            }
        }
        if let Some(origin) = &self.allow_origin {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
}

impl Shared {
    pub(super) fn new(factory: Factory, options: ServerOptions) -> Self {
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
            factory,
            options,
            live: Arc::default(),
            body,
            socket,
        }
    }

    /// Answers one request. If it came through tether's own accept loop, its extensions hold the
    /// connection's place under the connection limit; an upgraded WebSocket keeps it until its
    /// session ends.
    pub(super) async fn handle<B>(self: Arc<Self>, request: Request<B>) -> Response<ResponseBody>
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: std::fmt::Display + Send,
    {
        let (parts, body) = request.into_parts();
        let allow_origin = self.options.cors.as_ref().and_then(|cors| {
            let origin = parts.headers.get(header::ORIGIN);
            cors.allow(origin)
        });
        let dress = Dress {
            options: &self.options,
            allow_origin,
        };
        let upgrade = is_websocket_upgrade(&parts.method, &parts.headers);
        if parts.method == Method::OPTIONS && !upgrade {
            if let Some(cors) = &self.options.cors {
                return match &dress.allow_origin {
                    Some(allow) => {
                        let mut response = Response::new(Full::new(Bytes::new()));
                        *response.status_mut() = StatusCode::NO_CONTENT;
                        *response.headers_mut() = cors.preflight(&parts.headers, allow.clone());
                        response
                    }
                    None => dress.respond(
                        StatusCode::FORBIDDEN,
                        "CORS preflight refused: this origin may not call this endpoint.",
                    ),
                };
            }
        }
        if !upgrade && parts.method != Method::POST {
            let mut response = dress.respond(
                StatusCode::METHOD_NOT_ALLOWED,
                "This endpoint only accepts POST or WebSocket requests.",
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
            return response;
        }
        if let Some(cors) = &self.options.cors {
            let origin = parts.headers.get(header::ORIGIN);
            if !cors.admits(origin, parts.headers.get(header::HOST)) {
                return dress.respond(
                    StatusCode::FORBIDDEN,
                    "refused: pages of this origin may not call this endpoint.",
                );
            }
        }
        if self.live.is_closing() {
            return dress.respond(StatusCode::SERVICE_UNAVAILABLE, super::SHUTDOWN_REASON);
        }
        let main = match (self.factory)(&parts) {
            Ok(main) => main,
            Err(refusal) => {
                let mut response = refusal.into_http();
                dress.apply(response.headers_mut());
                return response;
            }
        };
        if upgrade {
            return self.clone().upgrade(parts, main, &dress);
        }
        let content_length = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let body = match self.body.read(body, content_length).await {
            Ok(body) => body,
            Err((status, reason)) => return dress.respond(status, &reason),
        };
        let Ok(text) = std::str::from_utf8(&body.bytes) else {
            return dress.respond(StatusCode::BAD_REQUEST, "batch refused: body is not UTF-8");
        };
        let messages = text.split('\n').filter(|line| !line.is_empty()).count();
        if messages > self.options.max_batch_messages {
            return dress.respond(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!(
                    "batch refused: {messages} messages, the limit is {}",
                    self.options.max_batch_messages
                ),
            );
        }
        let _live = self.live.track();
        let peer = super::endpoint::peer_addr(&parts);
        match batch::run_traced(text, main, self.options.session.clone(), peer).await {
            Ok(replies) => dress.respond(StatusCode::OK, &replies),
            Err(error) => {
                dress.respond(StatusCode::BAD_REQUEST, &format!("batch aborted: {error}"))
            }
        }
    }

    fn upgrade(
        self: Arc<Self>,
        mut parts: Parts,
        main: crate::Stub,
        dress: &Dress<'_>,
    ) -> Response<ResponseBody> {
        let Some(key) = parts.headers.get("sec-websocket-key") else {
            return dress.respond(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key");
        };
        let accept = derive_accept_key(key.as_bytes());
        let protocol = select_subprotocol(&parts.headers, &self.options.subprotocols);
        let connection = parts.extensions.remove::<ConnectionSlot>();
        let peer = super::endpoint::peer_addr(&parts);
        let shared = self.clone();
        let live = self.live.track();
        // Taken out here, so the task (alive as long as the session) does not keep the request.
        let mut request = Request::from_parts(parts, ());
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
            let (_client_main, driver) =
                RpcSession::open(transport, Some(main), shared.options.session.clone());
            record_peer(&driver, "websocket", peer);
            shared
                .live
                .add_session(driver.handle(), shared.options.shutdown_grace);
            let _ = driver.await;
        });
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        if let Ok(value) = HeaderValue::from_str(&accept) {
            headers.insert("sec-websocket-accept", value);
        }
        if let Some(protocol) = protocol {
            headers.insert(header::SEC_WEBSOCKET_PROTOCOL, protocol);
        }
        response
    }
}

/// The subprotocol to answer with: the first one the client offers (in its order of preference)
/// that the server accepts. `None` if it offers none of them; the handshake then goes on without
/// one, and a client that offered some fails it (RFC 6455, section 4.2.2).
fn select_subprotocol(headers: &HeaderMap, accepted: &[String]) -> Option<HeaderValue> {
    if accepted.is_empty() {
        return None;
    }
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .find(|offered| accepted.iter().any(|a| a == offered))
        .and_then(|chosen| HeaderValue::from_str(chosen).ok())
}

/// Names the session's transport and peer in its `tracing` span.
pub(super) fn record_peer(
    driver: &crate::SessionDriver,
    transport: &'static str,
    peer: Option<std::net::SocketAddr>,
) {
    let span = driver.span();
    span.record("transport", transport);
    if let Some(peer) = peer {
        span.record("peer", tracing::field::display(peer));
    }
}

fn is_websocket_upgrade(method: &Method, headers: &HeaderMap) -> bool {
    let has = |name: HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .map(|s| {
                    s.split(',')
                        .any(|part| part.trim().eq_ignore_ascii_case(token))
                })
                .unwrap_or(false)
        })
    };
    method == Method::GET && has(header::UPGRADE, "websocket") && has(header::CONNECTION, "upgrade")
}
