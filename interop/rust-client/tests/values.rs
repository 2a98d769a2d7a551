//! By-value round trips of every value type through `echo(x)` on the reference Node server, over
//! WebSocket and HTTP batch: objects (key order), arrays (including ones that look like wire
//! expressions), unicode strings, numbers (`-0`, extremes, non-finite), `undefined` in containers,
//! bigints up to the 16384-character limit, dates (including invalid), bytes of every
//! [`BytesKind`], and `Error` values with a cause and extra properties.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use tether::{BigInt, Bytes, BytesKind, RpcError, Stub, Value};
use tether_interop_tests::{all, assert_data_eq, num, ok, shared, Via};

/// Echoes every value through `api` (all at once: one request over HTTP batch).
async fn echo_all(api: &Stub, values: &[Value]) -> Vec<Value> {
    let results = all(values.iter().map(|v| api.call("echo", vec![v.clone()]))).await;
    results.into_iter().map(ok).collect()
}

/// Echoes `values` over both transports and checks each comes back `data_eq`.
async fn round_trip(values: &[Value]) {
    for via in Via::ALL {
        let api = via.connect(shared()).await;
        let got = echo_all(&api, values).await;
        assert_eq!(got.len(), values.len());
        for (i, (got, want)) in got.iter().zip(values).enumerate() {
            assert_data_eq(got, want, &format!("{via:?} value #{i}"));
        }
    }
}

fn obj<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::object(entries)
}

fn keys(value: &Value) -> Vec<String> {
    value
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, _)| k.to_owned())
        .collect()
}

#[tokio::test]
async fn scalars() {
    round_trip(&[
        Value::Null,
        true.into(),
        false.into(),
        0.into(),
        1.into(),
        (-1).into(),
        0.1.into(),
        "".into(),
        "plain".into(),
    ])
    .await;
}

#[tokio::test]
async fn nested_objects_keep_their_key_order() {
    let inner = obj([("c", 3.into()), ("a", 4.into())]);
    let alpha = obj([
        ("y", 2.into()),
        ("b", Value::array([1.into(), inner])),
        ("x", Value::Null),
    ]);
    let value = obj([
        ("zeta", 1.into()),
        ("alpha", alpha),
        ("mid", "m".into()),
        ("", "empty key".into()),
    ]);
    round_trip(&[value.clone(), obj([])]).await;
    for via in Via::ALL {
        let api = via.connect(shared()).await;
        let got = echo_all(&api, std::slice::from_ref(&value)).await.remove(0);
        assert_eq!(keys(&got), ["zeta", "alpha", "mid", ""], "{via:?}");
        assert_eq!(keys(got.get("alpha")), ["y", "b", "x"], "{via:?}");
        let b1 = &got.get("alpha").get("b").as_array().unwrap()[1];
        assert_eq!(keys(b1), ["c", "a"], "{via:?}");
    }
}

#[tokio::test]
async fn integer_like_keys_come_first_as_in_javascript() {
    // A JavaScript object enumerates array-index keys first, in ascending order: the Node
    // server's echo reorders them. Everything else keeps its order.
    let value = obj([
        ("b", 1.into()),
        ("10", 2.into()),
        ("a", 3.into()),
        ("2", 4.into()),
    ]);
    for via in Via::ALL {
        let api = via.connect(shared()).await;
        let got = echo_all(&api, std::slice::from_ref(&value)).await.remove(0);
        assert_eq!(keys(&got), ["2", "10", "b", "a"], "{via:?}: {got:?}");
        assert_eq!(num(got.get("10")), 2.0);
    }
}

#[tokio::test]
async fn arrays_including_ones_that_look_like_wire_expressions() {
    round_trip(&[
        Value::array([]),
        Value::array([Value::array([])]),
        Value::array([
            1.into(),
            Value::array([2.into(), Value::array([3.into(), Value::array([4.into()])])]),
        ]),
        Value::array([
            1.into(),
            "two".into(),
            Value::Null,
            true.into(),
            obj([("a", Value::array([]))]),
        ]),
        Value::array(["pipeline".into(), 0.into(), Value::array(["x".into()])]),
        Value::array(["error".into(), "x".into()]),
        Value::array(["undefined".into()]),
        Value::array(["bigint".into(), "1".into()]),
        Value::array(["export".into(), (-1).into()]),
    ])
    .await;
}

