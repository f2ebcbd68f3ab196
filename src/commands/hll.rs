//! HyperLogLog commands (behaves like Redis's hyperloglog.c).

use super::Handler;

pub(super) const HANDLERS: &[(&str, Handler)] = &[];
