//! Streams: [`ReadableStream`] and [`WritableStream`], the two stream types Cap'n Web carries.
//!
//! A [`ReadableStream`] is a local source of chunks, any RPC value each. Sending one makes a pipe
//! on the peer (`["pipe"]`), and a pump writes the chunks into it while the message referring to
//! its readable end (`["readable", id]`) travels; what arrives is again a local source, fed by the
//! peer's writes. So a stream that was received can be passed on or returned, to the same peer
//! or another session, and the data flows end to end.
//!
//! A [`WritableStream`] is a reference (a stub) to something that accepts `write`, `close` and
//! `abort`: a pipe's writable end, here or on the peer. Writes to a remote one are sent as
//! `stream` messages (no pull, no release) and kept within a window of bytes in flight that
//! adapts to the link ([`flow`]).
//!
//! Lifecycle, as for any stub: dropping a writable without `close()` aborts it on the other end;
//! a readable's data can be taken once; a disconnect errors both ends.
//!
//! This module owns the stream types, the local pipe and the writer's flow control. It must not
//! touch session tables: remote writes go through the stub's import like any call.

pub(crate) mod flow;

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll};
use std::time::Instant;

use futures_util::stream::{FuturesUnordered, Stream, StreamExt};
use futures_util::Sink;
use tokio::sync::{mpsc, watch};

use self::flow::{seconds, FlowController, Token};
use crate::core::error::{RpcError, RpcResult};
use crate::core::hook::{Hook, Spawner};
use crate::core::stub::Stub;
use crate::core::target::Target;
use crate::core::value::{PathKey, Value};
use crate::rt::BoxFuture;

/// What a stream carries: any type that converts to and from an RPC [`Value`]. Implemented for
/// every serde type (see [`typed`](crate::typed)); [`Value`] itself passes through unchanged.
pub trait Chunk: Sized + Send + 'static {
    /// The chunk as a value, to send.
    fn into_chunk(self) -> RpcResult<Value>;
    /// A received value as a chunk of this type.
    fn from_chunk(value: Value) -> RpcResult<Self>;
}

pub(crate) type Source = Pin<Box<dyn Stream<Item = RpcResult<Value>> + Send>>;

/// How many chunks a pipe's reader may fall behind before writes stop being acknowledged.
const PIPE_CAPACITY: usize = 16;

/// A stream of chunks that can be read once: a [`futures_util::Stream`] of `RpcResult<T>`.
///
/// Make one from any Rust stream with [`ReadableStream::new`] and send it in a call or a
/// result; a received one is read like any stream. An error in the middle reaches the reader as
/// an `Err` item; the stream ends after it. Dropping an unread stream cancels it (the writer's
/// next write fails). Clones share one source: whichever reads (or sends) it first takes it.
///
/// ```
/// use futures_util::StreamExt;
/// use tether::{ReadableStream, RpcResult};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> RpcResult<()> {
/// let numbers = ReadableStream::new(futures_util::stream::iter((0..3).map(Ok::<i64, _>)));
/// let read: Vec<i64> = numbers.map(|n| n.unwrap()).collect().await;
/// assert_eq!(read, [0, 1, 2]);
/// # Ok(()) }
/// ```
pub struct ReadableStream<T = Value> {
    shared: Arc<Mutex<Option<Source>>>,
    /// This holder's read, once it started (boxed: a stream in a value stays two words). A
    /// `Mutex` only to be `Sync` (values are): it is reached through `get_mut`, never locked.
    reading: Option<Box<Mutex<Reading>>>,
    _chunk: PhantomData<fn() -> T>,
}

/// The source being read, or `None` once the stream ended or failed.
struct Reading {
    source: Option<Source>,
}

impl<T: Chunk> ReadableStream<T> {
    /// A readable stream of the items of `stream`; an `Err` item errors the stream.
    pub fn new<S>(stream: S) -> Self
    where
        S: Stream<Item = RpcResult<T>> + Send + 'static,
    {
        let values = stream.map(|item| item.and_then(T::into_chunk));
        Self::from_source(Box::pin(values))
    }

    /// A readable stream of the given chunks.
    pub fn from_chunks(chunks: impl IntoIterator<Item = T, IntoIter: Send + 'static>) -> Self {
        Self::new(futures_util::stream::iter(chunks.into_iter().map(Ok)))
    }
}

impl<T> ReadableStream<T> {
    pub(crate) fn from_source(source: Source) -> Self {
        Self {
            shared: Arc::new(Mutex::new(Some(source))),
            reading: None,
            _chunk: PhantomData,
        }
    }

