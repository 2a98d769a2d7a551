//! Streams and the Fetch API types from the tether client against the reference Node server
//! (capnweb 0.12): readable streams both ways (values and megabytes of bytes, hashed), writable
//! streams both ways, an error in the middle, a disconnect in the middle, `Request`/`Response`
//! with streamed bodies, `Headers`, `URL`, `Blob`, and small calls beside a large stream.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use futures_util::StreamExt;
use tether::{
    Blob, Body, Bytes, Headers, ReadableStream, Request, RpcError, Stub, Url, Value, WritableStream,
};
use tether_interop_tests::{connect_ws, ok, shared, t, unique_tag, Via};

const FNV_OFFSET: u32 = 0x811c_9dc5;

fn fnv(hash: u32, bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .fold(hash, |h, &b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

fn pattern(offset: usize, length: usize) -> Vec<u8> {
    (offset..offset + length).map(|k| (k % 251) as u8).collect()
}

fn pattern_fnv(total: usize) -> String {
    format!("{:08x}", fnv(FNV_OFFSET, &pattern(0, total)))
}

async fn api() -> Stub {
    connect_ws(shared()).await
}

fn field<'a>(value: &'a Value, key: &str) -> &'a Value {
    value.get(key)
}

#[tokio::test]
async fn stream_numbers_yields_every_number_then_ends() {
    let api = api().await;
    let Value::Readable(stream) = ok(t!(api.call("streamNumbers", vec![40.into()]))) else {
        panic!("not a ReadableStream")
    };
    let numbers: Vec<f64> = t!(stream
        .map(|v| v.unwrap().as_f64().unwrap())
        .collect::<Vec<_>>());
    assert_eq!(numbers, (0..40).map(f64::from).collect::<Vec<_>>());
}

#[tokio::test]
async fn stream_bytes_delivers_megabytes_whole_and_in_order() {
    let api = api().await;
    let total = 3 * 1024 * 1024 + 11;
    let result = ok(t!(
        api.call("streamBytes", vec![total.into(), 100_000.into()])
    ));
    let Value::Readable(stream) = result else {
        panic!("not a ReadableStream")
    };
    let mut stream = stream.cast::<bytes::Bytes>();
    let (mut length, mut hash) = (0, FNV_OFFSET);
    while let Some(chunk) = t!(stream.next()) {
        let chunk = chunk.unwrap();
        assert!(chunk.len() <= 100_000);
        length += chunk.len();
        hash = fnv(hash, &chunk);
    }
    assert_eq!(length, total);
    assert_eq!(format!("{hash:08x}"), pattern_fnv(total));
}

#[tokio::test]
async fn an_error_in_the_middle_of_a_stream_reaches_the_reader() {
    let api = api().await;
    let Value::Readable(stream) = ok(t!(api.call("streamFailing", vec![3.into()]))) else {
        panic!("not a ReadableStream")
    };
    let items: Vec<_> = t!(stream.collect::<Vec<_>>());
    let (last, chunks) = items.split_last().unwrap();
    let error = last.as_ref().unwrap_err();
    assert_eq!(
        (error.name.as_str(), error.message.as_str()),
        ("RangeError", "stream broke")
    );
    // A JavaScript stream that errors drops what it still queued: a prefix arrives, in order.
    for (i, chunk) in chunks.iter().enumerate() {
        assert_eq!(
            chunk.as_ref().unwrap().as_str(),
            Some(format!("chunk {i}").as_str())
        );
    }
}

#[tokio::test]
async fn consume_reads_a_stream_of_bytes_sent_from_rust() {
    let api = api().await;
    let total = 2 * 1024 * 1024 + 3;
    let chunks: Vec<Value> = pattern(0, total)
        .chunks(65536)
        .map(|c| Value::Bytes(Bytes::new(c)))
        .collect();
    let count = chunks.len();
    let stream = ReadableStream::<Value>::from_chunks(chunks);
    let result = ok(t!(api.call("consume", vec![Value::Readable(stream)])));
    assert_eq!(field(&result, "count").as_f64(), Some(count as f64));
    assert_eq!(field(&result, "bytes").as_f64(), Some(total as f64));
    assert_eq!(
        field(&result, "fnv").as_str(),
        Some(pattern_fnv(total).as_str())
    );
}

