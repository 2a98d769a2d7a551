//! Per-session quotas (`tether::session::Quotas`) against a well-formed but hostile peer, and
//! the session's statistics: a peer that makes the session hold too many exports, imports or
//! unpulled answers has its session ended with a `RangeError` naming the quota, the breach is
//! counted, what it held is released, and other sessions go on.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use tether::session::Quotas;
use tether::transport::memory::{pair, MemoryTransport};
use tether::transport::Outgoing;
use tether::{RpcSession, SessionHandle, SessionOptions};

/// A server session driven by hand from the returned raw end.
fn raw_server(
    quotas: Quotas,
) -> (
    MemoryTransport,
    SessionHandle,
    tokio::task::JoinHandle<tether::RpcResult<()>>,
) {
    let (raw, server_end) = pair();
    let options = SessionOptions {
        quotas,
        ..SessionOptions::default()
    };
    let (_peer_main, driver) = RpcSession::open(server_end, Some(common::api()), options);
    let handle = driver.handle();
    (raw, handle, tokio::spawn(async move { driver.await }))
}

async fn send(raw: &mut MemoryTransport, frame: String) {
    raw.send(Outgoing::Message(frame)).await.unwrap();
}

/// Reads until an `abort` arrives and returns it (bounded: a missing abort fails the test).
async fn abort_of(raw: &mut MemoryTransport) -> String {
    next_starting(raw, "[\"abort\"").await
}

#[tokio::test]
async fn too_many_unpulled_pushes_end_the_session_with_a_range_error() {
    let (mut raw, handle, server) = raw_server(Quotas {
        max_unpulled_pushes: 10,
        ..Quotas::default()
    });
    for i in 0..10 {
        send(
            &mut raw,
            format!("[\"push\",[\"pipeline\",0,[\"square\"],[{i}]]]"),
        )
        .await;
    }
    // Ten are allowed: pulling one makes room, and the session still answers.
    send(&mut raw, "[\"pull\",3]".into()).await;
    assert_eq!(
        raw.next().await.unwrap().unwrap().as_str(),
        "[\"resolve\",3,4]"
    );
    assert_eq!(handle.stats().unpulled_pushes, 9);
    for i in 0..2 {
        send(
            &mut raw,
            format!("[\"push\",[\"pipeline\",0,[\"square\"],[{i}]]]"),
        )
        .await;
    }
    assert_eq!(
        abort_of(&mut raw).await,
        "[\"abort\",[\"error\",\"RangeError\",\"RPC session exceeded its quota of 10 pushes never pulled (11); the session was ended.\"]]"
    );
    drop(raw);
    let ended = server.await.unwrap().unwrap_err();
    assert_eq!(ended.name, "RangeError");
    assert_eq!(handle.stats().quota_breaches, 1);
    assert_eq!(handle.stats().exports, 0, "everything it held was released");
}

#[tokio::test]
async fn too_many_exports_end_the_session_and_release_them() {
    let tag = tag("quota-exports");
    let (mut raw, handle, server) = raw_server(Quotas {
        max_exports: 5,
        ..Quotas::default()
    });
    // Each pulled makeDisposable holds an answer and an exported stub: the main object plus
    // two of them is five entries; the third goes over.
    for id in 1..=3 {
        send(
            &mut raw,
            format!("[\"push\",[\"pipeline\",0,[\"makeDisposable\"],[\"{tag}\"]]]"),
        )
        .await;
        send(&mut raw, format!("[\"pull\",{id}]")).await;
    }
    let abort = abort_of(&mut raw).await;
    assert!(abort.contains("quota of 5 exports"), "{abort}");
    drop(raw);
    assert!(server.await.unwrap().is_err());
    assert_eq!(handle.stats().quota_breaches, 1);
    wait_until("the disposables it held were released", || {
        disposed_count(&tag) == 3
    })
    .await;
}

#[tokio::test]
async fn too_many_imports_end_the_session() {
    let (mut raw, handle, server) = raw_server(Quotas {
        max_imports: 3,
        ..Quotas::default()
    });
    // The peer's main object is one import; each stub it passes to a call that hangs (and so
    // holds its arguments) is another.
    for i in 1..=3 {
        send(
            &mut raw,
            format!("[\"push\",[\"pipeline\",0,[\"hang\"],[\"quota-imports\",[\"export\",-{i}]]]]"),
        )
        .await;
    }
    let abort = abort_of(&mut raw).await;
    assert!(abort.contains("quota of 3 imports (4)"), "{abort}");
    drop(raw);
    assert!(server.await.unwrap().is_err());
    assert_eq!(handle.stats().quota_breaches, 1);
}

