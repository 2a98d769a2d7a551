//! The contract's main object, **TestTarget**, declared as a typed interface: a fresh one per
//! session.
//!
//! Parameters are typed where the contract fixes their type (numbers, tags, callbacks), so a
//! wrong argument is refused at the boundary with a `TypeError` naming the method and the
//! parameter, before the body runs. Where the contract passes anything through (`echo`,
//! `fireCallback`, `callFunction`'s argument) or accepts any object with an `increment` member
//! (`incrementCounter`), the parameter is a [`Value`].
//!
//! Per-session state is the registered callback, held as a field: when the session ends (or the
//! client releases the main stub) tether drops the main object's lineage and the `#[dispose]`
//! hook releases the callback; dropping the object would release it anyway. Everything
//! server-wide lives in [`crate::disposable`].

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tether::typed::Callback;
use tether::{
    Blob, Body, ReadableStream, Request, Response, RpcError, Stub, Url, Value, WritableStream,
};

use crate::counter::{CounterClient, CounterImpl};
use crate::disposable::{disposed_count, DisposableClient, DisposableImpl};
use crate::js;
use crate::streams;

/// Most elements `generateFibonacci` and `makeDisposableRepeated` hand out in one call.
const MAX_LENGTH: usize = 1 << 20;

/// The contract's main object (JavaScript names in camelCase: `callSquare`, `makeCounter`, ...).
#[tether::interface]
pub(crate) trait TestTarget {
    /// `i * i`.
    async fn square(&self, i: f64) -> f64;
    /// `{ result: await this.square(i) }`, called back through the stub it was given (normally
    /// the client's stub of this very main object).
    async fn call_square(&self, this: TestTargetClient, i: f64) -> Result<Value, RpcError>;
    /// `{ result: await func(i) }`; an error from `func` is passed on unchanged.
    async fn call_function(
        &self,
        func: Callback<(Value,), Value>,
        i: Value,
    ) -> Result<Value, RpcError>;
    /// Always rejects with `RangeError("test error")`.
    async fn throw_error(&self) -> Result<(), RpcError>;
    /// A new Counter starting at `i`.
    async fn make_counter(&self, i: f64) -> CounterClient;
    /// `await counter.increment(i)` (`i` defaults to 1) on a Counter stub or any client object
    /// with an `increment` member.
    async fn increment_counter(&self, counter: Value, i: Value) -> Result<Value, RpcError>;
    /// The first `length` Fibonacci numbers, starting `[0, 1]`.
    async fn generate_fibonacci(&self, length: f64) -> Result<Vec<f64>, RpcError>;
    /// `null`.
    async fn return_null(&self) -> Value;
    /// `undefined`.
    async fn return_undefined(&self) -> Value;
    /// `i`.
    async fn return_number(&self, i: f64) -> f64;
    /// `x` unchanged, stubs included (a stub parameter is owned by the call and moves into the
    /// result).
    async fn echo(&self, x: Value) -> Value;
    /// A new Disposable labelled `tag` (default `""`).
    async fn make_disposable(&self, tag: Option<String>) -> DisposableClient;
    /// The same Disposable `n` times (default 3), one hand-out (lineage) per slot.
    async fn make_disposable_repeated(
        &self,
        tag: Option<String>,
        n: Option<f64>,
    ) -> Result<Vec<DisposableClient>, RpcError>;
    /// How many times a Disposable disposer with `tag` (default `""`) has run, server-wide.
    async fn disposed_count(&self, tag: Option<String>) -> u64;
    /// Keeps `cb` (releasing a previously registered callback first); returns `undefined`.
    async fn register_callback(&self, cb: Stub);
    /// `await cb(x)` for the registered callback; `Error("no callback registered")` without one.
    async fn fire_callback(&self, x: Value) -> Result<Value, RpcError>;
    /// Releases the registered callback: `true`, or `false` if none was held.
    async fn release_callback(&self) -> bool;
    /// Not in the contract: tether's demonstration of a struct parameter checked at the
    /// boundary (`{x: p.x * factor, y: p.y * factor}`; a `p` whose `x` or `y` is missing or
    /// not a number is refused with a `TypeError` naming the field).
    async fn scale_point(&self, p: Point, factor: f64) -> Point;
    /// A `ReadableStream` of the numbers `0 … n-1`, one chunk each.
    async fn stream_numbers(&self, n: f64) -> Result<ReadableStream<f64>, RpcError>;
    /// A `ReadableStream` of the pattern of `total` bytes in chunks of at most `chunk` (65536).
    async fn stream_bytes(
        &self,
        total: f64,
        chunk: Option<f64>,
    ) -> Result<ReadableStream<bytes::Bytes>, RpcError>;
    /// `"chunk 0" … "chunk n-1"`, then a `RangeError("stream broke")`.
    async fn stream_failing(&self, n: f64) -> Result<ReadableStream<String>, RpcError>;
    /// Reads `stream` to its end: `{ count, bytes, fnv, values }`; its error if it breaks.
    async fn consume(&self, stream: ReadableStream) -> Result<Value, RpcError>;
    /// Writes `{ i: 0 } … { i: n-1 }`, closes, and returns `n` once the close completed.
    async fn write_numbers(&self, writable: WritableStream, n: f64) -> Result<f64, RpcError>;
    /// A `WritableStream` whose writes are recorded under `tag`, server-wide.
    async fn make_sink(&self, tag: String) -> WritableStream;
    /// `{ count, bytes, fnv, values, closed, aborted }` of the sink made with `tag`, or `null`.
    async fn sink_state(&self, tag: String) -> Value;
    /// `{ method, url, headers, body }` of a `Request`.
    async fn describe_request(&self, request: Request) -> Result<Value, RpcError>;
    /// A `Response` with that status, text body and headers (an object of names to values).
    async fn make_response(
        &self,
        status: f64,
        body: String,
        headers: Value,
    ) -> Result<Response, RpcError>;
    /// A 200 `Response` (`content-type: application/octet-stream`) streaming the pattern of
    /// `total` bytes.
    async fn proxy_response(&self, total: f64) -> Result<Response, RpcError>;
    /// `{ type, size, fnv }` of a `Blob`.
    async fn describe_blob(&self, blob: Blob) -> Value;
    /// A `Blob` of `text` with MIME type `type`.
    async fn make_blob(&self, mime: String, text: String) -> Blob;
    /// `{ href, host, pathname, search }` of a `URL`.
    async fn describe_url(&self, url: Url) -> Result<Value, RpcError>;
    /// The session is over (or the client released the main stub): release the callback now,
    /// even if an in-flight call still holds the object.
    #[dispose]
    async fn end_session(&self);
}

