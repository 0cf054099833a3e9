//! Fuzzes the tlytics capture decoder; see `tally_ingest::fuzzing`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tally_ingest::fuzzing::tlytics(data));
