//! # tether
//!
//! Object-capability RPC with explicit lifecycles, speaking the wire protocol of Cap'n Web (the
//! npm package `capnweb`), so Rust and JavaScript peers talk to each other in both directions.
//!
//! A program exposes objects as [`Target`]s; a peer holding a [`Stub`] calls their methods. Calls
//! return [`RpcPromise`]s, which can be used before they resolve: a chain of dependent calls costs
//! one round trip. Every remote reference has an explicit lifecycle, and Rust ownership is that
//! lifecycle: `Clone` duplicates a stub, passing it by value transfers it, and `Drop` disposes it.
//! A target's disposer runs exactly when the last stub of its lineage is gone.
//!
//! ```
//! use std::sync::atomic::{AtomicI64, Ordering};
//! use tether::{transport::memory, RpcResult, RpcSession, SessionOptions};
//!
//! #[tether::interface]
//! pub trait Counter {
//!     async fn increment(&self, by: Option<i64>) -> i64;
//! }
//!
//! #[tether::interface]
//! pub trait Api {
//!     async fn make_counter(&self, start: i64) -> CounterClient;
//! }
//!
//! struct Count(AtomicI64);
//! impl Counter for Count {
//!     async fn increment(&self, by: Option<i64>) -> i64 {
//!         self.0.fetch_add(by.unwrap_or(1), Ordering::SeqCst) + by.unwrap_or(1)
//!     }
//! }
//!
//! struct Server;
//! impl Api for Server {
//!     async fn make_counter(&self, start: i64) -> CounterClient {
//!         CounterClient::serve(Count(AtomicI64::new(start)))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> RpcResult<()> {
//! // Two ends of an in-process connection; over a network, use `transport::websocket`.
//! let (client_end, server_end) = memory::pair();
//! let main = ApiClient::serve(Server).into_stub();
//! let (_, _server) = RpcSession::spawn(server_end, Some(main), SessionOptions::default());
//! let (remote, _client) = RpcSession::spawn(client_end, None, SessionOptions::default());
//! let api = ApiClient::from_stub(remote);
//!
//! // The counter is used before it has arrived: both calls travel at once, one round trip.
//! let value = api.make_counter(10).increment(Some(5)).await?;
//! assert_eq!(value, 15);
//! # Ok(()) }
//! ```
//!
//! Streams and the Fetch API types cross like any value: a method may take or return a
//! [`ReadableStream`] (a `futures::Stream`; `AsyncRead` for bytes), a [`WritableStream`] (a
//! `futures::Sink`; `AsyncWrite` for bytes), a [`Request`] or [`Response`] (`http` types with a
//! streamed [`Body`]), [`Headers`], a [`Url`] or a [`Blob`]. Writes are kept within a window that
//! adapts to the link, so a slow reader holds the writer back and a fast link stays busy; a
//! stream that was received can be returned or passed on, and its data flows end to end.
//!
//! Underneath, the dynamic API is the escape hatch: a [`Target`] dispatches calls by member
//! name, [`Stub::call`] takes and returns [`Value`]s.
//!
//! ## Layout
//!
//! In dependency order: each module uses only those above it. The one knot, values holding
//! stubs and settled stubs holding values, is kept inside `core`.
//!
//! | module | owns | uses |
//! | --- | --- | --- |
//! | `rt` | (internal) spawning, [`BoxFuture`], the storage of the uncaught-error hook | — |
//! | [`dispose`] | `Disposable`/`AsyncDisposable`, `DisposableStack`/`AsyncDisposableStack`, timers, `run_until_signal`; usable without the RPC part | `rt` |
//! | [`context`] | [`context::CallContext`]: the execution context of an incoming call, `wait_until` | `rt` |
//! | `core` | (internal; its types are re-exported here) the object model: [`Value`], [`RpcError`], [`Limits`], [`Target`], [`Stub`]/[`RpcPromise`], the hooks behind them, imports and their mailbox to the session, `map()` (`core::map`: the mapper program, recording, replay), streams ([`ReadableStream`], [`WritableStream`], the pipe, flow control: `core::stream`) and the Fetch API types ([`Request`], [`Response`], [`Headers`], [`Url`], [`Blob`]: `core::fetch`). **An incoming call reaches a [`Target`] in `core::hook`** (`local_call`) | `rt`, `dispose`, `context` |
//! | `wire` | (internal) the codec between Cap'n Web JSON text and the object model | `core` |
//! | [`transport`] | the [`transport::Transport`] trait (frames in, frames out), the in-process pair, the WebSocket and HTTP batch adapters | `rt`; `wire` for one estimate (what decoding a frame may cost, for a server's decode budget) |
//! | [`session`] | [`RpcSession`]: one connection, the task that owns its import and export tables | `core`, `wire`, `transport` |
//! | [`client`] | **where clients connect**: `client::websocket::connect`, `client::http_batch::connect`, their [`client::ConnectOptions`] (headers, timeouts, subprotocols, TLS roots), opening TCP/TLS connections | `session`, `transport` |
//! | [`server`] | **where requests are served**: the [`server::Endpoint`] (a `tower` service: WebSocket upgrades and HTTP batches on one route, the factory that sees each request, CORS), `serve`/`spawn` over it (TLS termination with the `tls` feature), server limits, counts, graceful shutdown | `session`, `transport` |
//! | `axum` | (feature `axum`) `tether::axum::endpoint` for `Router::route_service`, `Refusal` as an axum response | `server` |
//! | [`typed`] | the typed API's runtime (serde bridge, typed promises); the macro is [`interface`] | the public types of `core` (never hooks or sessions) |
//! | [`guide_lifecycles`] | the guide "Lifecycles in tether": every rule L1-L12 with a runnable example | — |
//! | [`guide_security`] | serving browsers safely: what tether limits by default, what to configure | — |
//! | [`guide_quickstart`], [`guide_pipelining`], [`guide_deployment`] | the guides "Quickstart" (interface, server, clients in Rust and JavaScript), "Pipelining and map" (what travels, with the frames), "Deployment behind a load balancer" (affinity, timeouts, `X-Forwarded-For`, connections) | — |
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `net` | yes | the WebSocket and HTTP batch transports, [`client`], and [`server`] (the `tower` [`server::Endpoint`], `serve`) |
//! | `signal` | yes | [`dispose::run_until_signal`] and [`dispose::ShutdownSignal`]: a clean exit on SIGINT/SIGTERM |
//! | `axum` | no | `tether::axum`: the endpoint on a route of an axum `Router`; [`server::peer_addr`] reads axum's `ConnectInfo` |
//! | `tls` | no | `wss://` and `https://` in both clients (rustls with `ring`, webpki roots or the caller's) and `ServerOptions::tls` to terminate TLS in `serve` |
//! | `bench-internals` | no | not part of the API: the codec's entry points for `bench/parse` |
//!
//! ## Lifecycle rules in Rust
//!
//! | rule | mechanism |
//! | --- | --- |
//! | a stub keeps its target alive; disposing it releases (L1, L2) | `Drop` queues a `release`; [`Stub::dispose`] consumes the stub, so double disposal cannot compile |
//! | `dup()` (L3) | `Clone` (or [`Stub::dup`]) |
//! | one lineage per wrapping (L4) | [`Stub::new`] / [`Stub::from_arc`] start a lineage; clones share it |
//! | passing a stub transfers it (L5) | arguments are moved; clone to keep a copy |
//! | parameters released at return (L6) | a target's `call` owns its `args`: whatever it does not store is dropped when it returns |
//! | results own their stubs (L7) | the [`Value`] from `.await` owns its stubs; drop it to release them all |
//! | disposers run asynchronously; failures go to a hook (L8) | [`Target::dispose`] is spawned; see [`set_uncaught_error_hook`] |
//! | disconnection (L10) | the session task cancels handlers, releases exports, breaks imports ([`Stub::on_broken`]) |
//! | an unawaited promise can be disposed (L12) | dropping an [`RpcPromise`] sends its `release` |

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
#[cfg(feature = "net")]
#[cfg_attr(docsrs, doc(cfg(feature = "net")))]
pub mod client;
pub mod context;
mod core;
pub mod dispose;
#[cfg(feature = "net")]
#[doc = include_str!("guide_deployment.md")]
pub mod guide_deployment {}
#[doc = include_str!("guide_lifecycles.md")]
pub mod guide_lifecycles {}
#[doc = include_str!("guide_pipelining.md")]
pub mod guide_pipelining {}
#[cfg(feature = "net")]
#[doc = include_str!("guide_quickstart.md")]
pub mod guide_quickstart {}
#[doc = include_str!("guide_security.md")]
pub mod guide_security {}
pub(crate) mod rt;
#[cfg(feature = "net")]
#[cfg_attr(docsrs, doc(cfg(feature = "net")))]
pub mod server;
pub mod session;
pub mod transport;
pub mod typed;
pub(crate) mod wire;

/// Not part of the API: the codec's entry points for the parse micro-benchmark (`bench/parse`).
#[cfg(feature = "bench-internals")]
#[doc(hidden)]
pub use wire::bench as bench_internals;

pub use crate::core::{
    set_uncaught_error_hook, BigInt, Blob, Body, Bytes, BytesKind, Chunk, ErrorKind, FetchInit,
    Headers, Limits, Object, ReadableStream, Request, Response, RpcError, RpcPromise, RpcResult,
    StatusText, Stub, Target, Url, Value, WritableStream,
};
pub use rt::BoxFuture;
pub use session::{RpcSession, SessionDriver, SessionHandle, SessionOptions};

/// Declares an RPC interface as a Rust trait: one definition gives the trait, a server adapter
/// (`{Trait}Server`) and a typed client (`{Trait}Client`). See [`typed`] and the `tether-macros` crate.
pub use tether_macros::interface;

/// The README's code blocks, compiled as doc tests so they cannot rot (its first server is an
/// axum app: they need the `axum` feature, which `cargo test --workspace` enables through the
/// axum example).
#[doc = include_str!("../../README.md")]
#[cfg(all(doctest, feature = "axum"))]
pub struct ReadmeDoctests;
