//! WebSocket transport: one text frame per message (the Cap'n Web convention).
//!
//! Owns the adapter from a `tokio-tungstenite` stream to a [`Transport`](super::Transport) and
//! the frame-size configuration. Clients connect with [`crate::client::websocket`]; servers get
//! their sockets from [`crate::server`]. When the session aborts, the socket is closed with code 3000 and the error
//! message as the reason (truncated to 123 bytes), as capnweb does.
//!

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::{Frame, Outgoing, TransportError, TransportErrorKind};

/// The close code capnweb uses when a session aborts.
const ABORT_CLOSE_CODE: u16 = 3000;
/// RFC 6455: a close reason fits in 123 bytes.
const MAX_CLOSE_REASON: usize = 123;

/// A Cap'n Web session's view of a WebSocket.
pub struct WebSocketTransport<S> {
    socket: WebSocketStream<S>,
    /// Set when an `abort` message goes out: the close frame will carry it.
    abort_reason: Option<String>,
    close_frame_sent: bool,
}

impl<S> WebSocketTransport<S> {
    /// Wraps an established WebSocket.
    pub fn new(socket: WebSocketStream<S>) -> Self {
        Self {
            socket,
            abort_reason: None,
            close_frame_sent: false,
        }
    }
}

/// WebSocket settings matching a session's size limit: a message of `max_message_size` UTF-16
/// units can take up to three times as many UTF-8 bytes, so the socket accepts that much and the
/// session's own check (with capnweb's error message) decides.
///
/// The read buffer is 8 KiB instead of tungstenite's 128 KiB: tungstenite zeroes the free part
/// of its buffer before every read, which the profile showed as 14 % of the server's CPU time
/// with small messages (BENCHMARKS.md), and every open session holds that buffer even while idle
/// (an idle session costs about 33 KB with 16 KiB, 18.5 KB with 4 KiB). Large messages still
/// arrive whole, in more reads of at most this size.
pub(crate) fn socket_config(max_message_size: usize) -> WebSocketConfig {
    let bytes = max_message_size.saturating_mul(3);
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(bytes))
        .max_frame_size(Some(bytes))
}

/// See [`socket_config`].
const READ_BUFFER: usize = 8 * 1024;

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WebSocketTransport<S> {
    type Item = Result<Frame, TransportError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let message = match ready!(Pin::new(&mut self.socket).poll_next(cx)) {
                None => return Poll::Ready(None),
                Some(Err(e)) => return Poll::Ready(Some(Err(to_error(e)))),
                Some(Ok(message)) => message,
            };
            return Poll::Ready(match message {
                // The frame's bytes as the socket holds them: no copy.
                Message::Text(text) => Some(Ok(Frame::from(text))),
                // capnweb parses binary frames as text too (and fails): the session aborts with
                // a SyntaxError unless the bytes happen to be a valid message.
                Message::Binary(bytes) => Some(Ok(Frame::from(
                    String::from_utf8_lossy(&bytes).into_owned(),
                ))),
                Message::Close(_) => None,
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            });
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Outgoing> for WebSocketTransport<S> {
    type Error = TransportError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.socket).poll_ready(cx).map_err(to_error)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Outgoing) -> Result<(), Self::Error> {
        match item {
            Outgoing::Message(text) => Pin::new(&mut self.socket)
                .start_send(Message::text(text))
                .map_err(to_error),
            Outgoing::Close(reason) => {
                // Sent as the close frame when the session closes the sink.
                self.abort_reason = Some(reason.message);
                Ok(())
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.socket).poll_flush(cx).map_err(to_error)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if !self.close_frame_sent {
            if let Some(reason) = self.abort_reason.take() {
                ready!(Pin::new(&mut self.socket).poll_ready(cx)).map_err(to_error)?;
                let frame = CloseFrame {
                    code: CloseCode::from(ABORT_CLOSE_CODE),
                    reason: truncate_utf8(&reason, MAX_CLOSE_REASON).to_owned().into(),
                };
                Pin::new(&mut self.socket)
                    .start_send(Message::Close(Some(frame)))
                    .map_err(to_error)?;
            }
            self.close_frame_sent = true;
        }
        Pin::new(&mut self.socket).poll_close(cx).map_err(to_error)
    }
}

pub(crate) fn to_error(e: tokio_tungstenite::tungstenite::Error) -> TransportError {
    use tokio_tungstenite::tungstenite::Error as E;
    let kind = match &e {
        E::ConnectionClosed | E::AlreadyClosed => TransportErrorKind::Closed,
        E::Capacity(_) | E::Utf8(_) => TransportErrorKind::Frame,
        E::Url(_) | E::Http(_) | E::HttpFormat(_) | E::Tls(_) => TransportErrorKind::Connect,
        _ => TransportErrorKind::Io,
    };
    TransportError::new(kind, e.to_string())
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_reason_is_cut_at_a_char_boundary() {
        let long = "é".repeat(100);
        let cut = truncate_utf8(&long, MAX_CLOSE_REASON);
        assert!(cut.len() <= MAX_CLOSE_REASON && cut.len() >= MAX_CLOSE_REASON - 1);
    }
}
