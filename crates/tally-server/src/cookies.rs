//! The browser session's cookies. The access and refresh tokens are `HttpOnly`
//! (no script can read them) and `SameSite=Lax`; `Secure` unless turned off for
//! plain-HTTP installs. The refresh token is sent only to `/api/v1/auth`. The
//! CSRF token is readable by the dashboard's script, which echoes it in
//! `X-CSRF-Token` on writes — a page on another site can neither read it nor set
//! that header.

use axum::http::{header, HeaderMap, HeaderValue};
use tally_core::IssuedSession;

pub const ACCESS: &str = "tally_access";
pub const REFRESH: &str = "tally_refresh";
pub const CSRF: &str = "tally_csrf";
const REFRESH_PATH: &str = "/api/v1/auth";

/// The value of cookie `name` in the request, if sent.
pub fn value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

fn cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
    http_only: bool,
    secure: bool,
) -> HeaderValue {
    let mut c = format!("{name}={value}; Path={path}; Max-Age={max_age}; SameSite=Lax");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if secure {
        c.push_str("; Secure");
    }
    // Tokens are base64url, so the header is always valid.
    HeaderValue::from_str(&c).expect("cookie header")
}

/// `Set-Cookie` values that hand a new or rotated session to the browser.
pub fn for_session(
    issued: &IssuedSession,
    now: chrono::DateTime<chrono::Utc>,
    secure: bool,
) -> Vec<HeaderValue> {
    let refresh_age = (issued.refresh_expires_at - now).num_seconds().max(0);
    vec![
        cookie(
            ACCESS,
            &issued.access_token,
            "/",
            (issued.access_expires_at - now).num_seconds().max(0),
            true,
            secure,
        ),
        cookie(
            REFRESH,
            &issued.refresh_token,
            REFRESH_PATH,
            refresh_age,
            true,
            secure,
        ),
        cookie(CSRF, &issued.csrf_token, "/", refresh_age, false, secure),
    ]
}

/// `Set-Cookie` values that remove the session's cookies.
pub fn cleared(secure: bool) -> Vec<HeaderValue> {
    vec![
        cookie(ACCESS, "", "/", 0, true, secure),
        cookie(REFRESH, "", REFRESH_PATH, 0, true, secure),
        cookie(CSRF, "", "/", 0, false, secure),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_cookie_among_several_headers_and_pairs() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; tally_access=tok"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("tally_csrf=c"));
        assert_eq!(value(&headers, ACCESS), Some("tok"));
        assert_eq!(value(&headers, CSRF), Some("c"));
        assert_eq!(value(&headers, REFRESH), None);
        headers.append(header::COOKIE, HeaderValue::from_static("tally_refresh="));
        assert_eq!(value(&headers, REFRESH), None);
    }
}
