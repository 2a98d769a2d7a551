//! Expression evaluation: a parsed expression ([`Node`]) to a [`Value`], moving out of it.
//!
//! Owns the meaning of every expression form of the protocol (literals, the `[[…]]` array
//! escape, `undefined`, non-finite numbers, `bigint`, `date`, `bytes`, `error`, and the
//! reference forms, which are handed to the [`Importer`]), the per-level depth limit, the bigint
//! length limit, and the stripping of `Object.prototype` keys. Error types and messages follow
//! capnweb 0.12's `Evaluator`. [`classify`] is the one place that decides whether a `[tag, …]`
//! array is a valid special form; the mapper decoder (`program`) shares it.

use std::borrow::Cow;

use super::json::number_to_string;
use super::node::{as_id, force, forced, js_typeof, stringify, write_json, Node};
use super::parse::{depth_error, utf16_len};
use super::program::decode_program;
use super::{Importer, Limits};
use crate::core::error::RpcError;
use crate::core::fetch::{Blob, Body, FetchInit, Headers, Request, Response, StatusText, Url};
use crate::core::limits::bigint_length_error;
use crate::core::map::program::Capture;
use crate::core::stream::WritableStream;
use crate::core::value::{
    is_prototype_key, name, time_clip, Bytes, BytesKind, Object, Path, PathKey, Value,
};
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use num_bigint::BigInt;

/// Base64 as Node's decoder accepts it: padding optional, non-zero trailing bits tolerated.
const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const BASE64: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const BASE64_URL: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

pub(super) fn evaluate(
    expr: Node<'_>,
    importer: &mut dyn Importer,
    limits: &Limits,
) -> Result<Value, RpcError> {
    Evaluator { importer, limits }.eval(expr, 0)
}

fn type_error(message: impl Into<String>) -> RpcError {
    RpcError::protocol("TypeError", message)
}

