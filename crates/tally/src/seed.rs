//! `tally seed`: a realistic synthetic dataset written straight into the event
//! store at full speed (the server must be stopped: DuckDB allows one process).
//!
//! Shape: a power-law of user activity (a few heavy users, a long tail), sessions
//! of page views with 30 s–3 min gaps, a daily rhythm peaking in the afternoon,
//! referrers and UTM sources, and a signup funnel (`signup_started` →
//! `signup_completed` → `purchase`) that a fraction of sessions walk down. Days are
//! written in time order, as live traffic would arrive.

use crate::app;
use crate::config::Config;
use anyhow::Context;
use chrono::{DateTime, Duration, DurationRound, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tally_core::{Event, ProjectId, Properties};
use uuid::Uuid;

#[derive(clap::Args, Debug, Clone)]
pub struct SeedArgs {
    /// How many events to write.
    #[arg(long, default_value_t = 100_000)]
    pub events: u64,
    /// Spread over this many days, ending now.
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// Data directory (env TALLY_DATA_DIR; default ./tally-data).
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
    /// Project to fill; default: the first project.
    #[arg(long)]
    pub project_id: Option<ProjectId>,
    /// Random seed, for a reproducible dataset.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

const PATHS: &[&str] = &[
    "/",
    "/pricing",
    "/docs",
    "/blog",
    "/features",
    "/docs/getting-started",
    "/login",
    "/signup",
    "/blog/launch",
    "/changelog",
    "/about",
    "/careers",
    "/docs/api",
    "/contact",
];
const REFERRERS: &[(&str, &str)] = &[
    ("", ""),
    ("https://www.google.com/", "google"),
    ("https://news.ycombinator.com/", "hackernews"),
    ("https://twitter.com/", "twitter"),
    ("https://www.reddit.com/", "reddit"),
    ("https://duckduckgo.com/", "duckduckgo"),
    ("https://github.com/", "github"),
];
const BROWSERS: &[&str] = &["Chrome", "Safari", "Firefox", "Edge"];
const OSES: &[&str] = &["Windows", "macOS", "iOS", "Android", "Linux"];
const COUNTRIES: &[&str] = &["US", "DE", "GB", "FR", "IN", "BR", "JP", "CA", "NL", "SE"];
/// Relative traffic per UTC hour of day.
const HOURLY: [u32; 24] = [
    3, 2, 2, 2, 2, 3, 4, 6, 8, 9, 10, 10, 10, 11, 12, 12, 11, 10, 9, 8, 7, 6, 5, 4,
];

/// Picks index `i` of `n` with weight ~ 1/(i+1): a Zipf-like skew.
fn zipf(rng: &mut StdRng, n: usize) -> usize {
    let x: f64 = rng.gen::<f64>();
    let i = ((n as f64 + 1.0).powf(x) - 1.0) as usize;
    i.min(n - 1)
}

struct Generator {
    rng: StdRng,
    project_id: ProjectId,
    users: usize,
}

impl Generator {
    fn session(&mut self, start: DateTime<Utc>, out: &mut Vec<Event>) {
        let user = zipf(&mut self.rng, self.users);
        let distinct_id = format!("user-{user}");
        let session_id = Uuid::new_v4().to_string();
        let (referrer, source) = REFERRERS[zipf(&mut self.rng, REFERRERS.len())];
        let browser = BROWSERS[zipf(&mut self.rng, BROWSERS.len())];
        let os = OSES[zipf(&mut self.rng, OSES.len())];
        let country = COUNTRIES[zipf(&mut self.rng, COUNTRIES.len())];
        // Geometric number of page views, mean 4, capped so a tiny draw cannot explode.
        let views = 1 + ((self.rng.gen_range(1e-9..1.0f64)).ln() / 0.75f64.ln()).min(40.0) as usize;
        let mut t = start;
        let mut push = |gen: &mut Self, t: DateTime<Utc>, name: &str, path: &str| {
            let url = format!("https://example.com{path}");
            let mut props = Properties::new();
            props.insert_str("$current_url", &url);
            props.insert_str("$pathname", path);
            props.insert_str("$browser", browser);
            if !source.is_empty() {
                props.insert_str("$referrer", referrer);
                props.insert_str("utm_source", source);
            }
            if name == "purchase" {
                props.insert("amount".into(), json!(gen.rng.gen_range(9..300)));
            }
            out.push(Event {
                url: Some(url),
                path: Some(path.into()),
                referrer: (!referrer.is_empty()).then(|| referrer.into()),
                session_id: Some(session_id.clone()),
                browser: Some(browser.into()),
                os: Some(os.into()),
                device: Some(
                    if os == "iOS" || os == "Android" {
                        "Mobile"
                    } else {
                        "Desktop"
                    }
                    .into(),
                ),
                country: Some(country.into()),
                properties: props,
                ..Event::new(gen.project_id, Uuid::new_v4(), name, distinct_id.clone(), t)
            });
        };
        for _ in 0..views {
            let path = PATHS[zipf(&mut self.rng, PATHS.len())];
            push(self, t, "$pageview", path);
            t += Duration::seconds(self.rng.gen_range(30..180));
        }
        if self.rng.gen_bool(0.25) {
            push(self, t, "signup_started", "/signup");
            t += Duration::seconds(self.rng.gen_range(20..120));
            if self.rng.gen_bool(0.55) {
                push(self, t, "signup_completed", "/signup");
                t += Duration::seconds(self.rng.gen_range(60..600));
                if self.rng.gen_bool(0.3) {
                    push(self, t, "purchase", "/pricing");
                }
            }
        }
    }

    /// About `target` events for one day, in time order.
    fn day(&mut self, day_start: DateTime<Utc>, target: usize) -> Vec<Event> {
        let mut out = Vec::with_capacity(target + 64);
        let total: u32 = HOURLY.iter().sum();
        while out.len() < target {
            let mut pick = self.rng.gen_range(0..total);
            let mut hour = 0;
            while pick >= HOURLY[hour] {
                pick -= HOURLY[hour];
                hour += 1;
            }
            let start = day_start
                + Duration::hours(hour as i64)
                + Duration::seconds(self.rng.gen_range(0..3600));
            self.session(start, &mut out);
        }
        out.truncate(target);
        out.sort_by_key(|e| e.timestamp);
        out
    }
}

pub async fn run(config: &Config, args: &SeedArgs) -> anyhow::Result<()> {
    let stores = app::open_stores(config).await?;
    let bootstrap = app::bootstrap(stores.meta.as_ref(), &config.data_dir).await?;
    let project_id = match args.project_id.or(bootstrap.map(|b| b.project_id)) {
        Some(id) => id,
        None => {
            stores
                .meta
                .list_projects()
                .await?
                .first()
                .context("no project to seed")?
                .id
        }
    };
    let days = args.days.max(1) as usize;
    let per_day = (args.events as usize).div_ceil(days);
    let mut gen = Generator {
        rng: StdRng::seed_from_u64(args.seed),
        project_id,
        users: (args.events as usize / 40).max(50),
    };
    let today = Utc::now().duration_trunc(Duration::days(1))?;
    let bar = ProgressBar::new(args.events);
    bar.set_style(ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} events ({per_sec}, eta {eta})",
    )?);
    let started = std::time::Instant::now();
    let mut remaining = args.events as usize;
    for d in (0..days).rev() {
        let n = per_day.min(remaining);
        if n == 0 {
            break;
        }
        let mut events = gen.day(today - Duration::days(d as i64), n);
        // Today's events must not be in the future.
        let now = Utc::now();
        events.iter_mut().for_each(|e| {
            if e.timestamp > now {
                e.timestamp = now - Duration::seconds(1);
                e.received_at = e.timestamp;
            }
        });
        for chunk in events.chunks(100_000) {
            let db = stores.events.clone();
            let chunk = chunk.to_vec();
            let len = chunk.len() as u64;
            tokio::task::spawn_blocking(move || db.insert_blocking(&chunk)).await??;
            bar.inc(len);
        }
        remaining -= n;
    }
    bar.finish();
    let secs = started.elapsed().as_secs_f64();
    let written = args.events as usize - remaining;
    println!(
        "seeded {written} events into project {project_id} over {days} days in {secs:.1} s ({:.0} events/s)",
        written as f64 / secs
    );
    let rolled = std::time::Instant::now();
    let hours = stores.events.compact_rollups(None)?;
    println!(
        "rolled up {hours} hours in {:.1} s",
        rolled.elapsed().as_secs_f64()
    );
    stores.events.checkpoint()?;
    Ok(())
}