#[tokio::test]
async fn unicode_and_escaped_strings() {
    round_trip(&[
        "héllo wörld".into(),
        "日本語テキスト".into(),
        "emoji 😀👍🏽 and flags 🇯🇵".into(),
        "\u{0000}\u{0001}\u{001f} control".into(),
        "quotes \" \\ backslash \n newline \t tab \r".into(),
        "\u{2028}\u{2029} separators".into(),
        "\u{FEFF} BOM".into(),
        "\u{10FFFF} max code point, \u{FFFF} and \u{E000}".into(),
        "x".repeat(70_000).into(),
    ])
    .await;
}

#[tokio::test]
async fn numbers_large_tiny_and_fractional() {
    round_trip(&[
        9_007_199_254_740_991.0.into(),
        (-9_007_199_254_740_991.0).into(),
        (2f64.powi(53) + 2.0).into(),
        2f64.powi(64).into(),
        1e21.into(),
        (-1e300).into(),
        f64::MAX.into(),
        f64::MIN.into(),
        5e-324.into(),
        (-5e-324).into(),
        f64::MIN_POSITIVE.into(),
        (0.1 + 0.2).into(),
        123_456.789.into(),
        4_294_967_296.5.into(),
        1e-7.into(),
        123e-20.into(),
    ])
    .await;
}

#[tokio::test]
async fn negative_zero_comes_back_as_a_zero() {
    // JavaScript's JSON.stringify(-0) is "0": the sign is lost on the way back, the value is not.
    for via in Via::ALL {
        let api = via.connect(shared()).await;
        let got = echo_all(&api, &[(-0.0).into(), Value::array([(-0.0).into()])]).await;
        assert_eq!(num(&got[0]), 0.0, "{via:?}: {:?}", got[0]);
        assert_eq!(num(&got[1].as_array().unwrap()[0]), 0.0, "{via:?}");
    }
}

#[tokio::test]
async fn infinities_and_nan() {
    round_trip(&[
        f64::INFINITY.into(),
        f64::NEG_INFINITY.into(),
        f64::NAN.into(),
        Value::array([f64::NAN.into(), f64::INFINITY.into()]),
        obj([("x", f64::NEG_INFINITY.into())]),
    ])
    .await;
    // data_eq treats NaN as equal to NaN; check the kinds explicitly too.
    let api = Via::WebSocket.connect(shared()).await;
    let got = echo_all(&api, &[f64::NAN.into(), f64::NEG_INFINITY.into()]).await;
    assert!(num(&got[0]).is_nan());
    assert_eq!(num(&got[1]), f64::NEG_INFINITY);
}

#[tokio::test]
async fn undefined_at_top_level_and_inside_objects_and_arrays() {
    let object = obj([
        ("a", Value::Undefined),
        ("b", 1.into()),
        ("c", obj([("d", Value::Undefined)])),
    ]);
    let array = Value::array([1.into(), Value::Undefined, 3.into()]);
    round_trip(&[Value::Undefined, object.clone(), array.clone()]).await;
    for via in Via::ALL {
        let api = via.connect(shared()).await;
        let got = echo_all(&api, &[object.clone(), array.clone()]).await;
        assert_eq!(keys(&got[0]), ["a", "b", "c"], "{via:?}: the key is kept");
        assert!(got[0].as_object().unwrap().get("a").unwrap().is_undefined());
        assert_eq!(got[1].as_array().unwrap().len(), 3);
        assert!(got[1].as_array().unwrap()[1].is_undefined(), "{via:?}");
    }
}

