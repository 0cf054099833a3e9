//! Cost of the processing stage per event, on a mix like a website's traffic:
//! browser pageviews with user agents, URLs with campaigns and referrers, some
//! crawlers, and server-side events with neither. Also the cost of a GeoIP lookup.
//!
//! `cargo bench --workspace --bench process` (figures in docs/BENCHMARKS.md).

use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Value};
use tally_core::Event;
use tally_pipeline::Processor;
use uuid::Uuid;

const AGENTS: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
];
const REFERRERS: [Option<&str>; 4] = [
    None,
    Some("https://www.google.com/"),
    Some("https://t.co/xyz"),
    Some("https://blog.partner.example/post/1"),
];

fn events(n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let mut e = Event::new(1, Uuid::new_v4(), "$pageview", format!("u{i}"), Utc::now());
            if i % 5 == 4 {
                // A server-side event: no URL, no user agent.
                e.event = "purchase".into();
                e.properties.insert("amount".into(), json!(12.5));
                return e;
            }
            let url = if i % 3 == 0 {
                format!(
                    "https://shop.example/p/{i}?utm_source=news&utm_medium=email&utm_campaign=w{i}"
                )
            } else {
                format!("https://shop.example/p/{i}")
            };
            e.url = Some(url.clone());
            e.path = Some(format!("/p/{i}"));
            e.referrer = REFERRERS[i % REFERRERS.len()].map(str::to_owned);
            e.properties
                .insert("$current_url".into(), Value::String(url));
            e.properties.insert(
                "$raw_user_agent".into(),
                Value::String(AGENTS[i % AGENTS.len()].into()),
            );
            e.properties.insert("$lib".into(), json!("web"));
            e
        })
        .collect()
}

fn process(c: &mut Criterion) {
    let processor = Processor::default();
    let batch = events(10_000);
    let mut group = c.benchmark_group("process");
    group.throughput(Throughput::Elements(batch.len() as u64));
    group.bench_function("10k_mixed_events", |b| {
        b.iter_batched(
            || batch.clone(),
            |mut rows| {
                processor.process(&mut rows);
                rows
            },
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

/// GeoIP lookups in the embedded country database, as capture does once per
/// distinct client address of a request: 10,000 public IPv4 addresses spread over
/// the whole space (a fixed pseudo-random sequence), plus 1,000 IPv6.
fn geoip(c: &mut Criterion) {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let geo = tally_pipeline::enrich::geo::GeoIp::embedded()
        .expect("readable")
        .expect("the build embeds the country database");
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state
    };
    let mut addresses: Vec<IpAddr> = (0..10_000)
        .map(|_| IpAddr::V4(Ipv4Addr::from((next() >> 32) as u32)))
        .collect();
    addresses.extend((0..1_000).map(|_| {
        // Inside 2000::/4, where the registries allocate.
        let high = (0x2u128 << 124) | (u128::from(next()) << 60);
        IpAddr::V6(Ipv6Addr::from(high))
    }));
    let mut group = c.benchmark_group("geoip");
    group.throughput(Throughput::Elements(addresses.len() as u64));
    group.bench_function("11k_country_lookups", |b| {
        b.iter(|| {
            addresses
                .iter()
                .filter(|ip| geo.lookup(**ip).country_code.is_some())
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, process, geoip);
criterion_main!(benches);
