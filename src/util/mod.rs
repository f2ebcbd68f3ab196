//! Small shared helpers with no better home: the counting allocator, clocks, glob matching,
//! Redis's partial quicksort.

pub mod alloc;
pub mod clock;
pub mod glob;
pub mod pqsort;
