//! Pass-by-reference objects and callbacks against the reference Node server: server `Counter`
//! stubs (methods, the `value` getter, unknown members), stubs passed back to the server, Rust
//! [`Target`](tether::Target)s and closures called by the server (`incrementCounter`,
//! `callFunction`, `callSquare`), and a callback the server keeps and fires later
//! (`registerCallback` / `fireCallback` / `releaseCallback`).
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::sync::{Arc, Mutex};

use tether::{ErrorKind, RpcError, Stub, Value};
use tether_interop_tests::{
    assert_data_eq, assert_no_abort, connect_ws, connect_ws_tapped, err, frame_json, frame_type,
    num, ok, shared, t, wait_until, Probe,
};

async fn counter(api: &Stub, start: i32) -> Stub {
    ok(t!(api.call("makeCounter", vec![start.into()])))
        .into_stub()
        .expect("makeCounter returns a stub")
}

#[tokio::test]
async fn counter_increment_and_value_getter() {
    let api = connect_ws(shared()).await;
    let c = counter(&api, 10).await;
    assert_eq!(num(&ok(t!(c.call("increment", vec![])))), 11.0);
    assert_eq!(num(&ok(t!(c.call("increment", vec![5.into()])))), 16.0);
    assert_eq!(num(&ok(t!(c.call("increment", vec![(-20).into()])))), -4.0);
    assert_eq!(num(&ok(t!(c.get("value")))), -4.0);
}

#[tokio::test]
async fn counters_are_independent() {
    let api = connect_ws(shared()).await;
    let a = counter(&api, 0).await;
    let b = counter(&api, 100).await;
    ok(t!(a.call("increment", vec![])));
    ok(t!(a.call("increment", vec![])));
    ok(t!(b.call("increment", vec![])));
    assert_eq!(num(&ok(t!(a.get("value")))), 2.0);
    assert_eq!(num(&ok(t!(b.get("value")))), 101.0);
}

#[tokio::test]
async fn calling_the_value_getter_as_a_method_rejects_with_type_error() {
    let api = connect_ws(shared()).await;
    let c = counter(&api, 3).await;
    let e = err(t!(c.call("value", vec![])));
    assert_eq!(e.name, "TypeError", "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Failed);
    assert_eq!(
        num(&ok(t!(c.call("increment", vec![])))),
        4.0,
        "the counter still works"
    );
}

#[tokio::test]
async fn unknown_method_and_property_on_a_counter() {
    let api = connect_ws(shared()).await;
    let c = counter(&api, 0).await;
    let e = err(t!(c.call("decrement", vec![1.into()])));
    assert_eq!(e.name, "TypeError", "{e:?}");
    assert!(ok(t!(c.get("notAProperty"))).is_undefined());
    assert!(ok(t!(c.get("constructor"))).is_undefined());
    assert_eq!(err(t!(c.call("toString", vec![]))).name, "TypeError");
    assert_eq!(num(&ok(t!(c.call("increment", vec![])))), 1.0);
}

#[tokio::test]
async fn increment_counter_with_a_server_counter_passed_back() {
    let api = connect_ws(shared()).await;
    let c = counter(&api, 7).await;
    let r = t!(api.call("incrementCounter", vec![c.clone().into(), 3.into()]));
    assert_eq!(num(&ok(r)), 10.0);
    let r = t!(api.call("incrementCounter", vec![c.clone().into()]));
    assert_eq!(num(&ok(r)), 11.0, "default amount is 1");
    assert_eq!(num(&ok(t!(c.get("value")))), 11.0);
}

#[tokio::test]
async fn increment_counter_with_a_rust_target() {
    let api = connect_ws(shared()).await;
    let (probe, log) = Probe::new(1000.0, 0.0);
    let local = Stub::new(probe);
    let r = t!(api.call("incrementCounter", vec![local.clone().into(), 5.into()]));
    assert_eq!(num(&ok(r)), 1005.0);
    let r = t!(api.call("incrementCounter", vec![local.clone().into()]));
    assert_eq!(num(&ok(r)), 1006.0);
    let calls = log.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].0, "increment");
    assert_data_eq(
        &Value::array(calls[0].1.clone()),
        &Value::array([5.into()]),
        "args",
    );
    // The server's default argument: increment(1).
    assert_data_eq(
        &Value::array(calls[1].1.clone()),
        &Value::array([1.into()]),
        "args",
    );
    assert_eq!(num(&ok(t!(local.get("value")))), 1006.0);
    // The server released its references after each call; ours keeps the target alive.
    assert_eq!(log.disposed(), 0);
    drop(local);
    log.wait_disposed(1).await;
}

