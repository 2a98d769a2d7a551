//! The typed API as a client of the capnweb reference server: the contract declared once as
//! `#[tether::interface]` traits, called through the generated clients over WebSocket and HTTP
//! batch. Pipelining, callbacks, typed `map`, disposal, result checks and a Rust typed object
//! called by the JavaScript server all cross the boundary.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tether::typed::Callback;
use tether::{RpcError, Value};
use tether_interop_tests::{
    assert_no_abort, connect_batch, connect_ws, connect_ws_tapped, frame_type, shared, t,
    unique_tag, wait_disposed, within,
};

/// `{ result: ... }`, what `callSquare` and `callFunction` return.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Wrapped {
    result: f64,
}

/// The contract's Counter (served by either side).
#[tether::interface]
pub trait Counter {
    /// Adds `amount` (1 when missing).
    fn increment(&self, amount: Option<f64>) -> f64;
    /// The current value.
    #[getter]
    fn value(&self) -> f64;
}

/// The contract's Disposable.
#[tether::interface]
pub trait Disposable {
    /// `"pong"`.
    fn ping(&self) -> String;
    /// Its tag.
    #[getter]
    fn tag(&self) -> String;
}

/// The contract's main object, as a client sees it.
#[tether::interface]
pub trait TestTarget {
    /// `i * i`.
    fn square(&self, i: f64) -> f64;
    /// `{ result: await this.square(i) }`.
    fn call_square(&self, this: &TestTargetClient, i: f64) -> Wrapped;
    /// `{ result: await func(i) }`.
    fn call_function(&self, func: Callback<(f64,), f64>, i: f64) -> Wrapped;
    /// Rejects with `RangeError("test error")`.
    fn throw_error(&self) -> Result<(), RpcError>;
    /// A new Counter at `i`.
    fn make_counter(&self, i: f64) -> CounterClient;
    /// `await counter.increment(i)`.
    fn increment_counter(&self, counter: &CounterClient, i: Option<f64>) -> f64;
    /// The first `length` Fibonacci numbers.
    fn generate_fibonacci(&self, length: f64) -> Vec<f64>;
    /// `null`.
    fn return_null(&self) -> Option<f64>;
    /// `undefined`.
    fn return_undefined(&self);
    /// `x`.
    fn echo(&self, x: Value) -> Value;
    /// A new Disposable labelled `tag`.
    fn make_disposable(&self, tag: &str) -> DisposableClient;
    /// How often a Disposable with `tag` was disposed.
    fn disposed_count(&self, tag: &str) -> f64;
    /// Keeps `cb`.
    fn register_callback(&self, cb: Callback<(String,), String>);
    /// `await cb(x)`.
    fn fire_callback(&self, x: String) -> String;
    /// Releases the kept callback.
    fn release_callback(&self) -> bool;
}

/// The same method names with result types the server does not return.
#[tether::interface]
pub trait WrongTypes {
    /// Really a number.
    fn square(&self, i: f64) -> String;
    /// Really numbers.
    fn generate_fibonacci(&self, length: f64) -> Vec<bool>;
}

/// A Rust counter the JavaScript server calls (`incrementCounter`).
struct RustCounter {
    value: Mutex<f64>,
    calls: AtomicUsize,
}

impl Counter for RustCounter {
    fn increment(&self, amount: Option<f64>) -> f64 {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut value = self.value.lock().unwrap();
        *value += amount.unwrap_or(1.0);
        *value
    }
    fn value(&self) -> f64 {
        *self.value.lock().unwrap()
    }
}

async fn api() -> TestTargetClient {
    TestTargetClient::from_stub(connect_ws(shared()).await)
}

#[tokio::test]
async fn typed_calls_and_results_over_both_transports() {
    for api in [
        api().await,
        TestTargetClient::from_stub(connect_batch(shared())),
    ] {
        let (square, fib, null, undefined, echoed) = tokio::join!(
            within("square", api.square(3.0)),
            within("generateFibonacci", api.generate_fibonacci(7.0)),
            within("returnNull", api.return_null()),
            within("returnUndefined", api.return_undefined()),
            within("echo", api.echo(Value::from("x"))),
        );
        assert_eq!(square.unwrap(), 9.0);
        assert_eq!(fib.unwrap(), [0.0, 1.0, 1.0, 2.0, 3.0, 5.0, 8.0]);
        assert_eq!(null.unwrap(), None);
        undefined.unwrap();
        assert_eq!(echoed.unwrap().as_str(), Some("x"));
    }
}

