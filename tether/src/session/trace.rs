//! What a session tells `tracing`: a span per session, a span per call in each direction
//! (member path, ids, outcome, duration), an event for every end of a session with its reason
//! and for every refused call. Argument and result values are never recorded.
//!
//! Targets: `tether::session` (session spans and ends), `tether::call` (call spans, at `DEBUG`).
//! With no subscriber interested, the cost is one cached check per call: calls are only tracked
//! (a span and a start time kept beside the tables) while a subscriber wants them.
//!
//! Owned by the session task, like the tables; it never touches them.

use std::time::Instant;

use tracing::{Level, Span};

use super::ids::IdMap;
use crate::core::error::RpcError;
use crate::core::value::PathKey;

/// A call being traced.
struct Traced {
    span: Span,
    start: Instant,
}

/// The calls of one session being traced, by export id (incoming) and import id (outgoing).
#[derive(Default)]
pub(super) struct CallTraces {
    incoming: IdMap<Traced>,
    outgoing: IdMap<Traced>,
}

/// Whether a subscriber wants call spans.
pub(super) fn calls_enabled() -> bool {
    tracing::enabled!(target: "tether::call", Level::DEBUG)
}

/// The member path as JavaScript writes it (`a.b.c`; `""` for the target itself).
pub(super) fn member(path: &[PathKey]) -> String {
    path.iter()
        .map(PathKey::as_display)
        .collect::<Vec<_>>()
        .join(".")
}

/// The span of a whole session; the server records `transport` and `peer` in it.
pub(crate) fn session_span() -> Span {
    tracing::info_span!(
        target: "tether::session",
        "rpc_session",
        transport = tracing::field::Empty,
        peer = tracing::field::Empty,
    )
}

fn outcome_of(result: Result<(), &RpcError>) -> (&'static str, &str) {
    match result {
        Ok(()) => ("resolved", ""),
        Err(error) => ("rejected", error.name.as_str()),
    }
}

impl CallTraces {
    /// The peer called `path` on export `target`; its answer is export `id`.
    pub(super) fn incoming(&mut self, id: i64, target: i64, path: &str) {
        let span = tracing::debug_span!(
            target: "tether::call",
            "rpc_call",
            direction = "in",
            id,
            target,
            member = path,
        );
        self.incoming.insert(
            id,
            Traced {
                span,
                start: Instant::now(),
            },
        );
    }

    /// We called `path` on import `target`; its result is import `id`.
    pub(super) fn outgoing(&mut self, id: i64, target: i64, path: &str) {
        let span = tracing::debug_span!(
            target: "tether::call",
            "rpc_call",
            direction = "out",
            id,
            target,
            member = path,
        );
        self.outgoing.insert(
            id,
            Traced {
                span,
                start: Instant::now(),
            },
        );
    }

    /// Answer `id` was sent (or, with `None`, dropped unsent: released or cancelled).
    pub(super) fn answered(&mut self, id: i64, result: Option<Result<(), &RpcError>>) {
        if let Some(traced) = self.incoming.remove(&id) {
            finish(traced, result);
        }
    }

    /// Import `id` settled (or, with `None`, was released before it did).
    pub(super) fn settled(&mut self, id: i64, result: Option<Result<(), &RpcError>>) {
        if let Some(traced) = self.outgoing.remove(&id) {
            finish(traced, result);
        }
    }

    /// The session ended: every call still traced ends with it.
    pub(super) fn end_all(&mut self) {
        for (_, traced) in self.incoming.drain().chain(self.outgoing.drain()) {
            finish(traced, None);
        }
    }
}

fn finish(traced: Traced, result: Option<Result<(), &RpcError>>) {
    let elapsed_us = traced.start.elapsed().as_micros() as u64;
    let _entered = traced.span.enter();
    match result {
        Some(result) => {
            let (outcome, error) = outcome_of(result);
            tracing::debug!(target: "tether::call", outcome, error, elapsed_us, "call finished");
        }
        None => {
            tracing::debug!(target: "tether::call", outcome = "dropped", elapsed_us, "call finished")
        }
    }
}

/// The session ended: at `INFO` for a clean end, `WARN` for an abort (ours or the peer's).
pub(super) fn session_ended(reason: &RpcError, clean: bool, we_aborted: bool) {
    if clean {
        tracing::info!(target: "tether::session", reason = %reason.message, "session ended");
    } else {
        tracing::warn!(
            target: "tether::session",
            error = %reason.name,
            reason = %reason.message,
            by = if we_aborted { "us" } else { "peer or transport" },
            "session aborted"
        );
    }
}

/// A call the quota of calls in flight refused.
pub(super) fn call_refused(target: i64, quota: usize) {
    tracing::warn!(target: "tether::session", target_id = target, quota, "call refused: too many calls in flight");
}
