//! Typed callbacks (`tether::typed::Callback`) across a connection: a Rust closure handed to a
//! typed server method, arguments and results checked on both sides.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use tether::typed::Callback;
use tether::{RpcResult, Stub, Value};

/// A server that calls back.
#[tether::interface]
pub trait Apply {
    /// `f(x, label)` with a typed callback.
    async fn apply(
        &self,
        f: Callback<(f64, String), String>,
        x: f64,
        label: String,
    ) -> RpcResult<String>;
    /// `f(x)` where `f` claims to return a number.
    async fn apply_number(&self, f: Callback<(f64,), f64>, x: f64) -> RpcResult<f64>;
}

struct Server;

impl Apply for Server {
    async fn apply(
        &self,
        f: Callback<(f64, String), String>,
        x: f64,
        label: String,
    ) -> RpcResult<String> {
        f.call((x, label)).await
    }
    async fn apply_number(&self, f: Callback<(f64,), f64>, x: f64) -> RpcResult<f64> {
        f.call((x,)).await
    }
}

fn api() -> (Connection, ApplyClient) {
    let conn = connect(ApplyClient::serve(Server).into());
    let api = ApplyClient::from(conn.api.clone());
    (conn, api)
}

#[tokio::test]
async fn a_rust_closure_is_called_back_with_typed_arguments() {
    let (conn, api) = api();
    let describe =
        Callback::new(
            |(x, label): (f64, String)| async move { Ok(format!("{label}={}", x * 2.0)) },
        );
    assert_eq!(api.apply(describe, 21.0, "x".into()).await.unwrap(), "x=42");
    // The callback went out as an export and came back as a call on it.
    let frames = conn.log.all().join("\n");
    assert!(frames.contains(r#"["export",-1]"#), "{frames}");
    assert!(
        frames.contains(r#"< ["push",["pipeline",-1,[],[21,"x"]]]"#),
        "{frames}"
    );
}

#[tokio::test]
async fn data_where_a_callback_is_declared_is_a_type_error_and_the_body_does_not_run() {
    let (_conn, api) = api();
    let error = api
        .stub()
        .call(
            "apply",
            vec![Value::from(1), Value::from(2), Value::from("x")],
        )
        .await
        .unwrap_err();
    assert_eq!(error.name, "TypeError");
    assert!(
        error
            .message
            .starts_with("apply: parameter 'f' must be a stub"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn a_peer_calling_a_rust_callback_with_a_wrong_argument_gets_a_type_error() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let callback = Callback::new(move |(x,): (f64,)| {
        counted.fetch_add(1, Ordering::SeqCst);
        async move { Ok(x) }
    });
    // Called untyped, as a JavaScript peer would: a string where a number is declared.
    let stub: Stub = callback.clone().into_stub();
    let error = stub.invoke(vec![Value::from("seven")]).await.unwrap_err();
    assert_eq!(error.name, "TypeError");
    assert_eq!(
        error.message,
        "callback: parameter '#0' must be a number, got string"
    );
    let error = stub.invoke(vec![]).await.unwrap_err();
    assert_eq!(error.message, "callback: missing required parameter '#0'");
    assert_eq!(runs.load(Ordering::SeqCst), 0, "the closure never ran");
    assert_eq!(callback.call((7.0,)).await.unwrap(), 7.0);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_callback_result_of_the_wrong_type_rejects_with_a_type_error() {
    let (_conn, api) = api();
    // A function that returns text where the server declared a number.
    let liar = Callback::<(f64,), f64>::from_stub(Stub::from_fn(|_| async { Ok("text".into()) }));
    let error = api.apply_number(liar, 1.0).await.unwrap_err();
    assert_eq!(error.name, "TypeError");
    assert_eq!(
        error.message,
        "callback: result must be a number, got string"
    );
}
