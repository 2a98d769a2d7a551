//! The object model: the one place where values and references know each other.
//!
//! Values contain stubs and promises, and a settled stub or promise holds a value, so these types
//! form a knot that cannot be layered; it lives here, and nowhere else. Everything outside `core`
//! depends on it in one direction (see the layout map in the crate root).
//!
//! | file | owns |
//! | --- | --- |
//! | `value` | [`Value`], [`Object`], [`Bytes`], path keys |
//! | `error` | [`RpcError`], [`ErrorKind`], conversions from [`DisposeError`](crate::dispose::DisposeError) |
//! | `limits` | [`Limits`]: what one incoming message may cost; the fixed depth limit of what we send |
//! | `target` | the [`Target`] trait, closures as targets, lineages and disposers, the uncaught-error hook's typed setter |
//! | `stub` | [`Stub`] and [`RpcPromise`], the handles application code holds |
//! | `hook` | what a stub points at (local, import, pending promise, value, error, map placeholder) and the operations on it; where an incoming call reaches a [`Target`] (`local_call`) |
//! | `import` | a remote reference: an import slot and its handle |
//! | `promise` | a local pending result that queues calls |
//! | `copies` | charging the copies a peer makes us take of results we hold, against its session's quota |
//! | `link` | the mailbox from handles to their session task ([`link::Command`]) |
//! | `map` | `map()`: the mapper program form, recording it on a placeholder, replaying it |
//! | `stream` | [`ReadableStream`], [`WritableStream`], the local pipe, the writer's flow control (`stream::flow`) |
//! | `fetch` | the Fetch API types carried by value: [`Url`], [`Headers`], [`Request`], [`Response`], [`Body`], [`Blob`] |
//!
//! It must not touch session tables (it only sends commands through `link`), nor the wire text.

pub(crate) mod copies;
pub(crate) mod error;
pub(crate) mod fetch;
pub(crate) mod hook;
pub(crate) mod import;
pub(crate) mod limits;
pub(crate) mod link;
pub(crate) mod mailbox;
pub(crate) mod map;
pub(crate) mod promise;
pub(crate) mod stream;
pub(crate) mod stub;
pub(crate) mod target;
pub(crate) mod value;

pub use error::{ErrorKind, RpcError, RpcResult};
pub use fetch::{Blob, Body, FetchInit, Headers, Request, Response, StatusText, Url};
pub use limits::Limits;
pub use stream::{Chunk, ReadableStream, WritableStream};
pub use stub::{RpcPromise, Stub};
pub use target::{set_uncaught_error_hook, Target};
pub use value::{BigInt, Bytes, BytesKind, Object, Value};
