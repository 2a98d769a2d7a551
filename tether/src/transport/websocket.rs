//! WebSocket transport: one text frame per message (the Cap'n Web convention).
//!
//! Owns the adapter from a `tokio-tungstenite` stream to a [`Transport`](super::Transport), the
//! frame-size configuration, the keepalive ([`Keepalive`]: pings, and dropping a peer that
//! stops answering them) and the wait for room in a server-wide [`DecodeBudget`] before a large
//! frame is handed to the session. Clients connect with [`crate::client::websocket`]; servers
//! get their sockets from [`crate::server`], through `accept_upgraded` (which also puts the
//! small-buffer reader of `read_ahead` under the socket). When the session aborts, the socket is
//! closed with code 3000 and the error message as the reason (truncated to 123 bytes), as
//! capnweb does.
//!

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::read_ahead::ReadAhead;
use super::{Frame, Outgoing, TransportError, TransportErrorKind};
use crate::wire::decoding_cost;

/// The close code capnweb uses when a session aborts.
const ABORT_CLOSE_CODE: u16 = 3000;
/// RFC 6455: a close reason fits in 123 bytes.
const MAX_CLOSE_REASON: usize = 123;

/// A Cap'n Web session's view of a WebSocket.
pub struct WebSocketTransport<S> {
    /// `None` only if replacing it failed (never: see `renew_if_grown`); then the transport is
    /// closed.
    socket: Option<WebSocketStream<S>>,
    /// Set when an `abort` message goes out: the close frame will carry it.
    abort_reason: Option<String>,
    close_frame_sent: bool,
    /// Pings and the dead-peer check, if enabled.
    heartbeat: Option<Heartbeat>,
    /// Room that large frames wait for before the session sees them, if any.
    budget: Option<DecodeBudget>,
    /// A large frame waiting for room in `budget`.
    waiting: Option<(Frame, Acquire)>,
    /// A message, ping or close was queued and no flush has completed since.
    unflushed: bool,
    /// For a server's socket: how to tell that tungstenite's buffers have grown, so that they
    /// are replaced while the session is idle.
    renewal: Option<Renewal<S>>,
}

/// tungstenite keeps its read buffer at the size of the largest frame received and its write
/// buffer at the size of the most it had to write at once, for the life of the socket: one
/// large message would make an idle session cost that much until it ends. A server's socket
/// (over `ReadAhead`, which follows the frames) is therefore replaced by a fresh one over the
/// same connection once a frame or write of `read_ahead::LARGE` bytes or more went through and
/// the session is idle: tungstenite has nothing left to read (everything handed to it was whole
/// messages), nothing to write (the last flush completed after the last message queued), owes no
/// pong and has seen no close; its state is then that of a fresh socket, minus the buffers.
struct Renewal<S> {
    grown: fn(&S) -> bool,
    renewed: fn(&mut S),
    config: WebSocketConfig,
    /// Sockets replaced so far (for tests).
    #[cfg(test)]
    count: u64,
}

type Acquire = Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send>>;

impl<S> WebSocketTransport<S> {
    /// Wraps an established WebSocket, with no keepalive and no decode budget.
    pub fn new(socket: WebSocketStream<S>) -> Self {
        Self {
            socket: Some(socket),
            abort_reason: None,
            close_frame_sent: false,
            heartbeat: None,
            budget: None,
            waiting: None,
            unflushed: false,
            renewal: None,
        }
    }

    /// Pings the peer while it is silent and ends the session if it stops answering (see
    /// [`Keepalive`]); `None` turns that off.
    pub fn with_keepalive(mut self, keepalive: Option<Keepalive>) -> Self {
        self.heartbeat = keepalive.map(Heartbeat::new);
        self
    }

    /// Makes frames of [`DecodeBudget::LARGE_FRAME`] bytes or more wait for room in `budget`
    /// before the session parses them; the room is given back when the session is done with the
    /// frame.
    pub fn with_decode_budget(mut self, budget: DecodeBudget) -> Self {
        self.budget = Some(budget);
        self
    }
}