#[tokio::test]
async fn consume_rejects_with_the_error_that_broke_the_stream() {
    let api = api().await;
    let items = vec![
        Ok(Value::from("a")),
        Err(RpcError::type_error("source failed")),
    ];
    let stream = ReadableStream::<Value>::new(futures_util::stream::iter(items));
    let error = t!(api.call("consume", vec![Value::Readable(stream)])).unwrap_err();
    assert_eq!(
        (error.name.as_str(), error.message.as_str()),
        ("TypeError", "source failed")
    );
}

#[tokio::test]
async fn write_numbers_writes_to_a_writable_passed_from_rust() {
    let api = api().await;
    let (writer, reader) = WritableStream::<Value>::pipe();
    let read = tokio::spawn(reader.collect::<Vec<_>>());
    let n = ok(t!(
        api.call("writeNumbers", vec![Value::Writable(writer), 25.into()])
    ));
    assert_eq!(n.as_f64(), Some(25.0));
    let items = t!(read).unwrap();
    assert_eq!(items.len(), 25);
    for (i, item) in items.iter().enumerate() {
        assert_eq!(item.as_ref().unwrap().get("i").as_f64(), Some(i as f64));
    }
}

#[tokio::test]
async fn a_sink_returned_by_the_server_records_writes_and_close() {
    let api = api().await;
    let tag = unique_tag("sink");
    let Value::Writable(mut sink) = ok(t!(api.call("makeSink", vec![tag.as_str().into()]))) else {
        panic!("not a WritableStream")
    };
    let total = 1024 * 1024;
    for offset in (0..total).step_by(65536) {
        t!(sink.write(Value::Bytes(Bytes::new(pattern(offset, 65536))))).unwrap();
    }
    t!(sink.write("done".into())).unwrap();
    t!(sink.close()).unwrap();
    let state = ok(t!(api.call("sinkState", vec![tag.as_str().into()])));
    assert_eq!(field(&state, "count").as_f64(), Some(17.0));
    assert_eq!(field(&state, "bytes").as_f64(), Some(total as f64));
    assert_eq!(
        field(&state, "fnv").as_str(),
        Some(pattern_fnv(total).as_str())
    );
    assert_eq!(field(&state, "closed").as_bool(), Some(true));
    assert!(field(&state, "aborted").is_nullish());
}

#[tokio::test]
async fn dropping_a_sink_without_close_aborts_it_and_a_disconnect_does_too() {
    let server = shared();
    for cut in [false, true] {
        let api = connect_ws(server).await;
        let tag = unique_tag("abort");
        let Value::Writable(mut sink) = ok(t!(api.call("makeSink", vec![tag.as_str().into()])))
        else {
            panic!("not a WritableStream")
        };
        t!(sink.write("before".into())).unwrap();
        ok(t!(api.call("square", vec![2.into()]))); // The write has been taken.
        if cut {
            drop(api); // The session ends: every stream on it is aborted.
            drop(sink);
        } else {
            drop(sink); // Released without close().
        }
        let observer = connect_ws(server).await;
        let deadline = tokio::time::Instant::now() + tether_interop_tests::TIMEOUT;
        let aborted = loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "cut={cut}: never aborted"
            );
            let state = ok(t!(observer.call("sinkState", vec![tag.as_str().into()])));
            if !field(&state, "aborted").is_nullish() {
                assert_eq!(field(&state, "closed").as_bool(), Some(false));
                break field(&state, "aborted").clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        };
        assert!(
            aborted.as_str().is_some_and(|m| !m.is_empty()),
            "cut={cut}: {aborted:?}"
        );
    }
}

