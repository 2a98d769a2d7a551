//! Streams and the Fetch API types between two tether sessions: readable streams both ways
//! (returned, passed, relayed), writable streams both ways, errors in the middle, a disconnect
//! in the middle, small calls beside a large transfer, and `Request`/`Response`/`Headers`/
//! `URL`/`Blob` by value.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.
#![allow(missing_docs)] // The test interface documents itself by its test names.

use std::future::IntoFuture;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tether::transport::memory;
use tether::{
    Blob, Body, Headers, ReadableStream, Request, Response, RpcError, RpcSession, SessionHandle,
    SessionOptions, Url, Value, WritableStream,
};

type Recorded = Arc<Mutex<Vec<i64>>>;

#[tether::interface]
pub trait Streams {
    async fn numbers(&self, n: i64) -> ReadableStream<i64>;
    async fn failing(&self, n: i64) -> ReadableStream<String>;
    async fn sum_bytes(&self, stream: ReadableStream<bytes::Bytes>) -> Result<Vec<f64>, RpcError>;
    async fn echo(&self, stream: ReadableStream) -> ReadableStream;
    async fn write_numbers(&self, sink: WritableStream<i64>, n: i64) -> Result<i64, RpcError>;
    async fn make_sink(&self) -> WritableStream<i64>;
    async fn ping(&self) -> String;
    /// Reads one chunk, a stub, and calls it (after the write that carried it resolved).
    async fn call_first(&self, stream: ReadableStream<tether::Stub>) -> Result<Value, RpcError>;
    async fn describe(&self, request: Request) -> Result<Vec<String>, RpcError>;
    async fn respond(&self, status: u16, body: String) -> Result<Response, RpcError>;
    async fn blob_size(&self, blob: Blob) -> usize;
    async fn make_blob(&self, text: String) -> Blob;
    async fn host_of(&self, url: Url) -> Result<String, RpcError>;
    async fn headers_back(&self, headers: Headers) -> Headers;
}

struct Server {
    recorded: Recorded,
}

