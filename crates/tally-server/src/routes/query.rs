//! The read API of one project: events, timeseries, top events, overview. Every
//! handler authorizes the key for the project in the path before querying.

use crate::auth::ProjectRead;
use crate::error::ApiError;
use crate::openapi::{ProjectPath, ReadErrors};
use crate::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::Duration;
use serde::Deserialize;
use tally_core::ProjectId;
use tally_query::types::{page_limit, parse_datetime, parse_tz};
use tally_query::*;
use utoipa::IntoParams;

fn params<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(t)| t)
        .map_err(|e| ApiError::BadParameter(e.body_text()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsParams {
    limit: Option<usize>,
    cursor: Option<String>,
    event: Option<String>,
    distinct_id: Option<String>,
    /// Any distinct id of a person: that person's events under all of its ids.
    person: Option<String>,
    after: Option<String>,
    before: Option<String>,
}

/// Events, newest first, keyset-paginated.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/events", tag = "query",
    params(ProjectPath, EventsParams),
    responses(
        (status = 200, body = EventsPage),
        ReadErrors,
    ),
    security(("personal_key" = []), ("session" = [])))]
pub async fn events(
    State(state): State<AppState>,
    ProjectRead(project_id): ProjectRead,
    query: Result<Query<EventsParams>, QueryRejection>,
) -> Result<Json<EventsPage>, ApiError> {
    let p = params(query)?;
    let q = EventsQuery {
        project_id,
        limit: page_limit(p.limit)?,
        cursor: p.cursor.as_deref().map(Cursor::decode).transpose()?,
        offset: 0,
        event: p.event,
        distinct_id: p.distinct_id,
        person: p.person,
        after: p
            .after
            .as_deref()
            .map(|t| parse_datetime(t, "after"))
            .transpose()?,
        before: p
            .before
            .as_deref()
            .map(|t| parse_datetime(t, "before"))
            .transpose()?,
    };
    Ok(Json(state.query_after_writes().await.events(q).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimeseriesParams {
    event: Option<String>,
    interval: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// IANA time zone of the buckets; default: the project's (settings).
    tz: Option<String>,
    math: Option<String>,
    /// Count bot traffic too; bots are left out by default.
    include_bots: Option<bool>,
    /// Only events with these dashboard-dimension values, a JSON object:
    /// `{"browser": "Chrome", "referrer": null}`.
    filter: Option<String>,
}

/// The range shown when none is asked for: enough buckets to see a shape.
fn default_span(interval: Interval) -> Duration {
    match interval {
        Interval::Minute | Interval::Hour => Duration::hours(24),
        Interval::Day => Duration::days(7),
        Interval::Week => Duration::weeks(12),
        Interval::Month => Duration::days(365),
    }
}

/// Event counts per time bucket in a time zone, zero-filled.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/timeseries", tag = "query",
    params(ProjectPath, TimeseriesParams),
    responses(
        (status = 200, body = Timeseries),
        ReadErrors,
    ),
    security(("personal_key" = []), ("session" = [])))]
pub async fn timeseries(
    State(state): State<AppState>,
    ProjectRead(project_id): ProjectRead,
    query: Result<Query<TimeseriesParams>, QueryRejection>,
) -> Result<Json<Timeseries>, ApiError> {
    let p = params(query)?;
    let interval: Interval = p.interval.as_deref().unwrap_or("day").parse()?;
    // The timeseries contract is hour..month; minutes are for trends queries.
    if interval == Interval::Minute {
        return Err(QueryError::InvalidInterval.into());
    }
    let math: Math = p.math.as_deref().unwrap_or("total").parse()?;
    let tz = match p.tz.filter(|t| !t.is_empty()) {
        Some(tz) => parse_tz(Some(&tz))?,
        None => parse_tz(Some(&project_timezone(&state, project_id).await?))?,
    };
    let range = TimeRange::resolve(
        p.from.as_deref(),
        p.to.as_deref(),
        state.clock.now(),
        default_span(interval),
        tz,
    )?;
    let mut q = TimeseriesQuery::new(
        project_id,
        p.event.filter(|e| !e.is_empty()),
        interval,
        range,
        tz,
        math,
    )?;
    q.include_bots = p.include_bots.unwrap_or(false);
    q.filters = dimension_filters(p.filter.as_deref())?;
    Ok(Json(state.query_after_writes().await.timeseries(q).await?))
}

/// The `filter` parameter of the dashboard's GETs (absent or empty: none).
fn dimension_filters(text: Option<&str>) -> Result<tally_query::top::DimensionFilters, ApiError> {
    match text.filter(|t| !t.trim().is_empty()) {
        Some(t) => Ok(tally_query::top::DimensionFilters::parse(t)?),
        None => Ok(Default::default()),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeParams {
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
    /// Count bot traffic too; bots are left out by default.
    include_bots: Option<bool>,
    /// `overview` and `top/{dimension}`: only events with these dashboard-dimension
    /// values, a JSON object: `{"browser": "Chrome", "referrer": null}`.
    filter: Option<String>,
}

/// The most frequent events of a range.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/top-events", tag = "query",
    params(ProjectPath, RangeParams),
    responses(
        (status = 200, body = TopEvents),
        ReadErrors,
    ),
    security(("personal_key" = []), ("session" = [])))]
pub async fn top_events(
    State(state): State<AppState>,
    ProjectRead(project_id): ProjectRead,
    query: Result<Query<RangeParams>, QueryRejection>,
) -> Result<Json<TopEvents>, ApiError> {
    let p = params(query)?;
    let range = TimeRange::resolve(
        p.from.as_deref(),
        p.to.as_deref(),
        state.clock.now(),
        Duration::days(7),
        // These routes take no zone: bare dates are UTC days.
        chrono_tz::Tz::UTC,
    )?;
    let limit = match p.limit {
        None => 20,
        some => page_limit(some)?,
    };
    Ok(Json(
        state
            .query_after_writes()
            .await
            .top_events(TopEventsQuery {
                project_id,
                range,
                limit,
                include_bots: p.include_bots.unwrap_or(false),
            })
            .await?,
    ))
}

/// Events and unique users of a range and of the range before it.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/overview", tag = "query",
    params(ProjectPath, RangeParams),
    responses(
        (status = 200, body = Overview),
        ReadErrors,
    ),
    security(("personal_key" = []), ("session" = [])))]
