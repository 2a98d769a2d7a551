//! Property test of the lifecycle rules (L1-L7, L10, L12 of SYSTEM.md) across a real session.
//!
//! A client and a server session talk over `transport::memory::pair()`. Proptest generates a
//! random sequence of [`Op`]s: the client makes objects on the server, makes local objects of its
//! own (callbacks), duplicates and disposes its stubs, passes them to the server (which keeps or
//! drops them, or echoes them back), has the server return, release, call and pass on the stubs
//! it keeps (so stubs also travel from the server to the client, and calls go both ways), drops
//! promises it never awaited, and disconnects (in five ways). Every object has a unique id and a
//! disposer that counts its runs per id.
//!
//! Checked, for every sequence:
//!
//! * while a stub is held (and can still reach its target) it answers with its object's id, and
//!   that object's disposer has not run (never early);
//! * once every stub is gone, every object's disposer has run exactly once per lineage (never
//!   zero, never twice), and a while later it still has (no late second run);
//! * when the sequence ends connected, that holds *before* any disconnect, so the refcounts were
//!   exact, and the wire shows empty tables: every import id either side pushed and every export
//!   id either side introduced was released exactly as often as it was introduced. Then the
//!   disconnect runs the main object's disposer once and changes nothing else;
//! * after a disconnect, calls fail, stubs passed to them are released anyway, and every object
//!   is still disposed exactly once.
//!
//! There is no public API to read the session tables' sizes; the disposer counts and the release
//! frames seen on the wire stand in for it. Disposers run asynchronously, so the test waits for
//! them with a bounded poll, never a fixed sleep.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::collections::BTreeMap;
use std::future::IntoFuture;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use tether::dispose::Disposable;
use tether::transport::memory;
use tether::transport::tap::{FrameLog, Tap};
use tether::{
    BoxFuture, RpcError, RpcPromise, RpcResult, RpcSession, SessionHandle, SessionOptions, Stub,
    Target, Value,
};

// ---------------------------------------------------------------------------------------------
// The objects and their disposer counts.

/// Where an object's target lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Home {
    Client,
    Server,
}

#[derive(Debug)]
struct Object {
    home: Home,
    /// How many lineages were made of it: how often its disposer must run.
    lineages: usize,
    disposed: usize,
}

/// Every object made in one test case, by id. Shared by both sides (they are in one process).
#[derive(Default, Debug)]
struct Registry(Mutex<Vec<Object>>);

impl Registry {
    fn register(&self, home: Home, lineages: usize) -> usize {
        let mut objects = self.0.lock().unwrap();
        objects.push(Object {
            home,
            lineages,
            disposed: 0,
        });
        objects.len() - 1
    }

    fn disposed(&self, id: usize) {
        self.0.lock().unwrap()[id].disposed += 1;
    }

    fn count(&self, id: usize) -> (usize, usize) {
        let objects = self.0.lock().unwrap();
        (objects[id].disposed, objects[id].lineages)
    }

    /// Objects (other than `except`) whose disposer has not run exactly once per lineage.
    fn wrong(&self, except: Option<usize>) -> Vec<(usize, &'static str, usize, usize)> {
        let objects = self.0.lock().unwrap();
        let name = |home| match home {
            Home::Client => "client",
            Home::Server => "server",
        };
        (0..objects.len())
            .filter(|&id| Some(id) != except)
            .map(|id| (id, &objects[id]))
            .filter(|(_, o)| o.disposed != o.lineages)
            .map(|(id, o)| (id, name(o.home), o.disposed, o.lineages))
            .collect()
    }

    /// How many disposer runs there were in all.
    fn runs(&self) -> usize {
        self.0.lock().unwrap().iter().map(|o| o.disposed).sum()
    }

    /// Panics if any disposer ran more often than its object has lineages.
    fn assert_never_twice(&self) {
        let objects = self.0.lock().unwrap();
        for (id, o) in objects.iter().enumerate() {
            assert!(
                o.disposed <= o.lineages,
                "object {id} ({:?}) disposed {} times for {} lineage(s)",
                o.home,
                o.disposed,
                o.lineages
            );
        }
    }
}

/// A disposable object: `ping` answers its id; `take` calls `ping` on the stub it is given (and
/// drops it when it returns, rule L6).
struct Res {
    id: usize,
    registry: Arc<Registry>,
}

