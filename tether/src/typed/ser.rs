//! Rust values into [`Value`]s: a serde `Serializer` whose output is a [`Value`].
//!
//! The mapping is serde_json's, adjusted to JavaScript: integers become numbers and must be
//! exactly representable (within ±(2^53 - 1)), `i128`/`u128` become `bigint`s, bytes become a
//! `Uint8Array`, `()` becomes `undefined` and `None` becomes `null`. Enums are externally tagged
//! (`"Unit"`, `{"Variant": content}`). Map keys must be strings, characters or integers.
//! [`Value`]s and [`Stub`](crate::Stub)s inside the input pass through untouched (see
//! `passthrough`).

use serde::ser::{self, Impossible, Serialize};

use super::error::ConvertError;
use super::passthrough::{self, ActiveGuard, MAGIC};
use crate::core::value::{BigInt, Bytes, Object, Value};

/// The largest integer a JavaScript number holds exactly (`Number.MAX_SAFE_INTEGER`).
pub(crate) const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Converts `value` to a [`Value`].
///
/// ```
/// # use tether::typed::to_value;
/// # use tether::Value;
/// #[derive(serde::Serialize)]
/// struct Point { x: i32, y: i32 }
///
/// let value = to_value(&Point { x: 1, y: 2 }).unwrap();
/// assert_eq!(value.get("y").as_f64(), Some(2.0));
/// assert!(to_value(&u64::MAX).is_err()); // not exactly representable as a JavaScript number
/// ```
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, ConvertError> {
    let _active = ActiveGuard::new();
    value.serialize(ValueSerializer)
}

/// The serializer behind [`to_value`].
struct ValueSerializer;

fn integer(n: i128) -> Result<Value, ConvertError> {
    if n.unsigned_abs() <= u128::from(MAX_SAFE_INTEGER) {
        Ok(Value::Number(n as f64))
    } else {
        Err(ConvertError::mismatch(
            "an integer a JavaScript number holds exactly (at most 2^53 - 1 in magnitude; use i128 for a bigint)",
            n.to_string(),
        ))
    }
}

