//! Frame parsing: message shapes, malformed input, size and nesting limits.

use super::*;

fn parse(text: &str) -> Result<RawMessage<'_>, RpcError> {
    parse_message(text, &limits())
}

#[track_caller]
fn assert_bad(text: &str, shown: &str) {
    assert_err(parse(text), "Error", &format!("bad RPC message: {shown}"));
}

#[test]
fn observed_client_frames() {
    match parse(r#"["push",["pipeline",0,["echo"],[5]]]"#).unwrap() {
        RawMessage::Push(expr) => assert_eq!(expr.to_string(), r#"["pipeline",0,["echo"],[5]]"#),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse(r#"["pull",1]"#).unwrap(),
        RawMessage::Pull(1)
    ));
    assert!(matches!(
        parse(r#"["release",-1,1]"#).unwrap(),
        RawMessage::Release(-1, 1)
    ));
    match parse(r#"["resolve",9,["export",-1]]"#).unwrap() {
        RawMessage::Resolve(9, expr) => assert_eq!(expr.to_string(), r#"["export",-1]"#),
        other => panic!("{other:?}"),
    }
    match parse(r#"["reject",1,["error","TypeError","'nope' is not a function."]]"#).unwrap() {
        RawMessage::Reject(1, expr) => assert_eq!(expr[1], "TypeError"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn other_message_types() {
    assert!(matches!(
        parse(r#"["stream",5]"#).unwrap(),
        RawMessage::Stream(_)
    ));
    assert!(matches!(parse(r#"["pipe"]"#).unwrap(), RawMessage::Pipe));
    match parse(r#"["abort",["error","Error","bye"]]"#).unwrap() {
        RawMessage::Abort(expr) => assert_eq!(expr[2], "bye"),
        other => panic!("{other:?}"),
    }
    // A missing abort expression evaluates to undefined.
    match parse(r#"["abort"]"#).unwrap() {
        RawMessage::Abort(expr) => {
            let v = evaluate(expr, &mut RecordingImporter::default(), &limits()).unwrap();
            assert!(v.is_undefined());
        }
        other => panic!("{other:?}"),
    }
    // Extra elements are ignored, as capnweb does.
    assert!(matches!(
        parse(r#"["push",1,2,3]"#).unwrap(),
        RawMessage::Push(_)
    ));
    assert!(matches!(
        parse(r#"["pull",3,"x"]"#).unwrap(),
        RawMessage::Pull(3)
    ));
}

#[test]
fn whitespace_around_frame_is_fine() {
    assert!(matches!(
        parse(" \t[\"pull\", 2 ]\r\n").unwrap(),
        RawMessage::Pull(2)
    ));
}

#[test]
fn integral_ids_in_any_notation() {
    assert!(matches!(
        parse(r#"["pull",1.0]"#).unwrap(),
        RawMessage::Pull(1)
    ));
    assert!(matches!(
        parse(r#"["pull",1e2]"#).unwrap(),
        RawMessage::Pull(100)
    ));
    assert!(matches!(
        parse(r#"["pull",-0]"#).unwrap(),
        RawMessage::Pull(0)
    ));
    assert!(matches!(
        parse(r#"["release",2,3.0]"#).unwrap(),
        RawMessage::Release(2, 3)
    ));
}

#[test]
fn malformed_not_json() {
    let e = parse("not json").unwrap_err();
    assert_eq!(e.name, "SyntaxError");
    assert_eq!(e.kind(), crate::core::error::ErrorKind::Protocol);
    assert_eq!(parse(r#"["pull",1"#).unwrap_err().name, "SyntaxError");
    assert_eq!(parse(r#"["pull",1]]"#).unwrap_err().name, "SyntaxError");
    assert_eq!(
        parse(r#"["pull",1] ["pull",2]"#).unwrap_err().name,
        "SyntaxError"
    );
    assert_eq!(parse("{'a':1}").unwrap_err().name, "SyntaxError");
    // A binary frame as capnweb sees it.
    assert_eq!(
        parse("[object ArrayBuffer]").unwrap_err().name,
        "SyntaxError"
    );
}

#[test]
fn malformed_empty_frame() {
    assert_err(parse(""), "SyntaxError", "Unexpected end of JSON input");
    assert_err(parse("  \n"), "SyntaxError", "Unexpected end of JSON input");
}

#[test]
fn malformed_unknown_type() {
    assert_bad(r#"["foo",1]"#, r#"["foo",1]"#);
    assert_bad(r#"["Push",1]"#, r#"["Push",1]"#);
    assert_bad(r#"[1,2]"#, "[1,2]");
    assert_bad("[]", "[]");
    assert_bad(r#"[["push"]]"#, r#"[["push"]]"#);
}

#[test]
fn malformed_non_array() {
    assert_bad(r#"{"a":1}"#, r#"{"a":1}"#);
    assert_bad(r#"{ "b" : [1, 2.50, "x\n"] }"#, r#"{"b":[1,2.5,"x\n"]}"#);
    assert_bad(r#""push""#, r#""push""#);
    assert_bad("null", "null");
    assert_bad("true", "true");
}

#[test]
fn malformed_bare_number() {
    assert_bad("42", "42");
    assert_bad("1.50", "1.5");
    assert_bad("1e21", "1e+21");
}

#[test]
fn malformed_push_without_expression() {
    assert_bad(r#"["push"]"#, r#"["push"]"#);
    assert_bad(r#"["stream"]"#, r#"["stream"]"#);
}

#[test]
fn malformed_pull_arguments() {
    assert_bad(r#"["pull"]"#, r#"["pull"]"#);
    assert_bad(r#"["pull","1"]"#, r#"["pull","1"]"#);
    assert_bad(r#"["pull",null]"#, r#"["pull",null]"#);
    assert_bad(r#"["pull",1.5]"#, r#"["pull",1.5]"#);
}

#[test]
fn malformed_release_arguments() {
    assert_bad(r#"["release","x",1]"#, r#"["release","x",1]"#);
    assert_bad(r#"["release",1,"x"]"#, r#"["release",1,"x"]"#);
    assert_bad(r#"["release",1]"#, r#"["release",1]"#);
    assert_bad(r#"["release",1,-1]"#, r#"["release",1,-1]"#);
    assert_bad(r#"["release",1,1.5]"#, r#"["release",1,1.5]"#);
    assert_bad(r#"["release",1.5,1]"#, r#"["release",1.5,1]"#);
}

#[test]
fn malformed_resolve_reject_arguments() {
    assert_bad(r#"["resolve",1]"#, r#"["resolve",1]"#);
    assert_bad(r#"["reject","1",2]"#, r#"["reject","1",2]"#);
}

#[test]
fn bad_message_quotes_compactly_in_key_order() {
    assert_bad(
        r#"{"z":1, "a":[ "\u00e9\u0001", -0.0, 1E-7 ]}"#,
        "{\"z\":1,\"a\":[\"\u{e9}\\u0001\",0,1e-7]}",
    );
}

#[test]
fn size_limit_small() {
    let l = Limits {
        max_message_size: 10,
        ..Limits::default()
    };
    assert!(matches!(
        parse_message(r#"["pull",1]"#, &l).unwrap(),
        RawMessage::Pull(1)
    ));
    assert_err(
        parse_message(r#"["pull",12]"#, &l),
        "TypeError",
        "Incoming message exceeds maximum size of 10 UTF-16 code units.",
    );
}

#[test]
fn size_limit_counts_utf16_units() {
    let l = Limits {
        max_message_size: 8,
        ..Limits::default()
    };
    // 7 UTF-16 units in 12 bytes: within the limit (then a bad message, not a size error).
    assert_bad_with(&l, "\"ééééé\"");
    // Emoji are surrogate pairs: 2 + 3 * 2 = 8 units is fine, 10 is not.
    assert_bad_with(&l, "\"😀😀😀\"");
    assert_err(
        parse_message("\"😀😀😀😀\"", &l),
        "TypeError",
        "Incoming message exceeds maximum size of 8 UTF-16 code units.",
    );
    assert_eq!(super::super::parse::utf16_len("aé€😀"), 5);
}

#[track_caller]
fn assert_bad_with(l: &Limits, text: &str) {
    assert_err(
        parse_message(text, l),
        "Error",
        &format!("bad RPC message: {text}"),
    );
}

#[test]
fn size_limit_default_message() {
    let l = Limits::default();
    let big = format!("[\"push\",\"{}\"]", "x".repeat(l.max_message_size));
    assert_err(
        parse_message(&big, &l),
        "TypeError",
        "Incoming message exceeds maximum size of 33554432 UTF-16 code units.",
    );
}

#[test]
fn million_deep_arrays_rejected_without_recursion() {
    let text = "[".repeat(1_000_000);
    assert_err(
        parse(&text),
        "TypeError",
        "Deserialization exceeded maximum allowed message depth of 256.",
    );
    let closed = format!("{}{}", "[".repeat(1_000_000), "]".repeat(1_000_000));
    assert_eq!(parse(&closed).unwrap_err().name, "TypeError");
    let objects = "{\"a\":".repeat(1_000_000);
    assert_eq!(parse(&objects).unwrap_err().name, "TypeError");
}

#[test]
fn brackets_inside_strings_do_not_count() {
    let text = format!(
        "[\"push\",\"{}\\\"{}\"]",
        "[".repeat(100_000),
        "{".repeat(100_000)
    );
    assert!(matches!(
        parse(&text).unwrap(),
        RawMessage::Push(Node::String(_))
    ));
}

#[test]
fn nesting_prescan_follows_configured_depth() {
    let l = Limits {
        max_depth: 4,
        ..Limits::default()
    };
    // 4 * 2 + 8 = 16 JSON levels pass the pre-scan; 17 do not.
    let ok = format!("{}{}", "[".repeat(16), "]".repeat(16));
    let too_deep = format!("{}{}", "[".repeat(17), "]".repeat(17));
    assert_eq!(parse_message(&ok, &l).unwrap_err().name, "Error");
    assert_err(
        parse_message(&too_deep, &l),
        "TypeError",
        "Deserialization exceeded maximum allowed message depth of 4.",
    );
}

#[test]
fn prescan_handles_escapes() {
    let l = Limits {
        max_depth: 1,
        ..Limits::default()
    };
    // Bound: 1 * 2 + 8 = 10 JSON levels. Escaped quotes and backslashes stay inside the string.
    let inside = format!(r#"["push","{}\\\"{}\\\\"]"#, "a".repeat(21), "[".repeat(40));
    assert!(matches!(
        parse_message(&inside, &l).unwrap(),
        RawMessage::Push(Node::String(_))
    ));
    // A string ending in an escaped backslash closes at the next quote.
    let after = format!(
        r#"["push","{}\\\\",{}{}]"#,
        "b".repeat(13),
        "[".repeat(12),
        "]".repeat(12)
    );
    assert_eq!(parse_message(&after, &l).unwrap_err().name, "TypeError");
    let fits = format!(
        r#"["push","{}\\\\",{}{}]"#,
        "b".repeat(13),
        "[".repeat(9),
        "]".repeat(9)
    );
    assert!(matches!(
        parse_message(&fits, &l).unwrap(),
        RawMessage::Push(_)
    ));
    // An unterminated string or a trailing backslash at the very end is a syntax error.
    assert_eq!(
        parse_message(r#"["push","abc"#, &l).unwrap_err().name,
        "SyntaxError"
    );
    assert_eq!(
        parse_message(r#"["push","abc\"#, &l).unwrap_err().name,
        "SyntaxError"
    );
}

#[test]
fn bad_message_lists_index_keys_first_as_javascript() {
    assert_bad(
        r#"{"b":1,"10":2,"a":3,"2":4,"01":5,"4294967295":6,"4294967294":7}"#,
        r#"{"2":4,"10":2,"4294967294":7,"b":1,"a":3,"01":5,"4294967295":6}"#,
    );
}

#[test]
fn repeated_keys_keep_their_first_place_and_last_value() {
    let keys_and_values = |text: &str| -> Vec<(String, f64)> {
        let v = evaluate(
            match parse(&format!("[\"push\",{text}]")).unwrap() {
                RawMessage::Push(expr) => expr,
                other => panic!("{other:?}"),
            },
            &mut RecordingImporter::default(),
            &limits(),
        )
        .unwrap();
        v.as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.to_owned(), v.as_f64().unwrap()))
            .collect()
    };
    assert_eq!(
        keys_and_values(r#"{"a":1,"b":2,"a":3,"c":4,"a":5}"#),
        [("a".into(), 5.0), ("b".into(), 2.0), ("c".into(), 4.0)]
    );
    // Large objects take the sorting path.
    let mut text: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
    text.push("\"k3\":99".into());
    let got = keys_and_values(&format!("{{{}}}", text.join(",")));
    assert_eq!(got.len(), 40);
    assert_eq!(got[3], ("k3".into(), 99.0));
    assert_eq!(got[39], ("k39".into(), 39.0));
}

#[test]
fn strings_borrow_from_the_frame_unless_escaped() {
    let frame = r#"["push",[["plain","esc\u0061ped"]]]"#;
    let RawMessage::Push(Node::Array(outer)) = parse(frame).unwrap() else {
        panic!()
    };
    let Some(Node::Array(items)) = outer.first() else {
        panic!("{outer:?}")
    };
    assert!(matches!(
        &items[0],
        Node::String(std::borrow::Cow::Borrowed("plain"))
    ));
    assert!(matches!(&items[1], Node::String(std::borrow::Cow::Owned(s)) if s == "escaped"));
}

#[test]
fn ignored_elements_are_still_parsed() {
    // Extra elements and refused shapes are parsed in full, so a number out of range or a lone
    // surrogate (which a Rust string cannot hold) is a syntax error wherever it stands.
    for text in [
        r#"["push",1,1e400]"#,
        r#"["pull",1,"\ud800"]"#,
        r#"["foo",1e400]"#,
        r#"{"a":1e400}"#,
    ] {
        assert_eq!(parse(text).unwrap_err().name, "SyntaxError", "{text}");
    }
}

#[test]
fn prescan_counts_brackets_across_blocks() {
    let l = Limits {
        max_depth: 4,
        ..Limits::default()
    };
    // Bound 16. The opening brackets straddle 64-byte blocks after a long string.
    for pad in [0, 50, 60, 63, 64, 65, 127, 130] {
        let too_deep = format!(
            r#"["push","{}",{}{}]"#,
            "x".repeat(pad),
            "[".repeat(16),
            "]".repeat(16)
        );
        assert_err(
            parse_message(&too_deep, &l),
            "TypeError",
            "Deserialization exceeded maximum allowed message depth of 4.",
        );
        let fits = format!(
            r#"["push","{}",{}{}]"#,
            "x".repeat(pad),
            "[".repeat(15),
            "]".repeat(15)
        );
        assert!(
            matches!(parse_message(&fits, &l), Ok(RawMessage::Push(_))),
            "{pad}"
        );
    }
}

#[test]
fn value_count_limit_is_exact_and_ignores_strings() {
    let l = Limits {
        max_values: 6,
        ..Limits::default()
    };
    // The message, its tag, and the array value `[[0,0,0]]`: 1 + 1 + 1 + 1 + 3 = 7 values.
    let seven = r#"["push",[[0,0,0]]]"#;
    assert_err(
        parse_message(seven, &l),
        "RangeError",
        "Incoming message holds more than 6 values (Limits::max_values).",
    );
    // Six values pass, however long the frame and however many commas and brackets its
    // strings hold.
    let six = r#"["push",[["a,b,[c{d,e,f,g,h", "\",[,{"]]]"#;
    assert!(six.len() > l.max_values);
    assert!(matches!(
        parse_message(six, &l).unwrap(),
        RawMessage::Push(Node::Array(_))
    ));
    // Empty containers count once each: the message, its tag, the array value (an array in
    // an array) and its two elements make six.
    let empties = r#"["push",[[ [ ] ,{}]]]"#;
    assert!(parse_message(empties, &l).is_ok());
    let seven = r#"["push",[[ [ ] ,[0]]]]"#;
    assert_eq!(parse_message(seven, &l).unwrap_err().name, "RangeError");
}

#[test]
fn value_count_limit_default_refuses_a_frame_of_many_small_values() {
    let l = Limits::default();
    let zeros = vec!["0"; l.max_values].join(",");
    let over = format!("[\"push\",[[{zeros}]]]");
    assert_err(
        parse_message(&over, &l),
        "RangeError",
        "Incoming message holds more than 1048576 values (Limits::max_values).",
    );
    // The same count of values as one string is a single value.
    let one = format!("[\"push\",\"{zeros}\"]");
    assert!(parse_message(&one, &l).is_ok());
}