impl Target for Res {
    fn call<'a>(&'a self, method: &'a str, args: Vec<Value>) -> BoxFuture<'a, RpcResult> {
        Box::pin(async move {
            match method {
                "ping" => Ok(self.id.into()),
                "take" => {
                    let stub = args.into_iter().find_map(Value::into_stub);
                    let stub = stub.ok_or_else(|| RpcError::type_error("a stub expected"))?;
                    stub.call("ping", vec![]).await
                }
                _ => Err(RpcError::not_a_function(method)),
            }
        })
    }

    fn dispose(self: Arc<Self>) -> Option<BoxFuture<'static, RpcResult<()>>> {
        Some(Box::pin(async move {
            self.registry.disposed(self.id);
            Ok(())
        }))
    }
}

fn res(registry: &Arc<Registry>, home: Home) -> (usize, Res) {
    let id = registry.register(home, 1);
    let registry = registry.clone();
    (id, Res { id, registry })
}

// ---------------------------------------------------------------------------------------------
// The server's main object.

/// Makes objects, keeps the stubs it is given (with the id the client sends along), returns,
/// releases, calls and passes on what it keeps. Its own disposer counts too: it runs when the
/// server session ends.
struct Hub {
    id: usize,
    registry: Arc<Registry>,
    kept: Mutex<Vec<(usize, Stub)>>,
}

fn index(args: &[Value], i: usize) -> usize {
    args.get(i).and_then(Value::as_f64).unwrap_or(0.0) as usize
}

/// `[id, stub]`, as the client passes a stub along with its id.
fn id_and_stub(args: Vec<Value>) -> RpcResult<(usize, Stub)> {
    let id = index(&args, 0);
    let stub = args.into_iter().nth(1).and_then(Value::into_stub);
    Ok((
        id,
        stub.ok_or_else(|| RpcError::type_error("a stub expected"))?,
    ))
}

impl Hub {
    /// A duplicate of kept stub `k` (modulo the number kept), and its id.
    fn kept(&self, k: usize) -> RpcResult<(usize, Stub)> {
        let kept = self.kept.lock().unwrap();
        if kept.is_empty() {
            return Err(RpcError::range_error("nothing kept"));
        }
        let (id, stub) = &kept[k % kept.len()];
        Ok((*id, stub.clone()))
    }
}

impl Target for Hub {
    fn call<'a>(&'a self, method: &'a str, args: Vec<Value>) -> BoxFuture<'a, RpcResult> {
        Box::pin(async move {
            match method {
                "ping" => Ok("pong".into()),
                // A new object; with `keep`, the server keeps a duplicate (same lineage).
                "make" => {
                    let (id, target) = res(&self.registry, Home::Server);
                    let stub = Stub::new(target);
                    if args.first().and_then(Value::as_bool) == Some(true) {
                        self.kept.lock().unwrap().push((id, stub.clone()));
                    }
                    Ok(Value::array([id.into(), stub.into()]))
                }
                // One lineage, sent twice in one result (rule L4: one disposer run).
                "makeShared" => {
                    let (id, target) = res(&self.registry, Home::Server);
                    let stub = Stub::new(target);
                    Ok(Value::array([id.into(), stub.clone().into(), stub.into()]))
                }
                // One target, two lineages (rule L4: two disposer runs).
                "makeTwoLineages" => {
                    let id = self.registry.register(Home::Server, 2);
                    let registry = self.registry.clone();
                    let target: Arc<dyn Target> = Arc::new(Res { id, registry });
                    let first = Stub::from_arc(target.clone());
                    Ok(Value::array([
                        id.into(),
                        first.into(),
                        Stub::from_arc(target).into(),
                    ]))
                }
                "keep" => {
                    let kept = id_and_stub(args)?;
                    self.kept.lock().unwrap().push(kept);
                    Ok(Value::Undefined)
                }
                // Drops what it is given when it returns (rule L6).
                "drop" => Ok(Value::Undefined),
                "echo" => Ok(Value::Array(args)),
                "return" => {
                    let (id, stub) = self.kept(index(&args, 0))?;
                    Ok(Value::array([id.into(), stub.into()]))
                }
                "release" => {
                    let mut kept = self.kept.lock().unwrap();
                    if kept.is_empty() {
                        return Err(RpcError::range_error("nothing kept"));
                    }
                    let k = index(&args, 0) % kept.len();
                    Ok(kept.remove(k).0.into())
                }
                // Calls a kept stub: a callback into the client when it is the client's object.
                "serverCall" => {
                    let (_, stub) = self.kept(index(&args, 0))?;
                    stub.call("ping", vec![]).await
                }
                // Passes a duplicate of one kept stub in a call on another, which drops it.
                "serverPassTo" => {
                    let (_, from) = self.kept(index(&args, 0))?;
                    let (_, to) = self.kept(index(&args, 1))?;
                    to.call("take", vec![from.into()]).await
                }
                "forgetAll" => {
                    let kept = std::mem::take(&mut *self.kept.lock().unwrap());
                    drop(kept);
                    Ok(Value::Undefined)
                }
                _ => Err(RpcError::not_a_function(method)),
            }
        })
    }

