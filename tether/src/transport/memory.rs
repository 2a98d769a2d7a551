//! An in-process transport: two connected ends, for tests, examples and same-process peers.
//!
//! Dropping or closing one end ends the other's stream, which its session sees as a disconnect
//! (rule L10).

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::{Sink, Stream};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::{Frame, Outgoing, TransportError, TransportErrorKind};

/// One end of an in-process connection.
#[derive(Debug)]
pub struct MemoryTransport {
    tx: Option<UnboundedSender<String>>,
    rx: UnboundedReceiver<String>,
}

/// Creates two connected ends: what one sends, the other receives.
pub fn pair() -> (MemoryTransport, MemoryTransport) {
    let (a_tx, b_rx) = unbounded_channel();
    let (b_tx, a_rx) = unbounded_channel();
    (
        MemoryTransport {
            tx: Some(a_tx),
            rx: a_rx,
        },
        MemoryTransport {
            tx: Some(b_tx),
            rx: b_rx,
        },
    )
}

impl Stream for MemoryTransport {
    type Item = Result<Frame, TransportError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx
            .poll_recv(cx)
            .map(|m| m.map(|text| Ok(Frame::from(text))))
    }
}

impl Sink<Outgoing> for MemoryTransport {
    type Error = TransportError;

    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn start_send(mut self: Pin<&mut Self>, item: Outgoing) -> Result<(), Self::Error> {
        let Outgoing::Message(text) = item else {
            return Ok(()); // The abort message itself tells the peer; closing ends its stream.
        };
        let Some(tx) = &self.tx else {
            return Err(TransportError::new(
                TransportErrorKind::Closed,
                "transport is closed",
            ));
        };
        if tx.send(text).is_err() {
            self.tx = None;
            return Err(TransportError::new(
                TransportErrorKind::Closed,
                "peer is gone",
            ));
        }
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.tx = None;
        Poll::Ready(Ok(()))
    }
}
