//! The dynamic value model: everything a Cap'n Web message can carry.
//!
//! [`Value`] mirrors what a JavaScript peer can send or receive: JSON data (objects keep their key
//! order), `undefined` (distinct from `null`), non-finite numbers, `bigint`, `Date`, byte
//! containers, `Error`s, and references ([`Stub`]s and [`RpcPromise`]s).
//!
//! This module owns only the data types and their conveniences. It knows nothing about the wire
//! (see `wire`) or about sessions. Cloning a `Value` duplicates every stub inside it (rule L3);
//! dropping it disposes them (rule L7): a call's result owns the stubs it contains.

use crate::core::error::RpcError;
use crate::core::fetch::{Blob, Headers, Request, Response, Url};
use crate::core::stream::{ReadableStream, WritableStream};
use crate::core::stub::{RpcPromise, Stub};
pub use num_bigint::BigInt;

/// A value that can cross a Cap'n Web connection.
#[derive(Clone, Debug, Default)]
pub enum Value {
    /// JavaScript `undefined` (wire `["undefined"]`). Distinct from [`Value::Null`].
    #[default]
    Undefined,
    /// JSON `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A JavaScript number, including `Infinity`, `-Infinity` and `NaN`.
    Number(f64),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// A plain object; keys keep their insertion order.
    Object(Object),
    /// A JavaScript `bigint` (arbitrary precision).
    BigInt(BigInt),
    /// A JavaScript `Date`, in milliseconds since the Unix epoch (`NaN` for an invalid date).
    Date(f64),
    /// A byte container (`Uint8Array`, `ArrayBuffer`, any typed array, `DataView`).
    Bytes(Bytes),
    /// A JavaScript `Error` (or subclass) passed as a value.
    Error(Box<RpcError>),
    /// A reference to a target, local or remote.
    Stub(Stub),
    /// A promise for a value; replaced by its resolution before it reaches application code.
    Promise(RpcPromise),
    /// A `ReadableStream`: chunks to read once (sent through a pipe).
    Readable(ReadableStream),
    /// A `WritableStream`: a reference to something that takes chunks.
    Writable(WritableStream),
    /// A `URL`.
    Url(Url),
    /// A `Headers` object (boxed: a header map is large, values stay small).
    Headers(Box<Headers>),
    /// A `Request`.
    Request(Box<Request>),
    /// A `Response`.
    Response(Box<Response>),
    /// A `Blob` (boxed, as `Headers`).
    Blob(Box<Blob>),
}

/// A plain object: string keys in insertion order.
#[derive(Clone, Debug, Default)]
pub struct Object(Vec<(String, Value)>);

impl Object {
    /// An empty object.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// An object from entries whose keys are known to be distinct (not checked).
    pub(crate) fn from_unique(entries: Vec<(String, Value)>) -> Self {
        Self(entries)
    }

    /// Sets `key` to `value`, replacing (in place) an existing entry with that key.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        let key = key.into();
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// Appends an entry whose key the caller knows is not present yet (struct fields): no
    /// search, so building an object stays linear in its size.
    pub(crate) fn push_distinct(&mut self, key: String, value: Value) {
        debug_assert!(self.get(&key).is_none(), "duplicate key {key}");
        self.0.push((key, value));
    }

    /// The value at `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Removes and returns the value at `key`.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let index = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(index).1)
    }

    /// Entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Mutable entries in insertion order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut Value)> {
        self.0.iter_mut().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the object has no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl IntoIterator for Object {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Object {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        let mut object = Object::new();
        for (k, v) in iter {
            object.insert(k, v);
        }
        object
    }
}

/// The JavaScript container type of a byte value. Multi-byte elements are little-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum BytesKind {
    /// `Uint8Array`: the default; sent without a type marker.
    #[default]
    Uint8Array,
    /// `ArrayBuffer`.
    ArrayBuffer,
    /// `DataView`.
    DataView,
    /// `Int8Array`.
    Int8Array,
    /// `Uint8ClampedArray`.
    Uint8ClampedArray,
    /// `Int16Array`.
    Int16Array,
    /// `Uint16Array`.
    Uint16Array,
    /// `Int32Array`.
    Int32Array,
    /// `Uint32Array`.
    Uint32Array,
    /// `BigInt64Array`.
    BigInt64Array,
    /// `BigUint64Array`.
    BigUint64Array,
    /// `Float32Array`.
    Float32Array,
    /// `Float64Array`.
    Float64Array,
}

impl BytesKind {
    const ALL: [BytesKind; 13] = [
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
    ];

