//! The `tally` binary's library: configuration, assembling the embedded app from
//! its parts, and the `seed` and `loadgen` tools. Kept as a library so integration
//! tests build exactly the app the binary serves.

pub mod admin;
pub mod allocator;
pub mod app;
pub mod config;
pub mod demo;
pub mod loadgen;
pub mod querybench;
pub mod roles;
pub mod seed;
