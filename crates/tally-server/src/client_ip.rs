//! The client's IP address, and what is kept of it.
//!
//! Guarantees:
//! - `X-Forwarded-For` is believed only when the connection comes from a
//!   configured trusted proxy, and then read from the right, skipping further
//!   trusted proxies, so a client cannot name an address of its choosing.
//! - The raw address is never stored: capture keeps only
//!   `HMAC-SHA256(secret ‖ UTC date, ip)` as `$ip_hash` — the same visitor hashes
//!   alike within a day and unlinkably across days; the secret stays in the data
//!   directory.

use crate::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use chrono::NaiveDate;
use hmac::{Hmac, Mac};
use ipnet::IpNet;
use sha2::Sha256;
use std::convert::Infallible;
use std::net::IpAddr;
use std::net::SocketAddr;

/// The address of the client behind `peer` (the connection's address).
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|part| part.trim().parse().ok())
        .collect();
    // Rightmost first: each trusted proxy appended the address it saw.
    forwarded
        .iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .or(forwarded.first())
        .copied()
        .unwrap_or(peer)
}

/// The request's client address (`None` when the server runs without connection
/// info, as in-process router tests do).
pub struct ClientAddr(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        Ok(Self(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(
            |ConnectInfo(peer)| resolve(peer.ip(), &parts.headers, &state.trusted_proxies),
        )))
    }
}

/// Hashes addresses with a secret and the day.
pub struct IpHasher {
    secret: [u8; 32],
}

impl IpHasher {
    pub fn new(secret: [u8; 32]) -> Self {
        Self { secret }
    }

    /// Hex of the first 16 bytes of `HMAC-SHA256(secret ‖ day, ip)`.
    pub fn hash(&self, ip: IpAddr, day: NaiveDate) -> String {
        let mut key = Vec::with_capacity(42);
        key.extend_from_slice(&self.secret);
        key.extend_from_slice(day.format("%Y-%m-%d").to_string().as_bytes());
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes any key");
        mac.update(ip.to_string().as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        let spoof = headers(&["198.51.100.1"]);
        // A direct client cannot claim another address.
        assert_eq!(
            resolve(ip("203.0.113.5"), &spoof, &trusted),
            ip("203.0.113.5")
        );
        // Behind a trusted proxy, the address it saw.
        assert_eq!(
            resolve(ip("10.1.2.3"), &spoof, &trusted),
            ip("198.51.100.1")
        );
        // Read from the right: the client may have sent its own header first.
        let chain = headers(&["6.6.6.6, 198.51.100.1", "10.9.9.9"]);
        assert_eq!(
            resolve(ip("10.1.2.3"), &chain, &trusted),
            ip("198.51.100.1")
        );
        // IPv6 proxy, garbage entries skipped.
        let v6 = headers(&["junk, 2001:db8::7 , 10.0.0.1"]);
        assert_eq!(resolve(ip("::1"), &v6, &trusted), ip("2001:db8::7"));
        // A trusted proxy without the header is the client as far as we know.
        assert_eq!(
            resolve(ip("10.1.2.3"), &HeaderMap::new(), &trusted),
            ip("10.1.2.3")
        );
        // No proxy configured: the header is never read.
        assert_eq!(resolve(ip("10.1.2.3"), &spoof, &[]), ip("10.1.2.3"));
    }

    #[test]
    fn hashes_are_stable_within_a_day_and_differ_across_days_and_secrets() {
        let a = IpHasher::new([1; 32]);
        let b = IpHasher::new([2; 32]);
        let day = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        let next = day.succ_opt().unwrap();
        let h = a.hash(ip("203.0.113.5"), day);
        assert_eq!(h.len(), 32);
        assert!(h.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(h, a.hash(ip("203.0.113.5"), day));
        assert_ne!(h, a.hash(ip("203.0.113.6"), day));
        assert_ne!(h, a.hash(ip("203.0.113.5"), next));
        assert_ne!(h, b.hash(ip("203.0.113.5"), day));
        assert!(!h.contains("203"), "nothing of the address shows");
    }
}
