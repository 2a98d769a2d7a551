//! Mapper programs: a peer's `remap` decoded once, a recorded program encoded.

use super::*;
use crate::core::map::program::{Ref, Remap};

/// The program of the one `remap` in `["resolve",1,<expr>]`.
fn decoded(expr: &str) -> Program {
    let mut imp = RecordingImporter::default();
    eval_with(expr, &mut imp, &limits()).unwrap();
    match imp.calls.pop() {
        Some(Call::Remap { program, .. }) => program,
        other => panic!("{other:?}"),
    }
}

fn remap_of(instructions: &str) -> Program {
    decoded(&format!(r#"["remap",0,[],[],{instructions}]"#))
}

#[track_caller]
fn assert_fail(expr: &Expr, name: &str, message: &str) {
    match expr {
        Expr::Fail(e) => assert_eq!((e.name.as_str(), e.message.as_str()), (name, message)),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn subtrees_without_references_become_values() {
    let program =
        remap_of(r#"[{"a":[[1,["date",5],{"b":null}]],"toString":2},[[["pipeline",0]]]]"#);
    match program.instructions.as_slice() {
        [Expr::Value(Value::Object(o)), Expr::Array(items)] => {
            let keys: Vec<_> = o.iter().map(|(k, _)| k.to_owned()).collect();
            assert_eq!(keys, ["a"]);
            assert!(matches!(items.as_slice(), [Expr::Ref(r)] if r.id == 0 && r.promise));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_parts_fail_where_they_stand_not_the_message() {
    let program = remap_of(
        r#"[["bigint","zz"],["export",1],["foo"],["pipeline",1.5],[[["pipeline",-1,["f"],[]],["nan",1],["bytes","!"]]]]"#,
    );
    let [bigint, export, foo, id, array] = program.instructions.as_slice() else {
        panic!("{program:?}");
    };
    assert_fail(bigint, "SyntaxError", "Cannot convert zz to a BigInt");
    assert_fail(
        export,
        "Error",
        "A mapper function cannot refer to exports.",
    );
    assert_fail(foo, "TypeError", r#"unknown special value: ["foo"]"#);
    assert_fail(id, "Error", "no such entry on exports table: 1.5");
    // The call before the failure is kept: a run makes it, then fails.
    match array {
        Expr::Array(items) => {
            assert!(matches!(&items[0], Expr::Ref(r) if r.id == -1 && r.args.is_some()));
            assert!(matches!(&items[1], Expr::Value(Value::Number(n)) if n.is_nan()));
            assert!(matches!(&items[2], Expr::Fail(e) if e.name == "TypeError"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn each_instruction_has_its_own_depth() {
    let l = Limits {
        max_depth: 3,
        ..Limits::default()
    };
    let mut imp = RecordingImporter::default();
    // Values nest at depths 0, 1 and 2, then 0, 1, 2 and 3 (too deep).
    eval_with(
        r#"["remap",0,[],[],[[[[[1]]]],[[[[[[1]]]]]]]]"#,
        &mut imp,
        &l,
    )
    .unwrap();
    let Some(Call::Remap { program, .. }) = imp.calls.pop() else {
        panic!()
    };
    assert!(matches!(&program.instructions[0], Expr::Value(_)));
    match &program.instructions[1] {
        Expr::Array(outer) => match outer.as_slice() {
            [Expr::Array(middle)] => match middle.as_slice() {
                [Expr::Array(inner)] => assert_fail(
                    &inner[0],
                    "TypeError",
                    "Deserialization exceeded maximum allowed message depth of 3.",
                ),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

#[test]
fn nested_remaps_keep_their_captures_and_program() {
    let program = remap_of(
        r#"[["remap",0,["xs"],[["import",-1],["export",3]],[["pipeline",-1,["sq"],[["pipeline",0]]]]]]"#,
    );
    match program.instructions.as_slice() {
        [Expr::Remap(remap)] => {
            let Remap {
                id,
                path,
                captures,
                program,
            } = &**remap;
            assert_eq!(
                (*id, path.as_slice()),
                (0, [PathKey::from("xs")].as_slice())
            );
            assert_eq!(captures, &[Capture::Import(-1), Capture::Export(3)]);
            assert_eq!(program.instructions.len(), 1);
        }
        other => panic!("{other:?}"),
    }
    // A bad capture fails the nested map, not the message.
    let program = remap_of(r#"[["remap",0,[],[["foo",1]],[]]]"#);
    assert_fail(
        &program.instructions[0],
        "TypeError",
        r#"unknown map capture: ["foo",1]"#,
    );
}

/// The instructions text of a `PushRemap` of `program`.
fn encoded(program: &Program) -> Result<String, RpcError> {
    let message = OutMessage::PushRemap {
        id: 1,
        path: &[],
        captures: &[WireRef::Import(0)],
        program,
    };
    let text = encode(
        &message,
        &mut FixedExporter::new(vec![]),
        &EncodeOptions::default(),
    )?;
    let inner = text
        .strip_prefix(r#"["push",["remap",1,[],[["import",0]],"#)
        .and_then(|t| t.strip_suffix("]]"))
        .unwrap();
    Ok(inner.to_owned())
}

fn reference(id: i64, path: &[&str], args: Option<Vec<Expr>>, promise: bool) -> Expr {
    Expr::Ref(Box::new(Ref {
        id,
        path: path.iter().map(|p| PathKey::from(*p)).collect(),
        args,
        promise,
    }))
}

#[test]
fn recorded_programs_encode_as_capnweb_records_them() {
    let program = Program {
        instructions: vec![
            reference(
                -1,
                &["square"],
                Some(vec![reference(0, &[], None, true)]),
                true,
            ),
            reference(0, &[], None, true),
            Expr::Object(vec![
                ("a".to_owned(), reference(2, &["x"], None, true)),
                ("s".to_owned(), reference(-2, &[], None, false)),
                ("n".to_owned(), Expr::Value(Value::Number(-0.0))),
            ]),
        ],
    };
    assert_eq!(
        encoded(&program).unwrap(),
        r#"[["pipeline",-1,["square"],[["pipeline",0]]],["pipeline",0,[]],{"a":["pipeline",2,["x"]],"s":["import",-2],"n":0}]"#
    );
    let failing = Program {
        instructions: vec![Expr::Fail(RpcError::error("no"))],
    };
    assert_err(encoded(&failing), "Error", "no");
}

#[test]
fn decoding_what_was_encoded_gives_the_same_program() {
    let text = r#"[["pipeline",-1,["square"],[["pipeline",0],[[1,2]]]],["error","Error","m",null,{"c":["pipeline",1],"d":1}],["remap",1,[],[["import",-1]],[["pipeline",0]]]]"#;
    let program = remap_of(text);
    assert_eq!(encoded(&program).unwrap(), text);
}
