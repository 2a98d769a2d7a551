//! [`Value`] and [`Stub`] inside serde types: they pass through the bridge untouched.
//!
//! A serde data model has no place for a stub or for JavaScript's `undefined`, `bigint` or
//! `Date`, so the bridge hands such values over beside the data model, the way `serde_json`
//! carries its `RawValue`: `Value::serialize` puts a copy of itself in a thread-local slot and
//! emits a newtype struct with a reserved name; the bridge's serializer recognises the name and
//! takes the value from the slot. Deserializing goes the same way round. Serialization is
//! synchronous, so nothing else runs on the thread between the hand-over and the take.
//!
//! With any other serializer (`serde_json::to_string(&value)`) a `Value` is written structurally:
//! `undefined` as `null`, stubs and promises as an error. Serde's buffering adapters (untagged
//! and internally tagged enums, `flatten`) see only the structural form, so stubs cannot travel
//! inside those.

use std::cell::{Cell, RefCell};
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Unexpected, Visitor};
use serde::ser::{self, Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::core::stub::Stub;
use crate::core::value::{Bytes, Object, Value};

/// The newtype-struct name that marks a value handed over beside the data model.
pub(crate) const MAGIC: &str = "$tether::private::Value";

thread_local! {
    /// How many bridge serializers are running on this thread (they may nest).
    static ACTIVE: Cell<usize> = const { Cell::new(0) };
    /// The value being handed over.
    static SLOT: RefCell<Option<Value>> = const { RefCell::new(None) };
}

/// Marks a bridge serializer as running on this thread while alive.
pub(crate) struct ActiveGuard(());

impl ActiveGuard {
    pub(crate) fn new() -> Self {
        ACTIVE.with(|active| active.set(active.get() + 1));
        ActiveGuard(())
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        ACTIVE.with(|active| active.set(active.get().saturating_sub(1)));
    }
}

/// Puts `value` in the hand-over slot.
pub(crate) fn stash(value: Value) {
    SLOT.with(|slot| *slot.borrow_mut() = Some(value));
}

/// Takes the value from the hand-over slot.
pub(crate) fn take() -> Option<Value> {
    SLOT.with(|slot| slot.borrow_mut().take())
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if ACTIVE.with(Cell::get) > 0 {
            stash(self.clone());
            serializer.serialize_newtype_struct(MAGIC, &Structural(self))
        } else {
            Structural(self).serialize(serializer)
        }
    }
}

impl Serialize for Stub {
    /// Passes the stub by reference into a [`Value`]; other serializers reject it.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if ACTIVE.with(Cell::get) > 0 {
            stash(Value::Stub(self.clone()));
            serializer.serialize_newtype_struct(MAGIC, &())
        } else {
            Err(ser::Error::custom(
                "a stub can only be serialized into a tether Value",
            ))
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_newtype_struct(MAGIC, ValueVisitor)
    }
}

impl<'de> Deserialize<'de> for Stub {
    /// Accepts a stub (or a promise, used as a stub) from a [`Value`].
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Stub(stub) => Ok(stub),
            Value::Promise(promise) => Ok(promise.to_stub()),
            other => Err(de::Error::invalid_type(
                Unexpected::Other(other.type_name()),
                &"a stub",
            )),
        }
    }
}

/// A value written with serde's data model only.
struct Structural<'a>(&'a Value);

impl Serialize for Structural<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Undefined | Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Number(n) | Value::Date(n) => serializer.serialize_f64(*n),
            Value::String(s) => serializer.serialize_str(s),
            Value::BigInt(b) => serializer.serialize_str(&b.to_string()),
            Value::Bytes(b) => serializer.serialize_bytes(&b.data),
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Structural(item))?;
                }
                seq.end()
            }
            Value::Object(object) => {
                let mut map = serializer.serialize_map(Some(object.len()))?;
                for (key, value) in object.iter() {
                    map.serialize_entry(key, &Structural(value))?;
                }
                map.end()
            }
            Value::Error(error) => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("name", &error.name)?;
                map.serialize_entry("message", &error.message)?;
                map.end()
            }
            Value::Stub(_) | Value::Promise(_) => Err(ser::Error::custom(
                "a stub can only be serialized into a tether Value",
            )),
            Value::Url(url) => serializer.serialize_str(url.href()),
            other => Err(ser::Error::custom(format!(
                "a {} can only be serialized into a tether Value",
                other.type_name()
            ))),
        }
    }
}

