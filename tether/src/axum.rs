//! Mounting tether in an [axum](https://docs.rs/axum) application (feature `axum`).
//!
//! Owns only the glue: [`endpoint`] builds a [`server::Endpoint`](crate::server::Endpoint)
//! for `Router::route_service`, and [`Refusal`] becomes an axum response so middleware can
//! refuse the same way a factory does. Everything a request does is the endpoint's; this module
//! adds no behaviour of its own.
//!
//! One line mounts WebSocket sessions and HTTP batches on a route; layers on that route apply to
//! both alike (an auth middleware refuses before a WebSocket is upgraded), and what middleware
//! puts in the request's extensions reaches the factory. The peer address from
//! `into_make_service_with_connect_info::<SocketAddr>()` is readable with
//! [`server::peer_addr`](crate::server::peer_addr).
//!
//! ```no_run
//! use axum::{extract::Request, middleware::Next, response::Response, routing::get, Router};
//! use tether::server::{http::StatusCode, Refusal};
//!
//! #[tether::interface]
//! pub trait Greeter {
//!     async fn hello(&self) -> String;
//! }
//!
//! /// Who a session is for: its capability is made for that user only.
//! #[derive(Clone)]
//! struct User(String);
//!
//! struct Greetings(User);
//! impl Greeter for Greetings {
//!     async fn hello(&self) -> String {
//!         format!("hello, {}", self.0 .0)
//!     }
//! }
//!
//! /// An ordinary axum middleware: it runs before the batch or the upgrade.
//! async fn require_token(mut request: Request, next: Next) -> Result<Response, Refusal> {
//!     let user = match request.headers().get("authorization").and_then(|v| v.to_str().ok()) {
//!         Some("Bearer alice-secret") => User("alice".into()),
//!         _ => return Err(Refusal::new(StatusCode::UNAUTHORIZED, "bad token")),
//!     };
//!     request.extensions_mut().insert(user);
//!     Ok(next.run(request).await)
//! }
//!
//! # async fn demo() -> std::io::Result<()> {
//! let app = Router::new()
//!     .route_service(
//!         "/api",
//!         tether::axum::endpoint(|request| {
//!             let user = request.extensions.get::<User>().cloned().ok_or_else(|| {
//!                 Refusal::new(StatusCode::UNAUTHORIZED, "no user")
//!             })?;
//!             Ok(GreeterClient::serve(Greetings(user)).into_stub())
//!         }),
//!     )
//!     // Guards the routes above it: the batch and the upgrade alike.
//!     .route_layer(axum::middleware::from_fn(require_token))
//!     .route("/", get(|| async { "the rest of the application" }));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! For a graceful shutdown, keep a clone of the endpoint and call
//! [`Endpoint::shutdown`](crate::server::Endpoint::shutdown) once `axum::serve` has returned:
//! WebSocket sessions outlive the HTTP connections axum tracks.

use ::axum::response::{IntoResponse, Response};
use http::request::Parts;

pub use crate::server::Refusal;
use crate::server::{Endpoint, ServerOptions};
use crate::Stub;

/// An endpoint for `Router::route_service` whose main objects `factory` makes from each request
/// (or refuses), with [`ServerOptions::default`]'s limits. The same as
/// [`Endpoint::from_request`]; use that to set options.
pub fn endpoint(
    factory: impl Fn(&Parts) -> Result<Stub, Refusal> + Send + Sync + 'static,
) -> Endpoint {
    Endpoint::from_request(factory, ServerOptions::default())
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        self.into_http().into_response()
    }
}
