//! Malformed and hostile input: each case aborts only the offending session, with an `abort`
//! carrying capnweb's error type and message (TESTTARGET.md), and never panics.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use futures_util::{SinkExt, StreamExt};
use tether::transport::memory::{pair, MemoryTransport};
use tether::transport::Outgoing;
use tether::{Limits, RpcSession, SessionOptions};

/// A server session driven by hand from the returned raw end.
fn raw_server(
    options: SessionOptions,
) -> (
    MemoryTransport,
    tokio::task::JoinHandle<tether::RpcResult<()>>,
) {
    let (raw, server_end) = pair();
    let (_peer_main, driver) = RpcSession::open(server_end, Some(common::api()), options);
    (raw, tokio::spawn(async move { driver.await }))
}

/// Sends `frames`, then returns everything received until the server closes.
async fn exchange(
    frames: &[&str],
    options: SessionOptions,
) -> (Vec<String>, tether::RpcResult<()>) {
    let (mut raw, server) = raw_server(options);
    for frame in frames {
        raw.send(Outgoing::Message((*frame).to_owned()))
            .await
            .unwrap();
    }
    let mut received = Vec::new();
    while let Some(Ok(frame)) = raw.next().await {
        received.push(frame.to_string());
    }
    drop(raw); // The server lingers until its peer closes too.
    (received, server.await.unwrap())
}

async fn assert_aborts(frames: &[&str], error_type: &str, message: &str) {
    assert_aborts_with(frames, SessionOptions::default(), error_type, message).await;
}

async fn assert_aborts_with(
    frames: &[&str],
    options: SessionOptions,
    error_type: &str,
    message: &str,
) {
    let (received, outcome) = exchange(frames, options).await;
    let abort = received.last().expect("an abort frame");
    let parsed: serde_json::Value = serde_json::from_str(abort).unwrap();
    assert_eq!(parsed[0], "abort", "{received:?}");
    assert_eq!(parsed[1][0], "error");
    assert_eq!(parsed[1][1], error_type, "{abort}");
    let got = parsed[1][2].as_str().unwrap();
    assert!(
        got.starts_with(message),
        "expected {message:?}, got {got:?}"
    );
    let error = outcome.unwrap_err();
    assert_eq!(error.name, error_type);
}

#[tokio::test]
async fn not_json_is_a_syntax_error() {
    assert_aborts(&["{not json"], "SyntaxError", "").await;
    assert_aborts(&[""], "SyntaxError", "").await;
}

#[tokio::test]
async fn unknown_or_malformed_messages_are_bad_rpc_messages() {
    assert_aborts(
        &["[\"bogus\",1]"],
        "Error",
        "bad RPC message: [\"bogus\",1]",
    )
    .await;
    assert_aborts(&["{\"a\":1}"], "Error", "bad RPC message: {\"a\":1}").await;
    assert_aborts(&["42"], "Error", "bad RPC message: 42").await;
    assert_aborts(&["[\"push\"]"], "Error", "bad RPC message: [\"push\"]").await;
    assert_aborts(
        &["[\"pull\",\"x\"]"],
        "Error",
        "bad RPC message: [\"pull\",\"x\"]",
    )
    .await;
    assert_aborts(
        &["[\"release\",1]"],
        "Error",
        "bad RPC message: [\"release\",1]",
    )
    .await;
}

#[tokio::test]
async fn unknown_ids_are_rejected() {
    assert_aborts(&["[\"release\",-7,1]"], "Error", "no such export ID: -7").await;
    assert_aborts(&["[\"pull\",9]"], "Error", "no such export ID: 9").await;
    assert_aborts(
        &["[\"push\",[\"pipeline\",5,[\"x\"],[]]]"],
        "Error",
        "no such entry on exports table: 5",
    )
    .await;
}

