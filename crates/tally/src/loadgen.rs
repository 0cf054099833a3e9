//! `tally loadgen`: HTTP load against a running server. `concurrency` workers each
//! send batches of `batch` events back to back for `duration` seconds; the report
//! gives acknowledged events/s and requests/s, their latency percentiles, and a
//! count of every non-2xx status seen. A shed request (503) waits its
//! `Retry-After` before the worker sends again, as SDKs do.
//! Loopback targets only in this project's tests and benchmarks. With
//! `--raw-data-dir` the same events go straight into DuckDB instead (the ceiling).

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(clap::Args, Debug, Clone)]
pub struct LoadgenArgs {
    /// Base URL of the server.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    pub url: String,
    /// Ingest key (required for HTTP load).
    #[arg(long, default_value = "")]
    pub api_key: String,
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Events per request; 1 sends a single event object, more a `{"batch": [...]}`.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Wire format: `native` (POST /api/v1/capture, plain JSON) or `posthog`
    /// (gzip `{"api_key", "batch", "sent_at"}` to /batch/, as posthog-python sends).
    #[arg(long, value_enum, default_value_t = WireFormat::Native)]
    pub format: WireFormat,
    /// Instead of HTTP, insert the same events straight into a DuckDB store in this
    /// (scratch) directory, one transaction per batch: the storage ceiling.
    #[arg(long)]
    pub raw_data_dir: Option<std::path::PathBuf>,
    /// With `--raw-data-dir`: run the processing stage (enrichment and person
    /// resolution against the same store) before each insert, and time it too.
    /// Batches then cycle through 64 × 97 distinct ids, as 64 clients would send.
    #[arg(long, requires = "raw_data_dir")]
    pub process: bool,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFormat {
    Native,
    Posthog,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub seconds: f64,
    /// Acknowledged (2xx) requests; the others are counted in `errors`.
    pub requests: u64,
    pub events: u64,
    pub events_per_sec: f64,
    pub requests_per_sec: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors: BTreeMap<String, u64>,
}

/// The event every mode sends: small, typical properties, a fresh uuid.
fn event_json(i: usize, worker: usize) -> serde_json::Value {
    json!({
        "event": if i.is_multiple_of(5) { "signup" } else { "$pageview" },
        "distinct_id": format!("load-{worker}-{}", i % 97),
        "uuid": Uuid::new_v4().to_string(),
        "properties": {"$current_url": "https://example.com/pricing", "plan": "pro", "n": i}
    })
}

fn body(batch: usize, worker: usize, format: WireFormat, key: &str) -> Vec<u8> {
    if format == WireFormat::Posthog {
        use std::io::Write;
        let v = json!({
            "api_key": key,
            "batch": (0..batch).map(|i| event_json(i, worker)).collect::<Vec<_>>(),
            "sent_at": chrono::Utc::now().to_rfc3339(),
        });
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&serde_json::to_vec(&v).expect("json"))
            .expect("gzip to memory");
        return gz.finish().expect("gzip to memory");
    }
    let v = if batch == 1 {
        event_json(0, worker)
    } else {
        json!({"batch": (0..batch).map(|i| event_json(i, worker)).collect::<Vec<_>>()})
    };
    serde_json::to_vec(&v).expect("json")
}

/// Inserts batches of the same events straight into DuckDB for `duration` seconds.
/// Only the inserts are timed; building the events is not.
fn generate_raw(args: &LoadgenArgs, dir: &std::path::Path) -> anyhow::Result<Report> {
    std::fs::create_dir_all(dir)?;
    let db = tally_duckdb::DuckDb::open(&tally_duckdb::DuckDbConfig::in_dir(dir))?;
    let limits = tally_core::Limits::default();
    let clock = tally_core::SystemClock;
    let validator = tally_core::Validator {
        limits: &limits,
        clock: &clock,
    };
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut events, mut requests) = (0u64, 0u64);
    let mut busy = Duration::ZERO;
    let processor = args.process.then(|| {
        tally_pipeline::Processor::new(tally_pipeline::ProcessConfig::default())
            .with_persons(std::sync::Arc::new(db.clone()))
    });
    let deadline = Instant::now() + Duration::from_secs(args.duration);
    while Instant::now() < deadline {
        let worker = if args.process {
            (requests % 64) as usize
        } else {
            0
        };
        let mut batch: Vec<tally_core::Event> = (0..args.batch)
            .map(|i| {
                let bytes = serde_json::to_vec(&event_json(i, worker)).expect("json");
                let raw = tally_ingest::parse_native(&bytes, chrono::Utc::now())
                    .expect("valid")
                    .events
                    .remove(0)
                    .expect("object");
                validator.validate(1, raw).expect("valid event")
            })
            .collect();
        let t = Instant::now();
        if let Some(processor) = &processor {
            processor.process(&mut batch);
            processor.resolve_persons(&mut batch)?;
        }
        db.insert_blocking(&batch)?;
        let took = t.elapsed();
        busy += took;
        hist.record((took.as_micros() as u64).max(1)).ok();
        events += batch.len() as u64;
        requests += 1;
    }
    Ok(Report::new(
        busy.as_secs_f64(),
        requests,
        events,
        &hist,
        BTreeMap::new(),
    ))
}

