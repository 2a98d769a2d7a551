//! Streams and the Fetch API types: the wire forms capnweb 0.12 writes and reads.

use super::*;
use crate::core::fetch::{Blob, Body, FetchInit, Headers, Request, Response, StatusText, Url};
use crate::core::stream::{ReadableStream, WritableStream};
use crate::core::value::Object;

fn resolve_text(value: &Value) -> Result<String, RpcError> {
    encode(
        &OutMessage::Resolve(1, value),
        &mut FixedExporter::new(vec![WireRef::Export(-3)]),
        &EncodeOptions::default(),
    )
}

#[test]
fn url_and_headers_encode_as_capnweb_writes_them() {
    let url = Value::Url(Url::parse("https://example.com/path?q=1").unwrap());
    assert_eq!(
        resolve_text(&url).unwrap(),
        r#"["resolve",1,["url","https://example.com/path?q=1"]]"#
    );
    let headers = Headers::from_pairs([("content-type", "text/plain"), ("x-a", "1"), ("x-a", "2")]);
    assert_eq!(
        resolve_text(&Value::Headers(headers.unwrap())).unwrap(),
        r#"["resolve",1,["headers",[["content-type","text/plain"],["x-a","1"],["x-a","2"]]]]"#
    );
}

#[test]
fn url_and_headers_decode_in_order_with_duplicates() {
    let Value::Url(url) = eval_text(r#"["url","https://a.example/x"]"#).unwrap() else {
        panic!("not a URL")
    };
    assert_eq!(url.href(), "https://a.example/x");
    let Value::Headers(headers) =
        eval_text(r#"["headers",[["b","1"],["a","2"],["b","3"]]]"#).unwrap()
    else {
        panic!("not headers")
    };
    let pairs: Vec<_> = headers.pairs().collect();
    assert_eq!(
        pairs,
        [
            ("b", "1".to_owned()),
            ("b", "3".to_owned()),
            ("a", "2".to_owned())
        ]
    );
}

#[test]
fn malformed_headers_and_urls_are_type_errors_or_unknown_values() {
    for bad in [
        r#"["headers",[["a"]]]"#,
        r#"["headers",[["a",1]]]"#,
        r#"["headers",[["bad name","x"]]]"#,
    ] {
        let error = eval_text(bad).unwrap_err();
        assert_eq!(error.name, "TypeError", "{bad}: {error:?}");
    }
    let error = eval_text(r#"["url",5]"#).unwrap_err();
    assert!(
        error.message.starts_with("unknown special value"),
        "{error:?}"
    );
}

#[test]
fn a_readable_stream_becomes_a_pipe_named_by_its_readable_end() {
    let stream = Value::Readable(ReadableStream::<Value>::from_chunks([Value::from(1)]));
    assert_eq!(
        resolve_text(&stream).unwrap(),
        r#"["resolve",1,["readable",1]]"#
    );
    // Its data can be taken once: sending it again is refused.
    let again = resolve_text(&stream).unwrap_err();
    assert!(again.message.contains("pipe refused"), "{again:?}");
}

#[test]
fn a_writable_stream_is_exported_under_its_own_tag() {
    let (writer, _reader) = WritableStream::<Value>::pipe();
    assert_eq!(
        resolve_text(&Value::Writable(writer)).unwrap(),
        r#"["resolve",1,["writable",-3]]"#
    );
}

#[test]
fn readable_and_writable_decode_through_the_importer() {
    let mut importer = RecordingImporter::with_stubs();
    let value = eval_with(
        r#"[[["readable",4],["writable",-2]]]"#,
        &mut importer,
        &limits(),
    )
    .unwrap();
    let Value::Array(items) = value else {
        panic!("not an array")
    };
    assert!(matches!(items[0], Value::Readable(_)));
    assert!(matches!(items[1], Value::Writable(_)));
    assert!(matches!(importer.calls[0], Call::Readable(4)));
    assert!(matches!(importer.calls[1], Call::ImportStub(-2)));
}

#[test]
fn a_request_encodes_method_headers_body_and_other_init_members() {
    let mut request = http::Request::post("https://example.com/up")
        .header("content-type", "text/plain")
        .body(Body::from("hi"))
        .unwrap();
    request
        .extensions_mut()
        .insert(FetchInit(Object::from_iter([("mode", "no-cors")])));
    let text = resolve_text(&Value::Request(Box::new(Request(request)))).unwrap();
    assert_eq!(
        text,
        r#"["resolve",1,["request","https://example.com/up",{"method":"POST","headers":[["content-type","text/plain"]],"body":"hi","duplex":"half","mode":"no-cors"}]]"#
    );
    let get = http::Request::get("https://example.com/")
        .body(Body::Empty)
        .unwrap();
    assert_eq!(
        resolve_text(&Value::Request(Box::new(Request(get)))).unwrap(),
        r#"["resolve",1,["request","https://example.com/",{}]]"#
    );
}

#[test]
fn a_request_decodes_with_a_streamed_body_and_keeps_other_members() {
    let text = r#"["request","https://x.example/p",{"method":"PUT","headers":[["a","1"]],"body":["readable",2],"duplex":"half","redirect":"manual"}]"#;
    let Value::Request(request) = eval_text(text).unwrap() else {
        panic!("not a request")
    };
    assert_eq!(request.method(), "PUT");
    assert_eq!(request.uri(), "https://x.example/p");
    assert_eq!(request.headers()["a"], "1");
    assert!(matches!(request.body(), Body::Stream(_)));
    let extras = request.extensions().get::<FetchInit>().unwrap();
    assert_eq!(
        extras.0.get("redirect").and_then(Value::as_str),
        Some("manual")
    );
    assert!(
        extras.0.get("duplex").is_none(),
        "duplex is implied by the body"
    );
}

#[test]
fn forbidden_init_members_are_refused() {
    let signal =
        eval_text(r#"["request","https://x.example/",{"signal":["undefined"]}]"#).unwrap_err();
    assert_eq!(signal.name, "TypeError");
    assert!(signal.message.contains("signal"), "{signal:?}");
    let socket = eval_text(r#"["response",null,{"webSocket":1}]"#).unwrap_err();
    assert_eq!(
        socket.message,
        "Can't deserialize a Response containing a webSocket."
    );
    let body = eval_text(r#"["response",5,{}]"#).unwrap_err();
    assert_eq!(
        body.message,
        "Response body must be of type ReadableStream."
    );
    let headers = eval_text(r#"["response",null,{"headers":{"a":"b"}}]"#).unwrap_err();
    assert!(headers.message.contains("array of pairs"), "{headers:?}");
}

#[test]
fn a_response_round_trips_status_text_and_headers() {
    let mut response = Response::new(404, "gone").unwrap();
    response
        .extensions_mut()
        .insert(StatusText("Not Found".into()));
    response.headers_mut().insert("x-a", "1".parse().unwrap());
    let text = resolve_text(&Value::Response(Box::new(response))).unwrap();
    assert_eq!(
        text,
        r#"["resolve",1,["response","gone",{"status":404,"statusText":"Not Found","headers":[["x-a","1"]]}]]"#
    );
    let expr = &text[r#"["resolve",1,"#.len()..text.len() - 1];
    let Value::Response(back) = eval_text(expr).unwrap() else {
        panic!("not a response")
    };
    assert_eq!(back.status(), 404);
    assert_eq!(
        back.extensions().get::<StatusText>().unwrap().0,
        "Not Found"
    );
    assert!(matches!(back.body(), Body::Text(t) if t == "gone"));
}

#[test]
fn a_blob_travels_through_a_pipe_and_waits_for_its_bytes() {
    let blob = Value::Blob(Blob::new("text/plain", "abc"));
    assert_eq!(
        resolve_text(&blob).unwrap(),
        r#"["resolve",1,["blob","text/plain",["readable",1]]]"#
    );
    let mut importer = RecordingImporter::default();
    let value = eval_with(
        r#"["blob","text/plain",["readable",3]]"#,
        &mut importer,
        &limits(),
    )
    .unwrap();
    assert_eq!(value.as_str(), Some("pending"));
    assert!(matches!(
        importer.calls[..],
        [Call::Readable(3), Call::Pending]
    ));
    let error = eval_text(r#"["blob","text/plain","abc"]"#).unwrap_err();
    assert_eq!(
        error.message,
        "Blob content must be serialized as a ReadableStream."
    );
}

#[test]
fn streams_cannot_be_sent_in_rejections() {
    let stream = Value::Readable(ReadableStream::<Value>::from_chunks([Value::Null]));
    let error = RpcError::error("x").with_prop("stream", stream);
    let text = encode(
        &OutMessage::Reject(1, &error),
        &mut FixedExporter::new(vec![]),
        &EncodeOptions::default(),
    )
    .unwrap();
    assert_eq!(text, r#"["reject",1,["error","Error","x"]]"#);
}

#[test]
fn stream_and_pipe_messages_encode() {
    let args = [Value::from(1)];
    let msg = OutMessage::Stream {
        id: 5,
        path: &[PathKey::Name("write".into())],
        args: &args,
    };
    assert_eq!(
        encode(
            &msg,
            &mut FixedExporter::new(vec![]),
            &EncodeOptions::default()
        )
        .unwrap(),
        r#"["stream",["pipeline",5,["write"],[1]]]"#
    );
    assert_eq!(
        encode(
            &OutMessage::Pipe,
            &mut FixedExporter::new(vec![]),
            &EncodeOptions::default()
        )
        .unwrap(),
        r#"["pipe"]"#
    );
}
