//! Round trips: literal wire text → parse → evaluate → encode gives the same text back.

use super::*;

/// Evaluates `expr` (stubs become placeholder stubs) and encodes it again, exposing stacks.
fn roundtrip_expr(expr: &str, refs: Vec<WireRef>) -> String {
    let text = format!("[\"resolve\",1,{expr}]");
    let RawMessage::Resolve(1, json) = parse_message(&text, &limits()).unwrap() else {
        panic!("not a resolve");
    };
    let value = evaluate(json, &mut RecordingImporter::with_stubs(), &limits()).unwrap();
    encode_value_with(&value, &mut FixedExporter::new(refs), true).unwrap()
}

#[track_caller]
fn assert_roundtrip(expr: &str) {
    assert_eq!(roundtrip_expr(expr, vec![WireRef::Export(-1)]), expr);
}

#[test]
fn json_literals() {
    for expr in [
        "5",
        "-17",
        "1.5",
        "1e+21",
        "1e-7",
        "\"hi \\\"there\\\"\\n\"",
        "null",
        "true",
        "false",
        "{}",
        r#"{"a":1,"b":"x"}"#,
        r#"{"z":{"y":{"x":[[]]}},"a":0}"#,
    ] {
        assert_roundtrip(expr);
    }
}

#[test]
fn protocol_page_examples() {
    for expr in [
        r#"["date",1749342170815]"#,
        r#"[["just","an","array"]]"#,
        r#"{"key":[["abc",["date",1757214689123],[[0]]]]}"#,
        r#"["undefined"]"#,
        r#"["inf"]"#,
        r#"["-inf"]"#,
        r#"["nan"]"#,
        r#"["bigint","123"]"#,
        r#"["bigint","-98765432109876543210"]"#,
        r#"["date",null]"#,
    ] {
        assert_roundtrip(expr);
    }
}

#[test]
fn observed_bytes_frames() {
    assert_roundtrip(r#"["bytes","AAECAwQ"]"#);
    assert_roundtrip(r#"["bytes","AQID+g"]"#);
    assert_roundtrip(r#"["bytes",""]"#);
    // Padding is accepted on input and never produced.
    assert_eq!(
        roundtrip_expr(r#"["bytes","AAECAwQ="]"#, vec![]),
        r#"["bytes","AAECAwQ"]"#
    );
    // An explicit Uint8Array marker is the default and is not repeated.
    assert_eq!(
        roundtrip_expr(r#"["bytes","AQID+g","Uint8Array"]"#, vec![]),
        r#"["bytes","AQID+g"]"#
    );
}

#[test]
fn every_bytes_kind() {
    for name in [
        "ArrayBuffer",
        "DataView",
        "Int8Array",
        "Uint8ClampedArray",
        "Int16Array",
        "Uint16Array",
        "Int32Array",
        "Uint32Array",
        "BigInt64Array",
        "BigUint64Array",
        "Float32Array",
        "Float64Array",
    ] {
        assert_roundtrip(&format!(r#"["bytes","AAECAwQFBgcICQoLDA0ODw","{name}"]"#));
    }
}

#[test]
fn error_forms() {
    for expr in [
        r#"["error","RangeError","test error"]"#,
        r#"["error","TypeError","'nope' is not a function."]"#,
        r#"["error","Error","m","Error: m\n    at f (x.js:1:1)"]"#,
        r#"["error","Error","boom",null,{"cause":["error","TypeError","inner"]}]"#,
        r#"["error","AggregateError","all",null,{"errors":[[["error","Error","a"]]],"code":"E1"}]"#,
        r#"["error","Error","s","stack",{"cause":["undefined"],"n":[[1,["inf"]]]}]"#,
    ] {
        assert_roundtrip(expr);
    }
    // Reserved and dangerous keys do not survive; a stackless error goes back to 3 elements.
    assert_eq!(
        roundtrip_expr(
            r#"["error","Error","m",null,{"name":"x","toJSON":1}]"#,
            vec![]
        ),
        r#"["error","Error","m"]"#
    );
}

#[test]
fn references() {
    assert_roundtrip(r#"["export",-1]"#);
    assert_eq!(
        roundtrip_expr(
            r#"[[["export",-2],["export",-3]]]"#,
            vec![WireRef::Export(-2), WireRef::Export(-3)]
        ),
        r#"[[["export",-2],["export",-3]]]"#
    );
    assert_eq!(
        roundtrip_expr(r#"{"s":["import",4]}"#, vec![WireRef::Import(4)]),
        r#"{"s":["import",4]}"#
    );
}

#[test]
fn observed_push_frame_round_trip() {
    for frame in [
        r#"["push",["pipeline",0,["echo"],[[[1,2,3]]]]]"#,
        r#"["push",["pipeline",0,["echo"],[5]]]"#,
        r#"["push",["pipeline",0,["noop"],[]]]"#,
        r#"["push",["pipeline",-1,["value"]]]"#,
        r#"["push",["pipeline",0,["echo"],[["bytes","AQID+g"]]]]"#,
        r#"["push",["pipeline",0,["echo"],[{"a":1,"b":"x"}]]]"#,
    ] {
        let RawMessage::Push(json) = parse_message(frame, &limits()).unwrap() else {
            panic!("not a push");
        };
        let mut imp = RecordingImporter::default();
        evaluate(json, &mut imp, &limits()).unwrap();
        let Some(Call::Reference {
            id,
            path,
            args,
            promise: true,
        }) = imp.calls.pop()
        else {
            panic!("no pipeline call for {frame}");
        };
        let msg = OutMessage::Push {
            id,
            path: &path,
            args: args.as_deref(),
        };
        let mut ex = FixedExporter::new(vec![]);
        assert_eq!(
            encode(&msg, &mut ex, &EncodeOptions::default()).unwrap(),
            frame
        );
    }
}

#[test]
fn deep_values_round_trip() {
    let arrays = nested_arrays(200);
    assert_roundtrip(&arrays);
    let objects = nested_objects(200);
    assert_roundtrip(&objects);
}