#[cold]
#[inline(never)]
pub(super) fn unknown_special(items: &[Node<'_>]) -> RpcError {
    let mut text = String::from("[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        write_json(&mut text, item);
    }
    text.push(']');
    type_error(format!("unknown special value: {text}"))
}

/// The error capnweb's session raises for an id that names no export.
fn no_such_entry(id: &Node<'_>) -> RpcError {
    RpcError::protocol(
        "Error",
        format!("no such entry on exports table: {}", stringify(id)),
    )
}

/// A valid `[tag, …]` special form, its parts taken out of the array.
pub(super) enum Form<'a> {
    /// `undefined`, the non-finite numbers, `bigint`, `date`, `bytes`.
    Literal(Value),
    /// `["error", name, message, stack?, props?]`; `props` still to evaluate (`name`,
    /// `message` and `stack` keys already left out).
    Error {
        error: RpcError,
        props: Vec<(Cow<'a, str>, Node<'a>)>,
    },
    /// `["import" | "pipeline", id, path?, args?]`; `args` still to evaluate.
    Reference {
        id: i64,
        path: Path,
        args: Option<Vec<Node<'a>>>,
        promise: bool,
    },
    /// `["export" | "promise", id]`: the peer introduces a stub or a promise.
    Introduce { id: i64, promise: bool },
    /// `["remap", id, path, captures, instructions]`.
    Remap {
        id: i64,
        path: Path,
        captures: Vec<Capture>,
        instructions: Vec<Node<'a>>,
    },
    /// `["readable", id]`: the readable end of one of the peer's pipes.
    Readable(i64),
    /// `["writable", id]`: the peer introduces a writable stream.
    Writable(i64),
    /// `["blob", type, content]`; `content` still to evaluate (a readable stream).
    Blob { mime: String, content: Node<'a> },
    /// `["request", url, init]`; only `init.body` is an expression.
    Request {
        url: String,
        init: Vec<(Cow<'a, str>, Node<'a>)>,
    },
    /// `["response", body, init]`; only `body` is an expression.
    Response {
        body: Node<'a>,
        init: Vec<(Cow<'a, str>, Node<'a>)>,
    },
}

/// Decides what a `[tag, …]` array is. `Ok(None)` means "not a valid special value" (the caller
/// reports it with the untouched input); parts are taken out of `items` only once the form is
/// valid. `Err` is a valid-looking form with a bad part (bigint, base64, id, capture).
pub(super) fn classify<'a>(
    items: &mut [Node<'a>],
    limits: &Limits,
) -> Result<Option<Form<'a>>, RpcError> {
    let Some(tag) = items.first().and_then(Node::as_str) else {
        return Ok(None);
    };
    let value = match tag {
        "undefined" if items.len() == 1 => Value::Undefined,
        "inf" => Value::Number(f64::INFINITY),
        "-inf" => Value::Number(f64::NEG_INFINITY),
        "nan" => Value::Number(f64::NAN),
        "bigint" => match items.get(1) {
            Some(Node::String(digits)) => Value::BigInt(bigint(digits, limits)?),
            _ => return Ok(None),
        },
        "date" => match items.get(1) {
            Some(Node::Null) => Value::Date(f64::NAN),
            Some(Node::Number(n)) => Value::Date(time_clip(*n)),
            _ => return Ok(None),
        },
        "bytes" => match items.get(1) {
            Some(Node::String(b64)) => Value::Bytes(bytes(b64, items.get(2))?),
            _ => return Ok(None),
        },
        "error" => return Ok(error(items)),
        "import" | "pipeline" => {
            let promise = tag == "pipeline";
            return reference(items, promise);
        }
        "export" | "promise" => {
            let promise = tag == "promise";
            // A fractional or huge id cannot name a table entry.
            return Ok(items
                .get(1)
                .and_then(as_id)
                .map(|id| Form::Introduce { id, promise }));
        }
        "remap" => return remap(items),
        "url" => match &*items {
            [_, Node::String(href)] => Value::Url(Url::from_wire(href.as_ref().to_owned())),
            _ => return Ok(None),
        },
        "headers" => match &*items {
            [_, Node::Array(pairs)] => Value::Headers(Box::new(header_pairs(pairs)?)),
            _ => return Ok(None),
        },
        "readable" | "writable" => {
            let readable = tag == "readable";
            let [_, id_json @ Node::Number(_)] = &*items else {
                return Ok(None);
            };
            let Some(id) = as_id(id_json) else {
                return Err(no_such_entry(id_json));
            };
            return Ok(Some(if readable {
                Form::Readable(id)
            } else {
                Form::Writable(id)
            }));
        }
        "blob" => {
            let [_, Node::String(mime), content] = items else {
                return Ok(None);
            };
            return Ok(Some(Form::Blob {
                mime: mime.as_ref().to_owned(),
                content: std::mem::replace(content, Node::Null),
            }));
        }
        "request" => {
            let [_, Node::String(url), Node::Object(init)] = items else {
                return Ok(None);
            };
            return Ok(Some(Form::Request {
                url: url.as_ref().to_owned(),
                init: std::mem::take(init),
            }));
        }
        "response" => {
            let [_, body, Node::Object(init)] = items else {
                return Ok(None);
            };
            return Ok(Some(Form::Response {
                body: std::mem::replace(body, Node::Null),
                init: std::mem::take(init),
            }));
        }
        _ => return Ok(None),
    };
    Ok(Some(Form::Literal(value)))
}

struct Evaluator<'a> {
    importer: &'a mut dyn Importer,
    limits: &'a Limits,
}

