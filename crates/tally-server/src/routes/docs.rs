//! `GET /api/v1/docs`: an interactive API reference (our own small page, script
//! and stylesheet, compiled into the binary) that renders the served OpenAPI
//! document and sends requests from the browser. Its CSP allows only those
//! three files and requests to this server.

use axum::http::header;
use axum::response::IntoResponse;

const PAGE: &str = include_str!("../docs/index.html");
const SCRIPT: &str = include_str!("../docs/docs.js");
const STYLE: &str = include_str!("../docs/docs.css");

const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

pub async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, PAGE_CSP),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE,
    )
}

pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        SCRIPT,
    )
}

pub async fn style() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        STYLE,
    )
}
