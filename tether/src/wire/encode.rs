//! Message encoding: an [`OutMessage`] to one line of compact JSON text.
//!
//! Owns the outgoing expression forms (what capnweb 0.12's `Devaluator` produces) and the
//! top-level message layout, and the wire form of a recorded mapper [`Program`]. Text is written
//! straight into a `String`, with numbers printed as JavaScript prints them and key order kept.
//! Stubs and promises are referenced through the [`Exporter`]; this module never touches session
//! tables.

use std::fmt::Write as _;

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;

use super::json::{write_number, write_str};
use super::{EncodeOptions, Exporter, OutMessage, WireRef};
use crate::core::error::RpcError;
use crate::core::fetch::{Body, FetchInit, Headers, Request, Response, StatusText};
use crate::core::limits::{serialize_depth_error, MAX_SERIALIZE_DEPTH};
use crate::core::map::program::{Capture, ErrorExpr, Expr, Program, Ref};
use crate::core::stream::ReadableStream;
use crate::core::value::{Bytes, BytesKind, PathKey, Value};

pub(super) fn encode(
    msg: &OutMessage<'_>,
    exporter: &mut dyn Exporter,
    options: &EncodeOptions,
    out: String,
) -> Result<String, RpcError> {
    let mut enc = Encoder {
        out,
        exporter,
        options,
        // As in capnweb, rejections and aborts never carry stubs: a property holding one is
        // left out of the error.
        allow_refs: !matches!(msg, OutMessage::Reject(..) | OutMessage::Abort(_)),
    };
    match msg {
        OutMessage::Push { id, path, args } => {
            enc.out.push_str("[\"push\",");
            enc.pipeline(*id, path, *args)?;
            enc.out.push(']');
        }
        OutMessage::PushRemap {
            id,
            path,
            captures,
            program,
        } => {
            enc.out.push_str("[\"push\",[\"remap\",");
            enc.int(*id);
            enc.out.push(',');
            enc.path(path);
            enc.out.push_str(",[");
            for (i, capture) in captures.iter().enumerate() {
                if i > 0 {
                    enc.out.push(',');
                }
                enc.wire_ref(capture);
            }
            enc.out.push_str("],");
            enc.program(program)?;
            enc.out.push_str("]]");
        }
        OutMessage::Stream { id, path, args } => {
            enc.out.push_str("[\"stream\",");
            enc.pipeline(*id, path, Some(args))?;
            enc.out.push(']');
        }
        OutMessage::Pipe => enc.out.push_str("[\"pipe\"]"),
        OutMessage::Pull(id) => {
            enc.out.push_str("[\"pull\",");
            enc.int(*id);
            enc.out.push(']');
        }
        OutMessage::Resolve(id, value) => {
            enc.out.push_str("[\"resolve\",");
            enc.int(*id);
            enc.out.push(',');
            enc.value(value, 0)?;
            enc.out.push(']');
        }
        OutMessage::Reject(id, error) => {
            enc.out.push_str("[\"reject\",");
            enc.int(*id);
            enc.out.push(',');
            enc.error(error, 0)?;
            enc.out.push(']');
        }
        OutMessage::Release(id, refcount) => {
            enc.out.push_str("[\"release\",");
            enc.int(*id);
            let _ = write!(enc.out, ",{refcount}]");
        }
        OutMessage::Abort(error) => {
            enc.out.push_str("[\"abort\",");
            enc.error(error, 0)?;
            enc.out.push(']');
        }
    }
    Ok(enc.out)
}

struct Encoder<'a> {
    out: String,
    exporter: &'a mut dyn Exporter,
    options: &'a EncodeOptions,
    allow_refs: bool,
}

