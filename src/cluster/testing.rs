//! Unit-test support: a host with no data and no replication.

use super::state::Host;

pub struct NoHost;

impl Host for NoHost {
    fn keys_in_slot(&self, _slot: u16) -> usize {
        0
    }
    fn db_size(&self) -> usize {
        0
    }
    fn repl_offset(&self) -> u64 {
        0
    }
    fn replicating(&self) -> bool {
        false
    }
    fn repl_data_age_ms(&self, _now_ms: i64) -> i64 {
        0
    }
}
