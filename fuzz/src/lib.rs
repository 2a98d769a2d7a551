//! The harness shared by tether's fuzz targets: a raw peer driving a real server session over an
//! in-process pair, on one current-thread Tokio runtime made once per process, with a main
//! object whose objects count their disposers. Public tether API only.
//!
//! Every run is bounded in scheduler turns (never in wall-clock time): a run that needs more
//! turns than its bound is reported as a hang (a panic, which libFuzzer records as a crash).

pub mod gen;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use tether::session::{Quotas, SessionStats};
use tether::transport::memory::{pair, MemoryTransport};
use tether::transport::Outgoing;
use tether::{
    BoxFuture, Limits, RpcError, RpcPromise, RpcResult, RpcSession, SessionHandle, SessionOptions,
    Stub, Target, Value,
};

/// Turns without a new frame after which a session counts as idle.
pub const IDLE_TURNS: usize = 24;
/// Hard bound on the turns one settle may take.
pub const SETTLE_TURNS: usize = 4_000;
/// Hard bound on the turns from the disconnect to the end of the session and of its disposers.
pub const FINISH_TURNS: usize = 20_000;

/// The process's one runtime (current thread, time enabled for tether's write timeout).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        // Disposer failures and similar go to this hook; the harness checks outcomes itself.
        tether::set_uncaught_error_hook(|_| {});
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a Tokio runtime")
    })
}

/// Runs one fuzz input's future to completion on the shared runtime.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    runtime().block_on(future)
}

/// Session options for fuzzing: small quotas and map budget, so breaches and budget refusals
/// are reachable and every input is cheap; no grace period (nothing waits on a clock).
pub fn options() -> SessionOptions {
    SessionOptions {
        limits: Limits {
            max_map_instructions: 256,
            max_values: 512,
            ..Limits::default()
        },
        quotas: Quotas {
            max_exports: 48,
            max_imports: 24,
            max_unpulled_pushes: 24,
            max_map_runs: 512,
            max_copied_values: 64,
            ..Quotas::default()
        },
        wait_until_grace: Duration::ZERO,
        ..SessionOptions::default()
    }
}

/// Objects made by one run, and how many of their disposers ran.
#[derive(Default, Debug)]
pub struct Counters {
    pub created: AtomicUsize,
    pub disposed: AtomicUsize,
}

impl Counters {
    fn dispose_once(&self, flag: &AtomicBool, what: &str) {
        assert!(
            !flag.swap(true, Ordering::SeqCst),
            "the disposer of {what} ran twice"
        );
        let disposed = self.disposed.fetch_add(1, Ordering::SeqCst) + 1;
        let created = self.created.load(Ordering::SeqCst);
        assert!(
            disposed <= created,
            "more disposals ({disposed}) than objects ({created})"
        );
    }
}

/// An object the main object hands out: it counts its one disposal.
struct Thing {
    n: f64,
    counters: Arc<Counters>,
    disposed: AtomicBool,
}

fn thing(n: f64, counters: &Arc<Counters>) -> Stub {
    counters.created.fetch_add(1, Ordering::SeqCst);
    Stub::new(Thing {
        n,
        counters: counters.clone(),
        disposed: AtomicBool::new(false),
    })
}

fn number(args: &[Value], i: usize) -> f64 {
    args.get(i).and_then(Value::as_f64).unwrap_or(0.0)
}

impl Target for Thing {
    fn call<'a>(&'a self, method: &'a str, args: Vec<Value>) -> BoxFuture<'a, RpcResult> {
        Box::pin(async move {
            match method {
                "ping" => Ok("pong".into()),
                "value" => Ok(self.n.into()),
                "child" => Ok(thing(self.n + 1.0, &self.counters).into()),
                "echo" => Ok(args.into_iter().next().unwrap_or_default()),
                "fail" => Err(RpcError::type_error("thing failed")),
                _ => Err(RpcError::not_a_function(method)),
            }
        })
    }

    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, RpcResult> {
        Box::pin(async move {
            Ok(match name {
                "n" => self.n.into(),
                "list" => Value::array([1.into(), self.n.into(), "x".into()]),
                _ => Value::Undefined,
            })
        })
    }

    fn dispose(self: Arc<Self>) -> Option<BoxFuture<'static, RpcResult<()>>> {
        Some(Box::pin(async move {
            self.counters.dispose_once(&self.disposed, "a thing");
            Ok(())
        }))
    }
}

/// The main object every fuzzed session serves.
struct Main {
    counters: Arc<Counters>,
    kept: Arc<Mutex<Vec<Stub>>>,
    disposed: AtomicBool,
}

impl Main {
    fn nested(&self) -> Value {
        Value::object([
            ("thing", Value::from(thing(1.0, &self.counters))),
            (
                "list",
                Value::array([1.into(), "two".into(), Value::array([3.into()])]),
            ),
            (
                "inner",
                Value::object([("answer", Value::from(42)), ("flag", Value::from(true))]),
            ),
            (
                "things",
                Value::array([
                    thing(2.0, &self.counters).into(),
                    thing(3.0, &self.counters).into(),
                ]),
            ),
        ])
    }
}

