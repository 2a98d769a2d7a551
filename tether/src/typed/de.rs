//! [`Value`]s into Rust values: a serde `Deserializer` that reads (and consumes) a [`Value`].
//!
//! The checks are strict where JavaScript is loose: an integer type accepts only a number with no
//! fractional part that fits the type (or a `bigint` that fits), a string is not a number, and
//! `undefined` and `null` are only accepted by `Option`, `()` and unit structs. Errors say what was
//! expected, what was found and where (`[2].x`), so the server adapter can reject a bad argument
//! with a useful `TypeError`. [`Value`]s and [`Stub`](crate::Stub)s in the target type take the
//! input as it is (see `passthrough`).

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};

use super::error::ConvertError;
use super::passthrough::{self, MAGIC};
use crate::core::value::{Object, Value};

/// Converts `value` to a `T`, consuming it (stubs inside move into the result).
///
/// ```
/// # use tether::typed::from_value;
/// # use tether::Value;
/// assert_eq!(from_value::<u8>(Value::from(200)).unwrap(), 200);
/// let error = from_value::<u8>(Value::from(300)).unwrap_err();
/// assert_eq!(error.to_string(), "value must be an integer from 0 to 255, got 300");
/// assert!(from_value::<i32>(Value::from(1.5)).is_err());
/// assert_eq!(from_value::<Option<String>>(Value::Undefined).unwrap(), None);
/// ```
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ConvertError> {
    T::deserialize(ValueDeserializer(value))
}

/// The deserializer behind [`from_value`].
pub(crate) struct ValueDeserializer(pub(crate) Value);

/// A short description of what a value is, for "got ..." in messages. Numbers show themselves.
fn found(value: &Value) -> String {
    match value {
        Value::Number(n) => format_number(*n),
        Value::BigInt(b) => format!("{b}n"),
        other => other.type_name().to_owned(),
    }
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e21 {
        format!("{n:.0}")
    } else {
        n.to_string()
    }
}

fn mismatch(expected: &str, value: &Value) -> ConvertError {
    ConvertError::mismatch(expected, found(value))
}

/// Reads an integer of a type whose range is `min..=max`, from a number or a bigint.
fn integer(value: &Value, min: i128, max: i128) -> Result<i128, ConvertError> {
    let range = || format!("an integer from {min} to {max}");
    match value {
        Value::Number(n) if n.fract() == 0.0 => {
            // Exact for every integer an f64 holds; out-of-range values saturate, then fail.
            let i = *n as i128;
            if (i as f64) == *n && (min..=max).contains(&i) {
                Ok(i)
            } else {
                Err(mismatch(&range(), value))
            }
        }
        Value::Number(n) if n.is_finite() => Err(mismatch("an integer", value)),
        Value::Number(_) => Err(mismatch(&range(), value)),
        Value::BigInt(b) => i128::try_from(b)
            .ok()
            .filter(|i| (min..=max).contains(i))
            .ok_or_else(|| mismatch(&range(), value)),
        other => Err(mismatch("an integer", other)),
    }
}

