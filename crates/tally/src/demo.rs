//! `tally demo`: a small demo site (`examples/demo-site`, compiled in) that loads
//! Tally's browser SDK against a running Tally, so a new user sees the dashboard
//! fill: page views, a click, a plan choice, a sign-up with identify, onboarding —
//! a funnel from the home page to the welcome page.
//!
//! ```sh
//! cargo run --release            # Tally on :8000 (one terminal)
//! cargo run --release -- demo    # the demo on :3000 (another), then open it
//! ```
//!
//! The ingest key and Tally's address come from flags, or from the data dir's
//! `bootstrap.json` and the default port.

use anyhow::Context;
use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Port of the demo site.
    #[arg(long, default_value_t = 3000)]
    pub port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Tally's address as the visitor's browser reaches it.
    #[arg(long, default_value = "http://localhost:8000")]
    pub tally: String,
    /// The project's ingest key; default: `api_key` of the data dir's bootstrap.json.
    #[arg(long)]
    pub key: Option<String>,
    /// Data directory holding bootstrap.json (env TALLY_DATA_DIR; default ./tally-data).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

const HEAD: &str = include_str!("../../../examples/demo-site/head.html");
const TAIL: &str = include_str!("../../../examples/demo-site/tail.html");
const STYLE: &str = include_str!("../../../examples/demo-site/demo.css");
const PAGES: &[(&str, &str, &str)] = &[
    (
        "/",
        "Home",
        include_str!("../../../examples/demo-site/index.html"),
    ),
    (
        "/pricing",
        "Pricing",
        include_str!("../../../examples/demo-site/pricing.html"),
    ),
    (
        "/signup",
        "Sign up",
        include_str!("../../../examples/demo-site/signup.html"),
    ),
    (
        "/welcome",
        "Welcome",
        include_str!("../../../examples/demo-site/welcome.html"),
    ),
];

struct Site {
    tally: String,
    key: String,
}

/// The demo site's routes, for Tally at `tally` with the ingest key `key`.
pub fn router(tally: &str, key: &str) -> Router {
    Router::new()
        .route(
            "/demo.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css")], STYLE) }),
        )
        .fallback(get(page))
        .with_state(Arc::new(Site {
            tally: tally.trim_end_matches('/').to_owned(),
            key: key.to_owned(),
        }))
}

async fn page(State(site): State<Arc<Site>>, uri: Uri) -> Response {
    let Some((_, title, body)) = PAGES.iter().find(|(path, _, _)| *path == uri.path()) else {
        return (
            StatusCode::NOT_FOUND,
            Html("<h1>Not here</h1><a href=\"/\">Home</a>"),
        )
            .into_response();
    };
    // The values go into an HTML attribute: escape what could end it.
    let attr = |s: &str| {
        s.replace('&', "&amp;")
            .replace('"', "&quot;")
            .replace('<', "&lt;")
    };
    let head = HEAD
        .replace("{{TITLE}}", title)
        .replace("{{TALLY}}", &attr(&site.tally))
        .replace("{{KEY}}", &attr(&site.key));
    Html(format!("{head}{body}{TAIL}")).into_response()
}

pub async fn run(args: &DemoArgs, data_dir: PathBuf) -> anyhow::Result<()> {
    let key = match &args.key {
        Some(key) => key.clone(),
        None => {
            let path = data_dir.join(crate::app::BOOTSTRAP_FILE);
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "reading {} (start Tally once first, or pass --key)",
                    path.display()
                )
            })?;
            let bootstrap: crate::app::Bootstrap = serde_json::from_str(&text)?;
            bootstrap.api_key
        }
    };
    let listener = tokio::net::TcpListener::bind((args.bind, args.port))
        .await
        .with_context(|| format!("binding {}:{}", args.bind, args.port))?;
    println!(
        "Tally demo site on http://{}:{} sending to {}",
        args.bind, args.port, args.tally
    );
    axum::serve(listener, router(&args.tally, &key)).await?;
    Ok(())
}
