//! The export table: what this side has handed the peer, by id.
//!
//! Positive ids are answers to the peer's pushes (assigned in arrival order: 1, 2, ...); negative
//! ids are stubs and promises we put in messages (-1, -2, ...); 0 is our main object. Ids are
//! never reused. Each entry counts its introductions and is dropped (its hook released, maybe
//! running a disposer) only when the peer's releases add up to that count. Re-exporting the same
//! lineage reuses its id, so one lineage stays one entry. Owned by the session task alone.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::RpcError;
use crate::hook::Hook;

pub(crate) struct ExportEntry {
    pub(crate) hook: Hook,
    pub(crate) refcount: u64,
    /// The peer asked for (or is owed) the resolution.
    pub(crate) pulled: bool,
    /// Released by us after the resolution is sent (`stream` messages).
    pub(crate) auto_release: bool,
    key: Option<usize>,
}

#[derive(Default)]
pub(crate) struct ExportTable {
    entries: HashMap<i64, ExportEntry>,
    by_key: HashMap<usize, i64>,
    last_negative: i64,
    last_answer: i64,
}

/// Identity of a re-exportable reference: its lineage or its import entry.
fn key_of(hook: &Hook) -> Option<usize> {
    match hook {
        Hook::Local(lineage) => Some(Arc::as_ptr(lineage) as *const () as usize),
        Hook::Import(import) => Some(Arc::as_ptr(&import.slot) as *const () as usize),
        _ => None,
    }
}

impl ExportTable {
    pub(crate) fn new(main: Hook) -> Self {
        let mut table = Self::default();
        table.entries.insert(0, entry(main, None));
        table
    }

    /// Records the answer to the peer's next push.
    pub(crate) fn add_answer(&mut self, hook: Hook) -> i64 {
        self.last_answer += 1;
        self.entries.insert(self.last_answer, entry(hook, None));
        self.last_answer
    }

    /// Exports a stub: a new negative id, or one more introduction of the id this lineage has.
    pub(crate) fn export_stub(&mut self, hook: Hook) -> i64 {
        let key = key_of(&hook);
        if let Some(id) = key.and_then(|k| self.by_key.get(&k)) {
            if let Some(existing) = self.entries.get_mut(id) {
                existing.refcount += 1;
                return *id;
            }
        }
        let id = self.next_negative();
        if let Some(k) = key {
            self.by_key.insert(k, id);
        }
        self.entries.insert(id, entry(hook, key));
        id
    }

    /// Exports a promise: always a new id, whose resolution the peer is owed unasked.
    pub(crate) fn export_promise(&mut self, hook: Hook) -> i64 {
        let id = self.next_negative();
        let mut e = entry(hook, None);
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
            return Err(RpcError::protocol(
                "Error",
                format!("no such export ID: {id}"),
            ));
        };
        if entry.refcount < count {
            return Err(RpcError::protocol(
                "Error",
                format!("refcount would go negative: {} < {count}", entry.refcount),
            ));
        }
        entry.refcount -= count;
        if entry.refcount > 0 {
            return Ok(None);
        }
        let removed = self.entries.remove(&id).map(|e| {
            if let Some(k) = e.key {
                self.by_key.remove(&k);
            }
            e.hook
        });
        Ok(removed)
    }

    /// Empties the table (the session is ending); the caller drops the hooks.
    pub(crate) fn drain(&mut self) -> Vec<Hook> {
        self.by_key.clear();
        self.entries.drain().map(|(_, e)| e.hook).collect()
    }
}

fn entry(hook: Hook, key: Option<usize>) -> ExportEntry {
    ExportEntry {
        hook,
        refcount: 1,
        pulled: false,
        auto_release: false,
        key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Stub;

    fn local() -> Hook {
        Stub::from_fn(|_| async { Ok(crate::Value::Null) }).hook
    }

    #[test]
    fn ids_count_down_from_minus_one_and_answers_up_from_one() {
        let mut table = ExportTable::new(Hook::Error(RpcError::error("no main")));
        assert_eq!(table.export_stub(local()), -1);
        assert_eq!(table.export_promise(local()), -2);
        assert_eq!(table.add_answer(local()), 1);
        assert_eq!(table.add_answer(local()), 2);
        assert_eq!(table.export_stub(local()), -3);
    }

    #[test]
    fn same_lineage_reuses_its_id_and_needs_every_release() {
        let mut table = ExportTable::new(Hook::Error(RpcError::error("no main")));
        let hook = local();
        assert_eq!(table.export_stub(hook.clone()), -1);
        assert_eq!(table.export_stub(hook.clone()), -1);
        assert!(matches!(table.release(-1, 1), Ok(None)));
        assert!(matches!(table.release(-1, 1), Ok(Some(_))));
        // A fresh export of the same lineage after release gets a new id: ids are never reused.
        assert_eq!(table.export_stub(hook), -2);
    }

    #[test]
    fn over_release_and_unknown_ids_are_errors_with_capnweb_messages() {
        let mut table = ExportTable::new(Hook::Error(RpcError::error("no main")));
        table.export_stub(local());
        let err = table.release(-1, 5).err().map(|e| e.message);
        assert_eq!(err.as_deref(), Some("refcount would go negative: 1 < 5"));
        let err = table.release(-9, 1).err().map(|e| e.message);
        assert_eq!(err.as_deref(), Some("no such export ID: -9"));
    }
}
