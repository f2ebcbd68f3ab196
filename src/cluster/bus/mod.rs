//! The cluster bus: node-to-node messages on the client port + 10000.
//!
//! - [`wire`]: the binary messages of Redis 7.0 (`clusterMsg`), their ping extensions, the
//!   length checks of `clusterProcessPacket()` and the framing of `clusterReadHandler()`.
//! - [`link`]: the bus thread, its listeners and the connections that carry messages.

pub mod link;
pub mod wire;
