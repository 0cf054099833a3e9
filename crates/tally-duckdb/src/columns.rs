//! Events as one Arrow record batch in the `events` table's column order, for the
//! columnar append path: one append per batch instead of one per row, and DuckDB
//! casts each text column (uuid, JSON) as a vector rather than value by value.

use duckdb::arrow::array::{
    ArrayRef, BooleanArray, Int64Array, StringArray, TimestampMicrosecondArray,
};
use duckdb::arrow::record_batch::RecordBatch;
use std::sync::Arc;
use tally_core::{Event, StoreError};

/// Builds the batch; `events` are in the order they will be stored.
pub fn record_batch(events: &[&Event]) -> Result<RecordBatch, StoreError> {
    let text = |f: fn(&Event) -> Option<&str>| -> ArrayRef {
        Arc::new(events.iter().map(|e| f(e)).collect::<StringArray>())
    };
    let properties = events
        .iter()
        .map(|e| serde_json::to_string(&e.properties).map(Some))
        .collect::<Result<StringArray, _>>()
        .map_err(|err| StoreError::Internal(err.to_string()))?;
    let uuids: StringArray = events.iter().map(|e| Some(e.uuid.to_string())).collect();
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "project_id",
            Arc::new(events.iter().map(|e| e.project_id).collect::<Int64Array>()),
        ),
        ("timestamp", micros(events, |e| e.timestamp)),
        ("event", text(|e| Some(e.event.as_str()))),
        ("distinct_id", text(|e| Some(e.distinct_id.as_str()))),
        ("uuid", Arc::new(uuids)),
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
        ("properties", Arc::new(properties)),
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
