//! `map()` (rule P5): recording a mapper on the calling side (`record`) and replaying a mapper
//! on the side that holds the value (`replay`).

pub(crate) mod record;
pub(crate) mod replay;
