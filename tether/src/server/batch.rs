//! One HTTP batch as a server runs it: a session over the request's lines whose context ends
//! when the response is ready (rule L11). Everything the batch exported is released then, so
//! disposers run, unlike the capnweb reference, which leaks them.
//!
//! Owns only the batch's session; reading the body within limits is `body`'s job.

use std::future::IntoFuture;

use crate::core::error::{RpcError, RpcResult};
use crate::core::stub::Stub;
use crate::session::{OnEof, RpcSession, SessionOptions};
use crate::transport::http_batch::ServerBatch;

/// Runs one batch against `main` and returns the response body, or the error that aborted the
/// batch (a malformed line).
///
/// The reply is ready as soon as every pulled answer is in; the session then ends in the
/// background (its exports are released, and `wait_until` work may finish), so the response is
/// not held up by it.
pub async fn run_batch(body: &str, main: Stub, options: SessionOptions) -> RpcResult<String> {
    run_traced(body, main, options, None).await
}

/// [`run_batch`], its session's `tracing` span naming the peer.
pub(super) async fn run_traced(
    body: &str,
    main: Stub,
    options: SessionOptions,
    peer: Option<std::net::SocketAddr>,
) -> RpcResult<String> {
    let (transport, replies) = ServerBatch::new(body);
    let (_client_main, driver) =
        RpcSession::open_with(transport, Some(main), options, OnEof::Drain);
    super::request::record_peer(&driver, "http-batch", peer);
    let session = tokio::spawn(driver.into_future());
    let Ok(outcome) = replies.await else {
        // The session ended without closing its transport: report how it ended.
        return match session.await {
            Ok(Err(error)) => Err(error),
            _ => Err(RpcError::error("RPC batch ended unexpectedly.")),
        };
    };
    match outcome.aborted {
        Some(reason) => Err(RpcError::new(reason.name, reason.message)),
        None => Ok(outcome.replies.join("\n")),
    }
}
