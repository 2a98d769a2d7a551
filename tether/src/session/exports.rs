//! The export table: what this side has handed the peer, by id.
//!
//! Positive ids are answers to the peer's pushes (assigned in arrival order: 1, 2, ...); negative
//! ids are stubs and promises we put in messages (-1, -2, ...); 0 is our main object. Ids are
//! never reused. Each entry counts its introductions and is dropped (its hook released, maybe
//! running a disposer) only when the peer's releases add up to that count.
//!
//! Every export of a stub gets a new id, even for a lineage already exported: capnweb 0.12 does
//! the same and, as an importer, does not count re-introductions of an id, so reusing ids would
//! leak with it. The entries share the lineage, so its disposer still runs once, after the last
//! entry goes (rule L4). Owned by the session task alone.

use std::sync::Arc;

use crate::core::copies::Charge;
use crate::core::error::RpcError;
use crate::core::hook::Hook;
use crate::core::stream::ReadableStream;
use crate::session::ids::IdMap;

/// One export. Kept small (24 bytes): a session may hold many thousands.
pub(crate) struct ExportEntry {
    pub(crate) hook: Hook,
    /// Introductions not yet released. Every export gets its own id, so this starts at one and
    /// only goes down.
    pub(crate) refcount: u32,
    /// The peer asked for (or is owed) the resolution.
    pub(crate) pulled: bool,
    /// Released by us after the resolution is sent (`stream` messages).
    pub(crate) auto_release: bool,
    /// The entry is a pipe the peer made.
    pub(crate) pipe: bool,
    /// The entry is an answer whose push made copies: their charge is in the side table.
    pub(crate) charged: bool,
}

/// What an entry with `pipe` or `charged` set keeps beside it.
enum Side {
    /// A pipe the peer made: its readable end, until a `["readable", id]` takes it.
    Readable(ReadableStream),
    /// An answer whose push made copies of results we hold (`core::copies`): their charge, given
    /// back when the answer goes.
    Charge { _held: Arc<Charge> },
}

/// Tables at least this large give memory back once three quarters of their entries are gone.
const SHRINK_FROM: usize = 1024;

#[derive(Default)]
pub(crate) struct ExportTable {
    entries: IdMap<ExportEntry>,
    /// What a few entries keep beside them (one table for both kinds: every session has it).
    sides: IdMap<Side>,
    last_negative: i64,
    last_answer: i64,
    /// Answers (positive ids) still live whose resolution nobody asked for yet.
    unpulled: usize,
    /// Pipes the peer made that are still open (their writable end not released).
    pipes: usize,
}

impl ExportTable {
    pub(crate) fn new(main: Hook) -> Self {
        let mut table = Self::default();
        table.entries.insert(0, entry(main));
        table
    }

    /// Records the answer to the peer's next push, and the charge of the copies it made.
    pub(crate) fn add_answer(&mut self, hook: Hook, charge: Option<Arc<Charge>>) -> i64 {
        self.last_answer += 1;
        let mut entry = entry(hook);
        if let Some(charge) = charge {
            entry.charged = true;
            let side = Side::Charge { _held: charge };
            self.sides.insert(self.last_answer, side);
        }
        self.entries.insert(self.last_answer, entry);
        self.unpulled += 1;
        self.last_answer
    }

    /// Records a pipe the peer made (`["pipe"]`, the next positive id): `writer` is its
    /// writable end, `readable` waits for the peer's `["readable", id]`. Never pulled.
    pub(crate) fn add_pipe(&mut self, writer: Hook, readable: ReadableStream) -> i64 {
        self.last_answer += 1;
        let mut e = entry(writer);
        e.pulled = true;
        e.pipe = true;
        self.entries.insert(self.last_answer, e);
        self.sides
            .insert(self.last_answer, Side::Readable(readable));
        self.pipes += 1;
        self.last_answer
    }

    /// Pipes the peer made that are still open.
    pub(crate) fn pipes(&self) -> usize {
        self.pipes
    }

    /// Takes the readable end of pipe `id`, once; capnweb's error otherwise.
    pub(crate) fn take_pipe_readable(&mut self, id: i64) -> Result<ReadableStream, RpcError> {
        if let Some(Side::Readable(_)) = self.sides.get(&id) {
            if let Some(Side::Readable(readable)) = self.sides.remove(&id) {
                return Ok(readable);
            }
        }
        Err(RpcError::protocol(
            "Error",
            format!("Export {id} is not a pipe or its readable end was already consumed."),
        ))
    }

    /// Marks `id` as pulled (its resolution is owed); `false` if it already was. An unknown id
    /// is a protocol error, with capnweb's message.
    pub(crate) fn mark_pulled(&mut self, id: i64) -> Result<bool, RpcError> {
        let entry = self
            .entries
            .get_mut(&id)
            .ok_or_else(|| no_such_export(id))?;
        if entry.pulled {
            return Ok(false);
        }
        entry.pulled = true;
        if id > 0 {
            self.unpulled -= 1;
        }
        Ok(true)
    }

    /// Live entries.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Live answers whose resolution was never asked for.
    pub(crate) fn unpulled(&self) -> usize {
        self.unpulled
    }

    /// Exports a stub under a new negative id.
    pub(crate) fn export_stub(&mut self, hook: Hook) -> i64 {
        let id = self.next_negative();
        self.entries.insert(id, entry(hook));
        id
    }

