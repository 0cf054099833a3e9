//! The spool's byte format: framed, checksummed records of event batches.
//!
//! A segment file is [`SEGMENT_MAGIC`] followed by frames. A frame is
//! `len: u32 LE | crc32(payload): u32 LE | payload`; one frame holds one group
//! commit. Guarantees:
//! - [`scan_frames`] returns exactly the frames written whole and unaltered, in
//!   order, and stops at the first frame that is cut short (a write the process
//!   did not finish) or fails its checksum; it never returns a damaged payload.
//! - [`decode_batch`] of [`encode_batch`] gives back equal events, as far as
//!   capture fills them: `is_bot` is decided by the processing stage behind the
//!   spool, so it is not recorded and reads back `false`.
//!
//! Everything is little-endian and length-prefixed; the version lives in the magic,
//! so a future format gets a new magic rather than a guess.

use chrono::{DateTime, Utc};
use tally_core::{Event, Properties};
use thiserror::Error;
use uuid::Uuid;

/// First bytes of every segment file (format version 1).
pub const SEGMENT_MAGIC: &[u8; 8] = b"TLYSPL01";
/// Frame header: payload length and checksum.
pub const FRAME_HEADER: usize = 8;
/// A payload larger than this is treated as damage, not as a frame to allocate.
pub const MAX_PAYLOAD: usize = 1 << 30;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("record ends early")]
    Truncated,
    #[error("record field is invalid: {0}")]
    Invalid(&'static str),
}

/// Appends one frame holding `payload` to `out` (tests write frames of any
/// bytes with it; the spool writes [`push_batch_frame`]).
#[cfg(test)]
pub fn push_frame(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&header(payload));
    out.extend_from_slice(payload);
}

/// Appends one frame whose payload is `events` as [`encode_batch`] writes them:
/// the same bytes as [`push_frame`] of that payload, encoded in place rather
/// than in a buffer of its own and then copied (every spooled byte, once more).
pub fn push_batch_frame<'a>(out: &mut Vec<u8>, events: impl ExactSizeIterator<Item = &'a Event>) {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER]);
    encode_batch(events, out);
    let header = header(&out[start + FRAME_HEADER..]);
    out[start..start + FRAME_HEADER].copy_from_slice(&header);
}

/// A frame's header for `payload`: its length, then its checksum.
fn header(payload: &[u8]) -> [u8; FRAME_HEADER] {
    let len = u32::try_from(payload.len()).expect("payload below MAX_PAYLOAD");
    let mut header = [0; FRAME_HEADER];
    header[..4].copy_from_slice(&len.to_le_bytes());
    header[4..].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
    header
}

/// What [`scan_frames`] found.
#[derive(Debug, PartialEq, Eq)]
pub struct Scan<'a> {
    /// The intact frames' payloads, in order.
    pub payloads: Vec<&'a [u8]>,
    /// Bytes covered by intact frames, from the start of `bytes`.
    pub valid_len: usize,
    /// Why scanning stopped before the end, if it did.
    pub stop: Option<ScanStop>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanStop {
    /// The last frame is cut short: a write that never completed.
    TornTail,
    /// A complete frame whose checksum or length is wrong: damage.
    Corrupt,
}

/// Reads frames from the start of `bytes` (after the segment magic).
pub fn scan_frames(bytes: &[u8]) -> Scan<'_> {
    let mut payloads = Vec::new();
    let mut at = 0;
    let stop = loop {
        let rest = &bytes[at..];
        if rest.is_empty() {
            break None;
        }
        if rest.len() < FRAME_HEADER {
            break Some(ScanStop::TornTail);
        }
        let len = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
        if len > MAX_PAYLOAD {
            break Some(ScanStop::Corrupt);
        }
        let Some(payload) = rest.get(FRAME_HEADER..FRAME_HEADER + len) else {
            break Some(ScanStop::TornTail);
        };
        if crc32fast::hash(payload) != crc {
            break Some(ScanStop::Corrupt);
        }
        payloads.push(payload);
        at += FRAME_HEADER + len;
    };
    Scan {
        payloads,
        valid_len: at,
        stop,
    }
}

/// Encodes a batch of events as one payload.
pub fn encode_batch<'a>(events: impl ExactSizeIterator<Item = &'a Event>, out: &mut Vec<u8>) {
    put_u32(out, events.len());
    for e in events {
        encode_event(e, out);
    }
}

/// Decodes a payload written by [`encode_batch`].
pub fn decode_batch(mut bytes: &[u8]) -> Result<Vec<Event>, CodecError> {
    let n = take_u32(&mut bytes)? as usize;
    // Every event takes at least 60 bytes, so a count beyond that is damage, and
    // capping the reservation keeps a bad count from allocating wildly.
    let mut events = Vec::with_capacity(n.min(bytes.len() / 60 + 1));
    for _ in 0..n {
        events.push(decode_event(&mut bytes)?);
    }
    if !bytes.is_empty() {
        return Err(CodecError::Invalid("bytes after the last event"));
    }
    Ok(events)
}

