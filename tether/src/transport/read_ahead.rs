//! Reading a server's WebSocket connection ahead of tungstenite, so an idle session holds no
//! read buffer worth speaking of.
//!
//! Owns [`ReadAhead`], the adapter between the upgraded connection and tungstenite. tungstenite
//! keeps a read buffer for the life of the socket, and reads at most that buffer's size per
//! call: a large buffer costs every idle session its size, a small one makes a large message
//! take one system call per few hundred bytes. So the socket is given a small buffer
//! ([`super::websocket`]'s `SERVER_READ_BUFFER`) and this adapter below it: reads go straight
//! into tungstenite's buffer while they fit (every small message, with no copy and no
//! allocation); once a read of the reader's full read size (`full_read`, that buffer's size)
//! comes back full, more is probably waiting, and the next reads fetch [`CHUNK`] bytes at a time
//! into a buffer of this adapter's own, handed on from memory (it is read into uninitialized:
//! allocating it zeroes nothing). A full read smaller than that says nothing: tungstenite asks
//! only for the room left in its buffer after the frames it has split off, often a few bytes,
//! which the next small message fills; taking that for a stream would allocate a chunk every
//! few messages. The chunk is freed once it is drained and the connection has nothing more to
//! read (a wait right after a full chunk keeps it: the rest of that message is on its way), so
//! a session between messages holds none.
//!
//! It also follows the frames it hands on ([`FrameTrack`]: headers only, a few comparisons per
//! read) and notes a frame or a write of [`LARGE`] bytes or more, so that the transport can tell
//! when tungstenite's buffers have grown and when it is safe to replace them (between frames,
//! no fragmented message open, no pong owed); see `websocket`'s `WebSocketTransport`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// How much one read ahead fetches: a large message arrives in reads of this size.
pub(crate) const CHUNK: usize = 64 * 1024;

/// A frame read or a write of this many bytes or more has grown tungstenite's read or write
/// buffer, which keeps its largest size: the transport replaces them once the session is idle.
pub(crate) const LARGE: usize = 4 * 1024;

/// A connection read ahead of its reader while large messages arrive. See the module docs.
#[derive(Debug)]
pub(crate) struct ReadAhead<S> {
    inner: S,
    /// Bytes read ahead, unread from `start` on; no allocation while idle. Its capacity is a
    /// chunk, read into uninitialized (never zeroed).
    ahead: Vec<u8>,
    start: usize,
    /// The last direct read asked for at least `full_read` bytes and came back full, or the last
    /// read ahead filled its chunk: more is probably waiting.
    streaming: bool,
    /// The reader's full read size: a direct read this large that comes back full starts
    /// streaming; a smaller one (the reader's buffer nearly full) does not.
    full_read: usize,
    /// Where the bytes handed on stand in the stream of WebSocket frames.
    frames: FrameTrack,
    /// A frame or a write of [`LARGE`] bytes or more since [`ReadAhead::clear_large`].
    large: bool,
}

/// Follows the WebSocket frames (RFC 6455, section 5.2) in the bytes handed to the reader: where
/// the next header starts, whether a fragmented message is open, whether a ping was handed on
/// with no flush since (tungstenite owes its pong) or a close. Malformed input only makes it
/// lose track (tungstenite rejects it and the session ends); it never panics.
#[derive(Debug, Default)]
pub(crate) struct FrameTrack {
    /// The header of the next frame, as far as it has arrived.
    header: [u8; 14],
    have: usize,
    /// Payload bytes of the current frame not handed on yet.
    payload_left: u64,
    /// Its opcode and FIN bit, for when its payload is complete.
    opcode: u8,
    fin: bool,
    /// A data frame without FIN was handed on and its last fragment has not been.
    fragmented: bool,
    /// A ping was handed on and no flush has followed.
    ping: bool,
    /// A close frame was handed on.
    close: bool,
    /// The largest frame since [`ReadAhead::clear_large`].
    largest: u64,
}