#[tokio::test]
async fn bigints_small_negative_and_huge() {
    let pow = |base: u32, exp: u32| BigInt::from(base).pow(exp);
    // 10^16383 has 16384 digits: the longest bigint the reference accepts.
    let longest = pow(10, 16383);
    assert_eq!(longest.to_string().len(), 16384);
    let longest_negative = -(pow(10, 16382));
    assert_eq!(longest_negative.to_string().len(), 16384);
    let values: Vec<Value> = [
        BigInt::from(0),
        BigInt::from(1),
        BigInt::from(-1),
        BigInt::from(9_007_199_254_740_993u64),
        -pow(2, 64),
        pow(2, 200),
        -pow(10, 1000) + 7,
        longest,
        longest_negative,
    ]
    .into_iter()
    .map(Value::BigInt)
    .collect();
    round_trip(&values).await;
}

#[tokio::test]
async fn dates_including_negative_and_invalid() {
    round_trip(&[
        Value::Date(0.0),
        Value::Date(1_700_000_000_123.0),
        Value::Date(-86_400_000.0 * 365.25 * 100.0),
        Value::Date(8.64e15),
        Value::Date(-8.64e15),
        Value::Date(f64::NAN),
    ])
    .await;
    let api = Via::WebSocket.connect(shared()).await;
    let got = echo_all(&api, &[Value::Date(f64::NAN)]).await;
    match &got[0] {
        Value::Date(ms) => assert!(ms.is_nan(), "an invalid date stays invalid: {ms}"),
        other => panic!("expected an invalid Date, got {other:?}"),
    }
}

#[tokio::test]
async fn bytes_of_every_kind() {
    let le = |xs: &[u64], width: usize| -> Vec<u8> {
        xs.iter()
            .flat_map(|x| x.to_le_bytes()[..width].to_vec())
            .collect()
    };
    let f32s: Vec<u8> = [0.0f32, 1.5, -2.25, f32::INFINITY]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let f64s: Vec<u8> = [
        0.0f64,
        std::f64::consts::PI,
        -1e300,
        f64::NEG_INFINITY,
        -0.0,
    ]
    .iter()
    .flat_map(|x| x.to_le_bytes())
    .collect();
    let all_bytes: Vec<u8> = (0..=255).collect();
    let mib: Vec<u8> = (0..1usize << 20).map(|i| (i * 7) as u8).collect();
    let values: Vec<Value> = vec![
        Bytes::new(vec![]).into(),
        Bytes::new(vec![1, 2, 3, 250]).into(),
        Bytes::new(vec![0xfb, 0xff]).into(),
        Bytes::new(all_bytes.clone()).into(),
        Bytes::new(mib).into(),
        Bytes::with_kind(BytesKind::ArrayBuffer, vec![1, 2, 3, 4, 5]).into(),
        Bytes::with_kind(BytesKind::ArrayBuffer, vec![]).into(),
        Bytes::with_kind(BytesKind::DataView, vec![20, 30]).into(),
        Bytes::with_kind(BytesKind::Int8Array, vec![0, 1, 0xff, 0x7f, 0x80]).into(),
        Bytes::with_kind(BytesKind::Uint8ClampedArray, vec![0, 1, 254, 255]).into(),
        Bytes::with_kind(
            BytesKind::Int16Array,
            le(&[0, 1, 0xffff, 0x7fff, 0x8000], 2),
        )
        .into(),
        Bytes::with_kind(BytesKind::Int16Array, vec![]).into(),
        Bytes::with_kind(BytesKind::Uint16Array, le(&[0, 1, 65535, 258], 2)).into(),
        Bytes::with_kind(
            BytesKind::Int32Array,
            le(&[0, 1, 0xffff_ffff, 0x7fff_ffff], 4),
        )
        .into(),
        Bytes::with_kind(
            BytesKind::Uint32Array,
            le(&[0, 1, 4_294_967_295, 16_909_060], 4),
        )
        .into(),
        Bytes::with_kind(
            BytesKind::BigInt64Array,
            le(&[0, 1, u64::MAX, i64::MAX as u64, 1 << 63], 8),
        )
        .into(),
        Bytes::with_kind(BytesKind::BigUint64Array, le(&[0, 1, u64::MAX], 8)).into(),
        Bytes::with_kind(BytesKind::Float32Array, f32s).into(),
        Bytes::with_kind(BytesKind::Float64Array, f64s).into(),
    ];
    round_trip(&values).await;
    // The kind survives, not only the bytes.
    let api = Via::WebSocket.connect(shared()).await;
    let got = echo_all(&api, &values).await;
    for (got, want) in got.iter().zip(&values) {
        match (got, want) {
            (Value::Bytes(g), Value::Bytes(w)) => {
                assert_eq!(g.kind, w.kind);
                assert_eq!(g.data.len(), w.data.len(), "{:?}", w.kind);
            }
            _ => panic!("expected bytes, got {got:?}"),
        }
    }
}