impl Evaluator<'_> {
    /// Evaluates one expression at `depth`. The recursive path (this, `object`, `array`,
    /// `eval_elements`) keeps its frames small: nesting goes up to `max_depth` levels.
    fn eval(&mut self, expr: Node<'_>, depth: usize) -> Result<Value, RpcError> {
        if depth >= self.limits.max_depth {
            return Err(depth_error(self.limits.max_depth));
        }
        match expr {
            Node::Null => Ok(Value::Null),
            Node::Bool(b) => Ok(Value::Bool(b)),
            Node::Number(n) => Ok(Value::Number(n)),
            Node::String(s) => Ok(Value::String(s.into_owned())),
            Node::Object(map) => self.object(map, depth),
            Node::Array(items) => self.array(items, depth),
            raw @ Node::Raw(..) => self.eval(force(raw), depth),
        }
    }

    #[inline(never)]
    fn object(
        &mut self,
        map: Vec<(Cow<'_, str>, Node<'_>)>,
        depth: usize,
    ) -> Result<Value, RpcError> {
        // The parsed map's keys are already unique: collect without re-checking (linear time).
        let mut entries = Vec::with_capacity(map.len());
        for (key, item) in map {
            let value = self.eval(item, depth + 1)?;
            if !is_prototype_key(&key) {
                entries.push((key.into_owned(), value));
            }
        }
        Ok(Value::Object(Object::from_unique(entries)))
    }

    #[inline(never)]
    fn array(&mut self, mut items: Vec<Node<'_>>, depth: usize) -> Result<Value, RpcError> {
        if let [Node::Array(inner)] = items.as_mut_slice() {
            return Ok(Value::Array(
                self.eval_elements(std::mem::take(inner), depth)?,
            ));
        }
        match classify(&mut items, self.limits)? {
            Some(form) => self.special(form, depth),
            None => Err(unknown_special(&items)),
        }
    }

    /// Elements of an array value or of a call's argument list, one level below `depth`.
    fn eval_elements(
        &mut self,
        items: Vec<Node<'_>>,
        depth: usize,
    ) -> Result<Vec<Value>, RpcError> {
        let mut values = Vec::with_capacity(items.len());
        for item in items {
            values.push(self.eval(item, depth + 1)?);
        }
        Ok(values)
    }

    #[inline(never)]
    fn special(&mut self, form: Form<'_>, depth: usize) -> Result<Value, RpcError> {
        match form {
            Form::Literal(value) => Ok(value),
            Form::Error { mut error, props } => {
                for (key, item) in props {
                    let value = self.eval(item, depth + 1)?;
                    if !is_prototype_key(&key) {
                        error.props.insert(key.into_owned(), value);
                    }
                }
                Ok(Value::Error(Box::new(error)))
            }
            Form::Reference {
                id,
                path,
                args,
                promise,
            } => {
                let args = match args {
                    Some(args) => Some(self.eval_elements(args, depth)?),
                    None => None,
                };
                self.importer.reference(id, &path, args, promise)
            }
            Form::Introduce { id, promise: true } => self.importer.import_promise(id),
            Form::Introduce { id, promise: false } => self.importer.import_stub(id),
            Form::Remap {
                id,
                path,
                captures,
                instructions,
            } => {
                let program = decode_program(instructions, self.limits);
                self.importer.remap(id, path.into_vec(), captures, program)
            }
            Form::Readable(id) => self.importer.readable(id),
            Form::Writable(id) => match self.importer.import_stub(id)? {
                Value::Stub(stub) => Ok(Value::Writable(WritableStream::from_stub(stub))),
                other => Ok(other),
            },
            Form::Blob { mime, content } => {
                let Value::Readable(stream) = self.eval(content, depth + 1)? else {
                    return Err(type_error(
                        "Blob content must be serialized as a ReadableStream.",
                    ));
                };
                // The bytes arrive through the pipe: the blob is delivered once all have.
                Ok(self.importer.pending(Box::pin(async move {
                    let data = Body::Stream(stream.cast()).bytes().await?;
                    Ok(Value::Blob(Box::new(Blob { mime, data })))
                })))
            }
            Form::Request { url, init } => self.request(url, init, depth),
            Form::Response { body, init } => {
                let body = self.body(body, depth, "Response")?;
                let mut init = FetchParts::new(init)?;
                if init.extras.0.get("webSocket").is_some() {
                    return Err(type_error(
                        "Can't deserialize a Response containing a webSocket.",
                    ));
                }
                let mut response = http::Response::new(body);
                if let Some(status) = init.extras.0.remove("status") {
                    *response.status_mut() = status
                        .as_i64()
                        .and_then(|s| u16::try_from(s).ok())
                        .and_then(|s| http::StatusCode::from_u16(s).ok())
                        .ok_or_else(|| {
                            RpcError::protocol(
                                "RangeError",
                                "Response status must be an integer from 200 to 599.",
                            )
                        })?;
                }
                if let Some(Value::String(text)) = init.extras.0.remove("statusText") {
                    response.extensions_mut().insert(StatusText(text));
                }
                *response.headers_mut() = init.headers.0;
                if !init.extras.0.is_empty() {
                    response.extensions_mut().insert(init.extras);
                }
                Ok(Value::Response(Box::new(Response(response))))
            }
        }
    }

    /// A body expression: `null`, a string, bytes or a readable stream.
    fn body(&mut self, node: Node<'_>, depth: usize, of: &str) -> Result<Body, RpcError> {
        Ok(match self.eval(node, depth + 1)? {
            Value::Null | Value::Undefined => Body::Empty,
            Value::String(text) => Body::Text(text),
            Value::Bytes(bytes) => Body::Bytes(bytes.data.into()),
            Value::Readable(stream) => Body::Stream(stream.cast()),
            _ => {
                return Err(type_error(format!(
                    "{of} body must be of type ReadableStream."
                )))
            }
        })
    }

    fn request(
        &mut self,
        url: String,
        init: Vec<(Cow<'_, str>, Node<'_>)>,
        depth: usize,
    ) -> Result<Value, RpcError> {
        let mut body_node = None;
        let mut rest = Vec::with_capacity(init.len());
        for (key, node) in init {
            match key.as_ref() {
                "body" => body_node = Some(node),
                "signal" => {
                    return Err(type_error(
                        "Request signal is not supported: AbortSignal cannot be serialized.",
                    ))
                }
                _ => rest.push((key, node)),
            }
        }
        let body = match body_node {
            Some(node) => self.body(node, depth, "Request")?,
            None => Body::Empty,
        };
        let mut init = FetchParts::new(rest)?;
        let method = match init.extras.0.remove("method") {
            Some(Value::String(method)) => method,
            Some(_) => return Err(type_error("Request method must be a string.")),
            None => "GET".to_owned(),
        };
        init.extras.0.remove("duplex");
        let mut request = http::Request::builder()
            .method(method.as_str())
            .uri(url.as_str())
            .body(body)
            .map_err(|e| type_error(format!("Invalid Request: {e}")))?;
        *request.headers_mut() = init.headers.0;
        if !init.extras.0.is_empty() {
            request.extensions_mut().insert(init.extras);
        }
        Ok(Value::Request(Box::new(Request(request))))
    }
}