impl Target for Main {
    fn call<'a>(&'a self, method: &'a str, args: Vec<Value>) -> BoxFuture<'a, RpcResult> {
        Box::pin(async move {
            match method {
                "echo" => Ok(args.into_iter().next().unwrap_or_default()),
                "echoAll" => Ok(Value::array(args)),
                "square" => Ok((number(&args, 0) * number(&args, 0)).into()),
                "make" => Ok(thing(number(&args, 0), &self.counters).into()),
                "makeMany" => {
                    let n = (number(&args, 0).max(0.0) as usize).min(8);
                    Ok(Value::array(
                        (0..n).map(|i| thing(i as f64, &self.counters).into()),
                    ))
                }
                "sameTwice" => {
                    let stub = thing(7.0, &self.counters);
                    Ok(Value::array([stub.clone().into(), stub.into()]))
                }
                "nested" => Ok(self.nested()),
                "numbers" => {
                    let n = (number(&args, 0).max(0.0) as usize).min(16);
                    Ok(Value::array((0..n).map(|i| Value::from(i as f64))))
                }
                "promise" => Ok(Value::object([(
                    "later",
                    Value::from(RpcPromise::resolved(thing(9.0, &self.counters).into())),
                )])),
                "keep" => {
                    let mut kept = 0;
                    for arg in args {
                        if let Some(stub) = arg.into_stub() {
                            self.kept.lock().expect("kept").push(stub);
                            kept += 1;
                        }
                    }
                    Ok(kept.into())
                }
                "drop" => {
                    let dropped = std::mem::take(&mut *self.kept.lock().expect("kept"));
                    Ok(dropped.len().into())
                }
                "call" => {
                    let mut args = args.into_iter();
                    let callee = args
                        .next()
                        .and_then(Value::into_stub)
                        .ok_or_else(|| RpcError::type_error("function expected"))?;
                    callee.invoke(args.collect()).await
                }
                "callKept" => {
                    let callee = self.kept.lock().expect("kept").last().cloned();
                    let callee = callee.ok_or_else(|| RpcError::error("nothing kept"))?;
                    callee.invoke(args).await
                }
                "ping" => {
                    let callee = args
                        .first()
                        .and_then(Value::as_stub)
                        .cloned()
                        .ok_or_else(|| RpcError::type_error("stub expected"))?;
                    let answer = callee.call("ping", vec![]).await?;
                    Ok(Value::object([("answer", answer)]))
                }
                "throw" => Err(RpcError::range_error("test error")),
                _ => Err(RpcError::not_a_function(method)),
            }
        })
    }

    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, RpcResult> {
        Box::pin(async move {
            Ok(match name {
                "version" => "1.0".into(),
                "nested" => self.nested(),
                "list" => Value::array((0..5).map(|i| Value::from(i as f64))),
                _ => Value::Undefined,
            })
        })
    }

    fn dispose(self: Arc<Self>) -> Option<BoxFuture<'static, RpcResult<()>>> {
        Some(Box::pin(async move {
            self.counters
                .dispose_once(&self.disposed, "the main object");
            // What the peer made it keep goes with it.
            let kept = std::mem::take(&mut *self.kept.lock().expect("kept"));
            drop(kept);
            Ok(())
        }))
    }
}

/// A raw peer driving one server session by hand.
pub struct Peer {
    raw: Option<MemoryTransport>,
    /// Every frame the server sent, in order.
    pub received: Vec<String>,
    /// The server sent an `abort`.
    pub aborted: bool,
    /// The server closed its end.
    pub closed: bool,
    driver: tokio::task::JoinHandle<RpcResult<()>>,
    handle: SessionHandle,
    counters: Arc<Counters>,
    kept: Arc<Mutex<Vec<Stub>>>,
}

/// How a run ended.
pub struct Outcome {
    /// What the driver returned.
    pub result: RpcResult<()>,
    /// Every frame the server sent.
    pub received: Vec<String>,
    /// The server sent an `abort`.
    pub aborted: bool,
    /// The session's counters after its end.
    pub stats: SessionStats,
}

/// Message tags a server may send.
const TAGS: [&str; 7] = [
    "push", "pull", "resolve", "reject", "release", "abort", "stream",
];

impl Peer {
    /// Opens a server session serving a fresh main object. Call inside the runtime.
    pub fn start(options: SessionOptions) -> Self {
        let counters = Arc::new(Counters::default());
        let kept = Arc::new(Mutex::new(Vec::new()));
        counters.created.fetch_add(1, Ordering::SeqCst);
        let main = Stub::new(Main {
            counters: counters.clone(),
            kept: kept.clone(),
            disposed: AtomicBool::new(false),
        });
        let (raw, server_end) = pair();
        let (_peer_main, driver) = RpcSession::open(server_end, Some(main), options);
        let handle = driver.handle();
        let driver = tokio::spawn(std::future::IntoFuture::into_future(driver));
        Self {
            raw: Some(raw),
            received: Vec::new(),
            aborted: false,
            closed: false,
            driver,
            handle,
            counters,
            kept,
        }
    }

    /// The session's counters now.
    pub fn stats(&self) -> SessionStats {
        self.handle.stats()
    }

