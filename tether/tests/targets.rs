//! Targets: dispatch by member name, getters, unknown members, callbacks, local stubs.
//! Each behaviour is checked on a local stub and across a session (as capnp-rpc's tests do).
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use tether::{RpcPromise, Stub, Value};

/// The same scenario against the target directly and through an in-process session.
async fn both(scenario: impl Fn(Stub) -> futures_util::future::BoxFuture<'static, ()>) {
    scenario(api()).await;
    let conn = connect(api());
    scenario(conn.api.clone()).await;
}

#[tokio::test]
async fn methods_are_dispatched_by_name() {
    both(|api| {
        Box::pin(async move {
            assert_eq!(
                api.call("square", vec![7.into()]).await.unwrap().as_f64(),
                Some(49.0)
            );
            let counter = api.call("makeCounter", vec![10.into()]);
            assert_eq!(
                counter
                    .call("increment", vec![5.into()])
                    .await
                    .unwrap()
                    .as_f64(),
                Some(15.0)
            );
        })
    })
    .await;
}

#[tokio::test]
async fn unknown_methods_reject_with_capnweb_type_error() {
    both(|api| {
        Box::pin(async move {
            let error = api.call("nope", vec![]).await.unwrap_err();
            assert_eq!(error.name, "TypeError");
            assert_eq!(error.message, "'nope' is not a function.");
        })
    })
    .await;
}

#[tokio::test]
async fn getters_read_and_calling_a_getter_is_a_type_error() {
    both(|api| {
        Box::pin(async move {
            let counter = api.call("makeCounter", vec![3.into()]);
            assert_eq!(counter.get("value").await.unwrap().as_f64(), Some(3.0));
            let error = counter.call("value", vec![]).await.unwrap_err();
            assert_eq!(
                (error.name.as_str(), error.message.as_str()),
                ("TypeError", "'value' is not a function.")
            );
            assert_eq!(api.get("version").await.unwrap().as_str(), Some("1.0"));
            // Property paths reach into plain data returned by a getter.
            let answer = api.get("nested").get("inner").get("answer").await.unwrap();
            assert_eq!(answer.as_f64(), Some(42.0));
        })
    })
    .await;
}

#[tokio::test]
async fn unknown_properties_are_undefined_and_prototype_names_unreachable() {
    both(|api| {
        Box::pin(async move {
            assert!(api.get("missing").await.unwrap().is_undefined());
            for name in ["constructor", "__proto__", "toString", "toJSON"] {
                assert!(
                    api.get(name).await.unwrap().is_undefined(),
                    "{name} must read as undefined"
                );
                let error = api.call(name, vec![]).await.unwrap_err();
                assert_eq!(error.name, "TypeError", "calling {name}");
            }
        })
    })
    .await;
}

#[tokio::test]
async fn a_panicking_method_rejects_the_call_and_the_session_survives() {
    both(|api| {
        Box::pin(async move {
            let error = api.call("panic", vec![]).await.unwrap_err();
            assert_eq!(error.name, "Error");
            assert!(error.message.contains("panic"), "{error}");
            assert_eq!(
                api.call("square", vec![2.into()]).await.unwrap().as_f64(),
                Some(4.0)
            );
        })
    })
    .await;
}

#[tokio::test]
async fn closures_are_callable_targets_in_both_directions() {
    let conn = connect(api());
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let square = Stub::from_fn(move |args| {
        counted.fetch_add(1, Ordering::SeqCst);
        let x = args[0].as_f64().unwrap_or(0.0);
        async move { Ok(Value::from(x * x)) }
    });
    let result = conn
        .api
        .call("callFunction", vec![square.dup().into(), 9.into()])
        .await
        .unwrap();
    assert_eq!(result.get("result").as_f64(), Some(81.0));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // A callback that throws: the error type and message come back through the server.
    let failing = Stub::from_fn(|_| async { Err(tether::RpcError::type_error("bad input")) });
    let error = conn
        .api
        .call("callFunction", vec![failing.into(), 1.into()])
        .await
        .unwrap_err();
    assert_eq!(
        (error.name.as_str(), error.message.as_str()),
        ("TypeError", "bad input")
    );
    // Calling a closure locally.
    assert_eq!(
        square.invoke(vec![3.into()]).await.unwrap().as_f64(),
        Some(9.0)
    );
}

#[tokio::test]
async fn errors_keep_type_message_and_props_and_stacks_are_not_sent() {
    let conn = connect(api());
    let error = conn.api.call("throwError", vec![]).await.unwrap_err();
    assert_eq!(
        (error.name.as_str(), error.message.as_str()),
        ("RangeError", "test error")
    );
    assert!(error.stack.is_none());
    let frame = conn
        .log
        .received()
        .into_iter()
        .find(|f| f.starts_with("[\"reject\""))
        .unwrap();
    assert_eq!(
        frame,
        "[\"reject\",1,[\"error\",\"RangeError\",\"test error\"]]"
    );
}

#[tokio::test]
async fn a_local_stub_works_without_any_connection() {
    let seen = Arc::new(Mutex::new(0.0));
    let counter = Stub::new(Counter(Mutex::new(1.0)));
    *seen.lock().unwrap() = counter
        .call("increment", vec![2.into()])
        .await
        .unwrap()
        .as_f64()
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), 3.0);
    assert_eq!(counter.get("value").await.unwrap().as_f64(), Some(3.0));
    // A promise made from a local future can be pipelined on before it resolves (rule P6).
    let later = RpcPromise::from_future(async {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        Ok(Stub::new(Counter(Mutex::new(100.0))).into())
    });
    assert_eq!(
        later
            .call("increment", vec![1.into()])
            .await
            .unwrap()
            .as_f64(),
        Some(101.0)
    );
}

#[tokio::test]
async fn calls_run_concurrently_a_slow_method_does_not_delay_others() {
    let conn = connect(api());
    let slow = conn.api.call("sleep", vec![5_000.into()]);
    let started = std::time::Instant::now();
    for i in 0..20 {
        assert_eq!(
            conn.api
                .call("square", vec![i.into()])
                .await
                .unwrap()
                .as_f64(),
            Some((i * i) as f64)
        );
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "fast calls waited for the slow one"
    );
    drop(slow);
}