fn variant(name: &str, content: Value) -> Value {
    Value::Object(Object::from_iter([(name, content)]))
}

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = ConvertError;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = SeqBuilder;
    type SerializeMap = MapBuilder;
    type SerializeStruct = MapBuilder;
    type SerializeStructVariant = MapBuilder;

    fn serialize_bool(self, v: bool) -> Result<Value, ConvertError> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, ConvertError> {
        Ok(Value::Number(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<Value, ConvertError> {
        Ok(Value::Number(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<Value, ConvertError> {
        Ok(Value::Number(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<Value, ConvertError> {
        integer(v.into())
    }
    fn serialize_i128(self, v: i128) -> Result<Value, ConvertError> {
        Ok(Value::BigInt(BigInt::from(v)))
    }
    fn serialize_u8(self, v: u8) -> Result<Value, ConvertError> {
        Ok(Value::Number(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<Value, ConvertError> {
        Ok(Value::Number(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<Value, ConvertError> {
        Ok(Value::Number(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<Value, ConvertError> {
        integer(v.into())
    }
    fn serialize_u128(self, v: u128) -> Result<Value, ConvertError> {
        Ok(Value::BigInt(BigInt::from(v)))
    }
    fn serialize_f32(self, v: f32) -> Result<Value, ConvertError> {
        Ok(Value::Number(v.into()))
    }
    fn serialize_f64(self, v: f64) -> Result<Value, ConvertError> {
        Ok(Value::Number(v))
    }
    fn serialize_char(self, v: char) -> Result<Value, ConvertError> {
        Ok(Value::String(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, ConvertError> {
        Ok(Value::String(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, ConvertError> {
        Ok(Value::Bytes(Bytes::new(v)))
    }
    fn serialize_none(self) -> Result<Value, ConvertError> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, ConvertError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, ConvertError> {
        Ok(Value::Undefined)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, ConvertError> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value, ConvertError> {
        Ok(Value::String(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<Value, ConvertError> {
        if name == MAGIC {
            if let Some(handed_over) = passthrough::take() {
                return Ok(handed_over);
            }
        }
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        name: &'static str,
        value: &T,
    ) -> Result<Value, ConvertError> {
        Ok(variant(name, value.serialize(self)?))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder, ConvertError> {
        Ok(SeqBuilder::new(None, len))
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder, ConvertError> {
        Ok(SeqBuilder::new(None, Some(len)))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<SeqBuilder, ConvertError> {
        Ok(SeqBuilder::new(None, Some(len)))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        name: &'static str,
        len: usize,
    ) -> Result<SeqBuilder, ConvertError> {
        Ok(SeqBuilder::new(Some(name), Some(len)))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<MapBuilder, ConvertError> {
        Ok(MapBuilder::new(None))
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<MapBuilder, ConvertError> {
        Ok(MapBuilder::new(None))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        name: &'static str,
        _len: usize,
    ) -> Result<MapBuilder, ConvertError> {
        Ok(MapBuilder::new(Some(name)))
    }
}

/// Builds an array (or `{variant: [...]}`).
struct SeqBuilder {
    variant: Option<&'static str>,
    items: Vec<Value>,
}

impl SeqBuilder {
    fn new(variant: Option<&'static str>, len: Option<usize>) -> Self {
        Self {
            variant,
            items: Vec::with_capacity(len.unwrap_or(0).min(4096)),
        }
    }

    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ConvertError> {
        let index = self.items.len();
        let item = value
            .serialize(ValueSerializer)
            .map_err(|e| e.in_element(index))?;
        self.items.push(item);
        Ok(())
    }

    fn finish(self) -> Result<Value, ConvertError> {
        let array = Value::Array(self.items);
        Ok(match self.variant {
            Some(name) => variant(name, array),
            None => array,
        })
    }
}

impl ser::SerializeSeq for SeqBuilder {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ConvertError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, ConvertError> {
        self.finish()
    }
}

impl ser::SerializeTuple for SeqBuilder {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ConvertError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, ConvertError> {
        self.finish()
    }
}

impl ser::SerializeTupleStruct for SeqBuilder {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ConvertError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, ConvertError> {
        self.finish()
    }
}

impl ser::SerializeTupleVariant for SeqBuilder {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ConvertError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, ConvertError> {
        self.finish()
    }
}

/// Builds an object (or `{variant: {...}}`).
struct MapBuilder {
    variant: Option<&'static str>,
    object: Object,
    key: Option<String>,
}

impl MapBuilder {
    fn new(variant: Option<&'static str>) -> Self {
        Self {
            variant,
            object: Object::new(),
            key: None,
        }
    }

    /// Adds an entry. Struct fields are distinct by construction, so they are appended without
    /// a search (building an object stays linear in its fields); map keys may repeat once turned
    /// into strings (`1` and `"1"`), so the last one wins, as in JavaScript.
    fn field<T: Serialize + ?Sized>(
        &mut self,
        key: &str,
        value: &T,
        distinct: bool,
    ) -> Result<(), ConvertError> {
        let value = value
            .serialize(ValueSerializer)
            .map_err(|e| e.in_field(key))?;
        if distinct {
            self.object.push_distinct(key.to_owned(), value);
        } else {
            self.object.insert(key, value);
        }
        Ok(())
    }

    fn finish(self) -> Result<Value, ConvertError> {
        let object = Value::Object(self.object);
        Ok(match self.variant {
            Some(name) => variant(name, object),
            None => object,
        })
    }
}

impl ser::SerializeMap for MapBuilder {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ConvertError> {
        self.key = Some(key.serialize(KeySerializer)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ConvertError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| ConvertError::other("a map value was serialized before its key"))?;
        self.field(&key, value, false)
    }
    fn end(self) -> Result<Value, ConvertError> {
        self.finish()
    }
}

impl ser::SerializeStruct for MapBuilder {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ConvertError> {
        self.field(key, value, true)
    }
    fn end(self) -> Result<Value, ConvertError> {
        self.finish()
    }
}

impl ser::SerializeStructVariant for MapBuilder {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ConvertError> {
        self.field(key, value, true)
    }
    fn end(self) -> Result<Value, ConvertError> {
        self.finish()
    }
}

/// Serializes map keys: strings, characters, integers and unit variants become property names.
struct KeySerializer;

fn key_error(found: &str) -> ConvertError {
    ConvertError::mismatch("a map key that is a string, character or integer", found)
}

impl ser::Serializer for KeySerializer {
    type Ok = String;
    type Error = ConvertError;
    type SerializeSeq = Impossible<String, ConvertError>;
    type SerializeTuple = Impossible<String, ConvertError>;
    type SerializeTupleStruct = Impossible<String, ConvertError>;
    type SerializeTupleVariant = Impossible<String, ConvertError>;
    type SerializeMap = Impossible<String, ConvertError>;
    type SerializeStruct = Impossible<String, ConvertError>;
    type SerializeStructVariant = Impossible<String, ConvertError>;

    fn serialize_bool(self, _v: bool) -> Result<String, ConvertError> {
        Err(key_error("boolean"))
    }
    fn serialize_i8(self, v: i8) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_i16(self, v: i16) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_i32(self, v: i32) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_i64(self, v: i64) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_i128(self, v: i128) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_u8(self, v: u8) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_u16(self, v: u16) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_u32(self, v: u32) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_u64(self, v: u64) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_u128(self, v: u128) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_f32(self, _v: f32) -> Result<String, ConvertError> {
        Err(key_error("number"))
    }
    fn serialize_f64(self, _v: f64) -> Result<String, ConvertError> {
        Err(key_error("number"))
    }
    fn serialize_char(self, v: char) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_str(self, v: &str) -> Result<String, ConvertError> {
        Ok(v.to_owned())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<String, ConvertError> {
        Err(key_error("bytes"))
    }
    fn serialize_none(self) -> Result<String, ConvertError> {
        Err(key_error("None"))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<String, ConvertError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<String, ConvertError> {
        Err(key_error("()"))
    }
    fn serialize_unit_struct(self, name: &'static str) -> Result<String, ConvertError> {
        Err(key_error(name))
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<String, ConvertError> {
        Ok(variant.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<String, ConvertError> {
        if name == MAGIC {
            return match passthrough::take() {
                Some(Value::String(s)) => Ok(s),
                Some(other) => Err(key_error(other.type_name())),
                None => Err(key_error("value")),
            };
        }
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<String, ConvertError> {
        Err(key_error("enum"))
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, ConvertError> {
        Err(key_error("sequence"))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, ConvertError> {
        Err(key_error("tuple"))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, ConvertError> {
        Err(key_error("tuple struct"))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, ConvertError> {
        Err(key_error("enum"))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, ConvertError> {
        Err(key_error("map"))
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, ConvertError> {
        Err(key_error("struct"))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, ConvertError> {
        Err(key_error("enum"))
    }
}
