//! Promise pipelining against the reference Node server over WebSocket, with the frames counted:
//! a call on an unresolved result, promises passed as arguments, property reads and array
//! indexes on promises, and a chain of dependent calls, each costing one round trip (every push
//! and pull leaves before the first frame arrives, and one `resolve` comes back).
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use tether::Value;
use tether_interop_tests::{
    assert_data_eq, assert_no_abort, connect_ws, connect_ws_tapped, frame_type, num, ok, shared, t,
    unique_tag, FrameLog,
};

/// Checks that the frames recorded so far are one round trip: `sent` (by type, releases of
/// intermediate promises not counted) all left before anything arrived, and exactly one frame
/// (a `resolve`) came back.
fn assert_one_round_trip(log: &FrameLog, sent: &[&str]) {
    let all = log.all();
    let first_received = all
        .iter()
        .position(|f| f.starts_with("< "))
        .unwrap_or(all.len());
    let before: Vec<String> = all[..first_received]
        .iter()
        .map(|f| frame_type(&f[2..]))
        .filter(|t| t != "release")
        .collect();
    assert_eq!(
        before,
        sent,
        "frames sent before the first reply:\n{}",
        log.dump()
    );
    let received: Vec<String> = log.received().iter().map(|f| frame_type(f)).collect();
    assert_eq!(received, ["resolve"], "frames received:\n{}", log.dump());
    assert_no_abort(log);
    let after_first: Vec<&String> = all[first_received..]
        .iter()
        .filter(|f| f.starts_with("> "))
        .filter(|f| frame_type(&f[2..]) != "release")
        .collect();
    assert!(
        after_first.is_empty(),
        "only releases may follow the reply:\n{}",
        log.dump()
    );
}

