//! Request bodies: decompression with a hard cap on the decompressed size, so a
//! small gzip bomb cannot allocate more than the body limit.

use crate::DecodeError;
use flate2::read::GzDecoder;
use std::borrow::Cow;
use std::io::Read;

/// How the body is encoded, from `Content-Encoding` or sniffed from magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentEncoding {
    Identity,
    Gzip,
}

impl ContentEncoding {
    /// Reads the `Content-Encoding` header value; `None` header means identity.
    pub fn from_header(value: Option<&str>) -> Result<Self, DecodeError> {
        match value.map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(Self::Identity),
            Some(v) if v.is_empty() || v == "identity" => Ok(Self::Identity),
            Some(v) if v == "gzip" || v == "x-gzip" => Ok(Self::Gzip),
            Some(v) => Err(DecodeError::UnsupportedEncoding(v)),
        }
    }
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Returns the body as plain bytes, at most `max` of them. An uncompressed body is
/// returned as it is, without a copy.
pub fn decode_body(
    raw: &[u8],
    encoding: ContentEncoding,
    max: usize,
) -> Result<Cow<'_, [u8]>, DecodeError> {
    let gzipped = encoding == ContentEncoding::Gzip || raw.starts_with(&GZIP_MAGIC);
    if !gzipped {
        if raw.len() > max {
            return Err(DecodeError::BodyTooLarge { max });
        }
        return Ok(Cow::Borrowed(raw));
    }
    gunzip_limited(raw, max).map(Cow::Owned)
}

/// Decompresses gzip data, refusing output over `max` bytes without producing it.
pub fn gunzip_limited(raw: &[u8], max: usize) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(raw.len().saturating_mul(4).min(max));
    // Read one byte past the cap to tell "exactly max" from "over max".
    GzDecoder::new(raw)
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::BadCompression(e.to_string()))?;
    if out.len() > max {
        return Err(DecodeError::BodyTooLarge { max });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn gzip_is_detected_by_magic_bytes_without_a_header() {
        let body = gzip(br#"{"event":"x"}"#);
        let out = decode_body(&body, ContentEncoding::Identity, 1000).unwrap();
        assert_eq!(&*out, br#"{"event":"x"}"#);
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_limit() {
        let body = gzip(&vec![b' '; 10_000_000]);
        assert!(body.len() < 100_000);
        let err = decode_body(&body, ContentEncoding::Gzip, 1_000_000).unwrap_err();
        assert_eq!(err.code(), "body_too_large");
    }

    #[test]
    fn plain_bodies_over_the_limit_are_refused() {
        let err = decode_body(&[b'a'; 11], ContentEncoding::Identity, 10).unwrap_err();
        assert_eq!(err.code(), "body_too_large");
        assert!(decode_body(&[b'a'; 10], ContentEncoding::Identity, 10).is_ok());
    }

    #[test]
    fn unknown_encodings_are_named() {
        let err = ContentEncoding::from_header(Some("br")).unwrap_err();
        assert_eq!(err.code(), "unsupported_encoding");
    }
}