#[tokio::test]
async fn release_beyond_the_refcount_is_rejected() {
    let frames = [
        "[\"push\",[\"pipeline\",0,[\"makeCounter\"],[1]]]",
        "[\"pull\",1]",
        "[\"release\",-1,5]",
    ];
    let (received, outcome) = exchange(&frames, SessionOptions::default()).await;
    assert_eq!(received[0], "[\"resolve\",1,[\"export\",-1]]");
    assert_eq!(
        received.last().unwrap(),
        "[\"abort\",[\"error\",\"Error\",\"refcount would go negative: 1 < 5\"]]"
    );
    assert!(outcome.is_err());
}

#[tokio::test]
async fn over_deep_nesting_is_a_type_error() {
    let deep = format!(
        "[\"push\",[\"pipeline\",0,[\"echo\"],[{}1{}]]]",
        "[[".repeat(300),
        "]]".repeat(300)
    );
    assert_aborts(
        &[&deep],
        "TypeError",
        "Deserialization exceeded maximum allowed message depth",
    )
    .await;
    let hostile = "[".repeat(1_000_000);
    assert_aborts(&[&hostile], "TypeError", "").await;
}

#[tokio::test]
async fn over_long_bigint_is_a_type_error() {
    let digits = "9".repeat(16385);
    let frame = format!("[\"push\",[\"pipeline\",0,[\"echo\"],[[\"bigint\",\"{digits}\"]]]]");
    assert_aborts(
        &[&frame],
        "TypeError",
        "Deserialized bigint exceeds maximum length",
    )
    .await;
}

#[tokio::test]
async fn over_size_messages_are_refused_before_parsing() {
    let options = SessionOptions {
        limits: Limits {
            max_message_size: 1024,
            ..Limits::default()
        },
        ..Default::default()
    };
    let big = format!(
        "[\"push\",[\"pipeline\",0,[\"echo\"],[\"{}\"]]]",
        "x".repeat(2000)
    );
    assert_aborts_with(
        &[&big],
        options,
        "TypeError",
        "Incoming message exceeds maximum size",
    )
    .await;
}

#[tokio::test]
async fn messages_of_too_many_values_are_refused_before_parsing() {
    let options = SessionOptions {
        limits: Limits {
            max_values: 1000,
            ..Limits::default()
        },
        ..Default::default()
    };
    // 2,000 zeros take 4 KB of text and would be 80 KB of values.
    let zeros = vec!["0"; 2000].join(",");
    let many = format!("[\"push\",[\"pipeline\",0,[\"echo\"],[[[{zeros}]]]]]");
    assert_aborts_with(
        &[&many],
        options,
        "RangeError",
        "Incoming message holds more than 1000 values (Limits::max_values).",
    )
    .await;
}

#[tokio::test]
async fn a_bad_session_leaves_other_sessions_working() {
    let good = common::connect(common::api());
    assert_eq!(
        good.api
            .call("square", vec![3.into()])
            .await
            .unwrap()
            .as_f64(),
        Some(9.0)
    );
    let (received, _) = exchange(&["[\"nonsense\"]"], SessionOptions::default()).await;
    assert!(received[0].starts_with("[\"abort\""));
    assert_eq!(
        good.api
            .call("square", vec![4.into()])
            .await
            .unwrap()
            .as_f64(),
        Some(16.0)
    );
}

#[tokio::test]
async fn an_aborted_session_releases_its_exports() {
    let tag = common::tag("abort-release");
    let make = format!("[\"push\",[\"pipeline\",0,[\"makeDisposable\"],[\"{tag}\"]]]");
    let frames = [make.as_str(), "[\"pull\",1]", "[\"bogus\"]"];
    let (received, outcome) = exchange(&frames, SessionOptions::default()).await;
    assert_eq!(received[0], "[\"resolve\",1,[\"export\",-1]]");
    assert!(outcome.is_err());
    common::wait_until("the export was released", || {
        common::disposed_count(&tag) == 1
    })
    .await;
}

#[tokio::test]
async fn a_peer_abort_ends_the_session_without_an_answer() {
    let (received, outcome) = exchange(
        &["[\"abort\",[\"error\",\"Error\",\"bye\"]]"],
        SessionOptions::default(),
    )
    .await;
    assert!(received.is_empty(), "{received:?}");
    assert_eq!(outcome.unwrap_err().message, "bye");
}
