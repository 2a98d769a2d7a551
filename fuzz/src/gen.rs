//! Structured inputs (from `arbitrary`) turned into Cap'n Web messages that mostly make sense
//! against the session's real tables: ids are picked from what the peer and the server have
//! actually numbered so far, with a few raw ids for the invalid cases.

use arbitrary::Arbitrary;
use serde_json::{json, Value as Json};

/// Deepest expression the generators build (the session's own limit is far above).
const MAX_DEPTH: usize = 6;

/// What the peer knows of the numbering so far.
#[derive(Default, Debug)]
pub struct Ids {
    /// Pushes the peer made: its answers are 1..=pushes.
    pub pushes: i64,
    /// Stubs and promises the peer exported: -1..=-exports.
    pub exports: i64,
    /// Export ids the server sent (`["export", id]` / `["promise", id]` in its frames).
    pub server_exports: Vec<i64>,
    /// Pushes the server made (its calls to the peer's callbacks): 1..=server_pushes.
    pub server_pushes: i64,
    /// Frames of the server already scanned.
    pub scanned: usize,
}

impl Ids {
    /// Learns the ids in frames the server sent since the last call.
    pub fn learn(&mut self, received: &[String]) {
        for frame in &received[self.scanned.min(received.len())..] {
            if frame.starts_with("[\"push\"") || frame.starts_with("[\"stream\"") {
                self.server_pushes += 1;
            }
            if let Ok(json) = serde_json::from_str::<Json>(frame) {
                collect_exports(&json, &mut self.server_exports);
            }
        }
        self.scanned = received.len();
        self.server_exports.sort_unstable();
        self.server_exports.dedup();
    }
}

fn collect_exports(json: &Json, out: &mut Vec<i64>) {
    if let Json::Array(items) = json {
        if let [Json::String(tag), Json::Number(id)] = items.as_slice() {
            if tag == "export" || tag == "promise" {
                if let Some(id) = id.as_i64() {
                    out.push(id);
                }
            }
        }
        items.iter().for_each(|item| collect_exports(item, out));
    } else if let Json::Object(map) = json {
        map.values().for_each(|item| collect_exports(item, out));
    }
}

/// Which entry of the server's export table a message names (as the peer sees it: an import).
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Target {
    Main,
    Answer(u8),
    ServerExport(u8),
    Raw(i8),
}

impl Target {
    pub fn id(self, ids: &Ids) -> i64 {
        match self {
            Target::Main => 0,
            Target::Answer(n) if ids.pushes > 0 => 1 + i64::from(n) % ids.pushes,
            Target::ServerExport(n) if !ids.server_exports.is_empty() => {
                ids.server_exports[usize::from(n) % ids.server_exports.len()]
            }
            Target::Raw(n) => i64::from(n),
            _ => 0,
        }
    }
}

/// Which of the peer's own exports (or the server's pushes to it) a resolve or reject names.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum PeerId {
    Export(u8),
    ServerPush(u8),
    Raw(i8),
}

impl PeerId {
    pub fn id(self, ids: &Ids) -> i64 {
        match self {
            PeerId::Export(n) if ids.exports > 0 => -(1 + i64::from(n) % ids.exports),
            PeerId::ServerPush(n) if ids.server_pushes > 0 => 1 + i64::from(n) % ids.server_pushes,
            PeerId::Raw(n) => i64::from(n),
            _ => -1,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Method {
    Echo,
    EchoAll,
    Square,
    Make,
    MakeMany,
    SameTwice,
    Nested,
    Numbers,
    Promise,
    Keep,
    Drop,
    Call,
    CallKept,
    Ping,
    Throw,
    Child,
    Value,
    Fail,
    Unknown,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Echo => "echo",
            Method::EchoAll => "echoAll",
            Method::Square => "square",
            Method::Make => "make",
            Method::MakeMany => "makeMany",
            Method::SameTwice => "sameTwice",
            Method::Nested => "nested",
            Method::Numbers => "numbers",
            Method::Promise => "promise",
            Method::Keep => "keep",
            Method::Drop => "drop",
            Method::Call => "call",
            Method::CallKept => "callKept",
            Method::Ping => "ping",
            Method::Throw => "throw",
            Method::Child => "child",
            Method::Value => "value",
            Method::Fail => "fail",
            Method::Unknown => "__proto__",
        }
    }
}

/// One element of a property path.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Key {
    Thing,
    List,
    Inner,
    Answer,
    Things,
    Later,
    N,
    Version,
    Nested,
    Length,
    Proto,
    Index(u8),
}