    /// The JavaScript class name, as used in the wire's type marker.
    pub fn name(self) -> &'static str {
        match self {
            BytesKind::Uint8Array => "Uint8Array",
            BytesKind::ArrayBuffer => "ArrayBuffer",
            BytesKind::DataView => "DataView",
            BytesKind::Int8Array => "Int8Array",
            BytesKind::Uint8ClampedArray => "Uint8ClampedArray",
            BytesKind::Int16Array => "Int16Array",
            BytesKind::Uint16Array => "Uint16Array",
            BytesKind::Int32Array => "Int32Array",
            BytesKind::Uint32Array => "Uint32Array",
            BytesKind::BigInt64Array => "BigInt64Array",
            BytesKind::BigUint64Array => "BigUint64Array",
            BytesKind::Float32Array => "Float32Array",
            BytesKind::Float64Array => "Float64Array",
        }
    }

    /// Parses a JavaScript class name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Size of one element in bytes (1 for the untyped containers).
    pub fn element_size(self) -> usize {
        match self {
            BytesKind::Int16Array | BytesKind::Uint16Array => 2,
            BytesKind::Int32Array | BytesKind::Uint32Array | BytesKind::Float32Array => 4,
            BytesKind::BigInt64Array | BytesKind::BigUint64Array | BytesKind::Float64Array => 8,
            _ => 1,
        }
    }
}

/// Bytes plus the JavaScript container they travel as.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bytes {
    /// Container kind.
    pub kind: BytesKind,
    /// Raw bytes, little-endian for multi-byte element types.
    pub data: Vec<u8>,
}

impl Bytes {
    /// A `Uint8Array`.
    pub fn new(data: impl Into<Vec<u8>>) -> Self {
        Self {
            kind: BytesKind::Uint8Array,
            data: data.into(),
        }
    }

    /// Bytes of a given container kind.
    pub fn with_kind(kind: BytesKind, data: impl Into<Vec<u8>>) -> Self {
        Self {
            kind,
            data: data.into(),
        }
    }
}

impl Value {
    /// Builds an array value.
    pub fn array(items: impl IntoIterator<Item = Value>) -> Self {
        Value::Array(items.into_iter().collect())
    }

    /// Builds an object value from key/value pairs.
    pub fn object<K: Into<String>, V: Into<Value>>(
        entries: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Value::Object(entries.into_iter().collect())
    }

    /// The number, if this is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The number as an `i64`, if this is a number with no fractional part in `i64` range.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) if n.fract() == 0.0 && n.abs() < 9.3e18 => Some(*n as i64),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The array elements, if this is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The object, if this is one.
    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The stub, if this is one.
    pub fn as_stub(&self) -> Option<&Stub> {
        match self {
            Value::Stub(s) => Some(s),
            _ => None,
        }
    }

    /// Takes the stub out of this value, if it is one.
    pub fn into_stub(self) -> Option<Stub> {
        match self {
            Value::Stub(s) => Some(s),
            _ => None,
        }
    }

    /// True for `undefined`.
    pub fn is_undefined(&self) -> bool {
        matches!(self, Value::Undefined)
    }

    /// True for `null` and `undefined` (JavaScript's "nullish").
    pub fn is_nullish(&self) -> bool {
        matches!(self, Value::Undefined | Value::Null)
    }

    /// Member `key` of an object (`undefined` when absent or not an object).
    pub fn get(&self, key: &str) -> &Value {
        static UNDEFINED: Value = Value::Undefined;
        match self {
            Value::Object(o) => o.get(key).unwrap_or(&UNDEFINED),
            _ => &UNDEFINED,
        }
    }

    /// A short JavaScript-style type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Undefined => "undefined",
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
            Value::BigInt(_) => "bigint",
            Value::Date(_) => "Date",
            Value::Bytes(_) => "bytes",
            Value::Error(_) => "Error",
            Value::Stub(_) => "stub",
            Value::Promise(_) => "promise",
            Value::Readable(_) => "ReadableStream",
            Value::Writable(_) => "WritableStream",
            Value::Url(_) => "URL",
            Value::Headers(_) => "Headers",
            Value::Request(_) => "Request",
            Value::Response(_) => "Response",
            Value::Blob(_) => "Blob",
        }
    }

    /// Structural equality on data; stubs and promises are never equal. Numbers compare as
    /// JavaScript's `Object.is` would, so `NaN` equals `NaN`.
    pub fn data_eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Undefined, Value::Undefined) | (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Number(a), Value::Number(b)) | (Value::Date(a), Value::Date(b)) => {
                a == b || (a.is_nan() && b.is_nan())
            }
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Array(a), Value::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.data_eq(y))
            }
            (Value::Object(a), Value::Object(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b.iter())
                        .all(|((ka, va), (kb, vb))| ka == kb && va.data_eq(vb))
            }
            (Value::BigInt(a), Value::BigInt(b)) => a == b,
            (Value::Bytes(a), Value::Bytes(b)) => a == b,
            (Value::Error(a), Value::Error(b)) => {
                a.name == b.name && a.message == b.message && a.stack == b.stack
            }
            (Value::Url(a), Value::Url(b)) => a == b,
            (Value::Headers(a), Value::Headers(b)) => a == b,
            (Value::Blob(a), Value::Blob(b)) => a == b,
            _ => false,
        }
    }
}