/// WebSocket keepalive: a silent peer is pinged, and a peer that answers nothing (no pong, no
/// message) within the timeout is taken for dead, its session ends with a readable reason
/// (`RPC transport failed: The peer did not answer a ping within …`), its exports are released
/// and its connection closed. Browsers answer pings by themselves, so a live page is never
/// dropped, however idle.
///
/// A server uses [`Keepalive::default`] (see `ServerOptions::keepalive`): a peer silent for
/// 30 s is pinged and dropped 30 s later if it has not answered, so a dead peer (its machine
/// gone, a network that dropped the connection without a reset) costs at most about a minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// How long the peer may be silent before it is pinged.
    pub ping_interval: Duration,
    /// How long the peer has to answer a ping (with anything) before the session ends.
    pub pong_timeout: Duration,
}

impl Default for Keepalive {
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(30),
        }
    }
}

/// The keepalive's state: one timer, for the next ping or for the answer to the last one.
struct Heartbeat {
    config: Keepalive,
    timer: Pin<Box<Sleep>>,
    /// A ping is out and nothing has been heard since: the timer is its deadline.
    awaiting: bool,
    /// A ping was queued and the flush that sends it has not finished.
    unflushed: bool,
}

impl Heartbeat {
    fn new(config: Keepalive) -> Self {
        Self {
            timer: Box::pin(tokio::time::sleep(config.ping_interval)),
            config,
            awaiting: false,
            unflushed: false,
        }
    }

    /// The peer sent something: it is alive; the next ping is due after a full interval.
    fn heard(&mut self) {
        let next = Instant::now() + self.config.ping_interval;
        // Resetting costs a timer-wheel update: while waiting for the next ping, not more often
        // than needed; while waiting for an answer, at once (the timer is its deadline).
        if self.awaiting || self.timer.deadline() + self.config.ping_interval / 8 < next {
            self.timer.as_mut().reset(next);
        }
        self.awaiting = false;
    }
}

/// Memory that decoding WebSocket frames may take at once, shared by every session of a
/// server. A frame of [`DecodeBudget::LARGE_FRAME`] bytes or more is charged the most decoding
/// it may cost (its size plus 96 bytes for every value it may hold, counting its `[`, `{` and
/// `,` bytes: a value takes far more memory parsed and evaluated than its text, two bytes for
/// `0,`), waits for that room before its session parses it, and gives it back when the
/// session is done with it (parsed, evaluated, dropped). So many sessions sending large frames
/// at once cannot make the server's decoding hold more than this bound, however their frames
/// are shaped; a frame costing more than the whole budget waits until it has all of it. Small
/// frames never wait.
#[derive(Clone, Debug)]
pub struct DecodeBudget {
    room: Arc<Semaphore>,
    total: usize,
}

impl DecodeBudget {
    /// Frames from this size on wait for room; smaller ones are decoded at once.
    pub const LARGE_FRAME: usize = 64 * 1024;

    /// A budget of `bytes` (at least one byte, at most the semaphore's maximum, 4 GiB).
    pub fn new(bytes: usize) -> Self {
        let total = bytes.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        Self {
            room: Arc::new(Semaphore::new(total)),
            total,
        }
    }

    /// Bytes not taken by the frames being decoded now.
    pub fn available(&self) -> usize {
        self.room.available_permits()
    }

    /// The room a frame costing `cost` takes: all of the budget if it costs more.
    fn share(&self, cost: usize) -> u32 {
        u32::try_from(cost.min(self.total)).unwrap_or(u32::MAX)
    }

    /// Room for a frame costing `cost` if there is some now (without allocating).
    fn try_acquire(&self, cost: usize) -> Option<OwnedSemaphorePermit> {
        self.room
            .clone()
            .try_acquire_many_owned(self.share(cost))
            .ok()
    }

    /// Waits for room for a frame costing `cost`.
    fn acquire(&self, cost: usize) -> Acquire {
        Box::pin(self.room.clone().acquire_many_owned(self.share(cost)))
    }
}

/// WebSocket settings matching a session's size limit: a message of `max_message_size` UTF-16
/// units can take up to three times as many UTF-8 bytes, so the socket accepts that much and the
/// session's own check (with capnweb's error message) decides.
///
/// The read buffer is 8 KiB instead of tungstenite's 128 KiB: tungstenite zeroes the free part
/// of its buffer before every read, which the profile showed as 14 % of the server's CPU time
/// with small messages (BENCHMARKS.md). A server's sockets use [`SERVER_READ_BUFFER`] with the
/// read-ahead adapter instead (see [`accept_upgraded`]).
pub(crate) fn socket_config(max_message_size: usize) -> WebSocketConfig {
    config(max_message_size, READ_BUFFER)
}

