//! The typed API's ownership rules, across a real connection (issue 5, item 5), and the forms of
//! member it accepts beyond `async fn` (plain `fn` methods, getters and disposers; parameters by
//! reference; `Arc<T>` served as several lineages; per-parameter names in errors).
//!
//! | parameter or result | lifecycle |
//! | --- | --- |
//! | `p: ProbeClient` (by value) | owned by the method: kept if stored, released at return if dropped |
//! | `p: &ProbeClient` (by reference) | lent for the call: released at return unless duplicated (`clone`) |
//! | `-> ProbeClient` | moved into the result: the caller holds the only reference |
//!
//! Every probe lives on the client; its disposer counts how often it ran, so each test sees
//! exactly when the server's reference is gone.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use tether::{RpcError, Value};

/// An object whose disposer is counted (plain `fn` members: no `async` needed).
#[tether::interface]
pub trait Probe {
    /// `"pong"`.
    fn ping(&self) -> String;
    /// How many times `ping` ran on this object.
    #[getter]
    fn pings(&self) -> u32;
    /// Counts the disposal.
    #[dispose]
    fn gone(&self);
}

#[derive(Default)]
struct ProbeImpl {
    pings: AtomicUsize,
    disposed: Arc<AtomicUsize>,
}

impl ProbeImpl {
    fn new(disposed: &Arc<AtomicUsize>) -> Self {
        Self {
            pings: AtomicUsize::new(0),
            disposed: disposed.clone(),
        }
    }
}

impl Probe for ProbeImpl {
    fn ping(&self) -> String {
        self.pings.fetch_add(1, Ordering::SeqCst);
        "pong".to_owned()
    }
    fn pings(&self) -> u32 {
        self.pings.load(Ordering::SeqCst) as u32
    }
    fn gone(&self) {
        self.disposed.fetch_add(1, Ordering::SeqCst);
    }
}

/// The server: takes probes in every form, and hands them out.
#[tether::interface]
pub trait Keeper {
    /// By value, stored until `forget`.
    fn keep(&self, probe: ProbeClient);
    /// By value, used and dropped.
    async fn use_once(&self, probe: ProbeClient) -> Result<String, RpcError>;
    /// By reference, used for the call.
    async fn borrow(&self, probe: &ProbeClient) -> Result<String, RpcError>;
    /// By reference, duplicated and stored until `forget`.
    fn borrow_and_keep(&self, probe: &ProbeClient);
    /// Drops the stored probe: whether there was one.
    fn forget(&self) -> bool;
    /// Moves the stored probe into the result.
    fn give_back(&self) -> Option<ProbeClient>;
    /// A new server-side probe, moved into the result.
    fn make_probe(&self) -> ProbeClient;
    /// `n` stubs of one shared server-side probe, each a lineage of its own.
    fn hand_out(&self, n: u32) -> Vec<ProbeClient>;
    /// Borrowed data: `&[T]` and `&str`; the first parameter is `parts` in errors.
    fn join(&self, #[rename = "parts"] words: &[String], sep: &str) -> String;
    /// A default body in a plain `fn`.
    fn answer(&self) -> i32 {
        42
    }
}

struct KeeperImpl {
    kept: Mutex<Option<ProbeClient>>,
    /// Disposals of server-side probes (`make_probe`, `hand_out`).
    disposed: Arc<AtomicUsize>,
    shared: Arc<ProbeImpl>,
}

impl KeeperImpl {
    fn new() -> Self {
        let disposed = Arc::new(AtomicUsize::new(0));
        Self {
            kept: Mutex::new(None),
            shared: Arc::new(ProbeImpl::new(&disposed)),
            disposed,
        }
    }

