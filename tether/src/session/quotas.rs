//! Per-session quotas and statistics.
//!
//! [`Limits`](crate::Limits) bound what one *message* may cost; [`Quotas`] bound what a peer
//! may make the session *hold* over time, so a well-formed but hostile peer cannot grow the
//! server's memory without bound. A breach ends that session only, with an `abort` naming the
//! quota (a `RangeError`), and is counted in its [`SessionStats`]; other sessions go on. The one
//! exception is calls in flight, where only the calls over the quota fail.
//!
//! Calls over the quota are refused rather than left unread: a session that stopped reading
//! would also stop receiving the answers its running calls may be waiting for (a callback into
//! the peer), and could never recover.
//!
//! | quota | default | guards |
//! | --- | --- | --- |
//! | [`Quotas::max_exports`] | 100,000 | objects and answers held for the peer (each costs a table entry and whatever it points at) |
//! | [`Quotas::max_imports`] | 100,000 | references the peer handed us |
//! | [`Quotas::max_unpulled_pushes`] | 50,000 | answers to pushes the peer never pulls nor releases |
//! | [`Quotas::max_open_pipes`] | 1,000 | streams the peer is sending us (each `["pipe"]` until its writable end is released) |
//! | [`Quotas::max_stream_buffer`] | 64 MiB | bytes one such stream holds for a reader that has not taken them: a writer that ignores the acknowledgements has its writes *refused* (a `RangeError`), which errors its stream |
//! | [`Quotas::max_calls_in_flight`] | 10,000 | incoming calls still running (a slow handler cannot make the calls waiting on it grow without bound): further calls are *refused*, each rejecting with a `RangeError`, and the session goes on |
//! | [`Quotas::max_map_runs`] | 10,000,000 | the work of the peer's `map()`s over the session's life (one run per element mapped): the run over it fails and the session ends |
//! | [`Quotas::max_copied_values`] | 2,097,152 | copies of results we hold that the peer's pushes make us take (a pipelined result passed to a call, or a property of one read: a `Value` is owned), live until their answer is released: a copy over it is *refused* (that call or read fails with a `RangeError`), and the session goes on |
//!
//! What is *not* a quota because it is bounded by construction: bytes waiting to be written (the
//! session writes once per turn and reads nothing more until that write is done; a peer stuck
//! past [`SessionOptions::write_timeout`](super::SessionOptions) is dropped), and the work of one
//! message's `map()`s (see [`Limits::max_map_instructions`](crate::Limits)).
//!
//! This file owns the numbers and the counters; the driver checks them after every frame.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::core::map::replay::MapRuns;

/// What a peer may make one session hold, checked after every frame: what each quota guards
/// is listed in the [security guide](crate::guide_security).
#[derive(Clone, Debug)]
pub struct Quotas {
    /// Live entries of the export table: stubs and promises we sent, and answers to the peer's
    /// pushes not yet released.
    pub max_exports: usize,
    /// Live entries of the import table.
    pub max_imports: usize,
    /// Answers to pushes that were neither pulled nor released.
    pub max_unpulled_pushes: usize,
    /// Incoming calls running at once; further calls reject at once with a `RangeError`.
    pub max_calls_in_flight: usize,
    /// Streams the peer opened (`["pipe"]`) and has not released.
    pub max_open_pipes: usize,
    /// Bytes one incoming stream may hold for its reader; writes beyond it are refused.
    pub max_stream_buffer: usize,
    /// Runs of the callbacks of every `map()` the peer sent, over the session's life (one run
    /// per element mapped, nested maps included). [`Limits::max_map_instructions`](crate::Limits)
    /// bounds one message; this bounds the work of many.
    pub max_map_runs: usize,
    /// Values in the live copies the peer's pushes made of results this session holds (each
    /// array element and object entry counts): passing a result it already has to a call, or
    /// reading a property of one, copies it. Charged to the push's answer until it is released;
    /// a copy beyond this is refused (that call or read fails with a `RangeError`).
    pub max_copied_values: usize,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            max_exports: 100_000,
            max_imports: 100_000,
            max_unpulled_pushes: 50_000,
            max_calls_in_flight: 10_000,
            max_open_pipes: 1_000,
            max_stream_buffer: 64 << 20,
            max_map_runs: 10_000_000,
            max_copied_values: 2 << 20,
        }
    }
}

