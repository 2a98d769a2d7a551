//! A counting global allocator: [`System`] plus a few atomic counters: the bytes currently
//! allocated, so the server can answer `heapUsed()` exactly (the Node reference reports V8's
//! `heapUsed` after a forced GC; a Rust heap has no garbage, so the live total is the analogue),
//! and the number of allocation calls made so far, all of them and those of at least
//! [`LARGE_ALLOCATION`] bytes apart (how often a 1 MiB payload is copied).
//!
//! A binary opts in with
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOCATOR: tether_bench::alloc::CountingAlloc = tether_bench::alloc::CountingAlloc;
//! ```
//!
//! and reads [`allocated_bytes`], [`allocation_count`] and [`large_allocation_count`]. Without
//! that line the counters stay at zero. The cost is two or three uncontended atomic adds per
//! allocation and one per free.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The size from which an allocation also counts in [`large_allocation_count`]: 1 MiB, the
/// size of the `payload` workload's `Uint8Array`.
pub const LARGE_ALLOCATION: usize = 1 << 20;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static LARGE_ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// Bytes currently allocated through [`CountingAlloc`] (requested sizes, not the allocator's
/// rounded-up block sizes): zero unless it is the global allocator.
pub fn allocated_bytes() -> usize {
    ALLOCATED.load(Ordering::Relaxed)
}

/// Allocation calls that succeeded through [`CountingAlloc`] since the process started: every
/// `alloc`, `alloc_zeroed` and `realloc` (a `realloc` may move the block, so it is counted as
/// one allocation). Frees are not counted. Zero unless it is the global allocator.
pub fn allocation_count() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// The part of [`allocation_count`] that asked for at least [`LARGE_ALLOCATION`] bytes (for a
/// `realloc`, the new size): blocks big enough to hold a whole 1 MiB payload.
pub fn large_allocation_count() -> u64 {
    LARGE_ALLOCATIONS.load(Ordering::Relaxed)
}

/// Counts one successful allocation call of `size` bytes.
fn count_allocation(size: usize) {
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    if size >= LARGE_ALLOCATION {
        LARGE_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

/// The system allocator, counting live bytes and allocation calls. See the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAlloc;

// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract, and returns `System`'s result unchanged, so the blocks handed out,
// their alignment and their ownership are exactly `System`'s. The only addition is bookkeeping on
// atomic integers, which neither allocates (no re-entrancy) nor panics (`fetch_add`/`fetch_sub`
// wrap on overflow instead of panicking), so no unwinding can leave an allocation half done. A
// size or an allocation call is counted only after `System` succeeded (a null pointer is never
// counted), and `dealloc`/`realloc` get back the same layout the block was allocated with (the
// caller's obligation), so the live-bytes counter stays the sum of live requested sizes; the call
// counters only ever grow.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller guarantees `layout` has a non-zero size.
        let block = unsafe { System.alloc(layout) };
        if !block.is_null() {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
            count_allocation(layout.size());
        }
        block
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let block = unsafe { System.alloc_zeroed(layout) };
        if !block.is_null() {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
            count_allocation(layout.size());
        }
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `block` came from this allocator (so from `System`)
        // with this `layout`.
        unsafe { System.dealloc(block, layout) };
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `block` came from this allocator with `layout`, and that
        // `new_size` is non-zero and valid for `layout.align()`.
        let moved = unsafe { System.realloc(block, layout, new_size) };
        if !moved.is_null() {
            // On failure the old block stays allocated with its old size: nothing changes.
            ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
            ALLOCATED.fetch_add(new_size, Ordering::Relaxed);
            count_allocation(new_size);
        }
        moved
    }
}
