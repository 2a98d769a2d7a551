//! Encoding: number and string formatting, every value form, messages, the depth limit.

use super::*;
use crate::core::value::{BigInt, Bytes, BytesKind, Object};

fn enc(msg: &OutMessage<'_>) -> String {
    encode(
        msg,
        &mut FixedExporter::new(vec![WireRef::Export(-1)]),
        &EncodeOptions::default(),
    )
    .unwrap()
}

#[test]
fn numbers_print_as_javascript() {
    let cases: &[(f64, &str)] = &[
        (5.0, "5"),
        (-5.0, "-5"),
        (0.0, "0"),
        (-0.0, "0"),
        (1.5, "1.5"),
        (0.1, "0.1"),
        (0.1 + 0.2, "0.30000000000000004"),
        (-2.5e-3, "-0.0025"),
        (1e-6, "0.000001"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (123456.789, "123456.789"),
        (9007199254740992.0, "9007199254740992"),
        (9007199254740994.0, "9007199254740994"),
        (1e20, "100000000000000000000"),
        (123456789012345680000.0, "123456789012345680000"),
        (1e21, "1e+21"),
        (1.2345e22, "1.2345e+22"),
        (-1e300, "-1e+300"),
        (1152921504606846976.0, "1152921504606847000"),
        (f64::MAX, "1.7976931348623157e+308"),
        (5e-324, "5e-324"),
        (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
    ];
    for (x, js) in cases {
        assert_eq!(encode_value(&Value::Number(*x)), *js, "{x:e}");
    }
    assert_eq!(encode_value(&Value::Number(f64::INFINITY)), r#"["inf"]"#);
    assert_eq!(
        encode_value(&Value::Number(f64::NEG_INFINITY)),
        r#"["-inf"]"#
    );
    assert_eq!(encode_value(&Value::Number(f64::NAN)), r#"["nan"]"#);
}

#[test]
fn strings_escape_as_json_stringify() {
    let s = "a\"b\\c\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f}/\u{2028}é😀";
    assert_eq!(
        encode_value(&Value::from(s)),
        "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\u{7f}/\u{2028}é😀\""
    );
    assert_eq!(encode_value(&Value::from("")), "\"\"");
}

#[test]
fn containers_and_key_order() {
    let mut o = Object::new();
    o.insert("z", 1);
    o.insert(
        "a",
        Value::array([Value::Null, Value::Bool(false), Value::Undefined]),
    );
    o.insert("m", Object::new());
    assert_eq!(
        encode_value(&Value::Object(o)),
        r#"{"z":1,"a":[[null,false,["undefined"]]],"m":{}}"#
    );
    assert_eq!(encode_value(&Value::array([])), "[[]]");
    assert_eq!(encode_value(&Value::Undefined), r#"["undefined"]"#);
}

#[test]
fn bigint_and_date() {
    let b: BigInt = "-123456789012345678901234567890".parse().unwrap();
    assert_eq!(
        encode_value(&Value::BigInt(b)),
        r#"["bigint","-123456789012345678901234567890"]"#
    );
    assert_eq!(
        encode_value(&Value::Date(1749342170815.0)),
        r#"["date",1749342170815]"#
    );
    assert_eq!(encode_value(&Value::Date(f64::NAN)), r#"["date",null]"#);
}

#[test]
fn bytes_forms() {
    assert_eq!(
        encode_value(&Value::Bytes(Bytes::new(vec![0, 1, 2, 3, 4]))),
        r#"["bytes","AAECAwQ"]"#
    );
    assert_eq!(
        encode_value(&Value::Bytes(Bytes::new(vec![1, 2, 3, 250]))),
        r#"["bytes","AQID+g"]"#
    );
    assert_eq!(
        encode_value(&Value::Bytes(Bytes::new(vec![]))),
        r#"["bytes",""]"#
    );
    assert_eq!(
        encode_value(&Value::Bytes(Bytes::with_kind(
            BytesKind::Int16Array,
            vec![1, 0, 2, 0]
        ))),
        r#"["bytes","AQACAA","Int16Array"]"#
    );
    assert_eq!(
        encode_value(&Value::Bytes(Bytes::with_kind(
            BytesKind::ArrayBuffer,
            vec![255]
        ))),
        r#"["bytes","/w","ArrayBuffer"]"#
    );
}

#[test]
fn error_forms() {
    let plain = RpcError::range_error("test error");
    assert_eq!(
        encode_value(&plain.clone().into()),
        r#"["error","RangeError","test error"]"#
    );
    let mut with_stack = RpcError::error("m");
    with_stack.stack = Some("Error: m\n    at f".into());
    // Stacks are redacted unless exposed.
    assert_eq!(
        encode_value(&with_stack.clone().into()),
        r#"["error","Error","m"]"#
    );
    let mut ex = FixedExporter::new(vec![]);
    assert_eq!(
        encode_value_with(&with_stack.clone().into(), &mut ex, true).unwrap(),
        r#"["error","Error","m","Error: m\n    at f"]"#
    );
    let with_props = with_stack
        .clone()
        .with_cause(RpcError::type_error("inner"))
        .with_prop("code", 42);
    assert_eq!(
        encode_value(&with_props.clone().into()),
        r#"["error","Error","m",null,{"cause":["error","TypeError","inner"],"code":42}]"#
    );
    assert_eq!(
        encode_value_with(&with_props.into(), &mut ex, true).unwrap(),
        r#"["error","Error","m","Error: m\n    at f",{"cause":["error","TypeError","inner"],"code":42}]"#
    );
}

/// `levels` nested arrays, innermost empty.
fn deep_value(levels: usize) -> Value {
    let mut v = Value::array([]);
    for _ in 1..levels {
        v = Value::array([v]);
    }
    v
}

#[test]
fn error_props_that_cannot_be_encoded_are_dropped() {
    let e = RpcError::error("m")
        .with_prop("deep", deep_value(300))
        .with_prop("ok", 1);
    assert_eq!(
        encode_value(&e.into()),
        r#"["error","Error","m",null,{"ok":1}]"#
    );
    let e = RpcError::error("m")
        .with_prop("ok", 1)
        .with_prop("deep", deep_value(300));
    assert_eq!(
        encode_value(&e.into()),
        r#"["error","Error","m",null,{"ok":1}]"#
    );
    let e = RpcError::error("m").with_prop("deep", deep_value(300));
    assert_eq!(encode_value(&e.into()), r#"["error","Error","m"]"#);
}

#[test]
fn serialization_depth_limit() {
    let msg = "Serialization exceeded maximum allowed depth. (Does the message contain cycles?)";
    let mut ex = FixedExporter::new(vec![]);
    // The outermost value is at depth 0, so 256 nested arrays fit and 257 do not.
    assert!(encode_value_with(&deep_value(256), &mut ex, false).is_ok());
    let e = encode_value_with(&deep_value(257), &mut ex, false).unwrap_err();
    assert_eq!((e.name.as_str(), e.message.as_str()), ("Error", msg));
    // Call arguments start at depth 1.
    let args = [deep_value(255)];
    let push = OutMessage::Push {
        id: 0,
        path: &[],
        args: Some(&args),
    };
    assert!(encode(&push, &mut ex, &EncodeOptions::default()).is_ok());
    let args = [deep_value(256)];
    let push = OutMessage::Push {
        id: 0,
        path: &[],
        args: Some(&args),
    };
    assert_err(
        encode(&push, &mut ex, &EncodeOptions::default()),
        "Error",
        msg,
    );
}

#[test]
fn stubs_through_the_exporter() {
    let stub = || Value::Stub(Stub::broken(RpcError::error("x")));
    let mut ex = FixedExporter::new(vec![
        WireRef::Export(-1),
        WireRef::Import(3),
        WireRef::Pipeline(2, vec![]),
        WireRef::Pipeline(2, vec!["a".into(), PathKey::Index(0)]),
        WireRef::Promise(-4),
    ]);
    let v = Value::array([stub(), stub(), stub(), stub(), stub()]);
    assert_eq!(
        encode_value_with(&v, &mut ex, false).unwrap(),
        r#"[[["export",-1],["import",3],["pipeline",2],["pipeline",2,["a",0]],["promise",-4]]]"#
    );
    ex.fail = true;
    assert_err(
        encode_value_with(&stub(), &mut ex, false),
        "Error",
        "export refused",
    );
}

#[test]
fn observed_push_frames() {
    let echo: Vec<PathKey> = vec!["echo".into()];
    let args = [Value::from(5)];
    assert_eq!(
        enc(&OutMessage::Push {
            id: 0,
            path: &echo,
            args: Some(&args)
        }),
        r#"["push",["pipeline",0,["echo"],[5]]]"#
    );
    let args = [Value::array([1.into(), 2.into(), 3.into()])];
    assert_eq!(
        enc(&OutMessage::Push {
            id: 0,
            path: &echo,
            args: Some(&args)
        }),
        r#"["push",["pipeline",0,["echo"],[[[1,2,3]]]]]"#
    );
    let noop: Vec<PathKey> = vec!["noop".into()];
    assert_eq!(
        enc(&OutMessage::Push {
            id: 0,
            path: &noop,
            args: Some(&[])
        }),
        r#"["push",["pipeline",0,["noop"],[]]]"#
    );
    let value: Vec<PathKey> = vec!["value".into()];
    assert_eq!(
        enc(&OutMessage::Push {
            id: -1,
            path: &value,
            args: None
        }),
        r#"["push",["pipeline",-1,["value"]]]"#
    );
    assert_eq!(
        enc(&OutMessage::Push {
            id: 1,
            path: &[PathKey::Index(6)],
            args: None
        }),
        r#"["push",["pipeline",1,[6]]]"#
    );
    let args = [Value::Bytes(Bytes::new(vec![1, 2, 3, 250]))];
    assert_eq!(
        enc(&OutMessage::Push {
            id: 0,
            path: &echo,
            args: Some(&args)
        }),
        r#"["push",["pipeline",0,["echo"],[["bytes","AQID+g"]]]]"#
    );
    // Calling a client callback: `["push", ["pipeline", -1, [], [args…]]]`.
    let args = [Value::from("x")];
    assert_eq!(
        enc(&OutMessage::Push {
            id: -1,
            path: &[],
            args: Some(&args)
        }),
        r#"["push",["pipeline",-1,[],["x"]]]"#
    );
}

#[test]
fn observed_other_frames() {
    assert_eq!(enc(&OutMessage::Pull(1)), r#"["pull",1]"#);
    assert_eq!(enc(&OutMessage::Release(7, 1)), r#"["release",7,1]"#);
    assert_eq!(enc(&OutMessage::Release(-1, 3)), r#"["release",-1,3]"#);
    assert_eq!(
        enc(&OutMessage::Resolve(1, &Value::from(5))),
        r#"["resolve",1,5]"#
    );
    assert_eq!(
        enc(&OutMessage::Resolve(5, &Value::Undefined)),
        r#"["resolve",5,["undefined"]]"#
    );
    let stubs = Value::array([
        Value::Stub(Stub::broken(RpcError::error("x"))),
        Value::Stub(Stub::broken(RpcError::error("x"))),
    ]);
    let mut ex = FixedExporter::new(vec![WireRef::Export(-2), WireRef::Export(-3)]);
    assert_eq!(
        encode(
            &OutMessage::Resolve(20, &stubs),
            &mut ex,
            &EncodeOptions::default()
        )
        .unwrap(),
        r#"["resolve",20,[[["export",-2],["export",-3]]]]"#
    );
    let err = RpcError::type_error("'nope' is not a function.");
    assert_eq!(
        enc(&OutMessage::Reject(1, &err)),
        r#"["reject",1,["error","TypeError","'nope' is not a function."]]"#
    );
    assert_eq!(
        enc(&OutMessage::Abort(&RpcError::error(
            "bad RPC message: [\"push\"]"
        ))),
        r#"["abort",["error","Error","bad RPC message: [\"push\"]"]]"#
    );
}

#[test]
fn exact_ties_pick_the_even_digit_as_javascript() {
    // Exactly halfway between two 17-digit candidates; values and texts checked against node.
    let cases: &[(u64, &str)] = &[
        (0x431d_f16f_52f5_ff59, "2107058690031574.2"),
        (0x42ad_c706_52e9_c820, "16370320897252.062"),
        (0x4313_0c99_6100_7045, "1340469363612689.2"),
        (0x4306_3aa2_be12_98da, "782115016954651.2"),
    ];
    for (bits, js) in cases {
        let x = f64::from_bits(*bits);
        assert_eq!(encode_value(&Value::Number(x)), *js);
        assert_eq!(encode_value(&Value::Number(-x)), format!("-{js}"));
    }
}

#[test]
fn numbers_read_back_exactly() {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..100_000u64 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let x = match i % 3 {
            0 => f64::from_bits(state),
            1 => (state % 1_000_000_007) as f64 / 10f64.powi((i % 30) as i32 - 8),
            _ => (state >> 11) as f64 * 2f64.powi((i % 120) as i32 - 60),
        };
        if !x.is_finite() {
            continue;
        }
        let text = encode_value(&Value::Number(x));
        assert_eq!(text.parse::<f64>().unwrap(), x, "{text}");
    }
}

#[test]
fn rejections_and_aborts_never_carry_stubs() {
    let stub = Value::Stub(Stub::broken(RpcError::error("x")));
    let err = RpcError::error("m")
        .with_prop("s", stub.clone())
        .with_prop("ok", true);
    let mut ex = FixedExporter::new(vec![WireRef::Export(-1)]);
    let opts = EncodeOptions::default();
    assert_eq!(
        encode(&OutMessage::Reject(2, &err), &mut ex, &opts).unwrap(),
        r#"["reject",2,["error","Error","m",null,{"ok":true}]]"#
    );
    assert_eq!(
        encode(&OutMessage::Abort(&err), &mut ex, &opts).unwrap(),
        r#"["abort",["error","Error","m",null,{"ok":true}]]"#
    );
    assert_eq!(ex.next, 0, "nothing exported");
    // An error passed as a value in a resolve may carry stubs.
    assert_eq!(
        encode(&OutMessage::Resolve(2, &err.into()), &mut ex, &opts).unwrap(),
        r#"["resolve",2,["error","Error","m",null,{"s":["export",-1],"ok":true}]]"#
    );
}
