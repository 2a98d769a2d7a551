//! A sequence of well-formed-ish messages from a peer against a real session: pushes (calls on
//! the main object, on earlier answers and on stubs the server sent, with stubs and promises of
//! the peer's in the arguments), pulls, releases with valid and invalid counts, resolves and
//! rejects of the peer's promises and of the server's calls to it, remaps, aborts and garbage.
//! Then a disconnect, and the invariants: the session ends, its tables are empty, every
//! disposer ran exactly once, nothing is left running.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::json;
use tether_fuzz::gen::{path, Arg, Ids, Key, Method, PeerId, Remap, Target};
use tether_fuzz::{block_on, check_outcome, options, Peer, SETTLE_TURNS};

#[derive(Arbitrary, Debug)]
enum Count {
    One,
    Small(u8),
    Zero,
    Huge,
}

impl Count {
    fn value(&self) -> serde_json::Value {
        match self {
            Count::One => json!(1),
            Count::Small(n) => json!(n % 4),
            Count::Zero => json!(0),
            Count::Huge => json!(u64::MAX),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Msg {
    Call(Target, Vec<Key>, Method, Vec<Arg>),
    Get(Target, Vec<Key>),
    Pull(Target),
    Release(Target, Count),
    Resolve(PeerId, Arg),
    Reject(PeerId, u8),
    Remap(Target, Remap),
    Stream(Target, Method),
    Abort,
    Garbage(String),
    /// Let the session run before the next message (otherwise messages arrive back to back).
    Settle,
}

fuzz_target!(|msgs: Vec<Msg>| {
    block_on(async move {
        let mut peer = Peer::start(options());
        let mut ids = Ids::default();
        let mut peer_aborted = false;
        for msg in msgs.iter().take(48) {
            ids.learn(&peer.received);
            let frame = match msg {
                Msg::Call(target, keys, method, args) => {
                    let mut p = path(keys);
                    p.as_array_mut().expect("a path").push(json!(method.name()));
                    let id = target.id(&ids);
                    let args: Vec<_> = args.iter().take(4).map(|a| a.json(&mut ids, 1)).collect();
                    ids.pushes += 1;
                    json!(["push", ["pipeline", id, p, args]])
                }
                Msg::Get(target, keys) => {
                    ids.pushes += 1;
                    json!(["push", ["pipeline", target.id(&ids), path(keys)]])
                }
                Msg::Pull(target) => json!(["pull", target.id(&ids)]),
                Msg::Release(target, count) => json!(["release", target.id(&ids), count.value()]),
                Msg::Resolve(id, arg) => {
                    let id = id.id(&ids);
                    json!(["resolve", id, arg.json(&mut ids, 1)])
                }
                Msg::Reject(id, n) => {
                    json!(["reject", id.id(&ids), ["error", "Error", format!("no {n}")]])
                }
                Msg::Remap(target, remap) => {
                    let id = target.id(&ids);
                    let expr = remap.json(id, &mut ids);
                    ids.pushes += 1;
                    json!(["push", expr])
                }
                Msg::Stream(target, method) => {
                    ids.pushes += 1;
                    json!(["stream", ["pipeline", target.id(&ids), [method.name()], []]])
                }
                Msg::Abort => {
                    peer_aborted = true;
                    json!(["abort", ["error", "Error", "bye"]])
                }
                Msg::Garbage(text) => {
                    peer.send(text.clone());
                    peer_aborted |= tether_fuzz::is_peer_abort(text);
                    continue;
                }
                Msg::Settle => {
                    peer.settle(SETTLE_TURNS).await;
                    continue;
                }
            };
            peer.send(frame.to_string());
            if peer.closed {
                break;
            }
        }
        peer.settle(SETTLE_TURNS).await;
        let outcome = peer.finish().await;
        check_outcome(&outcome, peer_aborted);
    });
});
