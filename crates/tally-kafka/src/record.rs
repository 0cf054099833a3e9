//! The layout of one event on the topic.
//!
//! - **Key**: the project id (8 bytes, big-endian) followed by the distinct id's
//!   UTF-8 bytes. Partitioned with `murmur2_random` (the Java client's hash), so
//!   every event of one person in one project lands on one partition, in order,
//!   whichever client produced it.
//! - **Value**: one version byte, then the body. Version 1's body is the spool's
//!   event encoding (`tally_pipeline::codec::encode_batch`: a little-endian u32
//!   count, then each event's fields length-prefixed; properties as JSON text),
//!   holding exactly one event when Tally writes it; a reader takes any count.
//!   The raw client address is not in it: capture has turned it into the daily
//!   hash and the GeoIP fields before (invariant 6).
//!
//! Guarantees: [`decode`] of [`encode`] gives the event back as capture filled it
//! (`is_bot` is the worker's to decide); a value whose version is newer than this
//! build knows is reported as [`RecordError::NewerVersion`], never guessed at, so
//! a worker older than the capture nodes stops instead of misreading events.

use tally_core::Event;
use tally_pipeline::codec::{decode_batch, encode_batch, CodecError};
use thiserror::Error;

/// The version byte this build writes.
pub const VERSION: u8 = 1;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RecordError {
    #[error("empty record value")]
    Empty,
    #[error("record format version {0} is newer than this Tally understands (it reads {VERSION}): upgrade the workers")]
    NewerVersion(u8),
    #[error("record format version {0} is unknown")]
    UnknownVersion(u8),
    #[error("damaged record: {0}")]
    Damaged(#[from] CodecError),
}

/// The record key of `event`.
pub fn key(event: &Event, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&event.project_id.to_be_bytes());
    out.extend_from_slice(event.distinct_id.as_bytes());
}

/// The record value of `event`.
pub fn encode(event: &Event, out: &mut Vec<u8>) {
    out.clear();
    out.push(VERSION);
    encode_batch(std::iter::once(event), out);
}

/// The events a record value holds.
pub fn decode(value: &[u8]) -> Result<Vec<Event>, RecordError> {
    match value.split_first() {
        None => Err(RecordError::Empty),
        Some((&VERSION, body)) => Ok(decode_batch(body)?),
        Some((&0, _)) => Err(RecordError::UnknownVersion(0)),
        Some((&v, _)) => Err(RecordError::NewerVersion(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn event() -> Event {
        let mut e = Event::new(
            7,
            uuid::Uuid::from_u128(42),
            "signup",
            "alice",
            chrono::Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
        );
        e.url = Some("https://example.com/a".into());
        e.country = Some("DE".into());
        e.properties.insert_str("plan", "pro");
        e
    }

    #[test]
    fn a_record_gives_its_event_back() {
        let mut value = Vec::new();
        encode(&event(), &mut value);
        assert_eq!(value[0], VERSION);
        assert_eq!(decode(&value).unwrap(), vec![event()]);
    }

    #[test]
    fn the_key_is_project_then_distinct_id() {
        let mut k = Vec::new();
        key(&event(), &mut k);
        assert_eq!(&k[..8], &7i64.to_be_bytes());
        assert_eq!(&k[8..], b"alice");
    }

    #[test]
    fn other_versions_and_damage_are_told_apart() {
        let mut value = Vec::new();
        encode(&event(), &mut value);
        value[0] = 2;
        assert_eq!(decode(&value), Err(RecordError::NewerVersion(2)));
        value[0] = 0;
        assert_eq!(decode(&value), Err(RecordError::UnknownVersion(0)));
        assert_eq!(decode(&[]), Err(RecordError::Empty));
        value[0] = VERSION;
        value.truncate(value.len() - 3);
        assert!(matches!(decode(&value), Err(RecordError::Damaged(_))));
    }
}
