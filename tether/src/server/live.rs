//! What the server has in progress, for a graceful shutdown: the handles of open WebSocket
//! sessions and a count of sessions and batches still running.
//!
//! Owns only that bookkeeping; it never touches a session's tables (it asks sessions to shut
//! down through their [`SessionHandle`]).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use super::SHUTDOWN_REASON;
use crate::session::SessionHandle;

/// The sessions and batches in progress.
#[derive(Default)]
pub(super) struct Live {
    sessions: Mutex<Vec<SessionHandle>>,
    active: AtomicUsize,
    idle: Notify,
    /// Set when a shutdown begins: new sessions and batches are refused.
    closing: AtomicBool,
    pub(super) connections_open: AtomicUsize,
    pub(super) connections_total: AtomicU64,
    pub(super) sessions_total: AtomicU64,
}

/// Counts one session or batch as in progress while it lives.
pub(super) struct LiveGuard(Arc<Live>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Counts one open connection while it lives.
pub(super) struct ConnectionGuard(Arc<Live>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Live {
    pub(super) fn track(self: &Arc<Self>) -> LiveGuard {
        self.active.fetch_add(1, Ordering::AcqRel);
        self.sessions_total.fetch_add(1, Ordering::Relaxed);
        LiveGuard(self.clone())
    }

    /// Counts one accepted connection while the returned guard lives.
    pub(super) fn connection(self: &Arc<Self>) -> ConnectionGuard {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        self.connections_total.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(self.clone())
    }

    pub(super) fn stats(&self) -> super::ServerStats {
        super::ServerStats {
            connections_open: self.connections_open.load(Ordering::Relaxed) as u64,
            connections_total: self.connections_total.load(Ordering::Relaxed),
            sessions_open: self.active.load(Ordering::Acquire) as u64,
            sessions_total: self.sessions_total.load(Ordering::Relaxed),
        }
    }

    /// Remembers a WebSocket session so that a shutdown can reach it.
    pub(super) fn add_session(&self, session: SessionHandle, grace: Duration) {
        let mut sessions = self.sessions();
        if self.is_closing() {
            // Upgraded while a shutdown was starting: it would be missed.
            session.shutdown(SHUTDOWN_REASON, grace);
            return;
        }
        sessions.retain(|s| !s.is_closed());
        sessions.push(session);
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, Vec<SessionHandle>> {
        // A list of handles: nothing can be left half-updated by a panic. Never held across an
        // `.await`.
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a shutdown has begun.
    pub(super) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Ends every session gracefully and waits (bounded) until all are gone.
    pub(super) async fn shut_down(&self, grace: Duration) {
        let sessions: Vec<_> = {
            // Set under the lock, so a session added later sees it (`add_session`).
            let mut list = self.sessions();
            self.closing.store(true, Ordering::Release);
            list.drain(..).collect()
        };
        for session in sessions {
            session.shutdown(SHUTDOWN_REASON, grace);
        }
        let all_done = async {
            loop {
                let idle = self.idle.notified();
                tokio::pin!(idle);
                idle.as_mut().enable();
                if self.active.load(Ordering::Acquire) == 0 {
                    return;
                }
                idle.await;
            }
        };
        // Sessions end within the grace period; allow for their closing handshakes too.
        let _ = tokio::time::timeout(grace + Duration::from_secs(3), all_done).await;
    }
}
