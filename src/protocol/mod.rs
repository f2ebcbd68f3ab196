//! The client protocol: request parsing (RESP multibulk and inline), reply encoding for
//! RESP2 and RESP3, and numbers formatted the way Redis formats them.

pub mod float;
pub mod parse;
pub mod reply;

pub use parse::{Argv, Limits, OwnedArgv, Parsed, ProtocolError, RequestParser};
pub use reply::{Aggregate, Reply};