fn config(max_message_size: usize, read_buffer: usize) -> WebSocketConfig {
    let bytes = max_message_size.saturating_mul(3);
    WebSocketConfig::default()
        .read_buffer_size(read_buffer)
        .max_message_size(Some(bytes))
        .max_frame_size(Some(bytes))
}

/// See [`socket_config`].
const READ_BUFFER: usize = 8 * 1024;

/// The read buffer of a server's sockets: every open session holds it even while idle (an idle
/// session cost about 20 KB with 8 KiB, 7.6 KB with 1 KiB), while messages that do not fit it
/// are read ahead in chunks of 64 KiB by the adapter below the socket (`read_ahead`), so large
/// ones still arrive in few system calls; this size only decides in how many pieces tungstenite
/// copies them out of the adapter's chunk.
const SERVER_READ_BUFFER: usize = 256;

/// How a server turns an upgraded connection into a session's transport.
#[derive(Clone, Debug)]
pub(crate) struct ServerSocket {
    pub(crate) max_message_size: usize,
    pub(crate) keepalive: Option<Keepalive>,
    pub(crate) budget: DecodeBudget,
}

/// The transport of a server's session over the upgraded connection `io`: the small read buffer
/// over the read-ahead adapter, the keepalive and the server's decode budget.
pub(crate) async fn accept_upgraded<IO>(
    io: IO,
    settings: &ServerSocket,
) -> WebSocketTransport<ReadAhead<IO>>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let config = config(settings.max_message_size, SERVER_READ_BUFFER);
    let socket = WebSocketStream::from_raw_socket(
        ReadAhead::new(io, SERVER_READ_BUFFER),
        Role::Server,
        Some(config),
    );
    let mut transport = WebSocketTransport::new(socket.await)
        .with_keepalive(settings.keepalive)
        .with_decode_budget(settings.budget.clone());
    transport.renewal = Some(Renewal {
        grown: ReadAhead::grown_between_messages,
        renewed: ReadAhead::clear_large,
        config,
        #[cfg(test)]
        count: 0,
    });
    transport
}

