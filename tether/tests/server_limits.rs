//! The server's own limits against hostile clients, over real sockets: slow request heads
//! (slowloris), slow or oversized batch bodies, too many messages in a batch, the connection
//! limit, and the server-wide budget of buffered batch bytes. Each test sets a short limit and
//! checks that the server reacts and that other clients are still served.
#![cfg(feature = "net")]
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::time::Duration;

use common::*;
use tether::client::websocket;
use tether::server::{serve, ServerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Generous bound for "the server reacts": far above every limit the tests set.
const REACTS_WITHIN: Duration = Duration::from_secs(20);

async fn start_server(options: ServerOptions) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, api, options));
    address.to_string()
}

/// Reads until the server closes the connection; returns what it sent.
async fn read_to_close(socket: &mut TcpStream) -> String {
    let mut response = Vec::new();
    tokio::time::timeout(REACTS_WITHIN, socket.read_to_end(&mut response))
        .await
        .expect("the server closed the connection in time")
        .unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

/// Checks that a fresh WebSocket client is served.
async fn still_serves(address: &str) {
    let api = websocket::connect(&format!("ws://{address}/"))
        .await
        .unwrap();
    assert_eq!(
        api.call("square", vec![7.into()]).await.unwrap().as_f64(),
        Some(49.0)
    );
}

#[tokio::test]
async fn a_request_head_sent_too_slowly_closes_the_connection() {
    let address = start_server(ServerOptions {
        header_read_timeout: Some(Duration::from_millis(300)),
        ..Default::default()
    })
    .await;
    let mut slow = TcpStream::connect(&address).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Never finishes the head: the server gives up on it.
    read_to_close(&mut slow).await;
    // A connection that never sends anything is closed too.
    let mut silent = TcpStream::connect(&address).await.unwrap();
    read_to_close(&mut silent).await;
    still_serves(&address).await;
}

#[tokio::test]
async fn a_batch_body_sent_too_slowly_gets_408() {
    let address = start_server(ServerOptions {
        body_read_timeout: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    let mut slow = TcpStream::connect(&address).await.unwrap();
    slow.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n[\"pu")
        .await
        .unwrap();
    let response = read_to_close(&mut slow).await;
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(
        response.contains("did not arrive within 0.3 s"),
        "{response}"
    );
    still_serves(&address).await;
}

#[tokio::test]
async fn an_oversized_batch_is_refused_from_its_content_length_before_it_is_read() {
    let address = start_server(ServerOptions {
        max_batch_body: 1000,
        ..Default::default()
    })
    .await;
    let mut huge = TcpStream::connect(&address).await.unwrap();
    huge.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10737418240\r\n\r\n")
        .await
        .unwrap();
    let response = read_to_close(&mut huge).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(
        response.contains("the body is 10737418240 bytes, the limit is 1000"),
        "{response}"
    );
    // Without a length, the body is refused as soon as it grows past the limit.
    let mut chunked = TcpStream::connect(&address).await.unwrap();
    chunked
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 600, "x".repeat(600));
    chunked.write_all(chunk.as_bytes()).await.unwrap();
    chunked.write_all(chunk.as_bytes()).await.unwrap();
    let response = read_to_close(&mut chunked).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    still_serves(&address).await;
}

#[tokio::test]
async fn a_batch_with_too_many_messages_is_refused() {
    let address = start_server(ServerOptions {
        max_batch_messages: 3,
        ..Default::default()
    })
    .await;
    let batch = |n: usize| {
        let mut lines: Vec<String> = (0..n)
            .map(|i| format!("[\"push\",[\"pipeline\",0,[\"square\"],[{i}]]]"))
            .collect();
        lines.push(format!("[\"pull\",{n}]"));
        lines.join("\n")
    };
    // Three pushes and a pull are four messages: one too many.
    let response = post(&address, &batch(3)).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(
        response.contains("4 messages, the limit is 3"),
        "{response}"
    );
    let response = post(&address, &batch(2)).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("[\"resolve\",2,1]"), "{response}");
}

async fn post(address: &str, body: &str) -> String {
    let mut socket = TcpStream::connect(address).await.unwrap();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    read_to_close(&mut socket).await
}

#[tokio::test]
async fn at_the_connection_limit_new_connections_wait_until_one_ends() {
    let address = start_server(ServerOptions {
        max_connections: 2,
        ..Default::default()
    })
    .await;
    let url = format!("ws://{address}/");
    let first = websocket::connect(&url).await.unwrap();
    let second = websocket::connect(&url).await.unwrap();
    assert_eq!(
        first.call("square", vec![2.into()]).await.unwrap().as_f64(),
        Some(4.0)
    );
    assert_eq!(
        second
            .call("square", vec![3.into()])
            .await
            .unwrap()
            .as_f64(),
        Some(9.0)
    );
    // The third waits in the backlog: its handshake cannot complete while two are open.
    let third = tokio::spawn(async move { websocket::connect(&url).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!third.is_finished(), "a third connection was served");
    drop(first); // Ends the first session (the client's main stub is gone).
    let third = tokio::time::timeout(REACTS_WITHIN, third)
        .await
        .expect("the third connection was served once the first ended")
        .unwrap()
        .unwrap();
    assert_eq!(
        third.call("square", vec![4.into()]).await.unwrap().as_f64(),
        Some(16.0)
    );
    drop(second);
}

#[tokio::test]
async fn batches_share_one_budget_of_buffered_bytes() {
    let address = start_server(ServerOptions {
        max_buffered_batch_bytes: 1000,
        body_read_timeout: Duration::from_millis(500),
        ..Default::default()
    })
    .await;
    // A holds 600 of the 1000 bytes and stalls; B's 600 do not fit until A is refused.
    let mut a = TcpStream::connect(&address).await.unwrap();
    a.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 700\r\n\r\n")
        .await
        .unwrap();
    a.write_all(&[b'\n'; 600]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let padding = "\n".repeat(600 - 40);
    let b_body = format!("[\"push\",[\"pipeline\",0,[\"square\"],[5]]]{padding}");
    let b_body = format!("{b_body}[\"pull\",1]");
    let b = tokio::spawn({
        let address = address.clone();
        async move { post(&address, &b_body).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!b.is_finished(), "B was read while A held the budget");
    let a_response = read_to_close(&mut a).await;
    assert!(a_response.starts_with("HTTP/1.1 408"), "{a_response}");
    let b_response = tokio::time::timeout(REACTS_WITHIN, b)
        .await
        .unwrap()
        .unwrap();
    assert!(b_response.starts_with("HTTP/1.1 200"), "{b_response}");
    assert!(b_response.ends_with("[\"resolve\",1,25]"), "{b_response}");
}
