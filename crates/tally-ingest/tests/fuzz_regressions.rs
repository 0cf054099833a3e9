//! Replays, on stable Rust and in every suite run, the fuzz targets' seed inputs
//! (`fuzz/seeds/<target>/`) and every input a fuzzer ever crashed on
//! (`fuzz/regressions/<target>/`) through the same entry points the targets call.

use std::path::{Path, PathBuf};
use tally_ingest::fuzzing;

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut files = Vec::new();
    for kind in ["seeds", "regressions"] {
        let Ok(dir) = std::fs::read_dir(root.join(kind).join(target)) else {
            continue;
        };
        files.extend(dir.map(|e| e.unwrap().path()).filter(|p| p.is_file()));
    }
    files.sort();
    files
}

fn replay(target: &str, entry: fn(&[u8])) {
    let files = inputs(target);
    assert!(!files.is_empty(), "no seed inputs for the {target} target");
    for file in files {
        let data = std::fs::read(&file).unwrap();
        let outcome = std::panic::catch_unwind(|| entry(&data));
        assert!(outcome.is_ok(), "{} panics", file.display());
    }
}

#[test]
fn native_inputs() {
    replay("native", fuzzing::native);
}

#[test]
fn posthog_inputs() {
    replay("posthog", fuzzing::posthog);
}

#[test]
fn segment_inputs() {
    replay("segment", fuzzing::segment);
}

#[test]
fn tlytics_inputs() {
    replay("tlytics", fuzzing::tlytics);
}
