//! `--trace`: every frame both ways on stderr, with its direction, the time since the program
//! started and the message decoded readably:
//!
//! ```text
//! → 0.004s push #1 pipeline 0 ["makeCounter"] (5)
//! → 0.004s push #2 pipeline 1 ["increment"] (1)
//! → 0.004s pull #2
//! ← 0.006s resolve #2 6
//! ```
//!
//! Owns the [`Tracer`] (time base, push numbering, the decoder from wire JSON to text) and
//! [`Traced`], a transport wrapper that reports every frame to it. The decoder knows the wire
//! format; the rest of the CLI never looks at frames.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use base64::Engine;
use futures_util::{Sink, Stream};
use serde_json::Value as Json;
use tether::transport::{Frame, Outgoing, Transport, TransportError};

use crate::render::{format_iso_date, json_string, number};

/// The longest decoded message printed in full; longer ones are cut.
const MAX_LINE: usize = 400;

#[derive(Default)]
struct Counts {
    sent_pushes: u64,
    received_pushes: u64,
}

/// Writes trace lines to stderr, or nowhere when disabled. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Tracer {
    inner: Option<Arc<(Instant, Mutex<Counts>)>>,
}

/// Which way a frame went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    /// To the server.
    Sent,
    /// From the server.
    Received,
}

impl Tracer {
    /// A tracer timing from `start`, printing only if `enabled`.
    pub(crate) fn new(enabled: bool, start: Instant) -> Self {
        Self {
            inner: enabled.then(|| Arc::new((start, Mutex::new(Counts::default())))),
        }
    }

    /// Traces one message.
    pub(crate) fn frame(&self, dir: Dir, text: &str) {
        let Some(inner) = &self.inner else { return };
        let line = {
            let mut counts = inner.1.lock().unwrap_or_else(|p| p.into_inner());
            let pushes = match dir {
                Dir::Sent => &mut counts.sent_pushes,
                Dir::Received => &mut counts.received_pushes,
            };
            decode(text, pushes)
        };
        let arrow = match dir {
            Dir::Sent => '→',
            Dir::Received => '←',
        };
        emit(&format!(
            "{arrow} {:.3}s {}\n",
            inner.0.elapsed().as_secs_f64(),
            cut(&line)
        ));
    }

    /// Traces an event that is not a message (a batch request going out, a close).
    pub(crate) fn note(&self, text: &str) {
        if let Some(inner) = &self.inner {
            emit(&format!(
                "· {:.3}s {text}\n",
                inner.0.elapsed().as_secs_f64()
            ));
        }
    }
}

