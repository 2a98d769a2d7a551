//! HTTP batch transport: a whole session in one request. The request body holds the client's
//! messages, one per line; the response body holds the server's replies, one per line.
//!
//! Owns running one batch as a server ([`run_batch`]) and the client side ([`connect`]). A batch
//! is a session whose context ends when the response is ready (rule L11): everything it exported
//! is released then, so disposers run, unlike the capnweb reference, which leaks them. A trailing
//! newline is no message. The client gathers every message sent before its first await into one
//! request.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures_util::{Sink, Stream};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use tokio::sync::oneshot;

use super::TransportError;
use crate::error::{RpcError, RpcResult};
use crate::session::{OnEof, RpcSession, SessionOptions};
use crate::stub::Stub;

/// Runs one batch against `main` and returns the response body, or the error that aborted the
/// batch (a malformed line).
///
/// The reply is ready as soon as every pulled answer is in; the session then ends in the
/// background (its exports are released, and `wait_until` work may finish), so the response is
/// not held up by it.
pub async fn run_batch(body: &str, main: Stub, options: SessionOptions) -> RpcResult<String> {
    let lines: VecDeque<String> = body
        .split('\n')
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    let (done, replies) = oneshot::channel();
    let transport = ServerBatch {
        lines,
        replies: Vec::new(),
        done: Some(done),
    };
    let (_client_main, driver) =
        RpcSession::open_with(transport, Some(main), options, OnEof::Drain);
    let session = tokio::spawn(driver.into_future());
    let Ok(replies) = replies.await else {
        // The session ended without closing its transport: report how it ended.
        return match session.await {
            Ok(Err(error)) => Err(error),
            _ => Err(RpcError::error("RPC batch ended unexpectedly.")),
        };
    };
    if let Some(error) = replies.last().and_then(|line| aborted_with(line)) {
        return Err(error);
    }
    Ok(replies.join("\n"))
}

/// The error of an `["abort", ["error", type, message, ...]]` line.
fn aborted_with(line: &str) -> Option<RpcError> {
    if !line.starts_with("[\"abort\"") {
        return None;
    }
    let parsed: serde_json::Value = serde_json::from_str(line).ok()?;
    let name = parsed.get(1)?.get(1)?.as_str().unwrap_or("Error");
    let message = parsed
        .get(1)?
        .get(2)?
        .as_str()
        .unwrap_or("RPC batch aborted.");
    Some(RpcError::new(name, message))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain data behind the lock: a panic elsewhere cannot leave it inconsistent.
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// The server's end of a batch: the request's lines in, replies collected and handed over when
/// the session closes its side.
struct ServerBatch {
    lines: VecDeque<String>,
    replies: Vec<String>,
    done: Option<oneshot::Sender<Vec<String>>>,
}

impl Stream for ServerBatch {
    type Item = Result<String, TransportError>;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.lines.pop_front().map(Ok))
    }
}

impl Sink<String> for ServerBatch {
    type Error = TransportError;
    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn start_send(mut self: Pin<&mut Self>, item: String) -> Result<(), Self::Error> {
        self.replies.push(item);
        Ok(())
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if let Some(done) = self.done.take() {
            let replies = std::mem::take(&mut self.replies);
            let _ = done.send(replies);
        }
        Poll::Ready(Ok(()))
    }
}

/// Starts an HTTP batch session with the server at `url` (`http://host:port/path`) and returns
/// its main stub. Every call made before the first `.await` travels in one request; the session
/// ends when the response has been processed, so await everything you need from that batch.
///
/// ```no_run
/// # async fn demo() -> tether::RpcResult<()> {
/// let api = tether::transport::http_batch::connect("http://127.0.0.1:8080/")?;
/// let counter = api.call("makeCounter", vec![5.into()]);
/// let value = counter.call("increment", vec![1.into()]).await?; // one request
/// # Ok(()) }
/// ```
pub fn connect(url: &str) -> RpcResult<Stub> {
    let target = HttpTarget::parse(url)?;
    let state = Arc::new(Mutex::new(ClientState::default()));
    let (reply_tx, reply_rx) = oneshot::channel();
    let transport = ClientBatch {
        state: state.clone(),
        target: Some((target, reply_tx)),
        replies: Replies::Waiting(reply_rx),
    };
    let options = SessionOptions::default();
    let (stub, _task) = RpcSession::spawn(transport, None, options);
    Ok(stub)
}

#[derive(Default)]
struct ClientState {
    queued: Vec<String>,
    /// The request has gone: later messages are dropped (they would belong to another batch).
    sent: bool,
}

/// The response lines, or why there are none.
type BatchReply = Result<Vec<String>, TransportError>;

enum Replies {
    Waiting(oneshot::Receiver<BatchReply>),
    Ready(VecDeque<String>),
}

/// The client's end of a batch.
struct ClientBatch {
    state: Arc<Mutex<ClientState>>,
    /// Taken when the first message is queued: the request is scheduled then.
    target: Option<(HttpTarget, oneshot::Sender<BatchReply>)>,
    replies: Replies,
}

impl Stream for ClientBatch {
    type Item = Result<String, TransportError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match &mut self.replies {
                Replies::Ready(lines) => return Poll::Ready(lines.pop_front().map(Ok)),
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

use std::future::{Future, IntoFuture};

impl Sink<String> for ClientBatch {
    type Error = TransportError;
    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn start_send(mut self: Pin<&mut Self>, item: String) -> Result<(), Self::Error> {
        {
            let mut state = lock(&self.state);
            if state.sent {
                return Ok(());
            }
            state.queued.push(item);
        }
        if let Some((target, reply)) = self.target.take() {
            tokio::spawn(send_when_quiet(self.state.clone(), target, reply));
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
    target: HttpTarget,
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
    let _ = reply.send(target.post(body).await);
}

/// Where a batch client sends its request.
struct HttpTarget {
    authority: String,
    path: String,
}

impl HttpTarget {
    fn parse(url: &str) -> RpcResult<Self> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| RpcError::type_error(format!("not an http:// URL: {url}")))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        Ok(Self {
            authority: authority.to_owned(),
            path: path.to_owned(),
        })
    }

    async fn post(&self, body: String) -> BatchReply {
        let fail =
            |e: &dyn std::fmt::Display| TransportError(format!("RPC batch request failed: {e}"));
        let stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .map_err(|e| fail(&e))?;
        let _ = stream.set_nodelay(true);
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| fail(&e))?;
        tokio::spawn(connection);
        let request = hyper::Request::post(self.path.as_str())
            .header(hyper::header::HOST, self.authority.as_str())
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| fail(&e))?;
        let response = sender.send_request(request).await.map_err(|e| fail(&e))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| fail(&e))?
            .to_bytes();
        if !status.is_success() {
            return Err(fail(&format!(
                "{status}: {}",
                String::from_utf8_lossy(&bytes)
            )));
        }
        let text = String::from_utf8(bytes.to_vec()).map_err(|e| fail(&e))?;
        Ok(text
            .split('\n')
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect())
    }
}
