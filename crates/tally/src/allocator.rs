//! How long the allocator (mimalloc, the binary's global allocator) keeps freed
//! memory before handing it back to the OS.
//!
//! The drain frees each stored batch's events (tens of MB) and allocates the next
//! one's a moment later. With mimalloc's default of 1 s, memory freed between
//! batches was returned to the OS and taken back page by page (page faults with
//! pages zeroed by the kernel, `madvise` with TLB shootdowns: together ~9 % of the
//! server's samples in a batch-100 profile). Kept for 30 s, a busy server reuses it
//! (page faults 179k → 70k, `madvise` 6,037 → 26 per 6 s, BENCHMARKS.md); an idle
//! one still returns it.
//!
//! Guarantee: an operator's own `MIMALLOC_PURGE_DELAY` wins over this default.

// The one place unsafe code is allowed (see `crates/tally/Cargo.toml`): calls into
// mimalloc's C API, which has no safe wrapper for its options.
#![allow(unsafe_code)]

use std::os::raw::{c_int, c_long};

/// `mi_option_purge_delay`'s place in mimalloc's `mi_option_t` enum (`mimalloc.h`).
/// The Rust bindings name it under no constant; a test checks the place against
/// the option's documented default.
const PURGE_DELAY_OPTION: c_int = 15;

/// Milliseconds freed memory stays with the process before it is purged.
pub const PURGE_DELAY_MS: c_long = 30_000;

/// Applies [`PURGE_DELAY_MS`] unless the environment sets `MIMALLOC_PURGE_DELAY`.
/// Call first thing in `main`.
pub fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: setting an option is a plain store into mimalloc's option table,
        // allowed at any time from any thread.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY_OPTION, PURGE_DELAY_MS) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_set_is_mimallocs_purge_delay() {
        // SAFETY: reading and setting options is allowed at any time.
        let default = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY_OPTION) };
        // mimalloc v3's documented default purge delay; no neighbouring option
        // defaults to it.
        assert_eq!(
            default, 1000,
            "option {PURGE_DELAY_OPTION} is not purge_delay"
        );
        keep_freed_memory();
        let set = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY_OPTION) };
        assert_eq!(set, PURGE_DELAY_MS);
    }
}
