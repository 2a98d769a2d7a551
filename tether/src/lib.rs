//! tether (skeleton)
pub mod error;
pub mod stub;
pub mod value;
pub(crate) mod wire;
