//! Hostile or mistaken stream traffic from a peer, frame by frame: a `readable` for something
//! that is not a pipe or was already taken, a flood of pipes beyond the quota, a writer that
//! ignores the acknowledgements, writes after `close`, unknown stream methods, and fetch types
//! with members capnweb refuses. Each gets a clear error or ends the session with a readable
//! reason; none panics.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use common::next_starting;
use futures_util::SinkExt;
use tether::session::Quotas;
use tether::transport::memory::{pair, MemoryTransport};
use tether::transport::Outgoing;
use tether::{RpcSession, SessionHandle, SessionOptions};

fn raw_server(quotas: Quotas) -> (MemoryTransport, SessionHandle) {
    let (raw, server_end) = pair();
    let options = SessionOptions {
        quotas,
        ..SessionOptions::default()
    };
    let (_peer_main, driver) = RpcSession::open(server_end, Some(common::api()), options);
    let handle = driver.handle();
    tokio::spawn(async move { driver.await });
    (raw, handle)
}

async fn send(raw: &mut MemoryTransport, frames: &[&str]) {
    for frame in frames {
        raw.send(Outgoing::Message(frame.to_string()))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_readable_for_what_is_not_a_pipe_ends_the_session() {
    let (mut raw, handle) = raw_server(Quotas::default());
    send(
        &mut raw,
        &[r#"["push",["pipeline",0,["echo"],[["readable",7]]]]"#],
    )
    .await;
    let abort = next_starting(&mut raw, r#"["abort""#).await;
    assert!(
        abort.contains("Export 7 is not a pipe or its readable end was already consumed."),
        "{abort}"
    );
    tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while !handle.is_closed() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the session ended");
}

#[tokio::test]
async fn a_pipe_read_twice_ends_the_session() {
    let (mut raw, _handle) = raw_server(Quotas::default());
    send(
        &mut raw,
        &[
            r#"["pipe"]"#,
            r#"["push",["pipeline",0,["echo"],[["readable",1]]]]"#,
            r#"["push",["pipeline",0,["echo"],[["readable",1]]]]"#,
        ],
    )
    .await;
    let abort = next_starting(&mut raw, r#"["abort""#).await;
    assert!(
        abort.contains("Export 1 is not a pipe or its readable end was already consumed."),
        "{abort}"
    );
}

#[tokio::test]
async fn a_flood_of_pipes_beyond_the_quota_ends_the_session_and_counts() {
    let (mut raw, handle) = raw_server(Quotas {
        max_open_pipes: 5,
        ..Quotas::default()
    });
    send(&mut raw, &[r#"["pipe"]"#; 6]).await;
    let abort = next_starting(&mut raw, r#"["abort""#).await;
    assert!(
        abort.contains("RangeError") && abort.contains("quota of 5 open streams"),
        "{abort}"
    );
    assert_eq!(handle.stats().quota_breaches, 1);
}

#[tokio::test]
async fn released_pipes_do_not_count_against_the_quota() {
    let (mut raw, _handle) = raw_server(Quotas {
        max_open_pipes: 2,
        ..Quotas::default()
    });
    for id in 1..=10 {
        let release = format!(r#"["release",{id},1]"#);
        send(&mut raw, &[r#"["pipe"]"#, &release]).await;
    }
    send(
        &mut raw,
        &[
            r#"["push",["pipeline",0,["square"],[3]]]"#,
            r#"["pull",11]"#,
        ],
    )
    .await;
    assert_eq!(
        next_starting(&mut raw, r#"["resolve""#).await,
        r#"["resolve",11,9]"#
    );
}

#[tokio::test]
async fn a_writer_that_ignores_acknowledgements_has_its_writes_refused() {
    let (mut raw, _handle) = raw_server(Quotas {
        max_stream_buffer: 1000,
        ..Quotas::default()
    });
    let chunk = "x".repeat(600);
    let write = format!(r#"["stream",["pipeline",1,["write"],["{chunk}"]]]"#);
    // Nobody reads pipe 1: the first write is held (and acknowledged: within the reader's
    // allowance), the second would take the buffer past its quota.
    send(&mut raw, &[r#"["pipe"]"#, &write, &write]).await;
    assert_eq!(
        next_starting(&mut raw, r#"["resolve",2"#).await,
        r#"["resolve",2,["undefined"]]"#
    );
    let refused = next_starting(&mut raw, r#"["reject",3"#).await;
    assert!(
        refused.contains("RangeError") && refused.contains("Stream buffer quota exceeded"),
        "{refused}"
    );
}

#[tokio::test]
async fn writes_after_close_and_unknown_methods_are_rejected() {
    let (mut raw, _handle) = raw_server(Quotas::default());
    send(
        &mut raw,
        &[
            r#"["pipe"]"#,
            r#"["stream",["pipeline",1,["close"],[]]]"#,
            r#"["stream",["pipeline",1,["write"],[1]]]"#,
            r#"["stream",["pipeline",1,["rewind"],[]]]"#,
        ],
    )
    .await;
    assert_eq!(
        next_starting(&mut raw, r#"["resolve",2"#).await,
        r#"["resolve",2,["undefined"]]"#
    );
    let write = next_starting(&mut raw, r#"["reject",3"#).await;
    assert!(
        write.contains("Cannot write to a WritableStream that is closed."),
        "{write}"
    );
    let unknown = next_starting(&mut raw, r#"["reject",4"#).await;
    assert!(
        unknown.contains("Unknown WritableStream method: rewind"),
        "{unknown}"
    );
}

#[tokio::test]
async fn fetch_members_capnweb_refuses_end_the_session() {
    for (frame, reason) in [
        (
            r#"["push",["pipeline",0,["echo"],[["request","https://x.example/",{"signal":1}]]]]"#,
            "signal",
        ),
        (
            r#"["push",["pipeline",0,["echo"],[["response",null,{"webSocket":1}]]]]"#,
            "Can't deserialize a Response containing a webSocket.",
        ),
        (
            r#"["push",["pipeline",0,["echo"],[["blob","text/plain","not a stream"]]]]"#,
            "Blob content must be serialized as a ReadableStream.",
        ),
    ] {
        let (mut raw, _handle) = raw_server(Quotas::default());
        send(&mut raw, &[frame]).await;
        let abort = next_starting(&mut raw, r#"["abort""#).await;
        assert!(
            abort.contains("TypeError") && abort.contains(reason),
            "{frame}: {abort}"
        );
    }
}
