//! Tower layers for axum: [`TallyLayer`] records one `$http_request` event per
//! request; [`TrackLayer`] records a named event for the routes it wraps.
//!
//! The distinct id is read from a header (`X-Tally-Distinct-Id` by default,
//! configurable), else it is `server`. Client addresses are never recorded.

use crate::client::Client;
use crate::event::Event;
use axum::extract::MatchedPath;
use axum::http::{header, Request, Response};
use serde_json::{Map, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tower::{Layer, Service};

const DEFAULT_ID_HEADER: &str = "x-tally-distinct-id";

/// Records `$http_request` with `method`, `route` (the matched route, e.g.
/// `/users/{id}`, never the raw path with its ids), `status`, `latency_ms` and
/// `$raw_user_agent`.
#[derive(Clone)]
pub struct TallyLayer {
    shared: Arc<Shared>,
}

struct Shared {
    client: Client,
    /// `None`: the per-request event; `Some`: a named event (TrackLayer).
    event: Option<String>,
    properties: Map<String, Value>,
    id_header: String,
}

impl TallyLayer {
    pub fn new(client: Client) -> Self {
        Self {
            shared: Arc::new(Shared {
                client,
                event: None,
                properties: Map::new(),
                id_header: DEFAULT_ID_HEADER.into(),
            }),
        }
    }

    /// Reads the distinct id from this request header instead.
    pub fn distinct_id_header(self, name: &str) -> Self {
        let mut shared = clone_shared(&self.shared);
        shared.id_header = name.to_ascii_lowercase();
        Self {
            shared: Arc::new(shared),
        }
    }
}

/// Records the named event with its properties for each request to the routes
/// it wraps (`.route_layer(client.track("signup").property("plan", "pro"))`),
/// with `route` and `status` added.
#[derive(Clone)]
pub struct TrackLayer {
    shared: Arc<Shared>,
}

impl TrackLayer {
    pub(crate) fn new(client: Client, event: String) -> Self {
        Self {
            shared: Arc::new(Shared {
                client,
                event: Some(event),
                properties: Map::new(),
                id_header: DEFAULT_ID_HEADER.into(),
            }),
        }
    }

    pub fn property(self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        let mut shared = clone_shared(&self.shared);
        shared.properties.insert(key.into(), value.into());
        Self {
            shared: Arc::new(shared),
        }
    }
}

fn clone_shared(s: &Shared) -> Shared {
    Shared {
        client: s.client.clone(),
        event: s.event.clone(),
        properties: s.properties.clone(),
        id_header: s.id_header.clone(),
    }
}

impl<S> Layer<S> for TallyLayer {
    type Service = TallyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TallyService {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S> Layer<S> for TrackLayer {
    type Service = TallyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TallyService {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The service both layers make.
#[derive(Clone)]
pub struct TallyService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S, B, R> Service<Request<B>> for TallyService<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let started = Instant::now();
        let method = request.method().to_string();
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map(|m| m.as_str().to_owned());
        let header_text = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let user_agent = header_text(header::USER_AGENT.as_str());
        let distinct_id = header_text(&self.shared.id_header).unwrap_or_else(|| "server".into());
        let shared = Arc::clone(&self.shared);
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            let status = response.status().as_u16();
            let mut event = Event::new(
                shared
                    .event
                    .clone()
                    .unwrap_or_else(|| "$http_request".into()),
                distinct_id,
            );
            event.properties = shared.properties.clone();
            event = event
                .property("route", route.map_or(Value::Null, Value::String))
                .property("status", status);
            if shared.event.is_none() {
                event = event
                    .property("method", method)
                    .property("latency_ms", started.elapsed().as_secs_f64() * 1000.0);
                if let Some(agent) = user_agent {
                    event = event.property("$raw_user_agent", agent);
                }
            }
            shared.client.emit(event);
            Ok(response)
        })
    }
}
