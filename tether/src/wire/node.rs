//! A parsed frame: JSON values as `JSON.parse` makes them, strings borrowed from the frame.
//!
//! Owns [`Node`], the tree one parse of a frame produces (a serde visitor, so any serde JSON
//! deserializer can build it), and the JavaScript views of it the codec needs: `JSON.stringify`
//! (for error messages quoting the input), `typeof`, and numbers as ids. Evaluation then moves
//! out of the tree: a string without escapes is copied once, from the frame into the value; a
//! string with escapes was decoded into its own buffer at parse time and is moved.
//!
//! Long arrays are not built whole at once. Past its first [`EAGER_ELEMENTS`] elements, an
//! array keeps each element that is itself an array or object as its text ([`Node::Raw`],
//! checked as JSON but not built), and [`force`] builds it when evaluation reaches it, so only
//! the element being evaluated exists as a tree. A frame of many deep values (the wire's
//! one-element arrays cost a 32-byte node and an allocation per two bytes of text) thus costs
//! about its values, not its values plus a tree many times its size. Every special form reads
//! only its first few elements, which are always built; a `Raw` node stands for a container and
//! answers every view (`typeof`, `JSON.stringify`, ids) as that container would. Building a kept
//! element keeps long arrays inside it as text again, down to [`MAX_LAZY_LEVEL`] levels of
//! keeping, so no byte is read more than three times.
//!
//! What it keeps of `JSON.parse`: every number is an `f64`; object keys keep their order, and a
//! repeated key keeps its first place with its last value. It must not interpret expressions:
//! that is `evaluate`'s and `program`'s business.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::json::{write_number, write_str};

/// 2^53: the largest integer every id below it is exact at.
const MAX_SAFE: f64 = 9_007_199_254_740_992.0;

/// One JSON value of a parsed frame.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node<'a> {
    Null,
    Bool(bool),
    Number(f64),
    String(Cow<'a, str>),
    Array(Vec<Node<'a>>),
    /// Entries in order, keys unique.
    Object(Vec<(Cow<'a, str>, Node<'a>)>),
    /// An array or object element of a long array, kept as its (valid) JSON text until
    /// [`force`] builds it; the level of keeping it was made at.
    Raw(&'a str, u8),
}

/// Elements of an array always built at once: more than any special form reads.
const EAGER_ELEMENTS: usize = 16;

/// Kept elements are made while parsing the frame (level 1) and while building a kept element
/// of level 1 (level 2); building one of level 2 keeps nothing.
const MAX_LAZY_LEVEL: u8 = 2;

/// `node`, or, for a kept element, the tree its text stands for.
pub(super) fn force(node: Node<'_>) -> Node<'_> {
    match node {
        Node::Raw(text, level) => build(text, level),
        other => other,
    }
}

/// [`force`] of a borrowed node: a copy only for a kept element.
pub(super) fn forced<'n, 'a>(node: &'n Node<'a>) -> Cow<'n, Node<'a>> {
    match node {
        Node::Raw(text, level) => Cow::Owned(build(text, *level)),
        other => Cow::Borrowed(other),
    }
}

/// Builds the tree of a kept element. Its text was checked as JSON when it was kept (and its
/// nesting bounded with the whole frame), so this cannot fail; if it ever did, the element
/// would read as `null`.
fn build(text: &str, level: u8) -> Node<'_> {
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    let built = NodeSeed(level).deserialize(&mut de);
    debug_assert!(built.is_ok(), "a kept element did not parse again");
    built.unwrap_or(Node::Null)
}

impl<'a> Node<'a> {
    /// The string, if this is one.
    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Node::String(s) => Some(s),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Node<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        NodeSeed(0).deserialize(deserializer)
    }
}

/// Parses one value whose long arrays keep their elements at this level of keeping plus one.
#[derive(Clone, Copy)]
struct NodeSeed(u8);

impl<'de> DeserializeSeed<'de> for NodeSeed {
    type Value = Node<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node<'de>, D::Error> {
        deserializer.deserialize_any(NodeVisitor(self.0))
    }
}

/// One element past the first [`EAGER_ELEMENTS`] of an array: kept as text if it is a
/// container, built if it is a scalar.
struct KeptSeed(u8);

impl<'de> DeserializeSeed<'de> for KeptSeed {
    type Value = Node<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node<'de>, D::Error> {
        let raw = <&'de serde_json::value::RawValue>::deserialize(deserializer)?;
        let text = raw.get();
        let level = self.0 + 1;
        Ok(match text.as_bytes().first() {
            Some(b'[' | b'{') => Node::Raw(text, level),
            _ => build(text, level),
        })
    }
}

