//! The map interpreter: a value made by the main object (arrays, objects, stubs, promises), then
//! `["remap", 0|1, path, captures, instructions]` with an arbitrary instruction tree, pulled.
//! The answer (or an abort) arrives within a bounded number of scheduler turns (the map budget
//! bounds the work) unless the mapper calls the peer, which never answers; then the same end
//! invariants as the other targets.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::json;
use tether_fuzz::gen::{mentions_peer_exports, path, Arg, Ids, Key, Remap};
use tether_fuzz::{block_on, check_outcome, options, Peer, IDLE_TURNS};

/// Bound on the turns from the pull to its answer: the map budget is 256 instructions.
const MAP_TURNS: usize = 50_000;

#[derive(Arbitrary, Debug)]
enum Source {
    Numbers(u8),
    MakeMany(u8),
    Nested,
    SameTwice,
    Promise,
    Echo(Arg),
    List,
    Main,
}

#[derive(Arbitrary, Debug)]
struct Input {
    source: Source,
    source_path: Vec<Key>,
    remap: Remap,
    /// Map over the main object itself instead of the first answer.
    on_main: bool,
}

fuzz_target!(|input: Input| {
    block_on(async move {
        let mut peer = Peer::start(options());
        let mut ids = Ids::default();
        let source = match &input.source {
            Source::Numbers(n) => json!(["pipeline", 0, ["numbers"], [n % 20]]),
            Source::MakeMany(n) => json!(["pipeline", 0, ["makeMany"], [n % 10]]),
            Source::Nested => json!(["pipeline", 0, ["nested"], []]),
            Source::SameTwice => json!(["pipeline", 0, ["sameTwice"], []]),
            Source::Promise => json!(["pipeline", 0, ["promise"], []]),
            Source::Echo(arg) => json!(["pipeline", 0, ["echo"], [arg.json(&mut ids, 1)]]),
            Source::List => json!(["pipeline", 0, ["list"]]),
            Source::Main => json!(["pipeline", 0, []]),
        };
        let mut source = source;
        if !input.source_path.is_empty() && matches!(input.source, Source::List | Source::Main) {
            source[2] = path(&input.source_path);
        }
        ids.pushes = 1;
        let target = if input.on_main { 0 } else { 1 };
        let remap = input.remap.json(target, &mut ids);
        let calls_peer = mentions_peer_exports(&remap) || mentions_peer_exports(&source);
        peer.send(json!(["push", source]).to_string());
        peer.send(json!(["push", remap]).to_string());
        peer.send(json!(["pull", 2]).to_string());
        let answered = |frames: &[String]| {
            frames.iter().any(|f| {
                f.starts_with("[\"resolve\",2,")
                    || f.starts_with("[\"reject\",2,")
                    || f.starts_with("[\"abort\"")
            })
        };
        let idle = if calls_peer { IDLE_TURNS } else { usize::MAX };
        peer.settle_until(MAP_TURNS, idle, answered).await;
        if !calls_peer {
            assert!(
                answered(&peer.received) || peer.closed,
                "the map was not answered within {MAP_TURNS} turns: {remap}; received {:?}",
                peer.received
            );
        }
        let outcome = peer.finish().await;
        check_outcome(&outcome, false);
    });
});