macro_rules! deserialize_integer {
    ($($method:ident $visit:ident $t:ty;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
            let i = integer(&self.0, <$t>::MIN as i128, <$t>::MAX as i128)?;
            // In range by the check above.
            visitor.$visit(i as $t)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for ValueDeserializer {
    type Error = ConvertError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        match self.0 {
            Value::Undefined | Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Number(n) => {
                if n.fract() == 0.0 && n.abs() <= super::ser::MAX_SAFE_INTEGER as f64 {
                    visitor.visit_i64(n as i64)
                } else {
                    visitor.visit_f64(n)
                }
            }
            Value::String(s) => visitor.visit_string(s),
            Value::Array(items) => visit_array(items, visitor),
            Value::Object(object) => visit_object(object, visitor),
            Value::BigInt(ref b) => match i128::try_from(b) {
                Ok(i) => visitor.visit_i128(i),
                Err(_) => Err(mismatch("a bigint that fits in 128 bits", &self.0)),
            },
            Value::Date(ms) => visitor.visit_f64(ms),
            Value::Bytes(bytes) => visitor.visit_byte_buf(bytes.data),
            Value::Url(url) => visitor.visit_string(url.href().to_owned()),
            other => Err(mismatch("data", &other)),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        match self.0 {
            Value::Bool(b) => visitor.visit_bool(b),
            other => Err(mismatch("a boolean", &other)),
        }
    }

    deserialize_integer! {
        deserialize_i8 visit_i8 i8;
        deserialize_i16 visit_i16 i16;
        deserialize_i32 visit_i32 i32;
        deserialize_i64 visit_i64 i64;
        deserialize_i128 visit_i128 i128;
        deserialize_u8 visit_u8 u8;
        deserialize_u16 visit_u16 u16;
        deserialize_u32 visit_u32 u32;
        deserialize_u64 visit_u64 u64;
    }

    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        match &self.0 {
            Value::BigInt(b) => match u128::try_from(b) {
                Ok(u) => visitor.visit_u128(u),
                Err(_) => Err(mismatch("an integer from 0 to 2^128 - 1", &self.0)),
            },
            _ => {
                let i = integer(&self.0, 0, i128::MAX)?;
                visitor.visit_u128(i as u128)
            }
        }
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        match self.0 {
            Value::Number(n) => visitor.visit_f32(n as f32),
            other => Err(mismatch("a number", &other)),
        }
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        match self.0 {
            Value::Number(n) => visitor.visit_f64(n),
            other => Err(mismatch("a number", &other)),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        match &self.0 {
            Value::String(s) => {
                let mut chars = s.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => visitor.visit_char(c),
                    _ => Err(mismatch("a single character", &self.0)),
                }
            }
            other => Err(mismatch("a single character", other)),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        match self.0 {
            Value::String(s) => visitor.visit_string(s),
            other => Err(mismatch("a string", &other)),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        self.deserialize_byte_buf(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        match self.0 {
            Value::Bytes(bytes) => visitor.visit_byte_buf(bytes.data),
            Value::Array(items) => visit_array(items, visitor),
            other => Err(mismatch("bytes", &other)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        match self.0 {
            Value::Undefined | Value::Null => visitor.visit_none(),
            other => visitor.visit_some(ValueDeserializer(other)),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        match self.0 {
            Value::Undefined | Value::Null => visitor.visit_unit(),
            other => Err(mismatch("undefined or null", &other)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ConvertError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ConvertError> {
        if name == MAGIC {
            passthrough::stash(self.0);
            return visitor.visit_newtype_struct(ValueDeserializer(Value::Undefined));
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        match self.0 {
            Value::Array(items) => visit_array(items, visitor),
            // A byte container reads as an array of its bytes (for `Vec<u8>`, `[u8; N]`).
            Value::Bytes(bytes) => {
                visit_array(bytes.data.into_iter().map(Value::from).collect(), visitor)
            }
            other => Err(mismatch("an array", &other)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ConvertError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ConvertError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        match self.0 {
            Value::Object(object) => visit_object(object, visitor),
            other => Err(mismatch("an object", &other)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ConvertError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ConvertError> {
        match self.0 {
            Value::String(variant) => visitor.visit_enum(Enum {
                variant,
                content: None,
            }),
            Value::Object(object) if object.len() == 1 => {
                let Some((variant, content)) = object.into_iter().next() else {
                    return Err(ConvertError::other("empty enum object"));
                };
                visitor.visit_enum(Enum {
                    variant,
                    content: Some(content),
                })
            }
            other => Err(mismatch(
                "a variant name or an object with one variant key",
                &other,
            )),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, ConvertError> {
        visitor.visit_unit()
    }
}

fn visit_array<'de, V: Visitor<'de>>(
    items: Vec<Value>,
    visitor: V,
) -> Result<V::Value, ConvertError> {
    let len = items.len();
    let mut access = Elements {
        items: items.into_iter(),
        index: 0,
    };
    let result = visitor.visit_seq(&mut access)?;
    if !access.items.as_slice().is_empty() {
        return Err(ConvertError::mismatch(
            format!("an array of {} elements", access.index),
            format!("{len} elements"),
        ));
    }
    Ok(result)
}

fn visit_object<'de, V: Visitor<'de>>(
    object: Object,
    visitor: V,
) -> Result<V::Value, ConvertError> {
    visitor.visit_map(Entries {
        entries: object.into_iter(),
        pending: None,
    })
}

/// Array elements, one by one; errors are tagged with the element's index.
struct Elements {
    items: std::vec::IntoIter<Value>,
    index: usize,
}

impl<'de> SeqAccess<'de> for &mut Elements {
    type Error = ConvertError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ConvertError> {
        let Some(item) = self.items.next() else {
            return Ok(None);
        };
        let index = self.index;
        self.index += 1;
        seed.deserialize(ValueDeserializer(item))
            .map(Some)
            .map_err(|e| e.in_element(index))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// Object entries, one by one; errors are tagged with the entry's key.
struct Entries {
    entries: std::vec::IntoIter<(String, Value)>,
    pending: Option<(String, Value)>,
}

impl<'de> MapAccess<'de> for Entries {
    type Error = ConvertError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ConvertError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        let parsed = seed
            .deserialize(KeyDeserializer(&key))
            .map_err(|e| e.in_field(&key))?;
        self.pending = Some((key, value));
        Ok(Some(parsed))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ConvertError> {
        let (key, value) = self
            .pending
            .take()
            .ok_or_else(|| ConvertError::other("a map value was read before its key"))?;
        seed.deserialize(ValueDeserializer(value))
            .map_err(|e| e.in_field(&key))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// A property name as a map key: a string, or an integer written as one (`{"1": ...}`).
struct KeyDeserializer<'a>(&'a str);

macro_rules! deserialize_key_integer {
    ($($method:ident $visit:ident $t:ty;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
            match self.0.parse::<$t>() {
                Ok(n) => visitor.$visit(n),
                Err(_) => Err(ConvertError::mismatch(
                    concat!("a key that is a ", stringify!($t)),
                    format!("\"{}\"", self.0),
                )),
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for KeyDeserializer<'_> {
    type Error = ConvertError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        visitor.visit_str(self.0)
    }

    deserialize_key_integer! {
        deserialize_i8 visit_i8 i8;
        deserialize_i16 visit_i16 i16;
        deserialize_i32 visit_i32 i32;
        deserialize_i64 visit_i64 i64;
        deserialize_i128 visit_i128 i128;
        deserialize_u8 visit_u8 u8;
        deserialize_u16 visit_u16 u16;
        deserialize_u32 visit_u32 u32;
        deserialize_u64 visit_u64 u64;
        deserialize_u128 visit_u128 u128;
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ConvertError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ConvertError> {
        self.0
            .into_deserializer()
            .deserialize_enum(name, variants, visitor)
    }

    serde::forward_to_deserialize_any! {
        bool f32 f64 char str string bytes byte_buf option unit unit_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

/// An externally tagged enum: `"Variant"` or `{"Variant": content}`.
struct Enum {
    variant: String,
    content: Option<Value>,
}

impl<'de> EnumAccess<'de> for Enum {
    type Error = ConvertError;
    type Variant = Content;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Content), ConvertError> {
        let variant = seed.deserialize(self.variant.as_str().into_deserializer())?;
        Ok((
            variant,
            Content {
                variant: self.variant,
                content: self.content,
            },
        ))
    }
}

/// The content of an enum variant.
struct Content {
    variant: String,
    content: Option<Value>,
}

impl Content {
    fn deserializer(self) -> Result<(String, ValueDeserializer), ConvertError> {
        match self.content {
            Some(content) => Ok((self.variant, ValueDeserializer(content))),
            None => Err(ConvertError::other(format!(
                "variant `{}` needs content: {{\"{}\": ...}}",
                self.variant, self.variant
            ))),
        }
    }
}

impl<'de> VariantAccess<'de> for Content {
    type Error = ConvertError;

    fn unit_variant(self) -> Result<(), ConvertError> {
        match self.content {
            None | Some(Value::Undefined | Value::Null) => Ok(()),
            Some(other) => {
                Err(mismatch("no content for a unit variant", &other).in_field(&self.variant))
            }
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, ConvertError> {
        let (variant, deserializer) = self.deserializer()?;
        seed.deserialize(deserializer)
            .map_err(|e| e.in_field(&variant))
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ConvertError> {
        let (variant, deserializer) = self.deserializer()?;
        de::Deserializer::deserialize_seq(deserializer, visitor).map_err(|e| e.in_field(&variant))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ConvertError> {
        let (variant, deserializer) = self.deserializer()?;
        de::Deserializer::deserialize_map(deserializer, visitor).map_err(|e| e.in_field(&variant))
    }
}
