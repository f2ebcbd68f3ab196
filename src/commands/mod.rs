//! Commands: the one command table and the handlers, one file per family.
//!
//! A command's static description (arity, flags, key specs, ACL categories, docs) is
//! [`meta::CommandMeta`], recorded from Redis 7.0 in `meta_data.rs`; each family file binds
//! handlers to names in its `HANDLERS` slice; [`table`] joins the two. Everything else
//! (COMMAND, dispatch checks, stats) reads the joined table.

mod access;
pub mod args;
pub mod error;
pub mod meta;
#[rustfmt::skip]
pub mod meta_data;
pub mod table;

mod bitmap;
pub mod blocking;
mod cluster;
mod connection;
mod dump;
mod generic;
mod geo;
mod hash;
mod hll;
mod introspect;
pub mod keyspec;
mod list;
pub mod migrate;
mod pubsub;
mod random;
mod replication;
mod save;
mod scan;
mod server;
mod set;
mod sort;
mod string;
mod transaction;
mod zset;

use crate::config::Settings;
use crate::keyspace::{Effects, Keyspace};
use crate::protocol::{Argv, Reply};
use crate::server::Server;
use crate::server::client::Client;

pub use error::{CmdError, CmdResult};
pub use table::{Command, CommandTable};

/// A command handler: runs with the command's arguments (name included) and writes exactly
/// one reply, or returns the error to reply with.
pub type Handler = fn(&mut Ctx<'_>, &Argv<'_>) -> CmdResult;

/// Everything a handler can reach.
pub struct Ctx<'a> {
    pub server: &'a Server,
    pub client: &'a mut Client,
    pub reply: &'a mut Reply,
    pub fx: &'a mut Effects,
    pub settings: &'a Settings,
    pub cmd: &'a Command,
}

impl<'a> Ctx<'a> {
    /// The keyspace, borrowed for as long as the server (not the context), so shard guards
    /// can live while the context is used mutably.
    #[inline]
    pub fn keyspace(&self) -> &'a Keyspace {
        &self.server.keyspace
    }

    /// The client's selected database.
    #[inline]
    pub fn db(&self) -> usize {
        self.client.db
    }
}
