//! Entry points of the fuzz targets in `fuzz/` and of their regression test
//! (`tests/fuzz_regressions.rs`): each feeds arbitrary bytes through one wire
//! format exactly as capture does — body decoding (gzip by magic), the format's
//! decoder, then validation of every decoded event — and checks what must hold
//! for any input:
//! - nothing panics (the fuzzer reports a panic as a crash);
//! - a decoded event never claims more bytes than the body's text (invalid UTF-8
//!   becomes U+FFFD, three bytes for one, so the text may be longer than the body);
//! - validation accepts or rejects each event with an error, never panics.
//!
//! For PostHog and Segment the first input byte picks the request's variant (query
//! string, content type, route) so the fuzzer reaches every decoding path.

use crate::{
    decode_body, parse_native, parse_posthog, parse_segment, parse_tlytics, ContentEncoding,
    RequestParts,
};
use chrono::{DateTime, Utc};
use tally_core::{EventError, FixedClock, Limits, RawEvent, Validator};

/// Bodies are limited as capture limits them, but smaller, so the fuzzer spends
/// its time on structure rather than size.
const MAX_BODY: usize = 1024 * 1024;

fn received_at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_348_800, 0).unwrap_or_default()
}

/// The length of the body as the decoders read it (invalid UTF-8 replaced).
fn text_len(body: &[u8]) -> usize {
    String::from_utf8_lossy(body).len()
}

/// Validates every decoded event and checks the size each claims.
fn check(body_len: usize, events: Vec<Result<RawEvent, EventError>>) {
    let limits = Limits {
        max_body_bytes: MAX_BODY,
        ..Limits::default()
    };
    let clock = FixedClock::new(received_at());
    let validator = Validator {
        limits: &limits,
        clock: &clock,
    };
    for raw in events.into_iter().flatten() {
        assert!(
            raw.encoded_len <= body_len,
            "an event of {} bytes from a body text of {body_len}",
            raw.encoded_len
        );
        let _ = validator.validate(1, raw);
    }
}

/// The body after content decoding; `None` when it does not decode.
fn plain(data: &[u8]) -> Option<Vec<u8>> {
    decode_body(data, ContentEncoding::Identity, MAX_BODY)
        .ok()
        .map(|b| b.into_owned())
}

/// Native capture (`POST /api/v1/capture`).
pub fn native(data: &[u8]) {
    let Some(body) = plain(data) else { return };
    if let Ok(payload) = parse_native(&body, chrono::Utc::now()) {
        check(text_len(&body), payload.events);
    }
}

/// PostHog capture. Byte 0 chooses the query string and content type.
pub fn posthog(data: &[u8]) {
    let Some((&variant, rest)) = data.split_first() else {
        return;
    };
    const QUERIES: [Option<&str>; 6] = [
        None,
        Some("compression=gzip-js&ver=1.0"),
        Some("compression=lz64"),
        Some("compression=base64"),
        Some("ip=1&_=1795348800000"),
        Some("data=eyJldmVudCI6ImEiLCJkaXN0aW5jdF9pZCI6ImQifQ%3D%3D"),
    ];
    const TYPES: [Option<&str>; 3] = [
        None,
        Some("application/x-www-form-urlencoded"),
        Some("text/plain"),
    ];
    let parts = RequestParts {
        query: QUERIES[usize::from(variant) % QUERIES.len()],
        content_type: TYPES[usize::from(variant / 8) % TYPES.len()],
    };
    let Some(body) = plain(rest) else { return };
    if let Ok(payload) = parse_posthog(parts, &body, received_at(), MAX_BODY) {
        // Form and base64 bodies decode to more bytes than were sent, never to
        // events larger than the limit.
        check(MAX_BODY.max(text_len(&body)), payload.events);
    }
}

/// Segment capture. Byte 0 chooses the route's implied message type.
pub fn segment(data: &[u8]) {
    let Some((&variant, rest)) = data.split_first() else {
        return;
    };
    const ROUTES: [Option<&str>; 7] = [
        None,
        Some("track"),
        Some("identify"),
        Some("page"),
        Some("screen"),
        Some("group"),
        Some("alias"),
    ];
    let implied = ROUTES[usize::from(variant) % ROUTES.len()];
    let Some(body) = plain(rest) else { return };
    if let Ok(payload) = parse_segment(&body, implied, received_at()) {
        check(text_len(&body), payload.events);
    }
}

/// Tlytics capture (`POST /events`, `POST /batch`).
pub fn tlytics(data: &[u8]) {
    let Some(body) = plain(data) else { return };
    let _ = crate::is_tlytics_batch(&body);
    if let Ok(payload) = parse_tlytics(&body, received_at()) {
        check(text_len(&body), payload.events);
    }
}
