//! `tether::server::Endpoint` across real sockets: the factory sees the request (headers, peer
//! address) and its refusal reaches a batch and an upgrade alike, CORS preflights from another
//! origin, the 405s, and an endpoint's own graceful shutdown.
#![cfg(feature = "net")]
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use common::*;
use tether::server::{peer_addr, Cors, Endpoint, Refusal, ServerOptions};
use tether::transport::websocket::WebSocketTransport;
use tether::{BoxFuture, RpcResult, RpcSession, SessionOptions, Stub, Target, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The capability a session gets for its user: it knows who it serves.
struct UserSession(String);

impl Target for UserSession {
    fn call<'a>(&'a self, method: &'a str, _args: Vec<Value>) -> BoxFuture<'a, RpcResult> {
        Box::pin(async move {
            match method {
                "whoami" => Ok(self.0.as_str().into()),
                _ => Err(tether::RpcError::not_a_function(method)),
            }
        })
    }
}

/// Bearer tokens and their users; anything else is refused with 401.
fn authenticate(request: &http::request::Parts) -> Result<Stub, Refusal> {
    let token = request
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let user = match token {
        Some("alice-token") => "alice",
        Some("bob-token") => "bob",
        _ => {
            return Err(
                Refusal::new(http::StatusCode::UNAUTHORIZED, "a bearer token is required").header(
                    http::header::WWW_AUTHENTICATE,
                    http::HeaderValue::from_static("Bearer"),
                ),
            )
        }
    };
    Ok(Stub::new(UserSession(user.to_owned())))
}

async fn start(endpoint: Endpoint) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(endpoint.serve(listener));
    address.to_string()
}

/// A WebSocket session with extra handshake headers, opened with tokio-tungstenite directly.
async fn ws_with_header(address: &str, header: Option<(&str, &str)>) -> Result<Stub, String> {
    let mut request = format!("ws://{address}/rpc").into_client_request().unwrap();
    if let Some((name, value)) = header {
        request.headers_mut().insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            http::HeaderValue::from_str(value).unwrap(),
        );
    }
    let (socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| e.to_string())?;
    let (main, _task) = RpcSession::spawn(
        WebSocketTransport::new(socket),
        None,
        SessionOptions {
            close_when_main_dropped: true,
            ..SessionOptions::default()
        },
    );
    Ok(main)
}

/// What the factory saw of one request: the peer address and the URI.
type Seen = (Option<SocketAddr>, String);

const WHOAMI_BATCH: &str = "[\"push\",[\"pipeline\",0,[\"whoami\"],[]]]\n[\"pull\",1]";

#[tokio::test]
async fn the_factory_turns_a_bearer_token_into_a_per_session_capability_over_both_transports() {
    let address = start(Endpoint::from_request(
        authenticate,
        ServerOptions::default(),
    ))
    .await;

    let alice = ws_with_header(&address, Some(("authorization", "Bearer alice-token")))
        .await
        .unwrap();
    let bob = ws_with_header(&address, Some(("authorization", "Bearer bob-token")))
        .await
        .unwrap();
    assert_eq!(
        alice.call("whoami", vec![]).await.unwrap().as_str(),
        Some("alice")
    );
    assert_eq!(
        bob.call("whoami", vec![]).await.unwrap().as_str(),
        Some("bob")
    );

    let batch = raw_http(
        &address,
        "POST",
        "/rpc",
        &["Authorization: Bearer bob-token"],
        WHOAMI_BATCH,
    )
    .await;
    assert_eq!(
        (batch.status, batch.body.as_str()),
        (200, "[\"resolve\",1,\"bob\"]")
    );
}

#[tokio::test]
async fn a_refusal_reaches_a_batch_and_an_upgrade_alike_and_nothing_runs() {
    let address = start(Endpoint::from_request(
        authenticate,
        ServerOptions::default(),
    ))
    .await;

    let batch = raw_http(&address, "POST", "/rpc", &[], WHOAMI_BATCH).await;
    assert_eq!(batch.status, 401);
    assert_eq!(batch.body, "a bearer token is required");
    assert_eq!(batch.header("www-authenticate"), Some("Bearer"));

    let wrong = ws_with_header(&address, Some(("authorization", "Bearer nope"))).await;
    let error = wrong.expect_err("the upgrade is refused");
    assert!(error.contains("401"), "{error}");
    let none = ws_with_header(&address, None).await;
    assert!(none.expect_err("refused").contains("401"));
}