impl FrameTrack {
    /// Follows `bytes`, the next ones handed on.
    fn scan(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let n = bytes
                    .len()
                    .min(usize::try_from(self.payload_left).unwrap_or(usize::MAX));
                self.payload_left -= n as u64;
                bytes = &bytes[n..];
                if self.payload_left == 0 {
                    self.frame_done();
                }
                continue;
            }
            self.header[self.have] = bytes[0];
            self.have += 1;
            bytes = &bytes[1..];
            let [b0, b1, ..] = self.header;
            if self.have < 2 {
                continue;
            }
            let extended = match b1 & 0x7f {
                126 => 2,
                127 => 8,
                _ => 0,
            };
            let mask = if b1 & 0x80 != 0 { 4 } else { 0 };
            if self.have < 2 + extended + mask {
                continue;
            }
            let len = match extended {
                0 => u64::from(b1 & 0x7f),
                _ => self.header[2..2 + extended]
                    .iter()
                    .fold(0u64, |len, &b| len.wrapping_shl(8) | u64::from(b)),
            };
            self.have = 0;
            self.opcode = b0 & 0x0f;
            self.fin = b0 & 0x80 != 0;
            self.largest = self.largest.max(len);
            self.payload_left = len;
            if len == 0 {
                self.frame_done();
            }
        }
    }

    fn frame_done(&mut self) {
        match self.opcode {
            0..=2 => self.fragmented = !self.fin,
            8 => self.close = true,
            9 => self.ping = true,
            _ => {}
        }
    }

    /// Between frames, no fragmented message open, no pong owed, no close seen: what was handed
    /// on was whole messages, all of them answered as the protocol requires.
    pub(crate) fn between_messages(&self) -> bool {
        self.have == 0 && self.payload_left == 0 && !self.fragmented && !self.ping && !self.close
    }
}

impl<S> ReadAhead<S> {
    /// Wraps a connection whose reader reads at most `full_read` bytes at a time (its read
    /// buffer's size).
    pub(crate) fn new(inner: S, full_read: usize) -> Self {
        Self {
            inner,
            ahead: Vec::new(),
            start: 0,
            streaming: false,
            full_read,
            frames: FrameTrack::default(),
            large: false,
        }
    }

    /// Whether a frame or a write of [`LARGE`] bytes or more went through since the last
    /// [`ReadAhead::clear_large`], and what was read since is whole, answered messages: the reader
    /// and writer above hold buffers grown that large, and could be replaced with fresh ones if
    /// they hold nothing (see `WebSocketTransport`).
    pub(crate) fn grown_between_messages(&self) -> bool {
        (self.large || self.frames.largest >= LARGE as u64) && self.frames.between_messages()
    }

    /// The buffers above were replaced: nothing large since.
    pub(crate) fn clear_large(&mut self) {
        self.large = false;
        self.frames.largest = 0;
    }

    /// Bytes of memory this adapter holds now (for tests: zero while idle).
    #[cfg(test)]
    pub(crate) fn buffered_capacity(&self) -> usize {
        self.ahead.capacity()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadAhead<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let wanted = buf.remaining();
        if wanted == 0 {
            return Poll::Ready(Ok(()));
        }
        if this.start < this.ahead.len() {
            let n = wanted.min(this.ahead.len() - this.start);
            let handed = &this.ahead[this.start..this.start + n];
            buf.put_slice(handed);
            this.frames.scan(handed);
            this.start += n;
            return Poll::Ready(Ok(()));
        }
        if !this.streaming || wanted >= CHUNK {
            // Straight into the reader's buffer: no copy.
            let before = buf.filled().len();
            let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
            if polled.is_pending() {
                this.release();
            } else {
                this.frames.scan(&buf.filled()[before..]);
                this.streaming = wanted >= this.full_read && buf.filled().len() - before == wanted;
            }
            return polled;
        }
        if this.ahead.capacity() == 0 {
            this.ahead = Vec::with_capacity(CHUNK);
        }
        this.ahead.clear();
        this.start = 0;
        // Into the chunk's spare capacity: nothing is zeroed first.
        let read = std::pin::pin!(this.inner.read_buf(&mut this.ahead));
        match read.poll(cx) {
            Poll::Pending => {
                // Mid-message (the last chunk was full): keep the buffer for the rest, which is
                // on its way; the next wait frees it.
                if this.streaming {
                    this.streaming = false;
                } else {
                    this.release();
                }
                Poll::Pending
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(got)) => {
                // A short read: the sender has been caught up with.
                this.streaming = got >= CHUNK;
                let n = wanted.min(got);
                buf.put_slice(&this.ahead[..n]);
                this.frames.scan(&this.ahead[..n]);
                this.start = n;
                Poll::Ready(Ok(()))
            }
        }
    }
}

