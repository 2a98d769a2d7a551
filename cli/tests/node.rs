//! `tether call` against the reference server: the TestTarget served by capnweb itself
//! (`interop/node/testtarget-server.mjs`; needs `npm ci` in `interop/`).

mod common;

use common::tether;
use tether_interop_tests::shared;

#[test]
fn calls_the_capnweb_server() {
    let server = shared();
    let run = tether(&["call", &server.ws_url(), "square(9)"], "");
    assert_eq!(run.ok().stdout, "81\n");
    let run = tether(
        &[
            "call",
            "--batch",
            &server.http_url(),
            "echo([1n, undefined, \"x\"])",
        ],
        "",
    );
    assert_eq!(run.ok().stdout, "[1n, undefined, \"x\"]\n");
    let run = tether(&["call", &server.ws_url(), "nope()"], "");
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stderr.starts_with("error: TypeError: "), "{run:#?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:#?}");
}

#[test]
fn traces_a_pipelined_chain_and_a_map_against_capnweb() {
    let server = shared();
    let run = tether(
        &[
            "call",
            "--trace",
            &server.ws_url(),
            "makeCounter(5).increment(1); generateFibonacci(5).map(x => api.square(x))",
        ],
        "",
    );
    run.ok();
    assert_eq!(run.stdout, "6\n[0, 1, 1, 4, 9]\n");
    let frames = run.frames();
    let first_received = frames
        .iter()
        .position(|f| f.starts_with('←'))
        .unwrap_or_else(|| panic!("nothing received: {frames:#?}"));
    let sent: Vec<&String> = frames[..first_received]
        .iter()
        .filter(|f| f.contains(" push ") || f.contains(" pull "))
        .collect();
    assert_eq!(
        sent.len(),
        6,
        "four pushes, two pulls, all before any answer: {frames:#?}"
    );
    assert!(
        sent.iter().any(|f| f.contains(" remap ")),
        "the map is one remap: {frames:#?}"
    );
    // Nothing more is asked after the answers start (capnweb resolves the mapped elements as
    // promises of their own, in the same round trip).
    assert!(
        !frames[first_received..]
            .iter()
            .any(|f| f.contains(" push ") || f.contains(" pull ")),
        "{frames:#?}"
    );
    assert!(frames.iter().any(|f| f == "← resolve #2 6"), "{frames:#?}");
    assert!(
        frames.iter().any(|f| f.starts_with("← resolve #4 ")),
        "{frames:#?}"
    );
}
