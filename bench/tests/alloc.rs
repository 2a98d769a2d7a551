//! The counting allocator, installed as this test binary's global allocator: its count rises by
//! what is allocated and falls back when it is freed.

use tether_bench::alloc::{allocated_bytes, CountingAlloc};

#[global_allocator]
static ALLOCATOR: CountingAlloc = CountingAlloc;

#[test]
fn the_count_rises_and_falls_with_allocations() {
    const SIZE: usize = 4 << 20;
    // Other threads of the test harness may allocate a little meanwhile: allow some slack.
    const SLACK: usize = 64 << 10;
    let before = allocated_bytes();
    let block = vec![1u8; SIZE];
    let during = allocated_bytes();
    assert!(
        during >= before + SIZE - SLACK,
        "{before} -> {during} after allocating {SIZE}"
    );
    let mut grown = block;
    grown.reserve_exact(SIZE); // realloc to at least 2 × SIZE
    let after_grow = allocated_bytes();
    assert!(
        after_grow >= before + 2 * SIZE - SLACK,
        "{before} -> {after_grow} after growing to {}",
        grown.capacity()
    );
    drop(grown);
    let after = allocated_bytes();
    assert!(
        after <= before + SLACK,
        "{before} -> {after} after freeing everything"
    );
    let zeroed = vec![0u64; SIZE / 8]; // alloc_zeroed
    assert!(allocated_bytes() >= before + SIZE - SLACK);
    drop(zeroed);
    assert!(allocated_bytes() <= before + SLACK);
}