/// A fetch init object (plain JSON): its `headers` (pairs) and the other members.
struct FetchParts {
    headers: Headers,
    extras: FetchInit,
}

impl FetchParts {
    fn new(init: Vec<(Cow<'_, str>, Node<'_>)>) -> Result<Self, RpcError> {
        let mut headers = Headers::default();
        let mut extras = Object::new();
        for (key, node) in init {
            if is_prototype_key(&key) {
                continue;
            }
            if key == "headers" {
                let Node::Array(pairs) = node else {
                    return Err(type_error(
                        "Request headers must be serialized as an array of pairs.",
                    ));
                };
                headers = header_pairs(&pairs)?;
            } else {
                extras.push_distinct(key.into_owned(), plain(node));
            }
        }
        Ok(Self {
            headers,
            extras: FetchInit(extras),
        })
    }
}

/// Plain JSON as data (fetch init members are not expressions).
fn plain(node: Node<'_>) -> Value {
    match node {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(b),
        Node::Number(n) => Value::Number(n),
        Node::String(s) => Value::String(s.into_owned()),
        Node::Array(items) => Value::Array(items.into_iter().map(plain).collect()),
        raw @ Node::Raw(..) => plain(force(raw)),
        Node::Object(entries) => Value::Object(Object::from_unique(
            entries
                .into_iter()
                .filter(|(key, _)| !is_prototype_key(key))
                .map(|(key, item)| (key.into_owned(), plain(item)))
                .collect(),
        )),
    }
}

