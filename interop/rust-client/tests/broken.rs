//! `on_broken` and disconnection errors when the reference Node server goes away: tests that kill
//! the server start their own (SIGKILL, or SIGTERM, on which the reference terminates its sockets
//! without a close handshake). Every stub and pending promise of the session must break with
//! `ErrorKind::Disconnected`, and later calls must fail promptly. Also the server aborting one
//! session (a malformed frame injected into that very session): the abort reason reaches
//! `on_broken`.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::sync::{Arc, Mutex};

use tether::{ErrorKind, RpcError};
use tether_interop_tests::{
    connect_ws, connect_ws_tapped, err, frame_type, num, ok, t, wait_until, within, Server,
};

type Seen = Arc<Mutex<Option<RpcError>>>;

fn watcher() -> (Seen, impl FnOnce(RpcError) + Send + 'static) {
    let seen: Seen = Arc::default();
    let slot = seen.clone();
    (seen, move |e| *slot.lock().unwrap() = Some(e))
}

async fn wait_broken(what: &str, seen: &Seen) -> RpcError {
    wait_until(&format!("on_broken of {what} fired"), || {
        seen.lock().unwrap().is_some()
    })
    .await;
    seen.lock().unwrap().clone().unwrap()
}

#[tokio::test]
async fn on_broken_fires_on_every_stub_when_the_server_dies() {
    let server = Server::start();
    let api = connect_ws(&server).await;
    let counter = ok(t!(api.call("makeCounter", vec![1.into()])))
        .into_stub()
        .unwrap();
    assert_eq!(num(&ok(t!(counter.call("increment", vec![])))), 2.0);
    let pending = api.call("makeCounter", vec![5.into()]); // unresolved promise stub
    let (main_seen, on_main) = watcher();
    let (counter_seen, on_counter) = watcher();
    let (pending_seen, on_pending) = watcher();
    api.on_broken(on_main);
    counter.on_broken(on_counter);
    pending.on_broken(on_pending);
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    assert!(main_seen.lock().unwrap().is_none(), "nothing broken yet");
    assert!(counter_seen.lock().unwrap().is_none(), "nothing broken yet");

    server.kill_hard();

    for (what, seen) in [
        ("the main stub", &main_seen),
        ("the counter", &counter_seen),
        ("the pending promise", &pending_seen),
    ] {
        let e = wait_broken(what, seen).await;
        assert_eq!(e.kind(), ErrorKind::Disconnected, "{what}: {e:?}");
    }
    let e = err(within("a call on a broken stub", counter.call("increment", vec![])).await);
    assert_eq!(e.kind(), ErrorKind::Disconnected, "{e:?}");
    let e = err(t!(api.call("square", vec![2.into()])));
    assert_eq!(e.kind(), ErrorKind::Disconnected, "{e:?}");
}

#[tokio::test]
async fn a_call_in_flight_when_the_server_stops_fails_with_disconnected() {
    let server = Server::start();
    let api = connect_ws(&server).await;
    // A callback that never answers: fireCallback stays in flight on the server.
    let called = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = called.clone();
    let never = tether::Stub::from_fn(move |_| {
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
        async {
            std::future::pending::<()>().await;
            Ok(tether::Value::Undefined)
        }
    });
    ok(t!(api.call("registerCallback", vec![never.into()])));
    let in_flight = api.call("fireCallback", vec![2.into()]);
    let (seen, on_broken) = watcher();
    in_flight.on_broken(on_broken);
    wait_until("the server called the callback", || {
        called.load(std::sync::atomic::Ordering::SeqCst)
    })
    .await;
    // SIGTERM: the reference terminates its sockets (no close handshake) and exits.
    server.stop();
    let e = err(within("the in-flight call", in_flight).await);
    assert_eq!(e.kind(), ErrorKind::Disconnected, "{e:?}");
    let e = wait_broken("the in-flight promise", &seen).await;
    assert_eq!(e.kind(), ErrorKind::Disconnected, "{e:?}");
}

#[tokio::test]
async fn on_broken_fires_when_the_server_aborts_the_session() {
    // The Tap replaces the next frame the session sends with one that is not JSON: the server
    // aborts this session (["abort", ["error", "SyntaxError", ...]], close 3000) and only it.
    let server = tether_interop_tests::shared();
    let session = connect_ws_tapped(server, None).await;
    let api = session.api.clone();
    let counter = ok(t!(api.call("makeCounter", vec![1.into()])))
        .into_stub()
        .unwrap();
    let (seen, on_counter) = watcher();
    counter.on_broken(on_counter);
    session.log.replace_next_sent("this is not json");
    let doomed = api.call("square", vec![2.into()]);
    let e = err(t!(doomed));
    assert_eq!(e.kind(), ErrorKind::Disconnected, "{e:?}");
    let e = wait_broken("the counter", &seen).await;
    assert_eq!(e.kind(), ErrorKind::Disconnected, "{e:?}");
    assert_eq!(e.name, "SyntaxError", "the server's abort reason: {e:?}");
    let abort = session
        .log
        .received()
        .into_iter()
        .find(|f| frame_type(f) == "abort")
        .unwrap_or_else(|| panic!("no abort received:\n{}", session.log.dump()));
    assert!(abort.contains("SyntaxError"), "{abort}");
    let end = t!(session.task).unwrap();
    assert_eq!(end.unwrap_err().name, "SyntaxError");
    let e = err(t!(counter.call("increment", vec![])));
    assert_eq!(e.kind(), ErrorKind::Disconnected, "{e:?}");
    // Other sessions are unaffected.
    let fresh = connect_ws(server).await;
    assert_eq!(num(&ok(t!(fresh.call("square", vec![4.into()])))), 16.0);
}