macro_rules! from_number {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Self { Value::Number(n as f64) }
        }
    )*};
}
from_number!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize, f32, f64);

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}
impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Self {
        Value::Array(v)
    }
}
impl From<Object> for Value {
    fn from(o: Object) -> Self {
        Value::Object(o)
    }
}
impl From<Bytes> for Value {
    fn from(b: Bytes) -> Self {
        Value::Bytes(b)
    }
}
impl From<BigInt> for Value {
    fn from(b: BigInt) -> Self {
        Value::BigInt(b)
    }
}
impl From<RpcError> for Value {
    fn from(e: RpcError) -> Self {
        Value::Error(Box::new(e))
    }
}
impl From<Stub> for Value {
    fn from(s: Stub) -> Self {
        Value::Stub(s)
    }
}
impl From<RpcPromise> for Value {
    fn from(p: RpcPromise) -> Self {
        Value::Promise(p)
    }
}
impl From<ReadableStream> for Value {
    fn from(s: ReadableStream) -> Self {
        Value::Readable(s)
    }
}
impl From<WritableStream> for Value {
    fn from(s: WritableStream) -> Self {
        Value::Writable(s)
    }
}
impl From<Url> for Value {
    fn from(u: Url) -> Self {
        Value::Url(u)
    }
}
impl From<Headers> for Value {
    fn from(h: Headers) -> Self {
        Value::Headers(Box::new(h))
    }
}
impl From<Request> for Value {
    fn from(r: Request) -> Self {
        Value::Request(Box::new(r))
    }
}
impl From<Response> for Value {
    fn from(r: Response) -> Self {
        Value::Response(Box::new(r))
    }
}
impl From<Blob> for Value {
    fn from(b: Blob) -> Self {
        Value::Blob(Box::new(b))
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(o: Option<T>) -> Self {
        o.map_or(Value::Null, Into::into)
    }
}
impl From<()> for Value {
    fn from(_: ()) -> Self {
        Value::Undefined
    }
}

/// Keys that name `Object.prototype` members (plus `toJSON`): a received object or error drops
/// them (after evaluating their values), as capnweb's evaluator does.
const PROTOTYPE_KEYS: [&str; 13] = [
    "constructor",
    "__proto__",
    "__defineGetter__",
    "__defineSetter__",
    "__lookupGetter__",
    "__lookupSetter__",
    "hasOwnProperty",
    "isPrototypeOf",
    "propertyIsEnumerable",
    "toLocaleString",
    "toString",
    "valueOf",
    "toJSON",
];

/// True when a received object must drop `key` (see [`PROTOTYPE_KEYS`]).
pub(crate) fn is_prototype_key(key: &str) -> bool {
    PROTOTYPE_KEYS.contains(&key)
}

/// JavaScript's TimeClip, applied by `new Date(ms)`: `NaN` outside ±8.64e15, else truncated.
pub(crate) fn time_clip(ms: f64) -> f64 {
    if !ms.is_finite() || ms.abs() > 8.64e15 {
        f64::NAN
    } else {
        ms.trunc() + 0.0
    }
}

/// A member name in a property path: shared, because a call hands its method name on to the
/// handler's task and pipelined calls copy paths.
pub(crate) type Name = std::sync::Arc<str>;

/// A property path as a message names it: nearly always one or two keys, kept inline.
pub(crate) type Path = smallvec::SmallVec<[PathKey; 2]>;

/// The [`Name`] for `text`. A peer calls the same few members over and over, so recent short
/// names are shared from a small per-thread cache instead of allocated per call. A pure cache:
/// a miss allocates, as `Name::from` would, and replaces the oldest entry, so what it holds is
/// bounded whatever names a peer sends.
pub(crate) fn name(text: &str) -> Name {
    const LONGEST: usize = 32;
    const SLOTS: usize = 32;
    thread_local! {
        static RECENT: std::cell::RefCell<(Vec<Name>, usize)> =
            const { std::cell::RefCell::new((Vec::new(), 0)) };
    }
    if text.len() > LONGEST {
        return Name::from(text);
    }
    let cached = RECENT.try_with(|recent| {
        let (names, oldest) = &mut *recent.borrow_mut();
        if let Some(found) = names.iter().find(|name| &***name == text) {
            return found.clone();
        }
        let made = Name::from(text);
        if names.len() < SLOTS {
            names.push(made.clone());
        } else {
            names[*oldest] = made.clone();
            *oldest = (*oldest + 1) % SLOTS;
        }
        made
    });
    cached.unwrap_or_else(|_| Name::from(text)) // The thread is exiting.
}

/// One step of a property path: a property name or an array index.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum PathKey {
    /// A property name.
    Name(Name),
    /// An array index (non-negative integer).
    Index(u64),
}

impl PathKey {
    /// Renders the key as JavaScript would in a joined path.
    pub(crate) fn as_display(&self) -> String {
        match self {
            PathKey::Name(n) => n.to_string(),
            PathKey::Index(i) => i.to_string(),
        }
    }
}

impl From<&str> for PathKey {
    fn from(s: &str) -> Self {
        PathKey::Name(Name::from(s))
    }
}

#[cfg(test)]
mod size_tests {
    /// Every value of a message costs this much: the large variants are boxed to keep it small.
    #[test]
    fn a_value_stays_five_words() {
        assert!(std::mem::size_of::<super::Value>() <= 40);
    }
}
