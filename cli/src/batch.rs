//! `--batch`: an HTTP batch client transport of the CLI's own, because tether's batch client
//! (`tether::client::http_batch::connect`) takes no extra request headers and its transport is
//! not public (so it cannot be traced either).
//!
//! Owns [`HttpBatch`]: messages are gathered until the program stops adding them (it reached its
//! one `.await`), then sent in one `POST` with the `--header`s; the response's lines are the
//! server's messages. Messages queued after the request left (releases at the end) belong to no
//! batch and are dropped, as capnweb's batch client does.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures_util::{Sink, Stream};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use tether::transport::{Frame, Outgoing, TransportError, TransportErrorKind};
use tokio::sync::oneshot;

use crate::trace::{Dir, Tracer};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// Where the request goes and what it carries besides the body.
#[derive(Clone, Debug)]
pub(crate) struct Request {
    /// `host:port`.
    pub(crate) authority: String,
    /// The path and query, `/` at least.
    pub(crate) path: String,
    /// Extra headers (`--header`).
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
}

/// Why the batch failed, kept for the error message (the session only says it disconnected).
pub(crate) type FailureSlot = Arc<Mutex<Option<String>>>;

type Reply = Result<Vec<String>, TransportError>;

enum Replies {
    Waiting(oneshot::Receiver<Reply>),
    Ready(VecDeque<String>),
}

#[derive(Default)]
struct Queue {
    messages: Vec<String>,
    sent: bool,
}

/// The client end of one HTTP batch.
pub(crate) struct HttpBatch {
    queue: Arc<Mutex<Queue>>,
    start: Option<(Request, oneshot::Sender<Reply>)>,
    replies: Replies,
    tracer: Tracer,
    failure: FailureSlot,
}

impl HttpBatch {
    /// A batch to `request`, traced by `tracer`; a failed request is described in `failure`.
    pub(crate) fn new(request: Request, tracer: Tracer, failure: FailureSlot) -> Self {
        let (tx, rx) = oneshot::channel();
        Self {
            queue: Arc::default(),
            start: Some((request, tx)),
            replies: Replies::Waiting(rx),
            tracer,
            failure,
        }
    }
}

impl Stream for HttpBatch {
    type Item = Result<Frame, TransportError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match &mut self.replies {
                Replies::Ready(lines) => {
                    let line = lines.pop_front();
                    if let Some(line) = &line {
                        self.tracer.frame(Dir::Received, line);
                    }
                    return Poll::Ready(line.map(|l| Ok(Frame::from(l))));
                }
                Replies::Waiting(rx) => match Pin::new(rx).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(Ok(lines))) => self.replies = Replies::Ready(lines.into()),
                    Poll::Ready(Ok(Err(e))) => {
                        *lock(&self.failure) = Some(e.message().to_owned());
                        self.replies = Replies::Ready(VecDeque::new());
                        return Poll::Ready(Some(Err(e)));
                    }
                    Poll::Ready(Err(_)) => self.replies = Replies::Ready(VecDeque::new()),
                },
            }
        }
    }
}

impl Sink<Outgoing> for HttpBatch {
    type Error = TransportError;
    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn start_send(mut self: Pin<&mut Self>, item: Outgoing) -> Result<(), Self::Error> {
        let Outgoing::Message(text) = item else {
            return Ok(());
        };
        {
            let mut queue = lock(&self.queue);
            if queue.sent {
                return Ok(());
            }
            queue.messages.push(text);
        }
        if let Some((request, reply)) = self.start.take() {
            let queue = self.queue.clone();
            let tracer = self.tracer.clone();
            tokio::spawn(async move {
                let body = wait_until_quiet(&queue).await;
                for line in &body {
                    tracer.frame(Dir::Sent, line);
                }
                tracer.note(&format!(
                    "POST http://{}{} ({} messages)",
                    request.authority,
                    request.path,
                    body.len()
                ));
                let _ = reply.send(post(&request, body.join("\n")).await);
            });
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

/// Lets the program and the session run until no more messages arrive, then takes them all.
/// The CLI runs on a current-thread runtime, so yielding lets every other task take its turn.
async fn wait_until_quiet(queue: &Mutex<Queue>) -> Vec<String> {
    let mut seen = 0;
    loop {
        for _ in 0..16 {
            tokio::task::yield_now().await;
        }
        let now = lock(queue).messages.len();
        if now == seen {
            break;
        }
        seen = now;
    }
    let mut queue = lock(queue);
    queue.sent = true;
    std::mem::take(&mut queue.messages)
}

async fn post(request: &Request, body: String) -> Reply {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        TransportError::new(
            TransportErrorKind::Connect,
            format!("{what} http://{}{}: {e}", request.authority, request.path),
        )
    };
    let stream = tokio::net::TcpStream::connect(&request.authority)
        .await
        .map_err(|e| fail("cannot connect to", &e))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| fail("cannot talk HTTP to", &e))?;
    tokio::spawn(connection);
    let mut builder = hyper::Request::post(request.path.as_str())
        .header(hyper::header::HOST, request.authority.as_str())
        .header(hyper::header::CONTENT_TYPE, "text/plain");
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    let http_request = builder
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| fail("cannot build the request to", &e))?;
    let response = sender
        .send_request(http_request)
        .await
        .map_err(|e| fail("request failed to", &e))?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| fail("cannot read the response from", &e))?
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    if !status.is_success() {
        return Err(fail(
            "error answer from",
            &format!("{status} {}", text.trim()),
        ));
    }
    Ok(text
        .split('\n')
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}
