//! The import table: what this side holds of the peer's objects, by id.
//!
//! Positive ids are our pushes (we pick them: 1, 2, ...); negative ids were picked by the peer
//! when it exported something to us; 0 is the peer's main object. Each entry counts how many
//! times the peer introduced it (`remote_refcount`), which is what `release` must send back.
//! Owned by the session task alone.

use super::ids::IdMap;
use std::sync::{Arc, Weak};

use crate::core::hook::BrokenCallback;
use crate::core::import::{ImportRef, ImportSlot};
use crate::core::link::SessionLink;

pub(crate) struct ImportEntry {
    pub(crate) slot: Arc<ImportSlot>,
    pub(crate) handle: Weak<ImportRef>,
    pub(crate) remote_refcount: u64,
    pub(crate) on_broken: Vec<BrokenCallback>,
}

#[derive(Default)]
pub(crate) struct ImportTable {
    entries: IdMap<ImportEntry>,
    last_push_id: i64,
}

/// What an introduction (`["export", id]` / `["promise", id]`) produced.
pub(crate) enum Introduced {
    Handle(Arc<ImportRef>),
    /// The peer reused a live id for a new promise: a protocol bug on its side.
    Reused,
}

impl ImportTable {
    /// Records the import for a push (or pipe) that was just sent; returns its id.
    pub(crate) fn insert_push(&mut self, slot: Arc<ImportSlot>, handle: Weak<ImportRef>) -> i64 {
        self.insert_next(slot, handle, 1)
    }

    /// Records the import for a `stream` message just sent: the peer releases it itself after
    /// resolving it, so it is never released from here (a remote refcount of 0).
    pub(crate) fn insert_stream(&mut self, slot: Arc<ImportSlot>, handle: Weak<ImportRef>) -> i64 {
        self.insert_next(slot, handle, 0)
    }

    /// The id the next push or pipe will get.
    pub(crate) fn next_push_id(&self) -> i64 {
        self.last_push_id + 1
    }

    fn insert_next(&mut self, slot: Arc<ImportSlot>, handle: Weak<ImportRef>, count: u64) -> i64 {
        self.last_push_id += 1;
        let id = self.last_push_id;
        slot.set_id(id);
        self.entries.insert(
            id,
            ImportEntry {
                slot,
                handle,
                remote_refcount: count,
                on_broken: Vec::new(),
            },
        );
        id
    }

    /// Records an import whose id is fixed (the peer's main object).
    pub(crate) fn insert_fixed(&mut self, handle: &Arc<ImportRef>) {
        if let Some(id) = handle.slot.id() {
            self.entries.insert(
                id,
                ImportEntry {
                    slot: handle.slot.clone(),
                    handle: Arc::downgrade(handle),
                    remote_refcount: 1,
                    on_broken: Vec::new(),
                },
            );
        }
    }

    /// The peer introduced `id` (again): count it and return a handle on it.
    pub(crate) fn introduce(
        &mut self,
        id: i64,
        promise: bool,
        link: &Arc<SessionLink>,
    ) -> Introduced {
        if let Some(entry) = self.entries.get_mut(&id) {
            if promise {
                return Introduced::Reused;
            }
            entry.remote_refcount += 1;
            if let Some(handle) = entry.handle.upgrade() {
                return Introduced::Handle(handle);
            }
            // Every local handle is gone but their release is still queued: start a fresh
            // handle on the same entry; the queued release will see it is stale and skip.
            let handle = Arc::new(ImportRef {
                link: link.clone(),
                slot: ImportSlot::new(Some(id), false),
            });
            entry.slot = handle.slot.clone();
            entry.handle = Arc::downgrade(&handle);
            return Introduced::Handle(handle);
        }
        let slot = ImportSlot::new(Some(id), promise);
        if promise {
            slot.mark_pulled();
        }
        let handle = Arc::new(ImportRef {
            link: link.clone(),
            slot,
        });
        self.insert_fixed(&handle);
        Introduced::Handle(handle)
    }

    /// Removes the entry for `slot`, unless it has since been replaced by a fresher handle.
    pub(crate) fn remove_slot(&mut self, slot: &Arc<ImportSlot>) -> Option<(i64, ImportEntry)> {
        let id = slot.id()?;
        match self.entries.get(&id) {
            Some(entry) if Arc::ptr_eq(&entry.slot, slot) => {
                self.entries.remove(&id).map(|e| (id, e))
            }
            _ => None,
        }
    }

    pub(crate) fn get_mut(&mut self, id: i64) -> Option<&mut ImportEntry> {
        self.entries.get_mut(&id)
    }

    /// Live entries.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn remove(&mut self, id: i64) -> Option<ImportEntry> {
        self.entries.remove(&id)
    }

    /// Empties the table (the session is ending).
    pub(crate) fn drain(&mut self) -> Vec<ImportEntry> {
        self.entries.drain().map(|(_, e)| e).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    fn link() -> Arc<SessionLink> {
        let (tx, rx) = mpsc::unbounded_channel();
        std::mem::forget(rx);
        SessionLink::new(tx)
    }

    #[test]
    fn push_ids_are_positive_sequential_and_never_reused() {
        let link = link();
        let mut table = ImportTable::default();
        let mut ids = Vec::new();
        for _ in 0..3 {
            let handle = Arc::new(ImportRef {
                link: link.clone(),
                slot: ImportSlot::new(None, true),
            });
            ids.push(table.insert_push(handle.slot.clone(), Arc::downgrade(&handle)));
            table.remove_slot(&handle.slot);
        }
        assert_eq!(ids, vec![1, 2, 3]);
    }

    #[test]
    fn reintroduction_counts_and_shares_the_handle() {
        let link = link();
        let mut table = ImportTable::default();
        let Introduced::Handle(a) = table.introduce(-1, false, &link) else {
            panic!("reused")
        };
        let Introduced::Handle(b) = table.introduce(-1, false, &link) else {
            panic!("reused")
        };
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(table.get_mut(-1).map(|e| e.remote_refcount), Some(2));
        assert!(matches!(
            table.introduce(-1, true, &link),
            Introduced::Reused
        ));
    }

    #[test]
    fn stale_release_does_not_remove_a_fresh_handle() {
        let link = link();
        let mut table = ImportTable::default();
        let Introduced::Handle(a) = table.introduce(-2, false, &link) else {
            panic!("reused")
        };
        let old_slot = a.slot.clone();
        drop(a);
        let Introduced::Handle(b) = table.introduce(-2, false, &link) else {
            panic!("reused")
        };
        assert!(table.remove_slot(&old_slot).is_none());
        assert_eq!(table.get_mut(-2).map(|e| e.remote_refcount), Some(2));
        assert!(table.remove_slot(&b.slot).is_some());
    }
}
