//! Opaque keyset cursors for newest-first event pages: the position is the last
//! row's `(timestamp, uuid)`, so pages stay stable while new events arrive.

use crate::error::QueryError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub timestamp: DateTime<Utc>,
    pub uuid: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "v1:{}:{}",
            self.timestamp.timestamp_micros(),
            self.uuid.simple()
        ))
    }

    pub fn decode(text: &str) -> Result<Self, QueryError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| QueryError::InvalidCursor)?;
        let text = String::from_utf8(bytes).map_err(|_| QueryError::InvalidCursor)?;
        let mut parts = text.split(':');
        let (Some("v1"), Some(micros), Some(uuid), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(QueryError::InvalidCursor);
        };
        let micros: i64 = micros.parse().map_err(|_| QueryError::InvalidCursor)?;
        Ok(Self {
            timestamp: DateTime::from_timestamp_micros(micros).ok_or(QueryError::InvalidCursor)?,
            uuid: Uuid::parse_str(uuid).map_err(|_| QueryError::InvalidCursor)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let c = Cursor {
            timestamp: DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap(),
            uuid: Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
    }

    #[test]
    fn rejects_tampered_cursors() {
        for bad in ["", "!!", "djE6MTIz", &URL_SAFE_NO_PAD.encode("v2:1:abc")] {
            assert_eq!(Cursor::decode(bad), Err(QueryError::InvalidCursor), "{bad}");
        }
    }
}
