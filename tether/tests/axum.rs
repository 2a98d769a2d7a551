//! tether mounted in an axum `Router` (feature `axum`), served by `axum::serve` over real
//! sockets: both transports on the route, the other routes untouched, an auth middleware with
//! axum state applying to the batch and the upgrade alike (401 before any upgrade), what it
//! inserts turned into a per-session capability, and the peer address from `ConnectInfo`.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use common::raw_http;
use tether::server::http::{header, HeaderValue, StatusCode};
use tether::server::{peer_addr, Refusal};
use tether::transport::websocket::WebSocketTransport;
use tether::{BoxFuture, RpcResult, RpcSession, SessionOptions, Stub, Target, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Who a request is for, as the middleware found it.
#[derive(Clone, Debug)]
struct User(String);

/// The capability a session gets: it serves one user.
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

type Tokens = Arc<HashMap<&'static str, &'static str>>;

/// An ordinary axum middleware with state: bearer token → `User`, or 401.
async fn require_token(
    State(tokens): State<Tokens>,
    mut request: Request,
    next: Next,
) -> Result<Response, Refusal> {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(user) = token.and_then(|t| tokens.get(t)) else {
        return Err(
            Refusal::new(StatusCode::UNAUTHORIZED, "a bearer token is required")
                .header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")),
        );
    };
    request.extensions_mut().insert(User((*user).to_owned()));
    Ok(next.run(request).await)
}

/// The user and peer address the factory saw for one session or batch.
type Seen = (String, Option<SocketAddr>);

struct App {
    address: String,
    /// What the factory saw: the user and the peer address of each session or batch.
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn start() -> App {
    let tokens: Tokens = Arc::new(HashMap::from([
        ("alice-token", "alice"),
        ("bob-token", "bob"),
    ]));
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let record = seen.clone();
    let rpc = tether::axum::endpoint(move |request| {
        let user = request
            .extensions
            .get::<User>()
            .cloned()
            .ok_or_else(|| Refusal::new(StatusCode::UNAUTHORIZED, "no user"))?;
        record
            .lock()
            .unwrap()
            .push((user.0.clone(), peer_addr(request)));
        Ok(Stub::new(UserSession(user.0)))
    });
    // `route_layer` guards the routes above it only: the home page stays public.
    let app = Router::new()
        .route_service("/api", rpc)
        .route_layer(axum::middleware::from_fn_with_state(tokens, require_token))
        .route("/", get(|| async { "home" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    App { address, seen }
}

/// A WebSocket session to `/api`, with a bearer token if given.
async fn ws(address: &str, token: Option<&str>) -> Result<(Stub, SocketAddr), String> {
    let mut request = format!("ws://{address}/api").into_client_request().unwrap();
    if let Some(token) = token {
        request.headers_mut().insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
    }
    let (socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| e.to_string())?;
    let local = match socket.get_ref() {
        tokio_tungstenite::MaybeTlsStream::Plain(tcp) => tcp.local_addr().unwrap(),
        _ => unreachable!("ws:// is plain TCP"),
    };
    let options = SessionOptions {
        close_when_main_dropped: true,
        ..SessionOptions::default()
    };
    let (main, _task) = RpcSession::spawn(WebSocketTransport::new(socket), None, options);
    Ok((main, local))
}

const WHOAMI_BATCH: &str = "[\"push\",[\"pipeline\",0,[\"whoami\"],[]]]\n[\"pull\",1]";

#[tokio::test]
async fn one_route_serves_websocket_sessions_as_the_user_the_middleware_found() {
    let app = start().await;
    let (alice, local) = ws(&app.address, Some("alice-token")).await.unwrap();
    let (bob, _) = ws(&app.address, Some("bob-token")).await.unwrap();
    assert_eq!(
        alice.call("whoami", vec![]).await.unwrap().as_str(),
        Some("alice")
    );
    assert_eq!(
        bob.call("whoami", vec![]).await.unwrap().as_str(),
        Some("bob")
    );
    // The factory saw the peer address axum's ConnectInfo recorded.
    let seen = app.seen.lock().unwrap().clone();
    assert!(
        seen.contains(&("alice".to_owned(), Some(local))),
        "{seen:?} should hold alice from {local}"
    );
}

#[tokio::test]
async fn one_route_serves_http_batches_and_the_other_routes_are_untouched() {
    let app = start().await;
    let batch = raw_http(
        &app.address,
        "POST",
        "/api",
        &["Authorization: Bearer bob-token"],
        WHOAMI_BATCH,
    )
    .await;
    assert_eq!(
        (batch.status, batch.body.as_str()),
        (200, "[\"resolve\",1,\"bob\"]")
    );
    let home = raw_http(&app.address, "GET", "/", &[], "").await;
    assert_eq!((home.status, home.body.as_str()), (200, "home"));
    // On the route, a plain GET is no batch and no upgrade.
    let get = raw_http(
        &app.address,
        "GET",
        "/api",
        &["Authorization: Bearer bob-token"],
        "",
    )
    .await;
    assert_eq!(get.status, 405);
}

#[tokio::test]
async fn without_a_token_the_middleware_refuses_the_batch_and_the_upgrade_with_401() {
    let app = start().await;
    let batch = raw_http(&app.address, "POST", "/api", &[], WHOAMI_BATCH).await;
    assert_eq!(batch.status, 401);
    assert_eq!(batch.body, "a bearer token is required");
    assert_eq!(batch.header("www-authenticate"), Some("Bearer"));

    let error = ws(&app.address, None).await.expect_err("refused");
    assert!(error.contains("401"), "{error}");
    let error = ws(&app.address, Some("stolen")).await.expect_err("refused");
    assert!(error.contains("401"), "{error}");
    // Nothing reached the factory.
    assert!(app.seen.lock().unwrap().is_empty());
}
