//! HTTP batch transport: a whole session in one request. The request body holds the client's
//! messages, one per line; the response body holds the server's replies, one per line.
//!
//! Owns the two ends of a batch as transports: the server's (`ServerBatch`: the request's
//! lines in, replies collected) and the client's (`ClientBatch`: messages gathered until the
//! application awaits, then handed to a [`Post`] that sends them). Sessions are opened over
//! them by [`crate::server`] and [`crate::client::http_batch`], which owns the HTTP request
//! itself (connecting, headers, TLS). A trailing newline is no message.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures_util::{Sink, Stream};
use tokio::sync::oneshot;

use super::{CloseReason, Frame, Outgoing, TransportError};
use crate::rt::BoxFuture;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain data behind the lock: a panic elsewhere cannot leave it inconsistent.
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// What the server's session said in a batch: its replies, and the reason if it aborted.
#[derive(Debug, Default)]
pub(crate) struct BatchOutcome {
    pub(crate) replies: Vec<String>,
    pub(crate) aborted: Option<CloseReason>,
}

/// The server's end of a batch: the request's lines in, replies collected and handed over when
/// the session closes its side.
pub(crate) struct ServerBatch {
    lines: VecDeque<String>,
    outcome: BatchOutcome,
    done: Option<oneshot::Sender<BatchOutcome>>,
}

impl ServerBatch {
    /// A batch over `body`'s lines; the receiver gets the outcome once the session closes.
    pub(crate) fn new(body: &str) -> (Self, oneshot::Receiver<BatchOutcome>) {
        let lines = body
            .split('\n')
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect();
        let (done, replies) = oneshot::channel();
        let batch = Self {
            lines,
            outcome: BatchOutcome::default(),
            done: Some(done),
        };
        (batch, replies)
    }
}

impl Stream for ServerBatch {
    type Item = Result<Frame, TransportError>;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.lines.pop_front().map(|line| Ok(Frame::from(line))))
    }
}

impl Sink<Outgoing> for ServerBatch {
    type Error = TransportError;
    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn start_send(mut self: Pin<&mut Self>, item: Outgoing) -> Result<(), Self::Error> {
        match item {
            Outgoing::Message(text) => self.outcome.replies.push(text),
            Outgoing::Close(reason) => self.outcome.aborted = Some(reason),
        }
        Ok(())
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if let Some(done) = self.done.take() {
            let outcome = std::mem::take(&mut self.outcome);
            let _ = done.send(outcome);
        }
        Poll::Ready(Ok(()))
    }
}

#[derive(Default)]
struct ClientState {
    queued: Vec<String>,
    /// The request has gone: later messages are dropped (they would belong to another batch).
    sent: bool,
}

/// The response lines, or why there are none.
pub(crate) type BatchReply = Result<Vec<String>, TransportError>;

/// Sends a batch's body (its messages, one per line) and returns the response lines.
pub(crate) type Post = Box<dyn FnOnce(String) -> BoxFuture<'static, BatchReply> + Send>;

enum Replies {
    Waiting(oneshot::Receiver<BatchReply>),
    Ready(VecDeque<String>),
}

/// The client's end of a batch.
pub(crate) struct ClientBatch {
    state: Arc<Mutex<ClientState>>,
    /// Taken when the first message is queued: the request is scheduled then.
    post: Option<(Post, oneshot::Sender<BatchReply>)>,
    replies: Replies,
}

impl ClientBatch {
    /// The client end of a batch whose messages `post` sends.
    pub(crate) fn new(post: Post) -> Self {
        let (reply_tx, reply_rx) = oneshot::channel();
        Self {
            state: Arc::default(),
            post: Some((post, reply_tx)),
            replies: Replies::Waiting(reply_rx),
        }
    }
}

impl Stream for ClientBatch {
    type Item = Result<Frame, TransportError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match &mut self.replies {
                Replies::Ready(lines) => {
                    return Poll::Ready(lines.pop_front().map(|line| Ok(Frame::from(line))))
                }
                Replies::Waiting(rx) => match Pin::new(rx).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(Ok(lines))) => self.replies = Replies::Ready(lines.into()),
                    Poll::Ready(Ok(Err(e))) => {
                        self.replies = Replies::Ready(VecDeque::new());
                        return Poll::Ready(Some(Err(e)));
                    }
                    Poll::Ready(Err(_)) => self.replies = Replies::Ready(VecDeque::new()),
                },
            }
        }
    }
}

impl Sink<Outgoing> for ClientBatch {
    type Error = TransportError;
    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn start_send(mut self: Pin<&mut Self>, item: Outgoing) -> Result<(), Self::Error> {
        let Outgoing::Message(item) = item else {
            return Ok(()); // The request carries the abort message; nothing more to say.
        };
        {
            let mut state = lock(&self.state);
            if state.sent {
                return Ok(());
            }
            state.queued.push(item);
        }
        if let Some((post, reply)) = self.post.take() {
            tokio::spawn(send_when_quiet(self.state.clone(), post, reply));
        }
        Ok(())
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
}

/// Waits until the application has stopped adding messages (it reached an `.await`), then
/// sends them all in one request.
async fn send_when_quiet(
    state: Arc<Mutex<ClientState>>,
    post: Post,
    reply: oneshot::Sender<BatchReply>,
) {
    let mut seen = 0;
    loop {
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
        let now = lock(&state).queued.len();
        if now == seen {
            break;
        }
        seen = now;
    }
    let body = {
        let mut state = lock(&state);
        state.sent = true;
        std::mem::take(&mut state.queued).join("\n")
    };
    let _ = reply.send(post(body).await);
}
