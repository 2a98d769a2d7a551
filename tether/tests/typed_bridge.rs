//! The serde bridge (`tether::typed::{to_value, from_value}`): what each Rust type becomes, that
//! integers round-trip exactly or fail, and that errors say what, where and why.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tether::typed::{from_value, to_value};
use tether::{BigInt, Bytes, RpcError, Stub, Value};

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Order {
    id: u32,
    items: Vec<Item>,
    note: Option<String>,
    status: Status,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Item {
    sku: String,
    quantity: i16,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Status {
    Open,
    Shipped { carrier: String },
    Held(String),
}

fn order() -> Order {
    Order {
        id: 7,
        items: vec![
            Item {
                sku: "a".into(),
                quantity: 2,
            },
            Item {
                sku: "b".into(),
                quantity: -1,
            },
        ],
        note: None,
        status: Status::Shipped {
            carrier: "post".into(),
        },
    }
}

#[test]
fn structs_enums_and_options_round_trip() {
    let value = to_value(&order()).unwrap();
    assert_eq!(value.get("id").as_f64(), Some(7.0));
    assert!(matches!(value.get("note"), Value::Null));
    assert_eq!(
        value.get("status").get("Shipped").get("carrier").as_str(),
        Some("post")
    );
    assert_eq!(from_value::<Order>(value).unwrap(), order());
    for status in [Status::Open, Status::Held("why".into())] {
        let value = to_value(&status).unwrap();
        assert_eq!(from_value::<Status>(value).unwrap(), status);
    }
    assert!(matches!(to_value(&Status::Open).unwrap(), Value::String(s) if s == "Open"));
}

#[test]
fn collections_and_scalars_round_trip() {
    let map: BTreeMap<String, Vec<(bool, char)>> =
        [("k".to_owned(), vec![(true, 'x'), (false, 'y')])].into();
    assert_eq!(
        from_value::<BTreeMap<String, Vec<(bool, char)>>>(to_value(&map).unwrap()).unwrap(),
        map
    );
    let numbered: BTreeMap<u32, String> = [(1, "one".to_owned())].into();
    let value = to_value(&numbered).unwrap();
    assert_eq!(value.get("1").as_str(), Some("one"));
    assert_eq!(
        from_value::<BTreeMap<u32, String>>(value).unwrap(),
        numbered
    );
    assert!(to_value(&()).unwrap().is_undefined());
    from_value::<()>(Value::Undefined).unwrap();
    assert_eq!(
        from_value::<Vec<u8>>(Value::Bytes(Bytes::new([1, 2]))).unwrap(),
        vec![1, 2]
    );
    assert_eq!(from_value::<f32>(Value::from(0.5)).unwrap(), 0.5);
}

#[test]
fn integers_round_trip_exactly() {
    const SAFE: i64 = (1 << 53) - 1;
    for n in [
        0,
        1,
        -1,
        i64::from(i32::MIN),
        i64::from(u32::MAX),
        SAFE,
        -SAFE,
    ] {
        let value = to_value(&n).unwrap();
        assert_eq!(value.as_f64(), Some(n as f64));
        assert_eq!(from_value::<i64>(value).unwrap(), n);
    }
    assert_eq!(
        from_value::<u64>(to_value(&(SAFE as u64)).unwrap()).unwrap(),
        SAFE as u64
    );
    assert_eq!(from_value::<u8>(Value::from(255)).unwrap(), 255);
    assert_eq!(from_value::<i8>(Value::from(-128)).unwrap(), -128);
    // -0 is an integer.
    assert_eq!(from_value::<i32>(Value::from(-0.0)).unwrap(), 0);
    // 128-bit integers travel as bigints.
    let big = i128::MAX;
    let value = to_value(&big).unwrap();
    assert!(matches!(&value, Value::BigInt(b) if *b == BigInt::from(big)));
    assert_eq!(from_value::<i128>(value).unwrap(), big);
    assert_eq!(
        from_value::<u64>(Value::BigInt(BigInt::from(u64::MAX))).unwrap(),
        u64::MAX
    );
}

#[test]
fn integers_a_javascript_number_cannot_hold_are_errors() {
    for n in [1i64 << 53, i64::MAX, i64::MIN] {
        let error = to_value(&n).unwrap_err();
        assert!(error.to_string().contains("exactly"), "{error}");
    }
    assert!(to_value(&u64::MAX).is_err());
}

#[test]
fn fractional_and_out_of_range_numbers_are_not_integers() {
    let cases: Vec<(Result<i64, _>, &str)> = vec![
        (
            from_value::<i64>(Value::from(1.5)),
            "value must be an integer, got 1.5",
        ),
        (
            from_value::<i64>(Value::from(f64::NAN)),
            "value must be an integer from -9223372036854775808 to 9223372036854775807, got NaN",
        ),
        (
            from_value::<i64>(Value::from("3")),
            "value must be an integer, got string",
        ),
        (
            from_value::<u8>(Value::from(256)).map(i64::from),
            "value must be an integer from 0 to 255, got 256",
        ),
        (
            from_value::<u32>(Value::from(-1)).map(i64::from),
            "value must be an integer from 0 to 4294967295, got -1",
        ),
        (
            from_value::<i64>(Value::from(1e19)),
            "value must be an integer from -9223372036854775808 to 9223372036854775807, got 10000000000000000000",
        ),
    ];
    for (result, message) in cases {
        assert_eq!(result.unwrap_err().to_string(), message);
    }
}

#[test]
fn errors_say_where_in_the_value() {
    let mut value = to_value(&order()).unwrap();
    if let Value::Object(o) = &mut value {
        o.insert(
            "items",
            Value::array([Value::object([
                ("sku", Value::from("a")),
                ("quantity", Value::from(40000)),
            ])]),
        );
    }
    let error = from_value::<Order>(value).unwrap_err();
    assert_eq!(error.path(), ".items[0].quantity");
    assert_eq!(
        error.to_string(),
        "value at '.items[0].quantity' must be an integer from -32768 to 32767, got 40000"
    );
    let error = from_value::<Item>(Value::object([("sku", "a")])).unwrap_err();
    assert_eq!(error.to_string(), "value: missing field `quantity`");
    let error = from_value::<Status>(Value::from("Lost")).unwrap_err();
    assert!(
        error.to_string().contains("unknown variant `Lost`"),
        "{error}"
    );
    // As an RpcError: a TypeError.
    let rpc: RpcError = from_value::<bool>(Value::Null).unwrap_err().into();
    assert_eq!(rpc.name, "TypeError");
    assert_eq!(rpc.message, "value must be a boolean, got null");
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    label: String,
    payload: Value,
    reply_to: Stub,
}

#[tokio::test]
async fn values_and_stubs_inside_structs_pass_through() {
    let reply_to =
        Stub::from_fn(|args| async move { Ok(args.into_iter().next().unwrap_or_default()) });
    let envelope = Envelope {
        label: "x".into(),
        payload: Value::object([("u", Value::Undefined), ("d", Value::Date(5.0))]),
        reply_to,
    };
    let value = to_value(&envelope).unwrap();
    assert!(value.get("payload").get("u").is_undefined());
    assert!(matches!(value.get("reply_to"), Value::Stub(_)));
    let back: Envelope = from_value(value).unwrap();
    assert!(matches!(back.payload.get("d"), Value::Date(d) if *d == 5.0));
    let answer = back.reply_to.invoke(vec![42.into()]).await.unwrap();
    assert_eq!(answer.as_f64(), Some(42.0));
    // A stub where data is expected, and data where a stub is expected, are errors.
    let error = from_value::<Stub>(Value::from(1)).unwrap_err();
    assert_eq!(error.to_string(), "value must be a stub, got number");
    assert!(from_value::<String>(Value::Stub(Stub::broken(RpcError::error("x")))).is_err());
}