#[tokio::test]
async fn a_breach_ends_only_that_session() {
    let (mut hostile, _, hostile_server) = raw_server(Quotas {
        max_unpulled_pushes: 1,
        ..Quotas::default()
    });
    let (mut polite, polite_handle, _polite_server) = raw_server(Quotas {
        max_unpulled_pushes: 1,
        ..Quotas::default()
    });
    for _ in 0..2 {
        send(
            &mut hostile,
            "[\"push\",[\"pipeline\",0,[\"square\"],[2]]]".into(),
        )
        .await;
    }
    abort_of(&mut hostile).await;
    drop(hostile);
    assert!(hostile_server.await.unwrap().is_err());
    send(
        &mut polite,
        "[\"push\",[\"pipeline\",0,[\"square\"],[3]]]".into(),
    )
    .await;
    send(&mut polite, "[\"pull\",1]".into()).await;
    assert_eq!(
        polite.next().await.unwrap().unwrap().as_str(),
        "[\"resolve\",1,9]"
    );
    let stats = polite_handle.stats();
    assert_eq!((stats.messages_in, stats.messages_out), (2, 1));
    assert_eq!(stats.quota_breaches, 0);
}

#[tokio::test]
async fn stats_count_tables_calls_and_traffic() {
    let (mut raw, handle, _server) = raw_server(Quotas::default());
    send(
        &mut raw,
        "[\"push\",[\"pipeline\",0,[\"makeCounter\"],[1]]]".into(),
    )
    .await;
    send(&mut raw, "[\"pull\",1]".into()).await;
    let resolved = raw.next().await.unwrap().unwrap();
    assert_eq!(resolved.as_str(), "[\"resolve\",1,[\"export\",-1]]");
    send(
        &mut raw,
        "[\"push\",[\"pipeline\",0,[\"hang\"],[\"stats\"]]]".into(),
    )
    .await;
    // The hanging call shows up once the session has handled it.
    wait_until("the hanging call is in flight", || {
        handle.stats().calls_in_flight == 1
    })
    .await;
    let stats = handle.stats();
    // main, answer 1, the counter (-1) and the hanging call's answer 2.
    assert_eq!(stats.exports, 4, "{stats:?}");
    assert_eq!(stats.unpulled_pushes, 1, "{stats:?}");
    assert_eq!(stats.messages_in, 3, "{stats:?}");
    assert_eq!(stats.messages_out, 1, "{stats:?}");
    assert_eq!(stats.bytes_out, resolved.len() as u64, "{stats:?}");
    send(&mut raw, "[\"release\",-1,1]".into()).await;
    send(&mut raw, "[\"release\",1,1]".into()).await;
    wait_until("the releases are counted", || handle.stats().exports == 2).await;
}

#[tokio::test]
async fn calls_over_the_quota_in_flight_are_refused_and_the_session_goes_on() {
    let (mut raw, handle, _server) = raw_server(Quotas {
        max_calls_in_flight: 2,
        ..Quotas::default()
    });
    let tag = tag("quota-calls");
    for _ in 0..2 {
        send(
            &mut raw,
            format!("[\"push\",[\"pipeline\",0,[\"hang\"],[\"{tag}\"]]]"),
        )
        .await;
    }
    wait_until("two calls are in flight", || {
        handle.stats().calls_in_flight == 2
    })
    .await;
    // The third call carries a stub: refusing it releases the stub at once.
    send(
        &mut raw,
        format!("[\"push\",[\"pipeline\",0,[\"hang\"],[\"{tag}\",[\"export\",-1]]]]"),
    )
    .await;
    send(&mut raw, "[\"pull\",3]".into()).await;
    let mut replies = Vec::new();
    while replies.len() < 2 {
        replies.push(raw.next().await.unwrap().unwrap().to_string());
    }
    assert!(
        replies.contains(&"[\"release\",-1,1]".to_owned()),
        "{replies:?}"
    );
    assert!(
        replies.contains(&"[\"reject\",3,[\"error\",\"RangeError\",\"Too many calls in flight on this session (the quota is 2); call refused.\"]]".to_owned()),
        "{replies:?}"
    );
    // Other calls that finish at once still run, and the session is not ended.
    send(
        &mut raw,
        "[\"push\",[\"pipeline\",0,[\"square\"],[5]]]".into(),
    )
    .await;
    send(&mut raw, "[\"pull\",4]".into()).await;
    // The quota counts calls running at the start of the turn: two are, so this one is refused too.
    let refused = raw.next().await.unwrap().unwrap();
    assert!(
        refused.starts_with("[\"reject\",4,[\"error\",\"RangeError\""),
        "{refused}"
    );
    assert_eq!(handle.stats().quota_breaches, 0);
    assert_eq!(handle.stats().calls_in_flight, 2);
}

