//! HTTP batch against the reference Node server: every call made before the first await travels
//! in one POST (counted with a TCP proxy), including pipelined chains, stubs passed back and
//! property reads; rejections stay per call; and the session is over once the response is in.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use tether::{ErrorKind, Value};
use tether_interop_tests::{
    assert_data_eq, connect_batch, connect_ws, err, num, ok, shared, t, unique_tag, wait_disposed,
    within, CountingProxy,
};

fn fib(n: usize) -> Value {
    let mut out = Vec::new();
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n {
        out.push(Value::from(a));
        (a, b) = (b, a + b);
    }
    Value::Array(out)
}

#[tokio::test]
async fn several_calls_travel_in_one_request() {
    let proxy = CountingProxy::start(shared().addr()).await;
    let api = tether::client::http_batch::connect(&proxy.http_url()).unwrap();
    let echoed = Value::object([
        (
            "list",
            Value::array([1.into(), Value::Undefined, f64::NAN.into()]),
        ),
        ("big", tether::BigInt::from(-7).into()),
    ]);
    let (square, fibs, null, undefined, echo, thrown, missing) = tokio::join!(
        api.call("square", vec![9.into()]),
        api.call("generateFibonacci", vec![10.into()]),
        api.call("returnNull", vec![]),
        api.call("returnUndefined", vec![]),
        api.call("echo", vec![echoed.clone()]),
        api.call("throwError", vec![]),
        api.get("notAProperty"),
    );
    assert_eq!(num(&ok(square)), 81.0);
    assert_data_eq(&ok(fibs), &fib(10), "generateFibonacci(10)");
    assert!(matches!(ok(null), Value::Null));
    assert!(ok(undefined).is_undefined());
    assert_data_eq(&ok(echo), &echoed, "echo");
    let e = err(thrown);
    assert_eq!(
        (e.name.as_str(), e.message.as_str()),
        ("RangeError", "test error")
    );
    assert_eq!(e.stack, None);
    assert!(ok(missing).is_undefined());
    assert_eq!(proxy.connections(), 1, "one request for the whole batch");
}

#[tokio::test]
async fn a_pipelined_chain_travels_in_one_request() {
    let proxy = CountingProxy::start(shared().addr()).await;
    let api = tether::client::http_batch::connect(&proxy.http_url()).unwrap();
    let c = api.call("makeCounter", vec![5.into()]);
    let v = c.call("increment", vec![2.into()]);
    let r = api.call(
        "incrementCounter",
        vec![
            api.call("makeCounter", vec![v.clone().into()]).into(),
            api.call("square", vec![3.into()]).into(),
        ],
    );
    let fibs = api.call(
        "generateFibonacci",
        vec![api.call("returnNumber", vec![8.into()]).into()],
    );
    let sixth = api.call("generateFibonacci", vec![10.into()]).index(6);
    let value = c.get("value");
    let (r, v, fibs, sixth, value) = tokio::join!(r, v, fibs, sixth, value);
    assert_eq!(num(&ok(r)), 16.0);
    assert_eq!(num(&ok(v)), 7.0);
    assert_data_eq(&ok(fibs), &fib(8), "generateFibonacci(returnNumber(8))");
    assert_eq!(num(&ok(sixth)), 8.0);
    assert_eq!(num(&ok(value)), 7.0, "the getter read after increment");
    assert_eq!(proxy.connections(), 1, "one request for the whole chain");
}

#[tokio::test]
async fn a_stub_returned_in_the_batch_is_usable_within_it() {
    let proxy = CountingProxy::start(shared().addr()).await;
    let api = tether::client::http_batch::connect(&proxy.http_url()).unwrap();
    let tag = unique_tag("batch");
    let d = api.call("makeDisposable", vec![tag.as_str().into()]);
    let counter = api.call("makeCounter", vec![10.into()]);
    let (ping, tag_read, incremented, d) = tokio::join!(
        d.call("ping", vec![]),
        d.get("tag"),
        api.call("incrementCounter", vec![counter.into(), 5.into()]),
        d,
    );
    assert_eq!(ok(ping).as_str(), Some("pong"));
    assert_eq!(ok(tag_read).as_str(), Some(tag.as_str()));
    assert_eq!(num(&ok(incremented)), 15.0);
    assert!(ok(d).as_stub().is_some(), "the awaited result is a stub");
    assert_eq!(proxy.connections(), 1);
}

#[tokio::test]
async fn the_session_is_over_once_the_response_is_in() {
    let proxy = CountingProxy::start(shared().addr()).await;
    let api = tether::client::http_batch::connect(&proxy.http_url()).unwrap();
    let counter = api.call("makeCounter", vec![1.into()]);
    assert_eq!(num(&ok(t!(counter.call("increment", vec![])))), 2.0);
    // A call after the batch was sent cannot join it: it fails (promptly), and sends nothing.
    let late = within("a call after the batch", api.call("square", vec![2.into()])).await;
    let e = err(late);
    assert_eq!(e.kind(), ErrorKind::Disconnected, "{e:?}");
    let e = err(t!(counter.call("increment", vec![])));
    assert_eq!(e.kind(), ErrorKind::Disconnected, "{e:?}");
    assert_eq!(proxy.connections(), 1);
}

#[tokio::test]
async fn disposed_count_is_server_wide_and_visible_over_http_batch() {
    let tag = unique_tag("wide");
    let ws = connect_ws(shared()).await;
    let d = ok(t!(ws.call("makeDisposable", vec![tag.as_str().into()])));
    drop(d);
    wait_disposed(shared(), &tag, 1.0).await;
    let batch = connect_batch(shared());
    let n = ok(t!(batch.call("disposedCount", vec![tag.as_str().into()])));
    assert_eq!(num(&n), 1.0);
}

#[tokio::test]
async fn an_empty_batch_sends_nothing() {
    let proxy = CountingProxy::start(shared().addr()).await;
    let api = tether::client::http_batch::connect(&proxy.http_url()).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    drop(api);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(proxy.connections(), 0, "no call, no request");
}
