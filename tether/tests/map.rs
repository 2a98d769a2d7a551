//! Rule P5 on the receiving side: `remap` expressions, as capnweb clients record them, replayed
//! by a tether server. Frames are written the way capnweb's `MapBuilder` writes them.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use futures_util::{SinkExt, StreamExt};
use tether::transport::memory::pair;
use tether::transport::Outgoing;
use tether::{Limits, RpcSession, SessionOptions};

/// Sends `frames` to a fresh server session, then pulls `pull` and returns the reply to it.
async fn reply_to(frames: &[&str], pull: i64, options: SessionOptions) -> String {
    let (mut raw, server_end) = pair();
    let (_peer, driver) = RpcSession::open(server_end, Some(common::api()), options);
    tokio::spawn(async move { driver.await });
    for frame in frames {
        raw.send(Outgoing::Message((*frame).to_owned()))
            .await
            .unwrap();
    }
    raw.send(Outgoing::Message(format!("[\"pull\",{pull}]")))
        .await
        .unwrap();
    loop {
        let frame = raw.next().await.unwrap().unwrap();
        if frame.starts_with(&format!("[\"resolve\",{pull},"))
            || frame.starts_with(&format!("[\"reject\",{pull},"))
            || frame.starts_with("[\"abort\"")
        {
            return frame.to_string();
        }
    }
}

const SQUARE_EACH: &str = "[\"push\",[\"remap\",1,[],[[\"import\",0]],[[\"pipeline\",-1,[\"square\"],[[\"pipeline\",0]]]]]]";

#[tokio::test]
async fn map_over_an_array_runs_the_mapper_per_element() {
    let frames = [
        "[\"push\",[\"pipeline\",0,[\"echo\"],[[[1,2,3]]]]]",
        SQUARE_EACH,
    ];
    assert_eq!(
        reply_to(&frames, 2, SessionOptions::default()).await,
        "[\"resolve\",2,[[1,4,9]]]"
    );
}

#[tokio::test]
async fn map_on_null_does_not_run_and_on_a_single_value_runs_once() {
    let null = ["[\"push\",[\"pipeline\",0,[\"echo\"],[null]]]", SQUARE_EACH];
    assert_eq!(
        reply_to(&null, 2, SessionOptions::default()).await,
        "[\"resolve\",2,null]"
    );
    let single = ["[\"push\",[\"pipeline\",0,[\"echo\"],[7]]]", SQUARE_EACH];
    assert_eq!(
        reply_to(&single, 2, SessionOptions::default()).await,
        "[\"resolve\",2,49]"
    );
}

#[tokio::test]
async fn map_with_property_paths_and_several_instructions() {
    // items.map(x => ({ n: api.add(x.a, x.b), c: api.makeCounter(x.a) })) then c.increment() later.
    let items =
        "[\"push\",[\"pipeline\",0,[\"echo\"],[[[{\"a\":1,\"b\":2},{\"a\":10,\"b\":20}]]]]]";
    let mapper = "[\"push\",[\"remap\",1,[],[[\"import\",0]],[\
        [\"pipeline\",0,[\"a\"]],\
        [\"pipeline\",0,[\"b\"]],\
        [\"pipeline\",-1,[\"add\"],[[\"pipeline\",1],[\"pipeline\",2]]],\
        {\"n\":[\"pipeline\",3]}]]]";
    let reply = reply_to(&[items, mapper], 2, SessionOptions::default()).await;
    assert_eq!(reply, "[\"resolve\",2,[[{\"n\":3},{\"n\":30}]]]");
}

#[tokio::test]
async fn map_on_an_unresolved_promise_waits_for_it() {
    let frames = ["[\"push\",[\"pipeline\",0,[\"sleep\"],[20]]]", SQUARE_EACH];
    // "slept" squared is NaN in JavaScript terms; here square of a non-number argument is 0.
    let reply = reply_to(&frames, 2, SessionOptions::default()).await;
    assert_eq!(reply, "[\"resolve\",2,0]");
}

