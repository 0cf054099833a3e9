//! Events as one Arrow record batch in the `events` table's column order, for the
//! columnar append path: one append per batch instead of one per row, and DuckDB
//! casts each text column (uuid, JSON) as a vector rather than value by value.

use duckdb::arrow::array::{
    ArrayRef, BooleanArray, Int64Array, StringArray, StringBuilder, TimestampMicrosecondArray,
};
use duckdb::arrow::record_batch::RecordBatch;
use std::sync::Arc;
use tally_core::{Event, StoreError};
use uuid::Uuid;

/// Builds the batch; `events` are in the order they will be stored.
pub fn record_batch(events: &[&Event]) -> Result<RecordBatch, StoreError> {
    let text = |f: fn(&Event) -> Option<&str>| -> ArrayRef {
        Arc::new(events.iter().map(|e| f(e)).collect::<StringArray>())
    };
    // Both written into one buffer per column, not a String per event.
    let mut properties = StringBuilder::with_capacity(events.len(), events.len() * 256);
    let mut json = Vec::with_capacity(4096);
    for e in events {
        json.clear();
        serde_json::to_writer(&mut json, &e.properties)
            .map_err(|err| StoreError::Internal(err.to_string()))?;
        let json_text =
            std::str::from_utf8(&json).map_err(|err| StoreError::Internal(err.to_string()))?;
        properties.append_value(json_text);
    }
    let mut uuids = StringBuilder::with_capacity(events.len(), events.len() * 36);
    let mut uuid_text = Uuid::encode_buffer();
    for e in events {
        uuids.append_value(e.uuid.hyphenated().encode_lower(&mut uuid_text));
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "project_id",
            Arc::new(events.iter().map(|e| e.project_id).collect::<Int64Array>()),
        ),
        ("timestamp", micros(events, |e| e.timestamp)),
        ("event", text(|e| Some(e.event.as_str()))),
        ("distinct_id", text(|e| Some(e.distinct_id.as_str()))),
        ("uuid", Arc::new(uuids.finish())),
        ("received_at", micros(events, |e| e.received_at)),
        ("session_id", text(|e| e.session_id.as_deref())),
        (
            "person_id",
            Arc::new(events.iter().map(|e| e.person_id).collect::<Int64Array>()),
        ),
        ("url", text(|e| e.url.as_deref())),
        ("path", text(|e| e.path.as_deref())),
        ("referrer", text(|e| e.referrer.as_deref())),
        ("browser", text(|e| e.browser.as_deref())),
        ("os", text(|e| e.os.as_deref())),
        ("device", text(|e| e.device.as_deref())),
        ("country", text(|e| e.country.as_deref())),
        ("properties", Arc::new(properties.finish())),
        (
            "is_bot",
            Arc::new(
                events
                    .iter()
                    .map(|e| Some(e.is_bot))
                    .collect::<BooleanArray>(),
            ),
        ),
    ];
    RecordBatch::try_from_iter(columns).map_err(|err| StoreError::Internal(err.to_string()))
}

fn micros(events: &[&Event], f: fn(&Event) -> chrono::DateTime<chrono::Utc>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter_values(
        events.iter().map(|e| f(e).timestamp_micros()),
    ))
}
