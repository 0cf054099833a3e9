//! Fetches the default GeoIP country database at build time and embeds it, so a
//! fresh clone's `cargo run --release` knows visitors' countries with nothing else
//! to download or configure, and the binary needs no network at run time.
//!
//! The database is the npm package `@ip-location-db/geo-whois-asn-country-mmdb`
//! (data CC BY 4.0 by the NRO; attribution in the README), fetched with `npm pack`
//! from the npm registry, checked against the sha512 pinned below, and unpacked
//! into `OUT_DIR`. `TALLY_GEOIP_COUNTRY_MMDB=/path/file.mmdb` embeds a local file
//! instead (offline builds). If neither works the build goes on without a country
//! database (a warning here, another at start-up): Tally then records no country
//! unless the operator passes `--geoip-db`.

use base64::Engine;
use sha2::{Digest, Sha512};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

const PACKAGE: &str = "@ip-location-db/geo-whois-asn-country-mmdb";
const VERSION: &str = "2.3.2026061719";
/// npm's `integrity` of that version's tarball.
const SHA512: &str =
    "xemBDNQl4mCYDuVbqe3jKGKsVDykZGkfvebhtOh/3VGLadq8vsp7t7ontpMUt3hH7sAGT0eLDyJ99SV+0waxZg==";
const TARBALL: &str = "ip-location-db-geo-whois-asn-country-mmdb-2.3.2026061719.tgz";
const ENTRY: &str = "package/geo-whois-asn-country.mmdb";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=TALLY_GEOIP_COUNTRY_MMDB");
    println!("cargo:rustc-check-cfg=cfg(tally_geoip_embedded)");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let db = match std::env::var_os("TALLY_GEOIP_COUNTRY_MMDB") {
        Some(path) => Ok(PathBuf::from(path)),
        None => fetch(&out),
    };
    match db {
        Ok(path) => {
            println!("cargo:rustc-cfg=tally_geoip_embedded");
            println!(
                "cargo:rustc-env=TALLY_GEOIP_COUNTRY_MMDB_PATH={}",
                path.display()
            );
        }
        Err(why) => println!(
            "cargo:warning=no default GeoIP country database embedded ({why}); \
             countries need --geoip-db"
        ),
    }
}

fn fetch(out: &Path) -> Result<PathBuf, String> {
    let db = out.join(format!("geo-whois-asn-country-{VERSION}.mmdb"));
    if db.exists() {
        return Ok(db);
    }
    let tarball = out.join(TARBALL);
    if !tarball.exists() {
        let status = Command::new("npm")
            .args(["pack", &format!("{PACKAGE}@{VERSION}"), "--silent"])
            .arg("--pack-destination")
            .arg(out)
            .status()
            .map_err(|e| format!("running npm: {e}"))?;
        if !status.success() {
            return Err(format!("npm pack {PACKAGE}@{VERSION} failed: {status}"));
        }
    }
    let bytes = std::fs::read(&tarball).map_err(|e| format!("reading the tarball: {e}"))?;
    let digest = base64::engine::general_purpose::STANDARD.encode(Sha512::digest(&bytes));
    if digest != SHA512 {
        let _ = std::fs::remove_file(&tarball);
        return Err(format!("{TARBALL} has sha512 {digest}, expected {SHA512}"));
    }
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        if entry.path().map_err(|e| e.to_string())? == Path::new(ENTRY) {
            let mut data = Vec::new();
            entry.read_to_end(&mut data).map_err(|e| e.to_string())?;
            let partial = db.with_extension("partial");
            std::fs::write(&partial, &data).map_err(|e| e.to_string())?;
            std::fs::rename(&partial, &db).map_err(|e| e.to_string())?;
            return Ok(db);
        }
    }
    Err(format!("{ENTRY} is not in {TARBALL}"))
}