#[tokio::test]
async fn nested_maps_use_the_parent_table_for_captures() {
    // [[1,2],[3]].map(row => row.map(x => api.square(x)))
    let rows = "[\"push\",[\"pipeline\",0,[\"echo\"],[[[[[1,2]],[[3]]]]]]]";
    let mapper = "[\"push\",[\"remap\",1,[],[[\"import\",0]],[\
        [\"remap\",0,[],[[\"import\",-1]],[[\"pipeline\",-1,[\"square\"],[[\"pipeline\",0]]]]]]]]";
    let reply = reply_to(&[rows, mapper], 2, SessionOptions::default()).await;
    assert_eq!(reply, "[\"resolve\",2,[[[[1,4]],[[9]]]]]");
}

#[tokio::test]
async fn errors_inside_a_mapper_reject_the_map() {
    let frames = [
        "[\"push\",[\"pipeline\",0,[\"echo\"],[[[1,2]]]]]",
        "[\"push\",[\"remap\",1,[],[[\"import\",0]],[[\"pipeline\",-1,[\"throwError\"],[]]]]]",
    ];
    let reply = reply_to(&frames, 2, SessionOptions::default()).await;
    assert_eq!(
        reply,
        "[\"reject\",2,[\"error\",\"RangeError\",\"test error\"]]"
    );
}

#[tokio::test]
async fn malformed_instructions_and_exports_reject_the_map_not_the_session() {
    let items = "[\"push\",[\"pipeline\",0,[\"echo\"],[[[1,2]]]]]";
    for (instruction, expected) in [
        (
            "[\"bigint\",\"zz\"]",
            "[\"reject\",2,[\"error\",\"SyntaxError\",\"Cannot convert zz to a BigInt\"]]",
        ),
        (
            "[\"pipeline\",-1,[\"square\"],[[\"export\",-1]]]",
            "[\"reject\",2,[\"error\",\"Error\",\"A mapper function cannot refer to exports.\"]]",
        ),
        (
            "[\"foo\"]",
            "[\"reject\",2,[\"error\",\"TypeError\",\"unknown special value: [\\\"foo\\\"]\"]]",
        ),
    ] {
        let mapper = format!("[\"push\",[\"remap\",1,[],[[\"import\",0]],[{instruction}]]]");
        let reply = reply_to(&[items, &mapper], 2, SessionOptions::default()).await;
        assert_eq!(reply, expected);
    }
    // Never run on null, so never failing.
    let null = "[\"push\",[\"pipeline\",0,[\"echo\"],[null]]]";
    let mapper = "[\"push\",[\"remap\",1,[],[[\"import\",0]],[[\"bigint\",\"zz\"]]]]";
    assert_eq!(
        reply_to(&[null, mapper], 2, SessionOptions::default()).await,
        "[\"resolve\",2,null]"
    );
}

#[tokio::test]
async fn the_work_one_message_can_fan_out_to_is_bounded() {
    let options = SessionOptions {
        limits: Limits {
            max_map_instructions: 10,
            ..Limits::default()
        },
        ..Default::default()
    };
    let many = format!(
        "[\"push\",[\"pipeline\",0,[\"echo\"],[[[{}]]]]]",
        vec!["1"; 50].join(",")
    );
    let reply = reply_to(&[&many, SQUARE_EACH], 2, options).await;
    assert!(
        reply.starts_with(
            "[\"reject\",2,[\"error\",\"RangeError\",\"map() exceeded the limit of 10"
        ),
        "{reply}"
    );
}

// The calling side: a Rust mapper recorded and sent as one `remap`.

