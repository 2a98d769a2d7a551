//! Run: `cargo run -p http-proxy -- [PORT]` (default 8787), then from JavaScript:
//! `newWebSocketRpcSession("ws://127.0.0.1:8787/").fetch(new Request("http://example.com/"))`.
//!
//! An HTTP proxy over Cap'n Web RPC. The main object has one method, `fetch(request)`, which
//! sends the request to its origin with a real HTTP client (hyper, plain `http://`) and returns
//! the origin's response. Both bodies stream: the request body is read from the caller's
//! `ReadableStream` as the origin takes it, and the response body flows back as a
//! `ReadableStream` while it arrives, so a body of any size passes through with only the
//! stream's window in memory. Prints `listening PORT` once it accepts connections.

use std::io::Write;

use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::{BodyExt, BodyStream, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use tether::server::{serve, ServerOptions};
use tether::{Body, ReadableStream, Request, Response, RpcError};

/// What the proxy offers: `fetch`, as the Fetch API's.
#[tether::interface]
pub trait Proxy {
    /// Sends `request` to its origin and returns the response, bodies streamed.
    async fn fetch(&self, request: Request) -> Result<Response, RpcError>;
}

struct HyperProxy;

/// Headers that describe one hop, not the message: never forwarded.
const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

impl Proxy for HyperProxy {
    async fn fetch(&self, request: Request) -> Result<Response, RpcError> {
        let (mut parts, body) = request.into_http().into_parts();
        if parts.uri.scheme_str() != Some("http") {
            return Err(RpcError::type_error(format!(
                "This proxy fetches http:// URLs only, not {}",
                parts.uri
            )));
        }
        let authority = parts
            .uri
            .authority()
            .cloned()
            .ok_or_else(|| RpcError::type_error("The URL has no host."))?;
        let port = authority.port_u16().unwrap_or(80);
        let stream = tokio::net::TcpStream::connect((authority.host(), port))
            .await
            .map_err(|e| RpcError::type_error(format!("Cannot reach {authority}: {e}")))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| {
                RpcError::type_error(format!("HTTP handshake with {authority} failed: {e}"))
            })?;
        tokio::spawn(connection);

        for name in HOP_BY_HOP {
            parts.headers.remove(name);
        }
        parts.headers.remove(http::header::CONTENT_LENGTH);
        if let Ok(host) = authority.as_str().parse() {
            parts.headers.insert(http::header::HOST, host);
        }
        // Origin-form on the wire: the path and query only.
        parts.uri = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()
            .map_err(|e| RpcError::type_error(format!("Invalid path: {e}")))?;
        let outgoing = StreamBody::new(body.into_stream().map_ok(Frame::data));
        let response = sender
            .send_request(http::Request::from_parts(parts, outgoing))
            .await
            .map_err(|e| RpcError::type_error(format!("The origin failed: {e}")))?;

        let (mut parts, incoming) = response.into_parts();
        for name in HOP_BY_HOP {
            parts.headers.remove(name);
        }
        let chunks = BodyStream::new(incoming.map_err(|e| RpcError::type_error(e.to_string())))
            .try_filter_map(|frame| async move { Ok(frame.into_data().ok()) });
        let body = Body::Stream(ReadableStream::<Bytes>::new(chunks));
        Ok(http::Response::from_parts(parts, body).into())
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = match std::env::args().nth(1).map(|p| p.parse()) {
        None => 8787,
        Some(Ok(port)) => port,
        Some(Err(_)) => {
            eprintln!("usage: http-proxy [PORT]");
            std::process::exit(2);
        }
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let mut out = std::io::stdout();
    writeln!(out, "listening {}", listener.local_addr()?.port())?;
    out.flush()?;
    serve(
        listener,
        || ProxyClient::serve(HyperProxy).into_stub(),
        ServerOptions::default(),
    )
    .await
}
