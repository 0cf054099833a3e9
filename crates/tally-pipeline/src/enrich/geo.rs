//! GeoIP: where a client address is, from a MaxMind-format (`.mmdb`) database.
//!
//! Country works out of the box: the build embeds a country database (see
//! `build.rs`; data by the NRO, CC BY 4.0). An operator's database
//! (`--geoip-db`, e.g. GeoLite2-City) replaces it and adds region and city. Both
//! layouts are read: ip-location-db's flat `country_code` and GeoIP2's nested
//! `country` / `subdivisions` / `city` records.
//!
//! The lookup needs the raw address, so it runs at capture, next to the address
//! hash (`tally-server::client_ip`); only its results, as `$geoip_*` properties,
//! travel on. [`apply`] writes them; the processing stage copies the country code
//! into the `country` column.

use maxminddb::Reader;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use tally_core::Properties;

/// Property names, as PostHog's are, so existing dashboards' habits carry over.
pub const COUNTRY_CODE: &str = "$geoip_country_code";
pub const COUNTRY_NAME: &str = "$geoip_country_name";
pub const SUBDIVISION_CODE: &str = "$geoip_subdivision_1_code";
pub const SUBDIVISION_NAME: &str = "$geoip_subdivision_1_name";
pub const CITY_NAME: &str = "$geoip_city_name";

/// The embedded country database, when the build could fetch it.
#[cfg(tally_geoip_embedded)]
pub const EMBEDDED_COUNTRY_DB: Option<&[u8]> =
    Some(include_bytes!(env!("TALLY_GEOIP_COUNTRY_MMDB_PATH")));
#[cfg(not(tally_geoip_embedded))]
pub const EMBEDDED_COUNTRY_DB: Option<&[u8]> = None;

/// What a database says about an address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    pub country_code: Option<String>,
    pub country_name: Option<String>,
    pub subdivision_code: Option<String>,
    pub subdivision_name: Option<String>,
    pub city_name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error("cannot read the GeoIP database {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("not a MaxMind-format database ({0})")]
    Format(#[from] maxminddb::MaxMindDbError),
}

/// A loaded database. Cheap to share (`Arc`); lookups take `&self`.
pub struct GeoIp {
    reader: Reader<Cow<'static, [u8]>>,
    source: String,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoIp")
            .field("source", &self.source)
            .finish()
    }
}

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow)]
    country_code: Option<&'a str>,
    #[serde(borrow)]
    country: Option<Place<'a>>,
    #[serde(borrow)]
    subdivisions: Option<Vec<Place<'a>>>,
    #[serde(borrow)]
    city: Option<Place<'a>>,
}

#[derive(Deserialize)]
struct Place<'a> {
    iso_code: Option<&'a str>,
    #[serde(borrow)]
    names: Option<BTreeMap<&'a str, &'a str>>,
}

impl Place<'_> {
    fn english(&self) -> Option<String> {
        self.names
            .as_ref()
            .and_then(|n| n.get("en"))
            .map(|s| s.to_string())
    }
}

impl GeoIp {
    /// The embedded country database; `None` when the build had none.
    pub fn embedded() -> Result<Option<Self>, GeoError> {
        EMBEDDED_COUNTRY_DB
            .map(|bytes| {
                Ok(Self {
                    reader: Reader::from_source(Cow::Borrowed(bytes))?,
                    source: "embedded country database (ip-location-db, NRO data)".into(),
                })
            })
            .transpose()
    }

    /// An operator's database file, read into memory once.
    pub fn open(path: &Path) -> Result<Self, GeoError> {
        let bytes = std::fs::read(path).map_err(|source| GeoError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Self {
            reader: Reader::from_source(Cow::Owned(bytes))?,
            source: path.display().to_string(),
        })
    }