/// One write for the whole line, so it does not interleave with the REPL's prompt (written by
/// another thread, through another handle).
fn emit(line: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

fn cut(line: &str) -> String {
    if line.chars().count() <= MAX_LINE {
        return line.to_owned();
    }
    let head: String = line.chars().take(MAX_LINE).collect();
    format!("{head}… ({} chars)", line.chars().count())
}

/// A message as one readable line; `pushes` numbers the pushes of this direction (a push gets
/// the next import id: `#1`, `#2`, …). Text that is not a message is shown as it came.
pub(crate) fn decode(text: &str, pushes: &mut u64) -> String {
    let Ok(message) = serde_json::from_str::<Json>(text) else {
        return format!("(not JSON) {text}");
    };
    let Some(items) = message.as_array() else {
        return format!("(not a message) {text}");
    };
    let kind = items.first().and_then(Json::as_str).unwrap_or("?");
    match (kind, &items[1..]) {
        ("push", [expr]) => {
            *pushes += 1;
            format!("push #{pushes} {}", expression(expr))
        }
        ("pull", [id]) => format!("pull #{id}"),
        ("resolve", [id, expr]) => format!("resolve #{id} {}", expression(expr)),
        ("reject", [id, expr]) => format!("reject #{id} {}", expression(expr)),
        ("release", [id, count]) => format!("release #{id} (refcount {count})"),
        ("abort", [expr]) => format!("abort {}", expression(expr)),
        (kind, rest) => {
            let rest: Vec<String> = rest.iter().map(expression).collect();
            format!("{kind} {}", rest.join(" "))
        }
    }
}

/// A wire expression, readably: references as `pipeline 0 ["a"] (args)`, `export -1`, …,
/// special values as the CLI prints values (`undefined`, `12n`, `Date(…)`, `Bytes(len=3)`).
pub(crate) fn expression(expr: &Json) -> String {
    match expr {
        Json::Null => "null".into(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.as_f64().map_or_else(|| n.to_string(), number),
        Json::String(s) => json_string(s),
        Json::Object(map) => {
            if map.is_empty() {
                return "{}".into();
            }
            let entries: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", json_string(k), expression(v)))
                .collect();
            format!("{{ {} }}", entries.join(", "))
        }
        Json::Array(items) => match items.as_slice() {
            [Json::Array(inner)] => list(inner, "[", "]"),
            [Json::String(tag), rest @ ..] => tagged(tag, rest),
            _ => expr.to_string(),
        },
    }
}

fn list(items: &[Json], open: &str, close: &str) -> String {
    let inner: Vec<String> = items.iter().map(expression).collect();
    format!("{open}{}{close}", inner.join(", "))
}

fn tagged(tag: &str, rest: &[Json]) -> String {
    match (tag, rest) {
        ("pipeline", [id]) => format!("pipeline {id}"),
        ("pipeline", [id, path]) => format!("pipeline {id} {path}"),
        ("pipeline", [id, path, Json::Array(args)]) => {
            format!("pipeline {id} {path} {}", list(args, "(", ")"))
        }
        ("import" | "export" | "promise", [id]) => format!("{tag} {id}"),
        ("remap", [id, path, Json::Array(captures), Json::Array(instructions)]) => format!(
            "remap {id} {path} captures {} do {}",
            list(captures, "[", "]"),
            list(instructions, "[", "]")
        ),
        ("value", [id]) => format!("value {id}"),
        ("error", [name, message, ..]) => format!(
            "Error: {}: {}",
            name.as_str().unwrap_or("?"),
            message.as_str().unwrap_or("?")
        ),
        ("undefined", []) => "undefined".into(),
        ("inf", []) => "Infinity".into(),
        ("-inf", []) => "-Infinity".into(),
        ("nan", []) => "NaN".into(),
        ("bigint", [Json::String(digits)]) => format!("{digits}n"),
        ("date", [ms]) => format!("Date({})", format_iso_date(ms.as_f64().unwrap_or(f64::NAN))),
        ("bytes", [Json::String(b64), kind @ ..]) => {
            let len = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_or_else(|_| "?".to_owned(), |b| b.len().to_string());
            let name = kind.first().and_then(Json::as_str).unwrap_or("Bytes");
            format!("{name}(len={len})")
        }
        (tag, rest) => format!("{tag}{}", list(rest, "(", ")")),
    }
}

/// Why a transport failed, kept for the error message (the session only says it disconnected).
pub(crate) type FailureSlot = Arc<Mutex<Option<String>>>;

/// A transport that reports every frame to a [`Tracer`], and its failure to a [`FailureSlot`].
pub(crate) struct Traced<T> {
    inner: T,
    tracer: Tracer,
    failure: FailureSlot,
}

impl<T> Traced<T> {
    /// Wraps `inner`.
    pub(crate) fn new(inner: T, tracer: Tracer, failure: FailureSlot) -> Self {
        Self {
            inner,
            tracer,
            failure,
        }
    }
}

impl<T: Transport> Stream for Traced<T> {
    type Item = Result<Frame, TransportError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => self.tracer.frame(Dir::Received, frame.as_str()),
            Poll::Ready(Some(Err(e))) => {
                self.tracer.note(&format!("transport error: {e}"));
                let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
                failure.get_or_insert_with(|| e.message().to_owned());
            }
            Poll::Ready(None) => self.tracer.note("connection closed"),
            Poll::Pending => {}
        }
        polled
    }
}

impl<T: Transport> Sink<Outgoing> for Traced<T> {
    type Error = TransportError;
    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_ready(cx)
    }
    fn start_send(mut self: Pin<&mut Self>, item: Outgoing) -> Result<(), Self::Error> {
        match &item {
            Outgoing::Message(text) => self.tracer.frame(Dir::Sent, text),
            Outgoing::Close(reason) => self
                .tracer
                .note(&format!("closing: {}: {}", reason.name, reason.message)),
        }
        Pin::new(&mut self.inner).start_send(item)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_decode_readably() {
        let mut pushes = 0;
        assert_eq!(
            decode(
                r#"["push",["pipeline",0,["makeCounter"],[5]]]"#,
                &mut pushes
            ),
            r#"push #1 pipeline 0 ["makeCounter"] (5)"#
        );
        assert_eq!(
            decode(
                r#"["push",["pipeline",1,["increment"],[[[1,2]],["undefined"],["bigint","12"]]]]"#,
                &mut pushes
            ),
            r#"push #2 pipeline 1 ["increment"] ([1, 2], undefined, 12n)"#
        );
        assert_eq!(decode(r#"["pull",2]"#, &mut pushes), "pull #2");
        assert_eq!(
            decode(r#"["resolve",2,["export",-1]]"#, &mut pushes),
            "resolve #2 export -1"
        );
        assert_eq!(
            decode(r#"["reject",1,["error","TypeError","x"]]"#, &mut pushes),
            "reject #1 Error: TypeError: x"
        );
        assert_eq!(
            decode(r#"["release",-1,1]"#, &mut pushes),
            "release #-1 (refcount 1)"
        );
        assert_eq!(
            decode(
                r#"["resolve",1,{"d":["date",0],"b":["bytes","AQID"]}]"#,
                &mut pushes
            ),
            r#"resolve #1 { "d": Date(1970-01-01T00:00:00.000Z), "b": Bytes(len=3) }"#
        );
        assert_eq!(decode("nope", &mut pushes), "(not JSON) nope");
    }
}