struct NodeVisitor(u8);

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }

    fn visit_none<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Node<'de>, E> {
        Ok(Node::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Node<'de>, E> {
        Ok(Node::Number(n as f64))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Node<'de>, E> {
        Ok(Node::Number(n as f64))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Node<'de>, E> {
        Ok(Node::Number(n))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Owned(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
        // serde_json gives no length hint. Starting at one slot (not the four a first push
        // would make) keeps the wire's many one-element arrays (`[[x]]` escapes) to the memory
        // they need.
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(1).clamp(1, 64));
        let seed = NodeSeed(self.0);
        while items.len() < EAGER_ELEMENTS {
            match seq.next_element_seed(seed)? {
                Some(item) => items.push(item),
                None => return Ok(Node::Array(items)),
            }
        }
        if self.0 < MAX_LAZY_LEVEL {
            while let Some(item) = seq.next_element_seed(KeptSeed(self.0))? {
                items.push(item);
            }
        } else {
            while let Some(item) = seq.next_element_seed(seed)? {
                items.push(item);
            }
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
        // Room for a few keys at once: an object rarely has just one, and its parsed form lives
        // only until it is evaluated (long arrays' elements are built one at a time).
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(4).clamp(4, 64));
        while let Some(Key(key)) = map.next_key()? {
            entries.push((key, map.next_value_seed(NodeSeed(self.0))?));
        }
        dedupe(&mut entries);
        Ok(Node::Object(entries))
    }
}

/// An object key, borrowed from the frame when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(s)))
    }
}

/// `JSON.parse` keeps a repeated key at its first place with its last value. Checking costs
/// no allocation for small objects and one sort of key references for large ones; only an
/// object that does repeat a key is rebuilt.
fn dedupe<T>(entries: &mut Vec<(Cow<'_, str>, T)>) {
    let n = entries.len();
    let repeated = if n < 2 {
        false
    } else if n <= 16 {
        (1..n).any(|i| entries[..i].iter().any(|(k, _)| *k == entries[i].0))
    } else {
        let mut keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_ref()).collect();
        keys.sort_unstable();
        keys.windows(2).any(|pair| pair[0] == pair[1])
    };
    if !repeated {
        return;
    }
    let mut first: HashMap<String, usize> = HashMap::with_capacity(n);
    let mut kept: Vec<(Cow<'_, str>, T)> = Vec::with_capacity(n);
    for (key, value) in entries.drain(..) {
        match first.get(key.as_ref()) {
            Some(&at) => kept[at].1 = value,
            None => {
                first.insert(key.as_ref().to_owned(), kept.len());
                kept.push((key, value));
            }
        }
    }
    *entries = kept;
}

/// Writes a parsed tree compactly, as `JSON.stringify` would print the parsed value.
pub(super) fn write_json(out: &mut String, value: &Node<'_>) {
    match value {
        Node::Raw(..) => write_json(out, &forced(value)),
        Node::Null => out.push_str("null"),
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Node::Number(n) => write_number(out, *n),
        Node::String(s) => write_str(out, s),
        Node::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item);
            }
            out.push(']');
        }
        Node::Object(map) => {
            // JavaScript objects list array-index keys first, in ascending order.
            let mut entries: Vec<(&str, &Node<'_>)> =
                map.iter().map(|(k, v)| (k.as_ref(), v)).collect();
            if entries.iter().any(|(key, _)| array_index(key).is_some()) {
                entries.sort_by_key(|(key, _)| array_index(key).map_or((1, 0), |i| (0, i)));
            }
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, key);
                out.push(':');
                write_json(out, item);
            }
            out.push('}');
        }
    }
}

impl fmt::Display for Node<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&stringify(self))
    }
}

/// The value of `key` if JavaScript treats it as an array index (canonical, below 2^32 - 1).
fn array_index(key: &str) -> Option<u32> {
    if key.is_empty() || key.len() > 10 || (key.len() > 1 && key.starts_with('0')) {
        return None;
    }
    if !key.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    key.parse::<u32>().ok().filter(|i| *i != u32::MAX)
}

/// `JSON.stringify(value)` of a parsed tree.
pub(super) fn stringify(value: &Node<'_>) -> String {
    let mut out = String::new();
    write_json(&mut out, value);
    out
}

/// JavaScript's `typeof` for a parsed value.
pub(super) fn js_typeof(value: &Node<'_>) -> &'static str {
    match value {
        Node::Bool(_) => "boolean",
        Node::Number(_) => "number",
        Node::String(_) => "string",
        Node::Null | Node::Array(_) | Node::Object(_) | Node::Raw(..) => "object",
    }
}

/// A number as an id: an integer within ±2^53 (`1.0` and `-0` count as integers).
pub(super) fn as_id(value: &Node<'_>) -> Option<i64> {
    let Node::Number(n) = value else {
        return None;
    };
    (n.fract() == 0.0 && n.abs() <= MAX_SAFE).then_some(*n as i64)
}