    /// The same stream, read as chunks of another type (a received stream of `Value`s read as
    /// `bytes::Bytes`, say). Chunks that do not convert are `Err` items.
    pub fn cast<U>(self) -> ReadableStream<U> {
        ReadableStream {
            shared: self.shared,
            reading: self.reading,
            _chunk: PhantomData,
        }
    }

    /// Takes the source to send it on. `None` if some clone already took it.
    pub(crate) fn take_source(&self) -> Option<Source> {
        self.shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

impl<T> Clone for ReadableStream<T> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            reading: None,
            _chunk: PhantomData,
        }
    }
}

impl<T> fmt::Debug for ReadableStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReadableStream")
    }
}

impl<T> Unpin for ReadableStream<T> {}

impl<T: Chunk> Stream for ReadableStream<T> {
    type Item = RpcResult<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let reading = match &mut this.reading {
            Some(reading) => reading,
            None => {
                let taken = this
                    .shared
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                let first = taken.is_none();
                let reading = this
                    .reading
                    .insert(Box::new(Mutex::new(Reading { source: taken })));
                if first {
                    return Poll::Ready(Some(Err(RpcError::type_error(
                        "This ReadableStream was already read or sent by another holder.",
                    ))));
                }
                reading
            }
        };
        let reading = unlocked(reading);
        let Some(source) = reading.source.as_mut() else {
            return Poll::Ready(None);
        };
        match ready!(source.as_mut().poll_next(cx)) {
            None => {
                reading.source = None;
                Poll::Ready(None)
            }
            Some(Err(error)) => {
                reading.source = None;
                Poll::Ready(Some(Err(error)))
            }
            Some(Ok(value)) => Poll::Ready(Some(T::from_chunk(value))),
        }
    }
}

/// The inside of a `Mutex` held only to make its owner `Sync`, reached without locking.
fn unlocked<T>(slot: &mut Mutex<T>) -> &mut T {
    slot.get_mut().unwrap_or_else(PoisonError::into_inner)
}

impl ReadableStream<bytes::Bytes> {
    /// Reads the byte chunks as a [`tokio::io::AsyncRead`]. An error item becomes an
    /// `io::Error` of kind `Other` carrying the [`RpcError`].
    pub fn into_async_read(self) -> impl tokio::io::AsyncRead + Send + Unpin {
        ByteReader {
            stream: self,
            current: bytes::Bytes::new(),
        }
    }
}

struct ByteReader {
    stream: ReadableStream<bytes::Bytes>,
    current: bytes::Bytes,
}

impl tokio::io::AsyncRead for ByteReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        while self.current.is_empty() {
            match ready!(self.stream.poll_next_unpin(cx)) {
                None => return Poll::Ready(Ok(())),
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(error)) => return Poll::Ready(Err(std::io::Error::other(error))),
            }
        }
        let n = self.current.len().min(buf.remaining());
        let head = self.current.split_to(n);
        buf.put_slice(&head);
        Poll::Ready(Ok(()))
    }
}

/// How a pipe's writable end ended, as its reader sees it.
enum End {
    Closed,
    Aborted(RpcError),
}

type SharedEnd = Arc<Mutex<Option<End>>>;

fn set_end_once(end: &SharedEnd, value: End) {
    let mut end = end.lock().unwrap_or_else(PoisonError::into_inner);
    if end.is_none() {
        *end = Some(value);
    }
}

/// The writable end of a pipe, as a target: `write(chunk)`, `close()`, `abort(reason)`.
///
/// A write queues its chunk at once, in the order the calls arrive (so chunks never overtake
/// each other), and completes when the reader has come within [`PIPE_CAPACITY`] chunks of it:
/// that completion is the acknowledgement the remote writer's window waits for, so what a pipe
/// holds is bounded by the writer's window.
struct PipeWriter {
    input: Mutex<PipeInput>,
    end: SharedEnd,
    /// How many chunks the reader has taken.
    taken: watch::Receiver<u64>,
    /// Bytes queued and not taken yet (estimated as on the wire), shared with the reader.
    buffered: Arc<AtomicUsize>,
    /// Past this many buffered bytes, writes are refused: a writer that ignores the
    /// acknowledgements cannot make the pipe hold more.
    max_buffered: usize,
}

struct PipeInput {
    tx: Option<mpsc::UnboundedSender<(Value, usize)>>,
    queued: u64,
}

fn canceled_by_reader() -> RpcError {
    RpcError::error("The ReadableStream was canceled by its reader.")
}