    fn dispose(self: Arc<Self>) -> Option<BoxFuture<'static, RpcResult<()>>> {
        Some(Box::pin(async move {
            self.registry.disposed(self.id);
            Ok(())
        }))
    }
}

// ---------------------------------------------------------------------------------------------
// The operations.

/// How a session is ended.
#[derive(Clone, Copy, Debug)]
enum How {
    /// The client's session task is aborted (the connection drops).
    AbortClient,
    /// The server's session task is aborted.
    AbortServer,
    /// `SessionHandle::shutdown` on the client, no grace period.
    ShutdownClient,
    /// `SessionHandle::shutdown` on the server, no grace period.
    ShutdownServer,
    /// The client drops its main stub (`close_when_main_dropped`).
    DropMain,
}

/// One step. Indices pick a held stub (or a kept one, on the server) modulo how many there are;
/// a step that needs a stub when there is none does nothing.
#[derive(Clone, Debug)]
enum Op {
    /// The server makes an object and returns it; with `keep` it keeps a duplicate.
    Make { keep: bool },
    /// The server makes one lineage and returns it twice.
    MakeShared,
    /// The server makes one target as two lineages and returns both.
    MakeTwoLineages,
    /// A `make` whose promise is dropped unawaited (rule L12), after a pipelined call on it if
    /// `pipelined`.
    MakeUnawaited { pipelined: bool },
    /// The client makes an object of its own (a callback target for the server).
    NewLocal,
    /// `Clone` (rule L3).
    Dup(usize),
    /// `Stub::dispose` (rule L1).
    Dispose(usize),
    /// `Disposable::dispose` twice, then drop: never over-releases (rule L2).
    DisposeTwiceViaTrait(usize),
    /// Calls the stub; it answers its id (or fails, once its session is gone).
    Call(usize),
    /// Passes the stub (a duplicate if `dup`, else the stub itself, rule L5) to the server, which
    /// keeps it or drops it at return (rule L6).
    Pass { i: usize, keep: bool, dup: bool },
    /// Passes the stub to the server, which returns it (rule L7).
    Echo { i: usize, dup: bool },
    /// The server returns a duplicate of a stub it keeps.
    Return(usize),
    /// The server drops a stub it keeps.
    Release(usize),
    /// The server calls a stub it keeps.
    ServerCall(usize),
    /// The server passes a kept stub in a call on another kept stub.
    ServerPassTo { from: usize, to: usize },
    /// Ends the session (rule L10). Later steps run on broken references.
    Disconnect(How),
}

