//! Events as one Arrow record batch in the `events` table's column order, for the
//! columnar append path: one append per batch instead of one per row; DuckDB
//! casts the JSON column as a vector rather than value by value, and takes the
//! uuids as the 16 bytes they are.

use crate::definitions::Definitions;
use duckdb::arrow::array::{
    Array, ArrayRef, BooleanArray, FixedSizeBinaryArray, Int64Array, StringBuilder,
    TimestampMicrosecondArray,
};
use duckdb::arrow::buffer::Buffer;
use duckdb::arrow::datatypes::{Field, Schema};
use duckdb::arrow::record_batch::RecordBatch;
use std::collections::HashMap;
use std::sync::Arc;
use tally_core::{Event, StoreError};

/// Builds the batch; `events` are in the order they will be stored. Each event's
/// properties are added to `definitions` in the same pass that writes them as
/// JSON: a second pass over a batch of 100,000 events found them out of cache.
pub fn record_batch<'a>(
    events: &[&'a Event],
    definitions: &mut Definitions<'a>,
) -> Result<RecordBatch, StoreError> {
    // Sized up front: collecting an iterator into a `StringArray` grows its value
    // buffer as it goes, which was a quarter of this function's time.
    let text = |f: fn(&Event) -> Option<&str>| -> ArrayRef {
        let bytes = events.iter().map(|e| f(e).map_or(0, str::len)).sum();
        let mut column = StringBuilder::with_capacity(events.len(), bytes);
        for e in events {
            column.append_option(f(e));
        }
        Arc::new(column.finish())
    };
    // The properties' text as held since capture: copied, not serialized. Sized by
    // a guess, not by a pass over the events first: a large batch is out of the
    // CPU's cache, and that pass alone cost more than the copying.
    let mut properties = StringBuilder::with_capacity(events.len(), events.len() * 256);
    for e in events {
        definitions.add(e);
        properties.append_value(e.properties.json());
    }
    // As 16 bytes tagged `arrow.uuid`, which the appender writes into the UUID
    // column as it is: as text, DuckDB parsed every uuid back (2 % of the
    // server's CPU under ingest load).
    let mut uuids = Vec::with_capacity(events.len() * 16);
    for e in events {
        uuids.extend_from_slice(e.uuid.as_bytes());
    }
    let uuids = FixedSizeBinaryArray::new(UUID_BYTES, Buffer::from_vec(uuids), None);
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
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, column)| {
            let field = Field::new(*name, column.data_type().clone(), column.null_count() > 0);
            if *name == "uuid" {
                field.with_metadata(HashMap::from([(
                    EXTENSION_NAME_KEY.to_owned(),
                    UUID_EXTENSION.to_owned(),
                )]))
            } else {
                field
            }
        })
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, column)| column).collect(),
    )
    .map_err(|err| StoreError::Internal(err.to_string()))
}

/// Arrow's extension type for UUIDs, which duckdb-rs maps to DuckDB's `UUID`.
const EXTENSION_NAME_KEY: &str = "ARROW:extension:name";
const UUID_EXTENSION: &str = "arrow.uuid";
const UUID_BYTES: i32 = 16;

fn micros(events: &[&Event], f: fn(&Event) -> chrono::DateTime<chrono::Utc>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter_values(
        events.iter().map(|e| f(e).timestamp_micros()),
    ))
}
