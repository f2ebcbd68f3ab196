//! Small shared helpers with no better home: the counting allocator, clocks, glob matching.

pub mod alloc;
pub mod clock;
pub mod glob;
