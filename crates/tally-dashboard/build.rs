//! Builds the dashboard into `$OUT_DIR/dist` whenever its sources change, so a
//! fresh clone's `cargo run --release` serves a current dashboard with nothing
//! but Node.js and npm on the build machine:
//!
//! 1. `npm ci` in `dashboard/` when `node_modules` is missing or older than
//!    `package-lock.json` (packages from the npm registry, pinned by the lock);
//! 2. `npm run build` = `tsc --noEmit` (the type check, against the API types
//!    generated from Tally's OpenAPI document) + `vite build` into `$OUT_DIR/dist`;
//! 3. a `.gz` beside every text file over 1 KiB, compressed once here at the
//!    best level, so Tally serves compressed files without compressing per request.
//!
//! Cargo re-runs this only when a file under `dashboard/` (other than
//! `node_modules`, which is not watched) changes.

use flate2::{write::GzEncoder, Compression};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let dashboard = manifest.join("../../dashboard");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("dist");
    for watched in [
        "src",
        "index.html",
        "package.json",
        "package-lock.json",
        "vite.config.ts",
        "tsconfig.json",
    ] {
        println!(
            "cargo:rerun-if-changed={}",
            dashboard.join(watched).display()
        );
    }

    let lock = dashboard.join("package-lock.json");
    let installed = dashboard.join("node_modules/.package-lock.json");
    if modified(&installed) < modified(&lock) {
        npm(&dashboard, &["ci", "--no-audit", "--no-fund"]);
    }
    let out_arg = out.to_str().expect("OUT_DIR is UTF-8");
    npm(
        &dashboard,
        &["run", "build", "--", "--outDir", out_arg, "--emptyOutDir"],
    );
    compress(&out);
}

fn modified(path: &Path) -> SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

fn npm(dir: &Path, args: &[&str]) {
    let status = Command::new("npm")
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap_or_else(|e| {
            panic!("running npm {args:?} in {} failed: {e}. The dashboard is built with Node.js and npm; install them (Debian: apt-get install nodejs npm)", dir.display())
        });
    assert!(
        status.success(),
        "npm {args:?} in {} failed ({status})",
        dir.display()
    );
}

fn compress(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            compress(&path);
            continue;
        }
        let text = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("js" | "css" | "html" | "svg" | "json" | "txt")
        );
        let bytes = std::fs::read(&path).unwrap();
        if !text || bytes.len() < 1024 {
            continue;
        }
        let mut gz = GzEncoder::new(Vec::new(), Compression::best());
        gz.write_all(&bytes).unwrap();
        let mut name = path.file_name().unwrap().to_owned();
        name.push(".gz");
        std::fs::write(path.with_file_name(name), gz.finish().unwrap()).unwrap();
    }
}
