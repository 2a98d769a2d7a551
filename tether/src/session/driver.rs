//! The session task: one loop that owns the tables and the transport.
//!
//! Each turn it flushes queued output, then waits for whichever comes first: a command from a
//! handle, a frame from the peer, or a finished task. When the session ends it breaks every
//! import, cancels in-flight handlers, releases every export (running disposers), and refuses
//! further commands, in that order.

use std::sync::Arc;

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::task::JoinSet;

use super::exports::ExportTable;
use super::imports::ImportTable;
use super::quotas::{Gauges, StatsCell};
use super::trace::{self, CallTraces};
use super::{OnEof, SessionOptions};
use crate::core::copies::CopyQuota;
use crate::core::error::{ErrorKind, RpcError, RpcResult};
use crate::core::hook::{run_callback, Hook};
use crate::core::import::ImportRef;
use crate::core::link::{Command, SessionLink, SpawnScope};
use crate::core::mailbox::Receiver;
use crate::core::map::replay::MapRuns;
use crate::transport::{CloseReason, Frame, Outgoing, Transport, TransportError};
use crate::wire::{self, EncodeOptions, OutMessage};

/// How long an ending session keeps reading to let the peer close its side.
const LINGER: std::time::Duration = std::time::Duration::from_secs(2);

/// The futures a session runs.
#[derive(Default)]
struct Tasks {
    /// Calls in progress: cancelled when the session ends (rule L10).
    handlers: JoinSet<()>,
    /// `wait_until` work: waited for, up to a grace period, when the session ends (rule L9).
    background: JoinSet<()>,
}

/// Why and how a session ends.
pub(super) struct Ending {
    pub(super) error: RpcError,
    /// Tell the peer with an `abort` message (we detected a fatal error).
    pub(super) send_abort: bool,
    /// A normal end (`Ok` from the driver) rather than an abort.
    pub(super) clean: bool,
}

impl Ending {
    pub(super) fn clean(message: &str) -> Self {
        Self {
            error: RpcError::disconnected(message),
            send_abort: false,
            clean: true,
        }
    }

    pub(super) fn protocol(error: RpcError) -> Self {
        Self {
            error,
            send_abort: true,
            clean: false,
        }
    }

    /// The transport failed: not a clean end.
    pub(super) fn transport_failed(error: &TransportError) -> Self {
        Self {
            error: RpcError::disconnected(format!("RPC transport failed: {error}")),
            send_abort: false,
            clean: false,
        }
    }

    /// The peer stopped reading: what we sent could not be written within `limit`.
    pub(super) fn stuck(limit: Option<std::time::Duration>) -> Self {
        let seconds = limit.map_or(0.0, |l| l.as_secs_f64());
        Self {
            error: RpcError::disconnected(format!(
                "The peer did not read what was sent to it for {seconds} s; the session was dropped."
            )),
            send_abort: false,
            clean: false,
        }
    }

    pub(super) fn peer_abort(error: RpcError) -> Self {
        Self {
            error,
            send_abort: false,
            clean: false,
        }
    }
}

/// The state the session task owns.
pub(super) struct Core {
    pub(super) link: Arc<SessionLink>,
    pub(super) imports: ImportTable,
    pub(super) exports: ExportTable,
    pub(super) outbox: Vec<String>,
    /// The outbox's spare storage: the messages of the last write left it empty but allocated.
    spare_outbox: Vec<String>,
    /// Scratch space every message is encoded in (see [`wire::encode_reusing`]).
    pub(super) encode_buffer: String,
    /// The outbox holds a message something waits for (anything but a release).
    pub(super) urgent: bool,
    pub(super) options: SessionOptions,
    on_eof: OnEof,
    pub(super) encode_options: EncodeOptions,
    /// Resolutions owed to the peer and not yet sent (an HTTP batch waits for these).
    pub(super) pending_pulls: usize,
    pub(super) ending: Option<Ending>,
    /// No more input will come (HTTP batch): calls to the peer fail at once.
    pub(super) input_closed: bool,
    /// A graceful shutdown is under way: end with this reason once no call is in flight, or at
    /// the deadline.
    shutting_down: Option<(RpcError, tokio::time::Instant)>,
    torn_down: bool,
    stats: Arc<StatsCell>,
    /// Calls the peer may still start this turn before the quota of calls in flight refuses
    /// them (set at the start of every turn from the calls still running).
    pub(super) calls_left: usize,
    /// Runs of the peer's `map()` callbacks, shared with every mapper it sent.
    pub(super) map_runs: MapRuns,
    /// Values of the live copies the peer's pushes made of results we hold.
    pub(super) copies: CopyQuota,
    /// The calls being traced, while a `tracing` subscriber wants them.
    pub(super) traces: CallTraces,
    /// The last call the importer met in the message being evaluated (target id, member), when
    /// calls are traced: the message's own call, as arguments are evaluated first.
    pub(super) traced_call: Option<(i64, String)>,
}

