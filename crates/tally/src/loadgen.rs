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
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// Writes the event every mode sends: small, typical properties, a fresh uuid.
/// Written straight as text (no `serde_json::Value`, a uuid from the thread's
/// user-space RNG rather than a `getrandom` call each): the generator shares the
/// machine's cores with the server it measures, so its own cost per event is kept
/// small.
fn write_event(out: &mut Vec<u8>, i: usize, worker: usize) {
    use std::io::Write;
    let event = if i.is_multiple_of(5) {
        "signup"
    } else {
        "$pageview"
    };
    let uuid = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
    write!(
        out,
        r#"{{"event":"{event}","distinct_id":"load-{worker}-{}","uuid":"{}","properties":{{"$current_url":"https://example.com/pricing","plan":"pro","n":{i}}}}}"#,
        i % 97,
        uuid.hyphenated()
    )
    .expect("write to memory");
}

/// `batch` events as a JSON array.
fn write_events(out: &mut Vec<u8>, batch: usize, worker: usize) {
    out.push(b'[');
    for i in 0..batch {
        if i > 0 {
            out.push(b',');
        }
        write_event(out, i, worker);
    }
    out.push(b']');
}

fn body(batch: usize, worker: usize, format: WireFormat, key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(160 * batch + 64);
    if format == WireFormat::Posthog {
        use std::io::Write;
        out.extend_from_slice(br#"{"api_key":"#);
        serde_json::to_writer(&mut out, key).expect("json");
        out.extend_from_slice(br#","sent_at":"#);
        serde_json::to_writer(&mut out, &chrono::Utc::now().to_rfc3339()).expect("json");
        out.extend_from_slice(br#","batch":"#);
        write_events(&mut out, batch, worker);
        out.push(b'}');
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&out).expect("gzip to memory");
        return gz.finish().expect("gzip to memory");
    }
    if batch == 1 {
        write_event(&mut out, 0, worker);
    } else {
        out.extend_from_slice(br#"{"batch":"#);
        write_events(&mut out, batch, worker);
        out.push(b'}');
    }
    out
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
                let mut bytes = Vec::new();
                write_event(&mut bytes, i, worker);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `body` as the server would and validates every event; returns them.
    fn accepted(format: WireFormat, body: &[u8]) -> Vec<tally_core::Event> {
        let now = chrono::Utc::now();
        let raws = match format {
            WireFormat::Native => tally_ingest::parse_native(body, now).expect("body").events,
            WireFormat::Posthog => {
                let parts = tally_ingest::RequestParts {
                    query: None,
                    content_type: Some("application/json"),
                };
                let payload =
                    tally_ingest::parse_posthog(parts, body, now, 20 << 20).expect("body");
                assert_eq!(payload.token, tally_ingest::TokenSource::One("key".into()));
                payload.events
            }
        };
        let (limits, clock) = (tally_core::Limits::default(), tally_core::SystemClock);
        let validator = tally_core::Validator {
            limits: &limits,
            clock: &clock,
        };
        raws.into_iter()
            .map(|raw| validator.validate(1, raw.expect("event")).expect("valid"))
            .collect()
    }

    #[test]
    fn every_body_is_a_batch_of_valid_events_with_fresh_uuids() {
        for (format, batch) in [
            (WireFormat::Native, 1),
            (WireFormat::Native, 100),
            (WireFormat::Posthog, 100),
        ] {
            let events: Vec<_> = (0..3)
                .flat_map(|_| accepted(format, &body(batch, 7, format, "key")))
                .collect();
            assert_eq!(events.len(), 3 * batch, "{format:?} batch {batch}");
            let uuids: std::collections::HashSet<_> = events.iter().map(|e| e.uuid).collect();
            assert_eq!(uuids.len(), events.len(), "uuids repeat");
            assert!(events.iter().all(|e| e.uuid.get_version_num() == 4));
            let first = &events[0];
            assert_eq!(first.event, "signup");
            assert_eq!(first.distinct_id, "load-7-0");
            assert_eq!(first.properties.get_str("plan").as_deref(), Some("pro"));
            if batch > 1 {
                assert_eq!(events[1].event, "$pageview");
                assert_eq!(events[1].properties.get("n"), Some(serde_json::json!(1)));
            }
        }
    }
}