impl Report {
    /// `hist` holds latencies in microseconds.
    fn new(
        seconds: f64,
        requests: u64,
        events: u64,
        hist: &Histogram<u64>,
        errors: BTreeMap<String, u64>,
    ) -> Self {
        let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
        Self {
            seconds,
            requests,
            events,
            events_per_sec: events as f64 / seconds,
            requests_per_sec: requests as f64 / seconds,
            p50_ms: ms(0.5),
            p95_ms: ms(0.95),
            p99_ms: ms(0.99),
            max_ms: hist.max() as f64 / 1000.0,
            errors,
        }
    }
}

pub async fn run(args: &LoadgenArgs) -> anyhow::Result<()> {
    let report = match &args.raw_data_dir {
        Some(dir) => {
            let (args, dir) = (args.clone(), dir.clone());
            tokio::task::spawn_blocking(move || generate_raw(&args, &dir)).await??
        }
        None if args.api_key.is_empty() => anyhow::bail!("--api-key is required for HTTP load"),
        None => generate(args).await?,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{} requests, {} events in {:.1} s: {:.0} events/s, {:.0} req/s; latency p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms; errors {:?}",
            report.requests, report.events, report.seconds, report.events_per_sec, report.requests_per_sec,
            report.p50_ms, report.p95_ms, report.p99_ms, report.max_ms, report.errors
        );
    }
    Ok(())
}

/// The `Retry-After` of a shed request, in whole seconds as Tally sends it.
fn retry_after(r: &reqwest::Response) -> Option<Duration> {
    let secs: u64 = r
        .headers()
        .get("retry-after")?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs))
}

pub async fn generate(args: &LoadgenArgs) -> anyhow::Result<Report> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let path = match args.format {
        WireFormat::Native => "/api/v1/capture",
        WireFormat::Posthog => "/batch/",
    };
    let url = format!("{}{path}", args.url.trim_end_matches('/'));
    let format = args.format;
    let deadline = Instant::now() + Duration::from_secs(args.duration);
    let sent_events = Arc::new(AtomicU64::new(0));
    let bar = ProgressBar::new(args.duration);
    bar.set_style(ProgressStyle::with_template(
        "{spinner} {elapsed_precise} {msg}",
    )?);
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..args.concurrency {
        let (client, url, key, batch) = (
            client.clone(),
            url.clone(),
            args.api_key.clone(),
            args.batch,
        );
        let sent_events = sent_events.clone();
        workers.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
            let mut errors: BTreeMap<String, u64> = BTreeMap::new();
            let mut requests = 0u64;
            while Instant::now() < deadline {
                let payload = body(batch, w, format, &key);
                let t = Instant::now();
                let mut req = client
                    .post(&url)
                    .header("X-API-Key", &key)
                    .header("Content-Type", "application/json");
                if format == WireFormat::Posthog {
                    req = req.header("Content-Encoding", "gzip");
                }
                let res = req.body(payload).send().await;
                let micros = t.elapsed().as_micros() as u64;
                match res {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        requests += 1;
                        hist.record(micros.max(1)).ok();
                        sent_events.fetch_add(batch as u64, Ordering::Relaxed);
                    }
                    Ok(r) => {
                        *errors.entry(r.status().as_u16().to_string()).or_default() += 1;
                        // Like an SDK: a shed request waits as told before sending again.
                        if let Some(wait) = retry_after(&r) {
                            let left = deadline.saturating_duration_since(Instant::now());
                            tokio::time::sleep(wait.min(left)).await;
                        }
                    }
                    Err(e) => {
                        *errors
                            .entry(format!("transport: {}", e.without_url()))
                            .or_default() += 1
                    }
                }
            }
            (hist, errors, requests)
        }));
    }
    let ticker = {
        let bar = bar.clone();
        let sent = sent_events.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let secs = started.elapsed().as_secs_f64();
                bar.set_message(format!(
                    "{:.0} events/s",
                    sent.load(Ordering::Relaxed) as f64 / secs
                ));
                bar.tick();
            }
        })
    };
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut errors = BTreeMap::new();
    let mut requests = 0;
    for w in workers {
        let (h, e, r) = w.await?;
        hist.add(h)?;
        for (k, v) in e {
            *errors.entry(k).or_default() += v;
        }
        requests += r;
    }
    ticker.abort();
    bar.finish_and_clear();
    let events = sent_events.load(Ordering::Relaxed);
    Ok(Report::new(
        started.elapsed().as_secs_f64(),
        requests,
        events,
        &hist,
        errors,
    ))
}
