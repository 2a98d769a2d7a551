//! Run with: `cargo run -p axum-app -- 3000`, then open http://127.0.0.1:3000/ (tokens
//! `alice-secret` and `bob-secret`; set others with `AXUM_APP_TOKENS=token=user,...`).
//!
//! An axum application that serves static files and, on `/api`, a Cap'n Web endpoint in one
//! line: WebSocket sessions and HTTP batches. An ordinary axum middleware checks the bearer token
//! (with the token table as axum state) before a batch runs or a WebSocket is upgraded, and the
//! user it finds becomes a per-session capability: each session gets a `Notebook` that can only
//! read and write its own user's notes.
//!
//! The token travels in the `Authorization: Bearer …` header (HTTP batch, and WebSockets opened
//! by programs that can set headers, e.g. Node's `ws`), or as `?access_token=…` for a browser's
//! `WebSocket`, which cannot set headers (a query string can end up in access logs: prefer
//! short-lived tokens there).
//!
//! Prints `listening PORT` once it accepts connections; on SIGTERM or SIGINT it stops accepting,
//! lets calls in flight finish, ends the remaining sessions, and exits with status 0.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tether::server::http::{header, HeaderValue, StatusCode};
use tether::server::Refusal;

/// What a session of one user may do.
#[tether::interface]
pub trait Notebook {
    /// The user this session serves.
    async fn whoami(&self) -> String;
    /// Adds a note; returns how many the user has now.
    async fn add_note(&self, text: String) -> u32;
    /// The user's notes, oldest first.
    async fn notes(&self) -> Vec<String>;
}

/// Every user's notes (kept in memory).
type Store = Arc<Mutex<HashMap<String, Vec<String>>>>;

/// One session's capability: bound to one user when the session opened.
struct UserNotebook {
    user: String,
    store: Store,
}

impl UserNotebook {
    fn with_notes<T>(&self, f: impl FnOnce(&mut Vec<String>) -> T) -> T {
        // Plain data; never held across an `.await`.
        let mut store = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        f(store.entry(self.user.clone()).or_default())
    }
}

impl Notebook for UserNotebook {
    async fn whoami(&self) -> String {
        self.user.clone()
    }

    async fn add_note(&self, text: String) -> u32 {
        self.with_notes(|notes| {
            notes.push(text);
            u32::try_from(notes.len()).unwrap_or(u32::MAX)
        })
    }

    async fn notes(&self) -> Vec<String> {
        self.with_notes(|notes| notes.clone())
    }
}

/// Bearer tokens and the users they stand for.
type Tokens = Arc<HashMap<String, String>>;

/// Who a request comes from, as [`require_token`] found it.
#[derive(Clone, Debug)]
struct User(String);

/// An ordinary axum middleware on the RPC route: the token → [`User`] in the request's
/// extensions, or 401 before anything runs (a WebSocket is then never upgraded).
async fn require_token(
    State(tokens): State<Tokens>,
    mut request: Request,
    next: Next,
) -> Result<Response, Refusal> {
    let from_header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let from_query = request.uri().query().and_then(|query| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("access_token="))
    });
    let user = from_header
        .or(from_query)
        .and_then(|token| tokens.get(token))
        .cloned();
    let Some(user) = user else {
        return Err(
            Refusal::new(StatusCode::UNAUTHORIZED, "a valid bearer token is required")
                .header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")),
        );
    };
    request.extensions_mut().insert(User(user));
    Ok(next.run(request).await)
}

/// The static files, built into the binary.
async fn index() -> Html<&'static str> {
    Html(include_str!("../static/index.html"))
}

async fn app_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../static/app.js"),
    )
}

/// The token table: `AXUM_APP_TOKENS=token=user,token=user`, or the two demo tokens.
fn tokens() -> Tokens {
    let spec = std::env::var("AXUM_APP_TOKENS")
        .unwrap_or_else(|_| "alice-secret=alice,bob-secret=bob".to_owned());
    Arc::new(
        spec.split(',')
            .filter_map(|pair| pair.split_once('='))
            .map(|(token, user)| (token.trim().to_owned(), user.trim().to_owned()))
            .collect(),
    )
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = match std::env::args().nth(1).map(|p| p.parse()) {
        None => 3000,
        Some(Ok(port)) => port,
        Some(Err(_)) => {
            eprintln!("usage: axum-app [PORT]");
            std::process::exit(2);
        }
    };
    let mut signal = tether::dispose::ShutdownSignal::listen()?;
    let store = Store::default();

    // The whole integration: one endpoint, mounted on one route.
    let rpc = tether::axum::endpoint(move |request| {
        let User(user) = request
            .extensions
            .get::<User>()
            .cloned()
            .ok_or_else(|| Refusal::new(StatusCode::UNAUTHORIZED, "no user"))?;
        let notebook = UserNotebook {
            user,
            store: store.clone(),
        };
        Ok(NotebookClient::serve(notebook).into_stub())
    });
    // `route_layer` guards the routes above it only: the static files stay public.
    let app = Router::new()
        .route_service("/api", rpc.clone())
        .route_layer(axum::middleware::from_fn_with_state(
            tokens(),
            require_token,
        ))
        .route("/", get(index))
        .route("/app.js", get(app_js));

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let port = listener.local_addr()?.port();
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening {port}")?;
    stdout.flush()?;
    drop(stdout);

    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            signal.recv().await;
        })
        .await?;
    // axum is done with its HTTP connections; the WebSocket sessions are tether's to end.
    rpc.shutdown().await;
    Ok(())
}
