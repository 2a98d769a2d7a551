//! Stubs and promises: the handles application code holds. (skeleton; being written)
use crate::error::RpcError;
use crate::value::PathKey;

/// A reference to a target.
#[derive(Clone, Debug)]
pub struct Stub {
    pub(crate) err: RpcError,
}

impl Stub {
    /// A stub whose every call fails with `error`.
    pub fn broken(error: RpcError) -> Self {
        Self { err: error }
    }
}

/// A promise.
#[derive(Clone, Debug)]
pub struct RpcPromise {
    pub(crate) stub: Stub,
    pub(crate) path: Vec<PathKey>,
}
