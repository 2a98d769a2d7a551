//! The BenchApi contract through tether's own client, in process (no sockets): results, the JS
//! semantics the contract asks for, and `liveCounters()` following disposal.

use std::time::Duration;

use tether::transport::memory::pair;
use tether::{RpcSession, SessionOptions, Stub, Value};

fn connect() -> Stub {
    let (a, b) = pair();
    let options = SessionOptions {
        close_when_main_dropped: true,
        ..SessionOptions::default()
    };
    let (api, _client) = RpcSession::spawn(a, None, options);
    let (_none, _server) = RpcSession::spawn(
        b,
        Some(tether_bench::api::main_stub()),
        SessionOptions::default(),
    );
    api
}

async fn call(api: &Stub, method: &str, args: Vec<Value>) -> Value {
    api.call(method, args).await.expect(method)
}

#[tokio::test(flavor = "current_thread")]
async fn bench_api_answers_as_the_contract_says() {
    let api = connect();
    assert!(call(&api, "echo", vec!["héllo".into()])
        .await
        .data_eq(&"héllo".into()));
    assert!(call(&api, "echo", vec![]).await.is_undefined());
    assert!(call(&api, "add", vec![2.into(), 3.into()])
        .await
        .data_eq(&5.into()));
    assert!(call(&api, "add", vec!["a".into(), "b".into()])
        .await
        .data_eq(&"ab".into()));
    assert!(call(&api, "noop", vec![]).await.is_undefined());
    match call(&api, "bytes", vec![300.into()]).await {
        Value::Bytes(b) => {
            assert_eq!(b.data.len(), 300);
            assert!(b
                .data
                .iter()
                .enumerate()
                .all(|(i, x)| *x == (i & 0xff) as u8));
        }
        other => panic!("bytes(300) gave {other:?}"),
    }
    assert!(call(&api, "rss", vec![]).await.as_f64().unwrap_or(0.0) > 0.0);
    assert!(call(&api, "heapUsed", vec![]).await.as_f64().is_some());
    let info = call(&api, "serverInfo", vec![]).await;
    assert_eq!(info.get("impl").as_str(), Some("tether"));
    assert_eq!(info.get("runtime").as_str(), Some("rust/tokio"));
    let err = api.call("nope", vec![]).await.expect_err("unknown method");
    assert_eq!(err.message, "'nope' is not a function.");
}

#[tokio::test(flavor = "current_thread")]
async fn counters_count_until_disposed() {
    let api = connect();
    let live = |api: Stub| async move { call(&api, "liveCounters", vec![]).await.as_f64() };
    let before = live(api.clone()).await.expect("a number");

    let counter = call(&api, "makeCounter", vec![10.into()]).await;
    let counter = counter.into_stub().expect("a stub");
    assert!(counter
        .call("increment", vec![5.into()])
        .await
        .expect("inc")
        .data_eq(&15.into()));
    assert!(counter
        .call("increment", vec![])
        .await
        .expect("inc")
        .data_eq(&16.into()));
    assert!(counter
        .get("value")
        .await
        .expect("value")
        .data_eq(&16.into()));

    // A promise as the start value is substituted before the call.
    let seven = api.call("add", vec![3.into(), 4.into()]);
    let piped = api.call("makeCounter", vec![Value::Promise(seven)]);
    assert!(piped
        .call("increment", vec![1.into()])
        .await
        .expect("inc")
        .data_eq(&8.into()));

    let list = call(&api, "listOfStubs", vec![3.into()]).await;
    let items = list.as_array().expect("an array");
    assert_eq!(items.len(), 3);
    let third = items[2].as_stub().expect("a stub");
    assert!(third
        .call("increment", vec![1.into()])
        .await
        .expect("inc")
        .data_eq(&3.into()));
    assert!(live(api.clone()).await.expect("n") >= before + 5.0);

    drop((counter, piped, list));
    // Releases travel in order before the next call; the count is process-wide, and other tests
    // run in parallel, so wait for this test's five to go rather than for an exact number.
    let mut now = live(api.clone()).await.expect("n");
    for _ in 0..200 {
        if now <= before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        now = live(api.clone()).await.expect("n");
    }
    assert!(now <= before, "liveCounters {before} -> {now}");
}