/// A snapshot of one session's counters, from [`SessionHandle::stats`](super::SessionHandle::stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionStats {
    /// Live imports (references the peer handed us).
    pub imports: u64,
    /// Live exports (what we handed the peer, answers included).
    pub exports: u64,
    /// Answers to the peer's pushes not pulled yet.
    pub unpulled_pushes: u64,
    /// Incoming calls still running.
    pub calls_in_flight: u64,
    /// Messages received.
    pub messages_in: u64,
    /// Messages sent.
    pub messages_out: u64,
    /// Bytes of message text received.
    pub bytes_in: u64,
    /// Bytes of message text sent.
    pub bytes_out: u64,
    /// Runs of the callbacks of the peer's `map()`s so far (one per element mapped).
    pub map_runs: u64,
    /// Quota breaches (at most one: a breach ends the session).
    pub quota_breaches: u64,
    /// Values in the live copies the peer's pushes made of results we hold
    /// ([`Quotas::max_copied_values`]).
    pub copied_values: u64,
}

/// The live counters, written by the session task, read by handles.
#[derive(Debug, Default)]
pub(crate) struct StatsCell {
    imports: AtomicU64,
    exports: AtomicU64,
    unpulled_pushes: AtomicU64,
    calls_in_flight: AtomicU64,
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    map_runs: AtomicU64,
    quota_breaches: AtomicU64,
    copied_values: AtomicU64,
}

/// The table sizes at the end of a turn.
pub(crate) struct Gauges {
    pub(crate) imports: usize,
    pub(crate) exports: usize,
    pub(crate) unpulled_pushes: usize,
    pub(crate) calls_in_flight: usize,
    pub(crate) pipes: usize,
    pub(crate) map_runs: u64,
    pub(crate) copied_values: u64,
}

impl StatsCell {
    pub(crate) fn received(&self, bytes: usize) {
        self.messages_in.fetch_add(1, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn sent(&self, bytes: usize) {
        self.messages_out.fetch_add(1, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn breached(&self) {
        self.quota_breaches.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn set(&self, gauges: &Gauges) {
        let set = |cell: &AtomicU64, n: usize| cell.store(n as u64, Ordering::Relaxed);
        set(&self.imports, gauges.imports);
        set(&self.exports, gauges.exports);
        set(&self.unpulled_pushes, gauges.unpulled_pushes);
        set(&self.calls_in_flight, gauges.calls_in_flight);
        self.map_runs.store(gauges.map_runs, Ordering::Relaxed);
        self.copied_values
            .store(gauges.copied_values, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> SessionStats {
        let get = |cell: &AtomicU64| cell.load(Ordering::Relaxed);
        SessionStats {
            imports: get(&self.imports),
            exports: get(&self.exports),
            unpulled_pushes: get(&self.unpulled_pushes),
            calls_in_flight: get(&self.calls_in_flight),
            messages_in: get(&self.messages_in),
            messages_out: get(&self.messages_out),
            bytes_in: get(&self.bytes_in),
            bytes_out: get(&self.bytes_out),
            map_runs: get(&self.map_runs),
            quota_breaches: get(&self.quota_breaches),
            copied_values: get(&self.copied_values),
        }
    }
}

impl Quotas {
    /// The first quota `gauges` exceed, as the error that ends the session.
    pub(crate) fn breach(&self, gauges: &Gauges, runs: &MapRuns) -> Option<crate::RpcError> {
        let over = |what: &str, n: usize, max: usize| {
            (n > max).then(|| {
                crate::RpcError::range_error(format!(
                    "RPC session exceeded its quota of {max} {what} ({n}); the session was ended."
                ))
            })
        };
        over("exports", gauges.exports, self.max_exports)
            .or_else(|| over("imports", gauges.imports, self.max_imports))
            .or_else(|| {
                over(
                    "pushes never pulled",
                    gauges.unpulled_pushes,
                    self.max_unpulled_pushes,
                )
            })
            .or_else(|| over("open streams", gauges.pipes, self.max_open_pipes))
            .or_else(|| {
                (gauges.map_runs > self.max_map_runs as u64).then(|| runs.breach(gauges.map_runs))
            })
    }
}
