//! Pipelining rules P1-P4, P6, P7 over an in-process session, proven by counting frames.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use common::*;
use tether::{RpcPromise, Value};

#[tokio::test]
async fn p1_p7_a_dependent_chain_costs_one_round_trip() {
    let conn = connect(api());
    let counter = conn.api.call("makeCounter", vec![0.into()]);
    let result = counter.call("increment", vec![1.into()]).await.unwrap();
    assert_eq!(result.as_f64(), Some(1.0));
    drop(counter);
    let sent = conn.log.all();
    // Both pushes and the pull leave before any frame comes back, and one resolve returns.
    assert_eq!(
        &sent[..4],
        &[
            "> [\"push\",[\"pipeline\",0,[\"makeCounter\"],[0]]]".to_owned(),
            "> [\"push\",[\"pipeline\",1,[\"increment\"],[1]]]".to_owned(),
            "> [\"pull\",2]".to_owned(),
            "< [\"resolve\",2,1]".to_owned(),
        ]
    );
    assert_eq!(
        conn.log
            .received()
            .iter()
            .filter(|f| f.starts_with("[\"resolve\""))
            .count(),
        1
    );
}

#[tokio::test]
async fn p1_calls_on_property_paths_of_a_promise_pipeline() {
    let conn = connect(api());
    let pair = conn.api.call(
        "echo",
        vec![Value::object([(
            "c",
            conn.api.call("makeCounter", vec![5.into()]),
        )])],
    );
    let n = pair
        .get("c")
        .call("increment", vec![2.into()])
        .await
        .unwrap();
    assert_eq!(n.as_f64(), Some(7.0));
    let pushes = conn
        .log
        .sent()
        .into_iter()
        .filter(|f| f.contains("[\"c\",\"increment\"]"))
        .count();
    assert_eq!(pushes, 1, "{:?}", conn.log.sent());
}

#[tokio::test]
async fn p2_promises_as_arguments_are_substituted_before_delivery() {
    let conn = connect(api());
    let a = conn.api.call("add", vec![1.into(), 2.into()]);
    let b = conn.api.call("add", vec![a.clone().into(), 10.into()]);
    let c = conn.api.call("add", vec![b.into(), a.into()]);
    assert_eq!(c.await.unwrap().as_f64(), Some(16.0));
    assert!(conn
        .log
        .sent()
        .contains(&"[\"push\",[\"pipeline\",0,[\"add\"],[[\"pipeline\",1],10]]]".to_owned()));
    // A property of a promise as an argument.
    let nested = conn.api.get("nested");
    let answer = conn.api.call(
        "add",
        vec![nested.get("inner").get("answer").into(), 0.into()],
    );
    assert_eq!(answer.await.unwrap().as_f64(), Some(42.0));
}

#[tokio::test]
async fn p3_a_rejection_propagates_to_every_pipelined_call() {
    let conn = connect(api());
    let failed = conn.api.call("throwError", vec![]);
    let first = failed.call("anything", vec![]);
    let second = failed.get("x").call("deeper", vec![]);
    let arg = conn.api.call("add", vec![failed.clone().into(), 1.into()]);
    for result in [first.await, second.await, arg.await] {
        let error = result.unwrap_err();
        assert_eq!(
            (error.name.as_str(), error.message.as_str()),
            ("RangeError", "test error")
        );
    }
}

#[tokio::test]
async fn p4_calls_on_one_stub_are_delivered_in_order() {
    let conn = connect(api());
    let counter = conn.api.call("makeCounter", vec![0.into()]);
    // Made before the counter resolves, then more after: all in order.
    let early: Vec<RpcPromise> = (0..50)
        .map(|_| counter.call("increment", vec![1.into()]))
        .collect();
    let resolved = counter.clone().await.unwrap().into_stub().unwrap();
    let late: Vec<RpcPromise> = (0..50)
        .map(|_| resolved.call("increment", vec![1.into()]))
        .collect();
    let mut values = Vec::new();
    for p in early.into_iter().chain(late) {
        values.push(p.await.unwrap().as_f64().unwrap());
    }
    let expected: Vec<f64> = (1..=100).map(f64::from).collect();
    assert_eq!(values, expected);
}

#[tokio::test]
async fn p6_a_promise_from_a_local_future_can_be_sent_before_it_resolves() {
    let conn = connect(api());
    let later = RpcPromise::from_future(async {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        Ok(Value::from(6))
    });
    let squared = conn.api.call("square", vec![later.into()]);
    assert_eq!(squared.await.unwrap().as_f64(), Some(36.0));
    // It travelled as a promise export, resolved by us without being asked.
    assert!(
        conn.log
            .sent()
            .iter()
            .any(|f| f.contains("[\"promise\",-1]")),
        "{:?}",
        conn.log.sent()
    );
    assert!(
        conn.log.sent().contains(&"[\"resolve\",-1,6]".to_owned()),
        "{:?}",
        conn.log.sent()
    );
}
