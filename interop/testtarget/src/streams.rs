//! The contract's streams and Fetch API members (TESTTARGET.md, "Streams and Fetch API types"):
//! the FNV-1a hash and "the pattern" of bytes, the tally `consume` and the sinks report, and
//! the server-wide registry of sinks made by `makeSink`.
//!
//! Everything streams lazily: `streamBytes` and `proxyResponse` make each chunk when the reader
//! (through the window) asks for it, so a 100 MiB stream never sits in memory.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use futures_util::StreamExt;
use tether::{Object, ReadableStream, RpcError, RpcResult, Value};

/// The FNV-1a 32-bit offset basis.
pub(crate) const FNV_OFFSET: u32 = 0x811c_9dc5;

/// One FNV-1a step per byte of `bytes`, from `hash`.
pub(crate) fn fnv(hash: u32, bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .fold(hash, |h, &b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// A hash as the contract writes it: 8 lowercase hex digits.
pub(crate) fn hex(hash: u32) -> String {
    format!("{hash:08x}")
}

/// `length` bytes of the pattern starting at `offset` (the `k`-th byte is `k % 251`).
fn pattern(offset: usize, length: usize) -> bytes::Bytes {
    (offset..offset + length).map(|k| (k % 251) as u8).collect()
}

/// The pattern of `total` bytes as a stream of chunks of at most `chunk` bytes.
pub(crate) fn pattern_stream(total: usize, chunk: usize) -> ReadableStream<bytes::Bytes> {
    let chunk = chunk.max(1);
    ReadableStream::new(futures_util::stream::unfold(0, move |offset| async move {
        (offset < total).then(|| {
            let length = chunk.min(total - offset);
            (Ok(pattern(offset, length)), offset + length)
        })
    }))
}

/// What `consume` and a sink count of the chunks they receive.
#[derive(Debug)]
pub(crate) struct Tally {
    count: u64,
    bytes: u64,
    hash: u32,
    values: Vec<Value>,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            count: 0,
            bytes: 0,
            hash: FNV_OFFSET,
            values: Vec::new(),
        }
    }
}

impl Tally {
    fn add(&mut self, chunk: Value) {
        self.count += 1;
        match chunk {
            Value::Bytes(bytes) => {
                self.bytes += bytes.data.len() as u64;
                self.hash = fnv(self.hash, &bytes.data);
            }
            other => self.values.push(other),
        }
    }

    /// `{ count, bytes, fnv, values }`.
    fn to_object(&self) -> Object {
        let mut object = Object::new();
        object.insert("count", self.count);
        object.insert("bytes", self.bytes);
        object.insert("fnv", hex(self.hash));
        object.insert("values", Value::Array(self.values.clone()));
        object
    }
}

/// Reads `stream` to its end: `{ count, bytes, fnv, values }`, or the error that broke it.
pub(crate) async fn consume(mut stream: ReadableStream) -> RpcResult<Value> {
    let mut tally = Tally::default();
    while let Some(chunk) = stream.next().await {
        tally.add(chunk?);
    }
    Ok(Value::Object(tally.to_object()))
}

/// What a sink made by `makeSink(tag)` has received.
#[derive(Debug, Default)]
struct SinkState {
    tally: Tally,
    closed: bool,
    aborted: Option<String>,
}

fn sinks() -> &'static Mutex<HashMap<String, SinkState>> {
    static SINKS: OnceLock<Mutex<HashMap<String, SinkState>>> = OnceLock::new();
    SINKS.get_or_init(Mutex::default)
}

fn with_sink<T>(tag: &str, f: impl FnOnce(&mut SinkState) -> T) -> T {
    let mut all = sinks().lock().unwrap_or_else(|poison| poison.into_inner());
    f(all.entry(tag.to_owned()).or_default())
}

/// A writable stream whose writes are recorded under `tag`, server-wide.
pub(crate) fn make_sink(tag: String) -> tether::WritableStream {
    let (writer, mut reader) = tether::WritableStream::pipe();
    with_sink(&tag, |state| *state = SinkState::default());
    tokio::spawn(async move {
        while let Some(chunk) = reader.next().await {
            match chunk {
                Ok(chunk) => with_sink(&tag, |state| state.tally.add(chunk)),
                Err(reason) => {
                    return with_sink(&tag, |state| state.aborted = Some(reason.message));
                }
            }
        }
        with_sink(&tag, |state| state.closed = true);
    });
    writer
}

/// `{ count, bytes, fnv, values, closed, aborted }` of the sink made with `tag`, or `null`.
pub(crate) fn sink_state(tag: &str) -> Value {
    let all = sinks().lock().unwrap_or_else(|poison| poison.into_inner());
    let Some(state) = all.get(tag) else {
        return Value::Null;
    };
    let mut object = state.tally.to_object();
    object.insert("closed", state.closed);
    object.insert("aborted", state.aborted.clone());
    Value::Object(object)
}

/// `{ href, host, pathname, search }` of a URL, as JavaScript's `URL` reports them.
pub(crate) fn describe_url(url: &tether::Url) -> RpcResult<Value> {
    let uri = url.to_uri()?;
    let host = match (uri.host(), uri.port_u16()) {
        (Some(host), Some(port)) if Some(port) != default_port(uri.scheme_str()) => {
            format!("{host}:{port}")
        }
        (Some(host), _) => host.to_owned(),
        (None, _) => String::new(),
    };
    let search = match uri.query() {
        Some(query) if !query.is_empty() => format!("?{query}"),
        _ => String::new(),
    };
    Ok(Value::object([
        ("href", Value::from(url.href())),
        ("host", host.into()),
        ("pathname", uri.path().into()),
        ("search", search.into()),
    ]))
}

fn default_port(scheme: Option<&str>) -> Option<u16> {
    match scheme {
        Some("http" | "ws") => Some(80),
        Some("https" | "wss") => Some(443),
        _ => None,
    }
}

/// `{ method, url, headers, body }` of a request, its body read as text.
pub(crate) async fn describe_request(request: tether::Request) -> RpcResult<Value> {
    let (parts, body) = request.into_http().into_parts();
    let headers = tether::Headers(parts.headers)
        .pairs()
        .map(|(name, value)| Value::array([Value::from(name), Value::from(value)]))
        .collect::<Vec<_>>();
    Ok(Value::object([
        ("method", Value::from(parts.method.as_str())),
        ("url", Value::from(parts.uri.to_string())),
        ("headers", Value::Array(headers)),
        ("body", Value::from(body.text().await?)),
    ]))
}

/// A response with `status`, a text body and the headers of `headers` (an object of names to
/// values).
pub(crate) fn make_response(
    status: f64,
    body: String,
    headers: Value,
) -> RpcResult<tether::Response> {
    let status = u16::try_from(status as i64)
        .map_err(|_| RpcError::range_error(format!("Invalid status code: {status}")))?;
    let mut response = tether::Response::new(status, body)?;
    if let Value::Object(headers) = headers {
        let pairs: Vec<(String, String)> = headers
            .iter()
            .map(|(name, value)| {
                (
                    name.to_lowercase(),
                    value.as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let parsed =
            tether::Headers::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))?;
        *response.headers_mut() = parsed.0;
    }
    Ok(response)
}

/// `{ type, size, fnv }` of a blob.
pub(crate) fn describe_blob(blob: &tether::Blob) -> Value {
    Value::object([
        ("type", Value::from(blob.mime.as_str())),
        ("size", Value::from(blob.data.len())),
        ("fnv", Value::from(hex(fnv(FNV_OFFSET, &blob.data)))),
    ])
}
