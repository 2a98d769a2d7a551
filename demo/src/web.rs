//! The routes, all on one port: the page (`/`, `/app.js`), capnweb's browser build embedded at
//! build time (`/capnweb.js`, see `build.rs`), and the Cap'n Web endpoint (`/rpc`: WebSocket
//! sessions and HTTP batches) as a tether [`Endpoint`] in an axum [`Router`].

use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tether::server::{Cors, Endpoint, ServerOptions};

use crate::{DemoClient, Session, Shared};

const INDEX_HTML: &str = include_str!("../page/index.html");
const APP_JS: &str = include_str!("../page/app.js");
const CAPNWEB_JS: &str = include_str!(concat!(env!("OUT_DIR"), "/capnweb.js"));

/// Whether capnweb's browser build was missing when this binary was built (the page then says
/// how to fix it).
pub const CAPNWEB_MISSING: bool = option_env!("TETHER_DEMO_CAPNWEB_MISSING").is_some();

/// The RPC endpoint: a fresh [`Session`] for every WebSocket session and HTTP batch. With
/// `cors`, pages of those origins may call it too (and pages of other origins are refused).
pub fn endpoint(cors: Option<Cors>) -> Endpoint {
    let shared = Arc::new(Shared::default());
    Endpoint::new(
        move || DemoClient::serve(Session::new(shared.clone())).into_stub(),
        ServerOptions {
            cors,
            ..ServerOptions::default()
        },
    )
}

/// The whole application, with `rpc` mounted at `/rpc`.
pub fn app(rpc: Endpoint) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { text("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route("/app.js", get(|| async { text(JS, APP_JS) }))
        .route("/capnweb.js", get(|| async { text(JS, CAPNWEB_JS) }))
        .route_service("/rpc", rpc)
        .fallback(|| async { (StatusCode::NOT_FOUND, "Not found") })
}

const JS: &str = "text/javascript; charset=utf-8";

fn text(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}
