//! "Exactly once" under races: releases crossing a disconnect, a duplicate released while its call
//! runs, one lineage exported and released from many tasks at once (and an id re-introduced while
//! its release is queued), and a session ending in the middle of traffic. Each test repeats its
//! race on a multi-threaded runtime and checks counts that a lost or doubled release would change.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use tether::transport::memory;
use tether::Value;
use tether::{BoxFuture, ErrorKind, RpcError, RpcResult, RpcSession, SessionOptions, Stub, Target};

/// Disposer runs that happened while a call on their target was still running: must stay 0.
static EARLY: AtomicUsize = AtomicUsize::new(0);

/// A target with a slow method. Its disposer counts under `tag` (read with `disposed_count`).
struct Slow {
    tag: String,
    active: AtomicUsize,
}

fn slow(tag: &str) -> Slow {
    let (tag, active) = (tag.to_owned(), AtomicUsize::new(0));
    Slow { tag, active }
}

impl Target for Slow {
    fn call<'a>(&'a self, method: &'a str, args: Vec<Value>) -> BoxFuture<'a, RpcResult> {
        Box::pin(async move {
            match method {
                "ping" => Ok("pong".into()),
                "slow" => {
                    self.active.fetch_add(1, SeqCst);
                    let ms = args.first().and_then(Value::as_f64).unwrap_or(0.0) as u64;
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    self.active.fetch_sub(1, SeqCst);
                    Ok("slept".into())
                }
                _ => Err(RpcError::not_a_function(method)),
            }
        })
    }

    fn dispose(self: Arc<Self>) -> Option<BoxFuture<'static, RpcResult<()>>> {
        Some(Box::pin(async move {
            if self.active.load(SeqCst) > 0 {
                EARLY.fetch_add(1, SeqCst);
            }
            drop(DropCounter(self.tag.clone())); // Counts one disposal under the tag.
            Ok(())
        }))
    }
}

/// The main object here: hands out `Slow` targets and lineages of one shared target, keeps the
/// stubs it is given, and forwards everything else to the common test API.
struct Hub {
    lineages: Mutex<Vec<Stub>>,
    kept: Mutex<Vec<Stub>>,
    api: Api,
}

/// A hub holding `n` lineages of one `Slow` target counted under `tag`.
fn hub(tag: &str, n: usize) -> Stub {
    let target: Arc<dyn Target> = Arc::new(slow(tag));
    Stub::new(Hub {
        lineages: Mutex::new((0..n).map(|_| Stub::from_arc(target.clone())).collect()),
        kept: Mutex::default(),
        api: Api::default(),
    })
}

impl Target for Hub {
    fn call<'a>(&'a self, method: &'a str, mut args: Vec<Value>) -> BoxFuture<'a, RpcResult> {
        Box::pin(async move {
            match method {
                // Two copies of one new lineage: two imports for the client, one disposer run.
                "makePair" => {
                    let tag = args.first().and_then(Value::as_str).unwrap_or("");
                    let stub = Stub::new(slow(tag));
                    Ok(Value::array([stub.clone().into(), stub.into()]))
                }
                "lineage" => {
                    let k = args.first().and_then(Value::as_f64).unwrap_or(0.0) as usize;
                    let stub = self.lineages.lock().unwrap().get(k).cloned();
                    Ok(stub
                        .ok_or_else(|| RpcError::range_error("no such lineage"))?
                        .into())
                }
                "keep" => {
                    let stub = args.pop().and_then(Value::into_stub);
                    let stub = stub.ok_or_else(|| RpcError::type_error("stub expected"))?;
                    self.kept.lock().unwrap().push(stub);
                    Ok(Value::Undefined)
                }
                "forget" => {
                    drop(std::mem::take(&mut *self.lineages.lock().unwrap()));
                    Ok(Value::Undefined)
                }
                _ => self.api.call(method, args).await,
            }
        })
    }
}

