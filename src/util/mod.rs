//! Small shared helpers with no better home: the counting allocator, clocks, glob matching,
//! Redis's partial quicksort, `sdscatrepr()` quoting.

pub mod alloc;
pub mod clock;
pub mod glob;
pub mod pqsort;
pub mod repr;
