//! The global allocator: mimalloc, counting the bytes it hands out for INFO `used_memory`.
//!
//! Counting uses each block's usable size (what the allocator really reserved, as Redis's
//! zmalloc does with jemalloc). Each thread adds to its own cache-line-sized slot, so the
//! count costs no shared-cache-line traffic; readers sum the slots.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering::Relaxed};

use mimalloc::MiMalloc;

const SLOTS: usize = 64;

#[repr(align(128))]
struct Slot(AtomicI64);

static COUNTS: [Slot; SLOTS] = [const { Slot(AtomicI64::new(0)) }; SLOTS];
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static MY_SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

#[inline]
fn slot() -> &'static AtomicI64 {
    let i = MY_SLOT
        .try_with(|s| {
            let mut i = s.get();
            if i == usize::MAX {
                i = NEXT_SLOT.fetch_add(1, Relaxed) % SLOTS;
                s.set(i);
            }
            i
        })
        .unwrap_or(0);
    &COUNTS[i].0
}

#[inline]
fn usable(ptr: *mut u8) -> usize {
    // SAFETY: `ptr` was returned by mimalloc and is live.
    unsafe { libmimalloc_sys::mi_usable_size(ptr.cast()) }
}

/// mimalloc with byte accounting.
pub struct CountingAlloc;

// SAFETY: every call forwards to MiMalloc with the same arguments; the accounting only reads
// block sizes.
unsafe impl GlobalAlloc for CountingAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { MiMalloc.alloc(layout) };
        if !p.is_null() {
            slot().fetch_add(usable(p) as i64, Relaxed);
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { MiMalloc.alloc_zeroed(layout) };
        if !p.is_null() {
            slot().fetch_add(usable(p) as i64, Relaxed);
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        slot().fetch_sub(usable(ptr) as i64, Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { MiMalloc.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = usable(ptr) as i64;
        // SAFETY: forwarded unchanged.
        let p = unsafe { MiMalloc.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            slot().fetch_add(usable(p) as i64 - old, Relaxed);
        }
        p
    }
}

/// Bytes currently allocated through the global allocator.
pub fn used_memory() -> u64 {
    COUNTS.iter().map(|s| s.0.load(Relaxed)).sum::<i64>().max(0) as u64
}

/// Resident set size of the process, from /proc (0 when unavailable).
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    pages * page
}
