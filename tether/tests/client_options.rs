//! `tether::client::ConnectOptions` across real sockets: handshake headers reaching a server that
//! checks them (WebSocket and batch), subprotocols offered and tether's server choosing among
//! them, and each timeout firing against a server that never answers, with an error naming the
//! option.
#![cfg(feature = "net")]
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::api;
use tether::client::{http_batch, websocket, ConnectOptions};
use tether::server::http::{header, HeaderValue, StatusCode};
use tether::server::{Endpoint, Refusal, ServerOptions};
use tether::transport::TransportErrorKind;
use tokio::net::TcpListener;

/// A server that serves `api` only to requests carrying `Authorization: Bearer t0ken` and the
/// cookie `a=1`.
async fn checking_server() -> String {
    let endpoint = Endpoint::from_request(
        |request| {
            let has = |name, value: &str| {
                request
                    .headers
                    .get_all(name)
                    .iter()
                    .any(|v| v.to_str().is_ok_and(|v| v == value))
            };
            if has(header::AUTHORIZATION, "Bearer t0ken") && has(header::COOKIE, "a=1") {
                Ok(api())
            } else {
                Err(Refusal::new(StatusCode::UNAUTHORIZED, "no token"))
            }
        },
        ServerOptions::default(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(endpoint.serve(listener));
    address
}

fn with_credentials() -> ConnectOptions {
    ConnectOptions::default()
        .header(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer t0ken"),
        )
        .header(header::COOKIE, HeaderValue::from_static("a=1"))
}

#[tokio::test]
async fn websocket_handshake_headers_reach_the_server() {
    let address = checking_server().await;
    let url = format!("ws://{address}/");
    let (api, _session) = websocket::connect_with(&url, with_credentials())
        .await
        .unwrap();
    assert_eq!(
        api.call("square", vec![9.into()]).await.unwrap().as_f64(),
        Some(81.0)
    );
    let refused = websocket::connect(&url).await.unwrap_err();
    assert_eq!(refused.kind(), TransportErrorKind::Connect);
    assert!(refused.message().contains("401"), "{refused}");
}

#[tokio::test]
async fn batch_request_headers_reach_the_server() {
    let address = checking_server().await;
    let url = format!("http://{address}/");
    let api = http_batch::connect_with(&url, with_credentials()).unwrap();
    assert_eq!(
        api.call("square", vec![4.into()]).await.unwrap().as_f64(),
        Some(16.0)
    );
    let api = http_batch::connect(&url).unwrap();
    let refused = api.call("square", vec![4.into()]).await.unwrap_err();
    assert!(refused.message.contains("401"), "{refused:?}");
}

#[tokio::test]
#[allow(clippy::result_large_err)] // tungstenite's callback type, not ours.
async fn subprotocols_are_offered_in_the_handshake() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let offered: Arc<Mutex<Option<String>>> = Arc::default();
    let seen = offered.clone();
    tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let callback = |request: &tokio_tungstenite::tungstenite::handshake::server::Request,
                        mut response: tokio_tungstenite::tungstenite::handshake::server::Response| {
            let protocols = request
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            *seen.lock().unwrap() = protocols;
            response
                .headers_mut()
                .insert("sec-websocket-protocol", HeaderValue::from_static("second"));
            Ok(response)
        };
        let socket = tokio_tungstenite::accept_hdr_async(socket, callback).await;
        // Keep the socket open until the client is done.
        std::future::pending::<()>().await;
        drop(socket);
    });
    let options = ConnectOptions::default().subprotocols(["first", "second"]);
    let connected = websocket::connect_with(&format!("ws://{address}/"), options).await;
    assert!(connected.is_ok(), "{:?}", connected.err());
    assert_eq!(offered.lock().unwrap().as_deref(), Some("first, second"));
}