fn fnv(data: &[u8], mut h: u32) -> u32 {
    for b in data {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

impl Streams for Server {
    async fn numbers(&self, n: i64) -> ReadableStream<i64> {
        ReadableStream::new(futures_util::stream::iter((0..n).map(Ok)))
    }

    async fn failing(&self, n: i64) -> ReadableStream<String> {
        let items = (0..n)
            .map(|i| Ok(format!("chunk {i}")))
            .chain([Err(RpcError::range_error("stream broke"))]);
        ReadableStream::new(futures_util::stream::iter(items))
    }

    async fn sum_bytes(
        &self,
        mut stream: ReadableStream<bytes::Bytes>,
    ) -> Result<Vec<f64>, RpcError> {
        let (mut count, mut total, mut hash) = (0, 0, 0x811c_9dc5);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            count += 1;
            total += chunk.len();
            hash = fnv(&chunk, hash);
        }
        Ok(vec![count as f64, total as f64, f64::from(hash)])
    }

    async fn echo(&self, stream: ReadableStream) -> ReadableStream {
        stream
    }

    async fn write_numbers(&self, mut sink: WritableStream<i64>, n: i64) -> Result<i64, RpcError> {
        for i in 0..n {
            sink.write(i).await?;
        }
        sink.close().await?;
        Ok(n)
    }

    async fn make_sink(&self) -> WritableStream<i64> {
        let (writer, mut reader) = WritableStream::<i64>::pipe();
        let recorded = self.recorded.clone();
        tokio::spawn(async move {
            while let Some(Ok(n)) = reader.next().await {
                recorded.lock().unwrap().push(n);
            }
            recorded.lock().unwrap().push(-1); // The end, normal or not.
        });
        writer
    }

    async fn ping(&self) -> String {
        "pong".into()
    }

    async fn call_first(
        &self,
        mut stream: ReadableStream<tether::Stub>,
    ) -> Result<Value, RpcError> {
        let stub = stream
            .next()
            .await
            .ok_or_else(|| RpcError::error("empty"))??;
        // Let the stream finish first: the write carrying the stub has long resolved.
        while stream.next().await.is_some() {}
        stub.invoke(vec![Value::from(20)]).await
    }

    async fn describe(&self, request: Request) -> Result<Vec<String>, RpcError> {
        let (parts, body) = request.into_http().into_parts();
        let mut out = vec![parts.method.to_string(), parts.uri.to_string()];
        for (name, value) in &parts.headers {
            out.push(format!("{name}: {}", value.to_str().unwrap()));
        }
        out.push(body.text().await?);
        Ok(out)
    }

    async fn respond(&self, status: u16, body: String) -> Result<Response, RpcError> {
        let mut response = Response::new(status, body)?;
        response
            .headers_mut()
            .insert("x-made-by", "tether".parse().unwrap());
        Ok(response)
    }

    async fn blob_size(&self, blob: Blob) -> usize {
        blob.data.len()
    }

    async fn make_blob(&self, text: String) -> Blob {
        Blob::new("text/plain", text)
    }

    async fn host_of(&self, url: Url) -> Result<String, RpcError> {
        Ok(url.to_uri()?.host().unwrap_or_default().to_owned())
    }

    async fn headers_back(&self, headers: Headers) -> Headers {
        headers
    }
}

fn connect() -> (StreamsClient, SessionHandle, Recorded) {
    let recorded = Recorded::default();
    let (client_end, server_end) = memory::pair();
    let main = StreamsClient::serve(Server {
        recorded: recorded.clone(),
    });
    let (_, driver) = RpcSession::open(server_end, Some(main.into()), SessionOptions::default());
    let server = driver.handle();
    tokio::spawn(driver.into_future());
    let (remote, _client) = RpcSession::spawn(client_end, None, SessionOptions::default());
    (StreamsClient::from(remote), server, recorded)
}

async fn within<T>(f: impl std::future::IntoFuture<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("finished in time")
}

#[tokio::test]
async fn a_returned_readable_stream_yields_every_chunk_then_ends() {
    let (api, _server, _) = connect();
    let stream = api.numbers(100).await.unwrap();
    let read: Vec<i64> = within(stream.map(|n| n.unwrap()).collect()).await;
    assert_eq!(read, (0..100).collect::<Vec<_>>());
}

#[tokio::test]
async fn an_error_in_the_middle_reaches_the_reader_after_the_chunks_before_it() {
    let (api, _server, _) = connect();
    let items: Vec<_> = within(api.failing(3).await.unwrap().collect()).await;
    assert_eq!(items.len(), 4);
    assert_eq!(items[2].as_ref().unwrap(), "chunk 2");
    let error = items[3].as_ref().unwrap_err();
    assert_eq!(
        (error.name.as_str(), error.message.as_str()),
        ("RangeError", "stream broke")
    );
}

#[tokio::test]
async fn megabytes_sent_as_a_readable_stream_arrive_whole_and_in_order() {
    let (api, _server, _) = connect();
    let total = 4 * 1024 * 1024;
    let chunks: Vec<bytes::Bytes> = (0..total)
        .map(|k| (k % 251) as u8)
        .collect::<Vec<_>>()
        .chunks(65536)
        .map(bytes::Bytes::copy_from_slice)
        .collect();
    let expected_hash = chunks.iter().fold(0x811c_9dc5, |h, c| fnv(c, h));
    let result = within(api.sum_bytes(ReadableStream::from_chunks(chunks)))
        .await
        .unwrap();
    assert_eq!(result, vec![64.0, total as f64, f64::from(expected_hash)]);
}

#[tokio::test]
async fn a_received_stream_can_be_returned_and_its_data_flows_end_to_end() {
    let (api, _server, _) = connect();
    let sent = ReadableStream::<Value>::from_chunks((0..500).map(Value::from).collect::<Vec<_>>());
    let back = within(api.echo(sent)).await.unwrap();
    let read: Vec<f64> = within(back.map(|v| v.unwrap().as_f64().unwrap()).collect()).await;
    assert_eq!(read, (0..500).map(f64::from).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_writable_passed_to_the_server_is_written_then_closed() {
    let (api, _server, _) = connect();
    let (writer, reader) = WritableStream::<i64>::pipe();
    // Read while the server writes: its close waits until every write was taken.
    let read = tokio::spawn(reader.map(|n| n.unwrap()).collect::<Vec<i64>>());
    let written = within(api.write_numbers(writer, 100)).await.unwrap();
    assert_eq!(written, 100);
    assert_eq!(within(read).await.unwrap(), (0..100).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_writable_returned_by_the_server_takes_writes_and_close_reports_success() {
    let (api, _server, recorded) = connect();
    let mut sink = api.make_sink().await.unwrap();
    for i in 0..10 {
        sink.write(i).await.unwrap();
    }
    within(sink.close()).await.unwrap();
    within(async {
        while recorded.lock().unwrap().last() != Some(&-1) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(
        *recorded.lock().unwrap(),
        (0..10).chain([-1]).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn dropping_a_writable_without_close_aborts_its_reader() {
    let (api, _server, _) = connect();
    let (writer, reader) = WritableStream::<i64>::pipe();
    // The server keeps nothing: the writable it got is released when the call returns.
    let (mut writer_kept, _) = (writer.clone(), ());
    writer_kept.write(1).await.unwrap();
    drop(writer_kept);
    drop(writer);
    drop(api);
    let items: Vec<_> = within(reader.collect()).await;
    assert_eq!(items.len(), 2);
    assert!(items[1]
        .as_ref()
        .unwrap_err()
        .message
        .contains("without calling close()"));
}

#[tokio::test]
async fn a_disconnect_in_the_middle_errors_the_reader_and_leaks_no_export() {
    let (api, server, _) = connect();
    // A stream that never ends: the server's pump waits on it while the session is cut.
    let endless = ReadableStream::new(futures_util::stream::unfold(0i64, |n| async move {
        tokio::time::sleep(Duration::from_millis(1)).await;
        Some((Ok(Value::from(n)), n + 1))
    }));
    let mut back = api.echo(endless).await.unwrap();
    assert!(back.next().await.unwrap().is_ok());
    server.shutdown("cut", Duration::ZERO);
    let rest: Vec<_> = within(back.collect()).await;
    assert!(
        rest.last().unwrap().is_err(),
        "the reader sees an error, not an end"
    );
    within(async {
        while server.stats().exports > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn small_calls_are_answered_while_a_large_stream_flows() {
    let (api, _server, _) = connect();
    let (mut writer, reader) = WritableStream::<bytes::Bytes>::pipe();
    let upload = tokio::spawn({
        let api = api.clone();
        async move { api.sum_bytes(reader).await }
    });
    let chunk = bytes::Bytes::from(vec![7u8; 65536]);
    for _ in 0..32 {
        writer.write(chunk.clone()).await.unwrap();
    }
    // Mid-transfer (not closed yet): a small call still gets through.
    assert_eq!(within(api.ping()).await.unwrap(), "pong");
    for _ in 0..32 {
        writer.write(chunk.clone()).await.unwrap();
    }
    within(writer.close()).await.unwrap();
    let result = within(upload).await.unwrap().unwrap();
    assert_eq!(result[..2], [64.0, 64.0 * 65536.0]);
}

#[tokio::test]
async fn requests_and_responses_cross_with_headers_and_bodies() {
    let (api, _server, _) = connect();
    let request: Request = http::Request::post("https://example.com/a?b=c")
        .header("content-type", "text/plain")
        .header("x-twice", "1")
        .header("x-twice", "2")
        .body(Body::Stream(ReadableStream::from_chunks([
            bytes::Bytes::from("hel"),
            bytes::Bytes::from("lo"),
        ])))
        .unwrap()
        .into();
    let described = within(api.describe(request)).await.unwrap();
    assert_eq!(
        described,
        [
            "POST",
            "https://example.com/a?b=c",
            "content-type: text/plain",
            "x-twice: 1",
            "x-twice: 2",
            "hello"
        ]
    );
    let response = within(api.respond(404, "missing".into())).await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["x-made-by"], "tether");
    assert_eq!(
        response.into_http().into_body().text().await.unwrap(),
        "missing"
    );
}

#[tokio::test]
async fn blobs_urls_and_headers_travel_by_value() {
    let (api, _server, _) = connect();
    assert_eq!(
        within(api.blob_size(Blob::new("application/x", vec![1u8; 1000])))
            .await
            .unwrap(),
        1000
    );
    let blob = within(api.make_blob("hi there".into())).await.unwrap();
    assert_eq!(
        (blob.mime.as_str(), &blob.data[..]),
        ("text/plain", &b"hi there"[..])
    );
    let url = Url::parse("https://example.org:8443/x").unwrap();
    assert_eq!(within(api.host_of(url)).await.unwrap(), "example.org");
    let headers = Headers::from_pairs([("a", "1"), ("b", "2"), ("a", "3")]).unwrap();
    let back = within(api.headers_back(headers.clone())).await.unwrap();
    assert_eq!(
        back.pairs().collect::<Vec<_>>(),
        headers.pairs().collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_stub_written_in_a_chunk_stays_usable_after_the_write() {
    let (api, _server, _) = connect();
    let (mut writer, reader) = WritableStream::<tether::Stub>::pipe();
    let answer = tokio::spawn({
        let api = api.clone();
        async move { api.call_first(reader).await }
    });
    let double = tether::Stub::from_fn(|args| async move {
        Ok(Value::from(args[0].as_f64().unwrap_or_default() * 2.0))
    });
    writer.write(double).await.unwrap();
    within(writer.close()).await.unwrap();
    let result = within(answer).await.unwrap().unwrap();
    assert_eq!(result.as_f64(), Some(40.0));
}

#[tokio::test]
async fn byte_streams_read_as_async_read_and_write_as_async_write() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (api, _server, _) = connect();
    let (writer, reader) = WritableStream::<bytes::Bytes>::pipe();
    let summed = tokio::spawn({
        let api = api.clone();
        async move { api.sum_bytes(reader).await }
    });
    let mut writer = writer;
    writer.write_all(&[1u8; 100_000]).await.unwrap();
    writer.write_all(b"tail").await.unwrap();
    writer.shutdown().await.unwrap();
    let result = within(summed).await.unwrap().unwrap();
    assert_eq!(result[1], 100_004.0);

    let (mut local_writer, local_reader) = WritableStream::<bytes::Bytes>::pipe();
    let echoed = within(api.echo(local_reader.cast())).await.unwrap();
    local_writer
        .write(bytes::Bytes::from_static(b"hello "))
        .await
        .unwrap();
    local_writer
        .write(bytes::Bytes::from_static(b"world"))
        .await
        .unwrap();
    within(local_writer.close()).await.unwrap();
    let mut text = String::new();
    within(
        echoed
            .cast::<bytes::Bytes>()
            .into_async_read()
            .read_to_string(&mut text),
    )
    .await
    .unwrap();
    assert_eq!(text, "hello world");
}

#[tokio::test]
async fn close_reports_the_first_failed_write() {
    let (api, _server, _) = connect();
    let mut sink = api.make_sink().await.unwrap().cast::<String>();
    // The sink takes numbers: the server's reader stops at the first chunk that is not one, which
    // cancels the stream, so the writes after it fail and close says why.
    sink.write("not a number".into()).await.unwrap();
    let mut failed = None;
    for _ in 0..200 {
        if let Err(error) = sink.write("more".into()).await {
            failed = Some(error);
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let failed = failed.expect("a write failed once the reader was gone");
    let closed = within(sink.close()).await.unwrap_err();
    assert_eq!(closed.message, failed.message);
    assert!(closed.message.contains("canceled"), "{closed:?}");
}
