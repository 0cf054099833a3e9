//! Tally's browser SDK (`sdks/js/tally.js`), compiled into the binary and served
//! at `/sdk.js` (a classic script: `<script src=… data-key=…>`) and `/sdk.mjs`
//! (the same code as an ES module exporting `tally`). Open to every origin, as
//! SDKs run on other sites; cached for five minutes.

use axum::http::header;
use axum::response::IntoResponse;

const SCRIPT: &str = include_str!("../../../../sdks/js/tally.js");
const MODULE: &str = concat!(
    include_str!("../../../../sdks/js/tally.js"),
    "\nconst tally = window.tally;\nexport { tally };\nexport default tally;\n"
);

fn javascript(body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
}

pub async fn script() -> impl IntoResponse {
    javascript(SCRIPT)
}

pub async fn module() -> impl IntoResponse {
    javascript(MODULE)
}