#[tokio::test]
async fn the_factory_sees_the_peer_address_and_the_uri() {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let record = seen.clone();
    let endpoint = Endpoint::from_request(
        move |request| {
            record
                .lock()
                .unwrap()
                .push((peer_addr(request), request.uri.to_string()));
            Ok(api())
        },
        ServerOptions::default(),
    );
    let address = start(endpoint).await;
    let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
    let local = socket.local_addr().unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = "[\"push\",[\"pipeline\",0,[\"square\"],[5]]]\n[\"pull\",1]";
    let request = format!(
        "POST /api?v=2 HTTP/1.1\r\nHost: {address}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).await.unwrap();
    assert!(response.ends_with("[\"resolve\",1,25]"), "{response}");
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(Some(local), "/api?v=2".to_owned())]
    );
}

#[tokio::test]
async fn a_cors_preflight_from_an_allowed_origin_gets_the_access_control_headers() {
    let options = ServerOptions {
        cors: Some(Cors::origins(["http://app.example:3000"])),
        ..ServerOptions::default()
    };
    let address = start(Endpoint::from_request(authenticate, options)).await;

    // What a browser sends before a cross-origin POST with an Authorization header.
    let preflight = raw_http(
        &address,
        "OPTIONS",
        "/rpc",
        &[
            "Origin: http://app.example:3000",
            "Access-Control-Request-Method: POST",
            "Access-Control-Request-Headers: authorization, content-type",
        ],
        "",
    )
    .await;
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("http://app.example:3000")
    );
    assert!(preflight
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    assert_eq!(
        preflight.header("access-control-allow-headers"),
        Some("authorization, content-type")
    );
    assert!(preflight.header("access-control-max-age").is_some());

    // The POST that follows: it runs, and the page may read the answer.
    let batch = raw_http(
        &address,
        "POST",
        "/rpc",
        &[
            "Origin: http://app.example:3000",
            "Authorization: Bearer alice-token",
            "Content-Type: text/plain",
        ],
        WHOAMI_BATCH,
    )
    .await;
    assert_eq!(batch.status, 200);
    assert_eq!(batch.body, "[\"resolve\",1,\"alice\"]");
    assert_eq!(
        batch.header("access-control-allow-origin"),
        Some("http://app.example:3000")
    );
    // A refusal is readable by the page too (it can tell the user to log in).
    let refused = raw_http(
        &address,
        "POST",
        "/rpc",
        &["Origin: http://app.example:3000"],
        WHOAMI_BATCH,
    )
    .await;
    assert_eq!(refused.status, 401);
    assert_eq!(
        refused.header("access-control-allow-origin"),
        Some("http://app.example:3000")
    );

    // Another origin: the preflight is refused and no answer is marked readable.
    let foreign = raw_http(
        &address,
        "OPTIONS",
        "/rpc",
        &[
            "Origin: http://evil.example",
            "Access-Control-Request-Method: POST",
        ],
        "",
    )
    .await;
    assert_eq!(foreign.status, 403);
    assert_eq!(foreign.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn with_an_allow_list_batches_and_upgrades_from_other_pages_are_refused_before_the_factory() {
    let asked = Arc::new(Mutex::new(0));
    let count = asked.clone();
    let options = ServerOptions {
        cors: Some(Cors::origins(["http://app.example:3000"])),
        ..ServerOptions::default()
    };
    let address = start(Endpoint::from_request(
        move |_: &http::request::Parts| {
            *count.lock().unwrap() += 1;
            Ok(api())
        },
        options,
    ))
    .await;
    let square = "[\"push\",[\"pipeline\",0,[\"square\"],[3]]]\n[\"pull\",1]";

    // A foreign page's plain POST (no preflight needed) and its WebSocket (never subject to
    // CORS): both refused, nothing runs.
    let foreign = raw_http(
        &address,
        "POST",
        "/rpc",
        &["Origin: http://evil.example", "Content-Type: text/plain"],
        square,
    )
    .await;
    assert_eq!(foreign.status, 403);
    assert_eq!(foreign.header("access-control-allow-origin"), None);
    let upgrade = ws_with_header(&address, Some(("origin", "http://evil.example"))).await;
    let Err(error) = upgrade else {
        panic!("the upgrade should be refused");
    };
    assert!(error.contains("403"), "{error}");
    assert_eq!(*asked.lock().unwrap(), 0, "the factory was never asked");

    // The listed origin, the server's own pages (same host and port) and non-browser clients
    // (no Origin) are served over both transports.
    let own = format!("http://{address}");
    for origin in [Some("http://app.example:3000"), Some(own.as_str()), None] {
        let header = origin.map(|o| format!("Origin: {o}"));
        let headers: Vec<&str> = header.iter().map(String::as_str).collect();
        let batch = raw_http(&address, "POST", "/rpc", &headers, square).await;
        assert_eq!(batch.status, 200, "{origin:?}");
        assert_eq!(batch.body, "[\"resolve\",1,9]");
        let session = ws_with_header(&address, origin.map(|o| ("origin", o)))
            .await
            .unwrap();
        let answer = session.call("square", vec![4.0.into()]).await.unwrap();
        assert_eq!(answer.as_f64(), Some(16.0), "{origin:?}");
    }
    assert_eq!(*asked.lock().unwrap(), 6);
}

#[tokio::test]
async fn with_any_origin_or_without_cors_no_origin_is_refused() {
    let square = "[\"push\",[\"pipeline\",0,[\"square\"],[3]]]\n[\"pull\",1]";
    for cors in [Some(Cors::any_origin()), None] {
        let any = cors.is_some();
        let options = ServerOptions {
            cors,
            ..ServerOptions::default()
        };
        let address = start(Endpoint::new(api, options)).await;
        let batch = raw_http(
            &address,
            "POST",
            "/rpc",
            &["Origin: http://elsewhere.example"],
            square,
        )
        .await;
        assert_eq!(batch.status, 200);
        assert_eq!(
            batch.header("access-control-allow-origin"),
            any.then_some("http://elsewhere.example")
        );
        let session = ws_with_header(&address, Some(("origin", "http://elsewhere.example")))
            .await
            .unwrap();
        let nine = session.call("square", vec![3.0.into()]).await.unwrap();
        assert_eq!(nine.as_f64(), Some(9.0));
    }
}

#[tokio::test]
async fn without_cors_an_options_request_is_a_405_like_any_other_method() {
    let address = start(Endpoint::new(api, ServerOptions::default())).await;
    for method in ["OPTIONS", "GET", "PUT", "DELETE"] {
        let response = raw_http(&address, method, "/", &["Origin: http://a.example"], "").await;
        assert_eq!(response.status, 405, "{method}");
        assert_eq!(response.header("access-control-allow-origin"), None);
        assert_eq!(response.header("allow"), Some("GET, POST"));
    }
}

#[tokio::test]
async fn an_endpoints_shutdown_ends_its_sessions_and_refuses_new_ones_with_503() {
    let endpoint = Endpoint::new(api, ServerOptions::default());
    let address = start(endpoint.clone()).await;
    let session = ws_with_header(&address, None).await.unwrap();
    assert_eq!(
        session
            .call("square", vec![3.into()])
            .await
            .unwrap()
            .as_f64(),
        Some(9.0)
    );
    let (broken_tx, broken_rx) = tokio::sync::oneshot::channel::<tether::RpcError>();
    session.on_broken(move |error| {
        let _ = broken_tx.send(error);
    });
    assert_eq!(endpoint.stats().sessions_open, 1);
    endpoint.shutdown().await;
    let error = tokio::time::timeout(std::time::Duration::from_secs(20), broken_rx)
        .await
        .expect("the session ended")
        .unwrap();
    assert!(error.message.contains("shutting down"), "{error:?}");
    let late = raw_http(&address, "POST", "/", &[], "[\"pull\",1]").await;
    assert_eq!(late.status, 503);
    assert_eq!(endpoint.stats().sessions_open, 0);
}

#[tokio::test]
async fn an_endpoint_is_a_tower_service_for_any_body() {
    use tower_service::Service;
    let mut endpoint = Endpoint::new(api, ServerOptions::default());
    let body = "[\"push\",[\"pipeline\",0,[\"square\"],[6]]]\n[\"pull\",1]";
    let request = http::Request::post("/")
        .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))
        .unwrap();
    let response = endpoint.call(request).await.unwrap();
    assert_eq!(response.status(), 200);
    use http_body_util::BodyExt;
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&bytes[..], b"[\"resolve\",1,36]");
}