/// Builds a [`Value`]: from the hand-over slot when the bridge is deserializing, from any
/// self-describing format otherwise.
struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        match take() {
            Some(value) => Ok(value),
            None => d.deserialize_any(ValueVisitor),
        }
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v as f64))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v as f64))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Number(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Bytes(Bytes::new(v)))
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Object::new();
        while let Some((key, value)) = map.next_entry::<String, Value>()? {
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_serialize_structurally_with_other_serializers() {
        let value = Value::object([
            ("a", Value::from(1)),
            ("b", Value::Undefined),
            ("c", Value::array([Value::from("x")])),
        ]);
        assert_eq!(
            serde_json::to_string(&value).unwrap(),
            r#"{"a":1.0,"b":null,"c":["x"]}"#
        );
        let stub = Value::Stub(Stub::broken(crate::RpcError::error("x")));
        assert!(serde_json::to_string(&stub).is_err());
    }

    #[test]
    fn values_deserialize_from_other_formats() {
        let value: Value = serde_json::from_str(r#"{"a":[1,true,null],"b":"s"}"#).unwrap();
        assert!(value.data_eq(&Value::object([
            (
                "a",
                Value::array([Value::from(1), Value::Bool(true), Value::Null])
            ),
            ("b", Value::from("s")),
        ])));
    }
}

/// Serde support for the types that travel as special values (streams, fetch types): like
/// [`Stub`], each passes through the bridge as a [`Value`] and is refused by other formats.
macro_rules! passthrough {
    ($ty:ty, $what:literal, $into:expr, $from:pat => $out:expr) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                if ACTIVE.with(Cell::get) > 0 {
                    stash(($into)(self.clone()));
                    serializer.serialize_newtype_struct(MAGIC, &())
                } else {
                    Err(ser::Error::custom(concat!(
                        "a ",
                        $what,
                        " can only be serialized into a tether Value"
                    )))
                }
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                match Value::deserialize(deserializer)? {
                    $from => Ok($out),
                    other => Err(de::Error::invalid_type(
                        Unexpected::Other(other.type_name()),
                        &concat!("a ", $what),
                    )),
                }
            }
        }
    };
}

passthrough!(crate::core::fetch::Url, "URL", Value::Url, Value::Url(u) => u);
passthrough!(crate::core::fetch::Headers, "Headers", Value::Headers, Value::Headers(h) => h);
passthrough!(crate::core::fetch::Blob, "Blob", Value::Blob, Value::Blob(b) => b);
passthrough!(
    crate::core::fetch::Request,
    "Request",
    |r| Value::Request(Box::new(r)),
    Value::Request(r) => *r
);
passthrough!(
    crate::core::fetch::Response,
    "Response",
    |r| Value::Response(Box::new(r)),
    Value::Response(r) => *r
);

impl<T: 'static> Serialize for crate::core::stream::ReadableStream<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if ACTIVE.with(Cell::get) > 0 {
            stash(Value::Readable(self.clone().cast()));
            serializer.serialize_newtype_struct(MAGIC, &())
        } else {
            Err(ser::Error::custom(
                "a ReadableStream can only be serialized into a tether Value",
            ))
        }
    }
}

impl<'de, T: 'static> Deserialize<'de> for crate::core::stream::ReadableStream<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Readable(stream) => Ok(stream.cast()),
            other => Err(de::Error::invalid_type(
                Unexpected::Other(other.type_name()),
                &"a ReadableStream",
            )),
        }
    }
}

impl<T: 'static> Serialize for crate::core::stream::WritableStream<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if ACTIVE.with(Cell::get) > 0 {
            stash(Value::Writable(self.clone().cast()));
            serializer.serialize_newtype_struct(MAGIC, &())
        } else {
            Err(ser::Error::custom(
                "a WritableStream can only be serialized into a tether Value",
            ))
        }
    }
}

impl<'de, T: 'static> Deserialize<'de> for crate::core::stream::WritableStream<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Writable(stream) => Ok(stream.cast()),
            other => Err(de::Error::invalid_type(
                Unexpected::Other(other.type_name()),
                &"a WritableStream",
            )),
        }
    }
}

/// Every serde type is a stream chunk; a [`Value`] passes through unconverted.
impl<T> crate::core::stream::Chunk for T
where
    T: Serialize + de::DeserializeOwned + Send + 'static,
{
    fn into_chunk(self) -> crate::RpcResult<Value> {
        let mut slot = Some(self);
        if let Some(value) = (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<Value>>() {
            return Ok(value.take().unwrap_or_default());
        }
        match slot {
            Some(chunk) => Ok(super::to_value(&chunk)?),
            None => Ok(Value::Undefined),
        }
    }

    fn from_chunk(value: Value) -> crate::RpcResult<Self> {
        let mut slot = Some(value);
        if let Some(same) = (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<T>>() {
            if let Some(same) = same.take() {
                return Ok(same);
            }
        }
        Ok(super::from_value(slot.unwrap_or_default())?)
    }
}
