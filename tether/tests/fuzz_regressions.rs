//! Inputs found by the fuzz targets (`fuzz/`, issue 12 item 4), minimized and replayed through
//! the public API by a raw peer: each asserts the correct behaviour (no panic, a clean end,
//! every disposer run once). Both findings are fixed: the import a `resolve` names is looked up
//! before its value is evaluated and a resolution holding its own import is refused
//! (`session/incoming.rs`, `settle_import`); a call queued on an import that resolved to the
//! call's own result is rejected as a chaining cycle (`session/outgoing.rs`, `send_push`).
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use futures_util::{SinkExt, StreamExt};
use tether::transport::memory::{pair, MemoryTransport};
use tether::transport::Outgoing;
use tether::{RpcSession, SessionOptions, Stub};

/// A server session serving `main`, driven by hand from the returned raw end.
fn raw_server(
    main: Stub,
) -> (
    MemoryTransport,
    tokio::task::JoinHandle<tether::RpcResult<()>>,
) {
    let (raw, server_end) = pair();
    let (_peer_main, driver) = RpcSession::open(server_end, Some(main), SessionOptions::default());
    (raw, tokio::spawn(async move { driver.await }))
}

async fn send(raw: &mut MemoryTransport, frame: &str) {
    raw.send(Outgoing::Message(frame.to_owned())).await.unwrap();
}

/// Finding 1 (target `session`, then `frame`; minimized to one frame): the peer resolves import
/// -1 with a value that itself exports -1 and also holds the main object. The server evaluates
/// the value first (which creates import -1), then settles import -1 with it and releases it:
/// the import's slot now holds a value holding a stub of that same slot, a reference cycle, so
/// the main object is never released and its disposer never runs, even after the disconnect.
/// capnweb looks the import up before it evaluates (an unknown id: the value is evaluated and
/// disposed at once).
#[tokio::test]
async fn a_resolve_whose_value_exports_its_own_id_leaks_nothing() {
    let tag = common::tag("fuzz-self-resolve");
    let (mut raw, server) = raw_server(common::disposable(&tag));
    send(&mut raw, r#"["resolve",-1,[[["export",-1],["import",0]]]]"#).await;
    assert_eq!(
        raw.next().await.unwrap().unwrap().as_str(),
        r#"["release",-1,1]"#
    );
    drop(raw);
    assert!(server.await.unwrap().is_ok());
    common::wait_until("the main object's disposer ran", || {
        common::disposed_count(&tag) == 1
    })
    .await;
}

/// Finding 1, the same cycle through an import the peer did export before (kept by the main
/// object): the resolve's value exports -1 again beside a disposable of the server's, and the
/// settled slot holds a stub of itself, so the disposable is never released.
#[tokio::test]
async fn a_known_import_resolved_to_itself_leaks_nothing() {
    let tag = common::tag("fuzz-self-resolve-known");
    let (mut raw, server) = raw_server(common::api());
    let make = format!(r#"["push",["pipeline",0,["makeDisposable"],["{tag}"]]]"#);
    send(&mut raw, &make).await;
    send(&mut raw, r#"["pull",1]"#).await;
    assert_eq!(
        raw.next().await.unwrap().unwrap().as_str(),
        r#"["resolve",1,["export",-1]]"#
    );
    send(
        &mut raw,
        r#"["push",["pipeline",0,["registerCallback"],[["export",-1]]]]"#,
    )
    .await;
    send(
        &mut raw,
        r#"["resolve",-1,[[["export",-1],["import",-1]]]]"#,
    )
    .await;
    send(&mut raw, r#"["release",-1,1]"#).await;
    send(&mut raw, r#"["release",1,1]"#).await;
    assert_eq!(
        raw.next().await.unwrap().unwrap().as_str(),
        r#"["release",-1,2]"#
    );
    drop(raw);
    assert!(server.await.unwrap().is_ok());
    common::wait_until("the disposable's disposer ran", || {
        common::disposed_count(&tag) == 1
    })
    .await;
}

/// Finding 2 (target `session`, reported as out-of-memory; reduced by hand to four frames): a map
/// returns the peer's stub -1 for every element, then the peer resolves import -1 to a pipeline
/// on that map's answer through the same stub (`answer[3][3]...`): a promise that waits on
/// itself. The server then loops, growing without bound (seen: 2.2 GB and 13 s of CPU from
/// these few bytes, before libFuzzer's 2 GB limit stopped it; other runs of the same input ended
/// at once, so it depends on timing). In this debug-built test the chain of imports it builds
/// overflows the stack when the session drops it, aborting the whole test binary (hence ignored:
/// run it alone). The correct behaviour is bounded work: the cycle ends
/// (broken or rejected) and the session closes when the peer disconnects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_resolved_to_a_pipeline_through_itself_is_bounded() {
    let (mut raw, server) = raw_server(common::api());
    send(
        &mut raw,
        r#"["push",["pipeline",0,["echo"],[[[0,1,2,3,4]]]]]"#,
    )
    .await;
    send(
        &mut raw,
        r#"["push",["remap",1,[],[["export",-1]],[["pipeline",-1]]]]"#,
    )
    .await;
    send(&mut raw, r#"["resolve",-1,["pipeline",2,[3,3,3,3]]]"#).await;
    send(&mut raw, r#"["pull",2]"#).await;
    // Whatever it answers, it must stay responsive and end when the peer goes.
    let _ = tokio::time::timeout(std::time::Duration::from_millis(500), raw.next()).await;
    drop(raw);
    let ended = tokio::time::timeout(std::time::Duration::from_secs(3), server).await;
    assert!(
        ended.is_ok(),
        "the session did not end within 3 s of the disconnect"
    );
}

/// Finding 2, its shortest form (target `session`, reported as a 10 s timeout; the fuzzer's
/// frames as they were, three of them): the peer passes its stub -1 twice to `echo`, so answer 1
/// is that stub, and -1 then resolves to a property of answer 1, i.e. of itself. This one also
/// overflows the stack (debug build), aborting the test binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_resolved_to_its_own_property_is_bounded() {
    let (mut raw, server) = raw_server(common::api());
    send(
        &mut raw,
        r#"["push",["pipeline",0,["echo"],[["export",-1]]]]"#,
    )
    .await;
    send(&mut raw, r#"["pull",1]"#).await;
    send(&mut raw, r#"["resolve",-1,["pipeline",1,["constructor"]]]"#).await;
    let _ = tokio::time::timeout(std::time::Duration::from_millis(500), raw.next()).await;
    drop(raw);
    let ended = tokio::time::timeout(std::time::Duration::from_secs(3), server).await;
    assert!(
        ended.is_ok(),
        "the session did not end within 3 s of the disconnect"
    );
}