impl PipeWriter {
    fn input(&self) -> std::sync::MutexGuard<'_, PipeInput> {
        self.input.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `chunk`; returns its position.
    fn queue(&self, chunk: Value) -> RpcResult<u64> {
        let mut input = self.input();
        let tx = input.tx.as_ref().ok_or_else(|| {
            RpcError::type_error("Cannot write to a WritableStream that is closed.")
        })?;
        let size = estimate_size(&chunk);
        let buffered = self.buffered.load(Ordering::Acquire);
        if buffered.saturating_add(size) > self.max_buffered {
            return Err(RpcError::range_error(format!(
                "Stream buffer quota exceeded: {buffered} bytes are waiting for the reader (the quota \
                 is {}); the writer must wait for its writes to be acknowledged.",
                self.max_buffered
            )));
        }
        tx.send((chunk, size)).map_err(|_| canceled_by_reader())?;
        self.buffered.fetch_add(size, Ordering::AcqRel);
        input.queued += 1;
        Ok(input.queued)
    }
}

impl Target for PipeWriter {
    fn call<'a>(&'a self, method: &'a str, args: Vec<Value>) -> BoxFuture<'a, RpcResult> {
        match method {
            "write" => {
                let queued = self.queue(args.into_iter().next().unwrap_or_default());
                let mut taken = self.taken.clone();
                Box::pin(async move {
                    let position = queued?;
                    taken
                        .wait_for(|taken| taken + PIPE_CAPACITY as u64 >= position)
                        .await
                        .map_err(|_| canceled_by_reader())?;
                    Ok(Value::Undefined)
                })
            }
            "close" => {
                let closed = match self.input().tx.take() {
                    Some(_) => {
                        set_end_once(&self.end, End::Closed);
                        Ok(Value::Undefined)
                    }
                    None => Err(RpcError::type_error(
                        "Cannot close a WritableStream that is closed.",
                    )),
                };
                Box::pin(std::future::ready(closed))
            }
            "abort" => {
                let reason = match args.into_iter().next() {
                    Some(Value::Error(error)) => *error,
                    Some(Value::Undefined) | None => RpcError::error("WritableStream was aborted"),
                    Some(other) => {
                        RpcError::error("WritableStream was aborted").with_prop("reason", other)
                    }
                };
                set_end_once(&self.end, End::Aborted(reason));
                self.input().tx = None;
                Box::pin(std::future::ready(Ok(Value::Undefined)))
            }
            _ => Box::pin(async move {
                Err(RpcError::error(format!(
                    "Unknown WritableStream method: {method}"
                )))
            }),
        }
    }

    fn get<'a>(&'a self, _name: &'a str) -> BoxFuture<'a, RpcResult> {
        Box::pin(async {
            Err(RpcError::error(
                "Cannot access properties on a WritableStream stub",
            ))
        })
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        // The last reference went without `close()`: the reader sees an error, not an end.
        set_end_once(
            &self.end,
            End::Aborted(RpcError::error(
                "WritableStream RPC stub was disposed without calling close()",
            )),
        );
    }
}

/// The readable end of a pipe.
struct PipeReader {
    rx: mpsc::UnboundedReceiver<(Value, usize)>,
    end: SharedEnd,
    taken: watch::Sender<u64>,
    buffered: Arc<AtomicUsize>,
}

impl Stream for PipeReader {
    type Item = RpcResult<Value>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match ready!(self.rx.poll_recv(cx)) {
            Some((chunk, size)) => {
                self.buffered.fetch_sub(size, Ordering::AcqRel);
                self.taken.send_modify(|taken| *taken += 1);
                Poll::Ready(Some(Ok(chunk)))
            }
            None => {
                let end = self
                    .end
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                Poll::Ready(match end {
                    Some(End::Closed) => None,
                    Some(End::Aborted(reason)) => Some(Err(reason)),
                    None => Some(Err(RpcError::disconnected(
                        "The WritableStream feeding this ReadableStream went away.",
                    ))),
                })
            }
        }
    }
}

/// A pipe: what is written to the writable end is read from the readable end. Writes beyond
/// `max_buffered` bytes waiting for the reader are refused.
pub(crate) fn pipe(max_buffered: usize) -> (Stub, ReadableStream) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (taken_tx, taken_rx) = watch::channel(0);
    let end: SharedEnd = Arc::new(Mutex::new(None));
    let buffered = Arc::new(AtomicUsize::new(0));
    let writer = Stub::new(PipeWriter {
        input: Mutex::new(PipeInput {
            tx: Some(tx),
            queued: 0,
        }),
        end: end.clone(),
        taken: taken_rx,
        buffered: buffered.clone(),
        max_buffered,
    });
    let reader = ReadableStream::from_source(Box::pin(PipeReader {
        rx,
        end,
        taken: taken_tx,
        buffered,
    }));
    (writer, reader)
}