impl Core {
    pub(super) fn new(
        link: Arc<SessionLink>,
        main: Hook,
        peer_main: &Arc<ImportRef>,
        options: SessionOptions,
        on_eof: OnEof,
        stats: Arc<StatsCell>,
    ) -> Self {
        let mut imports = ImportTable::default();
        imports.insert_fixed(peer_main);
        let options_max_map_runs = options.quotas.max_map_runs;
        let copies = CopyQuota::new(options.quotas.max_copied_values);
        Self {
            link,
            imports,
            exports: ExportTable::new(main),
            outbox: Vec::new(),
            spare_outbox: Vec::new(),
            encode_buffer: String::new(),
            urgent: false,
            encode_options: EncodeOptions {
                expose_stacks: options.expose_stacks,
            },
            options,
            on_eof,
            pending_pulls: 0,
            ending: None,
            input_closed: false,
            shutting_down: None,
            torn_down: false,
            calls_left: 0,
            map_runs: MapRuns::new(options_max_map_runs),
            copies,
            traces: CallTraces::default(),
            traced_call: None,
            stats,
        }
    }

    /// The peer of an HTTP batch has sent everything it will: it can no longer answer calls, so
    /// its stubs break now (a handler awaiting a callback fails instead of hanging the batch).
    fn input_ended(&mut self) {
        self.input_closed = true;
        let broken = RpcError::disconnected("The HTTP batch client cannot be called back.");
        for entry in self.imports.drain() {
            entry.slot.settle(Hook::Error(Arc::new(broken.clone())));
            for callback in entry.on_broken {
                run_callback(callback, broken.clone());
            }
        }
    }

    /// Ends the session (the first reason wins).
    pub(super) fn end(&mut self, ending: Ending) {
        if self.ending.is_none() {
            trace::session_ended(&ending.error, ending.clean, ending.send_abort);
            self.ending = Some(ending);
        }
    }

    /// Handles what the transport's stream yielded.
    fn handle_input(
        &mut self,
        frame: Option<Result<Frame, TransportError>>,
        input_open: &mut bool,
    ) {
        match frame {
            Some(Ok(frame)) => {
                self.stats.received(frame.len());
                self.handle_frame(frame.as_str());
            }
            Some(Err(e)) => self.end(Ending::transport_failed(&e)),
            None if self.on_eof == OnEof::Drain => {
                *input_open = false;
                self.input_ended();
            }
            None => self.end(Ending::clean("Peer closed the connection.")),
        }
    }

    /// Publishes the table sizes and ends the session if the peer made it hold too much.
    fn account(&mut self, tasks: &Tasks) {
        let gauges = Gauges {
            imports: self.imports.len(),
            exports: self.exports.len(),
            unpulled_pushes: self.exports.unpulled(),
            calls_in_flight: tasks.handlers.len(),
            map_runs: self.map_runs.count(),
            pipes: self.exports.pipes(),
            copied_values: self.copies.held(),
        };
        self.stats.set(&gauges);
        if self.ending.is_none() {
            if let Some(error) = self.options.quotas.breach(&gauges, &self.map_runs) {
                self.stats.breached();
                self.end(Ending::protocol(error));
            }
        }
    }

