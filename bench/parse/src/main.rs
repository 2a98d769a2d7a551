//! Parses the bench's typical frames into tether's message model and reports, per frame, the
//! time (ns per frame, best of a few runs) and the heap allocations one parse makes (a counting
//! global allocator). With the `compare` feature it also parses them through
//! `tether::bench_internals::parse_with` with serde_json and with sonic-rs, and the bare
//! parsers (into `IgnoredAny`) as the floor.
//!
//! ```text
//! CARGO_TARGET_DIR=../../target-bench cargo run --release --features compare -- [--ms=300]
//! ```

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting allocations (a `realloc` counts as one) and bytes requested.
struct Counting;

// SAFETY: every method forwards its arguments unchanged to `System` and returns its result
// unchanged; the only addition is two relaxed atomic adds, which neither allocate nor panic.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(block, layout) }
    }
    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size, Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(block, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A named way to parse a frame.
type Variant<'a> = (&'static str, Box<dyn Fn() + 'a>);

fn frames() -> Vec<(&'static str, String)> {
    let text = "x".repeat(64 * 1024);
    let data: Vec<u8> = (0..1024 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&data);
    vec![
        (
            "push_small",
            r#"["push",["pipeline",0,["echo"],["hello"]]]"#.to_owned(),
        ),
        (
            "push_object",
            r#"["push",["pipeline",0,["echo"],[{"a":1,"b":"x"}]]]"#.to_owned(),
        ),
        (
            "push_nested",
            r#"["push",["pipeline",0,["echo"],[{"id":42,"name":"widget","tags":[["a","b","c"]],"dims":{"w":1.5,"h":2.25,"unit":"cm"},"rows":[[{"k":1,"v":true},{"k":2,"v":null}]],"when":["date",1757214689123]}]]]"#.to_owned(),
        ),
        ("pull", r#"["pull",1]"#.to_owned()),
        (
            "resolve_small",
            r#"["resolve",1,"hello"]"#.to_owned(),
        ),
        (
            "remap",
            r#"["push",["remap",1,[],[["import",0]],[["pipeline",-1,["add"],[["pipeline",0],1]]]]]"#.to_owned(),
        ),
        (
            "push_str_64k",
            format!(r#"["push",["pipeline",0,["echo"],["{text}"]]]"#),
        ),
        (
            "push_bytes_1m",
            format!(r#"["push",["pipeline",0,["echo"],[["bytes","{b64}"]]]]"#),
        ),
    ]
}

/// Allocations and bytes requested by one call of `f`.
fn count(f: &dyn Fn()) -> (usize, usize) {
    f(); // warm: lazily made statics are not the frame's
    let (a0, b0) = (
        ALLOCS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    );
    f();
    (
        ALLOCS.load(Ordering::Relaxed) - a0,
        BYTES.load(Ordering::Relaxed) - b0,
    )
}

/// Best ns per call of `f` over five runs of about `budget / 5` each.
fn time(f: &dyn Fn(), budget: Duration) -> f64 {
    let slice = budget / 5;
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < slice {
            for _ in 0..16 {
                f();
            }
            n += 16;
        }
        best = best.min(start.elapsed().as_nanos() as f64 / n as f64);
    }
    best
}

fn main() {
    let arg = |name: &str| std::env::args().find_map(|a| a.strip_prefix(name).map(str::to_owned));
    let ms = arg("--ms=").and_then(|v| v.parse().ok()).unwrap_or(300u64);
    let budget = Duration::from_millis(ms);
    // `--only=FRAME:VARIANT --iters=N` runs one variant N times and prints nothing else, for
    // `perf stat -e instructions` (a count the machine's load does not change).
    let only = arg("--only=");
    let iters: u64 = arg("--iters=")
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    if only.is_none() {
        print_header();
    }
    for (name, frame) in frames() {
        let text = frame.as_str();
        #[cfg_attr(not(feature = "compare"), allow(unused_mut))]
        let mut variants: Vec<Variant<'_>> = vec![(
            "tether (checks, parse, evaluate)",
            Box::new(move || {
                black_box(tether::bench_internals::parse_frame(black_box(text)).ok());
            }),
        )];
        #[cfg(feature = "compare")]
        compare::variants(text, &mut variants);
        for (index, (variant, f)) in variants.iter().enumerate() {
            if let Some(only) = &only {
                if *only == format!("{name}:{index}") {
                    for _ in 0..iters {
                        f();
                    }
                }
                continue;
            }
            let (allocs, bytes) = count(f.as_ref());
            let ns = time(f.as_ref(), budget);
            println!(
                "| {name} | {} | {index}: {variant} | {ns:.0} | {allocs} | {bytes} |",
                text.len()
            );
        }
    }
}

fn print_header() {
    println!("| frame | bytes | variant | ns/frame | allocs/frame | bytes allocated/frame |");
    println!("| --- | ---: | --- | ---: | ---: | ---: |");
}

#[cfg(feature = "compare")]
mod compare {
    use std::hint::black_box;

    pub(super) fn variants<'a>(text: &'a str, out: &mut Vec<super::Variant<'a>>) {
        out.push((
            "serde_json into the model",
            Box::new(move || {
                let mut de = serde_json::Deserializer::from_str(black_box(text));
                de.disable_recursion_limit();
                black_box(tether::bench_internals::parse_with(&mut de).ok());
            }),
        ));
        out.push((
            "sonic-rs into the model",
            Box::new(move || {
                let mut de = sonic_rs::Deserializer::from_str(black_box(text));
                black_box(tether::bench_internals::parse_with(&mut de).ok());
            }),
        ));
        out.push((
            "serde_json, IgnoredAny (floor)",
            Box::new(move || {
                black_box(serde_json::from_str::<serde::de::IgnoredAny>(black_box(text)).ok());
            }),
        ));
        out.push((
            "sonic-rs, IgnoredAny (floor)",
            Box::new(move || {
                black_box(sonic_rs::from_str::<serde::de::IgnoredAny>(black_box(text)).ok());
            }),
        ));
        out.push((
            "serde_json::Value tree (old first pass)",
            Box::new(move || {
                black_box(serde_json::from_str::<serde_json::Value>(black_box(text)).ok());
            }),
        ));
    }
}
