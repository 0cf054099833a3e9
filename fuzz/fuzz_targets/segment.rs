//! Fuzzes the segment capture decoder; see `tally_ingest::fuzzing`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tally_ingest::fuzzing::segment(data));