/// tether's server accepting the subprotocols `b` and `c`.
async fn subprotocol_server() -> String {
    let options = ServerOptions {
        subprotocols: vec!["b".into(), "c".into()],
        ..ServerOptions::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(Endpoint::new(api, options).serve(listener));
    address
}

/// The `Sec-WebSocket-Protocol` tether's server answers a handshake offering `offered` with.
async fn chosen_subprotocol(address: &str, offered: &str) -> Option<String> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{address}/").into_client_request().unwrap();
    request
        .headers_mut()
        .insert(header::SEC_WEBSOCKET_PROTOCOL, offered.parse().unwrap());
    let (_socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    response
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn the_server_answers_with_the_first_offered_subprotocol_it_accepts() {
    let address = subprotocol_server().await;
    assert_eq!(
        chosen_subprotocol(&address, "a, c, b").await.as_deref(),
        Some("c")
    );
    assert_eq!(
        chosen_subprotocol(&address, "b, c").await.as_deref(),
        Some("b")
    );

    let options = ConnectOptions::default().subprotocols(["x", "c"]);
    let (api, _session) = websocket::connect_with(&format!("ws://{address}/"), options)
        .await
        .unwrap();
    assert_eq!(
        api.call("square", vec![5.into()]).await.unwrap().as_f64(),
        Some(25.0)
    );
    // Offering none still works: no subprotocol is named.
    let (api, _session) =
        websocket::connect_with(&format!("ws://{address}/"), ConnectOptions::default())
            .await
            .unwrap();
    assert_eq!(
        api.call("square", vec![2.into()]).await.unwrap().as_f64(),
        Some(4.0)
    );
}

#[tokio::test]
async fn offering_only_subprotocols_the_server_does_not_accept_fails_the_handshake() {
    let address = subprotocol_server().await;
    let options = ConnectOptions::default().subprotocols(["x", "y"]);
    let connected = websocket::connect_with(&format!("ws://{address}/"), options).await;
    let Err(failed) = connected else {
        panic!("the handshake should fail");
    };
    assert!(failed.message().contains("no subprotocol"), "{failed}");

    // By default the server accepts none, so any offer fails.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plain = listener.local_addr().unwrap();
    tokio::spawn(Endpoint::new(api, ServerOptions::default()).serve(listener));
    let options = ConnectOptions::default().subprotocols(["b"]);
    let connected = websocket::connect_with(&format!("ws://{plain}/"), options).await;
    assert!(connected.is_err());
}

/// A listener that accepts connections and never says anything.
async fn silent_server() -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (address, task)
}

#[tokio::test]
async fn a_websocket_handshake_that_is_never_answered_times_out_naming_the_option() {
    let (address, _server) = silent_server().await;
    let options = ConnectOptions::default().handshake_timeout(Duration::from_millis(300));
    let error = websocket::connect_with(&format!("ws://{address}/"), options)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::Timeout);
    assert!(error.message().contains("handshake_timeout"), "{error}");
    assert!(error.message().contains("0.3 s"), "{error}");
}

#[tokio::test]
async fn a_batch_that_is_never_answered_times_out_naming_the_option() {
    let (address, _server) = silent_server().await;
    let options = ConnectOptions::default().request_timeout(Duration::from_millis(300));
    let api = http_batch::connect_with(&format!("http://{address}/"), options).unwrap();
    let error = api.call("square", vec![2.into()]).await.unwrap_err();
    assert!(error.message.contains("request_timeout"), "{error:?}");
}

#[tokio::test]
async fn a_connection_that_is_never_accepted_times_out_naming_the_option() {
    // A listen backlog that is full: the kernel drops further SYNs, so connecting hangs.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    socket.listen(0).unwrap();
    let address = socket.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        let filler =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        filler.set_nonblocking(true).unwrap();
        let _ = filler.connect(&address.into());
        fillers.push(filler);
    }
    let options = ConnectOptions::default().connect_timeout(Duration::from_millis(500));
    let error = websocket::connect_with(&format!("ws://{address}/"), options)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::Timeout, "{error}");
    assert!(error.message().contains("connect_timeout"), "{error}");
}
