//! Tally's Rust SDK.
//!
//! [`Client`] queues events in memory (bounded) and a background task sends
//! them to Tally's `POST /api/v1/capture` in gzipped batches, by size and by
//! interval, retrying network errors, 5xx and 429 with exponential backoff.
//! [`Client::emit`] never blocks and never panics: when the queue is full the
//! event is dropped and counted. Each event gets its uuid when it is made, so a
//! retried batch is stored once. [`Client::flush`] and [`Client::close`] deliver
//! what is queued.
//!
//! [`TallyLayer`] is a tower layer for axum that records one event per request
//! (method, matched route, status, latency, user agent); [`Client::track`] makes
//! a layer that records a named event with properties for the routes it wraps.
//! The contract shared with Tally's other SDKs is in `docs/SDKS.md`.

mod client;
mod event;
mod layer;

pub use client::{Client, Config, Stats};
pub use event::Event;
pub use layer::{TallyLayer, TallyService, TrackLayer};