fn how() -> impl Strategy<Value = How> {
    prop_oneof![
        Just(How::AbortClient),
        Just(How::AbortServer),
        Just(How::ShutdownClient),
        Just(How::ShutdownServer),
        Just(How::DropMain),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let ix = || 0usize..8;
    prop_oneof![
        4 => any::<bool>().prop_map(|keep| Op::Make { keep }),
        1 => Just(Op::MakeShared),
        1 => Just(Op::MakeTwoLineages),
        1 => any::<bool>().prop_map(|pipelined| Op::MakeUnawaited { pipelined }),
        3 => Just(Op::NewLocal),
        3 => ix().prop_map(Op::Dup),
        3 => ix().prop_map(Op::Dispose),
        1 => ix().prop_map(Op::DisposeTwiceViaTrait),
        2 => ix().prop_map(Op::Call),
        5 => (ix(), any::<bool>(), any::<bool>()).prop_map(|(i, keep, dup)| Op::Pass { i, keep, dup }),
        2 => (ix(), any::<bool>()).prop_map(|(i, dup)| Op::Echo { i, dup }),
        3 => ix().prop_map(Op::Return),
        3 => ix().prop_map(Op::Release),
        2 => ix().prop_map(Op::ServerCall),
        2 => (ix(), ix()).prop_map(|(from, to)| Op::ServerPassTo { from, to }),
        1 => how().prop_map(Op::Disconnect),
    ]
}

// ---------------------------------------------------------------------------------------------
// Running a sequence.

/// A stub the client holds, with its object's id and home.
struct Held {
    id: usize,
    home: Home,
    /// It reaches its target without the session: a local object's own stub. Stubs that come in
    /// a result are imports, even for the client's own objects: tether hands a peer's own stubs
    /// back in resolutions as proxies (capnweb cannot await an `["import", id]` there).
    direct: bool,
    stub: Stub,
}

struct Session {
    handle: SessionHandle,
    task: Option<tokio::task::JoinHandle<RpcResult<()>>>,
}

impl Session {
    fn spawn(driver: tether::SessionDriver) -> Session {
        Session {
            handle: driver.handle(),
            task: Some(tokio::spawn(driver.into_future())),
        }
    }

    async fn ended(&mut self, who: &str) {
        if let Some(task) = self.task.take() {
            let end = tokio::time::timeout(Duration::from_secs(10), task).await;
            assert!(end.is_ok(), "the {who} session did not end");
        }
    }
}

struct World {
    registry: Arc<Registry>,
    hub_id: usize,
    /// The client's stub of the server's main object; `None` once dropped (`How::DropMain`).
    hub: Option<Stub>,
    held: Vec<Held>,
    /// What the server keeps, as the client expects it: (id, home), in the server's order.
    kept: Vec<(usize, Home)>,
    connected: bool,
    client: Session,
    server: Session,
    /// The client's frames, both ways.
    log: FrameLog,
}

impl World {
    fn start() -> World {
        let registry = Arc::new(Registry::default());
        let hub_id = registry.register(Home::Server, 1);
        let hub = Hub {
            id: hub_id,
            registry: registry.clone(),
            kept: Mutex::default(),
        };
        let (client_end, server_end) = memory::pair();
        let log = FrameLog::default();
        let (_, server) =
            RpcSession::open(server_end, Some(Stub::new(hub)), SessionOptions::default());
        let options = SessionOptions {
            close_when_main_dropped: true,
            ..SessionOptions::default()
        };
        let (hub, client) = RpcSession::open(Tap::new(client_end, log.clone()), None, options);
        World {
            registry,
            hub_id,
            hub: Some(hub),
            held: Vec::new(),
            kept: Vec::new(),
            connected: true,
            client: Session::spawn(client),
            server: Session::spawn(server),
            log,
        }
    }

    /// What changes while anything happens: disposer runs and frames.
    fn progress(&self) -> (usize, usize) {
        (self.registry.runs(), self.log.all().len())
    }

    /// Calls the server's main object; `None` (the arguments dropped) once the client dropped it.
    fn hub(&self, method: &str, args: Vec<Value>) -> Option<RpcPromise> {
        self.hub.as_ref().map(|hub| hub.call(method, args))
    }

    /// Calls the server's main object and awaits the result, which must be `Ok` while connected
    /// and an error after a disconnect. `None` after a disconnect.
    async fn hub_await(&self, method: &str, args: Vec<Value>) -> Option<Value> {
        let result = match self.hub(method, args) {
            Some(promise) => promise.await,
            None => Err(RpcError::error("main stub dropped")),
        };
        if self.connected {
            Some(result.unwrap_or_else(|e| panic!("{method} failed while connected: {e}")))
        } else {
            assert!(result.is_err(), "{method} succeeded after a disconnect");
            None
        }
    }

    fn pick(&self, i: usize) -> Option<usize> {
        (!self.held.is_empty()).then(|| i % self.held.len())
    }

    fn kept_at(&self, k: usize) -> Option<(usize, Home)> {
        (!self.kept.is_empty()).then(|| self.kept[k % self.kept.len()])
    }

    /// Takes stub `i` (to move it) or a duplicate of it, and its id and home.
    fn take(&mut self, i: usize, dup: bool) -> Held {
        if dup {
            let h = &self.held[i];
            Held {
                id: h.id,
                home: h.home,
                direct: h.direct,
                stub: h.stub.clone(),
            }
        } else {
            self.held.swap_remove(i)
        }
    }

    /// Holds the stubs in a `[id, stub...]` result, checking the id.
    fn hold_result(&mut self, result: Value, home: Home, expected_id: Option<usize>) {
        let Value::Array(items) = result else {
            panic!("an array expected, got {result:?}");
        };
        let mut items = items.into_iter();
        let id = items.next().and_then(|v| v.as_f64()).unwrap() as usize;
        if let Some(expected) = expected_id {
            assert_eq!(id, expected, "the server returned the wrong object");
        }
        let mut stubs = 0;
        for item in items {
            let stub = item.into_stub().expect("a stub in the result");
            self.held.push(Held {
                id,
                home,
                direct: false,
                stub,
            });
            stubs += 1;
        }
        assert!(stubs > 0, "no stub in the result");
    }

    async fn run(&mut self, op: &Op) {
        match *op {
            Op::Make { keep } => {
                if let Some(made) = self.hub_await("make", vec![keep.into()]).await {
                    let id = made.as_array().unwrap()[0].as_f64().unwrap() as usize;
                    self.hold_result(made, Home::Server, None);
                    if keep {
                        self.kept.push((id, Home::Server));
                    }
                }
            }
            Op::MakeShared => {
                if let Some(made) = self.hub_await("makeShared", vec![]).await {
                    self.hold_result(made, Home::Server, None);
                }
            }
            Op::MakeTwoLineages => {
                if let Some(made) = self.hub_await("makeTwoLineages", vec![]).await {
                    self.hold_result(made, Home::Server, None);
                }
            }
            Op::MakeUnawaited { pipelined } => {
                if let Some(promise) = self.hub("make", vec![false.into()]) {
                    if pipelined {
                        let ping = promise.index(1).call("ping", vec![]).await;
                        assert_eq!(ping.is_ok(), self.connected, "{ping:?}");
                    }
                    drop(promise);
                }
            }
            Op::NewLocal => {
                let (id, target) = res(&self.registry, Home::Client);
                self.held.push(Held {
                    id,
                    home: Home::Client,
                    direct: true,
                    stub: Stub::new(target),
                });
            }
            Op::Dup(i) => {
                if let Some(i) = self.pick(i) {
                    let dup = self.take(i, true);
                    self.held.push(dup);
                }
            }
            Op::Dispose(i) => {
                if let Some(i) = self.pick(i) {
                    self.held.swap_remove(i).stub.dispose();
                }
            }
            Op::DisposeTwiceViaTrait(i) => {
                if let Some(i) = self.pick(i) {
                    let mut stub = self.held.swap_remove(i).stub;
                    Disposable::dispose(&mut stub).unwrap();
                    Disposable::dispose(&mut stub).unwrap();
                    assert!(
                        stub.call("ping", vec![]).await.is_err(),
                        "used after dispose"
                    );
                }
            }
            Op::Call(i) => {
                if let Some(i) = self.pick(i) {
                    let h = &self.held[i];
                    let answer = h.stub.call("ping", vec![]).await;
                    if self.connected || h.direct {
                        let answer = answer.unwrap_or_else(|e| panic!("ping {}: {e}", h.id));
                        assert_eq!(answer.as_f64(), Some(h.id as f64));
                    } else if h.home == Home::Server {
                        assert!(answer.is_err(), "a broken import answered");
                    } else if let Ok(answer) = answer {
                        // A proxy of our own object may or may not have been unwrapped.
                        assert_eq!(answer.as_f64(), Some(h.id as f64));
                    }
                }
            }
            Op::Pass { i, keep, dup } => {
                if let Some(i) = self.pick(i) {
                    let Held { id, home, stub, .. } = self.take(i, dup);
                    let method = if keep { "keep" } else { "drop" };
                    let passed = self.hub_await(method, vec![id.into(), stub.into()]).await;
                    if keep && passed.is_some() {
                        self.kept.push((id, home));
                    }
                }
            }
            Op::Echo { i, dup } => {
                if let Some(i) = self.pick(i) {
                    let Held { id, home, stub, .. } = self.take(i, dup);
                    if let Some(back) = self.hub_await("echo", vec![id.into(), stub.into()]).await {
                        self.hold_result(back, home, Some(id));
                    }
                }
            }
            Op::Return(k) => {
                if let Some((id, home)) = self.kept_at(k) {
                    if let Some(back) = self.hub_await("return", vec![k.into()]).await {
                        self.hold_result(back, home, Some(id));
                    }
                }
            }
            Op::Release(k) => {
                if let Some((id, _)) = self.kept_at(k) {
                    if let Some(released) = self.hub_await("release", vec![k.into()]).await {
                        assert_eq!(released.as_f64(), Some(id as f64));
                        self.kept.remove(k % self.kept.len());
                    }
                }
            }
            Op::ServerCall(k) => {
                if let Some((id, _)) = self.kept_at(k) {
                    if let Some(answer) = self.hub_await("serverCall", vec![k.into()]).await {
                        assert_eq!(answer.as_f64(), Some(id as f64));
                    }
                }
            }
            Op::ServerPassTo { from, to } => {
                if let Some((id, _)) = self.kept_at(from) {
                    let args = vec![from.into(), to.into()];
                    if let Some(answer) = self.hub_await("serverPassTo", args).await {
                        assert_eq!(answer.as_f64(), Some(id as f64));
                    }
                }
            }
            Op::Disconnect(how) => {
                if self.connected {
                    self.disconnect(how).await;
                }
            }
        }
        self.assert_held_alive();
        self.registry.assert_never_twice();
    }

    /// A held stub that can still reach its target keeps it alive (rules L1, L3).
    fn assert_held_alive(&self) {
        for h in &self.held {
            if self.connected || h.direct {
                let (disposed, lineages) = self.registry.count(h.id);
                assert!(
                    disposed < lineages,
                    "object {} disposed while a stub of it is held",
                    h.id
                );
            }
        }
    }

    /// Ends the session and waits until both ends have seen it.
    async fn disconnect(&mut self, how: How) {
        match how {
            How::AbortClient => self.client.task.as_ref().unwrap().abort(),
            How::AbortServer => self.server.task.as_ref().unwrap().abort(),
            How::ShutdownClient => self.client.handle.shutdown("test over", Duration::ZERO),
            How::ShutdownServer => self.server.handle.shutdown("test over", Duration::ZERO),
            How::DropMain => drop(self.hub.take()),
        }
        self.client.ended("client").await;
        self.server.ended("server").await;
        self.connected = false;
        // The server's main object, and everything it kept, went with its session.
        self.kept.clear();
    }
}

/// Polls `done` every millisecond until it holds (true), or until nothing can change any more
/// (false): nothing observable (disposer runs, frames) has changed for 200 polls in a row.
/// Everything here runs on one single-threaded runtime, and no timer is involved once the ops
/// are done, so each poll lets every task that is ready run first: 200 polls without a change
/// are 200 rounds in which nothing moved, however busy the machine is. (A plain deadline would
/// do too, but each failing case would cost the whole deadline while proptest shrinks.) Gives up
/// after 10 s in any case.
async fn eventually(world: &World, mut done: impl FnMut() -> bool) -> bool {
    let start = tokio::time::Instant::now();
    let (mut seen, mut still) = (world.progress(), 0);
    while still < 200 && start.elapsed() < Duration::from_secs(10) {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
        let now = world.progress();
        if now == seen {
            still += 1;
        } else {
            (seen, still) = (now, 0);
        }
    }
    done()
}

/// Waits until every object but `except` was disposed exactly once per lineage, failing at once
/// on a second run.
async fn wait_all_disposed(world: &World, except: Option<usize>) {
    let registry = &world.registry;
    let all_once = || {
        registry.assert_never_twice();
        registry.wrong(except).is_empty()
    };
    assert!(
        eventually(world, all_once).await,
        "disposers not run exactly once (id, home, runs, lineages): {:?}",
        registry.wrong(except)
    );
}

/// Gives late (wrong) disposer runs the time to happen: they would show as second runs.
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Table accounting through the wire.

/// Introductions and releases of one id by one side.
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
struct Balance {
    introduced: u64,
    released: u64,
}

/// The ids one side's frames introduce (its pushes: its imports; `["export"|"promise", id]`: its
/// exports) and the releases the other side sends for them.
fn balances(sent: &[String], peer_sent: &[String]) -> BTreeMap<i64, Balance> {
    let mut ids: BTreeMap<i64, Balance> = BTreeMap::new();
    let mut next_push = 1;
    for frame in sent {
        let message: serde_json::Value = serde_json::from_str(frame).unwrap();
        match message[0].as_str() {
            Some("push") => {
                // A push's result is the pusher's import; it releases it itself (below).
                ids.entry(next_push).or_default().introduced += 1;
                next_push += 1;
            }
            Some("release") => {
                let id = message[1].as_i64().unwrap();
                if id > 0 {
                    ids.entry(id).or_default().released += message[2].as_u64().unwrap();
                }
            }
            _ => {}
        }
        count_exports(&message, &mut ids);
    }
    for frame in peer_sent {
        let message: serde_json::Value = serde_json::from_str(frame).unwrap();
        if message[0] == "release" {
            let id = message[1].as_i64().unwrap();
            if id < 0 {
                ids.entry(id).or_default().released += message[2].as_u64().unwrap();
            }
        }
    }
    ids
}

/// Counts `["export", id]` and `["promise", id]` anywhere in a message. The values this test
/// sends are numbers and stubs only, so no literal array can look like one.
fn count_exports(value: &serde_json::Value, ids: &mut BTreeMap<i64, Balance>) {
    if let serde_json::Value::Array(items) = value {
        if let [tag, id] = items.as_slice() {
            if tag == "export" || tag == "promise" {
                if let Some(id) = id.as_i64() {
                    ids.entry(id).or_default().introduced += 1;
                }
            }
        }
        for item in items {
            count_exports(item, ids);
        }
    } else if let serde_json::Value::Object(fields) = value {
        for item in fields.values() {
            count_exports(item, ids);
        }
    }
}

/// Ids whose releases do not (yet) add up to their introductions, per side.
fn unbalanced(log: &FrameLog) -> Vec<(&'static str, i64, Balance)> {
    let (sent, received) = (log.sent(), log.received());
    let client = balances(&sent, &received)
        .into_iter()
        .map(|(id, b)| ("client", id, b));
    let server = balances(&received, &sent)
        .into_iter()
        .map(|(id, b)| ("server", id, b));
    client
        .chain(server)
        .filter(|(_, _, b)| b.introduced != b.released)
        .collect()
}

fn assert_never_over_released(log: &FrameLog) {
    let over: Vec<_> = unbalanced(log)
        .into_iter()
        .filter(|(_, _, b)| b.released > b.introduced)
        .collect();
    assert!(
        over.is_empty(),
        "released more often than introduced: {over:?}"
    );
}

/// Waits until every id either side introduced was released as often (rule L1): both sides'
/// tables hold nothing but the main objects.
async fn wait_tables_empty(world: &World) {
    let log = &world.log;
    let balanced = || {
        assert_never_over_released(log);
        unbalanced(log).is_empty()
    };
    assert!(
        eventually(world, balanced).await,
        "ids not released (side, id, balance): {:?}\n{}",
        unbalanced(log),
        log.dump()
    );
}

// ---------------------------------------------------------------------------------------------
// The property.

async fn check(ops: Vec<Op>, end: How) {
    let mut world = World::start();
    for op in &ops {
        world.run(op).await;
    }
    let connected = world.connected;
    // Everything the client holds goes.
    drop(std::mem::take(&mut world.held));
    if connected {
        // And everything the server keeps; the session stays up.
        world.hub_await("forgetAll", vec![]).await;
        wait_all_disposed(&world, Some(world.hub_id)).await;
        wait_tables_empty(&world).await;
        // A while later, after a round trip that flushes what was in flight, nothing changed.
        settle().await;
        world.hub_await("ping", vec![]).await;
        wait_tables_empty(&world).await;
        assert!(
            world.registry.wrong(Some(world.hub_id)).is_empty(),
            "disposed twice after the wait: {:?}",
            world.registry.wrong(Some(world.hub_id))
        );
        assert_eq!(
            world.registry.count(world.hub_id).0,
            0,
            "main disposed early"
        );
        world.disconnect(end).await;
    }
    assert_never_over_released(&world.log);
    // The main object's disposer runs with its session's end; nothing else changes.
    wait_all_disposed(&world, None).await;
    settle().await;
    assert!(
        world.registry.wrong(None).is_empty(),
        "disposed twice after the wait: {:?}",
        world.registry.wrong(None)
    );
    assert_never_over_released(&world.log);
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Random lifecycles end with every disposer run exactly once and nothing left in the tables.
    #[test]
    fn every_disposer_runs_exactly_once(ops in prop::collection::vec(op(), 0..40), end in how()) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(check(ops, end));
    }
}