/// The error of a transport whose socket is gone (see `WebSocketTransport::socket`).
fn socket_gone() -> TransportError {
    TransportError::new(TransportErrorKind::Closed, "The WebSocket was closed.")
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocketTransport<S> {
    fn socket(&mut self) -> Result<Pin<&mut WebSocketStream<S>>, TransportError> {
        self.socket.as_mut().map(Pin::new).ok_or_else(socket_gone)
    }

    /// Sockets replaced by fresh ones so far (see [`Renewal`]).
    #[cfg(test)]
    fn renewals(&self) -> u64 {
        self.renewal.as_ref().map_or(0, |r| r.count)
    }

    /// Called when the socket has nothing to read: if its buffers have grown (see [`Renewal`])
    /// and it holds nothing, replaces it with a fresh one over the same connection. `true` if it
    /// did (the new socket must then be polled, to be woken when data comes).
    fn renew_if_grown(&mut self, cx: &mut Context<'_>) -> bool {
        let (Some(renewal), Some(socket)) = (&self.renewal, &self.socket) else {
            return false;
        };
        let unflushed_ping = self.heartbeat.as_ref().is_some_and(|h| h.unflushed);
        if self.unflushed
            || unflushed_ping
            || self.close_frame_sent
            || self.abort_reason.is_some()
            || !(renewal.grown)(socket.get_ref())
        {
            return false;
        }
        let (renewed, config) = (renewal.renewed, renewal.config);
        let Some(socket) = self.socket.take() else {
            return false;
        };
        let mut inner = socket.into_inner();
        renewed(&mut inner);
        let fresh = WebSocketStream::from_raw_socket(inner, Role::Server, Some(config));
        // Ready at once: no handshake, it only wraps the connection.
        if let Poll::Ready(socket) = std::pin::pin!(fresh).poll(cx) {
            self.socket = Some(socket);
        }
        #[cfg(test)]
        if let Some(renewal) = &mut self.renewal {
            renewal.count += 1;
        }
        true
    }

    /// Drives the keepalive: sends a ping when one is due, fails when the last one went
    /// unanswered. `Pending` when nothing is due (the timer will wake the task).
    fn poll_heartbeat(&mut self, cx: &mut Context<'_>) -> Poll<TransportError> {
        let Some(heartbeat) = &mut self.heartbeat else {
            return Poll::Pending;
        };
        let Some(socket) = self.socket.as_mut() else {
            return Poll::Pending;
        };
        let mut socket = Pin::new(socket);
        if heartbeat.unflushed {
            // Flushing also goes on with every read; errors show up there.
            if socket.as_mut().poll_flush(cx).is_ready() {
                heartbeat.unflushed = false;
            }
        }
        while heartbeat.timer.as_mut().poll(cx).is_ready() {
            if heartbeat.awaiting {
                return Poll::Ready(TransportError::new(
                    TransportErrorKind::Io,
                    format!(
                        "The peer did not answer a ping within {} s; the connection was taken for dead.",
                        heartbeat.config.pong_timeout.as_secs_f64()
                    ),
                ));
            }
            // Queued even if a write is blocked: tungstenite's buffer takes it, and a peer that
            // reads nothing will not answer in time either.
            if socket
                .as_mut()
                .start_send(Message::Ping(Default::default()))
                .is_ok()
            {
                heartbeat.unflushed = socket.as_mut().poll_flush(cx).is_pending();
            }
            heartbeat.awaiting = true;
            let deadline = Instant::now() + heartbeat.config.pong_timeout;
            heartbeat.timer.as_mut().reset(deadline);
        }
        Poll::Pending
    }

    /// The next text (or binary) message from the socket, noting that the peer is alive.
    fn poll_message(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame, TransportError>>> {
        loop {
            let Some(socket) = self.socket.as_mut() else {
                return Poll::Ready(None);
            };
            let message = match Pin::new(socket).poll_next(cx) {
                Poll::Pending if self.renew_if_grown(cx) => continue,
                Poll::Pending => return Poll::Pending,
                Poll::Ready(message) => message,
            };
            let message = match message {
                None => return Poll::Ready(None),
                Some(Err(e)) => return Poll::Ready(Some(Err(to_error(e)))),
                Some(Ok(message)) => message,
            };
            if let Some(heartbeat) = &mut self.heartbeat {
                heartbeat.heard();
            }
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

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WebSocketTransport<S> {
    type Item = Result<Frame, TransportError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Poll::Ready(dead) = this.poll_heartbeat(cx) {
            return Poll::Ready(Some(Err(dead)));
        }
        if let Some((_, acquire)) = &mut this.waiting {
            let permit = ready!(acquire.as_mut().poll(cx));
            let Some((frame, _)) = this.waiting.take() else {
                return Poll::Pending; // Unreachable: `waiting` was just seen set.
            };
            // The semaphore is never closed; without a permit the frame goes on unbudgeted.
            return Poll::Ready(Some(Ok(frame.holding(permit.ok()))));
        }
        let frame = match ready!(this.poll_message(cx)) {
            Some(Ok(frame)) => frame,
            other => return Poll::Ready(other),
        };
        match &this.budget {
            Some(budget) if frame.len() >= DecodeBudget::LARGE_FRAME => {
                let cost = decoding_cost(frame.as_str());
                if let Some(permit) = budget.try_acquire(cost) {
                    return Poll::Ready(Some(Ok(frame.holding(Some(permit)))));
                }
                let mut acquire = budget.acquire(cost);
                if let Poll::Ready(permit) = acquire.as_mut().poll(cx) {
                    return Poll::Ready(Some(Ok(frame.holding(permit.ok()))));
                }
                this.waiting = Some((frame, acquire));
                Poll::Pending
            }
            _ => Poll::Ready(Some(Ok(frame))),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Outgoing> for WebSocketTransport<S> {
    type Error = TransportError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.socket()?.poll_ready(cx).map_err(to_error)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Outgoing) -> Result<(), Self::Error> {
        self.unflushed = true;
        match item {
            Outgoing::Message(text) => self
                .socket()?
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
        ready!(self.socket()?.poll_flush(cx)).map_err(to_error)?;
        self.unflushed = false;
        Poll::Ready(Ok(()))
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if !self.close_frame_sent {
            if let Some(reason) = self.abort_reason.take() {
                ready!(self.socket()?.poll_ready(cx)).map_err(to_error)?;
                let frame = CloseFrame {
                    code: CloseCode::from(ABORT_CLOSE_CODE),
                    reason: truncate_utf8(&reason, MAX_CLOSE_REASON).to_owned().into(),
                };
                self.socket()?
                    .start_send(Message::Close(Some(frame)))
                    .map_err(to_error)?;
            }
            self.close_frame_sent = true;
        }
        self.socket()?.poll_close(cx).map_err(to_error)
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
    use futures_util::{FutureExt, SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame as WsFrame;

    type Server = WebSocketTransport<ReadAhead<tokio::io::DuplexStream>>;
    type Client = WebSocketStream<tokio::io::DuplexStream>;

    async fn pair() -> (Server, Client) {
        let (near, far) = tokio::io::duplex(4 << 20);
        let settings = ServerSocket {
            max_message_size: 1 << 20,
            keepalive: None,
            budget: DecodeBudget::new(64 << 20),
        };
        let server = accept_upgraded(near, &settings).await;
        let client = WebSocketStream::from_raw_socket(far, Role::Client, None).await;
        (server, client)
    }

    /// The next message the server's transport has, as text.
    async fn next_text(server: &mut Server) -> String {
        let frame = server.next().await.expect("a message").expect("no error");
        frame.as_str().to_owned()
    }

    /// The server's transport has nothing to read now (and so may renew its socket).
    fn idle(server: &mut Server) {
        assert!(server.next().now_or_never().is_none(), "nothing to read");
    }

    /// After a large message, the idle server's socket is replaced (its grown buffers with it),
    /// once; it goes on working; small messages never replace it.
    #[tokio::test]
    async fn a_socket_grown_by_a_large_message_is_renewed_once_idle() {
        let (mut server, mut client) = pair().await;
        client.send(Message::text("[\"pull\",1]")).await.unwrap();
        assert_eq!(next_text(&mut server).await, "[\"pull\",1]");
        idle(&mut server);
        assert_eq!(server.renewals(), 0, "small messages keep the socket");

        let large = "x".repeat(200_000);
        client.send(Message::text(large.clone())).await.unwrap();
        assert_eq!(next_text(&mut server).await, large);
        idle(&mut server);
        assert_eq!(
            server.renewals(),
            1,
            "renewed once idle after a large message"
        );
        idle(&mut server);
        assert_eq!(server.renewals(), 1, "and not again");

        // Both ways still work, and a large reply grows (and renews) it again.
        client.send(Message::text("after")).await.unwrap();
        assert_eq!(next_text(&mut server).await, "after");
        server.send(Outgoing::Message(large.clone())).await.unwrap();
        let echoed = client.next().await.unwrap().unwrap();
        assert_eq!(echoed.into_text().unwrap().as_str(), large);
        idle(&mut server);
        assert_eq!(server.renewals(), 2, "a large write grows it too");
    }

    /// A socket is never replaced in the middle of a fragmented message; a pong it owed is sent
    /// (flushed) before it is.
    #[tokio::test]
    async fn a_socket_is_not_renewed_mid_message() {
        let (mut server, mut client) = pair().await;
        let part = "y".repeat(100_000);
        let first = WsFrame::message(part.clone(), OpCode::Data(Data::Text), false);
        client.send(Message::Frame(first)).await.unwrap();
        idle(&mut server);
        assert_eq!(server.renewals(), 0, "a fragmented message is open");
        let last = WsFrame::message("end", OpCode::Data(Data::Continue), true);
        client.send(Message::Frame(last)).await.unwrap();
        assert_eq!(next_text(&mut server).await, format!("{part}end"));
        idle(&mut server);
        assert_eq!(server.renewals(), 1, "renewed once the message is whole");

        // A ping: its pong is owed until a flush, then the socket may go.
        client
            .send(Message::Ping(vec![7u8; 100].into()))
            .await
            .unwrap();
        client
            .send(Message::text("z".repeat(10_000)))
            .await
            .unwrap();
        assert_eq!(next_text(&mut server).await, "z".repeat(10_000));
        idle(&mut server);
        assert_eq!(server.renewals(), 2);
        let pong = client.next().await.unwrap().unwrap();
        assert!(matches!(pong, Message::Pong(_)), "{pong:?}");
    }

    #[test]
    fn a_close_reason_is_cut_at_a_char_boundary() {
        let long = "é".repeat(100);
        let cut = truncate_utf8(&long, MAX_CLOSE_REASON);
        assert!(cut.len() <= MAX_CLOSE_REASON && cut.len() >= MAX_CLOSE_REASON - 1);
    }
}
