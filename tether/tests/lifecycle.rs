//! Lifecycle rules L1-L8, L10 and L12 of SYSTEM.md, each checked by its observable effect:
//! frames sent, disposer runs and counts, errors on use of broken references.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use tether::{ErrorKind, RpcError, SessionOptions, Stub, Value};

fn args(values: impl IntoIterator<Item = Value>) -> Vec<Value> {
    values.into_iter().collect()
}

#[tokio::test]
async fn l1_disposing_a_stub_sends_release_and_runs_the_disposer() {
    let conn = connect(api());
    let tag = tag("l1");
    let stub = conn
        .api
        .call("makeDisposable", args([tag.as_str().into()]))
        .await
        .unwrap()
        .into_stub()
        .unwrap();
    assert_eq!(
        stub.call("ping", vec![]).await.unwrap().as_str(),
        Some("pong")
    );
    assert_eq!(disposed_count(&tag), 0, "alive while the stub is held");
    stub.dispose();
    wait_until("the disposer ran", || disposed_count(&tag) == 1).await;
    assert!(
        conn.log.sent().iter().any(|f| f == "[\"release\",-1,1]"),
        "{:?}",
        conn.log.sent()
    );
}

#[tokio::test]
async fn l2_disposal_never_over_releases() {
    let conn = connect(api());
    let tag = tag("l2");
    let result = conn
        .api
        .call("makeDisposable", args([tag.as_str().into()]))
        .await
        .unwrap();
    let stub = result.into_stub().unwrap();
    let copy = stub.clone();
    stub.dispose();
    drop(copy);
    wait_until("the disposer ran", || disposed_count(&tag) == 1).await;
    // One release for the entry, with its full refcount, and the session is still healthy.
    let releases: Vec<_> = conn
        .log
        .sent()
        .into_iter()
        .filter(|f| f.starts_with("[\"release\",-1"))
        .collect();
    assert_eq!(releases, vec!["[\"release\",-1,1]".to_owned()]);
    assert_eq!(
        conn.api
            .call("square", args([3.into()]))
            .await
            .unwrap()
            .as_f64(),
        Some(9.0)
    );
    assert_eq!(disposed_count(&tag), 1);
}

#[tokio::test]
async fn l3_dup_keeps_the_target_until_every_duplicate_is_disposed() {
    let conn = connect(api());
    let tag = tag("l3");
    let stub = conn
        .api
        .call("makeDisposable", args([tag.as_str().into()]))
        .await
        .unwrap()
        .into_stub()
        .unwrap();
    let dup = stub.dup();
    drop(stub);
    assert_eq!(
        dup.call("ping", vec![]).await.unwrap().as_str(),
        Some("pong")
    );
    assert_eq!(disposed_count(&tag), 0);
    drop(dup);
    wait_until("the disposer ran", || disposed_count(&tag) == 1).await;
}

#[tokio::test]
async fn l3_local_dup_runs_the_disposer_once() {
    let tag = tag("l3-local");
    let stub = disposable(&tag);
    let dups: Vec<Stub> = (0..5).map(|_| stub.dup()).collect();
    drop(stub);
    assert_eq!(
        dups[4].call("ping", vec![]).await.unwrap().as_str(),
        Some("pong")
    );
    drop(dups);
    wait_until("the disposer ran", || disposed_count(&tag) == 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(disposed_count(&tag), 1);
}

#[tokio::test]
async fn l4_a_target_sent_twice_is_two_lineages_and_disposes_twice() {
    let conn = connect(api());
    let tag = tag("l4-twice");
    let list = conn
        .api
        .call(
            "makeDisposableRepeated",
            args([tag.as_str().into(), 3.into()]),
        )
        .await
        .unwrap();
    let mut stubs: Vec<Stub> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_stub().unwrap().clone())
        .collect();
    assert_eq!(stubs.len(), 3);
    drop(list);
    drop(stubs.pop());
    wait_until("one disposer ran", || disposed_count(&tag) == 1).await;
    // The other two lineages are alive until their own stubs go.
    assert_eq!(
        stubs[0].call("ping", vec![]).await.unwrap().as_str(),
        Some("pong")
    );
    assert_eq!(disposed_count(&tag), 1);
    drop(stubs);
    wait_until("all three ran", || disposed_count(&tag) == 3).await;
}

