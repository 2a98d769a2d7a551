//! An in-process transport: two connected ends, for tests, examples and same-process peers.
//!
//! Dropping or closing one end ends the other's stream, which its session sees as a disconnect
//! (rule L10).

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::{Sink, Stream};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::TransportError;

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
    type Item = Result<String, TransportError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx).map(|m| m.map(Ok))
    }
}

impl Sink<String> for MemoryTransport {
    type Error = TransportError;

    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn start_send(mut self: Pin<&mut Self>, item: String) -> Result<(), Self::Error> {
        let Some(tx) = &self.tx else {
            return Err(TransportError("transport is closed".into()));
        };
        if tx.send(item).is_err() {
            self.tx = None;
            return Err(TransportError("peer is gone".into()));
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