impl Key {
    pub fn json(self) -> Json {
        match self {
            Key::Thing => json!("thing"),
            Key::List => json!("list"),
            Key::Inner => json!("inner"),
            Key::Answer => json!("answer"),
            Key::Things => json!("things"),
            Key::Later => json!("later"),
            Key::N => json!("n"),
            Key::Version => json!("version"),
            Key::Nested => json!("nested"),
            Key::Length => json!("length"),
            Key::Proto => json!("constructor"),
            Key::Index(n) => json!(n % 6),
        }
    }
}

pub fn path(keys: &[Key]) -> Json {
    Json::Array(keys.iter().take(4).map(|k| k.json()).collect())
}

/// A value in an argument, a resolution or a mapper instruction.
#[derive(Arbitrary, Debug, Clone)]
pub enum Arg {
    Int(i16),
    Float(f32),
    Str(Key),
    Bool(bool),
    Null,
    Undefined,
    Special(u8),
    Array(Vec<Arg>),
    Object(Vec<(Key, Arg)>),
    /// A stub the peer exports: a fresh id, or one it exported before.
    Export(Option<u8>),
    /// A promise the peer exports.
    Promise(Option<u8>),
    /// An entry of the server's table passed back (`["import", id]`), or pipelined on.
    Import(Target, Vec<Key>),
    Pipeline(Target, Vec<Key>, Option<Vec<Arg>>),
}

impl Arg {
    pub fn json(&self, ids: &mut Ids, depth: usize) -> Json {
        if depth > MAX_DEPTH {
            return Json::Null;
        }
        let list = |args: &[Arg], ids: &mut Ids| -> Json {
            Json::Array(
                args.iter()
                    .take(6)
                    .map(|a| a.json(ids, depth + 1))
                    .collect(),
            )
        };
        match self {
            Arg::Int(n) => json!(n),
            Arg::Float(f) => {
                serde_json::Number::from_f64(f64::from(*f)).map_or(json!(["nan"]), Json::Number)
            }
            Arg::Str(key) => match key.json() {
                Json::Number(n) => json!(n.to_string()),
                other => other,
            },
            Arg::Bool(b) => json!(b),
            Arg::Null => Json::Null,
            Arg::Undefined => json!(["undefined"]),
            Arg::Special(n) => match n % 10 {
                0 => json!(["inf"]),
                1 => json!(["-inf"]),
                2 => json!(["nan"]),
                3 => json!(["bigint", "-12345678901234567890"]),
                4 => json!(["date", 1.5e12]),
                5 => json!(["bytes", "aGVsbG8="]),
                6 => json!(["error", "TypeError", "boom"]),
                7 => json!(["error", "Error", "with stack", "at x"]),
                8 => json!([["escaped", "array"]]),
                _ => json!(["bytes", "!!not base64"]),
            },
            Arg::Array(items) => Json::Array(vec![list(items, ids)]),
            Arg::Object(fields) => Json::Object(
                fields
                    .iter()
                    .take(6)
                    .map(|(k, v)| {
                        let key = match k.json() {
                            Json::String(s) => s,
                            other => other.to_string(),
                        };
                        (key, v.json(ids, depth + 1))
                    })
                    .collect(),
            ),
            Arg::Export(reuse) | Arg::Promise(reuse) => {
                let id = match reuse {
                    Some(n) if ids.exports > 0 => -(1 + i64::from(*n) % ids.exports),
                    _ => {
                        ids.exports += 1;
                        -ids.exports
                    }
                };
                let tag = if matches!(self, Arg::Export(_)) {
                    "export"
                } else {
                    "promise"
                };
                json!([tag, id])
            }
            Arg::Import(target, keys) => {
                if keys.is_empty() {
                    json!(["import", target.id(ids)])
                } else {
                    json!(["pipeline", target.id(ids), path(keys)])
                }
            }
            Arg::Pipeline(target, keys, args) => {
                let id = target.id(ids);
                match args {
                    Some(args) => json!(["pipeline", id, path(keys), list(args, ids)]),
                    None => json!(["pipeline", id, path(keys)]),
                }
            }
        }
    }
}

/// A mapper instruction tree (`remap`'s captures and instructions).
#[derive(Arbitrary, Debug, Clone)]
pub enum Instr {
    /// A call or property read on a mapper-table entry: 0 is the element, negative ids are
    /// captures, positive ids earlier instructions' results.
    Pipeline(i8, Vec<Key>, Option<Vec<MapArg>>),
    /// A nested map over an entry of the table.
    Remap(Box<Remap>),
    /// A plain value as the instruction's result.
    Value(MapArg),
}