/// A reference to a writable stream, here or on the peer: a [`futures_util::Sink`] of `T`.
///
/// Writes do not wait for each other: [`write`](Self::write) returns once the chunk is sent
/// and the window of bytes in flight has room, so a fast link stays busy and a slow reader
/// holds the writer back. [`close`](Self::close) waits for every write and reports the first
/// that failed, as capnweb's does. Dropping a writable without closing it aborts it on the other
/// end (its reader sees an error).
///
/// ```
/// use futures_util::StreamExt;
/// use tether::{RpcResult, WritableStream};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> RpcResult<()> {
/// let (mut writer, reader) = WritableStream::<String>::pipe();
/// let read = tokio::spawn(reader.collect::<Vec<_>>());
/// writer.write("hello".to_owned()).await?;
/// writer.close().await?;
/// assert_eq!(read.await.unwrap().len(), 1);
/// # Ok(()) }
/// ```
pub struct WritableStream<T = Value> {
    stub: Stub,
    /// This holder's writes, made at the first. A `Mutex` only to be `Sync` (values are): it
    /// is reached through `get_mut`, never locked.
    writer: Option<Box<Mutex<Writer>>>,
    _chunk: PhantomData<fn(T)>,
}

/// The state of one holder's writes: the window and the acknowledgements still to come.
struct Writer {
    flow: FlowController,
    origin: Instant,
    acks: FuturesUnordered<BoxFuture<'static, (Token, RpcResult<()>)>>,
    failed: Option<RpcError>,
    closing: Option<BoxFuture<'static, RpcResult<()>>>,
}

impl<T> WritableStream<T> {
    /// A pipe: a writable end and the readable end that receives what is written. Return the
    /// writable from a method to let a peer write to this program; send the readable to let a
    /// peer read what this program writes.
    pub fn pipe() -> (WritableStream<T>, ReadableStream<T>) {
        // Local writers keep to their window: no quota needed.
        let (stub, reader) = pipe(usize::MAX);
        (WritableStream::from_stub(stub), reader.cast())
    }

    pub(crate) fn from_stub(stub: Stub) -> Self {
        Self {
            stub,
            writer: None,
            _chunk: PhantomData,
        }
    }

    /// The stub behind this writable (to encode it).
    pub(crate) fn stub(&self) -> &Stub {
        &self.stub
    }

    /// The same writable, written with chunks of another type.
    pub fn cast<U>(self) -> WritableStream<U> {
        WritableStream {
            stub: self.stub,
            writer: self.writer,
            _chunk: PhantomData,
        }
    }

    fn writer(&mut self) -> &mut Writer {
        let writer = self.writer.get_or_insert_with(|| {
            Box::new(Mutex::new(Writer {
                flow: FlowController::default(),
                origin: Instant::now(),
                acks: FuturesUnordered::new(),
                failed: None,
                closing: None,
            }))
        });
        unlocked(writer)
    }

    /// Takes in every acknowledgement that has arrived. `Ready` once none is outstanding.
    fn poll_acks(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let writer = self.writer();
        loop {
            match writer.acks.poll_next_unpin(cx) {
                Poll::Ready(Some((token, outcome))) => {
                    let now = seconds(writer.origin.elapsed());
                    match outcome {
                        Ok(()) => {
                            writer.flow.on_ack(token, now);
                        }
                        Err(error) => {
                            writer.flow.on_error(token);
                            writer.failed.get_or_insert(error);
                        }
                    }
                }
                Poll::Ready(None) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn failed(&mut self) -> Option<RpcError> {
        self.writer
            .as_mut()
            .and_then(|w| unlocked(w).failed.clone())
    }

    /// Sends `method(args)` on the writable as a stream operation.
    fn operation(&self, method: &str, args: Vec<Value>) -> BoxFuture<'static, RpcResult<()>> {
        let path = [PathKey::Name(method.into())];
        let result = match &self.stub.hook {
            Hook::Import(import) => import.send_stream(&path, args),
            other => other.call(&path, args, &Spawner::Runtime),
        };
        Box::pin(async move { result.resolve().await.map(drop) })
    }

    /// Aborts the stream with `reason`: its reader sees that error. Writes not yet taken may be
    /// lost.
    pub async fn abort(mut self, reason: RpcError) -> RpcResult<()> {
        let done = self.operation("abort", vec![Value::Error(Box::new(reason))]);
        self.writer = None;
        done.await
    }
}

impl<T: Chunk> WritableStream<T> {
    /// Writes one chunk: returns once it is sent and the window has room for more, without
    /// waiting for it to be taken. A failed earlier write makes this fail with its error.
    pub async fn write(&mut self, chunk: T) -> RpcResult<()> {
        std::future::poll_fn(|cx| Sink::<T>::poll_ready(Pin::new(&mut *self), cx)).await?;
        Sink::<T>::start_send(Pin::new(self), chunk)
    }

    /// Waits for every write, then closes the stream; reports the first failed write if any.
    pub async fn close(mut self) -> RpcResult<()> {
        std::future::poll_fn(|cx| Sink::<T>::poll_close(Pin::new(&mut self), cx)).await
    }
}

impl<T> Clone for WritableStream<T> {
    /// Another reference to the same stream (its own window).
    fn clone(&self) -> Self {
        Self::from_stub(self.stub.clone())
    }
}

impl<T> fmt::Debug for WritableStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WritableStream")
    }
}

