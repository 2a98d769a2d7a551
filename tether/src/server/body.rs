//! Reading an HTTP batch body within the server's limits: its size, the time it may take, and
//! the bytes all batches may buffer at once.
//!
//! Owns only the bytes of the body; it does not split or parse messages.

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use http_body_util::BodyExt;
use hyper::body::{Body as HttpBody, Buf, Bytes};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A body that was read, and its share of the server-wide buffer budget (returned on drop).
pub(super) struct Body {
    pub(super) bytes: Bytes,
    _budget: Option<OwnedSemaphorePermit>,
}

/// Why a body was refused: the status and a readable reason.
pub(super) type Rejected = (StatusCode, String);

/// The limits a body is read under.
pub(super) struct BodyLimits {
    pub(super) max_bytes: usize,
    pub(super) timeout: Duration,
    /// Bytes every batch may buffer together.
    pub(super) budget: Arc<Semaphore>,
}

impl BodyLimits {
    /// Reads `body` (announced as `content_length` bytes, if it said) whole.
    pub(super) async fn read<B>(
        &self,
        body: B,
        content_length: Option<u64>,
    ) -> Result<Body, Rejected>
    where
        B: HttpBody,
        B::Error: std::fmt::Display,
    {
        if let Some(length) = content_length.filter(|&n| n > self.max_bytes as u64) {
            return Err(too_large(length, self.max_bytes));
        }
        match tokio::time::timeout(self.timeout, self.collect(body)).await {
            Ok(result) => result,
            Err(_) => Err((
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "batch refused: the body did not arrive within {} s",
                    self.timeout.as_secs_f64()
                ),
            )),
        }
    }

    async fn collect<B>(&self, body: B) -> Result<Body, Rejected>
    where
        B: HttpBody,
        B::Error: std::fmt::Display,
    {
        let mut body = std::pin::pin!(body);
        let mut bytes = Vec::new();
        let mut budget: Option<OwnedSemaphorePermit> = None;
        while let Some(frame) = body.frame().await {
            let frame =
                frame.map_err(|e| (StatusCode::BAD_REQUEST, format!("batch refused: {e}")))?;
            let Ok(mut data) = frame.into_data() else {
                continue; // Trailers carry no messages.
            };
            let total = bytes.len() + data.remaining();
            if total > self.max_bytes {
                return Err(too_large(total as u64, self.max_bytes));
            }
            // Wait for room in the server-wide budget before holding more.
            let n = u32::try_from(data.remaining()).unwrap_or(u32::MAX);
            let permit = self
                .budget
                .clone()
                .acquire_many_owned(n)
                .await
                .map_err(|_| (StatusCode::SERVICE_UNAVAILABLE, "server closing".to_owned()))?;
            match &mut budget {
                Some(held) => held.merge(permit),
                None => budget = Some(permit),
            }
            while data.has_remaining() {
                let chunk = data.chunk();
                let n = chunk.len();
                bytes.extend_from_slice(chunk);
                data.advance(n);
            }
        }
        Ok(Body {
            bytes: Bytes::from(bytes),
            _budget: budget,
        })
    }
}

fn too_large(length: u64, max: usize) -> Rejected {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("batch refused: the body is {length} bytes, the limit is {max}"),
    )
}
