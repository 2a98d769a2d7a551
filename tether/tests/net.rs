//! The network transports across real sockets on 127.0.0.1: WebSocket and HTTP batch against
//! `tether::server`, and rule L10 (a client killed mid-call) over TCP.
#![cfg(feature = "net")]
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use tether::client::{http_batch, websocket};
use tether::server::{serve, ServerOptions};
use tokio_tungstenite::tungstenite::Message;

async fn start_server(options: ServerOptions) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, api, options));
    address.to_string()
}

#[tokio::test]
async fn websocket_calls_pipelining_and_stubs() {
    let address = start_server(ServerOptions::default()).await;
    let api = websocket::connect(&format!("ws://{address}/"))
        .await
        .unwrap();
    assert_eq!(
        api.call("square", vec![12.into()]).await.unwrap().as_f64(),
        Some(144.0)
    );
    let counter = api.call("makeCounter", vec![5.into()]);
    assert_eq!(
        counter
            .call("increment", vec![2.into()])
            .await
            .unwrap()
            .as_f64(),
        Some(7.0)
    );
    let error = api.call("throwError", vec![]).await.unwrap_err();
    assert_eq!(
        (error.name.as_str(), error.message.as_str()),
        ("RangeError", "test error")
    );
}

#[tokio::test]
async fn http_batch_runs_a_pipelined_chain_in_one_request_and_disposes_at_the_end() {
    let address = start_server(ServerOptions::default()).await;
    let tag = tag("batch");
    let api = http_batch::connect(&format!("http://{address}/")).unwrap();
    let kept = api.call("makeDisposable", vec![tag.as_str().into()]);
    let counter = api.call(
        "makeCounter",
        vec![api.call("square", vec![3.into()]).into()],
    );
    let value = counter.call("increment", vec![1.into()]);
    let (value, ping) = tokio::join!(value, kept.call("ping", vec![]));
    assert_eq!(value.unwrap().as_f64(), Some(10.0));
    assert_eq!(ping.unwrap().as_str(), Some("pong"));
    // The batch is over: what it exported was released (rule L11).
    wait_until("the batch's exports were disposed", || {
        disposed_count(&tag) == 1
    })
    .await;
}

#[tokio::test]
async fn http_batch_edge_cases_trailing_newline_empty_body_and_405() {
    let address = start_server(ServerOptions {
        response_headers: vec![("access-control-allow-origin".into(), "*".into())],
        ..Default::default()
    })
    .await;
    let body = "[\"push\",[\"pipeline\",0,[\"square\"],[4]]]\n[\"pull\",1]\n";
    let (status, text, cors) = http(&address, "POST", body).await;
    assert_eq!((status, text.as_str()), (200, "[\"resolve\",1,16]"));
    assert_eq!(cors.as_deref(), Some("*"));
    assert_eq!(http(&address, "POST", "").await.1, "");
    assert_eq!(http(&address, "GET", "").await.0, 405);
    let (status, text, _) = http(&address, "POST", "[\"bogus\"]").await;
    assert_eq!(status, 400);
    assert!(text.contains("bad RPC message"), "{text}");
}

/// A minimal HTTP/1.1 request over a raw socket: (status, body, access-control-allow-origin).
async fn http(address: &str, method: &str, body: &str) -> (u16, String, Option<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "{method} / HTTP/1.1\r\nHost: {address}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    let cors = head.lines().find_map(|l| {
        l.strip_prefix("access-control-allow-origin: ")
            .map(str::to_owned)
    });
    (status, body.to_owned(), cors)
}