pub async fn overview(
    State(state): State<AppState>,
    ProjectRead(project_id): ProjectRead,
    query: Result<Query<RangeParams>, QueryRejection>,
) -> Result<Json<Overview>, ApiError> {
    let p = params(query)?;
    let range = TimeRange::resolve(
        p.from.as_deref(),
        p.to.as_deref(),
        state.clock.now(),
        Duration::days(7),
        // These routes take no zone: bare dates are UTC days.
        chrono_tz::Tz::UTC,
    )?;
    Ok(Json(
        state
            .query_after_writes()
            .await
            .overview(OverviewQuery {
                project_id,
                range,
                include_bots: p.include_bots.unwrap_or(false),
                filters: dimension_filters(p.filter.as_deref())?,
            })
            .await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionsParams {
    from: Option<String>,
    to: Option<String>,
    /// Sessions per page (default 50, ≤ 1000).
    limit: Option<usize>,
    /// Sessions to skip (for pages).
    offset: Option<usize>,
    /// Minutes without an event that end a session (default 30, 1–1440).
    inactivity_minutes: Option<i64>,
    /// Count bot traffic too; bots are left out by default.
    include_bots: Option<bool>,
    /// `start` (default), `duration`, `events` or `pageviews`.
    sort: Option<String>,
    /// `desc` (default) or `asc`.
    order: Option<String>,
}

fn inactivity(minutes: Option<i64>) -> Result<Duration, ApiError> {
    let minutes = minutes.unwrap_or(30);
    if !(1..=1440).contains(&minutes) {
        return Err(ApiError::BadParameter(
            "inactivity_minutes must be between 1 and 1440".into(),
        ));
    }
    Ok(Duration::minutes(minutes))
}

/// Sessions that start in a range with their facts, newest first or sorted.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/sessions", tag = "query",
    params(ProjectPath, SessionsParams),
    responses(
        (status = 200, body = SessionsPage),
        ReadErrors,
    ),
    security(("personal_key" = []), ("session" = [])))]
pub async fn sessions(
    State(state): State<AppState>,
    ProjectRead(project_id): ProjectRead,
    query: Result<Query<SessionsParams>, QueryRejection>,
) -> Result<Json<SessionsPage>, ApiError> {
    let p = params(query)?;
    let range = TimeRange::resolve(
        p.from.as_deref(),
        p.to.as_deref(),
        state.clock.now(),
        Duration::days(7),
        // These routes take no zone: bare dates are UTC days.
        chrono_tz::Tz::UTC,
    )?;
    let limit = match p.limit {
        None => 50,
        some => page_limit(some)?,
    };
    let q = SessionsQuery {
        project_id,
        range,
        inactivity: inactivity(p.inactivity_minutes)?,
        limit,
        offset: p.offset.unwrap_or(0),
        include_bots: p.include_bots.unwrap_or(false),
        sort: p.sort.as_deref().unwrap_or("start").parse()?,
        descending: match p.order.as_deref() {
            None | Some("desc") => true,
            Some("asc") => false,
            Some(_) => return Err(ApiError::BadParameter("order must be asc or desc".into())),
        },
    };
    Ok(Json(state.query_after_writes().await.sessions(q).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionParams {
    /// For sessions derived from inactivity: the limit the list used (default 30).
    inactivity_minutes: Option<i64>,
}

/// One session's events, oldest first (at most 1000), by the id the sessions
/// list gives.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/sessions/{session_id}", tag = "query",
    params(ProjectPath, ("session_id" = String, Path, description = "An `id` from the sessions list"), SessionParams),
    responses(
        (status = 200, body = tally_query::sessions::SessionTimeline),
        ReadErrors,
    ),
    security(("personal_key" = []), ("session" = [])))]
pub async fn session(
    State(state): State<AppState>,
    ProjectRead(project_id): ProjectRead,
    Path((_, id)): Path<(ProjectId, String)>,
    query: Result<Query<SessionParams>, QueryRejection>,
) -> Result<Json<tally_query::sessions::SessionTimeline>, ApiError> {
    let p = params(query)?;
    let q = tally_query::sessions::SessionEventsQuery {
        project_id,
        id,
        inactivity: inactivity(p.inactivity_minutes)?,
    };
    state
        .query_after_writes()
        .await
        .session_events(q)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DefinitionsParams {
    /// `event` (default) or `property`.
    kind: Option<String>,
    /// Only names containing this text (case-insensitive).
    search: Option<String>,
    /// Default 100, ≤ 1000.
    limit: Option<usize>,
}

/// The event names or property keys the project has sent, most used first, with
/// type, first and last seen, and count.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/definitions", tag = "query",
    params(ProjectPath, DefinitionsParams),
    responses(
        (status = 200, body = Definitions),
        ReadErrors,
    ),
    security(("personal_key" = []), ("session" = [])))]
pub async fn definitions(
    State(state): State<AppState>,
    ProjectRead(project_id): ProjectRead,
    query: Result<Query<DefinitionsParams>, QueryRejection>,
) -> Result<Json<Definitions>, ApiError> {
    let p = params(query)?;
    let q = DefinitionsQuery {
        project_id,
        kind: p.kind.as_deref().unwrap_or("event").parse()?,
        search: p.search.filter(|s| !s.is_empty()),
        limit: match p.limit {
            None => 100,
            some => page_limit(some)?,
        },
    };
    Ok(Json(state.query_after_writes().await.definitions(q).await?))
}

/// The person behind a distinct id: all of its ids (merged by `$identify` and
/// aliases), first and last seen, and its current properties.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/persons/{distinct_id}", tag = "query",
    params(ProjectPath, ("distinct_id" = String, Path, description = "Any of the person's distinct ids")),
    responses(
        (status = 200, body = PersonRecord),
        ReadErrors,
    ),
    security(("personal_key" = []), ("session" = [])))]