    fn handle_command(&mut self, command: Command, tasks: &mut Tasks) {
        match command {
            Command::Push {
                target,
                path,
                args,
                result,
                result_ref,
                stream,
            } => self.send_push(target, path, args, result, result_ref, stream),
            Command::PushRemap {
                target,
                path,
                recording,
                result,
                result_ref,
            } => self.send_remap(target, path, *recording, result, result_ref),
            Command::Pull(slot) => {
                if slot.resolution().is_none() {
                    if let Some(id) = slot.id() {
                        self.send_plain(&OutMessage::Pull(id));
                    }
                }
            }
            Command::DropImport(slot) => {
                if slot.id() == Some(0) {
                    if self.options.close_when_main_dropped
                        && self.imports.remove_slot(&slot).is_some()
                    {
                        self.end(Ending::clean(
                            "RPC session was shut down by disposing the main stub",
                        ));
                    }
                } else if let Some((id, entry)) = self.imports.remove_slot(&slot) {
                    self.traces.settled(id, None);
                    self.release_import(id, entry.remote_refcount);
                }
            }
            Command::OnBroken(slot, callback) => {
                if let Some(resolved) = slot.resolution() {
                    resolved.on_broken(callback);
                } else if let Some(entry) = slot.id().and_then(|id| self.imports.get_mut(id)) {
                    if Arc::ptr_eq(&entry.slot, &slot) {
                        entry.on_broken.push(callback);
                    }
                }
            }
            Command::Spawn(task) => {
                tasks.handlers.spawn(task);
            }
            Command::SpawnBackground(task) => {
                tasks.background.spawn(task);
            }
            Command::Settled { export_id, result } => {
                self.send_settled(export_id, result.as_ref().as_ref());
            }
            Command::Shutdown { reason, grace } => {
                let deadline = tokio::time::Instant::now() + grace;
                let deadline = match &self.shutting_down {
                    Some((_, earlier)) => deadline.min(*earlier),
                    None => deadline,
                };
                self.shutting_down = Some((*reason, deadline));
            }
        }
    }

    /// A clean end (the main stub dropped, a local shutdown) still sends the releases already
    /// queued, and those they cause in turn (the last handle of a settled value may go just
    /// before the main stub), so the peer frees those objects now, not only at disconnect.
    /// Returns the other queued commands, for the teardown.
    fn send_queued_releases(&mut self, rx: &mut Receiver<Command>) -> Vec<Command> {
        let mut rest = Vec::new();
        while let Ok(command) = rx.try_recv() {
            match command {
                Command::DropImport(slot) => {
                    if let Some((id, entry)) = self.imports.remove_slot(&slot) {
                        if id != 0 {
                            self.release_import(id, entry.remote_refcount);
                        }
                    }
                }
                other => rest.push(other),
            }
        }
        rest
    }

    /// Tears the session down. See the module docs for the order.
    async fn finish<S, R>(
        &mut self,
        mut sink: S,
        mut stream: R,
        rx: &mut Receiver<Command>,
        mut tasks: Tasks,
    ) -> RpcResult<()>
    where
        S: futures_util::Sink<Outgoing, Error = TransportError> + Unpin,
        R: futures_util::Stream + Unpin,
    {
        let ending = self
            .ending
            .take()
            .unwrap_or_else(|| Ending::clean("RPC session ended."));
        let broken = ending.error.clone().with_kind(ErrorKind::Disconnected);
        self.link.set_aborted(broken.clone());
        let mut leftover = Vec::new();
        if ending.clean && !ending.send_abort {
            leftover = self.send_queued_releases(rx);
        }
        let mut close = None;
        if ending.send_abort {
            let mut exporter = super::outgoing::NoExports;
            if let Ok(text) = wire::encode(
                &OutMessage::Abort(&ending.error),
                &mut exporter,
                &self.encode_options,
            ) {
                self.outbox.push(text);
            }
            close = Some(Outgoing::Close(CloseReason {
                name: ending.error.name.clone(),
                message: ending.error.message.clone(),
            }));
        }
        // The last words, bounded like every write: a peer that does not read cannot hold the
        // session open.
        let outbox = std::mem::take(&mut self.outbox);
        let last_words = async {
            for text in outbox {
                sink.feed(Outgoing::Message(text)).await?;
            }
            if let Some(close) = close {
                sink.feed(close).await?;
            }
            sink.close().await
        };
        let _ = within(self.options.write_timeout, last_words).await;

        tasks.handlers.shutdown().await;
        self.teardown(&broken, rx, leftover);
        // `wait_until` work may finish, within its grace period (rule L9); a graceful shutdown
        // has already given it until its own deadline.
        let grace = match &self.shutting_down {
            Some((_, deadline)) => deadline.saturating_duration_since(tokio::time::Instant::now()),
            None => self.options.wait_until_grace,
        };
        let background = async { while tasks.background.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(grace, background).await;
        tasks.background.shutdown().await;
        // Linger: read (and ignore) what the peer still sends until it closes too. Closing a
        // socket with unread input makes TCP reset the connection, and the peer could lose our
        // abort message and close frame.
        let _ =
            tokio::time::timeout(LINGER, async { while stream.next().await.is_some() {} }).await;
        if ending.clean {
            Ok(())
        } else {
            Err(ending.error)
        }
    }
}

impl Core {
    /// The synchronous part of ending: break every import, refuse further commands (settling
    /// the queued ones), release every export. Runs once, from `finish` or, if the driver future
    /// is dropped mid-session, from `Drop`.
    fn teardown(&mut self, broken: &RpcError, rx: &mut Receiver<Command>, leftover: Vec<Command>) {
        if self.torn_down {
            return;
        }
        self.torn_down = true;
        self.link.set_aborted(broken.clone());
        for entry in self.imports.drain() {
            entry.slot.settle(Hook::Error(Arc::new(broken.clone())));
            for callback in entry.on_broken {
                run_callback(callback, broken.clone());
            }
        }
        rx.close();
        let queued = std::iter::from_fn(|| rx.try_recv().ok());
        for command in leftover.into_iter().chain(queued) {
            match command {
                Command::Push { result, .. } => {
                    result.settle(Hook::Error(Arc::new(broken.clone())));
                }
                Command::OnBroken(_, callback) => run_callback(callback, broken.clone()),
                other => drop(other),
            }
        }
        let released = self.exports.drain();
        drop(released);
        self.traces.end_all();
        self.stats.set(&Gauges {
            imports: 0,
            exports: 0,
            unpulled_pushes: 0,
            calls_in_flight: 0,
            map_runs: self.map_runs.count(),
            pipes: 0,
            copied_values: self.copies.held(),
        });
    }
}

/// Tears down a session whose driver was dropped before it finished (e.g. its task aborted).
struct DropGuard {
    core: Core,
    rx: Receiver<Command>,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        let broken = RpcError::disconnected("RPC session was dropped.");
        self.core.teardown(&broken, &mut self.rx, Vec::new());
    }
}