    /// Where the database came from, for logs.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The location of `ip`; empty for addresses that are not on the public
    /// internet and when the database does not know the address or cannot decode
    /// its record.
    pub fn lookup(&self, ip: IpAddr) -> Location {
        // A dual-stack listener reports IPv4 clients as `::ffff:a.b.c.d`.
        let ip = ip.to_canonical();
        if !is_routable(ip) {
            return Location::default();
        }
        let record = self
            .reader
            .lookup(ip)
            .and_then(|found| found.decode::<Record<'_>>());
        let Ok(Some(record)) = record else {
            return Location::default();
        };
        let subdivision = record.subdivisions.as_ref().and_then(|s| s.first());
        Location {
            country_code: record
                .country
                .as_ref()
                .and_then(|c| c.iso_code)
                .or(record.country_code)
                .map(str::to_owned),
            country_name: record.country.as_ref().and_then(Place::english),
            subdivision_code: subdivision.and_then(|s| s.iso_code).map(str::to_owned),
            subdivision_name: subdivision.and_then(Place::english),
            city_name: record.city.as_ref().and_then(Place::english),
        }
    }
}

/// Whether an address can be on the public internet. Private, loopback,
/// link-local, carrier-grade NAT and multicast addresses are never looked up:
/// they say nothing about where a visitor is (a proxy not configured as trusted
/// shows up as one), and databases do map some of them — the embedded one puts
/// 192.168.0.1 in Australia.
fn is_routable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            let cgnat = a == 100 && (64..128).contains(&b);
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || cgnat
                || a == 0)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            let unique_local = first & 0xfe00 == 0xfc00;
            let link_local = first & 0xffc0 == 0xfe80;
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || unique_local
                || link_local)
        }
    }
}

/// Writes a location into an event's properties (only the parts known).
pub fn apply(location: &Location, properties: &mut Properties) {
    for (key, value) in [
        (COUNTRY_CODE, &location.country_code),
        (COUNTRY_NAME, &location.country_name),
        (SUBDIVISION_CODE, &location.subdivision_code),
        (SUBDIVISION_NAME, &location.subdivision_name),
        (CITY_NAME, &location.city_name),
    ] {
        if let Some(value) = value {
            properties.insert_str(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Addresses whose registration is public record (RIR whois): Google's
    /// resolver (ARIN, US), RIPE NCC's own site (NL), APNIC's own site (AU),
    /// a Deutsche Telekom IPv6 block (DE), and LACNIC's (UY).
    #[test]
    fn the_embedded_database_knows_well_known_registrations() {
        let geo = GeoIp::embedded()
            .unwrap()
            .expect("the build embeds the country database (npm must reach the registry)");
        for (addr, country) in [
            ("8.8.8.8", "US"),
            ("193.0.6.139", "NL"),
            ("202.12.29.205", "AU"),
            ("2003::1", "DE"),
            ("200.3.14.184", "UY"),
            ("::ffff:8.8.8.8", "US"),
        ] {
            assert_eq!(
                geo.lookup(ip(addr)).country_code.as_deref(),
                Some(country),
                "{addr}"
            );
        }
    }

    #[test]
    fn private_and_loopback_addresses_have_no_location() {
        let geo = GeoIp::embedded().unwrap().unwrap();
        for addr in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.5.5",
            "192.168.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:192.168.0.1",
        ] {
            assert_eq!(geo.lookup(ip(addr)), Location::default(), "{addr}");
        }
    }

    /// The GeoLite2-City layout, from a file written by another tool
    /// (`tests/fixtures/geoip/make_city_mmdb.py` has the records).
    #[test]
    fn a_city_database_adds_region_and_city() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/geoip/city-test.mmdb");
        let geo = GeoIp::open(&path).unwrap();
        assert_eq!(
            geo.lookup(ip("203.0.113.7")),
            Location {
                country_code: Some("FR".into()),
                country_name: Some("France".into()),
                subdivision_code: Some("ARA".into()),
                subdivision_name: Some("Auvergne-Rhone-Alpes".into()),
                city_name: Some("Lyon".into()),
            }
        );
        let osaka = geo.lookup(ip("2001:db8:1::42"));
        assert_eq!(osaka.country_code.as_deref(), Some("JP"));
        assert_eq!(osaka.city_name.as_deref(), Some("Osaka"));
        assert_eq!(osaka.subdivision_code, None);
        let canada = geo.lookup(ip("198.51.100.1"));
        assert_eq!(canada.country_code.as_deref(), Some("CA"));
        assert_eq!(canada.city_name, None);
        assert_eq!(geo.lookup(ip("192.0.2.1")), Location::default());
    }

    #[test]
    fn a_file_that_is_not_a_database_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.mmdb");
        std::fs::write(&path, b"not an mmdb").unwrap();
        assert!(matches!(GeoIp::open(&path), Err(GeoError::Format(_))));
        assert!(matches!(
            GeoIp::open(&dir.path().join("missing.mmdb")),
            Err(GeoError::Read { .. })
        ));
    }

    #[test]
    fn only_known_parts_are_written() {
        let mut props = Properties::new();
        apply(
            &Location {
                country_code: Some("FR".into()),
                city_name: Some("Lyon".into()),
                ..Location::default()
            },
            &mut props,
        );
        assert_eq!(
            serde_json::Value::Object(props.to_map()),
            serde_json::json!({"$geoip_country_code": "FR", "$geoip_city_name": "Lyon"})
        );
    }
}