/// `[[name, value], …]` as the `Headers` constructor takes it.
fn header_pairs(pairs: &[Node<'_>]) -> Result<Headers, RpcError> {
    let pairs: Vec<_> = pairs.iter().map(forced).collect();
    let mut list = Vec::with_capacity(pairs.len());
    for pair in &pairs {
        match &**pair {
            Node::Array(pair) if pair.len() == 2 => match (&pair[0], &pair[1]) {
                (Node::String(name), Node::String(value)) => {
                    list.push((name.as_ref(), value.as_ref()))
                }
                _ => return Err(type_error("Headers must be pairs of strings.")),
            },
            _ => {
                return Err(type_error(
                    "Headers constructor: expected name/value pair to be length 2.",
                ))
            }
        }
    }
    Headers::from_pairs(list)
}

fn bigint(digits: &str, limits: &Limits) -> Result<BigInt, RpcError> {
    let max = limits.max_bigint_digits;
    if digits.len() > max && utf16_len(digits) > max {
        return Err(bigint_length_error(max));
    }
    parse_js_bigint(digits).ok_or_else(|| {
        RpcError::protocol(
            "SyntaxError",
            format!("Cannot convert {digits} to a BigInt"),
        )
    })
}

/// `["error", type, message, stack?, props?]`.
fn error<'a>(items: &mut [Node<'a>]) -> Option<Form<'a>> {
    let (Some(Node::String(name)), Some(Node::String(message))) = (items.get(1), items.get(2))
    else {
        return None;
    };
    // capnweb turns names other than the standard Error classes into plain `Error`; the name
    // is kept here as sent (a JavaScript receiver still applies its own mapping later).
    let mut error = RpcError::new(name.as_ref(), message.as_ref());
    if let Some(Node::String(stack)) = items.get(3) {
        error.stack = Some(stack.as_ref().to_owned());
    }
    let mut props = Vec::new();
    if items.len() >= 5 {
        let Some(Node::Object(all)) = items.get_mut(4) else {
            return None;
        };
        // `name`, `message` and `stack` are skipped without evaluation.
        props = std::mem::take(all);
        props.retain(|(key, _)| !matches!(key.as_ref(), "name" | "message" | "stack"));
    }
    Some(Form::Error { error, props })
}

/// `["import" | "pipeline", id, path?, args?]`.
fn reference<'a>(items: &mut [Node<'a>], promise: bool) -> Result<Option<Form<'a>>, RpcError> {
    if !(2..=4).contains(&items.len()) {
        return Ok(None);
    }
    let Some(id_json @ Node::Number(_)) = items.get(1) else {
        return Ok(None);
    };
    let id = as_id(id_json).ok_or_else(|| no_such_entry(id_json));
    let path = match items.get(2) {
        None => Path::new(),
        Some(path) => match path_keys(path) {
            Some(path) => path,
            None => return Ok(None),
        },
    };
    let args = match items.get_mut(3) {
        None => None,
        Some(Node::Array(args)) => Some(std::mem::take(args)),
        Some(_) => return Ok(None),
    };
    Ok(Some(Form::Reference {
        id: id?,
        path,
        args,
        promise,
    }))
}

/// `["remap", id, path, captures, instructions]`.
fn remap<'a>(items: &mut [Node<'a>]) -> Result<Option<Form<'a>>, RpcError> {
    let [_, id_json @ Node::Number(_), path, Node::Array(captures), Node::Array(instructions)] =
        items
    else {
        return Ok(None);
    };
    let Some(path) = path_keys(path) else {
        return Ok(None);
    };
    let Some(id) = as_id(id_json) else {
        return Err(no_such_entry(id_json));
    };
    let captures = captures
        .iter()
        .map(capture)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Form::Remap {
        id,
        path,
        captures,
        instructions: std::mem::take(instructions),
    }))
}