#[tokio::test]
async fn l4_duplicates_of_one_local_stub_are_one_lineage() {
    let conn = connect(api());
    let tag = tag("l4-one");
    let list = conn
        .api
        .call(
            "makeSameStubRepeated",
            args([tag.as_str().into(), 3.into()]),
        )
        .await
        .unwrap();
    // Each copy travels under its own id (as capnweb does), all in one lineage.
    let resolve = conn
        .log
        .received()
        .into_iter()
        .find(|f| f.contains("export"))
        .unwrap();
    assert_eq!(
        resolve,
        "[\"resolve\",1,[[[\"export\",-1],[\"export\",-2],[\"export\",-3]]]]"
    );
    let mut stubs: Vec<Stub> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_stub().unwrap().clone())
        .collect();
    drop(list);
    drop(stubs.pop());
    drop(stubs.pop());
    wait_until("two copies were released", || {
        conn.log
            .sent()
            .iter()
            .filter(|f| f.starts_with("[\"release\",-"))
            .count()
            == 2
    })
    .await;
    assert_eq!(
        stubs[0].call("ping", vec![]).await.unwrap().as_str(),
        Some("pong")
    );
    assert_eq!(
        disposed_count(&tag),
        0,
        "the lineage lives while one copy does"
    );
    drop(stubs);
    wait_until("the disposer ran", || disposed_count(&tag) == 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(disposed_count(&tag), 1, "once per lineage");
}