    /// Sends one frame (the in-process sink is always ready, so this completes at once).
    pub fn send(&mut self, text: String) {
        if let Some(raw) = &mut self.raw {
            // An error means the server end is gone: the session ended, which is allowed.
            let _ = raw.send(Outgoing::Message(text)).now_or_never();
        }
    }

    /// Reads what has arrived; true if anything did.
    fn drain(&mut self) -> bool {
        let mut got = false;
        let Some(raw) = &mut self.raw else {
            return false;
        };
        while let Some(item) = raw.next().now_or_never() {
            match item {
                Some(Ok(frame)) => {
                    let text = frame.to_string();
                    check_frame(&text, self.aborted, &self.received);
                    if text.starts_with("[\"abort\"") {
                        self.aborted = true;
                    }
                    self.received.push(text);
                    got = true;
                }
                Some(Err(error)) => panic!("the in-process transport failed: {error}"),
                None => {
                    self.closed = true;
                    break;
                }
            }
        }
        got
    }

    /// Lets the session run until it is idle (no frame for [`IDLE_TURNS`] turns), closed, or
    /// `max_turns` passed. Returns the turns taken.
    pub async fn settle(&mut self, max_turns: usize) -> usize {
        self.settle_until(max_turns, IDLE_TURNS, |_| false).await
    }

    /// Like [`Peer::settle`], also stopping once `done` holds of the frames received; `idle`
    /// turns without a frame also stop it (pass `usize::MAX` to wait for `done` alone).
    pub async fn settle_until(
        &mut self,
        max_turns: usize,
        idle: usize,
        mut done: impl FnMut(&[String]) -> bool,
    ) -> usize {
        let mut quiet = 0;
        for turn in 1..=max_turns {
            tokio::task::yield_now().await;
            if self.drain() {
                quiet = 0;
            } else {
                quiet += 1;
            }
            if self.closed || done(&self.received) || quiet >= idle {
                return turn;
            }
        }
        max_turns
    }

    /// Disconnects and checks the end: the driver returns within [`FINISH_TURNS`], the tables
    /// are empty, every disposer runs exactly once and no task is left behind.
    pub async fn finish(mut self) -> Outcome {
        self.drain();
        self.raw = None; // The disconnect.
        let mut turns = 0;
        let result = loop {
            if let Some(joined) = (&mut self.driver).now_or_never() {
                break joined.expect("the session task panicked");
            }
            assert!(
                turns < FINISH_TURNS,
                "hang: the session did not end within {FINISH_TURNS} turns of the disconnect; received {:?}",
                self.received
            );
            tokio::task::yield_now().await;
            turns += 1;
        };
        let stats = self.handle.stats();
        assert!(
            self.handle.is_closed(),
            "the handle says the session runs on"
        );
        assert_eq!(stats.exports, 0, "exports left after the end: {stats:?}");
        assert_eq!(stats.imports, 0, "imports left after the end: {stats:?}");
        // Break the cycles a peer can make on purpose (the main object keeping a stub of itself).
        let kept = std::mem::take(&mut *self.kept.lock().expect("kept"));
        drop(kept);
        let metrics = tokio::runtime::Handle::current().metrics();
        for turn in 0.. {
            let created = self.counters.created.load(Ordering::SeqCst);
            let disposed = self.counters.disposed.load(Ordering::SeqCst);
            if created == disposed && metrics.num_alive_tasks() == 0 {
                break;
            }
            assert!(
                turn < FINISH_TURNS,
                "after the end: {disposed} of {created} disposers ran, {} tasks still alive; received {:?}",
                metrics.num_alive_tasks(),
                self.received
            );
            tokio::task::yield_now().await;
        }
        Outcome {
            result,
            received: self.received,
            aborted: self.aborted,
            stats,
        }
    }
}

/// What every frame a server sends must be: JSON, an array tagged with a message type, and
/// nothing after an `abort`.
fn check_frame(text: &str, after_abort: bool, before: &[String]) {
    assert!(
        !after_abort,
        "a frame after the abort: {text}; before: {before:?}"
    );
    let json: serde_json::Value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("the server sent invalid JSON ({e}): {text}"));
    let tag = json.get(0).and_then(serde_json::Value::as_str);
    assert!(
        tag.is_some_and(|tag| TAGS.contains(&tag)),
        "the server sent a frame that is no message: {text}"
    );
}

/// True if `text` is a message the server takes as the peer's abort (which it does not answer).
pub fn is_peer_abort(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|json| json.get(0).and_then(|t| t.as_str().map(|t| t == "abort")))
        .unwrap_or(false)
}

/// The common end-of-run assertion: an ended session that failed told the peer why, unless the
/// peer aborted it itself.
pub fn check_outcome(outcome: &Outcome, peer_aborted: bool) {
    if let Err(error) = &outcome.result {
        assert!(
            outcome.aborted || peer_aborted,
            "the session ended with {error:?} but sent no abort; received {:?}",
            outcome.received
        );
    }
    if outcome.aborted {
        assert!(
            outcome.result.is_err(),
            "the session sent an abort but its driver returned Ok"
        );
    }
}