#[tokio::test]
async fn a_call_on_an_unresolved_result_is_one_round_trip() {
    let session = connect_ws_tapped(shared(), None).await;
    let value = t!(session
        .api
        .call("makeCounter", vec![5.into()])
        .call("increment", vec![2.into()]));
    assert_eq!(num(&ok(value)), 7.0);
    assert_one_round_trip(&session.log, &["push", "push", "pull"]);
    let sent = session.log.sent();
    assert_eq!(sent[0], r#"["push",["pipeline",0,["makeCounter"],[5]]]"#);
    assert_eq!(sent[1], r#"["push",["pipeline",1,["increment"],[2]]]"#);
    assert_eq!(sent[2], r#"["pull",2]"#);
}

#[tokio::test]
async fn calls_on_a_kept_counter_promise() {
    let api = connect_ws(shared()).await;
    let counter = api.call("makeCounter", vec![5.into()]);
    assert_eq!(num(&ok(t!(counter.call("increment", vec![1.into()])))), 6.0);
    assert_eq!(num(&ok(t!(counter.call("increment", vec![2.into()])))), 8.0);
    assert_eq!(num(&ok(t!(counter.get("value")))), 8.0);
}

#[tokio::test]
async fn a_promise_passed_as_an_argument_is_one_round_trip() {
    let session = connect_ws_tapped(shared(), None).await;
    let api = &session.api;
    let r = t!(api.call(
        "square",
        vec![api.call("returnNumber", vec![4.into()]).into()]
    ));
    assert_eq!(num(&ok(r)), 16.0);
    assert_one_round_trip(&session.log, &["push", "push", "pull"]);
    assert_eq!(
        session.log.sent()[1],
        r#"["push",["pipeline",0,["square"],[["pipeline",1]]]]"#
    );
}

#[tokio::test]
async fn a_promised_property_passed_as_an_argument_is_one_round_trip() {
    let session = connect_ws_tapped(shared(), None).await;
    let api = &session.api;
    let result = api
        .call("callSquare", vec![api.clone().into(), 6.into()])
        .get("result");
    let r = t!(api.call("square", vec![result.into()]));
    assert_eq!(num(&ok(r)), 1296.0);
    assert_one_round_trip(&session.log, &["push", "push", "pull"]);
    assert_eq!(
        session.log.sent()[1],
        r#"["push",["pipeline",0,["square"],[["pipeline",1,["result"]]]]]"#
    );
}

#[tokio::test]
async fn promises_as_stub_and_number_arguments() {
    let session = connect_ws_tapped(shared(), None).await;
    let api = &session.api;
    let r = t!(api.call(
        "incrementCounter",
        vec![
            api.call("makeCounter", vec![1.into()]).into(),
            api.call("square", vec![3.into()]).into(),
        ]
    ));
    assert_eq!(num(&ok(r)), 10.0);
    assert_one_round_trip(&session.log, &["push", "push", "push", "pull"]);
}

#[tokio::test]
async fn property_reads_and_array_indexes_on_promises() {
    let session = connect_ws_tapped(shared(), None).await;
    let api = &session.api;
    let value = t!(api.call("makeCounter", vec![41.into()]).get("value"));
    assert_eq!(num(&ok(value)), 41.0);
    assert_one_round_trip(&session.log, &["push", "push", "pull"]);

    let result = t!(api
        .call("callSquare", vec![api.clone().into(), 6.into()])
        .get("result"));
    assert_eq!(num(&ok(result)), 36.0);

    // Integer path elements index arrays: ["pipeline", id, [6]].
    session.log.clear();
    let fib6 = t!(api.call("generateFibonacci", vec![10.into()]).index(6));
    assert_eq!(num(&ok(fib6)), 8.0);
    assert!(
        session
            .log
            .sent()
            .iter()
            .any(|f| f.ends_with(",[6]]]") && f.starts_with(r#"["push",["pipeline","#)),
        "{}",
        session.log.dump()
    );

    let tag = unique_tag("index");
    let pong = t!(api
        .call(
            "makeDisposableRepeated",
            vec![tag.as_str().into(), 2.into()]
        )
        .index(1)
        .call("ping", vec![]));
    assert_eq!(ok(pong).as_str(), Some("pong"));
}

#[tokio::test]
async fn a_chain_of_dependent_calls_only_the_last_awaited_is_one_round_trip() {
    let session = connect_ws_tapped(shared(), None).await;
    let api = &session.api;
    let c1 = api.call("makeCounter", vec![0.into()]);
    let v1 = c1.call("increment", vec![1.into()]);
    let c2 = api.call("makeCounter", vec![v1.clone().into()]);
    let v2 = c2.call(
        "increment",
        vec![api.call("square", vec![v1.into()]).into()],
    );
    let c3 = api.call("makeCounter", vec![v2.into()]);
    let last = t!(c3.call("increment", vec![10.into()]));
    assert_eq!(num(&ok(last)), 12.0);
    assert_one_round_trip(
        &session.log,
        &[
            "push", "push", "push", "push", "push", "push", "push", "pull",
        ],
    );
}

#[tokio::test]
async fn a_pipelined_result_keeps_structure() {
    let api = connect_ws(shared()).await;
    let echoed = api.call(
        "echo",
        vec![Value::object([(
            "inner",
            Value::object([("list", Value::array([10.into(), 20.into()]))]),
        )])],
    );
    let twenty = t!(echoed.get("inner").get("list").index(1));
    assert_data_eq(&ok(twenty), &20.into(), "echo(..).inner.list[1]");
    let squared = t!(api.call(
        "square",
        vec![echoed.get("inner").get("list").index(0).into()]
    ));
    assert_eq!(num(&ok(squared)), 100.0);
}

#[tokio::test]
async fn e_order_calls_on_one_stub_arrive_in_order_before_and_after_it_resolves() {
    let api = connect_ws(shared()).await;
    let counter = api.call("makeCounter", vec![0.into()]);
    let early: Vec<_> = (0..50)
        .map(|_| counter.call("increment", vec![1.into()]))
        .collect();
    let resolved = ok(t!(counter)).into_stub().unwrap();
    let late: Vec<_> = (0..50)
        .map(|_| resolved.call("increment", vec![1.into()]))
        .collect();
    let mut values = Vec::new();
    for promise in early.into_iter().chain(late) {
        values.push(num(&ok(t!(promise))));
    }
    assert_eq!(values, (1..=100).map(f64::from).collect::<Vec<_>>());
}

#[tokio::test]
async fn e_order_callbacks_fired_by_concurrent_calls_arrive_in_call_order() {
    let api = connect_ws(shared()).await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let callback = tether::Stub::from_fn(move |args| {
        record.lock().unwrap().push(num(&args[0]));
        let echo = args[0].clone();
        async move { Ok(echo) }
    });
    ok(t!(api.call("registerCallback", vec![callback.into()])));
    let fired: Vec<_> = (0..50)
        .map(|i| api.call("fireCallback", vec![i.into()]))
        .collect();
    for (i, promise) in fired.into_iter().enumerate() {
        assert_eq!(num(&ok(t!(promise))), i as f64);
    }
    assert_eq!(
        *seen.lock().unwrap(),
        (0..50).map(f64::from).collect::<Vec<_>>()
    );
}
