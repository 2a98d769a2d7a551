//! `map()` from the Rust client against the reference Node server (rule P5): the mapper closure
//! is recorded and sent as one `remap`, so `api.generateFibonacci(n).map(|x| api.square(x))`
//! costs one round trip over WebSocket and one request over HTTP batch.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use tether::Value;
use tether_interop_tests::{
    connect_ws, connect_ws_tapped, frame_type, num, ok, shared, t, CountingProxy,
};

fn numbers(value: &Value) -> Vec<f64> {
    value.as_array().unwrap().iter().map(num).collect()
}

#[tokio::test]
async fn a_mapper_over_a_remote_list_is_one_round_trip() {
    let session = connect_ws_tapped(shared(), None).await;
    let api = session.api.clone();
    let squares = session
        .api
        .call("generateFibonacci", vec![7.into()])
        .map(|x| api.call("square", vec![x.into()]).into());
    let squares = ok(t!(squares));
    assert_eq!(numbers(&squares), vec![0.0, 1.0, 1.0, 4.0, 9.0, 25.0, 64.0]);
    let all = session.log.all();
    let first_reply = all.iter().position(|f| f.starts_with("< ")).unwrap();
    let before: Vec<String> = all[..first_reply]
        .iter()
        .map(|f| frame_type(&f[2..]))
        .filter(|t| t != "release")
        .collect();
    assert_eq!(before, ["push", "push", "pull"], "{}", session.log.dump());
    let asked_later = all[first_reply..]
        .iter()
        .filter(|f| f.starts_with("> ") && matches!(frame_type(&f[2..]).as_str(), "push" | "pull"))
        .count();
    assert_eq!(
        asked_later,
        0,
        "nothing waited for a reply:\n{}",
        session.log.dump()
    );
    assert!(
        session.log.sent()[1].starts_with(r#"["push",["remap",1,[],[["import",0]],"#),
        "{}",
        session.log.dump()
    );
}

#[tokio::test]
async fn a_mapper_on_null_does_not_run_and_on_one_value_runs_once() {
    let api = connect_ws(shared()).await;
    let callee = api.clone();
    let none = api
        .call("returnNull", vec![])
        .map(|x| callee.call("square", vec![x.into()]).into());
    assert!(matches!(ok(t!(none)), Value::Null));
    let one = api
        .call("returnNumber", vec![9.into()])
        .map(|x| callee.call("square", vec![x.into()]).into());
    assert_eq!(num(&ok(t!(one))), 81.0);
}

#[tokio::test]
async fn a_mapper_can_build_objects_and_make_stubs() {
    let api = connect_ws(shared()).await;
    let callee = api.clone();
    let rows = api.call("generateFibonacci", vec![4.into()]).map(|x| {
        Value::object([
            ("n", Value::from(x.clone())),
            ("counter", callee.call("makeCounter", vec![x.into()]).into()),
        ])
    });
    let rows = ok(t!(rows));
    let mut bumped = Vec::new();
    for row in rows.as_array().unwrap() {
        let counter = row.get("counter").as_stub().unwrap().clone();
        bumped.push(num(&ok(t!(counter.call("increment", vec![10.into()])))));
    }
    assert_eq!(bumped, vec![10.0, 11.0, 11.0, 12.0]);
}

#[tokio::test]
async fn a_mapper_in_an_http_batch_is_one_request() {
    let proxy = CountingProxy::start(shared().addr()).await;
    let api = tether::client::http_batch::connect(&proxy.http_url()).unwrap();
    let callee = api.clone();
    let squares = api
        .call("generateFibonacci", vec![5.into()])
        .map(|x| callee.call("square", vec![x.into()]).into());
    assert_eq!(numbers(&ok(t!(squares))), vec![0.0, 1.0, 1.0, 4.0, 9.0]);
    assert_eq!(proxy.connections(), 1);
}