fn encode_event(e: &Event, out: &mut Vec<u8>) {
    out.extend_from_slice(e.uuid.as_bytes());
    out.extend_from_slice(&e.project_id.to_le_bytes());
    out.extend_from_slice(&e.timestamp.timestamp_micros().to_le_bytes());
    out.extend_from_slice(&e.received_at.timestamp_micros().to_le_bytes());
    put_str(out, &e.event);
    put_str(out, &e.distinct_id);
    for field in optional_texts(e) {
        match field {
            Some(s) => {
                out.push(1);
                put_str(out, s);
            }
            None => out.push(0),
        }
    }
    match e.person_id {
        Some(id) => {
            out.push(1);
            out.extend_from_slice(&id.to_le_bytes());
        }
        None => out.push(0),
    }
    // The properties' text as it is held: never serialized again.
    put_str(out, e.properties.json());
}

fn optional_texts(e: &Event) -> [Option<&str>; 8] {
    [
        e.url.as_deref(),
        e.path.as_deref(),
        e.referrer.as_deref(),
        e.session_id.as_deref(),
        e.browser.as_deref(),
        e.os.as_deref(),
        e.device.as_deref(),
        e.country.as_deref(),
    ]
}

fn decode_event(bytes: &mut &[u8]) -> Result<Event, CodecError> {
    let uuid = Uuid::from_bytes(take::<16>(bytes)?);
    let project_id = i64::from_le_bytes(take::<8>(bytes)?);
    let timestamp = take_time(bytes)?;
    let received_at = take_time(bytes)?;
    let mut e = Event::new(
        project_id,
        uuid,
        take_str(bytes)?,
        take_str(bytes)?,
        timestamp,
    );
    e.received_at = received_at;
    let mut texts: [Option<String>; 8] = Default::default();
    for slot in &mut texts {
        *slot = take_option(bytes, take_str)?;
    }
    let [url, path, referrer, session_id, browser, os, device, country] = texts;
    e.url = url;
    e.path = path;
    e.referrer = referrer;
    e.session_id = session_id;
    e.browser = browser;
    e.os = os;
    e.device = device;
    e.country = country;
    e.person_id = take_option(bytes, |b| Ok(i64::from_le_bytes(take::<8>(b)?)))?;
    let properties = take_bytes(bytes)?;
    e.properties = std::str::from_utf8(properties)
        .ok()
        .and_then(|text| Properties::from_json(text).ok())
        .ok_or(CodecError::Invalid("properties"))?;
    Ok(e)
}

fn put_u32(out: &mut Vec<u8>, n: usize) {
    let n = u32::try_from(n).expect("lengths in a record fit in u32");
    out.extend_from_slice(&n.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u32(out, b.len());
    out.extend_from_slice(b);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

fn take<const N: usize>(bytes: &mut &[u8]) -> Result<[u8; N], CodecError> {
    let (head, rest) = bytes.split_at_checked(N).ok_or(CodecError::Truncated)?;
    *bytes = rest;
    Ok(head.try_into().expect("split at N"))
}

fn take_u32(bytes: &mut &[u8]) -> Result<u32, CodecError> {
    Ok(u32::from_le_bytes(take::<4>(bytes)?))
}

fn take_bytes<'a>(bytes: &mut &'a [u8]) -> Result<&'a [u8], CodecError> {
    let len = take_u32(bytes)? as usize;
    let (head, rest) = bytes.split_at_checked(len).ok_or(CodecError::Truncated)?;
    *bytes = rest;
    Ok(head)
}

fn take_str(bytes: &mut &[u8]) -> Result<String, CodecError> {
    let raw = take_bytes(bytes)?;
    String::from_utf8(raw.to_vec()).map_err(|_| CodecError::Invalid("text is not UTF-8"))
}

fn take_time(bytes: &mut &[u8]) -> Result<DateTime<Utc>, CodecError> {
    let micros = i64::from_le_bytes(take::<8>(bytes)?);
    DateTime::from_timestamp_micros(micros).ok_or(CodecError::Invalid("timestamp"))
}

