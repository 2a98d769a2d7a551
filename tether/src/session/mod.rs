//! Sessions: one connection between two peers, with its import and export tables.
//!
//! # Ownership
//!
//! Each session is one task (the *driver*, [`SessionDriver`]) that alone owns the tables
//! (`imports`, `exports`) and the transport. Everything else talks to it by message through the
//! `link`: stubs and promises send calls, pulls and releases; `Drop` impls send releases (and
//! never block); tasks started for incoming calls report their outcome. No lock guards a table.
//!
//! Incoming calls run concurrently: the driver starts each one (polling it once in place, so
//! calls on one target start in arrival order) and runs what is left in its task set. A slow
//! method never delays other calls. When the session ends, that task set is dropped, so in-flight
//! handlers are cancelled (rule L10), every import breaks and every export is released.
//!
//! Layout: `link` (commands and the shared handle), `imports` and `exports` (the tables),
//! `driver` (the task loop), `incoming` (the peer's messages), `outgoing` (our messages and the
//! exporter that writes stubs into them).

mod driver;
pub(crate) mod exports;
mod ids;
pub(crate) mod imports;
mod incoming;

mod outgoing;
mod quotas;
mod trace;

pub use quotas::{Quotas, SessionStats};

use std::future::IntoFuture;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::core::error::{RpcError, RpcResult};
use crate::core::hook::Hook;
use crate::core::import::{ImportRef, ImportSlot};
use crate::core::stub::Stub;
use crate::rt::BoxFuture;
use crate::transport::Transport;
use crate::wire::Limits;

/// Options for one session.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    /// Receive-side limits (message size, nesting depth, bigint length): what one message may
    /// cost.
    pub limits: Limits,
    /// What the peer may make this session hold over time (exports, imports, unpulled pushes).
    pub quotas: Quotas,
    /// Send error stacks to the peer. Off by default: stacks leak internals.
    pub expose_stacks: bool,
    /// End the session when the last clone of the peer's main stub is dropped, as disposing the
    /// main stub does in capnweb. Clients usually want this; servers (which rarely hold the
    /// client's main) must not.
    pub close_when_main_dropped: bool,
    /// When the session ends, how long `wait_until` work may still run before it is cancelled.
    pub wait_until_grace: Duration,
    /// How long one write may wait for the peer to read. Past it the peer is taken to be stuck
    /// and the session ends (its exports released, its imports broken). While a write waits,
    /// the session reads nothing more from that peer, so what it holds stays bounded. `None`
    /// waits forever.
    pub write_timeout: Option<Duration>,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            quotas: Quotas::default(),
            expose_stacks: false,
            close_when_main_dropped: false,
            wait_until_grace: Duration::from_secs(30),
            write_timeout: Some(Duration::from_secs(30)),
        }
    }
}

/// What a session does when the peer's input ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnEof {
    /// End at once: the peer disconnected (WebSocket, in-process).
    Disconnect,
    /// Finish answering what was asked, then end (HTTP batch).
    Drain,
}

/// Creates sessions. See [`RpcSession::open`].
pub struct RpcSession;

impl RpcSession {
    /// Starts a session over `transport`, offering `main` to the peer (or nothing).
    ///
    /// Returns the peer's main stub and the driver, which must be awaited or spawned for
    /// anything to happen. The driver finishes when the session ends: `Ok(())` for a clean end
    /// (peer closed, local shutdown), `Err` with the reason for an abort.
    ///
    /// Forgetting the driver is a compile-time warning (here made an error):
    ///
    /// ```compile_fail
    /// #![deny(unused_must_use)]
    /// # use tether::{transport::memory, RpcSession, SessionOptions};
    /// let (end, _other) = memory::pair();
    /// RpcSession::open(end, None, SessionOptions::default());
    /// ```
    pub fn open(
        transport: impl Transport,
        main: Option<Stub>,
        options: SessionOptions,
    ) -> (Stub, SessionDriver) {
        Self::open_with(transport, main, options, OnEof::Disconnect)
    }