#[tokio::test]
async fn errors_with_cause_and_extra_properties() {
    let plain = RpcError::error("plain");
    let with_cause = RpcError::type_error("outer")
        .with_prop("code", "E_OUTER")
        .with_prop(
            "details",
            obj([
                ("n", 42.into()),
                ("list", Value::array([1.into(), 2.into()])),
                ("big", BigInt::from(5).into()),
            ]),
        )
        .with_cause(RpcError::range_error("inner"));
    let syntax = RpcError::new("SyntaxError", "bad syntax");
    let uri_nested = obj([(
        "err",
        RpcError::new("URIError", "u").with_prop("code", 7).into(),
    )]);
    for via in Via::ALL {
        let api = via.connect(shared()).await;
        let values: Vec<Value> = vec![
            plain.clone().into(),
            with_cause.clone().into(),
            syntax.clone().into(),
            uri_nested.clone(),
        ];
        let got = echo_all(&api, &values).await;
        for (i, (got, want)) in got.iter().zip(&values).enumerate() {
            assert_data_eq(got, want, &format!("{via:?} error #{i}"));
        }
        let Value::Error(e) = &got[1] else {
            panic!("{via:?}: expected an Error, got {:?}", got[1]);
        };
        assert_eq!(
            (e.name.as_str(), e.message.as_str()),
            ("TypeError", "outer")
        );
        assert_eq!(e.stack, None, "{via:?}");
        assert_data_eq(e.props.get("code").unwrap(), &"E_OUTER".into(), "code");
        assert_data_eq(
            e.props.get("details").unwrap(),
            with_cause.props.get("details").unwrap(),
            "details",
        );
        match e.cause() {
            Some(Value::Error(cause)) => {
                assert_eq!(cause.name, "RangeError");
                assert_eq!(cause.message, "inner");
            }
            other => panic!("{via:?}: expected a RangeError cause, got {other:?}"),
        }
        let Value::Error(nested) = got[3].get("err") else {
            panic!("{via:?}: {:?}", got[3]);
        };
        assert_eq!(nested.name, "URIError");
        assert_data_eq(nested.props.get("code").unwrap(), &7.into(), "nested code");
    }
}

#[tokio::test]
async fn an_error_stack_is_not_sent_back_by_the_reference() {
    // capnweb only sends stacks its onSendError hook keeps; the default keeps none.
    let mut with_stack = RpcError::error("stacked");
    with_stack.stack = Some("Error: stacked\n    at rust".to_owned());
    let api = Via::WebSocket.connect(shared()).await;
    let got = echo_all(&api, &[with_stack.into()]).await;
    let Value::Error(e) = &got[0] else {
        panic!("{:?}", got[0]);
    };
    assert_eq!((e.name.as_str(), e.message.as_str()), ("Error", "stacked"));
    assert_eq!(e.stack, None);
}

#[tokio::test]
async fn everything_at_once_deeply_nested() {
    let mut deep = Value::array(["deep".into()]);
    for _ in 0..50 {
        deep = Value::array([obj([("d", deep)])]);
    }
    let value = obj([
        (
            "list",
            Value::array([
                BigInt::from(1).into(),
                Value::Date(5.0),
                Bytes::new(vec![1]).into(),
                Value::Undefined,
                f64::NAN.into(),
                obj([("err", RpcError::new("URIError", "u").into())]),
            ]),
        ),
        ("nested", deep),
        (
            "f32",
            Bytes::with_kind(BytesKind::Float32Array, 1.5f32.to_le_bytes().to_vec()).into(),
        ),
    ]);
    round_trip(&[value]).await;
}