#[tokio::test]
async fn a_rust_mapper_is_sent_as_one_remap_and_costs_one_round_trip() {
    let conn = common::connect(common::api());
    let api = conn.api.clone();
    let list = conn.api.call(
        "echo",
        vec![tether::Value::array([1.into(), 2.into(), 3.into()])],
    );
    let squares = list.map(|x| api.call("square", vec![x.into()]).into());
    let squares = squares.await.unwrap();
    let numbers: Vec<f64> = squares
        .as_array()
        .unwrap()
        .iter()
        .filter_map(tether::Value::as_f64)
        .collect();
    assert_eq!(numbers, vec![1.0, 4.0, 9.0]);
    let frames = conn.log.all();
    assert_eq!(
        &frames[..4],
        &[
            "> [\"push\",[\"pipeline\",0,[\"echo\"],[[[1,2,3]]]]]".to_owned(),
            "> [\"push\",[\"remap\",1,[],[[\"import\",0]],[[\"pipeline\",-1,[\"square\"],[[\"pipeline\",0]]],[\"pipeline\",1]]]]".to_owned(),
            "> [\"pull\",2]".to_owned(),
            "< [\"resolve\",2,[[1,4,9]]]".to_owned(),
        ]
    );
}

#[tokio::test]
async fn a_rust_mapper_reads_properties_and_builds_objects() {
    let conn = common::connect(common::api());
    let api = conn.api.clone();
    let rows = tether::Value::array([
        tether::Value::object([("a", 1), ("b", 2)]),
        tether::Value::object([("a", 5), ("b", 6)]),
    ]);
    let sums = conn.api.call("echo", vec![rows]).map(|row| {
        tether::Value::object([(
            "sum",
            api.call("add", vec![row.get("a").into(), row.get("b").into()]),
        )])
    });
    let sums = sums.await.unwrap();
    let got: Vec<f64> = sums
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r.get("sum").as_f64())
        .collect();
    assert_eq!(got, vec![3.0, 11.0]);
}

#[tokio::test]
async fn a_mapper_on_a_local_value_runs_locally() {
    let api = common::api();
    let callee = api.clone();
    let mapped = tether::RpcPromise::resolved(tether::Value::array([2.into(), 3.into()]))
        .map(|x| callee.call("square", vec![x.into()]).into());
    let mapped = mapped.await.unwrap();
    let numbers: Vec<f64> = mapped
        .as_array()
        .unwrap()
        .iter()
        .filter_map(tether::Value::as_f64)
        .collect();
    assert_eq!(numbers, vec![4.0, 9.0]);
    // Null maps to null without running the mapper.
    let none = tether::RpcPromise::resolved(tether::Value::Null)
        .map(|x| callee.call("square", vec![x.into()]).into());
    assert!(matches!(none.await.unwrap(), tether::Value::Null));
}

#[tokio::test]
async fn a_local_map_gives_what_a_remote_one_would() {
    // The values a mapper builds reach the result as a peer would receive them.
    let mapped = tether::RpcPromise::resolved(tether::Value::array([1.into()])).map(|x| {
        tether::Value::object([
            ("x", tether::Value::from(x)),
            ("toString", tether::Value::from(1)),
            ("zero", tether::Value::Number(-0.0)),
            ("day", tether::Value::Date(1.5)),
        ])
    });
    let mapped = mapped.await.unwrap();
    let row = &mapped.as_array().unwrap()[0];
    let keys: Vec<_> = row.as_object().unwrap().iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["x", "zero", "day"]);
    assert_eq!(row.get("x").as_f64(), Some(1.0));
    assert!(row.get("zero").as_f64().unwrap().is_sign_positive());
    assert!(row.get("day").data_eq(&tether::Value::Date(1.0)));
}

#[tokio::test]
async fn a_placeholder_used_outside_its_mapper_is_an_error() {
    let mut escaped = None;
    let _ = tether::RpcPromise::resolved(tether::Value::Null).map(|x| {
        escaped = Some(x.clone());
        x.into()
    });
    let error = escaped.unwrap().await.unwrap_err();
    assert!(error.message.contains("placeholder"), "{error}");
}
