//! Fault injection over real sockets against `tether::server`: the transport fails at each phase
//! (during the upgrade, in the middle of a frame, with a call in flight, during a graceful
//! shutdown), a peer half-closes, resets, or stops reading. Whatever happens: no panic, no stuck
//! session (the server's counts return to zero), every disposer runs exactly once, and the
//! server goes on serving.
#![cfg(feature = "net")]
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use tether::client::websocket;
use tether::server::{RunningServer, ServerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

async fn start(options: ServerOptions) -> (RunningServer, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    (tether::server::spawn(listener, api, options), address)
}

/// Closes `socket` with a TCP reset instead of a clean FIN.
fn reset(socket: TcpStream) {
    socket2::SockRef::from(&socket)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(socket);
}

/// Waits until the server holds no connection and no session, then checks it still serves.
async fn settles_and_serves(server: &RunningServer, address: &str) {
    wait_until("the server let go of every connection and session", || {
        let stats = server.stats();
        stats.connections_open == 0 && stats.sessions_open == 0
    })
    .await;
    let api = websocket::connect(&format!("ws://{address}/"))
        .await
        .unwrap();
    assert_eq!(
        api.call("square", vec![6.into()]).await.unwrap().as_f64(),
        Some(36.0)
    );
}

/// A WebSocket client over a TCP stream we keep control of.
async fn raw_client(address: &str) -> WebSocketStream<TcpStream> {
    let tcp = TcpStream::connect(address).await.unwrap();
    let (socket, _) = tokio_tungstenite::client_async(format!("ws://{address}/"), tcp)
        .await
        .unwrap();
    socket
}

/// Sends frames that make the server hold a disposable and run a call that never returns.
async fn hold_and_hang(socket: &mut WebSocketStream<TcpStream>, tag: &str) {
    for frame in [
        format!("[\"push\",[\"pipeline\",0,[\"makeDisposable\"],[\"{tag}\"]]]"),
        "[\"pull\",1]".to_owned(),
        format!("[\"push\",[\"pipeline\",0,[\"hang\"],[\"{tag}-call\"]]]"),
    ] {
        socket.send(Message::text(frame)).await.unwrap();
    }
    let resolved = socket.next().await.unwrap().unwrap();
    assert_eq!(
        resolved.to_text().unwrap(),
        "[\"resolve\",1,[\"export\",-1]]"
    );
}

/// Both of `hold_and_hang`'s objects were let go of, once each (and stay so).
async fn released_once(tag: &str) {
    let call = format!("{tag}-call");
    wait_until("the export was disposed", || disposed_count(tag) == 1).await;
    wait_until("the hanging call was cancelled", || {
        disposed_count(&call) == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!((disposed_count(tag), disposed_count(&call)), (1, 1));
}

#[tokio::test]
async fn a_reset_during_the_upgrade_request() {
    let (server, address) = start(ServerOptions::default()).await;
    let mut socket = TcpStream::connect(&address).await.unwrap();
    socket
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Up")
        .await
        .unwrap();
    reset(socket);
    settles_and_serves(&server, &address).await;
}

#[tokio::test]
async fn a_reset_in_the_middle_of_a_frame() {
    let (server, address) = start(ServerOptions::default()).await;
    let tag = tag("fault-mid-frame");
    let mut socket = raw_client(&address).await;
    hold_and_hang(&mut socket, &tag).await;
    let mut tcp = socket.into_inner();
    // A masked text frame announcing 256 bytes, of which only 10 arrive.
    let mut partial = vec![0x81, 0x80 | 126, 0x01, 0x00, 1, 2, 3, 4];
    partial.extend_from_slice(b"[\"push\",[\"");
    tcp.write_all(&partial).await.unwrap();
    reset(tcp);
    released_once(&tag).await;
    settles_and_serves(&server, &address).await;
}

#[tokio::test]
async fn a_reset_with_a_call_in_flight() {
    let (server, address) = start(ServerOptions::default()).await;
    let tag = tag("fault-in-flight");
    let mut socket = raw_client(&address).await;
    hold_and_hang(&mut socket, &tag).await;
    reset(socket.into_inner());
    released_once(&tag).await;
    settles_and_serves(&server, &address).await;
}

#[tokio::test]
async fn a_half_closed_peer_ends_its_session() {
    let (server, address) = start(ServerOptions::default()).await;
    let tag = tag("fault-half-close");
    let mut socket = raw_client(&address).await;
    hold_and_hang(&mut socket, &tag).await;
    let mut tcp = socket.into_inner();
    tcp.shutdown().await.unwrap(); // FIN: we will send nothing more, but still read.
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), tcp.read_to_end(&mut rest))
        .await
        .expect("the server closed its side too")
        .unwrap();
    released_once(&tag).await;
    settles_and_serves(&server, &address).await;
}

#[tokio::test]
async fn a_reset_during_a_graceful_shutdown() {
    let (mut server, address) = start(ServerOptions {
        shutdown_grace: Duration::from_secs(5),
        ..ServerOptions::default()
    })
    .await;
    let tag = tag("fault-shutdown");
    let mut socket = raw_client(&address).await;
    hold_and_hang(&mut socket, &tag).await;
    let shutdown = tokio::spawn(async move {
        server.shutdown().await.unwrap();
        server
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    reset(socket.into_inner());
    // The hanging call would hold the shutdown for its whole grace; the reset ends it sooner.
    let server = tokio::time::timeout(Duration::from_secs(4), shutdown)
        .await
        .expect("the shutdown finished once the peer was gone")
        .unwrap();
    released_once(&tag).await;
    assert_eq!(server.stats().sessions_open, 0);
}

#[tokio::test]
async fn a_peer_that_stops_reading_is_dropped_after_the_write_timeout() {
    let mut options = ServerOptions::default();
    options.session.write_timeout = Some(Duration::from_millis(300));
    let (server, address) = start(options).await;
    let tag = tag("fault-stuck");
    let mut socket = raw_client(&address).await;
    hold_and_hang(&mut socket, &tag).await;
    // Ask for far more than the socket buffers hold, and never read it.
    let big = "x".repeat(1 << 20);
    let (mut sink, stream) = socket.split();
    let writer = tokio::spawn(async move {
        for id in 3..40 {
            let push = format!("[\"push\",[\"pipeline\",0,[\"echo\"],[\"{big}\"]]]");
            let sent = sink.send(Message::text(push)).await;
            let pulled = sink.send(Message::text(format!("[\"pull\",{id}]"))).await;
            if sent.is_err() || pulled.is_err() {
                break;
            }
        }
    });
    released_once(&tag).await;
    wait_until("the stuck session ended", || {
        server.stats().sessions_open == 0
    })
    .await;
    writer.abort();
    drop(stream);
    settles_and_serves(&server, &address).await;
}
