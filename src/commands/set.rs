//! Placeholder while the family is written.

use super::Handler;

pub(super) const HANDLERS: &[(&str, Handler)] = &[];
