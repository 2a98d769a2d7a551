//! # tether
//!
//! Object-capability RPC with explicit lifecycles, speaking the wire protocol of
//! [Cap'n Web](https://github.com/cloudflare/capnweb) (npm `capnweb`).
//!
//! (crate docs: being written)

pub mod error;
pub(crate) mod hook;
#[cfg(feature = "net")]
pub mod server;
pub mod session;
pub mod stub;
pub mod target;
pub mod transport;
pub mod value;
pub(crate) mod wire;

pub use error::{ErrorKind, RpcError, RpcResult};
pub use session::{RpcSession, SessionDriver, SessionOptions};
pub use stub::{RpcPromise, Stub};
pub use target::{set_uncaught_error_hook, BoxFuture, Target};
pub use value::{BigInt, Bytes, BytesKind, Object, Value};
pub use wire::Limits;