/// How long releases alone may wait for another message to travel with. A release answers
/// nothing, so sending it a moment later costs no one a round trip, while sending it with the
/// next call (a client's next `push` usually follows within microseconds) saves the peer a
/// wake-up and a read per call.
const RELEASE_LINGER: std::time::Duration = std::time::Duration::from_millis(1);

/// The outbox's storage is kept between writes (so a turn's messages cost no allocation to
/// queue) up to this many slots; a larger burst's storage is freed.
const MAX_SPARE_OUTBOX: usize = 256;

/// Completes at `linger`, if set; never otherwise.
async fn sleep_until_linger(linger: Option<tokio::time::Instant>) {
    match linger {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Completes at the shutdown deadline, if a shutdown is under way; never otherwise.
async fn sleep_until_deadline(shutting_down: &Option<(RpcError, tokio::time::Instant)>) {
    match shutting_down {
        Some((_, deadline)) => tokio::time::sleep_until(*deadline).await,
        None => std::future::pending().await,
    }
}

/// Runs `work` within `limit` (no limit: `None`); `Err(())` if it took longer.
async fn within<T>(
    limit: Option<std::time::Duration>,
    work: impl std::future::Future<Output = T>,
) -> Result<T, ()> {
    match limit {
        Some(limit) => tokio::time::timeout(limit, work).await.map_err(|_| ()),
        None => Ok(work.await),
    }
}

/// How many ready events (commands, frames, finished tasks) one turn handles before it writes:
/// enough that a burst of answers leaves in one write, few enough that a busy peer cannot keep
/// the loop from writing.
const TURN_BUDGET: usize = 256;

/// Runs the session until it ends.
///
/// Each turn waits for one event, then handles every event that is already ready (up to
/// [`TURN_BUDGET`]) and only then writes what they produced, in one flush: a burst of answers, or
/// a client's `push` and `pull` of one call, leave together, and nothing waits for a later turn.
/// The flush is awaited before the next turn reads again, so a peer that stops reading stops
/// being read, and one that stays stuck past [`SessionOptions::write_timeout`] is dropped.
pub(super) fn run(
    core: Core,
    transport: impl Transport,
    rx: Receiver<Command>,
) -> impl std::future::Future<Output = RpcResult<()>> {
    // Made before the future: an idle session's future holds the guard and the two halves
    // once, not also the arguments they were made from.
    let (sink, stream) = transport.split();
    drive(DropGuard { core, rx }, sink, stream)
}

/// An `async` block, not an `async fn`: an `async fn` moves its arguments into locals of its
/// state, which then holds both (the guard's 760 bytes twice in every live session's task);
/// the block uses its captures in place.
#[allow(clippy::manual_async_fn)] // Deliberately not an `async fn`: see above.
fn drive<T: Transport>(
    mut guard: DropGuard,
    mut sink: futures_util::stream::SplitSink<T, Outgoing>,
    mut stream: futures_util::stream::SplitStream<T>,
) -> impl std::future::Future<Output = RpcResult<()>> {
    async move {
        let DropGuard { core, rx } = &mut guard;
        let mut tasks = Tasks::default();
        let mut input_open = true;
        // When the outbox holds only releases, the write waits until this deadline for a message to
        // ride with (see `RELEASE_LINGER`).
        let mut linger: Option<tokio::time::Instant> = None;
        loop {
            let due = linger.is_some_and(|at| tokio::time::Instant::now() >= at);
            let write_now = core.urgent || due || core.ending.is_some();
            if core.outbox.is_empty() {
                linger = None;
            } else if !write_now {
                linger.get_or_insert_with(|| tokio::time::Instant::now() + RELEASE_LINGER);
            } else {
                linger = None;
                core.urgent = false;
                let mut outbox =
                    std::mem::replace(&mut core.outbox, std::mem::take(&mut core.spare_outbox));
                for text in &outbox {
                    core.stats.sent(text.len());
                }
                let write = async {
                    for text in outbox.drain(..) {
                        sink.feed(Outgoing::Message(text)).await?;
                    }
                    sink.flush().await
                };
                let written = within(core.options.write_timeout, write).await;
                outbox.clear();
                if outbox.capacity() <= MAX_SPARE_OUTBOX {
                    core.spare_outbox = outbox; // An idle session does not keep a burst's storage.
                }
                match written {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => core.end(Ending::transport_failed(&e)),
                    Err(()) => core.end(Ending::stuck(core.options.write_timeout)),
                }
            }
            if core.ending.is_some() {
                break;
            }
            if let Some((reason, deadline)) = &core.shutting_down {
                let idle = tasks.handlers.is_empty() && tasks.background.is_empty();
                if idle || tokio::time::Instant::now() >= *deadline {
                    let reason = reason.clone();
                    core.end(Ending {
                        error: reason,
                        send_abort: true,
                        clean: true,
                    });
                    break;
                }
            }
            if !input_open && core.pending_pulls == 0 {
                core.end(Ending::clean("RPC batch complete."));
                break;
            }
            let event = tokio::select! {
                biased;
                Some(command) = rx.recv() => Some(Ok(command)),
                frame = stream.next(), if input_open => Some(Err(frame)),
                Some(_) = tasks.handlers.join_next() => None,
                Some(_) = tasks.background.join_next() => None,
                () = sleep_until_deadline(&core.shutting_down) => None,
                () = sleep_until_linger(linger) => None,
            };
            // From here to the write, the turn is synchronous: work it starts that cannot finish at
            // once joins the task set directly instead of being sent back through the link.
            let spawned = SpawnScope::enter(&core.link);
            core.calls_left = core
                .options
                .quotas
                .max_calls_in_flight
                .saturating_sub(tasks.handlers.len());
            match event {
                Some(Ok(command)) => core.handle_command(command, &mut tasks),
                Some(Err(frame)) => core.handle_input(frame, &mut input_open),
                None => {}
            }
            // Everything else that is ready now, before writing.
            for _ in 0..TURN_BUDGET {
                if core.ending.is_some() {
                    break;
                }
                if let Ok(command) = rx.try_recv() {
                    core.handle_command(command, &mut tasks);
                } else if let Some(frame) =
                    input_open.then(|| stream.next().now_or_never()).flatten()
                {
                    core.handle_input(frame, &mut input_open);
                } else if tasks.handlers.try_join_next().is_none()
                    && tasks.background.try_join_next().is_none()
                {
                    break;
                }
            }
            for task in spawned.finish() {
                tasks.handlers.spawn(task);
            }
            core.account(&tasks);
        }
        // Boxed: the teardown's state would otherwise make every live session's task larger.
        Box::pin(core.finish(sink, stream, rx, tasks)).await
    }
}
