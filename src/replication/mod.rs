//! Replication (DESIGN.md): the primary side feeds replicas from the ordered propagation
//! stream through a backlog.
//!
//! - [`backlog`]: the stream's recent bytes by offset;
//! - [`primary`]: the feeder, full and partial resync bookkeeping, acknowledgements;
//! - [`serve`]: one replica's connection after its PSYNC;
//! - [`replica`]: this server as a replica: the link to its primary.

pub mod backlog;
pub mod primary;
pub mod replica;
pub mod serve;
