//! The counting allocator, installed as this test binary's global allocator: its live-bytes
//! count rises by what is allocated and falls back when it is freed; its call counters rise by
//! one per allocation, those of at least 1 MiB counted apart as well.

use std::hint::black_box;
use std::sync::Mutex;

use tether_bench::alloc::{
    allocated_bytes, allocation_count, large_allocation_count, CountingAlloc, LARGE_ALLOCATION,
};

#[global_allocator]
static ALLOCATOR: CountingAlloc = CountingAlloc;

/// The tests of this file one at a time: each makes large allocations the other would see.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn the_count_rises_and_falls_with_allocations() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
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

#[test]
fn allocation_calls_are_counted_and_large_ones_apart() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    // The harness's other threads only make small allocations: small counts get some slack,
    // large ones none.
    const SMALL: u64 = 1000;
    const SLACK: u64 = 200;

    let (count0, large0) = (allocation_count(), large_allocation_count());
    let boxes: Vec<Box<u64>> = (0..SMALL).map(|i| black_box(Box::new(i))).collect();
    black_box(&boxes);
    let count1 = allocation_count();
    // The boxes plus the vector that holds them (and its growth).
    assert!(
        count1 >= count0 + SMALL && count1 <= count0 + SMALL + SLACK,
        "{count0} -> {count1} after {SMALL} small allocations"
    );
    assert_eq!(large_allocation_count(), large0, "small ones are not large");
    drop(boxes);
    assert!(
        allocation_count() <= count1 + SLACK,
        "frees are not counted"
    );

    let just_under = black_box(vec![7u8; LARGE_ALLOCATION - 1]);
    assert_eq!(large_allocation_count(), large0, "1 MiB − 1 is not large");
    let large = black_box(vec![7u8; LARGE_ALLOCATION]);
    assert_eq!(large_allocation_count(), large0 + 1, "1 MiB is large");
    let zeroed = black_box(vec![0u8; 3 * LARGE_ALLOCATION]); // alloc_zeroed
    assert_eq!(large_allocation_count(), large0 + 2, "alloc_zeroed counts");
    let mut grown = just_under;
    let count2 = allocation_count();
    grown.reserve_exact(LARGE_ALLOCATION); // realloc to ≥ 2 MiB − 1
    black_box(&grown);
    assert_eq!(
        large_allocation_count(),
        large0 + 3,
        "a realloc to ≥ 1 MiB counts"
    );
    assert!(
        allocation_count() > count2,
        "a realloc is an allocation call"
    );
    assert!(allocation_count() >= count1 + 4);
    drop((large, zeroed, grown));
    assert_eq!(
        large_allocation_count(),
        large0 + 3,
        "frees are not counted"
    );
}