fn take_option<T>(
    bytes: &mut &[u8],
    value: impl FnOnce(&mut &[u8]) -> Result<T, CodecError>,
) -> Result<Option<T>, CodecError> {
    match take::<1>(bytes)?[0] {
        0 => Ok(None),
        1 => value(bytes).map(Some),
        _ => Err(CodecError::Invalid("presence tag")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    fn text() -> impl Strategy<Value = String> {
        // Any Unicode, including empty strings and multi-byte characters.
        ".{0,40}"
    }

    fn properties() -> impl Strategy<Value = Map<String, Value>> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            (-1e12f64..1e12).prop_map(Value::from),
            text().prop_map(Value::String),
        ];
        let value = leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(text(), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        });
        prop::collection::btree_map(text(), value, 0..5).prop_map(|m| m.into_iter().collect())
    }

    prop_compose! {
        fn event()(
            uuid in any::<u128>(),
            project_id in any::<i64>(),
            ts in -62_000_000_000_000_000i64..250_000_000_000_000_000,
            received in 0i64..4_000_000_000_000_000,
            name in text(),
            distinct_id in text(),
            texts in prop::array::uniform8(prop::option::of(text())),
            person_id in prop::option::of(any::<i64>()),
            properties in properties(),
        ) -> Event {
            let mut e = Event::new(
                project_id,
                Uuid::from_u128(uuid),
                name,
                distinct_id,
                DateTime::from_timestamp_micros(ts).unwrap(),
            );
            e.received_at = DateTime::from_timestamp_micros(received).unwrap();
            let [url, path, referrer, session_id, browser, os, device, country] = texts;
            (e.url, e.path, e.referrer, e.session_id) = (url, path, referrer, session_id);
            (e.browser, e.os, e.device, e.country) = (browser, os, device, country);
            e.person_id = person_id;
            e.properties = properties.into();
            e
        }
    }

    fn batches() -> impl Strategy<Value = Vec<Vec<Event>>> {
        prop::collection::vec(prop::collection::vec(event(), 0..5), 1..5)
    }

    fn framed(batches: &[Vec<Event>]) -> (Vec<u8>, Vec<usize>) {
        let mut out = Vec::new();
        let mut ends = Vec::new();
        for b in batches {
            let mut payload = Vec::new();
            encode_batch(b.iter(), &mut payload);
            push_frame(&mut out, &payload);
            ends.push(out.len());
        }
        (out, ends)
    }

    proptest! {
        #[test]
        fn a_frame_encoded_in_place_equals_the_frame_of_its_payload(
            batches in batches(),
            already in prop::collection::vec(any::<u8>(), 0..16),
        ) {
            // Frames go after whatever `out` holds already.
            let mut copied = already.clone();
            let mut in_place = already;
            for b in &batches {
                let mut payload = Vec::new();
                encode_batch(b.iter(), &mut payload);
                push_frame(&mut copied, &payload);
                push_batch_frame(&mut in_place, b.iter());
            }
            prop_assert_eq!(in_place, copied);
        }

        #[test]
        fn a_batch_decodes_to_equal_events(batch in prop::collection::vec(event(), 0..8)) {
            let mut payload = Vec::new();
            encode_batch(batch.iter(), &mut payload);
            prop_assert_eq!(decode_batch(&payload).unwrap(), batch);
        }

        #[test]
        fn a_cut_log_yields_exactly_the_whole_frames_before_the_cut(
            batches in batches(),
            cut_frac in 0.0f64..=1.0,
        ) {
            let (bytes, ends) = framed(&batches);
            let cut = (bytes.len() as f64 * cut_frac) as usize;
            let scan = scan_frames(&bytes[..cut]);
            let whole = ends.iter().filter(|&&end| end <= cut).count();
            prop_assert_eq!(scan.payloads.len(), whole);
            prop_assert_eq!(scan.valid_len, if whole == 0 { 0 } else { ends[whole - 1] });
            let expected_stop = if scan.valid_len == cut { None } else { Some(ScanStop::TornTail) };
            prop_assert_eq!(scan.stop, expected_stop);
            for (payload, batch) in scan.payloads.iter().zip(&batches) {
                prop_assert_eq!(&decode_batch(payload).unwrap(), batch);
            }
        }

        #[test]
        fn a_flipped_bit_never_yields_a_damaged_payload(
            batches in batches(),
            at_frac in 0.0f64..1.0,
            bit in 0u8..8,
        ) {
            let (mut bytes, ends) = framed(&batches);
            let at = (bytes.len() as f64 * at_frac) as usize;
            bytes[at] ^= 1 << bit;
            let scan = scan_frames(&bytes);
            // Frames before the damaged one come back intact; the damaged one and
            // everything after it do not come back at all.
            let before = ends.iter().filter(|&&end| end <= at).count();
            prop_assert_eq!(scan.payloads.len(), before);
            prop_assert!(scan.stop.is_some());
            for (payload, batch) in scan.payloads.iter().zip(&batches) {
                prop_assert_eq!(&decode_batch(payload).unwrap(), batch);
            }
        }
    }

    #[test]
    fn a_garbage_count_is_an_error_not_an_allocation() {
        let payload = u32::MAX.to_le_bytes();
        assert_eq!(decode_batch(&payload), Err(CodecError::Truncated));
    }
}