/// One `["import" | "export", id]` capture of a `remap`.
fn capture(json: &Node<'_>) -> Result<Capture, RpcError> {
    let parsed = match &*forced(json) {
        Node::Array(pair) if pair.len() == 2 => {
            let id = as_id(&pair[1]);
            match (pair[0].as_str(), id) {
                (Some("import"), Some(id)) => Some(Capture::Import(id)),
                (Some("export"), Some(id)) => Some(Capture::Export(id)),
                _ => None,
            }
        }
        _ => None,
    };
    parsed.ok_or_else(|| type_error(format!("unknown map capture: {}", stringify(json))))
}

/// A property path: an array of strings and numbers. Non-negative integers are indexes; other
/// numbers become the property name JavaScript would use (`1.5` → `"1.5"`).
fn path_keys(json: &Node<'_>) -> Option<Path> {
    let Node::Array(parts) = json else {
        return None;
    };
    parts
        .iter()
        .map(|part| match part {
            Node::String(s) => Some(PathKey::Name(name(s))),
            Node::Number(n) => Some(match as_id(part) {
                Some(i) if i >= 0 => PathKey::Index(i.unsigned_abs()),
                _ => PathKey::Name(number_to_string(*n).into()),
            }),
            _ => None,
        })
        .collect()
}

/// `["bytes", base64, type?]`.
fn bytes(b64: &str, marker: Option<&Node<'_>>) -> Result<Bytes, RpcError> {
    // The URL-safe alphabet (which Node's decoder also accepts) is only tried as a fallback.
    let data = BASE64
        .decode(b64)
        .or_else(|e| BASE64_URL.decode(b64).map_err(|_| e))
        .map_err(|e| type_error(format!("Invalid base64 in bytes value: {e}")))?;
    let Some(marker) = marker else {
        return Ok(Bytes::new(data));
    };
    let Node::String(name) = marker else {
        return Err(type_error(format!(
            "Unknown bytes type marker type: {}",
            js_typeof(marker)
        )));
    };
    let Some(kind) = BytesKind::from_name(name) else {
        let shown: String = name.chars().take(64).collect();
        return Err(type_error(format!("Unknown bytes type marker: {shown}")));
    };
    let size = kind.element_size();
    if data.len() % size != 0 {
        return Err(type_error(format!(
            "Invalid byte length {} for {name}; expected a multiple of {size}",
            data.len()
        )));
    }
    Ok(Bytes::with_kind(kind, data))
}

/// JavaScript's `BigInt(string)`: surrounding whitespace ignored, empty is 0, optional sign for
/// decimals, `0x`/`0o`/`0b` prefixes (unsigned). `None` where JavaScript throws.
fn parse_js_bigint(text: &str) -> Option<BigInt> {
    let t = text.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    if t.is_empty() {
        return Some(BigInt::default());
    }
    let prefixed = |p: char| {
        let mut chars = t.chars();
        (chars.next() == Some('0') && chars.next().map(|c| c.to_ascii_lowercase()) == Some(p))
            .then(|| &t[2..])
    };
    let (negative, radix, digits) = if let Some(d) = prefixed('x') {
        (false, 16, d)
    } else if let Some(d) = prefixed('o') {
        (false, 8, d)
    } else if let Some(d) = prefixed('b') {
        (false, 2, d)
    } else if let Some(d) = t.strip_prefix('-') {
        (true, 10, d)
    } else {
        (false, 10, t.strip_prefix('+').unwrap_or(t))
    };
    // Validate first: num-bigint would also accept `_` separators.
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = BigInt::parse_bytes(digits.as_bytes(), radix)?;
    Some(if negative { -magnitude } else { magnitude })
}
