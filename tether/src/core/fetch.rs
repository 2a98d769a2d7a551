//! The Fetch API types Cap'n Web carries by value: `URL`, `Headers`, `Request`, `Response`,
//! `Blob`, and the [`Body`] of a request or response.
//!
//! [`Request`] and [`Response`] are `http::Request<Body>` and `http::Response<Body>` (they
//! dereference to them), so they read as native Rust HTTP types; they are wrappers only because
//! a foreign type cannot implement the serde traits the typed API uses. Headers are an
//! [`http::HeaderMap`]: duplicate names and their order are kept, as the wire's list of pairs.
//! A body may be streamed ([`Body::Stream`], a [`ReadableStream`] of byte chunks).
//!
//! This module owns the types and their conversions; their wire forms are `wire`'s.

use std::ops::{Deref, DerefMut};

use futures_util::StreamExt;
use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;

use crate::core::error::{RpcError, RpcResult};
use crate::core::stream::ReadableStream;
use crate::core::value::Object;

/// A `URL`, kept as the text of its `href` (what JavaScript serializes).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Url(String);

impl Url {
    /// A URL from its text. Fails unless it parses as an absolute URI.
    pub fn parse(href: impl Into<String>) -> RpcResult<Self> {
        let href = href.into();
        let uri: http::Uri = href
            .parse()
            .map_err(|e| RpcError::type_error(format!("Invalid URL '{href}': {e}")))?;
        if uri.scheme().is_none() {
            return Err(RpcError::type_error(format!("Invalid URL '{href}'")));
        }
        Ok(Self(href))
    }

    /// A URL from text the peer sent (not checked: the peer's `URL` already parsed it).
    pub(crate) fn from_wire(href: String) -> Self {
        Self(href)
    }

    /// The whole URL (`href`).
    pub fn href(&self) -> &str {
        &self.0
    }

    /// The URL as an [`http::Uri`], for its parts (`host`, `path`, `query`).
    pub fn to_uri(&self) -> RpcResult<http::Uri> {
        self.0
            .parse()
            .map_err(|e| RpcError::type_error(format!("Invalid URL '{}': {e}", self.0)))
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A `Headers` object: an [`http::HeaderMap`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(pub HeaderMap);

impl Headers {
    /// The headers from `[name, value]` pairs, as the wire carries them. Names are lowercased;
    /// an invalid name or value is a `TypeError`, as JavaScript's `Headers` constructor throws.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> RpcResult<Self> {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            let name = HeaderName::try_from(name)
                .map_err(|_| RpcError::type_error(format!("Invalid header name: '{name}'")))?;
            let value = HeaderValue::try_from(value)
                .map_err(|_| RpcError::type_error(format!("Invalid header value for '{name}'")))?;
            map.append(name, value);
        }
        Ok(Self(map))
    }

    /// The `[name, value]` pairs, in order (values that are not text are read as Latin-1, as
    /// JavaScript's byte strings are).
    pub fn pairs(&self) -> impl Iterator<Item = (&str, String)> {
        self.0
            .iter()
            .map(|(name, value)| (name.as_str(), header_text(value)))
    }
}

fn header_text(value: &HeaderValue) -> String {
    match value.to_str() {
        Ok(text) => text.to_owned(),
        Err(_) => value.as_bytes().iter().map(|&b| char::from(b)).collect(),
    }
}

impl Deref for Headers {
    type Target = HeaderMap;
    fn deref(&self) -> &HeaderMap {
        &self.0
    }
}

impl DerefMut for Headers {
    fn deref_mut(&mut self) -> &mut HeaderMap {
        &mut self.0
    }
}

impl From<HeaderMap> for Headers {
    fn from(map: HeaderMap) -> Self {
        Self(map)
    }
}

/// The body of a [`Request`] or [`Response`]: nothing, text, bytes, or a stream of byte chunks.
#[derive(Clone, Debug, Default)]
pub enum Body {
    /// No body (`null`).
    #[default]
    Empty,
    /// A text body.
    Text(String),
    /// A body of bytes.
    Bytes(bytes::Bytes),
    /// A streamed body.
    Stream(ReadableStream<bytes::Bytes>),
}

impl Body {
    /// Reads the whole body.
    pub async fn bytes(self) -> RpcResult<bytes::Bytes> {
        match self {
            Body::Empty => Ok(bytes::Bytes::new()),
            Body::Text(text) => Ok(text.into()),
            Body::Bytes(bytes) => Ok(bytes),
            Body::Stream(mut stream) => {
                let mut all = Vec::new();
                while let Some(chunk) = stream.next().await {
                    all.extend_from_slice(&chunk?);
                }
                Ok(all.into())
            }
        }
    }

