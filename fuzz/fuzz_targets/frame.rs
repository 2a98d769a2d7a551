//! One frame of arbitrary text (bytes read as lossy UTF-8) sent to a fresh server session: it
//! answers or aborts with an `["abort", ...]`, never panics, never hangs, and ends cleanly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tether_fuzz::{block_on, check_outcome, is_peer_abort, options, Peer, SETTLE_TURNS};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let peer_aborted = is_peer_abort(&text);
    block_on(async move {
        let mut peer = Peer::start(options());
        peer.send(text);
        peer.settle(SETTLE_TURNS).await;
        let outcome = peer.finish().await;
        check_outcome(&outcome, peer_aborted);
    });
});
