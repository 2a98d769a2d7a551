//! Rule L9: execution contexts. Each incoming call runs in a `CallContext`; its cleanups run when
//! the handler has returned and every stub created during the call is released; `wait_until`
//! keeps work running past the response; a disconnect cancels the context at once.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use tether::context::CallContext;
use tether::{BoxFuture, RpcError, RpcResult, Stub, Target, Value};

/// Counts context endings and background work, per test.
#[derive(Default)]
struct Counters {
    ended: AtomicUsize,
    background_done: AtomicUsize,
}

struct Service(Arc<Counters>);

impl Target for Service {
    fn call<'a>(&'a self, method: &'a str, _args: Vec<Value>) -> BoxFuture<'a, RpcResult> {
        Box::pin(async move {
            let ctx = CallContext::current().ok_or_else(|| RpcError::error("no context"))?;
            let counters = self.0.clone();
            ctx.defer(move || {
                counters.ended.fetch_add(1, Ordering::SeqCst);
            });
            match method {
                "plain" => Ok(1.into()),
                "giveStub" => Ok(Stub::new(Counter(std::sync::Mutex::new(0.0))).into()),
                "later" => {
                    let counters = self.0.clone();
                    ctx.wait_until(async move {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        counters.background_done.fetch_add(1, Ordering::SeqCst);
                    });
                    Ok("answered".into())
                }
                "hang" => std::future::pending().await,
                _ => Err(RpcError::not_a_function(method)),
            }
        })
    }
}

fn service() -> (Stub, Arc<Counters>) {
    let counters = Arc::new(Counters::default());
    (Stub::new(Service(counters.clone())), counters)
}

/// Checks that the context of the call that gave `stub` (the first context of `counters`) is
/// still open while `stub` is held, and ends once it is released.
async fn the_context_lasts_until_released(stub: Stub, counters: &Counters) {
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(
        counters.ended.load(Ordering::SeqCst),
        0,
        "alive while the stub is held"
    );
    drop(stub);
    wait_until("the context ended", || {
        counters.ended.load(Ordering::SeqCst) == 1
    })
    .await;
}

#[tokio::test]
async fn l9_the_context_ends_when_the_handler_returns() {
    let (main, counters) = service();
    let conn = connect(main);
    assert_eq!(
        conn.api.call("plain", vec![]).await.unwrap().as_f64(),
        Some(1.0)
    );
    wait_until("the context ended", || {
        counters.ended.load(Ordering::SeqCst) == 1
    })
    .await;
    // Local calls have no call context.
    assert!(CallContext::current().is_none());
}

#[tokio::test]
async fn l9_a_stub_passed_out_extends_the_context_until_it_is_released() {
    let (main, counters) = service();
    let conn = connect(main);
    let stub = conn
        .api
        .call("giveStub", vec![])
        .await
        .unwrap()
        .into_stub()
        .unwrap();
    assert_eq!(
        stub.call("increment", vec![2.into()])
            .await
            .unwrap()
            .as_f64(),
        Some(2.0)
    );
    the_context_lasts_until_released(stub, &counters).await;
}

/// Asks for its context only after creating the stub it returns (the context is made lazily,
/// so the stub must still keep it), or after dropping the one it made.
struct AsksLate(Arc<Counters>);

impl Target for AsksLate {
    fn call<'a>(&'a self, method: &'a str, _args: Vec<Value>) -> BoxFuture<'a, RpcResult> {
        Box::pin(async move {
            let stub = Stub::new(Counter(std::sync::Mutex::new(0.0)));
            let keep = match method {
                "stubThenContext" => true,
                "droppedStubThenContext" => false,
                _ => return Err(RpcError::not_a_function(method)),
            };
            if !keep {
                drop(stub.clone());
            }
            let ctx = CallContext::current().ok_or_else(|| RpcError::error("no context"))?;
            let counters = self.0.clone();
            ctx.defer(move || {
                counters.ended.fetch_add(1, Ordering::SeqCst);
            });
            Ok(if keep { stub.into() } else { Value::Null })
        })
    }
}

#[tokio::test]
async fn l9_a_stub_made_before_the_context_was_asked_for_still_extends_it() {
    let counters = Arc::new(Counters::default());
    let conn = connect(Stub::new(AsksLate(counters.clone())));
    let stub = conn
        .api
        .call("stubThenContext", vec![])
        .await
        .unwrap()
        .into_stub()
        .unwrap();
    the_context_lasts_until_released(stub, &counters).await;
    // A stub dropped before the context was made does not hold it: it ends with the handler.
    assert!(conn
        .api
        .call("droppedStubThenContext", vec![])
        .await
        .unwrap()
        .is_nullish());
    wait_until("the second context ended", || {
        counters.ended.load(Ordering::SeqCst) == 2
    })
    .await;
}

#[tokio::test]
async fn l9_wait_until_keeps_work_running_past_the_response_and_past_a_disconnect() {
    let (main, counters) = service();
    let conn = connect(main);
    assert_eq!(
        conn.api.call("later", vec![]).await.unwrap().as_str(),
        Some("answered")
    );
    assert_eq!(
        counters.background_done.load(Ordering::SeqCst),
        0,
        "the answer came first"
    );
    conn.client.abort(); // The client goes away; the server's background work still finishes.
    wait_until(
        "the background work finished, then the context ended",
        || {
            counters.background_done.load(Ordering::SeqCst) == 1
                && counters.ended.load(Ordering::SeqCst) == 1
        },
    )
    .await;
    assert!(conn.server.await.unwrap().is_ok());
}

#[tokio::test]
async fn l9_a_disconnect_cancels_the_context_at_once() {
    let (main, counters) = service();
    let conn = connect(main);
    let pending = conn.api.call("hang", vec![]);
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(counters.ended.load(Ordering::SeqCst), 0);
    conn.client.abort();
    wait_until("the context was cancelled", || {
        counters.ended.load(Ordering::SeqCst) == 1
    })
    .await;
    assert!(pending.await.is_err());
}

#[cfg(feature = "net")]
#[tokio::test]
async fn l9_l11_wait_until_in_an_http_batch_runs_past_the_response() {
    let counters = Arc::new(Counters::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let shared = counters.clone();
    tokio::spawn(tether::server::serve(
        listener,
        move || Stub::new(Service(shared.clone())),
        tether::server::ServerOptions::default(),
    ));
    let api = tether::client::http_batch::connect(&format!("http://{address}/")).unwrap();
    assert_eq!(
        api.call("later", vec![]).await.unwrap().as_str(),
        Some("answered")
    );
    assert_eq!(
        counters.background_done.load(Ordering::SeqCst),
        0,
        "the response did not wait for the background work"
    );
    wait_until(
        "the batch's background work finished, then its context ended",
        || {
            counters.background_done.load(Ordering::SeqCst) == 1
                && counters.ended.load(Ordering::SeqCst) == 1
        },
    )
    .await;
}
