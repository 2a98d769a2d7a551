//! Reading a server's WebSocket connection ahead of tungstenite, so an idle session holds no
//! read buffer worth speaking of.
//!
//! Owns [`ReadAhead`], the adapter between the upgraded connection and tungstenite. tungstenite
//! keeps a read buffer for the life of the socket, and reads at most that buffer's size per
//! call: a large buffer costs every idle session its size, a small one makes a large message
//! take one system call per few hundred bytes. So the socket is given a small buffer
//! ([`super::websocket`]'s `SERVER_READ_BUFFER`) and this adapter below it: reads go straight
//! into tungstenite's buffer while they fit (every small message, with no copy and no
//! allocation); once a read fills that buffer, more is probably waiting, and the next reads
//! fetch [`CHUNK`] bytes at a time into a buffer of this adapter's own, handed on from memory.
//! That buffer is freed once it is drained and the connection has nothing more to read (a wait
//! right after a full chunk keeps it: the rest of that message is on its way), so a session
//! between messages holds none.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How much one read ahead fetches: a large message arrives in reads of this size.
pub(crate) const CHUNK: usize = 64 * 1024;

/// A connection read ahead of its reader while large messages arrive. See the module docs.
#[derive(Debug)]
pub(crate) struct ReadAhead<S> {
    inner: S,
    /// Bytes read ahead, unread from `start` to `end`; empty (no allocation) while idle.
    ahead: Box<[u8]>,
    start: usize,
    end: usize,
    /// The last direct read filled the reader's buffer: more is probably waiting.
    streaming: bool,
}

impl<S> ReadAhead<S> {
    /// Wraps a connection.
    pub(crate) fn new(inner: S) -> Self {
        Self {
            inner,
            ahead: Box::default(),
            start: 0,
            end: 0,
            streaming: false,
        }
    }

    /// Bytes of memory this adapter holds now (for tests: zero while idle).
    #[cfg(test)]
    pub(crate) fn buffered_capacity(&self) -> usize {
        self.ahead.len()
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
        if this.start < this.end {
            let n = wanted.min(this.end - this.start);
            buf.put_slice(&this.ahead[this.start..this.start + n]);
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
                this.streaming = buf.filled().len() - before == wanted;
            }
            return polled;
        }
        if this.ahead.is_empty() {
            this.ahead = vec![0; CHUNK].into_boxed_slice();
        }
        let mut ahead = ReadBuf::new(&mut this.ahead);
        match Pin::new(&mut this.inner).poll_read(cx, &mut ahead) {
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
            Poll::Ready(Ok(())) => {
                let got = ahead.filled().len();
                // A short read: the sender has been caught up with.
                this.streaming = got == CHUNK;
                let n = wanted.min(got);
                buf.put_slice(&this.ahead[..n]);
                (this.start, this.end) = (n, got);
                Poll::Ready(Ok(()))
            }
        }
    }
}

impl<S> ReadAhead<S> {
    /// Nothing more to read now: drop the read-ahead buffer unless it still holds unread bytes.
    fn release(&mut self) {
        if self.start >= self.end {
            self.ahead = Box::default();
            (self.start, self.end) = (0, 0);
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
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
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
        let mut reader = ReadAhead::new(local);
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
}
