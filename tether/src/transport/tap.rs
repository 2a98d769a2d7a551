//! A transport wrapper that records every frame: for tests, debugging and frame counting.
//!
//! [`Tap`] wraps any [`Transport`] and logs what passes into a [`FrameLog`], in order, `> ` for
//! sent and `< ` for received. It can also swap the next outgoing frame for another (fault
//! injection: make the peer see a malformed message on a live session).
//!
//! ```
//! use tether::transport::{memory, tap::{FrameLog, Tap}};
//! let (a, _b) = memory::pair();
//! let log = FrameLog::default();
//! let recorded = Tap::new(a, log.clone());
//! # drop(recorded);
//! assert!(log.all().is_empty());
//! ```

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures_util::{Sink, Stream};

use super::{Frame, Outgoing, Transport, TransportError};

/// Frames seen by a [`Tap`], in order: `> ` sent, `< ` received.
#[derive(Clone, Default, Debug)]
pub struct FrameLog {
    frames: Arc<Mutex<Vec<String>>>,
    replace_next: Arc<Mutex<Option<String>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain data: a panic elsewhere cannot leave it half-written.
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

impl FrameLog {
    fn push(&self, line: String) {
        lock(&self.frames).push(line);
    }

    /// Every frame, prefixed `> ` (sent) or `< ` (received), in the order they passed.
    pub fn all(&self) -> Vec<String> {
        lock(&self.frames).clone()
    }

    /// Frames sent.
    pub fn sent(&self) -> Vec<String> {
        self.filter("> ")
    }

    /// Frames received.
    pub fn received(&self) -> Vec<String> {
        self.filter("< ")
    }

    fn filter(&self, prefix: &str) -> Vec<String> {
        lock(&self.frames)
            .iter()
            .filter_map(|l| l.strip_prefix(prefix).map(str::to_owned))
            .collect()
    }

    /// The next frame sent goes out as `frame` instead (and is logged as such).
    pub fn replace_next_sent(&self, frame: impl Into<String>) {
        *lock(&self.replace_next) = Some(frame.into());
    }

    /// Forgets what was recorded so far.
    pub fn clear(&self) {
        lock(&self.frames).clear();
    }

    /// The log, one frame per line, for assertion messages.
    pub fn dump(&self) -> String {
        self.all().join("\n")
    }
}

/// A transport that records every frame that passes into a [`FrameLog`].
#[derive(Debug)]
pub struct Tap<T> {
    inner: T,
    log: FrameLog,
}

impl<T> Tap<T> {
    /// Wraps `inner`, recording into `log`.
    pub fn new(inner: T, log: FrameLog) -> Self {
        Self { inner, log }
    }
}

impl<T: Transport> Stream for Tap<T> {
    type Item = Result<Frame, TransportError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(text))) = &polled {
            self.log.push(format!("< {text}"));
        }
        polled
    }
}

impl<T: Transport> Sink<Outgoing> for Tap<T> {
    type Error = TransportError;
    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_ready(cx)
    }
    fn start_send(mut self: Pin<&mut Self>, item: Outgoing) -> Result<(), Self::Error> {
        let Outgoing::Message(text) = item else {
            return Pin::new(&mut self.inner).start_send(item);
        };
        let text = lock(&self.log.replace_next).take().unwrap_or(text);
        self.log.push(format!("> {text}"));
        Pin::new(&mut self.inner).start_send(Outgoing::Message(text))
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}