async fn pause() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Asks the common test API for a `Disposable` counted under `tag`.
async fn make(api: &Stub, tag: &str) -> Stub {
    let made = api.call("makeDisposable", vec![tag.into()]).await;
    made.unwrap().into_stub().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_release_crossing_a_disconnect_runs_the_disposer_exactly_once() {
    let mut tags = Vec::new();
    for i in 0..200 {
        let tag = tag("race-a");
        let conn = connect(api());
        let stub = make(&conn.api, &tag).await;
        // Kill either end, at the moment another thread drops the stub.
        let kill = if i % 2 == 0 {
            conn.client.abort_handle()
        } else {
            conn.server.abort_handle()
        };
        let start = Arc::new(tokio::sync::Barrier::new(2));
        let go = start.clone();
        let dropper = tokio::spawn(async move {
            go.wait().await;
            for _ in 0..i % 4 {
                tokio::task::yield_now().await;
            }
            drop(stub);
        });
        start.wait().await;
        kill.abort();
        dropper.await.unwrap();
        wait_until("the disposer ran", || disposed_count(&tag) == 1).await;
        tags.push(tag);
    }
    pause().await;
    let twice: Vec<_> = tags.iter().filter(|t| disposed_count(t) != 1).collect();
    assert!(twice.is_empty(), "disposed more than once: {twice:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn b_a_dup_released_while_its_call_runs_keeps_the_call_and_disposes_once() {
    let conn = connect(hub("race-b-unused", 0));
    let mut runs = Vec::new();
    for i in 0..30u64 {
        let api = conn.api.clone();
        runs.push(tokio::spawn(async move {
            let tag = tag("race-b");
            let pair = api
                .call("makePair", vec![tag.as_str().into()])
                .await
                .unwrap();
            let items = pair.as_array().unwrap();
            let [first, second] = [0, 1].map(|k| items[k].as_stub().unwrap().clone());
            drop(pair);
            // Release the first import (both local dups of it) while a call on it runs.
            let local_dup = first.clone();
            let call = first.call("slow", vec![20.into()]);
            tokio::time::sleep(Duration::from_millis(i % 5 * 5)).await;
            drop((first, local_dup));
            assert_eq!(call.await.unwrap().as_str(), Some("slept"));
            pause().await;
            assert_eq!(disposed_count(&tag), 0, "{tag}: the other copy holds it");
            // Release the last copy while a call on it runs: the call still completes.
            let call = second.call("slow", vec![20.into()]);
            tokio::time::sleep(Duration::from_millis(i % 3 * 5)).await;
            drop(second);
            assert_eq!(call.await.unwrap().as_str(), Some("slept"));
            wait_until("the disposer ran", || disposed_count(&tag) == 1).await;
            tag
        }));
    }
    let mut tags = Vec::new();
    for run in runs {
        tags.push(run.await.unwrap());
    }
    pause().await;
    let wrong: Vec<_> = tags.iter().filter(|t| disposed_count(t) != 1).collect();
    assert!(wrong.is_empty(), "not disposed exactly once: {wrong:?}");
    assert_eq!(EARLY.load(SeqCst), 0, "disposed while a call ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn c_one_lineage_exported_and_released_from_many_tasks_disposes_once_per_lineage() {
    let (server_tag, client_tag) = (tag("race-c-server"), tag("race-c-client"));
    let conn = connect(hub(&server_tag, 3));
    let local = Stub::new(slow(&client_tag));
    let mut tasks = Vec::new();
    for t in 0..8u32 {
        let (api, local) = (conn.api.clone(), local.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..25u32 {
                // The server exports one of its three lineages again; we release it at once,
                // or after a call through it.
                let stub = api.call("lineage", vec![((t + i) % 3).into()]);
                if i % 2 == 0 {
                    assert!(stub.call("ping", vec![]).await.is_ok());
                }
                drop(stub.await.unwrap());
                // We export our one lineage again; the echo comes back and is released.
                drop(api.call("echo", vec![local.clone().into()]).await.unwrap());
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    pause().await;
    assert_eq!(
        disposed_count(&server_tag),
        0,
        "the server holds its lineages"
    );
    assert_eq!(disposed_count(&client_tag), 0, "we hold ours");
    conn.api.call("forget", vec![]).await.unwrap();
    drop(local);
    let ended = || disposed_count(&server_tag) == 3 && disposed_count(&client_tag) == 1;
    wait_until("the four lineages ended", ended).await;
    pause().await;
    assert_eq!(disposed_count(&server_tag), 3);
    assert_eq!(disposed_count(&client_tag), 1);
}

/// capnweb re-introduces an export id when it sends the same stub again. If the importer's last
/// handle on the id goes while the re-introduction is being read, the queued release is stale: the
/// peer must get back exactly as many releases as it made introductions, and never see the id
/// used after they add up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn c_a_reintroduced_import_is_released_exactly_as_often_as_introduced() {
    // The second introduction comes in a frame that takes a while to read.
    let padding = vec!["0"; 20_000].join(",");
    let frames = [
        "[\"push\",[\"pipeline\",0,[],[[\"export\",-1]]]]".to_owned(),
        format!("[\"push\",[\"pipeline\",0,[],[[[{padding}]],[\"export\",-1]]]]"),
    ];
    for i in 0..40u64 {
        // Our main object hands each stub it gets to a worker thread, which drops the first
        // within 150 µs (as the second frame is read) and calls the second before dropping it.
        let (to_worker, inbox) = std::sync::mpsc::channel::<Stub>();
        std::thread::spawn(move || {
            for (n, stub) in inbox.into_iter().enumerate() {
                if n == 1 {
                    std::thread::sleep(Duration::from_millis(2));
                    drop(stub.call("ping", vec![]));
                } else {
                    std::thread::sleep(Duration::from_micros(i % 4 * 50));
                }
            }
        });
        let main = Stub::from_fn(move |mut args| {
            let _ = to_worker.send(args.pop().and_then(Value::into_stub).unwrap());
            async { Ok(Value::Undefined) }
        });
        let (ours, mut peer) = memory::pair();
        let _session = RpcSession::spawn(ours, Some(main), SessionOptions::default());
        for frame in &frames {
            peer.feed(tether::transport::Outgoing::Message(frame.clone()))
                .await
                .unwrap();
        }
        peer.flush().await.unwrap();
        let mut released = 0;
        let mut check = |frame: &str| {
            if let Some(count) = frame.strip_prefix("[\"release\",-1,") {
                released += count.trim_end_matches(']').parse::<u64>().unwrap();
                assert!(released <= 2, "over-released: {frame}");
            } else if frame.contains("[\"pipeline\",-1,") {
                assert!(released < 2, "used after its release: {frame}");
            }
            released
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let frame = tokio::time::timeout_at(deadline, peer.next()).await;
            if check(&frame.expect("the releases arrive").unwrap().unwrap()) == 2 {
                break;
            }
        }
        // Nothing more for -1 afterwards.
        while let Ok(Some(Ok(frame))) =
            tokio::time::timeout(Duration::from_millis(5), peer.next()).await
        {
            assert_eq!(check(&frame), 2, "iteration {i}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn d_a_session_ending_mid_traffic_disposes_everything_exactly_once() {
    let mut tags = Vec::new();
    for round in 0..10 {
        let base = tag("race-d");
        let conn = connect(hub(&format!("{base}-unused"), 0));
        let n = 20;
        // Server targets held by the client; client targets held by the server.
        let mut held = Vec::new();
        for i in 0..n {
            let (s, c) = (format!("{base}-s{i}"), format!("{base}-c{i}"));
            held.push(make(&conn.api, &s).await);
            let kept = conn.api.call("keep", vec![disposable(&c).into()]).await;
            assert!(kept.is_ok());
            tags.extend([s, c]);
        }
        // Calls in flight: short ones, hanging ones, calls through the held stubs.
        let mut calls = Vec::new();
        for (i, stub) in held.iter().enumerate() {
            let h = format!("{base}-h{i}");
            calls.push(conn.api.call("sleep", vec![(i % 4).into()]));
            calls.push(conn.api.call("hang", vec![h.as_str().into()]));
            calls.push(stub.call("ping", vec![]));
            tags.push(h);
        }
        // Calls arrive in order: once this returns, every `hang` is running.
        conn.api.call("square", vec![1.into()]).await.unwrap();
        // Release half of the held stubs on another thread while one end is killed.
        let released: Vec<Stub> = held.drain(..n / 2).collect();
        let dropper = tokio::spawn(async move {
            for stub in released {
                drop(stub);
                tokio::task::yield_now().await;
            }
        });
        if round % 2 == 0 {
            conn.client.abort();
        } else {
            conn.server.abort();
        }
        dropper.await.unwrap();
        for call in calls {
            let settled = tokio::time::timeout(Duration::from_secs(5), call).await;
            if let Err(e) = settled.expect("every call settles") {
                let kind = e.kind();
                assert!(
                    matches!(kind, ErrorKind::Disconnected | ErrorKind::Canceled),
                    "{e}"
                );
            }
        }
        // The other half, still held, was released by the session's end.
        for i in 0..n {
            for side in ["s", "c", "h"] {
                let t = format!("{base}-{side}{i}");
                wait_until(&t, || disposed_count(&t) == 1).await;
            }
        }
        drop(held);
    }
    pause().await;
    let wrong: Vec<_> = tags.iter().filter(|t| disposed_count(t) != 1).collect();
    assert!(wrong.is_empty(), "not disposed exactly once: {wrong:?}");
}
