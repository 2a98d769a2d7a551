//! A counting global allocator: [`System`] plus one atomic counter of the bytes currently
//! allocated, so the server can answer `heapUsed()` exactly (the Node reference reports V8's
//! `heapUsed` after a forced GC; a Rust heap has no garbage, so the live total is the analogue).
//!
//! A binary opts in with
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOCATOR: tether_bench::alloc::CountingAlloc = tether_bench::alloc::CountingAlloc;
//! ```
//!
//! and reads [`allocated_bytes`]. Without that line the counter stays at zero. The cost is one
//! uncontended atomic add per allocation and per free.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

/// Bytes currently allocated through [`CountingAlloc`] (requested sizes, not the allocator's
/// rounded-up block sizes): zero unless it is the global allocator.
pub fn allocated_bytes() -> usize {
    ALLOCATED.load(Ordering::Relaxed)
}

/// The system allocator, counting live bytes. See the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAlloc;

// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract, and returns `System`'s result unchanged, so the blocks handed out,
// their alignment and their ownership are exactly `System`'s. The only addition is bookkeeping on
// an atomic integer, which neither allocates (no re-entrancy) nor panics (`fetch_add`/`fetch_sub`
// wrap on overflow instead of panicking), so no unwinding can leave an allocation half done. A
// size is counted only after `System` succeeded (a null pointer is never counted), and
// `dealloc`/`realloc` get back the same layout the block was allocated with (the caller's
// obligation), so the counter stays the sum of live requested sizes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller guarantees `layout` has a non-zero size.
        let block = unsafe { System.alloc(layout) };
        if !block.is_null() {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        }
        block
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let block = unsafe { System.alloc_zeroed(layout) };
        if !block.is_null() {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
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
        }
        moved
    }
}
