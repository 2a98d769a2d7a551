//! [`ConnectOptions`]: how a client connects (headers, timeouts, subprotocols, TLS roots) and
//! the session it opens. Owns only the settings; `stream` and the clients apply them.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::core::stub::Stub;
use crate::session::SessionOptions;

/// How [`websocket::connect_with`](super::websocket::connect_with) and
/// [`http_batch::connect_with`](super::http_batch::connect_with) connect. Start from
/// [`ConnectOptions::default`] (no extra headers, no timeouts beyond the operating system's, the
/// default session options with the session closing when its main stub is dropped) and set what
/// you need:
///
/// ```
/// use std::time::Duration;
/// use tether::client::ConnectOptions;
/// use tether::server::http::{header, HeaderValue};
///
/// let options = ConnectOptions::default()
///     .header(header::COOKIE, HeaderValue::from_static("session=abc"))
///     .connect_timeout(Duration::from_secs(5))
///     .request_timeout(Duration::from_secs(30));
/// # drop(options);
/// ```
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    pub(super) headers: HeaderMap,
    pub(super) connect_timeout: Option<Duration>,
    pub(super) handshake_timeout: Option<Duration>,
    pub(super) request_timeout: Option<Duration>,
    pub(super) subprotocols: Vec<String>,
    pub(super) main: Option<Stub>,
    pub(super) session: SessionOptions,
    #[cfg(feature = "tls")]
    pub(super) tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            headers: HeaderMap::new(),
            connect_timeout: None,
            handshake_timeout: None,
            request_timeout: None,
            subprotocols: Vec::new(),
            main: None,
            session: SessionOptions {
                close_when_main_dropped: true,
                ..SessionOptions::default()
            },
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl ConnectOptions {
    /// Adds a header to the WebSocket handshake request or the batch `POST` (an auth token, a
    /// cookie); a name may be given more than once.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// How long opening the TCP connection may take (both transports). Default: the operating
    /// system's.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// WebSocket: how long the TLS and WebSocket handshakes may take once the TCP connection is
    /// open (a server that accepts but never answers the upgrade). Default: no limit.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = Some(timeout);
        self
    }

    /// HTTP batch: how long the exchange may take once the TCP connection is open: TLS, sending
    /// the batch, and reading the whole response (so it bounds the calls in the batch too).
    /// Default: no limit.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// WebSocket: the subprotocols offered in `Sec-WebSocket-Protocol` (the server must pick
    /// one of them, or the handshake fails). Cap'n Web itself uses none.
    pub fn subprotocols<S: Into<String>>(mut self, protocols: impl IntoIterator<Item = S>) -> Self {
        self.subprotocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Offers `main` to the server as this side's main object (for callbacks).
    pub fn main(mut self, main: Stub) -> Self {
        self.main = Some(main);
        self
    }

    /// The options of the session (limits, whether it closes when the main stub is dropped).
    pub fn session(mut self, session: SessionOptions) -> Self {
        self.session = session;
        self
    }

    /// The TLS settings for `wss://` and `https://` (feature `tls`), e.g. with the roots of a
    /// private CA. Default: the Mozilla roots of `webpki-roots`, with the `ring` provider.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls_config(mut self, config: std::sync::Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(config);
        self
    }
}
