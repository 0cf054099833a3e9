//! The web dashboard (`tally-dashboard`): its files, and `index.html` for every
//! other `GET` that is not the API (single-page app routes such as `/p/1/live`).
//!
//! Guarantees: `/api/…`, other methods and missing files with an extension
//! (`/assets/gone.js`) stay JSON `404`s; hashed assets are cached for a year
//! (`immutable`), `index.html` is revalidated every time (`no-cache` + ETag), so
//! a new build is picked up on the next load; gzip is served to clients that
//! take it (compressed at build time); the page's CSP allows only its own
//! origin (scripts, styles, API and the live WebSocket).

use crate::error::ApiError;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

const PAGE_CSP: &str = "default-src 'self'; img-src 'self' data:; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().trim_start_matches('/');
    if !(method == Method::GET || method == Method::HEAD) || path.starts_with("api/") {
        return ApiError::NotFound.into_response();
    }
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let file = match tally_dashboard::file(path, gzip) {
        Some(file) if !path.is_empty() => file,
        // A missing file is a 404; a missing page is the app's route.
        None if path
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains('.')) =>
        {
            return ApiError::NotFound.into_response()
        }
        _ => tally_dashboard::index(gzip),
    };
    let etag = format!("\"{}\"", file.etag);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else if method == Method::HEAD {
        StatusCode::OK.into_response()
    } else {
        file.bytes.into_owned().into_response()
    };
    let h = response.headers_mut();
    let value = |s: &str| HeaderValue::from_str(s).expect("header value");
    h.insert(header::ETAG, value(&etag));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if file.immutable {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        }),
    );
    if !fresh {
        h.insert(header::CONTENT_TYPE, value(&file.content_type));
        if file.gzip {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
    }
    if file.content_type.starts_with("text/html") {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_CSP),
        );
    }
    response
}
