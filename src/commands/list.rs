//! List commands (behaves like Redis's t_list.c).

use super::Handler;

pub(super) const HANDLERS: &[(&str, Handler)] = &[];