    fn store(&self, probe: Option<ProbeClient>) -> Option<ProbeClient> {
        std::mem::replace(&mut *self.kept.lock().unwrap(), probe)
    }
}

impl Keeper for KeeperImpl {
    fn keep(&self, probe: ProbeClient) {
        self.store(Some(probe));
    }
    async fn use_once(&self, probe: ProbeClient) -> Result<String, RpcError> {
        probe.ping().await
    }
    async fn borrow(&self, probe: &ProbeClient) -> Result<String, RpcError> {
        probe.ping().await
    }
    fn borrow_and_keep(&self, probe: &ProbeClient) {
        self.store(Some(probe.clone()));
    }
    fn forget(&self) -> bool {
        self.store(None).is_some()
    }
    fn give_back(&self) -> Option<ProbeClient> {
        self.store(None)
    }
    fn make_probe(&self) -> ProbeClient {
        ProbeClient::serve(ProbeImpl::new(&self.disposed))
    }
    fn hand_out(&self, n: u32) -> Vec<ProbeClient> {
        (0..n)
            .map(|_| ProbeClient::serve(Arc::clone(&self.shared)))
            .collect()
    }
    fn join(&self, words: &[String], sep: &str) -> String {
        words.join(sep)
    }
}

struct Setup {
    conn: Connection,
    keeper: KeeperClient,
    /// Disposals of server-side probes.
    server_disposed: Arc<AtomicUsize>,
}

fn setup() -> Setup {
    let keeper = KeeperImpl::new();
    let server_disposed = keeper.disposed.clone();
    let conn = connect(KeeperClient::serve(keeper).into());
    let keeper = KeeperClient::from(conn.api.clone());
    Setup {
        conn,
        keeper,
        server_disposed,
    }
}

/// A client-side probe and its disposal count.
fn probe() -> (ProbeClient, Arc<AtomicUsize>) {
    let disposed = Arc::new(AtomicUsize::new(0));
    (ProbeClient::serve(ProbeImpl::new(&disposed)), disposed)
}

fn count(n: &AtomicUsize) -> usize {
    n.load(Ordering::SeqCst)
}

#[tokio::test]
async fn plain_fn_methods_getters_disposers_and_default_bodies_work_like_async_ones() {
    let s = setup();
    assert_eq!(s.keeper.answer().await.unwrap(), 42);
    let words = vec!["a".to_owned(), "b".to_owned()];
    assert_eq!(s.keeper.join(&words, "+").await.unwrap(), "a+b");
    let probe = s.keeper.make_probe();
    assert_eq!(probe.ping().await.unwrap(), "pong");
    assert_eq!(probe.pings().await.unwrap(), 1);
    drop(probe);
    wait_until("the plain fn disposer ran", || {
        count(&s.server_disposed) == 1
    })
    .await;
}

#[tokio::test]
async fn a_stub_taken_by_value_is_kept_when_the_method_stores_it() {
    let s = setup();
    let (probe, disposed) = probe();
    s.keeper.keep(probe).await.unwrap();
    // A round trip later the server still holds it: nothing was released.
    assert_eq!(s.keeper.answer().await.unwrap(), 42);
    assert_eq!(count(&disposed), 0);
    assert!(!s.conn.log.received().iter().any(|f| f.contains("release")));
    assert!(s.keeper.forget().await.unwrap());
    wait_until("the stored probe was released", || count(&disposed) == 1).await;
}

#[tokio::test]
async fn a_stub_taken_by_value_and_dropped_is_released_when_the_call_returns() {
    let s = setup();
    let (probe, disposed) = probe();
    assert_eq!(s.keeper.use_once(probe).await.unwrap(), "pong");
    wait_until("the dropped probe was released", || count(&disposed) == 1).await;
}

#[tokio::test]
async fn a_stub_taken_by_reference_is_released_at_return_and_the_callers_copy_lives_on() {
    let s = setup();
    let (probe, disposed) = probe();
    assert_eq!(s.keeper.borrow(&probe).await.unwrap(), "pong");
    // The server released its import when the call returned...
    wait_until("the server released the borrowed probe", || {
        s.conn
            .log
            .received()
            .iter()
            .any(|f| f.contains(r#"["release",-1,1]"#))
    })
    .await;
    // ...but the caller's stub is untouched, so the object lives.
    assert_eq!(count(&disposed), 0);
    assert_eq!(probe.pings().await.unwrap(), 1);
    drop(probe);
    wait_until("the last stub is gone", || count(&disposed) == 1).await;
}

#[tokio::test]
async fn a_stub_taken_by_reference_and_duplicated_outlives_the_call() {
    let s = setup();
    let (probe, disposed) = probe();
    s.keeper.borrow_and_keep(&probe).await.unwrap();
    drop(probe);
    assert_eq!(s.keeper.answer().await.unwrap(), 42);
    assert_eq!(count(&disposed), 0, "the server's duplicate keeps it");
    assert!(s.keeper.forget().await.unwrap());
    wait_until("the duplicate was released", || count(&disposed) == 1).await;
}

#[tokio::test]
async fn returning_a_stub_moves_it_into_the_result() {
    let s = setup();
    // A new server object: the result is its only reference.
    let made = s.keeper.make_probe().await.unwrap();
    assert_eq!(made.ping().await.unwrap(), "pong");
    assert_eq!(count(&s.server_disposed), 0);
    drop(made);
    wait_until("the returned probe was disposed", || {
        count(&s.server_disposed) == 1
    })
    .await;

    // A stored stub moved out: the server no longer holds it, the caller's result does.
    let (probe, disposed) = probe();
    s.keeper.keep(probe).await.unwrap();
    let back = s.keeper.give_back().await.unwrap().expect("a stored probe");
    assert!(!s.keeper.forget().await.unwrap(), "the server kept nothing");
    assert_eq!(back.ping().await.unwrap(), "pong");
    assert_eq!(count(&disposed), 0);
    drop(back);
    wait_until("the moved probe was disposed once", || {
        count(&disposed) == 1
    })
    .await;
    assert_eq!(s.keeper.answer().await.unwrap(), 42);
    assert_eq!(count(&disposed), 1);
}

#[tokio::test]
async fn an_arc_served_several_times_is_one_object_in_several_lineages() {
    let s = setup();
    let mut stubs = s.keeper.hand_out(3).await.unwrap();
    assert_eq!(stubs.len(), 3);
    for stub in &stubs {
        assert_eq!(stub.ping().await.unwrap(), "pong");
    }
    // One object: every lineage sees all three pings.
    assert_eq!(stubs[0].pings().await.unwrap(), 3);
    // One disposal per lineage, each when its own last stub goes (rule L4).
    drop(stubs.pop());
    wait_until("one lineage disposed", || count(&s.server_disposed) == 1).await;
    assert_eq!(stubs[1].pings().await.unwrap(), 3);
    drop(stubs);
    wait_until("every lineage disposed", || count(&s.server_disposed) == 3).await;
}

#[tokio::test]
async fn a_renamed_parameter_is_named_by_its_javascript_name_in_errors() {
    let s = setup();
    let error = s
        .keeper
        .stub()
        .call("join", vec![Value::from(1), Value::from("-")])
        .await
        .unwrap_err();
    assert_eq!(error.name, "TypeError");
    assert!(
        error.message.starts_with("join: parameter 'parts' must be"),
        "{}",
        error.message
    );
    let error = s
        .keeper
        .stub()
        .call("join", vec![Value::array([Value::from("a")])])
        .await
        .unwrap_err();
    assert_eq!(error.message, "join: missing required parameter 'sep'");
}

/// Plain `fn` disposers that fail: one returns an error, one panics.
#[tether::interface]
pub trait Fragile {
    /// `"ok"`.
    fn ping(&self) -> String;
    /// Fails as its mode says.
    #[dispose]
    fn gone(&self) -> Result<(), RpcError>;
}

struct FragileImpl {
    tag: String,
    panics: bool,
}

impl Fragile for FragileImpl {
    fn ping(&self) -> String {
        "ok".to_owned()
    }
    fn gone(&self) -> Result<(), RpcError> {
        if self.panics {
            panic!("disposer of {} panicked", self.tag);
        }
        Err(RpcError::error(format!("disposer of {} failed", self.tag)))
    }
}

#[tokio::test]
async fn a_plain_fn_disposer_runs_in_place_and_its_failures_reach_the_uncaught_hook() {
    let reported = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = reported.clone();
    tether::set_uncaught_error_hook(move |e: &RpcError| {
        sink.lock().unwrap().push(e.message.clone())
    });
    let s = setup();
    for panics in [false, true] {
        let tag = tag("fragile");
        // Served by the client, used and released by the server: the disposer runs in the
        // client's session when the server's release arrives.
        let fragile = FragileClient::serve(FragileImpl {
            tag: tag.clone(),
            panics,
        });
        let probe_like = ProbeClient::from_stub(fragile.into_stub());
        assert_eq!(s.keeper.use_once(probe_like).await.unwrap(), "ok");
        wait_until("the failure was reported", || {
            reported.lock().unwrap().iter().any(|m| m.contains(&tag))
        })
        .await;
    }
    // The session goes on.
    assert_eq!(s.keeper.answer().await.unwrap(), 42);
}
