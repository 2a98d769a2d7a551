//! Clients: connecting to a Cap'n Web server and opening a session over the connection.
//!
//! Owns the client side of each network transport: [`websocket::connect`] (one long session over
//! a WebSocket) and [`http_batch::connect`] (one batch per session), their [`ConnectOptions`]
//! (handshake headers, timeouts, subprotocols, TLS roots), and opening the TCP (and, with the
//! `tls` feature, TLS) connection both use (`stream`). The transports themselves, which only move
//! frames, are in [`crate::transport`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let api = tether::client::websocket::connect("ws://127.0.0.1:8080/").await?;
//! let n = api.call("square", vec![7.into()]).await?;
//! assert_eq!(n.as_f64(), Some(49.0));
//! # Ok(()) }
//! ```
//!
//! With options, e.g. a bearer token and bounded waits:
//!
//! ```no_run
//! use std::time::Duration;
//! use tether::client::{websocket, ConnectOptions};
//! use tether::server::http::{header, HeaderValue};
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let options = ConnectOptions::default()
//!     .header(header::AUTHORIZATION, HeaderValue::from_static("Bearer alice-secret"))
//!     .connect_timeout(Duration::from_secs(5))
//!     .handshake_timeout(Duration::from_secs(10));
//! let (api, _session) = websocket::connect_with("ws://127.0.0.1:3000/api", options).await?;
//! # Ok(()) }
//! ```

mod options;
mod stream;

pub use options::ConnectOptions;

/// WebSocket clients.
pub mod websocket {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
    use tokio_tungstenite::tungstenite::http::HeaderValue;

    use super::{stream, ConnectOptions};
    use crate::core::stub::Stub;
    use crate::session::RpcSession;
    use crate::transport::websocket::{socket_config, to_error, WebSocketTransport};
    use crate::transport::{Transport, TransportError, TransportErrorKind};

    /// Connects to a Cap'n Web WebSocket server (`ws://`, or `wss://` with the `tls` feature) and
    /// returns its main stub. The session runs in the background and ends when the last clone of
    /// the returned stub is dropped (or the server goes).
    pub async fn connect(url: &str) -> Result<Stub, TransportError> {
        let (stub, _session) = connect_with(url, ConnectOptions::default()).await?;
        Ok(stub)
    }

    /// [`connect`] with [`ConnectOptions`]: extra handshake headers, subprotocols, timeouts, a
    /// main object offered to the server (for callbacks), session options, TLS roots. Returns
    /// the server's main stub and the session's task.
    ///
    /// A timeout fails with [`TransportErrorKind::Timeout`] and a message naming the option.
    pub async fn connect_with(
        url: &str,
        options: ConnectOptions,
    ) -> Result<(Stub, tokio::task::JoinHandle<crate::RpcResult<()>>), TransportError> {
        let socket = transport(url, &options).await?;
        Ok(RpcSession::spawn(socket, options.main, options.session))
    }

    /// The WebSocket alone, connected with `options` (headers, subprotocols, timeouts, TLS), to
    /// open the session yourself (e.g. over a wrapper that traces frames).
    pub async fn transport(
        url: &str,
        options: &ConnectOptions,
    ) -> Result<impl Transport, TransportError> {
        let mut request = url.into_client_request().map_err(to_error)?;
        for (name, value) in &options.headers {
            request.headers_mut().append(name, value.clone());
        }
        if !options.subprotocols.is_empty() {
            let offered = options.subprotocols.join(", ");
            let value = HeaderValue::from_str(&offered).map_err(|_| {
                TransportError::new(
                    TransportErrorKind::Connect,
                    format!("invalid WebSocket subprotocols: {offered:?}"),
                )
            })?;
            request.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, value);
        }
        let target = stream::Target::parse(request.uri(), stream::Scheme::WebSocket)?;
        let tcp = target.connect(options.connect_timeout).await?;
        let config = socket_config(options.session.limits.max_message_size);
        let handshake = async {
            let io = target.secure(tcp, options).await?;
            tokio_tungstenite::client_async_with_config(request, io, Some(config))
                .await
                .map_err(|e| {
                    let error = to_error(e);
                    TransportError::new(
                        error.kind(),
                        format!("WebSocket handshake with {url} failed: {error}"),
                    )
                })
        };
        let (socket, _response) = stream::within(
            options.handshake_timeout,
            "handshake_timeout",
            &format!("the WebSocket handshake with {url}"),
            handshake,
        )
        .await?;
        Ok(WebSocketTransport::new(socket))
    }
}

pub mod http_batch;