    /// Reads the whole body as UTF-8 text (invalid sequences replaced, as `text()` does).
    pub async fn text(self) -> RpcResult<String> {
        match self {
            Body::Text(text) => Ok(text),
            other => Ok(String::from_utf8_lossy(&other.bytes().await?).into_owned()),
        }
    }

    /// The body as a stream of byte chunks.
    pub fn into_stream(self) -> ReadableStream<bytes::Bytes> {
        match self {
            Body::Stream(stream) => stream,
            Body::Empty => ReadableStream::from_chunks(Vec::new()),
            Body::Text(text) => ReadableStream::from_chunks([bytes::Bytes::from(text)]),
            Body::Bytes(bytes) => ReadableStream::from_chunks([bytes]),
        }
    }

    /// True for [`Body::Empty`].
    pub fn is_empty(&self) -> bool {
        matches!(self, Body::Empty)
    }
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        Body::Text(text)
    }
}

impl From<&str> for Body {
    fn from(text: &str) -> Self {
        Body::Text(text.to_owned())
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Body::Bytes(bytes.into())
    }
}

impl From<bytes::Bytes> for Body {
    fn from(bytes: bytes::Bytes) -> Self {
        Body::Bytes(bytes)
    }
}

impl From<ReadableStream<bytes::Bytes>> for Body {
    fn from(stream: ReadableStream<bytes::Bytes>) -> Self {
        Body::Stream(stream)
    }
}

/// The members of a `RequestInit` or `ResponseInit` tether has no field for (`mode`,
/// `credentials`, `cf`, …): kept as sent, in the message's extensions, so they travel on.
#[derive(Clone, Debug, Default)]
pub struct FetchInit(pub Object);

/// A `Request`: an [`http::Request`] with a [`Body`]. Build one with `http::Request::builder()`
/// and `.into()`.
///
/// ```
/// let request: tether::Request = http::Request::post("https://example.com/upload")
///     .header("content-type", "text/plain")
///     .body(tether::Body::from("hello"))
///     .unwrap()
///     .into();
/// assert_eq!(request.method(), "POST");
/// ```
#[derive(Debug)]
pub struct Request(pub http::Request<Body>);

/// A `Response`: an [`http::Response`] with a [`Body`]. The status text, if any, is kept in the
/// extensions as a [`StatusText`].
#[derive(Debug)]
pub struct Response(pub http::Response<Body>);

/// A response's `statusText`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusText(pub String);

impl Request {
    /// Takes the [`http::Request`] out.
    pub fn into_http(self) -> http::Request<Body> {
        self.0
    }
}

impl Response {
    /// A response with `status` and `body` and no headers.
    pub fn new(status: u16, body: impl Into<Body>) -> RpcResult<Self> {
        let mut response = http::Response::new(body.into());
        *response.status_mut() = http::StatusCode::from_u16(status)
            .map_err(|_| RpcError::range_error(format!("Invalid status code: {status}")))?;
        Ok(Self(response))
    }

    /// Takes the [`http::Response`] out.
    pub fn into_http(self) -> http::Response<Body> {
        self.0
    }
}

macro_rules! http_wrapper {
    ($wrapper:ident, $inner:ty) => {
        impl Deref for $wrapper {
            type Target = $inner;
            fn deref(&self) -> &$inner {
                &self.0
            }
        }
        impl DerefMut for $wrapper {
            fn deref_mut(&mut self) -> &mut $inner {
                &mut self.0
            }
        }
        impl From<$inner> for $wrapper {
            fn from(inner: $inner) -> Self {
                Self(inner)
            }
        }
        impl From<$wrapper> for $inner {
            fn from(wrapper: $wrapper) -> Self {
                wrapper.0
            }
        }
        impl Clone for $wrapper {
            /// Another handle on the same message; a streamed body is shared (read once).
            fn clone(&self) -> Self {
                Self(self.0.clone())
            }
        }
    };
}

http_wrapper!(Request, http::Request<Body>);
http_wrapper!(Response, http::Response<Body>);

/// A `Blob`: a MIME type and bytes. It always travels through a pipe (as capnweb sends it); a
/// received blob reaches application code once all its bytes have arrived.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Blob {
    /// The MIME type (`blob.type`); may be empty.
    pub mime: String,
    /// The contents.
    pub data: bytes::Bytes,
}

impl Blob {
    /// A blob of `data` with MIME type `mime`.
    pub fn new(mime: impl Into<String>, data: impl Into<bytes::Bytes>) -> Self {
        Self {
            mime: mime.into(),
            data: data.into(),
        }
    }
}
