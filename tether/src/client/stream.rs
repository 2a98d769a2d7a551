//! Opening a client connection: the host and port from the URL, TCP (TCP_NODELAY on) within the
//! connect timeout, and TLS for `wss://` and `https://` (feature `tls`).
//!
//! Owns only bytes: what goes over the connection (WebSocket frames, an HTTP batch) is the
//! clients' business.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::ConnectOptions;
use crate::transport::{TransportError, TransportErrorKind};

/// Which kind of URL a client takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Scheme {
    /// `ws://` or `wss://`.
    WebSocket,
    /// `http://` or `https://`.
    Http,
}

/// Where a client connects.
#[derive(Clone, Debug)]
pub(super) struct Target {
    /// The host as in the URL (IPv6 without brackets).
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) tls: bool,
    /// `host[:port]` as in the URL, for the `Host` header.
    pub(super) authority: String,
}

fn connect_error(message: String) -> TransportError {
    TransportError::new(TransportErrorKind::Connect, message)
}

impl Target {
    pub(super) fn parse(uri: &Uri, scheme: Scheme) -> Result<Self, TransportError> {
        let tls = match (scheme, uri.scheme_str()) {
            (Scheme::WebSocket, Some("ws")) | (Scheme::Http, Some("http")) => false,
            (Scheme::WebSocket, Some("wss")) | (Scheme::Http, Some("https")) => true,
            (Scheme::WebSocket, _) => {
                return Err(connect_error(format!("not a ws:// or wss:// URL: {uri}")))
            }
            (Scheme::Http, _) => {
                return Err(connect_error(format!(
                    "not an http:// or https:// URL: {uri}"
                )))
            }
        };
        if tls && !cfg!(feature = "tls") {
            return Err(connect_error(format!(
                "{uri}: TLS needs tether's `tls` feature"
            )));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| connect_error(format!("no host in {uri}")))?;
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        Ok(Self {
            host: host.to_owned(),
            port: authority.port_u16().unwrap_or(if tls { 443 } else { 80 }),
            tls,
            authority: authority.as_str().to_owned(),
        })
    }

    /// Opens the TCP connection, within `timeout` if given.
    pub(super) async fn connect(
        &self,
        timeout: Option<Duration>,
    ) -> Result<TcpStream, TransportError> {
        let address = format!("{}:{}", self.host, self.port);
        let stream = within(
            timeout,
            "connect_timeout",
            &format!("connecting to {address}"),
            async {
                TcpStream::connect((self.host.as_str(), self.port))
                    .await
                    .map_err(|e| connect_error(format!("cannot connect to {address}: {e}")))
            },
        )
        .await?;
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }

    /// The connection as the client speaks over it: TLS on top if the URL asked for it.
    pub(super) async fn secure(
        &self,
        tcp: TcpStream,
        options: &ConnectOptions,
    ) -> Result<Stream, TransportError> {
        if !self.tls {
            let _ = options;
            return Ok(Stream::Plain(tcp));
        }
        #[cfg(feature = "tls")]
        {
            tls::connect(self, tcp, options).await
        }
        #[cfg(not(feature = "tls"))]
        {
            Err(connect_error("TLS needs tether's `tls` feature".to_owned()))
        }
    }
}

/// Runs `work` within `timeout` (if any); on expiry the error says what did not finish and names
/// the option that limits it.
pub(super) async fn within<T>(
    timeout: Option<Duration>,
    option: &str,
    what: &str,
    work: impl Future<Output = Result<T, TransportError>>,
) -> Result<T, TransportError> {
    let Some(timeout) = timeout else {
        return work.await;
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(result) => result,
        Err(_) => Err(TransportError::new(
            TransportErrorKind::Timeout,
            format!(
                "{what} did not complete within {} s ({option})",
                timeout.as_secs_f64()
            ),
        )),
    }
}

/// A client connection: plain TCP, or TLS over it.
pub(crate) enum Stream {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[cfg(feature = "tls")]
mod tls {
    use std::sync::{Arc, OnceLock};

    use rustls::pki_types::ServerName;
    use tokio::net::TcpStream;

    use super::{connect_error, ConnectOptions, Stream, Target};
    use crate::transport::TransportError;

    /// The default client settings: webpki roots, the `ring` provider.
    fn default_config() -> Result<Arc<rustls::ClientConfig>, TransportError> {
        static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
        CONFIG
            .get_or_init(|| {
                let roots = rustls::RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                };
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map(|builder| {
                        Arc::new(builder.with_root_certificates(roots).with_no_client_auth())
                    })
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(|e| connect_error(format!("TLS settings: {e}")))
    }

    pub(super) async fn connect(
        target: &Target,
        tcp: TcpStream,
        options: &ConnectOptions,
    ) -> Result<Stream, TransportError> {
        let config = match &options.tls {
            Some(config) => config.clone(),
            None => default_config()?,
        };
        let name = ServerName::try_from(target.host.clone())
            .map_err(|e| connect_error(format!("{}: not a TLS server name: {e}", target.host)))?;
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| {
                connect_error(format!(
                    "TLS handshake with {}:{} failed: {e}",
                    target.host, target.port
                ))
            })?;
        Ok(Stream::Tls(Box::new(stream)))
    }
}