impl<T> Unpin for WritableStream<T> {}

impl<T: Chunk> Sink<T> for WritableStream<T> {
    type Error = RpcError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<RpcResult<()>> {
        loop {
            let drained = self.poll_acks(cx).is_ready();
            if let Some(error) = self.failed() {
                return Poll::Ready(Err(error));
            }
            if self.writer().flow.has_room() {
                return Poll::Ready(Ok(()));
            }
            if drained {
                continue; // Cannot happen (bytes in flight mean acknowledgements to come).
            }
            return Poll::Pending;
        }
    }

    fn start_send(mut self: Pin<&mut Self>, chunk: T) -> RpcResult<()> {
        if let Some(error) = self.failed() {
            return Err(error);
        }
        let value = chunk.into_chunk()?;
        let size = estimate_size(&value);
        let done = self.operation("write", vec![value]);
        let writer = self.writer();
        let token = writer.flow.on_send(size, seconds(writer.origin.elapsed()));
        writer
            .acks
            .push(Box::pin(async move { (token, done.await) }));
        Ok(())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<RpcResult<()>> {
        ready!(self.poll_acks(cx));
        Poll::Ready(self.failed().map_or(Ok(()), Err))
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<RpcResult<()>> {
        if self.writer().closing.is_none() {
            ready!(self.poll_acks(cx));
            if let Some(error) = self.failed() {
                return Poll::Ready(Err(error));
            }
            let closing = self.operation("close", Vec::new());
            self.writer().closing = Some(closing);
        }
        let Some(closing) = self.writer().closing.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let outcome = ready!(closing.as_mut().poll(cx));
        // Closed: the reference is released now, as capnweb disposes its writer's hook.
        self.stub = Stub::broken(RpcError::type_error("This WritableStream is closed."));
        self.writer = None;
        Poll::Ready(outcome)
    }
}

impl tokio::io::AsyncWrite for WritableStream<bytes::Bytes> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        ready!(Sink::<bytes::Bytes>::poll_ready(self.as_mut(), cx))
            .map_err(std::io::Error::other)?;
        Sink::start_send(self, bytes::Bytes::copy_from_slice(buf))
            .map_err(std::io::Error::other)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Sink::<bytes::Bytes>::poll_flush(self, cx).map_err(std::io::Error::other)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Sink::<bytes::Bytes>::poll_close(self, cx).map_err(std::io::Error::other)
    }
}

/// Roughly how many bytes `value` takes on the wire: what a write counts against the window.
pub(crate) fn estimate_size(value: &Value) -> usize {
    let mut total = 0;
    let mut queue: VecDeque<&Value> = VecDeque::from([value]);
    while let Some(value) = queue.pop_front() {
        total += match value {
            Value::Undefined | Value::Null | Value::Bool(_) => 8,
            Value::Number(_) | Value::Date(_) => 12,
            Value::String(s) => s.len() + 2,
            Value::Bytes(b) => b.data.len().div_ceil(3) * 4 + 12,
            Value::Array(items) => {
                queue.extend(items);
                items.len() + 4
            }
            Value::Object(object) => {
                object.iter().for_each(|(_, v)| queue.push_back(v));
                object.iter().map(|(k, _)| k.len() + 4).sum::<usize>() + 2
            }
            _ => 32,
        };
    }
    total
}

/// Pumps `source` into the writable `sink` until it ends (then closes it), fails (then aborts
/// it with the error) or the sink fails (then the source is dropped: cancelled).
pub(crate) async fn pump(mut source: Source, mut sink: WritableStream) {
    while let Some(item) = source.next().await {
        match item {
            Ok(chunk) => {
                if sink.write(chunk).await.is_err() {
                    return;
                }
            }
            Err(error) => {
                let _ = sink.abort(error).await;
                return;
            }
        }
    }
    let _ = sink.close().await;
}
