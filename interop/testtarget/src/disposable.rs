//! The contract's **Disposable**, declared as a typed interface, and the server-wide
//! `disposedCount` table.
//!
//! A Disposable answers `ping()` with `"pong"` and has a `tag` property. Its disposer (the
//! interface's `#[dispose]` hook) runs once per lineage (once per hand-out: see
//! `makeDisposableRepeated`) and adds 1 to the process-global count for its tag, which every
//! session of either transport reads through `disposedCount(tag)`.

use std::collections::BTreeMap;
use std::sync::Mutex;

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

/// The contract's Disposable (JavaScript names: `ping`, property `tag`).
#[tether::interface]
pub(crate) trait Disposable {
    /// Answers `"pong"`.
    async fn ping(&self) -> String;
    /// The tag it was made with, as a property.
    #[getter]
    async fn tag(&self) -> String;
    /// The disposer: counts one disposal under the tag. Not reachable remotely.
    #[dispose]
    async fn disposed(&self);
}

/// An object whose disposal is observable through [`disposed_count`].
pub(crate) struct DisposableImpl {
    tag: String,
}

impl DisposableImpl {
    /// A Disposable labelled `tag`.
    pub(crate) fn new(tag: String) -> Self {
        Self { tag }
    }
}

impl Disposable for DisposableImpl {
    async fn ping(&self) -> String {
        "pong".to_owned()
    }

    async fn tag(&self) -> String {
        self.tag.clone()
    }

    async fn disposed(&self) {
        record_disposal(&self.tag);
    }
}