impl<S> ReadAhead<S> {
    /// Nothing more to read now: drop the read-ahead buffer unless it still holds unread bytes.
    fn release(&mut self) {
        if self.start >= self.ahead.len() {
            self.ahead = Vec::new();
            self.start = 0;
            self.streaming = false;
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ReadAhead<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // tungstenite writes its whole write buffer at once: this is its size.
        this.large |= buf.len() >= LARGE;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.large |= bufs.iter().map(|b| b.len()).sum::<usize>() >= LARGE;
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let flushed = Pin::new(&mut this.inner).poll_flush(cx);
        // tungstenite flushes the stream only once its write buffer (and any pong it owed, queued
        // before) is written out.
        if let Poll::Ready(Ok(())) = flushed {
            this.frames.ping = false;
        }
        flushed
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Small reads never allocate; a large transfer arrives whole, in chunks read ahead; once
    /// it is drained and the connection is quiet, the read-ahead buffer is gone.
    #[tokio::test]
    async fn small_reads_go_straight_large_ones_are_read_ahead_then_released() {
        let (mut peer, local) = tokio::io::duplex(4 * CHUNK);
        let mut reader = ReadAhead::new(local, 512);
        let mut small = [0u8; 512];

        peer.write_all(b"hello").await.unwrap();
        let n = reader.read(&mut small).await.unwrap();
        assert_eq!(&small[..n], b"hello");
        assert_eq!(
            reader.buffered_capacity(),
            0,
            "a small read allocates nothing"
        );

        let sent: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i % 251) as u8).collect();
        let writer = {
            let sent = sent.clone();
            tokio::spawn(async move {
                peer.write_all(&sent).await.unwrap();
                peer
            })
        };
        let mut got = Vec::new();
        let mut read_ahead = false;
        while got.len() < sent.len() {
            let n = reader.read(&mut small).await.unwrap();
            assert!(n > 0, "the connection ended early");
            read_ahead |= reader.buffered_capacity() == CHUNK;
            assert!(
                reader.buffered_capacity() <= CHUNK,
                "each chunk is read into the same buffer, which never grows"
            );
            got.extend_from_slice(&small[..n]);
        }
        assert_eq!(got, sent, "every byte arrives once, in order");
        assert!(
            read_ahead,
            "reads of 512 bytes were served from a chunk read ahead"
        );
        let _peer = writer.await.unwrap();
        // Nothing more to read: the next read is pending, and the buffer goes.
        let pending = futures_util::FutureExt::now_or_never(reader.read(&mut small));
        assert!(pending.is_none());
        assert_eq!(
            reader.buffered_capacity(),
            0,
            "released once drained and idle"
        );
    }

    /// A read that fills a request smaller than the reader's full read size (tungstenite asking
    /// for the few bytes left in its buffer) does not start streaming: the next read goes
    /// straight to the connection, with no chunk allocated.
    #[tokio::test]
    async fn a_small_full_read_does_not_start_streaming() {
        let (mut peer, local) = tokio::io::duplex(4 * CHUNK);
        let mut reader = ReadAhead::new(local, 256);
        peer.write_all(&[7u8; 100]).await.unwrap();
        let mut room = [0u8; 20];
        assert_eq!(reader.read(&mut room).await.unwrap(), 20, "filled");
        let mut buf = [0u8; 256];
        assert_eq!(
            reader.read(&mut buf).await.unwrap(),
            80,
            "the rest, read directly"
        );
        assert_eq!(
            reader.buffered_capacity(),
            0,
            "no chunk for a small full read"
        );
    }

    /// A read of the reader's full read size that comes back full starts streaming: the next
    /// read fetches a chunk ahead, and what arrives is handed on whole and in order.
    #[tokio::test]
    async fn a_full_read_of_the_full_size_starts_streaming() {
        let (mut peer, local) = tokio::io::duplex(4 * CHUNK);
        let mut reader = ReadAhead::new(local, 256);
        let sent: Vec<u8> = (0..1000).map(|i| (i % 251) as u8).collect();
        peer.write_all(&sent).await.unwrap();
        let mut buf = [0u8; 256];
        assert_eq!(reader.read(&mut buf).await.unwrap(), 256, "filled");
        let mut got = buf.to_vec();
        assert_eq!(reader.read(&mut buf).await.unwrap(), 256);
        assert_eq!(
            reader.buffered_capacity(),
            CHUNK,
            "the next read fetched a chunk"
        );
        got.extend_from_slice(&buf);
        while got.len() < sent.len() {
            let n = reader.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, sent);
    }
}