#[tokio::test]
async fn l4_a_local_stub_sent_as_duplicates_disposes_once_after_the_last_remote_release() {
    let conn = connect(api());
    let tag = tag("l4-client");
    let local = disposable(&tag);
    // Send two duplicates; the server echoes them back (so it holds them until the result goes).
    let echoed = conn
        .api
        .call(
            "echo",
            args([Value::array([local.dup().into(), local.dup().into()])]),
        )
        .await
        .unwrap();
    drop(local);
    assert_eq!(disposed_count(&tag), 0);
    let first = echoed.as_array().unwrap()[0].as_stub().unwrap().clone();
    drop(echoed);
    assert_eq!(
        first.call("ping", vec![]).await.unwrap().as_str(),
        Some("pong")
    );
    assert_eq!(disposed_count(&tag), 0);
    drop(first);
    wait_until("the disposer ran", || disposed_count(&tag) == 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(disposed_count(&tag), 1);
}

#[tokio::test]
async fn l5_passing_a_stub_transfers_it() {
    let conn = connect(api());
    let tag = tag("l5");
    let local = disposable(&tag);
    // Passed by value and not kept by the callee: released when the call returns.
    conn.api
        .call("ignoreArgs", args([local.into()]))
        .await
        .unwrap();
    wait_until("the transferred stub was disposed", || {
        disposed_count(&tag) == 1
    })
    .await;
    assert!(
        conn.log
            .received()
            .iter()
            .any(|f| f == "[\"release\",-1,1]"),
        "{:?}",
        conn.log.received()
    );
}

#[tokio::test]
async fn l6_parameter_stubs_are_released_when_the_call_returns_unless_kept() {
    let conn = connect(api());
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = calls.clone();
    let tag = tag("l6");
    let callback_tag = tag.clone();
    let callback = Stub::from_fn(move |args| {
        let seen = seen.clone();
        let _ = &callback_tag;
        async move {
            seen.lock()
                .unwrap()
                .push(args[0].as_f64().unwrap_or(f64::NAN));
            Ok(Value::from("fired"))
        }
    });
    // Kept: registerCallback stores it; firing later works.
    conn.api
        .call("registerCallback", args([callback.dup().into()]))
        .await
        .unwrap();
    assert_eq!(
        conn.api
            .call("fireCallback", args([7.into()]))
            .await
            .unwrap()
            .as_str(),
        Some("fired")
    );
    assert_eq!(*calls.lock().unwrap(), vec![7.0]);
    // Not kept: a disposable passed to a method that ignores it is released at return.
    conn.api
        .call("ignoreArgs", args([disposable(&tag).into()]))
        .await
        .unwrap();
    wait_until("the unkept parameter was released", || {
        disposed_count(&tag) == 1
    })
    .await;
    // Releasing the kept callback sends its release.
    let before = conn
        .log
        .received()
        .iter()
        .filter(|f| f.starts_with("[\"release\""))
        .count();
    assert_eq!(
        conn.api
            .call("releaseCallback", vec![])
            .await
            .unwrap()
            .as_bool(),
        Some(true)
    );
    wait_until("the kept callback was released", || {
        conn.log
            .received()
            .iter()
            .filter(|f| f.starts_with("[\"release\""))
            .count()
            > before
    })
    .await;
    drop(callback);
}

#[tokio::test]
async fn l7_disposing_a_result_releases_every_nested_stub() {
    let conn = connect(api());
    let tag = tag("l7");
    let list = conn
        .api
        .call(
            "makeDisposableRepeated",
            args([tag.as_str().into(), 4.into()]),
        )
        .await
        .unwrap();
    assert_eq!(list.as_array().map(<[Value]>::len), Some(4));
    assert_eq!(disposed_count(&tag), 0);
    drop(list);
    wait_until("all four disposers ran", || disposed_count(&tag) == 4).await;
    for id in -4..=-1 {
        assert!(
            conn.log.sent().contains(&format!("[\"release\",{id},1]")),
            "release of {id}"
        );
    }
    // A primitive result has nothing to release.
    let sent_before = conn.log.sent().len();
    let n = conn.api.call("square", args([4.into()])).await.unwrap();
    assert_eq!(n.as_f64(), Some(16.0));
    let new: Vec<_> = conn.log.sent()[sent_before..].to_vec();
    assert!(
        !new.iter().any(|f| f.starts_with("[\"release\",-")),
        "{new:?}"
    );
}

#[tokio::test]
async fn l8_failing_and_panicking_disposers_reach_the_uncaught_hook_not_the_peer() {
    let reported = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = reported.clone();
    tether::set_uncaught_error_hook(move |e: &RpcError| {
        sink.lock().unwrap().push(e.message.clone())
    });
    let conn = connect(api());
    for mode in ["error", "panic"] {
        let tag = tag(&format!("l8-{mode}"));
        let stub = conn
            .api
            .call(
                "makeFailingDisposable",
                args([tag.as_str().into(), mode.into()]),
            )
            .await
            .unwrap()
            .into_stub()
            .unwrap();
        drop(stub);
        wait_until("the disposer ran", || disposed_count(&tag) == 1).await;
        wait_until("the failure was reported", || {
            reported.lock().unwrap().iter().any(|m| m.contains(&tag))
        })
        .await;
    }
    // The releasing side saw nothing: no abort, and the session still works.
    assert!(!conn
        .log
        .received()
        .iter()
        .any(|f| f.starts_with("[\"abort\"")));
    assert_eq!(
        conn.api
            .call("square", args([5.into()]))
            .await
            .unwrap()
            .as_f64(),
        Some(25.0)
    );
}

#[tokio::test]
async fn l10_disconnect_breaks_imports_fails_pending_calls_and_releases_exports() {
    let conn = connect(api());
    let tag = tag("l10");
    let held = conn
        .api
        .call("makeDisposable", args([tag.as_str().into()]))
        .await
        .unwrap()
        .into_stub()
        .unwrap();
    let broken = Arc::new(Mutex::new(None::<RpcError>));
    let flag = broken.clone();
    held.on_broken(move |e| *flag.lock().unwrap() = Some(e));
    let cancel_tag = format!("{tag}-cancelled");
    let pending = conn.api.call("hang", args([cancel_tag.as_str().into()]));
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;

    conn.client.abort(); // The client's end goes away mid-call.

    let error = pending.await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Disconnected, "{error}");
    wait_until("on_broken fired", || broken.lock().unwrap().is_some()).await;
    wait_until("the server released its exports", || {
        disposed_count(&tag) == 1
    })
    .await;
    wait_until("the in-flight handler was cancelled", || {
        disposed_count(&cancel_tag) == 1
    })
    .await;
    let later = held.call("ping", vec![]).await.unwrap_err();
    assert_eq!(later.kind(), ErrorKind::Disconnected);
    assert!(conn.server.await.is_ok());
}