pub async fn person(
    State(state): State<AppState>,
    ProjectRead(project_id): ProjectRead,
    Path((_, distinct_id)): Path<(ProjectId, String)>,
) -> Result<Json<PersonRecord>, ApiError> {
    let q = PersonQuery {
        project_id,
        distinct_id,
    };
    state
        .query_after_writes()
        .await
        .person(q)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound)
}

/// Kinds `POST /query` answers so far.
const QUERY_KINDS: &[&str] = &[
    "trends",
    "funnel",
    "retention",
    "paths",
    "stickiness",
    "lifecycle",
    "persons",
    "realtime",
];

/// The answer of any kind (each carries its own `kind`).
#[derive(serde::Serialize)]
#[serde(untagged)]
pub enum QueryAnswer {
    Trends(tally_query::trends::TrendsAnswer),
    Funnel(tally_query::funnel::FunnelAnswer),
    Retention(tally_query::retention::RetentionAnswer),
    Paths(tally_query::paths::PathsAnswer),
    Stickiness(tally_query::activity::StickinessAnswer),
    Lifecycle(tally_query::activity::LifecycleAnswer),
    Persons(tally_query::persons::PersonsPage),
    Realtime(tally_query::realtime::RealtimeAnswer),
}

fn request<T: serde::de::DeserializeOwned>(body: serde_json::Value) -> Result<T, QueryError> {
    serde_json::from_value(body).map_err(|e| QueryError::InvalidQuery(e.to_string()))
}