    /// Exports a promise: always a new id, whose resolution the peer is owed unasked.
    pub(crate) fn export_promise(&mut self, hook: Hook) -> i64 {
        let id = self.next_negative();
        let mut e = entry(hook);
        e.pulled = true;
        self.entries.insert(id, e);
        id
    }

    fn next_negative(&mut self) -> i64 {
        self.last_negative -= 1;
        self.last_negative
    }

    pub(crate) fn get_mut(&mut self, id: i64) -> Option<&mut ExportEntry> {
        self.entries.get_mut(&id)
    }

    /// The hook at `id`, for evaluating the peer's references to it.
    pub(crate) fn hook(&self, id: i64) -> Option<&Hook> {
        self.entries.get(&id).map(|e| &e.hook)
    }

    /// Drops `count` introductions of `id`; returns the hook if that was the last of them, for
    /// the caller to drop once the table is no longer borrowed.
    pub(crate) fn release(&mut self, id: i64, count: u64) -> Result<Option<Hook>, RpcError> {
        let Some(entry) = self.entries.get_mut(&id) else {
            return Err(no_such_export(id));
        };
        let left = u64::from(entry.refcount)
            .checked_sub(count)
            .ok_or_else(|| {
                RpcError::protocol(
                    "Error",
                    format!("refcount would go negative: {} < {count}", entry.refcount),
                )
            })?;
        if left > 0 {
            entry.refcount = u32::try_from(left).unwrap_or(entry.refcount); // `left` < `refcount`
            return Ok(None);
        }
        let Some(removed) = self.entries.remove(&id) else {
            return Ok(None);
        };
        if id > 0 && !removed.pulled {
            self.unpulled -= 1;
        }
        if removed.pipe {
            self.pipes -= 1;
        }
        if removed.pipe || removed.charged {
            self.sides.remove(&id);
        }
        let (len, capacity) = (self.entries.len(), self.entries.capacity());
        if capacity >= SHRINK_FROM && len < capacity / 4 {
            self.entries.shrink_to(len * 2);
        }
        Ok(Some(removed.hook))
    }

    /// Empties the table (the session is ending); the caller drops the hooks.
    pub(crate) fn drain(&mut self) -> Vec<Hook> {
        self.unpulled = 0;
        self.pipes = 0;
        self.sides.clear();
        self.entries.drain().map(|(_, e)| e.hook).collect()
    }
}

fn no_such_export(id: i64) -> RpcError {
    RpcError::protocol("Error", format!("no such export ID: {id}"))
}

fn entry(hook: Hook) -> ExportEntry {
    ExportEntry {
        hook,
        refcount: 1,
        pulled: false,
        charged: false,
        auto_release: false,
        pipe: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Stub;
    use std::sync::Arc;

    #[test]
    fn an_entry_stays_small() {
        // Every live export costs this (plus the table's slack): a pipe's readable end, rare,
        // lives in a side table.
        assert!(std::mem::size_of::<ExportEntry>() <= 24);
    }

    #[test]
    fn a_table_gives_memory_back_once_mostly_empty() {
        let mut table = ExportTable::new(local());
        let ids: Vec<i64> = (0..10_000).map(|_| table.export_stub(local())).collect();
        let grown = table.entries.capacity();
        for id in &ids[..9_000] {
            assert!(table.release(*id, 1).expect("live").is_some());
        }
        assert!(
            table.entries.capacity() < grown / 2,
            "{grown} -> {}",
            table.entries.capacity()
        );
        for id in &ids[9_000..] {
            assert!(table.hook(*id).is_some(), "entry {id} lost by shrinking");
        }
    }

    fn local() -> Hook {
        Stub::from_fn(|_| async { Ok(crate::Value::Null) }).hook
    }

    #[test]
    fn ids_count_down_from_minus_one_and_answers_up_from_one() {
        let mut table = ExportTable::new(Hook::Error(Arc::new(RpcError::error("no main"))));
        assert_eq!(table.export_stub(local()), -1);
        assert_eq!(table.export_promise(local()), -2);
        assert_eq!(table.add_answer(local(), None), 1);
        assert_eq!(table.add_answer(local(), None), 2);
        assert_eq!(table.export_stub(local()), -3);
    }

    #[test]
    fn every_export_of_a_lineage_is_a_new_id_released_on_its_own() {
        let mut table = ExportTable::new(Hook::Error(Arc::new(RpcError::error("no main"))));
        let hook = local();
        assert_eq!(table.export_stub(hook.clone()), -1);
        assert_eq!(table.export_stub(hook), -2);
        assert!(matches!(table.release(-1, 1), Ok(Some(_))));
        assert!(matches!(table.release(-2, 1), Ok(Some(_))));
        assert!(
            table.release(-1, 1).is_err(),
            "released ids are gone for good"
        );
    }

    #[test]
    fn over_release_and_unknown_ids_are_errors_with_capnweb_messages() {
        let mut table = ExportTable::new(Hook::Error(Arc::new(RpcError::error("no main"))));
        table.export_stub(local());
        let err = table.release(-1, 5).err().map(|e| e.message);
        assert_eq!(err.as_deref(), Some("refcount would go negative: 1 < 5"));
        let err = table.release(-9, 1).err().map(|e| e.message);
        assert_eq!(err.as_deref(), Some("no such export ID: -9"));
    }
}