#[tokio::test]
async fn call_function_with_a_rust_closure() {
    let api = connect_ws(shared()).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let func = Stub::from_fn(move |args: Vec<Value>| {
        let record = record.clone();
        async move {
            let x = args.first().and_then(Value::as_f64).unwrap_or(f64::NAN);
            record.lock().unwrap().push(x);
            Ok(Value::from(x * 3.0))
        }
    });
    let r = ok(t!(api.call("callFunction", vec![func.into(), 14.into()])));
    assert_data_eq(&r, &Value::object([("result", 42)]), "callFunction");
    assert_eq!(*seen.lock().unwrap(), [14.0]);
}

#[tokio::test]
async fn call_function_with_a_closure_returning_structured_data() {
    let api = connect_ws(shared()).await;
    let func = Stub::from_fn(|args: Vec<Value>| async move {
        let x = args.into_iter().next().unwrap_or_default();
        Ok(Value::object([
            ("got", x.clone()),
            ("big", tether::BigInt::from(2).pow(70).into()),
            ("list", Value::array([x.clone(), x])),
        ]))
    });
    let r = ok(t!(api.call("callFunction", vec![func.into(), "hi".into()])));
    let want = Value::object([(
        "result",
        Value::object([
            ("got", Value::from("hi")),
            ("big", tether::BigInt::from(2).pow(70).into()),
            ("list", Value::array(["hi".into(), "hi".into()])),
        ]),
    )]);
    assert_data_eq(&r, &want, "callFunction");
}

#[tokio::test]
async fn call_function_with_a_failing_closure_rejects_with_the_same_error() {
    let api = connect_ws(shared()).await;
    for (name, message) in [("TypeError", "client says no"), ("RangeError", "async no")] {
        let func = Stub::from_fn(move |_args| async move { Err(RpcError::new(name, message)) });
        let e = err(t!(api.call("callFunction", vec![func.into(), 1.into()])));
        assert_eq!((e.name.as_str(), e.message.as_str()), (name, message));
        assert_eq!(e.kind(), ErrorKind::Failed);
    }
    assert_eq!(
        num(&ok(t!(api.call("square", vec![2.into()])))),
        4.0,
        "session still fine"
    );
}

#[tokio::test]
async fn call_function_releases_the_callback_afterwards() {
    // The server calls the callback with push(pipeline -1 [] [args]) + pull, then releases the
    // answer and the callback: the Rust target's disposer runs, and the wire shows both.
    let (probe, log) = Probe::new(0.0, 0.0);
    let session = connect_ws_tapped(shared(), None).await;
    let r = ok(t!(session
        .api
        .call("callFunction", vec![Stub::new(probe).into(), 5.into()])));
    assert_data_eq(&r, &Value::object([("result", 15)]), "callFunction");
    log.wait_disposed(1).await;
    wait_until("the server released the answer and the callback", || {
        let received = session.log.received();
        received
            .iter()
            .filter(|f| frame_type(f) == "release")
            .count()
            >= 2
    })
    .await;
    let calls = log.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, "", "called as a function");
    let received: Vec<serde_json::Value> = session
        .log
        .received()
        .iter()
        .map(|f| frame_json(f))
        .collect();
    let push = received
        .iter()
        .find(|m| m[0] == "push")
        .unwrap_or_else(|| panic!("no push from the server:\n{}", session.log.dump()));
    assert_eq!(push[1][0], "pipeline");
    let callback_id = push[1][1].clone();
    assert!(callback_id.as_i64().unwrap() < 0, "{push}");
    assert_eq!(push[1][2], serde_json::json!([]));
    assert_eq!(push[1][3], serde_json::json!([5]));
    let pull = received.iter().find(|m| m[0] == "pull").unwrap();
    let answer = pull[1].clone();
    // Released by the server once: the answer and the callback, refcount 1 each.
    let mut releases: Vec<(serde_json::Value, serde_json::Value)> = received
        .iter()
        .filter(|m| m[0] == "release")
        .map(|m| (m[1].clone(), m[2].clone()))
        .collect();
    releases.sort_by_key(|(id, _)| id.as_i64());
    assert_eq!(
        releases,
        [(callback_id, 1.into()), (answer, 1.into())],
        "frames:\n{}",
        session.log.dump()
    );
    assert_no_abort(&session.log);
}

