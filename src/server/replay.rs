//! Running commands without a connection (the AOF at start-up, a primary's stream).

use std::sync::Arc;

use super::Server;
use super::client::{Client, ClientShared};
use super::dispatch::{Exec, Outcome};
use crate::commands::table::Lookup;
use crate::keyspace::Effects;
use crate::protocol::{Argv, Reply};
use crate::util::clock::{self, now_ms};

/// Runs commands as a client would, without replies: an AOF file's at start-up (nothing
/// propagates then), a primary's stream on a replica.
pub struct Replay<'s> {
    server: &'s Server,
    client: Client,
    reply: Reply,
    fx: Effects,
    clock: clock::CommandClock,
}

impl<'s> Replay<'s> {
    /// `origin` names the client in the log and CLIENT LIST (`aof`, the primary's address).
    pub fn new(server: &'s Server, origin: &str) -> Self {
        let shared = Arc::new(ClientShared::new(
            u64::MAX,
            origin.into(),
            String::new(),
            -1,
            now_ms(),
        ));
        let mut client = Client::new(shared, true);
        // Writes from here are the primary's: a read-only replica applies them.
        client.is_master = true;
        Replay {
            server,
            client,
            reply: Reply::new(2),
            fx: server.effects(),
            clock: clock::CommandClock::new(),
        }
    }

    /// Runs one command; Err(name) if no such command exists.
    pub fn run(&mut self, argv: &Argv<'_>) -> Result<(), String> {
        let name = argv.get(0);
        if matches!(
            self.server.commands.lookup(name, argv.try_get(1)),
            Lookup::Unknown
        ) {
            return Err(String::from_utf8_lossy(name).into_owned());
        }
        let settings = self.server.config.settings_arc();
        self.clock.refresh();
        let outcome = Exec {
            server: self.server,
            client: &mut self.client,
            reply: &mut self.reply,
            fx: &mut self.fx,
            settings: &settings,
            stats: self.server.stats.worker(0),
            clock: &mut self.clock,
        }
        .execute(argv);
        debug_assert_eq!(outcome, Outcome::Done, "nothing pauses while replaying");
        self.reply.buf.clear();
        Ok(())
    }
}