#[tokio::test]
async fn malformed_websocket_input_aborts_with_close_code_3000() {
    let address = start_server(ServerOptions::default()).await;
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{address}/"))
        .await
        .unwrap();
    socket
        .send(Message::text("[\"release\",-4,1]"))
        .await
        .unwrap();
    let abort = socket.next().await.unwrap().unwrap();
    assert_eq!(
        abort.to_text().unwrap(),
        "[\"abort\",[\"error\",\"Error\",\"no such export ID: -4\"]]"
    );
    match socket.next().await.unwrap().unwrap() {
        Message::Close(Some(frame)) => {
            assert_eq!(u16::from(frame.code), 3000);
            assert_eq!(frame.reason.as_str(), "no such export ID: -4");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
}

#[tokio::test]
async fn l10_killing_a_client_mid_call_cancels_the_handler_and_releases_exports() {
    let address = start_server(ServerOptions::default()).await;
    let tag = tag("l10-net");
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{address}/"))
        .await
        .unwrap();
    for frame in [
        format!("[\"push\",[\"pipeline\",0,[\"makeDisposable\"],[\"{tag}\"]]]"),
        "[\"pull\",1]".to_owned(),
        format!("[\"push\",[\"pipeline\",0,[\"hang\"],[\"{tag}-handler\"]]]"),
        "[\"pull\",2]".to_owned(),
    ] {
        socket.send(Message::text(frame)).await.unwrap();
    }
    let resolved = socket.next().await.unwrap().unwrap();
    assert_eq!(
        resolved.to_text().unwrap(),
        "[\"resolve\",1,[\"export\",-1]]"
    );
    drop(socket); // Killed: no close handshake.
    wait_until("the export was released", || disposed_count(&tag) == 1).await;
    wait_until("the hanging handler was dropped", || {
        disposed_count(&format!("{tag}-handler")) == 1
    })
    .await;
}

#[tokio::test]
async fn calls_on_a_dead_session_fail_promptly_with_a_disconnection_error() {
    // A server that accepts one WebSocket, reads the first message, then dies.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut socket = tokio_tungstenite::accept_async(stream).await.unwrap();
        let _ = socket.next().await;
        drop(socket);
    });
    let api = websocket::connect(&format!("ws://{address}/"))
        .await
        .unwrap();
    let broken = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = broken.clone();
    api.on_broken(move |_| flag.store(true, std::sync::atomic::Ordering::SeqCst));
    let pending = api.call("square", vec![2.into()]);
    let error = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .expect("failed promptly")
        .unwrap_err();
    assert_eq!(error.kind(), tether::ErrorKind::Disconnected, "{error}");
    let later = api.call("square", vec![3.into()]).await.unwrap_err();
    assert_eq!(later.kind(), tether::ErrorKind::Disconnected);
    wait_until("on_broken fired", || {
        broken.load(std::sync::atomic::Ordering::SeqCst)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_after_a_call_still_aborts_with_close_code_3000() {
    let address = start_server(ServerOptions::default()).await;
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{address}/"))
        .await
        .unwrap();
    socket
        .send(Message::text(
            "[\"push\",[\"pipeline\",0,[\"square\"],[1]]]",
        ))
        .await
        .unwrap();
    socket.send(Message::text("[\"pull\",1]")).await.unwrap();
    assert_eq!(
        socket.next().await.unwrap().unwrap().to_text().unwrap(),
        "[\"resolve\",1,1]"
    );
    socket.send(Message::text("{not json")).await.unwrap();
    let abort = socket.next().await.unwrap().unwrap();
    assert!(
        abort
            .to_text()
            .unwrap()
            .starts_with("[\"abort\",[\"error\",\"SyntaxError\""),
        "{abort:?}"
    );
    match socket.next().await.unwrap().unwrap() {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 3000),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

#[tokio::test]
async fn graceful_shutdown_finishes_calls_then_aborts_sessions_and_releases_exports() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let options = ServerOptions {
        shutdown_grace: Duration::from_millis(500),
        ..Default::default()
    };
    let server = tokio::spawn(tether::server::serve_until(listener, api, options, async {
        let _ = stopped.await;
    }));
    let tag = tag("shutdown");
    let api = websocket::connect(&format!("ws://{address}/"))
        .await
        .unwrap();
    let held = api
        .call("makeDisposable", vec![tag.as_str().into()])
        .await
        .unwrap();
    let broken = std::sync::Arc::new(std::sync::Mutex::new(None::<tether::RpcError>));
    let flag = broken.clone();
    api.on_broken(move |e| *flag.lock().unwrap() = Some(e));
    let slow = api.call("sleep", vec![100.into()]);
    let hanging = api.call("hang", vec![format!("{tag}-hang").into()]);
    tokio::time::sleep(Duration::from_millis(20)).await;

    stop.send(()).unwrap();

    // The call that can finish within the grace period does; the one that cannot is cut.
    assert_eq!(slow.await.unwrap().as_str(), Some("slept"));
    let error = hanging.await.unwrap_err();
    assert_eq!(error.message, tether::server::SHUTDOWN_REASON);
    wait_until("on_broken saw the shutdown", || {
        broken.lock().unwrap().is_some()
    })
    .await;
    wait_until("the export was released", || disposed_count(&tag) == 1).await;
    wait_until("the hanging handler was dropped", || {
        disposed_count(&format!("{tag}-hang")) == 1
    })
    .await;
    server.await.unwrap().unwrap();
    drop(held);
}

#[tokio::test]
async fn a_running_server_is_async_disposable_and_its_disposal_is_a_graceful_shutdown() {
    use tether::dispose::AsyncDisposableStack;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let mut stack = AsyncDisposableStack::new();
    stack
        .use_resource(tether::server::spawn(
            listener,
            api,
            ServerOptions::default(),
        ))
        .unwrap();
    let tag = tag("server-stack");
    let api = websocket::connect(&format!("ws://{address}/"))
        .await
        .unwrap();
    let held = api
        .call("makeDisposable", vec![tag.as_str().into()])
        .await
        .unwrap();
    stack.dispose().await.unwrap();
    wait_until("the session's exports were released", || {
        disposed_count(&tag) == 1
    })
    .await;
    let error = api.call("square", vec![2.into()]).await.unwrap_err();
    assert_eq!(error.kind(), tether::ErrorKind::Disconnected, "{error}");
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "no longer accepting"
    );
    drop(held);
}
