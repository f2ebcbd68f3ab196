//! The cluster bus: node-to-node messages on the client port + 10000.
//!
//! - [`wire`]: the binary messages of Redis 7.0 (`clusterMsg`), their ping extensions, the
//!   length checks of `clusterProcessPacket()` and the framing of `clusterReadHandler()`.
//!
//! The links (connect, accept, handshake, send queues) come later and build on [`wire`].

pub mod wire;
