//! The BenchApi contract through tether's own client, in process (no sockets), against both
//! implementations (typed and dynamic): results, the JS semantics the contract asks for,
//! `liveCounters()` following disposal, and the two answering every call alike.

use std::time::Duration;

use tether::transport::memory::pair;
use tether::{RpcResult, RpcSession, SessionOptions, Stub, Value};
use tether_bench::api::Api;

const BOTH: [Api; 2] = [Api::Typed, Api::Dynamic];

fn connect(api: Api) -> Stub {
    let (a, b) = pair();
    let options = SessionOptions {
        close_when_main_dropped: true,
        ..SessionOptions::default()
    };
    let (main, _client) = RpcSession::spawn(a, None, options);
    let (_none, _server) = RpcSession::spawn(b, Some(api.main_stub()), SessionOptions::default());
    main
}

async fn call(api: &Stub, method: &str, args: Vec<Value>) -> Value {
    api.call(method, args).await.expect(method)
}

#[tokio::test(flavor = "current_thread")]
async fn bench_api_answers_as_the_contract_says() {
    for which in BOTH {
        let api = connect(which);
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
            other => panic!("{which}: bytes(300) gave {other:?}"),
        }
        assert!(call(&api, "rss", vec![]).await.as_f64().unwrap_or(0.0) > 0.0);
        assert!(call(&api, "heapUsed", vec![]).await.as_f64().is_some());
        // Beyond the contract: allocation counts (0 here, without the counting allocator).
        assert!(call(&api, "allocCount", vec![]).await.as_f64().is_some());
        assert!(call(&api, "largeAllocCount", vec![])
            .await
            .as_f64()
            .is_some());
        assert!(call(&api, "sessionsOpened", vec![]).await.as_f64() >= Some(1.0));
        let info = call(&api, "serverInfo", vec![]).await;
        assert_eq!(info.get("impl").as_str(), Some("tether"));
        assert_eq!(info.get("runtime").as_str(), Some("rust/tokio"));
        assert_eq!(info.get("api").as_str(), Some(which.name()));
        let err = api.call("nope", vec![]).await.expect_err("unknown method");
        assert_eq!(err.message, "'nope' is not a function.");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn counters_count_until_disposed() {
    for which in BOTH {
        let api = connect(which);
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
        // Releases travel in order before the next call; the count is process-wide, and other
        // tests run in parallel, so wait for this test's five to go rather than for an exact
        // number.
        let mut now = live(api.clone()).await.expect("n");
        for _ in 0..200 {
            if now <= before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            now = live(api.clone()).await.expect("n");
        }
        assert!(now <= before, "{which}: liveCounters {before} -> {now}");
    }
}

/// An outcome as text: values by their debug form (so `NaN` equals `NaN`), errors by name and
/// message.
fn outcome(result: RpcResult) -> String {
    match result {
        Ok(value) => format!("{value:?}"),
        Err(error) => format!("{}: {}", error.name, error.message),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn both_apis_answer_alike() {
    let [typed, dynamic] = BOTH.map(connect);
    let big = |n: i64| Value::BigInt(n.into());
    let calls: Vec<(&str, Vec<Value>)> = vec![
        ("echo", vec![Value::object([("a", 1)]), 2.into()]),
        ("echo", vec![Value::Null]),
        ("add", vec![1.into(), "x".into()]),
        ("add", vec![big(2), big(3)]),
        ("add", vec![Value::Null, true.into()]),
        ("add", vec![Value::array([1.into(), 2.into()]), 3.into()]),
        ("add", vec![0.1.into(), 0.2.into()]),
        ("add", vec![]),
        ("noop", vec![1.into()]),
        ("bytes", vec!["3".into()]),
        ("bytes", vec![(-1).into()]),
        ("bytes", vec![Value::Null]),
        ("bytes", vec![1e12.into()]),
        ("listOfStubs", vec![1e12.into()]),
        ("increment", vec![]),
        ("nope", vec![]),
    ];
    for (method, args) in calls {
        let a = outcome(typed.call(method, args.clone()).await);
        let b = outcome(dynamic.call(method, args.clone()).await);
        assert_eq!(a, b, "{method}({args:?})");
    }
    for property in ["echo", "value", "nope"] {
        let a = outcome(typed.get(property).await);
        let b = outcome(dynamic.get(property).await);
        assert_eq!(a, b, "get {property}");
    }

    let starts = [
        Value::Undefined,
        Value::Null,
        "12".into(),
        "abc".into(),
        7.5.into(),
        true.into(),
        f64::NAN.into(),
    ];
    let amounts = [
        None,
        Some(Value::Undefined),
        Some(Value::Null),
        Some("2".into()),
        Some(2.5.into()),
        Some("x".into()),
        Some(Value::array([4.into()])),
    ];
    for start in &starts {
        for amount in &amounts {
            let mut seen = Vec::new();
            for api in [&typed, &dynamic] {
                let counter = api.call("makeCounter", vec![start.clone()]);
                let args = amount.iter().cloned().collect();
                let incremented = outcome(counter.call("increment", args).await);
                let value = outcome(counter.get("value").await);
                let as_method = outcome(counter.call("value", vec![]).await);
                seen.push((incremented, value, as_method));
            }
            assert_eq!(
                seen[0], seen[1],
                "makeCounter({start:?}).increment({amount:?})"
            );
        }
    }
    let lists = [&typed, &dynamic].map(|api| api.call("listOfStubs", vec![2.7.into()]));
    for list in lists {
        let list = list.await.expect("listOfStubs");
        assert_eq!(list.as_array().map(<[Value]>::len), Some(2));
    }
}