/// A point, for `scalePoint`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Point {
    x: f64,
    y: f64,
}

/// A new main object, as a stub: one per session.
pub(crate) fn main_stub() -> Stub {
    TestTargetClient::serve(TestTargetImpl::default()).into()
}

/// The main object of one session.
#[derive(Default)]
pub(crate) struct TestTargetImpl {
    /// The callback kept by `registerCallback` (our own reference), if any.
    callback: Mutex<Option<Stub>>,
}

impl TestTargetImpl {
    /// Replaces the registered callback, returning the previous one. The caller drops it (which
    /// releases it) after the lock is gone.
    fn swap_callback(&self, callback: Option<Stub>) -> Option<Stub> {
        let mut slot = self
            .callback
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        std::mem::replace(&mut *slot, callback)
    }

    fn callback(&self) -> Option<Stub> {
        self.callback
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }
}

impl TestTarget for TestTargetImpl {
    async fn square(&self, i: f64) -> f64 {
        i * i
    }

    async fn call_square(&self, this: TestTargetClient, i: f64) -> Result<Value, RpcError> {
        let result = this.square(i).await?;
        Ok(Value::object([("result", result)]))
    }

    async fn call_function(
        &self,
        func: Callback<(Value,), Value>,
        i: Value,
    ) -> Result<Value, RpcError> {
        let result = func.call((i,)).await?;
        Ok(Value::object([("result", result)]))
    }

    async fn throw_error(&self) -> Result<(), RpcError> {
        Err(RpcError::range_error("test error"))
    }

    async fn make_counter(&self, i: f64) -> CounterClient {
        CounterClient::serve(CounterImpl::new(i))
    }

    async fn increment_counter(&self, counter: Value, i: Value) -> Result<Value, RpcError> {
        let amount = match i {
            Value::Undefined => Value::Number(1.0),
            amount => amount,
        };
        js::call_member(counter, "increment", vec![amount]).await
    }

    async fn generate_fibonacci(&self, length: f64) -> Result<Vec<f64>, RpcError> {
        let length = js::length(Some(length), 0, MAX_LENGTH)?;
        let (mut a, mut b) = (0.0_f64, 1.0_f64);
        let mut sequence = Vec::with_capacity(length);
        for _ in 0..length {
            sequence.push(a);
            (a, b) = (b, a + b);
        }
        Ok(sequence)
    }

    async fn return_null(&self) -> Value {
        Value::Null
    }