#[tokio::test]
async fn call_square_calls_back_through_the_main_stub() {
    let api = connect_ws(shared()).await;
    for (i, want) in [(7, 49), (-3, 9)] {
        let r = ok(t!(
            api.call("callSquare", vec![api.clone().into(), i.into()])
        ));
        assert_data_eq(&r, &Value::object([("result", want)]), "callSquare");
    }
}

#[tokio::test]
async fn call_square_really_calls_the_stub_it_is_given() {
    let api = connect_ws(shared()).await;
    let (liar, log) = Probe::new(0.0, 1.0);
    let r = ok(t!(
        api.call("callSquare", vec![Stub::new(liar).into(), 5.into()])
    ));
    assert_data_eq(&r, &Value::object([("result", 26)]), "callSquare");
    assert_eq!(log.calls()[0].0, "square");
}

#[tokio::test]
async fn register_fire_and_release_a_callback() {
    let api = connect_ws(shared()).await;
    let (probe, log) = Probe::new(0.0, 0.0);
    let r = ok(t!(
        api.call("registerCallback", vec![Stub::new(probe).into()])
    ));
    assert!(r.is_undefined(), "{r:?}");
    // The server kept the callback after registerCallback returned, and fires it later.
    assert_eq!(
        ok(t!(api.call("fireCallback", vec!["a".into()]))).as_str(),
        Some("cb:a")
    );
    assert_eq!(num(&ok(t!(api.call("square", vec![3.into()])))), 9.0);
    assert_eq!(num(&ok(t!(api.call("fireCallback", vec![2.into()])))), 6.0);
    let args: Vec<Value> = log.calls().into_iter().flat_map(|(_, a)| a).collect();
    assert_data_eq(
        &Value::array(args),
        &Value::array(["a".into(), 2.into()]),
        "calls",
    );
    assert_eq!(log.disposed(), 0, "not released while registered");

    assert_eq!(
        ok(t!(api.call("releaseCallback", vec![]))).as_bool(),
        Some(true)
    );
    log.wait_disposed(1).await;
    assert_eq!(
        ok(t!(api.call("releaseCallback", vec![]))).as_bool(),
        Some(false)
    );
    let e = err(t!(api.call("fireCallback", vec![3.into()])));
    assert_eq!(
        (e.name.as_str(), e.message.as_str()),
        ("Error", "no callback registered")
    );
    assert_eq!(log.disposed(), 1);
}

#[tokio::test]
async fn registering_a_second_callback_releases_the_first() {
    let api = connect_ws(shared()).await;
    let (a, log_a) = Probe::new(0.0, 0.0);
    let b = Stub::from_fn(|_| async { Ok(Value::from("B")) });
    ok(t!(api.call("registerCallback", vec![Stub::new(a).into()])));
    assert_eq!(num(&ok(t!(api.call("fireCallback", vec![1.into()])))), 3.0);
    ok(t!(api.call("registerCallback", vec![b.into()])));
    assert_eq!(
        ok(t!(api.call("fireCallback", vec![0.into()]))).as_str(),
        Some("B")
    );
    log_a.wait_disposed(1).await;
    assert_eq!(
        ok(t!(api.call("releaseCallback", vec![]))).as_bool(),
        Some(true)
    );
}

#[tokio::test]
async fn a_failing_registered_callback_makes_fire_callback_reject() {
    let api = connect_ws(shared()).await;
    let cb = Stub::from_fn(|_| async { Err(RpcError::new("SyntaxError", "bad callback")) });
    ok(t!(api.call("registerCallback", vec![cb.into()])));
    let e = err(t!(api.call("fireCallback", vec![1.into()])));
    assert_eq!(
        (e.name.as_str(), e.message.as_str()),
        ("SyntaxError", "bad callback")
    );
    assert_eq!(
        ok(t!(api.call("releaseCallback", vec![]))).as_bool(),
        Some(true)
    );
}

