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
    let (transport, replies) = ServerBatch::new(body);
    let (_client_main, driver) =
        RpcSession::open_with(transport, Some(main), options, OnEof::Drain);
    let session = tokio::spawn(driver.into_future());
    let Ok(replies) = replies.await else {
        // The session ended without closing its transport: report how it ended.
        return match session.await {
            Ok(Err(error)) => Err(error),
            _ => Err(RpcError::error("RPC batch ended unexpectedly.")),
        };
    };
    if let Some(error) = replies.last().and_then(|line| aborted_with(line)) {
        return Err(error);
    }
    Ok(replies.join("\n"))
}

/// The error of an `["abort", ["error", type, message, ...]]` line.
fn aborted_with(line: &str) -> Option<RpcError> {
    if !line.starts_with("[\"abort\"") {
        return None;
    }
    let parsed: serde_json::Value = serde_json::from_str(line).ok()?;
    let name = parsed.get(1)?.get(1)?.as_str().unwrap_or("Error");
    let message = parsed
        .get(1)?
        .get(2)?
        .as_str()
        .unwrap_or("RPC batch aborted.");
    Some(RpcError::new(name, message))
}