    pub(crate) fn open_with(
        transport: impl Transport,
        main: Option<Stub>,
        options: SessionOptions,
        on_eof: OnEof,
    ) -> (Stub, SessionDriver) {
        let (tx, rx) = mpsc::unbounded_channel();
        let link = crate::core::link::SessionLink::new(tx);
        let main_hook = main.map(|s| s.hook).unwrap_or_else(|| {
            Hook::Error(Arc::new(RpcError::error(
                "This connection has no main object.",
            )))
        });
        let peer_main = Arc::new(ImportRef {
            link: link.clone(),
            slot: ImportSlot::new(Some(0), false),
        });
        let link_for_handle = link.clone();
        let stats = Arc::new(quotas::StatsCell::default());
        let core = driver::Core::new(link, main_hook, &peer_main, options, on_eof, stats.clone());
        let stub = Stub {
            hook: Hook::Import(peer_main),
        };
        let span = trace::session_span();
        let driver = SessionDriver {
            handle: SessionHandle {
                link: Arc::downgrade(&link_for_handle),
                stats,
            },
            run: Box::pin(tracing::Instrument::instrument(
                driver::run(core, transport, rx),
                span.clone(),
            )),
            span,
        };
        (stub, driver)
    }

    /// [`RpcSession::open`], with the driver spawned on the current Tokio runtime.
    pub fn spawn(
        transport: impl Transport,
        main: Option<Stub>,
        options: SessionOptions,
    ) -> (Stub, tokio::task::JoinHandle<RpcResult<()>>) {
        let (stub, driver) = Self::open(transport, main, options);
        (stub, tokio::spawn(driver.into_future()))
    }
}

/// The future that runs a session. Nothing is sent or received until it is awaited or spawned.
#[must_use = "a session does nothing unless its driver is awaited or spawned"]
pub struct SessionDriver {
    handle: SessionHandle,
    span: tracing::Span,
    run: BoxFuture<'static, RpcResult<()>>,
}

impl SessionDriver {
    /// A handle to control the session from outside once it runs.
    pub fn handle(&self) -> SessionHandle {
        self.handle.clone()
    }

    /// The session's `tracing` span (`rpc_session`, target `tether::session`): every call
    /// span and event of the session is inside it. Its `transport` and `peer` fields are empty
    /// until whoever opened the session records them (the server does).
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }
}

/// Controls a running session from outside (e.g. a server shutting down). Holding it does not
/// keep the session alive.
#[derive(Clone, Debug)]
pub struct SessionHandle {
    link: Weak<crate::core::link::SessionLink>,
    stats: Arc<quotas::StatsCell>,
}

impl SessionHandle {
    /// Ends the session gracefully: calls in flight may finish for up to `grace`, then the
    /// session aborts with `reason` (sent to the peer; a WebSocket closes with code 3000), every
    /// export is released and every import breaks. Does nothing if the session has ended.
    pub fn shutdown(&self, reason: &str, grace: Duration) {
        if let Some(link) = self.link.upgrade() {
            let _ = link.send(crate::core::link::Command::Shutdown {
                reason: RpcError::error(reason),
                grace,
            });
        }
    }

    /// The session's counters now: table sizes, calls in flight, traffic, quota breaches. The
    /// table sizes are as of the end of the session task's last turn (all zero once it ended).
    pub fn stats(&self) -> SessionStats {
        self.stats.snapshot()
    }

    /// True once the session has ended.
    pub fn is_closed(&self) -> bool {
        self.link
            .upgrade()
            .is_none_or(|link| link.aborted().is_some())
    }
}

impl IntoFuture for SessionDriver {
    type Output = RpcResult<()>;
    type IntoFuture = BoxFuture<'static, RpcResult<()>>;

    fn into_future(self) -> Self::IntoFuture {
        self.run
    }
}

impl std::fmt::Debug for SessionDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionDriver")
    }
}

/// Disposing a session handle shuts the session down now (no grace period).
impl crate::dispose::Disposable for SessionHandle {
    fn dispose(&mut self) -> Result<(), crate::dispose::DisposeError> {
        self.shutdown("RPC session was disposed.", Duration::ZERO);
        Ok(())
    }
}