#[tokio::test]
async fn callbacks_are_per_session_and_released_when_the_session_ends() {
    let api = connect_ws(shared()).await;
    let (probe, log) = Probe::new(0.0, 0.0);
    let cb = Stub::new(probe);
    ok(t!(api.call("registerCallback", vec![cb.clone().into()])));
    let other = connect_ws(shared()).await;
    let e = err(t!(other.call("fireCallback", vec![1.into()])));
    assert_eq!(e.message, "no callback registered");
    assert_eq!(
        ok(t!(api.call("fireCallback", vec!["x".into()]))).as_str(),
        Some("cb:x")
    );
    // Ending the session (dropping the main stub) releases the server's reference; our own
    // clone keeps the target alive until dropped.
    drop(api);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(log.disposed(), 0, "our clone still holds it");
    drop(cb);
    log.wait_disposed(1).await;
}

#[tokio::test]
async fn a_stub_from_one_session_passed_into_another_is_proxied_by_the_client() {
    // Session B's server calls increment on a stub that the Rust client holds from session A:
    // the call goes server B -> client -> server A.
    let a = connect_ws(shared()).await;
    let b = connect_ws_tapped(shared(), None).await;
    let c = counter(&a, 10).await;
    let r = t!(b
        .api
        .call("incrementCounter", vec![c.clone().into(), 5.into()]));
    assert_eq!(num(&ok(r)), 15.0);
    assert_eq!(
        num(&ok(t!(c.get("value")))),
        15.0,
        "session A's counter moved"
    );
    let received: Vec<serde_json::Value> = b.log.received().iter().map(|f| frame_json(f)).collect();
    assert!(
        received
            .iter()
            .any(|m| m[0] == "push" && m[1][2] == serde_json::json!(["increment"])),
        "server B called increment through the client:\n{}",
        b.log.dump()
    );
    assert_no_abort(&b.log);
}

#[tokio::test]
async fn a_rust_stub_returned_through_the_server_comes_back_local() {
    // The callback returns a Rust target; the server hands it back inside { result }: the client
    // recognises its own export (["import", id]) and calls it locally, without a round trip.
    let session = connect_ws_tapped(shared(), None).await;
    let (probe, log) = Probe::new(5.0, 0.0);
    let target = Stub::new(probe);
    let func = Stub::from_fn(move |_args| {
        let target = target.clone();
        async move { Ok(Value::Stub(target)) }
    });
    let r = ok(t!(session
        .api
        .call("callFunction", vec![func.into(), 1.into()])));
    let back = r.get("result").as_stub().expect("a stub in result").clone();
    let pushes = || {
        session
            .log
            .sent()
            .iter()
            .filter(|f| frame_type(f) == "push")
            .count()
    };
    let before = pushes();
    assert_eq!(num(&ok(t!(back.call("increment", vec![1.into()])))), 6.0);
    assert_eq!(log.calls().len(), 1);
    assert_eq!(
        pushes(),
        before,
        "a local call sends nothing:\n{}",
        session.log.dump()
    );
    assert_no_abort(&session.log);
}

#[tokio::test]
async fn one_rust_stub_passed_in_several_calls_is_disposed_once_when_dropped() {
    let session = connect_ws_tapped(shared(), None).await;
    let api = &session.api;
    let (probe, log) = Probe::new(0.0, 0.0);
    let p = Stub::new(probe);
    let r1 = t!(api.call("incrementCounter", vec![p.clone().into(), 1.into()]));
    let r2 = t!(api.call("incrementCounter", vec![p.clone().into(), 2.into()]));
    let r3 = t!(api.call("callSquare", vec![p.clone().into(), 3.into()]));
    assert_eq!(num(&ok(r1)), 1.0);
    assert_eq!(num(&ok(r2)), 3.0);
    assert_data_eq(&ok(r3), &Value::object([("result", 9)]), "callSquare");
    // The server released each export after its call; our stub keeps the target alive.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(log.disposed(), 0);
    drop(p);
    log.wait_disposed(1).await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(log.disposed(), 1, "one lineage, one disposal");
    assert_no_abort(&session.log);
}