    async fn return_undefined(&self) -> Value {
        Value::Undefined
    }

    async fn return_number(&self, i: f64) -> f64 {
        i
    }

    async fn echo(&self, x: Value) -> Value {
        x
    }

    async fn make_disposable(&self, tag: Option<String>) -> DisposableClient {
        DisposableClient::serve(DisposableImpl::new(tag.unwrap_or_default()))
    }

    async fn make_disposable_repeated(
        &self,
        tag: Option<String>,
        n: Option<f64>,
    ) -> Result<Vec<DisposableClient>, RpcError> {
        let n = js::length(n, 3, MAX_LENGTH)?;
        // One object, one new lineage per slot: each slot is a separate hand-out, so the disposer
        // runs once per slot.
        let shared = Arc::new(DisposableImpl::new(tag.unwrap_or_default()));
        Ok((0..n)
            .map(|_| DisposableClient::serve(Arc::clone(&shared)))
            .collect())
    }

    async fn disposed_count(&self, tag: Option<String>) -> u64 {
        disposed_count(tag.as_deref().unwrap_or_default())
    }

    async fn register_callback(&self, cb: Stub) {
        // A previously registered callback is released first, as the reference does.
        drop(self.swap_callback(None));
        drop(self.swap_callback(Some(cb)));
    }

    async fn fire_callback(&self, x: Value) -> Result<Value, RpcError> {
        let callback = self
            .callback()
            .ok_or_else(|| RpcError::error("no callback registered"))?;
        callback.invoke(vec![x]).await
    }

    async fn release_callback(&self) -> bool {
        self.swap_callback(None).is_some()
    }

    async fn scale_point(&self, p: Point, factor: f64) -> Point {
        Point {
            x: p.x * factor,
            y: p.y * factor,
        }
    }

    async fn stream_numbers(&self, n: f64) -> Result<ReadableStream<f64>, RpcError> {
        let n = js::length(Some(n), 0, usize::MAX)?;
        Ok(ReadableStream::new(futures_util::stream::iter(
            (0..n).map(|i| Ok(i as f64)),
        )))
    }

    async fn stream_bytes(
        &self,
        total: f64,
        chunk: Option<f64>,
    ) -> Result<ReadableStream<bytes::Bytes>, RpcError> {
        let total = js::length(Some(total), 0, usize::MAX)?;
        let chunk = js::length(chunk, 65536, usize::MAX)?;
        Ok(streams::pattern_stream(total, chunk))
    }

    async fn stream_failing(&self, n: f64) -> Result<ReadableStream<String>, RpcError> {
        let n = js::length(Some(n), 0, MAX_LENGTH)?;
        let items = (0..n)
            .map(|i| Ok(format!("chunk {i}")))
            .chain([Err(RpcError::range_error("stream broke"))]);
        Ok(ReadableStream::new(futures_util::stream::iter(items)))
    }

    async fn consume(&self, stream: ReadableStream) -> Result<Value, RpcError> {
        streams::consume(stream).await
    }

    async fn write_numbers(&self, writable: WritableStream, n: f64) -> Result<f64, RpcError> {
        let count = js::length(Some(n), 0, usize::MAX)?;
        let mut writable = writable;
        for i in 0..count {
            writable.write(Value::object([("i", i)])).await?;
        }
        writable.close().await?;
        Ok(n)
    }

    async fn make_sink(&self, tag: String) -> WritableStream {
        streams::make_sink(tag)
    }

    async fn sink_state(&self, tag: String) -> Value {
        streams::sink_state(&tag)
    }

    async fn describe_request(&self, request: Request) -> Result<Value, RpcError> {
        streams::describe_request(request).await
    }

    async fn make_response(
        &self,
        status: f64,
        body: String,
        headers: Value,
    ) -> Result<Response, RpcError> {
        streams::make_response(status, body, headers)
    }

    async fn proxy_response(&self, total: f64) -> Result<Response, RpcError> {
        let total = js::length(Some(total), 0, usize::MAX)?;
        let mut response = Response::new(200, Body::Stream(streams::pattern_stream(total, 65536)))?;
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/octet-stream"),
        );
        Ok(response)
    }

    async fn describe_blob(&self, blob: Blob) -> Value {
        streams::describe_blob(&blob)
    }

    async fn make_blob(&self, mime: String, text: String) -> Blob {
        Blob::new(mime, text)
    }

    async fn describe_url(&self, url: Url) -> Result<Value, RpcError> {
        streams::describe_url(&url)
    }

    async fn end_session(&self) {
        drop(self.swap_callback(None));
    }
}
