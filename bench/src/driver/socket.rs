//! WebSocket sessions with frame accounting: a transport wrapper that counts every frame each
//! way by message type, and the round trips a chain of calls takes, by the same rule as the
//! shared Node driver (a `push` or `pull` sent after anything was received since the previous
//! `push`/`pull` starts a new round; `release` never waits, so never counts).

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{Sink, Stream};
use tether::transport::websocket::WebSocketTransport;
use tether::transport::{Frame, Outgoing, TransportError};
use tether::{RpcResult, RpcSession, SessionOptions, Stub};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Frame counters of one connection, seen from the client.
#[derive(Clone, Copy, Debug, Default)]
pub struct FrameStats {
    /// Frames sent.
    pub c2s_frames: u64,
    /// Bytes of text sent.
    pub c2s_bytes: u64,
    /// Frames received.
    pub s2c_frames: u64,
    /// Bytes of text received.
    pub s2c_bytes: u64,
    /// `push` messages sent.
    pub push: u64,
    /// `pull` messages sent.
    pub pull: u64,
    /// `release` messages sent.
    pub release: u64,
    /// `resolve` messages received.
    pub resolve: u64,
    /// `reject` messages received.
    pub reject: u64,
    /// Rounds: see the module docs.
    pub rounds: u64,
    /// Something was received since the last `push`/`pull`.
    pub recv_since_send: bool,
}

impl FrameStats {
    /// Per-operation deltas from `before` to `self`, divided by `per`, with `client.mjs`'s keys.
    pub fn delta_per(&self, before: &FrameStats, per: f64) -> serde_json::Value {
        let d = |a: u64, b: u64| super::measure::round((a - b) as f64 / per.max(1.0), 3);
        serde_json::json!({
            "c2s_frames": d(self.c2s_frames, before.c2s_frames),
            "s2c_frames": d(self.s2c_frames, before.s2c_frames),
            "c2s_bytes": d(self.c2s_bytes, before.c2s_bytes),
            "s2c_bytes": d(self.s2c_bytes, before.s2c_bytes),
            "push": d(self.push, before.push),
            "pull": d(self.pull, before.pull),
            "release": d(self.release, before.release),
            "resolve": d(self.resolve, before.resolve),
            "reject": d(self.reject, before.reject),
        })
    }
}

/// Shared handle on a connection's [`FrameStats`].
#[derive(Clone, Debug, Default)]
pub struct Frames(Arc<Mutex<FrameStats>>);

impl Frames {
    fn lock(&self) -> MutexGuard<'_, FrameStats> {
        // Plain counters: a panic elsewhere cannot leave them inconsistent.
        self.0.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// A copy of the counters now.
    pub fn snapshot(&self) -> FrameStats {
        *self.lock()
    }

    /// Rounds counted so far.
    pub fn rounds(&self) -> u64 {
        self.lock().rounds
    }

    /// Makes the next `push`/`pull` start a new round (as before a fresh chain).
    pub fn start_round(&self) {
        self.lock().recv_since_send = true;
    }
}

/// A transport that counts into [`Frames`] what passes through it.
struct Counted<T> {
    inner: T,
    frames: Frames,
}

impl<T: Stream<Item = Result<Frame, TransportError>> + Unpin> Stream for Counted<T> {
    type Item = Result<Frame, TransportError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(text))) = &polled {
            let mut st = self.frames.lock();
            st.s2c_frames += 1;
            st.s2c_bytes += text.len() as u64;
            st.recv_since_send = true;
            if text.starts_with("[\"resolve\"") {
                st.resolve += 1;
            } else if text.starts_with("[\"reject\"") {
                st.reject += 1;
            }
        }
        polled
    }
}

impl<T: Sink<Outgoing, Error = TransportError> + Unpin> Sink<Outgoing> for Counted<T> {
    type Error = TransportError;
    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_ready(cx)
    }
    fn start_send(mut self: Pin<&mut Self>, out: Outgoing) -> Result<(), Self::Error> {
        if let Outgoing::Message(item) = &out {
            let mut st = self.frames.lock();
            st.c2s_frames += 1;
            st.c2s_bytes += item.len() as u64;
            let push = item.starts_with("[\"push\"");
            if push || item.starts_with("[\"pull\"") {
                if push {
                    st.push += 1;
                } else {
                    st.pull += 1;
                }
                if st.recv_since_send {
                    st.rounds += 1;
                    st.recv_since_send = false;
                }
            } else if item.starts_with("[\"release\"") {
                st.release += 1;
            }
        }
        Pin::new(&mut self.inner).start_send(out)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

/// The socket settings of every driver connection: no compression (tungstenite has none), room
/// for the largest workload message (≈1.4 MB) and then some, and tungstenite's default buffer
/// sizes (not necessarily those tether's own `connect()` sets).
pub fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20))
}

/// Opens a plain WebSocket (TCP_NODELAY on).
pub async fn connect_socket(
    url: &str,
) -> Result<WebSocketStream<MaybeTlsStream<TcpStream>>, String> {
    let (socket, _response) =
        tokio_tungstenite::connect_async_with_config(url, Some(socket_config()), true)
            .await
            .map_err(|e| format!("cannot connect to {url}: {e}"))?;
    Ok(socket)
}

/// A client session on a counted WebSocket.
pub struct RpcConnection {
    /// The server's main object.
    pub api: Stub,
    /// The connection's frame counters.
    pub frames: Frames,
    session: tokio::task::JoinHandle<RpcResult<()>>,
}

impl RpcConnection {
    /// Connects to `url` and starts a session offering no main object.
    pub async fn open(url: &str) -> Result<Self, String> {
        let socket = connect_socket(url).await?;
        let frames = Frames::default();
        let transport = Counted {
            inner: WebSocketTransport::new(socket),
            frames: frames.clone(),
        };
        let mut options = SessionOptions {
            close_when_main_dropped: true,
            ..SessionOptions::default()
        };
        // The `stubs` workload holds 100,000 counters, the default import quota (the server
        // raises its export quota likewise).
        options.quotas.max_imports = 1_000_000;
        let (api, session) = RpcSession::spawn(transport, None, options);
        Ok(Self {
            api,
            frames,
            session,
        })
    }

    /// Ends the session (dropping the main stub closes it) and waits up to 2 s for the socket
    /// to close.
    pub async fn close(self) {
        let Self { api, session, .. } = self;
        drop(api);
        let _ = tokio::time::timeout(Duration::from_secs(2), session).await;
    }
}
