//! Plain calls and errors against the reference Node server, over WebSocket and HTTP batch:
//! `square`, `generateFibonacci`, `returnNull` / `returnUndefined` / `returnNumber`,
//! `throwError` (a `RangeError` without a stack), unknown methods and properties of the main
//! object, and unreachable `Object.prototype` members.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use tether::{ErrorKind, Value};
use tether_interop_tests::{all, err, num, ok, shared, t, Via};

#[tokio::test]
async fn square_and_return_number() {
    for via in Via::ALL {
        let api = via.connect(shared()).await;
        let a = api.call("square", vec![12.into()]);
        let b = api.call("square", vec![(-1.5).into()]);
        let c = api.call("returnNumber", vec![42.into()]);
        let d = api.call("returnNumber", vec![(-0.25).into()]);
        let (a, b, c, d) = tokio::join!(a, b, c, d);
        assert_eq!(num(&ok(a)), 144.0, "{via:?}");
        assert_eq!(num(&ok(b)), 2.25, "{via:?}");
        assert_eq!(num(&ok(c)), 42.0, "{via:?}");
        assert_eq!(num(&ok(d)), -0.25, "{via:?}");
    }
}

#[tokio::test]
async fn generate_fibonacci() {
    for via in Via::ALL {
        let api = via.connect(shared()).await;
        let lengths = [0u32, 1, 2, 10];
        let promises: Vec<_> = lengths
            .iter()
            .map(|&n| api.call("generateFibonacci", vec![n.into()]))
            .collect();
        let results = all(promises).await;
        let want: [&[f64]; 4] = [
            &[],
            &[0.0],
            &[0.0, 1.0],
            &[0.0, 1.0, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 34.0],
        ];
        for (result, want) in results.into_iter().zip(want) {
            let got: Vec<f64> = ok(result).as_array().unwrap().iter().map(num).collect();
            assert_eq!(got, want, "{via:?}");
        }
    }
}

#[tokio::test]
async fn return_null_and_return_undefined_are_distinct() {
    for via in Via::ALL {
        let api = via.connect(shared()).await;
        let (null, undefined) = tokio::join!(
            api.call("returnNull", vec![]),
            api.call("returnUndefined", vec![])
        );
        let (null, undefined) = (ok(null), ok(undefined));
        assert!(
            matches!(null, Value::Null),
            "{via:?}: returnNull gave {null:?}"
        );
        assert!(
            matches!(undefined, Value::Undefined),
            "{via:?}: returnUndefined gave {undefined:?}"
        );
        assert!(!null.data_eq(&undefined));
    }
}

#[tokio::test]
async fn throw_error_is_a_range_error_without_stack() {
    for via in Via::ALL {
        let api = via.connect(shared()).await;
        let (thrown, after) = tokio::join!(
            api.call("throwError", vec![]),
            api.call("square", vec![3.into()])
        );
        let e = err(thrown);
        assert_eq!(e.name, "RangeError", "{via:?}: {e:?}");
        assert_eq!(e.message, "test error", "{via:?}: {e:?}");
        assert_eq!(e.stack, None, "{via:?}: no stack on the wire");
        assert!(e.props.is_empty(), "{via:?}: {e:?}");
        assert_eq!(e.kind(), ErrorKind::Failed, "{via:?}");
        assert_eq!(num(&ok(after)), 9.0, "{via:?}: the session goes on");
    }
}

#[tokio::test]
async fn unknown_method_rejects_type_error_and_unknown_property_is_undefined() {
    for via in Via::ALL {
        let api = via.connect(shared()).await;
        let (call, prop) = tokio::join!(
            api.call("frobnicate", vec![1.into()]),
            api.get("notAProperty")
        );
        let e = err(call);
        assert_eq!(e.name, "TypeError", "{via:?}: {e:?}");
        assert_eq!(e.kind(), ErrorKind::Failed);
        assert!(ok(prop).is_undefined(), "{via:?}");
    }
}

#[tokio::test]
async fn object_prototype_members_are_unreachable() {
    let api = via_ws().await;
    for name in [
        "constructor",
        "__proto__",
        "toString",
        "hasOwnProperty",
        "valueOf",
    ] {
        let read = ok(t!(api.get(name)));
        assert!(read.is_undefined(), "reading {name}: {read:?}");
        let e = err(t!(api.call(name, vec![])));
        assert_eq!(e.name, "TypeError", "calling {name}: {e:?}");
    }
    assert_eq!(num(&ok(t!(api.call("square", vec![5.into()])))), 25.0);
}

async fn via_ws() -> tether::Stub {
    Via::WebSocket.connect(shared()).await
}
