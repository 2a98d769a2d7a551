//! What tether tells `tracing`, over a real WebSocket connection to tether's server: a session
//! span naming the transport and the peer, a span per call in each direction with the member,
//! the ids and the outcome, an event when a session aborts with its reason, and never an
//! argument value.
#![cfg(feature = "net")]
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tether::server::{spawn, ServerOptions};
use tether::{RpcError, Value};
use tracing_subscriber::fmt::MakeWriter;

/// Collects everything the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn sessions_and_calls_are_traced_without_argument_values() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .finish();
    // This test's runtime is single-threaded: the server's and the client's tasks all see it.
    let _guard = tracing::subscriber::set_default(subscriber);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let mut server = spawn(listener, common::api, ServerOptions::default());
    let url = format!("ws://{address}/");
    let api = tether::client::websocket::connect(&url).await.unwrap();

    let square = api.call("square", vec![Value::from(7)]).await.unwrap();
    assert_eq!(square.as_f64(), Some(49.0));
    let echoed = api
        .call("echo", vec![Value::from("s3cr3t-argument")])
        .await
        .unwrap();
    assert_eq!(echoed.as_str(), Some("s3cr3t-argument"));
    let callback = tether::Stub::from_fn(|_| async { Ok(Value::from(1)) });
    let error: RpcError = api
        .call("missingMethod", vec![callback.into()])
        .await
        .unwrap_err();
    assert_eq!(error.name, "TypeError");
    // A malformed frame aborts a second session.
    let (mut raw, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    use futures_util::{SinkExt, StreamExt};
    raw.send(tokio_tungstenite::tungstenite::Message::text(
        "[\"nonsense\"]",
    ))
    .await
    .unwrap();
    while let Some(Ok(_)) = raw.next().await {}

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !captured.text().contains("session aborted") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no abort traced:\n{}",
            captured.text()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(api);
    server.shutdown().await.unwrap();

    let text = captured.text();
    let line_with = |needles: &[&str]| {
        text.lines()
            .any(|line| needles.iter().all(|needle| line.contains(needle)))
    };
    assert!(
        line_with(&["rpc_session", "transport=\"websocket\"", "peer=127.0.0.1:"]),
        "{text}"
    );
    assert!(
        line_with(&[
            "direction=\"in\"",
            "member=\"square\"",
            "outcome=\"resolved\""
        ]),
        "{text}"
    );
    assert!(
        line_with(&[
            "direction=\"out\"",
            "member=\"square\"",
            "outcome=\"resolved\""
        ]),
        "{text}"
    );
    assert!(
        line_with(&[
            "member=\"missingMethod\"",
            "outcome=\"rejected\"",
            "error=\"TypeError\""
        ]),
        "{text}"
    );
    assert!(line_with(&["session aborted", "bad RPC message"]), "{text}");
    assert!(
        !text.contains("s3cr3t"),
        "an argument value was logged:\n{text}"
    );
}