/// An argument inside a mapper: mapper-table references or plain values.
#[derive(Arbitrary, Debug, Clone)]
pub enum MapArg {
    Ref(i8, Vec<Key>),
    Plain(Arg),
    Array(Vec<MapArg>),
    Object(Vec<(Key, MapArg)>),
}

/// What a capture names: an entry of the server's table, or a stub of the peer's.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Capture {
    Import(Target),
    Export(Option<u8>),
    Garbage(i8),
}

#[derive(Arbitrary, Debug, Clone)]
pub struct Remap {
    pub id: i8,
    pub path: Vec<Key>,
    pub captures: Vec<Capture>,
    pub instructions: Vec<Instr>,
}

impl MapArg {
    fn json(&self, ids: &mut Ids, depth: usize) -> Json {
        if depth > MAX_DEPTH {
            return Json::Null;
        }
        match self {
            MapArg::Ref(id, keys) if keys.is_empty() => json!(["pipeline", id]),
            MapArg::Ref(id, keys) => json!(["pipeline", id, path(keys)]),
            MapArg::Plain(arg) => arg.json(ids, depth + 1),
            MapArg::Array(items) => Json::Array(vec![Json::Array(
                items
                    .iter()
                    .take(6)
                    .map(|a| a.json(ids, depth + 1))
                    .collect(),
            )]),
            MapArg::Object(fields) => Json::Object(
                fields
                    .iter()
                    .take(6)
                    .map(|(k, v)| (format!("{:?}", k).to_lowercase(), v.json(ids, depth + 1)))
                    .collect(),
            ),
        }
    }
}

impl Instr {
    fn json(&self, ids: &mut Ids, depth: usize) -> Json {
        if depth > MAX_DEPTH {
            return Json::Null;
        }
        match self {
            Instr::Pipeline(id, keys, args) => match args {
                Some(args) => json!([
                    "pipeline",
                    id,
                    path(keys),
                    Json::Array(
                        args.iter()
                            .take(6)
                            .map(|a| a.json(ids, depth + 1))
                            .collect()
                    )
                ]),
                None => json!(["pipeline", id, path(keys)]),
            },
            Instr::Remap(remap) => remap.json_inner(ids, depth + 1),
            Instr::Value(arg) => arg.json(ids, depth + 1),
        }
    }
}

impl Remap {
    /// The top-level `remap` expression on `target`: its captures name the server's table.
    /// Nested remaps (`json_inner`) name the mapper's table instead.
    pub fn json(&self, target: i64, ids: &mut Ids) -> Json {
        let captures: Vec<Json> = self
            .captures
            .iter()
            .take(4)
            .map(|c| match c {
                Capture::Import(t) => json!(["import", t.id(ids)]),
                Capture::Export(reuse) => Arg::Export(*reuse).json(ids, 0),
                Capture::Garbage(n) => json!([n]),
            })
            .collect();
        let instructions: Vec<Json> = self
            .instructions
            .iter()
            .take(8)
            .map(|i| i.json(ids, 1))
            .collect();
        json!(["remap", target, path(&self.path), captures, instructions])
    }

    fn json_inner(&self, ids: &mut Ids, depth: usize) -> Json {
        if depth > MAX_DEPTH {
            return Json::Null;
        }
        // Inside a mapper, captures are `["import", id]` of the parent mapper's table.
        let captures: Vec<Json> = self
            .captures
            .iter()
            .take(4)
            .map(|c| match c {
                Capture::Import(Target::Raw(n)) | Capture::Garbage(n) => json!(["import", n]),
                Capture::Import(_) => json!(["import", 0]),
                Capture::Export(_) => json!(["import", -1]),
            })
            .collect();
        let instructions: Vec<Json> = self
            .instructions
            .iter()
            .take(8)
            .map(|i| i.json(ids, depth + 1))
            .collect();
        json!(["remap", self.id, path(&self.path), captures, instructions])
    }
}

/// Does this expression (as JSON) hand the server a stub or promise of the peer's?
pub fn mentions_peer_exports(json: &Json) -> bool {
    match json {
        Json::Array(items) => {
            matches!(items.first(), Some(Json::String(tag)) if tag == "export" || tag == "promise")
                || items.iter().any(mentions_peer_exports)
        }
        Json::Object(map) => map.values().any(mentions_peer_exports),
        _ => false,
    }
}