/// An analytics query: `{"kind": "trends" | "funnel" | "retention" | "paths" |
/// "stickiness" | "lifecycle" | "persons" | "realtime", …}`. The answer carries the
/// resolved range.
#[utoipa::path(post, path = "/api/v1/projects/{project_id}/query", tag = "query",
    params(ProjectPath),
    request_body(content = tally_query::trends::TrendsRequest,
        description = "`kind` plus that kind's fields: TrendsRequest, FunnelRequest, RetentionRequest, PathsRequest, ActivityRequest (stickiness, lifecycle), PersonsRequest; realtime takes none"),
    responses(
        (status = 200, body = tally_query::trends::TrendsAnswer,
            description = "for `trends`; the other kinds answer FunnelAnswer, RetentionAnswer, PathsAnswer, StickinessAnswer, LifecycleAnswer, PersonsPage, RealtimeAnswer"),
        ReadErrors,
    ),
    security(("personal_key" = []), ("session" = [])))]
pub async fn query(
    State(state): State<AppState>,
    ProjectRead(project_id): ProjectRead,
    body: Result<Json<serde_json::Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<QueryAnswer>, ApiError> {
    let Json(body) = body.map_err(|e| tally_ingest::DecodeError::InvalidJson(e.body_text()))?;
    Ok(Json(run_query(&state, project_id, body).await?))
}

/// A `/query` body resolved against the project and the clock, ready to run.
pub enum PreparedQuery {
    Trends(tally_query::trends::TrendsQuery),
    Funnel(tally_query::funnel::FunnelQuery),
    Retention(tally_query::retention::RetentionQuery),
    Paths(tally_query::paths::PathsQuery),
    Stickiness(tally_query::activity::ActivityQuery),
    Lifecycle(tally_query::activity::ActivityQuery),
    Persons(tally_query::persons::PersonsQuery),
    Realtime(tally_query::realtime::RealtimeQuery),
}

/// Checks and resolves a `/query` body (`kind` plus that kind's fields) for
/// the project: every error a query can have, short of running it. Saved
/// insights pass through here before they are stored.
pub async fn prepare_query(
    state: &AppState,
    project_id: ProjectId,
    mut body: serde_json::Value,
) -> Result<PreparedQuery, ApiError> {
    let kind = body
        .as_object_mut()
        .and_then(|o| o.remove("kind"))
        .and_then(|k| k.as_str().map(str::to_owned));
    // Kinds with a range read bare dates as days of, and bucket time in, the
    // project's time zone unless asked otherwise.
    if matches!(
        kind.as_deref(),
        Some("trends" | "funnel" | "retention" | "paths" | "stickiness" | "lifecycle")
    ) {
        if let Some(fields) = body.as_object_mut() {
            if fields.get("tz").is_none_or(serde_json::Value::is_null) {
                let tz = project_timezone(state, project_id).await?;
                fields.insert("tz".into(), serde_json::Value::String(tz));
            }
        }
    }
    let now = state.clock.now();
    Ok(match kind.as_deref() {
        Some("trends") => PreparedQuery::Trends(
            request::<tally_query::trends::TrendsRequest>(body)?.resolve(project_id, now)?,
        ),
        Some("funnel") => PreparedQuery::Funnel(
            request::<tally_query::funnel::FunnelRequest>(body)?.resolve(project_id, now)?,
        ),
        Some("retention") => PreparedQuery::Retention(
            request::<tally_query::retention::RetentionRequest>(body)?.resolve(project_id, now)?,
        ),
        Some("paths") => PreparedQuery::Paths(
            request::<tally_query::paths::PathsRequest>(body)?.resolve(project_id, now)?,
        ),
        Some("stickiness") => PreparedQuery::Stickiness(
            request::<tally_query::activity::ActivityRequest>(body)?.resolve(project_id, now)?,
        ),
        Some("lifecycle") => PreparedQuery::Lifecycle(
            request::<tally_query::activity::ActivityRequest>(body)?.resolve(project_id, now)?,
        ),
        Some("persons") => PreparedQuery::Persons(
            request::<tally_query::persons::PersonsRequest>(body)?.resolve(project_id)?,
        ),
        Some("realtime") => {
            // Nothing to ask but the project; an empty object (or none) is fine.
            if body.as_object().is_some_and(|o| !o.is_empty()) {
                return Err(QueryError::InvalidQuery("`realtime` takes no fields".into()).into());
            }
            PreparedQuery::Realtime(tally_query::realtime::RealtimeQuery { project_id, now })
        }
        _ => {
            return Err(QueryError::InvalidQuery(format!(
                "`kind` must be one of: {}",
                QUERY_KINDS.join(", ")
            ))
            .into())
        }
    })
}

/// Runs a `/query` body for the project (the API's `/query`, saved insights,
/// shared dashboards).
pub async fn run_query(
    state: &AppState,
    project_id: ProjectId,
    body: serde_json::Value,
) -> Result<QueryAnswer, ApiError> {
    let prepared = prepare_query(state, project_id, body).await?;
    let engine = state.query_after_writes().await;
    Ok(match prepared {
        PreparedQuery::Trends(q) => QueryAnswer::Trends(engine.trends(q).await?),
        PreparedQuery::Funnel(q) => QueryAnswer::Funnel(engine.funnel(q).await?),
        PreparedQuery::Retention(q) => QueryAnswer::Retention(engine.retention(q).await?),
        PreparedQuery::Paths(q) => QueryAnswer::Paths(engine.paths(q).await?),
        PreparedQuery::Stickiness(q) => QueryAnswer::Stickiness(engine.stickiness(q).await?),
        PreparedQuery::Lifecycle(q) => QueryAnswer::Lifecycle(engine.lifecycle(q).await?),
        PreparedQuery::Persons(q) => QueryAnswer::Persons(engine.persons(q).await?),
        PreparedQuery::Realtime(q) => QueryAnswer::Realtime(engine.realtime(q).await?),
    })
}

/// The project's time zone (settings), the default of every answer in buckets.
async fn project_timezone(state: &AppState, project_id: ProjectId) -> Result<String, ApiError> {
    Ok(state.meta.project_options(project_id).await?.timezone)
}

/// One dimension of the traffic (the dashboard's tables): `page`, `referrer`,
/// `channel`, `utm_source`, `utm_medium`, `utm_campaign`, `country`, `browser`,
/// `os`, `device`, `event` — visitors, pageviews and events per value.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/top/{dimension}", tag = "query",
    params(ProjectPath, ("dimension" = String, Path, description = "What to break the traffic down by"), RangeParams),
    responses(
        (status = 200, body = tally_query::top::TopAnswer),
        ReadErrors,
    ),
    security(("personal_key" = []), ("session" = [])))]
pub async fn top(
    State(state): State<AppState>,
    ProjectRead(project_id): ProjectRead,
    Path((_, dimension)): Path<(ProjectId, String)>,
    query: Result<Query<RangeParams>, QueryRejection>,
) -> Result<Json<tally_query::top::TopAnswer>, ApiError> {
    let p = params(query)?;
    let range = TimeRange::resolve(
        p.from.as_deref(),
        p.to.as_deref(),
        state.clock.now(),
        Duration::days(7),
        // These routes take no zone: bare dates are UTC days.
        chrono_tz::Tz::UTC,
    )?;
    let q = tally_query::top::TopQuery {
        project_id,
        dimension: dimension.parse()?,
        range,
        limit: match p.limit {
            None => 20,
            some => page_limit(some)?,
        },
        include_bots: p.include_bots.unwrap_or(false),
        filters: dimension_filters(p.filter.as_deref())?,
    };
    Ok(Json(state.query_after_writes().await.top(q).await?))
}
