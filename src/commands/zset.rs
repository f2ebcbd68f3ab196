//! Sorted-set commands (behaves like Redis's t_zset.c).

use super::Handler;

pub(super) const HANDLERS: &[(&str, Handler)] = &[];
