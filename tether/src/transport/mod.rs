//! Transports: how frames travel. A transport is a stream of incoming [`Frame`]s plus a sink of
//! [`Outgoing`] items; one frame is one Cap'n Web message.
//!
//! Owns the [`Transport`] trait, its item types, its error type, and the in-process pair
//! ([`memory::pair`]) used by tests, examples and docs. Network adapters (WebSocket, with the
//! read-ahead reader a server puts under its sockets in `read_ahead`; HTTP batch) live beside it
//! and must not reach into sessions: they only move frames, and they learn that a
//! session aborted from an [`Outgoing::Close`] item, never by reading the messages. Clients open
//! sessions over them in [`crate::client`], servers in [`crate::server`].

#[cfg(feature = "net")]
pub(crate) mod http_batch;
pub mod memory;
#[cfg(feature = "net")]
mod read_ahead;
pub mod tap;
#[cfg(feature = "net")]
pub mod websocket;

use std::fmt;

use futures_util::{Sink, Stream};
use tokio::sync::OwnedSemaphorePermit;

/// One message received from the peer: its text, held without a copy where the transport
/// allows (a WebSocket text frame is kept as the socket delivered it), and, for a large frame
/// on a server, its share of the server's [decode budget](websocket::DecodeBudget), given back
/// when the frame is dropped (a clone holds the text, not the share).
#[derive(Debug)]
pub struct Frame {
    text: Repr,
    /// Held, never read: dropping it gives the room back.
    _budget: Option<OwnedSemaphorePermit>,
}

impl Clone for Frame {
    fn clone(&self) -> Self {
        Self::of(self.text.clone())
    }
}

impl PartialEq for Frame {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Frame {}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Repr {
    Owned(String),
    #[cfg(feature = "net")]
    WebSocket(tokio_tungstenite::tungstenite::Utf8Bytes),
}

impl Frame {
    fn of(text: Repr) -> Self {
        Self {
            text,
            _budget: None,
        }
    }

    /// This frame, holding `permit` (room in a decode budget) until it is dropped.
    #[cfg_attr(not(feature = "net"), allow(dead_code))]
    pub(crate) fn holding(self, permit: Option<OwnedSemaphorePermit>) -> Self {
        Self {
            _budget: permit,
            ..self
        }
    }

    /// The message text.
    pub fn as_str(&self) -> &str {
        match &self.text {
            Repr::Owned(text) => text,
            #[cfg(feature = "net")]
            Repr::WebSocket(text) => text.as_str(),
        }
    }
}

impl From<String> for Frame {
    fn from(text: String) -> Self {
        Self::of(Repr::Owned(text))
    }
}

impl From<&str> for Frame {
    fn from(text: &str) -> Self {
        Self::of(Repr::Owned(text.to_owned()))
    }
}

#[cfg(feature = "net")]
impl From<tokio_tungstenite::tungstenite::Utf8Bytes> for Frame {
    fn from(text: tokio_tungstenite::tungstenite::Utf8Bytes) -> Self {
        Self::of(Repr::WebSocket(text))
    }
}

impl std::ops::Deref for Frame {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a session hands its transport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outgoing {
    /// Send this message.
    Message(String),
    /// The session aborted: the `abort` message has been sent; tell the peer the reason in the
    /// transport's own way if it has one (a WebSocket closes with code 3000 and the message as
    /// reason, an HTTP batch answers with an error status). The sink is closed right after.
    Close(CloseReason),
}

/// Why a session aborted, as its transport may report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseReason {
    /// The error's type, e.g. `TypeError`.
    pub name: String,
    /// The error's message.
    pub message: String,
}

/// What kind of failure a [`TransportError`] is, for deciding what to do about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The connection could not be established (bad address, refused, failed handshake).
    Connect,
    /// The connection failed while in use (I/O error, reset, protocol violation).
    Io,
    /// A frame from the peer could not be accepted (too large, not text).
    Frame,
    /// The transport was used after it closed, or the peer is gone.
    Closed,
    /// Connecting or a request took longer than the client's options allow (the message names
    /// the option).
    Timeout,
}

/// A failure of the transport itself (not of a call).
#[derive(Debug, Clone)]
pub struct TransportError {
    kind: TransportErrorKind,
    message: String,
}

impl TransportError {
    /// An error of `kind` with a readable message.
    pub fn new(kind: TransportErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// The readable message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TransportError {}

/// A bidirectional message channel: a `Stream` of received frames and a `Sink` for what the
/// session sends. The stream ending means the peer is gone; an `Err` item means the transport
/// failed (the session ends with that error, not as a clean close). Implemented for anything
/// with that shape.
pub trait Transport:
    Stream<Item = Result<Frame, TransportError>>
    + Sink<Outgoing, Error = TransportError>
    + Send
    + Unpin
    + 'static
{
}

impl<T> Transport for T where
    T: Stream<Item = Result<Frame, TransportError>>
        + Sink<Outgoing, Error = TransportError>
        + Send
        + Unpin
        + 'static
{
}