#[tokio::test]
async fn requests_reach_the_server_with_headers_and_a_streamed_body() {
    let api = api().await;
    let body =
        ReadableStream::from_chunks([bytes::Bytes::from("streamed "), bytes::Bytes::from("body")]);
    let request: Request = http::Request::put("https://example.com/up?x=1")
        .header("content-type", "text/plain")
        .header("x-a", "1")
        .body(Body::Stream(body))
        .unwrap()
        .into();
    let described = ok(t!(api.call("describeRequest", vec![request.into()])));
    assert_eq!(field(&described, "method").as_str(), Some("PUT"));
    assert_eq!(
        field(&described, "url").as_str(),
        Some("https://example.com/up?x=1")
    );
    assert_eq!(field(&described, "body").as_str(), Some("streamed body"));
    let headers: Vec<Vec<&str>> = field(&described, "headers")
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| {
            pair.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(headers, [["content-type", "text/plain"], ["x-a", "1"]]);
}

#[tokio::test]
async fn responses_come_back_with_status_headers_and_streamed_bodies() {
    let api = api().await;
    let headers = Value::object([("x-why", "gone")]);
    let Value::Response(response) = ok(t!(
        api.call("makeResponse", vec![404.into(), "not here".into(), headers])
    )) else {
        panic!("not a Response")
    };
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["x-why"], "gone");
    assert_eq!(
        t!(response.into_http().into_body().text()).unwrap(),
        "not here"
    );

    let total = 2 * 1024 * 1024;
    let Value::Response(proxied) = ok(t!(api.call("proxyResponse", vec![total.into()]))) else {
        panic!("not a Response")
    };
    assert_eq!(
        proxied.headers()["content-type"],
        "application/octet-stream"
    );
    let body = t!(proxied.into_http().into_body().bytes()).unwrap();
    assert_eq!(body.len(), total);
    assert_eq!(
        format!("{:08x}", fnv(FNV_OFFSET, &body)),
        pattern_fnv(total)
    );
}

#[tokio::test]
async fn blobs_cross_both_ways() {
    let api = api().await;
    let described = ok(t!(api.call(
        "describeBlob",
        vec![Blob::new("text/plain", "blob contents").into()]
    )));
    assert_eq!(field(&described, "type").as_str(), Some("text/plain"));
    assert_eq!(field(&described, "size").as_f64(), Some(13.0));
    let expected = format!("{:08x}", fnv(FNV_OFFSET, b"blob contents"));
    assert_eq!(field(&described, "fnv").as_str(), Some(expected.as_str()));
    let made = ok(t!(api.call(
        "makeBlob",
        vec!["application/json".into(), "{\"a\":1}".into()]
    )));
    let Value::Blob(blob) = made else {
        panic!("not a Blob: {made:?}")
    };
    assert_eq!(
        (blob.mime.as_str(), &blob.data[..]),
        ("application/json", &b"{\"a\":1}"[..])
    );
}

#[tokio::test]
async fn urls_and_headers_travel_by_value_over_both_transports() {
    for via in Via::ALL {
        let api = via.connect(shared()).await;
        let url = Url::parse("https://example.com:8443/a/b?c=d").unwrap();
        let headers = Headers::from_pairs([("b", "2"), ("a", "1")]).unwrap();
        let described = api.call("describeUrl", vec![url.clone().into()]);
        let url_back = api.call("echo", vec![url.clone().into()]);
        let headers_back = api.call("echo", vec![headers.clone().into()]);
        // Awaited together: over HTTP batch, everything travels in one request.
        let (described, url_back, headers_back) =
            t!(async { tokio::join!(described, url_back, headers_back) });
        let described = ok(described);
        assert_eq!(
            field(&described, "host").as_str(),
            Some("example.com:8443"),
            "{via:?}"
        );
        assert_eq!(field(&described, "pathname").as_str(), Some("/a/b"));
        assert_eq!(field(&described, "search").as_str(), Some("?c=d"));
        let Value::Url(back) = ok(url_back) else {
            panic!("{via:?}: not a URL")
        };
        assert_eq!(back, url);
        let Value::Headers(back) = ok(headers_back) else {
            panic!("{via:?}: not Headers")
        };
        // JavaScript's Headers iterates its names sorted.
        let pairs: Vec<_> = back.pairs().collect();
        assert_eq!(
            pairs,
            [("a", "1".to_owned()), ("b", "2".to_owned())],
            "{via:?}"
        );
    }
}

#[tokio::test]
async fn small_calls_are_answered_while_a_large_stream_flows() {
    let api = api().await;
    let total = 16 * 1024 * 1024;
    let Value::Readable(stream) = ok(t!(api.call("streamBytes", vec![total.into()]))) else {
        panic!("not a ReadableStream")
    };
    let mut stream = stream.cast::<bytes::Bytes>();
    let mut received = 0;
    while received < 1024 * 1024 {
        received += t!(stream.next()).unwrap().unwrap().len();
    }
    assert_eq!(
        ok(t!(api.call("square", vec![12.into()]))).as_f64(),
        Some(144.0)
    );
    while let Some(chunk) = t!(stream.next()) {
        received += chunk.unwrap().len();
    }
    assert_eq!(received, total);
}
