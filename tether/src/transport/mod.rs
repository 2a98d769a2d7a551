//! Transports: how messages travel. A transport is just a stream of incoming text messages plus
//! a sink of outgoing ones; one item is one Cap'n Web message.
//!
//! Owns the [`Transport`] trait, its error type, and the in-process pair ([`memory::pair`]) used
//! by tests, examples and docs. Network adapters (WebSocket, HTTP batch) live beside it and must
//! not reach into sessions: they only move strings.

#[cfg(feature = "net")]
pub(crate) mod http_batch;
pub mod memory;
pub mod tap;
#[cfg(feature = "net")]
pub mod websocket;

use std::fmt;

use futures_util::{Sink, Stream};

/// A failure of the transport itself (not of a call).
#[derive(Debug, Clone)]
pub struct TransportError(pub String);

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TransportError {}

/// A bidirectional message channel: a `Stream` of received messages and a `Sink` for sent ones.
/// The stream ending means the peer is gone. Implemented for anything with that shape.
pub trait Transport:
    Stream<Item = Result<String, TransportError>>
    + Sink<String, Error = TransportError>
    + Send
    + Unpin
    + 'static
{
}

impl<T> Transport for T where
    T: Stream<Item = Result<String, TransportError>>
        + Sink<String, Error = TransportError>
        + Send
        + Unpin
        + 'static
{
}