impl Encoder<'_> {
    /// `["pipeline", id, path, args?]`
    fn pipeline(
        &mut self,
        id: i64,
        path: &[PathKey],
        args: Option<&[Value]>,
    ) -> Result<(), RpcError> {
        self.out.push_str("[\"pipeline\",");
        self.int(id);
        self.out.push(',');
        self.path(path);
        if let Some(args) = args {
            // The argument list is written as a plain array of expressions: capnweb
            // devaluates it as an array value and then unwraps the `[[…]]` escape.
            self.out.push_str(",[");
            for (i, arg) in args.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.value(arg, 1)?;
            }
            self.out.push(']');
        }
        self.out.push(']');
        Ok(())
    }

    fn int(&mut self, n: i64) {
        let _ = write!(self.out, "{n}");
    }

    fn path(&mut self, path: &[PathKey]) {
        self.out.push('[');
        for (i, key) in path.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            match key {
                PathKey::Name(name) => write_str(&mut self.out, name),
                PathKey::Index(index) => {
                    let _ = write!(self.out, "{index}");
                }
            }
        }
        self.out.push(']');
    }

    fn wire_ref(&mut self, r: &WireRef) {
        let (tag, id) = match r {
            WireRef::Import(id) => ("[\"import\",", id),
            WireRef::Pipeline(id, _) => ("[\"pipeline\",", id),
            WireRef::Export(id) => ("[\"export\",", id),
            WireRef::Promise(id) => ("[\"promise\",", id),
        };
        self.out.push_str(tag);
        self.int(*id);
        if let WireRef::Pipeline(_, path) = r {
            if !path.is_empty() {
                self.out.push(',');
                self.path(path);
            }
        }
        self.out.push(']');
    }

    fn value(&mut self, value: &Value, depth: usize) -> Result<(), RpcError> {
        if depth >= MAX_SERIALIZE_DEPTH {
            return Err(serialize_depth_error());
        }
        match value {
            Value::Undefined => self.out.push_str("[\"undefined\"]"),
            Value::Null => self.out.push_str("null"),
            Value::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => self.number(*n),
            Value::String(s) => write_str(&mut self.out, s),
            Value::Array(items) => self.array(items, depth, Self::value)?,
            Value::Object(object) => self.object(object.iter(), depth, Self::value)?,
            Value::BigInt(b) => {
                let _ = write!(self.out, "[\"bigint\",\"{b}\"]");
            }
            Value::Date(ms) => {
                self.out.push_str("[\"date\",");
                // An invalid date (NaN) is sent as null; JavaScript dates are never infinite.
                write_number(&mut self.out, *ms);
                self.out.push(']');
            }
            Value::Bytes(bytes) => {
                self.out.push_str("[\"bytes\",\"");
                // Room for the base64 text at once: a large payload is written without the
                // reallocations (copies) that doubling the message would make.
                self.out.reserve(bytes.data.len().div_ceil(3) * 4 + 16);
                STANDARD_NO_PAD.encode_string(&bytes.data, &mut self.out);
                self.out.push('"');
                if bytes.kind != BytesKind::Uint8Array {
                    self.out.push(',');
                    write_str(&mut self.out, bytes.kind.name());
                }
                self.out.push(']');
            }
            Value::Error(error) => self.error(error, depth)?,
            Value::Stub(_) | Value::Promise(_) if !self.allow_refs => {
                return Err(RpcError::error(
                    "Can't serialize RPC stubs in this context.",
                ));
            }
            Value::Stub(stub) => {
                let r = self.exporter.export_stub(stub)?;
                self.wire_ref(&r);
            }
            Value::Promise(promise) => {
                let r = self.exporter.export_promise(promise)?;
                self.wire_ref(&r);
            }
            Value::Readable(_) | Value::Writable(_) | Value::Blob(_) if !self.allow_refs => {
                return Err(RpcError::error("Can't serialize streams in this context."));
            }
            Value::Readable(stream) => self.readable(stream)?,
            Value::Writable(stream) => match self.exporter.export_stub(stream.stub())? {
                WireRef::Export(id) => {
                    self.out.push_str("[\"writable\",");
                    self.int(id);
                    self.out.push(']');
                }
                other => self.wire_ref(&other),
            },
            Value::Url(url) => {
                self.out.push_str("[\"url\",");
                write_str(&mut self.out, url.href());
                self.out.push(']');
            }
            Value::Headers(headers) => {
                self.out.push_str("[\"headers\",");
                self.header_pairs(headers);
                self.out.push(']');
            }
            Value::Request(request) => self.request(request, depth)?,
            Value::Response(response) => self.response(response, depth)?,
            Value::Blob(blob) => {
                self.out.push_str("[\"blob\",");
                write_str(&mut self.out, &blob.mime);
                self.out.push(',');
                let chunks = vec![Ok(Value::Bytes(Bytes::new(blob.data.to_vec())))];
                let stream =
                    ReadableStream::from_source(Box::pin(futures_util::stream::iter(chunks)));
                self.readable(&stream)?;
                self.out.push(']');
            }
        }
        Ok(())
    }

    /// `["readable", id]`, the pipe made (and its pump started) by the exporter.
    fn readable(&mut self, stream: &ReadableStream) -> Result<(), RpcError> {
        let id = self.exporter.pipe(stream)?;
        self.out.push_str("[\"readable\",");
        self.int(id);
        self.out.push(']');
        Ok(())
    }

    /// A raw array of `[name, value]` pairs (not an escaped array: capnweb passes it to the
    /// `Headers` constructor as it is).
    fn header_pairs(&mut self, headers: &Headers) {
        self.out.push('[');
        for (i, (name, value)) in headers.pairs().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.out.push('[');
            write_str(&mut self.out, name);
            self.out.push(',');
            write_str(&mut self.out, &value);
            self.out.push(']');
        }
        self.out.push(']');
    }

    /// A body expression: `null`, a string, bytes, or a readable stream.
    fn body(&mut self, body: &Body, depth: usize) -> Result<(), RpcError> {
        match body {
            Body::Empty => self.out.push_str("null"),
            Body::Text(text) => write_str(&mut self.out, text),
            Body::Bytes(bytes) => {
                self.value(&Value::Bytes(Bytes::new(bytes.to_vec())), depth + 1)?
            }
            Body::Stream(stream) => self.readable(&stream.clone().cast())?,
        }
        Ok(())
    }

    /// The members of a fetch init that tether has no field for, as plain JSON (capnweb does
    /// not evaluate them), after `{`; `wrote` tells whether a member came before.
    fn init_extras(&mut self, extras: Option<&FetchInit>, mut wrote: bool) -> Result<(), RpcError> {
        for (key, value) in extras.into_iter().flat_map(|e| e.0.iter()) {
            if wrote {
                self.out.push(',');
            }
            wrote = true;
            write_str(&mut self.out, key);
            self.out.push(':');
            plain_json(&mut self.out, value)?;
        }
        Ok(())
    }

    /// `["request", url, init]`: `method` unless GET, `headers` if any, `body` (with
    /// `duplex: "half"`) if any, then the other init members.
    fn request(&mut self, request: &Request, depth: usize) -> Result<(), RpcError> {
        self.out.push_str("[\"request\",");
        write_str(&mut self.out, &request.uri().to_string());
        self.out.push_str(",{");
        let mut wrote = false;
        if request.method() != http::Method::GET {
            self.out.push_str("\"method\":");
            write_str(&mut self.out, request.method().as_str());
            wrote = true;
        }
        if !request.headers().is_empty() {
            if wrote {
                self.out.push(',');
            }
            self.out.push_str("\"headers\":");
            self.header_pairs(&Headers(request.headers().clone()));
            wrote = true;
        }
        if !request.body().is_empty() {
            if wrote {
                self.out.push(',');
            }
            self.out.push_str("\"body\":");
            self.body(request.body(), depth)?;
            self.out.push_str(",\"duplex\":\"half\"");
            wrote = true;
        }
        self.init_extras(request.extensions().get::<FetchInit>(), wrote)?;
        self.out.push_str("}]");
        Ok(())
    }

    /// `["response", body, init]`: `status` unless 200, `statusText` if any, `headers` if any,
    /// then the other init members.
    fn response(&mut self, response: &Response, depth: usize) -> Result<(), RpcError> {
        self.out.push_str("[\"response\",");
        self.body(response.body(), depth)?;
        self.out.push_str(",{");
        let mut wrote = false;
        if response.status() != http::StatusCode::OK {
            let _ = write!(self.out, "\"status\":{}", response.status().as_u16());
            wrote = true;
        }
        if let Some(StatusText(text)) = response.extensions().get::<StatusText>() {
            if wrote {
                self.out.push(',');
            }
            self.out.push_str("\"statusText\":");
            write_str(&mut self.out, text);
            wrote = true;
        }
        if !response.headers().is_empty() {
            if wrote {
                self.out.push(',');
            }
            self.out.push_str("\"headers\":");
            self.header_pairs(&Headers(response.headers().clone()));
            wrote = true;
        }
        self.init_extras(response.extensions().get::<FetchInit>(), wrote)?;
        self.out.push_str("}]");
        Ok(())
    }

    fn number(&mut self, n: f64) {
        if n.is_nan() {
            self.out.push_str("[\"nan\"]");
        } else if n == f64::INFINITY {
            self.out.push_str("[\"inf\"]");
        } else if n == f64::NEG_INFINITY {
            self.out.push_str("[\"-inf\"]");
        } else {
            write_number(&mut self.out, n);
        }
    }

    /// `["error", name, message]`, plus the stack when exposed, plus `props` (with the stack or
    /// `null` before it) when any property could be encoded. As in capnweb, a property whose
    /// value cannot be encoded is silently left out.
    fn error(&mut self, error: &RpcError, depth: usize) -> Result<(), RpcError> {
        let props = error
            .props
            .iter()
            .map(|(key, item)| (key, Prop::Value(item)));
        self.error_parts(
            &error.name,
            &error.message,
            error.stack.as_deref(),
            props,
            depth,
        )
    }

    fn error_parts<'p>(
        &mut self,
        name: &str,
        message: &str,
        stack: Option<&str>,
        props: impl Iterator<Item = (&'p str, Prop<'p>)>,
        depth: usize,
    ) -> Result<(), RpcError> {
        self.out.push_str("[\"error\",");
        write_str(&mut self.out, name);
        self.out.push(',');
        write_str(&mut self.out, message);
        let stack = stack.filter(|_| self.options.expose_stacks);

        let outer = std::mem::take(&mut self.out);
        let mut wrote_any = false;
        for (key, item) in props {
            let mark = self.out.len();
            if wrote_any {
                self.out.push(',');
            }
            write_str(&mut self.out, key);
            self.out.push(':');
            let written = match item {
                Prop::Value(value) => self.value(value, depth + 1),
                Prop::Expr(expr) => self.expr(expr, depth + 1),
            };
            if written.is_ok() {
                wrote_any = true;
            } else {
                self.out.truncate(mark);
            }
        }
        let props = std::mem::replace(&mut self.out, outer);

        if wrote_any {
            self.out.push(',');
            match stack {
                Some(stack) => write_str(&mut self.out, stack),
                None => self.out.push_str("null"),
            }
            self.out.push_str(",{");
            self.out.push_str(&props);
            self.out.push('}');
        } else if let Some(stack) = stack {
            self.out.push(',');
            write_str(&mut self.out, stack);
        }
        self.out.push(']');
        Ok(())
    }

    /// A mapper's instructions, `[i1, i2, …]`. A call or read that is an instruction of its own
    /// always carries its path (`["pipeline", id, path, args?]`), as capnweb records it; the
    /// last instruction is the result, an expression like any other.
    fn program(&mut self, program: &Program) -> Result<(), RpcError> {
        self.out.push('[');
        let last = program.instructions.len().saturating_sub(1);
        for (i, instruction) in program.instructions.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            match instruction {
                Expr::Ref(r) if i < last => self.reference(r, true, 0)?,
                other => self.expr(other, 0)?,
            }
        }
        self.out.push(']');
        Ok(())
    }

    /// An array (escaped as `[[...]]`), each item written by `item` one level deeper.
    fn array<T>(
        &mut self,
        items: &[T],
        depth: usize,
        mut item: impl FnMut(&mut Self, &T, usize) -> Result<(), RpcError>,
    ) -> Result<(), RpcError> {
        self.out.push_str("[[");
        for (i, each) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            item(self, each, depth + 1)?;
        }
        self.out.push_str("]]");
        Ok(())
    }

    /// An object, each value written by `item` one level deeper.
    fn object<'v, T: 'v>(
        &mut self,
        entries: impl Iterator<Item = (&'v str, &'v T)>,
        depth: usize,
        mut item: impl FnMut(&mut Self, &T, usize) -> Result<(), RpcError>,
    ) -> Result<(), RpcError> {
        self.out.push('{');
        for (i, (key, each)) in entries.enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            write_str(&mut self.out, key);
            self.out.push(':');
            item(self, each, depth + 1)?;
        }
        self.out.push('}');
        Ok(())
    }

    /// One mapper expression at `depth`; table references are written as they are.
    fn expr(&mut self, expr: &Expr, depth: usize) -> Result<(), RpcError> {
        if depth >= MAX_SERIALIZE_DEPTH {
            return Err(serialize_depth_error());
        }
        match expr {
            Expr::Value(value) => self.value(value, depth)?,
            Expr::Array(items) => self.array(items, depth, Self::expr)?,
            Expr::Object(entries) => {
                let entries = entries.iter().map(|(key, item)| (key.as_str(), item));
                self.object(entries, depth, Self::expr)?;
            }
            Expr::Error(error) => self.error_expr(error, depth)?,
            Expr::Ref(r) => self.reference(r, false, depth)?,
            Expr::Remap(remap) => {
                self.out.push_str("[\"remap\",");
                self.int(remap.id);
                self.out.push(',');
                self.path(&remap.path);
                self.out.push_str(",[");
                for (i, capture) in remap.captures.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    let (tag, id) = match capture {
                        Capture::Import(id) => ("[\"import\",", id),
                        Capture::Export(id) => ("[\"export\",", id),
                    };
                    self.out.push_str(tag);
                    self.int(*id);
                    self.out.push(']');
                }
                self.out.push_str("],");
                self.program(&remap.program)?;
                self.out.push(']');
            }
            Expr::Fail(error) => return Err(error.clone()),
        }
        Ok(())
    }

    fn error_expr(&mut self, error: &ErrorExpr, depth: usize) -> Result<(), RpcError> {
        let props = error
            .props
            .iter()
            .map(|(key, item)| (key.as_str(), Prop::Expr(item)));
        self.error_parts(
            &error.name,
            &error.message,
            error.stack.as_deref(),
            props,
            depth,
        )
    }

    /// `["pipeline" | "import", id, path?, args?]`; the path is left out when it is empty and
    /// nothing follows it, unless `full`.
    fn reference(&mut self, r: &Ref, full: bool, depth: usize) -> Result<(), RpcError> {
        self.out.push_str(if r.promise {
            "[\"pipeline\","
        } else {
            "[\"import\","
        });
        self.int(r.id);
        if full || !r.path.is_empty() || r.args.is_some() {
            self.out.push(',');
            self.path(&r.path);
        }
        if let Some(args) = &r.args {
            // A plain array of expressions, as in `pipeline` (see there).
            self.out.push_str(",[");
            for (i, arg) in args.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.expr(arg, depth + 1)?;
            }
            self.out.push(']');
        }
        self.out.push(']');
        Ok(())
    }
}

/// An error property to encode: a value, or a mapper expression.
enum Prop<'a> {
    Value(&'a Value),
    Expr(&'a Expr),
}

/// Plain JSON for a fetch init member: data only (no special values but what JSON has).
fn plain_json(out: &mut String, value: &Value) -> Result<(), RpcError> {
    match value {
        Value::Null | Value::Undefined => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) if n.is_finite() => write_number(out, *n),
        Value::Number(_) => out.push_str("null"),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                plain_json(out, item)?;
            }
            out.push(']');
        }
        Value::Object(object) => {
            out.push('{');
            for (i, (key, item)) in object.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, key);
                out.push(':');
                plain_json(out, item)?;
            }
            out.push('}');
        }
        other => {
            return Err(RpcError::type_error(format!(
                "A fetch init member must be plain data, not {}.",
                other.type_name()
            )))
        }
    }
    Ok(())
}