#[tokio::test]
async fn map_runs_over_the_session_life_are_a_quota() {
    let (mut raw, handle, server) = raw_server(Quotas {
        max_map_runs: 10,
        ..Quotas::default()
    });
    send(
        &mut raw,
        "[\"push\",[\"pipeline\",0,[\"echo\"],[[[1,2,3,4]]]]]".into(),
    )
    .await;
    // Each map of the four elements runs its callback four times: two maps fit in the quota,
    // though each message is far within the per-message budget.
    let square_each = "[\"push\",[\"remap\",1,[],[[\"import\",0]],[[\"pipeline\",-1,[\"square\"],[[\"pipeline\",0]]]]]]";
    for answer in 2..=3 {
        send(&mut raw, square_each.into()).await;
        send(&mut raw, format!("[\"pull\",{answer}]")).await;
        assert_eq!(
            raw.next().await.unwrap().unwrap().as_str(),
            format!("[\"resolve\",{answer},[[1,4,9,16]]]")
        );
    }
    assert_eq!(handle.stats().map_runs, 8);
    // The third goes over: the session ends, naming the quota.
    send(&mut raw, square_each.into()).await;
    send(&mut raw, "[\"pull\",4]".into()).await;
    assert_eq!(
        abort_of(&mut raw).await,
        "[\"abort\",[\"error\",\"RangeError\",\"RPC session exceeded its quota of 10 map() callback runs (11); the session was ended.\"]]"
    );
    drop(raw);
    let ended = server.await.unwrap().unwrap_err();
    assert_eq!(ended.name, "RangeError");
    let stats = handle.stats();
    assert_eq!((stats.quota_breaches, stats.map_runs), (1, 11));
}

/// Sends `["pull", id]` and returns the answer.
async fn pull(raw: &mut MemoryTransport, id: i64) -> String {
    send(raw, format!("[\"pull\",{id}]")).await;
    raw.next().await.unwrap().unwrap().to_string()
}

#[tokio::test]
async fn copies_of_held_results_are_a_live_quota_given_back_on_release() {
    let (mut raw, handle, server) = raw_server(Quotas {
        max_copied_values: 25,
        ..Quotas::default()
    });
    // Answer 1 holds a result of ten values: an array and its nine elements.
    let nine = ["0"; 9].join(",");
    send(
        &mut raw,
        format!("[\"push\",[\"pipeline\",0,[\"echo\"],[[[{nine}]]]]]"),
    )
    .await;
    // Each push passing it to `echo` copies it into that call: two fit, the third is refused.
    let reuse = "[\"push\",[\"pipeline\",0,[\"echo\"],[[\"pipeline\",1]]]]";
    for _ in 0..3 {
        send(&mut raw, reuse.into()).await;
    }
    assert_eq!(
        pull(&mut raw, 2).await,
        format!("[\"resolve\",2,[[{nine}]]]")
    );
    assert_eq!(
        pull(&mut raw, 4).await,
        "[\"reject\",4,[\"error\",\"RangeError\",\"RPC session exceeded its quota of 25 values copied from results it holds (30); the copy was refused.\"]]"
    );
    assert_eq!(handle.stats().copied_values, 20);
    // Releasing an answer gives its copies back: the next copy fits again, and a property read
    // of one element is charged one value.
    send(&mut raw, "[\"release\",2,1]".into()).await;
    send(&mut raw, reuse.into()).await;
    assert_eq!(
        pull(&mut raw, 5).await,
        format!("[\"resolve\",5,[[{nine}]]]")
    );
    send(&mut raw, "[\"push\",[\"pipeline\",1,[0]]]".into()).await;
    assert_eq!(pull(&mut raw, 6).await, "[\"resolve\",6,0]");
    assert_eq!(handle.stats().copied_values, 21);
    // The session went on all along; the refusal ended nothing.
    assert_eq!(handle.stats().quota_breaches, 0);
    drop(raw);
    assert!(server.await.unwrap().is_ok());
}

#[tokio::test]
async fn reads_queued_on_a_pending_result_are_charged_when_it_settles() {
    let (mut raw, handle, server) = raw_server(Quotas {
        max_copied_values: 25,
        ..Quotas::default()
    });
    // Answer 1 waits for our function (export -1) to answer the server's call.
    send(
        &mut raw,
        "[\"push\",[\"pipeline\",0,[\"callFunction\"],[[\"export\",-1],0]]]".into(),
    )
    .await;
    next_starting(&mut raw, "[\"pull\",").await;
    // Three reads of its `result` queue on the pending answer.
    for _ in 0..3 {
        send(&mut raw, "[\"push\",[\"pipeline\",1,[\"result\"]]]".into()).await;
    }
    // Our function returns ten values; answer 1 becomes `{result: [...]}` and each queued read
    // copies the array: two fit in the quota, the third is refused.
    let nine = ["0"; 9].join(",");
    send(&mut raw, format!("[\"resolve\",1,[[{nine}]]]")).await;
    // (The server also releases its call's result: skip to the answers.)
    send(&mut raw, "[\"pull\",2]".into()).await;
    assert_eq!(
        next_starting(&mut raw, "[\"resolve\",2,").await,
        format!("[\"resolve\",2,[[{nine}]]]")
    );
    send(&mut raw, "[\"pull\",4]".into()).await;
    let refused = loop {
        let frame = next_starting(&mut raw, "[\"re").await;
        if !frame.starts_with("[\"release\"") {
            break frame;
        }
    };
    assert!(
        refused.starts_with("[\"reject\",4,[\"error\",\"RangeError\",\"RPC session exceeded its quota of 25 values copied"),
        "{refused}"
    );
    assert_eq!(handle.stats().copied_values, 20);
    drop(raw);
    let _ = server.await.unwrap();
}
