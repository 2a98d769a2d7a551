//! HTTP batch clients: one session per `POST` to `http://` (or, with the `tls` feature,
//! `https://`) URLs, with the headers and timeouts of [`ConnectOptions`].
//!
//! Owns the request itself (connecting, the headers, the status check); gathering the messages
//! into one body and handing the replies to the session is the batch transport's job
//! (`transport::http_batch`).

use std::sync::Arc;

use http::{header, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;

use super::{stream, ConnectOptions};
use crate::core::error::{RpcError, RpcResult};
use crate::core::stub::Stub;
use crate::session::RpcSession;
use crate::transport::http_batch::{BatchReply, ClientBatch};
use crate::transport::{Transport, TransportError, TransportErrorKind};

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
    connect_with(url, ConnectOptions::default())
}

/// [`connect`] with [`ConnectOptions`]: extra request headers, the connect and request
/// timeouts, TLS roots, a main object offered to the server, session options. A failed request
/// (refused, timed out, an error status) breaks the calls of the batch with a disconnection
/// error carrying its message.
///
/// ```no_run
/// use tether::client::{http_batch, ConnectOptions};
/// use tether::server::http::{header, HeaderValue};
/// # async fn demo() -> tether::RpcResult<()> {
/// let options = ConnectOptions::default()
///     .header(header::AUTHORIZATION, HeaderValue::from_static("Bearer alice-secret"));
/// let api = http_batch::connect_with("http://127.0.0.1:3000/api", options)?;
/// let who = api.call("whoami", vec![]).await?;
/// # Ok(()) }
/// ```
pub fn connect_with(url: &str, options: ConnectOptions) -> RpcResult<Stub> {
    let main = options.main.clone();
    let session = options.session.clone();
    let transport = transport(url, options).map_err(|e| RpcError::type_error(e.message()))?;
    let (stub, _task) = RpcSession::spawn(transport, main, session);
    Ok(stub)
}

/// The batch transport alone, to open the session yourself (e.g. over a wrapper that traces
/// frames): messages are gathered until the application awaits, then sent in one `POST` to
/// `url` with `options`' headers and timeouts; the response's lines are the server's messages.
/// A failed request ends the stream with its error.
pub fn transport(url: &str, options: ConnectOptions) -> Result<impl Transport, TransportError> {
    let uri: Uri = url.parse().map_err(|e| {
        TransportError::new(
            TransportErrorKind::Connect,
            format!("invalid URL {url:?}: {e}"),
        )
    })?;
    let target = stream::Target::parse(&uri, stream::Scheme::Http)?;
    let path = uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    let request = Arc::new(BatchRequest {
        url: url.to_owned(),
        target,
        path,
        options,
    });
    Ok(ClientBatch::new(Box::new(move |body| {
        Box::pin(async move { request.post(body).await })
    })))
}

/// Where a batch goes and how.
struct BatchRequest {
    url: String,
    target: stream::Target,
    path: String,
    options: ConnectOptions,
}

impl BatchRequest {
    async fn post(&self, body: String) -> BatchReply {
        let tcp = self.target.connect(self.options.connect_timeout).await?;
        stream::within(
            self.options.request_timeout,
            "request_timeout",
            &format!("the batch request to {}", self.url),
            self.exchange(tcp, body),
        )
        .await
    }

    async fn exchange(&self, tcp: tokio::net::TcpStream, body: String) -> BatchReply {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            TransportError::new(
                TransportErrorKind::Io,
                format!("RPC batch request to {} failed: {what}: {e}", self.url),
            )
        };
        let io = self.target.secure(tcp, &self.options).await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
                .await
                .map_err(|e| fail("HTTP", &e))?;
        tokio::spawn(connection);
        let mut request = Request::post(self.path.as_str())
            .header(header::HOST, self.target.authority.as_str())
            .header(header::CONTENT_TYPE, "text/plain;charset=UTF-8")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| fail("building the request", &e))?;
        for (name, value) in &self.options.headers {
            request.headers_mut().append(name, value.clone());
        }
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| fail("sending", &e))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| fail("reading the response", &e))?
            .to_bytes();
        let text = String::from_utf8_lossy(&bytes);
        if !status.is_success() {
            return Err(fail(
                "the server answered",
                &format!("{status} {}", text.trim()),
            ));
        }
        Ok(text
            .split('\n')
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect())
    }
}
