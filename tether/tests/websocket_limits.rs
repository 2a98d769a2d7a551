//! The WebSocket transport's own limits, over real TCP connections: the keepalive (a peer that
//! never answers pings is dropped with a readable reason, one that answers is kept however
//! idle) and the decode budget shared by a server's sessions (a large frame waits for room
//! before its session sees it; the room comes back when the frame is dropped).
#![cfg(feature = "net")]
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use tether::server::ServerOptions;
use tether::transport::websocket::{DecodeBudget, Keepalive, WebSocketTransport};
use tether::transport::Frame;
use tether::{RpcSession, SessionOptions};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Generous bound for "reacts": far above every setting the tests use.
const REACTS_WITHIN: Duration = Duration::from_secs(20);

/// Both ends of one WebSocket over a loopback TCP connection: (server, client).
async fn socket_pair() -> (WebSocketStream<TcpStream>, WebSocketStream<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap());
    let (client, accepted) = tokio::join!(client, listener.accept());
    let server = WebSocketStream::from_raw_socket(accepted.unwrap().0, Role::Server, None);
    let client = WebSocketStream::from_raw_socket(client.unwrap(), Role::Client, None);
    tokio::join!(server, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_answers_pings_is_dropped_with_a_readable_reason() {
    let (server, client) = socket_pair().await;
    let keepalive = Keepalive {
        ping_interval: Duration::from_millis(50),
        pong_timeout: Duration::from_millis(300),
    };
    let transport = WebSocketTransport::new(server).with_keepalive(Some(keepalive));
    let (_peer_main, session) =
        RpcSession::spawn(transport, Some(api()), SessionOptions::default());
    // The client holds its socket open but never reads it, so it never answers a ping.
    let ended = tokio::time::timeout(REACTS_WITHIN, session)
        .await
        .expect("the session of a dead peer ended")
        .unwrap()
        .unwrap_err();
    assert!(
        ended.message.contains("did not answer a ping within 0.3 s"),
        "{ended:?}"
    );
    drop(client);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_answers_pings_is_kept_however_idle() {
    let (server, mut client) = socket_pair().await;
    let keepalive = Keepalive {
        ping_interval: Duration::from_millis(50),
        pong_timeout: Duration::from_secs(2),
    };
    let transport = WebSocketTransport::new(server).with_keepalive(Some(keepalive));
    let (_peer_main, driver) = RpcSession::open(transport, Some(api()), SessionOptions::default());
    let handle = driver.handle();
    let session = tokio::spawn(async move { driver.await });
    // Reading answers every ping (tungstenite queues the pong and sends it with the next
    // read). Sixty answered pings take longer than the pong timeout: without the answers
    // counting, the session would have been dropped meanwhile.
    let mut pings = 0;
    while pings < 60 {
        match tokio::time::timeout(REACTS_WITHIN, client.next()).await {
            Ok(Some(Ok(Message::Ping(_)))) => pings += 1,
            other => panic!("expected pings, got {other:?}"),
        }
    }
    assert!(!handle.is_closed(), "a live peer was dropped");
    // And it is still served.
    client
        .send(Message::text(
            "[\"push\",[\"pipeline\",0,[\"square\"],[6]]]",
        ))
        .await
        .unwrap();
    client.send(Message::text("[\"pull\",1]")).await.unwrap();
    loop {
        match tokio::time::timeout(REACTS_WITHIN, client.next()).await {
            Ok(Some(Ok(Message::Ping(_)))) => continue,
            Ok(Some(Ok(Message::Text(text)))) => {
                assert_eq!(text.as_str(), "[\"resolve\",1,36]");
                break;
            }
            other => panic!("expected the answer, got {other:?}"),
        }
    }
    drop(client);
    let _ = tokio::time::timeout(REACTS_WITHIN, session).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_drops_a_dead_peer_by_its_keepalive() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let mut server = tether::server::spawn(
        listener,
        api,
        ServerOptions {
            keepalive: Some(Keepalive {
                ping_interval: Duration::from_millis(50),
                pong_timeout: Duration::from_millis(300),
            }),
            ..ServerOptions::default()
        },
    );
    let tcp = TcpStream::connect(address).await.unwrap();
    let (dead, _) = tokio_tungstenite::client_async(format!("ws://{address}/"), tcp)
        .await
        .unwrap();
    wait_until("the session is open", || server.stats().sessions_open == 1).await;
    // Never read from again: the server's pings go unanswered.
    wait_until("the dead peer's session ended", || {
        server.stats().sessions_open == 0
    })
    .await;
    drop(dead);
    server.shutdown().await.unwrap();
}

/// Server ends with a shared budget, and their clients.
async fn budgeted_pair(
    budget: &DecodeBudget,
) -> (WebSocketTransport<TcpStream>, WebSocketStream<TcpStream>) {
    let (server, client) = socket_pair().await;
    (
        WebSocketTransport::new(server).with_decode_budget(budget.clone()),
        client,
    )
}

async fn next_frame(transport: &mut WebSocketTransport<TcpStream>) -> Frame {
    tokio::time::timeout(REACTS_WITHIN, transport.next())
        .await
        .expect("a frame arrived")
        .unwrap()
        .unwrap()
}

/// A frame of `n` bytes: a JSON string (the transport does not look inside).
fn frame_of(n: usize) -> Message {
    Message::text(format!("\"{}\"", "x".repeat(n - 2)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_frames_wait_for_room_in_the_shared_decode_budget() {
    let budget = DecodeBudget::new(100_000);
    let (mut first, mut first_client) = budgeted_pair(&budget).await;
    let (mut second, mut second_client) = budgeted_pair(&budget).await;
    first_client.send(frame_of(80_000)).await.unwrap();
    second_client.send(frame_of(80_000)).await.unwrap();

    let held = next_frame(&mut first).await;
    assert_eq!(held.len(), 80_000);
    // Its room: its size plus 96 bytes for the one value it holds.
    assert_eq!(budget.available(), 19_904, "the frame holds its room");
    // The second frame does not fit beside the first: its session does not see it.
    let waited = tokio::time::timeout(Duration::from_millis(300), second.next()).await;
    assert!(waited.is_err(), "a frame went past a full budget");
    // A small frame on the first session still goes through.
    first_client.send(frame_of(100)).await.unwrap();
    assert_eq!(next_frame(&mut first).await.len(), 100);
    drop(held);
    let second_frame = next_frame(&mut second).await;
    assert_eq!(second_frame.len(), 80_000);
    assert_eq!(budget.available(), 19_904);
    drop(second_frame);
    assert_eq!(budget.available(), 100_000, "the room came back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_of_many_small_values_is_charged_for_them() {
    let budget = DecodeBudget::new(10_000_000);
    let (mut server, mut client) = budgeted_pair(&budget).await;
    // 80,001 bytes holding 40,001 values (the array and its zeros), each of which takes far
    // more memory parsed and evaluated than its two bytes of text.
    let zeros = format!("[{}]", vec!["0"; 40_000].join(","));
    client.send(Message::text(zeros.clone())).await.unwrap();
    let frame = next_frame(&mut server).await;
    assert_eq!(frame.as_str(), zeros);
    assert_eq!(budget.available(), 10_000_000 - 80_001 - 40_001 * 96);
    drop(frame);
    assert_eq!(budget.available(), 10_000_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_larger_than_the_whole_budget_takes_all_of_it() {
    let budget = DecodeBudget::new(100_000);
    let (mut server, mut client) = budgeted_pair(&budget).await;
    client.send(frame_of(150_000)).await.unwrap();
    let frame = next_frame(&mut server).await;
    assert_eq!(frame.len(), 150_000);
    assert_eq!(budget.available(), 0);
    drop(frame);
    assert_eq!(budget.available(), 100_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_a_tiny_decode_budget_still_answers_large_frames() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let _server = tether::server::spawn(
        listener,
        api,
        ServerOptions {
            max_decoding_bytes: 1_000,
            ..ServerOptions::default()
        },
    );
    let remote = tether::client::websocket::connect(&format!("ws://{address}/"))
        .await
        .unwrap();
    let big = "y".repeat(200_000);
    let echoed = tokio::time::timeout(
        REACTS_WITHIN,
        remote.call("echo", vec![big.as_str().into()]),
    )
    .await
    .expect("answered")
    .unwrap();
    assert_eq!(echoed.as_str(), Some(big.as_str()));
}
