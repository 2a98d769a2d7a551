//! `#[tether::interface]` over an in-process session: typed calls with serde structs, JavaScript
//! names on the wire, argument checks at the boundary (the body does not run), optional
//! parameters, getters, error names, stubs passed by reference, the disposer hook, and a typed
//! pipelined chain that costs one round trip (counted in frames).
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use serde::{Deserialize, Serialize};
use tether::typed::Client;
use tether::{BigInt, RpcError, Stub, Value};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Point {
    x: f64,
    y: f64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Shape {
    name: String,
    points: Vec<Point>,
    colour: Option<String>,
}

#[tether::interface]
trait Counter {
    /// Adds `amount` (1 when missing) and returns the new value.
    async fn increment(&self, amount: Option<i64>) -> i64;
    /// The current value, as a property.
    #[getter]
    async fn value(&self) -> i64;
    /// Counts the disposal under the counter's tag.
    #[dispose]
    async fn finish(&self);
}

#[tether::interface]
trait Calculator {
    async fn square(&self, x: f64) -> f64;
    async fn make_counter(&self, start: Option<i64>) -> Result<CounterClient, RpcError>;
    #[getter]
    async fn version(&self) -> String;
    #[rename = "customName"]
    async fn renamed(&self) -> bool;
    async fn centroid(&self, shape: Shape) -> Point;
    async fn scale(&self, p: Point, factor: i32) -> Point;
    async fn fail(&self, kind: String) -> Result<(), RpcError>;
    async fn increment_counter(&self, counter: CounterClient, by: i64) -> Result<i64, RpcError>;
    async fn describe(&self, stub: Stub) -> String;
    async fn echo(&self, value: Value) -> Value;
}

struct Count {
    value: AtomicI64,
    tag: String,
}

impl Counter for Count {
    async fn increment(&self, amount: Option<i64>) -> i64 {
        let by = amount.unwrap_or(1);
        self.value.fetch_add(by, Ordering::SeqCst) + by
    }
    async fn value(&self) -> i64 {
        self.value.load(Ordering::SeqCst)
    }
    async fn finish(&self) {
        // `disposedCount` in common counts by tag; a Disposable stub's disposer does the counting.
        drop(disposable(&self.tag));
    }
}

/// The calculator; `calls` counts method bodies that ran.
#[derive(Default)]
struct Calc {
    calls: Arc<AtomicUsize>,
    tag: String,
}

impl Calc {
    fn ran(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

impl Calculator for Calc {
    async fn square(&self, x: f64) -> f64 {
        self.ran();
        x * x
    }
    async fn make_counter(&self, start: Option<i64>) -> Result<CounterClient, RpcError> {
        self.ran();
        Ok(CounterClient::serve(Count {
            value: AtomicI64::new(start.unwrap_or(0)),
            tag: self.tag.clone(),
        }))
    }
    async fn version(&self) -> String {
        self.ran();
        "1.0".to_owned()
    }
    async fn renamed(&self) -> bool {
        self.ran();
        true
    }
    async fn centroid(&self, shape: Shape) -> Point {
        self.ran();
        let n = shape.points.len() as f64;
        let (x, y) = shape
            .points
            .iter()
            .fold((0.0, 0.0), |(x, y), p| (x + p.x, y + p.y));
        Point { x: x / n, y: y / n }
    }
    async fn scale(&self, p: Point, factor: i32) -> Point {
        self.ran();
        Point {
            x: p.x * f64::from(factor),
            y: p.y * f64::from(factor),
        }
    }
    async fn fail(&self, kind: String) -> Result<(), RpcError> {
        self.ran();
        Err(match kind.as_str() {
            "range" => RpcError::range_error("out of range"),
            _ => RpcError::new("CustomError", kind),
        })
    }
    async fn increment_counter(&self, counter: CounterClient, by: i64) -> Result<i64, RpcError> {
        self.ran();
        counter.increment(Some(by)).await
    }
    async fn describe(&self, stub: Stub) -> String {
        self.ran();
        format!("{stub:?}")
            .split('(')
            .next()
            .unwrap_or("")
            .to_owned()
    }
    async fn echo(&self, value: Value) -> Value {
        self.ran();
        value
    }
}

struct Setup {
    calc: CalculatorClient,
    calls: Arc<AtomicUsize>,
    conn: Connection,
}

fn setup() -> Setup {
    let calls = Arc::new(AtomicUsize::new(0));
    let server = CalculatorClient::serve(Calc {
        calls: calls.clone(),
        tag: tag("typed"),
    });
    let conn = connect(server.into());
    Setup {
        calc: CalculatorClient::from(conn.api.clone()),
        calls,
        conn,
    }
}

fn calls(setup: &Setup) -> usize {
    setup.calls.load(Ordering::SeqCst)
}

#[tokio::test]
async fn calls_with_serde_structs_round_trip() {
    let s = setup();
    assert_eq!(s.calc.square(3.0).await.unwrap(), 9.0);
    let shape = Shape {
        name: "triangle".into(),
        points: vec![
            Point { x: 0.0, y: 0.0 },
            Point { x: 3.0, y: 0.0 },
            Point { x: 0.0, y: 3.0 },
        ],
        colour: None,
    };
    assert_eq!(
        s.calc.centroid(shape).await.unwrap(),
        Point { x: 1.0, y: 1.0 }
    );
    assert_eq!(
        s.calc.scale(Point { x: 1.5, y: -2.0 }, 2).await.unwrap(),
        Point { x: 3.0, y: -4.0 }
    );
    // The struct is a plain object on the wire, as JavaScript would send it.
    assert!(
        s.conn
            .log
            .sent()
            .iter()
            .any(|f| f.contains(r#"["scale"],[{"x":1.5,"y":-2},2]"#)),
        "{:?}",
        s.conn.log.sent()
    );
}

#[tokio::test]
async fn methods_have_camel_case_names_on_the_wire_and_renames_apply() {
    let s = setup();
    let counter = s.calc.make_counter(Some(1)).await.unwrap();
    assert!(s.calc.renamed().await.unwrap());
    let sent = s.conn.log.sent();
    assert!(
        sent.iter().any(|f| f.contains(r#"["makeCounter"],[1]"#)),
        "{sent:?}"
    );
    assert!(
        sent.iter().any(|f| f.contains(r#"["customName"]"#)),
        "{sent:?}"
    );
    assert!(!sent
        .iter()
        .any(|f| f.contains("make_counter") || f.contains("renamed")));
    // And the same names answer untyped calls; the Rust names do not.
    assert_eq!(
        s.calc
            .stub()
            .call("customName", vec![])
            .await
            .unwrap()
            .as_bool(),
        Some(true)
    );
    let error = s.calc.stub().call("renamed", vec![]).await.unwrap_err();
    assert_eq!(error.name, "TypeError");
    assert_eq!(error.message, "'renamed' is not a function.");
    assert_eq!(counter.increment(None).await.unwrap(), 2);
}

#[tokio::test]
async fn a_wrong_argument_type_rejects_with_a_type_error_naming_method_and_parameter() {
    let s = setup();
    let stub = s.calc.stub();
    let cases: Vec<(&str, Vec<Value>, &str)> = vec![
        (
            "makeCounter",
            vec!["five".into()],
            "makeCounter: parameter 'start' must be an integer, got string",
        ),
        (
            "square",
            vec![Value::Bool(true)],
            "square: parameter 'x' must be a number, got boolean",
        ),
        (
            "scale",
            vec![Value::object([("x", 1), ("y", 2)]), 1.5.into()],
            "scale: parameter 'factor' must be an integer, got 1.5",
        ),
        (
            "scale",
            vec![Value::object([("x", 1), ("y", 2)]), 3e10.into()],
            "scale: parameter 'factor' must be an integer from -2147483648 to 2147483647, got 30000000000",
        ),
        (
            "centroid",
            vec![Value::object([
                ("name", Value::from("t")),
                (
                    "points",
                    Value::array([
                        Value::object([("x", 1), ("y", 2)]),
                        Value::object([("x", Value::from("1")), ("y", Value::from(2))]),
                    ]),
                ),
            ])],
            "centroid: parameter 'shape.points[1].x' must be a number, got string",
        ),
        (
            "scale",
            vec![Value::object([("x", 1)]), 1.into()],
            "scale: parameter 'p': missing field `y`",
        ),
        (
            "incrementCounter",
            vec![5.into(), 1.into()],
            "incrementCounter: parameter 'counter' must be a stub, got number",
        ),
    ];
    for (method, args, message) in cases {
        let error = stub.call(method, args).await.unwrap_err();
        assert_eq!(error.name, "TypeError", "{method}");
        assert_eq!(error.message, message);
    }
    assert_eq!(calls(&s), 0, "no method body ran");
}

#[tokio::test]
async fn a_missing_required_argument_rejects_and_the_body_does_not_run() {
    let s = setup();
    let error = s.calc.stub().call("square", vec![]).await.unwrap_err();
    assert_eq!(error.name, "TypeError");
    assert_eq!(error.message, "square: missing required parameter 'x'");
    let error = s
        .calc
        .stub()
        .call("scale", vec![Value::object([("x", 1), ("y", 2)])])
        .await
        .unwrap_err();
    assert_eq!(error.message, "scale: missing required parameter 'factor'");
    let error = s
        .calc
        .stub()
        .call("square", vec![Value::Undefined])
        .await
        .unwrap_err();
    assert_eq!(error.message, "square: missing required parameter 'x'");
    assert_eq!(calls(&s), 0);
}

#[tokio::test]
async fn option_parameters_accept_missing_undefined_and_null_as_none() {
    let s = setup();
    let stub = s.calc.stub();
    for args in [vec![], vec![Value::Undefined], vec![Value::Null]] {
        let counter = CounterClient::from(
            stub.call("makeCounter", args)
                .await
                .unwrap()
                .into_stub()
                .unwrap(),
        );
        assert_eq!(counter.value().await.unwrap(), 0);
    }
    // The typed client sends `None` as `undefined`, so a JavaScript default would apply.
    let counter = s.calc.make_counter(None).await.unwrap();
    assert_eq!(counter.increment(None).await.unwrap(), 1);
    assert_eq!(counter.increment(Some(10)).await.unwrap(), 11);
    let sent = s.conn.log.sent();
    assert!(
        sent.iter()
            .any(|f| f.contains(r#"["makeCounter"],[["undefined"]]"#)),
        "{sent:?}"
    );
}

#[tokio::test]
async fn getters_are_properties_and_calling_one_is_a_type_error() {
    let s = setup();
    assert_eq!(s.calc.version().await.unwrap(), "1.0");
    assert_eq!(
        s.calc.stub().get("version").await.unwrap().as_str(),
        Some("1.0")
    );
    let error = s.calc.stub().call("version", vec![]).await.unwrap_err();
    assert_eq!(error.name, "TypeError");
    assert_eq!(error.message, "'version' is not a function.");
    // Unknown members as in capnweb: reading is undefined, calling is a TypeError.
    assert!(s.calc.stub().get("nothing").await.unwrap().is_undefined());
    let error = s.calc.stub().call("nothing", vec![]).await.unwrap_err();
    assert_eq!(error.message, "'nothing' is not a function.");
    // Methods are not properties.
    assert!(s.calc.stub().get("square").await.unwrap().is_undefined());
    // Getters of a returned stub, typed.
    let counter = s.calc.make_counter(Some(4)).await.unwrap();
    assert_eq!(counter.value().await.unwrap(), 4);
}

#[tokio::test]
async fn result_errors_keep_their_javascript_type_name() {
    let s = setup();
    let error = s.calc.fail("range".into()).await.unwrap_err();
    assert_eq!(error.name, "RangeError");
    assert_eq!(error.message, "out of range");
    let error = s.calc.fail("custom".into()).await.unwrap_err();
    assert_eq!(error.name, "CustomError");
    assert_eq!(calls(&s), 2);
}

#[tokio::test]
async fn a_typed_pipelined_chain_costs_one_round_trip() {
    let s = setup();
    s.conn.log.clear();
    let n = s
        .calc
        .make_counter(Some(5))
        .increment(Some(2))
        .await
        .unwrap();
    assert_eq!(n, 7);
    let all = s.conn.log.all();
    assert!(all.len() >= 4, "{all:?}");
    // Both pushes and the pull leave before any frame comes back.
    assert_eq!(
        &all[..3],
        &[
            r#"> ["push",["pipeline",0,["makeCounter"],[5]]]"#.to_owned(),
            r#"> ["push",["pipeline",1,["increment"],[2]]]"#.to_owned(),
            r#"> ["pull",2]"#.to_owned(),
        ],
        "{all:?}"
    );
    assert!(all[3].starts_with("< "), "{all:?}");
}

#[tokio::test]
async fn a_typed_property_read_on_a_pending_result_costs_one_round_trip() {
    let s = setup();
    s.conn.log.clear();
    let value = s.calc.make_counter(Some(9)).value().await.unwrap();
    assert_eq!(value, 9);
    let all = s.conn.log.all();
    // The property path rides on the unresolved import: both pushes before any reply.
    assert_eq!(
        &all[..3],
        &[
            r#"> ["push",["pipeline",0,["makeCounter"],[9]]]"#.to_owned(),
            r#"> ["push",["pipeline",1,["value"]]]"#.to_owned(),
            r#"> ["pull",2]"#.to_owned(),
        ],
        "{all:?}"
    );
}

#[tokio::test]
async fn stubs_and_typed_clients_pass_by_reference() {
    let s = setup();
    // A server counter passed back to the server.
    let counter = s.calc.make_counter(Some(1)).await.unwrap();
    let n = s.calc.increment_counter(counter.clone(), 3).await.unwrap();
    assert_eq!(n, 4);
    assert_eq!(counter.value().await.unwrap(), 4);
    // A client-side counter: the server calls back into it.
    let local = CounterClient::serve(Count {
        value: AtomicI64::new(100),
        tag: tag("local"),
    });
    let n = s.calc.increment_counter(local.clone(), 5).await.unwrap();
    assert_eq!(n, 105);
    assert_eq!(local.value().await.unwrap(), 105);
    // An untyped stub parameter arrives as a stub.
    assert_eq!(s.calc.describe(local.into_stub()).await.unwrap(), "Stub");
}

#[tokio::test]
async fn value_parameters_pass_through_untouched() {
    let s = setup();
    let value = Value::object([
        ("u", Value::Undefined),
        ("big", Value::BigInt(BigInt::from(1u64 << 60))),
        ("date", Value::Date(1.5e12)),
        ("n", Value::from(f64::INFINITY)),
    ]);
    let back = s.calc.echo(value.clone()).await.unwrap();
    assert!(back.data_eq(&value), "{back:?}");
}

#[tokio::test]
async fn the_dispose_hook_runs_when_the_last_stub_is_released() {
    let tag = tag("typed-dispose");
    let calls = Arc::new(AtomicUsize::new(0));
    let server = CalculatorClient::serve(Calc {
        calls,
        tag: tag.clone(),
    });
    let conn = connect(server.into());
    let calc = CalculatorClient::from(conn.api.clone());
    let counter = calc.make_counter(Some(1)).await.unwrap();
    let copy = counter.clone();
    drop(counter);
    assert_eq!(copy.increment(None).await.unwrap(), 2);
    assert_eq!(disposed_count(&tag), 0);
    drop(copy);
    wait_until("the disposer ran", || disposed_count(&tag) == 1).await;
}

/// The same names as `Calculator`, with a wrong result type.
#[tether::interface]
trait Loose {
    async fn version_number(&self) -> i64;
    #[rename = "square"]
    async fn square_text(&self, x: f64) -> String;
}

#[tokio::test]
async fn a_result_of_the_wrong_type_rejects_with_a_type_error_naming_the_method() {
    let s = setup();
    let loose = LooseClient::from(s.calc.stub().clone());
    let error = loose.square_text(2.0).await.unwrap_err();
    assert_eq!(error.name, "TypeError");
    assert_eq!(error.message, "square: result must be a string, got 4");
    assert_eq!(<LooseClient as Client>::INTERFACE, "Loose");
}
