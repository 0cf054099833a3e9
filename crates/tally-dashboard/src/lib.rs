//! The dashboard's built files (see `build.rs`), compiled into the binary.
//!
//! Guarantees: [`file`] finds a file by its path under the site root and
//! prefers its gzip twin when the client takes gzip; files under `assets/`
//! have content hashes in their names (Vite), so they may be cached forever;
//! anything else that is not a file is the single-page app's `index.html`.

use rust_embed::Embed;
use std::borrow::Cow;

#[derive(Embed)]
#[folder = "$OUT_DIR/dist"]
struct Files;

/// One file to answer with.
pub struct File {
    pub bytes: Cow<'static, [u8]>,
    pub content_type: String,
    /// Sent as `Content-Encoding: gzip`.
    pub gzip: bool,
    /// A content-hashed asset: cache for a year, immutable.
    pub immutable: bool,
    /// Strong validator (hex of the content's SHA-256).
    pub etag: String,
}

/// The file at `path` (no leading `/`), or `None`.
pub fn file(path: &str, accepts_gzip: bool) -> Option<File> {
    let plain = Files::get(path)?;
    let content_type = plain.metadata.mimetype().to_owned();
    let immutable = path.starts_with("assets/");
    let etag = hex(&plain.metadata.sha256_hash());
    if accepts_gzip {
        if let Some(gz) = Files::get(&format!("{path}.gz")) {
            return Some(File {
                bytes: gz.data,
                content_type,
                gzip: true,
                immutable,
                etag: format!("{etag}-gz"),
            });
        }
    }
    Some(File {
        bytes: plain.data,
        content_type,
        gzip: false,
        immutable,
        etag,
    })
}

/// The single-page app's shell, answered for every dashboard route.
pub fn index(accepts_gzip: bool) -> File {
    file("index.html", accepts_gzip).expect("the dashboard build has an index.html")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_is_embedded_with_hashed_compressed_assets() {
        let index = index(false);
        let html = String::from_utf8(index.bytes.to_vec()).unwrap();
        assert!(index.content_type.starts_with("text/html"));
        let script = html
            .split("src=\"/")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("index.html loads a script");
        assert!(script.starts_with("assets/"), "{script}");
        let js = file(script, true).unwrap();
        assert!(
            js.gzip && js.immutable,
            "the bundle is served gzipped and immutable"
        );
        assert!(js.content_type.contains("javascript"));
        assert!(file("nope.js", true).is_none());
    }
}
