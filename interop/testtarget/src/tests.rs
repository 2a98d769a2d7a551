//! In-process checks of the contract's methods: a client session talks to a TestTarget over
//! tether's memory transport (the network transports are covered by the JavaScript suite), both
//! untyped (JavaScript names, as a JavaScript client sends them) and through the typed clients the
//! interfaces generate.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use tether::transport::memory::pair;
use tether::{RpcSession, SessionOptions, Stub, Value};

use crate::counter::CounterClient;
use crate::disposable::disposed_count;
use crate::test_target::{main_stub, TestTargetClient};

fn connect() -> Stub {
    let (client, server) = pair();
    let (_client_main, _server) =
        RpcSession::spawn(server, Some(main_stub()), SessionOptions::default());
    let (api, _client) = RpcSession::spawn(client, None, SessionOptions::default());
    api
}

async fn wait_for_count(tag: &str, want: u64) {
    for _ in 0..400 {
        if disposed_count(tag) >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(disposed_count(tag), want, "disposedCount({tag})");
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_calls_and_defaults() {
    let api = connect();
    let n = api.call("square", vec![46341.into()]).await.unwrap();
    assert_eq!(n.as_f64(), Some(2147488281.0));
    let fib = api
        .call("generateFibonacci", vec![10.into()])
        .await
        .unwrap();
    let fib: Vec<f64> = fib
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    assert_eq!(fib, [0.0, 1.0, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 34.0]);
    let undefined = api.call("returnUndefined", vec![]).await.unwrap();
    assert!(undefined.is_undefined());
    let error = api.call("throwError", vec![]).await.unwrap_err();
    assert_eq!(
        (error.name.as_str(), error.message.as_str()),
        ("RangeError", "test error")
    );
    let unknown = api.call("frobnicate", vec![]).await.unwrap_err();
    assert_eq!(unknown.name, "TypeError");
}

#[tokio::test(flavor = "multi_thread")]
async fn counter_increment_default_and_getter() {
    let api = connect();
    let counter = api.call("makeCounter", vec![7.into()]).await.unwrap();
    let counter = counter.into_stub().unwrap();
    let by_three = api
        .call("incrementCounter", vec![counter.clone().into(), 3.into()])
        .await
        .unwrap();
    assert_eq!(by_three.as_f64(), Some(10.0));
    let by_default = counter.call("increment", vec![]).await.unwrap();
    assert_eq!(by_default.as_f64(), Some(11.0));
    assert_eq!(counter.get("value").await.unwrap().as_f64(), Some(11.0));
    let called = counter.call("value", vec![]).await.unwrap_err();
    assert_eq!(called.name, "TypeError");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_repeated_hand_out_is_disposed() {
    let api = connect();
    let tag = "tests-repeated";
    let slots = api
        .call("makeDisposableRepeated", vec![tag.into()])
        .await
        .unwrap();
    assert_eq!(
        slots.as_array().map(<[Value]>::len),
        Some(3),
        "n defaults to 3"
    );
    let first = slots.as_array().unwrap()[0].as_stub().unwrap().clone();
    assert_eq!(
        first.call("ping", vec![]).await.unwrap().as_str(),
        Some("pong")
    );
    assert_eq!(first.get("tag").await.unwrap().as_str(), Some(tag));
    drop(first);
    drop(slots);
    wait_for_count(tag, 3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn callbacks_register_fire_release() {
    let api = connect();
    let error = api.call("fireCallback", vec![1.into()]).await.unwrap_err();
    assert_eq!(
        (error.name.as_str(), error.message.as_str()),
        ("Error", "no callback registered")
    );
    let callback = Stub::from_fn(|args: Vec<Value>| async move {
        Ok(format!("cb:{}", args[0].as_f64().unwrap_or_default()).into())
    });
    let registered = api
        .call("registerCallback", vec![callback.into()])
        .await
        .unwrap();
    assert!(registered.is_undefined());
    let fired = api.call("fireCallback", vec![2.into()]).await.unwrap();
    assert_eq!(fired.as_str(), Some("cb:2"));
    let released = api.call("releaseCallback", vec![]).await.unwrap();
    assert_eq!(released.as_bool(), Some(true));
    let again = api.call("releaseCallback", vec![]).await.unwrap();
    assert_eq!(again.as_bool(), Some(false));

    let failing = Stub::from_fn(|_| async { Err(tether::RpcError::new("URIError", "nope")) });
    let error = api
        .call("callFunction", vec![failing.into(), 1.into()])
        .await
        .unwrap_err();
    assert_eq!(
        (error.name.as_str(), error.message.as_str()),
        ("URIError", "nope")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_argument_types_are_type_errors_naming_method_and_parameter() {
    let api = connect();
    let cases: Vec<(&str, Vec<Value>, &str)> = vec![
        (
            "square",
            vec!["x".into()],
            "square: parameter 'i' must be a number, got string",
        ),
        (
            "makeCounter",
            vec![Value::object([("a", 1)])],
            "makeCounter: parameter 'i' must be a number, got object",
        ),
        ("square", vec![], "square: missing required parameter 'i'"),
        (
            "registerCallback",
            vec![5.into()],
            "registerCallback: parameter 'cb' must be a stub, got number",
        ),
    ];
    for (method, args, message) in cases {
        let error = api.call(method, args).await.unwrap_err();
        assert_eq!(
            (error.name.as_str(), error.message.as_str()),
            ("TypeError", message)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn typed_clients_call_the_same_server() {
    let api = TestTargetClient::from(connect());
    assert_eq!(api.square(7.0).await.unwrap(), 49.0);
    // Pipelined: `increment` is sent before `makeCounter` has answered.
    assert_eq!(
        api.make_counter(5.0).increment(Some(2.0)).await.unwrap(),
        7.0
    );
    let counter: CounterClient = api.make_counter(1.0).await.unwrap();
    let n = api
        .increment_counter(counter.clone().into(), Value::Undefined)
        .await
        .unwrap();
    assert_eq!(n.as_f64(), Some(2.0));
    assert_eq!(counter.value().await.unwrap(), 2.0);
    let squared = api.call_square(api.clone(), 6.0).await.unwrap();
    assert_eq!(squared.get("result").as_f64(), Some(36.0), "{squared:?}");
    let tag = "tests-typed";
    let d = api.make_disposable(Some(tag.to_owned())).await.unwrap();
    assert_eq!(d.ping().await.unwrap(), "pong");
    assert_eq!(d.tag().await.unwrap(), tag);
    drop(d);
    wait_for_count(tag, 1).await;
    assert_eq!(api.disposed_count(Some(tag.to_owned())).await.unwrap(), 1);
}
