//! The axum application: capture and query routes, key authentication, health,
//! and the single mapping from errors to HTTP responses (`error.rs`). It holds
//! every backend as a trait object in [`AppState`], so backends change without
//! touching a route.

mod auth;
mod error;
mod routes;

pub use error::ApiError;

use axum::Router;
use std::sync::Arc;
use std::time::Instant;
use tally_core::{Clock, EventSink, EventStore, Limits, MetadataStore};
use tally_query::QueryEngine;

/// Everything a request handler may use.
#[derive(Clone)]
pub struct AppState {
    pub meta: Arc<dyn MetadataStore>,
    pub sink: Arc<dyn EventSink>,
    pub store: Arc<dyn EventStore>,
    pub query: Arc<dyn QueryEngine>,
    pub clock: Arc<dyn Clock>,
    pub limits: Arc<Limits>,
    /// The port the server listens on, reported by `/health`.
    pub port: u16,
    pub started: Instant,
}

/// Builds the router with every route and middleware.
pub fn router(state: AppState) -> Router {
    routes::router(state)
}
