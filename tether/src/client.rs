//! Clients: connecting to a Cap'n Web server and opening a session over the connection.
//!
//! Owns the client side of each network transport: [`websocket::connect`] (one long session over
//! a WebSocket) and [`http_batch::connect`] (one batch per session). The transports themselves,
//! which only move frames, are in [`crate::transport`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let api = tether::client::websocket::connect("ws://127.0.0.1:8080/").await?;
//! let n = api.call("square", vec![7.into()]).await?;
//! assert_eq!(n.as_f64(), Some(49.0));
//! # Ok(()) }
//! ```

/// WebSocket clients.
pub mod websocket {
    use crate::core::stub::Stub;
    use crate::session::{RpcSession, SessionOptions};
    use crate::transport::websocket::{socket_config, to_error, WebSocketTransport};
    use crate::transport::TransportError;

    /// Connects to a Cap'n Web WebSocket server and returns its main stub. The session runs in the
    /// background and ends when the last clone of the returned stub is dropped (or the server goes).
    pub async fn connect(url: &str) -> Result<Stub, TransportError> {
        let options = SessionOptions {
            close_when_main_dropped: true,
            ..SessionOptions::default()
        };
        let (stub, _session) = connect_with(url, None, options).await?;
        Ok(stub)
    }

    /// [`connect`], offering `main` to the server (for callbacks) and with explicit options.
    /// Returns the server's main stub and the session's task.
    pub async fn connect_with(
        url: &str,
        main: Option<Stub>,
        options: SessionOptions,
    ) -> Result<(Stub, tokio::task::JoinHandle<crate::RpcResult<()>>), TransportError> {
        let config = socket_config(options.limits.max_message_size);
        let (socket, _response) =
            tokio_tungstenite::connect_async_with_config(url, Some(config), true)
                .await
                .map_err(to_error)?;
        Ok(RpcSession::spawn(
            WebSocketTransport::new(socket),
            main,
            options,
        ))
    }
}

/// HTTP batch clients.
pub mod http_batch {
    use crate::core::error::{RpcError, RpcResult};
    use crate::core::stub::Stub;
    use crate::session::{RpcSession, SessionOptions};
    use crate::transport::http_batch::ClientBatch;

    /// Starts an HTTP batch session with the server at `url` (`http://host:port/path`) and returns
    /// its main stub. Every call made before the first `.await` travels in one request; the session
    /// ends when the response has been processed, so await everything you need from that batch.
    ///
    /// ```no_run
    /// # async fn demo() -> tether::RpcResult<()> {
    /// let api = tether::client::http_batch::connect("http://127.0.0.1:8080/")?;
    /// let counter = api.call("makeCounter", vec![5.into()]);
    /// let value = counter.call("increment", vec![1.into()]).await?; // one request
    /// # Ok(()) }
    /// ```
    pub fn connect(url: &str) -> RpcResult<Stub> {
        let transport = ClientBatch::new(url).map_err(|e| RpcError::type_error(e.message()))?;
        let options = SessionOptions::default();
        let (stub, _task) = RpcSession::spawn(transport, None, options);
        Ok(stub)
    }
}