#[tokio::test]
async fn l10_disposing_the_main_stub_of_a_client_closes_the_session() {
    let options = SessionOptions {
        close_when_main_dropped: true,
        ..Default::default()
    };
    let conn = connect_with(api(), None, options);
    assert_eq!(
        conn.api
            .call("square", args([2.into()]))
            .await
            .unwrap()
            .as_f64(),
        Some(4.0)
    );
    let api = conn.api;
    api.dispose();
    assert!(
        conn.client.await.unwrap().is_ok(),
        "the client session ended cleanly"
    );
    assert!(
        conn.server.await.unwrap().is_ok(),
        "the server saw the disconnect"
    );
}

#[tokio::test]
async fn l12_disposing_an_unawaited_promise_releases_it_without_a_pull() {
    let conn = connect(api());
    let promise = conn.api.call("square", args([6.into()]));
    // Flush the push by making (and awaiting) another call.
    assert_eq!(
        conn.api
            .call("square", args([1.into()]))
            .await
            .unwrap()
            .as_f64(),
        Some(1.0)
    );
    drop(promise);
    wait_until("the release was sent", || {
        conn.log.sent().contains(&"[\"release\",1,1]".to_owned())
    })
    .await;
    let sent = conn.log.sent();
    assert!(!sent.contains(&"[\"pull\",1]".to_owned()), "{sent:?}");
    assert!(
        !conn
            .log
            .received()
            .iter()
            .any(|f| f.starts_with("[\"resolve\",1,")),
        "no resolution sent"
    );
}

#[tokio::test]
async fn l2_disposing_through_a_disposable_stack_releases_and_later_use_is_an_error() {
    use tether::dispose::{Disposable, DisposableStack};
    let conn = connect(api());
    let tag = tag("l2-stack");
    let mut stub = conn
        .api
        .call("makeDisposable", args([tag.as_str().into()]))
        .await
        .unwrap()
        .into_stub()
        .unwrap();
    let mut stack = DisposableStack::new();
    stack.use_resource(stub.clone()).unwrap();
    stack.dispose().unwrap();
    assert_eq!(
        stub.call("ping", vec![]).await.unwrap().as_str(),
        Some("pong"),
        "the clone is its own handle"
    );
    Disposable::dispose(&mut stub).unwrap();
    wait_until("the disposer ran", || disposed_count(&tag) == 1).await;
    let error = stub.call("ping", vec![]).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Disposed);
    Disposable::dispose(&mut stub).unwrap(); // Idempotent.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(disposed_count(&tag), 1);
}

#[tokio::test]
async fn l10_releases_queued_when_the_main_stub_goes_are_still_sent() {
    // The last handle of a settled value goes just before the main stub: its release is queued
    // behind the main stub's drop, and must still reach the peer before the session closes.
    let options = SessionOptions {
        close_when_main_dropped: true,
        ..SessionOptions::default()
    };
    let conn = connect_with(api(), None, options);
    let tag = tag("queued-release");
    let promise = conn.api.call("makeDisposable", vec![tag.as_str().into()]);
    let kept = promise.clone();
    let stub = promise.await.unwrap();
    drop(kept);
    drop(stub);
    drop(conn.api);
    let ended = conn.client.await.unwrap();
    assert!(ended.is_ok(), "{ended:?}");
    assert!(
        conn.log.sent().iter().any(|f| f == "[\"release\",-1,1]"),
        "{}",
        conn.log.dump()
    );
    wait_until("the disposable was disposed", || disposed_count(&tag) == 1).await;
}
