//! Expression evaluation: every form, every error, the limits and key stripping.

use super::*;
use crate::core::value::{BigInt, Bytes, BytesKind};

#[track_caller]
fn assert_unknown(expr: &str) {
    assert_err(
        eval_text(expr),
        "TypeError",
        &format!("unknown special value: {expr}"),
    );
}

#[test]
fn literals() {
    assert!(matches!(eval_text("null").unwrap(), Value::Null));
    assert_eq!(eval_text("true").unwrap().as_bool(), Some(true));
    assert_eq!(eval_text("1.5").unwrap().as_f64(), Some(1.5));
    assert_eq!(eval_text("\"hi\"").unwrap().as_str(), Some("hi"));
    let v = eval_text(r#"{"b":1,"a":[[2]],"c":{}}"#).unwrap();
    let keys: Vec<_> = v
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, _)| k.to_owned())
        .collect();
    assert_eq!(keys, ["b", "a", "c"]);
    assert!(v.get("a").data_eq(&Value::array([Value::from(2)])));
}

#[test]
fn protocol_page_array_example() {
    let v = eval_text(r#"{"key":[["abc",["date",1757214689123],[[0]]]]}"#).unwrap();
    let expected = Value::object([(
        "key",
        Value::array([
            Value::from("abc"),
            Value::Date(1757214689123.0),
            Value::array([Value::from(0)]),
        ]),
    )]);
    assert!(v.data_eq(&expected), "{v:?}");
}

#[test]
fn special_numbers_and_undefined() {
    assert!(eval_text(r#"["undefined"]"#).unwrap().is_undefined());
    assert_eq!(
        eval_text(r#"["inf"]"#).unwrap().as_f64(),
        Some(f64::INFINITY)
    );
    assert_eq!(
        eval_text(r#"["-inf"]"#).unwrap().as_f64(),
        Some(f64::NEG_INFINITY)
    );
    assert!(eval_text(r#"["nan"]"#).unwrap().as_f64().unwrap().is_nan());
    assert_unknown(r#"["undefined",1]"#);
}

#[test]
fn unknown_special_values() {
    assert_unknown("[]");
    assert_unknown(r#"["foo"]"#);
    assert_unknown("[1,2]");
    assert_unknown(r#"[["a"],1]"#);
    assert_unknown(r#"[null]"#);
    // The stream and fetch forms, in shapes capnweb does not accept either.
    assert_unknown(r#"["url"]"#);
    assert_unknown(r#"["headers","a"]"#);
    assert_unknown(r#"["writable","x"]"#);
    assert_unknown(r#"["readable",1,2]"#);
    assert_unknown(r#"["blob",1,["readable",1]]"#);
    assert_unknown(r#"["request","https://x/",null]"#);
    assert_unknown(r#"["response",null]"#);
}

#[test]
fn date_forms() {
    assert_eq!(
        eval_text(r#"["date",1749342170815]"#).unwrap().type_name(),
        "Date"
    );
    assert!(eval_text(r#"["date",1.9]"#)
        .unwrap()
        .data_eq(&Value::Date(1.0)));
    assert!(eval_text(r#"["date",null]"#)
        .unwrap()
        .data_eq(&Value::Date(f64::NAN)));
    assert!(eval_text(r#"["date",1e20]"#)
        .unwrap()
        .data_eq(&Value::Date(f64::NAN)));
    assert_unknown(r#"["date","2020-01-01"]"#);
    assert_unknown(r#"["date"]"#);
}

#[test]
fn bigint_forms() {
    let v = eval_text(r#"["bigint","-12345678901234567890"]"#).unwrap();
    let expected: BigInt = "-12345678901234567890".parse().unwrap();
    assert!(v.data_eq(&Value::BigInt(expected)));
    assert!(eval_text(r#"["bigint","0x1f"]"#)
        .unwrap()
        .data_eq(&Value::BigInt(31.into())));
    assert!(eval_text(r#"["bigint"," +7 "]"#)
        .unwrap()
        .data_eq(&Value::BigInt(7.into())));
    assert!(eval_text(r#"["bigint",""]"#)
        .unwrap()
        .data_eq(&Value::BigInt(0.into())));
    assert_err(
        eval_text(r#"["bigint","12a"]"#),
        "SyntaxError",
        "Cannot convert 12a to a BigInt",
    );
    assert_err(
        eval_text(r#"["bigint","1_000"]"#),
        "SyntaxError",
        "Cannot convert 1_000 to a BigInt",
    );
    assert_eq!(
        eval_text(r#"["bigint","-0x1"]"#).unwrap_err().name,
        "SyntaxError"
    );
    assert_eq!(
        eval_text(r#"["bigint","1.5"]"#).unwrap_err().name,
        "SyntaxError"
    );
    assert_unknown(r#"["bigint",12]"#);
}

#[test]
fn bigint_length_limit() {
    let limit_msg = "Deserialized bigint exceeds maximum length of 16384 digits.";
    let ok = format!(r#"["bigint","-{}"]"#, "9".repeat(16383));
    assert!(matches!(eval_text(&ok).unwrap(), Value::BigInt(_)));
    let ok = format!(r#"["bigint","{}"]"#, "9".repeat(16384));
    assert!(matches!(eval_text(&ok).unwrap(), Value::BigInt(_)));
    let too_long = format!(r#"["bigint","-{}"]"#, "9".repeat(16384));
    assert_err(eval_text(&too_long), "TypeError", limit_msg);
    let l = Limits {
        max_bigint_digits: 3,
        ..Limits::default()
    };
    let mut imp = RecordingImporter::default();
    assert!(eval_with(r#"["bigint","-12"]"#, &mut imp, &l).is_ok());
    assert_err(
        eval_with(r#"["bigint","1234"]"#, &mut imp, &l),
        "TypeError",
        "Deserialized bigint exceeds maximum length of 3 digits.",
    );
}

#[test]
fn bytes_with_and_without_padding() {
    let expected = Value::Bytes(Bytes::new(vec![0, 1, 2, 3, 4]));
    assert!(eval_text(r#"["bytes","AAECAwQ"]"#)
        .unwrap()
        .data_eq(&expected));
    assert!(eval_text(r#"["bytes","AAECAwQ="]"#)
        .unwrap()
        .data_eq(&expected));
    let v = eval_text(r#"["bytes","AQID+g"]"#).unwrap();
    assert!(v.data_eq(&Value::Bytes(Bytes::new(vec![1, 2, 3, 250]))));
    assert!(eval_text(r#"["bytes","AQID+g=="]"#).unwrap().data_eq(&v));
    assert!(eval_text(r#"["bytes","AQID-g"]"#).unwrap().data_eq(&v));
    assert!(eval_text(r#"["bytes",""]"#)
        .unwrap()
        .data_eq(&Value::Bytes(Bytes::new(vec![]))));
    assert_eq!(
        eval_text(r#"["bytes","!!!"]"#).unwrap_err().name,
        "TypeError"
    );
    assert_unknown(r#"["bytes",5]"#);
}

#[test]
fn bytes_every_kind() {
    for kind in [
        BytesKind::Uint8Array,
        BytesKind::ArrayBuffer,
        BytesKind::DataView,
        BytesKind::Int8Array,
        BytesKind::Uint8ClampedArray,
        BytesKind::Int16Array,
        BytesKind::Uint16Array,
        BytesKind::Int32Array,
        BytesKind::Uint32Array,
        BytesKind::BigInt64Array,
        BytesKind::BigUint64Array,
        BytesKind::Float32Array,
        BytesKind::Float64Array,
    ] {
        let data: Vec<u8> = (0..16).collect();
        let v = eval_text(&format!(
            r#"["bytes","AAECAwQFBgcICQoLDA0ODw","{}"]"#,
            kind.name()
        ))
        .unwrap();
        assert!(
            v.data_eq(&Value::Bytes(Bytes::with_kind(kind, data))),
            "{kind:?}"
        );
    }
}

#[test]
fn bytes_marker_errors() {
    assert_err(
        eval_text(r#"["bytes","AAAA","Foo"]"#),
        "TypeError",
        "Unknown bytes type marker: Foo",
    );
    let long = "X".repeat(100);
    assert_err(
        eval_text(&format!(r#"["bytes","AAAA","{long}"]"#)),
        "TypeError",
        &format!("Unknown bytes type marker: {}", &long[..64]),
    );
    assert_err(
        eval_text(r#"["bytes","AAAA",5]"#),
        "TypeError",
        "Unknown bytes type marker type: number",
    );
    assert_err(
        eval_text(r#"["bytes","AAAA",null]"#),
        "TypeError",
        "Unknown bytes type marker type: object",
    );
    assert_err(
        eval_text(r#"["bytes","AAEC","Int16Array"]"#),
        "TypeError",
        "Invalid byte length 3 for Int16Array; expected a multiple of 2",
    );
    assert_err(
        eval_text(r#"["bytes","AAECAwQF","Float64Array"]"#),
        "TypeError",
        "Invalid byte length 6 for Float64Array; expected a multiple of 8",
    );
}

fn as_error(v: Value) -> RpcError {
    match v {
        Value::Error(e) => *e,
        other => panic!("not an error: {other:?}"),
    }
}

#[test]
fn error_forms() {
    let e = as_error(eval_text(r#"["error","RangeError","test error"]"#).unwrap());
    assert_eq!(
        (e.name.as_str(), e.message.as_str(), e.stack.as_deref()),
        ("RangeError", "test error", None)
    );
    assert!(e.props.is_empty());
    let e = as_error(eval_text(r#"["error","Error","m","at f (x.js:1)"]"#).unwrap());
    assert_eq!(e.stack.as_deref(), Some("at f (x.js:1)"));
    let e = as_error(eval_text(r#"["error","Error","m",5]"#).unwrap());
    assert_eq!(e.stack, None);
    let e = as_error(
        eval_text(
            r#"["error","Error","boom",null,{"cause":["error","TypeError","inner"],"code":[[1]]}]"#,
        )
        .unwrap(),
    );
    assert_eq!(e.stack, None);
    let cause = e.cause().unwrap();
    assert!(cause.data_eq(&Value::from(RpcError::type_error("inner"))));
    assert!(e
        .props
        .get("code")
        .unwrap()
        .data_eq(&Value::array([Value::from(1)])));
    assert_unknown(r#"["error","Error"]"#);
    assert_unknown(r#"["error",1,"m"]"#);
    assert_unknown(r#"["error","Error","m",null,null]"#);
    assert_unknown(r#"["error","Error","m",null,[1]]"#);
}

#[test]
fn error_props_skip_reserved_and_dangerous_keys() {
    let mut imp = RecordingImporter::with_stubs();
    let v = eval_with(
        r#"["error","Error","m",null,{"name":["export",-1],"message":"y","stack":"z","toString":["export",-3],"code":7}]"#,
        &mut imp,
        &limits(),
    )
    .unwrap();
    let e = as_error(v);
    assert_eq!(
        (e.name.as_str(), e.message.as_str(), e.stack.as_deref()),
        ("Error", "m", None)
    );
    let keys: Vec<_> = e.props.iter().map(|(k, _)| k.to_owned()).collect();
    assert_eq!(keys, ["code"]);
    // `name` is skipped without evaluation; `toString` is evaluated, then dropped.
    assert!(matches!(imp.calls.as_slice(), [Call::ImportStub(-3)]));
}

#[test]
fn dangerous_keys_stripped_after_evaluation() {
    let mut imp = RecordingImporter::with_stubs();
    let v = eval_with(
        r#"{"__proto__":{"x":1},"constructor":1,"toJSON":["export",-5],"ok":2,"hasOwnProperty":3,
            "valueOf":0,"toString":0,"toLocaleString":0,"isPrototypeOf":0,"propertyIsEnumerable":0,
            "__defineGetter__":0,"__defineSetter__":0,"__lookupGetter__":0,"__lookupSetter__":0,
            "nested":{"__proto__":["export",-6],"fine":true}}"#,
        &mut imp,
        &limits(),
    )
    .unwrap();
    let keys: Vec<_> = v
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, _)| k.to_owned())
        .collect();
    assert_eq!(keys, ["ok", "nested"]);
    let nested: Vec<_> = v
        .get("nested")
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, _)| k.to_owned())
        .collect();
    assert_eq!(nested, ["fine"]);
    assert!(matches!(
        imp.calls.as_slice(),
        [Call::ImportStub(-5), Call::ImportStub(-6)]
    ));
}

#[test]
fn import_and_pipeline_references() {
    let mut imp = RecordingImporter::default();
    let v = eval_with(r#"["import",3]"#, &mut imp, &limits()).unwrap();
    assert_eq!(v.as_str(), Some("import:3"));
    let v = eval_with(r#"["pipeline",1,["a",0,2,-1,1.5]]"#, &mut imp, &limits()).unwrap();
    assert_eq!(v.as_str(), Some("pipeline:1"));
    eval_with(
        r#"["pipeline",0,["echo"],[[[1,2,3]],["pipeline",14]]]"#,
        &mut imp,
        &limits(),
    )
    .unwrap();
    match imp.calls.as_slice() {
        [Call::Reference {
            id: 3,
            path: p0,
            args: None,
            promise: false,
        }, Call::Reference {
            id: 1,
            path: p1,
            args: None,
            promise: true,
        }, Call::Reference {
            id: 14,
            path: p2,
            args: None,
            promise: true,
        }, Call::Reference {
            id: 0,
            path: p3,
            args: Some(args),
            promise: true,
        }] => {
            assert!(p0.is_empty() && p2.is_empty());
            let expected: Vec<PathKey> = vec![
                "a".into(),
                PathKey::Index(0),
                PathKey::Index(2),
                "-1".into(),
                "1.5".into(),
            ];
            assert_eq!(p1, &expected);
            assert_eq!(p3, &vec![PathKey::from("echo")]);
            assert_eq!(args.len(), 2);
            assert!(args[0].data_eq(&Value::array([1.into(), 2.into(), 3.into()])));
            assert_eq!(args[1].as_str(), Some("pipeline:14"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_references() {
    assert_unknown(r#"["import"]"#);
    assert_unknown(r#"["pipeline","1"]"#);
    assert_unknown(r#"["pipeline",1,"x"]"#);
    assert_unknown(r#"["pipeline",1,[true]]"#);
    assert_unknown(r#"["pipeline",1,[],{}]"#);
    assert_unknown(r#"["import",1,[],[],5]"#);
    assert_unknown(r#"["export","x"]"#);
    assert_unknown(r#"["promise"]"#);
    assert_err(
        eval_text(r#"["pipeline",1.5]"#),
        "Error",
        "no such entry on exports table: 1.5",
    );
    // The importer's own errors propagate.
    assert_err(
        eval_text(r#"["pipeline",999,["x"],[]]"#),
        "Error",
        "no such entry on exports table: 999",
    );
}

#[test]
fn export_and_promise() {
    let mut imp = RecordingImporter::default();
    let v = eval_with(r#"[[["export",-1],["promise",-2]]]"#, &mut imp, &limits()).unwrap();
    assert_eq!(v.as_array().unwrap()[1].as_str(), Some("promise:-2"));
    assert!(matches!(
        imp.calls.as_slice(),
        [Call::ImportStub(-1), Call::ImportPromise(-2)]
    ));
}

#[test]
fn remap_forms() {
    let mut imp = RecordingImporter::default();
    eval_with(
        r#"["remap",0,["a",1],[["import",1],["export",-2]],[["pipeline",0,["x"]],["import",-1]]]"#,
        &mut imp,
        &limits(),
    )
    .unwrap();
    match imp.calls.as_slice() {
        [Call::Remap {
            id: 0,
            path,
            captures,
            program,
        }] => {
            assert_eq!(path, &vec![PathKey::from("a"), PathKey::Index(1)]);
            assert_eq!(captures, &vec![Capture::Import(1), Capture::Export(-2)]);
            assert_eq!(program.instructions.len(), 2);
            // `["pipeline",0,["x"]]`
            assert!(
                matches!(&program.instructions[0], Expr::Ref(r)
                    if r.id == 0 && r.path == [PathKey::from("x")] && r.args.is_none() && r.promise),
                "{program:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_err(
        eval_text(r#"["remap",0,[],[["foo",1]],[]]"#),
        "TypeError",
        r#"unknown map capture: ["foo",1]"#,
    );
    assert_err(
        eval_text(r#"["remap",0,[],[5],[]]"#),
        "TypeError",
        "unknown map capture: 5",
    );
    assert_unknown(r#"["remap",0,[],[]]"#);
    assert_unknown(r#"["remap",0,[null],[],[]]"#);
    assert_unknown(r#"["remap","0",[],[],[]]"#);
}

#[test]
fn depth_arrays_200_ok_300_refused() {
    let msg = "Deserialization exceeded maximum allowed message depth of 256.";
    assert!(eval_text(&nested_arrays(200)).is_ok());
    assert_err(eval_text(&nested_arrays(300)), "TypeError", msg);
}

#[test]
fn depth_objects_200_ok_300_refused() {
    let msg = "Deserialization exceeded maximum allowed message depth of 256.";
    assert!(eval_text(&nested_objects(200)).is_ok());
    assert!(eval_text(&nested_objects(255)).is_ok());
    assert_err(eval_text(&nested_objects(256)), "TypeError", msg);
    assert_err(eval_text(&nested_objects(300)), "TypeError", msg);
}

#[test]
fn depth_exact_boundary_without_prescan() {
    // Build the parsed tree directly so only evaluate's per-level check applies.
    let build = |levels: usize| {
        let mut v = Node::Array(vec![Node::Array(vec![])]);
        for _ in 1..levels {
            v = Node::Array(vec![Node::Array(vec![v])]);
        }
        v
    };
    let l = limits();
    // 256 nested arrays: the innermost (empty) one sits at depth 255.
    assert!(evaluate(build(256), &mut RecordingImporter::default(), &l).is_ok());
    assert_eq!(
        evaluate(build(257), &mut RecordingImporter::default(), &l)
            .unwrap_err()
            .name,
        "TypeError"
    );
    // Call arguments count one level, like array elements.
    let mut args = Node::Number(1.0);
    for _ in 0..254 {
        args = Node::Array(vec![Node::Array(vec![args])]);
    }
    let call = |inner: Node<'static>| {
        Node::Array(vec![
            Node::String("pipeline".into()),
            Node::Number(0.0),
            Node::Array(vec![]),
            Node::Array(vec![inner]),
        ])
    };
    assert!(evaluate(call(args.clone()), &mut RecordingImporter::default(), &l).is_ok());
    let deeper = Node::Array(vec![Node::Array(vec![args])]);
    assert!(evaluate(call(deeper), &mut RecordingImporter::default(), &l).is_err());
}

#[test]
fn configured_depth_limit_is_named() {
    let l = Limits {
        max_depth: 3,
        ..Limits::default()
    };
    let mut imp = RecordingImporter::default();
    assert!(eval_with(&nested_objects(2), &mut imp, &l).is_ok());
    assert_err(
        eval_with(&nested_objects(3), &mut imp, &l),
        "TypeError",
        "Deserialization exceeded maximum allowed message depth of 3.",
    );
}

#[test]
fn failure_after_stub_import_drops_partial_value() {
    let mut imp = RecordingImporter::with_stubs();
    let r = eval_with(r#"[[["export",-1],["pipeline",999]]]"#, &mut imp, &limits());
    assert_err(r, "Error", "no such entry on exports table: 999");
    assert!(matches!(imp.calls.as_slice(), [Call::ImportStub(-1)]));
}
