//! The contract's **Disposable** and the server-wide `disposedCount` table.
//!
//! A Disposable answers `ping()` with `"pong"` and has a `tag` property. Its disposer runs once per
//! lineage (once per hand-out: see `makeDisposableRepeated`) and adds 1 to the process-global
//! count for its tag, which every session of either transport reads through `disposedCount(tag)`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tether::{BoxFuture, RpcError, RpcResult, Target, Value};

/// Disposer runs per tag, since the server started (all sessions, both transports).
static DISPOSED: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

/// How many times a Disposable disposer with `tag` has run.
pub(crate) fn disposed_count(tag: &str) -> u64 {
    DISPOSED
        .lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .get(tag)
        .copied()
        .unwrap_or(0)
}

fn record_disposal(tag: &str) {
    let mut counts = DISPOSED.lock().unwrap_or_else(|poison| poison.into_inner());
    *counts.entry(tag.to_owned()).or_default() += 1;
}

/// An object whose disposal is observable through [`disposed_count`].
pub(crate) struct Disposable {
    tag: String,
}

impl Disposable {
    /// A Disposable labelled `tag`.
    pub(crate) fn new(tag: String) -> Self {
        Self { tag }
    }
}

impl Target for Disposable {
    fn call<'a>(&'a self, method: &'a str, _args: Vec<Value>) -> BoxFuture<'a, RpcResult> {
        Box::pin(async move {
            match method {
                "ping" => Ok("pong".into()),
                _ => Err(RpcError::not_a_function(method)),
            }
        })
    }

    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, RpcResult> {
        Box::pin(async move {
            Ok(match name {
                "tag" => self.tag.clone().into(),
                _ => Value::Undefined,
            })
        })
    }

    fn dispose(self: Arc<Self>) -> Option<BoxFuture<'static, RpcResult<()>>> {
        Some(Box::pin(async move {
            record_disposal(&self.tag);
            Ok(())
        }))
    }
}
