//! Long arrays keep their container elements as text until evaluation reaches them
//! (`node::Node::Raw`): whatever reads them sees what a tree built at once would give.

use super::*;
use crate::wire::node::{force, Node};

/// `[[e0,e1,…]]`: an array value of `n` elements made by `element`.
fn array_of(n: usize, element: impl Fn(usize) -> String) -> String {
    let items: Vec<String> = (0..n).map(element).collect();
    format!("[[{}]]", items.join(","))
}

#[test]
fn long_arrays_evaluate_as_if_built_at_once() {
    let text = array_of(40, |i| {
        format!(r#"[[{i}, {{"k": [[{i}]], "__proto__": 1}}]]"#)
    });
    let value = eval_text(&text).unwrap();
    let expected = Value::Array(
        (0..40)
            .map(|i| {
                Value::array([
                    Value::from(i as f64),
                    Value::object([("k", Value::array([Value::from(i as f64)]))]),
                ])
            })
            .collect(),
    );
    assert!(value.data_eq(&expected), "{value:?}");
}

#[test]
fn special_forms_past_the_first_elements_are_read_whole() {
    let mut imp = RecordingImporter::default();
    let text = array_of(20, |i| {
        if i == 19 {
            r#"["pipeline",3,["p"],[[[1,2]]]]"#.to_owned()
        } else {
            r#"["date",5]"#.to_owned()
        }
    });
    let value = eval_with(&text, &mut imp, &limits()).unwrap();
    let items = value.as_array().unwrap();
    assert!(matches!(items[18], Value::Date(d) if d == 5.0));
    assert_eq!(items[19].as_str(), Some("pipeline:3"));
    match imp.calls.as_slice() {
        [Call::Reference {
            id: 3,
            path,
            args: Some(args),
            promise: true,
        }] => {
            assert_eq!(path, &vec![PathKey::from("p")]);
            assert!(args[0].data_eq(&Value::array([1.into(), 2.into()])));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn long_capture_and_instruction_lists_decode() {
    let captures: Vec<String> = (0..20).map(|i| format!(r#"["import",{i}]"#)).collect();
    let instructions: Vec<String> = (0..20)
        .map(|i| format!(r#"["pipeline",-{},["x"]]"#, i + 1))
        .collect();
    let text = format!(
        r#"["remap",0,[],[{}],[{}]]"#,
        captures.join(","),
        instructions.join(",")
    );
    let mut imp = RecordingImporter::default();
    eval_with(&text, &mut imp, &limits()).unwrap();
    match imp.calls.as_slice() {
        [Call::Remap {
            captures, program, ..
        }] => {
            assert_eq!(captures.len(), 20);
            assert_eq!(captures[19], Capture::Import(19));
            assert_eq!(program.instructions.len(), 20);
            assert!(
                matches!(&program.instructions[19], Expr::Ref(r) if r.id == -20 && r.promise),
                "{program:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_refused_message_quotes_kept_elements_as_json_stringify_would() {
    let items: Vec<String> = (0..20).map(|i| format!(r#"{{ "a" : [ {i} ] }}"#)).collect();
    let text = format!("[{}]", items.join(" , "));
    let quoted: Vec<String> = (0..20).map(|i| format!(r#"{{"a":[{i}]}}"#)).collect();
    assert_err(
        parse_message(&text, &limits()),
        "Error",
        &format!("bad RPC message: [{}]", quoted.join(",")),
    );
}

#[test]
fn containers_past_the_first_elements_are_kept_three_levels_deep_at_most() {
    // Each level: sixteen numbers, then the next level.
    let mut text = "[1]".to_owned();
    for _ in 0..4 {
        text = format!("[{}{text}]", "0,".repeat(16));
    }
    let last = |node: Node<'static>| match node {
        Node::Array(mut items) => items.pop().unwrap(),
        other => panic!("{other:?}"),
    };
    let text: &'static str = Box::leak(text.into_boxed_str());
    let top: Node<'static> = serde_json::from_str(text).unwrap();
    let first = last(top);
    assert!(matches!(first, Node::Raw(_, 1)), "{first:?}");
    let second = last(force(first));
    assert!(matches!(second, Node::Raw(_, 2)), "{second:?}");
    let third = last(force(second));
    assert!(matches!(third, Node::Array(_)), "built at once: {third:?}");
}