#[tokio::test]
async fn a_javascript_error_keeps_its_type_name() {
    let api = api().await;
    let error = t!(api.throw_error()).unwrap_err();
    assert_eq!(error.name, "RangeError");
    assert_eq!(error.message, "test error");
}

#[tokio::test]
async fn a_result_of_the_wrong_type_is_a_type_error_naming_the_method() {
    let wrong = WrongTypesClient::from_stub(connect_ws(shared()).await);
    let error = t!(wrong.square(3.0)).unwrap_err();
    assert_eq!(error.name, "TypeError");
    assert_eq!(error.message, "square: result must be a string, got 9");
    let error = t!(wrong.generate_fibonacci(3.0)).unwrap_err();
    assert!(
        error
            .message
            .starts_with("generateFibonacci: result at '[0]' must be a boolean"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn a_typed_pipelined_chain_is_one_round_trip() {
    let session = connect_ws_tapped(shared(), None).await;
    let api = TestTargetClient::from_stub(session.api.clone());
    let counter = api.make_counter(5.0);
    assert_eq!(t!(counter.increment(Some(2.0))).unwrap(), 7.0);
    // makeCounter and increment both left before the first reply, which was the only one.
    let all = session.log.all();
    let first_reply = all.iter().position(|f| f.starts_with("< ")).unwrap();
    let sent: Vec<String> = all[..first_reply]
        .iter()
        .map(|f| frame_type(&f[2..]))
        .collect();
    assert_eq!(sent, ["push", "push", "pull"], "{}", session.log.dump());
    assert_eq!(session.log.received().len(), 1, "{}", session.log.dump());
    // A property read on the still-unawaited counter promise.
    assert_eq!(t!(counter.value()).unwrap(), 7.0);
    assert_no_abort(&session.log);
}

#[tokio::test]
async fn a_rust_closure_is_a_javascript_callback() {
    let api = api().await;
    let double = Callback::new(|(x,): (f64,)| async move { Ok(x * 2.0) });
    assert_eq!(
        t!(api.call_function(double, 21.0)).unwrap(),
        Wrapped { result: 42.0 }
    );
    // Kept by the server, fired later, released on request.
    let greet = Callback::new(|(name,): (String,)| async move { Ok(format!("hi {name}")) });
    t!(api.register_callback(greet)).unwrap();
    assert_eq!(t!(api.fire_callback("ada".into())).unwrap(), "hi ada");
    assert!(t!(api.release_callback()).unwrap());
}

#[tokio::test]
async fn the_javascript_server_calls_a_typed_rust_object() {
    let api = api().await;
    let counter = CounterClient::serve(RustCounter {
        value: Mutex::new(10.0),
        calls: AtomicUsize::new(0),
    });
    assert_eq!(
        t!(api.increment_counter(&counter, Some(5.0))).unwrap(),
        15.0
    );
    // `i` missing: the JavaScript default (1) applies, and our Option sees it as a number.
    assert_eq!(t!(api.increment_counter(&counter, None)).unwrap(), 16.0);
    assert_eq!(t!(counter.value()).unwrap(), 16.0);
    // The server's own stub passed back to it, by reference.
    let this = api.clone();
    assert_eq!(
        t!(api.call_square(&this, 4.0)).unwrap(),
        Wrapped { result: 16.0 }
    );
}

#[tokio::test]
async fn typed_map_runs_where_the_list_is() {
    let api = api().await;
    let squares = t!(api
        .generate_fibonacci(7.0)
        .map(|x| api.with_promises().square(x)))
    .unwrap();
    assert_eq!(squares, [0.0, 1.0, 1.0, 4.0, 9.0, 25.0, 64.0]);
}

#[tokio::test]
async fn dropping_a_typed_client_disposes_the_javascript_object() {
    let api = api().await;
    let tag = unique_tag("typed-dispose");
    let disposable = t!(api.make_disposable(&tag)).unwrap();
    assert_eq!(t!(disposable.ping()).unwrap(), "pong");
    assert_eq!(t!(disposable.tag()).unwrap(), tag);
    let copy = disposable.clone();
    drop(disposable);
    assert_eq!(t!(api.disposed_count(&tag)).unwrap(), 0.0);
    drop(copy);
    assert_eq!(wait_disposed(shared(), &tag, 1.0).await, 1.0);
}
