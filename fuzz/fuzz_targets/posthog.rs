//! Fuzzes the posthog capture decoder; see `tally_ingest::fuzzing`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tally_ingest::fuzzing::posthog(data));
